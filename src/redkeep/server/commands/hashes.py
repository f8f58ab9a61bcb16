"""Hash commands: HSET HSETNX HMSET HGET HMGET HDEL HEXISTS HLEN HSTRLEN HKEYS HVALS
HGETALL HINCRBY HINCRBYFLOAT HSCAN HRANDFIELD.

Replies, error texts, `server.dirty` counts and keyspace events follow Redis 7.0.15's
t_hash.c; the listpack/hashtable encoding rules live in types.hash. HINCRBYFLOAT reads
numbers as strtold does (`parse_long_double`: hex, inf, no spaces) and adds in x87 long
double (server.longdouble). HSCAN returns a listpack hash whole with cursor 0, as Redis
does, and walks a hashtable with the cursors of server.scan.

Propagation: HINCRBYFLOAT goes downstream as HSET of the value it produced (so replicas
and the AOF never redo float arithmetic), as in Redis 7.0.15.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from redkeep.resp.parser import parse_ll
from redkeep.resp.types import OK, Map
from redkeep.server import errors, longdouble
from redkeep.server.arguments import parse_int
from redkeep.server.commands.keys import parse_scan_cursor, parse_scan_options, remove_elements
from redkeep.server.commands.strings import notify
from redkeep.server.config import NOTIFY_HASH
from redkeep.server.connection import Client
from redkeep.server.errors import CommandError
from redkeep.server.glob import stringmatch
from redkeep.server.scan import cursors_for
from redkeep.server.table import CommandTable
from redkeep.server.types.hash import Hash
from redkeep.server.types.set import default_rng, random_element

LLONG_MAX = 9223372036854775807
LLONG_MIN = -9223372036854775808
LONG_MAX = LLONG_MAX
MAX_LONG_DOUBLE_CHARS = 5 * 1024

EMPTY_SCAN = [b"0", []]


# ---- strtold, as string2ld uses it ----

NUMBER_SYNTAX = re.compile(
    rb"""[+-]?(?:
        (?P<inf>inf(?:inity)?)
      | (?P<nan>nan(?:\([0-9a-z_]*\))?)
      | 0x(?P<hex>[0-9a-f]+\.?[0-9a-f]*|\.[0-9a-f]+)(?:p(?P<hexp>[+-]?[0-9]+))?
      | (?P<dec>[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]+)?
    )""", re.VERBOSE | re.IGNORECASE)


def parse_long_double(arg: bytes) -> Fraction | float | None:
    """string2ld: the long double value of `arg`, or None where Redis refuses it
    (empty, too long, spaces, any byte strtold would not read, nan, overflow, underflow
    to 0).
    Infinities come back as float; everything else as an exact, rounded Fraction."""
    if not arg or len(arg) >= MAX_LONG_DOUBLE_CHARS:
        return None
    text = arg
    m = NUMBER_SYNTAX.fullmatch(text)      # a NUL byte fails this too, as in string2ld
    if m is None:
        return None
    negative = text[0] == 45
    if m["inf"]:
        return -math.inf if negative else math.inf
    if m["nan"]:
        return None
    exact = _exact_hex(m) if m["hex"] is not None else _exact_decimal(text)
    if exact is None or isinstance(exact, float):
        return None                     # ERANGE: overflow or underflow to zero
    if exact == 0:
        return Fraction(0)
    value = longdouble.round_to_long_double(exact)
    if isinstance(value, float) or value == 0:
        return None
    return value


def _exact_decimal(text: bytes) -> Fraction | float | None:
    try:
        d = Decimal(text.decode())
    except InvalidOperation:
        return None
    if d == 0:
        return Fraction(0)
    if d.adjusted() > 4940 or d.adjusted() < -4960:
        return math.inf                 # out of long double range either way
    return Fraction(d)


def _exact_hex(m: re.Match) -> Fraction | float | None:
    mantissa = m["hex"].decode()
    whole, _, frac = mantissa.partition(".")
    digits = int((whole + frac) or "0", 16)
    if digits == 0:
        return Fraction(0)
    exp = int(m["hexp"] or b"0") - 4 * len(frac)
    magnitude = digits.bit_length() + exp
    if magnitude > 16400 or magnitude < -16500:
        return math.inf
    value = Fraction(digits) * Fraction(2) ** exp
    return -value if m.group(0)[:1] == b"-" else value


# ---- Lookups ----

def _read(c: Client, key: bytes) -> Hash | None:
    return c.db.get_typed(key, Hash)


def _for_write(c: Client, key: bytes) -> Hash | None:
    return c.db.get_typed(key, Hash, write=True)


def _lookup_or_create(c: Client, key: bytes) -> Hash:
    """hashTypeLookupWriteOrCreate: WRONGTYPE, or the hash (created when missing)."""
    h = _for_write(c, key)
    if h is None:
        h = Hash()
        c.db.set_key(key, h)          # sends "new"
    return h


def _limits(c: Client) -> tuple[int, int]:
    cfg = c.server.config
    return cfg.hash_max_listpack_entries, cfg.hash_max_listpack_value


def _written(c: Client, key: bytes, event: str, dirty: int = 1) -> None:
    c.db.signal_modified(key)
    notify(c, NOTIFY_HASH, event, key)
    c.server.dirty += dirty


# ---- HSET HSETNX HMSET ----

def _hset(c: Client, argv: list[bytes], name: str) -> int:
    if len(argv) % 2 == 1:
        raise CommandError(errors.wrong_arity(name))
    key = argv[1]
    h = _lookup_or_create(c, key)
    max_entries, max_value = _limits(c)
    h.try_conversion(argv[2:], max_value)
    created = 0
    for i in range(2, len(argv), 2):
        created += h.set_field(argv[i], argv[i + 1], max_entries, max_value)
    _written(c, key, "hset", (len(argv) - 2) // 2)
    return created


def cmd_hset(c: Client, argv: list[bytes]) -> object:
    return _hset(c, argv, "hset")


def cmd_hmset(c: Client, argv: list[bytes]) -> object:
    _hset(c, argv, "hmset")
    return OK


def cmd_hsetnx(c: Client, argv: list[bytes]) -> object:
    key, field = argv[1], argv[2]
    h = _lookup_or_create(c, key)
    if field in h:
        return 0
    max_entries, max_value = _limits(c)
    h.try_conversion(argv[2:4], max_value)
    h.set_field(field, argv[3], max_entries, max_value)
    _written(c, key, "hset")
    return 1


# ---- Reads ----

def cmd_hget(c: Client, argv: list[bytes]) -> object:
    h = _read(c, argv[1])
    return None if h is None else h.get(argv[2])


def cmd_hmget(c: Client, argv: list[bytes]) -> object:
    h = _read(c, argv[1])
    if h is None:
        return [None] * (len(argv) - 2)
    return [h.get(f) for f in argv[2:]]


def cmd_hexists(c: Client, argv: list[bytes]) -> object:
    h = _read(c, argv[1])
    return int(h is not None and argv[2] in h)


def cmd_hlen(c: Client, argv: list[bytes]) -> object:
    h = _read(c, argv[1])
    return 0 if h is None else len(h)


def cmd_hstrlen(c: Client, argv: list[bytes]) -> object:
    h = _read(c, argv[1])
    v = None if h is None else h.get(argv[2])
    return 0 if v is None else len(v)


def cmd_hkeys(c: Client, argv: list[bytes]) -> object:
    h = _read(c, argv[1])
    return [] if h is None else list(h)


def cmd_hvals(c: Client, argv: list[bytes]) -> object:
    h = _read(c, argv[1])
    return [] if h is None else list(h.values())


def cmd_hgetall(c: Client, argv: list[bytes]) -> object:
    h = _read(c, argv[1])
    return Map([] if h is None else list(h.items()))


# ---- HDEL ----

def cmd_hdel(c: Client, argv: list[bytes]) -> object:
    key = argv[1]
    h = _for_write(c, key)
    if h is None:
        return 0
    return remove_elements(c, key, h, argv[2:], h.delete_field, NOTIFY_HASH, "hdel")


# ---- Counters ----

def cmd_hincrby(c: Client, argv: list[bytes]) -> object:
    key, field = argv[1], argv[2]
    incr = parse_int(argv[3])
    h = _lookup_or_create(c, key)
    old = h.get(field)
    if old is None:
        value = 0
    else:
        value = parse_ll(old)
        if value is None:
            raise CommandError("ERR hash value is not an integer")
    new = value + incr
    if new > LLONG_MAX or new < LLONG_MIN:
        raise CommandError(errors.OVERFLOW)
    h.set_field(field, b"%d" % new, *_limits(c))
    _written(c, key, "hincrby")
    return new


def cmd_hincrbyfloat(c: Client, argv: list[bytes]) -> object:
    key, field = argv[1], argv[2]
    incr = parse_long_double(argv[3])
    if incr is None:
        raise CommandError(errors.NOT_FLOAT)
    if isinstance(incr, float):
        raise CommandError("ERR value is NaN or Infinity")
    h = _lookup_or_create(c, key)
    old = h.get(field)
    value: Fraction | float | None = Fraction(0)
    if old is not None:
        value = parse_long_double(old)
        if value is None:
            raise CommandError("ERR hash value is not a float")
    new = longdouble.add(value, incr)
    if isinstance(new, float):
        raise CommandError("ERR increment would produce NaN or Infinity")
    text = longdouble.format_human(new)
    h.set_field(field, text, *_limits(c))
    _written(c, key, "hincrbyfloat")
    c.propagate_as = [[b"HSET", key, field, text]]   # the value, not the float sum
    return text


# ---- HSCAN ----

def cmd_hscan(c: Client, argv: list[bytes]) -> object:
    cursor = parse_scan_cursor(argv[2])
    h = _read(c, argv[1])
    if h is None:
        return EMPTY_SCAN
    count, pattern, _ = parse_scan_options(argv, 3, False)
    if h.listpack:
        fields: Any = h
        cursor = 0
    else:
        cursor, fields = cursors_for(c.server.keyspace).scan(h, cursor, count,
                                                            (c.server.dirty,))
    out: list[bytes] = []
    for f in fields:
        if pattern is None or stringmatch(pattern, f):
            out.append(f)
            out.append(h[f])
    return [b"%d" % cursor, out]


# ---- HRANDFIELD ----

def cmd_hrandfield(c: Client, argv: list[bytes]) -> object:
    if len(argv) >= 3:
        count = parse_int(argv[2])
        if count < -LONG_MAX:
            raise CommandError(errors.int_out_of_range(-LONG_MAX, LONG_MAX))
        withvalues = False
        if len(argv) > 4 or (len(argv) == 4 and argv[3].lower() != b"withvalues"):
            raise CommandError(errors.SYNTAX)
        if len(argv) == 4:
            withvalues = True
            if abs(count) > LONG_MAX // 2:
                raise CommandError("ERR value is out of range")
        return _hrandfield_count(c, argv[1], count, withvalues)
    h = _read(c, argv[1])
    if h is None:
        return None
    return random_element(h, _rng(c))


def _rng(c: Client) -> Any:
    return getattr(c.server, "rng", None) or default_rng()


def _hrandfield_count(c: Client, key: bytes, count: int, withvalues: bool) -> object:
    h = _read(c, key)
    if h is None or count == 0:
        return []
    rng = _rng(c)
    if count < 0 or count == 1:
        fields = [random_element(h, rng) for _ in range(abs(count))]
    elif count >= len(h):
        fields = list(h)
    elif count * 3 > len(h):
        chosen = set(rng.sample(list(h), count))
        fields = [f for f in h if f in chosen]
    else:
        picked: dict[bytes, None] = {}
        while len(picked) < count:
            picked[random_element(h, rng)] = None
        fields = list(picked)
    if not withvalues:
        return fields
    if c.resp > 2:
        return [[f, h[f]] for f in fields]
    return [x for f in fields for x in (f, h[f])]


def register(table: CommandTable) -> None:
    def add(name: str, handler: Any, arity: int, flags: str, cats: str) -> None:
        table.add(name, handler, arity, flags, 1, 1, 1, group="hash", categories=cats)

    write_fast, read_fast = "@write @hash @fast", "@read @hash @fast"
    add("hset", cmd_hset, -4, "write denyoom fast", write_fast)
    add("hsetnx", cmd_hsetnx, 4, "write denyoom fast", write_fast)
    add("hmset", cmd_hmset, -4, "write denyoom fast", write_fast)
    add("hget", cmd_hget, 3, "readonly fast", read_fast)
    add("hmget", cmd_hmget, -3, "readonly fast", read_fast)
    add("hdel", cmd_hdel, -3, "write fast", write_fast)
    add("hexists", cmd_hexists, 3, "readonly fast", read_fast)
    add("hlen", cmd_hlen, 2, "readonly fast", read_fast)
    add("hstrlen", cmd_hstrlen, 3, "readonly fast", read_fast)
    add("hkeys", cmd_hkeys, 2, "readonly", "@read @hash @slow")
    add("hvals", cmd_hvals, 2, "readonly", "@read @hash @slow")
    add("hgetall", cmd_hgetall, 2, "readonly", "@read @hash @slow")
    add("hincrby", cmd_hincrby, 4, "write denyoom fast", write_fast)
    add("hincrbyfloat", cmd_hincrbyfloat, 4, "write denyoom fast", write_fast)
    add("hscan", cmd_hscan, -3, "readonly", "@read @hash @slow")
    add("hrandfield", cmd_hrandfield, -2, "readonly", "@read @hash @slow")
