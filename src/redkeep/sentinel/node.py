"""The asyncio shell of a sentinel: client port, links to instances, timer, side effects.

Theory of operation
-------------------
A sentinel is a redkeep `Server` with Sentinel's command table (SENTINEL, pub/sub,
PING, INFO, ROLE, CLIENT, AUTH, HELLO…) served by the ordinary node shell, plus a
`SentinelCore` that decides everything. This module only moves things between them:

* every ~100 ms (jittered like Redis's hz so sentinels don't act in lockstep) it calls
  `core.tick(now)` and carries out the actions: Connect opens a command link (AUTH,
  CLIENT SETNAME) and, for masters and replicas, a pub/sub link subscribed to
  `__sentinel__:hello`; Send writes a command and queues its tag so the reply goes
  back to `core.reply`; Event logs Redis's line and publishes on our own pub/sub
  (clients like redis-py's Sentinel listen to +switch-master there); FlushConfig
  rewrites the config file; RunScript queues a notification/reconfig script;
* hello messages heard on a pub/sub link, or PUBLISHed to us by a peer, go to
  `core.hello`.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import deque
from typing import Any

import hiredis

from redkeep.sentinel.core import (
    HELLO_CHANNEL,
    Connect,
    Disconnect,
    Event,
    FlushConfig,
    RunScript,
    Send,
    SentinelCore,
)
from redkeep.server.propagation import encode_command

TIMER_MS = 100


class _Conn(asyncio.Protocol):
    """One RESP connection: replies are matched to the tags of what was sent."""

    def __init__(self, link: InstanceLink, pubsub: bool) -> None:
        self.link = link
        self.pubsub = pubsub
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader()
        self.tags: deque[str] = deque()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while True:
            try:
                item = self.reader.gets()
            except hiredis.ProtocolError:
                self.transport.close()
                return
            if item is False:
                return
            if isinstance(item, hiredis.ReplyError):
                item = str(item).encode()
            if self.pubsub:
                self.link.on_pubsub(item)
            else:
                tag = self.tags.popleft() if self.tags else "_"
                self.link.on_reply(tag, item)

    def connection_lost(self, exc: Exception | None) -> None:
        self.link.on_lost(self)

    def send(self, argv: list[bytes], tag: str) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.tags.append(tag)
            self.transport.write(encode_command(argv))


class InstanceLink:
    def __init__(self, node: SentinelNode, act: Connect) -> None:
        self.node = node
        self.act = act
        self.cmd: _Conn | None = None
        self.sub: _Conn | None = None
        self.closed = False

    async def open(self) -> None:
        node, act = self.node, self.act
        loop = asyncio.get_running_loop()
        try:
            _, self.cmd = await asyncio.wait_for(loop.create_connection(
                lambda: _Conn(self, False), act.addr[0], act.addr[1]), 1.0)
            self._hello_conn(self.cmd, act.client_name)
            if act.subscribe_hello:
                _, self.sub = await asyncio.wait_for(loop.create_connection(
                    lambda: _Conn(self, True), act.addr[0], act.addr[1]), 1.0)
                self._subscribe(self.sub)
        except (TimeoutError, OSError):
            self.close()
            node.core.connect_finished(act.link)
            return
        if self.closed:   # dropped while connecting: close what just opened
            self.close()
            node.core.connect_finished(act.link)
            return
        node.core.connect_finished(act.link)
        node.core.link_up(act.link, node.now())

    def _hello_conn(self, conn: _Conn, name: str) -> None:
        act = self.act
        user, pw = act.auth_user, act.auth_pass
        if act.kind == "sentinel":
            user, pw = self.node.sentinel_user, self.node.sentinel_pass
        if pw:
            conn.send([b"AUTH"] + ([user.encode()] if user else []) + [pw.encode()], "_")
        if name and not (conn.pubsub and pw is None):
            conn.send([b"CLIENT", b"SETNAME", name.encode()], "_")
        if conn.pubsub:
            conn.tags.clear()   # replies on the pub/sub link are not matched to tags

    def local_ip(self) -> str:
        t = self.cmd.transport if self.cmd else None
        sock = t.get_extra_info("sockname") if t is not None else None
        return sock[0] if sock else "127.0.0.1"

    def send(self, act: Send) -> None:
        argv = act.argv
        if act.tag == "hello" and b"{local-ip}" in argv[2]:
            argv = [argv[0], argv[1], argv[2].replace(b"{local-ip}", self.local_ip().encode())]
        if self.cmd is None:
            self.node.core.reply(act.link, act.tag, None, self.node.now())
            return
        self.cmd.send(argv, act.tag)

    def on_reply(self, tag: str, item: Any) -> None:
        if tag == "_":
            return
        node = self.node
        if tag == "info" and isinstance(item, bytes):
            ln = node.core._links.get(self.act.link)
            if ln is not None:
                node.info_cache[id(ln.inst)] = (node.now(), item)
        try:
            node.core.reply(self.act.link, tag, item, node.now())
        except SystemExit as e:   # a promotion seen on this reply, with crash-after-promotion
            node.simulated_crash(e)
        node.kick()

    def on_pubsub(self, item: Any) -> None:
        if isinstance(item, list) and len(item) == 3 and item[0] == b"message":
            self.node.core.hello(item[2].decode("utf-8", "replace"), self.node.now())
            self.node.kick()

    def on_lost(self, conn: _Conn) -> None:
        if self.closed:
            return
        if conn is self.sub and self.cmd is not None and self.cmd.transport is not None \
                and not self.cmd.transport.is_closing():
            # Only the pub/sub connection went (a promotion's CLIENT KILL TYPE pubsub does
            # that): as Redis's two link contexts, the command link and the replies still
            # owed on it (the INFO after SLAVEOF NO ONE) stay; the pub/sub one reconnects.
            self.sub = None
            asyncio.get_running_loop().create_task(self._reopen_sub())
            return
        self.close()
        self.node.core.link_down(self.act.link, self.node.now())

    async def _reopen_sub(self) -> None:
        act = self.act
        try:
            _, sub = await asyncio.wait_for(asyncio.get_running_loop().create_connection(
                lambda: _Conn(self, True), act.addr[0], act.addr[1]), 1.0)
        except (TimeoutError, OSError):
            if not self.closed:
                self.close()
                self.node.core.link_down(act.link, self.node.now())
            return
        if self.closed:
            sub.transport.close()
            return
        self.sub = sub
        self._subscribe(sub)

    def _subscribe(self, sub: _Conn) -> None:
        self._hello_conn(sub, self.act.client_name.replace("-cmd", "-pubsub"))
        sub.transport.write(encode_command([b"SUBSCRIBE", HELLO_CHANNEL]))

    def close(self) -> None:
        self.closed = True
        for conn in (self.cmd, self.sub):
            if conn is not None and conn.transport is not None:
                conn.transport.close()
        self.node.links.pop(self.act.link, None)


class SentinelNode:
    def __init__(self, server: Any, core: SentinelCore, log: Any, cfg: Any) -> None:
        from redkeep.sentinel.scripts import ScriptRunner

        self.server = server
        self.core = core
        self.log = log
        self.cfg = cfg                      # sentinel.config.SentinelConfig
        self.scripts = ScriptRunner(self._script_event)
        self.links: dict[int, InstanceLink] = {}
        self.info_cache: dict[int, tuple[int, bytes]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._kicked = False
        self.rng = core.rng
        core.format_time = self._wall_time
        server.sentinel = self

    def now(self) -> int:
        return self.server.clock.monotonic_ms()

    def _wall_time(self, mono_ms: int) -> str:
        """A point of monotonic time as ctime() prints it (Redis's failover delay line)."""
        import time
        wall = self.server.clock.wall_ms() + (mono_ms - self.now())
        return time.ctime(wall / 1000)

    @property
    def sentinel_user(self) -> str:
        return self.cfg.sentinel_user

    @property
    def sentinel_pass(self) -> str:
        return self.cfg.sentinel_pass

    # ---- Timer ----

    def start(self) -> None:
        for m in list(self.core.masters.values()):
            self.core.monitor(m, self.now())
        self.drain()
        self._schedule()

    def _schedule(self) -> None:
        loop = asyncio.get_event_loop()
        delay = TIMER_MS / 1000 * (0.7 + 0.6 * self.rng.random())
        self._timer = loop.call_later(delay, self._tick)

    def _tick(self) -> None:
        try:
            self.core.tick(self.now())
            self.drain()
            self.scripts.tick(self.now())
        except SystemExit as e:   # SENTINEL SIMULATE-FAILURE crash-*
            self.simulated_crash(e)
        except Exception as e:  # the timer must never die
            self.log.warning(f"sentinel timer error: {e!r}")
        self._schedule()

    def simulated_crash(self, e: SystemExit) -> None:
        """sentinelSimFailureCrash: the core reached a SIMULATE-FAILURE point (in the
        timer or on a reply); exit at once with Redis's line and status."""
        self.log.warning(f"{e}: Sentinel CRASH because of SENTINEL simulate-failure")
        os._exit(99)

    def kick(self) -> None:
        """Carry out actions produced outside the timer (replies, commands)."""
        if not self._kicked:
            self._kicked = True
            asyncio.get_event_loop().call_soon(self._kick)

    def _kick(self) -> None:
        self._kicked = False
        self.drain()

    # ---- Actions ----

    def drain(self) -> None:
        actions, self.core.actions = self.core.actions, []
        flush = False
        for a in actions:
            t = a.__class__
            if t is Send:
                link = self.links.get(a.link)
                if link is not None:
                    link.send(a)
                else:
                    self.core.reply(a.link, a.tag, None, self.now())
            elif t is Event:
                self.on_event(a)
            elif t is Connect:
                link = InstanceLink(self, a)
                self.links[a.link] = link
                asyncio.get_event_loop().create_task(link.open())
            elif t is Disconnect:
                link = self.links.pop(a.link, None)
                if link is not None:
                    link.close()
            elif t is FlushConfig:
                flush = True
            elif t is RunScript:
                self.run_script(a)
        if flush:
            self.flush()
        if self.core.actions:
            self.kick()

    def on_event(self, ev: Event) -> None:
        line = f"{ev.type} {ev.text}" if ev.type else ev.text
        getattr(self.log, ev.level if ev.level != "verbose" else "verbose")(line)
        if ev.type:
            self.server.pubsub.publish(ev.type.encode(), ev.text.encode())

    def run_script(self, act: RunScript) -> None:
        self.scripts.schedule(act.path, act.args, self.now())

    def _script_event(self, ev: Any) -> None:
        if ev.level == "debug":
            self.log.debug(f"{ev.type} {ev.text}")
            return
        self.on_event(Event(ev.level, ev.type, ev.text))

    def flush(self, force: bool = False) -> None:
        """sentinelFlushConfig: the state lines go to the config file."""
        from redkeep.sentinel.config import flush_config

        core = self.core
        level, msg = flush_config(self.cfg, core.masters.values(), core.myid,
                                  core.current_epoch)
        getattr(self.log, level)(msg)

    # ---- Commands' helpers ----

    def info_text(self, sections: list[str]) -> str:
        from redkeep.server.info import generate_info

        wanted = sections or ["default"]
        std = [s for s in ("server", "clients", "stats", "cpu")
               if "default" in wanted or "all" in wanted or "everything" in wanted or s in wanted]
        text = generate_info(self.server, [s.encode() for s in std]).decode() if std else ""
        text = text.replace("redis_mode:standalone", "redis_mode:sentinel")
        if {"default", "all", "everything", "sentinel"} & set(wanted):
            core = self.core
            lines = ["# Sentinel", f"sentinel_masters:{len(core.masters)}",
                     f"sentinel_tilt:{int(core.tilt)}",
                     f"sentinel_tilt_since_seconds:"
                     f"{(self.now() - core.tilt_start_time) // 1000 if core.tilt else -1}",
                     f"sentinel_running_scripts:{self.scripts.running()}",
                     f"sentinel_scripts_queue_length:{self.scripts.queue.pending()}",
                     f"sentinel_simulate_failure_flags:{len(core.simfailure)}"]
            from redkeep.sentinel.instance import Flag
            for i, m in enumerate(core.masters.values()):
                status = "odown" if m.flags & Flag.O_DOWN else \
                    "sdown" if m.flags & Flag.S_DOWN else "ok"
                lines.append(f"master{i}:name={m.name},status={status},address={m.addr[0]}:"
                             f"{m.addr[1]},slaves={len(m.replicas)},"
                             f"sentinels={len(m.sentinels) + 1}")
            block = "\r\n".join(lines) + "\r\n"
            text = text + ("\r\n" if text else "") + block
        return text

    def pending_scripts_reply(self) -> list[Any]:
        out = []
        for job in self.scripts.queue.jobs:
            out.append([b"argv", [a.encode() for a in job.argv],
                        b"flags", b"running" if job.running else b"retry",
                        b"pid", str(job.pid).encode(),
                        b"run-time" if job.running else b"run-delay",
                        str(max(0, self.now() - job.start_time) if job.running
                            else max(0, job.start_time - self.now())).encode(),
                        b"retry-num", str(job.retry_num).encode()])
        return out

    def apply_master_options(self, m: Any, args: list[bytes]) -> str | None:
        """SENTINEL SET: apply, publish +set, drop links when auth changed."""
        from redkeep.sentinel.config import sentinel_set
        from redkeep.sentinel.instance import master_event_name

        out = sentinel_set(self.cfg, m, [a.decode("utf-8", "replace") for a in args])
        for text in out.events:
            self.core.event("notice", "+set", f"{master_event_name(m)} {text}", m)
        if out.drop_links:
            for inst in (m, *m.replicas.values()):
                self.core.drop_link(inst)
                inst._connecting = False
        if out.changes:
            self.core.flush_config()
        return out.error

    def config_get(self, pattern: str) -> list[tuple[str, Any]]:
        from redkeep.sentinel import config as sconf
        return sconf.config_get(self.cfg, pattern)

    def config_set(self, pairs: list[tuple[str, str]]) -> str | None:
        from redkeep.sentinel import config as sconf
        for name, value in pairs:
            err, drop = sconf.config_set(self.cfg, name, value)
            if err is not None:
                return err
            if drop:
                for m in self.core.masters.values():
                    for s in m.sentinels.values():
                        self.core.drop_link(s)
            if name.lower() in ("announce-ip", "announce-port"):
                self.core.announce_ip = self.cfg.announce_ip
                self.core.announce_port = self.cfg.announce_port
        self.flush()
        return None


def new_core(myid: str, masters: list[Any], port: int, announce_ip: str = "",
             announce_port: int = 0, current_epoch: int = 0,
             rng: random.Random | None = None) -> SentinelCore:
    return SentinelCore(myid or os.urandom(20).hex(), {m.name: m for m in masters},
                        rng or random.Random(), announce_ip=announce_ip,
                        announce_port=announce_port, port=port, current_epoch=current_epoch)


# ---- Process entry point ----

def run_sentinel(argv: list[str]) -> int:
    """`redkeep sentinel <sentinel.conf> [--directive ...]`: like redis-sentinel."""
    import signal
    import sys

    from redkeep.clock import SystemClock
    from redkeep.log import Logger
    from redkeep.sentinel.commands import build_sentinel_table
    from redkeep.sentinel.config import SentinelConfig, check_config_file, new_myid
    from redkeep.server.config import ConfigFatalLogError, ConfigFileError
    from redkeep.server.node import Node, boot_process, listen, write_pidfile
    from redkeep.server.server import Server

    try:
        cfg = SentinelConfig.from_argv(argv)
    except ConfigFatalLogError as e:
        Logger("", "notice", role="X").warning(str(e))
        return 1
    except ConfigFileError as e:
        print(str(e), file=sys.stderr)
        return 1
    except OSError as e:
        print(f"Fatal error, can't open config file '{e.filename}': {e.strerror}",
              file=sys.stderr)
        return 1
    sc = cfg.server
    problem = check_config_file(cfg.path)
    if problem:
        Logger(sc.logfile, "notice", role="X").warning(problem)
        return 1
    booted = boot_process(sc, "X", "X")
    if booted is None:
        return 1
    log, loop = booted
    server = Server(sc, SystemClock(), table=build_sentinel_table())
    server.log = log
    fresh = not cfg.myid
    core = new_core(cfg.myid or new_myid(os.urandom), list(cfg.masters.values()), sc.port,
                    cfg.announce_ip, cfg.announce_port, cfg.current_epoch)
    node = Node(server, log)
    snode = SentinelNode(server, core, log, cfg)
    log.notice(f"Running mode=sentinel, port={sc.port}.")
    if not listen(node, loop, log):
        return 1
    if fresh:
        snode.flush()
    log.warning(f"Sentinel ID is {core.myid}")
    write_pidfile(sc.pidfile, log)
    snode.start()

    def on_signal(sig: int) -> None:
        log.warning(f"Received {'SIGTERM' if sig == signal.SIGTERM else 'SIGINT'} "
                    "scheduling shutdown...")
        snode.flush()
        node.request_shutdown()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        loop.run_until_complete(node.serve_until_stopped())
    finally:
        snode.scripts.kill_all()
        loop.close()
    return 0
