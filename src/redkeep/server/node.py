"""The asyncio shell of the data node: listeners, per-connection I/O, the cron timer.

Theory of operation
-------------------
Everything that decides anything lives in `Server` (server.server) and the sans-IO
parser; this module only moves bytes. A `ClientConnection` feeds what it reads to
its `RequestParser`, passes every complete argv to `Server.execute`, encodes the
replies for the client's protocol and writes them with one `transport.write` per
read batch (deep pipelines cost one syscall). Out-of-band output (pub/sub
messages, MONITOR) is queued on the same buffer and flushed on the next loop turn,
so ordering is preserved.

A connection stops taking commands while CLIENT PAUSE holds it (the held argv is
retried when the pause ends) and after QUIT or a protocol error (the error is
written, then the socket is closed). The cron timer runs `Server.cron` `hz` times a
second (active expiry, eviction) and closes idle clients (`timeout`).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from typing import Any

from redkeep.log import Logger
from redkeep.resp.encoder import encode, encode_error
from redkeep.resp.parser import ProtocolError, RequestParser
from redkeep.resp.types import OK, Status
from redkeep.server.blocking import BLOCKED
from redkeep.server.connection import REPLY_ON, REPLY_SKIP, REPLY_SKIP_NEXT, Client
from redkeep.server.server import NO_REPLY, Server

PROTECTED_MODE_DENIED = (
    b"-DENIED Redis is running in protected mode because protected mode is enabled and no "
    b"password is set for the default user. In this mode connections are only accepted from "
    b"the loopback interface. If you want to connect from external computers to Redis you may "
    b"adopt one of the following solutions: 1) Just disable protected mode sending the command "
    b"'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from "
    b"the same host the server is running, however MAKE SURE Redis is not publicly accessible "
    b"from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) "
    b"Alternatively you can just disable the protected mode by editing the Redis configuration "
    b"file, and setting the protected mode option to 'no', and then restarting the server. 3) "
    b"If you started the server manually just for testing, restart it with the "
    b"'--protected-mode no' option. 4) Set up an authentication password for the default user. "
    b"NOTE: You only need to do one of the above things in order for the server to start "
    b"accepting connections from the outside.\r\n"
)
_OK = b"+OK\r\n"
_NULL = (b"$-1\r\n", b"$-1\r\n", b"$-1\r\n", b"_\r\n")


def _format_addr(addr: Any) -> str:
    if isinstance(addr, tuple):
        host, port = addr[0], addr[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"{addr or ''}:0"


class ClientConnection(asyncio.Protocol):
    def __init__(self, node: Node, unix: bool = False) -> None:
        self.node = node
        self.srv = node.server
        self.unix = unix
        self.transport: asyncio.Transport | None = None
        self.client: Client | None = None
        self.parser: RequestParser | None = None
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._busy = False
        self._closed = False
        self._held: list[bytes] | None = None
        self._block_timer: asyncio.TimerHandle | None = None
        self._soft_since: int | None = None   # over the soft output limit since (ms)

    # ---- Connection lifecycle ----

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        srv, cfg = self.srv, self.srv.config
        peer = transport.get_extra_info("peername")
        if len(srv.clients) >= cfg.maxclients:
            srv.stats["rejected_connections"] += 1
            transport.write(b"-ERR max number of clients reached\r\n")
            transport.close()
            self._closed = True
            return
        if not self.unix and cfg.protected_mode and not cfg.requirepass:
            ip = peer[0] if isinstance(peer, tuple) else ""
            if ip not in ("127.0.0.1", "::1") and not ip.startswith("::ffff:127."):
                srv.stats["rejected_connections"] += 1
                transport.write(PROTECTED_MODE_DENIED)
                transport.close()
                self._closed = True
                return
        sock = transport.get_extra_info("socket")
        if sock is not None and not self.unix:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if cfg.tcp_keepalive:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            except OSError:
                pass
        addr = _format_addr(peer) if not self.unix else f"{cfg.unixsocket}:0"
        laddr = _format_addr(transport.get_extra_info("sockname"))
        c = srv.new_client(addr, laddr, writer=self._queue, closer=self._close_from_server)
        c.on_unblock = self._on_unblocked
        self.parser = RequestParser(cfg.proto_max_bulk_len, cfg.client_query_buffer_limit)
        self.parser.authenticated = c.authenticated
        c.parser = self.parser
        self.client = c
        self.node.connections[c.id] = self

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._block_timer is not None:
            self._block_timer.cancel()
        if self.client is not None:
            self.srv.free_client(self.client)
            self.node.connections.pop(self.client.id, None)

    # ---- Input ----

    def data_received(self, data: bytes) -> None:
        c = self.client
        if c is None or self._closed:
            return
        self.srv.stats["total_net_input_bytes"] += len(data)
        c.last_interaction = self.node.now_ms()
        self.parser.feed(data)
        self._process()

    def _process(self) -> None:
        c, srv, parser, out = self.client, self.srv, self.parser, self._out
        self._busy = True
        try:
            while not self._closed and c.blocked is None:
                argv = self._held
                if argv is None:
                    try:
                        argv = parser.next_command()
                    except ProtocolError as e:
                        self._protocol_error(e)
                        break
                    if argv is None:
                        break
                else:
                    self._held = None
                if (srv.pause_until_ms or srv.failover_pause) and \
                        self.node.must_pause(c, argv):
                    self._held = argv
                    self.node.hold(self)
                    break
                reply = srv.execute(c, argv)
                if srv.blocking.ready:
                    srv.blocking.serve_ready_keys()
                if reply is BLOCKED:
                    self._arm_block_timer()
                    break
                if reply is not NO_REPLY:
                    mode = c.reply_mode
                    if mode == REPLY_ON:
                        if reply.__class__ is bytes:
                            out.append(b"$%d\r\n%s\r\n" % (len(reply), reply))
                        elif reply is OK:
                            out.append(_OK)
                        else:
                            self._append_reply(reply, c.resp)
                    elif mode == REPLY_SKIP:
                        c.reply_mode = REPLY_SKIP_NEXT
                    elif mode == REPLY_SKIP_NEXT:
                        c.reply_mode = REPLY_ON
                if c.close_after_reply:
                    self._closed = True
                    break
        finally:
            self._busy = False
        if out:
            self._flush()
        if self._closed and self.transport is not None:
            self.transport.close()
        if srv.shutdown_requested is not None:
            self.node.request_shutdown()

    # ---- Blocking commands ----

    def _arm_block_timer(self) -> None:
        st = self.client.blocked
        if st is not None and st.deadline_ms:
            delay = max(0, st.deadline_ms - self.node.now_ms()) / 1000.0
            self._block_timer = self.node.loop.call_later(delay, self._block_timeout)

    def _block_timeout(self) -> None:
        self._block_timer = None
        if self.client is not None and self.client.blocked is not None:
            self.srv.blocking.timeout(self.client)

    def _on_unblocked(self, reply: Any) -> None:
        """A blocked command got its answer (served, timed out or CLIENT UNBLOCK)."""
        if self._block_timer is not None:
            self._block_timer.cancel()
            self._block_timer = None
        c = self.client
        if self._closed or c is None:
            return
        if c.reply_mode == REPLY_ON:
            self._append_reply(reply, c.resp)
        if self._busy:
            return
        self.node.loop.call_soon(self._resume_after_unblock)

    def _resume_after_unblock(self) -> None:
        if not self._closed and self.client is not None and self.client.blocked is None:
            self._process()

    def _append_reply(self, reply: Any, resp: int) -> None:
        t = reply.__class__
        if t is bytes:
            self._out.append(b"$%d\r\n%s\r\n" % (len(reply), reply))
        elif reply is OK:
            self._out.append(_OK)
        elif t is int:
            self._out.append(b":%d\r\n" % reply)
        elif reply is None:
            self._out.append(_NULL[resp])
        elif t is Status:
            self._out.append(b"+%s\r\n" % reply)
        else:
            self._out.append(encode(reply, resp))

    def _protocol_error(self, e: ProtocolError) -> None:
        srv = self.srv
        self.node.log.verbose(f"Protocol error ({e.log}) from client: id={self.client.id} "
                              f"addr={self.client.addr}")
        if e.reply is None:
            srv.stats["client_query_buffer_limit_disconnections"] += 1
            self.node.log.warning(f"Closing client that reached max query buffer length: "
                                  f"id={self.client.id} addr={self.client.addr}")
        else:
            srv.count_error(e.reply)
            self._out.append(encode_error(e.reply))
        self._closed = True

    # ---- Output ----

    def _queue(self, data: bytes) -> None:
        if self._closed:
            return
        self._out.append(data)
        if not self._busy and not self._flush_scheduled:
            self._flush_scheduled = True
            self.node.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        out = self._out
        if not out or self.transport is None:
            return
        srv = self.srv
        aof = srv.aof
        if aof is not None and aof.pending:   # the AOF gets the writes before the replies
            aof.write_pending()
        unsent = srv.master_side.unflushed
        if unsent and self.client is not None and self.client.kind != "replica":
            self.node.flush_replicas(unsent)   # so do the replicas (kill -9 loses less)
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        if self.transport.is_closing():   # the peer went away with output pending
            return
        self.srv.stats["total_net_output_bytes"] += len(data)
        self.transport.write(data)
        size = self.transport.get_write_buffer_size()   # what the peer has not read yet
        if size:
            self._check_output_limits(size)
        elif self._soft_since is not None:
            self._soft_since = None

    def _check_output_limits(self, size: int) -> None:
        """checkClientOutputBufferLimits: a client whose unread output is over its class's
        hard limit, or over the soft one for more than soft-seconds, is closed. A
        replica counts only the stream (Redis sends the RDB outside the buffer; before
        it is online replication.master checks the buffer it keeps itself)."""
        c = self.client
        if c is None or c.kind == "master":
            return
        if c.kind == "replica":
            r = self.srv.master_side.replicas.get(c.id)
            if r is None or r.stream_bytes == 0:
                return
            size, cls = min(size, r.stream_bytes), "replica"
        else:
            cls = "pubsub" if c.channels or c.patterns else "normal"
        hard, soft, secs = self.srv.config.client_output_buffer_limit[cls]
        soft_over = False
        if soft and size > soft:
            now = self.node.now_ms()
            if self._soft_since is None:
                self._soft_since = now
            soft_over = now - self._soft_since > secs * 1000
        else:
            self._soft_since = None
        if (hard and size > hard) or soft_over:
            self.node.log.warning(
                f"Client id={c.id} addr={c.addr} scheduled to be closed ASAP "
                "for overcoming of output buffer limits.")
            self._closed = True          # what it did not read is dropped, as Redis frees
            self.transport.abort()       # the client: close() would wait for it to read

    def _close_from_server(self) -> None:
        if self._busy:
            self.client.close_after_reply = True
        else:
            self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._flush()
        if self.transport is not None:
            self.transport.close()

    def resume(self) -> None:
        if not self._closed and self.client is not None:
            self._process()


class Node:
    """Owns the event loop side: listeners, connections, cron, signals, shutdown."""

    def __init__(self, server: Server, log: Logger) -> None:
        self.server = server
        self.log = log
        self.loop = asyncio.get_event_loop()
        self.connections: dict[int, ClientConnection] = {}
        self.listeners: list[asyncio.base_events.Server] = []
        self._held: set[ClientConnection] = set()
        self._stopped = asyncio.Event()
        self._cron_handle: asyncio.TimerHandle | None = None
        self._seconds_counter = 0
        server.node = self

    def now_ms(self) -> int:
        return self.server.clock.monotonic_ms()

    # ---- Listening ----

    async def start(self) -> None:
        cfg = self.server.config
        if cfg.port:
            for addr in cfg.bind:
                optional = addr.startswith("-")
                host = addr.lstrip("-")
                host = {"*": "0.0.0.0", "::*": "::"}.get(host, host)
                try:
                    srv = await self.loop.create_server(
                        lambda: ClientConnection(self), host, cfg.port, reuse_address=True,
                        backlog=cfg.tcp_backlog,
                        family=socket.AF_INET6 if ":" in host else socket.AF_INET)
                except OSError as e:
                    if optional:
                        continue
                    raise OSError(f"Could not create server TCP listening socket "
                                  f"{addr}:{cfg.port}: {e.strerror}") from e
                self.listeners.append(srv)
        if cfg.unixsocket:
            try:
                os.unlink(cfg.unixsocket)
            except FileNotFoundError:
                pass
            srv = await self.loop.create_unix_server(
                lambda: ClientConnection(self, unix=True), cfg.unixsocket)
            os.chmod(cfg.unixsocket, cfg.unixsocketperm or 0o700)
            self.listeners.append(srv)
        self._schedule_cron()

    # ---- Cron ----

    def _schedule_cron(self) -> None:
        hz = max(1, min(500, self.server.config.hz))
        self._cron_handle = self.loop.call_later(1.0 / hz, self._cron)

    def _cron(self) -> None:
        try:
            self.server.cron()
            self._seconds_counter += 1
            hz = max(1, self.server.config.hz)
            if self._seconds_counter >= hz:
                self._seconds_counter = 0
                self._close_idle_clients()
            self._release_pause_if_over()
        except Exception as e:  # the cron must never die
            self.log.warning(f"cron error: {e!r}")
        if not self._stopped.is_set():
            self._schedule_cron()

    def _close_idle_clients(self) -> None:
        timeout = self.server.config.timeout
        if not timeout:
            return
        now = self.now_ms()
        for conn in list(self.connections.values()):
            c = conn.client
            if c is None or c.kind != "normal" or c.channels or c.patterns \
                    or c.blocked is not None or c.is_monitor:
                continue   # as Redis: no idle timeout for replicas, MONITOR, BLPOP, pub/sub
            if now - c.last_interaction > timeout * 1000:
                self.log.verbose("Closing idle client")
                conn.close()

    # ---- CLIENT PAUSE ----

    def must_pause(self, c: Client, argv: list[bytes]) -> bool:
        """CLIENT PAUSE (ALL or WRITE) and FAILOVER's write pause: hold this command?"""
        srv = self.server
        if srv.pause_until_ms and self.server.clock.monotonic_ms() >= srv.pause_until_ms:
            srv.pause_until_ms = 0
        if not (srv.pause_until_ms or srv.failover_pause) or c.kind != "normal":
            return False
        if srv.pause_until_ms and not srv.pause_writes_only:
            return True
        cmd = srv.table.lookup(argv[0])
        if cmd is None:
            return False
        if cmd.name == "exec":
            return any(q.is_write or q.may_replicate for q, _ in c.mstate)
        if c.in_multi:
            return False
        return cmd.is_write or cmd.may_replicate

    def hold(self, conn: ClientConnection) -> None:
        self._held.add(conn)
        if self.server.pause_until_ms:   # FAILOVER's pause ends with the failover
            delay = max(0, self.server.pause_until_ms - self.now_ms()) / 1000.0
            self.loop.call_later(delay + 0.001, self._release_pause_if_over)

    def _release_pause_if_over(self) -> None:
        srv = self.server
        if srv.pause_until_ms and self.now_ms() < srv.pause_until_ms:
            return
        srv.pause_until_ms = 0
        self.resume_paused()

    def resume_paused(self) -> None:
        held, self._held = self._held, set()
        for conn in sorted(held, key=lambda h: h.client.id if h.client else 0):
            conn.resume()

    def flush_replicas(self, cids: set[int]) -> None:
        """Write the replication stream queued for replicas now, before a client's reply:
        a write acknowledged to a client is then already in the replicas' sockets."""
        ids = list(cids)
        cids.clear()
        for cid in ids:
            conn = self.connections.get(cid)
            if conn is not None and not conn._closed:
                conn._flush()

    def kill_client(self, cid: int) -> None:
        conn = self.connections.get(cid)
        if conn is not None:
            conn._close_from_server()

    # ---- Shutdown ----

    def request_shutdown(self) -> None:
        if not self._stopped.is_set():
            self._stopped.set()

    async def serve_until_stopped(self) -> None:
        await self._stopped.wait()
        self.log.warning("User requested shutdown...")
        if self._cron_handle is not None:
            self._cron_handle.cancel()
        for ls in self.listeners:
            ls.close()
        for conn in list(self.connections.values()):
            conn.close()
        cfg = self.server.config
        if cfg.unixsocket:
            try:
                os.unlink(cfg.unixsocket)
            except OSError:
                pass
        if cfg.pidfile:
            try:
                os.unlink(cfg.pidfile)
            except OSError:
                pass
        self.log.warning("Redis is now ready to exit, bye bye...")


# ---- Process entry point ----

def daemonize() -> None:
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    fd = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(fd, target)
    if fd > 2:
        os.close(fd)


def boot_process(config: Any, early_role: str, role: str
                 ) -> tuple[Logger, asyncio.AbstractEventLoop] | None:
    """What redis-server and redis-sentinel do before serving: daemonize, the starting
    log lines, chdir to `dir`, the event loop (uvloop). None when it can't go on."""
    from redkeep import REDIS_VERSION

    if config.daemonize:
        daemonize()
    logfile = config.logfile
    if config.daemonize and not logfile:
        logfile = os.devnull
    early = Logger(logfile, config.loglevel, role=early_role)
    early.warning("oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo")
    early.warning(f"Redis version={REDIS_VERSION}, bits=64, commit=00000000, modified=0, "
                  f"pid={os.getpid()}, just started (redkeep)")
    early.warning("Configuration loaded")
    if config.dir:
        try:
            os.chdir(config.dir)
        except OSError as e:
            early.warning(f"Can't chdir to '{config.dir}': {e.strerror}")
            return None
    try:
        import uvloop
        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a hard dependency
        pass
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    return Logger(logfile, config.loglevel, role=role), loop


def write_pidfile(path: str, log: Logger) -> None:
    if path:
        try:
            with open(path, "w") as fh:
                fh.write(f"{os.getpid()}\n")
        except OSError as e:
            log.warning(f"Failed to write PID file: {e.strerror}")


def listen(node: Node, loop: asyncio.AbstractEventLoop, log: Logger) -> bool:
    """Open the node's listeners; False (the reason logged) when they can't be."""
    try:
        loop.run_until_complete(node.start())
    except OSError as e:
        log.warning(str(e))
        return False
    return True


def run_server(config: Any) -> int:
    """Start a data node from a loaded ServerConfig; returns the exit status."""
    from redkeep.clock import SystemClock

    booted = boot_process(config, "C", "M")
    if booted is None:
        return 1
    log, loop = booted
    server = Server(config, SystemClock())
    server.loading = True   # listeners may take a connection before the data is loaded
    node = Node(server, log)
    server.log = log
    log.notice(f"Running mode=standalone, port={config.port}.")
    if not listen(node, loop, log):
        return 1
    log.warning("Server initialized")
    from redkeep.persistence.snapshot import load_at_startup
    if config.replicaof:
        server.keyspace.is_replica = True   # loaded keys past their TTL wait for the master
    if not load_at_startup(server):
        return 1
    server.loading = False
    if config.replicaof:
        from redkeep.replication.upstream import become_replica
        become_replica(server, config.replicaof[0], config.replicaof[1], at_startup=True)
    write_pidfile(config.pidfile, log)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _on_signal, node, sig)
    log.notice("Ready to accept connections tcp")
    try:
        loop.run_until_complete(node.serve_until_stopped())
    finally:
        loop.close()
    return 0


def _on_signal(node: Node, sig: int) -> None:
    name = "SIGTERM" if sig == signal.SIGTERM else "SIGINT"
    print(f"{os.getpid()}:signal-handler Received {name} scheduling shutdown...",
          file=sys.stderr if not node.server.config.logfile else sys.stdout)
    node.log.warning(f"Received {name} scheduling shutdown...")
    from redkeep.persistence.snapshot import shutdown_save
    cfg = node.server.config
    flags = str(cfg.shutdown_on_sigterm if sig == signal.SIGTERM else cfg.shutdown_on_sigint)
    mode = "nosave" if "nosave" in flags else "save" if "save" in flags else "default"
    if not shutdown_save(node.server, mode, "force" in flags):
        node.log.warning("Errors trying to shut down the server. Check the logs for more "
                         "information.")
        return
    node.server.shutdown_requested = "default"
    node.request_shutdown()
