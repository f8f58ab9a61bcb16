"""The command table: one entry per command, like Redis's `redisCommandTable`.

Theory of operation
-------------------
Each `Command` carries Redis's metadata — arity (counting the name; -N means at
least N), flags, key positions (first, last, step), ACL categories — plus its
handler `handler(client, argv) -> reply` and its INFO commandstats counters.
Container commands (CONFIG, CLIENT, OBJECT, ...) hold `subcommands`, each a full
`Command` whose `fullname` is "config|get", as in Redis.

The table is built explicitly by `redkeep.server.commands.build_table()`; nothing
registers itself on import. Lookup is by the raw name first (clients send upper
case) and falls back to lower-casing, so the hot path does one dict probe.
The dispatcher (server.node) checks arity, authentication and flags before a
handler runs, so handlers only deal with their own arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[..., Any]

# Flags as Redis 7.0 names them in COMMAND INFO.
KNOWN_FLAGS = frozenset({
    "write", "readonly", "denyoom", "module", "admin", "pubsub", "noscript", "blocking",
    "loading", "stale", "skip_monitor", "skip_slowlog", "asking", "fast", "no_auth",
    "may_replicate", "sentinel", "only_sentinel", "no_mandatory_keys", "no_propagate",
    "no_multi", "allow_busy", "movablekeys",
})

_CATEGORY_BY_FLAG = {
    "write": "@write", "readonly": "@read", "admin": "@admin", "pubsub": "@pubsub",
    "fast": "@fast", "blocking": "@blocking",
}


class Command:
    __slots__ = (
        "name", "fullname", "handler", "arity", "flags", "first_key", "last_key", "step",
        "group", "categories", "subcommands", "parent",
        "is_write", "denyoom", "no_auth", "allowed_in_pubsub", "no_multi", "is_admin",
        "loading_ok", "stale_ok", "skip_monitor", "skip_slowlog", "may_replicate", "protected",
        "calls", "usec", "rejected_calls", "failed_calls",
    )

    def __init__(self, name: str, handler: Handler | None, arity: int, flags: str = "",
                 first_key: int = 0, last_key: int = 0, step: int = 0, group: str = "generic",
                 categories: str = "") -> None:
        self.name = name
        self.fullname = name
        self.handler = handler
        self.arity = arity
        self.flags = tuple(flags.split())
        unknown = set(self.flags) - KNOWN_FLAGS
        if unknown:
            raise ValueError(f"{name}: unknown command flags {sorted(unknown)}")
        self.first_key, self.last_key, self.step = first_key, last_key, step
        self.group = group
        cats = [c for c in categories.split()]
        for f in self.flags:
            c = _CATEGORY_BY_FLAG.get(f)
            if c and c not in cats and not (c == "@read" and "@scripting" in cats):
                cats.append(c)
        # setImplicitACLCategories: admin is dangerous; what isn't @fast is @slow.
        if "admin" in self.flags and "@dangerous" not in cats:
            cats.append("@dangerous")
        if "@fast" not in cats and "@slow" not in cats:
            cats.append("@slow")
        self.categories = tuple(cats)
        self.subcommands: dict[bytes, Command] | None = None
        self.parent: Command | None = None
        fl = set(self.flags)
        self.is_write = "write" in fl
        self.denyoom = "denyoom" in fl
        self.no_auth = "no_auth" in fl
        self.allowed_in_pubsub = name in _PUBSUB_ALLOWED
        self.no_multi = "no_multi" in fl
        self.is_admin = "admin" in fl
        self.loading_ok = "loading" in fl
        self.stale_ok = "stale" in fl
        self.skip_monitor = "skip_monitor" in fl
        self.skip_slowlog = "skip_slowlog" in fl
        self.may_replicate = "may_replicate" in fl
        # DEBUG and MODULE are refused unless enable-debug/module-command allows them
        self.protected = name in ("debug", "module")
        self.reset_stats()

    def reset_stats(self) -> None:
        self.calls = 0
        self.usec = 0
        self.rejected_calls = 0
        self.failed_calls = 0

    def check_arity(self, argc: int) -> bool:
        a = self.arity
        return argc == a if a > 0 else argc >= -a

    def key_positions(self, argv: list[bytes]) -> list[int]:
        """Indexes of the key arguments (first/last/step; negative last counts from the end)."""
        if self.first_key <= 0:
            return []
        last = self.last_key if self.last_key >= 0 else len(argv) + self.last_key
        return list(range(self.first_key, min(last, len(argv) - 1) + 1, self.step or 1))

    def __repr__(self) -> str:
        return f"Command({self.fullname!r}, arity={self.arity})"


_PUBSUB_ALLOWED = frozenset({
    "subscribe", "psubscribe", "unsubscribe", "punsubscribe", "ssubscribe", "sunsubscribe",
    "ping", "quit", "reset",
})


class CommandTable:
    def __init__(self) -> None:
        self.commands: dict[str, Command] = {}
        self._by_raw: dict[bytes, Command] = {}

    def add(self, name: str, handler: Handler | None, arity: int, flags: str = "",
            first_key: int = 0, last_key: int = 0, step: int = 0, group: str = "generic",
            categories: str = "") -> Command:
        name = name.lower()
        if name in self.commands:
            raise ValueError(f"command {name} registered twice")
        cmd = Command(name, handler, arity, flags, first_key, last_key, step, group, categories)
        self.commands[name] = cmd
        self._index(name, cmd)
        return cmd

    def add_subcommand(self, parent: Command, name: str, handler: Handler, arity: int,
                       flags: str = "", first_key: int = 0, last_key: int = 0, step: int = 0,
                       categories: str = "") -> Command:
        name = name.lower()
        sub = Command(name, handler, arity, flags, first_key, last_key, step, parent.group,
                      categories)
        sub.fullname = f"{parent.name}|{name}"
        sub.parent = parent
        sub.protected = False   # only the top-level DEBUG/MODULE commands are protected
        if parent.subcommands is None:
            parent.subcommands = {}
        parent.subcommands[name.encode()] = sub
        return sub

    def _index(self, name: str, cmd: Command) -> None:
        raw = name.encode()
        self._by_raw[raw] = cmd
        self._by_raw[raw.upper()] = cmd

    def lookup(self, name: bytes) -> Command | None:
        cmd = self._by_raw.get(name)
        if cmd is None:
            cmd = self._by_raw.get(name.lower())
        return cmd

    def rename(self, old: str, new: str) -> None:
        """rename-command: `new` empty disables the command."""
        old, new = old.lower(), new.lower()
        cmd = self.commands.pop(old, None)
        if cmd is None:
            raise KeyError(old)
        for raw in (old.encode(), old.upper().encode()):
            self._by_raw.pop(raw, None)
        if new:
            self.commands[new] = cmd
            self._index(new, cmd)

    def all_commands(self) -> list[Command]:
        return list(self.commands.values())

    def reset_stats(self) -> None:
        for cmd in self.commands.values():
            cmd.reset_stats()
            for sub in (cmd.subcommands or {}).values():
                sub.reset_stats()
