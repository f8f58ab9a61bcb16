"""Replication with real redis-server 7.0 on either end: a real replica of a redkeep
master and a redkeep replica of a real master, each through a full sync (disk and
diskless), a live write stream of every type with expirations, a link cut followed by a
partial resync, and DEBUG DIGEST equal on both sides; replicas killed and restarted;
mixed chains (real → redkeep → real and redkeep → real → redkeep)."""

from __future__ import annotations

import pytest

from support.replication import Group, Node, Writer, fill_every_type

pytestmark = pytest.mark.interop

OTHER = {"redis": "redkeep", "redkeep": "redis"}


@pytest.fixture
def group(repl_group: Group) -> Group:
    return repl_group


def start_pair(group: Group, master_kind: str, diskless: str) -> tuple[Node, Node]:
    m = group.start(master_kind, "--repl-diskless-sync", diskless)
    fill_every_type(m)
    m("DEBUG", "POPULATE", "20000")
    r = group.start(OTHER[master_kind], "--replicaof", "127.0.0.1", str(m.port))
    group.wait_in_sync(m, [r], timeout=60)
    return m, r


def write_while(group: Group, m: Node, seed: int, action, min_writes: int = 300) -> None:
    """Random writes of every type (with short TTLs) on the master around `action()`."""
    w = Writer(m, seed=seed, nkeys=150, dbs=3)
    w.start()
    try:
        group.wait(lambda: w.sent >= min_writes // 2, 60, "writes before the action")
        action()
        sent = w.sent
        group.wait(lambda: w.sent >= sent + min_writes // 2, 60, "writes after the action")
    finally:
        w.finish()


def settle(group: Group, m: Node, replicas: list[Node]) -> None:
    """Stop the master's active expiry (the data must stand still), then compare."""
    m("DEBUG", "SET-ACTIVE-EXPIRE", "0")
    group.wait_in_sync(m, replicas, timeout=60)
    group.assert_same_data(m, replicas)


@pytest.mark.parametrize("diskless", ["no", "yes"])
@pytest.mark.parametrize("master_kind", ["redkeep", "redis"])
def test_full_sync_stream_and_partial_resync(group: Group, master_kind: str,
                                             diskless: str) -> None:
    m, r = start_pair(group, master_kind, diskless)
    group.assert_same_data(m, [r])
    assert m.stat("sync_full") == 1
    info = r.info()
    assert info["master_replid"] == m.info()["master_replid"]
    partial = m.stat("sync_partial_ok")

    def cut() -> None:
        assert r("CLIENT", "KILL", "TYPE", "master") == 1

    write_while(group, m, seed=len(master_kind) * 10 + len(diskless), action=cut)
    settle(group, m, [r])
    assert m.stat("sync_partial_ok") == partial + 1, group.logs()
    assert m.stat("sync_full") == 1, group.logs()
    assert m.stat("sync_partial_err") == 0


@pytest.mark.parametrize("master_kind", ["redkeep", "redis"])
def test_killed_replica_restarts_and_catches_up(group: Group, master_kind: str) -> None:
    m, r = start_pair(group, master_kind, "yes")

    def crash() -> None:
        r.kill9()
        r.restart()

    write_while(group, m, seed=11, action=crash)
    settle(group, m, [r])


@pytest.mark.parametrize("master_kind", ["redkeep", "redis"])
def test_restarted_replica_continues_with_psync(group: Group, master_kind: str) -> None:
    m, r = start_pair(group, master_kind, "no")
    r.kill9()
    m("SET", "while-down", "1")
    r.restart()
    group.wait_in_sync(m, [r], timeout=60)
    assert m.stat("sync_partial_ok") == 1 and m.stat("sync_full") == 1


@pytest.mark.parametrize("kinds", [("redis", "redkeep", "redis"),
                                   ("redkeep", "redis", "redkeep")])
def test_mixed_chain(group: Group, kinds: tuple[str, str, str]) -> None:
    top = group.start(kinds[0])
    fill_every_type(top)
    mid = group.start(kinds[1], "--replicaof", "127.0.0.1", str(top.port))
    leaf = group.start(kinds[2], "--replicaof", "127.0.0.1", str(mid.port))
    group.wait_link_up(mid, leaf)
    replid = top.info()["master_replid"]
    partial_top, partial_mid = top.stat("sync_partial_ok"), mid.stat("sync_partial_ok")

    def cut_mid() -> None:
        assert mid("CLIENT", "KILL", "TYPE", "master") == 1

    write_while(group, top, seed=5, action=cut_mid)
    top("DEBUG", "SET-ACTIVE-EXPIRE", "0")
    group.wait_in_sync(top, [mid], timeout=60)
    group.wait_in_sync(mid, [leaf], timeout=60)
    group.assert_same_data(top, [mid, leaf])
    # one history down the chain: same replid, same offset numbering
    for n in (mid, leaf):
        assert n.info()["master_replid"] == replid
    assert top.stat("sync_partial_ok") == partial_top + 1
    assert mid.stat("sync_partial_ok") == partial_mid     # the leaf kept its link
    assert leaf.info()["master_link_status"] == "up"
