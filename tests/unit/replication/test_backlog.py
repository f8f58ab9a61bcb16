"""Backlog: offsets numbered from 1, trimming to `size`, can_serve/read_from bounds."""

from __future__ import annotations

import random

from redkeep.replication.backlog import Backlog

MIN = 16 * 1024


def test_empty_backlog_serves_only_the_next_byte() -> None:
    b = Backlog(MIN, start_offset=100)
    assert b.histlen == 0 and b.end_offset == 100 and b.first_offset == 101
    assert b.can_serve(101)
    assert not b.can_serve(100) and not b.can_serve(102)
    assert b.read_from(101) == b""


def test_offsets_count_from_one() -> None:
    b = Backlog(MIN, start_offset=0)
    b.append(b"abc")
    b.append(b"")          # nothing appended, nothing counted
    b.append(b"defg")
    assert (b.first_offset, b.end_offset, b.histlen) == (1, 7, 7)
    assert b.read_from(1) == b"abcdefg"
    assert b.read_from(4) == b"defg"
    assert b.read_from(5) == b"efg"
    assert b.read_from(8) == b""
    assert b.can_serve(1) and b.can_serve(8)
    assert not b.can_serve(0) and not b.can_serve(9)


def test_size_has_redis_minimum() -> None:
    assert Backlog(1, 0).size == MIN
    b = Backlog(MIN * 4, 0)
    b.resize(10)
    assert b.size == MIN


def test_trim_keeps_exactly_the_last_size_bytes() -> None:
    b = Backlog(MIN, start_offset=0)
    data = bytes(random.Random(1).randrange(256) for _ in range(3 * MIN + 123))
    # odd-sized chunks so trimming cuts inside a chunk
    pos = 0
    rnd = random.Random(2)
    while pos < len(data):
        n = rnd.randint(1, 5000)
        b.append(data[pos:pos + n])
        pos += n
    assert b.histlen == MIN
    assert b.end_offset == len(data)
    assert b.first_offset == len(data) - MIN + 1
    assert b.read_from(b.first_offset) == data[-MIN:]
    assert not b.can_serve(b.first_offset - 1)
    assert b.can_serve(b.first_offset) and b.can_serve(b.end_offset + 1)
    for off in (b.first_offset, b.first_offset + 1, len(data) - 10, len(data) + 1):
        assert b.read_from(off) == data[off - 1:]


def test_resize_smaller_trims_and_larger_keeps() -> None:
    b = Backlog(MIN * 2, start_offset=50)
    b.append(b"x" * (MIN * 2))
    assert b.histlen == MIN * 2
    b.resize(MIN)
    assert b.histlen == MIN and b.end_offset == 50 + 2 * MIN
    b.resize(MIN * 8)
    assert b.histlen == MIN
    b.append(b"y" * MIN)
    assert b.histlen == 2 * MIN
    assert b.read_from(b.end_offset - 2) == b"yyy"


def test_start_offset_continues_an_existing_history() -> None:
    """A replica creating its backlog after a full sync at offset N: next byte is N+1."""
    b = Backlog(MIN, start_offset=12345)
    b.append(b"*1\r\n$4\r\nPING\r\n")
    assert b.first_offset == 12346 and b.end_offset == 12345 + 14
    assert b.can_serve(12346) and not b.can_serve(12345)


def test_lazy_trim_answers_for_exactly_size_bytes_at_every_step() -> None:
    """Trimming waits for `slack` extra bytes, but histlen, first_offset, can_serve and
    read_from always describe the last `size` bytes; memory stays under size + slack."""
    b = Backlog(MIN, start_offset=7)
    data = b""
    rnd = random.Random(3)
    for i in range(3000):
        chunk = bytes([i % 256]) * rnd.randint(1, 40)
        b.append(chunk)
        data += chunk
        window = data[-MIN:]
        assert b.histlen == len(window) and b.first_offset == 7 + len(data) - len(window) + 1
        assert b.held <= b.size + b.slack
        if i % 97 == 0:
            assert b.read_from(b.first_offset) == window
            assert not b.can_serve(b.first_offset - 1) or len(data) <= MIN
