"""Unit tests for the list type and commands (server/types/list.py, commands/lists.py),
including the blocking commands on the blocking core with a ManualClock: a Server,
commands through `Server.execute`, blocked clients answered through `on_unblock`."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redkeep.resp.types import ErrorReply, NullArray
from redkeep.server.blocking import BLOCKED
from redkeep.server.commands.lists import parse_timeout_ms
from redkeep.server.errors import CommandError
from redkeep.server.types.list import HEAD, TAIL, List

from .containers_harness import Harness, b

WRONGTYPE = ErrorReply("WRONGTYPE Operation against a key holding the wrong kind of value")
NOT_INTEGER = ErrorReply("ERR value is not an integer or out of range")
SYNTAX = ErrorReply("ERR syntax error")


@pytest.fixture
def r() -> Harness:
    return Harness()


def items(r: Harness, key: str) -> list[bytes]:
    return r("LRANGE", key, 0, -1)


# ---- Push, pop, length ----

def test_push_and_pop(r):
    assert r("RPUSH", "l", "a", "b", "c") == 3
    assert r("LPUSH", "l", "x", "y") == 5
    assert items(r, "l") == [b"y", b"x", b"a", b"b", b"c"]
    assert r("LLEN", "l") == 5
    assert r("LLEN", "nokey") == 0
    assert r("LPOP", "l") == b"y"
    assert r("RPOP", "l") == b"c"
    assert r("LPOP", "l", 2) == [b"x", b"a"]
    assert r("RPOP", "l", 5) == [b"b"]
    assert r("EXISTS", "l") == 0


def test_pushx_needs_an_existing_list(r):
    assert r("LPUSHX", "l", "a") == 0
    assert r("RPUSHX", "l", "a", "b") == 0
    assert r("EXISTS", "l") == 0
    r("RPUSH", "l", "m")
    assert r("LPUSHX", "l", "a", "b") == 3
    assert r("RPUSHX", "l", "z") == 4
    assert items(r, "l") == [b"b", b"a", b"m", b"z"]


def test_pop_count_shapes_in_both_protocols(r):
    assert r.resp2("LPOP", "nokey") == b"$-1\r\n"
    assert r.resp3("LPOP", "nokey") == b"_\r\n"
    assert r.resp2("LPOP", "nokey", 1) == b"*-1\r\n"
    assert r.resp3("LPOP", "nokey", 0) == b"_\r\n"
    r("RPUSH", "l", "a")
    assert r.resp2("LPOP", "l", 0) == b"*0\r\n"
    assert r.resp2("RPOP", "l", 1) == b"*1\r\n$1\r\na\r\n"


def test_pop_argument_errors(r):
    r("RPUSH", "l", "a")
    out_of_range = ErrorReply("ERR value is out of range, must be positive")
    assert r("LPOP", "l", -1) == out_of_range
    assert r("LPOP", "nokey", "x") == out_of_range
    assert r("LPOP", "l", 1, 2) == ErrorReply("ERR wrong number of arguments for 'lpop' command")
    r("SET", "s", "v")
    assert r("LPOP", "s") == WRONGTYPE
    assert r("LPOP", "s", 0) == WRONGTYPE


def test_wrongtype_everywhere(r):
    r("SET", "s", "v")
    r("RPUSH", "l", "a")
    for cmd in (("LPUSH", "s", "a"), ("RPUSHX", "s", "a"), ("LLEN", "s"), ("LRANGE", "s", 0, 1),
                ("LINDEX", "s", 0), ("LSET", "s", 0, "x"), ("LINSERT", "s", "BEFORE", "a", "b"),
                ("LREM", "s", 0, "a"), ("LTRIM", "s", 0, 1), ("LPOS", "s", "a"),
                ("RPOPLPUSH", "s", "l"), ("RPOPLPUSH", "l", "s"), ("LMOVE", "l", "s", "LEFT",
                                                                   "LEFT"),
                ("LMPOP", 2, "nokey", "s", "LEFT"), ("BLPOP", "nokey", "s", 0),
                ("BLMOVE", "s", "l", "LEFT", "LEFT", 0), ("BLMOVE", "l", "s", "LEFT", "LEFT", 0)):
        assert r(*cmd) == WRONGTYPE, cmd
    assert items(r, "l") == [b"a"]          # a failed move pops nothing


# ---- Ranges and positions ----

def test_lrange_clamping(r):
    r("RPUSH", "l", *"abcde")
    assert r("LRANGE", "l", 1, 3) == [b"b", b"c", b"d"]
    assert r("LRANGE", "l", -2, -1) == [b"d", b"e"]
    assert r("LRANGE", "l", -100, 1) == [b"a", b"b"]
    assert r("LRANGE", "l", 3, 1) == []
    assert r("LRANGE", "l", 5, 10) == []
    assert r("LRANGE", "l", 2, 100) == [b"c", b"d", b"e"]
    assert r("LRANGE", "nokey", 0, -1) == []
    assert r("LRANGE", "nokey", "x", 1) == NOT_INTEGER     # indexes parsed first


def test_lindex_and_lset(r):
    r("RPUSH", "l", *"abc")
    assert r("LINDEX", "l", 0) == b"a"
    assert r("LINDEX", "l", -1) == b"c"
    assert r("LINDEX", "l", 3) is None
    assert r("LINDEX", "l", "x") == NOT_INTEGER
    assert r("LINDEX", "nokey", "x") is None               # key looked up first
    assert r("LSET", "l", -1, "z") == b"OK"
    assert r("LSET", "l", 3, "z") == ErrorReply("ERR index out of range")
    assert r("LSET", "nokey", 0, "z") == ErrorReply("ERR no such key")
    assert r("LSET", "l", "x", "z") == NOT_INTEGER
    assert items(r, "l") == [b"a", b"b", b"z"]


def test_linsert(r):
    assert r("LINSERT", "nokey", "BEFORE", "a", "x") == 0
    assert r("LINSERT", "nokey", "MIDDLE", "a", "x") == SYNTAX
    r("RPUSH", "l", "a", "b", "a")
    assert r("LINSERT", "l", "before", "a", "x") == 4
    assert r("LINSERT", "l", "AFTER", "b", "y") == 5
    assert r("LINSERT", "l", "AFTER", "zz", "y") == -1
    assert items(r, "l") == [b"x", b"a", b"b", b"y", b"a"]


def test_lrem(r):
    r("RPUSH", "l", *"abacada")
    assert r("LREM", "l", 2, "a") == 2
    assert items(r, "l") == list(map(b, "bcada"))
    assert r("LREM", "l", -1, "a") == 1
    assert items(r, "l") == list(map(b, "bcad"))
    assert r("LREM", "l", 0, "zz") == 0
    assert r("LREM", "l", "x", "a") == NOT_INTEGER
    assert r("LREM", "nokey", 0, "a") == 0
    r("RPUSH", "m", "q", "q")
    assert r("LREM", "m", 0, "q") == 2
    assert r("EXISTS", "m") == 0


def test_ltrim(r):
    r("RPUSH", "l", *"abcdef")
    assert r("LTRIM", "l", 1, -2) == b"OK"
    assert items(r, "l") == list(map(b, "bcde"))
    assert r("LTRIM", "l", 0, 100) == b"OK"
    assert items(r, "l") == list(map(b, "bcde"))
    assert r("LTRIM", "nokey", 0, 1) == b"OK"
    assert r("LTRIM", "l", "x", 1) == NOT_INTEGER
    assert r("LTRIM", "l", 3, 1) == b"OK"
    assert r("EXISTS", "l") == 0


def test_lpos(r):
    r("RPUSH", "l", *"abcabca")
    assert r("LPOS", "l", "a") == 0
    assert r("LPOS", "l", "a", "RANK", 2) == 3
    assert r("LPOS", "l", "a", "RANK", -1) == 6
    assert r("LPOS", "l", "a", "RANK", -2) == 3
    assert r("LPOS", "l", "a", "COUNT", 0) == [0, 3, 6]
    assert r("LPOS", "l", "a", "COUNT", 2, "RANK", -1) == [6, 3]
    assert r("LPOS", "l", "a", "MAXLEN", 3, "COUNT", 0) == [0]
    assert r("LPOS", "l", "a", "RANK", -1, "MAXLEN", 1) == 6
    assert r("LPOS", "l", "z") is None
    assert r("LPOS", "l", "z", "COUNT", 1) == []
    assert r("LPOS", "nokey", "z") is None
    assert r("LPOS", "nokey", "z", "COUNT", 1) == []
    assert r("LPOS", "l", "a", "RANK", -9223372036854775808) == 6      # C long wrap
    assert r("LPOS", "l", "a", "RANK", 0) == ErrorReply(
        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
        "or use negative to start from the end of the list")
    assert r("LPOS", "l", "a", "COUNT", -1) == ErrorReply("ERR COUNT can't be negative")
    assert r("LPOS", "l", "a", "COUNT", "x") == ErrorReply("ERR COUNT can't be negative")
    assert r("LPOS", "l", "a", "MAXLEN", -1) == ErrorReply("ERR MAXLEN can't be negative")
    assert r("LPOS", "l", "a", "RANK") == SYNTAX
    assert r("LPOS", "l", "a", "FOO", 1) == SYNTAX
    assert r("LPOS", "l", "a", "RANK", "x") == NOT_INTEGER


# ---- Moves and LMPOP ----

def test_moves(r):
    r("RPUSH", "src", "a", "b", "c")
    assert r("RPOPLPUSH", "src", "dst") == b"c"
    assert r("LMOVE", "src", "dst", "LEFT", "RIGHT") == b"a"
    assert items(r, "dst") == [b"c", b"a"]
    assert r("LMOVE", "src", "dst", "left", "UP") == SYNTAX
    assert r("RPOPLPUSH", "nokey", "dst") is None
    assert r("LMOVE", "src", "src", "LEFT", "RIGHT") == b"b"    # one element onto itself
    assert items(r, "src") == [b"b"]
    r("RPUSH", "rot", 1, 2, 3)
    assert r("RPOPLPUSH", "rot", "rot") == b"3"
    assert items(r, "rot") == [b"3", b"1", b"2"]
    assert r("LMOVE", "src", "dst", "RIGHT", "LEFT") == b"b"
    assert r("EXISTS", "src") == 0


def test_lmpop(r):
    r("RPUSH", "b", 1, 2, 3)
    assert r("LMPOP", 2, "a", "b", "LEFT") == [b"b", [b"1"]]
    assert r("LMPOP", 2, "a", "b", "RIGHT", "COUNT", 5) == [b"b", [b"3", b"2"]]
    assert r("LMPOP", 2, "a", "b", "RIGHT") is NullArray
    assert r.resp3("LMPOP", 1, "a", "LEFT") == b"_\r\n"
    numkeys = ErrorReply("ERR numkeys should be greater than 0")
    count = ErrorReply("ERR count should be greater than 0")
    assert r("LMPOP", 0, "a", "LEFT") == numkeys
    assert r("LMPOP", "x", "a", "LEFT") == numkeys
    assert r("LMPOP", 3, "a", "LEFT") == SYNTAX
    assert r("LMPOP", 1, "a", "UP") == SYNTAX
    assert r("LMPOP", 1, "a", "LEFT", "COUNT", 0) == count
    assert r("LMPOP", 1, "a", "LEFT", "COUNT", 1, "COUNT", 1) == SYNTAX
    assert r("LMPOP", 1, "a", "LEFT", "COUNT") == SYNTAX
    assert r("LMPOP", 9223372036854775807, "a", "LEFT") == SYNTAX


# ---- Type behaviour ----

def test_encoding_copy_and_sort_store(r):
    r("RPUSH", "l", "a", "b" * 10000)
    assert r("OBJECT", "ENCODING", "l") == b"quicklist"     # 7.0: always
    assert r("COPY", "l", "c") == 1
    r("RPUSH", "c", "z")
    assert r("LLEN", "l") == 2 and r("LLEN", "c") == 3
    assert r("TYPE", "l") == b"list"
    r("RPUSH", "n", 3, 1, 2)
    assert r("SORT", "n", "STORE", "sorted") == 3
    assert type(r.db.data[b"sorted"]) is List
    dup = copy.deepcopy(r.db.data[b"l"])
    assert type(dup) is List and dup == r.db.data[b"l"]


def test_events_and_dirty(r):
    events = r.capture_events()
    d0 = r.dirty
    r("RPUSH", "l", "a", "b", "c")
    r("LPUSH", "l", "z")
    r("LSET", "l", 0, "y")
    r("LINSERT", "l", "AFTER", "a", "q")
    r("LINSERT", "l", "AFTER", "nothere", "q")
    r("LREM", "l", 1, "q")
    r("LTRIM", "l", 0, -1)
    r("LMOVE", "l", "m", "LEFT", "RIGHT")
    r("LPOP", "l", 10)
    assert r.dirty - d0 == 3 + 1 + 1 + 1 + 1 + 0 + 1 + 3
    assert events == [("new", b"l"), ("rpush", b"l"), ("lpush", b"l"), ("lset", b"l"),
                      ("linsert", b"l"), ("lrem", b"l"), ("ltrim", b"l"), ("new", b"m"),
                      ("rpush", b"m"), ("lpop", b"l"), ("lpop", b"l"), ("del", b"l")]


def test_watch_is_touched_by_in_place_writes(r):
    r("RPUSH", "l", "a")
    r("WATCH", "l")
    r("RPUSH", "l", "b")
    r("MULTI")
    r("LLEN", "l")
    assert r("EXEC") is NullArray


# ---- Timeouts ----

@pytest.mark.parametrize("arg,ms", [
    ("0", 0), ("1", 1000), (".5", 500), ("0.0001", 1), ("-0.0001", 0), ("-0.001", 0),
    ("1e-400", 1), ("0x10", 16000), ("0x1p-20", 1), ("+1", 1000), ("5.", 5000),
    ("9223372036854775.807", 9223372036854775807),
])
def test_timeout_parsing(arg, ms):
    assert parse_timeout_ms(arg.encode()) == ms


@pytest.mark.parametrize("arg,error", [
    ("", "not a float"), (" 1", "not a float"), ("1 ", "not a float"), ("nan", "not a float"),
    ("1e5000", "not a float"), ("1e-5000", "not a float"), ("abc", "not a float"),
    ("-1", "negative"), ("-0.002", "negative"), ("inf", "negative"), ("1e16", "negative"),
    ("9223372036854775.808", "negative"), ("1e3000", "negative"),
])
def test_timeout_errors(arg, error):
    with pytest.raises(CommandError) as e:
        parse_timeout_ms(arg.encode())
    text = "ERR timeout is not a float or out of range" if error == "not a float" \
        else "ERR timeout is negative"
    assert e.value.message == text


def test_timeout_parsed_before_keys(r):
    r("SET", "s", "v")
    assert r("BLPOP", "s", -1) == ErrorReply("ERR timeout is negative")
    assert r("BLMOVE", "s", "d", "LEFT", "UP", "x") == SYNTAX


# ---- Blocking ----

class Waiter:
    """A second client whose blocked replies are collected."""

    def __init__(self, r: Harness) -> None:
        self.r = r
        self.client = r.server.new_client()
        self.replies: list[object] = []
        self.client.on_unblock = self.replies.append

    def __call__(self, *args: object) -> object:
        reply = self.r.server.execute(self.client, [b(a) for a in args])
        self.r.server.blocking.serve_ready_keys()
        return reply


def run(r: Harness, *args: object) -> object:
    """A command from the main client, then what the node does after each command."""
    reply = r(*args)
    r.server.blocking.serve_ready_keys()
    return reply


def test_fifo_service_in_arrival_order(r):
    waiters = [Waiter(r) for _ in range(20)]
    for w in waiters:
        assert w("BLPOP", "q", 0) is BLOCKED
    assert len(r.server.blocking.clients) == 20
    assert run(r, "RPUSH", "q", *range(15)) == 15       # the push reports the length
    assert [w.replies for w in waiters[:15]] == [[[b"q", b"%d" % i]] for i in range(15)]
    assert all(not w.replies for w in waiters[15:])
    assert r("EXISTS", "q") == 0
    assert len(r.server.blocking.clients) == 5
    run(r, "LPUSH", "q", "x")
    assert waiters[15].replies == [[b"q", b"x"]]


def test_served_from_the_key_that_became_ready(r):
    w = Waiter(r)
    assert w("BLPOP", "a", "b", 0) is BLOCKED
    r("MULTI")
    r("RPUSH", "b", "1")
    r("RPUSH", "a", "2")
    r("EXEC")
    r.server.blocking.serve_ready_keys()
    assert w.replies == [[b"b", b"1"]]          # Redis 7.0 serves from the ready key


def test_wrong_type_key_keeps_waiting(r):
    w = Waiter(r)
    assert w("BRPOP", "k", "other", 0) is BLOCKED
    run(r, "SADD", "k", "m")                    # a set appears at a waited key
    assert w.replies == [] and w.client.blocked is not None
    run(r, "RPUSH", "other", "x")
    assert w.replies == [[b"other", b"x"]]


def test_mixed_list_and_zset_waiters_keep_their_order(r):
    z1, l1, z2, l2 = Waiter(r), Waiter(r), Waiter(r), Waiter(r)
    assert z1("BZPOPMIN", "k", 0) is BLOCKED
    assert l1("BLPOP", "k", 0) is BLOCKED
    assert z2("BZPOPMIN", "k", 0) is BLOCKED
    assert l2("BLPOP", "k", 0) is BLOCKED
    run(r, "RPUSH", "k", "a", "b", "c")         # both list waiters served, zsets wait
    assert l1.replies == [[b"k", b"a"]] and l2.replies == [[b"k", b"b"]]
    assert z1.replies == z2.replies == []
    run(r, "DEL", "k")
    run(r, "ZADD", "k", 1, "m", 2, "n")
    assert [z1.replies[0][:2], z2.replies[0][:2]] == [[b"k", b"m"], [b"k", b"n"]]


def test_blmove_woken_with_wrongtype_destination(r):
    w = Waiter(r)
    assert w("BLMOVE", "src", "dst", "LEFT", "RIGHT", 0) is BLOCKED
    r("SET", "dst", "string")
    run(r, "RPUSH", "src", "e1", "e2")
    assert w.replies == [WRONGTYPE]
    assert w.client.blocked is None
    assert items(r, "src") == [b"e1", b"e2"]    # nothing moved
    assert r.server.errorstats.get("WRONGTYPE") == 1


def test_blmove_chain_wakes_the_next_waiter(r):
    mover, popper = Waiter(r), Waiter(r)
    assert mover("BLMOVE", "a", "b", "RIGHT", "LEFT", 0) is BLOCKED
    assert popper("BLPOP", "b", 0) is BLOCKED
    run(r, "RPUSH", "a", "x")
    assert mover.replies == [b"x"]
    assert popper.replies == [[b"b", b"x"]]
    assert r("EXISTS", "a") == 0 and r("EXISTS", "b") == 0


def test_blmpop_with_count_and_brpoplpush(r):
    w, m = Waiter(r), Waiter(r)
    assert w("BLMPOP", 0, 2, "a", "b", "RIGHT", "COUNT", 2) is BLOCKED
    assert m("BRPOPLPUSH", "c", "d", 0) is BLOCKED
    run(r, "RPUSH", "b", 1, 2, 3)
    assert w.replies == [[b"b", [b"3", b"2"]]]
    run(r, "RPUSH", "c", "v")
    assert m.replies == [b"v"] and items(r, "d") == [b"v"]


def test_no_blocking_inside_multi(r):
    r("MULTI")
    for cmd in (("BLPOP", "q", 0), ("BRPOP", "q", 0), ("BLMPOP", 0, 1, "q", "LEFT"),
                ("BLMOVE", "q", "d", "LEFT", "LEFT", 0), ("BRPOPLPUSH", "q", "d", 0)):
        r(*cmd)
    assert r("EXEC") == [NullArray, NullArray, NullArray, None, None]
    assert not r.server.blocking.clients


def test_served_immediately_when_data_exists(r):
    r("RPUSH", "q", "a", "b")
    assert r("BLPOP", "nokey", "q", 0) == [b"q", b"a"]
    assert r("BRPOP", "q", 0) == [b"q", b"b"]
    r("RPUSH", "q", "c")
    assert r("BLMOVE", "q", "d", "LEFT", "LEFT", 0) == b"c"


def test_timeouts_use_the_deadline(r):
    w = Waiter(r)
    start = r.clock.monotonic_ms()
    assert w("BLPOP", "q", "0.25") is BLOCKED
    blocking = r.server.blocking
    assert blocking.expired_deadlines(start + 249) == []
    assert blocking.expired_deadlines(start + 250) == [w.client]
    blocking.timeout(w.client)
    assert w.replies == [NullArray]
    m = Waiter(r)
    assert m("BLMOVE", "q", "d", "LEFT", "LEFT", "0.001") is BLOCKED
    assert m.client.blocked.deadline_ms == start + 1
    blocking.timeout(m.client)
    assert m.replies == [NullArray]             # 7.0: a null array for BLMOVE too


def test_disconnected_waiter_is_forgotten(r):
    gone, stays = Waiter(r), Waiter(r)
    assert gone("BLPOP", "q", 0) is BLOCKED
    assert stays("BLPOP", "q", 0) is BLOCKED
    r.server.free_client(gone.client)
    assert list(r.server.blocking.clients) == [stays.client.id]
    run(r, "RPUSH", "q", "a", "b")
    assert gone.replies == []
    assert stays.replies == [[b"q", b"a"]]
    assert items(r, "q") == [b"b"]
    assert b"q" not in r.db.blocked


def test_served_command_counted_once(r):
    w = Waiter(r)
    w("BLPOP", "q", 0)
    run(r, "RPUSH", "q", "a")
    assert r.server.table.lookup(b"blpop").calls == 1


def test_blocking_events_are_pops(r):
    w = Waiter(r)
    w("BLPOP", "q", 0)
    events = r.capture_events()
    run(r, "RPUSH", "q", "a")
    assert events == [("new", b"q"), ("rpush", b"q"), ("lpop", b"q"), ("del", b"q")]


# ---- The deque algorithms against a plain Python list ----

ELEMS = st.lists(st.sampled_from([b"a", b"b", b"c"]), max_size=12)
INDEX = st.integers(-15, 15)


@settings(max_examples=300, deadline=None)
@given(ELEMS, INDEX, INDEX)
def test_range_and_trim_model(elems, start, end):
    n = len(elems)
    s = max(start + n if start < 0 else start, 0)
    e = end + n if end < 0 else end
    expected = elems[s:e + 1] if s <= e and s < n else []
    lst = List(elems)
    assert lst.range(start, end) == expected
    removed = lst.trim(start, end)
    assert list(lst) == expected and removed == n - len(expected)


@settings(max_examples=300, deadline=None)
@given(ELEMS, st.integers(-4, 4))
def test_remove_model(elems, count):
    lst = List(elems)
    removed = lst.remove_matches(b"a", count)
    order = list(range(len(elems))) if count >= 0 else list(range(len(elems)))[::-1]
    drop = [i for i in order if elems[i] == b"a"][:abs(count) or None]
    assert removed == len(drop)
    assert list(lst) == [x for i, x in enumerate(elems) if i not in drop]


@settings(max_examples=300, deadline=None)
@given(ELEMS, st.integers(-4, 4).filter(bool), st.integers(0, 3), st.integers(0, 13))
def test_positions_model(elems, rank, count, maxlen):
    idx = list(range(len(elems)))
    if rank < 0:
        idx.reverse()
    if maxlen:
        idx = idx[:maxlen]
    matches = [i for i in idx if elems[i] == b"b"][abs(rank) - 1:]
    assert List(elems).positions(b"b", rank, count, maxlen) == matches[:count or None]


def test_pop_many_sides():
    lst = List([b"1", b"2", b"3"])
    assert lst.pop_many(TAIL, 2) == [b"3", b"2"]
    assert lst.pop_many(HEAD, 5) == [b"1"]
