"""redkeep.server.glob.stringmatch against Redis's stringmatchlen() semantics.

The explicit cases were checked against real redis-server 7.0.15 (KEYS for case-sensitive
matching). The property test compares with `reference_match`, a line-by-line port of the C
function, on random patterns rich in special characters.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redkeep.server.glob import stringmatch


def reference_match(pattern: bytes, string: bytes, nocase: bool = False) -> bool:
    """Line-by-line port of Redis 7.0's stringmatchlen_impl() (util.c), as an oracle."""

    def lower(c: int) -> int:
        return c + 32 if 65 <= c <= 90 else c

    def signed(b: int) -> int:
        return b - 256 if b >= 128 else b

    p = pattern + b"\0\0\0"  # C reads past the end of the pattern and sees NULs
    s = string

    def rec(pi: int, plen: int, si: int, slen: int, skip: list[bool]) -> bool:
        while plen and slen:
            c = p[pi]
            if c == 0x2A:  # '*'
                while plen and p[pi + 1] == 0x2A:
                    pi, plen = pi + 1, plen - 1
                if plen == 1:
                    return True
                while slen:
                    if rec(pi + 1, plen - 1, si, slen, skip):
                        return True
                    if skip[0]:
                        return False
                    si, slen = si + 1, slen - 1
                skip[0] = True
                return False
            elif c == 0x3F:  # '?'
                si, slen = si + 1, slen - 1
            elif c == 0x5B:  # '['
                pi, plen = pi + 1, plen - 1
                negate = p[pi] == 0x5E
                if negate:
                    pi, plen = pi + 1, plen - 1
                match = False
                while True:
                    if p[pi] == 0x5C and plen >= 2:
                        pi, plen = pi + 1, plen - 1
                        match |= p[pi] == s[si]
                    elif p[pi] == 0x5D:
                        break
                    elif plen == 0:
                        pi, plen = pi - 1, plen + 1
                        break
                    elif plen >= 3 and p[pi + 1] == 0x2D:
                        start, end, ch = signed(p[pi]), signed(p[pi + 2]), signed(s[si])
                        if start > end:
                            start, end = end, start
                        if nocase:
                            start, end, ch = lower(start), lower(end), lower(ch)
                        pi, plen = pi + 2, plen - 2
                        match |= start <= ch <= end
                    elif nocase:
                        match |= lower(p[pi]) == lower(s[si])
                    else:
                        match |= p[pi] == s[si]
                    pi, plen = pi + 1, plen - 1
                if negate:
                    match = not match
                if not match:
                    return False
                si, slen = si + 1, slen - 1
            else:
                if c == 0x5C and plen >= 2:
                    pi, plen = pi + 1, plen - 1
                same = lower(p[pi]) == lower(s[si]) if nocase else p[pi] == s[si]
                if not same:
                    return False
                si, slen = si + 1, slen - 1
            pi, plen = pi + 1, plen - 1
            if slen == 0:
                while p[pi] == 0x2A:
                    pi, plen = pi + 1, plen - 1
                break
        return plen == 0 and slen == 0

    return rec(0, len(pattern), 0, len(string), [False])


CASES = [
    # (pattern, string, nocase, expected)
    (b"*", b"anything", False, True),
    (b"*", b"", False, False),  # the C loop never runs on an empty string
    (b"**", b"", False, False),
    (b"", b"", False, True),
    (b"", b"a", False, False),
    (b"a*", b"a", False, True),
    (b"*a", b"a", False, True),
    (b"a**b", b"axxb", False, True),
    (b"h?llo", b"hello", False, True),
    (b"h?llo", b"hllo", False, False),
    (b"h*llo", b"heeeello", False, True),
    (b"h[ae]llo", b"hallo", False, True),
    (b"h[ae]llo", b"hillo", False, False),
    (b"h[^e]llo", b"hallo", False, True),
    (b"h[^e]llo", b"hello", False, False),
    (b"h[a-b]llo", b"hbllo", False, True),
    (b"h[b-a]llo", b"hallo", False, True),  # reversed range
    (b"[a-]", b"-", False, False),  # 'a-]' is a range a..']'; the class is unterminated
    (b"[a-]", b"_", False, True),  # '_' (0x5f) lies between ']' and 'a'
    (b"[a-", b"-", False, True),  # too short for a range: literals 'a' and '-'
    (b"[abc", b"b", False, True),  # unterminated class takes the rest of the pattern
    (b"[abc", b"bc", False, False),
    (b"[", b"a", False, False),
    (b"[^", b"a", False, True),
    (b"[]", b"]", False, False),  # ']' right after '[' closes an empty class
    (b"[]]", b"]", False, False),
    (b"[^]x", b"yx", False, True),
    (b"[\\]]", b"]", False, True),
    (b"[\\", b"\\", False, True),
    (b"\\*", b"*", False, True),
    (b"\\*", b"a", False, False),
    (b"a\\", b"a\\", False, True),  # trailing backslash is literal
    (b"\\?x", b"?x", False, True),
    (b"HELLO", b"hello", True, True),
    (b"HELLO", b"hello", False, False),
    (b"[A-C]x", b"bx", True, True),
    (b"[Z-a]", b"z", True, False),  # nocase lowers the bounds after ordering: 'z'..'a' is empty
    (b"[Z-a]", b"_", False, True),
    (b"[\\A]", b"a", True, False),  # an escaped class member compares case-sensitively
    (b"[A]", b"a", True, True),
    (b"[a-\xff]", b"\xff", False, True),  # signed char: 0xff is -1, so the range is -1..'a'
    (b"[a-\xff]", b"\x80", False, False),  # 0x80 is -128, below -1
    (b"[a-\xff]", b"\x7f", False, False),
    (b"[\x01-\x80]", b"\x90", False, True),  # 0x80 is -128: the range is -128..1
    (b"[\x01-\x80]", b"\x02", False, False),
    (b"a?c", b"a\nc", False, True),
    (b"a*c", b"a\x00\nc", False, True),
    (b"*a*a*a*a*a*b", b"a" * 4000, False, False),  # no exponential backtracking
    (b"*a*a*a*a*a*", b"a" * 4000, False, True),
]


@pytest.mark.parametrize(("pattern", "string", "nocase", "expected"), CASES)
def test_known_cases(pattern: bytes, string: bytes, nocase: bool, expected: bool) -> None:
    assert stringmatch(pattern, string, nocase) is expected
    assert reference_match(pattern, string, nocase) is expected


PATTERN_BYTES = st.sampled_from(list(b"ab*?[]^-\\Az\x80\xff"))
STRING_BYTES = st.sampled_from(list(b"abAz-]^\\*\x80\xff\n"))


@settings(max_examples=1500, deadline=None)
@given(
    pattern=st.lists(PATTERN_BYTES, max_size=8).map(bytes),
    string=st.lists(STRING_BYTES, max_size=7).map(bytes),
    nocase=st.booleans(),
)
def test_matches_reference_implementation(pattern: bytes, string: bytes, nocase: bool) -> None:
    assert stringmatch(pattern, string, nocase) == reference_match(pattern, string, nocase)


@settings(max_examples=300, deadline=None)
@given(pattern=st.binary(max_size=12), string=st.binary(max_size=12), nocase=st.booleans())
def test_matches_reference_on_arbitrary_bytes(pattern: bytes, string: bytes, nocase: bool) -> None:
    assert stringmatch(pattern, string, nocase) == reference_match(pattern, string, nocase)


def test_repeated_patterns_are_compiled_once() -> None:
    from redkeep.server import glob

    glob._compile.cache_clear()
    for i in range(100):
        stringmatch(b"user:*:name", b"user:%d:name" % i)
    info = glob._compile.cache_info()
    assert info.misses == 1 and info.hits == 99
