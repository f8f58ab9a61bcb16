"""Glob-style pattern matching with the exact semantics of Redis's ``stringmatchlen()``.

Theory of operation
-------------------
Redis matches KEYS/SCAN MATCH patterns, PSUBSCRIBE patterns, CONFIG GET patterns and ACL
key patterns with one small hand-written matcher (util.c). Its language is glob-like:

* ``*`` any run of bytes (consecutive stars act as one), ``?`` exactly one byte;
* ``[abc]`` one byte from the set, ``[^abc]`` one byte not in it, ``[a-z]`` a range, with a
  reversed range ``[z-a]`` meaning the same as ``[a-z]``, and ``\\x`` inside a class meaning
  the literal byte ``x`` (compared case-sensitively even in nocase mode);
* ``\\x`` outside a class is the literal ``x`` (a trailing lone ``\\`` is a literal backslash);
* an unterminated ``[`` takes the rest of the pattern as its set (``"[ab"`` matches ``"a"``),
  and a ``]`` right after ``[`` or ``[^`` closes an empty set;
* range bounds are compared as C's signed ``char``: bytes >= 0x80 sort below ``\\x00``;
* the empty string is matched only by the empty pattern (``"*"`` does not match ``b""``:
  the C loop never runs when the string is empty).

Rather than interpreting the pattern for every string, :func:`stringmatch` translates it
once into a compiled :mod:`re` pattern (cached per ``(pattern, nocase)``). Parsing mirrors
the C loop token by token, so each token becomes a *set of bytes* computed by evaluating the
C predicate for all 256 byte values; all quirks above thus carry over by construction.

Because every non-star token consumes exactly one byte, a pattern is
``seg0 * seg1 * ... * segN`` with fixed-width segments, and placing each middle segment at
its leftmost possible position is always optimal. The regex encodes that with atomic lazy
groups ``(?>.*?seg)`` so matching never backtracks exponentially, the same guarantee the C
code gets from its ``skipLongerMatches`` shortcut.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["stringmatch"]

_ALL_BYTES = frozenset(range(256))
_STAR = None  # token marker: a '*' (any run of bytes)


def stringmatch(pattern: bytes, string: bytes, nocase: bool = False) -> bool:
    """True when ``string`` matches the glob ``pattern`` exactly as Redis would decide."""
    if not string:
        return not pattern
    return _compile(pattern, nocase)(string) is not None


# ---- Pattern parsing (mirrors stringmatchlen's walk over the pattern) ----


def _lower(c: int) -> int:
    """C ``tolower`` in the C locale on a (signed or unsigned) char value."""
    return c + 32 if 65 <= c <= 90 else c


def _signed(b: int) -> int:
    return b - 256 if b >= 128 else b


def _literal_set(p: int, nocase: bool) -> frozenset[int]:
    if not nocase:
        return frozenset((p,))
    lp = _lower(p)
    return frozenset(c for c in range(256) if _lower(c) == lp)


def _range_set(a: int, b: int, nocase: bool) -> frozenset[int]:
    start, end = _signed(a), _signed(b)
    if start > end:
        start, end = end, start
    if nocase:
        start, end = _lower(start), _lower(end)
    members = set()
    for c in range(256):
        sc = _lower(_signed(c)) if nocase else _signed(c)
        if start <= sc <= end:
            members.add(c)
    return frozenset(members)


def _parse_class(p: bytes, i: int, nocase: bool) -> tuple[frozenset[int], int]:
    """Parse a ``[...]`` class whose body starts at ``p[i]``.

    Returns the set of matching bytes and the index of the last pattern byte the class
    consumed (the closing ``]``, or the final byte when the class is unterminated).
    """
    n = len(p)
    negate = i < n and p[i] == 0x5E  # '^'
    if negate:
        i += 1
    members: set[int] = set()
    while True:
        if i < n and p[i] == 0x5C and n - i >= 2:  # '\\' escape: exact byte
            i += 1
            members.add(p[i])
        elif i < n and p[i] == 0x5D:  # ']'
            break
        elif i >= n:  # unterminated: C steps back onto the last byte
            i -= 1
            break
        elif n - i >= 3 and p[i + 1] == 0x2D:  # 'a-z'
            members |= _range_set(p[i], p[i + 2], nocase)
            i += 2
        else:
            members |= _literal_set(p[i], nocase)
        i += 1
    result = frozenset(members)
    return (_ALL_BYTES - result if negate else result), i


def _tokens(p: bytes, nocase: bool) -> list[frozenset[int] | None]:
    """Pattern -> list of byte sets (one byte each) and ``_STAR`` markers (collapsed)."""
    out: list[frozenset[int] | None] = []
    i, n = 0, len(p)
    while i < n:
        c = p[i]
        if c == 0x2A:  # '*'
            if not out or out[-1] is not _STAR:
                out.append(_STAR)
        elif c == 0x3F:  # '?'
            out.append(_ALL_BYTES)
        elif c == 0x5B:  # '['
            members, i = _parse_class(p, i + 1, nocase)
            out.append(members)
        elif c == 0x5C and n - i >= 2:  # '\\' escape
            i += 1
            out.append(_literal_set(p[i], nocase))
        else:
            out.append(_literal_set(c, nocase))
        i += 1
    return out


# ---- Regex construction ----


def _byte_class(members: frozenset[int]) -> bytes:
    if len(members) == 256:
        return b"."
    if not members:
        return b"(?!)"
    if len(members) == 1:
        return re.escape(bytes(members))
    parts = []
    ordered = sorted(members)
    start = prev = ordered[0]
    for b in ordered[1:] + [-2]:
        if b == prev + 1:
            prev = b
            continue
        parts.append(b"\\x%02x" % start if start == prev else b"\\x%02x-\\x%02x" % (start, prev))
        start = prev = b
    return b"[" + b"".join(parts) + b"]"


def _to_regex(tokens: list[frozenset[int] | None]) -> bytes:
    segments: list[bytes] = [b""]
    for tok in tokens:
        if tok is _STAR:
            segments.append(b"")
        else:
            segments[-1] += _byte_class(tok)
    if len(segments) == 1:
        return segments[0]
    head, *middle, tail = segments
    body = b"".join(b"(?>.*?" + seg + b")" for seg in middle)
    return head + body + b".*" + tail


@lru_cache(maxsize=4096)
def _compile(pattern: bytes, nocase: bool):  # -> Callable[[bytes], re.Match | None]
    return re.compile(_to_regex(_tokens(pattern, nocase)), re.DOTALL).fullmatch
