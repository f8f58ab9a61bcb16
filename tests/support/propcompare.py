"""Propagation workloads, and redkeep running them with a capture feed.

Theory of operation
-------------------
`Workload(seed, mode).steps(n)` makes a reproducible list of steps covering every write
command family: strings with every expire form, the EXPIRE family (future, past, with
NX/XX/GT/LT), lists, sets (SPOP), sorted sets, hashes, streams (XADD ids made by the
server, `~` trims, LIMIT), RESTORE, key moves between several databases, MULTI/EXEC,
scripts, blocking pops (queued, then served by another client's push) and, in "unit"
mode, a ManualClock that advances so keys expire lazily and actively. A step is

  ("A", argv)    run on the main client (its database follows its SELECTs)
  ("B", argv)    a blocking command, sent on the first blocking client not blocked
                 (blocking clients stay in db 0; in unit mode some have a timeout)
  ("P", argv)    a write on the "pusher" client, which stays in db 0 (serves waiters)
  ("T", ms)      advance the clock (unit mode only)
  ("E", 0)       run the active expire cycle (unit mode only)

"interop" mode keeps to what two servers with different clocks and random generators
agree on: TTLs are far future or already past, XADD `*` only on one key that is dropped
right after, a random SPOP is followed by a DEL of its key, approximate trims only where
Redis's node layout and redkeep's model cannot differ (MAXLEN ~ n>0 on small streams, no
MINID ~), no SWAPDB of the db where clients wait (Redis wakes them in hash order) and
no key of another type in a family's key pool.

`CaptureSide` runs steps on an in-process `Server` with a capture feed; `take_commands()`
returns what was propagated since the last call as a replica would read it (StreamEncoder
to RESP, parsed back with RequestParser), so it compares one to one with a real master's
stream. `unblocked` records the waiters served (or timed out) with their command.
"""

from __future__ import annotations

import random
from typing import Any

from redkeep.persistence.rdb import dump_value
from redkeep.resp.parser import RequestParser
from redkeep.server.blocking import BLOCKED
from redkeep.server.propagation import PROPAGATE_REPL, StreamEncoder

Step = tuple[str, Any]

FAR_MS = 4_000_000_000_000          # year 2096: never reached during a test
FAR_S = FAR_MS // 1000
PAYLOAD = dump_value(b"restored", compress=False)
MARKER = b"__propagation_marker__"


def argv_of(*args: object) -> list[bytes]:
    return [a if isinstance(a, bytes) else str(a).encode() for a in args]


# ---- The workload ----

class Workload:
    """Random steps; `mode` is "unit" (ManualClock, any randomness) or "interop"."""

    def __init__(self, seed: int, mode: str = "unit", dbs: int = 3) -> None:
        assert mode in ("unit", "interop")
        self.rng = random.Random(seed)
        self.unit = mode == "unit"
        self.dbs = dbs
        self.next_id = 1
        self.out: list[Step] = []

    def steps(self, n: int) -> list[Step]:
        families = [
            (self.strings, 14), (self.expires, 8), (self.lists, 10), (self.blocking, 6),
            (self.sets, 7), (self.zsets, 8), (self.hashes, 6), (self.streams, 6),
            (self.keys, 7), (self.restore, 2), (self.dbcmds, 3), (self.multi, 4),
            (self.scripts, 3), (self.clock, 6 if self.unit else 0),
        ]
        funcs = [f for f, w in families for _ in range(w)]
        while len(self.out) < n:
            self.rng.choice(funcs)()
        return self.out             # a family may add a few past n (never cut a MULTI)

    # -- helpers --

    def a(self, *args: object) -> None:
        self.out.append(("A", argv_of(*args)))

    def key(self, kind: str) -> str:
        # now and then a key of another type (not in interop mode: Redis 7.0 does not
        # wake a waiter when a STORE overwrites a key of another type, redkeep does)
        if self.unit and self.rng.random() < 0.04:
            kind = self.rng.choice(["str", "list", "set", "zset", "hash", "stream"])
        return f"{kind}:{self.rng.randint(0, 3)}"

    def val(self) -> str:
        return self.rng.choice(["a", "b", "c", "d", "7", "-3", "2.5", ""])

    def member(self) -> str:
        return self.rng.choice(["m1", "m2", "m3", "m4", "m5", "1", "2", "30"])

    def future_ttl(self) -> list[str]:
        """A relative or absolute expire option that stays in the future."""
        r = self.rng
        if self.unit and r.random() < 0.5:       # short: the clock steps reach it
            return r.choice([["PX", str(r.randint(1, 300))], ["EX", "1"]])
        return r.choice([["EX", str(r.randint(100, 1000))],
                         ["PX", str(r.randint(100_000, 900_000))],
                         ["EXAT", str(FAR_S + r.randint(0, 99))],
                         ["PXAT", str(FAR_MS + r.randint(0, 99_999))]])

    def past_abs(self) -> list[str]:
        return self.rng.choice([["EXAT", str(self.rng.randint(1, 1000))],
                                ["PXAT", str(self.rng.randint(1, 1_000_000))]])

    def expire_opt(self) -> list[str]:
        r = self.rng.random()
        return self.future_ttl() if r < 0.75 else self.past_abs()

    # -- families --

    def strings(self) -> None:
        r, k = self.rng, self.key("str")
        pick = r.randint(0, 21)
        if pick <= 3:
            opts: list[str] = []
            if r.random() < 0.6:
                opts += self.expire_opt()
            elif r.random() < 0.3:
                opts.append("KEEPTTL")
            if r.random() < 0.3:
                opts.append(r.choice(["NX", "XX"]))
            if r.random() < 0.3:
                opts += ["GET"] * r.randint(1, 2)
            self.a("SET", k, self.val(), *opts)
        elif pick == 4:
            self.a("SETEX", k, r.randint(100, 999), self.val())
        elif pick == 5:
            self.a("PSETEX", k, r.randint(100_000, 999_999) if not self.unit
                   else r.randint(1, 400), self.val())
        elif pick == 6:
            self.a("SETNX", k, self.val())
        elif pick == 7:
            self.a("GETSET", k, self.val())
        elif pick == 8:
            self.a("GETDEL", k)
        elif pick <= 10:
            opt = r.choice([[], ["PERSIST"], self.future_ttl(), self.past_abs()])
            self.a("GETEX", k, *opt)
        elif pick == 11:
            self.a(r.choice(["INCR", "DECR"]), k)
        elif pick == 12:
            self.a(r.choice(["INCRBY", "DECRBY"]), k, r.randint(-5, 5))
        elif pick == 13:
            self.a("INCRBYFLOAT", k, r.choice(["1.5", "-0.25", "0", "1e2", "3"]))
        elif pick == 14:
            self.a("APPEND", k, self.val())
        elif pick == 15:
            self.a("SETRANGE", k, r.randint(0, 6), r.choice(["", "xy", "z"]))
        elif pick == 16:
            self.a("SETBIT", k, r.randint(0, 20), r.randint(0, 1))
        elif pick == 17:
            self.a("BITOP", r.choice(["AND", "OR", "XOR"]), self.key("str"), k,
                   self.key("str"))
        elif pick == 18:
            self.a("MSET", k, self.val(), self.key("str"), self.val())
        elif pick == 19:
            self.a("MSETNX", k, self.val(), self.key("str"), self.val())
        else:
            self.a(r.choice(["GET", "STRLEN", "TTL"]), k)

    def expires(self) -> None:
        r, k = self.rng, self.key(r_kind(self.rng))
        name = r.choice(["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT", "PERSIST"])
        if name == "PERSIST":
            self.a("PERSIST", k)
            return
        when = r.random()
        if name == "EXPIRE":
            t = r.randint(-5, 0) if when < 0.2 else (r.randint(1, 2) if self.unit and when < 0.5
                                                     else r.randint(100, 999))
        elif name == "PEXPIRE":
            t = r.randint(-500, 0) if when < 0.2 else (r.randint(1, 300) if self.unit
                                                       and when < 0.5 else r.randint(10**5, 10**6))
        elif name == "EXPIREAT":
            t = r.randint(1, 1000) if when < 0.25 else FAR_S + r.randint(0, 1000)
        else:
            t = r.randint(1, 10**6) if when < 0.25 else FAR_MS + r.randint(0, 10**6)
        flags = r.choice([[], [], [], ["NX"], ["XX"], ["GT"], ["LT"], ["XX", "GT"]])
        self.a(name, k, t, *flags)

    def lists(self) -> None:
        r, k = self.rng, self.key("list")
        pick = r.randint(0, 12)
        if pick <= 2:
            self.a(r.choice(["LPUSH", "RPUSH"]), k, *[self.val() or "e"
                                                       for _ in range(r.randint(1, 3))])
        elif pick == 3:
            self.a(r.choice(["LPUSHX", "RPUSHX"]), k, "x")
        elif pick == 4:
            extra = [str(r.randint(0, 3))] if r.random() < 0.5 else []
            self.a(r.choice(["LPOP", "RPOP"]), k, *extra)
        elif pick == 5:
            extra = ["COUNT", str(r.randint(1, 4))] if r.random() < 0.6 else []
            self.a("LMPOP", 2, k, self.key("list"), r.choice(["LEFT", "RIGHT"]), *extra)
        elif pick == 6:
            self.a("LMOVE", k, self.key("list"), r.choice(["LEFT", "RIGHT"]),
                   r.choice(["left", "RIGHT"]))
        elif pick == 7:
            self.a("RPOPLPUSH", k, self.key("list"))
        elif pick == 8:
            self.a("LSET", k, r.randint(-2, 2), self.val())
        elif pick == 9:
            self.a("LREM", k, r.randint(-2, 2), self.val())
        elif pick == 10:
            self.a("LTRIM", k, r.randint(-3, 2), r.randint(-3, 3))
        elif pick == 11:
            self.a("LINSERT", k, r.choice(["BEFORE", "AFTER"]), self.val(), "ins")
        elif r.random() < 0.3:
            self.a("SORT", k, "ALPHA", *(["DESC"] if r.random() < 0.5 else []), "STORE",
                   self.key("list"))
        elif r.random() < 0.5:
            self.a("LLEN", k)
        else:
            self.a("LRANGE", k, 0, -1)

    def blocking(self) -> None:
        r = self.rng
        k, k2 = self.key("list"), self.key("list")
        z, z2 = self.key("zset"), self.key("zset")
        pick = r.randint(0, 7)
        if pick == 0:
            cmd = ["BLPOP", k, k2, "0"]
        elif pick == 1:
            cmd = ["BRPOP", k, "0"]
        elif pick == 2:
            cmd = ["BLMOVE", k, k2, r.choice(["LEFT", "right"]), r.choice(["LEFT", "RIGHT"]), "0"]
        elif pick == 3:
            cmd = ["BRPOPLPUSH", k, k2, "0"]
        elif pick == 4:
            cmd = ["BLMPOP", "0", "2", k, k2, r.choice(["LEFT", "RIGHT"]),
                   *(["COUNT", str(r.randint(1, 3))] if r.random() < 0.5 else [])]
        elif pick == 5:
            cmd = [r.choice(["BZPOPMIN", "BZPOPMAX"]), z, z2, "0"]
        elif pick == 6:
            cmd = ["BZMPOP", "0", "1", z, r.choice(["MIN", "MAX"]),
                   *(["COUNT", str(r.randint(1, 3))] if r.random() < 0.5 else [])]
        else:                      # a push that may serve a waiter
            self.push(r.choice(["RPUSH", "LPUSH"]), k, "p1", "p2")
            return
        if self.unit and r.random() < 0.3:
            timeout_at = 1 if cmd[0] in ("BLMPOP", "BZMPOP") else -1
            cmd[timeout_at] = r.choice(["0.1", "1"])
        self.out.append(("B", argv_of(*cmd)))
        if r.random() < 0.6:       # and often a write that serves it
            if cmd[0].startswith("BZ"):
                self.push("ZADD", r.choice([z, z2]), r.randint(1, 9), self.member(),
                          r.randint(1, 9), self.member())
            elif r.random() < 0.2:
                self.push("MULTI")
                self.push("RPUSH", k, "t1")
                self.push("LPUSH", k2, "t2")
                self.push("EXEC")
            else:
                self.push(r.choice(["RPUSH", "LPUSH"]), r.choice([k, k2]), "s1", "s2", "s3")

    def push(self, *args: object) -> None:
        self.out.append(("P", argv_of(*args)))

    def sets(self) -> None:
        r, k = self.rng, self.key("set")
        pick = r.randint(0, 9)
        if pick <= 2:
            self.a("SADD", k, *[self.member() for _ in range(r.randint(1, 4))])
        elif pick == 3:
            self.a("SREM", k, *[self.member() for _ in range(r.randint(1, 3))])
        elif pick == 4:
            self.a("SMOVE", k, self.key("set"), self.member())
        elif pick <= 6:
            args = [str(r.randint(0, 6))] if r.random() < 0.6 else []
            self.a("SPOP", k, *args)
            if not self.unit:          # the choice was random: drop it on both servers
                self.a("DEL", k)
        elif pick == 7:
            self.a(r.choice(["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]), self.key("set"), k,
                   self.key("set"))
        elif pick == 8:
            self.a("SRANDMEMBER", k, r.randint(-3, 3))
        else:
            self.a(r.choice(["SCARD", "SMEMBERS"]), k)

    def zsets(self) -> None:
        r, k = self.rng, self.key("zset")
        pick = r.randint(0, 11)
        if pick <= 2:
            flags = r.choice([[], [], ["NX"], ["XX"], ["GT", "CH"], ["LT"], ["INCR"]])
            pairs = 1 if "INCR" in flags else r.randint(1, 3)
            body = [x for _ in range(pairs) for x in (r.choice(["1", "2.5", "-1", "7"]),
                                                      self.member())]
            self.a("ZADD", k, *flags, *body)
        elif pick == 3:
            self.a("ZINCRBY", k, r.choice(["0", "1", "-2.5"]), self.member())
        elif pick == 4:
            self.a("ZREM", k, self.member(), self.member())
        elif pick == 5:
            self.a(r.choice(["ZPOPMIN", "ZPOPMAX"]), k, *([str(r.randint(0, 3))]
                                                           if r.random() < 0.5 else []))
        elif pick == 6:
            self.a("ZMPOP", 2, k, self.key("zset"), r.choice(["MIN", "MAX"]),
                   *(["COUNT", str(r.randint(1, 4))] if r.random() < 0.5 else []))
        elif pick == 7:
            self.a("ZREMRANGEBYSCORE", k, r.choice(["-inf", "0", "(1"]), r.choice(["2", "+inf"]))
        elif pick == 8:
            self.a(r.choice(["ZREMRANGEBYRANK"]), k, r.randint(-2, 1), r.randint(-1, 2))
        elif pick == 9:
            self.a("ZRANGESTORE", self.key("zset"), k, 0, r.randint(-1, 2))
        elif pick == 10:
            self.a(r.choice(["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]), self.key("zset"), 2,
                   k, self.key("zset"))
        else:
            self.a("ZREMRANGEBYLEX", k, "[m2", "[m4")

    def hashes(self) -> None:
        r, k = self.rng, self.key("hash")
        f = r.choice(["f1", "f2", "f3", "n"])
        pick = r.randint(0, 6)
        if pick <= 1:
            self.a(r.choice(["HSET", "HMSET"]), k, f, self.val(), r.choice(["f1", "f4"]), "x")
        elif pick == 2:
            self.a("HSETNX", k, f, self.val())
        elif pick == 3:
            self.a("HDEL", k, f, r.choice(["f2", "zz"]))
        elif pick == 4:
            self.a("HINCRBY", k, "n", r.randint(-3, 3))
        elif pick == 5:
            self.a("HINCRBYFLOAT", k, r.choice(["n", "fl"]), r.choice(["0.5", "0", "-1.25e1"]))
        else:
            self.a("HGETALL", k)

    def streams(self) -> None:
        r, k = self.rng, self.key("stream")
        pick = r.randint(0, 7)
        self.next_id += r.randint(1, 3)
        sid = r.choice([f"{self.next_id}-1", f"{self.next_id}", f"{self.next_id}-*"])
        if pick <= 2:
            trim: list[str] = []
            if r.random() < 0.5:
                trim = self.trim_args()
            nomk = ["NOMKSTREAM"] if r.random() < 0.2 else []
            self.a("XADD", k, *nomk, *trim, sid, "f", self.val())
        elif pick == 3:
            if self.unit:
                self.a("XADD", k, *(self.trim_args() if r.random() < 0.3 else []), "*", "f", "v")
            else:                      # the ID comes from the clock: drop it after
                self.a("XADD", "stream:auto", "*", "f", "v")
                self.a("XADD", "stream:auto", "MAXLEN", "~", "5", "*", "f", "v")
                self.a("DEL", "stream:auto")
        elif pick <= 5:
            if self.unit and r.random() < 0.4:    # past a node (100 entries): ~ trims
                self.a("XTRIM", "stream:big", r.choice(["MAXLEN", "MINID"]), "~",
                       r.choice(["10", "120", "1", f"{10**12}-0"]),
                       *(["LIMIT", r.choice(["0", "50", "100", "300"])]
                         if r.random() < 0.5 else []))
                return
            self.a("XTRIM", k, *self.trim_args())
        elif pick == 6:
            self.a("XDEL", k, f"{r.randint(1, self.next_id)}-1", f"{self.next_id}-0")
        else:
            self.a("XLEN", k)

    def trim_args(self) -> list[str]:
        r = self.rng
        if r.random() < 0.5:
            exact = r.choice([[], ["="]])
            n = r.randint(0, 4)
            approx = ["~", str(r.randint(0 if self.unit else 1, 4))]
            limit = ["LIMIT", str(r.randint(0, 3))] if r.random() < 0.3 else []
            return ["MAXLEN", *exact, str(n)] if r.random() < 0.5 else \
                ["MAXLEN", *approx, *limit]
        minid = f"{max(1, self.next_id - r.randint(0, 8))}-0"
        # MINID ~ sends the first ID *with* deleted entries still in Redis's first node,
        # which redkeep does not keep: only exact MINID trims in interop mode
        if r.random() < 0.5 or not self.unit:
            return ["MINID", minid]
        return ["MINID", "~", minid]

    def keys(self) -> None:
        r = self.rng
        kind = r_kind(r)
        k, k2 = self.key(kind), self.key(kind)
        pick = r.randint(0, 8)
        if pick <= 1:
            self.a(r.choice(["DEL", "UNLINK"]), k, *([k2] if r.random() < 0.5 else []))
        elif pick == 2:
            self.a(r.choice(["RENAME", "RENAMENX"]), k, k2)
        elif pick == 3:
            extra = ["DB", str(r.randrange(self.dbs))] if r.random() < 0.4 else []
            self.a("COPY", k, k2, *extra, *(["REPLACE"] if r.random() < 0.5 else []))
        elif pick == 4:
            self.a("MOVE", k, r.randrange(self.dbs))
        elif pick == 5:
            self.a("EXISTS", k, k2)
        elif pick == 6:
            self.a("TYPE", k)
        else:
            self.a(r.choice(["TTL", "PTTL"]), k)

    def restore(self) -> None:
        r, k = self.rng, self.key("str")
        ttl = r.choice([["0"], [str(r.randint(100_000, 999_999))],
                        [str(FAR_MS), "ABSTTL"], [str(r.randint(1, 1000)), "ABSTTL"]])
        if self.unit and r.random() < 0.3:
            ttl = [str(r.randint(1, 300))]
        extra = ["REPLACE"] if r.random() < 0.7 else []
        opts = ttl[1:] + extra
        r.shuffle(opts)
        self.a("RESTORE", k, ttl[0], PAYLOAD, *opts)

    def dbcmds(self) -> None:
        r = self.rng
        x = r.random()
        if x < 0.8:
            self.a("SELECT", r.randrange(self.dbs))
        elif x < 0.9:
            if self.unit:
                self.a("SWAPDB", r.randrange(self.dbs), r.randrange(self.dbs))
            else:   # not db 0, where clients wait: Redis wakes them in hash order
                self.a("SWAPDB", 1, 2)
        elif x < 0.97:
            self.a("FLUSHDB")
        else:
            self.a("FLUSHALL")

    def multi(self) -> None:
        """MULTI, a few commands (what a family adds after its command, like the DEL
        after a random SPOP, stays inside: same db), then EXEC or DISCARD."""
        r = self.rng
        self.a("MULTI")
        families = [self.strings, self.expires, self.lists, self.sets, self.zsets,
                    self.hashes, self.keys]
        for _ in range(r.randint(0, 4)):
            x = r.random()
            if x < 0.15:
                self.a("SELECT", r.randrange(self.dbs))
            elif x < 0.25:                # inside MULTI a blocking command never blocks
                k, z = self.key("list"), self.key("zset")
                self.a(*r.choice([["BLPOP", k, 0], ["BRPOP", k, self.key("list"), 0],
                                  ["BLMOVE", k, self.key("list"), "LEFT", "RIGHT", 0],
                                  ["BRPOPLPUSH", k, k, 0], ["BLMPOP", 0, 1, k, "LEFT"],
                                  ["BZPOPMIN", z, 0], ["BZMPOP", 0, 1, z, "MAX", "COUNT", 2]]))
            else:
                r.choice(families)()
        self.a("EXEC" if r.random() < 0.9 else "DISCARD")

    def scripts(self) -> None:
        r = self.rng
        s1, s2 = self.key("str"), self.key("str")
        bodies = [
            ("redis.call('set', KEYS[1], ARGV[1], 'EX', '500'); "
             "return redis.call('incrbyfloat', KEYS[2], '1.5')", [s1, s2], ["v"]),
            ("return redis.call('expire', KEYS[1], ARGV[1])", [s1], [r.choice(["100", "-1"])]),
            ("redis.call('lpush', KEYS[1], 'a', 'b'); return redis.call('rpop', KEYS[1])",
             [self.key("list")], []),
            ("return redis.call('hincrbyfloat', KEYS[1], 'fl', '0.5')", [self.key("hash")], []),
            ("redis.call('get', KEYS[1]); return redis.call('setex', KEYS[2], '100', 'v')",
             [s1, s2], []),
            ("redis.call('getex', KEYS[1], 'PX', '100000'); return redis.call('del', KEYS[2])",
             [s1, s2], []),
            ("return redis.call('xadd', KEYS[1], ARGV[1], 'f', 'v')", [self.key("stream")],
             [f"{self.next_id + 1}-*"]),
        ]
        if self.unit:
            bodies += [
                ("for i = 1, 130 do redis.call('xadd', KEYS[1], '*', 'n', i) end; "
                 "return redis.call('xtrim', KEYS[1], 'MAXLEN', '~', '150')",
                 ["stream:big"], []),
                ("return redis.call('spop', KEYS[1])", [self.key("set")], []),
                ("return redis.call('spop', KEYS[1], '2')", [self.key("set")], []),
                ("redis.call('sadd', KEYS[1], 'x', 'y', 'z'); "
                 "return redis.call('spop', KEYS[1], '2')", [self.key("set")], []),
            ]
        body, keys, args = r.choice(bodies)
        self.next_id += 1
        self.a("EVAL", body, len(keys), *keys, *args)

    def clock(self) -> None:
        r = self.rng
        if r.random() < 0.2:
            self.out.append(("E", 0))
        else:
            self.out.append(("T", r.choice([0, 1, 5, 50, 150, 400, 1200])))


def r_kind(r: random.Random) -> str:
    return r.choice(["str", "list", "set", "zset", "hash", "stream"])


# ---- redkeep in process, with a capture feed ----

class CaptureSide:
    """An in-process Server running steps (`run`), with a capture feed (`take_commands`)."""

    def __init__(self, server: Any, blockers: int = 4, target: int = PROPAGATE_REPL) -> None:
        self.srv = server
        self.ops: list = []
        server.propagator.feeds.append(self.ops.extend)
        self.encoder = StreamEncoder(target)
        self.parser = RequestParser(use_hiredis=False)
        self.parser.is_master = True
        self.main = server.new_client()
        self.marker_client = server.new_client()
        self.pusher = server.new_client()
        self.blockers = [server.new_client() for _ in range(blockers)]
        self.unblocked: list[tuple[list[bytes], Any]] = []   # (its command, reply)
        self.waiting: dict[int, list[bytes]] = {}            # blocked client -> command
        for c in self.blockers:
            c.on_unblock = (lambda reply, cid=c.id:
                            self.unblocked.append((self.waiting.pop(cid), reply)))

    def execute(self, c: Any, argv: list[bytes]) -> Any:
        reply = self.srv.execute(c, argv)
        if self.srv.blocking.ready:
            self.srv.blocking.serve_ready_keys()
        return reply

    def free_blocker(self) -> Any:
        return next((c for c in self.blockers if c.blocked is None), None)

    def run(self, step: Step) -> Any:
        """Run a step; returns its reply (None for a skipped blocking step)."""
        kind, arg = step
        if kind == "A":
            return self.execute(self.main, arg)
        if kind == "P":
            return self.execute(self.pusher, arg)
        if kind == "B":
            c = self.free_blocker()
            if c is None:
                return None
            self.waiting[c.id] = arg
            reply = self.execute(c, arg)
            if reply is not BLOCKED:
                self.waiting.pop(c.id, None)
            return reply
        if kind == "T":
            self.srv.clock.advance(arg)
            blocking = self.srv.blocking
            for c in blocking.expired_deadlines(self.srv.clock.monotonic_ms()):
                blocking.timeout(c)
            return None
        if kind == "E":
            self.srv.keyspace.active_expire_cycle()
            return None
        raise ValueError(kind)

    def marker(self, n: int) -> None:
        self.execute(self.marker_client, [b"PUBLISH", MARKER, b"%d" % n])

    def take_commands(self) -> list[list[bytes]]:
        """What was propagated since the last call, as a replica parses it."""
        data = self.encoder.encode(self.ops)
        self.ops.clear()
        self.parser.feed(data)
        out = []
        while (cmd := self.parser.next_command()) is not None:
            out.append(cmd)
        return out
