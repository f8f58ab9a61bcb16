"""Sans-IO request parser: bytes in, argument vectors out, Redis's rules and errors.

Theory of operation
-------------------
`feed(data)` appends bytes; `next_command()` returns the next complete argv
(`list[bytes]`), None when more bytes are needed, and raises `ProtocolError` with
Redis's exact reply text when the stream is malformed (the caller replies and
closes the connection). Commands are taken one at a time so that state the
caller changes between commands (authentication) applies to the next one, as in
Redis's processInputBuffer.

Two engines share one contract:
  * the pure engine implements Redis's processMultibulkBuffer/processInlineBuffer:
    inline commands split like sdssplitargs, strict integer headers, the
    proto-max-bulk-len and unauthenticated limits, 64 KiB inline/header limits.
  * the hiredis fast path parses well-formed multibulk traffic in C. It is used only
    while nothing unusual is seen; the raw bytes fed to it since it was last idle
    are kept, so on any doubt (a hiredis error, a non-bulk element, a large pending
    request that needs limit checks) those bytes are handed to the pure engine,
    skipping the commands already returned. Both engines therefore give exactly the
    same commands and errors.
"""

from __future__ import annotations

import re

import hiredis

from redkeep.resp.splitargs import split_args

PROTO_INLINE_MAX_SIZE = 64 * 1024
UNAUTH_MAX_ARGS = 10
UNAUTH_MAX_BULK = 16384
# Chunks the pure engine must take: hiredis would accept '+' and '=' elements as strings
# where Redis wants '$' (found with two memchr-speed `in` tests), and it pre-sizes arrays
# from the count and takes ages to free a huge pending one (a count of a million
# elements or more). Two plain tests and a literal-prefixed regex beat one alternation.
_BIG_COUNT = re.compile(rb"\*[-+]?\d{7}")


class ProtocolError(Exception):
    """A malformed request; `reply` is the error text Redis sends (None: close silently)."""

    def __init__(self, reply: str | None, log: str = "") -> None:
        super().__init__(reply or log)
        self.reply = reply
        self.log = log or (reply or "")


class _Fallback(Exception):
    pass


def parse_ll(s: bytes) -> int | None:
    """Redis's string2ll: optional '-', digits, no leading zeros or '+', fits in 64 bits."""
    n = len(s)
    if n == 0 or n > 20:
        return None
    if s.isdigit():
        if n > 1 and s[0] == 48:
            return None
        v = int(s)
    elif s[0] == 45 and n > 1 and s[1:].isdigit() and s[1] != 48:
        v = int(s)
    else:
        return None
    if v > 9223372036854775807 or v < -9223372036854775808:
        return None
    return v


class RequestParser:
    __slots__ = (
        "max_bulk_len", "max_query_buffer", "authenticated", "is_master",
        "_buf", "_pos", "_argc", "_args", "_bulklen",
        "_hr", "_hr_chunks", "_hr_pending", "_hr_emitted", "use_hiredis",
    )

    def __init__(self, max_bulk_len: int = 512 * 1024 * 1024,
                 max_query_buffer: int = 1024 * 1024 * 1024, use_hiredis: bool = True) -> None:
        self.max_bulk_len = max_bulk_len
        self.max_query_buffer = max_query_buffer
        self.authenticated = True
        self.is_master = False  # replication links from a master have no bulk limit
        self.use_hiredis = use_hiredis
        self._buf = bytearray()
        self._pos = 0
        self._argc = 0          # bulk arguments still expected in the current multibulk
        self._args: list[bytes] = []
        self._bulklen = -1      # length of the bulk being read, -1 = header not read yet
        self._hr = hiredis.Reader()
        self._hr_chunks: list[bytes] = []
        self._hr_pending = 0
        self._hr_emitted = 0

    # ---- Feeding ----

    def feed(self, data: bytes) -> None:
        if not data:
            return
        if self._hr_chunks:
            if self._hiredis_can_take(data, continuing=True):
                self._hr_feed(data)
                return
            self._fallback()
        elif (self.use_hiredis and self._pos >= len(self._buf) and data[0] == 42
              and self._hiredis_can_take(data, continuing=False)):
            if self._buf:
                self._buf = bytearray()
                self._pos = 0
            self._hr_feed(data)
            return
        self._buf += data

    def _hiredis_can_take(self, data: bytes, continuing: bool) -> bool:
        if b"\n+" in data or b"\n=" in data or _BIG_COUNT.search(data) is not None:
            return False
        if continuing and data[0] in (43, 61):
            return False
        return self.authenticated and not self.is_master

    def _hr_feed(self, data: bytes) -> None:
        self._hr.feed(data)
        self._hr_chunks.append(data)
        self._hr_pending += len(data)

    def pending_bytes(self) -> int:
        return self._hr_pending + len(self._buf) - self._pos

    # ---- Taking commands ----

    def next_command(self) -> list[bytes] | None:
        if self._hr_chunks:
            try:
                return self._hr_next()
            except _Fallback:
                self._fallback()
        return self._pure_next()

    def _hr_next(self) -> list[bytes] | None:
        try:
            cmd = self._hr.gets()
        except hiredis.ProtocolError:
            raise _Fallback() from None
        if cmd is False:
            # A partial request: the pure engine checks its headers against the limits
            # now (as Redis does) and takes the rest of it.
            raise _Fallback()
        if cmd.__class__ is not list or not self.authenticated:
            raise _Fallback()
        for a in cmd:
            if a.__class__ is not bytes:
                raise _Fallback()
        if self._hr.has_data():
            if not cmd:  # *0: skipped by both engines, so not counted
                return self._hr_next()
            self._hr_emitted += 1
        else:
            self._hr_chunks.clear()
            self._hr_pending = 0
            self._hr_emitted = 0
            if not cmd:
                return None
        return cmd

    def _fallback(self) -> None:
        """Hand every byte hiredis holds to the pure engine, skipping returned commands."""
        raw = b"".join(self._hr_chunks)
        skip = self._hr_emitted
        self._hr = hiredis.Reader()
        self._hr_chunks = []
        self._hr_pending = 0
        self._hr_emitted = 0
        self._buf = bytearray(raw) + self._buf[self._pos:]
        self._pos = 0
        while skip:
            cmd = self._pure_next()
            assert cmd is not None, "hiredis returned a command the pure parser did not see"
            skip -= 1

    # ---- The pure engine ----

    def _pure_next(self) -> list[bytes] | None:
        while True:
            buf = self._buf
            if self._pos >= len(buf):
                if buf:
                    self._buf = bytearray()
                    self._pos = 0
                return None
            if len(buf) - self._pos > self.max_query_buffer:
                raise ProtocolError(None, "closing client that reached max query buffer length")
            if self._argc == 0 and not self._args:
                if buf[self._pos] == 42:
                    cmd = self._multibulk_header()
                else:
                    cmd = self._inline()
            else:
                cmd = self._multibulk_body()
            if cmd is None:
                self._compact()
                return None
            if cmd:
                return cmd
            # an empty command (blank inline line, *0, *-1) is skipped

    def _compact(self) -> None:
        if self._pos > 65536 and self._pos * 2 > len(self._buf):
            del self._buf[:self._pos]
            self._pos = 0

    def _inline(self) -> list[bytes] | None:
        buf, pos = self._buf, self._pos
        nl = buf.find(b"\n", pos)
        if nl < 0:
            if len(buf) - pos > PROTO_INLINE_MAX_SIZE:
                raise ProtocolError("ERR Protocol error: too big inline request")
            return None
        end = nl - 1 if nl > pos and buf[nl - 1] == 13 else nl
        args = split_args(bytes(buf[pos:end]))
        if args is None:
            raise ProtocolError("ERR Protocol error: unbalanced quotes in request")
        self._pos = nl + 1
        return args

    def _read_header_line(self, what: str) -> bytes | None:
        buf, pos = self._buf, self._pos
        cr = buf.find(b"\r", pos)
        if cr < 0:
            if len(buf) - pos > PROTO_INLINE_MAX_SIZE:
                raise ProtocolError(f"ERR Protocol error: too big {what} count string")
            return None
        if cr + 1 >= len(buf):  # wait for the \n
            return None
        line = bytes(buf[pos + 1:cr])
        self._pos = cr + 2
        return line

    def _multibulk_header(self) -> list[bytes] | None:
        start = self._pos
        line = self._read_header_line("mbulk")
        if line is None:
            return None
        n = parse_ll(line)
        if n is None or n > 2147483647:
            raise ProtocolError("ERR Protocol error: invalid multibulk length")
        if n > UNAUTH_MAX_ARGS and not self.authenticated:
            raise ProtocolError("ERR Protocol error: unauthenticated multibulk length")
        if n <= 0:
            return []
        self._argc = n
        self._args = []
        self._bulklen = -1
        cmd = self._multibulk_body()
        if cmd is None and self._pos == start:
            return None
        return cmd

    def _multibulk_body(self) -> list[bytes] | None:
        buf = self._buf
        while self._argc:
            if self._bulklen < 0:
                if self._pos >= len(buf):
                    return None
                if buf[self._pos] != 36:
                    got = chr(buf[self._pos])
                    raise ProtocolError(f"ERR Protocol error: expected '$', got '{got}'")
                line = self._read_header_line("bulk")
                if line is None:
                    return None
                n = parse_ll(line)
                if n is None or n < 0 or (n > self.max_bulk_len and not self.is_master):
                    raise ProtocolError("ERR Protocol error: invalid bulk length")
                if n > UNAUTH_MAX_BULK and not self.authenticated:
                    raise ProtocolError("ERR Protocol error: unauthenticated bulk length")
                self._bulklen = n
            end = self._pos + self._bulklen
            if end + 2 > len(buf):
                return None
            self._args.append(bytes(buf[self._pos:end]))
            self._pos = end + 2  # like Redis, the trailing CRLF is skipped unchecked
            self._bulklen = -1
            self._argc -= 1
        args, self._args = self._args, []
        return args
