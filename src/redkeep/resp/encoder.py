"""RESP2/RESP3 encoder: reply values (see `resp.types`) to bytes.

Pure functions; `encode(value, proto)` is the single entry point. The hot path in the
server node special-cases the most common reply types before calling in here.
"""

from __future__ import annotations

import math
from typing import Any

from redkeep.resp.types import (
    Bool,
    Double,
    ErrorReply,
    Map,
    NullArray,
    Push,
    Raw,
    SetReply,
    Status,
    Verbatim,
    _NullArray,
)


def format_double(d: float) -> bytes:
    """Redis 7.0's addReplyDouble text: %.17g, with inf/-inf/nan spelled out."""
    if math.isinf(d):
        return b"inf" if d > 0 else b"-inf"
    if math.isnan(d):
        return b"nan"
    return b"%.17g" % d


def encode(value: Any, proto: int = 2) -> bytes:
    out: list[bytes] = []
    if proto == 3:
        _encode3(value, out)
    else:
        _encode2(value, out)
    return b"".join(out)


def encode_error(message: str) -> bytes:
    # Newlines would break the protocol: Redis replaces them with spaces.
    text = message.replace("\r", " ").replace("\n", " ")
    try:  # user bytes inside messages are carried as latin-1 characters, byte for byte
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogateescape")
    return b"-" + raw + b"\r\n"


def _encode2(v: Any, out: list[bytes]) -> None:
    t = type(v)
    if t is bytes:
        out.append(b"$%d\r\n%s\r\n" % (len(v), v))
    elif t is int:
        out.append(b":%d\r\n" % v)
    elif v is None:
        out.append(b"$-1\r\n")
    elif t is list or t is tuple or t is SetReply or t is Push:
        out.append(b"*%d\r\n" % len(v))
        for item in v:
            if item.__class__ is bytes:  # the common element: no recursion
                out.append(b"$%d\r\n%s\r\n" % (len(item), item))
            else:
                _encode2(item, out)
    elif t is Status:
        out.append(b"+%s\r\n" % v)
    elif t is Raw:
        out.append(v)
    elif t is ErrorReply:
        out.append(encode_error(v.message))
    elif isinstance(v, Map):
        out.append(b"*%d\r\n" % (2 * len(v.items)))
        for k, item in v.items:
            _encode2(k, out)
            _encode2(item, out)
    elif t is Double:
        s = format_double(v.value)
        out.append(b"$%d\r\n%s\r\n" % (len(s), s))
    elif t is Verbatim:
        out.append(b"$%d\r\n%s\r\n" % (len(v.data), v.data))
    elif t is Bool:
        out.append(b":1\r\n" if v.value else b":0\r\n")
    elif t is _NullArray:
        out.append(b"*-1\r\n")
    elif t is str:
        b = v.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    elif t is float:
        _encode2(Double(v), out)
    else:
        raise TypeError(f"cannot encode reply of type {t.__name__}")


def _encode3(v: Any, out: list[bytes]) -> None:
    t = type(v)
    if t is bytes:
        out.append(b"$%d\r\n%s\r\n" % (len(v), v))
    elif t is int:
        out.append(b":%d\r\n" % v)
    elif v is None or v is NullArray:
        out.append(b"_\r\n")
    elif t is list or t is tuple:
        out.append(b"*%d\r\n" % len(v))
        for item in v:
            if item.__class__ is bytes:
                out.append(b"$%d\r\n%s\r\n" % (len(item), item))
            else:
                _encode3(item, out)
    elif t is Status:
        out.append(b"+%s\r\n" % v)
    elif t is Raw:
        out.append(v)
    elif t is ErrorReply:
        out.append(encode_error(v.message))
    elif isinstance(v, Map):
        out.append(b"%%%d\r\n" % len(v.items))
        for k, item in v.items:
            _encode3(k, out)
            _encode3(item, out)
    elif t is Double:
        out.append(b",%s\r\n" % format_double(v.value))
    elif t is SetReply or t is Push:
        out.append(b"%c%d\r\n" % (126 if t is SetReply else 62, len(v)))
        for item in v:
            _encode3(item, out)
    elif t is Verbatim:
        payload = v.fmt + b":" + v.data
        out.append(b"=%d\r\n%s\r\n" % (len(payload), payload))
    elif t is Bool:
        out.append(b"#t\r\n" if v.value else b"#f\r\n")
    elif t is str:
        b = v.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    elif t is float:
        _encode3(Double(v), out)
    else:
        raise TypeError(f"cannot encode reply of type {t.__name__}")
