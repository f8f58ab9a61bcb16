"""Replay equivalence: what a server propagates rebuilds its dataset exactly.

Server A runs a random workload (tests/support/propcompare.Workload: every write family,
TTLs, several databases, MULTI/EXEC, scripts, blocking pops served by another client's
pushes, a ManualClock that advances so keys expire lazily and actively) with a capture
feed. After every step the captured operations are encoded as the AOF/replication
stream (StreamEncoder(PROPAGATE_ALL)), parsed back with RequestParser and executed on
server B through a master-link client, B being a replica (nothing expires by time on B:
keys go only when A's DEL arrives). B's clock runs `SKEW_MS` ahead of A's, as a replica
(or an AOF load) applies the stream later: a relative time or a server-made ID left in
the stream would give B another dataset. Then both datasets must be equal: per database
the keys and their absolute expire times after every step, DEBUG DIGEST (the values)
every DIGEST_EVERY steps and at the end. Every replayed command must
succeed (no error reply, no blocking) and be deterministic (`check_deterministic`: no
blocking command, no SPOP, no relative expire, no float increment, no XADD `*`) — that
catches the rewrites a replay on equal data cannot tell apart (INCRBYFLOAT, BLPOP...).
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redkeep.clock import ManualClock
from redkeep.resp.parser import RequestParser
from redkeep.resp.types import ErrorReply
from redkeep.server.blocking import BLOCKED
from redkeep.server.config import ServerConfig
from redkeep.server.digest import dataset_digest
from redkeep.server.propagation import PROPAGATE_ALL
from redkeep.server.server import Server
from support.propcompare import CaptureSide, Step, Workload

NOW = 1_700_000_000_000


def _config() -> ServerConfig:
    cfg = ServerConfig()
    cfg.save = []
    return cfg


SKEW_MS = 1234
DIGEST_EVERY = 10      # keys and expire times after every step, values every 10 steps

# Never in a stream: they would replay differently (Redis rewrites them all).
NEVER_PROPAGATED = frozenset({
    b"BLPOP", b"BRPOP", b"BLMOVE", b"BRPOPLPUSH", b"BLMPOP", b"BZPOPMIN", b"BZPOPMAX",
    b"BZMPOP", b"LMPOP", b"ZMPOP", b"SPOP", b"SETEX", b"PSETEX", b"GETEX", b"GETSET",
    b"GETDEL", b"EXPIRE", b"PEXPIRE", b"EXPIREAT", b"INCRBYFLOAT", b"HINCRBYFLOAT",
    b"EVAL", b"EVALSHA", b"FCALL",
})


def check_deterministic(argv: list[bytes]) -> None:
    name = argv[0].upper()
    assert name not in NEVER_PROPAGATED, f"{argv} propagated as is"
    opts = [a.upper() for a in argv[3:]]
    if name == b"SET":
        assert not {b"EX", b"PX", b"EXAT", b"GET"} & set(opts), f"{argv} propagated as is"
    if name == b"XADD":
        assert b"*" not in argv and not any(a.endswith(b"-*") for a in argv), argv
        assert b"~" not in argv, argv
    if name == b"XTRIM":
        assert b"~" not in argv, argv
    if name == b"RESTORE" and argv[2] != b"0":
        assert b"ABSTTL" in opts, f"{argv}: relative TTL propagated"


class SkewedClock:
    """Another node's clock: `base` plus a fixed offset."""

    def __init__(self, base: ManualClock, skew_ms: int) -> None:
        self.base, self.skew = base, skew_ms

    def monotonic_ms(self) -> int:
        return self.base.monotonic_ms()

    def wall_ms(self) -> int:
        return self.base.wall_ms() + self.skew

    def wall_us(self) -> int:
        return self.wall_ms() * 1000


class Replica:
    """Server B: applies a propagated byte stream as a replica's master link does."""

    def __init__(self, clock: object) -> None:
        self.srv = Server(_config(), clock)  # type: ignore[arg-type]
        self.srv.keyspace.is_replica = True
        self.srv.keyspace.applying_master = True
        self.link = self.srv.new_client()
        self.link.kind = "master"
        self.parser = RequestParser(use_hiredis=False)
        self.parser.is_master = True
        self.applied: list[list[bytes]] = []

    def apply(self, data: bytes) -> None:
        self.parser.feed(data)
        while (argv := self.parser.next_command()) is not None:
            self.applied.append(argv)
            check_deterministic(argv)
            reply = self.srv.execute(self.link, argv)
            assert reply is not BLOCKED, f"replayed {argv} blocked"
            replies = reply if argv[0].upper() == b"EXEC" else [reply]
            bad = [r for r in replies if isinstance(r, ErrorReply)]
            assert not bad, f"replayed {argv} failed: {bad}"


def same_dataset(a: Server, b: Server, digest: bool = True) -> str | None:
    """None when equal, else what differs (the digest, the costly part, if asked)."""
    for da, db in zip(a.keyspace.dbs, b.keyspace.dbs, strict=True):
        if set(da.data) != set(db.data):
            return (f"db {da.id} keys: only on A {sorted(set(da.data) - set(db.data))}, "
                    f"only on B {sorted(set(db.data) - set(da.data))}")
        if da.expires != db.expires:
            diff = {k: (da.expires.get(k), db.expires.get(k))
                    for k in set(da.expires) | set(db.expires)
                    if da.expires.get(k) != db.expires.get(k)}
            return f"db {da.id} expires differ (A, B): {diff}"
    if digest and dataset_digest(a.keyspace) != dataset_digest(b.keyspace):
        for da, db in zip(a.keyspace.dbs, b.keyspace.dbs, strict=True):
            for k in da.data:
                if _value(da.data[k]) != _value(db.data[k]):
                    return f"db {da.id} key {k!r}: A {_value(da.data[k])} B {_value(db.data[k])}"
        return "digests differ"
    return None


def _value(v: object) -> object:
    if isinstance(v, bytes):
        return v
    items = getattr(v, "items", None)
    return sorted(map(repr, items())) if items else sorted(map(repr, v))  # type: ignore


def replay_workload(seed: int, steps: list[Step]) -> tuple[int, int]:
    """Run `steps` on A, replay on B after each; returns (steps, commands replayed)."""
    clock = ManualClock(wall_ms=NOW)
    a = Server(_config(), clock)
    a.rng = random.Random(seed)
    side = CaptureSide(a, target=PROPAGATE_ALL)
    b = Replica(SkewedClock(clock, SKEW_MS))
    history: list[tuple[Step, list[list[bytes]]]] = []
    for n, step in enumerate(steps, 1):
        side.run(step)
        data = side.encoder.encode(side.ops)
        side.ops.clear()
        before = len(b.applied)
        b.apply(data)
        history.append((step, b.applied[before:]))
        problem = same_dataset(a, b.srv, digest=n % DIGEST_EVERY == 0 or n == len(steps))
        if problem:
            recent = "\n".join(f"  {s!r} -> {cmds!r}" for s, cmds in history[-12:])
            pytest.fail(f"seed {seed}: after {step!r}: {problem}\nlast steps:\n{recent}")
    return len(steps), len(b.applied)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_long_random_workload_replays_to_the_same_dataset(seed: int) -> None:
    n, replayed = replay_workload(seed, Workload(seed, "unit").steps(3000))
    assert replayed > n // 3     # the workload really writes


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_random_workloads_replay_to_the_same_dataset(seed: int) -> None:
    replay_workload(seed, Workload(seed, "unit").steps(400))
