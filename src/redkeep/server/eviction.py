"""maxmemory eviction: Redis's approximated LRU, LFU, TTL and random policies.

Theory of operation
-------------------
`Evictor.make_room(client)` is Redis's performEvictions. It runs before every denyoom
command while `maxmemory` is set (Server.execute), from the cron, and when CONFIG SET
lowers `maxmemory`. It answers True when the command may run and False for the OOM
error. In order:

  1) Nothing to do when the limit is not exceeded, on a replica that ignores maxmemory,
     or while clients are paused (the dataset must stay static, as in Redis 7.0).
  2) `noeviction` fails at once.
  3) Otherwise keys are evicted one at a time until memory is under the limit:
     * LRU / LFU / volatile-ttl: every database with candidates contributes
       `maxmemory-samples` random keys (all keys, or only keys with a TTL for the
       volatile-* policies) to an eviction pool of 16 entries kept sorted by score
       (idle time, 255 - frequency, or how soon the key expires); the best entry that
       still exists is evicted. The pool survives between calls, as Redis's does.
     * allkeys-random / volatile-random: a random key of the next database (round
       robin) that has candidates.
     Each eviction deletes the key (WATCH is signalled), counts `evicted_keys`,
     sends the `evicted` keyspace event and reports the key to
     `Keyspace.on_evicted` (replication/AOF propagate it as a DEL).
  4) If no candidate is left while still over the limit, the answer is False.
  5) A call evicts at most a budget of keys derived from maxmemory-eviction-tenacity
     (Redis's time limit, translated to keys); past it the command still runs and the
     next batch runs on the node's next loop turn (Redis's eviction time proc), or
     from the cron when there is no node (unit tests).

Memory is the same estimate INFO reports as used_memory (startup + the keyspace
estimate of keyspace.py + per-client memory), so `used_memory <= maxmemory` holds
as seen from INFO.

Access information for LRU/LFU lives in `Database.access` (key -> int), which is None
unless the policy is an LRU or LFU one, so other policies pay nothing on lookups.
`AccessTracker` maintains it: LRU stores the monotonic ms of the last access; LFU
stores Redis's 24-bit word, (minutes << 8) | logarithmic counter, incremented with
probability 1 / ((counter - LFU_INIT_VAL) * lfu-log-factor + 1) and decremented by one
per `lfu-decay-time` minutes of idleness. OBJECT IDLETIME / FREQ read it through
`Evictor.idle_ms` / `Evictor.lfu_counter` (or `Database.idle_ms` / `lfu_freq`).

Random sampling of a Python dict: `KeySampler` keeps a snapshot list of a dict's keys
and picks random indexes, skipping keys that are gone; the snapshot is rebuilt when the
dict is replaced, its size drifts by an eighth, or too many picks miss (amortized O(1)
per eviction). Randomness comes from an injected `random.Random`.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from redkeep.server import info
from redkeep.server.config import NOTIFY_EVICTED

if TYPE_CHECKING:
    from redkeep.server.connection import Client
    from redkeep.server.keyspace import Database
    from redkeep.server.server import Server

EVPOOL_SIZE = 16
LFU_INIT_VAL = 5
LFU_COUNTER_MAX = 255
LFU_MINUTES_MASK = 65535
LLONG_MAX = 9223372036854775807
LRU_POLICIES = frozenset({"allkeys-lru", "volatile-lru"})
LFU_POLICIES = frozenset({"allkeys-lfu", "volatile-lfu"})
RANDOM_POLICIES = frozenset({"allkeys-random", "volatile-random"})
KEYS_PER_TENACITY_STEP = 100   # keys per 50us of Redis's time limit (tenacity 10: 1000)


# ---- Access tracking (LRU clock / LFU counter) ----

class AccessTracker:
    """Keeps Database.access current for an LRU (`lfu=False`) or LFU policy."""

    def __init__(self, server: Server, lfu: bool, rng: random.Random) -> None:
        self.server = server
        self.clock = server.clock
        self.lfu = lfu
        self.rng = rng

    def minutes(self) -> int:
        return (self.clock.monotonic_ms() // 60_000) & LFU_MINUTES_MASK

    def touch(self, db: Database, key: bytes) -> None:
        """A key was read or written: refresh its LRU time / bump its LFU counter."""
        access = db.access
        if access is None:
            return
        if not self.lfu:
            access[key] = self.clock.monotonic_ms()
            return
        word = access.get(key)
        if word is None:                       # a new key starts at LFU_INIT_VAL
            access[key] = (self.minutes() << 8) | LFU_INIT_VAL
            return
        counter = self.log_incr(self.decayed(word))
        access[key] = (self.minutes() << 8) | counter

    def log_incr(self, counter: int) -> int:
        """LFULogIncr: the more hits a key has, the less likely the next one counts."""
        if counter == LFU_COUNTER_MAX:
            return counter
        base = max(counter - LFU_INIT_VAL, 0)
        p = 1.0 / (base * self.server.config.lfu_log_factor + 1)
        return counter + 1 if self.rng.random() < p else counter

    def decayed(self, word: int) -> int:
        """LFUDecrAndReturn: the counter minus one per lfu-decay-time idle minutes."""
        counter = word & 255
        decay = self.server.config.lfu_decay_time
        if not decay:
            return counter
        last, now = word >> 8, self.minutes()
        elapsed = now - last if now >= last else LFU_MINUTES_MASK - last + now
        periods = elapsed // decay
        return max(counter - periods, 0)

    def idle_ms(self, db: Database, key: bytes) -> int:
        access = db.access
        if self.lfu or access is None or key not in access:
            return 0
        return max(self.clock.monotonic_ms() - access[key], 0)

    def lfu_freq(self, db: Database, key: bytes) -> int:
        access = db.access
        if not self.lfu or access is None:
            return LFU_INIT_VAL
        word = access.get(key)
        return LFU_INIT_VAL if word is None else self.decayed(word)


# ---- Sampling ----

class KeySampler:
    """Random keys of one dict, from a snapshot list rebuilt when it goes stale."""

    __slots__ = ("source", "keys", "built_size", "picks", "misses")

    def __init__(self, source: dict[bytes, Any]) -> None:
        self.source = source
        self.keys: list[bytes] = list(source)
        self.built_size = len(self.keys)
        self.picks = 0
        self.misses = 0

    def stale(self, source: dict[bytes, Any]) -> bool:
        """Replaced dict, size drifted by an eighth, or over 1/4 of picks were ghosts."""
        n = self.built_size
        return (source is not self.source or not self.keys
                or abs(len(source) - n) > n // 8 + 8
                or (self.picks >= 32 and self.misses * 4 > self.picks))

    def pick(self, rng: random.Random, count: int) -> list[bytes]:
        """Up to `count` random keys that still exist (fewer if too many picks miss)."""
        keys, source, out = self.keys, self.source, []
        tries = count * 3
        while len(out) < count and tries:
            tries -= 1
            k = keys[rng.randrange(len(keys))]
            if k in source:
                out.append(k)
            else:
                self.misses += 1
        self.picks += count * 3 - tries
        return out


# ---- The evictor ----

class Evictor:
    def __init__(self, server: Server, rng: random.Random | None = None) -> None:
        self.server = server
        self.rng = rng if rng is not None else random.Random(0x5EED)
        self.pool: list[tuple[int, int, bytes]] = []   # (score, dbid, key), best last
        self.samplers: dict[int, KeySampler] = {}      # id(dict) -> sampler
        self.next_db = 0
        self.running = False          # the last call stopped at its budget
        self._more_scheduled = False
        self.policy = ""
        server.config.on_change("maxmemory-policy", lambda name: self.apply_policy())
        server.config.on_change("maxmemory", lambda name: self._forget_samplers_if_unlimited())
        self.apply_policy()

    # -- policy and access tracking --

    def apply_policy(self) -> None:
        """(Re)install access tracking for the configured policy; resets the pool."""
        policy = self.server.config.maxmemory_policy
        ks = self.server.keyspace
        tracking = policy in LRU_POLICIES or policy in LFU_POLICIES
        if policy == self.policy and (ks.tracker is not None) == tracking:
            return
        self.policy = policy
        self.pool = []
        self.samplers = {}
        if not tracking:
            ks.tracker = None
            for db in ks.dbs:
                db.access = None
            return
        tracker = AccessTracker(self.server, policy in LFU_POLICIES, self.rng)
        ks.tracker = tracker
        now_lru = tracker.clock.monotonic_ms()
        now_lfu = (tracker.minutes() << 8) | LFU_INIT_VAL
        start = now_lfu if tracker.lfu else now_lru
        for db in ks.dbs:
            db.access = dict.fromkeys(db.data, start)

    def _forget_samplers_if_unlimited(self) -> None:
        if not self.server.config.maxmemory:
            self.samplers = {}
            self.pool = []

    def _ensure_tracking(self) -> None:
        """Re-apply the policy if the keyspace was replaced (e.g. a full resync)."""
        tracking = self.policy in LRU_POLICIES or self.policy in LFU_POLICIES
        if self.server.config.maxmemory_policy != self.policy or \
                (self.server.keyspace.tracker is not None) != tracking:
            self.policy = ""
            self.apply_policy()

    def idle_ms(self, db: Database, key: bytes) -> int:
        """OBJECT IDLETIME (in ms): 0 when the policy tracks no access times."""
        tracker = self.server.keyspace.tracker
        return tracker.idle_ms(db, key) if tracker is not None else 0

    def lfu_counter(self, db: Database, key: bytes) -> int:
        """OBJECT FREQ: the decayed LFU counter."""
        tracker = self.server.keyspace.tracker
        return tracker.lfu_freq(db, key) if tracker is not None else LFU_INIT_VAL

    # -- memory --

    def used_memory(self) -> int:
        """used_memory as INFO computes it (startup + dataset estimate + clients)."""
        srv = self.server
        return info.STARTUP_MEMORY + max(srv.keyspace.used_memory, 0) + info.clients_memory(srv)

    def to_free(self) -> int:
        """Bytes over maxmemory (0 when under the limit or no limit is set)."""
        srv = self.server
        limit = srv.config.maxmemory
        if not limit:
            return 0
        ks_used = srv.keyspace.used_memory
        if info.STARTUP_MEMORY + ks_used + info.CLIENT_MEMORY * len(srv.clients) <= limit:
            return 0                          # quick bound: clients_memory <= this
        return max(self.used_memory() - limit, 0)

    def eviction_budget(self) -> int:
        """Keys one call may evict (Redis: evictionTimeLimitUs, here in keys)."""
        tenacity = self.server.config.maxmemory_eviction_tenacity
        if tenacity >= 100:
            return LLONG_MAX
        if tenacity <= 10:
            return max(16, KEYS_PER_TENACITY_STEP * tenacity)
        return int(KEYS_PER_TENACITY_STEP * 10 * 1.15 ** (tenacity - 10))

    def safe_to_evict(self) -> bool:
        """isSafeToPerformEvictions."""
        srv = self.server
        if srv.keyspace.is_replica and srv.config.replica_ignore_maxmemory:
            return False
        pause = srv.pause_until_ms
        return not (pause and srv.clock.monotonic_ms() < pause) and not srv.failover_pause

    # -- performEvictions --

    def out_of_memory(self, c: Client, cmd: Any) -> bool:
        """processCommand's OOM check: True when `cmd` must be refused with OOM.

        Refused when over the limit and nothing more can be evicted: denyoom commands,
        EXEC of a transaction that queued one, and inside MULTI any command but
        EXEC/DISCARD/QUIT/RESET (queueing must not grow memory without bound)."""
        if cmd.denyoom:
            pass
        elif cmd.name == "exec":
            if not (c.in_multi and any(q.denyoom for q, _ in c.mstate)):
                return False
        elif not c.in_multi or cmd.name in ("discard", "quit", "reset"):
            return False
        return not self.make_room(c)

    def make_room(self, client: Client | None) -> bool:
        """Evict until under maxmemory; False when over it and nothing can go (OOM)."""
        if client is None and self.samplers:
            self.drop_stale_samplers()
        if not self.to_free() or not self.safe_to_evict():
            self.running = False
            return True
        if self.server.config.maxmemory_policy == "noeviction":
            return False
        self._ensure_tracking()
        ks, limit = self.server.keyspace, self.server.config.maxmemory
        overhead = self.used_memory() - ks.used_memory   # startup + clients: fixed here
        budget = self.eviction_budget()
        evicted = 0
        while ks.used_memory + overhead > limit:
            found = self.select_victim()
            if found is None:
                self.running = False
                return False
            self.evict(*found)
            evicted += 1
            if evicted >= budget:
                self.running = ks.used_memory + overhead > limit
                if self.running:
                    self._schedule_more()
                return True
        self.running = False
        return True

    def _schedule_more(self) -> None:
        """Run the next batch on the node's next loop turn, like evictionTimeProc."""
        node = getattr(self.server, "node", None)
        if node is None or self._more_scheduled:
            return
        self._more_scheduled = True
        node.loop.call_soon(self._evict_more)

    def _evict_more(self) -> None:
        self._more_scheduled = False
        if self.server.config.maxmemory:
            self.make_room(None)

    def candidates(self, db: Database) -> dict[bytes, Any]:
        return db.data if self.policy.startswith("allkeys") else db.expires

    def select_victim(self) -> tuple[Database, bytes] | None:
        if self.policy in RANDOM_POLICIES:
            return self._random_victim()
        return self._pool_victim()

    def _random_victim(self) -> tuple[Database, bytes] | None:
        dbs = self.server.keyspace.dbs
        for _ in range(len(dbs)):
            self.next_db = (self.next_db + 1) % len(dbs)
            db = dbs[self.next_db]
            keys = self._sample(self.candidates(db), 1)
            if keys:
                return db, keys[0]
        return None

    def _pool_victim(self) -> tuple[Database, bytes] | None:
        dbs = self.server.keyspace.dbs
        while True:
            total = 0
            for db in dbs:
                cand = self.candidates(db)
                if cand:
                    total += len(cand)
                    self.populate_pool(db, cand)
            if not total:
                return None
            while self.pool:                   # best first; ghosts are dropped
                _, dbid, key = self.pool.pop()
                db = dbs[dbid] if dbid < len(dbs) else None
                if db is not None and key in self.candidates(db):
                    return db, key

    def populate_pool(self, db: Database, cand: dict[bytes, Any]) -> None:
        """evictionPoolPopulate: sample keys, keep the 16 best scores, sorted."""
        pool = self.pool
        for key in self._sample(cand, self.server.config.maxmemory_samples):
            score = self.score(db, key)
            if len(pool) >= EVPOOL_SIZE and score <= pool[0][0]:
                continue                       # worse than everything in a full pool
            if any(k == key and d == db.id for _, d, k in pool):
                continue
            entry = (score, db.id, key)
            i = len(pool)
            while i and pool[i - 1][0] > score:
                i -= 1
            pool.insert(i, entry)
            if len(pool) > EVPOOL_SIZE:
                del pool[0]

    def score(self, db: Database, key: bytes) -> int:
        """Higher is a better victim: idle ms, 255 - LFU counter, or sooner expiry."""
        policy = self.policy
        if policy == "volatile-ttl":
            return LLONG_MAX - db.expires.get(key, LLONG_MAX)
        tracker = self.server.keyspace.tracker
        if tracker is None:
            return 0
        if policy in LFU_POLICIES:
            return LFU_COUNTER_MAX - tracker.lfu_freq(db, key)
        return tracker.idle_ms(db, key)

    def _sample(self, source: dict[bytes, Any], count: int) -> list[bytes]:
        if not source:
            return []
        sampler = self.samplers.get(id(source))
        if sampler is None or sampler.stale(source):
            sampler = self.samplers[id(source)] = KeySampler(source)
        keys = sampler.pick(self.rng, count)
        if not keys:                 # an unlucky run of ghosts: a fresh snapshot always hits
            sampler = self.samplers[id(source)] = KeySampler(source)
            keys = sampler.pick(self.rng, count)
        return keys

    def drop_stale_samplers(self) -> None:
        """Forget snapshots of dicts the databases no longer use (FLUSHDB, SWAPDB), so
        they don't keep dropped keys alive."""
        live = {id(d) for db in self.server.keyspace.dbs for d in (db.data, db.expires)}
        for ident in [i for i in self.samplers if i not in live]:
            del self.samplers[ident]

    def evict(self, db: Database, key: bytes) -> None:
        """Delete one key as an eviction: stats, `evicted` event, propagation hook."""
        srv, ks = self.server, self.server.keyspace
        db.delete(key)
        ks.evicted_keys += 1
        if ks.notify_flags & NOTIFY_EVICTED:
            srv.notify(NOTIFY_EVICTED, "evicted", key, db.id)
        ks.on_evicted(db, key)
