"""Differential tests for SORT / SORT_RO against real redis-server 7.0: lists, sets and
sorted sets, BY / GET patterns (string keys and hash fields), LIMIT clamping, ALPHA,
STORE (with OBJECT ENCODING, TTL, keyspace events and the dirty counter), error texts.

A numeric SORT ends "One or more scores can't be converted into double" when strtod sets
ERANGE; Redis never clears errno before calling strtod, so on the same connection a later
SORT may inherit a stale ERANGE. Cases that set ERANGE therefore run each on a fresh
connection pair, after everything else.
"""

from __future__ import annotations

import pytest
from containers_diff import Events, norm_unordered, run_checked

from support.resp import parse_python

pytestmark = pytest.mark.interop


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def proto_diff(request, diff):
    diff.run("HELLO", request.param)
    return diff


def test_lists(proto_diff):
    d = proto_diff
    d.run("RPUSH", "l", "3", "1", "2", "10", "-5", "1e1", "0x10", " 7", "+.5", "-inf", "",
          "5\x00x", "3")
    for opts in ((), ("DESC",), ("ALPHA",), ("ALPHA", "DESC"), ("LIMIT", "1", "3"),
                 ("DESC", "LIMIT", "1", "3"), ("LIMIT", "-3", "2"), ("LIMIT", "5", "-1"),
                 ("LIMIT", "100", "1"), ("LIMIT", "0", "0"), ("ALPHA", "LIMIT", "2", "100"),
                 ("BY", "nosort"), ("BY", "nosort", "DESC"), ("BY", "nosort", "LIMIT", "2", "3"),
                 ("BY", "nosort", "DESC", "LIMIT", "2", "3"), ("BY", "nosort", "ALPHA"),
                 ("ASC", "DESC", "ASC"), ("ALPHA", "ALPHA"), ("LIMIT", "0", "1", "LIMIT", "1", "1"),
                 ("LIMIT", "9223372036854775807", "9223372036854775807"),
                 ("LIMIT", "-9223372036854775808", "9223372036854775807"),
                 ("LIMIT", "3", "-9223372036854775808"), ("GET", "#"), ("GET", "#", "GET", "#")):
        d.run("SORT", "l", *opts)
        d.run("SORT_RO", "l", *opts)
    d.run("SORT", "nokey")
    d.run("SORT", "nokey", "BY", "nosort", "DESC", "LIMIT", "0", "1")


def test_sets(proto_diff):
    d = proto_diff
    d.run("SADD", "i", "30", "-1", "5", "200")
    d.run("SADD", "h", "b", "a", "10", "2", "c", "a\x00b", "Z", "a\x00")
    d.run("SREM", "h", "a\x00b", "a\x00")    # equal to "a" for ALPHA: order would be the set's
    for opts in ((), ("DESC",), ("ALPHA",), ("LIMIT", "1", "2"), ("BY", "nosort"),
                 ("BY", "nosort", "DESC", "LIMIT", "1", "2"), ("GET", "#")):
        d.run("SORT", "i", *opts)
    d.run("SORT", "h")
    for opts in (("ALPHA",), ("ALPHA", "DESC"), ("ALPHA", "LIMIT", "1", "3")):
        d.run("SORT", "h", *opts)
    d.run("SORT", "h", "BY", "nosort", normalize=norm_unordered)
    d.run("SORT", "h", "BY", "nosort", "STORE", "dst")        # set + nosort + STORE: ALPHA
    d.run("LRANGE", "dst", "0", "-1")
    if has_command(d, "eval"):                       # from a script: ALPHA as well
        d.run("HELLO", "2")                          # (scripts' RESP3 replies: not here)
        d.run("EVAL", "return redis.call('sort', KEYS[1], 'by', 'nosort')", "1", "h")


def has_command(d, name: str) -> bool:
    return parse_python(d.rk.call("COMMAND", "INFO", name)) != [None]


def test_sorted_sets(proto_diff):
    d = proto_diff
    d.run("ZADD", "z", "1", "b", "2", "a", "0", "c", "2", "aa")
    d.run("ZADD", "small", "1", "x")
    d.run("OBJECT", "ENCODING", "z")
    for opts in (("ALPHA",), ("ALPHA", "DESC"), ("BY", "nosort"), ("BY", "nosort", "DESC"),
                 ("BY", "nosort", "LIMIT", "1", "2"), ("BY", "nosort", "DESC", "LIMIT", "1", "2"),
                 ("BY", "nosort", "LIMIT", "10", "2"), ("ALPHA", "GET", "#")):
        d.run("SORT", "z", *opts)
    d.run("OBJECT", "ENCODING", "z")                 # SORT converted it to a skiplist
    d.run("SORT_RO", "small", "BY", "nosort", "LIMIT", "5", "5")
    d.run("OBJECT", "ENCODING", "small")
    d.run("ZADD", "nums", "3", "10", "1", "20", "2", "-1")
    d.run("SORT", "nums")
    d.run("SORT", "nums", "DESC", "LIMIT", "0", "2")


def test_by_and_get(proto_diff):
    d = proto_diff
    d.run("RPUSH", "l", "1", "2", "3", "4")
    d.run("SADD", "s", "1", "2", "3", "4")
    d.run("MSET", "w_1", "30", "w_2", "10", "w_3", "20", "w_4", "10", "o_1", "one",
          "o_3", "three", "t_1", "b", "t_2", "a", "t_4", "a")
    d.run("HSET", "h_1", "f", "2", "g", "x")
    d.run("HSET", "h_2", "f", "3")
    d.run("HSET", "h_4", "f", "1", "f->g", "arrow")
    d.run("SADD", "h_3", "f")                         # not a hash: no object
    for key in ("l", "s"):
        for opts in (("BY", "w_*"), ("BY", "w_*", "DESC"), ("BY", "h_*->f"),
                     ("BY", "h_*->f", "DESC", "LIMIT", "1", "2"),
                     ("BY", "w_*", "GET", "#", "GET", "o_*", "GET", "h_*->f"),
                     ("BY", "t_*", "ALPHA"), ("BY", "t_*", "ALPHA", "DESC"),
                     ("BY", "missing_*"), ("BY", "missing_*", "DESC"),
                     ("GET", "nostar"), ("GET", "h_*->"), ("BY", "h_*->"),
                     ("GET", "h_*->f->g"), ("GET", "o_*->f"), ("GET", "#\x00x"),
                     ("BY", "w_\x00*"), ("BY", "nosort", "GET", "o_*"),
                     ("BY", "h_*->g", "ALPHA", "GET", "h_*->g")):
            d.run("SORT", key, *opts, normalize=norm_unordered
                  if key == "s" and opts[:2] == ("BY", "nosort") else True)
    d.run("SET", "w_2", "x")
    d.run("SORT", "l", "BY", "w_*")
    d.run("SORT", "l", "BY", "w_*", "ALPHA")


def test_errors(proto_diff):
    d = proto_diff
    d.run("RPUSH", "l", "1", "x")
    d.run("SET", "str", "x")
    d.run("HSET", "hash", "a", "1")
    for cmd in (("SORT", "l"), ("SORT", "str"), ("SORT", "hash"), ("SORT", "str", "FOO"),
                ("SORT", "l", "LIMIT", "1"), ("SORT", "l", "LIMIT", "x", "1"),
                ("SORT", "l", "LIMIT", "1", "9223372036854775808"), ("SORT", "l", "BY"),
                ("SORT", "l", "GET"), ("SORT", "l", "STORE"), ("SORT_RO", "l", "STORE", "d"),
                ("SORT", "l", "STORE", "d"), ("EXISTS", "d"), ("SORT",), ("SORT_RO",),
                ("SORT", "l", "ALPHA", "foo")):
        d.run(*cmd)


def test_store(proto_diff):
    d = proto_diff
    d.run("RPUSH", "l", "2", "1", "3")
    d.run("SET", "d", "x", "EX", "100")
    for cmd in (("SORT", "l", "STORE", "d"), ("TTL", "d"), ("TYPE", "d"),
                ("OBJECT", "ENCODING", "d"), ("LRANGE", "d", "0", "-1"),
                ("SORT", "l", "GET", "nokey_*", "GET", "#", "STORE", "e"),
                ("LRANGE", "e", "0", "-1"), ("SORT", "nokey", "STORE", "d"), ("EXISTS", "d"),
                ("SORT", "l", "LIMIT", "5", "5", "STORE", "e"), ("EXISTS", "e"),
                ("SORT", "l", "DESC", "STORE", "l"), ("LRANGE", "l", "0", "-1")):
        d.run(*cmd)


def test_events_and_dirty(diff):
    d = diff
    ev = Events(d)
    try:
        script = [("RPUSH", "l", "2", "1", "3"), ("SORT", "l", "STORE", "d"),
                  ("SORT", "l", "STORE", "d"), ("SORT", "l", "GET", "#", "GET", "#", "STORE", "e"),
                  ("SORT", "nokey", "STORE", "d"), ("SORT", "nokey", "STORE", "d"),
                  ("SORT", "l"), ("ZADD", "z", "1", "a"), ("SORT", "z", "ALPHA", "STORE", "z2")]
        for cmd in script:
            run_checked(d, *cmd)
        rk, rd = ev.take()
        assert rk == rd
        assert len(rd) > 8
    finally:
        ev.close()


SCORES = ["", " 5", "\t-7", "0x1p3", "inf", "-Infinity", "+.5", "1.", "7\x00junk", "0x1p-1074",
          "2.2250738585072014e-308", "0x0.8p-1022", "5 ", " ", "nan", "1_0", "0x", "1e", "--1",
          "infin", "0x1.8P1", "1e308"]
RANGE_ERRORS = ["1e400", "1e-400", "4.9e-324", "2.2250738585072011e-308", "0x1p1024",
                "1.7976931348623159e308"]


def test_score_parsing(diff):
    for value in SCORES:
        d = diff.other()
        try:
            d.run("DEL", "l")
            d.run("RPUSH", "l", value, "1")
            d.run("SORT", "l")
        finally:
            d.close()
    for value in RANGE_ERRORS:                       # ERANGE: one connection each
        d = diff.other()
        try:
            d.run("DEL", "l")
            d.run("RPUSH", "l", value)
            d.run("SORT", "l")
        finally:
            d.close()
