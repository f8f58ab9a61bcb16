"""This node as a replica: the link to its master, applying the stream, promotion.

Theory of operation
-------------------
`Upstream` exists while the node replicates (`replicaof` in the config, REPLICAOF at
runtime). It drives a `ReplicaLink` (the sans-IO handshake/transfer/stream machine) over
an asyncio connection and carries out its actions on the server:

* FullResync: remember the replid/offset the payload stands for; LoadRDB: flush every
  db, load the payload (keys already past their TTL are kept: the master's DEL will
  come), save it as dump.rdb unless repl-diskless-load says otherwise, adopt the
  master's replid and offset with a fresh backlog, and drop our own sub-replicas (they
  must resync against the new data).
* Continue: keep the data; a new replid means the master was promoted, so ours moves to
  replid2 (valid up to our offset + 1) and sub-replicas reconnect to learn it.
* Apply: run the command as the master client (no READONLY/OOM checks, no reply, keys
  never expire under it), then forward the same bytes to sub-replicas and the backlog
  and grow the offset. REPLCONF GETACK is answered with REPLCONF ACK <offset>.

When the link breaks, the master's replid and our offset are cached, so the next
connection asks PSYNC <replid> <offset+1>. A node that was a master and is told to
replicate caches itself the same way (its new master, if it was our replica, has our
history as its replid2). `promote()` (REPLICAOF NO ONE) keeps the data and the backlog
and starts a new history: replid2 = old replid, second_repl_offset = offset + 1.

Once a second `cron()` sends REPLCONF ACK, reconnects a broken link and enforces
repl-timeout. States shown in ROLE/INFO: connect, connecting, handshake, sync, connected.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any

from redkeep.replication import failover
from redkeep.replication.replica import (
    Apply,
    Continue,
    Fail,
    FullResync,
    HandshakeParams,
    LoadRDB,
    Log,
    ReplicaLink,
    ReplState,
    Send,
)
from redkeep.server.propagation import encode_command

if TYPE_CHECKING:
    from redkeep.server.server import Server


class _MasterConnection(asyncio.Protocol):
    def __init__(self, upstream: Upstream) -> None:
        self.up = upstream
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.up.on_connected(self)

    def data_received(self, data: bytes) -> None:
        self.up.on_data(self, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.up.on_lost(self)


class Upstream:
    def __init__(self, server: Server, host: str, port: int) -> None:
        self.server = server
        self.host, self.port = host, port
        self.link: ReplicaLink | None = None
        self.conn: _MasterConnection | None = None
        self.client: Any = None                 # the master client applying the stream
        self.cached: tuple[str, int] | None = None
        self.pending_full: tuple[str, int] | None = None
        self.in_transaction: list[bytes] = []   # stream bytes of a MULTI not yet EXECuted
        self.master_db = 0      # the stream's selected db, kept across a lost link (+CONTINUE)
        self.last_io_ms = server.clock.monotonic_ms()
        self.down_since_ms = server.clock.monotonic_ms()
        self.connecting = False
        self.stopped = False

    # ---- State for ROLE / INFO ----

    @property
    def link_up(self) -> bool:
        return self.link is not None and self.link.state is ReplState.CONNECTED

    def role_state(self) -> str:
        if self.link is None:
            return "connecting" if self.connecting else "connect"
        st = self.link.state
        if st is ReplState.CONNECTED:
            return "connected"
        if st is ReplState.TRANSFER:
            return "sync"
        return "handshake"

    # ---- Connecting ----

    def connect(self) -> None:
        if self.stopped or self.connecting or self.conn is not None:
            return
        node = getattr(self.server, "node", None)
        if node is None:
            return
        self.connecting = True
        self.log("notice", f"Connecting to MASTER {self.host}:{self.port}")
        self.log("notice", "MASTER <-> REPLICA sync started")
        node.loop.create_task(self._connect(node.loop))

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            await asyncio.wait_for(loop.create_connection(
                lambda: _MasterConnection(self), self.host, self.port), self.server.config.repl_timeout)
        except (TimeoutError, OSError) as e:
            self.connecting = False
            self.log("warning", f"Error condition on socket for SYNC: {getattr(e, 'strerror', None) or e}")

    def on_connected(self, conn: _MasterConnection) -> None:
        if self.stopped:
            conn.transport.close()
            return
        self.connecting = False
        self.conn = conn
        cfg = self.server.config
        self.last_io_ms = self.server.clock.monotonic_ms()
        self.log("notice", "Non blocking connect for SYNC fired the event.")
        cached = self.cached
        self.link = ReplicaLink(HandshakeParams(
            listening_port=cfg.replica_announce_port or cfg.port,
            masterauth=cfg.masterauth or "", masteruser=cfg.masteruser or "",
            announce_ip=cfg.replica_announce_ip or "",
            cached_replid=cached[0] if cached else None,
            cached_offset=cached[1] if cached else -1,
            failover=self.server.failover_state == failover.IN_PROGRESS))
        self.run(self.link.connected())

    def on_data(self, conn: _MasterConnection, data: bytes) -> None:
        if conn is not self.conn or self.link is None:
            return
        self.last_io_ms = self.server.clock.monotonic_ms()
        st = self.server.stats
        st["total_net_repl_input_bytes"] = st.get("total_net_repl_input_bytes", 0) + len(data)
        self.run(self.link.receive(data))

    def on_lost(self, conn: _MasterConnection) -> None:
        if conn is not self.conn:
            return
        was_up = self.link_up
        self.conn = None
        self.link = None
        self.down_since_ms = self.server.clock.monotonic_ms()
        if self.client is not None:
            self.master_db = self.client.db.id
            self.server.free_client(self.client)
            self.client = None
        if was_up and not self.stopped:
            self.log("warning", "Connection with master lost.")
            self.log("notice", "Caching the disconnected master state.")
            self.cached = (self.server.replid, self.server.master_repl_offset)

    def close(self) -> None:
        if self.conn is not None and self.conn.transport is not None:
            self.conn.transport.close()

    def stop(self) -> None:
        self.stopped = True
        conn = self.conn
        self.on_lost(conn) if conn is not None else None
        if conn is not None and conn.transport is not None:
            conn.transport.close()

    # ---- Actions ----

    def run(self, actions: list[Any]) -> None:
        for a in actions:
            if self.link is None:     # a previous action closed the link
                return
            t = a.__class__
            if t is Apply:
                self.apply(a.argv, a.nbytes)
            elif t is Send:
                self.send(a.data)
            elif t is Log:
                self.log(a.level, a.message)
            elif t is FullResync:
                self.cached = None
                self.pending_full = (a.replid, a.offset)
                failover.succeeded(self.server)
            elif t is LoadRDB:
                self.load(a.payload)
            elif t is Continue:
                self.on_continue(a.replid)
                failover.succeeded(self.server)
            elif t is Fail:
                self.log("warning", a.reason)
                psync = self.link.state is ReplState.FAILED and self.link.psync_sent
                self.close()
                if psync and self.server.failover_state == failover.IN_PROGRESS:
                    failover.abort(self.server, "Failover target rejected psync request")
                    return

    def send(self, data: bytes) -> None:
        if self.conn is not None and self.conn.transport is not None:
            self.conn.transport.write(data)

    def send_ack(self) -> None:
        if self.link_up:
            self.send(encode_command([b"REPLCONF", b"ACK", b"%d" % self.server.master_repl_offset]))

    def new_master_client(self, db: int = 0) -> None:
        """The client that runs the stream; a continued stream goes on in the db its
        last SELECT chose (Redis resurrects its cached master client, db included)."""
        srv = self.server
        c = srv.new_client(f"{self.host}:{self.port}", "", writer=lambda data: None,
                           closer=self.close)
        c.kind = "master"
        c.authenticated = True
        c.db = srv.keyspace.dbs[db]
        self.client = c
        self.in_transaction = []

    def load(self, payload: bytes) -> None:
        from redkeep.persistence import snapshot
        from redkeep.persistence.rdb import RDBError, load_rdb

        srv = self.server
        replid, offset = self.pending_full or ("?", 0)
        self.log("notice", "MASTER <-> REPLICA sync: Flushing old data")
        for db in srv.keyspace.dbs:
            db.clear()
        self.log("notice", "MASTER <-> REPLICA sync: Loading DB in memory")
        try:
            loaded = load_rdb(payload, snapshot.limits_of(srv.config))
            keys, _ = snapshot.load_into(srv, loaded, 0)
        except (RDBError, ValueError) as e:
            self.log("warning", f"Failed trying to load the MASTER synchronization DB from "
                     f"disk: {e}")
            self.close()
            return
        self.log("notice", f"Done loading RDB, keys loaded: {keys}, keys expired: 0.")
        if srv.config.repl_diskless_load == "disabled" and srv.config.dbfilename:
            try:
                snapshot.write_rdb_file(srv.config.dir, srv.config.dbfilename, payload, os.getpid())
            except OSError as e:
                self.log("warning", f"Failed trying to save the MASTER synchronization DB: {e}")
        srv.replid, srv.master_repl_offset = replid, offset
        srv.replid2, srv.second_repl_offset = "0" * 40, -1
        ms = srv.master_side
        ms.drop_all()
        ms.create_backlog(new_history=False)
        self.master_db = 0
        self.new_master_client()
        self.log("notice", "MASTER <-> REPLICA sync: Finished with success")
        self.send_ack()   # a diskless master streams only after the first ACK: don't wait cron

    def on_continue(self, replid: str) -> None:
        srv = self.server
        self.log("notice", "MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.")
        if replid and replid != srv.replid:
            srv.replid2, srv.second_repl_offset = srv.replid, srv.master_repl_offset + 1
            srv.replid = replid
            self.log("warning", f"Master replication ID changed to {replid}")
            srv.master_side.drop_all()
        if srv.master_side.backlog is None:
            srv.master_side.create_backlog(new_history=False)
        self.cached = None
        self.new_master_client(self.master_db)

    def apply(self, argv: list[bytes], nbytes: int) -> None:
        srv, ms, ks = self.server, self.server.master_side, self.server.keyspace
        c = self.client
        if c is None:
            return
        ms.applying_master_stream = True
        ks.applying_master = True
        try:
            srv.execute(c, argv)
            if srv.blocking.ready:
                srv.blocking.serve_ready_keys()
        finally:
            ms.applying_master_stream = False
            ks.applying_master = False
        data = encode_command(argv)
        if c.in_multi or self.in_transaction:
            # Like Redis's reploff, the offset moves past a transaction only at its EXEC:
            # a link lost inside MULTI continues from the MULTI, not from its middle.
            self.in_transaction.append(data)
            if c.in_multi:
                return
            data, self.in_transaction = b"".join(self.in_transaction), []
        if ms.backlog is not None:
            ms.feed_stream(data)   # sub-replicas get the same bytes
        else:
            srv.master_repl_offset += len(data)

    # ---- Cron ----

    def cron(self) -> None:
        srv, cfg = self.server, self.server.config
        now = srv.clock.monotonic_ms()
        if self.conn is None:
            if not self.connecting:
                if self.cached is not None or self.link is None:
                    self.log("notice", f"Reconnecting to MASTER {self.host}:{self.port}") \
                        if self.cached else None
                self.connect()
            return
        idle = now - self.last_io_ms
        if self.link_up:
            if idle > cfg.repl_timeout * 1000:
                self.log("warning", "MASTER timeout: no data nor PING received...")
                self.close()
                return
            self.send_ack()
        elif idle > cfg.repl_timeout * 1000:
            what = "receiving bulk data from" if self.link and \
                self.link.state is ReplState.TRANSFER else "connecting to the"
            self.log("warning", f"Timeout {what} MASTER...")
            self.close()

    def log(self, level: str, msg: str) -> None:
        log = getattr(self.server, "log", None)
        if log is not None:
            getattr(log, level)(msg)


# ---- Role changes ----

def become_replica(server: Server, host: str, port: int, reason: str = "",
                   at_startup: bool = False) -> None:
    """replicationSetMaster: follow host:port. A master caches its own history so it can
    PSYNC with a node that was its replica; our replicas reconnect to learn the change."""
    old = server.upstream
    if old is not None:
        was_up, cached = old.link_up, old.cached
        old.stop()                 # (stop() drops the link: ask before)
        if cached is None and was_up:
            cached = (server.replid, server.master_repl_offset)
    elif at_startup:   # `replicaof` in the config: the history dump.rdb recorded, if any
        restored = getattr(server, "restored_master", None)
        cached = restored[:2] if restored else None
    else:
        cached = (server.replid, server.master_repl_offset)
        server.log.notice("Before turning into a replica, using my own master parameters to "
                          "synthesize a cached master: I may be able to synchronize with the "
                          "new master with just a partial transfer.") \
            if getattr(server, "log", None) else None
    if server.master_side.transfer is not None:
        server.master_side.transfer.abort()
        server.master_side.transfer = None
    server.master_side.drop_all()
    up = Upstream(server, host, port)
    up.cached = cached
    if at_startup and getattr(server, "restored_master", None):
        up.master_db = server.restored_master[2]
    server.upstream = up
    server.keyspace.is_replica = True
    if getattr(server, "log", None) is not None:
        server.log.role = "S"
    server.config.replicaof = (host, port)
    server.refresh_replication_guard()
    if reason:
        up.log("notice", f"REPLICAOF {host}:{port} enabled ({reason})")
    up.connect()


def promote(server: Server, reason: str = "") -> None:
    """replicationUnsetMaster: keep data and backlog, start a new history."""
    up = server.upstream
    if up is None:
        return
    up.stop()
    server.upstream = None
    server.keyspace.is_replica = False
    server.config.replicaof = None
    old = server.replid
    server.replid2, server.second_repl_offset = old, server.master_repl_offset + 1
    server.replid = os.urandom(20).hex()
    log = getattr(server, "log", None)
    if log is not None:
        log.role = "M"
        log.notice("Discarding previously cached master state.")
        log.warning(f"Setting secondary replication ID to {old}, valid up to offset: "
                    f"{server.second_repl_offset}. New replication ID is {server.replid}")
    server.master_side.drop_all()   # sub-replicas reconnect and PSYNC into the new history
    server.master_side.encoder.seldb = -1   # our next write starts with a SELECT, as Redis
    server.master_side.no_replicas_since_ms = server.clock.monotonic_ms()
    server.refresh_replication_guard()
    if log is not None and reason:
        log.notice(f"MASTER MODE enabled ({reason})")
