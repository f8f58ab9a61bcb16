"""redis.conf parsing and the CONFIG GET / SET / REWRITE state, as Redis 7.0.15 does it.

Theory of operation
-------------------
A :class:`ServerConfig` holds every server directive as a plain attribute (``port`` ->
``cfg.port``, ``maxmemory-policy`` -> ``cfg.maxmemory_policy``) so the hot path reads
configuration with one attribute lookup. What a directive *is* lives in one explicit table,
:data:`DIRECTIVES`: its name, its alias (``slaveof`` for ``replicaof``, ``lua-time-limit`` for
``busy-reply-threshold``, ``hash-max-ziplist-entries`` ...), flags (immutable, protected,
hidden, sensitive) and a *codec* that knows how to parse arguments, print the value the way
CONFIG GET does, and write it back for CONFIG REWRITE. Codecs mirror config.c's types: bool,
string, enum (incl. bit-flag enums), numeric (int / memory / percent / octal, with C's
signed-vs-unsigned bound checks) and the special ones (save, bind, replicaof, dir,
client-output-buffer-limit, oom-score-adj-values, notify-keyspace-events,
latency-tracking-info-percentiles).

Loading follows ``loadServerConfigFromString``: split on ``\\n``, trim, skip comments, split
each line with ``sdssplitargs`` rules, look the lower-cased name up in the table, else handle
``include`` / ``rename-command`` / ``user`` / ``loadmodule`` / module configs / ``sentinel``,
else fail. Errors are :class:`ConfigFileError` whose ``str()`` is the exact FATAL block
redis-server prints. :meth:`ServerConfig.from_argv` rebuilds redis-server's command line
handling: ``--name arg ...`` options become config lines appended after the file and stdin.

Redis quirks kept on purpose (each checked against real redis-server 7.0.15): ``save`` lines
accumulate while a file is being read but an ``include`` ends "reading mode" so later ``save``
lines replace; ``1k`` is 1000 bytes while ``1kb`` is 1024; overflowing memory values saturate;
``hz`` is clamped to 1..500; alias and primary name are *different* CONFIG SET parameters.

What this module deliberately does not know: sockets, the command table (pass
``known_commands`` to validate ``rename-command``), ACL rules (``user`` lines are kept as raw
arguments), modules (``loadmodule`` lines and ``module.option`` values are only recorded), and
sentinel directives. Instead of ``chdir()`` the ``dir`` directive only records an absolute path
(relative ``include`` paths resolve against it, as they would against Redis's cwd), so several
servers can share one process. Apply hooks registered with :meth:`ServerConfig.on_change` run
after a successful CONFIG SET and may veto it by raising :class:`ConfigApplyError`.
One extension: Redis 7.2's ``set-max-listpack-entries/value`` exist as HIDDEN directives.
"""

from __future__ import annotations

import errno
import glob as globlib
import hashlib
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from redkeep.resp.splitargs import split_args as split_arg_bytes
from redkeep.server.glob import stringmatch

__all__ = [
    "DIRECTIVES",
    "NOTIFY_ALL",
    "NOTIFY_EVICTED",
    "NOTIFY_EXPIRED",
    "NOTIFY_GENERIC",
    "NOTIFY_HASH",
    "NOTIFY_KEYEVENT",
    "NOTIFY_KEYSPACE",
    "NOTIFY_KEY_MISS",
    "NOTIFY_LIST",
    "NOTIFY_LOADED",
    "NOTIFY_MODULE",
    "NOTIFY_NEW",
    "NOTIFY_SET",
    "NOTIFY_STREAM",
    "NOTIFY_STRING",
    "NOTIFY_ZSET",
    "REDIS_VERSION",
    "ConfigApplyError",
    "ConfigFatalLogError",
    "ConfigFileError",
    "ConfigSetError",
    "Directive",
    "ServerConfig",
    "keyspace_events_from_string",
    "keyspace_events_to_string",
    "quote_arg",
    "split_args",
]

REDIS_VERSION = "7.0.15"

# ---- Errors ----


class ConfigFileError(Exception):
    """A fatal config error; ``str()`` is the block redis-server writes to stderr.

    ``lineno``/``line`` are None for errors detected after the last line (e.g. the log file
    cannot be opened). ``filename`` names the file being read, for people (Redis omits it).
    """

    def __init__(
        self,
        message: str,
        *,
        lineno: int | None = None,
        line: str | None = None,
        filename: str | None = None,
    ) -> None:
        self.message = message
        self.lineno = lineno
        self.line = line
        self.filename = filename
        super().__init__(message)

    def __str__(self) -> str:
        text = f"\n*** FATAL CONFIG FILE ERROR (Redis {REDIS_VERSION}) ***\n"
        if self.lineno is not None:
            text += f"Reading the configuration file, at line {self.lineno}\n>>> '{self.line}'\n"
        return text + self.message


class ConfigFatalLogError(ConfigFileError):
    """A fatal start-up error Redis reports as a WARNING log line, not as a FATAL block.

    e.g. ``Fatal error, can't open config file '/etc/redis.conf': No such file or directory``;
    ``str()`` is the log message without the ``pid:C date #`` prefix.
    """

    def __str__(self) -> str:
        return self.message


class ConfigSetError(Exception):
    """CONFIG SET / CONFIG REWRITE failure; ``str()`` is the exact error reply text."""


class ConfigApplyError(Exception):
    """Raised by an :meth:`ServerConfig.on_change` hook to veto a CONFIG SET.

    The message becomes the tail of Redis's reply, e.g.
    ``Unable to listen on this port. Check server logs.``
    """


class _Invalid(Exception):
    """Internal: a directive's arguments were rejected with Redis's ``err`` text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# ---- Keyspace notification flags (notify.c) ----

NOTIFY_KEYSPACE = 1 << 0  # K
NOTIFY_KEYEVENT = 1 << 1  # E
NOTIFY_GENERIC = 1 << 2  # g
NOTIFY_STRING = 1 << 3  # $
NOTIFY_LIST = 1 << 4  # l
NOTIFY_SET = 1 << 5  # s
NOTIFY_HASH = 1 << 6  # h
NOTIFY_ZSET = 1 << 7  # z
NOTIFY_EXPIRED = 1 << 8  # x
NOTIFY_EVICTED = 1 << 9  # e
NOTIFY_STREAM = 1 << 10  # t
NOTIFY_KEY_MISS = 1 << 11  # m
NOTIFY_LOADED = 1 << 12  # module only, no character
NOTIFY_MODULE = 1 << 13  # d
NOTIFY_NEW = 1 << 14  # n
NOTIFY_ALL = (
    NOTIFY_GENERIC
    | NOTIFY_STRING
    | NOTIFY_LIST
    | NOTIFY_SET
    | NOTIFY_HASH
    | NOTIFY_ZSET
    | NOTIFY_EXPIRED
    | NOTIFY_EVICTED
    | NOTIFY_STREAM
    | NOTIFY_MODULE
)  # A

_NOTIFY_CHARS = {
    "A": NOTIFY_ALL, "g": NOTIFY_GENERIC, "$": NOTIFY_STRING, "l": NOTIFY_LIST,
    "s": NOTIFY_SET, "h": NOTIFY_HASH, "z": NOTIFY_ZSET, "x": NOTIFY_EXPIRED,
    "e": NOTIFY_EVICTED, "K": NOTIFY_KEYSPACE, "E": NOTIFY_KEYEVENT, "t": NOTIFY_STREAM,
    "m": NOTIFY_KEY_MISS, "d": NOTIFY_MODULE, "n": NOTIFY_NEW,
}  # fmt: skip
_NOTIFY_CLASS_ORDER = "g$lshzxetdn"  # keyspaceEventsFlagsToString order when not 'A'


def keyspace_events_from_string(classes: str) -> int:
    """``"KEA"`` -> flags, like ``keyspaceEventsStringToFlags``; ValueError on a bad char."""
    flags = 0
    for ch in classes:
        bit = _NOTIFY_CHARS.get(ch)
        if bit is None:
            raise ValueError(f"invalid keyspace event class character {ch!r}")
        flags |= bit
    return flags


def keyspace_events_to_string(flags: int) -> str:
    """Flags -> the canonical string CONFIG GET shows (``"AKE"``, ``"xE"``, ``"gKm"`` ...)."""
    if flags & NOTIFY_ALL == NOTIFY_ALL:
        out = "A"
    else:
        out = "".join(ch for ch in _NOTIFY_CLASS_ORDER if flags & _NOTIFY_CHARS[ch])
    for ch, bit in (("K", NOTIFY_KEYSPACE), ("E", NOTIFY_KEYEVENT), ("m", NOTIFY_KEY_MISS)):
        if flags & bit:
            out += ch
    return out


# ---- Redis's string primitives: sdssplitargs, sdscatrepr, number parsing ----



def _bytes(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def _text(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def _ascii_lower(s: str) -> str:
    """C ``tolower``/``strcasecmp`` semantics: only A-Z are folded."""
    return s.lower() if s.isascii() else _text(_bytes(s).lower())


def split_args(line: str) -> list[str] | None:
    """Split a config line like Redis's ``sdssplitargs`` (resp.splitargs, shared with inline
    commands); None on unbalanced quotes. Bytes >= 0x80 come back surrogate-escaped, like
    undecodable file bytes."""
    args = split_arg_bytes(_bytes(line))
    return None if args is None else [_text(a) for a in args]


def quote_arg(value: str) -> str:
    """Redis's ``sdscatrepr``: a double-quoted, escaped rendering that split_args reverses."""
    out = ['"']
    for c in _bytes(value):
        if c == 0x5C:
            out.append("\\\\")
        elif c == 0x22:
            out.append('\\"')
        elif c in (0x0A, 0x0D, 0x09, 0x07, 0x08):
            out.append({0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x07: "\\a", 0x08: "\\b"}[c])
        elif 0x20 <= c <= 0x7E:
            out.append(chr(c))
        else:
            out.append(f"\\x{c:02x}")
    out.append('"')
    return "".join(out)


_LLONG_MIN, _LLONG_MAX = -(1 << 63), (1 << 63) - 1
_ULLONG_MAX = (1 << 64) - 1
_INT_MIN, _INT_MAX, _UINT_MAX = -(1 << 31), (1 << 31) - 1, (1 << 32) - 1
_LONG_MAX = _LLONG_MAX
_STRING2LL = re.compile(r"0|-?[1-9][0-9]*")
_STRTOLL = {
    10: re.compile(r"[ \t\n\v\f\r]*([+-]?)([0-9]+)"),
    8: re.compile(r"[ \t\n\v\f\r]*([+-]?)([0-7]+)"),
}
_STRTOD_DEC = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_STRTOD_HEX = re.compile(
    r"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?"
)
_STRTOD_INF = re.compile(r"[+-]?(?:inf|infinity)", re.IGNORECASE)
_MEMORY_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2,
                 "g": 1000**3, "gb": 1024**3}  # fmt: skip


def _signed64(v: int) -> int:
    v &= _ULLONG_MAX
    return v - (1 << 64) if v > _LLONG_MAX else v


def _int32(v: int) -> int:
    v &= _UINT_MAX
    return v - (1 << 32) if v > _INT_MAX else v


def _string2ll(s: str) -> int | None:
    """Redis's strict ``string2ll``: no spaces, no '+', no leading zeros, in int64 range."""
    if not _STRING2LL.fullmatch(s):
        return None
    v = int(s)
    return v if _LLONG_MIN <= v <= _LLONG_MAX else None


def _strtoll(s: str, base: int = 10) -> tuple[int, bool, bool]:
    """C ``strtoll``: (saturated value, whole string consumed, overflowed)."""
    m = _STRTOLL[base].match(s)
    if m is None:
        return 0, s == "", False
    v = int(m.group(2), base) * (-1 if m.group(1) == "-" else 1)
    clamped = min(max(v, _LLONG_MIN), _LLONG_MAX)
    return clamped, m.end() == len(s), clamped != v


def _memtoull(s: str) -> int | None:
    """Redis's ``memtoull``: digits plus an optional b/k/kb/m/mb/g/gb unit; None on error."""
    if s.startswith("-"):
        return None
    digits = s[: len(s) - len(s.lstrip("0123456789"))]
    mul = _MEMORY_UNITS.get(_ascii_lower(s[len(digits) :]))
    if mul is None or len(digits) >= 128:
        return None
    value = min(int(digits) if digits else 0, _ULLONG_MAX)  # strtoull saturates silently
    return None if value > _ULLONG_MAX // mul else value * mul


def _string2d(s: str) -> float | None:
    """Redis's ``string2d``: a whole-string C ``strtod`` (decimal, hex or inf), rejecting
    leading space, NaN, and overflow or underflow to zero (strtod's ERANGE)."""
    if _STRTOD_INF.fullmatch(s):
        return float(s)
    try:
        if _STRTOD_DEC.fullmatch(s):
            value, mantissa = float(s), re.split("[eE]", s)[0]
        elif _STRTOD_HEX.fullmatch(s):
            value, mantissa = float.fromhex(s), re.split("[pP]", s[s.lower().index("x") + 1 :])[0]
        else:
            return None
    except OverflowError:
        return None
    if value in (float("inf"), float("-inf")):
        return None
    if value == 0 and mantissa.strip("+-.0"):
        return None
    return value


def _format_double(x: float) -> str:
    """``%f`` then ``trimDoubleString`` (drop trailing zeros and a bare dot)."""
    text = f"{x:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _format_memory(value: int) -> str:
    """``rewriteConfigFormatMemory``: the largest exact gb/mb/kb unit (value as long long)."""
    value = _signed64(value)
    for unit, size in (("gb", 1 << 30), ("mb", 1 << 20), ("kb", 1 << 10)):
        quotient, remainder = divmod(abs(value), size)
        if value and not remainder:
            return f"{-quotient if value < 0 else quotient}{unit}"
    return str(value)


def _absolute_path(filename: str) -> str:
    """Redis's ``getAbsolutePath``: join with the cwd, folding only leading ``../``."""
    rel = filename.strip(" \r\n\t")
    if rel.startswith("/"):
        return rel
    base = os.getcwd()
    if not base.endswith("/"):
        base += "/"
    while rel.startswith("../"):
        rel = rel[3:]
        if len(base) > 1:
            base = base[: base.rstrip("/").rfind("/") + 1]
    return base + rel


# ---- Codecs: how a kind of directive parses, shows (CONFIG GET) and rewrites ----


class _Codec:
    """Base codec. ``parse`` gets the arguments after the name and returns a new value."""

    multi_arg = False  # CONFIG SET splits the value on spaces; the file passes all args

    def parse(self, cfg: ServerConfig, args: list[str]) -> Any:
        raise NotImplementedError

    def show(self, value: Any) -> str:
        return str(value)

    def rewrite(self, state: _RewriteState, d: Directive, value: Any) -> None:
        state.rewrite(d.name, f"{d.name} {self.show(value)}", value != d.default)


class _Bool(_Codec):
    def __init__(self, check: Callable[[bool], str | None] | None = None) -> None:
        self.check = check

    def parse(self, cfg: ServerConfig, args: list[str]) -> bool:
        word = _ascii_lower(args[0])
        if word not in ("yes", "no"):
            raise _Invalid("argument must be 'yes' or 'no'")
        value = word == "yes"
        if self.check and (err := self.check(value)):
            raise _Invalid(err)
        return value

    def show(self, value: bool) -> str:
        return "yes" if value else "no"


class _String(_Codec):
    """A string; ``null_if_empty`` strings treat "" as unset (never written on rewrite)."""

    def __init__(
        self, null_if_empty: bool, check: Callable[[ServerConfig, str], str | None] | None
    ) -> None:
        self.null_if_empty = null_if_empty
        self.check = check

    def parse(self, cfg: ServerConfig, args: list[str]) -> str:
        if self.check and (err := self.check(cfg, args[0])):
            raise _Invalid(err)
        return args[0]

    def rewrite(self, state: _RewriteState, d: Directive, value: str) -> None:
        if self.null_if_empty and value == "":
            state.mark(d.name)
            return
        force = self.null_if_empty or value != d.default
        state.rewrite(d.name, f"{d.name} {quote_arg(value)}", force)


class _Enum(_Codec):
    """One of fixed names (case-insensitive); ``bitflags`` enums OR several names together.

    The value kept is the canonical name string CONFIG GET prints (``"save now force"``).
    """

    def __init__(
        self,
        choices: Sequence[tuple[str, int]],
        bitflags: bool = False,
        check: Callable[[int], str | None] | None = None,
    ) -> None:
        self.choices = tuple(choices)
        self.multi_arg = bitflags
        self.check = check
        names = ", ".join(name for name, _ in self.choices)
        self.error = f"argument(s) must be one of the following: {names}"[:255]

    def parse(self, cfg: ServerConfig, args: list[str]) -> str:
        if not args or (not self.multi_arg and len(args) != 1):
            raise _Invalid(self.error)
        flags = 0
        for arg in args:
            word = _ascii_lower(arg)
            hits = [v for name, v in self.choices if name == word]
            if not hits:
                raise _Invalid(self.error)
            flags |= hits[0]
        if self.check and (err := self.check(flags)):
            raise _Invalid(err)
        return self.name_of(flags)

    def name_of(self, flags: int) -> str:
        """``configEnumGetName``: exact match first, else bit-flag names in table order."""
        names, unmatched = [], flags
        for name, v in self.choices:
            if v == flags:
                return name
            if self.multi_arg and v and v == unmatched & v:
                names.append(name)
                unmatched &= ~v
        return " ".join(names) if names and not unmatched else "unknown"


class _Number(_Codec):
    """A numeric directive: ``style`` is int, memory, percent (memory or N%) or octal.

    ``unsigned`` mirrors C types checked as unsigned (uint, size_t, unsigned long long):
    negative input wraps and fails the upper bound, as it does in Redis.
    """

    def __init__(
        self,
        lo: int,
        hi: int,
        style: str = "int",
        unsigned: bool = False,
        clamp: tuple[int, int] | None = None,
    ) -> None:
        self.lo, self.hi, self.style, self.unsigned, self.clamp = lo, hi, style, unsigned, clamp

    def parse(self, cfg: ServerConfig, args: list[str]) -> int:
        value = self._check_bounds(self._parse_text(args[0]))
        if self.clamp:
            value = min(max(value, self.clamp[0]), self.clamp[1])
        return value

    def _parse_text(self, s: str) -> int:
        style = self.style
        if style in ("memory", "percent") and (v := _memtoull(s)) is not None:
            return _signed64(v)
        if style == "percent" and len(s) > 1 and s.endswith("%"):
            v = _string2ll(s[:-1])
            if v is not None and v >= 0:
                return -v  # percentages are stored negated, as Redis does
        if style == "octal":
            v, whole, overflow = _strtoll(s, 8)
            if whole and not overflow:
                return v
        if style == "int" and (v := _string2ll(s)) is not None:
            return v
        raise _Invalid({
            "memory": "argument must be a memory value",
            "percent": "argument must be a memory or percent value",
            "octal": "argument couldn't be parsed as an octal number",
        }.get(style, "argument couldn't be parsed into an integer"))  # fmt: skip

    def _check_bounds(self, v: int) -> int:
        if self.unsigned:
            u = v & _ULLONG_MAX
            if not self.lo <= u <= self.hi:
                lo, hi = (
                    (f"{self.lo:o}", f"{self.hi:o}")
                    if self.style == "octal"
                    else (self.lo, self.hi)
                )
                raise _Invalid(f"argument must be between {lo} and {hi} inclusive")
            return u
        if self.style == "percent" and v < 0:
            if v < self.lo:
                raise _Invalid(f"percentage argument must be less or equal to {-self.lo}")
            return v
        if not self.lo <= v <= self.hi:
            raise _Invalid(f"argument must be between {self.lo} and {self.hi} inclusive")
        return v

    def show(self, value: int) -> str:
        if self.style == "percent" and value < 0:
            return f"{-value}%"
        return f"{value:o}" if self.style == "octal" else str(value)

    def rewrite(self, state: _RewriteState, d: Directive, value: int) -> None:
        if self.style == "percent" and value < 0:
            text = f"{-value}%"
        elif self.style in ("memory", "percent"):
            text = _format_memory(value)
        elif self.style == "octal":
            text = f"{value:o}"
        else:
            text = str(value)
        state.rewrite(d.name, f"{d.name} {text}", value != d.default)


class _Save(_Codec):
    """``save <seconds> <changes> [...]``; ``save ""`` clears. Value: [(seconds, changes)]."""

    multi_arg = True

    def parse(self, cfg: ServerConfig, args: list[str]) -> list[tuple[int, int]]:
        current = cfg.save
        if len(args) == 1 and args[0] == "":
            current, args = [], []
        if len(args) % 2:
            raise _Invalid("Invalid save parameters")
        numbers = []
        for j, arg in enumerate(args):
            v, whole, _ = _strtoll(arg)
            if not whole or v < (1 if j % 2 == 0 else 0):
                raise _Invalid("Invalid save parameters")
            numbers.append(v)
        if not cfg._reading_file or not cfg._save_loaded:
            # Outside a file every save replaces; inside, only the first one replaces.
            cfg._save_loaded = cfg._save_loaded or cfg._reading_file
            current = []
        pairs = [(numbers[j], _int32(numbers[j + 1])) for j in range(0, len(numbers), 2)]
        return current + pairs

    def show(self, value: list[tuple[int, int]]) -> str:
        return " ".join(f"{s} {c}" for s, c in value)

    def rewrite(self, state: _RewriteState, d: Directive, value: list[tuple[int, int]]) -> None:
        if not value:
            state.rewrite(d.name, 'save ""', True)
        for seconds, changes in value:
            state.rewrite(d.name, f"save {seconds} {changes}", True)
        state.mark(d.name)


_OBUF_CLASSES = ("normal", "replica", "pubsub")
_OBUF_NAMES = {"normal": "normal", "slave": "replica", "replica": "replica", "pubsub": "pubsub"}


class _BufferLimits(_Codec):
    """``client-output-buffer-limit <class> <hard> <soft> <secs> [...]``.

    Value: ``{"normal"|"replica"|"pubsub": (hard_bytes, soft_bytes, soft_seconds)}``.
    """

    multi_arg = True

    def parse(self, cfg: ServerConfig, args: list[str]) -> dict[str, tuple[int, int, int]]:
        if len(args) % 4:
            raise _Invalid("Wrong number of arguments in buffer limit configuration.")
        updates = {}
        for j in range(0, len(args), 4):
            cls = _OBUF_NAMES.get(_ascii_lower(args[j]))
            if cls is None:
                raise _Invalid("Invalid client class specified in buffer limit configuration.")
            hard, soft = _memtoull(args[j + 1]), _memtoull(args[j + 2])
            secs, whole, _ = _strtoll(args[j + 3])
            secs = _int32(secs)
            if hard is None or soft is None or secs < 0 or not whole:
                raise _Invalid(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                )
            updates[cls] = (hard, soft, secs)
        return {**cfg.client_output_buffer_limit, **updates}

    def show(self, value: dict[str, tuple[int, int, int]]) -> str:
        return " ".join(
            f"{'slave' if cls == 'replica' else cls} {h} {s} {t}"
            for cls in _OBUF_CLASSES
            for h, s, t in (value[cls],)
        )

    def rewrite(self, state: _RewriteState, d: Directive, value: dict) -> None:
        for cls in _OBUF_CLASSES:
            hard, soft, secs = value[cls]
            line = f"{d.name} {cls} {_format_memory(hard)} {_format_memory(soft)} {secs}"
            state.rewrite(d.name, line, value[cls] != d.default[cls])


class _OomValues(_Codec):
    multi_arg = True

    def parse(self, cfg: ServerConfig, args: list[str]) -> list[int]:
        if len(args) != 3:
            raise _Invalid("wrong number of arguments")
        values = []
        for arg in args:
            v, whole, _ = _strtoll(arg)
            if not whole or not -2000 <= v <= 2000:
                raise _Invalid(
                    "Invalid oom-score-adj-values, elements must be between -2000 and 2000."
                )
            values.append(v)
        return values

    def show(self, value: list[int]) -> str:
        return " ".join(map(str, value))


class _Notify(_Codec):
    """notify-keyspace-events; the value is the flag bitmask (``cfg.notify_flags``)."""

    def parse(self, cfg: ServerConfig, args: list[str]) -> int:
        try:
            return keyspace_events_from_string(args[0])
        except ValueError:
            raise _Invalid("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.") from None

    def show(self, value: int) -> str:
        return keyspace_events_to_string(value)

    def rewrite(self, state: _RewriteState, d: Directive, value: int) -> None:
        state.rewrite(d.name, f"{d.name} {quote_arg(self.show(value))}", value != 0)


class _Bind(_Codec):
    multi_arg = True

    def parse(self, cfg: ServerConfig, args: list[str]) -> list[str]:
        if len(args) > 16:
            raise _Invalid("Too many bind addresses specified.")
        return [] if args == [""] else list(args)

    def show(self, value: list[str]) -> str:
        return " ".join(value)

    def rewrite(self, state: _RewriteState, d: Directive, value: list[str]) -> None:
        if value == d.default:
            state.mark(d.name)
            return
        addresses = " ".join(value) if value else '""'
        state.rewrite(d.name, f"{d.name} {addresses}", True)


class _Replicaof(_Codec):
    """``replicaof <host> <port>`` or ``replicaof no one``; value ``(host, port)`` or None."""

    multi_arg = True

    def parse(self, cfg: ServerConfig, args: list[str]) -> tuple[str, int] | None:
        if len(args) != 2:
            raise _Invalid("wrong number of arguments")
        if _ascii_lower(args[0]) == "no" and _ascii_lower(args[1]) == "one":
            return None
        port, whole, _ = _strtoll(args[1])
        if not whole or not 0 <= port <= 65535:
            raise _Invalid("Invalid master port")
        return (args[0], port)

    def show(self, value: tuple[str, int] | None) -> str:
        return f"{value[0]} {value[1]}" if value else ""

    def rewrite(self, state: _RewriteState, d: Directive, value: tuple[str, int] | None) -> None:
        if value is None:
            state.mark(d.name)
        else:
            state.rewrite(d.name, f"{d.name} {value[0]} {value[1]}", True)


class _Percentiles(_Codec):
    multi_arg = True

    def parse(self, cfg: ServerConfig, args: list[str]) -> list[float]:
        if args == [""]:
            return []
        values = []
        for arg in args:
            v = _string2d(arg)
            if v is None:
                raise _Invalid("Invalid latency-tracking-info-percentiles parameters")
            if not 0.0 <= v <= 100.0:
                raise _Invalid(
                    "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                )
            values.append(v)
        return values

    def show(self, value: list[float]) -> str:
        return " ".join(_format_double(v) for v in value)

    def rewrite(self, state: _RewriteState, d: Directive, value: list[float]) -> None:
        text = self.show(value) if value else '""'
        state.rewrite(d.name, f"{d.name} {text}", True)


class _Dir(_Codec):
    """``dir``: Redis chdir()s; we only resolve and remember the absolute path."""

    def parse(self, cfg: ServerConfig, args: list[str]) -> str:
        if len(args) != 1:
            raise _Invalid("wrong number of arguments")
        path = os.path.join(cfg.dir, args[0]) if args[0] else ""
        try:
            mode = os.stat(path).st_mode
        except OSError as exc:
            raise _Invalid(os.strerror(exc.errno or errno.ENOENT)) from None
        if not stat.S_ISDIR(mode):
            raise _Invalid(os.strerror(errno.ENOTDIR))
        if not os.access(path, os.X_OK):
            raise _Invalid(os.strerror(errno.EACCES))
        return os.path.realpath(path)

    def rewrite(self, state: _RewriteState, d: Directive, value: str) -> None:
        state.rewrite(d.name, f"{d.name} {quote_arg(value)}", True)


# ---- Validators (is_valid_fn in config.c) ----

_HOSTNAME_CHARS = re.compile(r"[A-Za-z0-9.-]*")
_PROC_TITLE_VARS = ("title", "listen-addr", "server-mode", "config-file", "port", "tls-port",
                    "unixsocket")  # fmt: skip


def _check_basename(what: str, kind: str, allow_empty: bool = True):
    def check(cfg: ServerConfig, value: str) -> str | None:
        if not allow_empty and value == "":
            return f"{what} can't be empty"
        if "/" in value or "\\" in value:
            return f"{what} can't be a path, just a {kind}"
        return None

    return check


def _check_hostname(cfg: ServerConfig, value: str) -> str | None:
    if len(_bytes(value)) >= 256:
        return "Hostnames must be less than 256 characters"
    if not _HOSTNAME_CHARS.fullmatch(value):
        return "Hostnames may only contain alphanumeric characters, hyphens or dots"
    return None


def _proc_title_variable(cfg: ServerConfig, name: str) -> str | None:
    port = cfg.port or cfg.tls_port
    return {
        "title": "",
        "listen-addr": (f"{cfg.bind[0] if cfg.bind else '*'}:{port}" if port
                        else f"unixsocket:{cfg.unixsocket}"),
        "server-mode": "[cluster]" if cfg.cluster_enabled else "",
        "config-file": cfg.config_file or "-",
        "port": str(cfg.port),
        "tls-port": str(cfg.tls_port),
        "unixsocket": cfg.unixsocket,
    }.get(name)  # fmt: skip


def _check_proc_title(cfg: ServerConfig, template: str) -> str | None:
    """``validateProcTitleTemplate``: sdstemplate must expand, and not to blanks only."""
    out, i = [], 0
    bad = "template format is invalid or contains unknown variables"
    while (start := template.find("{", i)) >= 0:
        out.append(template[i:start])
        if start + 1 >= len(template):
            return bad
        if template[start + 1] == "{":
            out.append("{")
            i = start + 2
            continue
        end = template.find("}", start + 1)
        value = _proc_title_variable(cfg, template[start + 1 : end]) if end >= 0 else None
        if value is None:
            return bad
        out.append(value)
        i = end + 1
    out.append(template[i:])
    return None if "".join(out).strip(" ") else bad


def _check_activedefrag(value: bool) -> str | None:
    if value:
        return (
            "Active defragmentation cannot be enabled: it requires a Redis server compiled "
            "with a modified Jemalloc like the one shipped by default with the Redis source "
            "distribution"
        )
    return None


def _check_shutdown_flags(flags: int) -> str | None:
    if flags & 1 and flags & 2:
        return "shutdown options SAVE and NOSAVE can't be used simultaneously"
    return None


# ---- The directive table ----

IMMUTABLE = 1  # CONFIG SET refuses: "can't set immutable config"
PROTECTED = 2  # CONFIG SET only when enable-protected-configs allows it
HIDDEN = 4  # not matched by CONFIG GET patterns, only by its exact name
SENSITIVE = 8  # the value must be redacted from slowlog / MONITOR


@dataclass(frozen=True, eq=False)
class Directive:
    """One row of the table: a redis.conf directive and how to handle it."""

    name: str
    codec: _Codec
    default: Any
    flags: int = 0
    alias: str | None = None
    attr: str = ""  # attribute on ServerConfig; defaults to name with '-' -> '_'
    set_min: int | None = None  # CONFIG SET raises a changed value to this (an apply hook)

    def __post_init__(self) -> None:
        if not self.attr:
            object.__setattr__(self, "attr", self.name.replace("-", "_"))


def _bool(name, default, flags=0, alias=None, check=None) -> Directive:
    return Directive(name, _Bool(check), default, flags, alias)


def _str(name, default="", flags=0, alias=None, null=True, check=None) -> Directive:
    return Directive(name, _String(null, check), default, flags, alias)


def _enum(name, choices, default, flags=0, alias=None, bitflags=False, check=None) -> Directive:
    return Directive(name, _Enum(choices, bitflags, check), default, flags, alias)


def _num(name, lo, hi, default, flags=0, alias=None, style="int", unsigned=False, clamp=None,
         set_min=None) -> Directive:  # fmt: skip
    codec = _Number(lo, hi, style, unsigned, clamp)
    return Directive(name, codec, default, flags, alias, set_min=set_min)


def _names(*names: str) -> list[tuple[str, int]]:
    return [(name, i) for i, name in enumerate(names)]


_MAXMEMORY_POLICIES = _names("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
                             "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction")  # fmt: skip
_PROTECTED_ACTION = _names("no", "yes", "local")
_SHUTDOWN_FLAGS = [("default", 0), ("save", 1), ("nosave", 2), ("now", 4), ("force", 8)]
_MB = 1 << 20

# fmt: off
DIRECTIVES: tuple[Directive, ...] = (
    # -- bool --
    _bool("rdbchecksum", True, IMMUTABLE),
    _bool("daemonize", False, IMMUTABLE),
    _bool("io-threads-do-reads", False, IMMUTABLE),
    _bool("always-show-logo", False, IMMUTABLE),
    _bool("protected-mode", True),
    _bool("rdbcompression", True),
    _bool("rdb-del-sync-files", False),
    _bool("activerehashing", True),
    _bool("stop-writes-on-bgsave-error", True),
    _bool("set-proc-title", True, IMMUTABLE),
    _bool("dynamic-hz", True),
    _bool("lazyfree-lazy-eviction", False),
    _bool("lazyfree-lazy-expire", False),
    _bool("lazyfree-lazy-server-del", False),
    _bool("lazyfree-lazy-user-del", False),
    _bool("lazyfree-lazy-user-flush", False),
    _bool("repl-disable-tcp-nodelay", False),
    _bool("repl-diskless-sync", True),
    _bool("aof-rewrite-incremental-fsync", True),
    _bool("no-appendfsync-on-rewrite", False),
    _bool("cluster-require-full-coverage", True),
    _bool("rdb-save-incremental-fsync", True),
    _bool("aof-load-truncated", True),
    _bool("aof-use-rdb-preamble", True),
    _bool("aof-timestamp-enabled", False),
    _bool("cluster-replica-no-failover", False, alias="cluster-slave-no-failover"),
    _bool("replica-lazy-flush", False, alias="slave-lazy-flush"),
    _bool("replica-serve-stale-data", True, alias="slave-serve-stale-data"),
    _bool("replica-read-only", True, alias="slave-read-only"),
    _bool("replica-ignore-maxmemory", True, alias="slave-ignore-maxmemory"),
    _bool("jemalloc-bg-thread", True),
    _bool("activedefrag", False, check=_check_activedefrag),
    _bool("syslog-enabled", False, IMMUTABLE),
    _bool("cluster-enabled", False, IMMUTABLE),
    _bool("appendonly", False),
    _bool("cluster-allow-reads-when-down", False),
    _bool("cluster-allow-pubsubshard-when-down", True),
    _bool("crash-log-enabled", True),
    _bool("crash-memcheck-enabled", True),
    _bool("use-exit-on-panic", False, HIDDEN),
    _bool("disable-thp", True, IMMUTABLE),
    _bool("cluster-allow-replica-migration", True),
    _bool("replica-announced", True),
    _bool("latency-tracking", True),
    _bool("aof-disable-auto-gc", False),
    _bool("replica-ignore-disk-write-errors", False),
    _bool("tls-cluster", False),
    _bool("tls-replication", False),
    _bool("tls-prefer-server-ciphers", False),
    _bool("tls-session-caching", True),
    # -- string ("null" ones read as "" when unset and are never written on rewrite) --
    _str("aclfile", "", IMMUTABLE, null=False),
    _str("unixsocket", "", IMMUTABLE),
    _str("pidfile", "", IMMUTABLE),
    _str("replica-announce-ip", alias="slave-announce-ip"),
    _str("masteruser", flags=SENSITIVE),
    _str("cluster-announce-ip"),
    _str("cluster-config-file", "nodes.conf", IMMUTABLE, null=False),
    _str("cluster-announce-hostname", check=_check_hostname),
    _str("syslog-ident", "redis", IMMUTABLE, null=False),
    _str("dbfilename", "dump.rdb", PROTECTED, null=False,
         check=_check_basename("dbfilename", "filename")),
    _str("appendfilename", "appendonly.aof", IMMUTABLE, null=False,
         check=_check_basename("appendfilename", "filename", allow_empty=False)),
    _str("appenddirname", "appendonlydir", IMMUTABLE, null=False,
         check=_check_basename("appenddirname", "dirname", allow_empty=False)),
    _str("server_cpulist", flags=IMMUTABLE),
    _str("bio_cpulist", flags=IMMUTABLE),
    _str("aof_rewrite_cpulist", flags=IMMUTABLE),
    _str("bgsave_cpulist", flags=IMMUTABLE),
    _str("ignore-warnings", "", null=False),
    _str("proc-title-template", "{title} {listen-addr} {server-mode}", null=False,
         check=_check_proc_title),
    _str("bind-source-addr"),
    _str("logfile", "", IMMUTABLE, null=False),
    _str("masterauth", flags=SENSITIVE),
    _str("requirepass", flags=SENSITIVE),
    _str("tls-cert-file"),
    _str("tls-key-file"),
    _str("tls-key-file-pass"),
    _str("tls-client-cert-file"),
    _str("tls-client-key-file"),
    _str("tls-client-key-file-pass"),
    _str("tls-dh-params-file"),
    _str("tls-ca-cert-file"),
    _str("tls-ca-cert-dir"),
    _str("tls-protocols"),
    _str("tls-ciphers"),
    _str("tls-ciphersuites"),
    # -- enum --
    _enum("supervised", [("upstart", 1), ("systemd", 2), ("auto", 3), ("no", 0)], "no", IMMUTABLE),
    _enum("syslog-facility", _names("user", *(f"local{i}" for i in range(8))), "local0", IMMUTABLE),
    _enum("repl-diskless-load", _names("disabled", "on-empty-db", "swapdb"), "disabled"),
    _enum("loglevel", _names("debug", "verbose", "notice", "warning"), "notice"),
    _enum("maxmemory-policy", _MAXMEMORY_POLICIES, "noeviction"),
    _enum("appendfsync", [("everysec", 2), ("always", 1), ("no", 0)], "everysec"),
    _enum("oom-score-adj", [("no", 0), ("yes", 1), ("relative", 1), ("absolute", 2)], "no"),
    _enum("acl-pubsub-default", [("allchannels", 1), ("resetchannels", 0)], "resetchannels"),
    _enum("sanitize-dump-payload", _names("no", "yes", "clients"), "no"),
    _enum("enable-protected-configs", _PROTECTED_ACTION, "no", IMMUTABLE),
    _enum("enable-debug-command", _PROTECTED_ACTION, "no", IMMUTABLE),
    _enum("enable-module-command", _PROTECTED_ACTION, "no", IMMUTABLE),
    _enum("cluster-preferred-endpoint-type", _names("ip", "hostname", "unknown-endpoint"), "ip"),
    _enum("propagation-error-behavior", _names("ignore", "panic", "panic-on-replicas"), "ignore"),
    _enum("shutdown-on-sigint", _SHUTDOWN_FLAGS, "default", bitflags=True,
          check=_check_shutdown_flags),
    _enum("shutdown-on-sigterm", _SHUTDOWN_FLAGS, "default", bitflags=True,
          check=_check_shutdown_flags),
    _enum("tls-auth-clients", _names("no", "yes", "optional"), "yes"),
    # -- int --
    _num("databases", 1, _INT_MAX, 16, IMMUTABLE),
    _num("port", 0, 65535, 6379),
    _num("io-threads", 1, 128, 1, IMMUTABLE),
    _num("auto-aof-rewrite-percentage", 0, _INT_MAX, 100),
    _num("cluster-replica-validity-factor", 0, _INT_MAX, 10, alias="cluster-slave-validity-factor"),
    _num("list-max-listpack-size", _INT_MIN, _INT_MAX, -2, alias="list-max-ziplist-size"),
    _num("tcp-keepalive", 0, _INT_MAX, 300),
    _num("cluster-migration-barrier", 0, _INT_MAX, 1),
    _num("active-defrag-cycle-min", 1, 99, 1),
    _num("active-defrag-cycle-max", 1, 99, 25),
    _num("active-defrag-threshold-lower", 0, 1000, 10),
    _num("active-defrag-threshold-upper", 0, 1000, 100),
    _num("lfu-log-factor", 0, _INT_MAX, 10),
    _num("lfu-decay-time", 0, _INT_MAX, 1),
    _num("replica-priority", 0, _INT_MAX, 100, alias="slave-priority"),
    _num("repl-diskless-sync-delay", 0, _INT_MAX, 5),
    _num("maxmemory-samples", 1, _INT_MAX, 5),
    _num("maxmemory-eviction-tenacity", 0, 100, 10),
    _num("timeout", 0, _INT_MAX, 0),
    _num("replica-announce-port", 0, 65535, 0, alias="slave-announce-port"),
    _num("tcp-backlog", 0, _INT_MAX, 511, IMMUTABLE),
    _num("cluster-port", 0, 65535, 0, IMMUTABLE),
    _num("cluster-announce-bus-port", 0, 65535, 0),
    _num("cluster-announce-port", 0, 65535, 0),
    _num("cluster-announce-tls-port", 0, 65535, 0),
    _num("repl-timeout", 1, _INT_MAX, 60),
    _num("repl-ping-replica-period", 1, _INT_MAX, 10, alias="repl-ping-slave-period"),
    _num("list-compress-depth", 0, _INT_MAX, 0),
    _num("rdb-key-save-delay", _INT_MIN, _INT_MAX, 0, HIDDEN),
    _num("key-load-delay", _INT_MIN, _INT_MAX, 0, HIDDEN),
    _num("active-expire-effort", 1, 10, 1),
    _num("hz", 0, _INT_MAX, 10, clamp=(1, 500)),
    _num("min-replicas-to-write", 0, _INT_MAX, 0, alias="min-slaves-to-write"),
    _num("min-replicas-max-lag", 0, _INT_MAX, 10, alias="min-slaves-max-lag"),
    _num("watchdog-period", 0, _INT_MAX, 0, HIDDEN),
    _num("shutdown-timeout", 0, _INT_MAX, 10),
    _num("repl-diskless-sync-max-replicas", 0, _INT_MAX, 0),
    _num("tls-port", 0, 65535, 0),
    _num("tls-session-cache-size", 0, _INT_MAX, 20 * 1024),
    _num("tls-session-cache-timeout", 0, _INT_MAX, 300),
    # -- unsigned int / unsigned long / long long / unsigned long long --
    _num("maxclients", 1, _UINT_MAX, 10000, unsigned=True),
    _num("unixsocketperm", 0, 0o777, 0, IMMUTABLE, style="octal", unsigned=True),
    _num("socket-mark-id", 0, _UINT_MAX, 0, IMMUTABLE, unsigned=True),
    _num("active-defrag-max-scan-fields", 1, _LONG_MAX, 1000),
    _num("slowlog-max-len", 0, _LONG_MAX, 128),
    _num("acllog-max-len", 0, _LONG_MAX, 128),
    _num("busy-reply-threshold", 0, _LONG_MAX, 5000, alias="lua-time-limit"),
    _num("cluster-node-timeout", 0, _LLONG_MAX, 15000),
    _num("slowlog-log-slower-than", -1, _LLONG_MAX, 10000),
    _num("latency-monitor-threshold", 0, _LLONG_MAX, 0),
    _num("proto-max-bulk-len", _MB, _LONG_MAX, 512 * _MB, style="memory"),
    _num("stream-node-max-entries", 0, _LLONG_MAX, 100),
    _num("repl-backlog-size", 1, _LLONG_MAX, _MB, style="memory", set_min=16 * 1024),
    _num("maxmemory", 0, _ULLONG_MAX, 0, style="memory", unsigned=True),
    _num("cluster-link-sendbuf-limit", 0, _ULLONG_MAX, 0, style="memory", unsigned=True),
    # -- size_t / ssize_t / time_t / off_t (encoding thresholds live here) --
    _num("hash-max-listpack-entries", 0, _LONG_MAX, 512, alias="hash-max-ziplist-entries",
         unsigned=True),
    _num("set-max-intset-entries", 0, _LONG_MAX, 512, unsigned=True),
    _num("zset-max-listpack-entries", 0, _LONG_MAX, 128, alias="zset-max-ziplist-entries",
         unsigned=True),
    _num("active-defrag-ignore-bytes", 1, _LLONG_MAX, 100 * _MB, style="memory", unsigned=True),
    _num("hash-max-listpack-value", 0, _LONG_MAX, 64, alias="hash-max-ziplist-value",
         style="memory", unsigned=True),
    _num("stream-node-max-bytes", 0, _LONG_MAX, 4096, style="memory", unsigned=True),
    _num("zset-max-listpack-value", 0, _LONG_MAX, 64, alias="zset-max-ziplist-value",
         style="memory", unsigned=True),
    _num("hll-sparse-max-bytes", 0, _LONG_MAX, 3000, style="memory", unsigned=True),
    _num("tracking-table-max-keys", 0, _LONG_MAX, 1000000, unsigned=True),
    _num("client-query-buffer-limit", _MB, _LONG_MAX, 1024 * _MB, style="memory", unsigned=True),
    _num("maxmemory-clients", -100, _LONG_MAX, 0, style="percent"),
    _num("repl-backlog-ttl", 0, _LONG_MAX, 3600),
    _num("auto-aof-rewrite-min-size", 0, _LLONG_MAX, 64 * _MB, style="memory"),
    _num("loading-process-events-interval-bytes", 1024, _INT_MAX, 2 * _MB, HIDDEN),
    # Redis 7.2's set listpack thresholds: accepted here for the set type's encoding, but
    # HIDDEN so that CONFIG GET * lists exactly what 7.0.15 lists.
    _num("set-max-listpack-entries", 0, _LONG_MAX, 128, HIDDEN, unsigned=True),
    _num("set-max-listpack-value", 0, _LONG_MAX, 64, HIDDEN, style="memory", unsigned=True),
    # -- special --
    Directive("dir", _Dir(), "", PROTECTED),
    Directive("save", _Save(), [(3600, 1), (300, 100), (60, 10000)]),
    Directive("client-output-buffer-limit", _BufferLimits(),
              {"normal": (0, 0, 0), "replica": (256 * _MB, 64 * _MB, 60),
               "pubsub": (32 * _MB, 8 * _MB, 60)}),
    Directive("oom-score-adj-values", _OomValues(), [0, 200, 800]),
    Directive("notify-keyspace-events", _Notify(), 0, attr="notify_flags"),
    Directive("bind", _Bind(), ["*", "-::*"]),
    Directive("replicaof", _Replicaof(), None, IMMUTABLE, alias="slaveof"),
    Directive("latency-tracking-info-percentiles", _Percentiles(), [50.0, 99.0, 99.9]),
)
# fmt: on

# Every registered name (primary or alias), lower-case, in table order -> directive.
_LOOKUP: dict[str, Directive] = {}
for _d in DIRECTIVES:
    _LOOKUP[_d.name] = _d
    if _d.alias:
        _LOOKUP[_d.alias] = _d
_ALIAS_ATTRS = {d.alias.replace("-", "_"): d.attr for d in DIRECTIVES if d.alias}
_PATTERN_NAMES = tuple((name, d) for name, d in _LOOKUP.items() if not d.flags & HIDDEN)
_DEPRECATED = ("list-max-ziplist-entries", "list-max-ziplist-value", "lua-replicate-commands")
_FILE_ONLY = ("include", "rename-command", "user", "loadmodule", "sentinel")


# ---- CONFIG REWRITE state (rewriteConfig* in config.c) ----


class _RewriteState:
    """The old file as lines plus, per option, the line numbers that mention it."""

    SIGNATURE = "# Generated by CONFIG REWRITE"

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.option_lines: dict[str, list[int]] = {}
        self.processed: set[str] = set()
        self.needs_signature = True

    @classmethod
    def from_text(cls, text: str, sentinel_mode: bool = False) -> _RewriteState:
        state = cls()
        for raw in text.split("\n") if text else ():
            line = raw.strip("\r\n\t ")
            if not line or line[0] == "#":
                if line == cls.SIGNATURE:
                    state.needs_signature = False
                state.lines.append(line)
                continue
            argv = split_args(line)
            name = _ascii_lower(argv[0]) if argv else ""
            if argv is None or (name not in _LOOKUP and name not in _FILE_ONLY):
                state.lines.append("# ??? " + line)  # unparsable or unknown: keep as comment
                continue
            option = _LOOKUP[name].name if name in _LOOKUP else name  # alias -> primary
            if sentinel_mode and name == "sentinel" and len(argv) > 1:
                option = "sentinel " + _ascii_lower(argv[1])  # e.g. "sentinel monitor"
            state.option_lines.setdefault(option, []).append(len(state.lines))
            state.lines.append(line)
        return state

    def mark(self, option: str) -> None:
        self.processed.add(option)

    def rewrite(self, option: str, line: str, force: bool) -> None:
        """Reuse the option's next old line, else append (when forced) after the signature."""
        self.processed.add(option)
        slots = self.option_lines.get(option)
        if slots:
            self.lines[slots.pop(0)] = line
        elif force:
            if self.needs_signature:
                self.lines.append(self.SIGNATURE)
                self.needs_signature = False
            self.lines.append(line)

    def content(self) -> str:
        """Blank the unused lines of processed options, squeeze runs of empty lines."""
        for option, slots in self.option_lines.items():
            if option in self.processed:
                for i in slots:
                    self.lines[i] = ""
        out, was_empty = [], False
        for line in self.lines:
            if not line and was_empty:
                continue
            was_empty = not line
            out.append(line + "\n")
        return "".join(out)


def _current_umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _overwrite_file(path: str, content: str) -> None:
    """Write to ``<path>.XXXXXX``, fsync, chmod 0644 & ~umask, rename over ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", dir=os.path.dirname(path))
    try:
        data = _bytes(content)
        while data:
            data = data[os.write(fd, data) :]
        os.fsync(fd)
        os.fchmod(fd, 0o644 & ~_current_umask())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    finally:
        os.close(fd)


# ---- Command line (main() in server.c) ----


def _fgets_concat(data: bytes) -> bytes:
    """File content as Redis assembles it: ``fgets`` 1024-byte chunks joined with ``sdscat``,
    so a NUL byte drops the rest of its chunk (up to and including the next newline)."""
    out, pos, n = [], 0, len(data)
    while pos < n:
        newline = data.find(b"\n", pos, pos + 1024)
        end = newline + 1 if newline >= 0 else min(pos + 1024, n)
        out.append(data[pos:end].split(b"\0", 1)[0])
        pos = end
    return b"".join(out)


def _options_from_argv(argv: list[str], start: int) -> tuple[str, bool]:
    """``--name arg ...`` -> config lines (values sdscatrepr-quoted); and whether "-" was given."""
    options, from_stdin, handled_last, n = "", False, True, len(argv)
    for k in range(start, n):
        arg = argv[k]
        if arg == "-" and (k == 0 or k == n - 1):
            from_stdin = True
        elif handled_last and arg.startswith("--"):
            if options:
                options += "\n"
            options += arg[2:] + " "
            tokens = split_args(arg)
            handled_last = not (tokens is not None and len(tokens) == 1)
            if handled_last:
                continue
            next_is_option = k != n - 1 and argv[k + 1].startswith("--")
            name = _ascii_lower(arg)
            if name == "--save" and (next_is_option or k == n - 1):
                options += '""'  # "--save" with no value means save ""
                handled_last = next_is_option
            elif name == "--sentinel" and next_is_option:
                handled_last = True
        else:
            options += quote_arg(arg) + " "
            handled_last = True
    return options, from_stdin


# ---- ServerConfig ----

Callback = Callable[[str], None]


class ServerConfig:
    """All redis-server directives as attributes, plus CONFIG GET / SET / REWRITE.

    Every row of DIRECTIVES is an attribute named with '-' -> '_' (alias spellings such as
    ``slave_read_only`` or ``lua_time_limit`` read the primary). The most used ones:
    """

    config_file: str | None  # absolute path given on the command line, or None
    port: int
    bind: list[str]
    protected_mode: bool
    requirepass: str  # "" when unset
    masterauth: str
    masteruser: str
    daemonize: bool
    pidfile: str
    logfile: str
    loglevel: str
    dir: str  # absolute; never chdir()-ed
    databases: int
    timeout: int
    tcp_keepalive: int
    maxclients: int
    maxmemory: int  # bytes
    maxmemory_policy: str
    maxmemory_samples: int
    maxmemory_clients: int  # bytes, or -N for N percent (Redis's own encoding)
    hz: int  # already clamped to 1..500
    proto_max_bulk_len: int
    client_query_buffer_limit: int
    client_output_buffer_limit: dict[str, tuple[int, int, int]]  # normal/replica/pubsub
    notify_flags: int  # notify_keyspace_events is the matching string (a property)
    replicaof: tuple[str, int] | None
    replica_read_only: bool
    save: list[tuple[int, int]]
    dbfilename: str
    appendonly: bool
    appendfsync: str
    appendfilename: str
    slowlog_log_slower_than: int
    slowlog_max_len: int
    latency_monitor_threshold: int
    busy_reply_threshold: int
    unixsocket: str
    unixsocketperm: int
    lfu_log_factor: int
    lfu_decay_time: int
    enable_protected_configs: str
    cluster_enabled: bool

    def __init__(
        self, *, known_commands: Iterable[str] | None = None, sentinel_mode: bool = False
    ) -> None:
        for d in DIRECTIVES:
            default = d.default
            setattr(self, d.attr, default.copy() if hasattr(default, "copy") else default)
        self.dir = os.getcwd()
        # Sentinel mode (initSentinelConfig): port 26379, protected-mode off, and `sentinel`
        # lines are collected as (lineno, line, args after "sentinel") for sentinel.config.
        self.sentinel_mode = sentinel_mode
        self.sentinel_lines: list[tuple[int, str, list[str]]] = []
        self._line_at: tuple[int, str] = (0, "")
        if sentinel_mode:
            self.port, self.protected_mode = 26379, False
        self.config_file = None
        self.rename_commands: list[tuple[str, str]] = []  # (old, new); new "" = disabled
        self.users: list[list[str]] = []  # raw ``user`` arguments (ACL is not modelled here)
        self.loadmodules: list[list[str]] = []  # raw ``loadmodule`` arguments
        self.module_configs: dict[str, str] = {}  # ``module.option value`` lines
        known = known_commands
        self._commands = None if known is None else {_ascii_lower(c) for c in known}
        self._callbacks: dict[str, list[Callback]] = {}
        self._reading_file = False
        self._save_loaded = False

    def __getattr__(self, name: str) -> Any:
        # Only reached for names that are not instance attributes: alias spellings.
        target = _ALIAS_ATTRS.get(name)
        if target is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return getattr(self, target)

    @property
    def notify_keyspace_events(self) -> str:
        return keyspace_events_to_string(self.notify_flags)

    # -- loading --

    @classmethod
    def from_argv(
        cls,
        argv: list[str],
        stdin: TextIO | None = None,
        *,
        known_commands: Iterable[str] | None = None,
        sentinel_mode: bool = False,
    ) -> ServerConfig:
        """Configure like ``redis-server [configfile|-] [--directive args ...] [-]``."""
        cfg = cls(known_commands=known_commands, sentinel_mode=sentinel_mode)
        if not argv:
            return cfg
        start = 0
        if not argv[0].startswith("-"):
            cfg.config_file = _absolute_path(argv[0])
            start = 1
        options, from_stdin = _options_from_argv(argv, start)
        text = cfg._read_config(cfg.config_file) if cfg.config_file else ""
        if from_stdin:
            data = (stdin if stdin is not None else sys.stdin).read()
            text += _text(_fgets_concat(_bytes(data)))
        cfg.load_text(text + "\n" + options, cfg.config_file or "(command line)")
        cfg._check_started()
        return cfg

    def load_file(self, path: str) -> None:
        """Read and apply one file (or every match of a glob), as ``include`` does."""
        full = os.path.join(self.dir, path)
        if any(ch in path for ch in "*?["):
            text = "".join(self._read_config(p) for p in sorted(globlib.glob(full)))
        else:
            text = self._read_config(full, shown=path)
        self.load_text(text, path)

    def load_text(self, text: str, filename: str) -> None:
        """Parse and apply config text; raises ConfigFileError with Redis's FATAL block."""
        self._reading_file = True
        lines = text.split("\0", 1)[0].split("\n")  # Redis reads the text up to a NUL
        for lineno, raw in enumerate(lines, 1):
            line = raw.strip(" \t\r\n")
            if not line or line[0] == "#":
                continue
            argv = split_args(line)
            try:
                if argv is None:
                    raise _Invalid("Unbalanced quotes in configuration line")
                if argv:
                    self._line_at = (lineno, line)
                    self._apply_line(argv)
            except _Invalid as exc:
                raise ConfigFileError(
                    exc.message, lineno=lineno, line=line, filename=filename
                ) from None
        if self.cluster_enabled and self.replicaof is not None:
            raise ConfigFileError("replicaof directive not allowed in cluster mode")
        self._reading_file = False

    def _apply_line(self, argv: list[str]) -> None:
        name, args = _ascii_lower(argv[0]), argv[1:]
        d = _LOOKUP.get(name)
        if d is not None:
            if not d.codec.multi_arg and len(args) != 1:
                raise _Invalid("wrong number of arguments")
            if d.codec.multi_arg and len(args) == 1 and " " in args[0]:
                args = args[0].split(" ")   # `replicaof "host port"`: one quoted argument
            setattr(self, d.attr, d.codec.parse(self, args))
        elif name in _DEPRECATED and len(argv) == 2:
            pass  # silently ignored, like Redis
        elif name == "include" and len(argv) == 2:
            self.load_file(args[0])
        elif name == "rename-command" and len(argv) == 3:
            self._rename_command(args[0], args[1])
        elif name == "user" and len(argv) >= 2:
            self.users.append(args)
        elif name == "loadmodule" and len(argv) >= 2:
            self.loadmodules.append(args)
        elif "." in name:
            if len(argv) != 2:
                raise _Invalid("Module config specified without value")
            self.module_configs[name] = args[0]
        elif name == "sentinel":
            if len(argv) != 1 and not self.sentinel_mode:
                raise _Invalid("sentinel directive while not in sentinel mode")
            if len(argv) != 1:
                self.sentinel_lines.append((*self._line_at, args))
        else:
            raise _Invalid("Bad directive or wrong number of arguments")

    def _rename_command(self, old: str, new: str) -> None:
        if self._commands is not None:
            key = _ascii_lower(old)
            if key not in self._commands:
                raise _Invalid("No such command in rename-command")
            self._commands.discard(key)
            if new and _ascii_lower(new) in self._commands:
                raise _Invalid("Target command name already exists")
            if new:
                self._commands.add(_ascii_lower(new))
        self.rename_commands.append((old, new))

    def _read_config(self, path: str, shown: str | None = None) -> str:
        try:
            if os.path.isdir(path):
                return ""  # fopen() succeeds on a directory and fgets() reads nothing
            with open(path, "rb") as f:
                return _text(_fgets_concat(f.read()))
        except OSError as exc:
            reason = os.strerror(exc.errno or errno.EIO)
            raise ConfigFatalLogError(
                f"Fatal error, can't open config file '{shown or path}': {reason}"
            ) from None

    def _check_started(self) -> None:
        """The checks redis-server makes once the whole configuration is loaded."""
        if self.logfile:
            try:
                with open(os.path.join(self.dir, self.logfile), "a"):
                    pass
            except OSError as exc:
                reason = os.strerror(exc.errno or errno.EIO)
                raise ConfigFileError(f"Can't open the log file: {reason}") from None
        if self.module_configs and not self.loadmodules:
            raise ConfigFatalLogError(
                "Module Configuration detected without loadmodule directive or no "
                "ApplyConfig call: aborting"
            )

    # -- CONFIG GET --

    def get(self, patterns: list[bytes]) -> list[tuple[str, str]]:
        """CONFIG GET: (name, value) pairs, each config once, exact names as given."""
        found: dict[str, tuple[str, str]] = {}
        for raw in patterns:
            pattern = _text(raw)
            if not any(ch in pattern for ch in "[*?"):
                key = _ascii_lower(pattern)
                d = _LOOKUP.get(key)
                if d is not None and key not in found:
                    found[key] = (pattern, self._show(d))
                continue
            for name, d in _PATTERN_NAMES:
                if name not in found and stringmatch(raw, name.encode(), True):
                    found[name] = (name, self._show(d))
        return list(found.values())

    def _show(self, d: Directive) -> str:
        return d.codec.show(getattr(self, d.attr))

    # -- CONFIG SET --

    def on_change(self, name: str, callback: Callback) -> None:
        """Call ``callback(primary_name)`` after a CONFIG SET changes ``name`` (or its alias).

        A callback shared by several directives runs once per CONFIG SET. It may raise
        ConfigApplyError to make the whole CONFIG SET fail and be rolled back.
        """
        d = _LOOKUP.get(_ascii_lower(name))
        if d is None:
            raise ValueError(f"unknown config directive {name!r}")
        self._callbacks.setdefault(d.name, []).append(callback)

    def set(self, pairs: list[tuple[bytes, bytes]], *, client_is_local: bool = False) -> None:
        """CONFIG SET name value [name value ...]: all or nothing, Redis's error texts.

        ``client_is_local`` matters only for protected configs (dir, dbfilename) when
        enable-protected-configs is ``local``.
        """
        targets = self._resolve_set_targets(pairs, client_is_local)
        backup = {d: getattr(self, d.attr) for d, _, _ in targets}
        changed: list[tuple[Directive, str]] = []
        for d, registered, value in targets:
            args = (value.split(" ") if value else []) if d.codec.multi_arg else [value]
            try:
                new = d.codec.parse(self, args)
            except _Invalid as exc:
                self._restore(backup)
                raise ConfigSetError(_set_failed(registered, exc.message)) from None
            old = getattr(self, d.attr)
            setattr(self, d.attr, new)  # always, like Redis (keeps e.g. -0.0 vs 0.0 apart)
            if new != old:
                if d.set_min is not None and new < d.set_min:
                    setattr(self, d.attr, d.set_min)  # e.g. resizeReplicationBacklog's floor
                changed.append((d, registered))
        self._apply_changes(changed, backup)

    def _resolve_set_targets(
        self, pairs: list[tuple[bytes, bytes]], client_is_local: bool
    ) -> list[tuple[Directive, str, str]]:
        """Look every name up first; the first problem found is the one reported."""
        targets: list[tuple[Directive, str, str]] = []
        seen: set[str] = set()
        for raw_name, raw_value in pairs:
            given = _text(raw_name)
            registered = _ascii_lower(given)
            d = _LOOKUP.get(registered)
            if d is None:
                raise ConfigSetError(
                    f"ERR Unknown option or number of arguments for CONFIG SET - '{given}'"
                )
            if d.flags & IMMUTABLE:
                raise ConfigSetError(_set_failed(given, "can't set immutable config"))
            if d.flags & PROTECTED and not self._protected_allowed(client_is_local):
                raise ConfigSetError(_set_failed(given, "can't set protected config"))
            if registered in seen:
                raise ConfigSetError(_set_failed(given, "duplicate parameter"))
            seen.add(registered)
            targets.append((d, registered, _text(raw_value)))
        return targets

    def _protected_allowed(self, client_is_local: bool) -> bool:
        mode = self.enable_protected_configs
        return mode == "yes" or (mode == "local" and client_is_local)

    def _restore(self, backup: dict[Directive, Any]) -> None:
        for d, value in backup.items():
            setattr(self, d.attr, value)

    def _apply_changes(self, changed: list[tuple[Directive, str]], backup: dict) -> None:
        """Run the on_change hooks; on a veto restore everything and re-run the hooks."""
        done: list[Callback] = []
        for d, registered in changed:
            for callback in self._callbacks.get(d.name, ()):
                if any(callback is c for c in done):
                    continue
                done.append(callback)
                try:
                    callback(d.name)
                except ConfigApplyError as exc:
                    self._restore(backup)
                    self._reapply(changed)
                    raise ConfigSetError(_set_failed(registered, str(exc))) from None

    def _reapply(self, changed: list[tuple[Directive, str]]) -> None:
        done: list[Callback] = []
        for d, _ in changed:
            for callback in self._callbacks.get(d.name, ()):
                if not any(callback is c for c in done):
                    done.append(callback)
                    try:
                        callback(d.name)
                    except ConfigApplyError:
                        pass  # Redis only logs a failed restore

    # -- CONFIG REWRITE --

    def rewrite(self) -> None:
        """CONFIG REWRITE of ``config_file``, keeping comments and unknown lines in place."""
        if self.config_file is None:
            raise ConfigSetError("ERR The server is running without a config file")
        try:
            try:
                with open(self.config_file, "rb") as f:
                    old = _text(f.read())
            except FileNotFoundError:
                old = ""
            _overwrite_file(self.config_file, self.rewritten_text(old))
        except OSError as exc:
            reason = os.strerror(exc.errno or errno.EIO)
            raise ConfigSetError(f"ERR Rewriting config file: {reason}") from None

    def rewritten_text(self, old: str, extra: Callable[[Any], None] | None = None) -> str:
        """The new file content CONFIG REWRITE would produce from the ``old`` content.

        ``extra(state)`` runs last, before orphaned lines go (sentinel mode: the sentinel
        state lines, like rewriteConfigSentinelOption)."""
        state = _RewriteState.from_text(old, self.sentinel_mode)
        for d in DIRECTIVES:
            if self.sentinel_mode and d.name == "save":
                state.mark("save")  # rewriteConfigSaveOption: a sentinel drops save lines
                continue
            d.codec.rewrite(state, d, getattr(self, d.attr))
        self._rewrite_users(state)
        state.mark("loadmodule")  # no module is ever loaded here: drop the lines
        if extra is not None:
            extra(state)
        return state.content()

    def _rewrite_users(self, state: _RewriteState) -> None:
        if self.aclfile:
            state.mark("user")
            return
        lines = {args[0]: "user " + " ".join(args) for args in self.users if args[0] != "default"}
        if self.requirepass:
            password = "#" + hashlib.sha256(_bytes(self.requirepass)).hexdigest()
        else:
            password = "nopass"
        lines["default"] = f"user default on {password} ~* &* +@all"
        for name in sorted(lines, key=_bytes):
            state.rewrite("user", lines[name], True)
        state.mark("user")


def _set_failed(name: str, reason: str) -> str:
    return f"ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"
