"""Differential tests of the server commands: redkeep and real redis-server 7.0.15 get the
same commands and must give the same replies (tests/support/differential.py).

Covers INFO (layout and field names), CONFIG, COMMAND (INFO/DOCS/LIST/GETKEYS), TIME,
ROLE, LASTSAVE, SLOWLOG, LATENCY, MEMORY, DEBUG (DIGEST, DIGEST-VALUE, POPULATE, OBJECT,
SDSLEN, PROTOCOL), MONITOR, SHUTDOWN and redis-cli's interactive start-up. The headline
check: a redkeep node and a real redis-server holding the same string keys, with and
without TTLs, print the same DEBUG DIGEST.

Replies that legitimately differ are normalized field by field: subcommand order (Redis
lists them in hash order), timestamps, durations, client ports, object addresses and LRU
clocks. Every CONFIG SET is undone before the test ends (the servers are shared).
"""

from __future__ import annotations

import os
import pty
import random
import select
import shutil
import time

import pytest

from support.differential import DiffPair
from support.procs import ServerProc, require_binary, wait_until
from support.resp import Frame, RawConn

pytestmark = pytest.mark.interop


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def proto_diff(request, diff):
    diff.run("HELLO", request.param)
    return diff


# ---- Frame helpers for normalizers ----


def pairs_of(f: Frame) -> list[tuple[Frame, Frame]] | None:
    if f.kind == "%":
        return list(f.value)
    if f.kind == "*" and f.value is not None and len(f.value) % 2 == 0:
        return list(zip(f.value[0::2], f.value[1::2], strict=True))
    return None


def map_like(kind: str, pairs: list[tuple[Frame, Frame]]) -> Frame:
    if kind == "%":
        return Frame("%", pairs)
    return Frame("*", [x for kv in pairs for x in kv])


def sorted_info_entry(f: Frame) -> Frame:
    """A COMMAND INFO entry with its subcommands (element 10) sorted by name."""
    if f.kind != "*" or not f.value or len(f.value) != 10:
        return f
    subs = f.value[9]
    ordered = sorted((sorted_info_entry(s) for s in subs.value or []),
                     key=lambda e: e.value[0].value)
    return Frame("*", f.value[:9] + [Frame(subs.kind, ordered)])


def norm_command_info(args, rk: Frame, rd: Frame):
    def shape(f: Frame) -> Frame:
        if f.kind != "*" or f.value is None:
            return f
        return Frame("*", [sorted_info_entry(e) for e in f.value])
    return shape(rk), shape(rd)


def sorted_docs(f: Frame) -> Frame:
    pairs = pairs_of(f)
    if pairs is None:
        return f
    out = []
    for k, v in pairs:
        if k.value == b"subcommands":
            sub = pairs_of(v) or []
            v = map_like(v.kind, sorted(((a, sorted_docs(b)) for a, b in sub),
                                        key=lambda kv: kv[0].value))
        out.append((k, v))
    return map_like(f.kind, out)


def norm_command_docs(args, rk: Frame, rd: Frame):
    def shape(f: Frame) -> Frame:
        pairs = pairs_of(f)
        if pairs is None:
            return f
        return map_like(f.kind, [(k, sorted_docs(v)) for k, v in pairs])
    return shape(rk), shape(rd)


def norm_sorted_map(args, rk: Frame, rd: Frame):
    """CONFIG GET with several names: Redis answers in hash order."""
    def shape(f: Frame) -> Frame:
        pairs = pairs_of(f)
        return f if pairs is None else map_like(f.kind, sorted(pairs, key=lambda p: p[0].value))
    return shape(rk), shape(rd)


def norm_sorted_array(args, rk: Frame, rd: Frame):
    def shape(f: Frame) -> Frame:
        if f.kind != "*" or f.value is None:
            return f
        return Frame("*", sorted(f.value, key=lambda x: x.value))
    return shape(rk), shape(rd)


def norm_slowlog(args, rk: Frame, rd: Frame):
    """SLOWLOG GET: ids, timestamps, durations and the client port differ."""
    def shape(f: Frame) -> Frame:
        if f.kind != "*" or f.value is None:
            return f
        out = []
        for e in f.value:
            if e.kind == "*" and e.value and len(e.value) == 6:
                addr = e.value[4].value.rsplit(b":", 1)[0] + b":<port>"
                e = Frame("*", [Frame(":", 0), Frame(":", 0), Frame(":", 0), e.value[3],
                                Frame("$", addr), e.value[5]])
            out.append(e)
        return Frame("*", out)
    return shape(rk), shape(rd)


def norm_debug_object(args, rk: Frame, rd: Frame):
    """DEBUG OBJECT: keep encoding, refcount and serializedlength."""
    def shape(f: Frame) -> Frame:
        if f.kind != "+":
            return f
        words = [w for w in f.value.split(b" ")
                 if not w.startswith((b"at:", b"lru:", b"lru_seconds_idle:"))]
        return Frame("+", b" ".join(words))
    return shape(rk), shape(rd)


# ---- Help texts and error replies ----


@pytest.mark.parametrize("container", ["CONFIG", "COMMAND", "SLOWLOG", "LATENCY", "MEMORY",
                                       "DEBUG"])
def test_help_texts(diff, container):
    diff.run(container, "HELP")
    diff.run(container, "help")


ERROR_CASES = [
    ("CONFIG",), ("CONFIG", "GET"), ("CONFIG", "SET"), ("CONFIG", "SET", "maxmemory"),
    ("CONFIG", "SET", "maxmemory", "1", "maxmemory", "2"), ("CONFIG", "SET", "nosuch", "1"),
    ("CONFIG", "SET", "maxmemory", "abc"), ("CONFIG", "SET", "a", "b", "c"),
    ("CONFIG", "SET", "hz", "5", "nosuch", "1"), ("CONFIG", "RESETSTAT", "x"),
    ("CONFIG", "REWRITE"), ("CONFIG", "FOO"),
    ("COMMAND", "COUNT", "x"), ("COMMAND", "GETKEYS"), ("COMMAND", "GETKEYS", "get"),
    ("COMMAND", "GETKEYS", "nosuch", "a"), ("COMMAND", "GETKEYS", "get", "a", "b"),
    ("COMMAND", "GETKEYS", "ping", "x"), ("COMMAND", "GETKEYS", "config", "get"),
    ("COMMAND", "GETKEYS", "memory", "nosuch", "k"), ("COMMAND", "LIST", "x"),
    ("COMMAND", "LIST", "FILTERBY", "foo", "x"), ("COMMAND", "LIST", "FILTERBY", "pattern"),
    ("COMMAND", "NOSUCH"),
    ("TIME", "x"), ("ROLE", "x"), ("LASTSAVE", "x"), ("MONITOR", "x"),
    ("SLOWLOG",), ("SLOWLOG", "GET", "-2"), ("SLOWLOG", "GET", "x"),
    ("SLOWLOG", "GET", "1", "2"), ("SLOWLOG", "LEN", "x"), ("SLOWLOG", "RESET", "x"),
    ("SLOWLOG", "NOSUCH"),
    ("LATENCY",), ("LATENCY", "HISTORY"), ("LATENCY", "GRAPH", "command"),
    ("LATENCY", "LATEST", "x"), ("LATENCY", "DOCTOR", "x"),
    ("MEMORY",), ("MEMORY", "USAGE"), ("MEMORY", "USAGE", "k", "SAMPLES", "x"),
    ("MEMORY", "USAGE", "k", "SAMPLES"), ("MEMORY", "USAGE", "k", "FOO", "1"),
    ("MEMORY", "STATS", "x"), ("MEMORY", "NOSUCH"),
    ("DEBUG",), ("DEBUG", "nosuch"), ("DEBUG", "DIGEST", "x"), ("DEBUG", "POPULATE"),
    ("DEBUG", "POPULATE", "x"), ("DEBUG", "POPULATE", "-1"), ("DEBUG", "POPULATE", "1", "k", "-1"),
    ("DEBUG", "POPULATE", "1", "k", "x"), ("DEBUG", "POPULATE", "1", "a", "b", "c"),
    ("DEBUG", "OBJECT"), ("DEBUG", "OBJECT", "nosuch"), ("DEBUG", "SDSLEN", "nosuch"),
    ("DEBUG", "SLEEP"), ("DEBUG", "SET-ACTIVE-EXPIRE"), ("DEBUG", "PROTOCOL", "foo"),
    ("DEBUG", "ERROR", "FOO bar baz"), ("DEBUG", "ERROR", "no code"),
    ("SHUTDOWN", "FOO"), ("SHUTDOWN", "NOSAVE", "SAVE"), ("SHUTDOWN", "ABORT"),
    ("SHUTDOWN", "ABORT", "NOW"), ("SHUTDOWN", "NOSAVE", "ABORT"),
]


@pytest.mark.parametrize("args", ERROR_CASES, ids=lambda a: " ".join(a))
def test_errors(diff, args):
    diff.run(*args)


def test_shutdown_and_monitor_refused_in_multi(diff):
    diff.run("MULTI")
    diff.run("SHUTDOWN")
    diff.run("MONITOR")
    diff.run("EXEC")


# ---- INFO ----


def field_names(text: bytes) -> list[bytes]:
    skip = (b"cmdstat_", b"errorstat_", b"latency_percentiles_usec_", b"db")
    return [line.split(b":", 1)[0] for line in text.split(b"\r\n")
            if line and not line.startswith(skip)]


@pytest.mark.parametrize("sections", [(), ("all",), ("everything",), ("default",),
                                      ("server", "cpu"), ("CLIENTS", "memory", "Stats"),
                                      ("persistence", "replication", "modules", "cluster"),
                                      ("commandstats", "errorstats", "latencystats"),
                                      ("keyspace",), ("nosuch",)])
def test_info_layout_matches(proto_diff, sections):
    d = proto_diff
    d.run("SET", "k", "v")
    d.run("GET", "k")
    d.run("NOSUCH")
    rk, rd = d.run("INFO", *sections)           # same RESP type (bulk / verbatim)
    rk_text = rk.split(b"\r\n", 1)[1].removeprefix(b"txt:")
    rd_text = rd.split(b"\r\n", 1)[1].removeprefix(b"txt:")
    assert field_names(rk_text) == field_names(rd_text)


def test_info_values_that_must_agree(diff):
    diff.run("SET", "a", "1")
    diff.run("SET", "b", "2", "EX", "100")
    diff.run("SELECT", "5")
    diff.run("SET", "c", "3")

    def info(conn: RawConn, section: str) -> dict[bytes, bytes]:
        text = conn.call("INFO", section).split(b"\r\n", 1)[1]
        return dict(line.split(b":", 1) for line in text.split(b"\r\n")
                    if b":" in line)

    for section, names in (
            ("server", (b"redis_version", b"redis_mode", b"arch_bits", b"hz",
                        b"configured_hz", b"io_threads_active")),
            ("clients", (b"maxclients", b"cluster_connections", b"blocked_clients")),
            ("memory", (b"maxmemory", b"maxmemory_human", b"maxmemory_policy",
                        b"used_memory_lua", b"number_of_cached_scripts")),
            ("persistence", (b"loading", b"rdb_bgsave_in_progress", b"aof_enabled",
                             b"rdb_last_bgsave_status")),
            ("replication", (b"role", b"connected_slaves", b"master_failover_state",
                             b"master_replid2", b"second_repl_offset", b"repl_backlog_size")),
            ("cluster", (b"cluster_enabled",))):
        rk, rd = info(diff.rk, section), info(diff.rd, section)
        assert {n: rk[n] for n in names} == {n: rd[n] for n in names}, section
    rk, rd = info(diff.rk, "keyspace"), info(diff.rd, "keyspace")
    assert {k: v.rsplit(b",", 1)[0] for k, v in rk.items()} == \
        {k: v.rsplit(b",", 1)[0] for k, v in rd.items()}
    assert rk[b"db0"].startswith(b"keys=2,expires=1,")
    assert len(info(diff.rk, "replication")[b"master_replid"]) == 40


# ---- DEBUG DIGEST: the same data gives the same fingerprint ----


def test_digest_of_an_empty_dataset(diff):
    assert diff.run("DEBUG", "DIGEST").redis == b"+" + b"0" * 40 + b"\r\n"
    diff.run("DEBUG", "DIGEST-VALUE", "nosuch")
    diff.run("DEBUG", "DIGEST-VALUE")


def test_digest_of_string_keys_with_and_without_ttl(diff):
    diff.run("SET", "plain", "value")
    diff.run("SET", "int", "12345")
    diff.run("SET", "empty", "")
    diff.run("SET", "binary", b"\x00\xff\r\n")
    diff.run("SET", "long", "x" * 5000)
    diff.run("DEBUG", "DIGEST")
    diff.run("SET", "ttl-ex", "v", "EX", "1000")
    diff.run("SET", "ttl-px", "v", "PX", "500000")
    diff.run("SET", "ttl-exat", "v", "EXAT", str(int(time.time()) + 999))
    diff.run("DEBUG", "DIGEST")
    diff.run("DEBUG", "DIGEST-VALUE", "plain", "int", "ttl-ex", "ttl-px", "nosuch", "long")
    diff.run("EXPIRE", "plain", "100")
    diff.run("DEBUG", "DIGEST")
    diff.run("PERSIST", "ttl-ex")
    diff.run("DEBUG", "DIGEST")
    diff.run("DEBUG", "DIGEST-VALUE", "plain", "ttl-ex")
    diff.run("SELECT", "9")
    diff.run("SET", "plain", "value")           # same key, other database
    diff.run("DEBUG", "DIGEST")
    diff.run("DEBUG", "DIGEST-VALUE", "plain")


def test_digest_of_a_random_dataset(diff):
    rng = random.Random(7)
    for _ in range(300):
        db = rng.choice((0, 0, 0, 1, 15))
        key = rng.choice(("k", "key:", "x")) + str(rng.randrange(200))
        value = rng.choice((str(rng.randrange(-10**6, 10**6)),
                            "".join(rng.choice("abc\x00\n") for _ in range(rng.randrange(60)))))
        args = ["SET", key, value]
        if rng.random() < 0.4:
            args += ["EX", str(rng.randrange(100, 10**6))]
        diff.run("SELECT", str(db))
        diff.run(*args)
    assert diff.run("DEBUG", "DIGEST").redis != b"+" + b"0" * 40 + b"\r\n"


def test_debug_populate_gives_the_same_keys_and_values(diff):
    diff.run("DEBUG", "POPULATE", "1000")
    diff.run("DEBUG", "POPULATE", "50", "pfx", "12")
    diff.run("DEBUG", "POPULATE", "50", "short", "3")
    diff.run("DEBUG", "POPULATE", "5", "", "0")
    diff.run("SET", "key:7", "mine")
    diff.run("DEBUG", "POPULATE", "10")        # existing keys are left alone
    diff.run("DBSIZE")
    diff.run("GET", "pfx:3")
    diff.run("GET", "key:7")
    diff.run("DEBUG", "DIGEST")
    diff.run("DEBUG", "POPULATE", "0")


# ---- CONFIG ----


def test_config_get(proto_diff):
    d = proto_diff
    for name in ("hz", "maxmemory", "maxmemory-policy", "notify-keyspace-events",
                 "slowlog-max-len", "nosuch", "SLOWLOG-LOG-SLOWER-THAN", "save"):
        d.run("CONFIG", "GET", name)
    d.run("CONFIG", "GET", "maxmemory*", "hz", "nosuch", normalize=norm_sorted_map)
    d.run("CONFIG", "GET", "slowlog*", normalize=norm_sorted_map)


def test_config_set_takes_effect(proto_diff):
    d = proto_diff
    try:
        d.run("CONFIG", "SET", "maxmemory", "100mb", "maxmemory-policy", "allkeys-lru")
        d.run("CONFIG", "GET", "maxmemory", normalize=norm_sorted_map)
        d.run("CONFIG", "GET", "maxmemory-policy")
        d.run("CONFIG", "SET", "slowlog-max-len", "2")
        d.run("CONFIG", "SET", "slowlog-log-slower-than", "0")
        d.run("SLOWLOG", "RESET")
        for i in range(4):
            d.run("SET", "k", str(i))
        d.run("SLOWLOG", "LEN")
        d.run("SLOWLOG", "GET", normalize=norm_slowlog)
        d.run("CONFIG", "SET", "hz", "1000")          # clamped to 500
        d.run("CONFIG", "GET", "hz")
    finally:
        d.run("CONFIG", "SET", "maxmemory", "0", "maxmemory-policy", "noeviction", "hz", "10",
              "slowlog-max-len", "128", "slowlog-log-slower-than", "10000")


def test_config_set_notify_keyspace_events(diff):
    sub = diff.other()
    try:
        sub.run("SUBSCRIBE", "__keyevent@0__:set")
        diff.run("SET", "quiet", "1")                 # no events yet
        diff.run("CONFIG", "SET", "notify-keyspace-events", "E$")
        diff.run("CONFIG", "GET", "notify-keyspace-events")
        diff.run("SET", "loud", "1")
        sub.read("event for SET loud")
        diff.run("CONFIG", "SET", "notify-keyspace-events", "")
        diff.run("SET", "quiet2", "1")
        sub.run("PING")                               # nothing was queued before the PONG
    finally:
        diff.run("CONFIG", "SET", "notify-keyspace-events", "")
        sub.close()


def test_config_resetstat(diff):
    diff.run("GET", "x")
    diff.run("CONFIG", "RESETSTAT")
    diff.run("INFO", "commandstats")     # same layout; values are timings
    stats = [conn.call("INFO", "stats") for conn in (diff.rk, diff.rd)]
    for text in stats:
        assert b"keyspace_misses:0\r\n" in text and b"total_error_replies:0\r\n" in text


# ---- COMMAND ----


MY_COMMANDS = ("info", "config", "command", "time", "role", "lastsave", "shutdown", "monitor",
               "slowlog", "latency", "memory", "debug", "get")


def test_command_info(proto_diff):
    d = proto_diff
    d.run("COMMAND", "INFO", *MY_COMMANDS, normalize=norm_command_info)
    d.run("COMMAND", "INFO", "nosuch", "config|get", "memory|usage", "slowlog|get",
          "latency|latest", "command|docs", "config|nosuch", normalize=norm_command_info)


def test_command_docs(proto_diff):
    d = proto_diff
    for name in MY_COMMANDS:
        d.run("COMMAND", "DOCS", name, normalize=norm_command_docs)
    d.run("COMMAND", "DOCS", "nosuch")
    d.run("COMMAND", "DOCS", "config|get", "get", "nosuch", normalize=norm_command_docs)


def test_command_list_filters(diff):
    diff.run("COMMAND", "LIST", "FILTERBY", "PATTERN", "conf*", normalize=norm_sorted_array)
    diff.run("COMMAND", "LIST", "FILTERBY", "pattern", "latency|*", normalize=norm_sorted_array)
    diff.run("COMMAND", "LIST", "FILTERBY", "pattern", "MEMORY?*", normalize=norm_sorted_array)
    diff.run("COMMAND", "LIST", "FILTERBY", "pattern", "slowlog*", normalize=norm_sorted_array)
    diff.run("COMMAND", "LIST", "FILTERBY", "MODULE", "x")
    diff.run("COMMAND", "LIST", "FILTERBY", "PATTERN", "nothing-matches-this")


@pytest.mark.parametrize("args", [
    ("set", "a", "b"), ("get", "a"), ("mset", "a", "b", "c", "d"), ("mget", "a", "b", "c"),
    ("del", "a", "b"), ("getex", "k", "EX", "10"), ("memory", "usage", "k"),
    ("incr", "k"), ("append", "k", "v"), ("getrange", "k", "0", "1"),
])
def test_command_getkeys(diff, args):
    diff.run("COMMAND", "GETKEYS", *args)


@pytest.mark.parametrize("args", [
    ("get", "a"), ("mset", "a", "b", "c", "d"), ("del", "a", "b"), ("memory", "usage", "k"),
    ("getdel", "k"), ("incrby", "k", "1"),
])
def test_command_getkeysandflags(proto_diff, args):
    proto_diff.run("COMMAND", "GETKEYSANDFLAGS", *args)


# ---- TIME ROLE LASTSAVE ----


def test_time_role_lastsave(proto_diff):
    d = proto_diff
    d.run("TIME")
    d.run("ROLE")
    rk, rd = d.run("LASTSAVE", normalize=lambda a, x, y: (Frame(":", 0), Frame(":", 0))
                   if x.kind == y.kind == ":" else (x, y))
    assert rk.startswith(b":") and abs(int(rk[1:]) - time.time()) < 10 ** 6


# ---- SLOWLOG / LATENCY ----


def test_slowlog_entries(proto_diff):
    d = proto_diff
    try:
        d.run("CONFIG", "SET", "slowlog-log-slower-than", "0")
        d.run("SLOWLOG", "RESET")
        d.run("SLOWLOG", "LEN")
        d.run("SET", "a", "b" * 200)                  # long argument: truncated in the log
        d.run("MSET", *[f"k{i}" for i in range(40)])  # many arguments: truncated too
        d.run("SLOWLOG", "GET", normalize=norm_slowlog)
        d.run("SLOWLOG", "GET", "1", normalize=norm_slowlog)
        d.run("SLOWLOG", "GET", "-1", normalize=norm_slowlog)
        d.run("SLOWLOG", "GET", "0")
        d.run("SLOWLOG", "LEN")
    finally:
        d.run("CONFIG", "SET", "slowlog-log-slower-than", "10000")
        d.run("SLOWLOG", "RESET")


def test_latency_replies_when_idle(proto_diff):
    d = proto_diff
    d.run("LATENCY", "RESET")
    d.run("LATENCY", "LATEST")
    d.run("LATENCY", "HISTORY", "command")
    d.run("LATENCY", "RESET", "a", "b")
    d.run("LATENCY", "DOCTOR")
    d.run("LATENCY", "HISTOGRAM", "nosuch")
    try:
        d.run("CONFIG", "SET", "latency-monitor-threshold", "1000")
        d.run("LATENCY", "DOCTOR")
    finally:
        d.run("CONFIG", "SET", "latency-monitor-threshold", "0")


# ---- MEMORY / DEBUG OBJECT ----


def test_memory_usage_of_strings(diff):
    rng = random.Random(3)
    for klen in (1, 10, 31, 32, 40, 255, 256):
        for vlen in (0, 1, 20, 21, 44, 45, 100, 255, 256, 286, 1000, 40000):
            key = "k" * klen
            value = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(vlen))
            diff.run("SET", key, value)
            diff.run("MEMORY", "USAGE", key)
            diff.run("DEBUG", "SDSLEN", key)
    for value in ("0", "-1", "9999", "10000", "-129", "2147483648", "9223372036854775807",
                  "9223372036854775808", "007", "1.5"):
        diff.run("SET", "n", value)
        diff.run("MEMORY", "USAGE", "n")
        diff.run("MEMORY", "USAGE", "n", "SAMPLES", "0")
        diff.run("DEBUG", "OBJECT", "n", normalize=norm_debug_object)
        diff.run("DEBUG", "SDSLEN", "n")
    diff.run("MEMORY", "USAGE", "nosuch")


def test_debug_object_of_short_strings(diff):
    for value in ("a", "hello", "x" * 20, "0123456789abcdefghij-"):
        diff.run("SET", "s", value)
        diff.run("DEBUG", "OBJECT", "s", normalize=norm_debug_object)


def test_memory_doctor_and_purge(proto_diff):
    proto_diff.run("MEMORY", "DOCTOR")
    proto_diff.run("MEMORY", "PURGE")


def test_memory_stats_field_names(proto_diff):
    d = proto_diff
    d.run("SET", "a", "b")

    def names(f: Frame) -> Frame:
        pairs = pairs_of(f)
        if pairs is None:
            return f
        return Frame("*", [k for k, _ in pairs])
    d.run("MEMORY", "STATS", normalize=lambda a, x, y: (names(x), names(y)))


# ---- DEBUG miscellany ----


@pytest.mark.parametrize("kind", ["string", "integer", "double", "bignum", "null", "array",
                                  "set", "map", "attrib", "push", "verbatim", "true", "false"])
def test_debug_protocol(proto_diff, kind):
    d = proto_diff
    replies = d.run("DEBUG", "PROTOCOL", kind)
    if replies.redis.startswith(b">"):        # RESP3 push: a normal reply follows it
        d.read("the reply after the push")
    d.run("PING")


def test_debug_misc(diff):
    diff.run("DEBUG", "SLEEP", "0")
    diff.run("DEBUG", "SLEEP", "0.01")
    diff.run("DEBUG", "SLEEP", "abc")
    diff.run("DEBUG", "SET-ACTIVE-EXPIRE", "1")
    diff.run("DEBUG", "LOG", "hello from the differential test")
    diff.run("DEBUG", "STRUCTSIZE")
    diff.run("DEBUG", "LEAK", "x")
    diff.run("SET", "a", "b")
    diff.run("DEBUG", "SDSLEN", "a")


def test_debug_set_active_expire(diff):
    try:
        diff.run("DEBUG", "SET-ACTIVE-EXPIRE", "0")
        diff.run("SET", "k", "v", "PX", "1")
        time.sleep(0.3)
        diff.run("DBSIZE")                   # not collected in the background
        diff.run("DEBUG", "DIGEST-VALUE", "k")
        diff.run("GET", "k")                 # lazily expired on access
        diff.run("DBSIZE")
    finally:
        diff.run("DEBUG", "SET-ACTIVE-EXPIRE", "1")


# ---- MONITOR ----


def norm_monitor(args, rk: Frame, rd: Frame):
    """+<secs>.<usecs> [<db> <ip>:<port>] "ARG" ...: keep the db, ip and arguments."""
    def shape(f: Frame) -> Frame:
        if f.kind != "+" or b"[" not in f.value:
            return f
        _, rest = f.value.split(b" ", 1)
        where, tail = rest.split(b"] ", 1)
        db, addr = where[1:].split(b" ", 1)
        return Frame("+", b"[" + db + b" " + addr.rsplit(b":", 1)[0] + b"] " + tail)
    return shape(rk), shape(rd)


def test_monitor(diff):
    mon = diff.other()
    try:
        mon.run("MONITOR")
        diff.run("SET", "k", "v a\n\x01")
        mon.read("monitor line for SET", normalize=norm_monitor)
        diff.run("CONFIG", "GET", "hz")        # admin commands are not shown
        diff.run("DEBUG", "DIGEST")
        diff.run("SELECT", "3")
        diff.run("GET", "k")
        mon.read("monitor line for SELECT", normalize=norm_monitor)
        mon.read("monitor line for GET", normalize=norm_monitor)
    finally:
        mon.close()


# ---- SHUTDOWN (own servers: it stops them) ----


def test_shutdown_nosave_closes_without_reply(tmp_path):
    require_binary("redis-server")
    rk = ServerProc("redkeep", dir=tmp_path / "rk").start()
    rd = ServerProc("redis", dir=tmp_path / "rd").start()
    try:
        with DiffPair(rk.port, rd.port) as d:
            d.run("SHUTDOWN", "FOO")
            d.run("SHUTDOWN", "ABORT")
            d.run("SET", "k", "v")
            d.rk.send_raw(b"SHUTDOWN NOSAVE\r\n")
            d.rd.send_raw(b"SHUTDOWN NOSAVE\r\n")
            d.expect_closed(timeout=10)
        wait_until(lambda: not rk.alive() and not rd.alive(), 15, what="both servers to exit")
        assert rk.proc.returncode == rd.proc.returncode == 0
    finally:
        rk.stop()
        rd.stop()


# ---- redis-cli start-up ----


def test_redis_cli_interactive_start_has_no_errors(redkeep_server):
    cli = shutil.which("redis-cli")
    if cli is None:
        require_binary("redis-cli")
    pid, fd = pty.fork()
    if pid == 0:                              # child: redis-cli on a terminal
        os.environ["TERM"] = "dumb"
        os.execv(cli, [cli, "-p", str(redkeep_server.port)])
    out = b""
    try:
        def pump(seconds: float) -> None:
            nonlocal out
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                ready, _, _ = select.select([fd], [], [], 0.05)
                if ready:
                    try:
                        out += os.read(fd, 65536)
                    except OSError:
                        return
        pump(1.0)
        for line in (b"help config get", b"command count", b"quit"):
            os.write(fd, line + b"\r")
            pump(1.0)
    finally:
        os.close(fd)
        os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    assert "Get the values of configuration parameters" in text
    assert "(integer)" in text
    assert "ERR" not in text and "error" not in text.lower()
