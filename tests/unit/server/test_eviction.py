"""maxmemory eviction (server.eviction) and LRU/LFU access tracking, driven through
`Server.execute` with a ManualClock: no sockets, no sleeps, seeded randomness.

Each policy must evict the right kind of keys: the least recently / frequently used
ones, only keys with a TTL for volatile-*, the soonest-expiring for volatile-ttl, and
nothing (OOM) for noeviction or when no candidate is left.
"""

from __future__ import annotations

import random

import pytest

from redkeep.clock import ManualClock
from redkeep.resp.types import ErrorReply, NullArray
from redkeep.server.config import ServerConfig
from redkeep.server.eviction import (
    EVPOOL_SIZE,
    LFU_INIT_VAL,
    AccessTracker,
    Evictor,
    KeySampler,
)
from redkeep.server.server import Server

OOM = "OOM command not allowed when used memory > 'maxmemory'."
START_WALL = 1_700_000_000_000


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(wall_ms=START_WALL)


@pytest.fixture
def server(clock) -> Server:
    return Server(ServerConfig(), clock)


@pytest.fixture
def run(server):
    c = server.new_client("127.0.0.1:40001", "127.0.0.1:6379")

    def run(*args, client=None):
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        return server.execute(client or c, argv)
    run.client = c
    return run


def keys_of(server: Server, db: int = 0) -> set[bytes]:
    return set(server.keyspace.dbs[db].data)


def limit_to_evict(server: Server, n_bytes: int) -> int:
    """A maxmemory value that is `n_bytes` below the current usage."""
    return server.evictor.used_memory() - n_bytes


def fill(run, clock, names, ttl_ms: int | None = None, value: bytes = b"v" * 100,
         step_ms: int = 10) -> None:
    for name in names:
        run("SET", name, value)
        if ttl_ms is not None:
            run("PEXPIRE", name, ttl_ms)
        clock.advance(step_ms)


# ---- noeviction and the OOM error ----


def test_noeviction_rejects_denyoom_commands(server, run, clock):
    fill(run, clock, [f"k{i}" for i in range(50)])
    assert run("CONFIG", "SET", "maxmemory", limit_to_evict(server, 1000)) == b"OK"
    reply = run("SET", "new", "value")
    assert isinstance(reply, ErrorReply) and reply.message == OOM
    assert run("GET", "k1") == b"v" * 100          # reads still work
    assert run("DEL", "k1", "k2") == 2             # DEL is not denyoom
    assert len(keys_of(server)) == 48
    assert server.keyspace.evicted_keys == 0
    assert server.errorstats.get("OOM") == 1


def test_under_the_limit_nothing_happens(server, run, clock):
    fill(run, clock, [f"k{i}" for i in range(20)])
    run("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    run("CONFIG", "SET", "maxmemory", server.evictor.used_memory() + 100_000)
    assert run("SET", "x", "y") == b"OK"
    assert len(keys_of(server)) == 21
    assert server.keyspace.evicted_keys == 0


def test_oom_when_only_volatile_policy_and_no_ttl_keys(server, run, clock):
    fill(run, clock, [f"k{i}" for i in range(30)])
    for policy in ("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"):
        run("CONFIG", "SET", "maxmemory-policy", policy)
        run("CONFIG", "SET", "maxmemory", limit_to_evict(server, 500))
        reply = run("SET", "new", "v")
        assert isinstance(reply, ErrorReply) and reply.message == OOM, policy
        assert len(keys_of(server)) == 30
        run("CONFIG", "SET", "maxmemory", 0)


def test_oom_inside_multi_refuses_every_queued_command(server, run, clock):
    """Redis 7.0: inside MULTI even reads are refused (queueing costs memory), and the
    transaction is then aborted; DISCARD still works."""
    fill(run, clock, [f"k{i}" for i in range(20)])
    run("CONFIG", "SET", "maxmemory", limit_to_evict(server, 100))
    assert run("MULTI") == b"OK"
    assert err_text(run("GET", "k1")) == OOM
    assert err_text(run("SET", "x", "1")) == OOM
    assert err_text(run("EXEC")) == (
        "EXECABORT Transaction discarded because of previous errors.")
    assert run("MULTI") == b"OK"
    assert run("DISCARD") == b"OK"


def test_exec_of_queued_denyoom_command_is_refused_when_over(server, run, clock):
    fill(run, clock, [f"k{i}" for i in range(20)])
    admin = server.new_client("127.0.0.1:40009")
    run("MULTI")
    assert run("SET", "x", "1") == b"QUEUED"
    assert run("GET", "k1") == b"QUEUED"
    server.execute(admin, [b"CONFIG", b"SET", b"maxmemory", b"%d" % limit_to_evict(server, 100)])
    assert err_text(run("EXEC")) == f"EXECABORT Transaction discarded because of: {OOM}"
    assert not run.client.in_multi               # execCommandAbort discards it
    assert err_text(run("EXEC")) == "ERR EXEC without MULTI"
    run("MULTI")
    assert err_text(run("GET", "k1")) == OOM
    run("DISCARD")
    assert run("GET", "k1") == b"v" * 100        # reads outside MULTI are fine


def err_text(reply) -> str:
    assert isinstance(reply, ErrorReply), reply
    return reply.message


# ---- The policies ----


def _cold_and_hot(run, clock, ttl_ms: int | None = None, n: int = 200):
    cold = [f"cold{i}".encode() for i in range(n)]
    hot = [f"hot{i}".encode() for i in range(n)]
    fill(run, clock, cold, ttl_ms)
    fill(run, clock, hot, ttl_ms)
    clock.advance(5000)
    for _ in range(100):
        for k in hot:
            run("GET", k)
        clock.advance(1000)
    return set(cold), set(hot)


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu"])
def test_allkeys_lru_lfu_evict_cold_keys(server, run, clock, policy):
    run("CONFIG", "SET", "maxmemory-policy", policy)
    cold, hot = _cold_and_hot(run, clock)
    run("CONFIG", "SET", "maxmemory", limit_to_evict(server, 100 * 200))
    left = keys_of(server)
    evicted = (cold | hot) - left
    assert len(evicted) >= 90
    assert hot <= left, "a hot key was evicted before the cold ones"
    assert server.keyspace.evicted_keys == len(evicted)
    assert server.evictor.used_memory() <= server.config.maxmemory


@pytest.mark.parametrize("policy", ["volatile-lru", "volatile-lfu"])
def test_volatile_lru_lfu_evict_only_keys_with_ttl(server, run, clock, policy):
    run("CONFIG", "SET", "maxmemory-policy", policy)
    persistent = [f"p{i}".encode() for i in range(200)]
    fill(run, clock, persistent)                           # oldest, never read, no TTL
    cold, hot = _cold_and_hot(run, clock, ttl_ms=10_000_000, n=150)
    run("CONFIG", "SET", "maxmemory", limit_to_evict(server, 100 * 150))
    left = keys_of(server)
    assert set(persistent) <= left
    assert hot <= left
    assert len(cold - left) >= 70


def test_allkeys_random_evicts_any_kind_of_key(server, run, clock):
    run("CONFIG", "SET", "maxmemory-policy", "allkeys-random")
    with_ttl = [f"t{i}".encode() for i in range(300)]
    without = [f"n{i}".encode() for i in range(300)]
    fill(run, clock, with_ttl, ttl_ms=10_000_000)
    fill(run, clock, without)
    run("CONFIG", "SET", "maxmemory", limit_to_evict(server, 200 * 300))
    left = keys_of(server)
    assert set(with_ttl) - left and set(without) - left


def test_volatile_random_evicts_only_keys_with_ttl(server, run, clock):
    run("CONFIG", "SET", "maxmemory-policy", "volatile-random")
    with_ttl = [f"t{i}".encode() for i in range(300)]
    without = [f"n{i}".encode() for i in range(300)]
    fill(run, clock, with_ttl, ttl_ms=10_000_000)
    fill(run, clock, without)
    run("CONFIG", "SET", "maxmemory", limit_to_evict(server, 200 * 100))
    left = keys_of(server)
    assert set(without) <= left
    assert len(set(with_ttl) - left) >= 100


def test_volatile_ttl_evicts_soonest_expiring_first(server, run, clock):
    run("CONFIG", "SET", "maxmemory-policy", "volatile-ttl")
    names = [f"t{i}".encode() for i in range(200)]
    for i, name in enumerate(names):          # t0 expires last, t199 first
        run("SET", name, b"v" * 100)
        run("PEXPIRE", name, 10_000_000 - i * 1000)
    fill(run, clock, [f"n{i}" for i in range(100)])
    run("CONFIG", "SET", "maxmemory", limit_to_evict(server, 200 * 50))
    left = keys_of(server)
    evicted = set(names) - left
    assert len(evicted) >= 45
    assert all(f"n{i}".encode() in left for i in range(100))
    # the soonest-expiring keys went first (sampling is approximate: allow a margin)
    latest_evicted = min(int(k[1:]) for k in evicted)
    assert latest_evicted >= 200 - len(evicted) - 40


def test_eviction_spans_databases(server, run, clock):
    run("CONFIG", "SET", "maxmemory-policy", "allkeys-random")
    fill(run, clock, [f"a{i}" for i in range(200)])
    run("SELECT", 3)
    fill(run, clock, [f"b{i}" for i in range(200)])
    run("CONFIG", "SET", "maxmemory", limit_to_evict(server, 200 * 200))
    assert len(keys_of(server, 0)) < 200 and len(keys_of(server, 3)) < 200


def test_write_commands_evict_then_succeed(server, run, clock):
    run("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    fill(run, clock, [f"k{i}" for i in range(100)])
    run("CONFIG", "SET", "maxmemory", server.evictor.used_memory() + 50)
    for i in range(200):
        assert run("SET", f"new{i}", b"v" * 100) == b"OK"
        clock.advance(10)
    assert server.evictor.used_memory() <= server.config.maxmemory + 300
    assert server.keyspace.evicted_keys >= 190
    assert b"new199" in keys_of(server)


# ---- Events, stats, WATCH ----


def test_evicted_event_and_stats(server, run, clock):
    pushed: list[bytes] = []
    sub = server.new_client("127.0.0.1:40002", writer=pushed.append)
    run("CONFIG", "SET", "notify-keyspace-events", "Ee")
    run("SUBSCRIBE", "__keyevent@0__:evicted", client=sub)
    run("CONFIG", "SET", "maxmemory-policy", "allkeys-random")
    fill(run, clock, [f"k{i}" for i in range(50)])
    run("CONFIG", "SET", "maxmemory", limit_to_evict(server, 300))
    n = server.keyspace.evicted_keys
    assert n >= 2
    messages = [p for p in pushed if p.startswith(b"*3\r\n$7\r\nmessage")]
    assert len(messages) == n
    assert all(b"__keyevent@0__:evicted" in m for m in messages)
    assert "evicted_keys:%d" % n in run("INFO", "stats").data.decode()


def test_eviction_touches_watched_keys(server, run, clock):
    run("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    fill(run, clock, ["victim"])
    clock.advance(100_000)
    fill(run, clock, [f"k{i}" for i in range(20)])
    run("WATCH", "victim", *[f"k{i}" for i in range(20)])
    run("CONFIG", "SET", "maxmemory", limit_to_evict(server, 10))
    assert len(keys_of(server)) == 20
    run("MULTI")
    run("SET", "x", "1")
    assert run("EXEC") is NullArray


def test_config_set_maxmemory_below_usage_evicts_at_once(server, run, clock):
    run("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    fill(run, clock, [f"k{i}" for i in range(500)])
    target = limit_to_evict(server, 200 * 250)
    run("CONFIG", "SET", "maxmemory", target)
    assert server.evictor.used_memory() <= target
    assert run("DBSIZE") < 260


def test_budget_per_call_then_cron_finishes(server, run, clock):
    run("CONFIG", "SET", "maxmemory-policy", "allkeys-random")
    run("CONFIG", "SET", "maxmemory-eviction-tenacity", 0)
    fill(run, clock, [f"k{i}" for i in range(400)])
    target = limit_to_evict(server, 200 * 200)
    run("CONFIG", "SET", "maxmemory", target)
    assert server.keyspace.evicted_keys == 16      # one call's budget at tenacity 0
    assert server.evictor.running
    for _ in range(20):
        server.cron()
    assert server.evictor.used_memory() <= target
    assert not server.evictor.running


def test_no_eviction_while_clients_are_paused(server, run, clock):
    run("CONFIG", "SET", "maxmemory-policy", "allkeys-random")
    fill(run, clock, [f"k{i}" for i in range(50)])
    run("CLIENT", "PAUSE", 1000, "WRITE")
    run("CONFIG", "SET", "maxmemory", limit_to_evict(server, 2000))
    assert server.keyspace.evicted_keys == 0
    clock.advance(1001)
    server.cron()
    assert server.keyspace.evicted_keys > 0


def test_replica_ignores_maxmemory(server, run, clock):
    run("CONFIG", "SET", "maxmemory-policy", "allkeys-random")
    fill(run, clock, [f"k{i}" for i in range(50)])
    server.keyspace.is_replica = True
    run("CONFIG", "SET", "maxmemory", limit_to_evict(server, 2000))
    assert server.keyspace.evicted_keys == 0
    assert server.evictor.make_room(None) is True


# ---- Access tracking: OBJECT IDLETIME / FREQ ----


def test_no_access_tracking_without_lru_lfu_policy(server, run, clock):
    fill(run, clock, ["k"])
    assert server.keyspace.dbs[0].access is None
    assert server.keyspace.tracker is None
    assert server.keyspace.dbs[0].idle_ms(b"k") == 0


def test_object_idletime_with_lru_policy(server, run, clock):
    run("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    fill(run, clock, ["k"])
    clock.advance(12_345)
    assert run("OBJECT", "IDLETIME", "k") == 12
    assert server.keyspace.dbs[0].idle_ms(b"k") == 12_345 + 10   # fill() steps 10 ms
    run("GET", "k")
    assert run("OBJECT", "IDLETIME", "k") == 0
    clock.advance(3000)
    run("APPEND", "k", "x")                 # writes refresh the access time too
    assert run("OBJECT", "IDLETIME", "k") == 0


def test_object_freq_lfu_counter_and_decay(server, run, clock):
    run("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu")
    fill(run, clock, ["k"])
    assert run("OBJECT", "FREQ", "k") == LFU_INIT_VAL
    for _ in range(100):
        run("GET", "k")
    freq = run("OBJECT", "FREQ", "k")
    assert LFU_INIT_VAL + 3 <= freq <= LFU_INIT_VAL + 40       # logarithmic growth
    clock.advance(3 * 60_000)                                   # lfu-decay-time 1 minute
    assert run("OBJECT", "FREQ", "k") == freq - 3
    assert server.keyspace.dbs[0].lfu_freq(b"k") == freq - 3
    run("CONFIG", "SET", "lfu-decay-time", 0)
    clock.advance(10 * 60_000)
    assert run("OBJECT", "FREQ", "k") == freq     # decay 0: the stored counter, as Redis


def test_lfu_log_increment_probability(server):
    server.config.lfu_log_factor = 10

    class FixedRandom(random.Random):
        def __init__(self, value: float) -> None:
            super().__init__(0)
            self.value = value

        def random(self) -> float:
            return self.value

    def incr(counter: int, r: float) -> int:
        return AccessTracker(server, True, FixedRandom(r)).log_incr(counter)
    assert incr(LFU_INIT_VAL, 0.99) == LFU_INIT_VAL + 1        # p = 1 at the initial value
    assert incr(LFU_INIT_VAL + 1, 0.09) == LFU_INIT_VAL + 2    # p = 1/11
    assert incr(LFU_INIT_VAL + 1, 0.095) == LFU_INIT_VAL + 1
    assert incr(255, 0.0) == 255
    assert incr(0, 0.99) == 1


def test_lfu_decay_wraps_the_16_bit_minutes(server, clock):
    tracker = AccessTracker(server, True, random.Random(1))
    clock.advance(65_530 * 60_000)
    word = (tracker.minutes() << 8) | 20
    clock.advance(10 * 60_000)                                  # minutes wrap around 65535
    assert tracker.decayed(word) == 20 - 9                      # Redis's LFUTimeElapsed


def test_switching_policy_starts_and_stops_tracking(server, run, clock):
    fill(run, clock, ["a", "b"])
    run("CONFIG", "SET", "maxmemory-policy", "volatile-lfu")
    access = server.keyspace.dbs[0].access
    assert set(access) == {b"a", b"b"}
    assert run("OBJECT", "FREQ", "a") == LFU_INIT_VAL
    run("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    assert run("OBJECT", "IDLETIME", "a") == 0
    run("CONFIG", "SET", "maxmemory-policy", "noeviction")
    assert server.keyspace.dbs[0].access is None


def test_access_follows_delete_flush_and_swapdb(server, run, clock):
    run("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    fill(run, clock, ["a", "b"])
    run("DEL", "a")
    assert b"a" not in server.keyspace.dbs[0].access
    run("SWAPDB", 0, 1)
    assert set(server.keyspace.dbs[1].access) == {b"b"}
    assert server.keyspace.dbs[0].access == {}
    run("FLUSHALL")
    assert all(db.access == {} for db in server.keyspace.dbs)


# ---- Pool and sampler internals ----


def test_pool_keeps_best_sixteen_sorted(server, run, clock):
    run("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    run("CONFIG", "SET", "maxmemory-samples", 64)
    fill(run, clock, [f"k{i:03d}" for i in range(64)], step_ms=1000)
    ev: Evictor = server.evictor
    db = server.keyspace.dbs[0]
    ev._ensure_tracking()
    ev.samplers.clear()
    for _ in range(10):
        ev.populate_pool(db, db.data)
    scores = [s for s, _, _ in ev.pool]
    assert len(ev.pool) == EVPOOL_SIZE
    assert scores == sorted(scores)
    assert ev.pool[-1][2] == b"k000"                      # the idlest key is the best


def test_sampler_rebuilds_when_stale():
    d = {b"a%d" % i: 1 for i in range(100)}
    s = KeySampler(d)
    assert not s.stale(d)
    for i in range(50):
        del d[b"a%d" % i]
    assert s.stale(d)
    picks = KeySampler(d).pick(random.Random(3), 10)
    assert picks and all(k in d for k in picks)
    assert s.stale({})


def test_flushall_drops_sampler_snapshots(server, run, clock):
    run("CONFIG", "SET", "maxmemory-policy", "allkeys-random")
    fill(run, clock, [f"k{i}" for i in range(100)])
    run("CONFIG", "SET", "maxmemory", limit_to_evict(server, 500))
    assert server.evictor.samplers
    run("FLUSHALL")
    server.cron()
    assert not server.evictor.samplers


@pytest.mark.parametrize("policy", ["allkeys-random", "allkeys-lru", "volatile-random"])
def test_steady_churn_never_runs_out_of_candidates(server, run, clock, policy):
    """Evict one, add one, thousands of times: the sampler's snapshot fills with ghosts
    and must be rebuilt instead of reporting 'nothing to evict' (a false OOM)."""
    run("CONFIG", "SET", "maxmemory-policy", policy)
    ttl = 10_000_000 if policy.startswith("volatile") else None
    fill(run, clock, [f"k{i}" for i in range(300)], ttl_ms=ttl, step_ms=1)
    run("CONFIG", "SET", "maxmemory", server.evictor.used_memory() + 100)
    for i in range(5000):
        assert run("SET", f"n{i}", b"v" * 100) == b"OK", i
        if ttl:
            run("PEXPIRE", f"n{i}", ttl)
    assert 250 <= len(keys_of(server)) <= 302


def test_next_batch_runs_on_the_next_loop_turn(server, run, clock):
    """With a node, a call stopped at its budget schedules the next batch (call_soon)."""
    callbacks: list = []

    class Loop:
        def call_soon(self, fn):
            callbacks.append(fn)

    class Node:
        loop = Loop()
        connections: dict = {}

    server.node = Node()
    run("CONFIG", "SET", "maxmemory-policy", "allkeys-random")
    run("CONFIG", "SET", "maxmemory-eviction-tenacity", 0)
    fill(run, clock, [f"k{i}" for i in range(400)])
    target = limit_to_evict(server, 200 * 200)
    run("CONFIG", "SET", "maxmemory", target)
    assert server.keyspace.evicted_keys == 16 and len(callbacks) == 1
    turns = 0
    while callbacks:
        callbacks.pop()()
        turns += 1
    assert server.evictor.used_memory() <= target and not server.evictor.running
    assert turns >= 10
