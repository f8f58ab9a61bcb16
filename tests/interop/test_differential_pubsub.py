"""Differential tests for publish/subscribe and keyspace notifications: the same commands
to redkeep and to real redis-server 7.0.15, replies and pushed messages compared byte
for byte.

Covers SUBSCRIBE / PSUBSCRIBE / UNSUBSCRIBE / PUNSUBSCRIBE / PUBLISH / PUBSUB CHANNELS |
NUMSUB | NUMPAT in RESP2 and RESP3 (push frames, the subscribed-context error, PING in
subscribed mode), and keyspace notifications under several notify-keyspace-events
settings for the string and generic commands. A subscriber pair receives while a
publisher pair drives commands; after each step everything the subscriber got is
drained from both servers and compared as one byte stream (so order matters too).
"""

from __future__ import annotations

import time

import pytest

from support.differential import DiffPair
from support.resp import frame_end, parse, to_python

pytestmark = pytest.mark.interop

QUIET = 0.15   # seconds of silence that end a drain


def frames(raw: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(raw):
        end = frame_end(raw, pos)
        if end is None:
            out.append(raw[pos:])
            break
        out.append(raw[pos:end])
        pos = end
    return out


def drain_both(pair: DiffPair, quiet: float = QUIET) -> bytes:
    """Everything pending on both sides of `pair`; asserts the two streams are equal."""
    rk, rk_closed = pair.rk.drain(quiet=quiet)
    rd, rd_closed = pair.rd.drain(quiet=quiet)
    if (rk, rk_closed) != (rd, rd_closed):
        fk, fd = frames(rk), frames(rd)
        pairs = zip(fk, fd, strict=False)
        i = next((i for i, (a, b) in enumerate(pairs) if a != b), min(len(fk), len(fd)))
        raise AssertionError(
            f"subscriber streams differ at message #{i} (redkeep sent {len(fk)}, redis "
            f"{len(fd)}; closed {rk_closed}/{rd_closed})\n"
            f"  redkeep: {[to_python(parse(f)) for f in fk[i:i + 3]]}\n"
            f"  redis  : {[to_python(parse(f)) for f in fd[i:i + 3]]}\n"
            f"  subscriber history: {list(pair.history)[-10:]}")
    return rd


def read_n(pair: DiffPair, n: int) -> None:
    for _ in range(n):
        pair.read()


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def proto(request) -> int:
    return request.param


@pytest.fixture
def sub(diff, proto):
    """A second connection pair (the subscriber) in the parametrized protocol."""
    other = diff.other()
    try:
        if proto == 3:
            other.run("HELLO", 3)
        yield other
    finally:
        other.close()


# ---- SUBSCRIBE family ----


def test_subscribe_confirmations_and_messages(diff, sub):
    sub.run("SUBSCRIBE", "news", "sport", "news")     # three confirmations (news twice)
    read_n(sub, 2)
    assert diff.run("PUBLISH", "news", "hello").redis == b":1\r\n"
    diff.run("PUBLISH", "nobody", "x")
    diff.run("PUBLISH", "sport", b"\x00bin\r\nary")
    diff.run("PUBLISH", "sport", "")
    out = drain_both(sub)
    assert out.count(b"message") == 3
    diff.run("PUBSUB", "NUMSUB", "news", "sport", "nobody")
    diff.run("PUBSUB", "NUMSUB")
    diff.run("PUBSUB", "CHANNELS", "s*")
    diff.run("PUBSUB", "CHANNELS", "nomatch*")


def test_psubscribe_and_pmessage(diff, sub):
    sub.run("PSUBSCRIBE", "news.*", "h?llo", "[ab]*")
    read_n(sub, 2)
    diff.run("PUBLISH", "news.tech", "1")
    diff.run("PUBLISH", "hello", "2")
    diff.run("PUBLISH", "hallo", "3")
    diff.run("PUBLISH", "bcd", "4")
    diff.run("PUBLISH", "news", "5")
    drain_both(sub)
    diff.run("PUBSUB", "NUMPAT")
    sub.run("SUBSCRIBE", "news.tech")                  # channel + pattern: two deliveries
    assert diff.run("PUBLISH", "news.tech", "both").redis == b":2\r\n"
    drain_both(sub)


def test_unsubscribe_forms(diff, sub):
    sub.run("UNSUBSCRIBE")                              # nothing subscribed: null channel
    sub.run("PUNSUBSCRIBE")
    sub.run("SUBSCRIBE", "a", "b")
    sub.read()
    sub.run("PSUBSCRIBE", "p*")
    sub.run("UNSUBSCRIBE", "a", "never")
    sub.read()
    sub.run("UNSUBSCRIBE")                              # the remaining channel (b)
    sub.run("PUNSUBSCRIBE", "nope")
    sub.run("PUNSUBSCRIBE")
    diff.run("PUBSUB", "NUMPAT")
    diff.run("PUBSUB", "CHANNELS")
    sub.run("PING")                                     # out of subscribed mode again
    sub.run("GET", "k")


def test_subscribed_context_rules(diff, sub, proto):
    sub.run("SUBSCRIBE", "ch")
    sub.run("PING")
    sub.run("PING", "payload")
    sub.run("GET", "k")               # RESP2: the context error; RESP3: allowed
    sub.run("SET", "k", "v")
    sub.run("PUBSUB", "NUMSUB", "ch")
    sub.run("CLIENT", "ID")
    sub.run("PSUBSCRIBE", "x*")
    sub.run("UNSUBSCRIBE", "ch")
    sub.run("GET", "k")               # still subscribed to a pattern
    sub.run("PUNSUBSCRIBE", "x*")
    sub.run("GET", "k")
    sub.run("SUBSCRIBE", "ch")
    sub.run("RESET")                  # leaves subscribed mode
    sub.run("GET", "k")


def test_subscribe_arity_and_pubsub_errors(diff):
    diff.run("SUBSCRIBE")
    diff.run("PSUBSCRIBE")
    diff.run("PUBLISH", "ch")
    diff.run("PUBLISH", "ch", "a", "b")
    diff.run("PUBSUB")
    diff.run("PUBSUB", "NOSUCH")
    diff.run("PUBSUB", "NUMPAT", "x")
    diff.run("PUBSUB", "CHANNELS", "a", "b")
    diff.run("PUBSUB", "HELP")


def test_subscribe_inside_multi(diff, sub):
    sub.run("MULTI")
    sub.run("SUBSCRIBE", "tx")
    sub.run("EXEC")
    diff.run("PUBLISH", "tx", "after-exec")
    drain_both(sub)


def test_messages_to_many_subscribers_in_order(diff, proto):
    subs = [diff.other() for _ in range(3)]
    try:
        for i, s in enumerate(subs):
            if proto == 3:
                s.run("HELLO", 3)
            s.run("SUBSCRIBE", "fan")
            if i == 1:
                s.run("PSUBSCRIBE", "f*")
        assert diff.run("PUBLISH", "fan", "m").redis == b":4\r\n"
        diff.run("PUBSUB", "NUMSUB", "fan")
        for s in subs:
            drain_both(s)
    finally:
        for s in subs:
            s.close()


def test_resp3_client_gets_pushes_between_replies(diff):
    diff.run("HELLO", 3)
    diff.run("SUBSCRIBE", "self")
    publisher = diff.other()
    try:
        publisher.run("PUBLISH", "self", "one")
        drain_both(diff)
        diff.run("PUBLISH", "self", "to-myself")  # the push comes before the integer reply
        diff.read()
    finally:
        publisher.close()


# ---- Keyspace notifications ----


@pytest.fixture
def notify(server_pair):
    """Set notify-keyspace-events on both servers; restored to '' afterwards."""
    pairs = []

    def set_flags(flags: str) -> None:
        pair = DiffPair(server_pair.redkeep.port, server_pair.redis.port)
        pairs.append(pair)
        pair.run("CONFIG", "SET", "notify-keyspace-events", flags)
        pair.run("CONFIG", "GET", "notify-keyspace-events")
    yield set_flags
    for pair in pairs:
        pair.run("CONFIG", "SET", "notify-keyspace-events", "")
        pair.close()


STRING_COMMANDS = [
    ("SET", "s", "v"),
    ("SET", "s", "v2", "XX", "GET"),
    ("SET", "s", "v3", "NX"),              # no event: not set
    ("SETNX", "s", "v"),
    ("SETNX", "s2", "v"),
    ("SETEX", "s3", "100", "v"),
    ("PSETEX", "s4", "100000", "v"),
    ("SET", "s5", "v", "EX", "100"),
    ("SET", "s5", "v", "KEEPTTL"),
    ("APPEND", "s", "tail"),
    ("APPEND", "new-append", "x"),
    ("SETRANGE", "s", "2", "zz"),
    ("SETRANGE", "s", "0", ""),            # no event
    ("INCR", "n"),
    ("INCRBY", "n", "5"),
    ("DECR", "n"),
    ("DECRBY", "n", "2"),
    ("INCRBYFLOAT", "f", "1.5"),
    ("GETSET", "s", "gs"),
    ("MSET", "m1", "a", "m2", "b"),
    ("MSETNX", "m3", "a", "m1", "b"),      # no event: m1 exists
    ("MSETNX", "m4", "a", "m5", "b"),
    ("GETEX", "m4", "EX", "100"),
    ("GETEX", "m4", "PERSIST"),
    ("GETEX", "m4"),                       # no event
    ("GETDEL", "m5"),
    ("GETDEL", "m5"),                      # no event
    ("SETBIT", "bits", "7", "1"),
    ("GET", "missing"),                    # keymiss only with 'm'
    ("STRLEN", "missing"),
]

GENERIC_COMMANDS = [
    ("SET", "g1", "v"),
    ("SET", "g2", "v"),
    ("SET", "g3", "v"),
    ("EXPIRE", "g1", "100"),
    ("PEXPIRE", "g1", "100000"),
    ("EXPIREAT", "g2", "99999999999"),
    ("PEXPIREAT", "g2", "99999999999000"),
    ("EXPIRE", "g1", "100", "NX"),         # no event: already has a TTL
    ("PERSIST", "g1"),
    ("PERSIST", "g1"),                     # no event
    ("EXPIRE", "g3", "-1"),                # deletes: a del event
    ("RENAME", "g1", "g1b"),
    ("RENAMENX", "g1b", "g2"),             # no event: g2 exists
    ("RENAMENX", "g1b", "g1c"),
    ("COPY", "g1c", "g4"),
    ("COPY", "g1c", "g4", "REPLACE"),
    ("MOVE", "g4", "5"),
    ("DEL", "g1c", "nosuch", "g2"),
    ("UNLINK", "g4"),
    ("SET", "t", "v", "PX", "1"),
    ("DEBUG", "SLEEP", "0.01"),
    ("GET", "t"),                          # lazily expired: expired (+ keymiss) events
    ("EXISTS", "t"),
    ("SWAPDB", "0", "5"),                  # no key events
    ("SWAPDB", "0", "5"),
    ("FLUSHDB",),                          # no key events
]


def _subscribe_all(sub: DiffPair) -> None:
    sub.run("PSUBSCRIBE", "__key*__:*")


def _run_all(diff: DiffPair, commands) -> None:
    for cmd in commands:
        diff.run(*cmd)


@pytest.mark.parametrize("flags", ["KEA", "K$", "E$", "Kg", "Eg", "KA", "EA", "Exe",
                                   "AKEm"])
def test_keyspace_events_string_commands(diff, sub, notify, flags):
    notify(flags)
    _subscribe_all(sub)
    drain_both(sub)
    _run_all(diff, STRING_COMMANDS)
    drain_both(sub, quiet=0.3)


@pytest.mark.parametrize("flags", ["KEA", "Kg", "Eg", "Kgx", "Ex", "Egm", "KEn", "AKEnm"])
def test_keyspace_events_generic_commands(diff, sub, notify, flags):
    notify(flags)
    _subscribe_all(sub)
    drain_both(sub)
    _run_all(diff, GENERIC_COMMANDS)
    drain_both(sub, quiet=0.3)


def test_keyspace_events_in_other_databases_and_multi(diff, sub, notify):
    notify("KEA")
    _subscribe_all(sub)
    diff.run("SELECT", "3")
    diff.run("SET", "k", "v")
    diff.run("MULTI")
    diff.run("INCR", "c")
    diff.run("DEL", "k")
    diff.run("EXPIRE", "c", "10")
    diff.run("EXEC")
    drain_both(sub, quiet=0.3)
    diff.run("FLUSHDB")


def test_keyspace_events_channel_subscription(diff, sub, notify):
    notify("KE$g")
    sub.run("SUBSCRIBE", "__keyspace@0__:watched", "__keyevent@0__:del")
    sub.read()
    diff.run("SET", "watched", "1")
    diff.run("SET", "other", "1")
    diff.run("DEL", "other", "watched")
    drain_both(sub, quiet=0.3)


def test_expired_event_from_active_expiry(diff, sub, notify):
    """Active expiry runs on each server's own schedule: collect each side until both
    events arrived, then compare the messages."""
    notify("Ex")
    _subscribe_all(sub)
    drain_both(sub)
    diff.run("SET", "short", "v", "PX", "50")
    diff.run("SET", "short2", "v", "PX", "80")
    streams = {}
    for name, conn in (("redkeep", sub.rk), ("redis", sub.rd)):
        got = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and got.count(b"expired") < 2:
            got += conn.drain(quiet=0.2, timeout=1)[0]
        streams[name] = got
    # Redis's active cycle samples keys at random: the order of the two is arbitrary
    assert sorted(frames(streams["redkeep"])) == sorted(frames(streams["redis"])), streams
    assert streams["redis"].count(b"expired") == 2


def test_notify_keyspace_events_config_values(diff, notify):
    for flags in ("", "K", "E", "A", "g$lshzxetdmn", "KEA", "AKE", "KE$$", "x", "Kx"):
        diff.run("CONFIG", "SET", "notify-keyspace-events", flags)
        diff.run("CONFIG", "GET", "notify-keyspace-events")
    diff.run("CONFIG", "SET", "notify-keyspace-events", "Q")
    diff.run("CONFIG", "SET", "notify-keyspace-events", "")


def test_evicted_event_and_oom(diff, sub, notify):
    """One key and maxmemory 1: both servers must evict exactly that key, then refuse."""
    notify("KEe")
    _subscribe_all(sub)
    drain_both(sub)
    diff.run("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    diff.run("SET", "only", "v")
    try:
        diff.run("CONFIG", "SET", "maxmemory", "1")
        diff.run("EXISTS", "only")
        diff.run("SET", "again", "v")          # nothing left to evict: OOM
        diff.run("GET", "again")
        diff.run("CONFIG", "SET", "maxmemory-policy", "volatile-ttl")
        diff.run("SET", "again", "v")
        diff.run("CONFIG", "SET", "maxmemory-policy", "noeviction")
        diff.run("SET", "again", "v")
        diff.run("DEL", "again")               # not denyoom: allowed
        diff.run("GET", "only")
    finally:
        diff.run("CONFIG", "SET", "maxmemory", "0")
        diff.run("CONFIG", "SET", "maxmemory-policy", "noeviction")
    drain_both(sub, quiet=0.3)


def test_oom_inside_multi_and_exec(diff):
    admin = diff.other()
    diff.run("SET", "k", "v")
    try:
        diff.run("MULTI")
        diff.run("SET", "x", "1")
        diff.run("GET", "k")
        admin.run("CONFIG", "SET", "maxmemory", "1")
        diff.run("EXEC")                       # EXECABORT ... because of: OOM ...
        diff.run("EXEC")
        diff.run("MULTI")
        diff.run("GET", "k")                   # even reads are refused inside MULTI
        diff.run("PING")
        diff.run("EXEC")
        diff.run("MULTI")
        diff.run("DISCARD")
        diff.run("GET", "k")
        diff.run("SET", "k", "w")
    finally:
        admin.run("CONFIG", "SET", "maxmemory", "0")
        admin.close()
