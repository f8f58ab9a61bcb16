"""Redis's `sdssplitargs`: split a line into arguments the way redis-cli, inline
commands and redis.conf do.

Rules: arguments are separated by whitespace; a double-quoted part understands
\\n \\r \\t \\b \\a \\xHH and backslash-anything; a single-quoted part understands only
\\'; a closing quote must be followed by whitespace or the end of the line; quotes may
start in the middle of an argument (a"b c" is one argument `ab c`). Returns None on
unbalanced quotes, as Redis does.
"""

from __future__ import annotations

_SPACE = frozenset(b" \n\r\t\v\f")      # isspace(): skipped between arguments
_TOKEN_END = frozenset(b" \n\r\t")        # what ends an unquoted argument
_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}
_HEX = frozenset(b"0123456789abcdefABCDEF")


def split_args(line: bytes) -> list[bytes] | None:
    nul = line.find(b"\0")
    if nul >= 0:  # a C string ends at NUL
        line = line[:nul]
    args: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _SPACE:
            i += 1
        if i >= n:
            return args
        token = bytearray()
        i = _read_token(line, i, n, token)
        if i < 0:
            return None
        args.append(bytes(token))


def _read_token(line: bytes, i: int, n: int, token: bytearray) -> int:
    """Read one argument starting at i into token; return the next index or -1."""
    while i < n:
        c = line[i]
        if c == 34:  # "
            i = _read_double_quoted(line, i + 1, n, token)
            if i < 0:
                return -1
        elif c == 39:  # '
            i = _read_single_quoted(line, i + 1, n, token)
            if i < 0:
                return -1
        elif c in _TOKEN_END:
            return i
        else:
            token.append(c)
            i += 1
            continue
        # after a closing quote: must be followed by a space or the end
        if i < n and line[i] not in _SPACE:
            return -1
        return i
    return i


def _read_double_quoted(line: bytes, i: int, n: int, token: bytearray) -> int:
    while i < n:
        c = line[i]
        if c == 92 and i + 3 < n and line[i + 1] == 120 and line[i + 2] in _HEX \
                and line[i + 3] in _HEX:
            token.append(int(line[i + 2:i + 4], 16))
            i += 4
        elif c == 92 and i + 1 < n:
            nxt = line[i + 1]
            token.append(_ESCAPES.get(nxt, nxt))
            i += 2
        elif c == 34:
            return i + 1
        else:
            token.append(c)
            i += 1
    return -1


def _read_single_quoted(line: bytes, i: int, n: int, token: bytearray) -> int:
    while i < n:
        c = line[i]
        if c == 92 and i + 1 < n and line[i + 1] == 39:
            token.append(39)
            i += 2
        elif c == 39:
            return i + 1
        else:
            token.append(c)
            i += 1
    return -1
