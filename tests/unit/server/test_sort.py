"""Unit tests for SORT / SORT_RO (server/commands/sort.py).

Lists and sorted sets are built directly in the keyspace with the registered list type
(or a stand-in while types.list does not exist) and a stand-in sorted set that offers
`ordered_members()` / `to_skiplist()`, the duck-typed interface SORT uses."""

from __future__ import annotations

import importlib
import math

import pytest

from redkeep.resp.types import ErrorReply
from redkeep.server.commands.sort import lookup_by_pattern, sort_getkeys, strtod_score
from redkeep.server.keyspace import TYPE_NAMES, register_type

from .containers_harness import Harness

SCORE_ERROR = ErrorReply("ERR One or more scores can't be converted into double")


class StandInList(list):
    pass


class StandInZset(dict):
    """member -> score, with the interface SORT duck-types."""

    converted = False

    def ordered_members(self):
        return [m for m, _ in sorted(self.items(), key=lambda kv: (kv[1], kv[0]))]

    def to_skiplist(self):
        self.converted = True


def list_type() -> type:
    try:
        module = importlib.import_module("redkeep.server.types.list").__name__
    except ImportError:
        module = None
    for py_type, name in TYPE_NAMES.items():
        if name == b"list" and (module is None or py_type.__module__ == module):
            return py_type
    register_type(StandInList, b"list")
    return StandInList


register_type(StandInZset, b"zset")


@pytest.fixture
def r() -> Harness:
    return Harness()


def put_list(r: Harness, key: str, *items: object) -> None:
    r.db.set_key(key.encode(), list_type()([str(i).encode() for i in items]))


def stored(r: Harness, key: str) -> list[bytes]:
    return list(r.db.data[key.encode()])


# ---- Basics ----

def test_numeric_and_alpha(r):
    put_list(r, "l", 3, 10, 1, -2.5, "1e1", "0x10")
    assert r("SORT", "l") == [b"-2.5", b"1", b"3", b"10", b"1e1", b"0x10"]
    assert r("SORT", "l", "DESC") == [b"0x10", b"1e1", b"10", b"3", b"1", b"-2.5"]
    assert r("SORT", "l", "ALPHA") == [b"-2.5", b"0x10", b"1", b"10", b"1e1", b"3"]
    assert r("SORT_RO", "l", "ALPHA", "DESC", "LIMIT", 0, 2) == [b"3", b"1e1"]
    assert r("SORT", "nokey") == []


def test_score_errors(r):
    put_list(r, "l", 1, "x")
    assert r("SORT", "l") == SCORE_ERROR
    assert r("SORT", "l", "ALPHA") == [b"1", b"x"]


@pytest.mark.parametrize("text, value", [
    (b"", 0.0), (b" 5", 5.0), (b"\t-7", -7.0), (b"0x1p3", 8.0), (b"inf", math.inf),
    (b"-Infinity", -math.inf), (b"+.5", 0.5), (b"1.", 1.0), (b"7\x00junk", 7.0),
    (b"0x1p-1074", 5e-324), (b"2.2250738585072014e-308", 2.2250738585072014e-308),
    (b"5 ", None), (b" ", None), (b"nan", None), (b"1e400", None), (b"1e-400", None),
    (b"4.9e-324", None), (b"1_0", None), (b"0x", None), (b"1e", None), (b"--1", None),
])
def test_strtod_score(text, value):
    assert strtod_score(text) == value


def test_limit_clamping(r):
    put_list(r, "l", *range(5))
    assert r("SORT", "l", "LIMIT", 1, 2) == [b"1", b"2"]
    assert r("SORT", "l", "LIMIT", -5, 2) == [b"0", b"1"]
    assert r("SORT", "l", "LIMIT", 3, -1) == [b"3", b"4"]
    assert r("SORT", "l", "LIMIT", 3, 100) == [b"3", b"4"]
    assert r("SORT", "l", "LIMIT", 5, 1) == []
    assert r("SORT", "l", "LIMIT", 0, 0) == []
    assert r("SORT", "l", "LIMIT", 9223372036854775807, 9223372036854775807) == []


def test_syntax_errors_before_type_errors(r):
    r("SET", "str", "x")
    assert r("SORT", "str") == ErrorReply(
        "WRONGTYPE Operation against a key holding the wrong kind of value")
    assert r("SORT", "str", "FOO") == ErrorReply("ERR syntax error")
    assert r("SORT", "str", "LIMIT", 1) == ErrorReply("ERR syntax error")
    assert r("SORT", "str", "LIMIT", "x", 1) == ErrorReply(
        "ERR value is not an integer or out of range")
    assert r("SORT_RO", "str", "STORE", "d") == ErrorReply("ERR syntax error")
    assert r("SORT", "str", "GET") == ErrorReply("ERR syntax error")
    r("HSET", "h", "a", 1)
    assert r("SORT", "h") == ErrorReply(
        "WRONGTYPE Operation against a key holding the wrong kind of value")


# ---- BY and GET ----

def test_by_and_get_patterns(r):
    put_list(r, "l", 1, 2, 3)
    r("MSET", "w_1", 30, "w_2", 10, "w_3", 20, "o_1", "one", "o_3", "three")
    r("HSET", "h_1", "f", 2)
    r("HSET", "h_2", "f", 3)
    r("HSET", "h_3", "f", 1)
    assert r("SORT", "l", "BY", "w_*") == [b"2", b"3", b"1"]
    assert r("SORT", "l", "BY", "h_*->f", "DESC") == [b"2", b"1", b"3"]
    assert r("SORT", "l", "BY", "w_*", "GET", "#", "GET", "o_*", "GET", "h_*->f") == [
        b"2", None, b"3", b"3", b"three", b"1", b"1", b"one", b"2"]
    assert r("SORT", "l", "GET", "nostar") == [None, None, None]
    assert r("SORT", "l", "BY", "missing_*") == [b"1", b"2", b"3"]   # all weights 0
    r("SET", "w_2", "x")
    assert r("SORT", "l", "BY", "w_*") == SCORE_ERROR
    assert r("SORT", "l", "BY", "w_*", "ALPHA") == [b"3", b"1", b"2"]


def test_lookup_by_pattern_rules(r):
    r("SET", "k_a", "v")
    r("HSET", "h_a", "f", "hv", "f->g", "x")
    db = r.db
    assert lookup_by_pattern(db, b"#", b"a") == b"a"
    assert lookup_by_pattern(db, b"#\x00x", b"a") == b"a"
    assert lookup_by_pattern(db, b"k_*", b"a") == b"v"
    assert lookup_by_pattern(db, b"h_*->f", b"a") == b"hv"
    assert lookup_by_pattern(db, b"h_*->f->g", b"a") == b"x"
    assert lookup_by_pattern(db, b"h_*->", b"a") is None       # key "h_a->": missing
    assert lookup_by_pattern(db, b"h_*", b"a") is None         # not a string
    assert lookup_by_pattern(db, b"k_*->f", b"a") is None      # not a hash
    assert lookup_by_pattern(db, b"k\x00_*", b"a") is None     # '*' after a NUL: unseen


def test_alpha_by_missing_weights_first_and_stable(r):
    put_list(r, "l", "c", "a", "b", "d")
    r("MSET", "w_a", "z", "w_d", "m")
    assert r("SORT", "l", "BY", "w_*", "ALPHA") == [b"c", b"b", b"d", b"a"]
    assert r("SORT", "l", "BY", "w_*", "ALPHA", "DESC") == [b"a", b"d", b"c", b"b"]


def test_numeric_ties_compare_elements(r):
    put_list(r, "l", "b", "a", "c")
    assert r("SORT", "l", "BY", "nothing_*") == [b"a", b"b", b"c"]
    assert r("SORT", "l", "BY", "nothing_*", "DESC") == [b"c", b"b", b"a"]


def test_alpha_compares_up_to_nul_unless_storing(r):
    put_list(r, "l", "a\x00z", "a", "a\x00b")
    assert r("SORT", "l", "ALPHA") == [b"a\x00z", b"a", b"a\x00b"]   # all equal: stable
    assert r("SORT", "l", "ALPHA", "STORE", "d") == 3
    assert stored(r, "d") == [b"a", b"a\x00b", b"a\x00z"]


# ---- Don't sort ----

def test_nosort_keeps_native_order(r):
    put_list(r, "l", 3, 1, 2)
    assert r("SORT", "l", "BY", "nosort") == [b"3", b"1", b"2"]
    assert r("SORT", "l", "BY", "nosort", "DESC") == [b"2", b"1", b"3"]
    assert r("SORT", "l", "BY", "nosort", "DESC", "LIMIT", 1, 5) == [b"1", b"3"]
    r("SADD", "s", 30, 10, 20)
    assert r("SORT", "s", "BY", "nosort", "DESC") == [b"10", b"20", b"30"]   # intset order


def test_nosort_set_sorts_alpha_for_store_and_scripts(r):
    r("SADD", "s", 10, 9, 100)
    assert r("SORT", "s", "BY", "nosort") == [b"9", b"10", b"100"]
    assert r("SORT", "s", "BY", "nosort", "STORE", "d") == 3
    assert stored(r, "d") == [b"10", b"100", b"9"]
    r.client.in_script = True
    try:
        assert r("SORT", "s", "BY", "nosort") == [b"10", b"100", b"9"]
    finally:
        r.client.in_script = False


def test_sorted_set_by_score_and_converted(r):
    z = StandInZset({b"a": 3.0, b"b": 1.0, b"c": 2.0})
    r.db.set_key(b"z", z)
    assert r("SORT", "z", "BY", "nosort") == [b"b", b"c", b"a"]
    assert r("SORT", "z", "BY", "nosort", "DESC", "LIMIT", 0, 2) == [b"a", b"c"]
    assert r("SORT", "z", "ALPHA") == [b"a", b"b", b"c"]
    assert z.converted


# ---- STORE ----

def test_store(r):
    r.capture_events()
    put_list(r, "l", 2, 1)
    r("SET", "d", "x", "EX", 100)
    r.take_events()
    d = r.dirty
    assert r("SORT", "l", "STORE", "d") == 2
    assert stored(r, "d") == [b"1", b"2"]
    assert r("TTL", "d") == -1
    assert r.dirty == d + 2
    assert r.take_events() == [("sortstore", b"d")]
    assert r("SORT", "l", "GET", "nokey_*", "GET", "#", "STORE", "e") == 4
    assert stored(r, "e") == [b"", b"1", b"", b"2"]
    assert r.take_events() == [("new", b"e"), ("sortstore", b"e")]
    assert r("SORT", "nokey", "STORE", "d") == 0
    assert r("EXISTS", "d") == 0
    assert r.take_events() == [("del", b"d")]
    assert r("SORT", "nokey", "STORE", "d") == 0
    assert r.take_events() == []
    put_list(r, "l2", "x")
    assert r("SORT", "l2", "STORE", "d") == SCORE_ERROR
    assert r("EXISTS", "d") == 0


def test_getkeys_finds_the_last_store_key():
    argv = [b"sort", b"k", b"BY", b"store", b"STORE", b"x", b"LIMIT", b"store", b"y", b"store",
            b"z"]
    assert sort_getkeys(argv) == [(1, ("RO", "access")), (10, ("OW", "update"))]
    assert sort_getkeys([b"sort", b"k", b"store"]) == [(1, ("RO", "access"))]
