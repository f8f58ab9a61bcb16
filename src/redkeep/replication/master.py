"""The master side of replication: replids, the backlog, PSYNC, full syncs, the stream.

Theory of operation
-------------------
A node's history is named by `server.replid` and measured by `server.master_repl_offset`
(bytes of replication stream produced so far). `MasterSide` owns the backlog and the
attached replicas, and is a propagation feed: every execution unit's operations are
encoded once (`StreamEncoder(PROPAGATE_REPL)`: SELECT when the db changes) and appended
to the backlog and to every replica. A node that is itself a replica does not feed its
own writes here: it forwards its master's stream (`feed_stream`), so a chain of
replicas shares one replid and one offset numbering.

PSYNC <replid> <offset> (`decide_psync`, Redis's masterTryPartialResynchronization):
  1) the id must be our replid, or our replid2 with offset <= second_repl_offset
     (we were promoted and the replica asks for our previous history),
  2) the backlog must hold `offset` (first_offset <= offset <= end + 1).
Then +CONTINUE <replid> and the backlog from `offset`; otherwise a full sync.

A full sync (`AttachedReplica.state`, Redis's SLAVE_STATE_*):
  WAIT_BGSAVE_START  waiting for an RDB child we can use (another child runs, or the
                     repl-diskless-sync-delay lets more replicas arrive);
  WAIT_BGSAVE_END    +FULLRESYNC <replid> <offset> sent; the stream from that offset on
                     is buffered for the replica while the child produces the RDB.
                     A replica arriving during a disk-based BGSAVE for replication joins
                     it with a copy of a sibling's buffer and offset (one BGSAVE serves
                     every replica that asks during it);
  ONLINE             the payload was sent, then the buffer; the stream flows. After a
                     diskless (EOF-marked) transfer the buffer is held until the first
                     REPLCONF ACK, because the replica reads the payload up to the mark.
The child and the file/pipe I/O live in `replication.transfer`; this class decides.
"""

from __future__ import annotations

import enum
import os
from typing import TYPE_CHECKING, Any

from redkeep.replication import failover
from redkeep.replication.backlog import Backlog
from redkeep.server.propagation import PROPAGATE_REPL, Op, StreamEncoder, encode_command

if TYPE_CHECKING:
    from redkeep.server.connection import Client
    from redkeep.server.server import Server


class SlaveState(enum.Enum):
    WAIT_BGSAVE_START = "wait_bgsave_start"
    WAIT_BGSAVE_END = "wait_bgsave_end"
    SEND_BULK = "send_bulk"
    ONLINE = "online"

    @property
    def info_name(self) -> str:
        """The state as INFO replication prints it (both WAIT_BGSAVE_* are wait_bgsave).
        The values must stay distinct: equal values would make the two an Enum alias."""
        return "wait_bgsave" if self.name.startswith("WAIT_BGSAVE") else self.value


class AttachedReplica:
    __slots__ = ("client", "state", "port", "ip", "capa_eof", "capa_psync2", "ack_offset",
                 "ack_time_ms", "buffer", "buffered", "initial_offset", "hold_until_ack",
                 "wait_since_ms", "rdb_only", "pre_psync", "stream_bytes")

    def __init__(self, client: Client, now_ms: int) -> None:
        self.client = client
        self.state = SlaveState.WAIT_BGSAVE_START
        self.port = 0
        self.ip = ""
        self.capa_eof = False
        self.capa_psync2 = False
        self.ack_offset = 0
        self.ack_time_ms = now_ms
        self.buffer: list[bytes] = []
        self.buffered = 0
        self.initial_offset = 0
        self.hold_until_ack = False
        self.wait_since_ms = now_ms
        self.rdb_only = False
        self.pre_psync = False          # came with old SYNC: no +FULLRESYNC line
        self.stream_bytes = 0           # stream written to its socket since it went online

    @property
    def host(self) -> str:
        """The replica's ip: the one it announced, else its connection's peer address."""
        return self.ip or self.client.addr.rsplit(":", 1)[0].strip("[]")

    def address(self) -> str:
        """ip:port as Redis names a replica in logs (announced ip, listening port)."""
        return f"{self.host}:{self.port}"

    def send(self, data: bytes) -> None:
        if self.state is SlaveState.ONLINE and not self.hold_until_ack:
            self.stream_bytes += len(data)
            self.client.writer(data)
        else:
            self.buffer.append(data)
            self.buffered += len(data)

    def release_buffer(self) -> None:
        data, self.buffer, self.buffered = b"".join(self.buffer), [], 0
        self.hold_until_ack = False
        if data:
            self.stream_bytes += len(data)
            self.client.writer(data)


def decide_psync(replid: str, offset: int, my_replid: str, my_replid2: str,
                 second_offset: int, backlog: Backlog | None) -> tuple[bool, str]:
    """(accepted, reason): may a replica asking for replid/offset continue?"""
    if replid != my_replid and (replid != my_replid2 or offset > second_offset):
        if replid == "?":
            return False, ""
        if replid != my_replid2:
            return False, (f"Replication ID mismatch (Replica asked for '{replid}', my "
                           f"replication IDs are '{my_replid}' and '{my_replid2}')")
        return False, (f"Requested offset for second ID was {offset}, but I can reply up "
                       f"to {second_offset}")
    if backlog is None or not backlog.can_serve(offset):
        return False, "Unable to partial resync with replica: lack of backlog"
    return True, ""


class MasterSide:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.backlog: Backlog | None = None
        self.replicas: dict[int, AttachedReplica] = {}   # by client id
        self.encoder = StreamEncoder(PROPAGATE_REPL)
        self.applying_master_stream = False   # a replica applying its master's commands
        self.no_replicas_since_ms = server.clock.monotonic_ms()
        self.transfer: Any = None            # replication.transfer.Transfer in progress
        # replicas (client ids) with stream bytes queued: the node writes them before
        # it writes any client's reply (server.node.Node.flush_replicas)
        self.unflushed: set[int] = set()

    # ---- The stream ----

    def create_backlog(self, new_history: bool) -> None:
        srv = self.server
        self.backlog = Backlog(srv.config.repl_backlog_size, srv.master_repl_offset)
        self.encoder.seldb = -1
        if self.feed not in srv.propagator.feeds:
            srv.propagator.feeds.append(self.feed)
        if new_history:   # no valid past: a new replid, no replid2 (createReplicationBacklog)
            srv.replid = os.urandom(20).hex()
            srv.replid2, srv.second_repl_offset = "0" * 40, -1
            self.log("notice", f"Replication backlog created, my new replication IDs are "
                     f"'{srv.replid}' and '{srv.replid2}'")

    def free_backlog(self) -> None:
        self.backlog = None
        if self.feed in self.server.propagator.feeds:
            self.server.propagator.feeds.remove(self.feed)

    def feed(self, ops: list[Op]) -> None:
        """A propagation feed: this node's own writes. A replica forwards its master's
        stream instead; its local writes (writable replica, PUBLISH) stay local."""
        if self.applying_master_stream or self.server.upstream is not None:
            return
        data = self.encoder.encode(ops)
        if data:
            self.feed_stream(data)

    def feed_stream(self, data: bytes) -> None:
        """Append raw stream bytes: to the backlog, the offset and every replica."""
        backlog = self.backlog
        if backlog is None:
            return
        backlog.append(data)
        self.server.master_repl_offset = backlog.end_offset
        if not self.replicas:              # the backlog only, for replicas to come
            return
        self.server.stats["total_net_repl_output_bytes"] = \
            self.server.stats.get("total_net_repl_output_bytes", 0) + len(data) * len(self.replicas)
        limit = self.server.config.client_output_buffer_limit["replica"][0]
        unflushed = self.unflushed
        for r in list(self.replicas.values()):
            if r.state is not SlaveState.WAIT_BGSAVE_START:
                r.send(data)
                unflushed.add(r.client.id)
                if limit and r.buffered > limit:
                    self.drop(r, "for overcoming of output buffer limits")

    def feed_command(self, argv: list[bytes]) -> None:
        """A command of the master's own (PING, REPLCONF GETACK) into the stream."""
        self.feed_stream(encode_command(argv))

    # ---- PSYNC ----

    def attach(self, c: Client) -> AttachedReplica:
        r = self.replicas.get(c.id)
        if r is None:
            r = self.replicas[c.id] = AttachedReplica(c, self.server.clock.monotonic_ms())
            conf = getattr(c, "replconf", {})
            r.port = conf.get("listening-port", 0)
            r.ip = conf.get("ip-address", "")
            r.capa_eof = "eof" in conf.get("capa", ())
            r.capa_psync2 = "psync2" in conf.get("capa", ())
            r.rdb_only = conf.get("rdb-only", False)
            r.pre_psync = conf.get("pre-psync", False)
        c.kind = "replica"
        return r

    def psync(self, c: Client, replid: str, offset: int) -> None:
        """PSYNC/SYNC: continue from the backlog or schedule a full sync."""
        srv = self.server
        r = self.attach(c)
        self.log("notice", f"Replica {r.address()} asks for synchronization")
        ok, reason = decide_psync(replid, offset, srv.replid, srv.replid2,
                                  srv.second_repl_offset, self.backlog)
        if ok:
            self.continue_replica(r, offset)
            return
        if replid != "?":
            srv.stats["sync_partial_err"] = srv.stats.get("sync_partial_err", 0) + 1
            if reason:
                self.log("notice", f"Partial resynchronization not accepted: {reason}")
        else:
            self.log("notice", f"Full resync requested by replica {r.address()}")
        srv.stats["sync_full"] = srv.stats.get("sync_full", 0) + 1
        if self.backlog is None:
            self.create_backlog(new_history=not srv.repl_is_replica())
        self.schedule_full_sync(r)

    def continue_replica(self, r: AttachedReplica, offset: int) -> None:
        srv = self.server
        assert self.backlog is not None
        reply = b"+CONTINUE %s\r\n" % srv.replid.encode() if r.capa_psync2 else b"+CONTINUE\r\n"
        data = self.backlog.read_from(offset)
        r.state = SlaveState.ONLINE
        r.ack_time_ms = srv.clock.monotonic_ms()
        r.client.writer(reply + data)
        srv.stats["sync_partial_ok"] = srv.stats.get("sync_partial_ok", 0) + 1
        self.log("notice", f"Partial resynchronization request from {r.address()} accepted. "
                 f"Sending {len(data)} bytes of backlog starting from offset {offset}.")

    def schedule_full_sync(self, r: AttachedReplica) -> None:
        """Join a disk-based replication BGSAVE in progress, or wait for one (cron)."""
        t = self.transfer
        if t is not None and t.to_disk and not t.sent:
            sibling = next((x for x in self.replicas.values()
                            if x.state is SlaveState.WAIT_BGSAVE_END), None)
            if sibling is not None:
                r.buffer, r.buffered = list(sibling.buffer), sibling.buffered
                self.setup_full_resync(r, sibling.initial_offset, keep_buffer=True)
                t.replicas.append(r)   # the payload goes to it too
                self.log("notice", "Waiting for end of BGSAVE for SYNC")
                return
        r.state = SlaveState.WAIT_BGSAVE_START
        r.wait_since_ms = self.server.clock.monotonic_ms()
        cfg = self.server.config
        if cfg.repl_diskless_sync and r.capa_eof and cfg.repl_diskless_sync_delay:
            self.log("notice", "Delay next BGSAVE for diskless SYNC")   # cron starts it
        else:
            self.start_bgsave_for_replication()   # unless a child runs: then cron does

    def setup_full_resync(self, r: AttachedReplica, offset: int, keep_buffer: bool = False) -> None:
        r.state = SlaveState.WAIT_BGSAVE_END
        r.initial_offset = offset
        if not keep_buffer:
            r.buffer, r.buffered = [], 0
        if not r.pre_psync:
            r.client.writer(b"+FULLRESYNC %s %d\r\n" % (self.server.replid.encode(), offset))

    def start_bgsave_for_replication(self) -> None:
        """startBgsaveForReplication: every replica waiting to start gets +FULLRESYNC now."""
        from redkeep.replication.transfer import Transfer

        waiting = [r for r in self.replicas.values() if r.state is SlaveState.WAIT_BGSAVE_START]
        if not waiting or self.transfer is not None or self.server.child_busy():
            return
        cfg = self.server.config
        to_disk = not cfg.repl_diskless_sync or not all(r.capa_eof for r in waiting)
        self.log("notice", "Starting BGSAVE for SYNC with target: "
                 + ("disk" if to_disk else "replicas sockets"))
        self.encoder.seldb = -1   # the stream after the snapshot starts with a SELECT
        for r in waiting:
            self.setup_full_resync(r, self.server.master_repl_offset)
        self.transfer = Transfer(self, waiting, to_disk)
        if not self.transfer.start():
            self.transfer = None
            for r in waiting:
                self.drop(r, "BGSAVE failed")

    def transfer_done(self, ok: bool) -> None:
        """The RDB was sent (or failed) to the replicas of the transfer."""
        t, self.transfer = self.transfer, None
        for r in t.replicas if t is not None else []:
            if r.client.id not in self.replicas:
                continue
            if not ok:
                self.drop(r, "RDB transfer failed")
                continue
            r.state = SlaveState.ONLINE
            r.ack_time_ms = self.server.clock.monotonic_ms()
            if t.to_disk:
                r.release_buffer()
            else:
                r.hold_until_ack = True
                self.log("notice", f"Streamed RDB transfer with replica {r.address()} "
                         "succeeded (socket). Waiting for REPLCONF ACK from slave to enable "
                         "streaming")
            self.log("notice", f"Synchronization with replica {r.address()} succeeded")
        self.start_bgsave_for_replication()   # replicas that arrived meanwhile

    # ---- Acks, WAIT, cron ----

    def on_ack(self, c: Client, offset: int) -> None:
        r = self.replicas.get(c.id)
        if r is None:
            return
        r.ack_offset = max(r.ack_offset, offset)
        r.ack_time_ms = self.server.clock.monotonic_ms()
        if r.hold_until_ack:
            r.release_buffer()
        if self.server.failover_state == failover.WAIT_FOR_SYNC:
            failover.update(self.server)

    def count_acked(self, offset: int) -> int:
        return sum(1 for r in self.replicas.values()
                   if r.state is SlaveState.ONLINE and r.ack_offset >= offset)

    def good_replicas(self) -> int:
        """Replicas online with lag <= min-replicas-max-lag (min-replicas-to-write)."""
        now = self.server.clock.monotonic_ms()
        max_lag = self.server.config.min_replicas_max_lag
        return sum(1 for r in self.replicas.values() if r.state is SlaveState.ONLINE
                   and (now - r.ack_time_ms) // 1000 <= max_lag)

    def detach(self, c: Client) -> None:
        r = self.replicas.pop(c.id, None)
        if r is None:
            return
        if r.state is SlaveState.ONLINE:
            self.log("warning", f"Connection with replica {r.address()} lost.")
        if not self.replicas:
            self.no_replicas_since_ms = self.server.clock.monotonic_ms()

    def drop(self, r: AttachedReplica, why: str) -> None:
        self.log("warning", f"Client id={r.client.id} addr={r.client.addr} closed "
                 f"({why}): replica {r.address()}")
        self.replicas.pop(r.client.id, None)
        r.client.closer()

    def drop_all(self) -> None:
        """Disconnect every replica (our replid changed: they reconnect and PSYNC)."""
        for r in list(self.replicas.values()):
            self.replicas.pop(r.client.id, None)
            r.client.closer()

    def cron(self, loops: int) -> None:
        """replicationCron's master half, once a second."""
        srv, cfg = self.server, self.server.config
        now = srv.clock.monotonic_ms()
        if self.replicas and not srv.repl_is_replica() and cfg.repl_ping_replica_period \
                and loops % cfg.repl_ping_replica_period == 0:
            self.feed_command([b"PING"])
        for r in list(self.replicas.values()):
            if r.state is SlaveState.WAIT_BGSAVE_START or (
                    r.state is SlaveState.WAIT_BGSAVE_END and self.transfer is not None
                    and self.transfer.to_disk):
                r.client.writer(b"\n")   # keepalive while the replica waits
            elif r.state is SlaveState.ONLINE and now - r.ack_time_ms > cfg.repl_timeout * 1000:
                self.log("warning", f"Disconnecting timedout replica (streaming sync): "
                         f"{r.address()}")
                self.drop(r, "timeout")
        waiting = [r for r in self.replicas.values() if r.state is SlaveState.WAIT_BGSAVE_START]
        if waiting and self.transfer is None:
            oldest = min(r.wait_since_ms for r in waiting)
            delay = cfg.repl_diskless_sync_delay * 1000 if cfg.repl_diskless_sync else 0
            enough = cfg.repl_diskless_sync_max_replicas and \
                len(waiting) >= cfg.repl_diskless_sync_max_replicas
            if now - oldest >= delay or enough:
                self.start_bgsave_for_replication()
        if self.backlog is not None and not self.replicas and not srv.repl_is_replica() \
                and cfg.repl_backlog_ttl and now - self.no_replicas_since_ms > cfg.repl_backlog_ttl * 1000:
            self.free_backlog()
            srv.replid = os.urandom(20).hex()   # as Redis: a new history after the free
            srv.replid2, srv.second_repl_offset = "0" * 40, -1
            self.log("notice", f"Replication backlog freed after {cfg.repl_backlog_ttl} "
                     "seconds without connected replicas.")

    def log(self, level: str, msg: str) -> None:
        log = getattr(self.server, "log", None)
        if log is not None:
            getattr(log, level)(msg)
