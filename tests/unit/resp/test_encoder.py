from __future__ import annotations

import math

from redkeep.resp.encoder import encode
from redkeep.resp.splitargs import split_args
from redkeep.resp.types import (
    OK,
    Bool,
    Double,
    ErrorReply,
    Map,
    NullArray,
    Push,
    SetReply,
    Status,
    Verbatim,
)


def test_resp2_shapes() -> None:
    assert encode(b"x") == b"$1\r\nx\r\n"
    assert encode(5) == b":5\r\n"
    assert encode(None) == b"$-1\r\n"
    assert encode(NullArray) == b"*-1\r\n"
    assert encode(OK) == b"+OK\r\n"
    assert encode([b"a", 1, None]) == b"*3\r\n$1\r\na\r\n:1\r\n$-1\r\n"
    assert encode(Map([(b"k", 1)])) == b"*2\r\n$1\r\nk\r\n:1\r\n"
    assert encode(Double(1.5)) == b"$3\r\n1.5\r\n"
    assert encode(Double(1.1)) == b"$18\r\n1.1000000000000001\r\n"
    assert encode(Double(math.inf)) == b"$3\r\ninf\r\n"
    assert encode(Bool(True)) == b":1\r\n"
    assert encode(ErrorReply("ERR x\ny")) == b"-ERR x y\r\n"
    assert encode(Verbatim(b"hi")) == b"$2\r\nhi\r\n"


def test_resp3_shapes() -> None:
    assert encode(None, 3) == b"_\r\n"
    assert encode(NullArray, 3) == b"_\r\n"
    assert encode(Map([(b"k", 1)]), 3) == b"%1\r\n$1\r\nk\r\n:1\r\n"
    assert encode(Double(-math.inf), 3) == b",-inf\r\n"
    assert encode(SetReply([b"a"]), 3) == b"~1\r\n$1\r\na\r\n"
    assert encode(Push([b"message"]), 3) == b">1\r\n$7\r\nmessage\r\n"
    assert encode(Bool(False), 3) == b"#f\r\n"
    assert encode(Verbatim(b"hi"), 3) == b"=6\r\ntxt:hi\r\n"
    assert encode(Status(b"PONG"), 3) == b"+PONG\r\n"


def test_split_args_like_sdssplitargs() -> None:
    assert split_args(b'set a "b c"') == [b"set", b"a", b"b c"]
    assert split_args(b'"\\x41\\n" \'it\\\'s\'') == [b"A\n", b"it's"]
    assert split_args(b'a"b c"') == [b"ab c"]
    assert split_args(b"   ") == []
    assert split_args(b'"unterminated') is None
    assert split_args(b'"a"b') is None
    assert split_args(b"'a'b") is None


def test_split_args_ends_tokens_like_redis() -> None:
    # Only space, \n, \r and \t end an unquoted argument; a NUL ends the line.
    assert split_args(b"a\x0bb c") == [b"a\x0bb", b"c"]
    assert split_args(b"\x0b\x0ca") == [b"a"]
    assert split_args(b"ab\x00cd ef") == [b"ab"]
