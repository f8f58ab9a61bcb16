"""Unit tests for the sorted set type (server/types/zset.py) and commands
(server/commands/zsets.py): a Server with a ManualClock, commands through
`Server.execute`, no sockets. The byte-exact comparison with real Redis lives in
tests/interop/test_differential_zsets.py; these pin the rules down in isolation."""

from __future__ import annotations

import copy
import math
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redkeep.resp.types import Double, ErrorReply, NullArray
from redkeep.server.blocking import BLOCKED
from redkeep.server.commands.lists import parse_timeout_ms
from redkeep.server.commands.zsets import parse_score, parse_score_bound, strtod
from redkeep.server.errors import CommandError
from redkeep.server.types.zset import ZSet, listpack_score_text

from .containers_harness import Harness


@pytest.fixture
def r() -> Harness:
    return Harness()


def plain(x: object) -> object:
    """A reply with Doubles as floats (Double has no equality of its own)."""
    if isinstance(x, Double):
        return x.value
    if isinstance(x, list):
        return [plain(y) for y in x]
    return x


def scores_of(reply: list) -> list:
    """A RESP2 WITHSCORES reply as [(member, float score)]."""
    return [(reply[i], reply[i + 1].value) for i in range(0, len(reply), 2)]


# ---- The type ----

def test_zset_keeps_dict_and_order_in_step():
    zs = ZSet()
    zs.add_new(b"b", 2.0, 128, 64)
    zs.add_new(b"a", 2.0, 128, 64)
    zs.add_new(b"c", -1.0, 128, 64)
    assert list(zs.ordered_members()) == [b"c", b"a", b"b"]
    zs.set_score(b"c", 5.0)
    assert list(zs.ordered_items()) == [(b"a", 2.0), (b"b", 2.0), (b"c", 5.0)]
    assert zs.rank(b"c") == 2 and zs.rank(b"nope") is None
    assert zs.remove(b"a") and not zs.remove(b"a")
    assert list(zs.order) == [(2.0, b"b"), (5.0, b"c")]
    assert zs.pop_end(True) == (b"c", 5.0) and zs.pop_end(False) == (b"b", 2.0)
    assert not zs and not zs.order


def test_zset_dict_methods_route_through_the_order():
    zs = ZSet()
    zs[b"x"] = 3.0
    zs[b"y"] = 1.0
    zs[b"x"] = 0.5
    zs.update({b"z": 2.0})
    assert list(zs.ordered_members()) == [b"x", b"y", b"z"]
    del zs[b"y"]
    assert zs.pop(b"z") == 2.0 and zs.pop(b"nope", None) is None
    assert list(zs.order) == [(0.5, b"x")]
    with pytest.raises(KeyError):
        del zs[b"nope"]
    zs.clear()
    assert not zs.order


def test_zset_copies_keep_encoding_and_are_independent():
    zs = ZSet([(b"a", 1.0), (b"b", 2.0)], skiplist=True)
    for dup in (zs.copy(), copy.copy(zs), copy.deepcopy(zs), pickle.loads(pickle.dumps(zs))):
        assert type(dup) is ZSet and dup == zs and dup.skiplist
        dup.add_new(b"c", 0.0, 128, 64)
        assert b"c" not in zs and len(zs.order) == 2


def test_zset_encoding_rules():
    zs = ZSet.for_first_member(b"a", 3, 5)
    assert zs.encoding() == "listpack"
    for i, m in enumerate((b"a", b"b", b"c")):
        zs.add_new(m, i, 3, 5)
    assert zs.encoding() == "listpack"
    zs.add_new(b"d", 9, 3, 5)
    assert zs.encoding() == "skiplist"
    zs.remove(b"d")
    zs.remove(b"c")
    assert zs.encoding() == "skiplist"                  # never back on removals
    zs.shrink_if_small(3, 5)                            # ... only for *STORE results
    assert zs.encoding() == "listpack"
    long = ZSet.for_first_member(b"123456", 3, 5)
    assert long.encoding() == "skiplist"
    assert ZSet.for_first_member(b"a", 0, 5).encoding() == "skiplist"
    small = ZSet.for_first_member(b"a", 3, 5)
    small.add_new(b"123456", 1, 3, 5)
    assert small.encoding() == "skiplist"


def test_listpack_stores_negative_zero_as_zero():
    lp = ZSet()
    lp.add_new(b"a", -0.0, 128, 64)
    assert math.copysign(1, lp[b"a"]) == 1
    sk = ZSet(skiplist=True)
    sk.add_new(b"a", -0.0, 128, 64)
    assert math.copysign(1, sk[b"a"]) == -1
    sk.shrink_if_small(128, 64)
    assert math.copysign(1, sk[b"a"]) == 1 and list(sk.order) == [(0.0, b"a")]


def test_listpack_score_text():
    assert listpack_score_text(3.0) == b"3"
    assert listpack_score_text(123456789012345678.0) == b"123456789012345680"
    assert listpack_score_text(1e20) == b"1e+20"
    assert listpack_score_text(1.5) == b"1.5"
    assert listpack_score_text(math.inf) == b"inf"
    assert listpack_score_text(-math.inf) == b"-inf"


def test_score_span_bounds():
    zs = ZSet([(b"a", -math.inf), (b"b", 0.0), (b"c", 1.0), (b"d", 1.0), (b"e", math.inf)])
    assert zs.score_span(1.0, False, 1.0, False) == (2, 4)
    assert zs.score_span(1.0, True, math.inf, False) == (4, 5)
    assert zs.score_span(-math.inf, True, math.inf, True) == (1, 4)
    assert zs.score_span(math.inf, True, math.inf, False) == (5, 5)
    assert zs.score_span(-0.0, True, 1.0, True) == (2, 2)
    assert zs.score_span(2.0, False, 1.0, False) == (4, 4)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["add", "remove", "set"]),
                          st.binary(max_size=3), st.floats(allow_nan=False)), max_size=60))
def test_zset_against_a_model(ops):
    zs, model = ZSet(skiplist=True), {}
    for op, member, score in ops:
        if op == "add" and member not in model:
            zs.add_new(member, score, 128, 64)
            model[member] = score
        elif op == "set" and member in model:
            zs.set_score(member, score)
            model[member] = score
        elif op == "remove":
            assert zs.remove(member) == (model.pop(member, None) is not None)
    expected = sorted((s, m) for m, s in model.items())
    assert list(zs.order) == expected and dict(zs) == model
    for i, (_, m) in enumerate(expected):
        assert zs.rank(m) == i


# ---- Numbers ----

@pytest.mark.parametrize("text,value", [
    (b"1", 1.0), (b"-1.5", -1.5), (b".5", 0.5), (b"5.", 5.0), (b"1e5", 1e5), (b"0x10", 16.0),
    (b"0X1p3", 8.0), (b"0x.8", 0.5), (b"inf", math.inf), (b"-Infinity", -math.inf),
    (b"+inf", math.inf), (b"1e-320", 1e-320), (b"-0", -0.0),
])
def test_parse_score_accepts(text, value):
    assert parse_score(text) == value


@pytest.mark.parametrize("text", [
    b"", b" 1", b"1 ", b"\t1", b"nan", b"-nan", b"1e400", b"-1e400", b"1e-400", b"0x", b"1e",
    b"1_0", b"infinit", b"0x1p", b"x", b"+", b".", b"0x1p99999",
])
def test_parse_score_refuses(text):
    with pytest.raises(CommandError) as e:
        parse_score(text)
    assert e.value.message == "ERR value is not a valid float"


def test_strtod_erange():
    assert strtod(b"1e400") == (math.inf, True)
    assert strtod(b"1e-400") == (0.0, True)
    assert strtod(b"0e-400") == (0.0, False)
    assert strtod(b"inf") == (math.inf, False)
    assert strtod(b"1x") is None


@pytest.mark.parametrize("text,bound", [
    (b"1", (1.0, False)), (b"(1", (1.0, True)), (b"", (0.0, False)), (b"(", (0.0, True)),
    (b" 1", (1.0, False)), (b"( 1", (1.0, True)), (b"1e400", (math.inf, False)),
    (b"1e-400", (0.0, False)), (b"-inf", (-math.inf, False)), (b"(+inf", (math.inf, True)),
])
def test_score_bounds(text, bound):
    assert parse_score_bound(text) == bound


@pytest.mark.parametrize("text", [b"x", b"1 ", b"nan", b"((1", b"  ", b"(nan", b"[1"])
def test_score_bounds_refused(text):
    with pytest.raises(CommandError) as e:
        parse_score_bound(text)
    assert e.value.message == "ERR min or max is not a float"


@pytest.mark.parametrize("text,ms", [
    (b"0", 0), (b"1", 1000), (b"0.0001", 1), (b"1e-400", 1), (b"-0.0001", 0), (b"0x10", 16000),
    (b"2.5", 2500),
])
def test_timeouts(text, ms):
    assert parse_timeout_ms(text) == ms


@pytest.mark.parametrize("text,message", [
    (b"-1", "ERR timeout is negative"), (b"inf", "ERR timeout is negative"),
    (b"1e30", "ERR timeout is negative"), (b"x", "ERR timeout is not a float or out of range"),
    (b" 1", "ERR timeout is not a float or out of range"),
    (b"nan", "ERR timeout is not a float or out of range"),
])
def test_timeouts_refused(text, message):
    with pytest.raises(CommandError) as e:
        parse_timeout_ms(text)
    assert e.value.message == message


# ---- ZADD / ZINCRBY ----

def test_zadd_replies_and_flags(r):
    assert r("ZADD", "z", 1, "a", 2, "b") == 2
    assert r("ZADD", "z", "CH", 1, "a", 3, "b", 4, "c") == 2
    assert r("ZADD", "z", "NX", 9, "a", 9, "d") == 1
    assert r("ZADD", "z", "XX", "CH", 9, "a", 9, "e") == 1
    assert r("ZADD", "z", "GT", "CH", 1, "a", 10, "b") == 1
    assert r("ZADD", "z", "LT", "CH", 100, "a", 1, "b") == 1
    assert scores_of(r("ZRANGE", "z", 0, -1, "WITHSCORES")) == [
        (b"b", 1.0), (b"c", 4.0), (b"a", 9.0), (b"d", 9.0)]
    assert r("ZADD", "z", "INCR", 1.5, "a").value == 10.5
    assert r("ZADD", "z", "NX", "INCR", 1, "a") is None
    assert r("ZINCRBY", "z", -0.5, "a").value == 10.0
    assert r("ZADD", "nokey", "XX", 1, "a") == 0 and r("EXISTS", "nokey") == 0


@pytest.mark.parametrize("args,message", [
    (("1", "a", "2"), "ERR syntax error"),
    (("NX", "XX", "1", "a"), "ERR XX and NX options at the same time are not compatible"),
    (("GT", "LT", "1", "a"), "ERR GT, LT, and/or NX options at the same time are not compatible"),
    (("INCR", "1", "a", "2", "b"), "ERR INCR option supports a single increment-element pair"),
    (("nan", "a"), "ERR value is not a valid float"),
])
def test_zadd_errors(r, args, message):
    assert r("ZADD", "z", *args) == ErrorReply(message)


def test_zincrby_nan(r):
    r("ZADD", "z", "inf", "a")
    assert r("ZINCRBY", "z", "-inf", "a") == ErrorReply(
        "ERR resulting score is not a number (NaN)")
    assert r("ZSCORE", "z", "a").value == math.inf


def test_zadd_wrongtype_after_scores(r):
    r("SET", "s", "x")
    assert r("ZADD", "s", "x", "a") == ErrorReply("ERR value is not a valid float")
    assert r("ZADD", "s", "1", "a").message.startswith("WRONGTYPE")


def test_zadd_encoding_follows_config():
    r = Harness(zset_max_listpack_entries=2, zset_max_listpack_value=4)
    r("ZADD", "z", 1, "a", 2, "b")
    assert r("OBJECT", "ENCODING", "z") == b"listpack"
    r("ZADD", "z", 3, "c")
    assert r("OBJECT", "ENCODING", "z") == b"skiplist"
    r("ZADD", "long", 1, "abcde")
    assert r("OBJECT", "ENCODING", "long") == b"skiplist"


# ---- Reads and ranges ----

@pytest.fixture
def letters(r) -> Harness:
    r("ZADD", "z", *[x for i in range(6) for x in (i, chr(97 + i))])
    return r


def test_ranks_and_scores(letters):
    r = letters
    assert r("ZRANGE", "z", 1, 2) == [b"b", b"c"]
    assert r("ZRANGE", "z", -2, 100) == [b"e", b"f"]
    assert r("ZREVRANGE", "z", 0, 1) == [b"f", b"e"]
    assert r("ZRANGE", "z", 0, 1, "REV") == [b"f", b"e"]
    assert r("ZRANGE", "z", 4, 1) == []
    assert r("ZRANK", "z", "c") == 2 and r("ZREVRANK", "z", "c") == 3
    assert r("ZRANK", "z", "nope") is None and r("ZRANK", "nokey", "a") is None
    assert r("ZSCORE", "z", "f").value == 5.0 and r("ZSCORE", "z", "x") is None
    assert [x if x is None else x.value for x in r("ZMSCORE", "z", "a", "x")] == [0.0, None]
    assert r("ZMSCORE", "nokey", "a") == [None]
    assert r("ZCARD", "z") == 6 and r("ZCARD", "nokey") == 0


def test_score_ranges_and_limit(letters):
    r = letters
    assert r("ZRANGEBYSCORE", "z", "(1", 3) == [b"c", b"d"]
    assert r("ZREVRANGEBYSCORE", "z", "+inf", "(3") == [b"f", b"e"]
    assert r("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", 1, 2) == [b"b", b"c"]
    assert r("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", -1, 2) == []
    assert r("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", 4, -1) == [b"e", b"f"]
    assert r("ZRANGE", "z", 4, 1, "BYSCORE", "REV", "LIMIT", 1, 2) == [b"d", b"c"]
    assert r("ZCOUNT", "z", "(0", 2) == 2
    assert r("ZRANGEBYSCORE", "z", "x", 1) == ErrorReply("ERR min or max is not a float")
    assert r("ZRANGE", "z", 0, 1, "LIMIT", 0, 1) == ErrorReply(
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
    assert r("ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES") == ErrorReply(
        "ERR syntax error, WITHSCORES not supported in combination with BYLEX")


def test_withscores_shapes(letters):
    r = letters
    assert r.resp2("ZRANGE", "z", 0, 0, "WITHSCORES") == b"*2\r\n$1\r\na\r\n$1\r\n0\r\n"
    assert r.resp3("ZRANGE", "z", 0, 0, "WITHSCORES") == b"*1\r\n*2\r\n$1\r\na\r\n,0\r\n"
    assert r.resp3("ZPOPMIN", "z") == b"*2\r\n$1\r\na\r\n,0\r\n"
    assert r.resp3("ZPOPMIN", "z", 1) == b"*1\r\n*2\r\n$1\r\nb\r\n,1\r\n"
    assert r.resp2("ZPOPMIN", "z", 1) == b"*2\r\n$1\r\nc\r\n$1\r\n2\r\n"
    assert r.resp3("ZSCORE", "z", "nope") == b"_\r\n"
    assert r.resp3("ZINCRBY", "z", "0.1", "d") == b",3.1000000000000001\r\n"


def test_lex_ranges(r):
    r("ZADD", "z", *[x for m in ("a", "b", "c", "d") for x in (0, m)])
    assert r("ZRANGEBYLEX", "z", "[b", "(d") == [b"b", b"c"]
    assert r("ZREVRANGEBYLEX", "z", "+", "(b") == [b"d", b"c"]
    assert r("ZRANGEBYLEX", "z", "-", "+", "LIMIT", 1, 2) == [b"b", b"c"]
    assert r("ZLEXCOUNT", "z", "(a", "[c") == 2
    assert r("ZRANGEBYLEX", "z", "b", "+") == ErrorReply(
        "ERR min or max not valid string range item")
    assert r("ZREMRANGEBYLEX", "z", "[b", "[c") == 2
    assert r("ZRANGE", "z", 0, -1) == [b"a", b"d"]


def test_lex_on_listpack_walks_linearly(r):
    """Members out of lexicographic order: on a listpack Redis checks the last and first
    member against the range, then walks linearly and stops at the first member out of
    range (zzlFirstInLexRange and the emit loop). Answers checked on redis 7.0.15."""
    r("ZADD", "z", 1, "d", 2, "a", 3, "c", 4, "b")
    assert r("ZRANGEBYLEX", "z", "[a", "[c") == []        # the first member, d, is > c
    assert r("ZRANGEBYLEX", "z", "[b", "+") == [b"d", b"a", b"c", b"b"]
    assert r("ZRANGEBYLEX", "z", "[c", "+") == []         # the last member, b, is < c
    assert r("ZRANGEBYLEX", "z", "[a", "[d") == [b"d", b"a", b"c", b"b"]
    assert r("ZLEXCOUNT", "z", "[a", "[d") == 4
    assert r("ZREVRANGEBYLEX", "z", "+", "[b") == [b"b", b"c"]   # stops at a


# ---- Writes ----

def test_zrangestore_encoding_and_empty_result():
    r = Harness(zset_max_listpack_entries=3)
    r("ZADD", "z", *[x for i in range(5) for x in (i, f"m{i}")])
    assert r("ZRANGESTORE", "d", "z", 0, 2) == 3
    assert r("OBJECT", "ENCODING", "d") == b"listpack"
    assert r("ZRANGESTORE", "d", "z", 0, 3) == 4
    assert r("OBJECT", "ENCODING", "d") == b"skiplist"
    assert r("ZRANGESTORE", "d", "z", 10, 20) == 0 and r("EXISTS", "d") == 0


def test_remrange_and_emptied_keys(letters):
    r = letters
    events = r.capture_events()
    assert r("ZREMRANGEBYRANK", "z", 0, 1) == 2
    assert r("ZREMRANGEBYSCORE", "z", "(2", 3) == 1
    assert r("ZREM", "z", "c", "e", "f", "nope") == 3
    assert r("EXISTS", "z") == 0
    assert events == [("zremrangebyrank", b"z"), ("zremrangebyscore", b"z"),
                      ("zrem", b"z"), ("del", b"z")]


def test_events_and_dirty(r):
    events = r.capture_events()
    before = r.dirty
    r("ZADD", "z", 1, "a", 2, "b")
    r("ZADD", "z", 1, "a")                     # nothing changed: no event, no dirty
    r("ZINCRBY", "z", 1, "a")
    r("ZPOPMAX", "z", 5)
    assert r.dirty - before == 2 + 1 + 2
    assert r.take_events() == [("new", b"z"), ("zadd", b"z"), ("zincr", b"z"),
                               ("zpopmax", b"z"), ("del", b"z")]
    r("ZADD", "a", 1, "x")
    r.take_events()
    r("ZUNIONSTORE", "u", 2, "a", "nokey")
    r("ZINTERSTORE", "u", 2, "a", "nokey")
    assert events == [("new", b"u"), ("zunionstore", b"u"), ("del", b"u")]


def test_watch_is_invalidated(r):
    other = r.server.new_client()
    r("ZADD", "z", 1, "a")
    r("WATCH", "z")
    r.server.execute(other, [b"ZINCRBY", b"z", b"1", b"a"])
    r("MULTI")
    r("ZCARD", "z")
    assert r("EXEC") is NullArray


# ---- Pops ----

def test_pops(letters):
    r = letters
    assert plain(r("ZPOPMIN", "z")) == [b"a", 0.0]
    assert scores_of(r("ZPOPMAX", "z", 2)) == [(b"f", 5.0), (b"e", 4.0)]
    assert r("ZPOPMIN", "z", 0) == [] and r("ZPOPMIN", "nokey") == []
    assert r("ZPOPMIN", "z", -1) == ErrorReply("ERR value is out of range, must be positive")
    reply = r("ZMPOP", 2, "nokey", "z", "MIN", "COUNT", 10)
    assert reply[0] == b"z" and [m for m, _ in reply[1]] == [b"b", b"c", b"d"]
    assert r("ZMPOP", 1, "z", "MIN") is NullArray
    assert r("ZMPOP", 0, "z", "MIN") == ErrorReply("ERR numkeys should be greater than 0")
    assert r("ZMPOP", 1, "z", "MIN", "COUNT", 0) == ErrorReply(
        "ERR count should be greater than 0")


# ---- Set operations ----

def test_setops_with_sets_and_weights(r):
    r("ZADD", "z", 1, "a", 2, "b")
    r("SADD", "s", "b", "c")
    assert scores_of(r("ZUNION", 2, "z", "s", "WEIGHTS", 2, 10, "WITHSCORES")) == [
        (b"a", 2.0), (b"c", 10.0), (b"b", 14.0)]
    assert scores_of(r("ZINTER", 2, "z", "s", "AGGREGATE", "MAX", "WITHSCORES")) == [
        (b"b", 2.0)]
    assert r("ZDIFF", 2, "z", "s") == [b"a"]
    assert r("ZINTERCARD", 2, "z", "s") == 1
    assert r("ZINTERCARD", 1, "z", "LIMIT", 1) == 1
    assert r("ZUNION", 0, "z") == ErrorReply(
        "ERR at least 1 input key is needed for 'zunion' command")
    assert r("ZINTERCARD", 1, "z", "LIMIT", -1) == ErrorReply("ERR LIMIT can't be negative")
    assert r("ZUNION", 1, "z", "WEIGHTS", "x") == ErrorReply("ERR weight value is not a float")
    r("SET", "str", "x")
    assert r("ZUNION", 2, "z", "str").message.startswith("WRONGTYPE")


def test_setop_inf_minus_inf_is_zero(r):
    r("ZADD", "a", "inf", "x")
    r("ZADD", "b", "-inf", "x")
    assert scores_of(r("ZUNION", 2, "a", "b", "WITHSCORES")) == [(b"x", 0.0)]
    assert scores_of(r("ZINTER", 1, "a", "WEIGHTS", 0, "WITHSCORES")) == [(b"x", 0.0)]


def test_store_results_shrink_to_listpack():
    r = Harness(zset_max_listpack_entries=2)
    r("ZADD", "big", 1, "a", 2, "b", 3, "c")
    assert r("OBJECT", "ENCODING", "big") == b"skiplist"
    r("ZUNIONSTORE", "u", 1, "big")
    assert r("OBJECT", "ENCODING", "u") == b"skiplist"
    r("ZINTERSTORE", "i", 2, "big", "big", "WEIGHTS", 1, 1)
    r("ZDIFFSTORE", "d", 1, "big")
    r("ZADD", "small", 1, "a")
    r("ZUNIONSTORE", "u2", 1, "small")
    assert r("OBJECT", "ENCODING", "u2") == b"listpack"


# ---- ZRANDMEMBER ZSCAN ----

def test_zrandmember(letters):
    r = letters
    assert r("ZRANDMEMBER", "z", 100) == [b"f", b"e", b"d", b"c", b"b", b"a"]
    assert len(r("ZRANDMEMBER", "z", -20)) == 20
    picked = r("ZRANDMEMBER", "z", 3)
    assert len(set(picked)) == 3
    assert len(r("ZRANDMEMBER", "z", 2, "WITHSCORES")) == 4
    assert r("ZRANDMEMBER", "z") in {b"a", b"b", b"c", b"d", b"e", b"f"}
    assert r("ZRANDMEMBER", "nokey") is None and r("ZRANDMEMBER", "nokey", 5) == []
    assert r("ZRANDMEMBER", "z", "4611686018427387904", "WITHSCORES") == ErrorReply(
        "ERR value is out of range")
    assert r.resp3("ZRANDMEMBER", "z", 1, "WITHSCORES").startswith(b"*1\r\n*2\r\n")


def test_zscan_listpack_and_skiplist():
    r = Harness(zset_max_listpack_entries=3)
    r("ZADD", "small", 1.5, "a", 2, "b")
    assert r("ZSCAN", "small", 0, "COUNT", 1) == [b"0", [b"a", b"1.5", b"b", b"2"]]
    r("ZADD", "big", *[x for i in range(50) for x in (i, f"m{i}")])
    seen, cursor = {}, b"0"
    while True:
        cursor, batch = r("ZSCAN", "big", cursor, "COUNT", 7)
        seen.update(zip(batch[0::2], batch[1::2], strict=True))
        if cursor == b"0":
            break
    assert seen == {f"m{i}".encode(): str(i).encode() for i in range(50)}
    cursor, batch = r("ZSCAN", "big", 0, "MATCH", "m4?", "COUNT", 100)
    assert cursor == b"0" and sorted(batch[0::2]) == [f"m4{i}".encode() for i in range(10)]


# ---- Blocking ----

class Waiter:
    def __init__(self, r: Harness) -> None:
        self.r = r
        self.client = r.server.new_client()
        self.replies: list = []
        self.client.on_unblock = self.replies.append

    def __call__(self, *args: object) -> object:
        return self.r.server.execute(self.client, [str(a).encode() for a in args])


def test_bzpop_serves_immediately_or_blocks(r):
    r("ZADD", "z", 1, "a", 2, "b")
    assert plain(r("BZPOPMAX", "nokey", "z", 0)) == [b"z", b"b", 2.0]
    w = Waiter(r)
    assert w("BZPOPMIN", "q1", "q2", 0) is BLOCKED
    assert w.client.blocked is not None
    r("ZADD", "q2", 7, "x")
    r.server.blocking.serve_ready_keys()
    assert w.client.blocked is None
    assert plain(w.replies) == [[b"q2", b"x", 7.0]]
    assert r("EXISTS", "q2") == 0


def test_bzpop_waiters_are_served_in_order_and_skip_other_types(r):
    waiters = [Waiter(r) for _ in range(3)]
    for w in waiters:
        assert w("BZMPOP", 0, 2, "other", "q", "MIN") is BLOCKED
    r("SADD", "other", "x")                   # another type: nobody is served from it
    r.server.blocking.serve_ready_keys()
    assert all(w.client.blocked is not None for w in waiters)
    r("ZADD", "q", 1, "a", 2, "b")
    r.server.blocking.serve_ready_keys()
    assert [plain(w.replies) for w in waiters[:2]] == [[[b"q", [[b"a", 1.0]]]],
                                                       [[b"q", [[b"b", 2.0]]]]]
    assert waiters[2].client.blocked is not None and waiters[2].replies == []


def test_bzpop_timeout_and_no_blocking_in_exec(r):
    w = Waiter(r)
    assert w("BZPOPMIN", "q", "0.5") is BLOCKED
    assert w.client.blocked.deadline_ms == r.clock.monotonic_ms() + 500
    r.clock.advance(500)
    for c in r.server.blocking.expired_deadlines(r.clock.monotonic_ms()):
        r.server.blocking.timeout(c)
    assert w.replies == [NullArray]
    w("MULTI")
    w("BZPOPMIN", "q", "0")
    w("BZMPOP", "0", "1", "q", "MAX")
    assert w("EXEC") == [NullArray, NullArray]
    assert w.client.blocked is None
