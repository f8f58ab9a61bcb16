"""CLIENT LIST / INFO / KILL / PAUSE / REPLY and the idle `timeout` over real sockets,
with redis-py and raw RESP connections.

Every test runs against redkeep and, as a control proving the test itself is right,
against real redis-server. Waits are bounded and poll with deadlines; the only timed
assertions are lower bounds (a paused write must not finish before the pause ends).
"""

from __future__ import annotations

import threading
import time

import pytest
import redis

from support.procs import ServerProc, require_binary, wait_until
from support.resp import RawConn

FIELDS = ("id addr laddr fd name age idle flags db sub psub ssub multi qbuf qbuf-free "
          "argv-mem multi-mem rbs rbp obl oll omem tot-mem events cmd user redir resp").split()


@pytest.fixture(params=["redkeep", "redis"])
def target(request) -> ServerProc:
    """A running server (session-scoped underneath), flushed before the test and
    unpaused after it."""
    proc: ServerProc = request.getfixturevalue(f"{request.param}_server")
    with RawConn(proc.port) as c:
        assert c.call("FLUSHALL") == b"+OK\r\n"
    yield proc
    with RawConn(proc.port) as c:
        c.call("CLIENT", "UNPAUSE")


def connect(target: ServerProc, **kw) -> redis.Redis:
    return redis.Redis(port=target.port, socket_timeout=10, **kw)


def line_fields(line: str) -> list[tuple[str, str]]:
    return [tuple(p.split("=", 1)) for p in line.split(" ")]


# ---- LIST / INFO ----


def test_client_list_fields_and_values(target):
    r = connect(target)
    other = connect(target, client_name="the-other")
    try:
        other.ping()
        my_id = r.client_id()
        text = r.execute_command("CLIENT", "LIST").decode()
        assert text.endswith("\n")
        lines = {dict(line_fields(x))["id"]: line_fields(x) for x in text.split("\n")[:-1]}
        mine = lines[str(my_id)]
        assert [k for k, _ in mine] == FIELDS
        mine = dict(mine)
        sock = r.connection_pool.get_connection()
        try:
            host, port = sock._sock.getsockname()
        finally:
            r.connection_pool.release(sock)
        assert mine["addr"] == f"{host}:{port}"
        assert mine["laddr"] == f"127.0.0.1:{target.port}"
        assert int(mine["fd"]) > 2
        assert mine["cmd"] == "client|list" and mine["flags"] == "N"
        named = [dict(f) for f in lines.values() if dict(f)["name"] == "the-other"]
        assert len(named) == 1 and named[0]["cmd"] in ("ping", "client|setname")
        info = r.execute_command("CLIENT", "INFO").decode()
        assert dict(line_fields(info.strip()))["id"] == str(my_id)
        assert dict(line_fields(info.strip()))["cmd"] == "client|info"
    finally:
        r.close()
        other.close()


def test_client_list_resp3_and_filters(target):
    r = connect(target, protocol=3)
    sub = connect(target)
    ps = sub.pubsub()
    try:
        ps.subscribe("chan")
        wait_until(lambda: ps.get_message(timeout=0.1) is not None or ps.subscribed, 5)
        my_id = r.client_id()
        text = r.execute_command("CLIENT", "LIST", "TYPE", "pubsub")
        text = text if isinstance(text, str) else text.decode()
        parsed = [dict(line_fields(x)) for x in text.split("\n")[:-1]]
        assert [p["flags"] for p in parsed] == ["P"] and parsed[0]["sub"] == "1"
        mine = r.execute_command("CLIENT", "LIST", "ID", my_id)
        mine = mine if isinstance(mine, str) else mine.decode()
        assert dict(line_fields(mine.strip()))["resp"] == "3"
    finally:
        ps.close()
        sub.close()
        r.close()


# ---- KILL ----


def test_client_kill_closes_the_other_connection(target):
    victim = RawConn(target.port)
    killer = connect(target)
    try:
        victim_id = int(victim.call("CLIENT", "ID")[1:-2])
        assert killer.execute_command("CLIENT", "KILL", "ID", victim_id) == 1
        victim.wait_closed(timeout=5)
        ids = [c["id"] for c in killer.client_list()]
        assert str(victim_id) not in ids
        assert killer.execute_command("CLIENT", "KILL", "ID", victim_id) == 0
    finally:
        victim.close()
        killer.close()


def test_client_kill_old_form_by_address(target):
    victim = RawConn(target.port)
    killer = connect(target)
    try:
        host, port = victim.sock.getsockname()
        assert killer.execute_command("CLIENT", "KILL", f"{host}:{port}") == b"OK"
        victim.wait_closed(timeout=5)
        with pytest.raises(redis.ResponseError, match="No such client"):
            killer.execute_command("CLIENT", "KILL", f"{host}:{port}")
    finally:
        victim.close()
        killer.close()


def test_client_kill_yourself_gets_the_reply_first(target):
    me = RawConn(target.port)
    try:
        my_id = int(me.call("CLIENT", "ID")[1:-2])
        me.send("CLIENT", "KILL", "ID", my_id, "SKIPME", "no")
        me.send("PING")                      # never answered: the connection closes
        assert me.wait_closed(timeout=5) == b":1\r\n"
    finally:
        me.close()


# ---- PAUSE ----


def _timed(fn) -> tuple[object, float]:
    start = time.monotonic()
    result = fn()
    return result, time.monotonic() - start


def test_pause_write_holds_writes_while_reads_pass(target):
    admin = connect(target)
    reader = connect(target)
    writer = connect(target)
    try:
        admin.set("k", "before")
        reader.ping()
        writer.ping()
        pause_ms = 700
        started = time.monotonic()
        assert admin.execute_command("CLIENT", "PAUSE", pause_ms, "WRITE") == b"OK"
        value, read_time = _timed(lambda: reader.get("k"))
        assert value == b"before"
        assert read_time < pause_ms / 1000 / 2, "a read waited for a WRITE pause"
        assert writer.set("k", "after") is True
        assert time.monotonic() - started >= pause_ms / 1000 - 0.05, "write ran during pause"
        assert reader.get("k") == b"after"
    finally:
        admin.close()
        reader.close()
        writer.close()


def test_pause_all_holds_every_command_even_unpause(target):
    admin = connect(target)
    reader = RawConn(target.port)
    try:
        assert reader.call("PING") == b"+PONG\r\n"
        started = time.monotonic()
        assert admin.execute_command("CLIENT", "PAUSE", 700, "ALL") == b"OK"
        reader.send_raw(b"GET missing\r\nCLIENT UNPAUSE\r\n")   # held like any command
        assert reader.read_reply(timeout=10) == b"$-1\r\n"
        assert time.monotonic() - started >= 0.65, "a read ran during CLIENT PAUSE ALL"
        assert reader.read_reply(timeout=10) == b"+OK\r\n"
    finally:
        admin.close()
        reader.close()


def test_unpause_releases_held_writes(target):
    admin = connect(target)
    writer = connect(target)
    try:
        writer.ping()
        assert admin.execute_command("CLIENT", "PAUSE", 30_000, "WRITE") == b"OK"
        results: list = []
        t = threading.Thread(target=lambda: results.append(writer.set("w", "1")), daemon=True)
        t.start()
        t.join(0.4)
        assert t.is_alive(), "a write ran during CLIENT PAUSE WRITE"
        assert admin.get("w") is None
        assert admin.execute_command("CLIENT", "UNPAUSE") == b"OK"   # not a write: runs
        t.join(5)
        assert results == [True]
        assert admin.get("w") == b"1"
    finally:
        admin.close()
        writer.close()


def test_pause_ends_by_itself(target):
    admin = connect(target)
    writer = connect(target)
    try:
        writer.ping()
        admin.execute_command("CLIENT", "PAUSE", 300)
        (_, elapsed) = _timed(lambda: writer.incr("n"))
        assert elapsed >= 0.2
        assert writer.get("n") == b"1"
    finally:
        admin.close()
        writer.close()


# ---- REPLY ----


def test_client_reply_off_and_skip(target):
    c = RawConn(target.port)
    try:
        c.send_raw(b"CLIENT REPLY OFF\r\nSET a 1\r\nGET a\r\nCLIENT REPLY ON\r\nGET a\r\n")
        assert c.read_reply() == b"+OK\r\n"          # CLIENT REPLY ON's own reply
        assert c.read_reply() == b"$1\r\n1\r\n"
        c.send_raw(b"CLIENT REPLY SKIP\r\nSET a 2\r\nGET a\r\n")
        assert c.read_reply() == b"$1\r\n2\r\n"
        c.send_raw(b"CLIENT REPLY SKIP\r\nCLIENT REPLY SKIP\r\nGET a\r\nPING\r\n")
        assert c.read_reply() == b"+PONG\r\n"
        out, closed = c.drain(quiet=0.2)
        assert out == b"" and not closed
    finally:
        c.close()


def test_setname_and_no_evict_show_in_client_info(target):
    r = connect(target)
    try:
        assert r.client_setname("svc-a") is True
        assert r.client_getname() == "svc-a"
        r.execute_command("CLIENT", "NO-EVICT", "on")
        info = dict(line_fields(r.execute_command("CLIENT", "INFO").decode().strip()))
        assert info["name"] == "svc-a" and info["flags"] == "e"
        with pytest.raises(redis.ResponseError, match="cannot contain spaces"):
            r.client_setname("has space")
    finally:
        r.close()


# ---- Idle timeout ----


@pytest.mark.parametrize("kind", ["redkeep", "redis"])
def test_idle_clients_are_closed_after_timeout(kind, tmp_path):
    if kind == "redis":
        require_binary("redis-server")
    with ServerProc(kind, ["--timeout", "1"], dir=tmp_path / kind) as proc:
        idle = RawConn(proc.port)
        busy = RawConn(proc.port)
        subscriber = RawConn(proc.port)
        blocked = RawConn(proc.port)
        monitor = RawConn(proc.port)
        try:
            assert idle.call("PING") == b"+PONG\r\n"
            assert subscriber.call("SUBSCRIBE", "keep").startswith(b"*3")
            assert monitor.call("MONITOR") == b"+OK\r\n"
            blocked.send("BLPOP", "never", "0")
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline and not idle.eof:
                assert busy.call("PING") == b"+PONG\r\n"
                try:
                    idle.wait_closed(timeout=0.25)
                except TimeoutError:
                    pass
            assert idle.eof, "the idle client was not closed"
            assert busy.call("PING") == b"+PONG\r\n"     # active clients stay
            # subscribers, blocked clients and monitors are never closed for idleness
            subscriber.send("PING")
            assert subscriber.read_reply().startswith(b"*2")
            busy.call("RPUSH", "never", "x")
            assert blocked.read_reply() == b"*2\r\n$5\r\nnever\r\n$1\r\nx\r\n"
            assert not monitor.eof and monitor.read_reply().startswith(b"+")
        finally:
            for c in (idle, busy, subscriber, blocked, monitor):
                c.close()


def test_timeout_zero_keeps_idle_clients(target):
    c = RawConn(target.port)
    try:
        assert c.call("CONFIG", "GET", "timeout") == b"*2\r\n$7\r\ntimeout\r\n$1\r\n0\r\n"
        time.sleep(1.2)
        assert c.call("PING") == b"+PONG\r\n"
    finally:
        c.close()


# ---- UNBLOCK ----


@pytest.mark.parametrize("how, reply", [
    ((), b"*-1\r\n"),
    (("TIMEOUT",), b"*-1\r\n"),
    (("ERROR",), b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"),
])
def test_client_unblock_wakes_a_blocked_client(target, how, reply):
    blocked = RawConn(target.port)
    admin = connect(target)
    try:
        bid = int(blocked.call("CLIENT", "ID")[1:-2])
        blocked.send("BLPOP", "nothing", "0")
        wait_until(lambda: "b" in admin.client_list(client_id=[bid])[0]["flags"], 5,
                   what="client blocked")
        assert admin.execute_command("CLIENT", "UNBLOCK", bid, *how) == 1
        assert blocked.read_reply(timeout=5) == reply
        assert admin.execute_command("CLIENT", "UNBLOCK", bid) == 0
        assert blocked.call("PING") == b"+PONG\r\n"
    finally:
        blocked.close()
        admin.close()
