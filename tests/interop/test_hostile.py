"""Hostile and malformed clients, side by side against redkeep and real redis-server.

Each case sends the same bytes to both servers on fresh connections and compares what
comes back — the exact bytes, and whether the server closed the connection — then checks
that both servers still serve a fresh connection. Where waiting for "nothing more will
come" is unavoidable (the server legitimately stays silent), the read stops after a short
quiet window, the same for both servers.
"""

from __future__ import annotations

import hashlib
import random
import select
import socket
import threading
import time

import pytest

from support.procs import ServerProc, ping, raise_fd_limit
from support.resp import RawConn, encode_command

pytestmark = pytest.mark.interop

# How long both servers must stay silent before we conclude nothing more is coming.
QUIET = 0.5

# ---- Helpers ----


def drain_all(conns: dict[str, RawConn], quiet: float = QUIET,
              timeout: float = 15.0) -> dict[str, tuple[bytes, bool]]:
    """Read from every connection until each is closed, or nothing arrived on any of them
    for `quiet` seconds. Returns {name: (bytes received, closed?)}."""
    out = {name: bytearray(c.pending()) for name, c in conns.items()}
    closed = {name: c.eof for name, c in conns.items()}
    deadline = time.monotonic() + timeout
    last_activity = time.monotonic()
    while time.monotonic() < deadline:
        open_socks = {c.sock: name for name, c in conns.items() if not closed[name]}
        if not open_socks:
            break
        wait = last_activity + quiet - time.monotonic()
        if wait <= 0:
            break
        ready, _, _ = select.select(list(open_socks), [], [], wait)
        for sock in ready:
            name = open_socks[sock]
            try:
                chunk = sock.recv(1 << 20)
            except (ConnectionResetError, TimeoutError):
                chunk = b""
            if chunk:
                out[name] += chunk
            else:
                closed[name] = True
            last_activity = time.monotonic()
    return {name: (bytes(out[name]), closed[name]) for name in conns}


def _send_ignoring_close(conn: RawConn, data: bytes) -> None:
    try:
        conn.send_raw(data)
    except OSError:
        pass  # the server may close mid-send; what it replied first is still readable


def exchange(pair, data: bytes, quiet: float = QUIET) -> dict[str, tuple[bytes, bool]]:
    conns = {"redkeep": RawConn(pair.redkeep.port), "redis": RawConn(pair.redis.port)}
    try:
        senders = [threading.Thread(target=_send_ignoring_close, args=(c, data), daemon=True)
                   for c in conns.values()]
        for t in senders:
            t.start()
        result = drain_all(conns, quiet)
        for t in senders:
            t.join(10)
        return result
    finally:
        for c in conns.values():
            c.close()


def _show(outcome: tuple[bytes, bool]) -> str:
    data, closed = outcome
    shown = data if len(data) <= 400 else data[:400] + b"..."
    return f"{shown!r} then {'connection CLOSED' if closed else 'connection left open'}"


def assert_serves(pair) -> None:
    """Both servers answer a fresh connection (PING, SET, GET)."""
    for name, proc in (("redkeep", pair.redkeep), ("redis", pair.redis)):
        assert proc.alive(), f"{name} process is gone\n{proc.describe_log()}"
        assert ping(proc.port, timeout=5), f"{name} does not answer PING on a fresh connection"
        with RawConn(proc.port) as c:
            assert c.call("SET", "__alive__", "yes") == b"+OK\r\n", name
            assert c.call("GET", "__alive__") == b"$3\r\nyes\r\n", name
            c.call("DEL", "__alive__")


def assert_same_exchange(pair, data: bytes, *, expect_closed: bool | None = None,
                         quiet: float = QUIET) -> tuple[bytes, bool]:
    res = exchange(pair, data, quiet)
    label = repr(data if len(data) <= 120 else data[:120] + b"...")
    assert res["redkeep"] == res["redis"], (
        f"different behaviour for input {label} ({len(data)} bytes)\n"
        f"  redkeep: {_show(res['redkeep'])}\n  redis  : {_show(res['redis'])}")
    if expect_closed is not None:  # sanity check of the test itself, against redis
        assert res["redis"][1] == expect_closed, f"redis: {_show(res['redis'])}"
    assert_serves(pair)
    return res["redis"]


@pytest.fixture
def pair(server_pair, diff):
    """server_pair, after FLUSHALL on both (done by the diff fixture)."""
    return server_pair


# ---- Protocol errors ----


@pytest.mark.parametrize("data", [
    b"*1\r\n$600000000\r\n",            # over proto-max-bulk-len (512mb)
    b"*1\r\n$-5\r\n",
    b"*1\r\n$abc\r\n",
    b"*2\r\n$4\r\nECHO\r\n$99999999999999999999\r\n",
    b"*3000000000\r\n",                 # multibulk count over INT_MAX
    b"*99999999999999999999\r\n",
    b"*abc\r\n",
    b"*1\r\n:5\r\n",                    # expected '$', got ':'
    b"*1\r\n+PING\r\n",
    b"*2\r\n$4\r\nECHO\r\n*1\r\n",
], ids=["bulk-too-long", "bulk-negative", "bulk-nan", "bulk-absurd", "count-over-intmax",
        "count-absurd", "count-nan", "colon-not-dollar", "plus-not-dollar", "nested-array"])
def test_protocol_error_replies_and_closes(pair, data):
    out, closed = assert_same_exchange(pair, data, expect_closed=True)
    assert out.startswith(b"-ERR Protocol error"), out


@pytest.mark.parametrize("data", [
    b"*-1\r\nPING\r\n",
    b"*-5\r\nPING\r\n",
    b"*0\r\nPING\r\n",
    b"*2000000\r\n",                    # huge but legal count: the server waits for more
    b"*2\r\n$4\r\nECHO\r\n",            # incomplete, waits
], ids=["count-minus-one", "count-negative", "count-zero", "count-huge-legal", "incomplete"])
def test_odd_but_legal_multibulk(pair, data):
    assert_same_exchange(pair, data, expect_closed=False)


def test_unbalanced_quotes_inline(pair):
    out, _ = assert_same_exchange(pair, b'SET "a b\r\n', expect_closed=True)
    assert out == b"-ERR Protocol error: unbalanced quotes in request\r\n"
    assert_same_exchange(pair, b"SET 'a b\r\n", expect_closed=True)
    assert_same_exchange(pair, b'SET "a"b c\r\n', expect_closed=True)


@pytest.mark.parametrize("data", [
    b"a" * (100 * 1024),                    # inline without newline
    b"*" + b"1" * (100 * 1024),             # multibulk count line without newline
    b"*1\r\n$" + b"1" * (100 * 1024),       # bulk length line without newline
], ids=["inline", "mbulk-count", "bulk-count"])
def test_too_big_request_lines(pair, data):
    out, _ = assert_same_exchange(pair, data, expect_closed=True)
    assert out.startswith(b"-ERR Protocol error: too big"), out


def test_binary_garbage(pair):
    """Seeded random garbage (no NUL bytes: see test_garbage_with_nul_bytes)."""
    rng = random.Random(20240611)
    for _ in range(12):
        blob = bytearray(rng.randrange(1, 256) for _ in range(rng.randrange(1, 300)))
        for _ in range(rng.randrange(0, 4)):
            blob[rng.randrange(len(blob)):0] = b"\r\n"
        assert_same_exchange(pair, bytes(blob))


def test_garbage_with_nul_bytes(pair):
    """redis treats an inline line with a NUL byte oddly (strchr stops at the NUL), so
    the replies are not compared; the servers must survive and keep serving."""
    rng = random.Random(7)
    for _ in range(5):
        blob = bytes(rng.randrange(0, 256) for _ in range(200)) + b"\x00\r\n\x00x\r\n"
        exchange(pair, blob)
        assert_serves(pair)


def test_pipelined_commands_after_protocol_error_are_not_executed(pair, diff):
    data = (b"SET x 1\r\n" + encode_command("SET", "x2", "1")
            + b"*1\r\n:5\r\n" + b"SET y 2\r\n" + encode_command("SET", "y2", "2"))
    out, closed = assert_same_exchange(pair, data, expect_closed=True)
    assert out == b"+OK\r\n+OK\r\n-ERR Protocol error: expected '$', got ':'\r\n", out
    r = diff.run("EXISTS", "x", "x2", "y", "y2")
    assert r.redis == b":2\r\n", r

    data = encode_command("SET", "a", "1") + b"*1\r\n$-3\r\n" + encode_command("SET", "b", "2")
    assert_same_exchange(pair, data, expect_closed=True)
    assert diff.run("EXISTS", "a", "b").redis == b":1\r\n"


# ---- Inline commands ----


def test_inline_commands(diff):
    diff.run_raw(b"PING\r\n")
    diff.run_raw(b"SET a b\r\n")
    diff.run_raw(b"GET a\r\n")
    diff.run_raw(b"ping\n")                      # bare LF
    diff.run_raw(b"  SET   spaced    value  \r\n")
    diff.run_raw(b"GET spaced\r\n")
    diff.run_raw(b"\r\n\r\n\nPING\r\n")          # empty lines produce no reply
    diff.run_raw(b'SET "a b" "c\\x41\\n\\t\\"q\\""\r\n')
    r = diff.run_raw(b'GET "a b"\r\n')[0]
    assert r.redis == b'$7\r\ncA\n\t"q"\r\n', r
    diff.run_raw(b"SET 'single q' 'it\\'s'\r\n")
    diff.run_raw(b"GET 'single q'\r\n")
    diff.run_raw(b'ECHO ""\r\n')
    diff.run_raw(b"ECHO \"\\xzz\"\r\n")
    diff.run_raw(b"SET k1 v1\r\nSET k2 v2\r\nMGET k1 k2 nope\r\n", replies=3)
    diff.run_raw(b"NOSUCH arg\r\n")
    diff.run_raw(b"GET\r\n")
    diff.run("MGET", "a", "a b", "single q")


# ---- Slow and many clients ----


def test_half_sent_command_while_others_work(diff):
    with diff.other() as other, diff.other() as third:
        for conn in (diff.rk, diff.rd):  # a multibulk command cut inside a bulk
            conn.send_raw(b"*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$5\r\nva")
        for conn in (third.rk, third.rd):  # an inline command without its newline
            conn.send_raw(b"GET ha")
        other.run("PING")
        other.run("SET", "x", "1")
        other.run("INCR", "x")
        assert other.run("GET", "half").redis == b"$-1\r\n"
        other.pipeline([("SET", f"p{i}", i) for i in range(200)])
        r = diff.run_raw(b"lue\r\n")
        assert r[0].redis == b"+OK\r\n", r
        r = third.run_raw(b"lf\r\n")
        assert r[0].redis == b"$5\r\nvalue\r\n", r
        assert other.run("GET", "half").redis == b"$5\r\nvalue\r\n"


def _open_idle_connections(port: int, n: int) -> list[socket.socket]:
    """Connect n sockets; every 250 of them, PING each new one to be sure the server
    accepted and serves it (keeps the listen backlog from overflowing)."""
    socks: list[socket.socket] = []
    try:
        while len(socks) < n:
            batch = []
            for _ in range(min(250, n - len(socks))):
                s = socket.create_connection(("127.0.0.1", port), timeout=30)
                batch.append(s)
                socks.append(s)
            _ping_all(batch)
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def _ping_all(socks: list[socket.socket]) -> None:
    for s in socks:
        s.sendall(b"PING\r\n")
    for i, s in enumerate(socks):
        data = b""
        while len(data) < 7:
            chunk = s.recv(64)
            assert chunk, f"connection #{i} of the batch was closed by the server"
            data += chunk
        assert data == b"+PONG\r\n", f"connection #{i}: {data!r}"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", ["redkeep", "redis"])
def test_many_idle_connections(kind, tmp_path):
    wanted = 10_000
    soft = raise_fd_limit(wanted + 1024)
    n = min(wanted, soft - 512)
    note = (f"opened {n} connections, fewer than the {wanted} wanted, because the fd limit "
            f"is {soft}" if n < wanted else f"opened {n} connections")
    with ServerProc(kind, ["--maxclients", str(wanted + 100)], dir=tmp_path) as server:
        t0 = time.monotonic()
        socks = _open_idle_connections(server.port, n)
        try:
            assert len(socks) == n, note
            # the server keeps serving other clients while they all sit idle
            with RawConn(server.port) as c:
                assert c.call("SET", "k", "v") == b"+OK\r\n", note
                assert c.call("GET", "k") == b"$1\r\nv\r\n", note
            # and every idle connection is still alive
            for i in range(0, n, 500):
                _ping_all(socks[i:i + 500])
        finally:
            for s in socks:
                s.close()
        elapsed = time.monotonic() - t0
        assert server.alive(), f"{kind} died with {n} connections\n{server.describe_log()}"
        assert wait_for_ping(server.port), f"{kind} stopped answering after {note}"
        print(f"{kind}: {note} in {elapsed:.1f}s")


def wait_for_ping(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ping(port, timeout=2):
            return True
        time.sleep(0.05)
    return False


# ---- Volume ----


def test_deep_pipeline_10k_commands_in_one_write(diff):
    cmds = []
    for i in range(10_000):
        kind = i % 4
        if kind == 0:
            cmds.append(("SET", f"key:{i % 97}", f"value-{i}"))
        elif kind == 1:
            cmds.append(("GET", f"key:{(i * 7) % 97}"))
        elif kind == 2:
            cmds.append(("INCR", f"counter:{i % 5}"))
        else:
            cmds.append(("MGET", f"key:{i % 97}", "missing", f"counter:{i % 5}"))
    replies = diff.pipeline(cmds)
    assert len(replies) == 10_000
    assert replies[-2].redis == b":500\r\n", replies[-2]  # 2500 INCRs over 5 counters
    diff.run("DBSIZE")


def test_deep_pipeline_inline(diff):
    data = b"".join(b"SET ik%d %d\r\nGET ik%d\r\n" % (i, i, i) for i in range(5000))
    diff.run_raw(data, replies=10_000, label="10k inline commands")
    diff.run("DBSIZE")


@pytest.mark.timeout(300)
def test_100mb_argument(diff):
    diff.run("CONFIG", "SET", "proto-max-bulk-len", "200mb")
    try:
        size = 100 * 1024 * 1024
        value = bytes(range(256)) * (size // 256)
        digest = hashlib.sha256(value).hexdigest()
        request = encode_command("SET", "big", value)
        del value
        r = diff.run_raw(request, label="SET big <100 MB>", timeout=120)
        assert r[0].redis == b"+OK\r\n", r
        del request
        assert diff.run("STRLEN", "big").redis == b":%d\r\n" % size
        diff.run("GETRANGE", "big", "0", "9")
        diff.run("GETRANGE", "big", "-10", "-1")
        diff.run("GETRANGE", "big", "52428790", "52428810")
        r = diff.run("GET", "big", timeout=120)
        header = b"$%d\r\n" % size
        assert r.redis.startswith(header)
        assert hashlib.sha256(r.redis[len(header):-2]).hexdigest() == digest
        del r
        diff.run("APPEND", "big", "tail", timeout=60)
        diff.run("STRLEN", "big")
        diff.run("DEL", "big")
    finally:
        diff.run("CONFIG", "SET", "proto-max-bulk-len", "512mb", check=False)


def test_client_query_buffer_limit_exceeded(pair, diff):
    diff.run("CONFIG", "SET", "client-query-buffer-limit", "1mb")
    try:
        diff.run("CONFIG", "GET", "client-query-buffer-limit")
        data = b"*3\r\n$3\r\nSET\r\n$1\r\nq\r\n$3000000\r\n" + b"x" * 2_000_000
        out, closed = assert_same_exchange(pair, data, expect_closed=True)
        assert out == b"", out
        assert diff.run("EXISTS", "q").redis == b":0\r\n"
        # an argument under the limit still works
        r = diff.run("SET", "ok", b"y" * 500_000)
        assert r.redis == b"+OK\r\n"
    finally:
        diff.run("CONFIG", "SET", "client-query-buffer-limit", "1gb", check=False)
