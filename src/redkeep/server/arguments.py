"""Argument parsing with Redis's strictness (string2ll, strtold rules) and error texts."""

from __future__ import annotations

import math

from redkeep.resp.parser import parse_ll
from redkeep.server.errors import NOT_FLOAT, NOT_INTEGER, CommandError

_FLOAT_OK = frozenset(b"0123456789+-.eE")


def parse_int(arg: bytes, error: str = NOT_INTEGER) -> int:
    v = parse_ll(arg)
    if v is None:
        raise CommandError(error)
    return v


def parse_float(arg: bytes, error: str = NOT_FLOAT, allow_nan: bool = False) -> float:
    """Like Redis's string2ld/strtod: no spaces, no underscores, inf allowed, nan refused."""
    if not arg or len(arg) > 5000:
        raise CommandError(error)
    low = arg.lower()
    if low in (b"inf", b"+inf", b"infinity", b"+infinity"):
        return math.inf
    if low in (b"-inf", b"-infinity"):
        return -math.inf
    if not all(b in _FLOAT_OK for b in arg):
        if allow_nan and low == b"nan":
            return math.nan
        raise CommandError(error)
    try:
        v = float(arg)
    except ValueError:
        raise CommandError(error) from None
    if math.isnan(v):
        raise CommandError(error)
    return v


def parse_positive_timeout(arg: bytes) -> float:
    """Blocking-command timeouts: seconds as a float, >= 0."""
    try:
        v = parse_float(arg, "ERR timeout is not a float or out of range")
    except CommandError:
        raise
    if v < 0:
        raise CommandError("ERR timeout is negative")
    return v


def rank_bounds(start: int, end: int, n: int) -> tuple[int, int] | None:
    """LRANGE/ZRANGE index clamping (addListRangeReply, zrangeGenericCommand): negative
    indexes count from the end; (first, last) inclusive, or None when the range is empty."""
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if start > end or start >= n:
        return None
    return start, min(end, n - 1)
