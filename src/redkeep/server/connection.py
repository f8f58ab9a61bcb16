"""Per-client state: selected database, authentication, protocol version, MULTI queue,
WATCHed keys, subscriptions, reply mode.

A `Client` knows nothing about sockets: the node gives it a `writer` callable for
out-of-band data (pub/sub messages, MONITOR lines) and a `closer` for CLIENT KILL /
QUIT, so the same object works under the asyncio shell and in unit tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from redkeep.resp.encoder import encode

if TYPE_CHECKING:
    from redkeep.server.keyspace import Database
    from redkeep.server.server import Server
    from redkeep.server.table import Command

REPLY_ON, REPLY_OFF, REPLY_SKIP_NEXT, REPLY_SKIP = 0, 1, 2, 3


class Client:
    __slots__ = (
        "id", "server", "addr", "laddr", "name", "lib_name", "lib_ver", "db", "resp",
        "authenticated", "user", "in_multi", "dirty_cas", "dirty_exec", "mstate", "watched",
        "channels", "patterns", "reply_mode", "ctime", "last_interaction", "last_cmd",
        "writer", "closer", "close_after_reply", "kind", "no_evict", "is_monitor",
        "flags_extra", "parser", "qbuf_peak", "argv_mem", "out_pending", "paused",
        "blocked", "on_unblock", "cur_cmd", "cur_argv", "in_exec", "in_script", "propagate_as",
        "replconf",
    )

    def __init__(self, server: Server, cid: int, addr: str = "", laddr: str = "",
                 writer: Callable[[bytes], None] | None = None,
                 closer: Callable[[], None] | None = None) -> None:
        self.id = cid
        self.server = server
        self.addr = addr
        self.laddr = laddr
        self.name: bytes | None = None
        self.lib_name: bytes | None = None
        self.lib_ver: bytes | None = None
        self.db: Database = server.keyspace.dbs[0]
        self.resp = 2
        self.authenticated = not server.requires_auth()
        self.user = "default"
        self.in_multi = False
        self.dirty_cas = False
        self.dirty_exec = False
        self.mstate: list[tuple[Command, list[bytes]]] = []
        self.watched: list[tuple[Database, bytes, bool]] = []
        self.channels: set[bytes] = set()
        self.patterns: set[bytes] = set()
        self.reply_mode = REPLY_ON
        now = server.clock.monotonic_ms()
        self.ctime = now
        self.last_interaction = now
        self.last_cmd = "NULL"
        self.writer = writer or (lambda data: None)
        self.closer = closer or (lambda: None)
        self.close_after_reply = False
        self.kind = "normal"
        self.no_evict = False
        self.is_monitor = False
        self.flags_extra = ""
        self.parser: Any = None
        self.qbuf_peak = 0
        self.argv_mem = 0
        self.out_pending = 0
        self.paused = False
        self.blocked: Any = None            # a blocking.BlockState while blocked
        self.on_unblock: Callable[[Any], None] | None = None
        self.cur_cmd: Any = None            # the command being executed (for re-runs)
        self.cur_argv: list[bytes] = []
        self.in_exec = False
        self.in_script = False
        # what this command propagates instead of its argv (server.propagation)
        self.propagate_as: list[list[bytes]] | None = None
        self.replconf: dict[str, Any] | None = None   # REPLCONF options of a replica

    def can_block(self) -> bool:
        """Blocking commands don't block inside MULTI/EXEC or scripts (Redis semantics)."""
        return not (self.in_exec or self.in_script)

    @property
    def dbnum(self) -> int:
        return self.db.id

    @property
    def subscription_count(self) -> int:
        return len(self.channels) + len(self.patterns)

    def push(self, value: Any) -> None:
        """Send an out-of-band reply (pub/sub message, invalidation) now."""
        self.writer(encode(value, self.resp))

    def flags(self) -> str:
        """CLIENT LIST flags field, as Redis composes it."""
        f = ""
        if self.kind == "replica":
            f += "S"
        if self.kind == "master":
            f += "M"
        if self.subscription_count:
            f += "P"
        if self.in_multi:
            f += "x"
        if self.watched and self.dirty_cas:
            f += "d"
        if self.close_after_reply:
            f += "c"
        if self.no_evict:
            f += "e"
        if self.blocked is not None:
            f += "b"
        f += self.flags_extra
        return f or "N"
