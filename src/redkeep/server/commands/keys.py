"""Generic key commands: DEL UNLINK EXISTS TYPE TOUCH KEYS SCAN RANDOMKEY RENAME RENAMENX
MOVE COPY, the EXPIRE/TTL family, DBSIZE FLUSHDB FLUSHALL SWAPDB and OBJECT.

Replies, error texts, `server.dirty` accounting and keyspace events follow Redis 7.0's
db.c, expire.c and object.c; every write goes through `Database.set_key/delete/
set_expire/persist` (WATCH, memory accounting) and the `modified()`/`notify()` helpers.

SCAN cursors
------------
Redis's cursor is a position in its hash table; a Python dict exposes none, so a cursor
names an *iteration in flight* over `db.data`, kept by the shared `server.scan.Cursors`
(HSCAN/SSCAN/ZSCAN use the same scheme; its docstring has the design and the
guarantees). The change token given to it here is `server.dirty` plus the expired and
evicted counters. FLUSHDB and FLUSHALL drop the iterations over the dicts they empty.

COUNT is work, as in Redis: each call examines COUNT keys (in order) and filters them by
MATCH, TYPE and expiry, so a call may return fewer keys, or none, with a non-zero cursor.
A db with fewer than COUNT keys is returned whole with cursor 0, as Redis does.

RANDOMKEY picks from a cached key list per db (rebuilt when the db dict changed, when the
size drifted by 1/8 or after many writes), checking the pick still exists: O(1) amortized
instead of listing a large db on every call. OBJECT ENCODING/REFCOUNT of a string follow
its content as tryObjectEncoding would, except where string writers noted otherwise
(`note_encoding`, see `EncodingNotes`). OBJECT IDLETIME/FREQ ask `server.evictor`
for `idle_ms(db, key)` / `lfu_counter(db, key)` when it offers them (else 0 and
LFU_INIT_VAL): access tracking belongs to eviction.
"""

from __future__ import annotations

import copy
import random
import weakref
from collections.abc import Callable
from typing import Any

from redkeep.resp.parser import parse_ll
from redkeep.resp.types import OK, Status
from redkeep.server import errors
from redkeep.server.arguments import parse_int
from redkeep.server.commands.strings import deletion_command, modified, notify
from redkeep.server.config import NOTIFY_GENERIC
from redkeep.server.connection import Client
from redkeep.server.errors import CommandError
from redkeep.server.glob import stringmatch
from redkeep.server.keyspace import Database, Keyspace, type_name
from redkeep.server.scan import cursors_for
from redkeep.server.table import CommandTable

LLONG_MAX = 9223372036854775807
LLONG_MIN = -9223372036854775808
INT_MIN, INT_MAX = -2147483648, 2147483647
ULONG_MAX = (1 << 64) - 1


OBJ_SHARED_INTEGERS = 10000
OBJ_SHARED_REFCOUNT = INT_MAX
EMBSTR_SIZE_LIMIT = 44
LFU_INIT_VAL = 5
_LFU_POLICIES = frozenset({"allkeys-lfu", "volatile-lfu"})
_LRU_POLICIES = frozenset({"allkeys-lru", "volatile-lru"})
_CONTAINER_ENCODINGS = {b"list": b"quicklist", b"hash": b"hashtable", b"set": b"hashtable",
                        b"zset": b"skiplist", b"stream": b"stream"}

_SPACES = frozenset(b" \t\n\v\f\r")


# ---- Shared helpers ----

def notify_db(c: Client, flag: int, event: str, key: bytes, dbid: int) -> None:
    """A keyspace event for a key of a database other than the client's."""
    if c.server.keyspace.notify_flags & flag:
        c.server.notify(flag, event, key, dbid)


def parse_int32(arg: bytes, message: str | None = None) -> int:
    """getIntFromObjectOrReply: a C int, with Redis's two error texts (or `message`)."""
    v = parse_int(arg, f"ERR {message}" if message else errors.NOT_INTEGER)
    if v < INT_MIN or v > INT_MAX:
        raise CommandError(f"ERR {message}" if message
                           else errors.int_out_of_range(INT_MIN, INT_MAX))
    return v


def select_db(c: Client, arg: bytes) -> Database:
    """A database named by an argument (MOVE, COPY ... DB), as selectDb checks it."""
    dbid = parse_int32(arg)
    dbs = c.server.keyspace.dbs
    if dbid < 0 or dbid >= len(dbs):
        raise CommandError(errors.DB_INDEX)
    return dbs[dbid]


def add_key(c: Client, db: Database, key: bytes, value: Any, expire: int | None) -> None:
    """dbAdd (+ setExpire): the key must not exist; set_key sends the "new" event."""
    db.set_key(key, value)
    if expire is not None:
        db.set_expire(key, expire)


def remove_elements(c: Client, key: bytes, container: Any, elements: list[bytes],
                    remove_one: Callable[[bytes], bool], flag: int, event: str) -> int:
    """HDEL/SREM-style removal: a container emptied by it takes its key with it (the
    type's event, then `del`), every removed element counts in `dirty`."""
    removed, key_gone = 0, False
    for element in elements:
        if remove_one(element):
            removed += 1
            if not container:
                c.db.delete(key)
                key_gone = True
                break
    if removed:
        if not key_gone:
            c.db.signal_modified(key)
        notify(c, flag, event, key)
        if key_gone:
            notify(c, NOTIFY_GENERIC, "del", key)
        c.server.dirty += removed
    return removed


def duplicate_value(value: Any) -> Any:
    """COPY's deep copy: strings are immutable; a container whose class defines `copy()`
    copies itself (a copy() inherited from list/dict/set is shallow and returns the base
    type, so it is not used); anything else goes through copy.deepcopy."""
    if type(value) is bytes:
        return value
    for klass in type(value).__mro__:
        if "copy" in klass.__dict__:
            if klass.__module__ != "builtins":
                dup = value.copy()
                if type(dup) is type(value):
                    return dup
            break
    return copy.deepcopy(value)


def _option_text(arg: bytes) -> str:
    """An argument echoed in an error, as %s prints an sds (stops at the first NUL)."""
    return arg.split(b"\x00", 1)[0].decode("utf-8", "surrogateescape")


# ---- DEL UNLINK EXISTS TYPE TOUCH ----

def cmd_del(c: Client, argv: list[bytes]) -> object:
    db, deleted = c.db, 0
    for key in argv[1:]:
        db.lookup_write(key)           # expireIfNeeded
        if db.delete(key):
            modified(c, key, "del", NOTIFY_GENERIC)
            deleted += 1
    return deleted


def cmd_exists(c: Client, argv: list[bytes]) -> object:
    lookup = c.db.lookup_read
    return sum(1 for key in argv[1:] if lookup(key) is not None)


cmd_touch = cmd_exists


def cmd_type(c: Client, argv: list[bytes]) -> object:
    v = c.db.lookup_read(argv[1])
    return Status(b"none" if v is None else type_name(v))


# ---- KEYS SCAN RANDOMKEY ----

def cmd_keys(c: Client, argv: list[bytes]) -> object:
    db, pattern = c.db, argv[1]
    keys: Any = db.data
    if pattern != b"*":
        keys = [k for k in keys if stringmatch(pattern, k)]
    expires = db.expires
    if not expires:
        return list(keys)
    now = c.server.clock.wall_ms()       # keys whose time has come are hidden, not deleted
    return [k for k in keys if k not in expires or expires[k] > now]


def parse_scan_cursor(arg: bytes) -> int:
    """parseScanCursorOrReply: strtoul rules (sign, wrap-around, "" is 0), no leading space."""
    if not arg:
        return 0
    if arg[0] in _SPACES:
        raise CommandError(errors.INVALID_CURSOR)
    neg = arg[0] == 45
    digits = arg[1:] if arg[0] in (43, 45) else arg
    significant = digits.lstrip(b"0")
    if not digits.isdigit() or len(significant) > 20:
        raise CommandError(errors.INVALID_CURSOR)
    v = int(significant or b"0")
    if v > ULONG_MAX:
        raise CommandError(errors.INVALID_CURSOR)
    return (-v) & ULONG_MAX if neg else v


def parse_scan_options(argv: list[bytes], start: int, allow_type: bool
                       ) -> tuple[int, bytes | None, bytes | None]:
    """COUNT / MATCH / TYPE as scanGenericCommand parses them -> (count, pattern, type)."""
    count, pattern, typename = 10, None, None
    i = start
    while i < len(argv):
        opt, more = argv[i].lower(), len(argv) - i >= 2
        if opt == b"count" and more:
            count = parse_int(argv[i + 1])
            if count < 1:
                raise CommandError(errors.SYNTAX)
        elif opt == b"match" and more:
            pattern = argv[i + 1]
        elif opt == b"type" and more and allow_type:
            typename = argv[i + 1]
        else:
            raise CommandError(errors.SYNTAX)
        i += 2
    if pattern == b"*":
        pattern = None
    return count, pattern, typename


class KeyIterators:
    """Per-keyspace state behind SCAN cursors (server.scan) and RANDOMKEY sampling."""

    def __init__(self, ks: Keyspace) -> None:
        self.cursors = cursors_for(ks)
        self.rng = random.Random()
        self.samples: dict[int, tuple[int, list[bytes], int]] = {}  # db id -> (id(data), keys, dirty)

    def forget(self, *dbs: Database) -> None:
        """Drop the iterations over these databases (FLUSHDB, FLUSHALL)."""
        for db in dbs:
            self.cursors.forget(db.data)
            self.samples.pop(db.id, None)

    # -- RANDOMKEY --

    def random_key(self, db: Database, dirty: int) -> bytes | None:
        data = db.data
        if not data:
            return None
        sample = self.samples.get(db.id)
        if sample is None or self._stale(sample, data, dirty):
            sample = self._resample(db, dirty)
        keys, rng = sample[1], self.rng
        for _ in range(8):
            key = keys[rng.randrange(len(keys))]
            if key in data:
                return key
        keys = self._resample(db, dirty)[1]
        return keys[rng.randrange(len(keys))]

    @staticmethod
    def _stale(sample: tuple[int, list[bytes], int], data: dict, dirty: int) -> bool:
        ident, keys, built = sample
        n = len(keys)
        return (ident != id(data) or abs(len(data) - n) > n // 8
                or abs(dirty - built) > max(n // 2, 16))

    def _resample(self, db: Database, dirty: int) -> tuple[int, list[bytes], int]:
        sample = (id(db.data), list(db.data), dirty)
        self.samples[db.id] = sample
        return sample


_ITERATORS: weakref.WeakKeyDictionary[Keyspace, KeyIterators] = weakref.WeakKeyDictionary()


def key_iterators(ks: Keyspace) -> KeyIterators:
    it = _ITERATORS.get(ks)
    if it is None:
        it = _ITERATORS[ks] = KeyIterators(ks)
    return it


class EncodingNotes:
    """The encoding of short strings whose content does not tell it (see OBJECT).

    Redis encodes a string written by SET as int/embstr/raw by its content, but one
    modified in place (APPEND on an existing key, SETRANGE, SETBIT, BITOP) is "raw", an
    INCRBYFLOAT result is never "int", and COPY of a shared integer is a private one.
    Writers call `note_encoding()`; a note is (value object, encoding) and only holds while
    that very object is still the key's value, so a later SET makes it void without any
    bookkeeping on the hot path. Strings longer than 44 bytes are "raw" by content and
    never noted, so notes pin only small objects; void notes are pruned in bulk.
    """

    def __init__(self) -> None:
        self.by_db: dict[int, dict[bytes, tuple[bytes, bytes]]] = {}

    def note(self, db: Database, key: bytes, encoding: bytes) -> None:
        value = db.data.get(key)
        if type(value) is not bytes or len(value) > EMBSTR_SIZE_LIMIT:
            return
        notes = self.by_db.setdefault(db.id, {})
        notes[key] = (value, encoding)
        if len(notes) > 2 * len(db.data) + 1024:
            data = db.data
            self.by_db[db.id] = {k: n for k, n in notes.items() if data.get(k) is n[0]}

    def lookup(self, db: Database, key: bytes, value: Any) -> bytes | None:
        notes = self.by_db.get(db.id)
        if not notes:
            return None
        n = notes.get(key)
        return n[1] if n is not None and n[0] is value else None

    def carry(self, src: Database, key: bytes, dst: Database, newkey: bytes,
              copied: bool) -> None:
        """RENAME/MOVE keep the object (and its encoding); COPY duplicates it, which
        turns a shared integer into a private one."""
        value = dst.data.get(newkey)
        enc = self.lookup(src, key, value)
        if enc is None and copied and type(value) is bytes and string_encoding(value) == b"int":
            enc = b"int"
        if enc is not None:
            self.note(dst, newkey, enc)

    def swap(self, a: int, b: int) -> None:
        na, nb = self.by_db.pop(a, None), self.by_db.pop(b, None)
        if na is not None:
            self.by_db[b] = na
        if nb is not None:
            self.by_db[a] = nb

    def forget(self, *dbs: Database) -> None:
        for db in dbs:
            self.by_db.pop(db.id, None)


_NOTES: weakref.WeakKeyDictionary[Keyspace, EncodingNotes] = weakref.WeakKeyDictionary()


def encoding_notes(ks: Keyspace) -> EncodingNotes:
    notes = _NOTES.get(ks)
    if notes is None:
        notes = _NOTES[ks] = EncodingNotes()
    return notes


def note_encoding(c: Client, key: bytes, encoding: bytes) -> None:
    """For string writers: the value just stored at `key` has this Redis encoding
    (b"raw" after an in-place change, b"embstr" for INCRBYFLOAT results)."""
    encoding_notes(c.server.keyspace).note(c.db, key, encoding)


def cmd_scan(c: Client, argv: list[bytes]) -> object:
    cursor = parse_scan_cursor(argv[1])
    count, pattern, typename = parse_scan_options(argv, 2, True)
    db, ks = c.db, c.server.keyspace
    token = (c.server.dirty, ks.expired_keys, ks.evicted_keys)
    cursor, batch = key_iterators(ks).cursors.scan(db.data, cursor, count, token)
    return [b"%d" % cursor, [k for k in batch if _scan_keeps(db, k, pattern, typename)]]


def _scan_keeps(db: Database, key: bytes, pattern: bytes | None,
                typename: bytes | None) -> bool:
    """Step 3 of scanGenericCommand: pattern, then type, then expiry."""
    if key not in db.data:
        return False
    if pattern is not None and not stringmatch(pattern, key):
        return False
    if typename is not None:
        v = db.lookup_read(key)
        if (b"none" if v is None else type_name(v)) != typename.lower():
            return False
    return not (key in db.expires and db.lookup_write(key) is None)


def cmd_randomkey(c: Client, argv: list[bytes]) -> object:
    db, ks = c.db, c.server.keyspace
    iters = key_iterators(ks)
    all_volatile = len(db.data) == len(db.expires)
    tries = 100
    while True:
        key = iters.random_key(db, c.server.dirty)
        if key is None or key not in db.expires:
            return key
        if ks.is_replica and all_volatile:
            tries -= 1
            if tries == 0:
                return key
        if db.lookup_write(key) is not None:
            return key


# ---- RENAME RENAMENX MOVE COPY ----

def _rename(c: Client, argv: list[bytes], nx: bool) -> object:
    db, src, dst = c.db, argv[1], argv[2]
    value = db.lookup_write(src)
    if value is None:
        raise CommandError(errors.NO_SUCH_KEY)
    if src == dst:
        return 0 if nx else OK
    expire = db.get_expire(src)
    if db.lookup_write(dst) is not None:
        if nx:
            return 0
        db.delete(dst)
    add_key(c, db, dst, value, expire)
    encoding_notes(c.server.keyspace).carry(db, src, db, dst, False)
    db.delete(src)
    notify(c, NOTIFY_GENERIC, "rename_from", src)
    notify(c, NOTIFY_GENERIC, "rename_to", dst)
    c.server.dirty += 1
    return 1 if nx else OK


def cmd_rename(c: Client, argv: list[bytes]) -> object:
    return _rename(c, argv, False)


def cmd_renamenx(c: Client, argv: list[bytes]) -> object:
    return _rename(c, argv, True)


def cmd_move(c: Client, argv: list[bytes]) -> object:
    if c.server.config.cluster_enabled:
        raise CommandError("ERR MOVE is not allowed in cluster mode")
    src, key = c.db, argv[1]
    dst = select_db(c, argv[2])
    if dst is src:
        raise CommandError(errors.SAME_OBJECT)
    value = src.lookup_write(key)
    if value is None:
        return 0
    expire = src.get_expire(key)
    if dst.lookup_write(key) is not None:
        return 0
    add_key(c, dst, key, value, expire)
    encoding_notes(c.server.keyspace).carry(src, key, dst, key, False)
    src.delete(key)
    notify_db(c, NOTIFY_GENERIC, "move_from", key, src.id)
    notify_db(c, NOTIFY_GENERIC, "move_to", key, dst.id)
    c.server.dirty += 1
    return 1


def cmd_copy(c: Client, argv: list[bytes]) -> object:
    src = dst = c.db
    replace = False
    j = 3
    while j < len(argv):
        opt = argv[j].lower()
        if opt == b"replace":
            replace = True
        elif opt == b"db" and j + 1 < len(argv):
            dst = select_db(c, argv[j + 1])
            j += 1
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    if c.server.config.cluster_enabled and (src.id != 0 or dst.id != 0):
        raise CommandError("ERR Copying to another database is not allowed in cluster mode")
    key, newkey = argv[1], argv[2]
    if src is dst and key == newkey:
        raise CommandError(errors.SAME_OBJECT)
    value = src.lookup_read(key)
    if value is None:
        return 0
    expire = src.get_expire(key)
    if dst.lookup_write(newkey) is not None:
        if not replace:
            return 0
        dst.delete(newkey)
    add_key(c, dst, newkey, duplicate_value(value), expire)
    encoding_notes(c.server.keyspace).carry(src, key, dst, newkey, True)
    notify_db(c, NOTIFY_GENERIC, "copy_to", newkey, dst.id)
    c.server.dirty += 1
    return 1


# ---- EXPIRE family ----

EXPIRE_NX, EXPIRE_XX, EXPIRE_GT, EXPIRE_LT = 1, 2, 4, 8
_EXPIRE_FLAGS = {b"nx": EXPIRE_NX, b"xx": EXPIRE_XX, b"gt": EXPIRE_GT, b"lt": EXPIRE_LT}


def parse_expire_flags(argv: list[bytes], start: int) -> int:
    """parseExtendedExpireArgumentsOrReply."""
    flags = 0
    for opt in argv[start:]:
        bit = _EXPIRE_FLAGS.get(opt.lower())
        if bit is None:
            raise CommandError(f"ERR Unsupported option {_option_text(opt)}")
        flags |= bit
    if flags & EXPIRE_NX and flags & (EXPIRE_XX | EXPIRE_GT | EXPIRE_LT):
        raise CommandError("ERR NX and XX, GT or LT options at the same time are not compatible")
    if flags & EXPIRE_GT and flags & EXPIRE_LT:
        raise CommandError("ERR GT and LT options at the same time are not compatible")
    return flags


def _expire_allowed(flags: int, when: int, current: int) -> bool:
    """The NX/XX/GT/LT conditions; `current` is -1 for a key without a TTL (infinite)."""
    if flags & EXPIRE_NX and current != -1:
        return False
    if flags & EXPIRE_XX and current == -1:
        return False
    if flags & EXPIRE_GT and (current == -1 or when <= current):
        return False
    return not (flags & EXPIRE_LT and current != -1 and when >= current)


def _expire_generic(c: Client, argv: list[bytes], name: str, relative: bool,
                    seconds: bool) -> object:
    """expireGenericCommand; `name` is the command's own name (for the error text)."""
    flags = parse_expire_flags(argv, 3)
    when = parse_int(argv[2])
    invalid = errors.INVALID_EXPIRE.format(name)
    if seconds:
        if when > LLONG_MAX // 1000 or when < -(-LLONG_MIN // 1000):
            raise CommandError(invalid)
        when *= 1000
    now = c.server.clock.wall_ms()
    base = now if relative else 0
    if when > LLONG_MAX - base:
        raise CommandError(invalid)
    when += base
    db, key = c.db, argv[1]
    if db.lookup_write(key) is None:
        return 0
    if flags:
        current = db.get_expire(key)
        if not _expire_allowed(flags, when, -1 if current is None else current):
            return 0
    if when <= now and not c.server.keyspace.is_replica:
        db.delete(key)
        modified(c, key, "del", NOTIFY_GENERIC)
        c.propagate_as = [[deletion_command(c.server.config.lazyfree_lazy_expire), key]]
        return 1
    db.set_expire(key, when)
    db.signal_modified(key)
    modified(c, key, "expire", NOTIFY_GENERIC)
    if relative or seconds:   # downstream the time is absolute ms: PEXPIREAT, same options
        c.propagate_as = [[b"PEXPIREAT", key, b"%d" % when, *argv[3:]]]
    return 1


def cmd_expire(c: Client, argv: list[bytes]) -> object:
    return _expire_generic(c, argv, "expire", True, True)


def cmd_pexpire(c: Client, argv: list[bytes]) -> object:
    return _expire_generic(c, argv, "pexpire", True, False)


def cmd_expireat(c: Client, argv: list[bytes]) -> object:
    return _expire_generic(c, argv, "expireat", False, True)


def cmd_pexpireat(c: Client, argv: list[bytes]) -> object:
    return _expire_generic(c, argv, "pexpireat", False, False)


def _ttl_generic(c: Client, key: bytes, millis: bool, absolute: bool) -> int:
    db = c.db
    if db.lookup_read(key) is None:
        return -2
    when = db.get_expire(key)
    if when is None:
        return -1
    ttl = max(when if absolute else when - c.server.clock.wall_ms(), 0)
    return ttl if millis else (ttl + 500) // 1000


def cmd_ttl(c: Client, argv: list[bytes]) -> object:
    return _ttl_generic(c, argv[1], False, False)


def cmd_pttl(c: Client, argv: list[bytes]) -> object:
    return _ttl_generic(c, argv[1], True, False)


def cmd_expiretime(c: Client, argv: list[bytes]) -> object:
    return _ttl_generic(c, argv[1], False, True)


def cmd_pexpiretime(c: Client, argv: list[bytes]) -> object:
    return _ttl_generic(c, argv[1], True, True)


def cmd_persist(c: Client, argv: list[bytes]) -> object:
    db, key = c.db, argv[1]
    if db.lookup_write(key) is None or not db.persist(key):
        return 0
    db.signal_modified(key)
    modified(c, key, "persist", NOTIFY_GENERIC)
    return 1


# ---- DBSIZE FLUSHDB FLUSHALL SWAPDB ----

def cmd_dbsize(c: Client, argv: list[bytes]) -> object:
    return len(c.db.data)


def _check_flush_args(argv: list[bytes]) -> None:
    """getFlushCommandFlags: nothing, SYNC or ASYNC (freeing is the same in Python)."""
    if len(argv) == 2 and argv[1].lower() in (b"sync", b"async"):
        return
    if len(argv) != 1:
        raise CommandError(errors.SYNTAX)


def force_propagation(c: Client, argv: list[bytes], dirty_before: int) -> None:
    """forceCommandPropagation: FLUSHDB/FLUSHALL go downstream even when they changed
    nothing (an empty db), so a replica that drifted is flushed too."""
    srv = c.server
    if srv.dirty == dirty_before and srv.propagator.feeds:
        srv.propagator.also(c.db.id, argv)


def cmd_flushdb(c: Client, argv: list[bytes]) -> object:
    _check_flush_args(argv)
    key_iterators(c.server.keyspace).forget(c.db)
    encoding_notes(c.server.keyspace).forget(c.db)
    dirty = c.server.dirty
    c.server.dirty += c.db.clear()
    force_propagation(c, argv, dirty)
    return OK


def cmd_flushall(c: Client, argv: list[bytes]) -> object:
    _check_flush_args(argv)
    dbs = c.server.keyspace.dbs
    key_iterators(c.server.keyspace).forget(*dbs)
    encoding_notes(c.server.keyspace).forget(*dbs)
    dirty = c.server.dirty
    c.server.dirty += sum(db.clear() for db in dbs)
    from redkeep.persistence.snapshot import flushall_save
    flushall_save(c.server)   # flushAllDataAndResetRDB: kill the child, save if save points
    if c.server.config.save:  # the save zeroed dirty: one change, so FLUSHALL propagates
        c.server.dirty += 1
    force_propagation(c, argv, dirty)
    return OK


def cmd_swapdb(c: Client, argv: list[bytes]) -> object:
    if c.server.config.cluster_enabled:
        raise CommandError("ERR SWAPDB is not allowed in cluster mode")
    a = parse_int32(argv[1], "invalid first DB index")
    b = parse_int32(argv[2], "invalid second DB index")
    ks = c.server.keyspace
    n = len(ks.dbs)
    if a < 0 or a >= n or b < 0 or b >= n:
        raise CommandError(errors.DB_INDEX)
    if a != b:
        ks.swap(a, b)      # SCAN iterations over either db notice and restart
        encoding_notes(ks).swap(a, b)
    c.server.dirty += 1
    return OK


# ---- OBJECT ----

def string_encoding(value: bytes) -> bytes:
    """What tryObjectEncoding makes of a string written by SET: int, embstr or raw."""
    if len(value) <= 20 and parse_ll(value) is not None:
        return b"int"
    return b"embstr" if len(value) <= EMBSTR_SIZE_LIMIT else b"raw"


def object_encoding(c: Client, key: bytes, value: Any) -> bytes:
    if type(value) is bytes:
        noted = encoding_notes(c.server.keyspace).lookup(c.db, key, value)
        return noted or string_encoding(value)
    enc = getattr(value, "encoding", None)     # a method or an attribute of the type
    if callable(enc):
        enc = enc()
    if isinstance(enc, str):
        return enc.encode()
    if isinstance(enc, bytes):
        return enc
    return _CONTAINER_ENCODINGS.get(type_name(value), b"raw")


def _object_lookup(c: Client, key: bytes) -> Any:
    """objectCommandLookup: LOOKUP_NOTOUCH|LOOKUP_NONOTIFY (stats, but no keymiss event)."""
    ks = c.server.keyspace
    v = c.db.lookup_write(key)
    if v is None:
        ks.keyspace_misses += 1
    else:
        ks.keyspace_hits += 1
    return v


def cmd_object_encoding(c: Client, argv: list[bytes]) -> object:
    v = _object_lookup(c, argv[2])
    return None if v is None else object_encoding(c, argv[2], v)


def cmd_object_refcount(c: Client, argv: list[bytes]) -> object:
    v = _object_lookup(c, argv[2])
    if v is None:
        return None
    if type(v) is bytes and len(v) <= 4 and _shared_integers_allowed(c) \
            and encoding_notes(c.server.keyspace).lookup(c.db, argv[2], v) is None:
        n = parse_ll(v)
        if n is not None and 0 <= n < OBJ_SHARED_INTEGERS:
            return OBJ_SHARED_REFCOUNT
    return 1


def _shared_integers_allowed(c: Client) -> bool:
    cfg = c.server.config
    policy = cfg.maxmemory_policy
    return not cfg.maxmemory or (policy not in _LFU_POLICIES and policy not in _LRU_POLICIES)


def cmd_object_idletime(c: Client, argv: list[bytes]) -> object:
    key = argv[2]
    if _object_lookup(c, key) is None:
        return None
    if c.server.config.maxmemory_policy in _LFU_POLICIES:
        raise CommandError(
            "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note "
            "that when switching between policies at runtime LRU and LFU data will take "
            "some time to adjust.")
    idle_ms = getattr(c.server.evictor, "idle_ms", None)
    return idle_ms(c.db, key) // 1000 if idle_ms else 0


def cmd_object_freq(c: Client, argv: list[bytes]) -> object:
    key = argv[2]
    if _object_lookup(c, key) is None:
        return None
    if c.server.config.maxmemory_policy not in _LFU_POLICIES:
        raise CommandError(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. "
            "Please note that when switching between policies at runtime LRU and LFU data "
            "will take some time to adjust.")
    counter = getattr(c.server.evictor, "lfu_counter", None)
    return counter(c.db, key) if counter else LFU_INIT_VAL


_OBJECT_HELP = (
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
)


def cmd_object_help(c: Client, argv: list[bytes]) -> object:
    return [Status(line.encode()) for line in _OBJECT_HELP]


# ---- Registration ----

def register(table: CommandTable) -> None:
    def add(name: str, handler: Any, arity: int, flags: str, first: int, last: int,
            step: int, cats: str) -> None:
        table.add(name, handler, arity, flags, first, last, step, group="generic",
                  categories="@keyspace " + cats)

    add("del", cmd_del, -2, "write", 1, -1, 1, "@write @slow")
    add("unlink", cmd_del, -2, "write fast", 1, -1, 1, "@write @fast")
    add("exists", cmd_exists, -2, "readonly fast", 1, -1, 1, "@read @fast")
    add("touch", cmd_touch, -2, "readonly fast", 1, -1, 1, "@read @fast")
    add("type", cmd_type, 2, "readonly fast", 1, 1, 1, "@read @fast")
    add("keys", cmd_keys, 2, "readonly", 0, 0, 0, "@read @slow @dangerous")
    add("scan", cmd_scan, -2, "readonly", 0, 0, 0, "@read @slow")
    add("randomkey", cmd_randomkey, 1, "readonly", 0, 0, 0, "@read @slow")
    add("rename", cmd_rename, 3, "write", 1, 2, 1, "@write @slow")
    add("renamenx", cmd_renamenx, 3, "write fast", 1, 2, 1, "@write @fast")
    add("move", cmd_move, 3, "write fast", 1, 1, 1, "@write @fast")
    add("copy", cmd_copy, -3, "write denyoom", 1, 2, 1, "@write @slow")
    for name, handler in (("expire", cmd_expire), ("pexpire", cmd_pexpire),
                          ("expireat", cmd_expireat), ("pexpireat", cmd_pexpireat)):
        add(name, handler, -3, "write fast", 1, 1, 1, "@write @fast")
    for name, handler in (("ttl", cmd_ttl), ("pttl", cmd_pttl),
                          ("expiretime", cmd_expiretime), ("pexpiretime", cmd_pexpiretime)):
        add(name, handler, 2, "readonly fast", 1, 1, 1, "@read @fast")
    add("persist", cmd_persist, 2, "write fast", 1, 1, 1, "@write @fast")
    add("dbsize", cmd_dbsize, 1, "readonly fast", 0, 0, 0, "@read @fast")
    add("flushdb", cmd_flushdb, -1, "write", 0, 0, 0, "@write @slow @dangerous")
    add("flushall", cmd_flushall, -1, "write", 0, 0, 0, "@write @slow @dangerous")
    add("swapdb", cmd_swapdb, 3, "write fast", 0, 0, 0, "@write @fast @dangerous")

    obj = table.add("object", None, -2, "", group="generic", categories="@slow")
    sub = table.add_subcommand
    read = "@keyspace @read @slow"
    sub(obj, "encoding", cmd_object_encoding, 3, "readonly", 2, 2, 1, categories=read)
    sub(obj, "freq", cmd_object_freq, 3, "readonly", 2, 2, 1, categories=read)
    sub(obj, "idletime", cmd_object_idletime, 3, "readonly", 2, 2, 1, categories=read)
    sub(obj, "refcount", cmd_object_refcount, 3, "readonly", 2, 2, 1, categories=read)
    sub(obj, "help", cmd_object_help, 2, "loading stale", categories="@keyspace @slow")
