"""Streams as far as redkeep implements them (XADD XRANGE XREVRANGE XLEN XDEL XTRIM),
compared byte for byte with real redis-server. Explicit IDs keep replies deterministic."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.interop


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def d(request, diff):
    diff.run("HELLO", request.param)
    return diff


def test_xadd_ids_and_errors(d) -> None:
    for args in [
        ("XADD", "s", "1-1", "a", "1"), ("XADD", "s", "1-1", "a", "1"),
        ("XADD", "s", "0-0", "a", "1"), ("XADD", "s", "5", "a", "1", "b", "2"),
        ("XADD", "s", "5-*", "c", "3"), ("XADD", "s", "4-*", "c", "3"),
        ("XADD", "s", "abc", "a", "1"), ("XADD", "s", "1-x", "a", "1"),
        ("XADD", "s", "9-9", "a"), ("XADD", "s", "9-9"),
        ("XADD", "s", "LIMIT", "5", "MAXLEN", "1", "9-9", "a", "b"),
        ("XADD", "s", "MAXLEN", "-1", "9-9", "a", "b"),
        ("XADD", "nos", "NOMKSTREAM", "*", "a", "b"), ("EXISTS", "nos"),
        ("XLEN", "s"), ("TYPE", "s"), ("OBJECT", "ENCODING", "s"),
        ("SET", "str", "x"), ("XADD", "str", "1-1", "a", "b"), ("XLEN", "str"),
    ]:
        d.run(*args)


def test_xrange_xrevrange(d) -> None:
    for i in range(1, 8):
        d.run("XADD", "s", f"{i}-{i}", "f", str(i), "g", "x" * i)
    for args in [
        ("XRANGE", "s", "-", "+"), ("XREVRANGE", "s", "+", "-"),
        ("XRANGE", "s", "3", "5"), ("XRANGE", "s", "(3-3", "(6-6"),
        ("XREVRANGE", "s", "(6-6", "(2-2", "COUNT", "2"), ("XRANGE", "s", "-", "+", "COUNT", "0"),
        ("XRANGE", "s", "-", "+", "COUNT", "-3"), ("XRANGE", "s", "5", "3"),
        ("XRANGE", "s", "-", "+", "COUNT"), ("XRANGE", "s", "x", "+"),
        ("XRANGE", "s", "(18446744073709551615-18446744073709551615", "+"),
        ("XRANGE", "missing", "-", "+"), ("XRANGE", "s", "-", "+", "LIMIT", "1"),
    ]:
        d.run(*args)


def test_xdel_xtrim_and_maxlen(d) -> None:
    for i in range(1, 21):
        d.run("XADD", "s", "MAXLEN", "15", f"{i}-0", "n", str(i))
    for args in [
        ("XLEN", "s"), ("XRANGE", "s", "-", "+", "COUNT", "2"),
        ("XDEL", "s", "7-0", "8-0", "99-0"), ("XLEN", "s"),
        ("XTRIM", "s", "MAXLEN", "10"), ("XTRIM", "s", "MINID", "14"),
        ("XTRIM", "s", "MAXLEN", "~", "2"), ("XTRIM", "s", "MAXLEN", "5", "LIMIT", "2"),
        ("XTRIM", "s", "BOGUS", "5"), ("XRANGE", "s", "-", "+"),
        ("XADD", "s", "MAXLEN", "~", "1", "30-0", "a", "b"), ("XLEN", "s"),
        ("XTRIM", "missing", "MAXLEN", "0"), ("XDEL", "missing", "1-1"),
        ("XTRIM", "s", "MAXLEN", "0"), ("XLEN", "s"), ("EXISTS", "s"),
    ]:
        d.run(*args)


def test_stream_digest_matches(d) -> None:
    for i in range(1, 6):
        d.run("XADD", "s", f"{i}-1", "k", "v" * i)
    d.run("XDEL", "s", "2-1")
    d.run("DEBUG", "DIGEST-VALUE", "s")
    d.run("DEBUG", "DIGEST")
