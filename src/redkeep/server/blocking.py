"""Blocking operations (BLPOP, BLMOVE, BZPOPMIN, …): who waits for which key.

Theory of operation
-------------------
A blocking handler that finds nothing to serve calls `Blocking.block(...)` and
returns `BLOCKED`. The client is queued on every key it waits for (per database,
first come first served) and remembers the command to run again. Writes that may
feed a waiter (`Database.set_key` / `signal_modified` of a key that has waiters)
mark the key ready; after every command the node calls `serve_ready_keys()`,
which re-runs the waiting clients' commands in arrival order until one blocks
again or the key is gone. A served client gets its reply through its
`on_unblock` callback and the node resumes reading its pipeline.

Timeouts are deadlines in monotonic ms; the node arms a timer per blocked client
and calls `timeout(client)`. CLIENT UNBLOCK and disconnects go through
`unblock(client, reply)` / `forget(client)`. Inside MULTI/EXEC and scripts handlers
must not block (`Client.can_block()` is False): they reply as on timeout.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from redkeep.resp.types import ErrorReply
from redkeep.server.errors import CommandError

if TYPE_CHECKING:
    from redkeep.server.connection import Client
    from redkeep.server.keyspace import Database
    from redkeep.server.server import Server


class _Blocked:
    __slots__ = ()

    def __repr__(self) -> str:
        return "BLOCKED"


BLOCKED = _Blocked()


class BlockState:
    __slots__ = ("cmd", "argv", "db", "keys", "deadline_ms", "timeout_reply", "since_ms")

    def __init__(self, cmd: Any, argv: list[bytes], db: Database, keys: list[bytes],
                 deadline_ms: int, timeout_reply: Any, since_ms: int) -> None:
        self.cmd, self.argv, self.db, self.keys = cmd, argv, db, keys
        self.deadline_ms, self.timeout_reply, self.since_ms = deadline_ms, timeout_reply, since_ms


class Blocking:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.ready: list[tuple[Database, bytes]] = []
        self.clients: dict[int, Client] = {}   # blocked clients by id
        self.total_blocking_keys = 0
        # While a waiter's command runs again: the (db, key) being served. Redis 7.0
        # serves a client from the key that became ready, not its first non-empty key.
        self.serving: tuple[Database, bytes] | None = None

    def block(self, c: Client, keys: list[bytes], timeout_s: float, timeout_reply: Any) -> Any:
        """Queue `c` on `keys`; returns BLOCKED for the handler to return."""
        if c.blocked is not None:      # a retry that found nothing: stays queued
            return BLOCKED
        now = self.server.clock.monotonic_ms()
        deadline = 0 if timeout_s == 0 else now + max(1, int(timeout_s * 1000))
        c.blocked = BlockState(c.cur_cmd, c.cur_argv, c.db, list(dict.fromkeys(keys)),
                               deadline, timeout_reply, now)
        for key in c.blocked.keys:
            waiters = c.db.blocked.get(key)
            if waiters is None:
                waiters = c.db.blocked[key] = deque()
            waiters.append(c)
        self.clients[c.id] = c
        return BLOCKED

    def signal_key(self, db: Database, key: bytes) -> None:
        self.ready.append((db, key))

    def serve_ready_keys(self) -> None:
        while self.ready:
            batch, self.ready = self.ready, []
            for db, key in batch:
                self._serve_key(db, key)

    def _serve_key(self, db: Database, key: bytes) -> None:
        """Offer `key` to its waiters once each, in arrival order, while it exists.
        A waiter that cannot be served (another type, or its handler blocks again)
        keeps its place in the queue, as in Redis."""
        waiters = db.blocked.get(key)
        if not waiters:
            return
        for c in list(waiters):
            if db.data.get(key) is None:
                break
            st = c.blocked
            if st is None or st.db is not db:
                continue
            self.serving = (db, key)
            try:
                reply = self._retry(c)
            finally:
                self.serving = None
            if reply is not BLOCKED:
                self.unblock(c, reply)

    def _retry(self, c: Client) -> Any:
        """Run the waiting command again, as the handler alone: it was already counted,
        shown to MONITOR and timed when it first ran (Redis only adds the failure)."""
        st = c.blocked
        saved_db = c.db
        c.db = st.db
        c.cur_cmd, c.cur_argv = st.cmd, st.argv
        srv = self.server
        dirty = srv.dirty
        c.propagate_as = None
        try:
            return st.cmd.handler(c, st.argv)
        except CommandError as e:
            st.cmd.failed_calls += 1
            srv.count_error(e.message)
            return ErrorReply(e.message)
        finally:
            if srv.dirty != dirty and srv.propagator.feeds:   # served: propagate the pop
                srv.propagate_call(c, st.argv)
                srv.propagator.flush()
            if c.blocked is not None or c.db is st.db:
                c.db = saved_db

    def forget(self, c: Client) -> None:
        """Remove `c` from every wait queue (no reply)."""
        st = c.blocked
        if st is None:
            return
        for key in st.keys:
            waiters = st.db.blocked.get(key)
            if waiters is not None:
                try:
                    waiters.remove(c)
                except ValueError:
                    pass
                if not waiters:
                    del st.db.blocked[key]
        c.blocked = None
        self.clients.pop(c.id, None)

    def unblock(self, c: Client, reply: Any) -> None:
        self.forget(c)
        if c.on_unblock is not None:
            c.on_unblock(reply)

    def timeout(self, c: Client) -> None:
        st = c.blocked
        if st is not None:
            reply = st.timeout_reply
            self.unblock(c, reply() if callable(reply) else reply)

    def expired_deadlines(self, now_ms: int) -> list[Client]:
        return [c for c in self.clients.values()
                if c.blocked is not None and c.blocked.deadline_ms and
                c.blocked.deadline_ms <= now_ms]
