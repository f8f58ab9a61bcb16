"""DUMP and RESTORE: a key's value as Redis's serialized payload, and back.

Theory of operation
-------------------
The payload is the one Redis 7.0 produces and accepts (see persistence/rdb.py,
`dump_value` / `load_value`): the RDB type byte and the value in RDB encoding, the RDB
version (2 bytes, little endian) and a CRC64 of everything before it. So payloads move
between redkeep and real Redis/Valkey servers in both directions.

DUMP compresses long strings with LZF when `rdbcompression` is on, as Redis does.
RESTORE follows restoreCommand step by step, so errors come in Redis's order:

  1) options: REPLACE, ABSTTL, IDLETIME seconds (not after FREQ), FREQ 0..255 (not
     after IDLETIME); anything else is a syntax error;
  2) without REPLACE an existing key is BUSYKEY;
  3) the TTL must be an integer >= 0 (0 means no expire; ms, absolute with ABSTTL);
  4) the payload's version and checksum are verified, then the value is decoded with
     the encoding thresholds of the current config; any failure is "Bad data format";
  5) REPLACE deletes the old key; a TTL already in the past (on a master) then makes
     RESTORE a DEL (the `del` event, one dirty) or a no-op, and the reply is OK;
  6) otherwise the key is added (`new` event), its TTL set, its access information
     set from IDLETIME (LRU policies) or FREQ (LFU policies), and the `restore` event
     sent.

IDLETIME/FREQ write `Database.access` the way the access tracker of eviction.py keeps
it (LRU: the monotonic ms of the last access, LFU: (minutes << 8) | counter); when no
LRU/LFU policy is active, redkeep tracks no access information and they are accepted
and ignored.

Propagation, as Redis 7.0.15: a relative TTL goes downstream as the absolute time with
ABSTTL appended, and a RESTORE REPLACE whose TTL had already passed as the DEL of the
key it replaced (DEL even with lazyfree-lazy-server-del, as 7.0.15 does).
"""

from __future__ import annotations

import struct
from typing import Any

from redkeep.persistence.rdb import (
    RDB_VERSION,
    Limits,
    RDBError,
    Reader,
    crc64,
    dump_value,
    load_object,
)
from redkeep.resp.types import OK
from redkeep.server import errors
from redkeep.server.arguments import parse_int
from redkeep.server.commands.strings import modified
from redkeep.server.config import NOTIFY_GENERIC
from redkeep.server.connection import Client
from redkeep.server.errors import CommandError
from redkeep.server.table import CommandTable
from redkeep.server.types.stream import Stream

BUSYKEY = "BUSYKEY Target key name already exists."
BAD_PAYLOAD = "ERR DUMP payload version or checksum are wrong"
BAD_DATA = "ERR Bad data format"
INVALID_TTL = "ERR Invalid TTL value, must be >= 0"
INVALID_IDLETIME = "ERR Invalid IDLETIME value, must be >= 0"
INVALID_FREQ = "ERR Invalid FREQ value, must be >= 0 and <= 255"
LLONG_MAX = 9223372036854775807


def limits_of(config: Any) -> Limits:
    """The rdb.Limits (encoding thresholds) of the server's current configuration."""
    return Limits(
        hash_max_listpack_entries=config.hash_max_listpack_entries,
        hash_max_listpack_value=config.hash_max_listpack_value,
        zset_max_listpack_entries=config.zset_max_listpack_entries,
        zset_max_listpack_value=config.zset_max_listpack_value,
        set_max_intset_entries=config.set_max_intset_entries,
    )


def cmd_dump(c: Client, argv: list[bytes]) -> object:
    value = c.db.lookup_read(argv[1])
    if value is None:
        return None
    return dump_value(value, compress=bool(c.server.config.rdbcompression))


class RestoreOptions:
    __slots__ = ("replace", "absttl", "idle", "freq")

    def __init__(self) -> None:
        self.replace = self.absttl = False
        self.idle: int | None = None     # IDLETIME seconds
        self.freq: int | None = None     # FREQ counter


def _parse_restore_options(argv: list[bytes]) -> RestoreOptions:
    o = RestoreOptions()
    i = 4
    while i < len(argv):
        opt = argv[i].lower()
        more = i + 1 < len(argv)
        if opt == b"replace":
            o.replace = True
        elif opt == b"absttl":
            o.absttl = True
        elif opt == b"idletime" and more and o.freq is None:
            o.idle = parse_int(argv[i + 1])
            if o.idle < 0:
                raise CommandError(INVALID_IDLETIME)
            i += 1
        elif opt == b"freq" and more and o.idle is None:
            o.freq = parse_int(argv[i + 1])
            if not 0 <= o.freq <= 255:
                raise CommandError(INVALID_FREQ)
            i += 1
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    return o


def verify_dump_payload(payload: bytes) -> bytes:
    """verifyDumpPayload: the body before the version and CRC64 footer, or the error."""
    if len(payload) < 10:
        raise CommandError(BAD_PAYLOAD)
    version, crc = struct.unpack("<HQ", payload[-10:])
    if version > RDB_VERSION or crc64(payload[:-8]) != crc:
        raise CommandError(BAD_PAYLOAD)
    return payload[:-10]


def _decode(c: Client, key: bytes, payload: bytes) -> Any:
    """verifyDumpPayload + rdbLoadObject: the value, or Redis's error reply.

    Like Redis, the value is read from the whole payload, footer included (rdbLoadObject
    reads from the argument's buffer); with sanitize-dump-payload no (the default) bytes
    after it are ignored, with "yes" the value must end where the footer begins. An
    empty container is bad data."""
    body_len = len(verify_dump_payload(payload))
    r = Reader(payload)
    try:
        value = load_object(r, r.byte(), key, limits_of(c.server.config))
    except RDBError as e:
        if str(e).startswith("The RDB file contains"):   # a type redkeep can't hold yet
            raise CommandError(f"{BAD_DATA}: {e}") from None
        raise CommandError(BAD_DATA) from None
    except Exception:      # an untrusted payload: any decoding failure is bad data
        raise CommandError(BAD_DATA) from None
    if type(value) is not bytes and not isinstance(value, Stream) and not len(value):
        raise CommandError(BAD_DATA)
    if c.server.config.sanitize_dump_payload == "yes" and r.pos != body_len:
        raise CommandError(BAD_DATA)
    return value


def _set_access(c: Client, key: bytes, o: RestoreOptions) -> None:
    """objectSetLRUOrLFU, on the access information eviction.AccessTracker keeps."""
    db, tracker = c.db, c.server.keyspace.tracker
    if tracker is None or db.access is None:
        return
    if tracker.lfu:
        if o.freq is not None:
            db.access[key] = (tracker.minutes() << 8) | o.freq
    elif o.idle is not None:
        db.access[key] = tracker.clock.monotonic_ms() - o.idle * 1000


def cmd_restore(c: Client, argv: list[bytes]) -> object:
    db, key = c.db, argv[1]
    o = _parse_restore_options(argv)
    if not o.replace and db.lookup_write(key) is not None:
        raise CommandError(BUSYKEY)
    ttl = parse_int(argv[2])
    if ttl < 0:
        raise CommandError(INVALID_TTL)
    value = _decode(c, key, argv[3])
    deleted = db.delete(key) if o.replace else False
    now = c.server.clock.wall_ms()
    if ttl and not o.absttl:
        ttl += now
        if ttl > LLONG_MAX:             # Redis's signed addition wraps: already expired
            ttl -= 1 << 64
    if ttl and ttl <= now and not c.server.keyspace.is_replica:
        if deleted:
            modified(c, key, "del", NOTIFY_GENERIC)
            c.propagate_as = [[b"DEL", key]]      # DEL whatever lazyfree says, as 7.0
        return OK
    db.set_key(key, value)
    if ttl:
        db.set_expire(key, ttl)
        if not o.absttl:
            c.propagate_as = [[argv[0], key, b"%d" % ttl, *argv[3:], b"ABSTTL"]]
    _set_access(c, key, o)
    modified(c, key, "restore", NOTIFY_GENERIC)
    return OK


def register(table: CommandTable) -> None:
    table.add("dump", cmd_dump, 2, "readonly", 1, 1, 1, group="generic",
              categories="@keyspace @read @slow")
    table.add("restore", cmd_restore, -4, "write denyoom", 1, 1, 1, group="generic",
              categories="@keyspace @write @slow @dangerous")
