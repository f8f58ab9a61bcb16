"""The data node's state and command pipeline, without any I/O.

Theory of operation
-------------------
`Server` owns the configuration, keyspace, command table, pub/sub registry, the
clients and the statistics. `execute(client, argv)` is Redis's processCommand:
the checks run in Redis's order and the first failing one answers —

  1) the command must exist (then its subcommand), 2) arity, 3) authentication,
  4) inside MULTI everything but EXEC/DISCARD/MULTI/WATCH/QUIT/RESET is queued
     (queue-time errors poison the transaction: EXECABORT),
  5) a RESP2 client in subscribed state may only (un)subscribe, PING, QUIT, RESET,
  6) with maxmemory set, denyoom commands (and, inside MULTI, every command but
     EXEC/DISCARD/QUIT/RESET) first evict and then fail with OOM (server.eviction).

`call()` runs the handler, times it (commandstats, slowlog, latency), converts a
raised `CommandError` into an error reply (errorstats) and feeds MONITOR clients.
The asyncio shell (server.node) only moves bytes: it feeds the parser, passes
each argv here and writes the encoded replies.
"""

from __future__ import annotations

import os
import time
from collections import deque
from typing import Any

from redkeep import REDIS_VERSION
from redkeep.clock import Clock
from redkeep.persistence.snapshot import cron as snapshot_cron
from redkeep.replication import failover
from redkeep.resp.types import QUEUED, ErrorReply
from redkeep.server import errors
from redkeep.server.blocking import Blocking
from redkeep.server.config import ServerConfig
from redkeep.server.connection import Client
from redkeep.server.errors import CommandError
from redkeep.server.eviction import Evictor
from redkeep.server.info import track_instantaneous_metrics
from redkeep.server.keyspace import Keyspace
from redkeep.server.propagation import NO_SELF_PROPAGATION, Propagator
from redkeep.server.pubsub import PubSub
from redkeep.server.table import Command, CommandTable

_MULTI_PASSTHROUGH = frozenset({"exec", "discard", "multi", "watch", "quit", "reset"})


class NoReply:
    """Handlers return NO_REPLY when they have already written (or must not write)."""

    __slots__ = ()


NO_REPLY = NoReply()


class SlowlogEntry:
    __slots__ = ("id", "time", "duration", "argv", "addr", "name")

    def __init__(self, eid: int, when: int, duration: int, argv: list[bytes], addr: str,
                 name: bytes) -> None:
        self.id, self.time, self.duration = eid, when, duration
        self.argv, self.addr, self.name = argv, addr, name


class Server:
    def __init__(self, config: ServerConfig, clock: Clock, table: CommandTable | None = None) -> None:
        from redkeep.server.commands import build_table

        self.config = config
        self.clock = clock
        self.keyspace = Keyspace(clock, config.databases)
        self.keyspace.notify = self.notify
        self.keyspace.notify_flags = config.notify_flags
        self.table = table or build_table()
        for old, new in config.rename_commands:
            self.table.rename(old, new)
        self.pubsub = PubSub()
        self.blocking = Blocking(self)
        self.propagator = Propagator()   # writes → AOF and replication stream
        # persistence.aof's AppendOnlyFile while appendonly is on: the node calls
        # `aof.write_pending()` before it writes any reply (fsync always: acked = on disk)
        self.aof: Any = None
        self.keyspace.on_expired = self.propagate_expired
        self.keyspace.on_evicted = self.propagate_evicted
        self.keyspace.on_key_ready = self.blocking.signal_key
        self.clients: dict[int, Client] = {}
        self.next_client_id = 1
        self.monitors: list[Client] = []
        self.run_id = os.urandom(20).hex()
        self.start_wall_ms = clock.wall_ms()
        self.start_mono_ms = clock.monotonic_ms()
        self.version = REDIS_VERSION
        self.dirty = 0
        self.errorstats: dict[str, int] = {}
        self.stats: dict[str, int] = dict.fromkeys((
            "total_connections_received", "total_commands_processed", "rejected_connections",
            "total_net_input_bytes", "total_net_output_bytes", "total_error_replies",
            "evicted_clients", "pubsub_channels", "unexpected_error_replies",
            "client_query_buffer_limit_disconnections", "total_blocking_keys"), 0)
        self.slowlog: deque[SlowlogEntry] = deque(maxlen=max(config.slowlog_max_len, 1))
        self.slowlog_next_id = 0
        self.pause_until_ms = 0
        self.pause_writes_only = False
        # FAILOVER (replication.failover): its state, target, deadline and write pause
        self.failover_state = failover.NO_FAILOVER
        self.failover_target: tuple[str, int] | None = None
        self.failover_force = False
        self.failover_end_ms = 0
        self.failover_pause = False
        self.shutdown_requested: str | None = None   # "save" / "nosave" / "default"
        self.latency_events: dict[str, list[tuple[int, int]]] = {}
        self.evictor = Evictor(self)   # maxmemory eviction and LRU/LFU access tracking
        # Replication identity (INFO replication, ROLE, PSYNC): a master starts a new history.
        self.replid = os.urandom(20).hex()
        self.replid2 = "0" * 40
        self.master_repl_offset = 0
        self.second_repl_offset = -1
        from redkeep.replication.master import MasterSide
        self.master_side = MasterSide(self)   # backlog, attached replicas, PSYNC
        self.upstream: Any = None             # replication.upstream.Upstream on a replica
        self.repl_guard = False               # READONLY / MASTERDOWN / NOREPLICAS checks due
        self.repl_cron_loops = 0
        self.waiting_acks: list[tuple[Client, int, int]] = []   # WAIT: (client, offset, n)
        self.repl_cron_last_ms = clock.monotonic_ms()
        self.active_expire_enabled = True   # DEBUG SET-ACTIVE-EXPIRE
        self.busy_script: Any = None   # a scripting.ScriptRun past busy-reply-threshold
        self.misconf = False   # the last BGSAVE failed (persistence.snapshot): MISCONF
        self.aof_write_error = ""   # why the AOF can't be written (persistence.aof): MISCONF
        self.loading = False   # loading the dataset at startup: -LOADING for most commands
        from redkeep.server.commands.server import install_config_hooks
        install_config_hooks(self)
        from redkeep.server.commands.replication import install_replication_hooks
        install_replication_hooks(self)
        self.refresh_replication_guard()

    # ---- Clients ----

    def requires_auth(self) -> bool:
        return bool(self.config.requirepass)

    def new_client(self, addr: str = "", laddr: str = "", writer: Any = None,
                   closer: Any = None) -> Client:
        c = Client(self, self.next_client_id, addr, laddr, writer, closer)
        self.next_client_id += 1
        self.clients[c.id] = c
        self.stats["total_connections_received"] += 1
        return c

    def free_client(self, c: Client) -> None:
        self.blocking.forget(c)
        self.unwatch_all(c)
        self.pubsub.drop_client(c)
        if c.is_monitor and c in self.monitors:
            self.monitors.remove(c)
        self.clients.pop(c.id, None)
        if c.kind == "replica":
            self.master_side.detach(c)

    # ---- The pipeline ----

    def execute(self, c: Client, argv: list[bytes]) -> Any:
        cmd = self.table._by_raw.get(argv[0]) or self.table.lookup(argv[0])
        if cmd is None:
            return self.reject(c, None, errors.unknown_command(argv))
        n = len(argv)
        if cmd.subcommands is not None and n >= 2:
            sub = cmd.subcommands.get(argv[1].lower())
            if sub is None:
                return self.reject(c, cmd, errors.unknown_subcommand(argv[1], cmd.name))
            cmd = sub
        arity = cmd.arity
        if (n != arity) if arity > 0 else (n < -arity):
            return self.reject(c, cmd, errors.wrong_arity(cmd.fullname))
        if not c.authenticated and not cmd.no_auth:
            return self.reject(c, cmd, errors.NOAUTH, in_multi_too=False)
        if cmd.protected and not self.allow_protected_action(c, cmd.name):
            name, option = cmd.name.upper(), f"enable-{cmd.name}-command"
            return self.reject(c, cmd, (
                f"ERR {name} command not allowed. If the {option} option is set to \"local\", "
                "you can run it from a local connection, otherwise you need to set this option "
                "in the configuration file, and then restart the server."))
        if self.config.maxmemory and self.evictor.out_of_memory(c, cmd):
            return self.reject(c, cmd, errors.OOM)
        if self.misconf or self.aof_write_error:
            denied = self.writes_denied_by_disk_error(c, cmd)
            if denied:
                return self.reject(c, cmd, denied)
        if self.repl_guard and c.kind != "master":
            denied = self.replication_denies(c, cmd)
            if denied:
                return self.reject(c, cmd, denied)
        if self.loading and not cmd.loading_ok:   # the dataset is not there yet
            return self.reject(c, cmd, errors.LOADING)
        if self.busy_script is not None:   # a script is past busy-reply-threshold
            busy = self.busy_script.admit(cmd, argv)
            if busy is not None:
                return self.reject(c, cmd, busy)
        if c.in_multi and cmd.name not in _MULTI_PASSTHROUGH:
            if cmd.no_multi:
                return self.reject(c, cmd, "ERR Command not allowed inside a transaction")
            c.mstate.append((cmd, argv))
            return QUEUED
        if (c.channels or c.patterns) and c.resp == 2 and not cmd.allowed_in_pubsub:
            return self.reject(c, cmd, errors.pubsub_context(cmd.fullname))
        return self.call(c, cmd, argv)

    def allow_protected_action(self, c: Client, name: str) -> bool:
        """enable-debug-command / enable-module-command: yes, no, or local clients only."""
        setting = getattr(self.config, f"enable_{name}_command", "no")
        if setting == "yes":
            return True
        local = c.addr.startswith(("127.", "[::1]", "[::ffff:127.")) or c.laddr.endswith(":0")
        return setting == "local" and local

    # ---- Replication role ----

    def repl_is_replica(self) -> bool:
        return self.upstream is not None

    def refresh_replication_guard(self) -> None:
        self.repl_guard = self.upstream is not None or self.config.min_replicas_to_write > 0

    def replication_denies(self, c: Client, cmd: Command) -> str | None:
        """processCommand's replication checks, in Redis's order: NOREPLICAS on a master
        without enough good replicas, READONLY on a read-only replica, MASTERDOWN on a
        replica whose link is down when replica-serve-stale-data is no."""
        cfg = self.config
        writes = cmd.is_write or (cmd.name == "exec" and any(q.is_write for q, _ in c.mstate))
        up = self.upstream
        if writes and up is None and cfg.min_replicas_to_write and \
                self.master_side.good_replicas() < cfg.min_replicas_to_write:
            return errors.NOREPLICAS
        if writes and up is not None and cfg.replica_read_only:
            return errors.READONLY
        if up is not None and not up.link_up and not cfg.replica_serve_stale_data \
                and not cmd.stale_ok:
            return errors.MASTERDOWN
        return None

    def wake_waiters(self) -> None:
        """WAIT clients whose offset enough replicas acknowledged get their count."""
        if not self.waiting_acks:
            return
        still = []
        for c, offset, n in self.waiting_acks:
            acked = self.master_side.count_acked(offset)
            if acked >= n and c.blocked is not None:
                self.blocking.unblock(c, acked)
            elif c.blocked is not None:
                still.append((c, offset, n))
        self.waiting_acks = still

    def child_busy(self) -> bool:
        """A fork is running (RDB, AOF rewrite, diskless transfer): Redis allows one."""
        from redkeep.persistence.snapshot import state_of
        if state_of(self).child_pid is not None or self.master_side.transfer is not None:
            return True
        return getattr(self, "aof_child_pid", None) is not None

    def replication_cron(self) -> None:
        """replicationCron, once a second."""
        self.repl_cron_loops += 1
        if self.upstream is not None:
            self.upstream.cron()
        self.master_side.cron(self.repl_cron_loops)

    def writes_denied_by_disk_error(self, c: Client, cmd: Command) -> str:
        """writeCommandsDeniedByDiskError: write commands (and PING) get MISCONF after a
        failed BGSAVE (with stop-writes-on-bgsave-error and save points) or while the
        AOF can't be written or fsynced; "" when this command may run."""
        if not (cmd.is_write or cmd.name == "ping" or
                (cmd.name == "exec" and any(q.is_write for q, _ in c.mstate))):
            return ""
        if self.misconf and self.config.stop_writes_on_bgsave_error and self.config.save:
            return errors.MISCONF
        if self.aof_write_error and self.config.appendonly:
            return f"MISCONF Errors writing to the AOF file: {self.aof_write_error}"
        return ""

    def reject(self, c: Client, cmd: Command | None, message: str,
               in_multi_too: bool = True) -> ErrorReply:
        if c.in_multi and in_multi_too:
            c.dirty_exec = True
        if cmd is not None:
            cmd.rejected_calls += 1
            if cmd.name == "exec":  # execCommandAbort: the transaction goes with it
                self.discard_transaction(c)
                cause = message[4:] if message.startswith("ERR ") else message
                message = f"EXECABORT Transaction discarded because of: {cause}"
        self.count_error(message)
        return ErrorReply(message)

    def count_error(self, message: str) -> None:
        code = message.split(" ", 1)[0]
        self.errorstats[code] = self.errorstats.get(code, 0) + 1
        self.stats["total_error_replies"] += 1

    def call(self, c: Client, cmd: Command, argv: list[bytes]) -> Any:
        c.cur_cmd = cmd
        c.cur_argv = argv
        prop = self.propagator
        start = time.perf_counter_ns()
        if prop.feeds:   # someone listens (AOF, replicas): track what this call changed
            dirty = self.dirty
            c.propagate_as = None
            prop.depth += 1
            try:
                reply = self.run_handler(cmd, c, argv)
            finally:
                prop.depth -= 1
            if self.dirty != dirty and cmd.name not in NO_SELF_PROPAGATION:
                self.propagate_call(c, argv)
            if prop.depth == 0 and prop.pending:
                prop.flush()
        else:
            reply = self.run_handler(cmd, c, argv)
        duration = (time.perf_counter_ns() - start) // 1000
        cmd.calls += 1
        cmd.usec += duration
        self.stats["total_commands_processed"] += 1
        c.last_cmd = cmd.fullname
        if duration >= self.config.slowlog_log_slower_than >= 0 and not cmd.skip_slowlog:
            self.log_slow(c, argv, duration)
        # MONITOR sees a command after it ran (SELECT shows the new db), as in Redis 7.0;
        # admin commands and commands that just blocked are not shown.
        if self.monitors and not cmd.skip_monitor and not cmd.is_admin and c.blocked is None:
            self.feed_monitors(c, argv)
        return reply

    def run_handler(self, cmd: Command, c: Client, argv: list[bytes]) -> Any:
        try:
            return cmd.handler(c, argv)
        except CommandError as e:
            cmd.failed_calls += 1
            self.count_error(e.message)
            return ErrorReply(e.message)
        except Exception as e:  # a bug in a handler: answer, log, keep serving everyone
            return self.internal_error(cmd, argv, e)

    # ---- Propagation (AOF and replication stream) ----

    def propagate_call(self, c: Client, argv: list[bytes]) -> None:
        """Queue what a command that changed the dataset sends downstream: its argv or
        what its handler rewrote it to (`c.propagate_as`)."""
        alt = c.propagate_as
        dbid = c.db.id
        if alt is None:
            self.propagator.also(dbid, argv)
        else:
            for a in alt:
                self.propagator.also(dbid, a)
            c.propagate_as = None

    def propagate_expired(self, db: Any, key: bytes) -> None:
        self.propagator.deletion(db.id, key, self.config.lazyfree_lazy_expire)

    def propagate_evicted(self, db: Any, key: bytes) -> None:
        self.propagator.deletion(db.id, key, self.config.lazyfree_lazy_eviction)

    def internal_error(self, cmd: Command, argv: list[bytes], exc: Exception) -> ErrorReply:
        import traceback

        cmd.failed_calls += 1
        self.stats["unexpected_error_replies"] += 1
        log = getattr(self, "log", None)
        if log is not None:
            log.warning(f"Internal error running '{cmd.fullname}' ({len(argv)} args): {exc!r}\n"
                        + "".join(traceback.format_exception(exc)).rstrip())
        message = f"ERR internal error in '{cmd.fullname}': {type(exc).__name__}"
        self.count_error(message)
        return ErrorReply(message)

    # ---- Transactions ----

    def exec_transaction(self, c: Client) -> Any:
        from redkeep.resp.types import NullArray

        if not c.in_multi:
            raise CommandError(errors.EXEC_WITHOUT_MULTI)
        queue, aborted = c.mstate, c.dirty_exec
        watch_failed = c.dirty_cas or self.watched_key_expired(c)
        self.discard_transaction(c)
        if aborted:
            raise CommandError(errors.EXECABORT)
        if watch_failed:
            return NullArray
        replies = []
        c.in_exec = True
        try:
            for cmd, argv in queue:
                replies.append(self.call(c, cmd, argv))
        finally:
            c.in_exec = False
        return replies

    def discard_transaction(self, c: Client) -> None:
        c.in_multi = False
        c.dirty_exec = False
        c.mstate = []
        self.unwatch_all(c)

    def watch(self, c: Client, key: bytes) -> None:
        db = c.db
        for wdb, wkey, _ in c.watched:
            if wdb is db and wkey == key:
                return
        c.watched.append((db, key, db.is_expired(key)))
        db.watched.setdefault(key, set()).add(c)

    def unwatch_all(self, c: Client) -> None:
        for db, key, _ in c.watched:
            clients = db.watched.get(key)
            if clients is not None:
                clients.discard(c)
                if not clients:
                    del db.watched[key]
        c.watched = []
        c.dirty_cas = False

    def watched_key_expired(self, c: Client) -> bool:
        for db, key, was_expired in c.watched:
            if not was_expired and key in db.data and db.is_expired(key):
                return True
        return False

    # ---- Events ----

    def notify(self, type_flag: int, event: str, key: bytes, dbid: int) -> None:
        """Keyspace notifications (notify-keyspace-events), as notifyKeyspaceEvent."""
        flags = self.keyspace.notify_flags
        if not (flags & type_flag):
            return
        ev = event.encode()
        if flags & 1:  # K
            self.pubsub.publish(b"__keyspace@%d__:%s" % (dbid, key), ev)
        if flags & 2:  # E
            self.pubsub.publish(b"__keyevent@%d__:%s" % (dbid, ev), key)

    def feed_monitors(self, c: Client, argv: list[bytes]) -> None:
        us = self.clock.wall_us()
        where = "lua" if c.kind == "lua" else c.addr
        parts = " ".join('"' + _repr_arg(a) + '"' for a in argv)
        line = b"+%d.%06d [%d %s] %s\r\n" % (us // 1_000_000, us % 1_000_000, c.db.id,
                                            where.encode(), parts.encode())
        for m in list(self.monitors):
            if m is not c:
                m.writer(line)

    def log_slow(self, c: Client, argv: list[bytes], duration: int) -> None:
        shown = argv[:32] if len(argv) <= 32 else argv[:31] + [
            b"... (%d more arguments)" % (len(argv) - 31)]
        shown = [a if len(a) <= 128 else a[:128] + b"... (%d more bytes)" % (len(a) - 128)
                 for a in shown]
        self.slowlog.appendleft(SlowlogEntry(self.slowlog_next_id, self.clock.wall_ms() // 1000,
                                             duration, shown, c.addr, c.name or b""))
        self.slowlog_next_id += 1

    # ---- Time ----

    def uptime_seconds(self) -> int:
        return (self.clock.monotonic_ms() - self.start_mono_ms) // 1000

    def cron(self) -> None:
        """Called hz times per second by the node."""
        if self.busy_script is not None:   # a busy script owns the keyspace
            return
        if self.active_expire_enabled:
            self.keyspace.active_expire_cycle()
        track_instantaneous_metrics(self)
        if self.evictor is not None and self.config.maxmemory:
            self.evictor.make_room(None)
        snapshot_cron(self)
        if self.failover_state == failover.WAIT_FOR_SYNC:
            failover.update(self)
        now = self.clock.monotonic_ms()
        if now - self.repl_cron_last_ms >= 1000:
            self.repl_cron_last_ms = now
            self.replication_cron()


def _repr_arg(a: bytes) -> str:
    """sdscatrepr: printable ASCII as is, escapes for the rest (MONITOR lines)."""
    out = []
    for b in a:
        ch = chr(b)
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\a":
            out.append("\\a")
        elif ch == "\b":
            out.append("\\b")
        elif 32 <= b < 127:
            out.append(ch)
        else:
            out.append("\\x%02x" % b)
    return "".join(out)
