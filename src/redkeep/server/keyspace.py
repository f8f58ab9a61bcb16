"""Databases, keys, expiry and WATCH: the key-level half of the data node.

Theory of operation
-------------------
A `Database` is two dicts, as in Redis: `data` (key -> value) and `expires`
(key -> absolute unix time in ms). Values are plain Python objects and the value's
Python type *is* the Redis type (bytes = string; the containers of
`server.types` for the others), so a string key costs one dict entry and no wrapper.

Expiry is lazy and active. Every lookup checks `expires` and deletes a key whose
time has come (`expired` keyspace event, `expired_keys` stat, and the deletion is
reported to `Keyspace.on_expired` so replication/AOF can propagate a DEL). The
active cycle (`Keyspace.active_expire_cycle`, called `hz` times a second by the
node) pops due keys from a per-database heap of (when, key) instead of sampling:
stale heap entries (TTL changed or removed) are skipped when popped, and the heap is
rebuilt when stale entries outnumber live ones. On a replica nothing is deleted by
time: keys only go when the master's DEL arrives, lookups just hide them.

Every modification calls `signal_modified(key)`, which flags clients that WATCH
the key (the only hot-path cost is an empty-dict probe) and keeps the estimated
memory use (`used_memory`), which maxmemory eviction compares to the limit:
a key costs KEY_OVERHEAD plus its length plus, for strings, the value length and,
for containers, CONTAINER_ELEMENT_COST per element (counted when modified).

For maxmemory eviction with an LRU or LFU policy, `Database.access` (key -> int) holds
each key's last access time or LFU counter; `Keyspace.tracker` (server.eviction's
AccessTracker) updates it on read hits and writes. With any other policy `access` is
None and lookups pay only that check.
The keyspace knows nothing about sockets, commands or replies.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

from redkeep.clock import Clock
from redkeep.server.errors import WRONGTYPE, CommandError

NOTIFY_NEW = 1 << 14
KEY_OVERHEAD = 80          # dict entry, key object header, expiry bookkeeping (estimate)
CONTAINER_ELEMENT_COST = 64

TYPE_NAMES: dict[type, bytes] = {bytes: b"string"}


def register_type(py_type: type, name: bytes) -> None:
    """Value types (server.types) declare which Redis type name they carry."""
    TYPE_NAMES[py_type] = name


def type_name(value: Any) -> bytes:
    return TYPE_NAMES.get(type(value), b"none")


def estimate_size(key: bytes, value: Any) -> int:
    if type(value) is bytes:
        return KEY_OVERHEAD + len(key) + len(value)
    try:
        n = len(value)
    except TypeError:
        n = 1
    return KEY_OVERHEAD + len(key) + CONTAINER_ELEMENT_COST * n


class Database:
    __slots__ = ("id", "ks", "data", "expires", "watched", "_heap", "_container_mem",
                 "avg_ttl", "blocked", "access")

    def __init__(self, dbid: int, ks: Keyspace) -> None:
        self.id = dbid
        self.ks = ks
        self.data: dict[bytes, Any] = {}
        self.expires: dict[bytes, int] = {}
        self.watched: dict[bytes, set[Any]] = {}   # key -> clients watching it
        self._heap: list[tuple[int, bytes]] = []
        self._container_mem: dict[bytes, int] = {}
        self.avg_ttl = 0
        self.blocked: dict[bytes, Any] = {}        # key -> deque of clients blocked on it
        self.access: dict[bytes, int] | None = None   # LRU/LFU info (server.eviction)

    # ---- Lookup ----

    def is_expired(self, key: bytes) -> bool:
        when = self.expires.get(key)
        return when is not None and when < self.ks.clock.wall_ms()

    def _expire_if_needed(self, key: bytes) -> bool:
        """True if the key is logically expired (and deleted, on a master)."""
        when = self.expires.get(key)
        if when is None or when >= self.ks.clock.wall_ms():  # Redis: expired when now > when
            return False
        if self.ks.is_replica:   # hidden from clients; the master's commands still see it
            return not self.ks.applying_master
        self.ks.expire_key(self, key)
        return True

    def lookup_read(self, key: bytes) -> Any:
        """Lookup for reading: updates keyspace_hits/misses."""
        v = self.data.get(key)
        if v is not None and self.expires and key in self.expires and self._expire_if_needed(key):
            v = None
        ks = self.ks
        if v is None:
            ks.keyspace_misses += 1
            if ks.notify_flags & ks.NOTIFY_KEY_MISS:
                ks.notify(ks.NOTIFY_KEY_MISS, "keymiss", key, self.id)
        else:
            ks.keyspace_hits += 1
            if self.access is not None:
                ks.tracker.touch(self, key)
        return v

    def lookup_write(self, key: bytes) -> Any:
        v = self.data.get(key)
        if v is not None and self.expires and key in self.expires and self._expire_if_needed(key):
            return None
        return v

    def lookup_quiet(self, key: bytes) -> Any:
        """Lookup with expiry but no stats (EXISTS/TYPE-like internal use)."""
        return self.lookup_write(key)

    def get_string(self, key: bytes) -> bytes | None:
        v = self.lookup_read(key)
        if v is not None and type(v) is not bytes:
            raise CommandError(WRONGTYPE)
        return v

    def get_typed(self, key: bytes, py_type: type, write: bool = False) -> Any:
        v = self.lookup_write(key) if write else self.lookup_read(key)
        if v is not None and type(v) is not py_type:
            raise CommandError(WRONGTYPE)
        return v

    def exists(self, key: bytes) -> bool:
        return self.lookup_write(key) is not None

    # ---- Modification ----

    def set_key(self, key: bytes, value: Any, keep_ttl: bool = False) -> None:
        """SET semantics: replace the value, drop the TTL unless keep_ttl."""
        data = self.data
        old = data.get(key)
        ks = self.ks
        if old is None and ks.notify_flags & NOTIFY_NEW:
            ks.notify(NOTIFY_NEW, "new", key, self.id)
        if value.__class__ is bytes:
            delta = KEY_OVERHEAD + len(key) + len(value)
            if old is not None:
                delta -= (KEY_OVERHEAD + len(key) + len(old) if old.__class__ is bytes
                          else self._container_mem.pop(key, 0))
            ks.used_memory += delta
            data[key] = value
        else:
            size = estimate_size(key, value)
            ks.used_memory += size if old is None else size - self._size_of(key, old)
            data[key] = value
            self._container_mem[key] = size
            if self.blocked and key in self.blocked:
                ks.on_key_ready(self, key)
        if not keep_ttl and self.expires and key in self.expires:
            del self.expires[key]
        if self.access is not None:
            ks.tracker.touch(self, key)
        if self.watched:
            self._touch(key)

    def _size_of(self, key: bytes, value: Any) -> int:
        if type(value) is bytes:
            return estimate_size(key, value)
        return self._container_mem.pop(key, 0)

    def delete(self, key: bytes) -> bool:
        """Remove a key (no expiry check: callers look it up first or mean it)."""
        old = self.data.pop(key, None)
        if old is None:
            return False
        self.ks.used_memory -= self._size_of(key, old)
        if self.expires:
            self.expires.pop(key, None)
        if self.access is not None:
            self.access.pop(key, None)
        if self.watched:
            self._touch(key)
        return True

    def signal_modified(self, key: bytes) -> None:
        """Call after changing a container in place (or any write not via set_key/delete)."""
        if self.watched:
            self._touch(key)
        if self.access is not None and key in self.data:
            self.ks.tracker.touch(self, key)
        value = self.data.get(key)
        if value is not None and type(value) is not bytes:
            if self.blocked and key in self.blocked:
                self.ks.on_key_ready(self, key)
            new = estimate_size(key, value)
            self.ks.used_memory += new - self._container_mem.get(key, 0)
            self._container_mem[key] = new

    # ---- Access information (OBJECT IDLETIME / FREQ) ----

    def idle_ms(self, key: bytes) -> int:
        """Milliseconds since the key was last accessed (0 unless an LRU policy tracks it)."""
        tracker = self.ks.tracker
        return tracker.idle_ms(self, key) if tracker is not None else 0

    def lfu_freq(self, key: bytes) -> int:
        """The key's decayed LFU counter (LFU_INIT_VAL unless an LFU policy tracks it)."""
        tracker = self.ks.tracker
        return tracker.lfu_freq(self, key) if tracker is not None else 5

    def _touch(self, key: bytes) -> None:
        clients = self.watched.get(key)
        if clients:
            for c in clients:
                c.dirty_cas = True

    def bulk_load(self, values: dict[bytes, Any], expires: dict[bytes, int],
                  now_ms: int) -> int:
        """Fill an empty database with an RDB's values and expire times: what set_key +
        set_expire would do, without per-key bookkeeping nobody can need yet (no client
        watches, waits or tracks access before loading is over), and at C speed where
        it can (an empty dict copies another's table whole; the memory estimate sums
        lengths with map). Keys expired at `now_ms` are skipped; returns how many were."""
        if self.data or self.access is not None or self.ks.notify_flags & NOTIFY_NEW:
            raise ValueError("bulk_load needs an empty, untracked database")
        data, heap = self.data, self._heap
        data.update(values)
        expired = 0
        for key, when in expires.items():
            if when < now_ms:
                del data[key]
                expired += 1
            else:
                self.expires[key] = when
                heap.append((when, key))
        heapq.heapify(heap)
        # estimate_size of every key, summed: strings count their length, containers
        # CONTAINER_ELEMENT_COST per element (all the loaded types have a len()).
        conts = {k: v for k, v in data.items() if v.__class__ is not bytes}
        per_element = sum(map(len, conts.values()))
        self._container_mem.update(
            (k, KEY_OVERHEAD + len(k) + CONTAINER_ELEMENT_COST * len(v)) for k, v in conts.items())
        self.ks.used_memory += KEY_OVERHEAD * len(data) + sum(map(len, data)) + \
            sum(map(len, data.values())) + (CONTAINER_ELEMENT_COST - 1) * per_element
        return expired

    def set_expire(self, key: bytes, when_ms: int) -> None:
        self.expires[key] = when_ms
        heapq.heappush(self._heap, (when_ms, key))
        if len(self._heap) > 2 * len(self.expires) + 1024:
            self._heap = [(w, k) for k, w in self.expires.items()]
            heapq.heapify(self._heap)

    def get_expire(self, key: bytes) -> int | None:
        return self.expires.get(key)

    def persist(self, key: bytes) -> bool:
        return self.expires.pop(key, None) is not None

    def clear(self) -> int:
        """FLUSHDB: drop every key; WATCHers of existing keys are flagged."""
        n = len(self.data)
        if self.watched:
            for key in list(self.watched):
                if key in self.data:
                    self._touch(key)
        self.ks.used_memory -= sum(self._size_of(k, v) for k, v in self.data.items()) \
            if len(self.data) < 100_000 else self._bulk_size()
        self.data = {}
        self.expires = {}
        self._heap = []
        self._container_mem = {}
        if self.access is not None:
            self.access = {}
        return n

    def _bulk_size(self) -> int:
        total = sum(self._container_mem.values())
        total += sum(KEY_OVERHEAD + len(k) + len(v) for k, v in self.data.items()
                     if type(v) is bytes)
        return total

    def active_expire(self, now_ms: int, budget: int) -> int:
        """Delete up to `budget` keys whose time has come; returns how many were deleted."""
        heap, expires, done = self._heap, self.expires, 0
        while heap and done < budget and heap[0][0] < now_ms:
            when, key = heapq.heappop(heap)
            if expires.get(key) == when:
                self.ks.expire_key(self, key)
                done += 1
        return done


class Keyspace:
    """All databases plus what the key level reports upward (stats, events, expiry)."""

    NOTIFY_KEY_MISS = 1 << 11

    def __init__(self, clock: Clock, databases: int = 16) -> None:
        self.clock = clock
        self.dbs = [Database(i, self) for i in range(databases)]
        self.is_replica = False
        self.applying_master = False   # a replica running its master's stream
        self.used_memory = 0
        self.keyspace_hits = 0
        self.keyspace_misses = 0
        self.expired_keys = 0
        self.evicted_keys = 0
        self.notify_flags = 0
        # hooks set by the node: keyspace events and expiry propagation
        self.notify: Callable[[int, str, bytes, int], None] = lambda *a: None
        self.on_expired: Callable[[Database, bytes], None] = lambda db, key: None
        self.on_key_ready: Callable[[Database, bytes], None] = lambda db, key: None
        self.on_evicted: Callable[[Database, bytes], None] = lambda db, key: None
        self.tracker: Any = None   # eviction.AccessTracker while an LRU/LFU policy is set

    def expire_key(self, db: Database, key: bytes) -> None:
        db.delete(key)
        self.expired_keys += 1
        if self.notify_flags:
            self.notify(1 << 8, "expired", key, db.id)
        self.on_expired(db, key)

    def active_expire_cycle(self, budget_per_db: int = 200) -> int:
        if self.is_replica:
            return 0
        now = self.clock.wall_ms()
        return sum(db.active_expire(now, budget_per_db) for db in self.dbs if db.expires)

    def swap(self, a: int, b: int) -> None:
        """SWAPDB: exchange contents; clients watching keys in either db are flagged."""
        da, db_ = self.dbs[a], self.dbs[b]
        for d, other in ((da, db_), (db_, da)):
            for key in list(d.watched):
                if key in d.data or key in other.data:
                    d._touch(key)
        for attr in ("data", "expires", "_heap", "_container_mem", "access"):
            va, vb = getattr(da, attr), getattr(db_, attr)
            setattr(da, attr, vb)
            setattr(db_, attr, va)
        for d in (da, db_):   # clients blocked in either db may now be served
            for key in list(d.blocked):
                if key in d.data:
                    self.on_key_ready(d, key)

    def total_keys(self) -> int:
        return sum(len(db.data) for db in self.dbs)


def check_wrongtype(value: Any, py_type: type) -> None:
    if value is not None and type(value) is not py_type:
        raise CommandError(WRONGTYPE)
