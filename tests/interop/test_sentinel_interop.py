"""Sentinel interop with Redis 7.0.15: redkeep sentinels failing over real redis-server
nodes, real redis-sentinel failing over redkeep servers, and mixed sentinel sets
(redkeep + real) agreeing on the new master after kill -9 and after SENTINEL FAILOVER
sent to either kind (so each kind gets to be the leader).

Every process is started by pid on 127.0.0.1 (tests/support/sentinels.py) and stopped in
the test; every wait is a poll with a deadline.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import redis
from redis.sentinel import Sentinel

from support.procs import HOST, require_binary, wait_until
from support.sentinels import MASTER_NAME, PASSWORD, Group, SentinelProc, kill9, wait_role

pytestmark = pytest.mark.interop


def _run(server_kinds: Sequence[str], sentinel_kinds: Sequence[str], body) -> None:
    require_binary("redis-server")
    require_binary("redis-sentinel")
    g = Group(server_kinds=server_kinds, sentinel_kinds=sentinel_kinds, down_after=1500,
              failover_timeout=10000)
    try:
        g.start()
        body(g)
    except BaseException:
        print(g.describe())
        raise
    finally:
        g.stop()


def _epochs(sentinels: Sequence[SentinelProc]) -> set[str]:
    return {s.master_state()["config-epoch"] for s in sentinels}


def _kill_and_check(g: Group) -> int:
    """kill -9 the master; every sentinel agrees on a replica; the other follows it;
    acknowledged data survives and redis-py's Sentinel client writes to the new one."""
    client = Sentinel([(HOST, s.port) for s in g.sentinels], socket_timeout=2)
    w = client.master_for(MASTER_NAME, socket_timeout=2, password=PASSWORD)
    assert w.set("k", "before")
    old = g.master.port
    for r in g.servers[1:]:
        wait_until(lambda r=r: r.client().get("k") == b"before", 20, what="replicated")
    kill9(g.master)
    new = g.wait_new_master(old, timeout=60)
    assert new in [r.port for r in g.servers[1:]]
    wait_role(g.server_at(new), "master")
    for r in g.servers[1:]:
        if r.port != new:
            wait_role(r, "slave", new, timeout=30)
    assert g.server_at(new).client().get("k") == b"before"
    assert w.set("k", "after")
    wait_until(lambda: len(_epochs(g.sentinels)) == 1, 20, what="one config epoch")
    return new


def _forced(g: Group, leader: SentinelProc) -> int:
    old = leader.master_addr()[1]

    def started() -> bool:
        # Right after a switch the replicas are re-learned from INFO: until then the
        # leader answers NOGOODSLAVE (both kinds do); a sentinel that lost the election
        # of the previous failover answers INPROG until its attempt is aborted (up to
        # the election timeout). Anything else is a failure.
        try:
            return leader.call("SENTINEL", "FAILOVER", MASTER_NAME) == "OK"
        except redis.ResponseError as e:
            if str(e).startswith(("NOGOODSLAVE", "INPROG")):
                return False
            raise

    wait_until(started, 30, interval=0.2, what=f"SENTINEL FAILOVER accepted by {leader.kind}")
    new = g.wait_new_master(old, timeout=60)
    for s in g.servers:
        if s.alive() and s.port != new:
            wait_role(s, "slave", new, timeout=60)
    wait_until(lambda: len(_epochs(g.sentinels)) == 1, 20, what="one config epoch")
    return new


def test_redkeep_sentinels_fail_over_real_servers() -> None:
    def body(g: Group) -> None:
        new = _kill_and_check(g)
        g.master.restart()   # the old real master is converted by redkeep sentinels
        wait_role(g.master, "slave", new, timeout=60)

    _run(("redis", "redis", "redis"), ("redkeep", "redkeep", "redkeep"), body)


def test_real_sentinels_fail_over_redkeep_servers() -> None:
    def body(g: Group) -> None:
        new = _kill_and_check(g)
        g.master.restart()   # the old redkeep master is converted by redis-sentinel
        wait_role(g.master, "slave", new, timeout=60)

    _run(("redkeep", "redkeep", "redkeep"), ("redis", "redis", "redis"), body)


def test_mixed_sentinels_agree_redkeep_majority() -> None:
    """2 redkeep + 1 real: kill -9, then the real one and a redkeep one each lead a
    forced failover; all three report the same address and config epoch every time."""
    def body(g: Group) -> None:
        _kill_and_check(g)
        g.master.restart()
        _forced(g, g.sentinels[2])     # real redis-sentinel leads
        _forced(g, g.sentinels[0])     # redkeep leads

    _run(("redkeep", "redkeep", "redkeep"), ("redkeep", "redkeep", "redis"), body)


def test_mixed_sentinels_agree_real_majority() -> None:
    """1 redkeep + 2 real over real servers: kill -9, then a forced failover led by
    the redkeep sentinel."""
    def body(g: Group) -> None:
        _kill_and_check(g)
        _forced(g, g.sentinels[2])     # redkeep leads

    _run(("redis", "redis", "redis"), ("redis", "redis", "redkeep"), body)
