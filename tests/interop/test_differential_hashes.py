"""Differential tests for the hash commands: the same commands to redkeep and to real
redis-server 7.0, replies compared byte for byte (error texts, RESP3 maps, long double
formatting), plus OBJECT ENCODING, keyspace events and the dirty counter. Only the order
of a hashtable-encoded hash and random choices are normalized (containers_diff)."""

from __future__ import annotations

import pytest
from containers_diff import (
    Config,
    Events,
    elements,
    norm_random,
    norm_unordered,
    norm_unordered_pairs,
    run_checked,
    scan_all,
)

pytestmark = pytest.mark.interop

LONG = "x" * 65


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def proto_diff(request, diff):
    diff.run("HELLO", request.param)
    return diff


def test_basic_replies(proto_diff):
    d = proto_diff
    d.run("HSET", "h", "a", "1", "b", "2")
    d.run("HSET", "h", "a", "10", "c", "3")
    for cmd in (("HGET", "h", "a"), ("HGET", "h", "zz"), ("HGET", "nokey", "a"),
                ("HMGET", "h", "a", "zz", "c"), ("HMGET", "nokey", "a"), ("HLEN", "h"),
                ("HLEN", "nokey"), ("HSTRLEN", "h", "a"), ("HSTRLEN", "h", "zz"),
                ("HSTRLEN", "nokey", "a"), ("HEXISTS", "h", "a"), ("HEXISTS", "h", "zz"),
                ("HKEYS", "h"), ("HVALS", "h"), ("HGETALL", "h"), ("HKEYS", "nokey"),
                ("HVALS", "nokey"), ("HGETALL", "nokey"), ("HSETNX", "h", "a", "x"),
                ("HSETNX", "h", "n", "x"), ("HMSET", "h", "m", "1", "n", "2"),
                ("HGETALL", "h"), ("HDEL", "h", "a", "zz", "a"), ("HDEL", "nokey", "a"),
                ("HSET", "e", "", ""), ("HGET", "e", ""), ("HGETALL", "e")):
        d.run(*cmd)


def test_arity_and_syntax_errors(proto_diff):
    d = proto_diff
    for cmd in (("HSET", "h", "a"), ("HSET", "h", "a", "1", "b"), ("HMSET", "h", "a", "1", "b"),
                ("HSET", "h"), ("HGET", "h"), ("HSETNX", "h", "a"), ("HDEL", "h"),
                ("HMGET", "h"), ("HINCRBY", "h", "a"), ("HSCAN", "h"), ("HRANDFIELD",),
                ("HGETALL",), ("HKEYS", "h", "x")):
        d.run(*cmd)
    d.run("EXISTS", "h")


def test_wrongtype(proto_diff):
    d = proto_diff
    d.run("SET", "s", "x")
    d.run("SADD", "set", "x")
    for key in ("s", "set"):
        for cmd in (("HSET", key, "a", "1"), ("HSETNX", key, "a", "1"), ("HGET", key, "a"),
                    ("HMGET", key, "a"), ("HDEL", key, "a"), ("HEXISTS", key, "a"),
                    ("HLEN", key), ("HSTRLEN", key, "a"), ("HKEYS", key), ("HVALS", key),
                    ("HGETALL", key), ("HINCRBY", key, "a", "1"),
                    ("HINCRBYFLOAT", key, "a", "1"), ("HSCAN", key, "0"),
                    ("HSCAN", key, "0", "COUNT", "0"), ("HRANDFIELD", key),
                    ("HRANDFIELD", key, "2"), ("HMSET", key, "a", "1"),
                    ("HINCRBY", key, "a", "x"), ("HINCRBYFLOAT", key, "a", "inf")):
            d.run(*cmd)
    d.run("HSET", "h", "a", "1")
    d.run("GET", "h")
    d.run("SADD", "h", "x")


def test_counters(proto_diff):
    d = proto_diff
    d.run("HSET", "h", "s", "abc", "big", "9223372036854775807", "small",
          "-9223372036854775808", "sp", " 1", "hex", "0x10", "e", "1e400", "inf", "inf",
          "nul", "3\x00", "lead0", "010")
    for cmd in (("HINCRBY", "h", "n", "5"), ("HINCRBY", "h", "n", "-7"),
                ("HINCRBY", "h", "s", "1"), ("HINCRBY", "h", "sp", "1"),
                ("HINCRBY", "h", "big", "1"), ("HINCRBY", "h", "big", "-1"),
                ("HINCRBY", "h", "small", "-1"), ("HINCRBY", "h", "lead0", "1"),
                ("HINCRBY", "h", "n", "x"), ("HINCRBY", "h", "n", "9223372036854775808"),
                ("HINCRBY", "nokey", "n", "x"), ("EXISTS", "nokey")):
        d.run(*cmd)
    for incr in ("10.5", "0.1", "-0.0", "0x1p-3", "1e-4950", "5.", "+.5", "1e308", "-1e4931",
                 "x", "nan", "inf", "-Infinity", "1e5000", "1e-5000", " 1", "1 ", "1_0", "0x",
                 "1e", "", "1\x00"):
        d.run("HINCRBYFLOAT", "h", "f", incr)
    for field in ("s", "sp", "hex", "e", "inf", "nul", "lead0", "big", "n"):
        d.run("HINCRBYFLOAT", "h", field, "1")
    d.run("HINCRBYFLOAT", "h", "g", "1e4931")
    d.run("HINCRBYFLOAT", "h", "g", "1e4931")
    d.run("HINCRBYFLOAT", "h", "g", "1e4932")
    d.run("HINCRBYFLOAT", "h", "k", "10.5")
    d.run("HINCRBYFLOAT", "h", "k", "0.1")
    d.run("HINCRBYFLOAT", "h", "k", "1.7976931348623157e308")
    d.run("HGET", "h", "k")


def test_encodings(proto_diff):
    d = proto_diff
    cfg = Config(d, hash_max_listpack_entries=4)
    try:
        steps = [("HSET", "h", "a", "1"), ("HSET", "h", "b", "x" * 64),
                 ("HSET", "h", "c", "3", "d", "4"), ("HSET", "h", "e", "5"),
                 ("HDEL", "h", "a", "b", "c", "d"),
                 ("HSET", "v", "f", "v"), ("HSETNX", "v", "f", LONG), ("HGET", "v", LONG),
                 ("HDEL", "v", LONG), ("HEXISTS", "v", LONG), ("HINCRBY", "v", LONG, "1"),
                 ("HSET", "w", "f", "v"), ("HINCRBYFLOAT", "w", LONG, "1.5"),
                 ("HSET", "x", "f", "v"), ("HSET", "x", "g", "v", "f", LONG),
                 ("HSET", "y", LONG, "v"), ("HMSET", "z", "a", "1", "b", LONG),
                 ("HSET", "u", "f", "1e400"), ("HINCRBYFLOAT", "u", "f", "1"),
                 ("HSETNX", "t", "f", LONG), ("COPY", "x", "x2")]
        for cmd in steps:
            d.run(*cmd)
            for key in ("h", "v", "w", "x", "x2", "y", "z", "u", "t"):
                d.run("OBJECT", "ENCODING", key)
        d.run("HGETALL", "h", normalize=norm_unordered_pairs)
        d.run("CONFIG", "SET", "hash-max-ziplist-value", "3")
        d.run("HSET", "small", "a", "1234")
        d.run("OBJECT", "ENCODING", "small")
    finally:
        cfg.restore()


def test_listpack_order_is_insertion_order(proto_diff):
    d = proto_diff
    d.run("HSET", "h", "z", "1", "a", "2", "m", "3")
    d.run("HDEL", "h", "a")
    d.run("HSET", "h", "a", "4", "z", "5")
    for cmd in ("HKEYS", "HVALS", "HGETALL"):
        d.run(cmd, "h")
    d.run("HSCAN", "h", "0", normalize=False)
    d.run("HSCAN", "h", "0", "MATCH", "[am]", "COUNT", "1", normalize=False)
    d.run("HRANDFIELD", "h", "10", "WITHVALUES")
    d.run("HRANDFIELD", "h", "3")


def test_hashtable_order_is_unspecified(proto_diff):
    d = proto_diff
    pairs = [x for i in range(600) for x in (f"f{i}", str(i))]
    d.run("HSET", "big", *pairs)
    d.run("OBJECT", "ENCODING", "big")
    d.run("HKEYS", "big", normalize=norm_unordered)
    d.run("HVALS", "big", normalize=norm_unordered)
    d.run("HGETALL", "big", normalize=norm_unordered_pairs)
    d.run("HRANDFIELD", "big", "600", normalize=norm_unordered)
    d.run("HRANDFIELD", "big", "1000", "WITHVALUES", normalize=norm_unordered_pairs)


def test_hscan(proto_diff):
    d = proto_diff
    d.run("HSET", "small", "a", "1", "b", "2")
    for cmd in (("HSCAN", "small", "0"), ("HSCAN", "small", "123"),
                ("HSCAN", "small", "0", "COUNT", "1"), ("HSCAN", "small", "0", "MATCH", "b"),
                ("HSCAN", "small", "0", "COUNT", "0"), ("HSCAN", "small", "0", "TYPE", "hash"),
                ("HSCAN", "small", "0", "MATCH"), ("HSCAN", "small", "x"),
                ("HSCAN", "small", "-1"), ("HSCAN", "nokey", "0"),
                ("HSCAN", "nokey", "0", "COUNT", "0"), ("HSCAN", "nokey", "x"),
                ("HSCAN", "small", "0", "count", "2", "match", "*")):
        d.run(*cmd, normalize=False)
    d.run("HSET", "big", *[x for i in range(700) for x in (f"f{i}", str(i))])
    for opts in ((), ("COUNT", "7"), ("MATCH", "f1*"), ("MATCH", "f1*", "COUNT", "1000")):
        assert scan_all(d.rk, "HSCAN", "big", *opts, pairs=True) == \
            scan_all(d.rd, "HSCAN", "big", *opts, pairs=True)
    d.run("HSCAN", "big", "0", "COUNT", "1000")


def test_hrandfield(proto_diff):
    d = proto_diff
    d.run("HSET", "h", "a", "1", "b", "2", "c", "3")
    fields = {b"a": b"1", b"b": b"2", b"c": b"3"}
    for cmd in (("HRANDFIELD", "h"), ("HRANDFIELD", "h", "1"), ("HRANDFIELD", "h", "2"),
                ("HRANDFIELD", "h", "-5"), ("HRANDFIELD", "h", "2", "WITHVALUES"),
                ("HRANDFIELD", "h", "-5", "WITHVALUES"), ("HRANDFIELD", "h", "-1", "withvalues")):
        reply = d.run(*cmd, normalize=norm_random).redkeep
        got = elements(reply)
        flat = [x for item in (got if isinstance(got, list) else [got])
                for x in (item if isinstance(item, list) else [item])]
        assert set(flat) <= set(fields) | set(fields.values())
    for cmd in (("HRANDFIELD", "h", "0"), ("HRANDFIELD", "h", "0", "WITHVALUES"),
                ("HRANDFIELD", "h", "3"), ("HRANDFIELD", "nokey"), ("HRANDFIELD", "nokey", "3"),
                ("HRANDFIELD", "nokey", "-3", "WITHVALUES"), ("HRANDFIELD", "h", "x"),
                ("HRANDFIELD", "h", "1", "x"), ("HRANDFIELD", "h", "1", "WITHVALUES", "x"),
                ("HRANDFIELD", "h", "-9223372036854775808"),
                ("HRANDFIELD", "h", "9223372036854775808"),
                ("HRANDFIELD", "h", "-4611686018427387904", "WITHVALUES"),
                ("HRANDFIELD", "h", "4611686018427387904", "WITHVALUES"),
                ("HRANDFIELD", "nokey", "-9223372036854775807", "WITHVALUES")):
        d.run(*cmd)
    d.run("HSET", "big", *[x for i in range(100) for x in (f"f{i}", str(i))])
    for count in ("5", "40", "99", "-300"):
        reply = d.run("HRANDFIELD", "big", count, normalize=norm_random).redkeep
        got = elements(reply)
        assert len(got) == abs(int(count))
        if int(count) > 0:
            assert len(set(got)) == len(got)


def test_events_and_dirty(diff):
    d = diff
    ev = Events(d)
    try:
        script = [("HSET", "h", "a", "1", "b", "2", "a", "3"), ("HMSET", "h", "c", "1"),
                  ("HSETNX", "h", "a", "1"), ("HSETNX", "h", "z", "1"),
                  ("HINCRBY", "h", "n", "2"), ("HINCRBY", "h", "a", "x"),
                  ("HINCRBYFLOAT", "h", "f", "1.5"), ("HINCRBYFLOAT", "h", "f", "inf"),
                  ("HDEL", "h", "zz"), ("HDEL", "h", "a", "b", "zz"), ("HGET", "h", "c"),
                  ("HDEL", "h", "c", "z", "n", "f"), ("EXISTS", "h"),
                  ("HINCRBYFLOAT", "new", "f", "1"), ("HINCRBY", "new2", "f", "1"),
                  ("HSETNX", "new3", "f", "1"), ("HSET", "new4", "f", "1")]
        for cmd in script:
            run_checked(d, *cmd)
        rk, rd = ev.take()
        assert rk == rd
        assert len(rd) > 20
    finally:
        ev.close()
