"""Differential tests for the sorted set commands: the same commands to redkeep and to
real redis-server 7.0, replies compared byte for byte (error texts, "%.17g" scores, RESP3
doubles and pair shapes included), in RESP2 and RESP3, in both encodings (listpack and
skiplist, by CONFIG SET zset-max-listpack-entries), plus the dirty counter, keyspace
events, blocking pops and a Hypothesis state machine over sorted sets mixed with other
types. Only random replies (ZRANDMEMBER's choice) and SCAN cursors are normalized.
"""

from __future__ import annotations

import time

import pytest
from containers_diff import Config, Events, elements, run_checked, scan_all
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from support.differential import DiffPair
from support.procs import wait_until
from support.resp import Frame, RawConn, parse_python

pytestmark = pytest.mark.interop


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def proto_diff(request, diff):
    diff.run("HELLO", request.param)
    return diff


@pytest.fixture(params=["listpack", "skiplist"])
def enc_diff(request, proto_diff):
    """proto_diff with small sorted sets in the given encoding."""
    cfg = Config(proto_diff, zset_max_listpack_entries=128 if request.param == "listpack"
                 else 0)
    try:
        yield proto_diff
    finally:
        cfg.restore()


def fill(d: DiffPair, key: str, *pairs) -> None:
    d.run("ZADD", key, *[str(x) for p in pairs for x in p])


LETTERS = [(i, chr(ord("a") + i)) for i in range(10)]


# ---- ZADD ZINCRBY ----

def test_zadd_options(enc_diff):
    d = enc_diff
    d.run("ZADD", "z", "1", "a", "2", "b", "3", "c")
    d.run("ZADD", "z", "CH", "1", "a", "5", "b", "9", "d")
    d.run("ZADD", "z", "NX", "10", "a", "10", "e")
    d.run("ZADD", "z", "XX", "10", "a", "10", "f")
    d.run("ZADD", "z", "XX", "CH", "11", "a", "10", "f")
    d.run("ZADD", "z", "GT", "CH", "5", "a", "20", "b", "7", "g")
    d.run("ZADD", "z", "LT", "CH", "50", "a", "1", "b", "8", "h")
    d.run("ZADD", "z", "XX", "GT", "100", "a", "1", "c")
    d.run("ZADD", "z", "gt", "xx", "ch", "101", "a")
    d.run("ZRANGE", "z", "0", "-1", "WITHSCORES")
    d.run("ZADD", "nokey", "XX", "1", "a")
    d.run("EXISTS", "nokey")
    d.run("ZADD", "nokey", "XX", "INCR", "1", "a")
    d.run("EXISTS", "nokey")
    d.run("ZADD", "z", "INCR", "1.5", "a")
    d.run("ZADD", "z", "INCR", "1.5", "new")
    d.run("ZADD", "z", "NX", "INCR", "1.5", "a")
    d.run("ZADD", "z", "XX", "INCR", "1.5", "nope")
    d.run("ZADD", "z", "GT", "INCR", "-1", "a")
    d.run("ZADD", "z", "LT", "INCR", "-1", "a")
    d.run("ZADD", "z", "INCR", "0", "a")
    d.run("ZADD", "z", "1", "a", "1", "a", "2", "a")
    d.run("ZSCORE", "z", "a")
    d.run("ZADD", "z", "CH", "INCR", "1", "a")
    d.run("ZRANGE", "z", "0", "-1", "WITHSCORES")


def test_zadd_errors(proto_diff):
    d = proto_diff
    d.run("ZADD", "z", "1", "a")
    for args in (("1",), ("1", "a", "2"), ("NX",), ("NX", "XX", "1", "a"),
                 ("GT", "LT", "1", "a"), ("GT", "NX", "1", "a"), ("LT", "NX", "1", "a"),
                 ("XX", "NX", "GT", "1", "a"), ("INCR", "1", "a", "2", "b"),
                 ("x", "a"), ("1", "a", "y", "b"), ("nan", "a"), ("CH",), ("INCR",),
                 ("NX", "INCR", "GT", "1", "a"), ("1", "a", "2")):
        d.run("ZADD", "z", *args)
    d.run("ZADD", "z")
    d.run("ZADD", "z", "1")
    d.run("ZINCRBY", "z", "x", "a")
    d.run("ZINCRBY", "z", "nx", "a")
    d.run("ZINCRBY", "z", "incr", "a")
    d.run("ZINCRBY", "z", "1")
    d.run("ZADD", "z", "inf", "i")
    d.run("ZINCRBY", "z", "-inf", "i")
    d.run("ZADD", "z", "INCR", "-inf", "i")
    d.run("ZINCRBY", "z", "inf", "i")
    d.run("ZSCORE", "z", "i")
    d.run("SET", "s", "v")
    d.run("ZADD", "s", "1", "a")
    d.run("ZADD", "s", "x", "a")        # the scores are checked before the type
    d.run("ZINCRBY", "s", "1", "a")


SCORES = ["1", "-1", "0", "-0", "+0", "1.5", ".5", "5.", "-.5", "1e5", "1E-5", "1e+308",
          "1e309", "-1e309", "1e-320", "1e-400", "2.5e-324", "3e-324", "inf", "-inf", "+inf",
          "INF", "Infinity", "-infinity", "infinit", "nan", "-nan", "NaN", "0x10", "0X1p3",
          "0x.8", "0x", "0x1p", "0x1p-1080", "0x1p99999", "1e", "1e+", "e5", "", " 1", "1 ",
          "1\t", "\t1", "1_000", "١", "0.1", "0.30000000000000004", "123456789012345678",
          "9007199254740993", "1.7976931348623157e308", "4.9e-324", "-0.0", "00012",
          "3.14159265358979323846", "1e22", "1e21", "123456789.123456789", "+", "-", "."]


def test_score_parsing_and_printing(enc_diff):
    d = enc_diff
    for i, s in enumerate(SCORES):
        d.run("ZADD", "z", s, f"m{i}")
        d.run("ZSCORE", "z", f"m{i}")
        d.run("ZINCRBY", "z", s, f"i{i}")
        d.run("ZUNION", "1", "z", "WEIGHTS", s, "WITHSCORES")
    d.run("ZRANGE", "z", "0", "-1", "WITHSCORES")
    d.run("ZRANGE", "z", "0", "-1", "REV", "WITHSCORES")
    d.run("ZSCAN", "z", "0", "COUNT", "1000")
    d.run("ZRANDMEMBER", "z", "1000", "WITHSCORES")
    d.run("ZMSCORE", "z", *[f"m{i}" for i in range(len(SCORES))], "nope")
    d.run("ZPOPMIN", "z", "3")
    d.run("ZPOPMAX", "z")


BOUNDS = ["1", "(1", "-inf", "+inf", "(-inf", "(+inf", "inf", "(inf", "", "(", " 1", "( 1",
          "1 ", "x", "(x", "nan", "(nan", "0x10", "1e400", "(1e400", "-1e400", "1e-400", "((1",
          "[1", "1e", "-0", "(-0", "0", "(0", "2.5", "(2.5", "  ", "\t2"]


def test_score_ranges(enc_diff):
    d = enc_diff
    fill(d, "z", ("-inf", "ninf"), (-2, "n2"), ("-0", "nz"), (0, "z0"), (0, "za"), (1, "a"),
         (1, "b"), (2.5, "c"), (3, "d"), (16, "x"), ("inf", "pinf"))
    for lo in BOUNDS:
        for hi in ("+inf", "(2.5", "3", "(16", "0", "-inf", "x", "(0"):
            d.run("ZRANGEBYSCORE", "z", lo, hi)
            d.run("ZCOUNT", "z", lo, hi)
        d.run("ZREVRANGEBYSCORE", "z", "+inf", lo, "WITHSCORES")
        d.run("ZRANGE", "z", lo, "+inf", "BYSCORE", "LIMIT", "1", "3")
    d.run("ZRANGEBYSCORE", "nokey", "x", "1")
    d.run("ZCOUNT", "nokey", "x", "1")
    d.run("ZCOUNT", "nokey", "0", "1")


def test_limits(enc_diff):
    d = enc_diff
    fill(d, "z", *LETTERS)
    for off, cnt in (("0", "3"), ("2", "3"), ("9", "5"), ("10", "1"), ("11", "1"), ("-1", "2"),
                     ("0", "-1"), ("3", "-5"), ("0", "0"), ("x", "1"), ("1", "x"),
                     ("9223372036854775807", "1"), ("1", "9223372036854775807"),
                     ("-9223372036854775808", "1")):
        d.run("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", off, cnt)
        d.run("ZREVRANGEBYSCORE", "z", "+inf", "(1", "WITHSCORES", "LIMIT", off, cnt)
        d.run("ZRANGEBYLEX", "z", "-", "+", "LIMIT", off, cnt)
        d.run("ZREVRANGEBYLEX", "z", "[h", "(b", "LIMIT", off, cnt)
        d.run("ZRANGE", "z", "(1", "8", "BYSCORE", "REV", "LIMIT", off, cnt)
        d.run("ZRANGE", "z", "-", "+", "BYLEX", "LIMIT", off, cnt)
    d.run("ZRANGEBYSCORE", "z", "0", "5", "LIMIT", "1")
    d.run("ZRANGEBYSCORE", "z", "0", "5", "LIMIT")
    d.run("ZRANGEBYSCORE", "z", "0", "5", "LIMIT", "0", "1", "LIMIT", "1", "1")
    d.run("ZRANGEBYSCORE", "z", "0", "5", "WITHSCORES", "WITHSCORES")


def test_rank_ranges(enc_diff):
    d = enc_diff
    fill(d, "z", *LETTERS)
    for start in ("0", "1", "-1", "-3", "-100", "5", "9", "10", "100", "x", "-9223372036854775808"):
        for stop in ("0", "2", "-1", "-2", "-100", "9", "100", "9223372036854775807"):
            d.run("ZRANGE", "z", start, stop)
        d.run("ZRANGE", "z", start, "-1", "WITHSCORES")
        d.run("ZREVRANGE", "z", start, "-2", "WITHSCORES")
        d.run("ZRANGE", "z", start, "4", "REV")
    d.run("ZRANGE", "nokey", "0", "-1")
    d.run("ZREVRANGE", "nokey", "0", "-1", "WITHSCORES")
    for member in ("a", "e", "j", "nope"):
        d.run("ZRANK", "z", member)
        d.run("ZREVRANK", "z", member)
    d.run("ZRANK", "nokey", "a")
    d.run("ZCARD", "z")
    d.run("ZCARD", "nokey")


def test_zrange_syntax(proto_diff):
    d = proto_diff
    fill(d, "z", *LETTERS)
    for args in (("0", "-1", "LIMIT", "0", "1"), ("-", "+", "BYLEX", "WITHSCORES"),
                 ("0", "1", "BYLEX"), ("0", "1", "BYSCORE", "BYLEX"), ("0", "1", "REV", "REV"),
                 ("0", "1", "BYSCORE", "BYSCORE"), ("0", "1", "FOO"), ("0", "1", "LIMIT", "0"),
                 ("x", "1", "BYSCORE"), ("[a", "x", "BYLEX"), ("x", "1"),
                 ("0", "1", "LIMIT", "x", "1"), ("0", "1", "LIMIT", "x", "1", "BYLEX"),
                 ("-", "+", "BYLEX", "LIMIT", "1", "2", "REV"), ("+", "-", "BYLEX", "REV"),
                 ("(5", "(1", "BYSCORE", "REV", "WITHSCORES"), ("0", "1", "withscores", "rev"),
                 ("5", "1", "byscore", "rev", "limit", "0", "2", "withscores")):
        d.run("ZRANGE", "z", *args)
        d.run("ZRANGESTORE", "dst", "z", *args)
    d.run("ZRANGE", "z", "0", "1", "WITHSCORES", "LIMIT", "0", "1")
    d.run("ZREVRANGE", "z", "0", "1", "REV")
    d.run("ZREVRANGE", "z", "0", "1", "BYSCORE")
    d.run("ZREVRANGE", "z", "0", "1", "LIMIT", "0", "1")
    d.run("ZRANGEBYSCORE", "z", "0", "1", "BYLEX")
    d.run("ZRANGEBYSCORE", "z", "0", "1", "REV")
    d.run("ZRANGEBYLEX", "z", "-", "+", "WITHSCORES")
    d.run("ZREVRANGEBYLEX", "z", "+", "-", "BYSCORE")
    d.run("ZRANGESTORE", "dst", "z", "0", "1", "WITHSCORES")
    d.run("ZRANGE", "z", "0")
    d.run("ZRANGESTORE", "dst", "z", "0")


LEX = ["-", "+", "[a", "(a", "[c", "(c", "[zz", "(", "[", "a", "", "+a", "-a", "[\xff",
       "(b\x00"]


def test_lex_ranges(enc_diff):
    d = enc_diff
    fill(d, "z", *[(0, m) for m in ("a", "b", "c", "bb", "b\x00", "", "\xff", "z")])
    for lo in LEX:
        for hi in LEX:
            d.run("ZRANGEBYLEX", "z", lo, hi)
            d.run("ZLEXCOUNT", "z", lo, hi)
        d.run("ZREVRANGEBYLEX", "z", "+", lo)
        d.run("ZRANGE", "z", "+", lo, "BYLEX", "REV", "LIMIT", "1", "2")
    d.run("ZRANGEBYLEX", "nokey", "x", "y")
    d.run("ZLEXCOUNT", "nokey", "[a", "[b")


def test_lex_with_mixed_scores_listpack(proto_diff):
    """On a listpack Redis walks lexicographic ranges linearly, so ranges over members
    that are not in lexicographic order still have a defined answer."""
    d = proto_diff
    fill(d, "z", (1, "d"), (2, "a"), (3, "c"), (4, "b"), (5, "e"), (6, "a0"), (7, "zz"))
    for lo in ("-", "[a", "(a", "[b", "[c", "(d", "[e", "[zz"):
        for hi in ("+", "[b", "(c", "[d", "[e", "(zz", "[a"):
            d.run("ZRANGEBYLEX", "z", lo, hi)
            d.run("ZREVRANGEBYLEX", "z", hi, lo)
            d.run("ZLEXCOUNT", "z", lo, hi)
            d.run("ZRANGEBYLEX", "z", lo, hi, "LIMIT", "1", "2")
            d.run("ZREVRANGEBYLEX", "z", hi, lo, "LIMIT", "2", "1")
    for lo, hi in (("[a", "[c"), ("[b", "+"), ("-", "[a"), ("[c", "[d")):
        d.run("ZREMRANGEBYLEX", "z", lo, hi)
        d.run("ZRANGE", "z", "0", "-1", "WITHSCORES")


# ---- ZRANGESTORE and encodings ----

def test_zrangestore(enc_diff):
    d = enc_diff
    fill(d, "z", *LETTERS)
    run_checked(d, "ZRANGESTORE", "dst", "z", "0", "4")
    d.run("ZRANGE", "dst", "0", "-1", "WITHSCORES")
    d.run("OBJECT", "ENCODING", "dst")
    run_checked(d, "ZRANGESTORE", "dst", "z", "5", "1", "BYSCORE", "REV", "LIMIT", "1", "2")
    d.run("ZRANGE", "dst", "0", "-1", "WITHSCORES")
    d.run("SET", "dst", "string")
    d.run("EXPIRE", "dst", "100")
    run_checked(d, "ZRANGESTORE", "dst", "z", "[c", "[f", "BYLEX")
    d.run("TTL", "dst")
    d.run("TYPE", "dst")
    run_checked(d, "ZRANGESTORE", "dst", "z", "100", "200")
    d.run("EXISTS", "dst")
    run_checked(d, "ZRANGESTORE", "dst", "z", "100", "200")
    run_checked(d, "ZRANGESTORE", "dst", "nokey", "0", "-1")
    run_checked(d, "ZRANGESTORE", "z", "z", "0", "2")
    d.run("ZRANGE", "z", "0", "-1", "WITHSCORES")
    d.run("SET", "s", "x")
    d.run("ZRANGESTORE", "dst", "s", "0", "1")
    d.run("ZRANGESTORE", "s", "z", "0", "1")
    d.run("TYPE", "s")


def test_encoding_thresholds(proto_diff):
    d = proto_diff
    cfg = Config(d, zset_max_listpack_entries=4, zset_max_listpack_value=8)
    try:
        fill(d, "z", (1, "a"), (2, "b"), (3, "c"), (4, "d"))
        d.run("OBJECT", "ENCODING", "z")
        d.run("ZADD", "z", "5", "e")
        d.run("OBJECT", "ENCODING", "z")
        d.run("ZREMRANGEBYRANK", "z", "0", "-2")
        d.run("OBJECT", "ENCODING", "z")              # never back
        fill(d, "long", (1, "12345678"))
        d.run("OBJECT", "ENCODING", "long")
        d.run("ZADD", "long", "2", "123456789")
        d.run("OBJECT", "ENCODING", "long")
        fill(d, "long2", (1, "123456789"))
        d.run("OBJECT", "ENCODING", "long2")
        d.run("ZADD", "first", "1", "short", "2", "123456789")
        d.run("OBJECT", "ENCODING", "first")
        d.run("ZADD", "first2", "1", "123456789", "2", "short")
        d.run("OBJECT", "ENCODING", "first2")
        d.run("ZADD", "xx", "XX", "1", "a")
        d.run("ZINCRBY", "inc", "1", "123456789")
        d.run("OBJECT", "ENCODING", "inc")
        # *STORE results are built as a skiplist and converted back when small
        for dst, src in (("u", "z"), ("u2", "long"), ("u3", "first")):
            d.run("ZUNIONSTORE", dst, "1", src)
            d.run("OBJECT", "ENCODING", dst)
        fill(d, "big", *[(i, f"m{i}") for i in range(6)])
        d.run("ZINTERSTORE", "i", "2", "big", "big")
        d.run("OBJECT", "ENCODING", "i")
        d.run("ZDIFFSTORE", "df", "1", "big")
        d.run("OBJECT", "ENCODING", "df")
        d.run("ZRANGESTORE", "rs", "big", "0", "3")
        d.run("OBJECT", "ENCODING", "rs")
        d.run("ZRANGESTORE", "rs", "big", "0", "4")
        d.run("OBJECT", "ENCODING", "rs")
        d.run("COPY", "big", "bigcopy")
        d.run("OBJECT", "ENCODING", "bigcopy")
        d.run("ZRANGE", "bigcopy", "0", "-1", "WITHSCORES")
        d.run("CONFIG", "SET", "zset-max-listpack-entries", "0")
        d.run("ZADD", "zero", "1", "a")
        d.run("OBJECT", "ENCODING", "zero")
        d.run("ZUNIONSTORE", "zu", "1", "z")
        d.run("OBJECT", "ENCODING", "zu")
        d.run("ZRANGESTORE", "zr", "z", "0", "0")
        d.run("OBJECT", "ENCODING", "zr")
        d.run("CONFIG", "SET", "zset-max-ziplist-entries", "3")
        d.run("CONFIG", "GET", "zset-max-listpack-entries")
    finally:
        cfg.restore()


def test_negative_zero(proto_diff):
    """A listpack stores an integral score as an integer: -0 reads back as 0 there."""
    d = proto_diff
    cfg = Config(d, zset_max_listpack_entries=2)
    try:
        fill(d, "z", ("-0", "a"))
        d.run("ZSCORE", "z", "a")
        d.run("ZADD", "z", "-0", "b", "-0", "c")
        d.run("ZSCORE", "z", "c")
        d.run("ZADD", "z", "-0", "a")
        d.run("ZSCORE", "z", "a")
        d.run("ZINCRBY", "z", "-0", "d")
        d.run("ZUNION", "1", "z", "WEIGHTS", "-1", "WITHSCORES")
        d.run("ZUNIONSTORE", "u", "1", "z", "WEIGHTS", "-1")
        d.run("ZRANGE", "u", "0", "-1", "WITHSCORES")
        d.run("ZSCAN", "u", "0")
        d.run("ZUNIONSTORE", "u", "2", "z", "z", "WEIGHTS", "-1", "1")
        d.run("ZSCAN", "u", "0")
    finally:
        cfg.restore()


# ---- Removal ----

def test_zrem_and_remrange(enc_diff):
    d = enc_diff
    fill(d, "z", *LETTERS)
    run_checked(d, "ZREM", "z", "a", "a", "nope", "b")
    run_checked(d, "ZREM", "z", "nope")
    run_checked(d, "ZREM", "nokey", "a")
    run_checked(d, "ZREMRANGEBYRANK", "z", "0", "0")
    run_checked(d, "ZREMRANGEBYRANK", "z", "-2", "-1")
    run_checked(d, "ZREMRANGEBYRANK", "z", "5", "1")
    run_checked(d, "ZREMRANGEBYRANK", "z", "100", "200")
    d.run("ZREMRANGEBYRANK", "z", "x", "1")
    run_checked(d, "ZREMRANGEBYSCORE", "z", "(3", "4")
    run_checked(d, "ZREMRANGEBYSCORE", "z", "100", "200")
    d.run("ZREMRANGEBYSCORE", "z", "x", "1")
    run_checked(d, "ZREMRANGEBYLEX", "z", "[f", "(h")
    d.run("ZREMRANGEBYLEX", "z", "f", "(h")
    d.run("ZRANGE", "z", "0", "-1", "WITHSCORES")
    run_checked(d, "ZREM", "z", "c", "d", "e", "h", "i", "j", "k")
    d.run("EXISTS", "z")
    for cmd in ("ZREMRANGEBYRANK", "ZREMRANGEBYSCORE", "ZREMRANGEBYLEX"):
        fill(d, "y", *LETTERS[:3])
        low, high = {"ZREMRANGEBYRANK": ("0", "-1"), "ZREMRANGEBYSCORE": ("-inf", "+inf"),
                     "ZREMRANGEBYLEX": ("-", "+")}[cmd]
        run_checked(d, cmd, "y", low, high)
        d.run("EXISTS", "y")
        d.run(cmd, "nokey", low, high)
    d.run("SET", "s", "x")
    for cmd in ("ZREM", "ZREMRANGEBYRANK", "ZREMRANGEBYSCORE", "ZREMRANGEBYLEX"):
        d.run(cmd, "s", "0", "1")


# ---- Pops ----

def test_pops(enc_diff):
    d = enc_diff
    fill(d, "z", *LETTERS)
    run_checked(d, "ZPOPMIN", "z")
    run_checked(d, "ZPOPMAX", "z")
    run_checked(d, "ZPOPMIN", "z", "2")
    run_checked(d, "ZPOPMAX", "z", "1")
    run_checked(d, "ZPOPMIN", "z", "0")
    for bad in ("-1", "x", "1.5", "", "9223372036854775808"):
        d.run("ZPOPMIN", "z", bad)
    d.run("ZPOPMIN", "z", "1", "2")
    d.run("ZPOPMIN", "nokey")
    d.run("ZPOPMIN", "nokey", "3")
    d.run("ZPOPMAX", "nokey", "0")
    run_checked(d, "ZPOPMAX", "z", "100")
    d.run("EXISTS", "z")
    d.run("SET", "s", "x")
    d.run("ZPOPMIN", "s")
    d.run("ZPOPMIN", "s", "-1")


def test_zmpop(enc_diff):
    d = enc_diff
    fill(d, "a", *LETTERS[:3])
    fill(d, "b", *LETTERS[3:6])
    run_checked(d, "ZMPOP", "2", "nokey", "a", "MIN")
    run_checked(d, "ZMPOP", "2", "a", "b", "max", "COUNT", "10")
    run_checked(d, "ZMPOP", "2", "a", "b", "MAX", "count", "2")
    d.run("ZMPOP", "1", "nokey", "MIN")
    for args in (("0", "a", "MIN"), ("x", "a", "MIN"), ("-1", "a", "MIN"), ("2", "a", "MIN"),
                 ("1", "a", "MID"), ("1", "a", "MIN", "COUNT"), ("1", "a", "MIN", "COUNT", "0"),
                 ("1", "a", "MIN", "COUNT", "x"), ("1", "a", "MIN", "COUNT", "1", "COUNT", "1"),
                 ("1", "a", "MIN", "FOO"), ("3", "a", "MIN"), ("1", "a", "MIN", "COUNT", "-1"),
                 ("9223372036854775807", "a", "MIN"), ("1", "a")):
        d.run("ZMPOP", *args)
    d.run("SET", "s", "x")
    d.run("ZMPOP", "2", "s", "b", "MIN")
    d.run("ZMPOP", "2", "b", "s", "MIN")
    d.run("ZMPOP", "2", "nokey", "s", "MIN")


# ---- Set operations ----

def test_setops(enc_diff):
    d = enc_diff
    fill(d, "z1", (1, "a"), (2, "b"), (3, "c"), ("inf", "i"), ("-inf", "n"))
    fill(d, "z2", (10, "b"), (20, "c"), (30, "d"), ("-inf", "i"), ("inf", "n"))
    d.run("SADD", "set", "a", "c", "x")
    d.run("SADD", "iset", "1", "2", "3")
    fill(d, "nums", (1, "1"), (2, "2"), (5, "5"))
    inputs = [("2", "z1", "z2"), ("3", "z1", "z2", "set"), ("2", "z1", "nokey"),
              ("1", "nokey"), ("2", "z1", "z1"), ("2", "nums", "iset"), ("1", "set")]
    for keys in inputs:
        n = int(keys[0])
        for op in ("ZUNION", "ZINTER"):
            d.run(op, *keys)
            d.run(op, *keys, "WITHSCORES")
            d.run(op, *keys, "WEIGHTS", *["2"] * n, "WITHSCORES")
            d.run(op, *keys, "WEIGHTS", *["0"] * n, "AGGREGATE", "MAX", "WITHSCORES")
            d.run(op, *keys, "WEIGHTS", *[str(-i - 1) for i in range(n)], "WITHSCORES")
            for agg in ("SUM", "MIN", "MAX", "min"):
                d.run(op, *keys, "AGGREGATE", agg, "WITHSCORES")
            run_checked(d, op + "STORE", "dst", *keys, "AGGREGATE", "MAX")
            d.run("ZRANGE", "dst", "0", "-1", "WITHSCORES")
        d.run("ZDIFF", *keys)
        d.run("ZDIFF", *keys, "WITHSCORES")
        run_checked(d, "ZDIFFSTORE", "dst", *keys)
        d.run("ZRANGE", "dst", "0", "-1", "WITHSCORES")
        d.run("ZINTERCARD", *keys)
        d.run("ZINTERCARD", *keys, "LIMIT", "1")
        d.run("ZINTERCARD", *keys, "LIMIT", "0")


def test_setop_errors(proto_diff):
    d = proto_diff
    fill(d, "z", (1, "a"))
    d.run("SET", "s", "x")
    for op in ("ZUNION", "ZINTER", "ZDIFF", "ZINTERCARD"):
        for args in (("0", "z"), ("-1", "z"), ("x", "z"), ("2", "z"), ("1", "z", "WEIGHTS"),
                     ("1", "z", "WEIGHTS", "x"), ("1", "z", "WEIGHTS", "nan"),
                     ("1", "z", "WEIGHTS", "1", "2"), ("1", "z", "AGGREGATE"),
                     ("1", "z", "AGGREGATE", "AVG"), ("1", "z", "WITHSCORES", "WITHSCORES"),
                     ("1", "z", "LIMIT", "-1"), ("1", "z", "LIMIT", "x"), ("1", "z", "LIMIT"),
                     ("2", "z", "s"), ("2", "s", "z", "FOO"), ("1", "z", "FOO"),
                     ("1", "z", "WEIGHTS", "1", "AGGREGATE", "SUM", "WITHSCORES"),
                     ("1", "z", "LIMIT", "1", "LIMIT", "2"), ("9999999999999", "z")):
            d.run(op, *args)
    for op in ("ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"):
        d.run(op, "dst", "0", "z")
        d.run(op, "dst", "1", "z", "WITHSCORES")
        d.run(op, "dst", "1", "s")
        d.run(op, "s", "1", "z")
        d.run("TYPE", "s")
        d.run(op, "dst", "1", "z", "WEIGHTS", "1e999")
        d.run(op, "dst")


def test_setop_arithmetic(enc_diff):
    d = enc_diff
    fill(d, "a", (0.1, "x"), ("inf", "i"), (1e308, "big"), ("-0", "nz"), (3, "y"))
    fill(d, "b", (0.2, "x"), ("-inf", "i"), (1e308, "big"), (0, "nz"), (0.3, "y"))
    fill(d, "c", (0.3, "x"), (5, "i"), (-1e308, "big"), ("-0", "nz"))
    for keys in (("3", "a", "b", "c"), ("3", "c", "b", "a"), ("2", "a", "b")):
        n = int(keys[0])
        for w in (["1"] * n, ["inf"] * n, ["0"] * n, ["-1"] + ["1"] * (n - 1),
                  ["0.5", "1e308", "-inf"][:n]):
            for agg in ("SUM", "MIN", "MAX"):
                d.run("ZUNION", *keys, "WEIGHTS", *w, "AGGREGATE", agg, "WITHSCORES")
                d.run("ZINTER", *keys, "WEIGHTS", *w, "AGGREGATE", agg, "WITHSCORES")


# ---- ZSCORE ZMSCORE ----

def test_zscore_zmscore(enc_diff):
    d = enc_diff
    fill(d, "z", (1.1, "a"), ("-inf", "b"), (1e100, "c"))
    for m in ("a", "b", "c", "nope", ""):
        d.run("ZSCORE", "z", m)
    d.run("ZSCORE", "nokey", "a")
    d.run("ZMSCORE", "z", "a", "nope", "c")
    d.run("ZMSCORE", "nokey", "a", "b")
    d.run("ZMSCORE", "z")
    d.run("SET", "s", "x")
    d.run("ZSCORE", "s", "a")
    d.run("ZMSCORE", "s", "a")


# ---- ZRANDMEMBER ----

def _erase(f: Frame) -> Frame:
    if f.kind in "$+," and f.value is not None:
        return Frame(f.kind, b"<random>")
    if f.kind in "*~" and f.value is not None:
        return Frame(f.kind, [_erase(x) for x in f.value])
    return f


def norm_random(args, rk: Frame, rd: Frame):
    """Random choices: same wire types and lengths, any members and scores."""
    return _erase(rk), _erase(rd)


def test_zrandmember(enc_diff):
    d = enc_diff
    fill(d, "z", *LETTERS[:5])
    d.run("ZRANDMEMBER", "nokey")
    d.run("ZRANDMEMBER", "nokey", "3")
    d.run("ZRANDMEMBER", "nokey", "3", "WITHSCORES")
    # the whole set comes back in reverse rank order when the count covers it
    d.run("ZRANDMEMBER", "z", "5")
    d.run("ZRANDMEMBER", "z", "100", "WITHSCORES")
    d.run("ZRANDMEMBER", "z", "0")
    d.run("ZRANDMEMBER", "z", "0", "WITHSCORES")
    for args in (("1",), ("-1",), ("-7",), ("3",), ("2", "WITHSCORES"), ("-6", "WITHSCORES"),
                 ("1", "WITHSCORES"), ()):
        r = d.run("ZRANDMEMBER", "z", *args, normalize=norm_random)
        got = elements(r.redkeep)
        members = got if not isinstance(got, list) else \
            [x[0] if isinstance(x, list) else x for x in got]
        if "WITHSCORES" in args and isinstance(got, list) and got and \
                not isinstance(got[0], list):
            members = got[0::2]
        for m in (members if isinstance(members, list) else [members]):
            assert m in {b"a", b"b", b"c", b"d", b"e"}, (args, got)
    for args in (("x",), ("1", "x"), ("1", "WITHSCORES", "x"), ("-9223372036854775808",),
                 ("9223372036854775807", "WITHSCORES"), ("4611686018427387904", "WITHSCORES"),
                 ("-4611686018427387904", "WITHSCORES"), ("4611686018427387903", "x"),
                 ("4611686018427387904", "withscoresx")):
        d.run("ZRANDMEMBER", "z", *args)
        d.run("ZRANDMEMBER", "nokey", *args)
    d.run("SET", "s", "x")
    d.run("ZRANDMEMBER", "s")
    d.run("ZRANDMEMBER", "s", "1")
    d.run("ZRANDMEMBER", "s", "4611686018427387904", "WITHSCORES")


def test_zrandmember_distinct(proto_diff):
    d = proto_diff
    fill(d, "z", *[(i, f"m{i}") for i in range(300)])
    for count in ("10", "150", "299", "300"):
        for conn in (d.rk, d.rd):
            got = parse_python(conn.call("ZRANDMEMBER", "z", count))
            assert len(got) == len(set(got)) == int(count)


# ---- ZSCAN ----

def test_zscan(enc_diff):
    d = enc_diff
    fill(d, "z", (1.5, "a"), (2, "b"), (1e20, "c"), (123456789012345678, "d"), (-1, "x:1"),
         ("inf", "x:2"))
    d.run("ZSCAN", "z", "0")
    d.run("ZSCAN", "z", "0", "MATCH", "x:*")
    d.run("ZSCAN", "z", "0", "COUNT", "100", "MATCH", "*")
    d.run("ZSCAN", "nokey", "0")
    d.run("ZSCAN", "nokey", "0", "COUNT", "0")
    for args in (("x",), ("0", "COUNT", "0"), ("0", "COUNT", "x"), ("0", "MATCH"),
                 ("0", "FOO", "bar"), ("0", "TYPE", "string"), (" 0",), ("1.5",)):
        d.run("ZSCAN", "z", *args)
    if d.run("OBJECT", "ENCODING", "z").redis == b"$8\r\nlistpack\r\n":
        # a listpack is returned whole whatever the cursor (a hashtable cursor made up by
        # the client names a bucket of Redis's own table: no comparable answer there)
        d.run("ZSCAN", "z", "-1")
        d.run("ZSCAN", "z", "12345", "COUNT", "1")
    d.run("SET", "s", "x")
    d.run("ZSCAN", "s", "0")


def test_zscan_large(proto_diff):
    d = proto_diff
    fill(d, "z", *[(i / 3, f"m{i}") for i in range(1000)])
    assert scan_all(d.rk, "ZSCAN", "z", "COUNT", "7", pairs=True) == \
        scan_all(d.rd, "ZSCAN", "z", "COUNT", "7", pairs=True)
    assert scan_all(d.rk, "ZSCAN", "z", "MATCH", "m1*", pairs=True) == \
        scan_all(d.rd, "ZSCAN", "z", "MATCH", "m1*", pairs=True)


# ---- Large sets (skiplist paths on real sizes) ----

def test_large_set(proto_diff):
    d = proto_diff
    pairs = [(i % 97 * 1.25, f"m{i:04d}") for i in range(600)]
    for i in range(0, 600, 200):
        fill(d, "z", *pairs[i:i + 200])
    d.run("OBJECT", "ENCODING", "z")
    d.run("ZCARD", "z")
    d.run("ZRANGE", "z", "100", "120", "WITHSCORES")
    d.run("ZREVRANGE", "z", "-30", "-20", "WITHSCORES")
    d.run("ZRANGEBYSCORE", "z", "(10", "20", "LIMIT", "5", "10")
    d.run("ZREVRANGEBYSCORE", "z", "20", "(10", "WITHSCORES", "LIMIT", "3", "4")
    d.run("ZCOUNT", "z", "(10", "20")
    d.run("ZRANK", "z", "m0300")
    d.run("ZREVRANK", "z", "m0300")
    d.run("ZADD", "lex", *[x for i in range(300) for x in ("0", f"k{i:03d}")])
    d.run("ZRANGEBYLEX", "lex", "[k100", "(k120")
    d.run("ZREVRANGEBYLEX", "lex", "(k120", "[k100", "LIMIT", "2", "5")
    d.run("ZLEXCOUNT", "lex", "(k100", "+")
    run_checked(d, "ZREMRANGEBYLEX", "lex", "[k050", "[k060")
    run_checked(d, "ZREMRANGEBYSCORE", "z", "10", "20")
    run_checked(d, "ZREMRANGEBYRANK", "z", "10", "19")
    run_checked(d, "ZPOPMIN", "z", "5")
    d.run("ZRANGE", "z", "0", "-1", "WITHSCORES")
    d.run("ZUNIONSTORE", "u", "2", "z", "lex")
    d.run("OBJECT", "ENCODING", "u")
    d.run("ZRANGE", "u", "0", "-1", "WITHSCORES")


# ---- WRONGTYPE ----

def test_wrongtype(proto_diff):
    d = proto_diff
    d.run("SET", "s", "x")
    d.run("SADD", "l", "x")
    for key in ("s", "l"):
        for cmd in (("ZADD", key, "1", "a"), ("ZINCRBY", key, "1", "a"), ("ZREM", key, "a"),
                    ("ZSCORE", key, "a"), ("ZMSCORE", key, "a"), ("ZCARD", key),
                    ("ZCOUNT", key, "0", "1"), ("ZLEXCOUNT", key, "-", "+"),
                    ("ZRANGE", key, "0", "1"), ("ZREVRANGE", key, "0", "1"),
                    ("ZRANGEBYSCORE", key, "0", "1"), ("ZRANGEBYLEX", key, "-", "+"),
                    ("ZRANK", key, "a"), ("ZREVRANK", key, "a"), ("ZPOPMIN", key),
                    ("ZPOPMAX", key, "2"), ("ZRANDMEMBER", key), ("ZSCAN", key, "0"),
                    ("ZRANGESTORE", "d", key, "0", "1"), ("ZUNION", "1", key),
                    ("ZINTERCARD", "1", key), ("ZDIFF", "2", "nokey", key),
                    ("BZPOPMIN", key, "0.01"), ("BZMPOP", "0.01", "1", key, "MIN")):
            d.run(*cmd)


# ---- Keyspace events and the dirty counter ----

def test_keyspace_events(diff):
    d = diff
    ev = Events(d)
    try:
        cmds = [("ZADD", "z", "1", "a", "2", "b", "3", "c"), ("ZADD", "z", "1", "a"),
                ("ZADD", "z", "INCR", "1", "a"), ("ZINCRBY", "z", "0", "a"),
                ("ZINCRBY", "z", "1", "n"), ("ZREM", "z", "nope"), ("ZREM", "z", "n"),
                ("ZRANGESTORE", "d", "z", "0", "0"), ("ZRANGESTORE", "d", "z", "9", "9"),
                ("ZUNIONSTORE", "u", "1", "z"), ("ZINTERSTORE", "u", "2", "z", "nokey"),
                ("ZDIFFSTORE", "u", "1", "z"), ("ZREMRANGEBYSCORE", "u", "9", "10"),
                ("ZREMRANGEBYRANK", "u", "0", "0"), ("ZREMRANGEBYLEX", "u", "-", "+"),
                ("ZPOPMIN", "z"), ("ZPOPMAX", "z", "5"), ("ZADD", "z", "1", "a"),
                ("ZMPOP", "1", "z", "MIN"), ("ZADD", "z", "1", "a", "2", "b"),
                ("BZPOPMAX", "z", "0"), ("BZMPOP", "0", "1", "z", "MIN", "COUNT", "3"),
                ("ZADD", "z", "NX", "1", "x"), ("ZADD", "z", "XX", "2", "x"),
                ("ZADD", "z", "GT", "1", "x"), ("ZREM", "z", "x")]
        for cmd in cmds:
            run_checked(d, *cmd)
            rk, rd = ev.take()
            assert rk == rd, (cmd, rk, rd)
    finally:
        ev.close()


# ---- Blocking ----

def test_bzpop_immediate_and_errors(proto_diff):
    d = proto_diff
    fill(d, "a", *LETTERS[:3])
    d.run("BZPOPMIN", "nokey", "a", "0")
    d.run("BZPOPMAX", "a", "0")
    d.run("BZMPOP", "0", "2", "nokey", "a", "MAX", "COUNT", "5")
    d.run("EXISTS", "a")
    for t in ("x", "-1", "", " 1", "nan", "inf", "-inf", "1e30", "0x", "1e-400x",
              "1e99999", "0x1p99999"):
        d.run("BZPOPMIN", "nokey", t)
        d.run("BZMPOP", t, "1", "nokey", "MIN")
    fill(d, "a", (1, "x"), (2, "y"))
    d.run("BZPOPMIN", "a", "-0.0001")        # rounds up to 0: no timeout, no error
    d.run("BZMPOP", "1e-400", "1", "a", "MIN")
    for args in (("0", "0", "k", "MIN"), ("0", "1", "k"), ("0", "1", "k", "MID"),
                 ("x", "x", "k", "MIN"), ("x", "1", "k", "MIN", "COUNT", "0")):
        d.run("BZMPOP", *args)
    d.run("BZPOPMIN", "k")
    # inside MULTI nothing blocks: an empty pop answers like a timeout
    d.run("MULTI")
    d.run("BZPOPMIN", "nokey", "0")
    d.run("BZPOPMAX", "nokey", "0")
    d.run("BZMPOP", "0", "1", "nokey", "MIN")
    d.run("EXEC")


def _await_blocked(d: DiffPair, n: int) -> None:
    for conn in (d.rk, d.rd):
        wait_until(lambda c=conn: f"blocked_clients:{n}".encode() in c.call("INFO", "clients"),
                   5.0, what=f"{n} blocked clients")


def test_bzpop_served_by_another_client(proto_diff):
    d = proto_diff
    waiter = d.other()
    try:
        waiter.rk.send("BZPOPMIN", "z1", "z2", "0")
        waiter.rd.send("BZPOPMIN", "z1", "z2", "0")
        _await_blocked(d, 1)
        d.run("SET", "z1", "string")          # another type does not wake it
        d.run("ZADD", "z2", "5", "five", "1", "one")
        waiter.read("BZPOPMIN served")
        d.run("ZRANGE", "z2", "0", "-1", "WITHSCORES")
        waiter.rk.send("BZMPOP", "0", "2", "z3", "z2", "MAX", "COUNT", "3")
        waiter.rd.send("BZMPOP", "0", "2", "z3", "z2", "MAX", "COUNT", "3")
        waiter.read("BZMPOP served at once")
        waiter.rk.send("BZMPOP", "0", "1", "z3", "MAX", "COUNT", "3")
        waiter.rd.send("BZMPOP", "0", "1", "z3", "MAX", "COUNT", "3")
        _await_blocked(d, 1)
        d.run("MULTI")
        d.run("ZADD", "z3", "1", "a", "2", "b")
        d.run("ZREM", "z3", "b")
        d.run("EXEC")
        waiter.read("BZMPOP served after EXEC")
        d.run("EXISTS", "z3")
        # two keys written in one transaction: the waiter is served from the key that
        # became ready first, not from its first key
        waiter.rk.send("BZPOPMIN", "k1", "k2", "0")
        waiter.rd.send("BZPOPMIN", "k1", "k2", "0")
        _await_blocked(d, 1)
        d.run("MULTI")
        d.run("ZADD", "k2", "2", "two")
        d.run("ZADD", "k1", "1", "one")
        d.run("EXEC")
        waiter.read("BZPOPMIN served from the first ready key")
        d.run("ZCARD", "k1")
        waiter.rk.send("BZPOPMAX", "z4", "0.05")
        waiter.rd.send("BZPOPMAX", "z4", "0.05")
        waiter.read("BZPOPMAX timeout", timeout=5.0)
        waiter.rk.send("BZMPOP", "0.05", "1", "z4", "MIN")
        waiter.rd.send("BZMPOP", "0.05", "1", "z4", "MIN")
        waiter.read("BZMPOP timeout", timeout=5.0)
    finally:
        waiter.close()


def test_bzpop_fifo(diff):
    d = diff
    waiters = [d.other() for _ in range(5)]
    try:
        for i, w in enumerate(waiters):
            w.rk.send("BZPOPMIN", "q", "0")
            w.rd.send("BZPOPMIN", "q", "0")
            _await_blocked(d, i + 1)
        d.run("ZADD", "q", *[x for i in range(5) for x in (str(i), f"m{i}")])
        for w in waiters:
            w.read("served in arrival order")
        d.run("EXISTS", "q")
    finally:
        for w in waiters:
            w.close()


# ---- COMMAND INFO ----

def test_command_info(diff):
    names = ["zadd", "zincrby", "zrem", "zremrangebyscore", "zremrangebyrank", "zremrangebylex",
             "zunionstore", "zinterstore", "zdiffstore", "zunion", "zinter", "zintercard",
             "zdiff", "zrange", "zrangestore", "zrangebyscore", "zrevrangebyscore",
             "zrangebylex", "zrevrangebylex", "zcount", "zlexcount", "zrevrange", "zcard",
             "zscore", "zmscore", "zrank", "zrevrank", "zscan", "zpopmin", "zpopmax", "zmpop",
             "bzpopmin", "bzpopmax", "bzmpop", "zrandmember"]
    for name in names:
        diff.run("COMMAND", "INFO", name)
    diff.run("COMMAND", "GETKEYS", "ZUNIONSTORE", "dst", "2", "a", "b", "WEIGHTS", "1", "2")
    diff.run("COMMAND", "GETKEYS", "BZMPOP", "0", "2", "a", "b", "MIN")
    diff.run("COMMAND", "GETKEYS", "ZRANGESTORE", "dst", "src", "0", "1")


# ---- A state machine over sorted sets mixed with other types ----

KEYS = [b"z1", b"z2", b"z3", b"str"]
MEMBERS = st.sampled_from([b"a", b"b", b"c", b"d", b"e", b"f", b"10", b"", b"a\x00"])
SCORE = st.one_of(st.sampled_from([b"0", b"1", b"-1", b"2.5", b"inf", b"-inf", b"(1", b"x",
                                   b"1e400", b"0.1", b"-0", b"3"]),
                  st.integers(-5, 5).map(lambda i: str(i).encode()),
                  st.floats(-1e6, 1e6, allow_nan=False).map(lambda f: repr(f).encode()))
BOUND = st.sampled_from([b"-inf", b"+inf", b"0", b"(0", b"1", b"(1", b"2.5", b"(3", b"x"])
LEXB = st.sampled_from([b"-", b"+", b"[a", b"(a", b"[c", b"(e", b"[", b"a"])
INDEX = st.integers(-6, 6).map(lambda i: str(i).encode())
KEY = st.sampled_from(KEYS)


def zset_commands():
    pairs = st.lists(st.tuples(SCORE, MEMBERS), min_size=1, max_size=4).map(
        lambda ps: [x for p in ps for x in p])
    flags = st.lists(st.sampled_from([b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR"]),
                     max_size=2, unique=True)
    return st.one_of(
        st.builds(lambda k, f, p: [b"ZADD", k, *f, *p], KEY, flags, pairs),
        st.builds(lambda k, s, m: [b"ZINCRBY", k, s, m], KEY, SCORE, MEMBERS),
        st.builds(lambda k, ms: [b"ZREM", k, *ms], KEY, st.lists(MEMBERS, min_size=1,
                                                                  max_size=3)),
        st.builds(lambda k, m: [b"ZSCORE", k, m], KEY, MEMBERS),
        st.builds(lambda k, m: [b"ZRANK", k, m], KEY, MEMBERS),
        st.builds(lambda k: [b"ZCARD", k], KEY),
        st.builds(lambda k, a, b, o: [b"ZRANGE", k, a, b, *o], KEY, INDEX, INDEX,
                  st.lists(st.sampled_from([b"REV", b"WITHSCORES"]), unique=True)),
        st.builds(lambda k, a, b, o: [b"ZRANGE", k, a, b, b"BYSCORE", *o], KEY, BOUND, BOUND,
                  st.lists(st.sampled_from([b"REV", b"WITHSCORES"]), unique=True)),
        st.builds(lambda k, a, b, off, n: [b"ZRANGEBYSCORE", k, a, b, b"LIMIT", off, n],
                  KEY, BOUND, BOUND, INDEX, INDEX),
        st.builds(lambda k, a, b: [b"ZCOUNT", k, a, b], KEY, BOUND, BOUND),
        st.builds(lambda k, a, b: [b"ZREMRANGEBYSCORE", k, a, b], KEY, BOUND, BOUND),
        st.builds(lambda k, a, b: [b"ZREMRANGEBYRANK", k, a, b], KEY, INDEX, INDEX),
        st.builds(lambda k, n: [b"ZPOPMIN", k, *n], KEY, st.sampled_from([[], [b"2"]])),
        st.builds(lambda k, n: [b"ZPOPMAX", k, *n], KEY, st.sampled_from([[], [b"1"]])),
        st.builds(lambda a, b, w: [b"ZMPOP", b"2", a, b, w], KEY, KEY,
                  st.sampled_from([b"MIN", b"MAX"])),
        st.builds(lambda op, d, a, b, agg: [op, d, b"2", a, b, b"AGGREGATE", agg],
                  st.sampled_from([b"ZUNIONSTORE", b"ZINTERSTORE"]), KEY, KEY, KEY,
                  st.sampled_from([b"SUM", b"MIN", b"MAX"])),
        st.builds(lambda d, a, b: [b"ZDIFFSTORE", d, b"2", a, b], KEY, KEY, KEY),
        st.builds(lambda op, a, b: [op, b"2", a, b, b"WITHSCORES"],
                  st.sampled_from([b"ZUNION", b"ZINTER", b"ZDIFF"]), KEY, KEY),
        st.builds(lambda d, s, a, b: [b"ZRANGESTORE", d, s, a, b], KEY, KEY, INDEX, INDEX),
        st.builds(lambda k: [b"SET", k, b"v"], KEY),
        st.builds(lambda k: [b"DEL", k], KEY),
        st.builds(lambda k, m: [b"SADD", k, m], KEY, MEMBERS),
        st.builds(lambda k: [b"ZRANDMEMBER", k, b"100", b"WITHSCORES"], KEY),
        st.builds(lambda k: [b"BZPOPMIN", k, b"0.01"], KEY),
    )


def lex_commands():
    """Lexicographic ranges. Over members that are not in lexicographic order (scores
    differ) a skiplist's answer depends on Redis's random node levels, so the machine
    only sends these while every sorted set is a listpack (walked linearly, exactly)."""
    return st.one_of(
        st.builds(lambda k, a, b: [b"ZRANGEBYLEX", k, a, b], KEY, LEXB, LEXB),
        st.builds(lambda k, a, b: [b"ZREVRANGEBYLEX", k, a, b], KEY, LEXB, LEXB),
        st.builds(lambda k, a, b, off, n: [b"ZRANGE", k, a, b, b"BYLEX", b"LIMIT", off, n],
                  KEY, LEXB, LEXB, INDEX, INDEX),
        st.builds(lambda k, a, b: [b"ZLEXCOUNT", k, a, b], KEY, LEXB, LEXB),
        st.builds(lambda k, a, b: [b"ZREMRANGEBYLEX", k, a, b], KEY, LEXB, LEXB),
    )


def make_machine(ports: tuple[int, int]):
    class ZSetMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.pair = DiffPair(*ports)
            self.listpack_only = True

        @initialize(entries=st.sampled_from([b"128", b"3"]), proto=st.sampled_from([b"2", b"3"]))
        def setup(self, entries, proto) -> None:
            self.listpack_only = entries == b"128"
            self.pair.run(b"FLUSHALL")
            self.pair.run(b"CONFIG", b"SET", b"zset-max-listpack-entries", entries)
            self.pair.run(b"HELLO", proto)

        @rule(cmd=zset_commands())
        def command(self, cmd) -> None:
            self.pair.run(*cmd)

        @precondition(lambda self: self.listpack_only)
        @rule(cmd=lex_commands())
        def lex_command(self, cmd) -> None:
            self.pair.run(*cmd)

        @invariant()
        def encodings_agree(self) -> None:
            for key in KEYS[:3]:
                self.pair.run(b"OBJECT", b"ENCODING", key)

        def teardown(self) -> None:
            try:
                self.pair.run(b"CONFIG", b"SET", b"zset-max-listpack-entries", b"128")
                for key in KEYS:
                    self.pair.run(b"TYPE", key)
                    if parse_python(self.pair.rd.call(b"TYPE", key)) == b"zset":
                        self.pair.run(b"ZRANGE", key, b"0", b"-1", b"WITHSCORES")
            finally:
                self.pair.close()

    return ZSetMachine


@pytest.mark.timeout(240)
def test_zset_state_machine(server_pair):
    machine = make_machine((server_pair.redkeep.port, server_pair.redis.port))
    run_state_machine_as_test(machine, settings=settings(
        max_examples=100, stateful_step_count=50, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.filter_too_much]))


def test_many_clients_blocked_then_disconnect(diff):
    """A blocked client that disconnects is forgotten: the next push serves nobody."""
    d = diff
    conns = [RawConn(d.redkeep_port) for _ in range(3)]
    for c in conns:
        c.send("BZPOPMIN", "gone", "0")
    wait_until(lambda: b"blocked_clients:3" in d.rk.call("INFO", "clients"), 5.0)
    for c in conns:
        c.close()
    wait_until(lambda: b"blocked_clients:0" in d.rk.call("INFO", "clients"), 5.0)
    d.run("ZADD", "gone", "1", "a")
    d.run("ZCARD", "gone")
    time.sleep(0.01)
