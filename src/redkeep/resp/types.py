"""Reply value types.

Command handlers return plain Python values and these wrappers; the encoder turns
them into RESP2 or RESP3 bytes for the client's protocol version:

  bytes -> bulk string          int -> integer         None -> null bulk / RESP3 null
  list/tuple -> array           Status -> +simple      ErrorReply -> -error
  Map -> RESP3 map / flat array Double -> ,double / bulk (Redis 7.0 "%.17g")
  SetReply -> ~set / array      Push -> >push / array  Verbatim -> =txt: / bulk
  Bool -> #t/#f / :1/:0          NullArray -> _ / *-1   Raw -> bytes sent as they are
"""

from __future__ import annotations

from typing import Any


class Status(bytes):
    """A simple-string reply (+OK)."""

    __slots__ = ()


class Raw(bytes):
    """Pre-encoded reply bytes, identical in RESP2 and RESP3."""

    __slots__ = ()


class ErrorReply:
    """An error reply; `message` starts with the error code (ERR, WRONGTYPE, ...)."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    @property
    def code(self) -> str:
        return self.message.split(" ", 1)[0]

    def __repr__(self) -> str:
        return f"ErrorReply({self.message!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ErrorReply) and other.message == self.message

    def __hash__(self) -> int:
        return hash(self.message)


class Map:
    """A RESP3 map (a flat key/value array in RESP2)."""

    __slots__ = ("items",)

    def __init__(self, items: list[tuple[Any, Any]] | dict[Any, Any]) -> None:
        self.items = list(items.items()) if isinstance(items, dict) else items


class Attribute(Map):
    __slots__ = ()


class Double:
    __slots__ = ("value",)

    def __init__(self, value: float) -> None:
        self.value = value


class SetReply(list):
    """A RESP3 set (an array in RESP2)."""

    __slots__ = ()


class Push(list):
    """A RESP3 out-of-band push (an array in RESP2)."""

    __slots__ = ()


class Verbatim:
    __slots__ = ("fmt", "data")

    def __init__(self, data: bytes, fmt: bytes = b"txt") -> None:
        self.fmt = fmt
        self.data = data


class Bool:
    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value


class _NullArray:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NullArray"


NullArray = _NullArray()
OK = Status(b"OK")
QUEUED = Status(b"QUEUED")
PONG = Status(b"PONG")
