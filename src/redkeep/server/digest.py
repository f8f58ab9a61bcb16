"""DEBUG DIGEST and DEBUG DIGEST-VALUE: Redis 7.0's dataset fingerprint, bit for bit.

Theory of operation
-------------------
Redis (debug.c) fingerprints a dataset with two SHA1 primitives on a 20-byte state:

  xor(d, data)  d ^= SHA1(data)            order-insensitive "add" (sets, hash fields,
                                           zset members, the keys of a database)
  mix(d, data)  d = SHA1(d ^ SHA1(data))   order-sensitive append (list elements, the
                                           key then the value of one entry)

For every non-empty database j the final digest is first mixed with j as a 4-byte big
endian integer; then for every key a fresh 20-byte digest is built:

  mix(key), mix(type as 4-byte big endian: string 0, list 1, set 2, zset 3, hash 4,
  stream 6), then the value —
    string  mix(bytes)
    list    mix(element) head to tail
    set     xor(element) for each member
    zset    per member e = mix(mix(0, member), "%.17g" % score); xor(e)
    hash    per field e = mix(mix(0, field), value); xor(e)
    stream  per entry mix("<ms>.<seq>"), then mix(field), mix(value) for each pair
  and, if the key has a TTL, xor("!!expire!!") (the time itself is not hashed, so two
  servers with the same data and different clocks agree);
and that key digest is xored into the final one. DIGEST-VALUE is the per-key digest
without the key name, all zeros for a missing key. Like Redis, neither looks at
expiry: logically expired keys still present are included.

Container values are read by duck typing so that the value types of `server.types`
only need to be iterable in the natural way: lists and sets iterate their elements;
hashes provide `items()` -> (field, value); sorted sets `items()` -> (member, score);
streams `items()` -> ((ms, seq), fields) where fields is a sequence of (field, value)
pairs or a flat [field, value, ...] sequence. The Redis type is taken from
`keyspace.type_name` (each type registers its name).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from redkeep.server.keyspace import Database, Keyspace, type_name

ZERO = bytes(20)
EXPIRE_MARK = b"!!expire!!"
TYPE_CODES = {b"string": 0, b"list": 1, b"set": 2, b"zset": 3, b"hash": 4, b"stream": 6}


# ---- The two primitives (on 20-byte digests kept as ints: xor is one operation) ----

_sha1 = hashlib.sha1


def _h(data: bytes) -> int:
    return int.from_bytes(_sha1(data).digest(), "big")


def xor_digest(digest: int, data: bytes) -> int:
    """digest ^= SHA1(data)"""
    return digest ^ _h(data)


def mix_digest(digest: int, data: bytes) -> int:
    """digest = SHA1(digest ^ SHA1(data))"""
    return _h((digest ^ _h(data)).to_bytes(20, "big"))


def format_score(score: float) -> bytes:
    """printf's %.17g, with inf/-inf/nan spelled as glibc prints them."""
    if score != score:
        return b"nan" if str(score)[0] != "-" else b"-nan"
    if score in (float("inf"), float("-inf")):
        return b"inf" if score > 0 else b"-inf"
    return b"%.17g" % score


# ---- Per value ----

def _as_bytes(v: Any) -> bytes:
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v)
    if isinstance(v, int):
        return b"%d" % v
    return str(v).encode()


def _pairs(flat_or_pairs: Iterable[Any]) -> list[tuple[Any, Any]]:
    items = list(flat_or_pairs)
    if items and not isinstance(items[0], tuple | list):
        return list(zip(items[0::2], items[1::2], strict=False))
    return [tuple(p) for p in items]  # type: ignore[misc]


def _items(value: Any) -> Iterable[Any]:
    items = getattr(value, "items", None)
    return items() if callable(items) else iter(value)


def _element_digest(first: bytes, second: bytes) -> bytes:
    """A zset member or hash field digest, as the 20 bytes xorDigest will hash."""
    return mix_digest(mix_digest(0, first), second).to_bytes(20, "big")


_TYPE_MIX = {code: code.to_bytes(4, "big") for code in TYPE_CODES.values()}
_EXPIRE_HASH = _h(EXPIRE_MARK)


def mix_value(digest: int, value: Any, has_expire: bool) -> int:
    """xorObjectDigest: the type, the value and the expire mark, mixed into `digest`."""
    if type(value) is bytes:
        digest = mix_digest(mix_digest(digest, _TYPE_MIX[0]), value)
        return digest ^ _EXPIRE_HASH if has_expire else digest
    code = TYPE_CODES.get(type_name(value))
    if code is None:
        raise TypeError(f"no digest for values of type {type(value).__name__}")
    digest = mix_digest(digest, _TYPE_MIX[code])
    if code == 1:
        for ele in value:
            digest = mix_digest(digest, _as_bytes(ele))
    elif code == 2:
        for ele in value:
            digest ^= _h(_as_bytes(ele))
    elif code == 3:
        for member, score in _items(value):
            digest ^= _h(_element_digest(_as_bytes(member), format_score(float(score))))
    elif code == 4:
        for field, val in _items(value):
            digest ^= _h(_element_digest(_as_bytes(field), _as_bytes(val)))
    else:
        digest = _mix_stream(digest, value)
    return digest ^ _EXPIRE_HASH if has_expire else digest


def _mix_stream(digest: int, value: Any) -> int:
    for entry_id, fields in _items(value):
        ms, seq = entry_id
        digest = mix_digest(digest, b"%d.%d" % (ms, seq))
        for field, val in _pairs(fields):
            digest = mix_digest(digest, _as_bytes(field))
            digest = mix_digest(digest, _as_bytes(val))
    return digest


# ---- Keys and datasets ----

def value_digest(db: Database, key: bytes) -> bytes:
    """DEBUG DIGEST-VALUE for one key (no expiry check, zeros when missing)."""
    value = db.data.get(key)
    if value is None:
        return ZERO
    return mix_value(0, value, key in db.expires).to_bytes(20, "big")


def dataset_digest(keyspace: Keyspace) -> bytes:
    """DEBUG DIGEST: every database, every key; all zeros for an empty dataset."""
    final = 0
    for db in keyspace.dbs:
        if not db.data:
            continue
        final = mix_digest(final, db.id.to_bytes(4, "big"))
        expires = db.expires
        for key, value in list(db.data.items()):
            key_digest = mix_value(mix_digest(0, key), value, key in expires)
            final ^= _h(key_digest.to_bytes(20, "big"))
    return final.to_bytes(20, "big")
