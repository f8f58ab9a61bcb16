"""Sorted set commands: ZADD ZINCRBY ZREM ZSCORE ZMSCORE ZCARD ZCOUNT ZLEXCOUNT ZRANK
ZREVRANK, the ZRANGE family (ZRANGE ZRANGESTORE ZREVRANGE Z[REV]RANGEBYSCORE
Z[REV]RANGEBYLEX), ZREMRANGEBYRANK/SCORE/LEX, ZPOPMIN ZPOPMAX ZMPOP and the blocking
BZPOPMIN BZPOPMAX BZMPOP, ZUNION ZINTER ZDIFF (and the STORE forms) ZINTERCARD,
ZRANDMEMBER and ZSCAN.

Replies, error texts (and the order in which arguments are checked), `server.dirty`
counts and keyspace events follow Redis 7.0.15's t_zset.c. Numbers are read as Redis
reads them: scores and weights with strtod plus getDoubleFromObject's checks
(`parse_score`: hex and inf accepted, no spaces, nan and out-of-range refused), range
bounds with zslParseRange's laxer rules (`parse_score_bound`: leading spaces and an
empty string pass), timeouts as getTimeoutFromObjectOrReply (long double seconds,
rounded up to milliseconds). Scores are sent with addReplyDouble (resp.types.Double:
"%.17g", a RESP3 double); WITHSCORES replies are flat in RESP2 and [member, score]
pairs in RESP3, as Redis sends them.

Where Redis's answer depends on the encoding it is reproduced: lexicographic ranges on
a listpack are walked linearly exactly as zzl*LexRange walk them (which matters when the
scores differ), ZSCAN of a listpack is returned whole with the scores as stored, and
ZRANDMEMBER returns the whole set in reverse rank order when the count covers it.
Blocking pops use server.blocking: when nothing can be served they queue the client and
are run again when one of their keys is written; the timeout is read as BLPOP's
(commands.lists.parse_timeout_ms).

Propagation (as Redis 7.0.15's genericZpopCommand): BZPOPMIN/BZPOPMAX, served at once
or later, go downstream as ZPOPMIN/ZPOPMAX key, and ZMPOP/BZMPOP as ZPOPMIN/ZPOPMAX key
<number popped>; ZPOPMIN/ZPOPMAX themselves replay as they are.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any

from redkeep.resp.encoder import format_double
from redkeep.resp.types import Double, NullArray
from redkeep.server import errors
from redkeep.server.arguments import parse_int, rank_bounds
from redkeep.server.commands.keys import parse_scan_cursor, parse_scan_options
from redkeep.server.commands.lists import parse_timeout_ms
from redkeep.server.commands.strings import notify
from redkeep.server.config import NOTIFY_GENERIC, NOTIFY_ZSET
from redkeep.server.connection import Client
from redkeep.server.errors import CommandError
from redkeep.server.glob import stringmatch
from redkeep.server.keyspace import type_name
from redkeep.server.scan import cursors_for
from redkeep.server.table import CommandTable
from redkeep.server.types.set import default_rng
from redkeep.server.types.zset import ZSet, listpack_score_text

LONG_MAX = 9223372036854775807

NAN_SCORE = "ERR resulting score is not a number (NaN)"
XX_AND_NX = "ERR XX and NX options at the same time are not compatible"
GT_LT_NX = "ERR GT, LT, and/or NX options at the same time are not compatible"
INCR_PAIR = "ERR INCR option supports a single increment-element pair"
MINMAX_FLOAT = "ERR min or max is not a float"
MINMAX_LEX = "ERR min or max not valid string range item"
LIMIT_RANK = "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
WITHSCORES_LEX = "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
WEIGHT_FLOAT = "ERR weight value is not a float"
LIMIT_NEGATIVE = "ERR LIMIT can't be negative"
NUMKEYS_POSITIVE = "ERR numkeys should be greater than 0"
COUNT_POSITIVE = "ERR count should be greater than 0"
NOT_POSITIVE = "ERR value is out of range, must be positive"
OUT_OF_RANGE = "ERR value is out of range"

EMPTY_SCAN = [b"0", []]
ZRANDMEMBER_SUB_STRATEGY_MUL = 3
_C_SPACE = b" \t\n\v\f\r"


# ---- Numbers: strtod and the checks around it ----

_STRTOD = re.compile(
    rb"""[+-]?(?:
        (?P<inf>inf(?:inity)?)
      | (?P<nan>nan(?:\([0-9a-z_]*\))?)
      | 0x(?P<hex>[0-9a-f]+\.?[0-9a-f]*|\.[0-9a-f]+)(?:p[+-]?[0-9]+)?
      | (?P<dec>[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]+)?
    )""", re.VERBOSE | re.IGNORECASE)


def strtod(text: bytes) -> tuple[float, bool] | None:
    """C strtod of a whole string: (value, erange), or None if any byte is left over.
    erange is set, as glibc sets errno, when the value overflowed to ±inf or a non-zero
    number underflowed to 0."""
    m = _STRTOD.fullmatch(text)
    if m is None:
        return None
    negative = text[:1] == b"-"
    if m["inf"]:
        return (-math.inf if negative else math.inf), False
    if m["nan"]:
        return math.nan, False
    if m["hex"] is not None:
        digits = m["hex"]
        try:
            value = float.fromhex(text.decode())
        except OverflowError:
            return (-math.inf if negative else math.inf), True
    else:
        digits = m["dec"]
        value = float(text)
        if math.isinf(value):
            return value, True
    if value == 0 and digits.strip(b"0.") != b"":
        return value, True
    return value, False


def parse_score(arg: bytes, message: str = errors.NOT_FLOAT) -> float:
    """getDoubleFromObjectOrReply: strtod over the whole string, no leading space,
    no nan, no overflow (a written "inf" is fine) and no underflow to 0."""
    if arg.isdigit() and len(arg) < 300:           # the common case, quickly
        return float(arg)
    if not arg or arg[0] in _C_SPACE:
        raise CommandError(message)
    parsed = strtod(arg)
    if parsed is None:
        raise CommandError(message)
    value, erange = parsed
    if math.isnan(value) or (erange and (math.isinf(value) or value == 0)):
        raise CommandError(message)
    return value


def parse_score_bound(arg: bytes) -> tuple[float, bool]:
    """zslParseRange for one bound: (value, exclusive). strtod skips leading spaces, an
    empty number reads as 0, only a nan or trailing bytes are refused."""
    exclusive = arg[:1] == b"("
    text = arg[1:] if exclusive else arg
    if text:
        text = text.lstrip(_C_SPACE)
        parsed = strtod(text) if text else None
        if parsed is None or math.isnan(parsed[0]):
            raise CommandError(MINMAX_FLOAT)
        return parsed[0], exclusive
    return 0.0, exclusive


def _parse_score_range(low: bytes, high: bytes) -> tuple[float, bool, float, bool]:
    lo, lo_ex = parse_score_bound(low)
    hi, hi_ex = parse_score_bound(high)
    return lo, lo_ex, hi, hi_ex


def _parse_count(arg: bytes, message: str) -> int:
    """getRangeLongFromObjectOrReply(1, LONG_MAX, message)."""
    v = parse_int(arg, message)
    if v < 1:
        raise CommandError(message)
    return v


def _parse_positive(arg: bytes, message: str = NOT_POSITIVE) -> int:
    """getPositiveLongFromObjectOrReply."""
    v = parse_int(arg, message)
    if v < 0:
        raise CommandError(message)
    return v


# ---- Lexicographic ranges (sdscmplex with the "-" and "+" sentinels) ----

class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


MIN_STRING = _Sentinel("-")
MAX_STRING = _Sentinel("+")
LexBound = tuple[Any, bool]          # (bytes or a sentinel, exclusive)


def _parse_lex_item(arg: bytes) -> LexBound:
    first = arg[:1]
    if first == b"+" and len(arg) == 1:
        return MAX_STRING, True
    if first == b"-" and len(arg) == 1:
        return MIN_STRING, True
    if first == b"(":
        return arg[1:], True
    if first == b"[":
        return arg[1:], False
    raise CommandError(MINMAX_LEX)


def _parse_lex_range(low: bytes, high: bytes) -> tuple[LexBound, LexBound]:
    return _parse_lex_item(low), _parse_lex_item(high)


def _cmplex(a: Any, b: Any) -> int:
    if a is b:
        return 0
    if a is MIN_STRING or b is MAX_STRING:
        return -1
    if a is MAX_STRING or b is MIN_STRING:
        return 1
    return (a > b) - (a < b)


def _gte_min(member: bytes, low: LexBound) -> bool:
    cmp = _cmplex(member, low[0])
    return cmp > 0 if low[1] else cmp >= 0


def _lte_max(member: bytes, high: LexBound) -> bool:
    cmp = _cmplex(member, high[0])
    return cmp < 0 if high[1] else cmp <= 0


def _lex_range_empty(low: LexBound, high: LexBound) -> bool:
    cmp = _cmplex(low[0], high[0])
    return cmp > 0 or (cmp == 0 and (low[1] or high[1]))


def _lp_first_in_lex(items: list[tuple[float, bytes]], low: LexBound, high: LexBound
                     ) -> int | None:
    """zzlFirstInLexRange: a linear walk from the head."""
    if not items or _lex_range_empty(low, high) or not _gte_min(items[-1][1], low) \
            or not _lte_max(items[0][1], high):
        return None
    for i, (_, member) in enumerate(items):
        if _gte_min(member, low):
            return i if _lte_max(member, high) else None
    return None


def _lp_last_in_lex(items: list[tuple[float, bytes]], low: LexBound, high: LexBound
                    ) -> int | None:
    """zzlLastInLexRange: a linear walk from the tail."""
    if not items or _lex_range_empty(low, high) or not _gte_min(items[-1][1], low) \
            or not _lte_max(items[0][1], high):
        return None
    for i in range(len(items) - 1, -1, -1):
        member = items[i][1]
        if _lte_max(member, high):
            return i if _gte_min(member, low) else None
    return None


def _first_true(n: int, pred: Callable[[int], bool]) -> int:
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _sl_lex_span(zs: ZSet, low: LexBound, high: LexBound) -> tuple[int, int]:
    """Ranks [lo, hi) of a skiplist's lexicographic range (a search, as the skiplist's)."""
    if _lex_range_empty(low, high):
        return 0, 0
    n = len(zs)
    lo = _first_true(n, lambda i: _gte_min(zs.member_at(i), low))
    hi = _first_true(n, lambda i: not _lte_max(zs.member_at(i), high))
    return lo, max(lo, hi)


# ---- Lookups, writes, replies ----

def _read(c: Client, key: bytes) -> ZSet | None:
    return c.db.get_typed(key, ZSet)


def _for_write(c: Client, key: bytes) -> ZSet | None:
    return c.db.get_typed(key, ZSet, write=True)


def _limits(c: Client) -> tuple[int, int]:
    cfg = c.server.config
    return cfg.zset_max_listpack_entries, cfg.zset_max_listpack_value


def _rng(c: Client) -> Any:
    return getattr(c.server, "rng", None) or default_rng()


def _store(c: Client, key: bytes, value: ZSet, event: str) -> int:
    """setKey + the command's event: replace whatever `key` held (its TTL goes)."""
    c.db.lookup_write(key)                 # an expired key goes first, as setKey does
    c.db.set_key(key, value)
    notify(c, NOTIFY_ZSET, event, key)
    c.server.dirty += 1
    return len(value)


def _store_nothing(c: Client, key: bytes) -> int:
    """An empty result deletes the destination."""
    if c.db.delete(key):
        notify(c, NOTIFY_GENERIC, "del", key)
        c.server.dirty += 1
    return 0


def _changed(c: Client, key: bytes, zs: ZSet, event: str, changes: int) -> None:
    """After removing members in place: event, "del" when emptied, dirty."""
    if not zs:
        c.db.delete(key)
        notify(c, NOTIFY_ZSET, event, key)
        notify(c, NOTIFY_GENERIC, "del", key)
    else:
        c.db.signal_modified(key)
        notify(c, NOTIFY_ZSET, event, key)
    c.server.dirty += changes


def _with_scores(c: Client, pairs: Iterable[tuple[float, bytes]], withscores: bool) -> list:
    """(score, member) pairs as a reply: members only, flat in RESP2, pairs in RESP3."""
    if not withscores:
        return [m for _, m in pairs]
    if c.resp == 2:
        out: list = []
        for s, m in pairs:
            out.append(m)
            out.append(Double(s))
        return out
    return [[m, Double(s)] for s, m in pairs]


# ---- ZADD ZINCRBY ----

ZADD_NX, ZADD_XX, ZADD_GT, ZADD_LT, ZADD_CH, ZADD_INCR = 1, 2, 4, 8, 16, 32
_ZADD_OPTIONS = {b"nx": ZADD_NX, b"xx": ZADD_XX, b"gt": ZADD_GT, b"lt": ZADD_LT,
                 b"ch": ZADD_CH, b"incr": ZADD_INCR}


def _parse_zadd_options(argv: list[bytes], flags: int) -> tuple[int, int]:
    """The leading options -> (index of the first score, flags), checked as Redis does."""
    i, n = 2, len(argv)
    while i < n:
        flag = _ZADD_OPTIONS.get(argv[i]) or _ZADD_OPTIONS.get(argv[i].lower())
        if flag is None:
            break
        flags |= flag
        i += 1
    rest = n - i
    if rest % 2 or not rest:
        raise CommandError(errors.SYNTAX)
    if flags & ZADD_NX and flags & ZADD_XX:
        raise CommandError(XX_AND_NX)
    if flags & (ZADD_GT | ZADD_LT | ZADD_NX) not in (0, ZADD_GT, ZADD_LT, ZADD_NX):
        raise CommandError(GT_LT_NX)
    if flags & ZADD_INCR and rest > 2:
        raise CommandError(INCR_PAIR)
    return i, flags


def _zadd_generic(c: Client, argv: list[bytes], flags: int) -> object:
    i, flags = _parse_zadd_options(argv, flags)
    nx, xx, gt, lt = flags & ZADD_NX, flags & ZADD_XX, flags & ZADD_GT, flags & ZADD_LT
    ch, incr = flags & ZADD_CH, flags & ZADD_INCR
    scores = [parse_score(argv[j]) for j in range(i, len(argv), 2)]
    key = argv[1]
    zs = _for_write(c, key)
    created = zs is None
    entries, maxlen = _limits(c)
    if created:
        if xx:
            return None if incr else 0
        zs = ZSet.for_first_member(argv[i + 1], entries, maxlen)
    added = updated = processed = 0
    score = 0.0
    for j, new in enumerate(scores):
        member = argv[i + 1 + 2 * j]
        cur = dict.get(zs, member)
        if cur is not None:
            if nx:
                continue
            if incr:
                new += cur
                if math.isnan(new):
                    raise CommandError(NAN_SCORE)
            if (lt and new >= cur) or (gt and new <= cur):
                continue
            if new != cur:
                zs.set_score(member, new)
                updated += 1
        elif not xx:
            zs.add_new(member, new, entries, maxlen)
            added += 1
        else:
            continue
        processed += 1
        score = new
    if created and zs:
        c.db.set_key(key, zs)
    elif added or updated:
        c.db.signal_modified(key)
    c.server.dirty += added + updated
    if added or updated:
        notify(c, NOTIFY_ZSET, "zincr" if incr else "zadd", key)
    if incr:
        return Double(score) if processed else None
    return added + updated if ch else added


def cmd_zadd(c: Client, argv: list[bytes]) -> object:
    return _zadd_generic(c, argv, 0)


def cmd_zincrby(c: Client, argv: list[bytes]) -> object:
    return _zadd_generic(c, argv, ZADD_INCR)


# ---- ZREM ZSCORE ZMSCORE ZCARD ZRANK ----

def cmd_zrem(c: Client, argv: list[bytes]) -> object:
    key = argv[1]
    zs = _for_write(c, key)
    if zs is None:
        return 0
    deleted = 0
    for member in argv[2:]:
        deleted += zs.remove(member)
        if not zs:
            break
    if deleted:
        _changed(c, key, zs, "zrem", deleted)
    return deleted


def cmd_zscore(c: Client, argv: list[bytes]) -> object:
    zs = _read(c, argv[1])
    if zs is None:
        return None
    score = dict.get(zs, argv[2])
    return None if score is None else Double(score)


def cmd_zmscore(c: Client, argv: list[bytes]) -> object:
    zs = _read(c, argv[1])
    out: list = []
    for member in argv[2:]:
        score = None if zs is None else dict.get(zs, member)
        out.append(None if score is None else Double(score))
    return out


def cmd_zcard(c: Client, argv: list[bytes]) -> object:
    zs = _read(c, argv[1])
    return 0 if zs is None else len(zs)


def _zrank(c: Client, argv: list[bytes], reverse: bool) -> object:
    zs = _read(c, argv[1])
    if zs is None:
        return None
    rank = zs.rank(argv[2])
    if rank is None:
        return None
    return len(zs) - 1 - rank if reverse else rank


def cmd_zrank(c: Client, argv: list[bytes]) -> object:
    return _zrank(c, argv, False)


def cmd_zrevrank(c: Client, argv: list[bytes]) -> object:
    return _zrank(c, argv, True)


# ---- ZCOUNT ZLEXCOUNT ----

def cmd_zcount(c: Client, argv: list[bytes]) -> object:
    lo, lo_ex, hi, hi_ex = _parse_score_range(argv[2], argv[3])
    zs = _read(c, argv[1])
    if zs is None:
        return 0
    start, stop = zs.score_span(lo, lo_ex, hi, hi_ex)
    return stop - start


def cmd_zlexcount(c: Client, argv: list[bytes]) -> object:
    low, high = _parse_lex_range(argv[2], argv[3])
    zs = _read(c, argv[1])
    if zs is None:
        return 0
    if zs.skiplist:
        start, stop = _sl_lex_span(zs, low, high)
        return stop - start
    items = list(zs.order)
    first = _lp_first_in_lex(items, low, high)
    if first is None:
        return 0
    count = 0
    for _, member in items[first:]:
        if not _lte_max(member, high):
            break
        count += 1
    return count


# ---- The ZRANGE family ----

RANK, SCORE, LEX = "rank", "score", "lex"


class RangeQuery:
    """What zrangeGenericCommand parsed: the kind of range, its bounds and options."""

    __slots__ = ("kind", "reverse", "withscores", "offset", "limit", "bounds")

    def __init__(self) -> None:
        self.kind: str | None = None
        self.reverse: bool | None = None
        self.withscores = False
        self.offset = 0
        self.limit = -1
        self.bounds: Any = None


def _parse_range_query(argv: list[bytes], src: int, store: bool, kind: str | None,
                       reverse: bool | None) -> RangeQuery:
    """Options first, then their conflicts, then the range itself (Redis's order)."""
    q = RangeQuery()
    q.kind, q.reverse = kind, reverse
    j = src + 3
    while j < len(argv):
        opt = argv[j].lower()
        left = len(argv) - j - 1
        if not store and opt == b"withscores":
            q.withscores = True
        elif opt == b"limit" and left >= 2:
            q.offset = parse_int(argv[j + 1])
            q.limit = parse_int(argv[j + 2])
            j += 2
        elif reverse is None and opt == b"rev":
            reverse = q.reverse = True
        elif kind is None and opt == b"bylex":
            kind = q.kind = LEX
        elif kind is None and opt == b"byscore":
            kind = q.kind = SCORE
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    q.reverse = bool(q.reverse)
    q.kind = q.kind or RANK
    if q.limit != -1 and q.kind == RANK:
        raise CommandError(LIMIT_RANK)
    if q.withscores and q.kind == LEX:
        raise CommandError(WITHSCORES_LEX)
    low, high = argv[src + 1], argv[src + 2]
    if q.reverse and q.kind != RANK:
        low, high = high, low
    if q.kind == RANK:
        q.bounds = (parse_int(low), parse_int(high))
    elif q.kind == SCORE:
        q.bounds = _parse_score_range(low, high)
    else:
        q.bounds = _parse_lex_range(low, high)
    return q


def _rank_range(zs: ZSet, start: int, end: int, reverse: bool) -> list[tuple[float, bytes]]:
    n = len(zs)
    bounds = rank_bounds(start, end, n)
    if bounds is None:
        return []
    start, end = bounds
    if reverse:
        return list(zs.ranks(n - 1 - end, n - start, True))
    return list(zs.ranks(start, end + 1))


def _span_walk(zs: ZSet, start: int, stop: int, q: RangeQuery) -> list[tuple[float, bytes]]:
    """Ranks [start, stop) walked as genericZrangebyscore walks them: skip `offset`
    (a negative offset walks off the end), then up to `limit` (negative: no limit)."""
    if start >= stop or q.offset < 0:
        return []
    count = stop - start - q.offset
    if count <= 0:
        return []
    if q.limit >= 0:
        count = min(count, q.limit)
    if q.reverse:
        top = stop - q.offset
        return list(zs.ranks(top - count, top, True))
    first = start + q.offset
    return list(zs.ranks(first, first + count))


def _lp_lex_walk(zs: ZSet, q: RangeQuery) -> list[tuple[float, bytes]]:
    """genericZrangebylexCommand on a listpack: start from the first (last) member in
    range, skip `offset` members unchecked, then emit while still in range."""
    low, high = q.bounds
    items = list(zs.order)
    pos = _lp_last_in_lex(items, low, high) if q.reverse else _lp_first_in_lex(items, low, high)
    if pos is None or q.offset < 0:
        return []
    step = -1 if q.reverse else 1
    pos += step * q.offset
    limit, out = q.limit, []
    while 0 <= pos < len(items) and limit != 0:
        member = items[pos][1]
        if not (_gte_min(member, low) if q.reverse else _lte_max(member, high)):
            break
        out.append(items[pos])
        pos += step
        limit -= 1
    return out


def _run_range(zs: ZSet, q: RangeQuery) -> list[tuple[float, bytes]]:
    if q.kind == RANK:
        return _rank_range(zs, q.bounds[0], q.bounds[1], q.reverse)
    if q.kind == SCORE:
        if q.offset > 0 and q.offset >= len(zs):
            return []
        start, stop = zs.score_span(*q.bounds)
        return _span_walk(zs, start, stop, q)
    if zs.skiplist:
        start, stop = _sl_lex_span(zs, *q.bounds)
        return _span_walk(zs, start, stop, q)
    return _lp_lex_walk(zs, q)


def _zrange(c: Client, argv: list[bytes], kind: str | None = None,
            reverse: bool | None = None) -> object:
    q = _parse_range_query(argv, 1, False, kind, reverse)
    zs = _read(c, argv[1])
    if zs is None:
        return []
    return _with_scores(c, _run_range(zs, q), q.withscores)


def cmd_zrange(c: Client, argv: list[bytes]) -> object:
    return _zrange(c, argv)


def cmd_zrevrange(c: Client, argv: list[bytes]) -> object:
    return _zrange(c, argv, RANK, True)


def cmd_zrangebyscore(c: Client, argv: list[bytes]) -> object:
    return _zrange(c, argv, SCORE, False)


def cmd_zrevrangebyscore(c: Client, argv: list[bytes]) -> object:
    return _zrange(c, argv, SCORE, True)


def cmd_zrangebylex(c: Client, argv: list[bytes]) -> object:
    return _zrange(c, argv, LEX, False)


def cmd_zrevrangebylex(c: Client, argv: list[bytes]) -> object:
    return _zrange(c, argv, LEX, True)


def cmd_zrangestore(c: Client, argv: list[bytes]) -> object:
    q = _parse_range_query(argv, 2, True, None, None)
    dst = argv[1]
    zs = _read(c, argv[2])
    result = _run_range(zs, q) if zs is not None else []
    if not result:
        return _store_nothing(c, dst)
    out = ZSet()                                 # a listpack that grows as Redis's does
    entries, maxlen = _limits(c)
    for score, member in result:
        out.add_new(member, score, entries, maxlen)
    return _store(c, dst, out, "zrangestore")


# ---- ZREMRANGEBYRANK / SCORE / LEX ----

def cmd_zremrangebyrank(c: Client, argv: list[bytes]) -> object:
    start, end = parse_int(argv[2]), parse_int(argv[3])
    key = argv[1]
    zs = _for_write(c, key)
    if zs is None:
        return 0
    bounds = rank_bounds(start, end, len(zs))
    if bounds is None:
        return 0
    deleted = zs.remove_ranks(bounds[0], bounds[1] + 1)
    _changed(c, key, zs, "zremrangebyrank", deleted)
    return deleted


def cmd_zremrangebyscore(c: Client, argv: list[bytes]) -> object:
    bounds = _parse_score_range(argv[2], argv[3])
    key = argv[1]
    zs = _for_write(c, key)
    if zs is None:
        return 0
    deleted = zs.remove_ranks(*zs.score_span(*bounds))
    if deleted:
        _changed(c, key, zs, "zremrangebyscore", deleted)
    return deleted


def cmd_zremrangebylex(c: Client, argv: list[bytes]) -> object:
    low, high = _parse_lex_range(argv[2], argv[3])
    key = argv[1]
    zs = _for_write(c, key)
    if zs is None:
        return 0
    if zs.skiplist:
        start, stop = _sl_lex_span(zs, low, high)
    else:                       # zzlDeleteRangeByLex: from the first in range, while <= max
        items = list(zs.order)
        first = _lp_first_in_lex(items, low, high)
        start = stop = len(items) if first is None else first
        while stop < len(items) and _lte_max(items[stop][1], high):
            stop += 1
    deleted = zs.remove_ranks(start, stop)
    if deleted:
        _changed(c, key, zs, "zremrangebylex", deleted)
    return deleted


# ---- ZPOPMIN ZPOPMAX ZMPOP and the blocking pops ----

def _pop(c: Client, key: bytes, zs: ZSet, last: bool, count: int, nested: bool,
         emitkey: bool, rewrite: bool = True) -> list:
    """genericZpopCommand once a non-empty set was found; count -1 is a plain pop.
    With `rewrite` (every caller but ZPOPMIN/ZPOPMAX) it propagates as ZPOPMIN/ZPOPMAX
    key, plus the number popped when a count was given."""
    if count == 0:
        return []
    n = 1 if count == -1 else min(count, len(zs))
    popped = [zs.pop_end(last) for _ in range(n)]
    c.server.dirty += n
    _changed(c, key, zs, "zpopmax" if last else "zpopmin", 0)
    if rewrite:
        name = b"ZPOPMAX" if last else b"ZPOPMIN"
        c.propagate_as = [[name, key] if count == -1 else [name, key, b"%d" % n]]
    if nested:
        body: list = [[m, Double(s)] for m, s in popped]
        return [key, body] if emitkey else body
    flat: list = [key] if emitkey else []
    for m, s in popped:
        flat.append(m)
        flat.append(Double(s))
    return flat


def _zpop_minmax(c: Client, argv: list[bytes], last: bool) -> object:
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    count = _parse_positive(argv[2]) if len(argv) == 3 else -1
    key = argv[1]
    zs = _for_write(c, key)
    if zs is None:
        return []
    return _pop(c, key, zs, last, count, c.resp > 2 and count != -1, False, False)


def cmd_zpopmin(c: Client, argv: list[bytes]) -> object:
    return _zpop_minmax(c, argv, False)


def cmd_zpopmax(c: Client, argv: list[bytes]) -> object:
    return _zpop_minmax(c, argv, True)


def _parse_mpop(argv: list[bytes], numkeys_idx: int) -> tuple[list[bytes], bool, int]:
    """zmpopGenericCommand's arguments: numkeys key... MIN|MAX [COUNT count]."""
    numkeys = _parse_count(argv[numkeys_idx], NUMKEYS_POSITIVE)
    where_idx = numkeys_idx + numkeys + 1
    if where_idx >= len(argv):
        raise CommandError(errors.SYNTAX)
    where = argv[where_idx].lower()
    if where not in (b"min", b"max"):
        raise CommandError(errors.SYNTAX)
    count = -1
    j = where_idx + 1
    while j < len(argv):
        if count == -1 and argv[j].lower() == b"count" and j + 1 < len(argv):
            count = _parse_count(argv[j + 1], COUNT_POSITIVE)
            j += 2
        else:
            raise CommandError(errors.SYNTAX)
    keys = argv[numkeys_idx + 1:where_idx]
    return keys, where == b"max", 1 if count == -1 else count


def cmd_zmpop(c: Client, argv: list[bytes]) -> object:
    keys, last, count = _parse_mpop(argv, 1)
    for key in keys:
        zs = _for_write(c, key)
        if zs is not None:
            return _pop(c, key, zs, last, count, True, True)
    return NullArray


def _blocking_pop(c: Client, keys: list[bytes], last: bool, count: int, nested: bool,
                  timeout_ms: int) -> object:
    """blockingGenericZpopCommand: serve from the first non-empty sorted set, else block
    (or answer as a timeout where blocking is not allowed). Run again for a blocked
    client, it looks only at the key being served (`blocking.serving`), and a key of
    another type is passed over instead of failing: Redis 7.0 serves a waiter from the
    key that became ready, and only if it is a sorted set."""
    db, retry = c.db, c.blocked is not None
    candidates = keys
    if retry:
        serving = c.server.blocking.serving
        if serving is not None and serving[0] is db and serving[1] in keys:
            candidates = [serving[1]]
    for key in candidates:
        value = db.lookup_write(key)
        if value is None:
            continue
        if type(value) is not ZSet:
            if retry:
                continue
            raise CommandError(errors.WRONGTYPE)
        if value:
            return _pop(c, key, value, last, count, nested, True)
    if not c.can_block():
        return NullArray
    # block() takes seconds and rounds down to ms: the half keeps the exact ms count.
    return c.server.blocking.block(c, keys, (timeout_ms + 0.5) / 1000 if timeout_ms else 0,
                                   NullArray)


def cmd_bzpopmin(c: Client, argv: list[bytes]) -> object:
    return _blocking_pop(c, argv[1:-1], False, -1, False, parse_timeout_ms(argv[-1]))


def cmd_bzpopmax(c: Client, argv: list[bytes]) -> object:
    return _blocking_pop(c, argv[1:-1], True, -1, False, parse_timeout_ms(argv[-1]))


def cmd_bzmpop(c: Client, argv: list[bytes]) -> object:
    keys, last, count = _parse_mpop(argv, 2)
    return _blocking_pop(c, keys, last, count, True, parse_timeout_ms(argv[1]))


# ---- ZUNION ZINTER ZDIFF (STORE) ZINTERCARD ----

UNION, INTER, DIFF = "union", "inter", "diff"


def _source_items(value: Any) -> Iterable[tuple[bytes, float]]:
    if value is None:
        return ()
    if type(value) is ZSet:
        return value.reverse_items()
    return ((m, 1.0) for m in value)


def _source_score(value: Any, member: bytes) -> float | None:
    if type(value) is ZSet:
        return dict.get(value, member)
    return 1.0 if member in value else None


def _aggregate(how: bytes, target: float, value: float) -> float:
    if how == b"sum":
        target = target + value
        return 0.0 if math.isnan(target) else target
    if how == b"min":
        return value if value < target else target
    return value if value > target else target


class SetOp:
    """The parsed arguments of zunionInterDiffGenericCommand."""

    __slots__ = ("sources", "weights", "aggregate", "withscores", "limit")

    def __init__(self, sources: list[Any]) -> None:
        self.sources = sources
        self.weights = [1.0] * len(sources)
        self.aggregate = b"sum"
        self.withscores = False
        self.limit = 0


def _parse_setop(c: Client, argv: list[bytes], numkeys_idx: int, op: str, store: bool,
                 card_only: bool, name: str) -> SetOp:
    setnum = parse_int(argv[numkeys_idx])
    if setnum < 1:
        raise CommandError(f"ERR at least 1 input key is needed for '{name}' command")
    if setnum > len(argv) - (numkeys_idx + 1):
        raise CommandError(errors.SYNTAX)
    sources = []
    j = numkeys_idx + 1
    for key in argv[j:j + setnum]:
        value = c.db.lookup_read(key)
        if value is not None and type(value) is not ZSet and type_name(value) != b"set":
            raise CommandError(errors.WRONGTYPE)
        sources.append(value)
    so = SetOp(sources)
    j += setnum
    while j < len(argv):
        opt, remaining = argv[j].lower(), len(argv) - j
        if op != DIFF and not card_only and remaining >= setnum + 1 and opt == b"weights":
            so.weights = [parse_score(w, WEIGHT_FLOAT) for w in argv[j + 1:j + 1 + setnum]]
            j += 1 + setnum
        elif op != DIFF and not card_only and remaining >= 2 and opt == b"aggregate":
            how = argv[j + 1].lower()
            if how not in (b"sum", b"min", b"max"):
                raise CommandError(errors.SYNTAX)
            so.aggregate = how
            j += 2
        elif not store and not card_only and opt == b"withscores":
            so.withscores = True
            j += 1
        elif card_only and remaining >= 2 and opt == b"limit":
            so.limit = _parse_positive(argv[j + 1], LIMIT_NEGATIVE)
            j += 2
        else:
            raise CommandError(errors.SYNTAX)
    return so


def _by_cardinality(so: SetOp) -> list[tuple[Any, float]]:
    """Sources with their weights, smallest first (a stable sort, like glibc's qsort)."""
    pairs = list(zip(so.sources, so.weights, strict=True))
    pairs.sort(key=lambda p: 0 if p[0] is None else len(p[0]))
    return pairs


def _inter(so: SetOp, card_only: bool) -> dict[bytes, float] | int:
    pairs = _by_cardinality(so)
    first, w0 = pairs[0]
    result: dict[bytes, float] = {}
    count = 0
    for member, s0 in _source_items(first):
        score = w0 * s0
        if math.isnan(score):
            score = 0.0
        for other, weight in pairs[1:]:
            if other is first:
                value = s0 * weight
            else:
                found = _source_score(other, member)
                if found is None:
                    break
                value = found * weight
            score = _aggregate(so.aggregate, score, value)
        else:
            if card_only:
                count += 1
                if so.limit and count >= so.limit:
                    break
            else:
                result[member] = score
    return count if card_only else result


def _union(so: SetOp) -> dict[bytes, float]:
    acc: dict[bytes, float] = {}
    for source, weight in _by_cardinality(so):
        for member, s in _source_items(source):
            score = weight * s
            if math.isnan(score):
                score = 0.0
            old = acc.get(member)
            acc[member] = score if old is None else _aggregate(so.aggregate, old, score)
    return acc


def _diff(so: SetOp) -> dict[bytes, float]:
    first, others = so.sources[0], so.sources[1:]
    if first is None or any(o is first for o in others):
        return {}
    others = [o for o in others if o is not None]
    return {m: s for m, s in _source_items(first)
            if not any(_source_score(o, m) is not None for o in others)}


def _setop(c: Client, argv: list[bytes], op: str, store: bool, card_only: bool = False
           ) -> object:
    name = argv[0].decode("utf-8", "replace").lower()
    so = _parse_setop(c, argv, 2 if store else 1, op, store, card_only, name)
    if op == INTER:
        found = _inter(so, card_only)
        if card_only:
            return found
    else:
        found = _union(so) if op == UNION else _diff(so)
    assert isinstance(found, dict)
    result = ZSet(found.items(), skiplist=True)
    if store:
        dst = argv[1]
        if not result:
            return _store_nothing(c, dst)
        result.shrink_if_small(*_limits(c))
        return _store(c, dst, result, f"z{op}store")
    return _with_scores(c, result.order, so.withscores)


def cmd_zunion(c: Client, argv: list[bytes]) -> object:
    return _setop(c, argv, UNION, False)


def cmd_zinter(c: Client, argv: list[bytes]) -> object:
    return _setop(c, argv, INTER, False)


def cmd_zdiff(c: Client, argv: list[bytes]) -> object:
    return _setop(c, argv, DIFF, False)


def cmd_zunionstore(c: Client, argv: list[bytes]) -> object:
    return _setop(c, argv, UNION, True)


def cmd_zinterstore(c: Client, argv: list[bytes]) -> object:
    return _setop(c, argv, INTER, True)


def cmd_zdiffstore(c: Client, argv: list[bytes]) -> object:
    return _setop(c, argv, DIFF, True)


def cmd_zintercard(c: Client, argv: list[bytes]) -> object:
    return _setop(c, argv, INTER, False, True)


# ---- ZRANDMEMBER ZSCAN ----

def cmd_zrandmember(c: Client, argv: list[bytes]) -> object:
    if len(argv) == 2:
        zs = _read(c, argv[1])
        if zs is None:
            return None
        return zs.member_at(_rng(c).randrange(len(zs)))
    count = parse_int(argv[2])
    if count < -LONG_MAX:
        raise CommandError(errors.int_out_of_range(-LONG_MAX, LONG_MAX))
    if len(argv) > 4 or (len(argv) == 4 and argv[3].lower() != b"withscores"):
        raise CommandError(errors.SYNTAX)
    withscores = len(argv) == 4
    if withscores and (count < -(LONG_MAX // 2) or count > LONG_MAX // 2):
        raise CommandError(OUT_OF_RANGE)
    zs = _read(c, argv[1])
    if zs is None or count == 0:
        return []
    return _with_scores(c, _random_members(c, zs, count), withscores)


def _random_members(c: Client, zs: ZSet, count: int) -> list[tuple[float, bytes]]:
    """zrandmemberWithCountCommand's four cases (see the module docstring)."""
    rng, n = _rng(c), len(zs)
    if count < 0 or count == 1:                          # 1: repeats allowed
        return [zs.at(rng.randrange(n)) for _ in range(abs(count))]
    if count >= n:                                       # 2: the whole set, from the tail
        return list(zs.ranks(0, n, True))
    if count * ZRANDMEMBER_SUB_STRATEGY_MUL > n:         # 3: drop random members
        picked = list(zs.order)
        rng.shuffle(picked)
        return picked[:count]
    ranks = rng.sample(range(n), count)                  # 4: pick random members
    if not zs.skiplist:
        ranks.sort()                                     # a listpack keeps its order
    return [zs.at(r) for r in ranks]


def cmd_zscan(c: Client, argv: list[bytes]) -> object:
    cursor = parse_scan_cursor(argv[2])
    zs = _read(c, argv[1])
    if zs is None:
        return EMPTY_SCAN
    count, pattern, _ = parse_scan_options(argv, 3, False)
    if not zs.skiplist:
        pairs = [(m, listpack_score_text(s)) for s, m in zs.order]
        cursor = 0
    else:
        cursor, members = cursors_for(c.server.keyspace).scan(zs, cursor, count,
                                                              (c.server.dirty,))
        pairs = [(m, format_double(s)) for m in members
                 if (s := dict.get(zs, m)) is not None]
    out: list = []
    for m, text in pairs:
        if pattern is None or stringmatch(pattern, m):
            out.append(m)
            out.append(text)
    return [b"%d" % cursor, out]


# ---- Registration ----

def register(table: CommandTable) -> None:
    def add(name: str, handler: Any, arity: int, flags: str, first: int, last: int,
            cats: str) -> None:
        table.add(name, handler, arity, flags, first, last, 1 if first else 0,
                  group="sorted_set", categories=cats)

    w_fast, w_slow = "@write @sortedset @fast", "@write @sortedset @slow"
    r_fast, r_slow = "@read @sortedset @fast", "@read @sortedset @slow"
    add("zadd", cmd_zadd, -4, "write denyoom fast", 1, 1, w_fast)
    add("zincrby", cmd_zincrby, 4, "write denyoom fast", 1, 1, w_fast)
    add("zrem", cmd_zrem, -3, "write fast", 1, 1, w_fast)
    add("zremrangebyscore", cmd_zremrangebyscore, 4, "write", 1, 1, w_slow)
    add("zremrangebyrank", cmd_zremrangebyrank, 4, "write", 1, 1, w_slow)
    add("zremrangebylex", cmd_zremrangebylex, 4, "write", 1, 1, w_slow)
    for name, handler in (("zunionstore", cmd_zunionstore), ("zinterstore", cmd_zinterstore),
                          ("zdiffstore", cmd_zdiffstore)):
        add(name, handler, -4, "write denyoom movablekeys", 1, 1, w_slow)
    for name, handler in (("zunion", cmd_zunion), ("zinter", cmd_zinter),
                          ("zintercard", cmd_zintercard), ("zdiff", cmd_zdiff)):
        add(name, handler, -3, "readonly movablekeys", 0, 0, r_slow)
    add("zrange", cmd_zrange, -4, "readonly", 1, 1, r_slow)
    add("zrangestore", cmd_zrangestore, -5, "write denyoom", 1, 2, w_slow)
    add("zrangebyscore", cmd_zrangebyscore, -4, "readonly", 1, 1, r_slow)
    add("zrevrangebyscore", cmd_zrevrangebyscore, -4, "readonly", 1, 1, r_slow)
    add("zrangebylex", cmd_zrangebylex, -4, "readonly", 1, 1, r_slow)
    add("zrevrangebylex", cmd_zrevrangebylex, -4, "readonly", 1, 1, r_slow)
    add("zcount", cmd_zcount, 4, "readonly fast", 1, 1, r_fast)
    add("zlexcount", cmd_zlexcount, 4, "readonly fast", 1, 1, r_fast)
    add("zrevrange", cmd_zrevrange, -4, "readonly", 1, 1, r_slow)
    add("zcard", cmd_zcard, 2, "readonly fast", 1, 1, r_fast)
    add("zscore", cmd_zscore, 3, "readonly fast", 1, 1, r_fast)
    add("zmscore", cmd_zmscore, -3, "readonly fast", 1, 1, r_fast)
    add("zrank", cmd_zrank, 3, "readonly fast", 1, 1, r_fast)
    add("zrevrank", cmd_zrevrank, 3, "readonly fast", 1, 1, r_fast)
    add("zscan", cmd_zscan, -3, "readonly", 1, 1, r_slow)
    add("zpopmin", cmd_zpopmin, -2, "write fast", 1, 1, w_fast)
    add("zpopmax", cmd_zpopmax, -2, "write fast", 1, 1, w_fast)
    add("zmpop", cmd_zmpop, -4, "write movablekeys", 0, 0, w_slow)
    add("bzpopmin", cmd_bzpopmin, -3, "write noscript blocking fast", 1, -2,
        w_fast + " @blocking")
    add("bzpopmax", cmd_bzpopmax, -3, "write noscript blocking fast", 1, -2,
        w_fast + " @blocking")
    add("bzmpop", cmd_bzmpop, -5, "write blocking movablekeys", 0, 0, w_slow + " @blocking")
    add("zrandmember", cmd_zrandmember, -2, "readonly", 1, 1, r_slow)
