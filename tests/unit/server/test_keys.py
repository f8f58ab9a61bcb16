"""Unit tests for the generic key commands (server/commands/keys.py): a Server with a
ManualClock, commands run through `Server.execute`, no sockets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redkeep.clock import ManualClock
from redkeep.resp.types import ErrorReply, Status
from redkeep.server import scan as scan_mod
from redkeep.server.commands import keys as keys_mod
from redkeep.server.config import (
    NOTIFY_ALL,
    NOTIFY_KEYEVENT,
    NOTIFY_NEW,
    ServerConfig,
)
from redkeep.server.keyspace import register_type
from redkeep.server.server import Server

NOW = 1_700_000_000_000


class FakeList(list):
    """Stands in for the list type of a later issue (COPY must deep-copy it)."""


class FakeHash(dict):
    def encoding(self) -> str:
        return "listpack"


class FakeSet(set):
    encoding = "intset"


register_type(FakeList, b"list")
register_type(FakeSet, b"set")
register_type(FakeHash, b"hash")


class Harness:
    def __init__(self, **config) -> None:
        cfg = ServerConfig()
        for k, v in config.items():
            setattr(cfg, k, v)
        self.clock = ManualClock(wall_ms=NOW)
        self.server = Server(cfg, self.clock)
        self.client = self.server.new_client()
        self.events: list[tuple[bytes, bytes]] = []

    def __call__(self, *args):
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        return self.server.execute(self.client, argv)

    def on(self, *args, client=None):
        """Run on another client."""
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        return self.server.execute(client, argv)

    @property
    def db(self):
        return self.client.db

    def capture_events(self, extra: int = 0) -> list[tuple[bytes, bytes]]:
        self.server.keyspace.notify_flags = NOTIFY_ALL | NOTIFY_KEYEVENT | extra
        self.server.pubsub.publish = lambda ch, msg: self.events.append((ch, msg)) or 0
        return self.events

    def event_names(self) -> list[tuple[str, bytes]]:
        return [(ch.split(b":", 1)[1].decode() if b"@0__" in ch else
                 ch.decode().split("__:", 1)[0] + ":" + ch.split(b":", 1)[1].decode(), key)
                for ch, key in self.events]


@pytest.fixture
def r() -> Harness:
    return Harness()


def err(text: str) -> ErrorReply:
    return ErrorReply(text)


def scan_all(r: Harness, *opts, between=None, limit: int = 100000) -> list[bytes]:
    out: list[bytes] = []
    cursor = b"0"
    for _ in range(limit):
        reply = r("SCAN", cursor, *opts)
        assert isinstance(reply, list), reply
        cursor, batch = reply
        out += batch
        if cursor == b"0":
            return out
        if between:
            between()
    raise AssertionError("SCAN did not terminate")


# ---- DEL UNLINK EXISTS TOUCH TYPE ----

def test_del_counts_existing_keys_once(r):
    r("SET", "a", 1)
    r("SET", "b", 2)
    dirty = r.server.dirty
    assert r("DEL", "a", "a", "b", "nokey") == 2
    assert r.server.dirty == dirty + 2
    assert r("EXISTS", "a", "b") == 0
    assert r("UNLINK", "nokey") == 0
    r("SET", "c", 3)
    assert r("UNLINK", "c") == 1


def test_del_of_expired_key_counts_zero(r):
    r("SET", "a", 1, "PX", 100)
    r.clock.advance(100 + 1)  # Redis: expired once now > when
    assert r("DEL", "a") == 0
    assert r.server.keyspace.expired_keys == 1


def test_del_on_replica_deletes_logically_expired_key(r):
    r("SET", "a", 1, "PX", 100)
    r.server.keyspace.is_replica = True
    r.clock.advance(200)
    assert r("EXISTS", "a") == 0
    assert r("DEL", "a") == 1
    assert b"a" not in r.db.data


def test_exists_counts_repetitions_and_stats(r):
    r("SET", "a", 1)
    ks = r.server.keyspace
    hits, misses = ks.keyspace_hits, ks.keyspace_misses
    assert r("EXISTS", "a", "a", "b") == 2
    assert (ks.keyspace_hits - hits, ks.keyspace_misses - misses) == (2, 1)
    assert r("TOUCH", "a", "b", "a") == 2


def test_type(r):
    r("SET", "s", "x")
    r.db.set_key(b"l", FakeList([b"a"]))
    assert r("TYPE", "s") == Status(b"string")
    assert isinstance(r("TYPE", "s"), Status)
    assert r("TYPE", "l") == b"list"
    assert r("TYPE", "nokey") == b"none"
    r("SET", "e", 1, "PX", 5)
    r.clock.advance(5 + 1)  # Redis: expired once now > when
    assert r("TYPE", "e") == b"none"


def test_arity_errors(r):
    assert r("DEL") == err("ERR wrong number of arguments for 'del' command")
    assert r("TYPE", "a", "b") == err("ERR wrong number of arguments for 'type' command")
    assert r("RANDOMKEY", "x") == err("ERR wrong number of arguments for 'randomkey' command")
    assert r("COPY", "a") == err("ERR wrong number of arguments for 'copy' command")
    assert r("EXPIRE", "a") == err("ERR wrong number of arguments for 'expire' command")
    assert r("OBJECT") == err("ERR wrong number of arguments for 'object' command")
    assert r("OBJECT", "ENCODING") == err(
        "ERR wrong number of arguments for 'object|encoding' command")


# ---- KEYS ----

def test_keys_patterns_and_expiry(r):
    for k in ("one", "two", "three", "four", ""):
        r("SET", k, 1)
    r("SET", "gone", 1, "PX", 10)
    assert sorted(r("KEYS", "*")) == sorted([b"one", b"two", b"three", b"four", b"", b"gone"])
    r.clock.advance(10 + 1)  # Redis: expired once now > when
    assert b"gone" not in r("KEYS", "*")
    assert b"gone" in r.db.data          # KEYS hides, does not delete
    assert sorted(r("KEYS", "t*")) == [b"three", b"two"]
    assert sorted(r("KEYS", "?o*")) == [b"four"]
    assert r("KEYS", "[ot]ne") == [b"one"]
    assert r("KEYS", "nomatch") == []
    assert b"" not in r("KEYS", "**")    # "*" is a shortcut; other patterns never match ""


# ---- SCAN ----

def test_scan_small_db_in_one_call(r):
    for i in range(5):
        r("SET", f"k{i}", i)
    cursor, keys = r("SCAN", 0)
    assert cursor == b"0"
    assert sorted(keys) == [b"k0", b"k1", b"k2", b"k3", b"k4"]
    assert r("SCAN", 0, "COUNT", 5)[0] == b"0"
    assert r("FLUSHALL") == b"OK"
    assert r("SCAN", 0) == [b"0", []]


def test_scan_cursor_parsing(r):
    r("SET", "a", 1)
    assert r("SCAN", "")[0] == b"0"             # strtoul("") is 0
    for bad in ("abc", " 1", "1 ", "+", "-", "0x10", "18446744073709551616", "1.0",
                "-18446744073709551616"):
        assert r("SCAN", bad) == err("ERR invalid cursor"), bad
    assert keys_mod.parse_scan_cursor(b"-1") == 18446744073709551615
    assert keys_mod.parse_scan_cursor(b"+7") == 7
    assert keys_mod.parse_scan_cursor(b"007") == 7
    assert keys_mod.parse_scan_cursor(b"0" * 5000 + b"1") == 1
    assert r("SCAN", "9" * 5000) == err("ERR invalid cursor")
    assert keys_mod.parse_scan_cursor(b"-18446744073709551615") == 1
    # the cursor is checked before the options
    assert r("SCAN", "x", "COUNT", "0") == err("ERR invalid cursor")


def test_scan_option_errors(r):
    assert r("SCAN", 0, "COUNT", 0) == err("ERR syntax error")
    assert r("SCAN", 0, "COUNT", -1) == err("ERR syntax error")
    assert r("SCAN", 0, "COUNT", "x") == err("ERR value is not an integer or out of range")
    assert r("SCAN", 0, "COUNT") == err("ERR syntax error")
    assert r("SCAN", 0, "MATCH") == err("ERR syntax error")
    assert r("SCAN", 0, "TYPE") == err("ERR syntax error")
    assert r("SCAN", 0, "FOO", "bar") == err("ERR syntax error")
    assert r("SCAN", 0, "count", 3, "match", "*", "type", "string") == [b"0", []]


def test_scan_match_type_and_expiry(r):
    for i in range(30):
        r("SET", f"s{i}", i)
    r.db.set_key(b"list1", FakeList([b"x"]))
    r("SET", "vol", 1, "PX", 10)
    r.clock.advance(10 + 1)  # Redis: expired once now > when
    assert sorted(scan_all(r, "MATCH", "s1*")) == sorted(
        [b"s1"] + [f"s1{i}".encode() for i in range(10)])
    assert scan_all(r, "TYPE", "list") == [b"list1"]
    assert scan_all(r, "TYPE", "LIST") == [b"list1"]
    assert scan_all(r, "TYPE", "nosuchtype") == []
    assert b"vol" not in scan_all(r)
    assert b"vol" not in r.db.data          # SCAN deletes the expired keys it meets


def test_scan_count_is_work_not_results(r):
    for i in range(100):
        r("SET", f"k{i}", i)
    cursor, keys = r("SCAN", 0, "COUNT", 10, "MATCH", "nomatch*")
    assert cursor != b"0" and keys == []
    cursor, keys = r("SCAN", 0, "COUNT", 10)
    assert cursor != b"0" and len(keys) == 10


def test_scan_full_iteration_without_writes(r):
    for i in range(1000):
        r("SET", f"k{i}", i)
    got = scan_all(r, "COUNT", 7)
    assert len(got) == 1000 and len(set(got)) == 1000


def test_scan_survives_writes_between_calls(r):
    for i in range(500):
        r("SET", f"k{i}", i)
    stable = {f"k{i}".encode() for i in range(0, 500, 2)}
    counter = iter(range(10**6))

    def churn():
        n = next(counter)
        r("DEL", f"k{(2 * n + 1) % 500}")       # odd keys come and go
        r("SET", f"new{n}", n)
        r("SET", f"k{(2 * n + 3) % 500}", "again")

    got = scan_all(r, "COUNT", 9, between=churn)
    assert stable <= set(got)


def test_scan_survives_same_size_churn_with_compaction(r):
    # delete-one/insert-one keeps len(dict) constant while Python compacts the dict:
    # a bare dict iterator would silently skip keys here.
    for i in range(300):
        r("SET", f"k{i}", i)
    stable = {f"k{i}".encode() for i in range(150, 300)}
    counter = iter(range(10**6))

    def churn():
        for _ in range(40):
            n = next(counter)
            victim = f"k{n}" if n < 150 else f"tmp{n - 1}"
            r("DEL", victim)
            r("SET", f"tmp{n}", n)

    got = scan_all(r, "COUNT", 10, between=churn)
    assert stable <= set(got)


def test_scan_key_deleted_and_reinserted_is_not_lost(r):
    for i in range(100):
        r("SET", f"k{i}", i)
    cursor, first = r("SCAN", 0, "COUNT", 10)
    # the last returned key moves to the end of the dict order
    r("DEL", first[-1])
    r("SET", first[-1], "back")
    rest = []
    while cursor != b"0":
        cursor, batch = r("SCAN", cursor, "COUNT", 10)
        rest += batch
    assert {f"k{i}".encode() for i in range(100)} - {first[-1]} <= set(first + rest)


def test_scan_0_on_big_db_does_not_snapshot(r):
    for i in range(200_000):
        r.db.data[b"k%d" % i] = b"v"
    cursor, keys = r("SCAN", 0)
    assert len(keys) == 10
    cursors = keys_mod.key_iterators(r.server.keyspace).cursors
    state = next(reversed(cursors.states.values()))
    assert state.it is not None and state.snapshot == [] and len(state.returned) == 10
    cursor, keys = r("SCAN", cursor)
    assert len(keys) == 10


def test_scan_unknown_cursor_terminates(r):
    for i in range(50):
        r("SET", f"k{i}", i)
    assert r("SCAN", 12345) == [b"0", []]
    assert r("SCAN", "18446744073709551615")[0] == b"0"
    cursors = {int(r("SCAN", 0, "COUNT", 1)[0]) for _ in range(300)}
    assert len(cursors) == 300 and max(cursors) < 2**53
    # a cursor of another iteration's serial but a wrong position is resumed by position
    cursor, _ = r("SCAN", 0, "COUNT", 10)
    bogus = (int(cursor) & ~((1 << 32) - 1)) | 45
    cursor, keys = r("SCAN", bogus, "COUNT", 10)
    assert len(keys) == 5 and cursor == b"0"


def test_scan_serials_wrap_around_past_live_iterations(r, monkeypatch):
    monkeypatch.setattr(scan_mod, "_SERIAL_MASK", 4)
    cursors = keys_mod.key_iterators(r.server.keyspace).cursors
    monkeypatch.setattr(cursors, "max_iterations", 3)
    for i in range(30):
        r("SET", f"k{i}", i)
    live = [r("SCAN", 0, "COUNT", 1)[0] for _ in range(2)]
    parked = dict(cursors.states)
    for _ in range(10):                       # serials wrap around several times
        r("SCAN", r("SCAN", 0, "COUNT", 1)[0], "COUNT", 100)   # start and finish
    assert cursors.states == parked             # the parked iterations were not disturbed
    for cursor in live:
        assert len(r("SCAN", cursor, "COUNT", 100)[1]) == 29


def test_scan_replayed_cursor_returns_the_batch_again(r):
    for i in range(30):
        r("SET", f"k{i}", i)
    c1, _ = r("SCAN", 0, "COUNT", 10)
    c2, b2 = r("SCAN", c1, "COUNT", 10)
    c2b, b2b = r("SCAN", c1, "COUNT", 10)     # as after a lost reply
    assert b2 == b2b


def test_scan_lru_thrash_still_terminates_and_covers(r, monkeypatch):
    monkeypatch.setattr(keys_mod.key_iterators(r.server.keyspace).cursors, "max_iterations", 2)
    for i in range(100):
        r("SET", f"k{i}", i)

    def other_scans():
        for _ in range(3):
            r("SCAN", 0, "COUNT", 1)

    got = scan_all(r, "COUNT", 10, between=other_scans)
    assert {f"k{i}".encode() for i in range(100)} <= set(got)


def test_scan_restarts_after_swapdb_and_ends_after_flushdb(r):
    for i in range(40):
        r("SET", f"k{i}", i)
    r("SELECT", 1)
    for i in range(40):
        r("SET", f"k{i}", i)
    r("SELECT", 0)
    cursor, first = r("SCAN", 0, "COUNT", 10)
    r("SWAPDB", 0, 1)
    rest = []
    while cursor != b"0":
        cursor, batch = r("SCAN", cursor, "COUNT", 10)
        rest += batch
    assert {f"k{i}".encode() for i in range(40)} <= set(first + rest)
    cursor, _ = r("SCAN", 0, "COUNT", 10)
    r("FLUSHDB")
    assert r("SCAN", cursor, "COUNT", 10) == [b"0", []]


def test_scan_cursor_of_another_db(r):
    for i in range(30):
        r("SET", f"k{i}", i)
    cursor, _ = r("SCAN", 0, "COUNT", 10)
    r("SELECT", 2)
    assert r("SCAN", cursor) == [b"0", []]


@settings(max_examples=40, deadline=None)
@given(ops=st.lists(st.tuples(st.sampled_from(["del", "set", "expire", "noop"]),
                              st.integers(0, 59)), max_size=60),
       count=st.integers(1, 12))
def test_scan_guarantee_property(ops, count):
    r = Harness()
    for i in range(60):
        r("SET", f"k{i}", i)
    touched = {f"k{k}".encode() for op, k in ops if op in ("del", "expire")}
    ops_iter = iter(ops)

    def step():
        op, k = next(ops_iter, ("noop", 0))
        if op == "del":
            r("DEL", f"k{k}")
        elif op == "set":
            r("SET", f"n{k}", k)
        elif op == "expire":
            r("PEXPIRE", f"k{k}", 1)
            r.clock.advance(1)

    got = scan_all(r, "COUNT", count, between=step)
    assert {f"k{i}".encode() for i in range(60)} - touched <= set(got)


# ---- RANDOMKEY ----

def test_randomkey(r):
    assert r("RANDOMKEY") is None
    r("SET", "only", 1)
    assert r("RANDOMKEY") == b"only"
    for i in range(100):
        r("SET", f"k{i}", i)
    keys_mod.key_iterators(r.server.keyspace).rng.seed(1)
    seen = {r("RANDOMKEY") for _ in range(300)}
    assert len(seen) > 50 and seen <= set(r.db.data)
    r("DEL", *[f"k{i}" for i in range(100)])
    assert r("RANDOMKEY") == b"only"


def test_randomkey_deletes_expired_keys(r):
    for i in range(5):
        r("SET", f"v{i}", i, "PX", 10)
    r.clock.advance(10 + 1)  # Redis: expired once now > when
    assert r("RANDOMKEY") is None
    assert r("DBSIZE") == 0
    assert r.server.keyspace.expired_keys == 5


def test_randomkey_on_replica_with_all_keys_expired_gives_up(r):
    for i in range(5):
        r("SET", f"v{i}", i, "PX", 10)
    r.server.keyspace.is_replica = True
    r.clock.advance(10 + 1)  # Redis: expired once now > when
    assert r("RANDOMKEY") in {f"v{i}".encode() for i in range(5)}
    r("SET", "persistent", 1)
    assert r("RANDOMKEY") == b"persistent"


def test_randomkey_sees_new_keys_after_many_writes(r):
    for i in range(50):
        r("SET", f"k{i}", i)
    r("RANDOMKEY")
    r("FLUSHDB")
    r("SET", "fresh", 1)
    assert r("RANDOMKEY") == b"fresh"
    r("SWAPDB", 0, 1)
    assert r("RANDOMKEY") is None


# ---- RENAME RENAMENX ----

def test_rename(r):
    assert r("RENAME", "nokey", "x") == err("ERR no such key")
    assert r("RENAMENX", "nokey", "x") == err("ERR no such key")
    assert r("RENAME", "nokey", "nokey") == err("ERR no such key")
    r("SET", "a", 1, "PX", 5000)
    assert r("RENAME", "a", "a") == b"OK"
    assert r("RENAMENX", "a", "a") == 0
    assert r("RENAME", "a", "b") == b"OK"
    assert r("EXISTS", "a") == 0
    assert r("GET", "b") == b"1" and r("PTTL", "b") == 5000
    r("SET", "c", 3)
    assert r("RENAMENX", "b", "c") == 0
    assert r("RENAME", "b", "c") == b"OK"
    assert r("GET", "c") == b"1" and r("PTTL", "c") == 5000
    r("SET", "d", 4, "EX", 100)
    r("RENAME", "c", "d")
    assert r("PTTL", "d") == 5000
    r("SET", "e", 5)
    r("RENAME", "e", "d")
    assert r("TTL", "d") == -1
    assert r("RENAMENX", "d", "f") == 1


def test_rename_expired_source(r):
    r("SET", "a", 1, "PX", 1)
    r.clock.advance(1 + 1)  # Redis: expired once now > when
    assert r("RENAME", "a", "b") == err("ERR no such key")


def test_rename_events_and_dirty(r):
    ev = r.capture_events(NOTIFY_NEW)
    r("SET", "a", 1)
    r("SET", "b", 2)
    ev.clear()
    dirty = r.server.dirty
    r("RENAME", "a", "b")
    assert r.server.dirty == dirty + 1
    assert r.event_names() == [("new", b"b"), ("rename_from", b"a"), ("rename_to", b"b")]


def test_rename_flags_watchers(r):
    other = r.server.new_client()
    r("SET", "a", 1)
    r.on("WATCH", "a", "b", client=other)
    r.on("MULTI", client=other)
    r("RENAME", "a", "b")
    assert r.on("EXEC", client=other) is not None and other.in_multi is False
    assert r.on("GET", "b", client=other) == b"1"


# ---- MOVE ----

def test_move(r):
    r("SET", "a", 1, "EX", 100)
    assert r("MOVE", "a", 0) == err("ERR source and destination objects are the same")
    assert r("MOVE", "a", 16) == err("ERR DB index is out of range")
    assert r("MOVE", "a", -1) == err("ERR DB index is out of range")
    assert r("MOVE", "a", "x") == err("ERR value is not an integer or out of range")
    assert r("MOVE", "a", "99999999999") == err(
        "ERR value is out of range, value must between -2147483648 and 2147483647")
    assert r("MOVE", "nokey", 1) == 0
    assert r("MOVE", "a", 1) == 1
    assert r("EXISTS", "a") == 0
    r("SELECT", 1)
    assert r("GET", "a") == b"1" and r("TTL", "a") == 100
    r("SELECT", 0)
    r("SET", "a", 2)
    assert r("MOVE", "a", 1) == 0
    assert r("GET", "a") == b"2"


def test_move_events(r):
    ev = r.capture_events()
    r("SET", "a", 1)
    ev.clear()
    r("MOVE", "a", 3)
    assert r.events == [(b"__keyevent@0__:move_from", b"a"), (b"__keyevent@3__:move_to", b"a")]


# ---- COPY ----

def test_copy(r):
    r("SET", "a", "v", "PX", 3000)
    assert r("COPY", "a", "a") == err("ERR source and destination objects are the same")
    assert r("COPY", "a", "a", "DB", 0) == err("ERR source and destination objects are the same")
    assert r("COPY", "a", "b", "DB") == err("ERR syntax error")
    assert r("COPY", "a", "b", "FOO") == err("ERR syntax error")
    assert r("COPY", "a", "b", "DB", "x") == err("ERR value is not an integer or out of range")
    assert r("COPY", "a", "b", "DB", 16) == err("ERR DB index is out of range")
    assert r("COPY", "nokey", "b") == 0
    assert r("COPY", "a", "b") == 1
    assert r("GET", "b") == b"v" and r("PTTL", "b") == 3000
    r("SET", "c", "old")
    assert r("COPY", "a", "c") == 0
    assert r("COPY", "a", "c", "REPLACE") == 1
    assert r("GET", "c") == b"v"
    assert r("COPY", "a", "a", "DB", 1, "REPLACE", "replace") == 1
    r("SELECT", 1)
    assert r("GET", "a") == b"v" and r("PTTL", "a") == 3000


def test_copy_deep_copies_containers(r):
    r.db.set_key(b"l", FakeList([b"x", [b"nested"]]))
    r.db.set_key(b"h", FakeHash({b"f": b"v"}))
    assert r("COPY", "l", "l2") == 1
    assert r("COPY", "h", "h2") == 1
    l2 = r.db.data[b"l2"]
    assert type(l2) is FakeList and l2 == r.db.data[b"l"] and l2 is not r.db.data[b"l"]
    assert l2[1] is not r.db.data[b"l"][1]
    r.db.data[b"h2"][b"f"] = b"changed"
    assert r.db.data[b"h"] == {b"f": b"v"}


def test_copy_events(r):
    ev = r.capture_events(NOTIFY_NEW)
    r("SET", "a", 1)
    r("SET", "b", 2)
    ev.clear()
    r("COPY", "a", "b", "REPLACE")
    r("COPY", "a", "z", "DB", 2)
    assert r.event_names() == [("new", b"b"), ("copy_to", b"b"),
                               ("__keyevent@2:new", b"z"), ("__keyevent@2:copy_to", b"z")]


# ---- EXPIRE family ----

def test_expire_and_ttl(r):
    assert r("EXPIRE", "nokey", 10) == 0
    assert r("TTL", "nokey") == -2 and r("PTTL", "nokey") == -2
    r("SET", "a", 1)
    assert r("TTL", "a") == -1 and r("PTTL", "a") == -1
    assert r("EXPIRETIME", "a") == -1 and r("PEXPIRETIME", "a") == -1
    assert r("EXPIRE", "a", 10) == 1
    assert r("TTL", "a") == 10 and r("PTTL", "a") == 10000
    assert r("EXPIRETIME", "a") == (NOW + 10000) // 1000
    assert r("PEXPIRETIME", "a") == NOW + 10000
    r.clock.advance(1499)
    assert r("TTL", "a") == 9               # (ttl + 500) / 1000
    r.clock.advance(2)
    assert r("TTL", "a") == 8
    assert r("PEXPIRE", "a", 2500) == 1 and r("TTL", "a") == 3
    assert r("EXPIREAT", "a", NOW // 1000 + 100) == 1
    assert r("PEXPIREAT", "a", NOW + 100_000) == 1
    assert r("PEXPIRETIME", "a") == NOW + 100_000
    r.clock.advance(100_000)
    assert r("TTL", "a") == -2


def test_expire_options(r):
    r("SET", "a", 1)
    assert r("EXPIRE", "a", 10, "XX") == 0
    assert r("EXPIRE", "a", 10, "GT") == 0        # no TTL counts as infinite
    assert r("EXPIRE", "a", 10, "LT") == 1
    assert r("EXPIRE", "a", 20, "NX") == 0
    assert r("EXPIRE", "a", 20, "XX") == 1
    assert r("EXPIRE", "a", 10, "GT") == 0
    assert r("EXPIRE", "a", 30, "gt") == 1
    assert r("EXPIRE", "a", 40, "LT") == 0
    assert r("EXPIRE", "a", 30, "LT") == 0
    assert r("EXPIRE", "a", 5, "lt", "xx") == 1
    assert r("TTL", "a") == 5
    r("PERSIST", "a")
    assert r("EXPIRE", "a", 5, "NX") == 1


def test_expire_option_errors(r):
    r("SET", "a", 1)
    nx_msg = "ERR NX and XX, GT or LT options at the same time are not compatible"
    assert r("EXPIRE", "a", 10, "NX", "XX") == err(nx_msg)
    assert r("EXPIRE", "a", 10, "NX", "GT") == err(nx_msg)
    assert r("EXPIRE", "a", 10, "LT", "NX") == err(nx_msg)
    assert r("EXPIRE", "a", 10, "GT", "LT") == err(
        "ERR GT and LT options at the same time are not compatible")
    assert r("EXPIRE", "a", 10, "foo") == err("ERR Unsupported option foo")
    assert r("EXPIRE", "a", "abc", "foo") == err("ERR Unsupported option foo")
    assert r("EXPIRE", "a", "abc", "nx", "xx") == err(nx_msg)
    assert r("EXPIRE", "a", 10, b"a\x00b") == err("ERR Unsupported option a")
    assert r("EXPIRE", "a", "1.5") == err("ERR value is not an integer or out of range")
    assert r("TTL", "a") == -1


def test_expire_overflow_errors(r):
    r("SET", "a", 1)
    assert r("EXPIRE", "a", "9223372036854776") == err(
        "ERR invalid expire time in 'expire' command")
    assert r("EXPIRE", "a", "-9223372036854776") == err(
        "ERR invalid expire time in 'expire' command")
    assert r("PEXPIRE", "a", "9223372036854775807") == err(
        "ERR invalid expire time in 'pexpire' command")
    assert r("EXPIREAT", "a", "9223372036854776") == err(
        "ERR invalid expire time in 'expireat' command")
    assert r("EXPIRE", "nokey", "9223372036854776") == err(
        "ERR invalid expire time in 'expire' command")
    assert r("PEXPIREAT", "a", "9223372036854775807") == 1
    assert r("EXPIREAT", "a", "9223372036854775") == 1
    assert r("PEXPIRETIME", "a") == 9223372036854775000


def test_expire_in_the_past_deletes(r):
    ev = r.capture_events()
    r("SET", "a", 1)
    r("SET", "b", 1)
    r("SET", "c", 1)
    ev.clear()
    assert r("EXPIRE", "a", -1) == 1
    assert r("PEXPIREAT", "b", NOW) == 1
    assert r("EXPIREAT", "c", "-9223372036854775") == 1
    assert r("DBSIZE") == 0
    assert r.event_names() == [("del", b"a"), ("del", b"b"), ("del", b"c")]
    assert r.server.keyspace.expired_keys == 0


def test_expire_in_the_past_on_replica_only_sets_ttl(r):
    r("SET", "a", 1)
    r.server.keyspace.is_replica = True
    assert r("EXPIRE", "a", -10) == 1
    assert b"a" in r.db.data and r("EXISTS", "a") == 0


def test_expire_persist_events(r):
    ev = r.capture_events()
    r("SET", "a", 1)
    ev.clear()
    r("EXPIRE", "a", 10)
    r("PERSIST", "a")
    r("PERSIST", "a")
    assert r.event_names() == [("expire", b"a"), ("persist", b"a")]


def test_persist(r):
    assert r("PERSIST", "nokey") == 0
    r("SET", "a", 1)
    assert r("PERSIST", "a") == 0
    r("EXPIRE", "a", 10)
    dirty = r.server.dirty
    assert r("PERSIST", "a") == 1
    assert r.server.dirty == dirty + 1
    assert r("TTL", "a") == -1
    r("PEXPIRE", "a", 5)
    r.clock.advance(5 + 1)  # Redis: expired once now > when
    assert r("PERSIST", "a") == 0


def test_expire_fires_lazily_with_expired_event(r):
    r("SET", "a", 1)
    r("PEXPIRE", "a", 100)
    ev = r.capture_events()
    r.clock.advance(100 + 1)  # Redis: expired once now > when
    assert r("GET", "a") is None
    assert (b"__keyevent@0__:expired", b"a") in ev


# ---- DBSIZE FLUSHDB FLUSHALL SWAPDB ----

def test_dbsize_and_flush(r):
    for i in range(5):
        r("SET", f"k{i}", i)
    r("SELECT", 1)
    r("SET", "x", 1)
    assert r("DBSIZE") == 1
    assert r("FLUSHDB", "foo") == err("ERR syntax error")
    assert r("FLUSHDB", "async", "sync") == err("ERR syntax error")
    assert r("FLUSHALL", "now") == err("ERR syntax error")
    dirty = r.server.dirty
    assert r("FLUSHDB", "ASYNC") == b"OK"
    assert r.server.dirty == dirty + 1
    assert r("DBSIZE") == 0
    r("SELECT", 0)
    assert r("DBSIZE") == 5
    dirty = r.server.dirty
    assert r("FLUSHALL", "sync") == b"OK"
    assert r.server.dirty == dirty + 6
    assert r("DBSIZE") == 0
    assert r("FLUSHDB") == b"OK" and r("FLUSHALL") == b"OK"


def test_flushdb_flags_watchers(r):
    other = r.server.new_client()
    r("SET", "a", 1)
    r.on("WATCH", "a", client=other)
    r("FLUSHDB")
    r.on("MULTI", client=other)
    r.on("SET", "a", 2, client=other)
    from redkeep.resp.types import NullArray
    assert r.on("EXEC", client=other) is NullArray


def test_swapdb(r):
    assert r("SWAPDB", "x", 1) == err("ERR invalid first DB index")
    assert r("SWAPDB", 1, "x") == err("ERR invalid second DB index")
    assert r("SWAPDB", "99999999999", 1) == err("ERR invalid first DB index")
    assert r("SWAPDB", 1, 16) == err("ERR DB index is out of range")
    assert r("SWAPDB", -1, 0) == err("ERR DB index is out of range")
    r("SET", "a", "db0", "EX", 50)
    dirty = r.server.dirty
    assert r("SWAPDB", 0, 0) == b"OK"
    assert r.server.dirty == dirty + 1
    assert r("SWAPDB", 0, 1) == b"OK"
    assert r("EXISTS", "a") == 0
    r("SELECT", 1)
    assert r("GET", "a") == b"db0" and r("TTL", "a") == 50


# ---- OBJECT ----

@pytest.mark.parametrize("value, encoding", [
    ("0", b"int"), ("-1", b"int"), ("9223372036854775807", b"int"),
    ("9223372036854775808", b"embstr"), ("-9223372036854775808", b"int"),
    ("01", b"embstr"), ("+1", b"embstr"), ("-0", b"embstr"), (" 1", b"embstr"),
    ("", b"embstr"), ("x" * 44, b"embstr"), ("x" * 45, b"raw"), ("1.5", b"embstr"),
])
def test_object_encoding_strings(r, value, encoding):
    r("SET", "k", value)
    assert r("OBJECT", "ENCODING", "k") == encoding


def test_object_encoding_after_in_place_changes(r):
    r("SET", "h", "")
    r("APPEND", "h", "12")
    assert r("OBJECT", "ENCODING", "h") == b"raw"
    assert r("OBJECT", "REFCOUNT", "h") == 1
    r("APPEND", "new", "12")                 # APPEND creating the key encodes normally
    assert r("OBJECT", "ENCODING", "new") == b"int"
    r("SETRANGE", "sr", 0, "12")
    assert r("OBJECT", "ENCODING", "sr") == b"raw"
    r("SET", "i", 12)
    r("SETRANGE", "i", 0, "")                # no change: stays int
    assert r("OBJECT", "ENCODING", "i") == b"int"
    r("SETBIT", "b", 1, 1)
    assert r("OBJECT", "ENCODING", "b") == b"raw"
    r("BITOP", "AND", "dest", "i", "i")
    assert r("OBJECT", "ENCODING", "dest") == b"raw"
    r("INCRBYFLOAT", "f", 10)
    assert r("GET", "f") == b"10" and r("OBJECT", "ENCODING", "f") == b"embstr"
    r("SET", "f", "10")                      # a plain SET encodes by content again
    assert r("OBJECT", "ENCODING", "f") == b"int"
    r("APPEND", "h", "3")
    r("RENAME", "h", "h2")
    assert r("OBJECT", "ENCODING", "h2") == b"raw"
    r("COPY", "h2", "h3")
    assert r("OBJECT", "ENCODING", "h3") == b"raw"
    r("MOVE", "h3", 1)
    r("SELECT", 1)
    assert r("OBJECT", "ENCODING", "h3") == b"raw"
    r("SWAPDB", 0, 1)                        # the notes follow the contents
    assert r("OBJECT", "ENCODING", "h2") == b"raw"
    assert r("OBJECT", "ENCODING", "h3") is None
    r("SELECT", 0)
    assert r("OBJECT", "ENCODING", "h3") == b"raw"
    r("FLUSHALL")
    r("SET", "h3", "123")
    assert r("OBJECT", "ENCODING", "h3") == b"int"


def test_object_refcount_of_copied_shared_integer(r):
    r("SET", "a", 5)
    r("COPY", "a", "b")
    r("RENAME", "a", "c")
    assert r("OBJECT", "REFCOUNT", "b") == 1 and r("OBJECT", "ENCODING", "b") == b"int"
    assert r("OBJECT", "REFCOUNT", "c") == 2147483647


def test_encoding_notes_are_pruned(r):
    for i in range(1500):
        r("SET", f"k{i}", "x")
        r("APPEND", f"k{i}", "y")
        r("SET", f"k{i}", "z")
    notes = keys_mod.encoding_notes(r.server.keyspace).by_db[0]
    assert len(notes) <= 2 * 1500 + 1024


def test_object_encoding_containers_and_missing(r):
    r.db.set_key(b"h", FakeHash())
    r.db.set_key(b"l", FakeList())
    r.db.set_key(b"s", FakeSet())
    assert r("OBJECT", "ENCODING", "h") == b"listpack"
    assert r("OBJECT", "ENCODING", "l") == b"quicklist"
    assert r("OBJECT", "ENCODING", "s") == b"intset"
    assert r("OBJECT", "ENCODING", "nokey") is None
    assert r("OBJECT", "REFCOUNT", "nokey") is None
    assert r("OBJECT", "IDLETIME", "nokey") is None
    assert r("OBJECT", "FREQ", "nokey") is None


def test_object_refcount(r):
    r("SET", "shared", 100)
    r("SET", "big", 10000)
    r("SET", "s", "hello")
    assert r("OBJECT", "REFCOUNT", "shared") == 2147483647
    assert r("OBJECT", "REFCOUNT", "big") == 1
    assert r("OBJECT", "REFCOUNT", "s") == 1
    r.server.config.maxmemory = 1 << 30
    r.server.config.maxmemory_policy = "allkeys-lru"
    assert r("OBJECT", "REFCOUNT", "shared") == 1


def test_object_idletime_and_freq(r):
    r("SET", "a", 1)
    lfu_msg = ("ERR An LFU maxmemory policy is not selected, access frequency not tracked. "
               "Please note that when switching between policies at runtime LRU and LFU data "
               "will take some time to adjust.")
    assert r("OBJECT", "FREQ", "a") == err(lfu_msg)
    assert r("OBJECT", "IDLETIME", "a") == 0
    r.server.config.maxmemory_policy = "allkeys-lfu"
    assert r("OBJECT", "FREQ", "a") == 5
    assert r("OBJECT", "IDLETIME", "a") == err(
        "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that "
        "when switching between policies at runtime LRU and LFU data will take some time "
        "to adjust.")


def test_object_uses_evictor_tracking_when_offered(r):
    class Tracker:
        def idle_ms(self, db, key):
            return 7500

        def lfu_counter(self, db, key):
            return 42

        def make_room(self, c):
            return True

    r.server.evictor = Tracker()
    r("SET", "a", 1)
    assert r("OBJECT", "IDLETIME", "a") == 7
    r.server.config.maxmemory_policy = "volatile-lfu"
    assert r("OBJECT", "FREQ", "a") == 42


def test_object_help_and_unknown_subcommand(r):
    lines = r("OBJECT", "HELP")
    assert lines[0] == b"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert lines[-2:] == [b"HELP", b"    Prints this help."]
    assert all(isinstance(x, Status) for x in lines)
    assert r("OBJECT", "help") == lines
    assert r("OBJECT", "foo") == err("ERR unknown subcommand 'foo'. Try OBJECT HELP.")


def test_object_lookup_counts_stats_without_keymiss_event(r):
    ev = r.capture_events(1 << 11)
    ks = r.server.keyspace
    misses = ks.keyspace_misses
    r("OBJECT", "ENCODING", "nokey")
    assert ks.keyspace_misses == misses + 1
    assert ev == []
    r("TYPE", "nokey")
    assert ev == [(b"__keyevent@0__:keymiss", b"nokey")]


# ---- Command table ----

def test_command_table_metadata(r):
    t = r.server.table
    expect = {
        "del": (-2, ("write",), 1, -1, 1), "unlink": (-2, ("write", "fast"), 1, -1, 1),
        "exists": (-2, ("readonly", "fast"), 1, -1, 1), "keys": (2, ("readonly",), 0, 0, 0),
        "scan": (-2, ("readonly",), 0, 0, 0), "rename": (3, ("write",), 1, 2, 1),
        "copy": (-3, ("write", "denyoom"), 1, 2, 1), "move": (3, ("write", "fast"), 1, 1, 1),
        "pexpireat": (-3, ("write", "fast"), 1, 1, 1), "swapdb": (3, ("write", "fast"), 0, 0, 0),
        "flushall": (-1, ("write",), 0, 0, 0), "dbsize": (1, ("readonly", "fast"), 0, 0, 0),
    }
    for name, (arity, flags, first, last, step) in expect.items():
        cmd = t.lookup(name.encode())
        assert (cmd.arity, cmd.flags, cmd.first_key, cmd.last_key, cmd.step) == \
            (arity, flags, first, last, step), name
    assert t.lookup(b"del").categories == ("@keyspace", "@write", "@slow")
    assert t.lookup(b"keys").categories == ("@keyspace", "@read", "@slow", "@dangerous")
    enc = t.lookup(b"object").subcommands[b"encoding"]
    assert (enc.fullname, enc.arity, enc.first_key) == ("object|encoding", 3, 2)
