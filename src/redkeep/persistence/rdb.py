"""The RDB file format of Redis 7.0 (RDB version 10): encode and decode, bytes only.

Theory of operation
-------------------
An RDB file is ``REDIS0010``, a run of records and ``EOF`` + an 8-byte CRC64 of
everything before it. A record starts with one byte: either an *opcode* (AUX field,
SELECTDB, RESIZEDB, EXPIRETIME(_MS), IDLE, FREQ, MODULE_AUX, FUNCTION2, EOF) or a
*value type*, followed by the key and the serialized value. Lengths use Redis's
variable encoding (6/14/32/64 bits); strings are a length and raw bytes, or a small
integer (8/16/32 bits, little endian), or an LZF block (compressed and plain lengths).
Small containers are written as one string holding their in-memory blob: a listpack
(hashes, sorted sets, quicklist nodes), an intset, or in older files a ziplist or a
zipmap.

`dump_rdb` / `dump_value` write what Redis 7.0 writes, choosing each container's
encoding from the flags the redkeep value carries (`Hash.listpack`, `Set.intset`,
`ZSet.skiplist`; lists are always QUICKLIST_2 of listpack nodes); strings that look
like integers become integer encodings and longer ones are LZF-compressed when
`compress` is on, exactly like rdbSaveRawString. `load_rdb` / `load_value` read every
encoding Redis 7.0 can load, check the CRC64 (a zero checksum means "not computed",
as with `rdbchecksum no`), and decide encodings like rdbLoadObject does, from the
`Limits` given (the *-max-listpack-* / set-max-intset-entries settings).

What this module deliberately doesn't know: files, sockets, clocks (ctime comes in the
aux fields given), the keyspace (`snapshot_keyspace` only reads one), and module types:
a module value is refused naming its key; module aux data is skipped; function
libraries (FUNCTION2) are returned as their code. Streams are written and read with
their entries, IDs and counters; a stream with consumer groups is refused on load,
since redkeep's streams have none yet.
"""

from __future__ import annotations

import gc
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import crcmod
import lzf

from redkeep.resp.parser import parse_ll
from redkeep.server.types.hash import Hash
from redkeep.server.types.list import List
from redkeep.server.types.set import Set, intset_limit, is_int_member
from redkeep.server.types.stream import Stream
from redkeep.server.types.zset import ZSet, listpack_score_text

RDB_VERSION = 10
REDIS_VERSION = b"7.0.15"

# ---- Value types and opcodes (rdb.h) ----

TYPE_STRING = 0
TYPE_LIST = 1
TYPE_SET = 2
TYPE_ZSET = 3
TYPE_HASH = 4
TYPE_ZSET_2 = 5
TYPE_MODULE_PRE_GA = 6
TYPE_MODULE_2 = 7
TYPE_HASH_ZIPMAP = 9
TYPE_LIST_ZIPLIST = 10
TYPE_SET_INTSET = 11
TYPE_ZSET_ZIPLIST = 12
TYPE_HASH_ZIPLIST = 13
TYPE_LIST_QUICKLIST = 14
TYPE_STREAM_LISTPACKS = 15
TYPE_HASH_LISTPACK = 16
TYPE_ZSET_LISTPACK = 17
TYPE_LIST_QUICKLIST_2 = 18
TYPE_STREAM_LISTPACKS_2 = 19

OP_FUNCTION2 = 245
OP_FIRST = OP_FUNCTION2          # bytes below the first opcode are value types
OP_FUNCTION_PRE_GA = 246
OP_MODULE_AUX = 247
OP_IDLE = 248
OP_FREQ = 249
OP_AUX = 250
OP_RESIZEDB = 251
OP_EXPIRETIME_MS = 252
OP_EXPIRETIME = 253
OP_SELECTDB = 254
OP_EOF = 255

STREAM_ITEM_FLAG_DELETED = 1
STREAM_ITEM_FLAG_SAMEFIELDS = 2

ENC_INT8, ENC_INT16, ENC_INT32, ENC_LZF = 0, 1, 2, 3
QUICKLIST_NODE_PLAIN, QUICKLIST_NODE_PACKED = 1, 2
QUICKLIST_NODE_BYTES = 8192          # list-max-listpack-size -2
LISTPACK_SAFETY = 1 << 30            # LISTPACK_MAX_SAFETY_SIZE

crc64: Callable[..., int] = crcmod.mkCrcFun(
    0x1AD93D23594C935A9, initCrc=0, rev=True, xorOut=0)
"""Redis's crc64 (Jones polynomial, reflected): crc64(b"123456789") == 0xe9c6d914c4b8d9ca."""


class RDBError(ValueError):
    """A file or payload that cannot be loaded; the text says where and why."""


@dataclass(frozen=True)
class Limits:
    """The encoding thresholds rdbLoadObject consults (redis.conf defaults)."""
    hash_max_listpack_entries: int = 512
    hash_max_listpack_value: int = 64
    zset_max_listpack_entries: int = 128
    zset_max_listpack_value: int = 64
    set_max_intset_entries: int = 512


Entry = tuple[Any, "int | None"]          # (value, expire unix ms or None)
Snapshot = Mapping[int, Mapping[bytes, Entry]]


@dataclass
class LoadedRDB:
    """What an RDB file holds: per database its values and, apart, the expire times
    (unix ms) of the keys that have one; the loader fills these dicts directly, so a
    server can adopt them without another pass over every key."""

    version: int
    aux: dict[str, bytes] = field(default_factory=dict)
    values: dict[int, dict[bytes, Any]] = field(default_factory=dict)
    expires: dict[int, dict[bytes, int]] = field(default_factory=dict)
    functions: list[bytes] = field(default_factory=list)
    # keys saved with an IDLE or FREQ record: ("idle", seconds) or ("freq", counter)
    access: dict[int, dict[bytes, tuple[str, int]]] = field(default_factory=dict)

    @classmethod
    def from_entries(cls, version: int, dbs: Snapshot) -> LoadedRDB:
        """From databases given as key -> (value, expire or None)."""
        return cls(version, values={d: {k: v for k, (v, _) in keys.items()}
                                    for d, keys in dbs.items()},
                   expires={d: {k: e for k, (_, e) in keys.items() if e is not None}
                            for d, keys in dbs.items()})

    @property
    def dbs(self) -> dict[int, dict[bytes, Entry]]:
        """Each database as key -> (value, expire or None), as dump_rdb takes them."""
        return {dbid: {k: (v, self.expires[dbid].get(k)) for k, v in values.items()}
                for dbid, values in self.values.items()}


def snapshot_keyspace(keyspace: Any) -> dict[int, dict[bytes, Entry]]:
    """The non-empty databases of a server Keyspace, as dump_rdb takes them."""
    out = {}
    for db in keyspace.dbs:
        if db.data:
            exp = db.expires
            out[db.id] = {k: (v, exp.get(k)) for k, v in db.data.items()}
    return out


# ---- Writing: primitives ----

def encode_length(n: int) -> bytes:
    if n < 64:
        return bytes((n,))
    if n < 16384:
        return bytes((0x40 | (n >> 8), n & 0xFF))
    if n <= 0xFFFFFFFF:
        return b"\x80" + struct.pack(">I", n)
    return b"\x81" + struct.pack(">Q", n)


_LEN1 = [bytes((i,)) for i in range(64)]      # one-byte lengths (6-bit encoding)


def _short_plain(s: bytes) -> bool:
    """A string encode_string would write as length + bytes with a one-byte length:
    shorter than 21 bytes (never LZF) and not something that may be an integer."""
    n = len(s)
    if n > 20:
        return False
    if n > 11 or n == 0:
        return n > 0
    c = s[0]
    return not (48 <= c <= 57 or c == 45)


def encode_string(s: bytes, compress: bool = True) -> bytes:
    """rdbSaveRawString: integer encoding, then LZF when it saves space, then raw."""
    n = len(s)
    if n <= 11:
        v = parse_ll(s)
        if v is not None:
            if -128 <= v <= 127:
                return struct.pack("<Bb", 0xC0 | ENC_INT8, v)
            if -32768 <= v <= 32767:
                return struct.pack("<Bh", 0xC0 | ENC_INT16, v)
            if -(1 << 31) <= v < (1 << 31):
                return struct.pack("<Bi", 0xC0 | ENC_INT32, v)
    if compress and n > 20:
        packed = lzf.compress(s, n - 4)
        if packed:
            return b"\xc3" + encode_length(len(packed)) + encode_length(n) + packed
    return encode_length(n) + s


def _backlen(n: int) -> bytes:
    """lpEncodeBacklen: 7 bits a byte, most significant first, all but the first flagged."""
    out = [n & 127]
    n >>= 7
    while n:
        out[-1] |= 128
        out.append(n & 127)
        n >>= 7
    out.reverse()
    return bytes(out)


_LP_CACHE: dict[bytes | int, bytes] = {}   # encodings of short elements, reused a lot


def _lp_entry(ele: bytes | int) -> bytes:
    """lpEncodeString/lpEncodeIntegerGetType + backlen; short elements are memoised
    (field names, small members and numbers repeat across keys)."""
    enc = _LP_CACHE.get(ele)
    if enc is not None:
        return enc
    enc = _lp_entry_uncached(ele)
    if (ele.__class__ is int or len(ele) <= 16) and len(_LP_CACHE) < 65536:
        _LP_CACHE[ele] = enc
    return enc


@contextmanager
def _bulk(freeze: bool = False) -> Iterator[None]:
    """Building or reading millions of objects: the cyclic GC only slows it down (none of
    them can be part of a cycle), so it is off for the duration. With `freeze` what was
    built is moved to the permanent generation first (gc.freeze): a loaded dataset is
    then never traversed again, neither by the collection its size would set off at once
    nor by later full collections (which would be pauses Redis does not have); objects
    are still freed by reference counting when deleted."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if was:
            gc.enable()


def _lp_entry_uncached(ele: bytes | int) -> bytes:
    v = ele if isinstance(ele, int) else parse_ll(ele)
    if v is not None:
        if 0 <= v <= 127:
            enc = bytes((v,))
        elif -4096 <= v <= 4095:
            u = v & 0x1FFF
            enc = bytes((0xC0 | (u >> 8), u & 0xFF))
        elif -32768 <= v <= 32767:
            enc = struct.pack("<Bh", 0xF1, v)
        elif -(1 << 23) <= v < (1 << 23):
            enc = b"\xf2" + (v & 0xFFFFFF).to_bytes(3, "little")
        elif -(1 << 31) <= v < (1 << 31):
            enc = struct.pack("<Bi", 0xF3, v)
        else:
            enc = struct.pack("<Bq", 0xF4, v)
    else:
        n = len(ele)
        if n < 64:
            enc = bytes((0x80 | n,)) + ele
        elif n < 4096:
            enc = bytes((0xE0 | (n >> 8), n & 0xFF)) + ele
        else:
            enc = struct.pack("<BI", 0xF0, n) + ele
    return enc + _backlen(len(enc))


def encode_listpack(elements: Iterable[bytes | int]) -> bytes:
    entries = [_lp_entry(e) for e in elements]
    body = b"".join(entries)
    count = len(entries) if len(entries) < 65535 else 65535
    return struct.pack("<IH", 6 + len(body) + 1, count) + body + b"\xff"


def encode_intset(values: Iterable[int]) -> bytes:
    ints = sorted(values)
    lo, hi = (ints[0], ints[-1]) if ints else (0, 0)
    if -32768 <= lo and hi <= 32767:
        width, code = 2, "h"
    elif -(1 << 31) <= lo and hi < (1 << 31):
        width, code = 4, "i"
    else:
        width, code = 8, "q"
    return struct.pack("<II", width, len(ints)) + struct.pack(f"<{len(ints)}{code}", *ints)


# ---- Writing: values ----

def _quicklist_nodes(items: Iterable[bytes]) -> Iterator[list[bytes]]:
    """Cut a list into listpack-sized nodes (about list-max-listpack-size -2: 8 kB)."""
    node: list[bytes] = []
    size = 0
    for e in items:
        cost = len(e) + 11
        if node and size + cost > QUICKLIST_NODE_BYTES:
            yield node
            node, size = [], 0
        node.append(e)
        size += cost
    if node:
        yield node


def _dump_list(value: List, compress: bool) -> tuple[int, bytes]:
    out = []
    nodes = 0
    for node in _quicklist_nodes(value):
        nodes += 1
        if len(node) == 1 and len(node[0]) >= QUICKLIST_NODE_BYTES:
            out.append(encode_length(QUICKLIST_NODE_PLAIN) + encode_string(node[0], compress))
        else:
            out.append(encode_length(QUICKLIST_NODE_PACKED)
                       + encode_string(encode_listpack(node), compress))
    return TYPE_LIST_QUICKLIST_2, encode_length(nodes) + b"".join(out)


def _dump_set(value: Set, compress: bool) -> tuple[int, bytes]:
    if value.intset and all(map(is_int_member, value)):
        return TYPE_SET_INTSET, encode_string(encode_intset(map(int, value)), compress)
    parts = [encode_length(len(value))]
    parts.extend(encode_string(m, compress) for m in value)
    return TYPE_SET, b"".join(parts)


def _dump_hash(value: Hash, compress: bool) -> tuple[int, bytes]:
    if value.listpack:
        flat = [x for pair in value.items() for x in pair]
        return TYPE_HASH_LISTPACK, encode_string(encode_listpack(flat), compress)
    parts = [encode_length(len(value))]
    for f, v in value.items():
        parts.append(encode_string(f, compress))
        parts.append(encode_string(v, compress))
    return TYPE_HASH, b"".join(parts)


def _dump_zset(value: ZSet, compress: bool) -> tuple[int, bytes]:
    if not value.skiplist:
        flat = []
        for member, score in value.ordered_items():
            flat.append(member)
            flat.append(listpack_score_text(score))
        return TYPE_ZSET_LISTPACK, encode_string(encode_listpack(flat), compress)
    parts = [encode_length(len(value))]
    for member, score in value.reverse_items():       # greatest first, like Redis
        parts.append(encode_string(member, compress))
        parts.append(struct.pack("<d", score))
    return TYPE_ZSET_2, b"".join(parts)


STREAM_NODE_MAX_ENTRIES = 100       # stream-node-max-entries
STREAM_NODE_MAX_BYTES = 4096        # stream-node-max-bytes


def _stream_nodes(value: Stream) -> Iterator[list]:
    """Cut the entries into nodes the way XADD fills them (entries, then bytes)."""
    node: list = []
    size = 0
    for sid in value.ids:
        fields = value[sid]
        if node and (len(node) >= STREAM_NODE_MAX_ENTRIES or size >= STREAM_NODE_MAX_BYTES):
            yield node
            node, size = [], 0
        node.append((sid, fields))
        size += sum(len(f) + len(v) + 4 for f, v in fields) + 12
    if node:
        yield node


def _stream_node_listpack(node: list) -> tuple[bytes, bytes]:
    """(master ID as 16 bytes big endian, listpack) of one node (t_stream.c's layout)."""
    (base_ms, base_seq), first_fields = node[0]
    master_fields = [f for f, _ in first_fields]
    items: list[bytes | int] = [len(node), 0, len(master_fields), *master_fields, 0]
    for (ms, seq), fields in node:
        names = [f for f, _ in fields]
        if names == master_fields:
            items += [STREAM_ITEM_FLAG_SAMEFIELDS, ms - base_ms, seq - base_seq]
            items += [v for _, v in fields]
            items.append(len(fields) + 3)
        else:
            items += [0, ms - base_ms, seq - base_seq, len(fields)]
            items += [x for pair in fields for x in pair]
            items.append(2 * len(fields) + 4)
    return struct.pack(">QQ", base_ms, base_seq), encode_listpack(items)


def _dump_stream(value: Stream, compress: bool) -> tuple[int, bytes]:
    """STREAM_LISTPACKS_2: nodes, length, last/first/max-deleted IDs, entries_added,
    and no consumer groups (redkeep has none)."""
    parts = []
    nodes = 0
    for node in _stream_nodes(value):
        master, lp = _stream_node_listpack(node)
        parts.append(encode_string(master, False) + encode_string(lp, compress))
        nodes += 1
    first = value.ids[0] if value.ids else (0, 0)
    numbers = (len(value.ids), *value.last_id, *first, *value.max_deleted_id,
               value.entries_added, 0)
    return TYPE_STREAM_LISTPACKS_2, encode_length(nodes) + b"".join(parts) + b"".join(
        encode_length(n) for n in numbers)


def encode_value(value: Any, compress: bool = True, key: bytes = b"") -> tuple[int, bytes]:
    """(RDB type byte, serialized value) for one redkeep value."""
    if isinstance(value, bytes | bytearray):
        return TYPE_STRING, encode_string(bytes(value), compress)
    if isinstance(value, List):
        return _dump_list(value, compress)
    if isinstance(value, Set):
        return _dump_set(value, compress)
    if isinstance(value, Hash):
        return _dump_hash(value, compress)
    if isinstance(value, ZSet):
        return _dump_zset(value, compress)
    if isinstance(value, Stream):
        return _dump_stream(value, compress)
    raise RDBError(f"cannot save key '{key.decode(errors='replace')}': "
                   f"unknown value type {type(value).__name__}")


def _aux(name: str, value: bytes | int) -> bytes:
    raw = b"%d" % value if isinstance(value, int) else value
    return bytes((OP_AUX,)) + encode_string(name.encode(), False) + encode_string(raw, False)


def dump_rdb(keyspace_snapshot: Snapshot, aux: Mapping[str, bytes | int],
             compress: bool = True, checksum: bool = True,
             functions: Iterable[bytes] = ()) -> bytes:
    """A whole RDB file, as bytes (see write_rdb)."""
    parts: list[bytes] = []
    write_rdb(parts.append, keyspace_snapshot, aux, compress, checksum, functions)
    return b"".join(parts)


def write_rdb(write: Callable[[bytes], object], keyspace_snapshot: Snapshot,
              aux: Mapping[str, bytes | int], compress: bool = True, checksum: bool = True,
              functions: Iterable[bytes] = ()) -> None:
    """A whole RDB file handed to `write` in pieces of about a megabyte as it is built
    (a forked child streams it to its file or pipe without holding it all)."""
    with _bulk():
        _dump_rdb(_Sink(write, checksum), keyspace_snapshot, aux, compress, functions)


class _Sink:
    """Collects the parts of a file being written; `spill` passes them on in one piece
    and carries the CRC64 over (crcmod continues a CRC given the previous one)."""

    SPILL_PARTS = 8192

    def __init__(self, write: Callable[[bytes], object], checksum: bool) -> None:
        self.write, self.checksum = write, checksum
        self.parts: list[bytes] = []
        self.crc = 0

    def spill(self) -> None:
        data = b"".join(self.parts)
        self.parts.clear()
        if self.checksum:
            self.crc = crc64(data, self.crc)
        if data:
            self.write(data)

    def finish(self) -> None:
        self.spill()
        self.write(struct.pack("<Q", self.crc if self.checksum else 0))


def _dump_rdb(sink: _Sink, keyspace_snapshot: Snapshot, aux: Mapping[str, bytes | int],
              compress: bool = True, functions: Iterable[bytes] = ()) -> None:
    """A whole RDB file: header, AUX fields (defaults for those not given: redis-ver,
    redis-bits, ctime, used-mem, aof-base), function libraries, then per non-empty
    db SELECTDB + RESIZEDB + its keys, EOF and the CRC64 (zero when not checksumming)."""
    fields: dict[str, bytes | int] = {"redis-ver": REDIS_VERSION, "redis-bits": 64,
                                      "ctime": 0, "used-mem": 0}
    fields.update(aux)
    fields.setdefault("aof-base", 0)
    fields["aof-base"] = fields.pop("aof-base")      # Redis writes it last
    out = sink.parts
    out.append(b"REDIS%04d" % RDB_VERSION)
    out.extend(_aux(k, v) for k, v in fields.items())
    for code in functions:
        out.append(bytes((OP_FUNCTION2,)) + encode_string(code, compress))
    for dbid in sorted(keyspace_snapshot):
        keys = keyspace_snapshot[dbid]
        if not keys:
            continue
        if isinstance(keys, DbView):
            out.append(bytes((OP_SELECTDB,)) + encode_length(dbid))
            out.append(bytes((OP_RESIZEDB,)) + encode_length(len(keys.data))
                       + encode_length(len(keys.expires)))
            _dump_view(sink, keys, compress)
            continue
        expires = sum(1 for _, exp in keys.values() if exp is not None)
        out.append(bytes((OP_SELECTDB,)) + encode_length(dbid))
        out.append(bytes((OP_RESIZEDB,)) + encode_length(len(keys)) + encode_length(expires))
        _dump_keys(sink, keys, compress)
    out.append(bytes((OP_EOF,)))
    sink.finish()


class DbView:
    """A live database as dump_rdb can take it without copying: its data and expires
    dicts (in a forked child or a foreground SAVE nothing changes them meanwhile), and
    under an LRU or LFU policy `access(key)`, the IDLE or FREQ record Redis writes
    before each key (rdbSaveKeyValuePair's savelru / savelfu)."""

    __slots__ = ("data", "expires", "access")

    def __init__(self, data: Mapping[bytes, Any], expires: Mapping[bytes, int],
                 access: Callable[[bytes], bytes] | None = None) -> None:
        self.data, self.expires, self.access = data, expires, access

    def __len__(self) -> int:
        return len(self.data)


def keyspace_view(keyspace: Any) -> dict[int, DbView]:
    """The non-empty databases of a server Keyspace, uncopied (see DbView)."""
    return {db.id: DbView(db.data, db.expires, _access_records(keyspace, db))
            for db in keyspace.dbs if db.data}


def _access_records(keyspace: Any, db: Any) -> Callable[[bytes], bytes] | None:
    """IDLE <seconds> (LRU policies) or FREQ <counter> (LFU) of a key, as Redis saves."""
    tracker = getattr(keyspace, "tracker", None)
    if tracker is None or db.access is None:
        return None
    if tracker.lfu:
        return lambda key: bytes((OP_FREQ, tracker.lfu_freq(db, key)))
    return lambda key: bytes((OP_IDLE,)) + encode_length(tracker.idle_ms(db, key) // 1000)


def _dump_view(sink: _Sink, view: DbView, compress: bool) -> None:
    get_exp = view.expires.get
    _dump_records(sink, ((k, v, get_exp(k)) for k, v in view.data.items()), compress,
                  view.access)


def _dump_keys(sink: _Sink, keys: Mapping[bytes, Entry], compress: bool) -> None:
    _dump_records(sink, ((k, v, e) for k, (v, e) in keys.items()), compress)


def _dump_records(sink: _Sink, records: Iterable[tuple[bytes, Any, int | None]],
                  compress: bool, access: Callable[[bytes], bytes] | None = None) -> None:
    """The key/value records of one db; short plain strings (most keys and many values)
    take an inlined path that writes exactly what encode_string would."""
    short, len1, pack = _short_plain, _LEN1, struct.pack
    out, spill_at = sink.parts, sink.SPILL_PARTS
    append = out.append
    for key, value, exp in records:
        if len(out) >= spill_at:
            sink.spill()
        if exp is not None:
            append(pack("<Bq", OP_EXPIRETIME_MS, exp))
        if access is not None:
            append(access(key))
        if value.__class__ is bytes and short(value) and short(key):
            append(b"\x00" + len1[len(key)] + key + len1[len(value)] + value)
            continue
        rtype, payload = encode_value(value, compress, key)
        append(bytes((rtype,)) + encode_string(key, compress) + payload)


def dump_value(value: Any, compress: bool = True) -> bytes:
    """A DUMP payload: type, value, RDB version (2 bytes LE), CRC64 (8 bytes LE)."""
    rtype, payload = encode_value(value, compress)
    body = bytes((rtype,)) + payload + struct.pack("<H", RDB_VERSION)
    return body + struct.pack("<Q", crc64(body))


# ---- Reading: blobs (listpack, ziplist, intset, zipmap) ----

def _lp_backlen_size(n: int) -> int:
    return 1 if n <= 127 else 2 if n < 16383 else 3 if n < 2097151 else \
        4 if n < 268435455 else 5


_SMALL_TEXT = [b"%d" % i for i in range(128)]


def listpack_texts(blob: bytes) -> list[bytes]:
    """The elements of a listpack as strings (integers in their decimal form); the
    encodings Redis writes for short values (7, 13, 16 and 24-bit ints, 6-bit-length
    strings) are decoded inline, the others one entry at a time by _lp_decode."""
    out: list[bytes] = []
    append = out.append
    small = _SMALL_TEXT
    unpack_from = struct.unpack_from
    pos, end = 6, len(blob)
    while pos < end:
        b = blob[pos]
        if b < 0x80:
            append(small[b])
            pos += 2
        elif b < 0xC0:
            n = b & 0x3F
            append(blob[pos + 1:pos + 1 + n])
            pos += 2 + n if n < 127 else 3 + n
        elif b < 0xE0 and pos + 1 < end:
            u = ((b & 0x1F) << 8) | blob[pos + 1]
            append(b"%d" % (u - 0x2000 if u >= 0x1000 else u))
            pos += 3
        elif b == 0xF1:
            append(b"%d" % unpack_from("<h", blob, pos + 1)[0])
            pos += 4
        elif b == 0xF2:
            append(b"%d" % int.from_bytes(blob[pos + 1:pos + 4], "little", signed=True))
            pos += 5
        elif b == 0xFF:
            return out
        else:
            one, pos = _lp_decode(blob, pos)
            append(one if one.__class__ is bytes else b"%d" % one)
    raise RDBError("listpack: missing end marker")


def listpack_items(blob: bytes, start: int = 6) -> list[bytes | int]:
    """The elements of a listpack: bytes for strings, int for integer encodings."""
    out: list[bytes | int] = []
    pos, end = start, len(blob)
    while pos < end:
        if blob[pos] == 0xFF:
            return out
        one, pos = _lp_decode(blob, pos)
        out.append(one)
    raise RDBError("listpack: missing end marker")


def _lp_decode(blob: bytes, pos: int) -> tuple[bytes | int, int]:
    """The listpack entry at pos (not the end marker) and the position of the next."""
    b = blob[pos]
    if b < 0x80:
        one: bytes | int = b
        size = 1
    elif b < 0xC0:
        n = b & 0x3F
        one, size = blob[pos + 1:pos + 1 + n], 1 + n
    elif b < 0xE0:
        u = ((b & 0x1F) << 8) | blob[pos + 1]
        one, size = (u - 0x2000 if u >= 0x1000 else u), 2
    elif b < 0xF0:
        n = ((b & 0x0F) << 8) | blob[pos + 1]
        one, size = blob[pos + 2:pos + 2 + n], 2 + n
    elif b == 0xF0:
        n = struct.unpack_from("<I", blob, pos + 1)[0]
        one, size = blob[pos + 5:pos + 5 + n], 5 + n
    elif b in _LP_INT_SIZES:                       # 16, 24, 32 and 64-bit integers
        size = _LP_INT_SIZES[b]
        if len(blob) < pos + size:
            raise RDBError(f"listpack: truncated entry at offset {pos}")
        one = int.from_bytes(blob[pos + 1:pos + size], "little", signed=True)
    else:
        raise RDBError(f"listpack: bad entry encoding 0x{b:02x} at offset {pos}")
    return one, pos + size + _lp_backlen_size(size)


_LP_INT_SIZES = {0xF1: 3, 0xF2: 4, 0xF3: 5, 0xF4: 9}   # encoding byte -> entry size


def ziplist_items(blob: bytes) -> list[bytes | int]:
    """The elements of a ziplist (RDB files of Redis before 7.0)."""
    out: list[bytes | int] = []
    pos, end = 10, len(blob)
    unpack_from = struct.unpack_from
    while pos < end:
        if blob[pos] == 0xFF:
            return out
        pos += 5 if blob[pos] == 0xFE else 1          # prevlen
        b = blob[pos]
        kind = b >> 6
        if kind == 0:
            n, pos = b & 0x3F, pos + 1
        elif kind == 1:
            n, pos = ((b & 0x3F) << 8) | blob[pos + 1], pos + 2
        elif kind == 2:
            n, pos = unpack_from(">I", blob, pos + 1)[0], pos + 5
        else:
            pos += 1
            if b == 0xC0:
                out.append(unpack_from("<h", blob, pos)[0]); pos += 2      # noqa: E702
            elif b == 0xD0:
                out.append(unpack_from("<i", blob, pos)[0]); pos += 4      # noqa: E702
            elif b == 0xE0:
                out.append(unpack_from("<q", blob, pos)[0]); pos += 8      # noqa: E702
            elif b == 0xF0:
                out.append(int.from_bytes(blob[pos:pos + 3], "little", signed=True)); pos += 3  # noqa: E702,E501
            elif b == 0xFE:
                out.append(unpack_from("<b", blob, pos)[0]); pos += 1      # noqa: E702
            elif 0xF1 <= b <= 0xFD:
                out.append((b & 0x0F) - 1)
            else:
                raise RDBError(f"ziplist: bad entry encoding 0x{b:02x}")
            continue
        out.append(blob[pos:pos + n])
        pos += n
    raise RDBError("ziplist: missing end marker")


def intset_items(blob: bytes) -> list[int]:
    width, count = struct.unpack_from("<II", blob, 0)
    code = {2: "h", 4: "i", 8: "q"}.get(width)
    if code is None or 8 + width * count > len(blob):
        raise RDBError(f"intset: bad encoding {width} or length {count}")
    return list(struct.unpack_from(f"<{count}{code}", blob, 8))


def zipmap_pairs(blob: bytes) -> list[tuple[bytes, bytes]]:
    """The field/value pairs of a zipmap (hashes in RDB files of Redis 2.x)."""
    out = []
    pos = 1

    def length() -> int:
        nonlocal pos
        b = blob[pos]
        if b < 254:
            pos += 1
            return b
        if b == 254:
            pos += 5
            return struct.unpack_from("<I", blob, pos - 4)[0]
        return -1

    while True:
        n = length()
        if n < 0:
            return out
        fld = blob[pos:pos + n]
        pos += n
        n = length()
        free = blob[pos]
        pos += 1
        out.append((fld, blob[pos:pos + n]))
        pos += n + free


def _text(x: bytes | int) -> bytes:
    return x if isinstance(x, bytes) else b"%d" % x


# ---- Reading: primitives ----

class Reader:
    """A cursor over RDB bytes; every read checks it stays inside the data."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, n: int) -> bytes:
        p = self.pos
        if p + n > len(self.data):
            raise RDBError(f"Unexpected EOF reading RDB file (wanted {n} bytes at offset {p})")
        self.pos = p + n
        return self.data[p:p + n]

    def byte(self) -> int:
        return self.take(1)[0]

    def length_or_encoding(self) -> tuple[int, bool]:
        b = self.byte()
        kind = b >> 6
        if kind == 0:
            return b & 0x3F, False
        if kind == 1:
            return ((b & 0x3F) << 8) | self.byte(), False
        if kind == 3:
            return b & 0x3F, True
        if b == 0x80:
            return struct.unpack(">I", self.take(4))[0], False
        if b == 0x81:
            return struct.unpack(">Q", self.take(8))[0], False
        raise RDBError(f"Unknown length encoding {b} in rdbLoadLen() at offset {self.pos - 1}")

    def length(self) -> int:
        data, p = self.data, self.pos
        if p < len(data) and data[p] < 0x40:          # 6-bit length: the common case
            self.pos = p + 1
            return data[p]
        n, encoded = self.length_or_encoding()
        if encoded:
            raise RDBError(f"unexpected string encoding where a length belongs (offset {self.pos})")
        return n

    def string(self) -> bytes:
        data, p = self.data, self.pos
        if p < len(data):
            n = data[p]
            if n < 0x40 and p + 1 + n <= len(data):      # 6-bit length: the common case
                self.pos = p + 1 + n
                return data[p + 1:p + 1 + n]
            if 0x40 <= n < 0x80 and p + 1 < len(data):  # 14-bit length
                n = ((n & 0x3F) << 8) | data[p + 1]
                if p + 2 + n <= len(data):
                    self.pos = p + 2 + n
                    return data[p + 2:p + 2 + n]
            if n == 0xC0 | ENC_LZF:
                self.pos = p + 1
                return self._lzf()
        n, encoded = self.length_or_encoding()
        if not encoded:
            return self.take(n)
        if n == ENC_INT8:
            return b"%d" % struct.unpack("<b", self.take(1))[0]
        if n == ENC_INT16:
            return b"%d" % struct.unpack("<h", self.take(2))[0]
        if n == ENC_INT32:
            return b"%d" % struct.unpack("<i", self.take(4))[0]
        if n == ENC_LZF:
            return self._lzf()
        raise RDBError(f"Unknown RDB string encoding type {n}")

    def _lzf(self) -> bytes:
        clen, ulen = self.length(), self.length()
        packed = self.take(clen)
        plain = lzf.decompress(packed, ulen) if ulen else b""
        if plain is None or len(plain) != ulen:
            raise RDBError(f"Invalid LZF compressed string at offset {self.pos - clen}")
        return plain

    def binary_double(self) -> float:
        return struct.unpack("<d", self.take(8))[0]

    def text_double(self) -> float:
        """The old ZSET's score: 253 nan, 254 +inf, 255 -inf, else n bytes of text."""
        n = self.byte()
        if n == 253:
            return float("nan")
        if n == 254:
            return float("inf")
        if n == 255:
            return float("-inf")
        return float(self.take(n))

    def millis(self) -> int:
        return struct.unpack("<q", self.take(8))[0]


# ---- Reading: values (rdbLoadObject) ----

def _even(texts: list[bytes]) -> list[bytes]:
    if len(texts) % 2:
        raise RDBError("a field or member without its value")
    return texts


def _hash_from(texts: list[bytes], limits: Limits) -> Hash:
    """A hash from field, value, field, value...: a listpack unless too big for one."""
    h = Hash(zip(_even(texts)[::2], texts[1::2], strict=True), True)
    if len(h) > limits.hash_max_listpack_entries or \
            (texts and max(map(len, texts)) > limits.hash_max_listpack_value):
        h.listpack = False
    return h


def _zset_from_blob(texts: list[bytes], limits: Limits) -> ZSet:
    """A sorted set from a listpack or ziplist's member, score, member, score..."""
    scores = list(map(float, _even(texts)[1::2]))
    z = ZSet.loaded(texts[::2], scores, skiplist=False)
    if len(z) > limits.zset_max_listpack_entries:
        z.skiplist = True
    return z


def _load_zset(r: Reader, binary: bool, limits: Limits) -> ZSet:
    n = r.length()
    read_score = r.binary_double if binary else r.text_double
    items = []
    for _ in range(n):
        member = r.string()
        items.append((member, read_score()))
    z = ZSet(items, skiplist=True)
    z.shrink_if_small(limits.zset_max_listpack_entries, limits.zset_max_listpack_value)
    return z


def _load_quicklist(r: Reader, version: int) -> List:
    out = List()
    for _ in range(r.length()):
        container = QUICKLIST_NODE_PACKED if version == 1 else r.length()
        blob = r.string()
        if container == QUICKLIST_NODE_PLAIN:
            out.append(blob)
        elif version == 1:
            out.extend(_text(x) for x in ziplist_items(blob))
        else:
            out.extend(listpack_texts(blob))
    return out


def load_object(r: Reader, rtype: int, key: bytes, limits: Limits) -> Any:
    """One value of type `rtype` (after the key), as a redkeep value."""
    from_blob = _BLOB_LOADERS.get(rtype)
    if from_blob is not None:            # one string holding a listpack, ziplist...
        blob = r.string()
        try:
            return from_blob(blob, limits)
        except (IndexError, struct.error, ValueError) as e:
            if isinstance(e, RDBError):
                raise
            raise RDBError(f"Corrupt RDB blob of type {rtype} for key "
                           f"'{key.decode(errors='replace')}': {e}") from None
    if rtype == TYPE_STRING:
        return r.string()
    if rtype == TYPE_LIST:
        return List(r.string() for _ in range(r.length()))
    if rtype == TYPE_SET:
        return Set.build([r.string() for _ in range(r.length())], limits.set_max_intset_entries)
    if rtype in (TYPE_ZSET, TYPE_ZSET_2):
        return _load_zset(r, rtype == TYPE_ZSET_2, limits)
    if rtype == TYPE_HASH:
        return _hash_from([r.string() for _ in range(2 * r.length())], limits)
    if rtype in (TYPE_LIST_QUICKLIST, TYPE_LIST_QUICKLIST_2):
        return _load_quicklist(r, 1 if rtype == TYPE_LIST_QUICKLIST else 2)
    if rtype in (TYPE_STREAM_LISTPACKS, TYPE_STREAM_LISTPACKS_2):
        return _load_stream(r, rtype, key)
    if rtype in (TYPE_MODULE_PRE_GA, TYPE_MODULE_2):
        raise RDBError(f"The RDB file contains module data for the key "
                       f"'{key.decode(errors='replace')}' that redkeep can't load: "
                       "modules are not supported")
    r.string()
    raise RDBError(f"Unknown RDB encoding type {rtype} for key '{key.decode(errors='replace')}'")


def _set_from_intset(blob: bytes, limits: Limits) -> Set:
    s = Set((b"%d" % i for i in intset_items(blob)), intset=True)
    s.intset = len(s) <= intset_limit(limits.set_max_intset_entries)
    return s


_BLOB_LOADERS: dict[int, Callable[[bytes, Limits], Any]] = {
    TYPE_HASH_ZIPMAP: lambda blob, limits: _hash_from(
        [x for pair in zipmap_pairs(blob) for x in pair], limits),
    TYPE_LIST_ZIPLIST: lambda blob, limits: List(_text(x) for x in ziplist_items(blob)),
    TYPE_SET_INTSET: _set_from_intset,
    TYPE_ZSET_ZIPLIST: lambda blob, limits: _zset_from_blob(
        [_text(x) for x in ziplist_items(blob)], limits),
    TYPE_ZSET_LISTPACK: lambda blob, limits: _zset_from_blob(listpack_texts(blob), limits),
    TYPE_HASH_ZIPLIST: lambda blob, limits: _hash_from(
        [_text(x) for x in ziplist_items(blob)], limits),
    TYPE_HASH_LISTPACK: lambda blob, limits: _hash_from(listpack_texts(blob), limits),
}


# ---- Reading: streams ----

def _stream_node_entries(master: bytes, blob: bytes) -> Iterator[tuple[tuple[int, int], list]]:
    """The live entries of one stream listpack node (see t_stream.c's layout)."""
    base_ms, base_seq = struct.unpack(">QQ", master)
    items = listpack_items(blob)
    count, deleted, nfields = items[0], items[1], items[2]
    master_fields = [_text(x) for x in items[3:3 + nfields]]
    pos = 3 + nfields + 1                           # skip the master entry's terminator
    for _ in range(count + deleted):
        flags, ms_diff, seq_diff = items[pos], items[pos + 1], items[pos + 2]
        pos += 3
        if flags & STREAM_ITEM_FLAG_SAMEFIELDS:
            values = [_text(x) for x in items[pos:pos + nfields]]
            pairs = list(zip(master_fields, values, strict=True))
            pos += nfields
        else:
            n = items[pos]
            texts = [_text(x) for x in items[pos + 1:pos + 1 + 2 * n]]
            pairs = list(zip(texts[::2], texts[1::2], strict=True))
            pos += 1 + 2 * n
        pos += 1                                    # lp-count
        if not flags & STREAM_ITEM_FLAG_DELETED:
            yield (base_ms + ms_diff, base_seq + seq_diff), pairs


def _load_stream(r: Reader, rtype: int, key: bytes) -> Stream:
    s = Stream()
    for _ in range(r.length()):
        master = r.string()
        blob = r.string()
        if len(master) != 16:
            raise RDBError(f"Stream node key entry is not the size of a stream ID (key {key!r})")
        try:
            for sid, pairs in _stream_node_entries(master, blob):
                s[sid] = pairs
                s.ids.append(sid)
        except (IndexError, TypeError, ValueError) as e:
            raise RDBError(f"Corrupt stream node for key "
                           f"'{key.decode(errors='replace')}': {e}") from None
    length = r.length()
    s.last_id = (r.length(), r.length())
    s.entries_added = length
    if rtype == TYPE_STREAM_LISTPACKS_2:
        r.length(), r.length()                      # first_id: derived from the entries
        s.max_deleted_id = (r.length(), r.length())
        s.entries_added = r.length()
    if r.length():
        raise RDBError(f"The RDB file contains consumer groups for the stream key "
                       f"'{key.decode(errors='replace')}' that redkeep can't load: "
                       "consumer groups are not supported yet")
    return s


# ---- Reading: the file ----

def _skip_module_aux(r: Reader) -> None:
    """MODULE_AUX: module id, when-opcode, when, then typed fields until EOF (0)."""
    r.length(), r.length(), r.length()
    while True:
        op = r.length()
        if op == 0:
            return
        if op in (1, 2):
            r.length()
        elif op == 3:
            r.take(4)
        elif op == 4:
            r.take(8)
        elif op == 5:
            r.string()
        else:
            raise RDBError(f"Unknown module aux opcode {op} at offset {r.pos}")


def _check_header(data: bytes) -> int:
    if len(data) < 9 or data[:5] != b"REDIS":
        raise RDBError("Wrong signature trying to load DB from file")
    try:
        version = int(data[5:9])
    except ValueError:
        raise RDBError("Wrong signature trying to load DB from file") from None
    if version < 1 or version > RDB_VERSION:
        raise RDBError(f"Can't handle RDB format version {version}")
    return version


def _check_crc(data: bytes, end: int, version: int) -> None:
    if version < 5:
        return
    if len(data) < end + 8:
        raise RDBError("Unexpected EOF reading RDB file (no checksum)")
    expected = struct.unpack_from("<Q", data, end)[0]
    if expected == 0:
        return                                       # written with rdbchecksum no
    actual = crc64(data[:end])
    if actual != expected:
        raise RDBError(f"Wrong RDB checksum expected: ({expected:x}) got ({actual:x}). "
                       "Aborting now.")


def load_rdb(data: bytes, limits: Limits = Limits()) -> LoadedRDB:
    """Every database, AUX field and function library of an RDB file (see _load_rdb)."""
    with _bulk(freeze=True):
        return _load_rdb(data, limits)


def _load_rdb(data: bytes, limits: Limits = Limits()) -> LoadedRDB:
    """Every database, AUX field and function library of an RDB file (rdbLoadRio)."""
    version = _check_header(data)
    out = LoadedRDB(version)
    r = Reader(data, 9)
    dbid, records, count = 0, {0: 0}, 0      # key records per database, to find twins
    db, expires = _select(out, 0)
    expire: int | None = None
    lru: tuple[str, int] | None = None      # an IDLE / FREQ record for the next key
    while True:
        if expire is None and lru is None and r.pos < len(data) and \
                data[r.pos] in _PLAIN_FIRST:
            count += _load_plain_strings(r, db, expires)   # the common records, inlined
        op = r.byte()
        if op < OP_FIRST:                # a value type: the key and its value
            key = r.string()
            db[key] = load_object(r, op, key, limits)
            count += 1
            if expire is not None:
                expires[key] = expire
                expire = None
            if lru is not None:
                out.access.setdefault(dbid, {})[key] = lru
                lru = None
        elif op == OP_IDLE:
            lru = ("idle", r.length())
        elif op == OP_FREQ:
            lru = ("freq", r.byte())
        elif op == OP_EXPIRETIME_MS:
            expire = r.millis()
        elif op == OP_EXPIRETIME:
            expire = struct.unpack("<i", r.take(4))[0] * 1000
        elif op == OP_SELECTDB:
            records[dbid] += count
            dbid, count = r.length(), 0
            records.setdefault(dbid, 0)
            db, expires = _select(out, dbid)
        elif op == OP_EOF:
            break
        else:
            _load_opcode(r, op, out)
    records[dbid] += count
    _check_crc(data, r.pos, version)
    for dbid, n in records.items():
        if n != len(out.values[dbid]):   # rdbLoad panics on "RDB has duplicated key"
            raise RDBError(f"RDB has duplicated keys in DB {dbid}")
    out.values = {k: v for k, v in out.values.items() if v}
    out.expires = {k: out.expires[k] for k in out.values}
    return out


def _load_opcode(r: Reader, op: int, out: LoadedRDB) -> None:
    """The opcodes that carry no key: RESIZEDB, AUX, module aux, functions."""
    if op == OP_RESIZEDB:
        r.length(), r.length()
    elif op == OP_AUX:
        name = r.string()
        out.aux[name.decode(errors="replace")] = r.string()
    elif op == OP_MODULE_AUX:
        _skip_module_aux(r)
    elif op == OP_FUNCTION2:
        out.functions.append(r.string())
    elif op == OP_FUNCTION_PRE_GA:
        raise RDBError("The RDB file contains functions in a pre-release format "
                       "that redkeep can't load")


def _select(out: LoadedRDB, dbid: int) -> tuple[dict[bytes, Any], dict[bytes, int]]:
    return out.values.setdefault(dbid, {}), out.expires.setdefault(dbid, {})


def _load_plain_strings(r: Reader, db: dict[bytes, Any], expires: dict[bytes, int]) -> int:
    """Consume a run of string records whose key and value have one-byte lengths (each
    optionally preceded by an EXPIRETIME_MS), exactly as the general loop would; stop
    before anything else (the general loop goes on from there); returns how many. No
    such record is longer than _PLAIN_MAX, so none starting before `safe` can run past
    the data."""
    data, pos = r.data, r.pos
    safe = len(data) - _PLAIN_MAX
    unpack_from = struct.unpack_from
    n = 0
    while pos < safe:
        p = pos
        if data[p]:
            if data[p] != OP_EXPIRETIME_MS or data[p + 9]:
                break
            p += 9
        kl = data[p + 1]
        if kl >= 0x40:
            break
        vp = p + 2 + kl
        vl = data[vp]
        if vl >= 0x40:
            break
        key = data[p + 2:vp]
        if p != pos:
            expires[key] = unpack_from("<q", data, pos + 1)[0]
        pos = vp + 1 + vl
        db[key] = data[vp + 1:pos]
        n += 1
    r.pos = pos
    return n


_PLAIN_MAX = 9 + 1 + 1 + 0x3F + 1 + 0x3F   # expire, type, key length + key, value's
_PLAIN_FIRST = (TYPE_STRING, OP_EXPIRETIME_MS)  # the bytes such a record starts with


def load_value(payload: bytes, limits: Limits = Limits(), key: bytes = b"") -> Any:
    """The value of a DUMP payload (verifyDumpPayload, then rdbLoadObject); `key`
    only names the key in errors."""
    if len(payload) < 10:
        raise RDBError("DUMP payload version or checksum are wrong")
    body, footer = payload[:-10], payload[-10:]
    version, crc = struct.unpack("<HQ", footer)
    if version > RDB_VERSION or crc64(payload[:-8]) != crc:
        raise RDBError("DUMP payload version or checksum are wrong")
    r = Reader(body)
    rtype = r.byte()
    value = load_object(r, rtype, key, limits)
    if r.pos != len(body):
        raise RDBError("Bad data format")
    return value
