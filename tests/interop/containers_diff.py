"""Helpers shared by the hash / set / SORT differential tests.

Normalizers erase only what legitimately differs between two servers with the same data:

* `norm_unordered` / `norm_unordered_pairs`: replies in a hashtable's iteration order
  (SMEMBERS of a hashtable set, HGETALL of a hashtable hash...) are compared sorted. A
  test uses them only when Redis's order is unspecified: intset and listpack containers
  have a defined order that is compared exactly.
* `norm_random`: random replies (SPOP, SRANDMEMBER, HRANDFIELD) keep their wire types and
  length, the chosen elements are erased (tests check membership separately).

`scan_all` iterates a SCAN-family command to the end on each server separately (cursor
values are server specific), `changes` reads the dirty counter Redis shows in INFO
(rdb_changes_since_last_save), and `Events` collects keyspace notifications from both
servers for comparison.
"""

from __future__ import annotations

import re
from typing import Any

from support.differential import DiffPair
from support.resp import Frame, RawConn, encode, parse, parse_python


def _sort_frame(f: Frame, pairs: bool) -> Frame:
    if f.kind in "*~" and f.value:
        flat = all(x.kind not in "*~%" for x in f.value)
        if pairs and flat and f.kind == "*" and len(f.value) % 2 == 0:
            groups = sorted(zip(f.value[0::2], f.value[1::2], strict=True),
                            key=lambda p: (encode(p[0]), encode(p[1])))
            return Frame(f.kind, [x for g in groups for x in g])
        return Frame(f.kind, sorted(f.value, key=encode))
    if f.kind == "%" and f.value:
        return Frame("%", sorted(f.value, key=lambda p: (encode(p[0]), encode(p[1]))))
    return f


def norm_unordered(args, rk: Frame, rd: Frame):
    """Elements of a set-like reply in any order."""
    return _sort_frame(rk, False), _sort_frame(rd, False)


def norm_unordered_pairs(args, rk: Frame, rd: Frame):
    """Field/value pairs (RESP2 flat array, RESP3 map or array of pairs) in any order."""
    return _sort_frame(rk, True), _sort_frame(rd, True)


def _erase(f: Frame) -> Frame:
    if f.kind in "$+" and f.value is not None:
        return Frame(f.kind, b"<random>")
    if f.kind in "*~" and f.value is not None:
        return Frame(f.kind, [_erase(x) for x in f.value])
    return f


def norm_random(args, rk: Frame, rd: Frame):
    """Random choices: same wire types and lengths, any elements."""
    return _erase(rk), _erase(rd)


def elements(raw: bytes) -> list:
    """A reply's top-level elements as Python values (pairs flattened)."""
    value = parse_python(raw)
    if isinstance(value, dict):
        return [x for kv in value.items() for x in kv]
    return value


def scan_all(conn: RawConn, *command: Any, pairs: bool = False) -> list:
    """Run a SCAN-family command from cursor 0 to the end on one server."""
    out: list = []
    cursor: Any = b"0"
    for _ in range(100_000):
        args = list(command)
        args.insert(2, cursor)
        reply = parse_python(conn.call(*args))
        cursor, batch = reply
        out += batch
        if cursor == b"0":
            if pairs:
                return sorted(zip(out[0::2], out[1::2], strict=True))
            return sorted(out)
        assert cursor.isdigit()
    raise AssertionError("scan did not end")


_CHANGES = re.compile(rb"rdb_changes_since_last_save:(\d+)")


def changes(conn: RawConn) -> int:
    raw = parse(conn.call("INFO", "persistence"))
    text = raw.value if raw.kind in "$=" else b""
    m = _CHANGES.search(text)
    assert m, text[:200]
    return int(m.group(1))


def _config_value(conn: RawConn, name: str) -> bytes:
    value = parse_python(conn.call("CONFIG", "GET", name))
    return value[name.encode()] if isinstance(value, dict) else value[1]


class Config:
    """CONFIG SET on both servers, restored by `restore()`."""

    def __init__(self, d: DiffPair, **settings: object) -> None:
        self.d = d
        self.saved: list[tuple[str, bytes, bytes]] = []
        for name, value in settings.items():
            name = name.replace("_", "-")
            self.saved.append((name, _config_value(d.rk, name), _config_value(d.rd, name)))
            d.run("CONFIG", "SET", name, str(value))

    def restore(self) -> None:
        for name, rk, rd in self.saved:
            self.d.rk.call("CONFIG", "SET", name, rk)
            self.d.rd.call("CONFIG", "SET", name, rd)


class Events:
    """Keyspace notifications (flags KEA + n) of both servers, read in lockstep."""

    def __init__(self, d: DiffPair) -> None:
        self.d = d
        self.saved = [_config_value(c, "notify-keyspace-events") for c in (d.rk, d.rd)]
        for c in (d.rk, d.rd):
            assert c.call("CONFIG", "SET", "notify-keyspace-events", "KEAn") == b"+OK\r\n"
        self.sub = d.other()
        self.sub.run("PSUBSCRIBE", "__key*__:*", "end")
        self.sub.read("PSUBSCRIBE (second pattern)")

    def take(self) -> tuple[list, list]:
        """Events (channel, message) published since the last call, on each server."""
        self.d.run("PUBLISH", "end", "x")
        return self._read(self.sub.rk), self._read(self.sub.rd)

    @staticmethod
    def _read(conn: RawConn) -> list:
        out = []
        while True:
            msg = parse_python(conn.read_reply(5.0))
            if msg[:3] == [b"pmessage", b"end", b"end"]:
                return out
            out.append((msg[2], msg[3]))

    def close(self) -> None:
        self.sub.close()
        for c, flags in zip((self.d.rk, self.d.rd), self.saved, strict=True):
            c.call("CONFIG", "SET", "notify-keyspace-events", flags)


def run_checked(d: DiffPair, *args: Any, normalize: Any = True) -> Any:
    """Run on both; also compare how much each server's dirty counter moved."""
    before = changes(d.rk), changes(d.rd)
    replies = d.run(*args, normalize=normalize)
    after = changes(d.rk), changes(d.rd)
    moved = after[0] - before[0], after[1] - before[1]
    assert moved[0] == moved[1], f"dirty moved by {moved[0]} on redkeep, {moved[1]} on " \
                                 f"redis after {args!r}"
    return replies
