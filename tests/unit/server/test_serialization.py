"""Unit tests for DUMP / RESTORE (server/commands/serialization.py): a Server with a
ManualClock, commands run through `Server.execute`, no sockets."""

from __future__ import annotations

import struct

import pytest

from redkeep.clock import ManualClock
from redkeep.persistence.rdb import RDB_VERSION, crc64, dump_value
from redkeep.resp.types import OK, ErrorReply, NullArray, Status
from redkeep.server.config import NOTIFY_ALL, NOTIFY_KEYEVENT, NOTIFY_NEW, ServerConfig
from redkeep.server.server import Server

NOW = 1_700_000_000_000


class Harness:
    def __init__(self, **config) -> None:
        cfg = ServerConfig()
        for k, v in config.items():
            setattr(cfg, k, v)
        self.clock = ManualClock(wall_ms=NOW, monotonic_ms=10_000_000)
        self.server = Server(cfg, self.clock)
        self.client = self.server.new_client()
        self.events: list[tuple[bytes, bytes]] = []

    def __call__(self, *args, client=None):
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        return self.server.execute(client or self.client, argv)

    def capture_events(self) -> list[tuple[bytes, bytes]]:
        self.server.keyspace.notify_flags = NOTIFY_ALL | NOTIFY_KEYEVENT | NOTIFY_NEW
        self.server.pubsub.publish = lambda ch, msg: self.events.append((ch, msg)) or 0
        return self.events

    def keyevents(self) -> list[tuple[bytes, bytes]]:
        return [(ch.split(b":", 1)[1], key) for ch, key in self.events
                if ch.startswith(b"__keyevent@")]


@pytest.fixture
def r() -> Harness:
    return Harness()


def err(text: str) -> ErrorReply:
    return ErrorReply(text)


def payload(body: bytes, version: int = RDB_VERSION) -> bytes:
    """A DUMP payload around a hand-made body, with a correct checksum."""
    data = body + struct.pack("<H", version)
    return data + struct.pack("<Q", crc64(data))


# ---- DUMP ----

def test_dump_missing_key_is_nil(r):
    assert r("DUMP", "nokey") is None


def test_dump_string_is_redis_payload(r):
    r("SET", "foo", "bar")
    # byte for byte what redis-server 7.0 answers to DUMP foo
    assert r("DUMP", "foo") == bytes.fromhex("0003626172 0a00 e6be4960ee66fd17".replace(" ", ""))


def test_dump_expired_key_is_nil(r):
    r("SET", "k", "v", "PX", 100)
    r.clock.advance(101)
    assert r("DUMP", "k") is None


def test_dump_wrong_arity(r):
    assert r("DUMP") == err("ERR wrong number of arguments for 'dump' command")
    assert r("DUMP", "a", "b") == err("ERR wrong number of arguments for 'dump' command")


def test_dump_respects_rdbcompression():
    long_value = b"abc" * 100
    on, off = Harness(), Harness(rdbcompression=False)
    for h in (on, off):
        h("SET", "k", long_value)
    assert len(on("DUMP", "k")) < 50 < len(off("DUMP", "k"))
    assert off("RESTORE", "k2", 0, on("DUMP", "k")) == OK
    assert off("GET", "k2") == long_value


# ---- round trips of every type ----

FILLERS = {
    "string": [("SET", "src", "hello")],
    "int": [("SET", "src", "-12345")],
    "lzf": [("SET", "src", "x" * 500)],
    "list": [("RPUSH", "src", "a", "b", 1, 2, "c" * 100)],
    "biglist": [("RPUSH", "src", *range(2000))],
    "intset": [("SADD", "src", 1, 2, 3, -100)],
    "set": [("SADD", "src", "a", "b", "c")],
    "bigset": [("SADD", "src", *[f"m{i}" for i in range(600)])],
    "hash": [("HSET", "src", "f", "v", "g", 12)],
    "bighash": [("HSET", "src", *[f"f{i // 2}" for i in range(1200)])],
    "zset": [("ZADD", "src", 1, "a", 2.5, "b", "-inf", "c")],
    "bigzset": [("ZADD", "src", *[x for i in range(300) for x in (i / 3, f"m{i}")])],
    "stream": [("XADD", "src", "1-1", "a", 1), ("XADD", "src", "2-0", "a", 2, "b", 3),
               ("XADD", "src", "3-0", "c", 4), ("XDEL", "src", "2-0")],
}


@pytest.mark.parametrize("kind", sorted(FILLERS))
def test_round_trip_every_type(r, kind):
    for cmd in FILLERS[kind]:
        r(*cmd)
    dumped = r("DUMP", "src")
    assert isinstance(dumped, bytes)
    assert r("RESTORE", "dst", 0, dumped) == OK
    assert r("DEBUG", "DIGEST-VALUE", "src") == r("DEBUG", "DIGEST-VALUE", "dst")
    assert r("OBJECT", "ENCODING", "src") == r("OBJECT", "ENCODING", "dst")
    assert r("TYPE", "src") == r("TYPE", "dst")
    if kind not in ("set", "bigset", "bighash"):   # hashtables: the order may differ
        assert r("DUMP", "dst") == dumped
    assert r("PTTL", "dst") == -1


def test_restore_uses_configured_thresholds():
    h = Harness()
    h("HSET", "h", *[x for i in range(10) for x in (f"f{i}", "v")])
    dumped = h("DUMP", "h")
    small = Harness(hash_max_listpack_entries=4)
    assert small("RESTORE", "h", 0, dumped) == OK
    assert small("OBJECT", "ENCODING", "h") == b"hashtable"
    assert h("OBJECT", "ENCODING", "h") == b"listpack"


# ---- RESTORE options and errors, in Redis's order ----

def test_restore_busykey_and_replace(r):
    r("SET", "a", "1")
    r("SET", "b", "2")
    d = r("DUMP", "a")
    assert r("RESTORE", "b", 0, d) == err("BUSYKEY Target key name already exists.")
    assert r("RESTORE", "b", 0, d, "REPLACE") == OK
    assert r("GET", "b") == b"1"


def test_restore_busykey_before_ttl_and_payload_checks(r):
    r("SET", "a", "1")
    assert r("RESTORE", "a", -1, "junk") == err("BUSYKEY Target key name already exists.")


def test_restore_option_errors(r):
    d = payload(b"\x00\x01x")
    assert r("RESTORE", "k", 0, d, "BOGUS") == err("ERR syntax error")
    assert r("RESTORE", "k", 0, d, "IDLETIME") == err("ERR syntax error")
    assert r("RESTORE", "k", 0, d, "IDLETIME", 1, "FREQ", 2) == err("ERR syntax error")
    assert r("RESTORE", "k", 0, d, "FREQ", 2, "IDLETIME", 1) == err("ERR syntax error")
    assert r("RESTORE", "k", 0, d, "IDLETIME", -1) == \
        err("ERR Invalid IDLETIME value, must be >= 0")
    assert r("RESTORE", "k", 0, d, "IDLETIME", "x") == \
        err("ERR value is not an integer or out of range")
    assert r("RESTORE", "k", 0, d, "FREQ", 256) == \
        err("ERR Invalid FREQ value, must be >= 0 and <= 255")
    assert r("RESTORE", "k", 0, d, "FREQ", -1) == \
        err("ERR Invalid FREQ value, must be >= 0 and <= 255")
    assert r("RESTORE", "k", 0, d, "idletime", 1, "IDLETIME", 2, "replace", "absttl") == OK
    assert r("RESTORE", "k", 0, d, "FREQ", 0, "REPLACE") == OK


def test_restore_ttl_errors(r):
    d = payload(b"\x00\x01x")
    assert r("RESTORE", "k", -1, d) == err("ERR Invalid TTL value, must be >= 0")
    assert r("RESTORE", "k", "1.5", d) == err("ERR value is not an integer or out of range")
    assert r("RESTORE", "k") == err("ERR wrong number of arguments for 'restore' command")


def test_restore_payload_errors(r):
    good = payload(b"\x00\x01x")
    wrong = "ERR DUMP payload version or checksum are wrong"
    assert r("RESTORE", "k", 0, "") == err(wrong)
    assert r("RESTORE", "k", 0, "short") == err(wrong)
    assert r("RESTORE", "k", 0, good[:-1] + bytes([good[-1] ^ 1])) == err(wrong)
    assert r("RESTORE", "k", 0, payload(b"\x00\x01x", RDB_VERSION + 1)) == err(wrong)
    assert r("RESTORE", "k", 0, payload(b"\x00\x01x", 9)) == OK     # older versions load
    bad = "ERR Bad data format"
    assert r("RESTORE", "k2", 0, payload(b"\x63\x01x")) == err(bad)      # unknown type
    assert r("RESTORE", "k2", 0, payload(b"\x00\x0fx")) == err(bad)      # truncated
    # like Redis, a value may run into the footer (Redis reads from the whole argument)
    assert r("RESTORE", "k3", 0, payload(b"\x00\x05x")) == OK
    assert r("STRLEN", "k3") == 5
    assert r("RESTORE", "k2", 0, payload(b"\x01\x00")) == err(bad)       # empty list
    assert r("RESTORE", "k2", 0, payload(b"\x12\x01\x02\x05hello")) == err(bad)
    assert r("RESTORE", "k2", 0, payload(b"\x13" + b"\x00" * 10)) == OK   # empty stream
    assert r("TYPE", "k2") == Status(b"stream")


def test_restore_trailing_bytes_follow_sanitize_dump_payload(r):
    d = payload(b"\x00\x01xjunk")
    assert r("RESTORE", "k", 0, d) == OK         # Redis 7.0's default: not checked
    assert r("GET", "k") == b"x"
    r("CONFIG", "SET", "sanitize-dump-payload", "yes")
    assert r("RESTORE", "k2", 0, d) == err("ERR Bad data format")
    assert r("RESTORE", "k3", 0, payload(b"\x00\x01x")) == OK


def test_restore_unsupported_type_names_the_problem(r):
    # a module value: redkeep can't hold it, the error says so
    reply = r("RESTORE", "k", 0, payload(b"\x07\x81" + b"\x00" * 8))
    assert isinstance(reply, ErrorReply)
    assert reply.message.startswith("ERR Bad data format: The RDB file contains module data")


# ---- TTLs ----

def test_restore_relative_ttl(r):
    assert r("RESTORE", "k", 5000, dump_value(b"v")) == OK
    assert r("PTTL", "k") == 5000
    r.clock.advance(5001)
    assert r("GET", "k") is None


def test_restore_relative_ttl_overflow_wraps_like_redis(r):
    assert r("RESTORE", "k", 2**63 - 1, dump_value(b"v")) == OK
    assert r("EXISTS", "k") == 0
    assert r("RESTORE", "k", 2**63 - 1 - NOW, dump_value(b"v")) == OK
    assert r("PEXPIRETIME", "k") == 2**63 - 1


def test_restore_absttl(r):
    assert r("RESTORE", "k", NOW + 3000, dump_value(b"v"), "ABSTTL") == OK
    assert r("PEXPIRETIME", "k") == NOW + 3000


def test_restore_absttl_in_the_past_creates_nothing(r):
    events = r.capture_events()
    dirty = r.server.dirty
    assert r("RESTORE", "k", NOW - 1, dump_value(b"v"), "ABSTTL") == OK
    assert r("EXISTS", "k") == 0
    assert r.server.dirty == dirty
    assert events == []


def test_restore_absttl_now_is_already_expired(r):
    assert r("RESTORE", "k", NOW, dump_value(b"v"), "ABSTTL") == OK
    assert r("EXISTS", "k") == 0


def test_restore_replace_with_past_absttl_deletes(r):
    r("SET", "k", "old")
    r.capture_events()
    dirty = r.server.dirty
    assert r("RESTORE", "k", 1, dump_value(b"v"), "ABSTTL", "REPLACE") == OK
    assert r("EXISTS", "k") == 0
    assert r.server.dirty == dirty + 1
    assert r.keyevents() == [(b"del", b"k")]


def test_restore_on_replica_keeps_expired_ttl(r):
    r.server.keyspace.is_replica = True
    assert r("RESTORE", "k", 1, dump_value(b"v"), "ABSTTL") == OK
    assert r.server.keyspace.dbs[0].data.get(b"k") == b"v"


# ---- events, dirty, WATCH ----

def test_restore_events_and_dirty(r):
    events = r.capture_events()
    dirty = r.server.dirty
    assert r("RESTORE", "k", 1000, dump_value(b"v")) == OK
    assert r.keyevents() == [(b"new", b"k"), (b"restore", b"k")]
    assert r.server.dirty == dirty + 1
    events.clear()
    assert r("RESTORE", "k", 0, dump_value(b"w"), "REPLACE") == OK
    assert r.keyevents() == [(b"new", b"k"), (b"restore", b"k")]
    assert r.server.dirty == dirty + 2
    assert r("PTTL", "k") == -1


def test_failed_restore_changes_nothing(r):
    r("SET", "k", "v")
    events = r.capture_events()
    dirty = r.server.dirty
    assert isinstance(r("RESTORE", "k", 0, "junk", "REPLACE"), ErrorReply)
    assert r("GET", "k") == b"v"
    assert r.server.dirty == dirty
    assert events == []


def test_restore_signals_watchers(r):
    other = r.server.new_client()
    r("SET", "k", "v")
    r("WATCH", "k")
    r("RESTORE", "k", 0, dump_value(b"w"), "REPLACE", client=other)
    r("MULTI")
    r("GET", "k")
    assert r("EXEC") is NullArray


def test_restore_new_key_signals_watchers(r):
    other = r.server.new_client()
    r("WATCH", "k")
    r("RESTORE", "k", 0, dump_value(b"w"), client=other)
    r("MULTI")
    r("GET", "k")
    assert r("EXEC") is NullArray


def test_restore_wakes_blocked_lists(r):
    r("RPUSH", "src", "x")
    d = r("DUMP", "src")
    db = r.server.keyspace.dbs[0]
    woke = []
    r.server.keyspace.on_key_ready = lambda db_, key: woke.append(key)
    assert db is r.client.db
    db.blocked[b"dst"] = object()
    r("RESTORE", "dst", 0, d)
    assert woke == [b"dst"]


# ---- IDLETIME / FREQ ----

def test_idletime_ignored_without_lru_policy(r):
    assert r("RESTORE", "k", 0, dump_value(b"v"), "IDLETIME", 100) == OK
    assert r("OBJECT", "IDLETIME", "k") == 0


def test_idletime_with_lru_policy():
    h = Harness()
    h("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    assert h("RESTORE", "k", 0, dump_value(b"v"), "IDLETIME", 100) == OK
    assert h("OBJECT", "IDLETIME", "k") == 100
    h.clock.advance(5000)
    assert h("OBJECT", "IDLETIME", "k") == 105


def test_freq_with_lfu_policy():
    h = Harness()
    h("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu")
    assert h("RESTORE", "k", 0, dump_value(b"v"), "FREQ", 200) == OK
    assert h("OBJECT", "FREQ", "k") == 200
    assert h("RESTORE", "k2", 0, dump_value(b"v"), "IDLETIME", 100) == OK
    assert h("OBJECT", "FREQ", "k2") == 5


def test_command_table_entries(r):
    table = r.server.table
    dump, restore = table.commands["dump"], table.commands["restore"]
    assert (dump.arity, dump.first_key, dump.last_key, dump.step) == (2, 1, 1, 1)
    assert (restore.arity, restore.first_key, restore.last_key, restore.step) == (-4, 1, 1, 1)
