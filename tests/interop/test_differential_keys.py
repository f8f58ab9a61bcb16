"""Differential tests for the generic key commands: the same commands to redkeep and to
real redis-server 7.0, replies compared byte for byte (error texts included), in RESP2
and RESP3. Only the legitimately nondeterministic parts are normalized (see
tests/support/differential.py): KEYS order, SCAN cursors and order, RANDOMKEY's choice,
TTLs within a tolerance.
"""

from __future__ import annotations

import time

import pytest

from support.differential import DiffPair
from support.procs import ServerProc, require_binary
from support.resp import Frame, encode, parse_python

pytestmark = pytest.mark.interop


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def proto_diff(request, diff):
    diff.run("HELLO", request.param)
    return diff


def norm_sorted(args, rk: Frame, rd: Frame):
    """KEYS: the order is the server's hash order; compare as sorted lists."""
    def shape(f: Frame) -> Frame:
        if f.kind == "*" and f.value is not None:
            return Frame("*", sorted(f.value, key=encode))
        return f
    return shape(rk), shape(rd)


def _wait_ms(ms: int) -> None:
    """Let a short TTL pass (both servers then see the key as expired on lookup)."""
    time.sleep(ms / 1000)


def keys_run(d: DiffPair, *args):
    return d.run(*args, normalize=norm_sorted)


# ---- DEL UNLINK EXISTS TOUCH TYPE ----

def test_del_unlink_exists_touch(proto_diff):
    d = proto_diff
    d.run("MSET", "a", "1", "b", "2", "c", "3", "", "empty")
    d.run("EXISTS", "a", "a", "b", "nokey", "")
    d.run("TOUCH", "a", "nokey", "a")
    d.run("DEL", "a", "a", "nokey")
    d.run("UNLINK", "b", "c", "b")
    d.run("EXISTS", "a", "b", "c", "")
    d.run("DEL", "")
    d.run("DEL", "nokey")
    d.run("UNLINK", "nokey")


def test_type(proto_diff):
    d = proto_diff
    d.run("SET", "s", "v")
    d.run("SET", "n", "42")
    d.run("TYPE", "s")
    d.run("TYPE", "n")
    d.run("TYPE", "nokey")
    d.run("SET", "gone", "v", "PX", "10")
    _wait_ms(30)
    d.run("TYPE", "gone")


@pytest.mark.parametrize("cmd", [
    ("DEL",), ("UNLINK",), ("EXISTS",), ("TOUCH",), ("TYPE",), ("TYPE", "a", "b"),
    ("KEYS",), ("KEYS", "a", "b"), ("SCAN",), ("RANDOMKEY", "x"), ("RENAME", "a"),
    ("RENAMENX", "a", "b", "c"), ("MOVE", "a"), ("COPY", "a"), ("EXPIRE", "a"),
    ("PEXPIREAT", "a"), ("TTL",), ("PTTL", "a", "b"), ("EXPIRETIME",), ("PEXPIRETIME",),
    ("PERSIST",), ("DBSIZE", "x"), ("SWAPDB", "0"), ("OBJECT",), ("OBJECT", "ENCODING"),
    ("OBJECT", "ENCODING", "a", "b"), ("OBJECT", "HELP", "x"), ("OBJECT", "FOO"),
    ("OBJECT", "REFCOUNT"), ("OBJECT", "FREQ", "a", "b"), ("OBJECT", "IDLETIME"),
])
def test_arity_and_subcommand_errors(diff, cmd):
    diff.run(*cmd)


# ---- KEYS ----

def test_keys(diff):
    diff.run("MSET", "one", "1", "two", "2", "three", "3", "four", "4", "", "e",
             "h?llo", "x", "a*b", "y", "[x]", "z", b"\xff\x00bin", "w")
    for pattern in ("*", "**", "t*", "?o*", "[ot]ne", "*o", "nomatch", "", "h\\?llo",
                    "a\\*b", "\\[x\\]", "[^o]*", "[a-f]*", "*\x00*", "[", "*[", "f*r"):
        keys_run(diff, "KEYS", pattern)
    diff.run("SET", "vol", "1", "PX", "10")
    _wait_ms(30)
    keys_run(diff, "KEYS", "*")
    keys_run(diff, "KEYS", "v*")


# ---- SCAN ----

def test_scan_small_db(proto_diff):
    d = proto_diff
    d.run("SCAN", "0")
    d.run("MSET", *[x for i in range(8) for x in (f"key:{i}", str(i))])
    d.run("SCAN", "0")
    d.run("SCAN", "0", "COUNT", "100")
    d.run("SCAN", "0", "MATCH", "key:[1-3]")
    d.run("SCAN", "0", "MATCH", "*")
    d.run("SCAN", "0", "match", "nomatch*", "count", "50")
    d.run("SCAN", "0", "TYPE", "string")
    d.run("SCAN", "0", "TYPE", "STRING", "MATCH", "key:1*")
    d.run("SCAN", "0", "TYPE", "list")
    d.run("SCAN", "0", "TYPE", "nosuchtype")
    d.run("SCAN", "", "COUNT", "20")
    d.run("SCAN", "00", "COUNT", "20")
    d.run("SCAN", "+0", "COUNT", "20")
    d.run("SCAN", "-0", "COUNT", "20")


@pytest.mark.parametrize("args", [
    ("abc",), (" 0",), ("0 ",), ("+",), ("-",), ("0x1",), ("1.0",),
    ("18446744073709551616",), ("-18446744073709551616",), ("99999999999999999999999",),
    ("x", "COUNT", "0"),
    ("0", "COUNT", "0"), ("0", "COUNT", "-5"), ("0", "COUNT", "x"), ("0", "COUNT"),
    ("0", "MATCH"), ("0", "TYPE"), ("0", "FOO", "bar"), ("0", "COUNT", "1", "MATCH"),
    ("0", "COUNT", "99999999999999999999"), ("0", "COUNT", "1.5"),
])
def test_scan_errors(proto_diff, args):
    proto_diff.run("SCAN", *args)


def _scan_everything(conn, *opts) -> list[bytes]:
    out, cursor = [], b"0"
    for _ in range(100000):
        cursor, batch = parse_python(conn.call("SCAN", cursor, *opts))
        out += batch
        if cursor == b"0":
            return out
    raise AssertionError("SCAN did not terminate")


@pytest.mark.parametrize("opts", [(), ("COUNT", "7"), ("COUNT", "1000"),
                                  ("MATCH", "k:1*"), ("TYPE", "string", "COUNT", "3")])
def test_scan_full_iteration_returns_the_same_keys(diff, opts):
    for start in range(0, 600, 200):
        diff.run("MSET", *[x for i in range(start, start + 200) for x in (f"k:{i}", "v")])
    rk = _scan_everything(diff.rk, *opts)
    rd = _scan_everything(diff.rd, *opts)
    assert set(rk) == set(rd)
    assert len(set(rk)) == len(rk)   # no writes meanwhile: redkeep returns no duplicates


def test_scan_iteration_with_writes_keeps_its_promise(diff):
    diff.run("MSET", *[x for i in range(300) for x in (f"k:{i}", "v")])
    conn, cursor, seen, n = diff.rk, b"0", set(), 0
    while True:
        cursor, batch = parse_python(conn.call("SCAN", cursor, "COUNT", "10"))
        seen |= set(batch)
        if cursor == b"0":
            break
        conn.call("DEL", f"k:{n % 150}")              # the first half comes and goes
        conn.call("SET", f"new:{n}", "v")
        n += 1
    assert {f"k:{i}".encode() for i in range(150, 300)} <= seen


# ---- RANDOMKEY ----

def test_randomkey(proto_diff):
    d = proto_diff
    d.run("RANDOMKEY")
    d.run("SET", "only", "1")
    d.run("RANDOMKEY")
    d.run("MSET", "a", "1", "b", "2")
    for _ in range(5):
        d.run("RANDOMKEY")
    d.run("FLUSHDB")
    d.run("RANDOMKEY")


# ---- RENAME RENAMENX ----

def test_rename(proto_diff):
    d = proto_diff
    d.run("RENAME", "nokey", "x")
    d.run("RENAMENX", "nokey", "x")
    d.run("RENAME", "nokey", "nokey")
    d.run("RENAMENX", "nokey", "nokey")
    d.run("SET", "a", "1")
    d.run("RENAME", "a", "a")
    d.run("RENAMENX", "a", "a")
    d.run("RENAME", "a", "b")
    d.run("EXISTS", "a", "b")
    d.run("SET", "c", "3", "EX", "100")
    d.run("RENAMENX", "b", "c")
    d.run("RENAME", "c", "d")
    d.run("TTL", "d")
    d.run("RENAME", "b", "d")
    d.run("TTL", "d")
    d.run("GET", "d")
    d.run("SET", "e", "5", "PX", "50000")
    d.run("RENAMENX", "e", "f")
    d.run("PTTL", "f")
    d.run("RENAME", "f", b"\x00bin\xff")
    d.run("GET", b"\x00bin\xff")


# ---- MOVE COPY ----

def test_move(proto_diff):
    d = proto_diff
    d.run("SET", "a", "1", "EX", "100")
    for target in ("0", "16", "-1", "x", "99999999999", "-99999999999", "1.5", ""):
        d.run("MOVE", "a", target)
    d.run("MOVE", "nokey", "1")
    d.run("MOVE", "a", "1")
    d.run("EXISTS", "a")
    d.run("SELECT", "1")
    d.run("GET", "a")
    d.run("TTL", "a")
    d.run("SET", "b", "in1")
    d.run("SELECT", "0")
    d.run("SET", "b", "in0")
    d.run("MOVE", "b", "1")
    d.run("GET", "b")


def test_copy(proto_diff):
    d = proto_diff
    d.run("SET", "a", "v", "PX", "30000")
    for args in (("a", "a"), ("a", "a", "DB", "0"), ("a", "b", "DB"), ("a", "b", "FOO"),
                 ("a", "b", "DB", "x"), ("a", "b", "DB", "16"), ("a", "b", "DB", "-1"),
                 ("a", "b", "DB", "99999999999"), ("a", "b", "REPLACE", "DB"),
                 ("nokey", "b"), ("nokey", "nokey"), ("a", "b"), ("a", "b"),
                 ("a", "b", "replace"), ("a", "a", "DB", "1", "REPLACE", "REPLACE"),
                 ("a", "a", "db", "1"), ("a", "c", "DB", "0", "DB", "2")):
        d.run("COPY", *args)
    d.run("PTTL", "b")
    d.run("GET", "b")
    d.run("SELECT", "1")
    d.run("GET", "a")
    d.run("PTTL", "a")
    d.run("SELECT", "2")
    d.run("GET", "c")


# ---- EXPIRE family ----

def test_expire_ttl_persist(proto_diff):
    d = proto_diff
    for cmd in ("TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME", "PERSIST"):
        d.run(cmd, "nokey")
    d.run("EXPIRE", "nokey", "10")
    d.run("SET", "a", "1")
    for cmd in ("TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME", "PERSIST"):
        d.run(cmd, "a")
    d.run("EXPIRE", "a", "100")
    d.run("TTL", "a")
    d.run("PTTL", "a")
    d.run("EXPIRETIME", "a")
    d.run("PEXPIRE", "a", "200000")
    d.run("TTL", "a")
    d.run("EXPIREAT", "a", "4000000000")
    d.run("EXPIRETIME", "a")
    d.run("PEXPIRETIME", "a")
    d.run("PEXPIREAT", "a", "4000000000123")
    d.run("PEXPIRETIME", "a")
    d.run("EXPIRETIME", "a")
    d.run("PERSIST", "a")
    d.run("PERSIST", "a")
    d.run("TTL", "a")


def test_expire_options(proto_diff):
    d = proto_diff
    d.run("SET", "a", "1")
    steps = [("10", "XX"), ("10", "GT"), ("10", "LT"), ("20", "NX"), ("20", "XX"),
             ("10", "GT"), ("30", "gt"), ("40", "LT"), ("30", "LT"), ("5", "lt", "xx"),
             ("5", "xx", "lt"), ("100", "XX", "GT"), ("100", "nx")]
    for step in steps:
        d.run("EXPIRE", "a", *step)
        d.run("TTL", "a")
    d.run("PERSIST", "a")
    d.run("EXPIRE", "a", "5", "NX")
    d.run("EXPIREAT", "a", "4000000000", "GT")
    d.run("PEXPIREAT", "a", "4000000001000", "GT")
    d.run("PEXPIREAT", "a", "3000000000000", "LT")
    d.run("EXPIRETIME", "a")
    d.run("EXPIRE", "nokey", "10", "XX")


@pytest.mark.parametrize("args", [
    ("10", "NX", "XX"), ("10", "NX", "GT"), ("10", "LT", "NX"), ("10", "GT", "LT"),
    ("10", "nx", "nx", "xx"), ("10", "foo"), ("abc", "foo"), ("abc", "nx", "xx"),
    ("10", "NX", "foo"), ("10", "xx", "xx"), ("1.5",), ("",), ("abc",), (" 10",),
    ("10", b"bad\x00opt"), ("10", "with space"),
])
def test_expire_option_errors(proto_diff, args):
    d = proto_diff
    d.run("SET", "a", "1")
    d.run("EXPIRE", "a", *args)
    d.run("PEXPIRE", "a", *args)
    d.run("TTL", "a")


@pytest.mark.parametrize("cmd, value", [
    ("EXPIRE", "9223372036854776"), ("EXPIRE", "-9223372036854776"),
    ("EXPIRE", "9223372036854775"), ("PEXPIRE", "9223372036854775807"),
    ("PEXPIRE", "9223372036854775000"), ("EXPIREAT", "9223372036854776"),
    ("EXPIREAT", "-9223372036854776"), ("PEXPIREAT", "9223372036854775807"),
    ("EXPIREAT", "9223372036854775"), ("PEXPIREAT", "-9223372036854775808"),
    ("EXPIRE", "9223372036854775808"),
])
def test_expire_overflow(proto_diff, cmd, value):
    d = proto_diff
    d.run(cmd, "nokey", value)
    d.run("SET", "a", "1")
    d.run(cmd, "a", value)
    d.run("EXISTS", "a")
    d.run("PEXPIRETIME", "a", normalize=False if "AT" in cmd else True)


def test_expire_in_the_past_deletes(proto_diff):
    d = proto_diff
    d.run("MSET", "a", "1", "b", "2", "c", "3", "d", "4")
    d.run("EXPIRE", "a", "-1")
    d.run("PEXPIRE", "b", "0")
    d.run("EXPIREAT", "c", "1")
    d.run("PEXPIREAT", "d", "-5")
    d.run("DBSIZE")
    d.run("EXPIRE", "a", "-1")
    d.run("SET", "e", "1", "EX", "100")
    d.run("EXPIRE", "e", "-5", "LT")
    d.run("EXISTS", "e")


def test_expired_key_lookups(diff):
    diff.run("SET", "a", "1", "PX", "20")
    _wait_ms(40)
    for cmd in ("TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME", "PERSIST", "TYPE", "EXISTS"):
        diff.run(cmd, "a")
    diff.run("SET", "b", "1", "PX", "20")
    _wait_ms(40)
    diff.run("RENAME", "b", "c")
    diff.run("SET", "d", "1", "PX", "20")
    _wait_ms(40)
    diff.run("EXPIRE", "d", "100")
    diff.run("MOVE", "d", "1")
    diff.run("COPY", "d", "e")


# ---- DBSIZE FLUSHDB FLUSHALL SWAPDB ----

def test_dbsize_flush(proto_diff):
    d = proto_diff
    d.run("MSET", "a", "1", "b", "2")
    d.run("SELECT", "1")
    d.run("SET", "x", "1")
    d.run("DBSIZE")
    for args in (("foo",), ("async", "sync"), ("ASYNC", "x"), ("",)):
        d.run("FLUSHDB", *args)
        d.run("FLUSHALL", *args)
    d.run("FLUSHDB", "ASYNC")
    d.run("DBSIZE")
    d.run("SELECT", "0")
    d.run("DBSIZE")
    d.run("FLUSHDB", "sync")
    d.run("DBSIZE")
    d.run("SET", "a", "1")
    d.run("FLUSHALL", "sync")
    d.run("FLUSHALL", "async")
    d.run("FLUSHALL")
    d.run("FLUSHDB")
    d.run("DBSIZE")


def test_swapdb(proto_diff):
    d = proto_diff
    for a, b in (("x", "1"), ("1", "x"), ("x", "y"), ("99999999999", "1"), ("1", "-99999999999"),
                 ("1", "16"), ("-1", "0"), ("16", "16"), ("1.5", "0"), ("", "0")):
        d.run("SWAPDB", a, b)
    d.run("SET", "a", "db0", "EX", "50")
    d.run("SWAPDB", "0", "0")
    d.run("GET", "a")
    d.run("SWAPDB", "0", "1")
    d.run("EXISTS", "a")
    d.run("SELECT", "1")
    d.run("GET", "a")
    d.run("TTL", "a")
    d.run("SWAPDB", "1", "0")
    d.run("DBSIZE")


# ---- OBJECT ----

@pytest.mark.parametrize("value", [
    "0", "1", "-1", "9999", "10000", "123456", "9223372036854775807", "9223372036854775808",
    "-9223372036854775808", "-9223372036854775809", "01", "+1", "-0", " 1", "1 ", "", "1.5",
    "x" * 44, "x" * 45, "1" * 20, "1" * 21, "abc", b"\x00\xff",
])
def test_object_strings(proto_diff, value):
    d = proto_diff
    d.run("SET", "k", value)
    d.run("OBJECT", "ENCODING", "k")
    d.run("OBJECT", "REFCOUNT", "k")


def test_object_after_string_writers(proto_diff):
    d = proto_diff
    script = [
        ("SET", "h", ""), ("APPEND", "h", "12"), ("APPEND", "new", "12"),
        ("SETRANGE", "sr", "0", "12"), ("SET", "i", "12"), ("SETRANGE", "i", "0", ""),
        ("SETBIT", "b", "1", "1"), ("SET", "n", "7"), ("SETBIT", "n", "1", "0"),
        ("BITOP", "AND", "dest", "i", "i"), ("INCRBYFLOAT", "f", "10"),
        ("INCRBYFLOAT", "g", "1.5"), ("SET", "x", "5"), ("INCR", "x"),
        ("SET", "y", "9999"), ("INCR", "y"), ("SET", "z", "abc"), ("GETSET", "z", "7"),
        ("SET", "e", "123"), ("GETEX", "e", "EX", "100"), ("SET", "c", "5"),
        ("COPY", "c", "c2"), ("RENAME", "h", "h2"), ("COPY", "h2", "h3"),
        ("MSET", "m1", "42", "m2", "hello"), ("SETNX", "m3", "9"), ("SETEX", "m4", "100", "8"),
        ("DECRBY", "m5", "3"), ("APPEND", "big", "x" * 50), ("APPEND", "big", "y"),
    ]
    for cmd in script:
        d.run(*cmd)
    for key in ("h2", "h3", "new", "sr", "i", "b", "n", "dest", "f", "g", "x", "y", "z", "e",
                "c", "c2", "m1", "m2", "m3", "m4", "m5", "big"):
        d.run("OBJECT", "ENCODING", key)
        d.run("OBJECT", "REFCOUNT", key)
    d.run("SET", "h2", "12")
    d.run("OBJECT", "ENCODING", "h2")
    d.run("MOVE", "h3", "1")
    d.run("SELECT", "1")
    d.run("OBJECT", "ENCODING", "h3")


def test_object_misc(proto_diff):
    d = proto_diff
    d.run("OBJECT", "HELP")
    d.run("OBJECT", "help")
    d.run("OBJECT", "ENCODING", "nokey")
    d.run("OBJECT", "REFCOUNT", "nokey")
    d.run("OBJECT", "IDLETIME", "nokey")
    d.run("OBJECT", "FREQ", "nokey")
    d.run("SET", "a", "1")
    d.run("OBJECT", "FREQ", "a")
    d.run("SET", "s", "not shared")     # a shared integer's idle time is the server's
    d.run("OBJECT", "IDLETIME", "s")
    d.run("OBJECT", "encoding", "a")
    d.run("object", "Encoding", "a")


# ---- Keyspace events ----

@pytest.fixture(scope="module")
def events_pair(tmp_path_factory):
    require_binary("redis-server")
    procs = [ServerProc(kind, ["--notify-keyspace-events", "KEA"],
                        dir=tmp_path_factory.mktemp(f"{kind}-events"))
             for kind in ("redkeep", "redis")]
    try:
        for p in procs:
            p.start()
        yield procs[0].port, procs[1].port
    finally:
        for p in procs:
            p.stop()


def _events(conn) -> list[bytes]:
    """Messages up to the one published on the channel "end"."""
    out = []
    while True:
        raw = conn.read_reply(5.0)
        if parse_python(raw)[:3] == [b"pmessage", b"end", b"end"]:
            return out
        out.append(raw)


def test_keyspace_events(events_pair):
    d = DiffPair(*events_pair)
    sub = d.other()
    try:
        d.run("FLUSHALL")
        sub.run("PSUBSCRIBE", "__key*__:*", "end")
        sub.read("PSUBSCRIBE (second pattern)")
        script = [
            ("SET", "a", "1"), ("RENAME", "a", "b"), ("SET", "c", "1"), ("RENAME", "b", "c"),
            ("RENAMENX", "c", "c"), ("RENAMENX", "c", "d"), ("MOVE", "d", "1"),
            ("COPY", "nokey", "z"), ("SET", "x", "1"), ("COPY", "x", "y"),
            ("COPY", "x", "y", "REPLACE"), ("COPY", "x", "y", "DB", "2"),
            ("EXPIRE", "x", "100"), ("EXPIRE", "x", "100", "NX"), ("PERSIST", "x"),
            ("PERSIST", "x"), ("PEXPIRE", "x", "100000"), ("EXPIREAT", "x", "4000000000"),
            ("PEXPIREAT", "x", "4000000000000"), ("EXPIRE", "x", "-1"), ("DEL", "y", "nokey", "y"),
            ("SET", "u", "1"), ("UNLINK", "u"), ("SET", "t", "1"), ("TOUCH", "t"),
            ("SWAPDB", "0", "1"), ("FLUSHDB",), ("FLUSHALL",),
        ]
        for cmd in script:
            d.run(*cmd)
        d.run("PUBLISH", "end", "1")
        rk, rd = _events(sub.rk), _events(sub.rd)
        assert rk == rd
        assert len(rd) > 30
    finally:
        sub.close()
        d.close()
