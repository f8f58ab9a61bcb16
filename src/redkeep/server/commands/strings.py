"""String commands: GET SET (and friends), counters, ranges, bits, MGET/MSET.

Strings are stored as immutable `bytes`. Replies and error texts are Redis 7.0's;
INCRBYFLOAT uses exact long double arithmetic (server.longdouble).

Propagation (server.propagation): what would not replay to the same data is rewritten
as Redis 7.0.15 does it — a SET with any expire option, SETEX and PSETEX become
`SET key value PXAT <abs ms>` (NX/XX/GET dropped); without an expire SET only loses its
GET options; GETSET becomes SET, GETDEL becomes DEL (UNLINK with lazyfree-lazy-user-del),
GETEX becomes PEXPIREAT / PERSIST / DEL (UNLINK with lazyfree-lazy-expire) and
INCRBYFLOAT the SET ... KEEPTTL of the value it produced. A key past its TTL is deleted
(DEL downstream) before a SET/MSET/BITOP overwrites it, as setKey's lookup does, and a
SETBIT that changes no bit counts no change (nothing propagated).
"""

from __future__ import annotations

from redkeep.resp.types import OK
from redkeep.server import errors, longdouble
from redkeep.server.arguments import parse_int
from redkeep.server.config import NOTIFY_GENERIC, NOTIFY_STRING
from redkeep.server.connection import Client
from redkeep.server.errors import CommandError
from redkeep.server.keyspace import Database
from redkeep.server.table import CommandTable

LLONG_MAX = 9223372036854775807
LLONG_MIN = -9223372036854775808
MAX_BIT_OFFSET = 4 * 1024 * 1024 * 1024 * 8 - 1   # bitmaps up to 4 GiB since Redis 7


def notify(c: Client, flag: int, event: str, key: bytes) -> None:
    ks = c.server.keyspace
    if ks.notify_flags & flag:
        c.server.notify(flag, event, key, c.db.id)


def modified(c: Client, key: bytes, event: str, flag: int = NOTIFY_STRING) -> None:
    """After a write: count it (dirty) and send the keyspace event."""
    c.server.dirty += 1
    if c.server.keyspace.notify_flags & flag:
        c.server.notify(flag, event, key, c.db.id)


def deletion_command(lazy: bool) -> bytes:
    """What a deletion propagates as: UNLINK when the lazyfree option says so."""
    return b"UNLINK" if lazy else b"DEL"


def note_encoding(c: Client, key: bytes, encoding: bytes) -> None:
    """OBJECT ENCODING of a string changed in place ("raw") or made by INCRBYFLOAT."""
    from redkeep.server.commands.keys import note_encoding as note
    note(c, key, encoding)


# ---- Expire options shared by SET and GETEX ----

def expire_at_ms(c: Client, unit_arg: bytes, value: bytes, cmdname: str) -> int:
    """EX/PX/EXAT/PXAT value -> absolute unix ms, with Redis's validity checks."""
    v = parse_int(value)
    unit = unit_arg.lower()
    invalid = errors.INVALID_EXPIRE.format(cmdname)
    if v <= 0 or (unit in (b"ex", b"exat") and v > LLONG_MAX // 1000):
        raise CommandError(invalid)
    ms = v * 1000 if unit in (b"ex", b"exat") else v
    if unit in (b"ex", b"px"):
        ms += c.server.clock.wall_ms()
        if ms > LLONG_MAX:
            raise CommandError(invalid)
    return ms


class SetOptions:
    """What parseExtendedStringArgumentsOrReply leaves: flags plus the unvalidated expire."""

    __slots__ = ("cond", "get", "keepttl", "persist", "unit", "expire_arg")

    def __init__(self) -> None:
        self.cond: str | None = None
        self.get = self.keepttl = self.persist = False
        self.unit: bytes | None = None
        self.expire_arg: bytes | None = None

    def expire_ms(self, c: Client, cmdname: str) -> int | None:
        if self.unit is None:
            return None
        return expire_at_ms(c, self.unit, self.expire_arg, cmdname)


_UNITS = (b"ex", b"px", b"exat", b"pxat")


def _parse_set_options(argv: list[bytes], start: int, for_getex: bool) -> SetOptions:
    """Redis's option rules: repeats are allowed, conflicting options are a syntax error,
    and an expire unit takes the next argument whatever it is (it is validated later)."""
    o = SetOptions()
    i = start
    while i < len(argv):
        opt = argv[i].lower()
        has_next = i + 1 < len(argv)
        if not for_getex and opt == b"nx" and o.cond != "XX":
            o.cond = "NX"
        elif not for_getex and opt == b"xx" and o.cond != "NX":
            o.cond = "XX"
        elif not for_getex and opt == b"get":
            o.get = True
        elif not for_getex and opt == b"keepttl" and o.unit is None:
            o.keepttl = True
        elif for_getex and opt == b"persist" and o.unit is None:
            o.persist = True
        elif opt in _UNITS and not o.keepttl and not o.persist and has_next \
                and o.unit in (None, opt):
            o.unit = opt
            o.expire_arg = argv[i + 1]
            i += 1
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    return o


# ---- GET / SET family ----

def cmd_get(c: Client, argv: list[bytes]) -> object:
    return c.db.get_string(argv[1])


def expire_before_overwrite(db: Database, key: bytes) -> None:
    """setKey's lookupKeyWrite: a key past its TTL is deleted (the `expired` event, and a
    DEL downstream before the write) rather than silently overwritten."""
    if db.expires and key in db.expires:
        db.lookup_write(key)


def cmd_set(c: Client, argv: list[bytes]) -> object:
    db, key = c.db, argv[1]
    if len(argv) == 3:  # the hot path: plain SET key value
        if db.expires and key in db.expires:   # expire_before_overwrite, inlined
            db.lookup_write(key)
        db.set_key(key, argv[2])
        modified(c, key, "set")
        return OK
    o = _parse_set_options(argv, 3, False)
    expire = o.expire_ms(c, "set")
    old = db.get_string(key) if o.get else None
    exists = old is not None if o.get else db.lookup_write(key) is not None
    if (o.cond == "NX" and exists) or (o.cond == "XX" and not exists):
        return old if o.get else None
    set_string(c, key, argv[2], expire, o.keepttl)
    if expire is not None:   # any expire: SET key value PXAT <ms>, the options dropped
        c.propagate_as = [[b"SET", key, argv[2], b"PXAT", b"%d" % expire]]
    elif o.get:   # GET changes nothing downstream: drop it (it may be repeated)
        c.propagate_as = [argv[:3] + [a for a in argv[3:] if a.lower() != b"get"]]
    return old if o.get else OK


def set_string(c: Client, key: bytes, value: bytes, expire: int | None = None,
               keepttl: bool = False) -> None:
    db = c.db
    expire_before_overwrite(db, key)
    db.set_key(key, value, keep_ttl=keepttl)
    modified(c, key, "set")
    if expire is not None:
        db.set_expire(key, expire)
        notify(c, NOTIFY_GENERIC, "expire", key)


def cmd_setnx(c: Client, argv: list[bytes]) -> object:
    if c.db.lookup_write(argv[1]) is not None:
        return 0
    set_string(c, argv[1], argv[2])
    return 1


def _setex(c: Client, argv: list[bytes], unit: bytes, name: str) -> object:
    expire = expire_at_ms(c, unit, argv[2], name)
    set_string(c, argv[1], argv[3], expire)
    c.propagate_as = [[b"SET", argv[1], argv[3], b"PXAT", b"%d" % expire]]
    return OK


def cmd_setex(c: Client, argv: list[bytes]) -> object:
    return _setex(c, argv, b"ex", "setex")


def cmd_psetex(c: Client, argv: list[bytes]) -> object:
    return _setex(c, argv, b"px", "psetex")


def cmd_getset(c: Client, argv: list[bytes]) -> object:
    old = c.db.get_string(argv[1])
    set_string(c, argv[1], argv[2])
    c.propagate_as = [[b"SET", argv[1], argv[2]]]
    return old


def cmd_getdel(c: Client, argv: list[bytes]) -> object:
    db, key = c.db, argv[1]
    old = db.get_string(key)
    if old is not None:
        db.delete(key)
        modified(c, key, "del", NOTIFY_GENERIC)
        c.propagate_as = [[deletion_command(c.server.config.lazyfree_lazy_user_del), key]]
    return old


def cmd_getex(c: Client, argv: list[bytes]) -> object:
    db, key = c.db, argv[1]
    o = _parse_set_options(argv, 2, True)
    value = db.get_string(key)
    if value is None:
        return None
    expire, persist = o.expire_ms(c, "getex"), o.persist
    if expire is not None:
        if expire <= c.server.clock.wall_ms() and not c.server.keyspace.is_replica:
            db.delete(key)
            modified(c, key, "del", NOTIFY_GENERIC)
            lazy = c.server.config.lazyfree_lazy_expire
            c.propagate_as = [[deletion_command(lazy), key]]
        else:
            db.set_expire(key, expire)
            db.signal_modified(key)
            modified(c, key, "expire", NOTIFY_GENERIC)
            c.propagate_as = [[b"PEXPIREAT", key, b"%d" % expire]]
    elif persist and db.persist(key):
        db.signal_modified(key)
        modified(c, key, "persist", NOTIFY_GENERIC)
        c.propagate_as = [[b"PERSIST", key]]
    return value


def cmd_mget(c: Client, argv: list[bytes]) -> object:
    db = c.db
    out: list[bytes | None] = []
    for key in argv[1:]:
        v = db.lookup_read(key)
        out.append(v if type(v) is bytes else None)
    return out


def _check_pairs(argv: list[bytes], name: str) -> None:
    if len(argv) % 2 == 0:
        raise CommandError(errors.wrong_arity(name))


def cmd_mset(c: Client, argv: list[bytes]) -> object:
    _check_pairs(argv, "mset")
    db, srv = c.db, c.server
    set_key = db.set_key
    events = srv.keyspace.notify_flags & NOTIFY_STRING
    for i in range(1, len(argv), 2):
        expire_before_overwrite(db, argv[i])
        set_key(argv[i], argv[i + 1])
        if events:
            srv.notify(NOTIFY_STRING, "set", argv[i], c.db.id)
    srv.dirty += len(argv) // 2
    return OK


def cmd_msetnx(c: Client, argv: list[bytes]) -> object:
    _check_pairs(argv, "msetnx")
    db = c.db
    if any(db.lookup_write(argv[i]) is not None for i in range(1, len(argv), 2)):
        return 0
    for i in range(1, len(argv), 2):
        set_string(c, argv[i], argv[i + 1])
    return 1


# ---- Counters ----

def _incr(c: Client, key: bytes, delta: int) -> int:
    db = c.db
    old = lookup_string_for_write(db, key)
    if old is None:
        current = 0
    else:
        current = parse_int(old) if len(old) <= 20 else None
        if current is None:
            raise CommandError(errors.NOT_INTEGER)
    new = current + delta
    if new > LLONG_MAX or new < LLONG_MIN:
        raise CommandError(errors.OVERFLOW)
    db.set_key(key, b"%d" % new, keep_ttl=True)
    modified(c, key, "incrby")
    return new


def cmd_incr(c: Client, argv: list[bytes]) -> object:
    return _incr(c, argv[1], 1)


def cmd_decr(c: Client, argv: list[bytes]) -> object:
    return _incr(c, argv[1], -1)


def cmd_incrby(c: Client, argv: list[bytes]) -> object:
    return _incr(c, argv[1], parse_int(argv[2]))


def cmd_decrby(c: Client, argv: list[bytes]) -> object:
    delta = parse_int(argv[2])
    if delta == LLONG_MIN:
        raise CommandError("ERR decrement would overflow")
    return _incr(c, argv[1], -delta)


def _parse_ld(arg: bytes) -> object:
    """string2ld, shared with HINCRBYFLOAT (hex, inf, range errors as Redis)."""
    from redkeep.server.commands.hashes import parse_long_double

    value = parse_long_double(arg)
    if value is None:
        raise CommandError(errors.NOT_FLOAT)
    return value


def cmd_incrbyfloat(c: Client, argv: list[bytes]) -> object:
    db, key = c.db, argv[1]
    old = lookup_string_for_write(db, key)
    current = _parse_ld(old) if old is not None else longdouble.parse_long_double(b"0")
    incr = _parse_ld(argv[2])
    new = longdouble.add(current, incr)
    if isinstance(new, float):
        raise CommandError("ERR increment would produce NaN or Infinity")
    text = longdouble.format_human(new)
    db.set_key(key, text, keep_ttl=True)
    note_encoding(c, key, b"embstr")
    modified(c, key, "incrbyfloat")
    c.propagate_as = [[b"SET", key, text, b"KEEPTTL"]]
    return text


# ---- Ranges ----

def cmd_append(c: Client, argv: list[bytes]) -> object:
    db, key = c.db, argv[1]
    old = lookup_string_for_write(db, key)
    new = argv[2] if old is None else old + argv[2]
    _check_size(c, len(new))
    db.set_key(key, new, keep_ttl=True)
    if old is not None:
        note_encoding(c, key, b"raw")
    modified(c, key, "append")
    return len(new)


def _check_size(c: Client, size: int) -> None:
    if size > c.server.config.proto_max_bulk_len:
        raise CommandError(errors.STRING_TOO_LONG)


def cmd_strlen(c: Client, argv: list[bytes]) -> object:
    v = c.db.get_string(argv[1])
    return 0 if v is None else len(v)


def cmd_getrange(c: Client, argv: list[bytes]) -> object:
    start, end = parse_int(argv[2]), parse_int(argv[3])
    v = c.db.get_string(argv[1])
    if v is None:
        return b""
    n = len(v)
    if start < 0 and end < 0 and start > end:
        return b""
    if start < 0:
        start = max(n + start, 0)
    if end < 0:
        end = max(n + end, 0)
    end = min(end, n - 1)
    if start > end or n == 0:
        return b""
    return v[start:end + 1]


def cmd_setrange(c: Client, argv: list[bytes]) -> object:
    db, key = c.db, argv[1]
    offset = parse_int(argv[2])
    value = argv[3]
    if offset < 0:
        raise CommandError(errors.OFFSET_RANGE)
    old = lookup_string_for_write(db, key)
    if old is None:
        if not value:
            return 0
        old = b""
    elif not value:
        return len(old)
    _check_size(c, offset + len(value))
    if len(old) < offset:
        old = old + b"\x00" * (offset - len(old))
    new = old[:offset] + value + old[offset + len(value):]
    db.set_key(key, new, keep_ttl=True)
    note_encoding(c, key, b"raw")
    modified(c, key, "setrange")
    return len(new)


# ---- Bits ----

def _bit_offset(c: Client, arg: bytes) -> int:
    off = parse_int(arg, errors.BIT_OFFSET)
    if off < 0 or (off >> 3) >= c.server.config.proto_max_bulk_len:
        raise CommandError(errors.BIT_OFFSET)
    return off


def cmd_setbit(c: Client, argv: list[bytes]) -> object:
    db, key = c.db, argv[1]
    off = _bit_offset(c, argv[2])
    bit = parse_int(argv[3], errors.BIT_VALUE)
    if bit not in (0, 1):
        raise CommandError(errors.BIT_VALUE)
    old = lookup_string_for_write(db, key)
    byte = off >> 3
    buf = bytearray(old or b"")
    grown = old is None or len(buf) <= byte    # lookupStringForBitCommand's "dirty"
    if len(buf) <= byte:
        buf.extend(b"\x00" * (byte + 1 - len(buf)))
    mask = 1 << (7 - (off & 7))
    prev = 1 if buf[byte] & mask else 0
    if not grown and prev == bit:   # nothing changed: no dirty, no event, no propagation
        note_encoding(c, key, b"raw")          # (but Redis unshared it: raw encoding)
        return prev
    buf[byte] = (buf[byte] | mask) if bit else (buf[byte] & ~mask)
    db.set_key(key, bytes(buf), keep_ttl=True)
    note_encoding(c, key, b"raw")
    modified(c, key, "setbit")
    return prev


def cmd_getbit(c: Client, argv: list[bytes]) -> object:
    off = _bit_offset(c, argv[2])
    v = c.db.get_string(argv[1])
    if v is None or (off >> 3) >= len(v):
        return 0
    return 1 if v[off >> 3] & (1 << (7 - (off & 7))) else 0


def _range_unit(argv: list[bytes], idx: int) -> bool:
    """Parse the optional BYTE|BIT at argv[idx]; True for BIT."""
    if len(argv) <= idx:
        return False
    if len(argv) > idx + 1:
        raise CommandError(errors.SYNTAX)
    unit = argv[idx].lower()
    if unit == b"bit":
        return True
    if unit == b"byte":
        return False
    raise CommandError(errors.SYNTAX)


def _normalize_range(start: int, end: int, total: int) -> tuple[int, int] | None:
    if start < 0:
        start = max(total + start, 0)
    if end < 0:
        end = max(total + end, 0)
    end = min(end, total - 1)
    if start > end or total == 0:
        return None
    return start, end


def cmd_bitcount(c: Client, argv: list[bytes]) -> object:
    v = c.db.get_string(argv[1])  # Redis looks the key up before parsing the range
    if v is None:
        return 0
    if len(argv) == 3 or len(argv) > 5:
        raise CommandError(errors.SYNTAX)
    if len(argv) >= 4:
        start, end = parse_int(argv[2]), parse_int(argv[3])
        in_bits = _range_unit(argv, 4)
    if len(argv) == 2:
        return int.from_bytes(v, "big").bit_count()
    total = len(v) * 8 if in_bits else len(v)
    rng = _normalize_range(start, end, total)
    if rng is None:
        return 0
    if not in_bits:
        return int.from_bytes(v[rng[0]:rng[1] + 1], "big").bit_count()
    as_int = int.from_bytes(v, "big")
    width = rng[1] - rng[0] + 1
    return ((as_int >> (total - 1 - rng[1])) & ((1 << width) - 1)).bit_count()


def cmd_bitpos(c: Client, argv: list[bytes]) -> object:
    bit = parse_int(argv[2])
    if bit not in (0, 1):
        raise CommandError("ERR The bit argument must be 1 or 0.")
    v = c.db.get_string(argv[1])  # looked up before the range is parsed, as Redis does
    if v is None:
        return -1 if bit else 0
    if len(argv) > 6:
        raise CommandError(errors.SYNTAX)
    start = parse_int(argv[3]) if len(argv) > 3 else 0
    end_given = len(argv) > 4
    end = parse_int(argv[4]) if end_given else -1
    in_bits = _range_unit(argv, 5)
    total = len(v) * 8 if in_bits else len(v)
    rng = _normalize_range(start, end, total)
    if rng is None:
        return -1
    bit_lo, bit_hi = (rng[0], rng[1]) if in_bits else (rng[0] * 8, rng[1] * 8 + 7)
    for pos in range(bit_lo, bit_hi + 1):
        if pos & 7 == 0 and pos + 7 <= bit_hi:
            b = v[pos >> 3]
            if (bit and b == 0) or (not bit and b == 0xFF):
                continue
        if ((v[pos >> 3] >> (7 - (pos & 7))) & 1) == bit:
            return pos
    # Looking for a clear bit with no explicit end: the string is padded with zeros.
    if not bit and not end_given and not in_bits:
        return bit_hi + 1
    return -1


def cmd_bitop(c: Client, argv: list[bytes]) -> object:
    op = argv[1].lower()
    if op not in (b"and", b"or", b"xor", b"not"):
        raise CommandError(errors.SYNTAX)
    if op == b"not" and len(argv) != 4:
        raise CommandError("ERR BITOP NOT must be called with a single source key.")
    db, dest = c.db, argv[2]
    sources = [db.get_string(k) or b"" for k in argv[3:]]
    maxlen = max((len(s) for s in sources), default=0)
    if maxlen == 0:
        if db.delete(dest):
            modified(c, dest, "del", NOTIFY_GENERIC)
        return 0
    ints = [int.from_bytes(s.ljust(maxlen, b"\x00"), "big") for s in sources]
    result = ints[0]
    if op == b"not":
        result = ~result & ((1 << (8 * maxlen)) - 1)
    for other in ints[1:]:
        if op == b"and":
            result &= other
        elif op == b"or":
            result |= other
        else:
            result ^= other
    expire_before_overwrite(db, dest)
    db.set_key(dest, result.to_bytes(maxlen, "big"))
    note_encoding(c, dest, b"raw")
    modified(c, dest, "set")
    return maxlen


def lookup_string_for_write(db: Database, key: bytes) -> bytes | None:
    v = db.lookup_write(key)
    if v is not None and type(v) is not bytes:
        raise CommandError(errors.WRONGTYPE)
    return v


def register(table: CommandTable) -> None:
    g = "string"
    add = table.add
    add("get", cmd_get, 2, "readonly fast", 1, 1, 1, group=g, categories="@string")
    add("set", cmd_set, -3, "write denyoom", 1, 1, 1, group=g, categories="@string")
    add("setnx", cmd_setnx, 3, "write denyoom fast", 1, 1, 1, group=g, categories="@string")
    add("setex", cmd_setex, 4, "write denyoom", 1, 1, 1, group=g, categories="@string")
    add("psetex", cmd_psetex, 4, "write denyoom", 1, 1, 1, group=g, categories="@string")
    add("getset", cmd_getset, 3, "write denyoom fast", 1, 1, 1, group=g, categories="@string")
    add("getdel", cmd_getdel, 2, "write fast", 1, 1, 1, group=g, categories="@string")
    add("getex", cmd_getex, -2, "write fast", 1, 1, 1, group=g, categories="@string")
    add("mget", cmd_mget, -2, "readonly fast", 1, -1, 1, group=g, categories="@string")
    add("mset", cmd_mset, -3, "write denyoom", 1, -1, 2, group=g, categories="@string")
    add("msetnx", cmd_msetnx, -3, "write denyoom", 1, -1, 2, group=g, categories="@string")
    add("incr", cmd_incr, 2, "write denyoom fast", 1, 1, 1, group=g, categories="@string")
    add("decr", cmd_decr, 2, "write denyoom fast", 1, 1, 1, group=g, categories="@string")
    add("incrby", cmd_incrby, 3, "write denyoom fast", 1, 1, 1, group=g, categories="@string")
    add("decrby", cmd_decrby, 3, "write denyoom fast", 1, 1, 1, group=g, categories="@string")
    add("incrbyfloat", cmd_incrbyfloat, 3, "write denyoom fast", 1, 1, 1, group=g,
        categories="@string")
    add("append", cmd_append, 3, "write denyoom fast", 1, 1, 1, group=g, categories="@string")
    add("strlen", cmd_strlen, 2, "readonly fast", 1, 1, 1, group=g, categories="@string")
    add("getrange", cmd_getrange, 4, "readonly", 1, 1, 1, group=g, categories="@string")
    add("substr", cmd_getrange, 4, "readonly", 1, 1, 1, group=g, categories="@string")
    add("setrange", cmd_setrange, 4, "write denyoom", 1, 1, 1, group=g, categories="@string")
    add("setbit", cmd_setbit, 4, "write denyoom", 1, 1, 1, group="bitmap", categories="@bitmap")
    add("getbit", cmd_getbit, 3, "readonly fast", 1, 1, 1, group="bitmap", categories="@bitmap")
    add("bitcount", cmd_bitcount, -2, "readonly", 1, 1, 1, group="bitmap", categories="@bitmap")
    add("bitpos", cmd_bitpos, -3, "readonly", 1, 1, 1, group="bitmap", categories="@bitmap")
    add("bitop", cmd_bitop, -4, "write denyoom", 2, -1, 1, group="bitmap", categories="@bitmap")
