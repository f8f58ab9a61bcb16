"""Self-checks of the harness: RESP framing, normalizers, and that DiffPair does fail
when two servers really answer differently (two real redis-servers configured apart)."""

from __future__ import annotations

import os

import pytest

from support.differential import DiffMismatch, DiffPair, norm_scan, norm_ttl_seconds
from support.procs import ServerProc, free_port, ping, require_binary
from support.resp import (
    Frame,
    ProtocolViolation,
    RawConn,
    encode,
    encode_command,
    frame_end,
    parse,
    parse_python,
)

SAMPLES = [
    b"+OK\r\n", b"-ERR x\r\n", b":-12\r\n", b"$-1\r\n", b"$0\r\n\r\n", b"$3\r\na\r\n\r\n",
    b"*-1\r\n", b"*0\r\n", b"*2\r\n$1\r\na\r\n:1\r\n", b"_\r\n", b"#t\r\n", b",3.5\r\n",
    b"(123456789012345678901234567890\r\n", b"=7\r\ntxt:abc\r\n", b"!3\r\nERR\r\n",
    b"%1\r\n+k\r\n*1\r\n_\r\n", b"~2\r\n:1\r\n:2\r\n", b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n",
    b"|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n",
]


@pytest.mark.parametrize("raw", SAMPLES)
def test_frame_end_and_round_trip(raw):
    assert frame_end(raw) == len(raw)
    assert frame_end(raw + b"+NEXT\r\n") == len(raw)
    for cut in range(len(raw)):
        assert frame_end(raw[:cut]) is None, cut
    assert encode(parse(raw)) == raw


def test_parse_python_values():
    assert parse_python(b"*3\r\n+a\r\n$-1\r\n:5\r\n") == ["a", None, 5]
    assert parse_python(b"%1\r\n$1\r\nk\r\n,1.5\r\n") == {b"k": 1.5}
    with pytest.raises(ProtocolViolation):
        frame_end(b"?what\r\n")
    assert encode_command("SET", b"k\x00", 5) == b"*3\r\n$3\r\nSET\r\n$2\r\nk\x00\r\n$1\r\n5\r\n"


def test_normalizers_erase_only_nondeterminism():
    a, b = norm_ttl_seconds((b"TTL",), Frame(":", 99), Frame(":", 100))
    assert a == b
    a, b = norm_ttl_seconds((b"TTL",), Frame(":", 98), Frame(":", 100))
    assert a != b
    a, b = norm_ttl_seconds((b"TTL",), Frame(":", -1), Frame(":", -2))
    assert a != b
    scan = lambda cur, *xs: Frame("*", [Frame("$", cur), Frame("*", [Frame("$", x) for x in xs])])  # noqa: E731
    a, b = norm_scan((b"SCAN", b"0"), scan(b"0", b"x", b"y"), scan(b"0", b"y", b"x"))
    assert a == b
    a, b = norm_scan((b"SCAN", b"0"), scan(b"0", b"x"), scan(b"17", b"x"))
    assert a != b


@pytest.fixture(scope="module")
def two_different_redis(tmp_path_factory):
    """Two real redis-servers that differ on purpose (databases, proto-max-bulk-len)."""
    require_binary("redis-server")
    a = ServerProc("redis", ["--databases", "4"], dir=tmp_path_factory.mktemp("a"))
    b = ServerProc("redis", ["--databases", "16"], dir=tmp_path_factory.mktemp("b"))
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()


@pytest.mark.interop
def test_diffpair_detects_a_difference(two_different_redis):
    a, b = two_different_redis
    with DiffPair(a.port, b.port) as d:
        d.run("SELECT", "1")
        d.run("CLIENT", "ID")  # normalized
        d.run("SET", "k", "v", "EX", "100")
        d.run("TTL", "k")
        d.pipeline([("SET", f"key:{i}", i) for i in range(300)])
        assert len(d.scan_all("MATCH", "key:*", "COUNT", 7)) == 300
        d.run("SADD", "s", *range(100))
        assert len(d.scan_all("s", command="SSCAN")) == 100
        d.rk.call("SET", "key:only-on-one-side", "x")
        with pytest.raises(DiffMismatch, match="only-on-one-side"):
            d.scan_all("MATCH", "key:*")
        with pytest.raises(DiffMismatch, match="SELECT 10") as e:
            d.run("SELECT", "10")
        assert "redkeep: b'-ERR DB index is out of range" in str(e.value)


@pytest.mark.interop
def test_diffpair_push_frames_and_close(two_different_redis):
    a, b = two_different_redis
    with DiffPair(a.port, b.port) as d, DiffPair(a.port, b.port) as pub:
        d.run("HELLO", "3")
        assert d.run("SUBSCRIBE", "ch").redis.startswith(b">3\r\n")
        pub.run("PUBLISH", "ch", "hello")
        r = d.read("push")
        assert r.redis == b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n"
        d.run("QUIT")
        d.expect_closed()


@pytest.mark.interop
def test_server_proc_lifecycle(tmp_path):
    with ServerProc("redis", dir=tmp_path) as s:
        pid, port = s.pid, s.port
        assert ping(port)
        with RawConn(port) as c:
            assert c.call("CONFIG", "GET", "save") == b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n"
            assert c.call("DEBUG", "SLEEP", "0") == b"+OK\r\n"  # --enable-debug-command
    assert not s.alive()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped and reaped
    # a server that cannot start reports its log
    bad = ServerProc("redis", ["--no-such-option", "1"], dir=tmp_path / "bad", port=free_port(),
                     start_timeout=10)
    with pytest.raises(RuntimeError, match="no-such-option"):
        bad.start()
