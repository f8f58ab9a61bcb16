"""Differential testing: send the same bytes to redkeep and to real redis-server, compare.

Theory of operation: a `DiffPair` holds one `RawConn` to each server. `run(*args)` sends the
command to both, reads one complete reply from each and asserts the raw bytes are equal
(so RESP2/RESP3 types, error texts and number formatting must match exactly), after
passing both replies through the normalizer registered for that command, if any.
Normalizers exist only for replies that legitimately differ between two servers holding
the same data: ids (CLIENT ID, HELLO's id), clocks (TIME, TTL family within a tolerance),
INFO/CLIENT LIST text, RANDOMKEY's choice, SCAN cursors and element order. A normalizer
takes (args, redkeep_frame, redis_frame) parsed `Frame`s and returns the pair to compare;
it must only erase the nondeterministic part, never the reply's type or shape.

The pair tracks MULTI so that EXEC's reply is normalized element by element with the
normalizers of the queued commands. On a mismatch the assertion shows the command, both
replies (raw and parsed) and the commands sent before it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from .resp import (
    ConnectionClosed,
    Frame,
    ProtocolViolation,
    RawConn,
    _arg_bytes,
    encode,
    encode_command,
    parse,
    to_python,
)

CLOSED = "<connection closed>"
TIMEOUT = "<no reply (timeout)>"

Normalizer = Callable[[tuple[bytes, ...], Frame, Frame], tuple[Frame, Frame]]


class Replies(NamedTuple):
    redkeep: bytes | str
    redis: bytes | str

    @property
    def value(self) -> Any:
        """The redis reply as a Python value (see resp.to_python)."""
        if isinstance(self.redis, str):
            return self.redis
        return to_python(parse(self.redis))


class DiffMismatch(AssertionError):
    pass


# ---- Normalizers ----


def _placeholder_like(f: Frame, text: bytes) -> Frame:
    """Same wire type as `f`, content replaced by `text`."""
    if f.kind in "$+!":
        return Frame(f.kind, text)
    if f.kind == "=":
        return Frame("=", b"txt:" + text)
    if f.kind == ":":
        return Frame(":", 0)
    return f


def norm_integer_value(args, rk: Frame, rd: Frame):
    """Any integer is fine as long as both are integers (CLIENT ID)."""
    if rk.kind == rd.kind == ":":
        return Frame(":", 0), Frame(":", 0)
    return rk, rd


def norm_opaque_text(args, rk: Frame, rd: Frame):
    """Text whose content is server specific (INFO, CLIENT LIST/INFO): compare type only."""
    if rk.kind == rd.kind and rk.kind in "$=+" and rk.value is not None and rd.value is not None:
        return _placeholder_like(rk, b"<text>"), _placeholder_like(rd, b"<text>")
    return rk, rd


def norm_time(args, rk: Frame, rd: Frame):
    """TIME: two bulk strings of digits."""
    def shape(f: Frame) -> Frame:
        if f.kind == "*" and f.value and len(f.value) == 2 and all(
                x.kind == "$" and x.value is not None and x.value.isdigit() for x in f.value):
            return Frame("*", [Frame("$", b"<secs>"), Frame("$", b"<usecs>")])
        return f
    return shape(rk), shape(rd)


def norm_random_key(args, rk: Frame, rd: Frame):
    """RANDOMKEY: which key is random; null-vs-key must still agree."""
    if rk.kind == rd.kind == "$" and rk.value is not None and rd.value is not None:
        return Frame("$", b"<key>"), Frame("$", b"<key>")
    return rk, rd


def norm_scan(args, rk: Frame, rd: Frame):
    """SCAN family: cursor 0 vs non-zero must agree; elements compared as a sorted list
    (for HSCAN/ZSCAN pairs are kept together)."""
    cmd = args[0].upper()
    pairs = cmd in (b"HSCAN", b"ZSCAN")

    def shape(f: Frame) -> Frame:
        if f.kind != "*" or not f.value or len(f.value) != 2 or f.value[1].kind != "*":
            return f
        cursor, elems = f.value
        cur = b"0" if cursor.value == b"0" else b"<cursor>"
        items = elems.value or []
        if pairs:
            groups = sorted(zip(items[0::2], items[1::2], strict=False),
                            key=lambda p: (encode(p[0]), encode(p[1])))
            items = [x for g in groups for x in g]
        else:
            items = sorted(items, key=encode)
        return Frame("*", [Frame("$", cur), Frame("*", items)])
    return shape(rk), shape(rd)


def _tolerance(units: int) -> Normalizer:
    def norm(args, rk: Frame, rd: Frame):
        if rk.kind == rd.kind == ":" and rk.value >= 0 and rd.value >= 0 \
                and abs(rk.value - rd.value) <= units:
            return rd, rd
        return rk, rd
    norm.__doc__ = f"integer time values equal within ±{units}"
    return norm


norm_ttl_seconds = _tolerance(1)
norm_ttl_millis = _tolerance(1000)


def norm_hello(args, rk: Frame, rd: Frame):
    """HELLO: the connection id and the server version are server specific."""
    def shape(f: Frame) -> Frame:
        if f.kind == "%":
            pairs = f.value
        elif f.kind == "*" and f.value and len(f.value) % 2 == 0:
            pairs = list(zip(f.value[0::2], f.value[1::2], strict=True))
        else:
            return f
        out = []
        for k, v in pairs:
            if k.value == b"id" and v.kind == ":":
                v = Frame(":", 0)
            elif k.value == b"version" and v.kind in "$+":
                v = Frame(v.kind, b"<version>")
            out.append((k, v))
        if f.kind == "%":
            return Frame("%", out)
        return Frame("*", [x for kv in out for x in kv])
    return shape(rk), shape(rd)


# Keyed by upper-cased command name, or (name, subcommand) for container commands.
DEFAULT_NORMALIZERS: dict[Any, Normalizer] = {
    (b"CLIENT", b"ID"): norm_integer_value,
    (b"CLIENT", b"LIST"): norm_opaque_text,
    (b"CLIENT", b"INFO"): norm_opaque_text,
    b"INFO": norm_opaque_text,
    b"TIME": norm_time,
    b"RANDOMKEY": norm_random_key,
    b"SCAN": norm_scan,
    b"HSCAN": norm_scan,
    b"SSCAN": norm_scan,
    b"ZSCAN": norm_scan,
    b"TTL": norm_ttl_seconds,
    b"EXPIRETIME": norm_ttl_seconds,
    b"PTTL": norm_ttl_millis,
    b"PEXPIRETIME": norm_ttl_millis,
    b"HELLO": norm_hello,
}


def normalizer_for(args: tuple[bytes, ...], table: dict) -> Normalizer | None:
    if not args:
        return None
    name = args[0].upper()
    if len(args) > 1:
        n = table.get((name, args[1].upper()))
        if n is not None:
            return n
    return table.get(name)


# ---- The pair ----


def _send_quietly(conn: RawConn, data: bytes) -> None:
    try:
        conn.send_raw(data)
    except OSError:
        pass


def _describe(outcome: bytes | str) -> str:
    if isinstance(outcome, str):
        return outcome
    text = repr(outcome if len(outcome) <= 600 else outcome[:600] + b"...")
    try:
        parsed = to_python(parse(outcome))
        return f"{text}\n             parsed: {parsed!r}"[:1200]
    except (ProtocolViolation, ValueError, IndexError):
        return text


def _fmt_args(args: Iterable[bytes]) -> str:
    out = []
    for a in args:
        s = a.decode("utf-8", "backslashreplace") if isinstance(a, bytes) else str(a)
        if len(s) > 60:
            s = s[:60] + f"...({len(a)} bytes)"
        out.append(s if s and " " not in s and s.isprintable() else repr(s))
    return " ".join(out)


class DiffPair:
    """One raw connection to redkeep and one to real redis, driven in lockstep."""

    def __init__(self, redkeep_port: int, redis_port: int, timeout: float = 10.0,
                 normalizers: dict | None = None) -> None:
        self.redkeep_port, self.redis_port, self.timeout = redkeep_port, redis_port, timeout
        self.rk = RawConn(redkeep_port, timeout=timeout)
        try:
            self.rd = RawConn(redis_port, timeout=timeout)
        except OSError:
            self.rk.close()
            raise
        self.normalizers = dict(DEFAULT_NORMALIZERS if normalizers is None else normalizers)
        self.history: deque[str] = deque(maxlen=25)
        self._queued: list[tuple[bytes, ...]] | None = None  # commands queued in MULTI
        self._senders: list[threading.Thread] = []

    # -- lifecycle --

    def other(self) -> DiffPair:
        """A second, independent connection pair to the same two servers."""
        return DiffPair(self.redkeep_port, self.redis_port, self.timeout, self.normalizers)

    def close(self) -> None:
        self._join_senders(timeout=5.0)
        self.rk.close()
        self.rd.close()

    def __enter__(self) -> DiffPair:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- driving --

    def _read(self, conn: RawConn, timeout: float | None) -> bytes | str:
        try:
            return conn.read_reply(timeout)
        except ConnectionClosed as e:
            return CLOSED + (f" after partial {e.partial[:200]!r}" if e.partial else "")
        except TimeoutError:
            return TIMEOUT

    def read(self, label: str = "<read>", args: tuple[bytes, ...] = (),
             normalize: Normalizer | None | bool = True, timeout: float | None = None,
             check: bool = True) -> Replies:
        """Read one reply from each side and compare them."""
        rk = self._read(self.rk, timeout)
        rd = self._read(self.rd, timeout)
        replies = Replies(rk, rd)
        if check:
            self.assert_same(label, replies, args, normalize)
        return replies

    def run(self, *args: Any, normalize: Normalizer | None | bool = True,
            timeout: float | None = None, check: bool = True) -> Replies:
        """Send one command to both servers; return (redkeep, redis) raw replies after
        asserting they are equal (modulo the command's normalizer).

        normalize: True = the registered normalizer, False/None = exact bytes,
        or a callable (args, rk_frame, rd_frame) -> (rk_frame, rd_frame).
        """
        bargs = tuple(_arg_bytes(a) for a in args)
        data = encode_command(*bargs)
        self._send_both(data)
        label = _fmt_args(bargs)
        self.history.append(label)
        replies = self.read(label, bargs, normalize, timeout, check)
        self._track_multi(bargs, replies)
        return replies

    def run_raw(self, data: bytes, replies: int = 1, label: str | None = None,
                normalize: Normalizer | None | bool = False,
                timeout: float | None = None) -> list[Replies]:
        """Send raw bytes (inline commands, hand-made RESP) and compare `replies` replies."""
        label = label or f"raw {data[:120]!r}"
        self._send_both(data)
        self.history.append(label)
        out = [self.read(f"{label} (reply #{i + 1})", (), normalize, timeout)
               for i in range(replies)]
        self._join_senders()
        return out

    def pipeline(self, commands: Iterable[tuple], normalize: bool = True) -> list[Replies]:
        """Send many commands in one write to each side, then compare reply by reply."""
        cmds = [tuple(_arg_bytes(a) for a in c) for c in commands]
        self._send_both(b"".join(encode_command(*c) for c in cmds))
        out = []
        for c in cmds:
            label = _fmt_args(c)
            self.history.append(label)
            r = self.read(f"{label} (pipelined)", c, normalize)
            self._track_multi(c, r)
            out.append(r)
        self._join_senders()
        return out

    def scan_all(self, *args: Any, command: str = "SCAN", max_rounds: int = 100000) -> set:
        """Iterate a SCAN-family command to completion on each server separately and
        assert both produced the same set of elements (cursors and order may differ).

        scan_all("MATCH", "k*", "COUNT", 3)        -> SCAN <cursor> MATCH k* COUNT 3
        scan_all("myset", command="SSCAN")         -> SSCAN myset <cursor>
        """
        keyed = command.upper() != "SCAN"
        results = []
        for conn in (self.rk, self.rd):
            cursor, seen = b"0", set()
            for _ in range(max_rounds):
                head = (command, args[0], cursor, *args[1:]) if keyed else (command, cursor, *args)
                reply = to_python(parse(conn.call(*head)))
                if isinstance(reply, Exception):
                    seen = {("error", str(reply))}
                    break
                cursor, items = reply
                seen.update(items)
                if cursor == b"0":
                    break
            results.append(seen)
        label = f"{command} {_fmt_args(_arg_bytes(a) for a in args)} (full iteration)"
        self.history.append(label)
        if results[0] != results[1]:
            only_rk = sorted(results[0] - results[1])[:20]
            only_rd = sorted(results[1] - results[0])[:20]
            raise DiffMismatch(f"{label} returned different sets\n  only in redkeep: {only_rk}"
                               f"\n  only in redis  : {only_rd}" + self._history_text())
        return results[1]

    def _send_both(self, data: bytes) -> None:
        """Write to both servers. Big writes go through threads so that a server which
        stops reading while its replies are unread cannot deadlock the test."""
        self._join_senders()
        for conn in (self.rk, self.rd):
            if len(data) <= 65536:
                try:
                    conn.send_raw(data)
                except OSError:
                    pass  # a closed connection shows up as CLOSED when reading
            else:
                t = threading.Thread(target=_send_quietly, args=(conn, data), daemon=True)
                t.start()
                self._senders.append(t)

    def _join_senders(self, timeout: float = 60.0) -> None:
        for t in self._senders:
            t.join(timeout)
        self._senders.clear()

    def expect_closed(self, timeout: float = 5.0) -> None:
        """Both servers must close this connection (after any pending replies are read)."""
        problems = []
        for name, conn in (("redkeep", self.rk), ("redis", self.rd)):
            try:
                extra = conn.wait_closed(timeout)
            except TimeoutError as e:
                problems.append(f"{name}: {e}")
                continue
            if extra:
                problems.append(f"{name} sent unexpected bytes before closing: {extra[:300]!r}")
        if problems:
            raise DiffMismatch("expected both servers to close the connection:\n  "
                               + "\n  ".join(problems) + self._history_text())

    # -- comparison --

    def assert_same(self, label: str, replies: Replies, args: tuple[bytes, ...] = (),
                    normalize: Normalizer | None | bool = True) -> None:
        rk, rd = replies
        if rk == rd:
            return
        if isinstance(rk, bytes) and isinstance(rd, bytes) and normalize is not False \
                and normalize is not None:
            norm = normalize if callable(normalize) else self._normalizer(args)
            if norm is not None:
                try:
                    nk, nd = norm(args, parse(rk), parse(rd))
                    if encode(nk) == encode(nd):
                        return
                except (ProtocolViolation, ValueError, IndexError):
                    pass
        raise DiffMismatch(
            f"redkeep and redis replied differently to: {label}\n"
            f"  redkeep: {_describe(rk)}\n"
            f"  redis  : {_describe(rd)}" + self._history_text())

    def _normalizer(self, args: tuple[bytes, ...]) -> Normalizer | None:
        if args and args[0].upper() == b"EXEC" and self._queued:
            return self._exec_normalizer(list(self._queued))
        return normalizer_for(args, self.normalizers)

    def _exec_normalizer(self, queued: list[tuple[bytes, ...]]) -> Normalizer:
        def norm(args, rk: Frame, rd: Frame):
            if rk.kind != rd.kind or rk.kind not in "*" or rk.value is None or rd.value is None \
                    or len(rk.value) != len(rd.value) or len(rk.value) != len(queued):
                return rk, rd
            out_k, out_d = [], []
            for cmd, a, b in zip(queued, rk.value, rd.value, strict=True):
                n = normalizer_for(cmd, self.normalizers)
                if n is not None:
                    a, b = n(cmd, a, b)
                out_k.append(a)
                out_d.append(b)
            return Frame(rk.kind, out_k), Frame(rd.kind, out_d)
        return norm

    def _track_multi(self, args: tuple[bytes, ...], replies: Replies) -> None:
        if not args:
            return
        name = args[0].upper()
        rd = replies.redis
        if name == b"MULTI" and rd == b"+OK\r\n":
            self._queued = []
        elif name in (b"EXEC", b"DISCARD", b"RESET"):
            self._queued = None
        elif self._queued is not None and rd == b"+QUEUED\r\n":
            self._queued.append(args)

    def _history_text(self) -> str:
        if not self.history:
            return ""
        return "\n  commands sent on this pair (oldest first):\n    " + "\n    ".join(self.history)
