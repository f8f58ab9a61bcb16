"""SORT and SORT_RO: sort a list, set or sorted set, Redis 7.0.15's sort.c semantics.

Theory of operation
-------------------
1) Options are parsed first (syntax errors beat WRONGTYPE): ASC/DESC, ALPHA, LIMIT
   offset count, BY pattern, GET pattern (repeatable), STORE key (not for SORT_RO). A BY
   pattern without '*' means "don't sort".
2) The value's elements are loaded: a list in order, a set in its iteration order (numeric
   for an intset), a sorted set by score (`ordered_members()`). Sorting a set "by nosort"
   for STORE or from a script sorts ALPHA instead, so that results replicate the same.
3) LIMIT is clamped to the vector; with nothing to sort, a list or sorted set is read
   straight in the requested direction.
4) Each element gets a weight: itself or the value `lookup_by_pattern` finds (a string
   key, or a hash field with `key->field`; missing is weight 0 / "no object"). Numeric
   weights are parsed as strtod does (leading spaces, hex, inf; nan, trailing bytes and
   ERANGE refused) and a bad one makes the reply "One or more scores can't be converted
   into double" after the sort. Equal numeric weights fall back to comparing the
   elements, so the order is total; ALPHA compares bytes (strcoll of the C/C.UTF-8
   locale, i.e. up to the first NUL, unless storing). The sort is stable like glibc's
   qsort (a merge sort).
5) The output is each element, or the GET patterns' values (nil when missing; "" when
   storing), as a reply or stored as a list (event "sortstore").

Known difference: with BY and a LIMIT narrower than the vector Redis uses its partial
quicksort (pqsort), which is not stable, so elements whose ALPHA BY weights are equal
(or both missing) may come out in another order than here.
"""

from __future__ import annotations

import importlib
import math
from decimal import Decimal
from fractions import Fraction
from itertools import islice
from typing import Any

from redkeep.server import errors
from redkeep.server.arguments import parse_int
from redkeep.server.commands.hashes import NUMBER_SYNTAX
from redkeep.server.commands.strings import notify
from redkeep.server.config import NOTIFY_GENERIC, NOTIFY_LIST
from redkeep.server.connection import Client
from redkeep.server.errors import CommandError
from redkeep.server.keyspace import TYPE_NAMES, Database, type_name
from redkeep.server.table import CommandTable
from redkeep.server.types.hash import Hash

SCORE_ERROR = "ERR One or more scores can't be converted into double"
_SORTABLE = (b"list", b"set", b"zset")
_C_SPACES = b" \t\n\v\f\r"
_DBL_MIN = 2.2250738585072014e-308


# ---- strtod and pattern lookups ----

def strtod_score(value: bytes) -> float | None:
    """The weight `strtod(value, &eptr)` gives, or None when SORT rejects it
    (trailing bytes, nan, ERANGE: overflow, underflow to 0, inexact subnormal)."""
    text = value.split(b"\x00", 1)[0]
    body = text.lstrip(_C_SPACES)
    if not body:
        return 0.0 if not text else None
    m = NUMBER_SYNTAX.fullmatch(body)
    if m is None or m["nan"]:
        return None
    if m["inf"]:
        return -math.inf if body[0] == 45 else math.inf
    try:
        result = float.fromhex(body.decode()) if m["hex"] is not None else float(body)
    except (OverflowError, ValueError):
        return None
    if math.isinf(result):
        return None
    if abs(result) < _DBL_MIN and not _exactly(body, m, result):
        return None
    return result


def _exactly(body: bytes, m: Any, result: float) -> bool:
    """Is the tiny (subnormal or zero) `result` the exact value of `body`?"""
    if m["hex"] is not None:
        whole, _, frac = m["hex"].decode().partition(".")
        digits = int((whole + frac) or "0", 16)
        if digits == 0:
            return True
        exp = int(m["hexp"] or b"0") - 4 * len(frac)
        if digits.bit_length() + exp < -1100:
            return False
        exact = Fraction(digits) * Fraction(2) ** exp
    else:
        d = Decimal(body.decode())
        if d == 0:
            return True
        if d.adjusted() < -400:
            return False
        exact = abs(Fraction(d))
    return exact == abs(Fraction(result))


def lookup_by_pattern(db: Database, pattern: bytes, subst: bytes) -> bytes | None:
    """lookupKeyByPattern: '#' is the element itself; the first '*' is replaced by it;
    "key->field" reads a hash field. None when missing or of another type."""
    cstr = pattern.split(b"\x00", 1)[0]       # strchr/strstr see a C string
    if cstr == b"#":
        return subst
    star = cstr.find(b"*")
    if star < 0:
        return None
    arrow = cstr.find(b"->", star + 1)
    field = None
    end = len(pattern)
    if arrow >= 0 and arrow + 2 < len(cstr):
        field = pattern[arrow + 2:]
        end = arrow
    key = pattern[:star] + subst + pattern[star + 1:end]
    value = db.lookup_read(key)
    if value is None:
        return None
    if field is not None:
        return value.get(field) if type(value) is Hash else None
    return value if type(value) is bytes else None


# ---- Options ----

class SortOptions:
    __slots__ = ("desc", "alpha", "offset", "count", "store", "by", "gets", "dontsort")

    def __init__(self) -> None:
        self.desc = self.alpha = self.dontsort = False
        self.offset, self.count = 0, -1
        self.store: bytes | None = None
        self.by: bytes | None = None
        self.gets: list[bytes] = []


def parse_options(argv: list[bytes], readonly: bool) -> SortOptions:
    o = SortOptions()
    j = 2
    while j < len(argv):
        opt, left = argv[j].lower(), len(argv) - j - 1
        if opt == b"asc":
            o.desc = False
        elif opt == b"desc":
            o.desc = True
        elif opt == b"alpha":
            o.alpha = True
        elif opt == b"limit" and left >= 2:
            o.offset, o.count = parse_int(argv[j + 1]), parse_int(argv[j + 2])
            j += 2
        elif not readonly and opt == b"store" and left >= 1:
            o.store = argv[j + 1]
            j += 1
        elif opt == b"by" and left >= 1:
            o.by = argv[j + 1]
            o.dontsort = b"*" not in o.by.split(b"\x00", 1)[0]
            j += 1
        elif opt == b"get" and left >= 1:
            o.gets.append(argv[j + 1])
            j += 1
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    return o


# ---- The command ----

def _elements(value: Any, kind: bytes) -> list[bytes]:
    if kind == b"set":
        ordered = getattr(value, "ordered", None)
        return ordered() if ordered is not None else list(value)
    if kind == b"zset":
        members = getattr(value, "ordered_members", None)
        if members is not None:
            return list(members())
    return list(value)


def _to_skiplist(zset: Any) -> None:
    """SORT converts a listpack sorted set to a skiplist for good, as Redis does."""
    convert = getattr(zset, "to_skiplist", None)
    if convert is not None:
        convert()
    elif getattr(zset, "skiplist", None) is False:
        zset.skiplist = True


def _native_range(value: Any, kind: bytes, desc: bool, start: int, end: int) -> list[bytes]:
    if kind == b"list":
        return list(islice(reversed(value) if desc else iter(value), start, end + 1))
    members = _elements(value, kind)
    if desc:
        members.reverse()
    return members[start:end + 1]


def _limits(o: SortOptions, n: int) -> tuple[int, int]:
    """The start/end clamping of sortCommandGeneric (end may be start-1: nothing)."""
    start = min(max(o.offset, 0), n)
    count = min(max(o.count, -1), n)
    end = n - 1 if count < 0 else start + count - 1
    if start >= n:
        start, end = n - 1, n - 2
    return start, min(end, n - 1)


def sort_generic(c: Client, argv: list[bytes], readonly: bool) -> object:
    o = parse_options(argv, readonly)
    db = c.db
    value = db.lookup_read(argv[1])
    kind = b"list" if value is None else type_name(value)
    if kind not in _SORTABLE:
        raise CommandError(errors.WRONGTYPE)
    if o.dontsort and kind == b"set" and (o.store is not None or c.in_script):
        o.dontsort, o.alpha, o.by = False, True, None
    if kind == b"zset":
        _to_skiplist(value)
    if o.dontsort and kind != b"set":     # a list or sorted set, read in its own order
        start, end = _limits(o, 0 if value is None else len(value))
        picked = [] if end < start else _native_range(value, kind, o.desc, start, end)
    else:
        vector = [] if value is None else _elements(value, kind)
        start, end = _limits(o, len(vector))
        if not o.dontsort:
            vector = _sorted(db, vector, o)
        picked = vector[start:end + 1] if end >= start else []
    if o.store is None:
        return _output(db, picked, o.gets, None)
    return _store(c, o.store, _output(db, picked, o.gets, b""))


def _sorted(db: Database, vector: list[bytes], o: SortOptions) -> list[bytes]:
    by = o.by
    if o.alpha:
        def cmp_key(b: bytes) -> bytes:
            return b if o.store is not None else b.split(b"\x00", 1)[0]
        if by is None:
            return sorted(vector, key=cmp_key, reverse=o.desc)
        weights = {}
        for e in vector:
            w = lookup_by_pattern(db, by, e)
            weights[e] = (0, b"") if w is None else (1, cmp_key(w))
        return sorted(vector, key=weights.__getitem__, reverse=o.desc)
    scores: dict[bytes, float] = {}
    bad = False
    for e in vector:
        w = e if by is None else lookup_by_pattern(db, by, e)
        if w is None:
            scores[e] = 0.0
            continue
        s = strtod_score(w)
        if s is None:
            bad = True
            s = 0.0
        scores[e] = s
    if bad:
        raise CommandError(SCORE_ERROR)
    return sorted(vector, key=lambda e: (scores[e], e), reverse=o.desc)


def _output(db: Database, picked: list[bytes], gets: list[bytes],
            missing: bytes | None) -> list[bytes | None]:
    if not gets:
        return list(picked)
    out: list[bytes | None] = []
    for e in picked:
        for pattern in gets:
            v = lookup_by_pattern(db, pattern, e)
            out.append(missing if v is None else v)
    return out


def _new_list(items: list[bytes]) -> Any:
    """A list value of the list type (types.list), built from `items`."""
    try:
        module: str | None = importlib.import_module("redkeep.server.types.list").__name__
    except ImportError:
        module = None
    for py_type, name in TYPE_NAMES.items():
        if name == b"list" and (module is None or py_type.__module__ == module):
            return py_type(items)
    raise CommandError("ERR no list type to STORE into")


def _store(c: Client, key: bytes, items: list[bytes | None]) -> int:
    db = c.db
    if items:
        db.lookup_write(key)                # expire it first: then "new" is sent
        db.set_key(key, _new_list(items))   # type: ignore[arg-type]
        notify(c, NOTIFY_LIST, "sortstore", key)
        c.server.dirty += len(items)
    elif db.delete(key):
        notify(c, NOTIFY_GENERIC, "del", key)
        c.server.dirty += 1
    return len(items)


def sort_getkeys(argv: list[bytes]) -> list[tuple[int, tuple[str, ...]]]:
    """sortGetKeys, for COMMAND GETKEYS(ANDFLAGS): SORT's key specs are incomplete, so
    the STORE key (the last one given) is found by skipping LIMIT/GET/BY arguments."""
    keys: list[tuple[int, tuple[str, ...]]] = [(1, ("RO", "access"))]
    store: tuple[int, tuple[str, ...]] | None = None
    skips = {b"limit": 2, b"get": 1, b"by": 1}
    i = 2
    while i < len(argv):
        opt = argv[i].lower()
        if opt in skips:
            i += skips[opt]
        elif opt == b"store" and i + 1 < len(argv):
            store = (i + 1, ("OW", "update"))
        i += 1
    return keys + [store] if store else keys


def cmd_sort(c: Client, argv: list[bytes]) -> object:
    return sort_generic(c, argv, False)


def cmd_sort_ro(c: Client, argv: list[bytes]) -> object:
    return sort_generic(c, argv, True)


def register(table: CommandTable) -> None:
    cats = "@set @sortedset @list @slow @dangerous"
    table.add("sort", cmd_sort, -2, "write denyoom movablekeys", 1, 1, 1, group="generic",
              categories="@write " + cats)
    table.add("sort_ro", cmd_sort_ro, -2, "readonly movablekeys", 1, 1, 1, group="generic",
              categories="@read " + cats)
