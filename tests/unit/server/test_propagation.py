"""What each write command propagates (server.propagation + the handlers' rewrites).

A Server with a ManualClock and a capture feed on `server.propagator.feeds`; every
expectation is what real redis-server 7.0.15 sends to its replicas for the same
command (checked with a raw replica link, see tests/interop/test_propagation_interop.py).
"""

from __future__ import annotations

import random

import pytest

from redkeep.clock import ManualClock
from redkeep.persistence.rdb import dump_value
from redkeep.resp.types import ErrorReply
from redkeep.server.blocking import BLOCKED
from redkeep.server.config import ServerConfig
from redkeep.server.propagation import (
    PROPAGATE_AOF,
    PROPAGATE_REPL,
    StreamEncoder,
    encode_command,
)
from redkeep.server.server import Server

NOW = 1_700_000_000_000


def b(*args: object) -> list[bytes]:
    return [a if isinstance(a, bytes) else str(a).encode() for a in args]


class Capture:
    def __init__(self, **config: object) -> None:
        cfg = ServerConfig()
        cfg.save = []
        for k, v in config.items():
            setattr(cfg, k, v)
        self.clock = ManualClock(wall_ms=NOW)
        self.server = Server(cfg, self.clock)
        self.server.rng = random.Random(7)
        self.units: list[list[tuple[int, list[bytes], int]]] = []   # one list per flush
        self.server.propagator.feeds.append(self.units.append)
        self.client = self.server.new_client()

    def __call__(self, *args: object, client: object = None) -> object:
        c = client or self.client
        reply = self.server.execute(c, b(*args))
        if self.server.blocking.ready:
            self.server.blocking.serve_ready_keys()
        return reply

    def prop(self, *args: object, client: object = None) -> list[list[bytes]]:
        """Run a command; the argvs it propagated (all units, MULTI/EXEC included)."""
        self.units.clear()
        self(*args, client=client)
        return [argv for unit in self.units for _, argv, _ in unit]

    def dirty_and_prop(self, *args: object) -> tuple[int, list[list[bytes]]]:
        before = self.server.dirty
        out = self.prop(*args)
        return self.server.dirty - before, out


@pytest.fixture
def r() -> Capture:
    return Capture()


# ---- Strings ----

def test_set_relative_and_absolute_expires_become_pxat(r):
    assert r.prop("SET", "k", "v") == [b("SET", "k", "v")]
    assert r.prop("SET", "k", "v", "EX", 100) == [b("SET", "k", "v", "PXAT", NOW + 100_000)]
    assert r.prop("SET", "k", "v", "px", 1500) == [b("SET", "k", "v", "PXAT", NOW + 1500)]
    assert r.prop("SET", "k", "v", "EXAT", 4_000_000_000) == \
        [b("SET", "k", "v", "PXAT", 4_000_000_000_000)]
    # the whole command is rewritten: NX/XX/GET go with it
    assert r.prop("SET", "k", "w", "XX", "EX", 10, "GET") == \
        [b("SET", "k", "w", "PXAT", NOW + 10_000)]
    # PXAT too: the canonical form, without the options
    assert r.prop("set", "k", "v", "pxat", 4_000_000_000_123, "XX") == \
        [b("SET", "k", "v", "PXAT", 4_000_000_000_123)]
    assert r.prop("SET", "k", "v", "NX", "PXAT", 4_000_000_000_123, "get") == []
    assert r.prop("SET", "k", "v", "XX", "PXAT", 4_000_000_000_123, "get") == \
        [b("SET", "k", "v", "PXAT", 4_000_000_000_123)]


def test_set_get_is_dropped_and_a_set_that_did_not_happen_sends_nothing(r):
    assert r.prop("SET", "k", "v", "GET", "NX", "get") == [b("SET", "k", "v", "NX")]
    assert r.prop("SET", "k", "v", "NX") == []
    assert r.prop("SET", "k", "v", "NX", "GET") == []
    assert r.prop("SET", "k", "x", "KEEPTTL", "GET") == [b("SET", "k", "x", "KEEPTTL")]
    assert r.prop("SET", "k", "v", "EX", 0) == []          # an error


def test_setex_psetex_getset_getdel(r):
    assert r.prop("SETEX", "k", 10, "v") == [b("SET", "k", "v", "PXAT", NOW + 10_000)]
    assert r.prop("PSETEX", "k", 10, "v") == [b("SET", "k", "v", "PXAT", NOW + 10)]
    assert r.prop("GETSET", "k", "w") == [b("SET", "k", "w")]
    assert r.prop("GETDEL", "k") == [b("DEL", "k")]
    assert r.prop("GETDEL", "k") == []
    r.server.config.lazyfree_lazy_user_del = True
    r("SET", "k", "v")
    assert r.prop("GETDEL", "k") == [b("UNLINK", "k")]


def test_getex_propagates_pexpireat_persist_or_del(r):
    r("SET", "k", "v")
    assert r.prop("GETEX", "k") == []
    assert r.prop("GETEX", "k", "PERSIST") == []            # had no TTL: no change
    assert r.prop("GETEX", "k", "EX", 5) == [b("PEXPIREAT", "k", NOW + 5000)]
    assert r.prop("GETEX", "k", "PX", 5) == [b("PEXPIREAT", "k", NOW + 5)]
    assert r.prop("GETEX", "k", "PXAT", 4_000_000_000_000) == \
        [b("PEXPIREAT", "k", 4_000_000_000_000)]
    assert r.prop("GETEX", "k", "EXAT", 4_000_000_000) == \
        [b("PEXPIREAT", "k", 4_000_000_000_000)]
    assert r.prop("GETEX", "k", "PERSIST") == [b("PERSIST", "k")]
    assert r.prop("GETEX", "k", "PXAT", 1) == [b("DEL", "k")]
    assert r.prop("GETEX", "k", "EX", 5) == []               # gone
    r.server.config.lazyfree_lazy_expire = True
    r("SET", "k", "v")
    assert r.prop("GETEX", "k", "EXAT", 1) == [b("UNLINK", "k")]


def test_incrbyfloat_propagates_the_value_it_made(r):
    assert r.prop("INCRBYFLOAT", "f", "1.5") == [b("SET", "f", "1.5", "KEEPTTL")]
    assert r.prop("INCRBYFLOAT", "f", "1e2") == [b("SET", "f", "101.5", "KEEPTTL")]
    assert r.prop("INCRBYFLOAT", "f", "0") == [b("SET", "f", "101.5", "KEEPTTL")]
    assert r.prop("INCRBY", "n", 0) == [b("INCRBY", "n", 0)]


def test_setbit_counts_only_a_change(r):
    assert r.dirty_and_prop("SETBIT", "k", 7, 0) == (1, [b("SETBIT", "k", 7, 0)])  # created
    assert r.dirty_and_prop("SETBIT", "k", 7, 0) == (0, [])
    assert r.dirty_and_prop("SETBIT", "k", 7, 1) == (1, [b("SETBIT", "k", 7, 1)])
    assert r.dirty_and_prop("SETBIT", "k", 7, 1) == (0, [])
    assert r.dirty_and_prop("SETBIT", "k", 20, 0) == (1, [b("SETBIT", "k", 20, 0)])  # grown
    assert r("GET", "k") == b"\x01\x00\x00"


def test_overwriting_a_key_past_its_ttl_deletes_it_first(r):
    """setKey looks the key up: an expired key goes (DEL downstream) before the write."""
    for cmd in (("SET", "k", "w"), ("MSET", "a", 1, "k", "w"), ("SETEX", "k", 5, "w"),
                ("BITOP", "OR", "k", "src")):
        r("SET", "src", "x")
        r("SET", "k", "v", "PX", 5)
        r.clock.advance(10)
        out = r.prop(*cmd)
        assert out[:2] == [b("MULTI"), b("DEL", "k")] and out[-1] == b("EXEC"), (cmd, out)
    r("SET", "k", "v", "PX", 5)
    r.clock.advance(10)
    r("SET", "k", "x", "KEEPTTL")             # the old TTL went with the old key
    assert r("PTTL", "k") == -1


# ---- The EXPIRE family ----

def test_expire_family_becomes_pexpireat_with_its_options(r):
    r("SET", "k", "v")
    assert r.prop("EXPIRE", "k", 100) == [b("PEXPIREAT", "k", NOW + 100_000)]
    assert r.prop("PEXPIRE", "k", 100, "LT") == [b("PEXPIREAT", "k", NOW + 100, "LT")]
    assert r.prop("EXPIREAT", "k", 4_000_000_000, "gt") == \
        [b("PEXPIREAT", "k", 4_000_000_000_000, "gt")]
    assert r.prop("PEXPIREAT", "k", "4000000000001") == [b("PEXPIREAT", "k", 4_000_000_000_001)]
    assert r.prop("EXPIRE", "k", 100, "NX") == []
    assert r.prop("EXPIRE", "missing", 100) == []
    assert r.prop("PERSIST", "k") == [b("PERSIST", "k")]
    assert r.prop("PERSIST", "k") == []


def test_expire_in_the_past_is_a_del_or_unlink(r):
    r("SET", "k", "v")
    assert r.prop("EXPIRE", "k", -1) == [b("DEL", "k")]
    r("SET", "k", "v")
    assert r.prop("PEXPIREAT", "k", 1) == [b("DEL", "k")]
    r.server.config.lazyfree_lazy_expire = True
    r.server.config.lazyfree_lazy_user_del = False
    r("SET", "k", "v")
    assert r.prop("EXPIRE", "k", 0) == [b("UNLINK", "k")]


# ---- Expired keys ----

def test_expired_keys_propagate_as_del_before_the_command(r):
    r("SET", "k", "v", "PX", 10)
    r("SET", "k2", "v", "PX", 10)
    r.clock.advance(11)
    assert r.prop("GET", "k") == [b("DEL", "k")]            # a read: only the DEL
    assert r.prop("SET", "k2", "w", "NX") == [b("MULTI"), b("DEL", "k2"),
                                              b("SET", "k2", "w", "NX"), b("EXEC")]


def test_active_expiry_propagates_at_once_and_lazyfree_makes_it_unlink():
    r = Capture(lazyfree_lazy_expire=True)
    r("SET", "a", "1", "PX", 5)
    r("SELECT", 2)
    r("SET", "b", "1", "PX", 5)
    r.units.clear()
    r.clock.advance(10)
    r.server.keyspace.active_expire_cycle()
    assert sorted((unit[0][0], unit[0][1]) for unit in r.units) == \
        [(0, b("UNLINK", "a")), (2, b("UNLINK", "b"))]     # one unit each, no MULTI


def test_nothing_is_collected_without_feeds():
    r = Capture()
    r.server.propagator.feeds.clear()
    r("SET", "k", "v", "PX", 5)
    r.clock.advance(10)
    r("GET", "k")
    r("MULTI")
    r("SET", "a", "1")
    r("EXEC")
    assert r.server.propagator.pending == []


# ---- Hashes, sets ----

def test_hincrbyfloat_is_hset_of_the_result(r):
    assert r.prop("HINCRBYFLOAT", "h", "f", "1.5") == [b("HSET", "h", "f", "1.5")]
    assert r.prop("HINCRBYFLOAT", "h", "f", "0") == [b("HSET", "h", "f", "1.5")]
    assert r.prop("HSET", "h", "f", "1.5") == [b("HSET", "h", "f", "1.5")]   # counted anyway
    assert r.prop("HSETNX", "h", "f", "x") == []


def test_spop_propagates_the_members_it_removed(r):
    r("SADD", "s", *range(20))
    one = r.prop("SPOP", "s")
    assert len(one) == 1 and one[0][:2] == b("SREM", "s") and r("SISMEMBER", "s", one[0][2]) == 0
    r.units.clear()
    popped = r("SPOP", "s", 3)
    out = [argv for unit in r.units for _, argv, _ in unit]
    assert out == [b("MULTI"), *[b("SREM", "s", m) for m in popped], b("EXEC")]
    assert r.prop("SPOP", "s", 0) == []
    r.units.clear()
    popped = r("SPOP", "s", 14)        # few remain: the "keep the rest" strategy
    out = [argv for unit in r.units for _, argv, _ in unit]
    assert out[1:-1] == [b("SREM", "s", m) for m in popped] and r("SCARD", "s") == 2
    assert r.prop("SPOP", "s", 2) == [b("DEL", "s")]       # the whole set
    assert r.prop("SPOP", "s") == []


# ---- Blocking and counted pops ----

def test_blocking_pops_served_at_once_propagate_as_plain_pops(r):
    r("RPUSH", "l", "a", "b", "c", "d", "e", "f")
    assert r.prop("BLPOP", "none", "l", 0) == [b("LPOP", "l")]
    assert r.prop("BRPOP", "l", 0) == [b("RPOP", "l")]
    assert r.prop("BLMOVE", "l", "m", "left", "RIGHT", 0) == [b("LMOVE", "l", "m", "left", "RIGHT")]
    assert r.prop("BRPOPLPUSH", "l", "m", 0) == [b("RPOPLPUSH", "l", "m")]
    assert r.prop("BLMPOP", 0, 1, "l", "LEFT", "COUNT", 5) == [b("LPOP", "l", 2)]   # all
    r("RPUSH", "l", "a", "b", "c")
    assert r.prop("LMPOP", 2, "x", "l", "RIGHT", "COUNT", 2) == [b("RPOP", "l", 2)]
    assert r.prop("LMPOP", 1, "l", "RIGHT") == [b("RPOP", "l", 1)]
    assert r.prop("LPOP", "m", 5) == [b("LPOP", "m", 5)]


def test_served_waiters_propagate_after_the_push_each_as_its_own_unit(r):
    waiter = r.server.new_client()
    waiter.on_unblock = lambda reply: None
    assert r("BLPOP", "q", 0, client=waiter) is BLOCKED
    other = r.server.new_client()
    other.on_unblock = lambda reply: None
    assert r("BLMOVE", "q", "dst", "RIGHT", "LEFT", 0, client=other) is BLOCKED
    third = r.server.new_client()
    third.on_unblock = lambda reply: None
    assert r("BRPOPLPUSH", "q", "dst", 0, client=third) is BLOCKED
    r.units.clear()
    r("RPUSH", "q", "x", "y", "z")
    units = [[argv for _, argv, _ in unit] for unit in r.units]
    assert units == [[b("RPUSH", "q", "x", "y", "z")], [b("LPOP", "q")],
                     [b("LMOVE", "q", "dst", "right", "left")],   # Redis's own words
                     [b("RPOPLPUSH", "q", "dst")]]


def test_served_waiter_after_exec(r):
    waiter = r.server.new_client()
    waiter.on_unblock = lambda reply: None
    r("BLMPOP", 0, 1, "q", "RIGHT", "COUNT", 3, client=waiter)
    r("MULTI")
    r("RPUSH", "q", "a")
    r("RPUSH", "q", "b")
    r.units.clear()
    r("EXEC")
    units = [[argv for _, argv, _ in unit] for unit in r.units]
    assert units == [[b("MULTI"), b("RPUSH", "q", "a"), b("RPUSH", "q", "b"), b("EXEC")],
                     [b("RPOP", "q", 2)]]


def test_sorted_set_pops(r):
    r("ZADD", "z", 1, "a", 2, "b", 3, "c", 4, "d")
    assert r.prop("ZPOPMIN", "z", 7) == [b("ZPOPMIN", "z", 7)]      # deterministic: as is
    r("ZADD", "z", 1, "a", 2, "b", 3, "c", 4, "d")
    assert r.prop("BZPOPMIN", "z", 0) == [b("ZPOPMIN", "z")]
    assert r.prop("BZPOPMAX", "z", 0) == [b("ZPOPMAX", "z")]
    assert r.prop("ZMPOP", 1, "z", "MIN", "COUNT", 10) == [b("ZPOPMIN", "z", 2)]
    assert r.prop("ZMPOP", 1, "z", "MIN") == []
    r("ZADD", "z", 1, "a")
    assert r.prop("BZMPOP", 0, 1, "z", "MAX") == [b("ZPOPMAX", "z", 1)]
    waiter = r.server.new_client()
    waiter.on_unblock = lambda reply: None
    r("BZPOPMAX", "z", 0, client=waiter)
    assert r.prop("ZADD", "z", 1, "a", 2, "b") == [b("ZADD", "z", 1, "a", 2, "b"),
                                                   b("ZPOPMAX", "z")]


# ---- Streams ----

def test_xadd_server_made_ids_are_sent_explicitly(r):
    assert r.prop("XADD", "s", "*", "f", "v") == [b("XADD", "s", f"{NOW}-0", "f", "v")]
    assert r.prop("XADD", "s", "*", "f", "v") == [b("XADD", "s", f"{NOW}-1", "f", "v")]
    assert r.prop("XADD", "s", f"{NOW + 5}-*", "f", "v") == [b("XADD", "s", f"{NOW + 5}-0", "f", "v")]
    assert r.prop("XADD", "s", f"{NOW + 9}", "f", "v") == [b("XADD", "s", f"{NOW + 9}", "f", "v")]
    assert r.prop("XADD", "nos", "NOMKSTREAM", "*", "f", "v") == []


def test_approximate_trims_become_exact(r):
    """Whole nodes of 100 entries go (a fresh stream, no deletions: Redis's listpack
    nodes and redkeep's model agree)."""
    for i in range(1, 151):
        r("XADD", "s", f"{i}-1", "f", "v")
    assert r.prop("XADD", "s", "MAXLEN", "~", "20", "151-1", "f", "v") == \
        [b("XADD", "s", "MAXLEN", "=", "51", "151-1", "f", "v")]
    # nothing trimmed, yet XADD rewrites its trim (XTRIM then sends nothing)
    assert r.prop("XADD", "s", "MAXLEN", "~", "20", "152-*", "f", "v") == \
        [b("XADD", "s", "MAXLEN", "=", "52", "152-0", "f", "v")]
    assert r.prop("XTRIM", "s", "MAXLEN", "~", "20") == []
    for i in range(153, 253):
        r("XADD", "s", f"{i}-1", "f", "v")
    assert r.prop("XTRIM", "s", "MINID", "~", "230", "LIMIT", "100") == \
        [b("XTRIM", "s", "MINID", "=", "201-1", "LIMIT", "100")]
    assert r.prop("XTRIM", "s", "MAXLEN", "=", "50") == [b("XTRIM", "s", "MAXLEN", "=", "50")]
    for i in range(1, 101):
        r("XADD", "t", f"{i}-1", "f", "v")
    assert r.prop("XTRIM", "t", "MINID", "~", "500") == \
        [b("XTRIM", "t", "MINID", "=", "18446744073709551615-18446744073709551615")]


def test_stream_changes_count_as_redis_counts_them(r):
    for i in range(1, 6):
        r("XADD", "s", f"{i}-1", "f", "v")
    assert r.dirty_and_prop("XADD", "s", "MAXLEN", 2, "6-1", "f", "v") == \
        (1, [b("XADD", "s", "MAXLEN", 2, "6-1", "f", "v")])     # trimming inside: no count
    assert r.dirty_and_prop("XDEL", "s", "5-1", "6-1", "9-9")[0] == 2
    for i in range(7, 11):
        r("XADD", "s", f"{i}-1", "f", "v")
    assert r.dirty_and_prop("XTRIM", "s", "MAXLEN", 1)[0] == 3


def test_a_master_may_send_limit_without_tilde(r):
    r("XADD", "s", "1-1", "f", "v")
    r("XADD", "s", "2-1", "f", "v")
    refused = r("XTRIM", "s", "MAXLEN", "=", "1", "LIMIT", "1")
    assert isinstance(refused, ErrorReply) and "LIMIT" in refused.message
    link = r.server.new_client()
    link.kind = "master"
    assert r("XTRIM", "s", "MAXLEN", "=", "0", "LIMIT", "1", client=link) == 2   # ignored
    assert r("XADD", "s", "MAXLEN", "=", "0", "LIMIT", "5", "3-1", "f", "v", client=link) \
        == b"3-1"
    assert r("XLEN", "s") == 0


# ---- RESTORE ----

def test_restore_relative_ttl_goes_as_absttl(r):
    payload = dump_value(b"v", compress=False)
    assert r.prop("RESTORE", "k", 0, payload) == [b("RESTORE", "k", 0, payload)]
    assert r.prop("restore", "k", 5000, payload, "REPLACE") == \
        [b("restore", "k", NOW + 5000, payload, "REPLACE", "ABSTTL")]
    assert r.prop("RESTORE", "k", 4_000_000_000_000, payload, "ABSTTL", "REPLACE") == \
        [b("RESTORE", "k", 4_000_000_000_000, payload, "ABSTTL", "REPLACE")]
    assert r.prop("RESTORE", "k", 10, payload, "ABSTTL", "REPLACE") == [b("DEL", "k")]
    assert r.prop("RESTORE", "k", 10, payload, "ABSTTL", "REPLACE") == []   # nothing to delete
    r.server.config.lazyfree_lazy_server_del = True
    r("SET", "k", "v")
    assert r.prop("RESTORE", "k", 10, payload, "ABSTTL", "REPLACE") == [b("DEL", "k")]


# ---- Writes that change nothing ----

@pytest.mark.parametrize("cmd", [
    ("DEL", "nokey"), ("UNLINK", "nokey", "nokey2"), ("SADD", "s", "a"), ("SREM", "s", "zz"),
    ("SREM", "nokey", "a"), ("SMOVE", "s", "s", "a"), ("SMOVE", "s", "s2", "zz"),
    ("SINTERSTORE", "nodst", "nokey"), ("SUNIONSTORE", "nodst", "nokey"),
    ("SDIFFSTORE", "nodst", "nokey"), ("HSETNX", "h", "f", "x"), ("HDEL", "h", "zz"),
    ("ZADD", "z", 1, "a"), ("ZADD", "z", "GT", "CH", 0, "a"), ("ZADD", "z", "XX", 5, "zz"),
    ("ZADD", "z", "NX", 5, "a"), ("ZINCRBY", "z", 0, "a"), ("ZREM", "z", "zz"),
    ("ZREMRANGEBYSCORE", "z", 10, 20), ("ZREMRANGEBYRANK", "z", 5, 9),
    ("ZREMRANGEBYLEX", "z", "[x", "[y"), ("ZPOPMIN", "nokey"), ("ZPOPMIN", "z", 0),
    ("ZUNIONSTORE", "nodst", 1, "nokey"), ("ZRANGESTORE", "nodst", "nokey", 0, -1),
    ("LPUSHX", "nokey", "a"), ("LREM", "l", 0, "zz"), ("LTRIM", "l", 0, -1),
    ("LINSERT", "l", "BEFORE", "zz", "x"), ("LPOP", "l", 0), ("RPOP", "nokey"),
    ("LMOVE", "nokey", "l", "LEFT", "LEFT"), ("SETRANGE", "k", 1, ""),
    ("SETRANGE", "nokey", 3, ""), ("SETBIT", "k", 0, 0), ("SETNX", "k", "v"),
    ("MSETNX", "k", "v", "k9", "v"), ("PERSIST", "k"), ("EXPIRE", "nokey", 10),
    ("EXPIRE", "k", 10, "XX"), ("EXPIRE", "k", 10, "GT"), ("GETEX", "k", "PERSIST"),
    ("GETDEL", "nokey"), ("RENAME", "k", "k"), ("RENAMENX", "k", "k"), ("RENAMENX", "k", "s"),
    ("COPY", "k", "s"), ("MOVE", "nokey", 1), ("BITOP", "AND", "nodst", "nokey"),
    ("XTRIM", "x", "MAXLEN", 5), ("XTRIM", "x", "MAXLEN", "~", 1), ("XDEL", "x", "9-9"),
    ("XADD", "nokey", "NOMKSTREAM", "*", "f", "v"), ("HINCRBYFLOAT", "h", "f", "x"),
    ("INCR", "k"), ("SPOP", "nokey"), ("SPOP", "s", 0), ("EXPIRE", "k", "x"),
    ("RESTORE", "nokey2", 5, dump_value(b"v", compress=False), "ABSTTL"),
])
def test_writes_that_change_nothing_neither_count_nor_propagate(r, cmd):
    r("SET", "k", "v")
    r("SADD", "s", "a")
    r("HSET", "h", "f", "1")
    r("ZADD", "z", 1, "a")
    r("RPUSH", "l", "a", "b")
    r("XADD", "x", "1-1", "f", "v")
    assert r.dirty_and_prop(*cmd) == (0, [])


@pytest.mark.parametrize("cmd, dirty", [
    (("SADD", "s", "a", "b", "c"), 2), (("SREM", "s", "a", "b", "zz"), 1),
    (("HSET", "h", "f", "1", "g", "2"), 2), (("ZADD", "z", 1, "a", 2, "b", 3, "c"), 2),
    (("RPUSH", "l", "x", "y"), 2), (("LPOP", "l", 5), 2), (("DEL", "k", "s", "nokey"), 2),
    (("MSET", "a", 1, "b", 2, "c", 3), 3), (("SMOVE", "s", "s2", "a"), 2),
    (("APPEND", "k", ""), 1), (("FLUSHALL",), 5),
])
def test_dirty_counts_changes_as_redis_does(r, cmd, dirty):
    r("SET", "k", "v")
    r("SADD", "s", "a")
    r("HSET", "h", "f", "1")
    r("ZADD", "z", 1, "a")
    r("RPUSH", "l", "a", "b")
    assert r.dirty_and_prop(*cmd) == (dirty, [b(*cmd)])


def test_flushdb_propagates_even_when_the_db_is_empty(r):
    assert r.dirty_and_prop("FLUSHDB") == (0, [b("FLUSHDB")])
    assert r.dirty_and_prop("FLUSHALL") == (0, [b("FLUSHALL")])   # no save points
    r("SET", "k", "v")
    assert r.dirty_and_prop("FLUSHDB", "ASYNC") == (1, [b("FLUSHDB", "ASYNC")])


# ---- Transactions and scripts ----

def test_exec_wraps_several_writes_and_keeps_their_databases(r):
    r("MULTI")
    r("SET", "a", "1")
    r("SELECT", 3)
    r("INCRBYFLOAT", "f", "2")
    r("GET", "a")
    r.units.clear()
    r("EXEC")
    assert [(dbid, argv) for dbid, argv, _ in r.units[0]] == [
        (0, b("MULTI")), (0, b("SET", "a", "1")), (3, b("SET", "f", "2", "KEEPTTL")),
        (-1, b("EXEC"))]
    r("SELECT", 0)
    r("MULTI")
    r("SET", "a", "2")
    assert r.prop("EXEC") == [b("SET", "a", "2")]           # one write: not wrapped
    r("MULTI")
    r("GET", "a")
    assert r.prop("EXEC") == []


def test_script_effects_are_propagated_wrapped(r):
    r("SADD", "s", "x", "y", "z")
    r.units.clear()
    r("EVAL", "redis.call('set', KEYS[1], 'v', 'EX', '10'); "
      "redis.call('get', 'nothing'); return redis.call('spop', KEYS[2])", 2, "k", "s")
    out = [argv for unit in r.units for _, argv, _ in unit]
    assert out[:3] == [b("MULTI"), b("SET", "k", "v", "PXAT", NOW + 10_000)] + [out[2]]
    assert out[2][:2] == b("SREM", "s") and out[3:] == [b("EXEC")]
    assert r.prop("EVAL", "return redis.call('get', KEYS[1])", 1, "k") == []
    assert r.prop("EVAL", "return redis.call('set', KEYS[1], 'w')", 1, "k") == \
        [b("set", "k", "w")]


def test_script_touching_an_expired_key_sends_its_del_inside_the_unit(r):
    r("SET", "old", "v", "PX", 5)
    r.clock.advance(10)
    assert r.prop("EVAL", "redis.call('get', 'old'); return redis.call('set', 'n', '1')", 0) \
        == [b("MULTI"), b("DEL", "old"), b("set", "n", "1"), b("EXEC")]


# ---- The stream encoding ----

def test_stream_encoder_selects_db_and_filters_targets():
    enc = StreamEncoder(PROPAGATE_AOF)
    ops = [(0, b("SET", "a", "1"), 3), (0, b("PUBLISH", "c", "m"), PROPAGATE_REPL),
           (2, b("SET", "b", "1"), 3), (-1, b("EXEC"), 3), (2, b("DEL", "b"), 3)]
    assert enc.encode(ops) == b"".join(encode_command(x) for x in [
        b("SELECT", 0), b("SET", "a", "1"), b("SELECT", 2), b("SET", "b", "1"), b("EXEC"),
        b("DEL", "b")])
    repl = StreamEncoder(PROPAGATE_REPL)
    assert repl.encode(ops[:2]) == encode_command(b("SELECT", 0)) + \
        encode_command(b("SET", "a", "1")) + encode_command(b("PUBLISH", "c", "m"))
