"""Differential tests for the list commands against real redis-server 7.0: replies byte for
byte in RESP2 and RESP3, error texts and the order in which arguments are checked,
keyspace events, the dirty counter, blocking commands seen from two connections, and a
Hypothesis state machine mixing lists with strings, hashes and sets (WRONGTYPE paths)."""

from __future__ import annotations

import re

import pytest
from containers_diff import Events, run_checked
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from support.differential import DiffPair
from support.procs import wait_until
from support.resp import RawConn, encode_command

pytestmark = pytest.mark.interop


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def proto_diff(request, diff):
    diff.run("HELLO", request.param)
    return diff


def test_basic_replies(proto_diff):
    d = proto_diff
    for cmd in (("RPUSH", "l", "a", "b", "c", "1", "2", "3"), ("LPUSH", "l", "x", "y"),
                ("LPUSHX", "nokey", "a"), ("RPUSHX", "l", "z"), ("LLEN", "l"), ("LLEN", "nokey"),
                ("LRANGE", "l", "0", "-1"), ("LRANGE", "l", "-3", "100"), ("LRANGE", "l", "5", "2"),
                ("LRANGE", "l", "-100", "-50"), ("LRANGE", "nokey", "0", "-1"),
                ("LINDEX", "l", "0"), ("LINDEX", "l", "-1"), ("LINDEX", "l", "99"),
                ("LINDEX", "nokey", "0"), ("LSET", "l", "1", "X"), ("LSET", "l", "-1", "Z"),
                ("LINSERT", "l", "BEFORE", "a", "ins"), ("LINSERT", "l", "after", "3", "ins"),
                ("LINSERT", "l", "AFTER", "nothere", "q"), ("LINSERT", "nokey", "AFTER", "a", "q"),
                ("LREM", "l", "1", "ins"), ("LREM", "l", "-5", "ins"), ("LREM", "l", "0", "zz"),
                ("LTRIM", "l", "1", "-2"), ("LRANGE", "l", "0", "-1"), ("LPOP", "l"),
                ("RPOP", "l"), ("LPOP", "l", "2"), ("RPOP", "l", "0"), ("LPOP", "nokey"),
                ("LPOP", "nokey", "0"), ("LPOP", "nokey", "3"), ("RPOP", "l", "100"),
                ("EXISTS", "l"), ("RPUSH", "n", "007", "-0", "9223372036854775808", "1e3"),
                ("LRANGE", "n", "0", "-1"), ("LPOS", "n", "007"), ("LREM", "n", "0", "7"),
                ("LPUSH", "e", ""), ("LRANGE", "e", "0", "-1"), ("OBJECT", "ENCODING", "e"),
                ("RPUSH", "big", "x" * 10000), ("OBJECT", "ENCODING", "big")):
        d.run(*cmd)


def test_extreme_indexes(proto_diff):
    d = proto_diff
    lo, hi = "-9223372036854775808", "9223372036854775807"
    d.run("RPUSH", "l", *"abcdefab")
    for cmd in (("LRANGE", "l", lo, hi), ("LRANGE", "l", hi, lo), ("LRANGE", "l", lo, lo),
                ("LINDEX", "l", lo), ("LINDEX", "l", hi), ("LSET", "l", lo, "x"),
                ("LSET", "l", hi, "x"), ("LRANGE", "l", "0", "9223372036854775808"),
                ("LPOS", "l", "a", "MAXLEN", hi, "COUNT", hi), ("LPOS", "l", "a", "RANK", hi),
                ("LPOP", "l", "9223372036854775808"), ("LREM", "l", lo, "a"),
                ("LRANGE", "l", "0", "-1"), ("LTRIM", "l", lo, hi), ("LRANGE", "l", "0", "-1"),
                ("RPOP", "l", hi), ("EXISTS", "l")):
        d.run(*cmd)


def test_errors_and_argument_order(proto_diff):
    d = proto_diff
    d.run("RPUSH", "l", "a", "b")
    d.run("SET", "str", "x")
    d.run("HSET", "h", "f", "v")
    for cmd in (("LPUSH", "l"), ("LPOP", "l", "1", "2"), ("LPOP", "l", "-1"),
                ("LPOP", "l", "x"), ("LPOP", "nokey", "x"), ("LRANGE", "nokey", "x", "1"),
                ("LRANGE", "l", "0", "1.5"), ("LINDEX", "l", "x"), ("LINDEX", "nokey", "x"),
                ("LSET", "nokey", "0", "v"), ("LSET", "nokey", "x", "v"), ("LSET", "l", "9", "v"),
                ("LSET", "l", "x", "v"), ("LINSERT", "l", "MIDDLE", "a", "b"),
                ("LINSERT", "nokey", "MIDDLE", "a", "b"), ("LREM", "l", "x", "a"),
                ("LREM", "nokey", "x", "a"), ("LTRIM", "nokey", "x", "1"),
                ("LMOVE", "l", "d", "LEFT", "UP"), ("LMOVE", "l", "d", "UP", "LEFT"),
                ("LMOVE", "nokey", "d", "UP", "LEFT"), ("LMPOP", "0", "l", "LEFT"),
                ("LMPOP", "-1", "l", "LEFT"), ("LMPOP", "x", "l", "LEFT"),
                ("LMPOP", "2", "l", "LEFT"), ("LMPOP", "1", "l", "UP"),
                ("LMPOP", "1", "l", "LEFT", "COUNT"), ("LMPOP", "1", "l", "LEFT", "COUNT", "0"),
                ("LMPOP", "1", "l", "LEFT", "COUNT", "x"),
                ("LMPOP", "1", "l", "LEFT", "COUNT", "1", "COUNT", "1"),
                ("LMPOP", "1", "l", "LEFT", "FOO"), ("LMPOP", "9223372036854775807", "l", "LEFT"),
                ("BLPOP", "l"), ("BLPOP", "str", "-1"), ("BLPOP", "str", "x"),
                ("BLPOP", "l", "inf"), ("BLPOP", "l", "1e16"), ("BLPOP", "l", "nan"),
                ("BLPOP", "l", "1e5000"), ("BLPOP", "l", " 1"),
                ("BLMOVE", "str", "l", "LEFT", "UP", "x"), ("BLMOVE", "str", "l", "LEFT", "LEFT", "x"),
                ("BLMOVE", "str", "l", "LEFT", "LEFT", "0"), ("BLMOVE", "l", "str", "LEFT", "LEFT", "0"),
                ("BRPOPLPUSH", "str", "l", "-1"), ("BLMPOP", "x", "1", "l", "LEFT"),
                ("BLMPOP", "0", "0", "l", "LEFT"), ("BLMPOP", "-1", "1", "l", "LEFT"),
                ("BLMPOP", "0", "1", "l", "LEFT", "COUNT", "0"), ("BLMPOP", "0", "2", "nokey", "str", "LEFT"),
                ("LRANGE", "l", "0", "-1")):
        d.run(*cmd)
    for key in ("str", "h"):
        for cmd in (("LPUSH", key, "1"), ("RPUSH", key, "1"), ("LPUSHX", key, "1"),
                    ("RPUSHX", key, "1"), ("LPOP", key), ("RPOP", key, "2"), ("LLEN", key),
                    ("LRANGE", key, "0", "-1"), ("LINDEX", key, "0"), ("LSET", key, "0", "x"),
                    ("LINSERT", key, "BEFORE", "a", "b"), ("LREM", key, "0", "a"),
                    ("LTRIM", key, "0", "1"), ("LPOS", key, "a"), ("LPOS", key, "a", "COUNT", "0"),
                    ("RPOPLPUSH", key, "l"), ("RPOPLPUSH", "l", key), ("RPOPLPUSH", "nokey", key),
                    ("LMOVE", "l", key, "LEFT", "RIGHT"), ("LMPOP", "2", "nokey", key, "LEFT"),
                    ("BLPOP", "nokey", key, "0"), ("BRPOP", key, "0"),
                    ("BLMPOP", "0", "1", key, "RIGHT"), ("BLMOVE", "l", key, "LEFT", "LEFT", "0")):
            d.run(*cmd)
    d.run("LRANGE", "l", "0", "-1")


def test_lpos(proto_diff):
    d = proto_diff
    d.run("RPUSH", "l", *"abcabcaxa")
    for opts in ((), ("RANK", "2"), ("RANK", "-1"), ("RANK", "-3"), ("RANK", "9"),
                 ("COUNT", "0"), ("COUNT", "2"), ("COUNT", "2", "RANK", "-2"),
                 ("MAXLEN", "4"), ("MAXLEN", "4", "COUNT", "0"), ("RANK", "-1", "MAXLEN", "2"),
                 ("RANK", "-9223372036854775808"), ("RANK", "-9223372036854775808", "COUNT", "0"),
                 ("RANK", "9223372036854775807"), ("RANK", "0"), ("RANK", "x"), ("COUNT", "-1"),
                 ("COUNT", "x"), ("MAXLEN", "-1"), ("MAXLEN", "x"), ("RANK",), ("FOO", "1"),
                 ("COUNT", "1", "COUNT", "0"), ("rank", "1", "count", "1", "maxlen", "0")):
        d.run("LPOS", "l", "a", *opts)
        d.run("LPOS", "l", "zz", *opts)
        d.run("LPOS", "nokey", "a", *opts)


def test_moves_and_lmpop(proto_diff):
    d = proto_diff
    for cmd in (("RPUSH", "src", "a", "b", "c", "d"), ("RPOPLPUSH", "src", "dst"),
                ("LMOVE", "src", "dst", "LEFT", "RIGHT"), ("LMOVE", "src", "dst", "right", "left"),
                ("LRANGE", "dst", "0", "-1"), ("LMOVE", "src", "src", "LEFT", "RIGHT"),
                ("LRANGE", "src", "0", "-1"), ("RPOPLPUSH", "dst", "dst"), ("LRANGE", "dst", "0", "-1"),
                ("LMOVE", "src", "dst", "LEFT", "LEFT"), ("EXISTS", "src"),
                ("RPOPLPUSH", "nokey", "dst"), ("LMPOP", "3", "nokey", "src", "dst", "LEFT"),
                ("LMPOP", "2", "nokey", "dst", "RIGHT", "COUNT", "10"), ("LMPOP", "1", "dst", "LEFT"),
                ("RPUSH", "x", "1", "2", "3"), ("LMPOP", "1", "x", "right", "count", "2")):
        d.run(*cmd)


def test_events_and_dirty(diff):
    d = diff
    ev = Events(d)
    try:
        script = [("RPUSH", "l", "a", "b", "c", "d"), ("LPUSH", "l", "z"), ("LPUSHX", "nokey", "a"),
                  ("RPUSHX", "l", "e"), ("LSET", "l", "0", "y"), ("LINSERT", "l", "AFTER", "a", "q"),
                  ("LINSERT", "l", "AFTER", "none", "q"), ("LREM", "l", "0", "q"),
                  ("LREM", "l", "0", "none"), ("LTRIM", "l", "0", "-1"), ("LTRIM", "l", "1", "-2"),
                  ("LMOVE", "l", "m", "LEFT", "RIGHT"), ("RPOPLPUSH", "m", "m"),
                  ("LPOP", "l", "0"), ("LPOP", "l", "2"), ("RPOP", "l"), ("LMPOP", "1", "m", "LEFT"),
                  ("RPUSH", "t", "1"), ("LTRIM", "t", "5", "6"), ("RPUSH", "r", "1", "1"),
                  ("LREM", "r", "0", "1"), ("RPUSH", "s", "x"), ("BLPOP", "s", "0"),
                  ("RPUSH", "s", "x", "y"), ("BLMPOP", "0", "1", "s", "RIGHT", "COUNT", "5"),
                  ("RPUSH", "s", "x"), ("BLMOVE", "s", "s2", "LEFT", "LEFT", "0"),
                  ("BRPOPLPUSH", "s2", "s3", "0")]
        for cmd in script:
            run_checked(d, *cmd)
        rk, rd = ev.take()
        assert rk == rd
        assert len(rd) > 40
    finally:
        ev.close()


def test_no_blocking_inside_multi(proto_diff):
    d = proto_diff
    d.run("MULTI")
    for cmd in (("BLPOP", "q", "0"), ("BRPOP", "q", "p", "0"), ("BLMPOP", "0", "1", "q", "LEFT"),
                ("BLMOVE", "q", "d", "LEFT", "LEFT", "0"), ("BRPOPLPUSH", "q", "d", "0"),
                ("RPUSH", "q", "a"), ("BLPOP", "q", "0")):
        d.run(*cmd)
    d.run("EXEC")


# ---- Blocking, seen from two connections per server ----

def _blocked_clients(conn: RawConn) -> int:
    info = conn.call("INFO", "clients")
    return int(re.search(rb"blocked_clients:(\d+)", info).group(1))


class Blocker:
    """`d` sends blocking commands, a second pair (`other`) writes and watches INFO
    blocked_clients on both servers (counted from what other tests left behind)."""

    def __init__(self, d: DiffPair) -> None:
        self.d = d
        self.other = d.other()
        self.base = [_blocked_clients(c) for c in (self.other.rk, self.other.rd)]

    def send(self, *args: str) -> None:
        """Send a blocking command to both servers; wait until both have blocked."""
        self.d.history.append(" ".join(args) + "   (reply read later)")
        for conn in (self.d.rk, self.d.rd):
            conn.send_raw(encode_command(*args))
        self.wait(1)

    def wait(self, n: int) -> None:
        for conn, base in zip((self.other.rk, self.other.rd), self.base, strict=True):
            wait_until(lambda conn=conn, base=base: _blocked_clients(conn) == base + n, 10,
                       what=f"{n} blocked client(s) on port {conn.port}")

    def close(self) -> None:
        self.other.close()


def test_blocking_served_by_another_connection(proto_diff):
    b = Blocker(proto_diff)
    try:
        cases = [
            (("BLPOP", "a", "b", "0"), ("RPUSH", "b", "1", "2")),
            (("BRPOP", "a", "e", "0"), ("LPUSH", "a", "x", "y")),
            (("BLMPOP", "0", "2", "f", "c", "LEFT", "COUNT", "2"), ("RPUSH", "c", "1", "2", "3")),
            (("BLMOVE", "m", "n", "RIGHT", "LEFT", "0"), ("RPUSH", "m", "1", "2")),
            (("BRPOPLPUSH", "p", "n", "0"), ("RPUSH", "p", "z")),
        ]
        for blocking, push in cases:
            b.send(*blocking)
            b.other.run(*push)
            b.d.read(" ".join(blocking), tuple(x.encode() for x in blocking))
            b.wait(0)
        for key in ("a", "b", "c", "e", "f", "m", "n", "p"):
            b.other.run("LRANGE", key, "0", "-1")
    finally:
        b.close()


def test_blocking_served_from_the_ready_key_after_multi(diff):
    b = Blocker(diff)
    try:
        b.send("BLPOP", "a", "b", "0")
        for cmd in (("MULTI",), ("RPUSH", "b", "1"), ("RPUSH", "a", "2"), ("EXEC",)):
            b.other.run(*cmd)
        b.d.read("BLPOP a b 0")
        b.other.run("LRANGE", "a", "0", "-1")
        b.other.run("LRANGE", "b", "0", "-1")
    finally:
        b.close()


def test_blmove_woken_with_wrongtype_destination(diff):
    b = Blocker(diff)
    try:
        b.send("BLMOVE", "src", "dst", "LEFT", "RIGHT", "0")
        b.other.run("SET", "dst", "string")
        b.other.run("RPUSH", "src", "e1", "e2")
        b.d.read("BLMOVE src dst LEFT RIGHT 0 (woken)")
        b.wait(0)
        b.other.run("LRANGE", "src", "0", "-1")
        b.other.run("GET", "dst")
    finally:
        b.close()


def test_wrong_type_at_a_waited_key_keeps_waiting(diff):
    b = Blocker(diff)
    try:
        b.send("BLPOP", "k", "j", "0")
        b.other.run("SADD", "k", "m")
        b.wait(1)
        b.other.run("RPUSH", "j", "v")
        b.d.read("BLPOP k j 0 (woken by j)")
    finally:
        b.close()


def test_timeouts(proto_diff):
    d = proto_diff
    for cmd in (("BLPOP", "q", "0.05"), ("BRPOP", "q", "r", "0.01"), ("BLMOVE", "q", "d", "LEFT",
                "RIGHT", "0.02"), ("BRPOPLPUSH", "q", "d", "0.001"),
                ("BLMPOP", "0.05", "1", "q", "LEFT"), ("BLPOP", "q", "0x1p-10"),
                ("BLPOP", "q", "1e-400")):
        d.run(*cmd)


# ---- A state machine over lists, strings, hashes and sets ----

KEYS = ("k1", "k2", "k3")
KEY = st.sampled_from(KEYS)
ELEMENT = st.sampled_from(["a", "b", "c", "1", "01", "", "x" * 70])
INDEX = st.sampled_from(["0", "1", "-1", "-2", "3", "100", "-100"])
WHERE = st.sampled_from(["LEFT", "RIGHT"])


class MixedTypes(RuleBasedStateMachine):
    """Every rule sends the same command to both servers; replies must agree."""

    pair: DiffPair

    @initialize(proto=st.sampled_from([2, 3]))
    def start(self, proto):
        self.d = self.pair
        self.d.run("FLUSHALL")
        self.d.run("HELLO", str(proto))

    @rule(key=KEY, value=ELEMENT)
    def set_string(self, key, value):
        self.d.run("SET", key, value)

    @rule(key=KEY, cmd=st.sampled_from(["HSET", "SADD"]))
    def other_type(self, key, cmd):
        self.d.run(cmd, key, "f", "v") if cmd == "HSET" else self.d.run(cmd, key, "m")

    @rule(key=KEY, cmd=st.sampled_from(["TYPE", "DEL", "EXISTS", "LLEN", "OBJECT"]))
    def generic(self, key, cmd):
        self.d.run(*((cmd, "ENCODING", key) if cmd == "OBJECT" else (cmd, key)))

    @rule(key=KEY, values=st.lists(ELEMENT, min_size=1, max_size=4),
          cmd=st.sampled_from(["LPUSH", "RPUSH", "LPUSH", "RPUSH", "LPUSHX", "RPUSHX"]))
    def push(self, key, values, cmd):
        self.d.run(cmd, key, *values)

    @rule(key=KEY, cmd=st.sampled_from(["LPOP", "RPOP"]),
          count=st.sampled_from([None, "0", "1", "2", "10"]))
    def pop(self, key, cmd, count):
        self.d.run(cmd, key, *([count] if count else []))

    @rule(key=KEY, start=INDEX, stop=INDEX, cmd=st.sampled_from(["LRANGE", "LTRIM"]))
    def ranges(self, key, start, stop, cmd):
        self.d.run(cmd, key, start, stop)

    @rule(key=KEY, index=INDEX, value=ELEMENT)
    def index(self, key, index, value):
        self.d.run("LINDEX", key, index)
        self.d.run("LSET", key, index, value)

    @rule(key=KEY, where=st.sampled_from(["BEFORE", "AFTER"]), pivot=ELEMENT, value=ELEMENT)
    def linsert(self, key, where, pivot, value):
        self.d.run("LINSERT", key, where, pivot, value)

    @rule(key=KEY, count=st.sampled_from(["0", "1", "-1", "2", "-2"]), value=ELEMENT)
    def lrem(self, key, count, value):
        self.d.run("LREM", key, count, value)

    @rule(key=KEY, value=ELEMENT, rank=st.sampled_from([None, "1", "2", "-1", "-2"]),
          count=st.sampled_from([None, "0", "1", "2"]), maxlen=st.sampled_from([None, "0", "2"]))
    def lpos(self, key, value, rank, count, maxlen):
        opts = []
        for name, v in (("RANK", rank), ("COUNT", count), ("MAXLEN", maxlen)):
            if v is not None:
                opts += [name, v]
        self.d.run("LPOS", key, value, *opts)

    @rule(src=KEY, dst=KEY, wf=WHERE, wt=WHERE, cmd=st.sampled_from(["LMOVE", "RPOPLPUSH",
                                                                   "BLMOVE", "BRPOPLPUSH"]))
    def move(self, src, dst, wf, wt, cmd):
        args = {"LMOVE": (src, dst, wf, wt), "RPOPLPUSH": (src, dst),
                "BLMOVE": (src, dst, wf, wt, "0.001"), "BRPOPLPUSH": (src, dst, "0.001")}[cmd]
        self.d.run(cmd, *args)

    @rule(keys=st.lists(st.sampled_from(KEYS + ("nokey",)), min_size=1, max_size=3),
          where=WHERE, count=st.sampled_from([None, "1", "3"]),
          cmd=st.sampled_from(["LMPOP", "BLMPOP", "BLPOP", "BRPOP"]))
    def multi_pop(self, keys, where, count, cmd):
        if cmd in ("BLPOP", "BRPOP"):
            self.d.run(cmd, *keys, "0.001")
            return
        opts = ["COUNT", count] if count else []
        timeout = ["0.001"] if cmd == "BLMPOP" else []
        self.d.run(cmd, *timeout, str(len(keys)), *keys, where, *opts)


def test_state_machine(diff):
    MixedTypes.pair = diff
    run_state_machine_as_test(MixedTypes, settings=settings(
        max_examples=120, stateful_step_count=40, deadline=None,
        suppress_health_check=list(HealthCheck)))
