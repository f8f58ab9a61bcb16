"""Blocking list commands on a running server with real clients (raw sockets and redis-py).

Each scenario runs against redkeep and, as the reference, real redis-server 7.0 (skipped
when the binary is missing): 50 clients blocked on one list are served in arrival order
by pushes from another connection; a blocked client that disconnects is cleaned up;
timeouts fire with sub-second precision; BLMOVE towards a key of the wrong type; CLIENT
UNBLOCK. Synchronisation is by polling INFO blocked_clients with a deadline, never by
fixed sleeps.
"""

from __future__ import annotations

import re
import threading
import time

import pytest
import redis

from support.procs import ServerProc, require_binary, wait_until
from support.resp import RawConn, parse_python

N_CLIENTS = 50


@pytest.fixture(scope="module", params=["redkeep", "redis"])
def server(request, tmp_path_factory):
    if request.param == "redis":
        require_binary("redis-server")
    proc = ServerProc(request.param, dir=tmp_path_factory.mktemp(f"blocking-{request.param}"))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(remove_dir=False)


@pytest.fixture
def ctl(server):
    conn = RawConn(server.port)
    conn.call("FLUSHALL")
    wait_until(lambda: info_int(conn, "blocked_clients") == 0, 10, what="no blocked clients")
    yield conn
    conn.close()


def info_int(conn: RawConn, field: str) -> int:
    text = parse_python(conn.call("INFO", "clients"))
    return int(re.search(rb"%s:(\d+)" % field.encode(), text).group(1))


def wait_blocked(ctl: RawConn, n: int) -> None:
    wait_until(lambda: info_int(ctl, "blocked_clients") == n, 10,
               what=f"{n} blocked clients")


# ---- Arrival order ----

def test_fifty_raw_clients_served_in_arrival_order(server, ctl):
    conns = [RawConn(server.port) for _ in range(N_CLIENTS)]
    try:
        for i, conn in enumerate(conns):
            conn.send("BLPOP", "queue", "0")
            wait_blocked(ctl, i + 1)              # client i is queued before client i+1
        for i in range(N_CLIENTS):                # one push per element, from another client
            assert ctl.call("RPUSH", "queue", f"job-{i}") == b":1\r\n"
        replies = [parse_python(conn.read_reply(10)) for conn in conns]
        assert replies == [[b"queue", f"job-{i}".encode()] for i in range(N_CLIENTS)]
        wait_blocked(ctl, 0)
        assert ctl.call("EXISTS", "queue") == b":0\r\n"
    finally:
        for conn in conns:
            conn.close()


def test_fifty_redis_py_clients_in_threads(server, ctl):
    clients = [redis.Redis(port=server.port, socket_timeout=20) for _ in range(N_CLIENTS)]
    results: list[object] = [None] * N_CLIENTS

    def wait_for_job(i: int) -> None:
        results[i] = clients[i].blpop(["jobs"], timeout=0)

    threads = []
    try:
        for i in range(N_CLIENTS):
            t = threading.Thread(target=wait_for_job, args=(i,), daemon=True)
            t.start()
            threads.append(t)
            wait_blocked(ctl, i + 1)
        assert ctl.call("RPUSH", "jobs", *[f"j{i}" for i in range(N_CLIENTS)]) == \
            b":%d\r\n" % N_CLIENTS            # one push serves everybody, in order
        for t in threads:
            t.join(20)
        assert results == [(b"jobs", f"j{i}".encode()) for i in range(N_CLIENTS)]
    finally:
        for c in clients:
            c.close()


# ---- Disconnects ----

def test_disconnected_waiter_is_cleaned_up(server, ctl):
    before = info_int(ctl, "connected_clients")
    gone = RawConn(server.port)
    gone.send("BLPOP", "q", "0")
    wait_blocked(ctl, 1)
    stays = RawConn(server.port)
    try:
        stays.send("BRPOP", "q", "0")
        wait_blocked(ctl, 2)
        gone.close()
        wait_blocked(ctl, 1)                       # not counted any more
        assert info_int(ctl, "connected_clients") == before + 1
        assert ctl.call("RPUSH", "q", "a", "b") == b":2\r\n"
        assert parse_python(stays.read_reply(10)) == [b"q", b"b"]
        wait_blocked(ctl, 0)
        assert parse_python(ctl.call("LRANGE", "q", "0", "-1")) == [b"a"]   # not consumed
        assert ctl.call("PING") == b"+PONG\r\n"
    finally:
        stays.close()


# ---- Timeouts ----

def test_timeouts_have_sub_second_precision(server, ctl):
    conns = {t: RawConn(server.port) for t in ("0.5", "0.25", "0.1")}
    try:
        start = time.monotonic()
        for t, conn in conns.items():
            conn.send("BLPOP", "never", t)
        done: dict[str, float] = {}
        for t, conn in sorted(conns.items(), key=lambda kv: float(kv[0])):
            assert conn.read_reply(5) == b"*-1\r\n"
            done[t] = time.monotonic() - start
        for t, elapsed in done.items():
            # never early; late by at most a generous scheduling allowance (Redis itself
            # checks timeouts at hz 10, so up to 100 ms late)
            assert float(t) - 0.005 <= elapsed < float(t) + 0.4, (t, elapsed)
        assert done["0.1"] < done["0.25"] < done["0.5"]
    finally:
        for conn in conns.values():
            conn.close()


def test_blmove_timeout_reply_and_resp3(server, ctl):
    with RawConn(server.port) as conn:
        assert conn.call("BLMOVE", "a", "b", "LEFT", "RIGHT", "0.05") == b"*-1\r\n"
        conn.call("HELLO", "3")
        assert conn.call("BRPOPLPUSH", "a", "b", "0.05") == b"_\r\n"
        assert conn.call("BLMPOP", "0.05", "1", "a", "LEFT") == b"_\r\n"


# ---- BLMOVE and the wrong type ----

WRONGTYPE = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"


def test_blmove_to_a_key_of_the_wrong_type(server, ctl):
    ctl.call("SET", "dst", "string")
    # nothing to move: no type check of the destination, the client blocks
    with RawConn(server.port) as waiter:
        waiter.send("BLMOVE", "src", "dst", "LEFT", "RIGHT", "0")
        wait_blocked(ctl, 1)
        assert ctl.call("RPUSH", "src", "e1", "e2") == b":2\r\n"
        assert waiter.read_reply(10) == WRONGTYPE          # woken, then refused
        wait_blocked(ctl, 0)
        assert parse_python(ctl.call("LRANGE", "src", "0", "-1")) == [b"e1", b"e2"]
        # something to move: refused at once, nothing popped
        assert waiter.call("BLMOVE", "src", "dst", "LEFT", "RIGHT", "0") == WRONGTYPE
        assert waiter.call("BRPOPLPUSH", "src", "dst", "0") == WRONGTYPE
        assert ctl.call("LLEN", "src") == b":2\r\n"
        assert ctl.call("GET", "dst") == b"$6\r\nstring\r\n"
        # and a source of the wrong type is refused before blocking
        assert waiter.call("BLMOVE", "dst", "src", "LEFT", "RIGHT", "0") == WRONGTYPE


def test_blmove_chain_between_waiters(server, ctl):
    with RawConn(server.port) as mover, RawConn(server.port) as popper:
        mover.send("BLMOVE", "in", "mid", "LEFT", "RIGHT", "0")
        wait_blocked(ctl, 1)
        popper.send("BLPOP", "mid", "0")
        wait_blocked(ctl, 2)
        ctl.call("RPUSH", "in", "x")
        assert mover.read_reply(10) == b"$1\r\nx\r\n"
        assert parse_python(popper.read_reply(10)) == [b"mid", b"x"]
        wait_blocked(ctl, 0)


# ---- CLIENT UNBLOCK ----

def test_client_unblock(server, ctl):
    with RawConn(server.port) as waiter:
        cid = parse_python(waiter.call("CLIENT", "ID"))
        waiter.send("BLPOP", "q", "0")
        wait_blocked(ctl, 1)
        assert ctl.call("CLIENT", "UNBLOCK", str(cid), "TIMEOUT") == b":1\r\n"
        assert waiter.read_reply(10) == b"*-1\r\n"
        waiter.send("BLMOVE", "q", "d", "LEFT", "LEFT", "0")
        wait_blocked(ctl, 1)
        assert ctl.call("CLIENT", "UNBLOCK", str(cid), "ERROR") == b":1\r\n"
        assert waiter.read_reply(10) == \
            b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
        assert ctl.call("CLIENT", "UNBLOCK", str(cid)) == b":0\r\n"
        assert waiter.call("PING") == b"+PONG\r\n"        # the connection carries on


def test_pipeline_after_a_blocked_command_resumes(server, ctl):
    with RawConn(server.port) as conn:
        conn.send_many([("BLPOP", "p", "0"), ("SET", "after", "1"), ("GET", "after")])
        wait_blocked(ctl, 1)
        assert ctl.call("GET", "after") == b"$-1\r\n"      # the pipeline waits behind it
        ctl.call("LPUSH", "p", "v")
        assert conn.read_replies(3, 10) == [b"*2\r\n$1\r\np\r\n$1\r\nv\r\n", b"+OK\r\n",
                                            b"$1\r\n1\r\n"]
