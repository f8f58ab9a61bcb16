"""Unit tests for the set type and commands (server/types/set.py, commands/sets.py) and
the container cursors (server/scan.py)."""

from __future__ import annotations

import copy
import random
from collections import Counter

import pytest

from redkeep.resp.types import ErrorReply, SetReply
from redkeep.server.scan import Cursors
from redkeep.server.types.set import Set, random_element

from .containers_harness import NOW, Harness

WRONGTYPE = ErrorReply("WRONGTYPE Operation against a key holding the wrong kind of value")


@pytest.fixture
def r() -> Harness:
    return Harness()


def enc(r: Harness, key: str) -> bytes:
    return r("OBJECT", "ENCODING", key)


# ---- SADD SREM SCARD membership ----

def test_sadd_srem_and_membership(r):
    assert r("SADD", "s", 3, 1, 2, 3) == 3
    assert r("SADD", "s", 2, 4) == 1
    assert r("SCARD", "s") == 4
    assert r("SCARD", "nokey") == 0
    assert r("SISMEMBER", "s", 1) == 1
    assert r("SISMEMBER", "s", "01") == 0
    assert r("SISMEMBER", "nokey", 1) == 0
    assert r("SMISMEMBER", "s", 1, 9, 4) == [1, 0, 1]
    assert r("SMISMEMBER", "nokey", 1, 2) == [0, 0]
    assert r("SREM", "s", 1, 9) == 1
    assert r("SREM", "nokey", 1) == 0
    assert r("SMEMBERS", "s") == [b"2", b"3", b"4"]
    assert type(r("SMEMBERS", "s")) is SetReply
    assert r.resp3("SMEMBERS", "nokey") == b"~0\r\n"


def test_srem_deletes_empty_set_with_events(r):
    r.capture_events()
    r("SADD", "s", "a", "b")
    assert r.take_events() == [("new", b"s"), ("sadd", b"s")]
    d = r.dirty
    assert r("SADD", "s", "a") == 0
    assert r.dirty == d and r.take_events() == []
    assert r("SREM", "s", "a", "b", "c") == 2
    assert r.dirty == d + 2
    assert r.take_events() == [("srem", b"s"), ("del", b"s")]
    assert r("EXISTS", "s") == 0


def test_wrongtype_everywhere(r):
    r("SET", "str", "x")
    r("SADD", "s", 1)
    for cmd in (("SADD", "str", 1), ("SREM", "str", 1), ("SMEMBERS", "str"),
                ("SISMEMBER", "str", 1), ("SMISMEMBER", "str", 1), ("SCARD", "str"),
                ("SPOP", "str"), ("SPOP", "str", 2), ("SRANDMEMBER", "str"),
                ("SRANDMEMBER", "str", 2), ("SMOVE", "str", "s", 1), ("SMOVE", "s", "str", 1),
                ("SINTER", "nokey", "str"), ("SINTERCARD", 2, "nokey", "str"),
                ("SUNION", "str"), ("SDIFF", "nokey", "str"), ("SINTERSTORE", "d", "str"),
                ("SUNIONSTORE", "d", "s", "str"), ("SDIFFSTORE", "d", "str"),
                ("SSCAN", "str", 0)):
        assert r(*cmd) == WRONGTYPE, cmd
    assert r("SMOVE", "nokey", "str", 1) == 0      # a missing source wins


# ---- Encodings and order ----

def test_intset_rules(r):
    r("SADD", "i", 5, -3, 10)
    assert enc(r, "i") == b"intset"
    assert r("SMEMBERS", "i") == [b"-3", b"5", b"10"]
    for member in ("01", "-0", "+1", " 1", "9223372036854775808", "a"):
        r("DEL", "x")
        r("SADD", "x", 1, member)
        assert enc(r, "x") == b"hashtable", member
    r("SADD", "y", "-9223372036854775808", "9223372036854775807")
    assert enc(r, "y") == b"intset"
    r("SADD", "h", "a")
    assert enc(r, "h") == b"hashtable"
    r("SREM", "h", "a")
    r("SADD", "h2", "a", 1)
    r("SREM", "h2", "a")
    assert enc(r, "h2") == b"hashtable"           # never converts back


def test_intset_size_limit():
    r = Harness(set_max_intset_entries=3)
    r("SADD", "s", 1, 2, 3)
    assert r("OBJECT", "ENCODING", "s") == b"intset"
    r("SADD", "s", 4)
    assert r("OBJECT", "ENCODING", "s") == b"hashtable"
    r("SREM", "s", 4)
    assert r("OBJECT", "ENCODING", "s") == b"hashtable"
    r0 = Harness(set_max_intset_entries=0)
    r0("SADD", "s", 1)
    assert r0("OBJECT", "ENCODING", "s") == b"hashtable"


def test_results_built_as_intset_come_out_sorted():
    r = Harness(set_max_intset_entries=4)
    r("SADD", "a", 9, 1, 5)
    r("SADD", "b", "x", 3, 7)                  # hashtable
    assert r("SUNION", "a", "a") == [b"1", b"5", b"9"]
    assert r("SDIFF", "b", "a") and set(r("SDIFF", "b", "a")) == {b"x", b"3", b"7"}
    r("SREM", "b", "x")
    assert r("OBJECT", "ENCODING", "b") == b"hashtable"
    assert sorted(r("SUNION", "b", "a"), key=int) == [b"1", b"3", b"5", b"7", b"9"]
    assert r("SUNION", "b") == [b"3", b"7"]               # fits an intset: sorted
    assert r("SUNIONSTORE", "u", "b", "a") == 5
    assert r("OBJECT", "ENCODING", "u") == b"hashtable"    # 5 > 4 entries
    assert r("SUNIONSTORE", "u", "b") == 2
    assert r("OBJECT", "ENCODING", "u") == b"intset"
    assert r("SMEMBERS", "u") == [b"3", b"7"]
    assert r("SPOP", "b", 5) == [b"3", b"7"]               # whole set: sorted like SUNION


def test_copy_keeps_encoding(r):
    r("SADD", "s", "a", 1)
    r("SREM", "s", "a")
    assert r("COPY", "s", "t") == 1
    assert enc(r, "t") == b"hashtable"
    s = Set([b"1"], intset=True)
    for dup in (copy.copy(s), copy.deepcopy(s), s.copy()):
        assert dup == s and type(dup) is Set and dup.intset


# ---- SPOP SRANDMEMBER ----

def test_spop_single(r):
    r.capture_events()
    r("SADD", "s", "a")
    r.take_events()
    assert r("SPOP", "s") == b"a"
    assert r.take_events() == [("spop", b"s"), ("del", b"s")]
    assert r("SPOP", "s") is None
    assert r.resp3("SPOP", "nokey") == b"_\r\n"


def test_spop_count_errors_and_shapes(r):
    assert r("SPOP", "s", -1) == ErrorReply("ERR value is out of range, must be positive")
    assert r("SPOP", "s", "x") == ErrorReply("ERR value is out of range, must be positive")
    assert r("SPOP", "s", 1, 2) == ErrorReply("ERR syntax error")
    assert r.resp3("SPOP", "nokey", 3) == b"~0\r\n"
    r("SADD", "s", 1, 2)
    assert r.resp3("SPOP", "s", 0) == b"~0\r\n"
    assert r("SCARD", "s") == 2


def test_spop_count_whole_set(r):
    r.capture_events()
    r("SADD", "s", 3, 1, 2)
    r.take_events()
    d = r.dirty
    assert r("SPOP", "s", 10) == [b"1", b"2", b"3"]
    assert r.dirty == d + 3
    assert r.take_events() == [("spop", b"s"), ("del", b"s")]
    assert r("EXISTS", "s") == 0


def test_spop_count_few_and_many():
    r = Harness(set_max_intset_entries=8)
    members = {str(i).encode() for i in range(20)}
    r("SADD", "s", *members, "x")
    r("SREM", "s", "x")                       # hashtable holding only integers
    r("PEXPIRE", "s", 100000)
    popped = r("SPOP", "s", 2)                # few: popped in place
    assert len(set(popped)) == 2 and set(popped) <= members
    assert r("SCARD", "s") == 18 and r("OBJECT", "ENCODING", "s") == b"hashtable"
    d = r.dirty
    popped2 = r("SPOP", "s", 15)              # many: a new set keeps the rest
    assert r.dirty == d + 15
    assert len(set(popped2)) == 15 and not set(popped2) & set(popped)
    assert r("SCARD", "s") == 3
    assert r("OBJECT", "ENCODING", "s") == b"intset"       # rebuilt like setTypeCreate
    assert set(r("SMEMBERS", "s")) | set(popped) | set(popped2) == members
    assert r("PTTL", "s") > 0                                # dbOverwrite keeps the TTL


def test_srandmember(r):
    assert r("SRANDMEMBER", "nokey") is None
    assert r.resp3("SRANDMEMBER", "nokey", 5) == b"*0\r\n"
    r("SADD", "s", 1, 2, 3)
    assert r("SRANDMEMBER", "s") in (b"1", b"2", b"3")
    assert r.resp3("SRANDMEMBER", "s", 0) == b"*0\r\n"
    assert r("SRANDMEMBER", "s", 10) == [b"1", b"2", b"3"]
    assert r.resp3("SRANDMEMBER", "s", 10).startswith(b"*3\r\n")
    many = r("SRANDMEMBER", "s", -50)
    assert len(many) == 50 and set(many) == {b"1", b"2", b"3"}
    assert len(set(r("SRANDMEMBER", "s", 2))) == 2
    assert r("SRANDMEMBER", "s", "x") == ErrorReply("ERR value is not an integer or out of range")
    assert r("SRANDMEMBER", "s", -9223372036854775808) == ErrorReply(
        "ERR value is out of range, value must between -9223372036854775807 and "
        "9223372036854775807")
    assert r("SRANDMEMBER", "s", 1, 2) == ErrorReply("ERR syntax error")


def test_srandmember_unique_from_big_set(r):
    r("SADD", "s", *[f"m{i}" for i in range(200)])
    for count in (3, 70, 150, 199):
        got = r("SRANDMEMBER", "s", count)
        assert len(got) == len(set(got)) == count


def test_sampler_is_uniform_and_skips_removed():
    s = Set(b"m%d" % i for i in range(50))
    rng = random.Random(7)
    random_element(s, rng)
    for i in range(40):
        s.remove_member(b"m%d" % i)
    s.add_member(b"new", 512)
    seen = Counter(random_element(s, rng) for _ in range(11000))
    assert set(seen) == set(s)
    assert min(seen.values()) > 700


# ---- SMOVE ----

def test_smove(r):
    r.capture_events()
    r("SADD", "a", 1, 2)
    r("SADD", "b", 2)
    r.take_events()
    d = r.dirty
    assert r("SMOVE", "a", "b", 2) == 1
    assert r.dirty == d + 1                       # already in b: one change
    assert r.take_events() == [("srem", b"a")]
    assert r("SMOVE", "a", "c", 1) == 1
    assert r.dirty == d + 3
    assert r.take_events() == [("srem", b"a"), ("del", b"a"), ("new", b"c"), ("sadd", b"c")]
    assert r("OBJECT", "ENCODING", "c") == b"intset"
    assert r("SMOVE", "c", "c", 1) == 1
    assert r("SMOVE", "c", "c", 9) == 0
    assert r("SMOVE", "c", "b", 9) == 0
    assert r("SMOVE", "nokey", "b", 1) == 0
    r("SADD", "h", "x")
    assert r("SMOVE", "h", "hnew", "x") == 1
    assert r("OBJECT", "ENCODING", "hnew") == b"hashtable"


# ---- SINTER SUNION SDIFF and STOREs ----

def test_set_algebra(r):
    r("SADD", "a", 1, 2, 3, 4)
    r("SADD", "b", 3, 4, 5)
    r("SADD", "c", "x", 4)
    assert r("SINTER", "a", "b") == [b"3", b"4"]
    assert r("SINTER", "a", "b", "c") == [b"4"]
    assert r("SINTER", "a", "nokey") == []
    assert r("SINTER", "a", "a") == [b"1", b"2", b"3", b"4"]
    assert r("SUNION", "a", "b", "nokey") == [b"1", b"2", b"3", b"4", b"5"]
    assert sorted(r("SUNION", "a", "c")) == [b"1", b"2", b"3", b"4", b"x"]
    assert r("SDIFF", "a", "b", "nokey") == [b"1", b"2"]
    assert r("SDIFF", "a", "a") == []
    assert r("SDIFF", "nokey", "a") == []
    assert r.resp3("SINTER", "a", "nokey") == b"~0\r\n"
    assert r("SINTERCARD", 2, "a", "b") == 2
    assert r("SINTERCARD", 1, "a", "LIMIT", 3) == 3
    assert r("SINTERCARD", 1, "a", "LIMIT", 0) == 4
    assert r("SINTERCARD", 2, "a", "nokey") == 0


def test_sintercard_errors(r):
    r("SADD", "a", 1)
    assert r("SINTERCARD", 0, "a") == ErrorReply("ERR numkeys should be greater than 0")
    assert r("SINTERCARD", "x", "a") == ErrorReply("ERR numkeys should be greater than 0")
    assert r("SINTERCARD", 2, "a") == ErrorReply(
        "ERR Number of keys can't be greater than number of args")
    assert r("SINTERCARD", 1, "a", "LIMIT", -1) == ErrorReply("ERR LIMIT can't be negative")
    assert r("SINTERCARD", 1, "a", "LIMIT") == ErrorReply("ERR syntax error")
    assert r("SINTERCARD", 1, "a", "FOO", 1) == ErrorReply("ERR syntax error")


def test_store_forms(r):
    r.capture_events()
    r("SADD", "a", 1, 2, 3)
    r("SADD", "b", 2, 3, 4)
    r("SET", "d", "old", "EX", 100)
    r.take_events()
    d = r.dirty
    assert r("SINTERSTORE", "d", "a", "b") == 2
    assert r.take_events() == [("sinterstore", b"d")]
    assert r("TTL", "d") == -1 and r("OBJECT", "ENCODING", "d") == b"intset"
    assert r("SUNIONSTORE", "u", "a", "b") == 4
    assert r.take_events() == [("new", b"u"), ("sunionstore", b"u")]
    assert r("SDIFFSTORE", "u", "a", "b") == 1
    assert r("SMEMBERS", "u") == [b"1"]
    assert r.dirty == d + 3
    r.take_events()
    assert r("SINTERSTORE", "u", "a", "nokey") == 0
    assert r.take_events() == [("del", b"u")]
    assert r("EXISTS", "u") == 0
    assert r("SDIFFSTORE", "u", "a", "a") == 0
    assert r.take_events() == [] and r.dirty == d + 4
    assert r("SUNIONSTORE", "a", "a", "b") == 4            # destination among the sources


# ---- SSCAN and the cursors ----

def test_sscan_intset_whole_and_sorted(r):
    r("SADD", "s", *range(30, 0, -1))
    cursor, members = r("SSCAN", "s", 0, "COUNT", 2)
    assert cursor == b"0" and members == [str(i).encode() for i in range(1, 31)]
    assert r("SSCAN", "s", 0, "MATCH", "2?")[1] == [str(i).encode() for i in range(20, 30)]
    assert r("SSCAN", "nokey", 0) == [b"0", []]
    assert r("SSCAN", "s", 0, "COUNT", 0) == ErrorReply("ERR syntax error")


def test_sscan_hashtable_full_iteration_under_churn(r):
    members = {b"m%d" % i for i in range(500)}
    r("SADD", "s", *members)
    seen: list[bytes] = []
    cursor: bytes | int = 0
    n = 0
    while True:
        cursor, batch = r("SSCAN", "s", cursor, "COUNT", 17)
        seen += batch
        r("SADD", "s", b"tmp%d" % n)
        r("SREM", "s", b"tmp%d" % (n - 1))
        n += 1
        if cursor == b"0":
            break
        assert n < 1000
    assert members <= set(seen)


def test_cursors_positional_resume_and_lru():
    cur = Cursors(max_iterations=2)
    source = {i: None for i in range(100)}
    c1, batch = cur.scan(source, 0, 10)
    assert batch == list(range(10)) and c1
    for _ in range(3):
        cur.scan(source, 0, 1)                    # evicts c1's iteration
    c2, batch = cur.scan(source, c1, 10)          # unknown: resumes by position
    assert batch == list(range(10, 20))
    rest: list[int] = []
    while c2:
        c2, batch = cur.scan(source, c2, 30)
        rest += batch
    assert rest == list(range(20, 100))
    c3, _ = cur.scan(source, 0, 5)
    other = dict(source)
    c4, batch = cur.scan(other, c3, 5)            # a cursor for another container
    assert batch == list(range(5, 10))


def test_cursors_fall_back_to_snapshot_on_change():
    cur = Cursors()
    source = set(range(50))
    c, first = cur.scan(source, 0, 10, (1,))
    source.discard(first[0])
    source.add(1000)
    seen = set(first)
    token = 2
    while c:
        c, batch = cur.scan(source, c, 7, (token,))
        seen |= set(batch)
        token += 1
    assert set(range(50)) - {first[0]} <= seen


def test_expired_set_is_gone(r):
    r("SADD", "s", 1)
    r("PEXPIREAT", "s", NOW + 10)
    r.clock.advance(11)
    assert r("SCARD", "s") == 0
    assert r("SADD", "s", 2) == 1
    assert r("SMEMBERS", "s") == [b"2"]
