"""client-output-buffer-limit, redkeep next to a real redis-server doing the same.

A client that stops reading while the server keeps producing output for it is closed
once its unread output passes its class's hard limit, or stays over the soft limit for
longer than soft-seconds: a subscriber (pubsub class), a pipelining client (normal
class) and a replica that stopped reading the stream (replica class, measured on the
stream only: the RDB payload is not counted). Both servers must close the same clients.
"""

from __future__ import annotations

import socket
import time

import pytest
import redis

from support.procs import HOST, ServerProc, require_binary, wait_until

KINDS = ["redkeep", "redis"]
BIG = "x" * 65536


@pytest.fixture(params=KINDS)
def server(request, tmp_path):
    if request.param == "redis":
        require_binary("redis-server")
    p = ServerProc(request.param, ("--save", ""), dir=tmp_path / request.param)
    p.start()
    try:
        yield p
    finally:
        p.stop()


def _command(argv: tuple[str, ...]) -> bytes:
    return b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a.encode())
                                           for a in argv)


def _stalled(port: int, *commands: tuple[str, ...]) -> socket.socket:
    """A connection that sends commands and then never reads (tiny receive buffer).
    The server may close it before it has sent them all: that is what is tested."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((HOST, port))
    try:
        for argv in commands:
            s.sendall(_command(argv))
    except (ConnectionResetError, BrokenPipeError):
        pass
    return s


def _names(r: redis.Redis) -> set[str]:
    return {c["name"] for c in r.client_list() if c["name"]}


def _closed_by_server(s: socket.socket, timeout: float = 20) -> bool:
    """Read everything the server sent until it closes the connection (EOF)."""
    s.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not s.recv(1 << 20):
                return True
    except ConnectionResetError:
        return True                            # closed with our unread bytes: a reset
    except TimeoutError:
        return False
    return False


def test_subscriber_over_the_hard_limit_is_closed(server):
    r = redis.Redis(HOST, server.port)
    r.config_set("client-output-buffer-limit", "pubsub 1mb 0 0")
    s = _stalled(server.port, ("CLIENT", "SETNAME", "slowsub"), ("SUBSCRIBE", "ch"))
    wait_until(lambda: "slowsub" in _names(r), 10, what="subscriber")
    for _ in range(200):                       # 13 MB of messages it never reads
        r.publish("ch", BIG)
        if "slowsub" not in _names(r):
            break
    wait_until(lambda: "slowsub" not in _names(r), 10, what="subscriber closed")
    assert _closed_by_server(s)
    assert "for overcoming of output buffer limits" in server.log_text()


def _getters(server, limits: str) -> redis.Redis:
    """A client on `server` with a 64 KB key "big" and the normal class's limits set."""
    r = redis.Redis(HOST, server.port)
    r.set("big", BIG)
    r.config_set("client-output-buffer-limit", f"normal {limits}")
    return r


def test_normal_client_under_the_limits_is_kept_over_them_closed(server):
    r = _getters(server, "4mb 0 0")
    ok = _stalled(server.port, ("CLIENT", "SETNAME", "fine"), *[("GET", "big")] * 16)
    time.sleep(0.5)
    assert "fine" in _names(r)                 # ~1 MB unread: under the hard limit
    s = _stalled(server.port, ("CLIENT", "SETNAME", "greedy"), *[("GET", "big")] * 400)
    wait_until(lambda: "greedy" not in _names(r), 20, what="greedy client closed")
    assert _closed_by_server(s) and "fine" in _names(r)
    ok.close()


def test_normal_client_over_the_soft_limit_for_soft_seconds_is_closed(server):
    r = _getters(server, "0 1mb 1")
    s = _stalled(server.port, ("CLIENT", "SETNAME", "soft"), *[("GET", "big")] * 100)
    time.sleep(0.3)
    assert "soft" in _names(r)                 # over the soft limit, not for 1 s yet
    deadline = time.monotonic() + 20
    while "soft" in _names(r) and time.monotonic() < deadline:
        try:
            s.sendall(_command(("GET", "big")))   # output keeps coming
        except (ConnectionResetError, BrokenPipeError):
            break                                 # closed since the check
        time.sleep(0.1)
    assert "soft" not in _names(r)
    assert _closed_by_server(s)


def _read_full_sync(s: socket.socket) -> None:
    """A replica's handshake, one command at a time (Redis refuses a PSYNC sent while
    replies are still pending), then the whole disk-based RDB payload."""
    s.settimeout(20)
    for argv in (("REPLCONF", "listening-port", "9"),
                 ("REPLCONF", "capa", "eof", "capa", "psync2")):
        s.sendall(_command(argv))
        reply = b""
        while not reply.endswith(b"\r\n"):
            reply += s.recv(1)
        assert reply == b"+OK\r\n", reply
    s.sendall(_command(("PSYNC", "?", "-1")))
    buf = b""

    def line() -> bytes:
        nonlocal buf
        while b"\r\n" not in buf.lstrip(b"\n"):
            buf += s.recv(65536)
        buf = buf.lstrip(b"\n")                 # keepalive newlines while the RDB is made
        head, _, buf = buf.partition(b"\r\n")
        return head
    assert line().startswith(b"+FULLRESYNC")
    size = int(line()[1:])                        # $<length> of the RDB
    while len(buf) < size:
        buf += s.recv(65536)


def test_replica_that_stops_reading_the_stream_is_dropped(server):
    r = redis.Redis(HOST, server.port)
    r.set("seed", BIG)
    r.config_set("client-output-buffer-limit", "replica 2mb 0 0")
    r.config_set("repl-diskless-sync", "no")    # online after the file, no ACK needed
    s = _stalled(server.port)
    _read_full_sync(s)                         # it takes the RDB, then reads no more
    wait_until(lambda: r.info("replication").get("slave0", {}).get("state") == "online", 20,
               what="replica online")
    for i in range(400):                       # 26 MB of writes it never reads
        r.set(f"k{i % 10}", BIG)
        if r.info("replication")["connected_slaves"] == 0:
            break
    wait_until(lambda: r.info("replication")["connected_slaves"] == 0, 20,
               what="replica dropped")
    assert "for overcoming of output buffer limits" in server.log_text()
    s.close()
