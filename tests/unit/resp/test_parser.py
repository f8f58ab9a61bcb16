"""RequestParser: both engines give the same commands and Redis's errors."""

from __future__ import annotations

import random

import pytest

from redkeep.resp.parser import ProtocolError, RequestParser, parse_ll


def parse_all(chunks: list[bytes], **kw: object) -> list[object]:
    p = RequestParser(**kw)  # type: ignore[arg-type]
    out: list[object] = []
    try:
        for chunk in chunks:
            p.feed(chunk)
            while (cmd := p.next_command()) is not None:
                out.append(cmd)
    except ProtocolError as e:
        out.append(("error", e.reply))
    return out


@pytest.mark.parametrize("use_hiredis", [True, False])
def test_multibulk_and_inline_mixed(use_hiredis: bool) -> None:
    data = b"*2\r\n$3\r\nGET\r\n$1\r\na\r\nPING\r\n*1\r\n$4\r\nPING\r\nSET a \"b c\"\r\n"
    assert parse_all([data], use_hiredis=use_hiredis) == [
        [b"GET", b"a"], [b"PING"], [b"PING"], [b"SET", b"a", b"b c"]]


@pytest.mark.parametrize("use_hiredis", [True, False])
def test_every_split_point_gives_the_same_commands(use_hiredis: bool) -> None:
    cmds = [[b"SET", b"key%d" % i, b"v" * i] for i in range(20)] + [[b"PING"]]
    data = b"".join(b"*%d\r\n" % len(c) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in c)
                    for c in cmds)
    for split in range(1, len(data)):
        assert parse_all([data[:split], data[split:]], use_hiredis=use_hiredis) == cmds


def test_random_chunking_matches_pure_engine() -> None:
    rng = random.Random(7)
    cmds = [[bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
             for _ in range(rng.randrange(1, 6))] for _ in range(200)]
    data = b"".join(b"*%d\r\n" % len(c) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in c)
                    for c in cmds)
    for _ in range(20):
        chunks, i = [], 0
        while i < len(data):
            n = rng.randrange(1, 300)
            chunks.append(data[i:i + n])
            i += n
        assert parse_all(chunks) == cmds


@pytest.mark.parametrize("data,error", [
    (b"*1\r\n:5\r\n", "ERR Protocol error: expected '$', got ':'"),
    (b"*1\r\n+PING\r\n", "ERR Protocol error: expected '$', got '+'"),
    (b"*1\r\n$600000000\r\n", "ERR Protocol error: invalid bulk length"),
    (b"*1\r\n$-1\r\n", "ERR Protocol error: invalid bulk length"),
    (b"*1\r\n$01\r\nx\r\n", "ERR Protocol error: invalid bulk length"),
    (b"*01\r\n", "ERR Protocol error: invalid multibulk length"),
    (b"*3000000000\r\n", "ERR Protocol error: invalid multibulk length"),
    (b"*x\r\n", "ERR Protocol error: invalid multibulk length"),
    (b'SET "a b\r\n', "ERR Protocol error: unbalanced quotes in request"),
    (b"x" * 70000, "ERR Protocol error: too big inline request"),
    (b"*" + b"1" * 70000, "ERR Protocol error: too big mbulk count string"),
    (b"*1\r\n$" + b"1" * 70000, "ERR Protocol error: too big bulk count string"),
])
@pytest.mark.parametrize("use_hiredis", [True, False])
def test_protocol_errors(data: bytes, error: str, use_hiredis: bool) -> None:
    assert parse_all([data], use_hiredis=use_hiredis)[-1] == ("error", error)


def test_commands_before_an_error_are_returned() -> None:
    out = parse_all([b"*1\r\n$4\r\nPING\r\n*1\r\n:1\r\n"])
    assert out == [[b"PING"], ("error", "ERR Protocol error: expected '$', got ':'")]


def test_unauthenticated_limits() -> None:
    p = RequestParser()
    p.authenticated = False
    p.feed(b"*20\r\n")
    with pytest.raises(ProtocolError, match="unauthenticated multibulk length"):
        p.next_command()
    p = RequestParser()
    p.authenticated = False
    p.feed(b"*1\r\n$20000\r\n")
    with pytest.raises(ProtocolError, match="unauthenticated bulk length"):
        p.next_command()


def test_authentication_applies_to_the_next_command_of_a_batch() -> None:
    p = RequestParser()
    p.authenticated = False
    big = b"*12\r\n" + b"$1\r\nx\r\n" * 12
    p.feed(b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n" + big)
    assert p.next_command() == [b"AUTH", b"pw"]
    p.authenticated = True
    assert p.next_command() == [b"x"] * 12


def test_empty_commands_are_skipped() -> None:
    assert parse_all([b"*0\r\n*-1\r\n\r\n\n  \r\nPING\r\n"]) == [[b"PING"]]


def test_query_buffer_limit_closes_silently() -> None:
    p = RequestParser(max_query_buffer=1000)
    p.feed(b"*1\r\n$5000\r\n" + b"x" * 2000)
    with pytest.raises(ProtocolError) as e:
        p.next_command()
    assert e.value.reply is None


def test_large_argument() -> None:
    value = b"v" * (3 * 1024 * 1024)
    data = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n%s\r\n" % (len(value), value)
    chunks = [data[i:i + 65536] for i in range(0, len(data), 65536)]
    assert parse_all(chunks) == [[b"SET", b"k", value]]


@pytest.mark.parametrize("text,value", [
    (b"0", 0), (b"-1", -1), (b"9223372036854775807", 2**63 - 1),
    (b"-9223372036854775808", -2**63), (b"01", None), (b"+1", None), (b" 1", None),
    (b"9223372036854775808", None), (b"", None), (b"-", None), (b"-0", None), (b"1_0", None),
])
def test_parse_ll_is_strict_like_string2ll(text: bytes, value: int | None) -> None:
    assert parse_ll(text) == value


def test_huge_multibulk_count_is_answered_at_once() -> None:
    # hiredis would pre-size a 3e9-element array and take ages to drop it.
    import time

    start = time.monotonic()
    assert parse_all([b"*3000000000\r\n"]) == [
        ("error", "ERR Protocol error: invalid multibulk length")]
    assert parse_all([b"*1\r\n$4\r\nPING\r\n*2000000000\r\n"]) == [[b"PING"]]
    assert time.monotonic() - start < 1.0
