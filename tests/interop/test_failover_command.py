"""The FAILOVER command (coordinated failover), redkeep next to real redis-server 7.0.

* error replies: the same command lines on a redkeep and a real master (and replica)
  give the same texts;
* a redkeep master hands over to a redkeep replica, to a real replica, and a real master
  to a redkeep replica: writes are paused meanwhile and then get READONLY on the old
  master, the target takes over with PSYNC (no full sync anywhere), the old master and
  the other replica follow it, digests equal;
* a replica that can't catch up before TIMEOUT: the failover aborts, the master stays a
  master and its writes resume.
"""

from __future__ import annotations

import os
import signal
import socket

import pytest

from support.replication import Group, Node, fill_every_type

pytestmark = pytest.mark.interop


@pytest.fixture
def group(repl_group: Group) -> Group:
    return repl_group


def start(group: Group, master_kind: str, replica_kinds: list[str]) -> tuple[Node, list[Node]]:
    m = group.start(master_kind)
    fill_every_type(m)
    m("DEBUG", "POPULATE", "2000")
    replicas = [group.start(k, "--replicaof", "127.0.0.1", str(m.port)) for k in replica_kinds]
    group.wait_in_sync(m, replicas, timeout=60)
    return m, replicas


def _err(node: Node, *args: str) -> str:
    reply = node.raw(*args)
    return str(reply)


ERROR_CASES = [
    ("FAILOVER", "ABORT"), ("FAILOVER", "bogus"), ("FAILOVER", "TIMEOUT", "0"),
    ("FAILOVER", "TIMEOUT", "-5"), ("FAILOVER", "TIMEOUT", "x"), ("FAILOVER", "FORCE"),
    ("FAILOVER", "TO", "127.0.0.1", "1", "FORCE"), ("FAILOVER", "TO", "127.0.0.1", "x"),
    ("FAILOVER", "TO", "127.0.0.1"), ("FAILOVER", "TIMEOUT", "10", "TIMEOUT", "10"),
    ("FAILOVER", "ABORT", "TIMEOUT", "10"),
]


def test_error_replies_match_real_redis(group: Group) -> None:
    lone = {k: group.start(k) for k in ("redkeep", "redis")}
    for case in ERROR_CASES:
        assert _err(lone["redkeep"], *case) == _err(lone["redis"], *case), case
    assert _err(lone["redkeep"], "FAILOVER") == "ERR FAILOVER requires connected replicas."
    for kind, master in list(lone.items()):
        r = group.start(kind, "--replicaof", "127.0.0.1", str(master.port))
        group.wait_link_up(r)
        lone[kind + "-replica"] = r
    for case in [("FAILOVER", "TO", "127.0.0.1", "1"), ("FAILOVER", "TO", "10.9.9.9", "6379"),
                 ("FAILOVER", "TO", "127.0.0.1", "1", "FORCE", "TIMEOUT", "100")]:
        assert _err(lone["redkeep"], *case) == _err(lone["redis"], *case), case
    assert _err(lone["redkeep-replica"], "FAILOVER") == _err(lone["redis-replica"], "FAILOVER") \
        == "ERR FAILOVER is not valid when server is a replica."
    # PSYNC FAILOVER sent to a master, and with a replid that is not the replica's
    for kind in ("redkeep", "redis"):
        assert _err(lone[kind], "PSYNC", "x" * 40, "1", "FAILOVER") == \
            "ERR PSYNC FAILOVER can't be sent to a master."
        assert _err(lone[kind + "-replica"], "PSYNC", "x" * 40, "1", "FAILOVER") == \
            "ERR PSYNC FAILOVER replid must match my replid."


def _paused_write(m: Node) -> socket.socket:
    """A SET sent to the master while it waits: its reply comes after the failover."""
    s = socket.create_connection(("127.0.0.1", m.port), timeout=20)
    s.sendall(b"*3\r\n$3\r\nSET\r\n$6\r\npaused\r\n$1\r\n1\r\n")
    return s


@pytest.mark.parametrize("kinds", [("redkeep", "redkeep", "redkeep"),
                                   ("redkeep", "redis", "redkeep"),
                                   ("redis", "redkeep", "redis")],
                         ids=["redkeep-to-redkeep", "redkeep-to-redis", "redis-to-redkeep"])
def test_failover_to_a_replica_hands_over_without_full_sync(group: Group, kinds) -> None:
    m, (target, other) = start(group, kinds[0], list(kinds[1:]))
    full = {n.port: n.stat("sync_full") for n in (m, target, other)}
    digest = m.digest()
    m("CLIENT", "PAUSE", "3000", "WRITE")
    assert m("FAILOVER", "TO", "127.0.0.1", target.port) == "OK"
    held = _paused_write(m)
    m("CLIENT", "UNPAUSE")                       # the failover's own pause goes on
    group.wait(lambda: m.info()["master_failover_state"] == "no-failover", 30, "failover end")
    held.settimeout(20)
    assert held.recv(200).startswith(b"-READONLY")
    held.close()
    group.wait(lambda: target.info()["role"] == "master", 30, "target promoted")
    assert f"Failover target 127.0.0.1:{target.port} is synced, failing over." \
        in m.proc.log_text()
    assert "MASTER MODE enabled (failover request from" in target.proc.log_text()
    info = m.info()
    assert info["role"] == "slave" and int(info["master_port"]) == target.port
    other("REPLICAOF", "127.0.0.1", target.port)
    group.wait_in_sync(target, [m, other], timeout=60)
    group.assert_same_data(target, [m, other])
    assert target.digest() == digest
    assert {n.port: n.stat("sync_full") for n in (m, target, other)} == full, group.logs()
    assert target.stat("sync_partial_ok") >= 2, group.logs()
    target("SET", "after", "1")
    group.wait_in_sync(target, [m, other])
    assert m("GET", "after") == b"1"


@pytest.mark.parametrize("kind", ["redkeep", "redis"])
def test_replica_that_cannot_catch_up_aborts_at_the_timeout(group: Group, kind: str) -> None:
    m, (r,) = start(group, kind, ["redkeep" if kind == "redis" else "redis"])
    os.kill(r.proc.pid, signal.SIGSTOP)          # it can't acknowledge anything
    try:
        m("SET", "k", "v")
        assert m("FAILOVER", "TO", "127.0.0.1", r.port, "TIMEOUT", "700") == "OK"
        assert m.info()["master_failover_state"] == "waiting-for-sync"
        group.wait(lambda: m.info()["master_failover_state"] == "no-failover", 10,
                   "failover aborted")
    finally:
        os.kill(r.proc.pid, signal.SIGCONT)
    assert "Replica never caught up before timeout" in m.proc.log_text()
    assert m.info()["role"] == "master"
    assert m("SET", "k2", "v2") == "OK"          # writes resume on the master
    assert _err(m, "FAILOVER", "ABORT") == "ERR No failover in progress."


@pytest.mark.parametrize("kind", ["redkeep", "redis"])
def test_force_fails_over_to_a_lagging_replica_at_the_timeout(group: Group, kind: str) -> None:
    m, (r,) = start(group, kind, ["redkeep" if kind == "redis" else "redis"])
    os.kill(r.proc.pid, signal.SIGSTOP)
    try:
        m("SET", "unsynced", "v")                # never acknowledged by the target
        assert m("FAILOVER", "TO", "127.0.0.1", r.port, "FORCE", "TIMEOUT", "500") == "OK"
        group.wait(lambda: m.info()["master_failover_state"] == "failover-in-progress", 10,
                   "failing over at the timeout")
        assert "time out exceeded, failing over." in m.proc.log_text()
    finally:
        os.kill(r.proc.pid, signal.SIGCONT)
    group.wait(lambda: m.info()["master_failover_state"] == "no-failover", 30, "failover end")
    group.wait(lambda: r.info()["role"] == "master", 30, "target promoted")
    group.wait_in_sync(r, [m], timeout=60)
    group.assert_same_data(r, [m])
