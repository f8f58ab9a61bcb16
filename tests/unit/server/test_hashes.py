"""Unit tests for the hash type and commands (server/types/hash.py, commands/hashes.py)."""

from __future__ import annotations

import copy
from collections import Counter

import pytest

from redkeep.resp.types import OK, ErrorReply, Map
from redkeep.server.commands.hashes import parse_long_double
from redkeep.server.types.hash import Hash

from .containers_harness import Harness

WRONGTYPE = ErrorReply("WRONGTYPE Operation against a key holding the wrong kind of value")


@pytest.fixture
def r() -> Harness:
    return Harness()


def items(reply: Map) -> list:
    return reply.items


# ---- Basic replies ----

def test_hset_hget_and_friends(r):
    assert r("HSET", "h", "a", 1, "b", 2) == 2
    assert r("HSET", "h", "a", 10, "c", 3) == 1
    assert r("HGET", "h", "a") == b"10"
    assert r("HGET", "h", "zz") is None
    assert r("HGET", "nokey", "a") is None
    assert r("HMGET", "h", "a", "zz", "c") == [b"10", None, b"3"]
    assert r("HMGET", "nokey", "a", "b") == [None, None]
    assert r("HLEN", "h") == 3
    assert r("HLEN", "nokey") == 0
    assert r("HSTRLEN", "h", "a") == 2
    assert r("HSTRLEN", "h", "zz") == 0
    assert r("HEXISTS", "h", "b") == 1
    assert r("HEXISTS", "h", "zz") == 0
    assert r("HKEYS", "h") == [b"a", b"b", b"c"]
    assert r("HVALS", "h") == [b"10", b"2", b"3"]
    assert items(r("HGETALL", "h")) == [(b"a", b"10"), (b"b", b"2"), (b"c", b"3")]
    assert r("HKEYS", "nokey") == []


def test_hgetall_is_a_map_in_resp3(r):
    r("HSET", "h", "a", "1")
    assert r.resp3("HGETALL", "h") == b"%1\r\n$1\r\na\r\n$1\r\n1\r\n"
    assert r.resp2("HGETALL", "h") == b"*2\r\n$1\r\na\r\n$1\r\n1\r\n"
    assert r.resp3("HGETALL", "nokey") == b"%0\r\n"
    assert r.resp3("HKEYS", "nokey") == b"*0\r\n"


def test_hset_arity_and_hmset(r):
    assert r("HSET", "h", "a", 1, "b") == ErrorReply(
        "ERR wrong number of arguments for 'hset' command")
    assert r("HMSET", "h", "a", 1, "b") == ErrorReply(
        "ERR wrong number of arguments for 'hmset' command")
    assert r("HSET", "h", "a") == ErrorReply("ERR wrong number of arguments for 'hset' command")
    assert r("EXISTS", "h") == 0
    assert r("HMSET", "h", "a", 1, "b", 2) == OK
    assert r("HLEN", "h") == 2


def test_hsetnx(r):
    assert r("HSETNX", "h", "a", 1) == 1
    assert r("HSETNX", "h", "a", 2) == 0
    assert r("HGET", "h", "a") == b"1"


def test_wrongtype_everywhere(r):
    r("SET", "s", "x")
    for cmd in (("HSET", "s", "a", 1), ("HSETNX", "s", "a", 1), ("HGET", "s", "a"),
                ("HMGET", "s", "a"), ("HDEL", "s", "a"), ("HEXISTS", "s", "a"),
                ("HLEN", "s"), ("HSTRLEN", "s", "a"), ("HKEYS", "s"), ("HVALS", "s"),
                ("HGETALL", "s"), ("HINCRBY", "s", "a", 1), ("HINCRBYFLOAT", "s", "a", 1),
                ("HSCAN", "s", 0), ("HRANDFIELD", "s"), ("HRANDFIELD", "s", 2),
                ("HMSET", "s", "a", 1)):
        assert r(*cmd) == WRONGTYPE, cmd
    r("HSET", "h", "a", 1)
    assert r("GET", "h") == WRONGTYPE


# ---- HDEL, empty hashes, events, dirty ----

def test_hdel_removes_emptied_key_with_events(r):
    events = r.capture_events()
    r("HSET", "h", "a", 1, "b", 2)
    assert r.take_events() == [("new", b"h"), ("hset", b"h")]
    d = r.dirty
    assert r("HDEL", "h", "a", "zz") == 1
    assert r.dirty == d + 1
    assert r.take_events() == [("hdel", b"h")]
    assert r("HDEL", "h", "zz") == 0
    assert events == []
    assert r("HDEL", "h", "b", "a") == 1
    assert r.take_events() == [("hdel", b"h"), ("del", b"h")]
    assert r("EXISTS", "h") == 0
    assert r("HDEL", "nokey", "a") == 0


def test_dirty_and_events_of_writes(r):
    r.capture_events()
    d = r.dirty
    r("HSET", "h", "a", 1, "a", 2, "b", 3)
    assert r.dirty == d + 3          # one per pair, as Redis counts it
    r("HMSET", "h", "a", 1)
    assert r.dirty == d + 4
    assert r("HSETNX", "h", "a", 5) == 0
    assert r.dirty == d + 4
    r("HINCRBY", "h", "n", 5)
    r("HINCRBYFLOAT", "h", "f", "1.5")
    assert r.dirty == d + 6
    assert [e for e, _ in r.take_events()] == ["new", "hset", "hset", "hincrby", "hincrbyfloat"]


def test_watch_is_touched_by_hash_writes(r):
    other = r.server.new_client()
    r.server.execute(other, [b"WATCH", b"h"])
    r("HSET", "h", "a", 1)
    assert other.dirty_cas


# ---- Encodings ----

def test_listpack_to_hashtable_by_value_length(r):
    r("HSET", "h", "a", "x" * 64)
    assert r("OBJECT", "ENCODING", "h") == b"listpack"
    r("HSET", "h", "b", "x" * 65)
    assert r("OBJECT", "ENCODING", "h") == b"hashtable"
    r("HDEL", "h", "b")
    assert r("OBJECT", "ENCODING", "h") == b"hashtable"      # never converts back


def test_conversion_checks_all_arguments_first(r):
    r("HSET", "h", "f", "v")
    r("HSETNX", "h", "f", "x" * 100)     # field exists: nothing written, no conversion
    assert r("OBJECT", "ENCODING", "h") == b"listpack"
    r("HGET", "h", "y" * 100)
    assert r("OBJECT", "ENCODING", "h") == b"listpack"
    r("HINCRBY", "h", "y" * 65, 1)       # hashTypeSet checks the field length itself
    assert r("OBJECT", "ENCODING", "h") == b"hashtable"


def test_listpack_to_hashtable_by_entries():
    r = Harness(hash_max_listpack_entries=3)
    r("HSET", "h", "a", 1, "b", 2, "c", 3)
    assert r("OBJECT", "ENCODING", "h") == b"listpack"
    r("HSET", "h", "d", 4)
    assert r("OBJECT", "ENCODING", "h") == b"hashtable"
    r("HDEL", "h", "a", "b", "c")
    assert r("OBJECT", "ENCODING", "h") == b"hashtable"


def test_thresholds_follow_config_set(r):
    assert r("CONFIG", "SET", "hash-max-ziplist-value", "5") == OK
    r("HSET", "h", "a", "123456")
    assert r("OBJECT", "ENCODING", "h") == b"hashtable"


def test_zero_entries_means_always_hashtable():
    r = Harness(hash_max_listpack_entries=0)
    r("HSET", "h", "a", 1)
    assert r("OBJECT", "ENCODING", "h") == b"hashtable"


def test_copy_keeps_encoding(r):
    r("HSET", "h", "a", "x" * 100)
    assert r("COPY", "h", "h2") == 1
    assert r("OBJECT", "ENCODING", "h2") == b"hashtable"
    r("HSET", "h2", "b", 1)
    assert r("HLEN", "h") == 1
    h = Hash({b"a": b"1"}, listpack=False)
    for dup in (copy.copy(h), copy.deepcopy(h), h.copy()):
        assert dup == h and type(dup) is Hash and dup.encoding() == "hashtable"


# ---- Counters ----

def test_hincrby(r):
    assert r("HINCRBY", "h", "n", 5) == 5
    assert r("HINCRBY", "h", "n", -7) == -2
    r("HSET", "h", "s", "abc", "big", "9223372036854775807", "sp", " 1")
    assert r("HINCRBY", "h", "s", 1) == ErrorReply("ERR hash value is not an integer")
    assert r("HINCRBY", "h", "sp", 1) == ErrorReply("ERR hash value is not an integer")
    assert r("HINCRBY", "h", "big", 1) == ErrorReply(
        "ERR increment or decrement would overflow")
    assert r("HINCRBY", "h", "n", "x") == ErrorReply(
        "ERR value is not an integer or out of range")
    assert r("HINCRBY", "new", "n", "x") == ErrorReply(
        "ERR value is not an integer or out of range")
    assert r("EXISTS", "new") == 0


def test_hincrbyfloat_long_double(r):
    assert r("HINCRBYFLOAT", "h", "f", "10.5") == b"10.5"
    assert r("HINCRBYFLOAT", "h", "f", "0.1") == b"10.6"
    assert r("HINCRBYFLOAT", "h", "g", "-0.0") == b"0"
    assert r("HINCRBYFLOAT", "h", "x", "0x10") == b"16"
    assert r("HINCRBYFLOAT", "h", "x", "0x1p-3") == b"16.125"
    r("HSET", "h", "e", "1e400")
    assert r("HINCRBYFLOAT", "h", "e", "1").startswith(
        b"100000000000000000002818806839475865145864534336290520386259106935")
    assert len(r("HGET", "h", "e")) == 401


def test_hincrbyfloat_errors(r):
    r("HSET", "h", "s", "abc", "inf", "inf", "nul", "3\x00", "sp", " 1")
    for bad in ("x", "nan", "1e5000", "1e-5000", " 1", "1 ", "1_0", "0x", "1e", ""):
        assert r("HINCRBYFLOAT", "h", "f", bad) == ErrorReply(
            "ERR value is not a valid float"), bad
    for bad in ("inf", "-Infinity"):
        assert r("HINCRBYFLOAT", "h", "f", bad) == ErrorReply("ERR value is NaN or Infinity")
    for field in ("s", "nul", "sp"):
        assert r("HINCRBYFLOAT", "h", field, 1) == ErrorReply("ERR hash value is not a float")
    assert r("HINCRBYFLOAT", "h", "inf", 1) == ErrorReply(
        "ERR increment would produce NaN or Infinity")
    r("SET", "str", "x")
    assert r("HINCRBYFLOAT", "str", "f", "inf") == ErrorReply("ERR value is NaN or Infinity")


@pytest.mark.parametrize("text, ok", [
    (b"1.5", True), (b"+.5", True), (b"5.", True), (b"-1e10", True), (b"0X1.8P1", True),
    (b"infinity", True), (b"-INF", True), (b"1e-4950", True),
    (b"nan", False), (b"", False), (b" 1", False), (b"1\x00", False), (b"1e-4960", False),
    (b"1e99999999999", False), (b"0x1p99999999999", False), (b"--1", False),
])
def test_parse_long_double(text, ok):
    assert (parse_long_double(text) is not None) is ok


# ---- HSCAN ----

def hscan_all(r: Harness, key: str, *opts, between=None) -> list[bytes]:
    out: list[bytes] = []
    cursor: bytes | int = 0
    for _ in range(10_000):
        reply = r("HSCAN", key, cursor, *opts)
        assert isinstance(reply, list), reply
        cursor, batch = reply
        out += batch
        if cursor == b"0":
            return out
        if between:
            between()
    raise AssertionError("HSCAN did not end")


def test_hscan_listpack_returns_all_at_once(r):
    r("HSET", "h", *[x for i in range(20) for x in (f"f{i}", i)])
    reply = r("HSCAN", "h", 0, "COUNT", 2)
    assert reply[0] == b"0" and len(reply[1]) == 40
    assert r("HSCAN", "h", 999)[0] == b"0"
    assert r("HSCAN", "h", 0, "MATCH", "f1*")[1] == [
        x for i in [1] + list(range(10, 20)) for x in (b"f%d" % i, b"%d" % i)]


def test_hscan_errors(r):
    assert r("HSCAN", "nokey", 0, "COUNT", 0) == [b"0", []]
    r("HSET", "h", "a", 1)
    assert r("HSCAN", "h", 0, "COUNT", 0) == ErrorReply("ERR syntax error")
    assert r("HSCAN", "h", 0, "TYPE", "string") == ErrorReply("ERR syntax error")
    assert r("HSCAN", "h", "x") == ErrorReply("ERR invalid cursor")
    assert r("HSCAN", "nokey", "x") == ErrorReply("ERR invalid cursor")


def test_hscan_hashtable_iterates_in_steps_and_survives_writes():
    r = Harness(hash_max_listpack_entries=8)
    fields = {f"f{i}".encode(): str(i).encode() for i in range(300)}
    r("HSET", "h", *[x for kv in fields.items() for x in kv])
    first = r("HSCAN", "h", 0, "COUNT", 10)
    assert first[0] != b"0" and len(first[1]) == 20
    pairs = hscan_all(r, "h", "COUNT", 7)
    assert dict(zip(pairs[0::2], pairs[1::2], strict=True)) == fields
    counter = iter(range(10_000))

    def churn() -> None:
        n = next(counter)
        r("HSET", "h", f"new{n}", n)
        r("HDEL", "h", f"new{n - 1}")

    seen = hscan_all(r, "h", "COUNT", 13, between=churn)[0::2]
    assert set(fields) <= set(seen)
    assert r("HSCAN", "h", 123456789, "COUNT", 1000)[0] == b"0"   # unknown cursor ends


# ---- HRANDFIELD ----

def test_hrandfield_shapes(r):
    assert r("HRANDFIELD", "nokey") is None
    assert r("HRANDFIELD", "nokey", 3) == []
    r("HSET", "h", "a", 1, "b", 2, "c", 3)
    assert r("HRANDFIELD", "h") in (b"a", b"b", b"c")
    assert r("HRANDFIELD", "h", 0) == []
    assert r("HRANDFIELD", "h", 5) == [b"a", b"b", b"c"]
    assert r("HRANDFIELD", "h", 5, "WITHVALUES") == [b"a", b"1", b"b", b"2", b"c", b"3"]
    assert r.resp3("HRANDFIELD", "h", 1, "withvalues").startswith(b"*1\r\n*2\r\n")
    assert r.resp3("HRANDFIELD", "h", -4, "withvalues").startswith(b"*4\r\n*2\r\n")
    rep = r("HRANDFIELD", "h", -10)
    assert len(rep) == 10 and set(rep) <= {b"a", b"b", b"c"}
    two = r("HRANDFIELD", "h", 2)
    assert len(set(two)) == 2
    flat = r("HRANDFIELD", "h", -3, "WITHVALUES")
    assert len(flat) == 6 and all(int(v) == ord(f) - 96 for f, v in zip(flat[::2], flat[1::2], strict=True))


def test_hrandfield_errors(r):
    r("HSET", "h", "a", 1)
    assert r("HRANDFIELD", "h", "x") == ErrorReply("ERR value is not an integer or out of range")
    assert r("HRANDFIELD", "h", 1, "x") == ErrorReply("ERR syntax error")
    assert r("HRANDFIELD", "h", 1, "withvalues", "x") == ErrorReply("ERR syntax error")
    assert r("HRANDFIELD", "h", -9223372036854775808) == ErrorReply(
        "ERR value is out of range, value must between -9223372036854775807 and "
        "9223372036854775807")
    assert r("HRANDFIELD", "nokey", -4611686018427387904, "withvalues") == ErrorReply(
        "ERR value is out of range")


def test_hrandfield_unique_picks_from_a_big_hash():
    r = Harness(hash_max_listpack_entries=8)
    r("HSET", "h", *[x for i in range(100) for x in (f"f{i}", i)])
    for count in (5, 40, 99):
        picked = r("HRANDFIELD", "h", count)
        assert len(picked) == count == len(set(picked))


def test_random_field_is_uniform_after_churn(r):
    r("HSET", "h", *[x for i in range(10) for x in (f"f{i}", i)])
    r("HRANDFIELD", "h")                     # builds the sampler
    r("HDEL", "h", "f0", "f1", "f2", "f3", "f4")
    r("HSET", "h", "g1", 1, "g2", 2)
    seen = Counter(r("HRANDFIELD", "h", -7000))
    assert set(seen) == {b"f5", b"f6", b"f7", b"f8", b"f9", b"g1", b"g2"}
    assert min(seen.values()) > 800
