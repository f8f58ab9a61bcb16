"""A tiny raw RESP2/RESP3 client for exact, byte-for-byte comparisons.

Theory of operation: `RawConn` writes commands as RESP multibulk (or any raw bytes) and
reads back exactly one complete reply frame at a time, returning its raw bytes untouched,
so reply *types* (RESP2 vs RESP3), error texts and number formatting can be compared
exactly. `frame_end()` knows the shape of every RESP3 type, including attributes (`|`,
returned together with the reply they decorate) and push frames (`>`), which are returned
in order like any other frame. `parse()` turns raw bytes into a `Frame` tree that keeps the
wire type of every node, and `encode()` turns that tree back into identical bytes, so
normalizers can edit a reply and re-encode it. `to_python()` gives plain Python values.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterable
from typing import Any, NamedTuple

CRLF = b"\r\n"

# ---- Encoding requests ----


def _arg_bytes(arg: Any) -> bytes:
    if isinstance(arg, bytes | bytearray | memoryview):
        return bytes(arg)
    if isinstance(arg, str):
        return arg.encode()
    if isinstance(arg, bool):
        raise TypeError("bool is ambiguous as a RESP argument")
    if isinstance(arg, int | float):
        return repr(arg).encode()
    raise TypeError(f"cannot send {type(arg).__name__} as a RESP argument")


def encode_command(*args: Any) -> bytes:
    """RESP multibulk request for one command."""
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = _arg_bytes(a)
        parts.append(b"$%d\r\n" % len(b))
        parts.append(b)
        parts.append(CRLF)
    return b"".join(parts)


# ---- Framing replies ----


class ProtocolViolation(ValueError):
    """The bytes received are not valid RESP."""


_LINE_TYPES = b"+-:,(_#"
_BLOB_TYPES = b"$!="
_AGG_TYPES = b"*~>"


def frame_end(buf: bytes | bytearray, pos: int = 0) -> int | None:
    """Index just past the complete frame starting at `pos`, or None if incomplete."""
    if pos >= len(buf):
        return None
    kind = buf[pos]
    nl = buf.find(CRLF, pos)
    if nl < 0:
        return None
    header = bytes(buf[pos + 1:nl])
    after = nl + 2
    if kind in _LINE_TYPES:
        return after
    try:
        n = int(header)
    except ValueError:
        raise ProtocolViolation(f"bad length {header!r} in {bytes(buf[pos:nl + 2])!r}") from None
    if kind in _BLOB_TYPES:
        if n < 0:
            return after
        end = after + n + 2
        if len(buf) < end:
            return None
        if buf[end - 2:end] != CRLF:
            raise ProtocolViolation("blob not terminated by CRLF")
        return end
    if kind in _AGG_TYPES or kind in b"%|":
        count = n * 2 if kind in b"%|" else n
        p = after
        for _ in range(max(count, 0)):
            p = frame_end(buf, p)
            if p is None:
                return None
        if kind == ord("|"):  # an attribute decorates the reply that follows it
            return frame_end(buf, p)
        return p
    raise ProtocolViolation(f"unknown RESP type byte {bytes([kind])!r}")


# ---- Parsed form ----


class Frame(NamedTuple):
    """One reply node: `kind` is the RESP type byte as a str ('+', '$', '*', '%', ...).

    value: bytes for line and blob types ('+', '-', ',', '(', '$', '!', '=' — None for a
    RESP2 null bulk), int for ':', True/False for '#', None for '_', a list of Frames for
    '*', '~', '>' (None for a RESP2 null array), a list of (Frame, Frame) for '%'.
    For '|' (attribute) value is (list of pairs, decorated Frame).
    """

    kind: str
    value: Any

    def __repr__(self) -> str:
        return f"Frame({self.kind!r}, {self.value!r})"


def _parse_at(buf: bytes, pos: int) -> tuple[Frame, int]:
    kind = chr(buf[pos])
    nl = buf.index(CRLF, pos)
    header = buf[pos + 1:nl]
    p = nl + 2
    if kind in "+-,(":
        return Frame(kind, header), p
    if kind == ":":
        return Frame(kind, int(header)), p
    if kind == "_":
        return Frame(kind, None), p
    if kind == "#":
        return Frame(kind, header == b"t"), p
    n = int(header)
    if kind in "$!=":
        if n < 0:
            return Frame(kind, None), p
        return Frame(kind, buf[p:p + n]), p + n + 2
    if kind in "*~>":
        if n < 0:
            return Frame(kind, None), p
        items = []
        for _ in range(n):
            item, p = _parse_at(buf, p)
            items.append(item)
        return Frame(kind, items), p
    if kind in "%|":
        pairs = []
        for _ in range(n):
            k, p = _parse_at(buf, p)
            v, p = _parse_at(buf, p)
            pairs.append((k, v))
        if kind == "%":
            return Frame(kind, pairs), p
        inner, p = _parse_at(buf, p)
        return Frame(kind, (pairs, inner)), p
    raise ProtocolViolation(f"unknown RESP type {kind!r}")


def parse(raw: bytes) -> Frame:
    """Parse exactly one complete raw reply."""
    frame, end = _parse_at(bytes(raw), 0)
    if end != len(raw):
        raise ProtocolViolation(f"{len(raw) - end} trailing bytes after the reply")
    return frame


def encode(frame: Frame) -> bytes:
    """Inverse of parse(): encode(parse(raw)) == raw."""
    k, v = frame
    if k in "+-,(":
        return k.encode() + v + CRLF
    if k == ":":
        return b":%d\r\n" % v
    if k == "_":
        return b"_\r\n"
    if k == "#":
        return b"#t\r\n" if v else b"#f\r\n"
    if k in "$!=":
        if v is None:
            return k.encode() + b"-1\r\n"
        return k.encode() + b"%d\r\n" % len(v) + v + CRLF
    if k in "*~>":
        if v is None:
            return k.encode() + b"-1\r\n"
        return k.encode() + b"%d\r\n" % len(v) + b"".join(encode(x) for x in v)
    if k == "%":
        return b"%%%d\r\n" % len(v) + b"".join(encode(a) + encode(b) for a, b in v)
    if k == "|":
        pairs, inner = v
        return (b"|%d\r\n" % len(pairs) + b"".join(encode(a) + encode(b) for a, b in pairs)
                + encode(inner))
    raise ValueError(f"unknown frame kind {k!r}")


class ReplyError(Exception):
    """An error reply, as a Python value (to_python)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ReplyError) and self.args == other.args

    def __hash__(self) -> int:
        return hash(self.args)


def to_python(frame: Frame) -> Any:
    """Plain Python: simple strings -> str, blobs -> bytes, errors -> ReplyError,
    arrays/sets/pushes -> list, maps -> dict, nulls -> None, doubles -> float."""
    k, v = frame
    if k == "+":
        return v.decode("utf-8", "replace")
    if k == "-":
        return ReplyError(v.decode("utf-8", "replace"))
    if k in ":#_":
        return v
    if k in "$!":
        return v
    if k == "=":
        return v[4:] if v is not None else None
    if k == ",":
        return float(v)
    if k == "(":
        return int(v)
    if k in "*~>":
        return None if v is None else [to_python(x) for x in v]
    if k == "%":
        return {_hashable(to_python(a)): to_python(b) for a, b in v}
    if k == "|":
        return to_python(v[1])
    raise ValueError(k)


def _hashable(x: Any) -> Any:
    return tuple(_hashable(i) for i in x) if isinstance(x, list) else x


def parse_python(raw: bytes) -> Any:
    return to_python(parse(raw))


# ---- The connection ----


class ConnectionClosed(ConnectionError):
    """The server closed the connection (EOF) before a complete reply arrived."""

    def __init__(self, msg: str, partial: bytes = b"") -> None:
        super().__init__(msg)
        self.partial = partial


class RawConn:
    """A blocking socket that speaks raw RESP. Not thread-safe."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0
        self.eof = False

    # -- sending --

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, *args: Any) -> None:
        self.sock.sendall(encode_command(*args))

    def send_many(self, commands: Iterable[tuple]) -> int:
        """Pipeline several commands in one write; returns how many were sent."""
        cmds = list(commands)
        self.sock.sendall(b"".join(encode_command(*c) for c in cmds))
        return len(cmds)

    # -- receiving --

    def _fill(self, timeout: float | None) -> None:
        if self.eof:
            raise ConnectionClosed("connection already closed by the server", self.pending())
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(1 << 20)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            raise ConnectionClosed(
                f"server closed the connection (buffered: {self.pending()[:200]!r})",
                self.pending())
        self.buf += chunk

    def read_reply(self, timeout: float | None = None) -> bytes:
        """Raw bytes of the next complete reply frame (a push frame is a frame too)."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            end = frame_end(self.buf, self.pos)
            if end is not None:
                raw = bytes(self.buf[self.pos:end])
                self.pos = end
                if self.pos > 65536 and self.pos * 2 > len(self.buf):
                    del self.buf[:self.pos]
                    self.pos = 0
                return raw
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"no complete reply within {timeout}s (buffered: {self.pending()[:200]!r})")
            self._fill(remaining)

    def pending(self) -> bytes:
        """Bytes received but not yet returned as a reply."""
        return bytes(self.buf[self.pos:])

    def _take_pending(self) -> bytes:
        out = self.pending()
        self.buf.clear()
        self.pos = 0
        return out

    def read_replies(self, n: int, timeout: float | None = None) -> list[bytes]:
        return [self.read_reply(timeout) for _ in range(n)]

    def read_non_push(self, timeout: float | None = None) -> tuple[bytes, list[bytes]]:
        """Next non-push reply, and the push frames that arrived before it."""
        pushes = []
        while True:
            raw = self.read_reply(timeout)
            if raw[:1] != b">":
                return raw, pushes
            pushes.append(raw)

    def call(self, *args: Any, timeout: float | None = None) -> bytes:
        """Send one command and return its raw reply."""
        self.send(*args)
        return self.read_reply(timeout)

    def call_py(self, *args: Any) -> Any:
        return parse_python(self.call(*args))

    def drain(self, quiet: float = 0.3, timeout: float = 10.0) -> tuple[bytes, bool]:
        """Everything the server sends until it closes the connection, or until it has
        been silent for `quiet` seconds. Returns (bytes, closed)."""
        deadline = time.monotonic() + timeout
        out = self._take_pending()
        if self.eof:
            return out, True
        while time.monotonic() < deadline:
            wait = min(quiet, max(deadline - time.monotonic(), 0))
            ready, _, _ = select.select([self.sock], [], [], wait)
            if not ready:
                return out, False
            try:
                chunk = self.sock.recv(1 << 20)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.eof = True
                return out, True
            out += chunk
        return out, False

    def wait_closed(self, timeout: float = 5.0) -> bytes:
        """Wait for the server to close this connection; returns any bytes it sent first.
        Raises TimeoutError if it stays open."""
        deadline = time.monotonic() + timeout
        out = self._take_pending()
        while not self.eof:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"connection still open after {timeout}s (got {out[:200]!r})")
            ready, _, _ = select.select([self.sock], [], [], remaining)
            if not ready:
                continue
            try:
                chunk = self.sock.recv(1 << 20)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.eof = True
            out += chunk
        return out

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> RawConn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Conn(RawConn):
    """A RawConn answering plain Python values; an error reply raises ReplyError.
    Callable (`conn("GET", "k")`) or redis-py style (`conn.execute_command(...)`)."""

    def __call__(self, *args: Any) -> Any:
        reply = self.call_py(*args)
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    execute_command = __call__
