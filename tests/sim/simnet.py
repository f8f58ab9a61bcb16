"""A seeded, deterministic simulation of sentinels and a replication group.

Theory of operation
-------------------
Everything runs in one process on an integer millisecond clock (`Sim.now`) driven by
one event queue; randomness comes from `random.Random(seed)`, so a seed replays
exactly. There are no sockets and no sleeps.

* Sentinels are real `SentinelCore`s. Each ticks every 70-130 ms (jittered like the
  shell). Their actions are carried out as node.py does: Connect opens a link (one
  link = command + hello subscription, as node.py's InstanceLink), Send delivers a
  command to the target and its reply back, Disconnect closes the link silently,
  FlushConfig snapshots the state a restart starts from (what sentinel.conf keeps:
  myid, current-epoch, config/leader epochs, known replicas and sentinels).
* Data nodes are a small model of redis-server: run id, role, replicaof target,
  a replication offset that grows on masters and is copied by connected replicas,
  and the commands sentinels send (PING, INFO, PUBLISH __sentinel__:hello, MULTI,
  SLAVEOF, CONFIG REWRITE, CLIENT KILL, EXEC). CONFIG REWRITE makes the role survive
  a restart; CLIENT KILL TYPE normal/pubsub closes every sentinel link to the node.
* The network delivers messages after a seeded delay, in order per link and
  direction. Faults: message loss (`drop`), delay range, partitions (endpoints in
  different groups cannot talk; existing links stall, new ones time out after 1 s),
  a single cut between two endpoints, heal, kill/restart of a data node or a sentinel,
  pause of a sentinel (its messages
  wait; it enters TILT when it resumes). A kill closes the peers' links at once when
  the network still connects them (a RST), otherwise the links just stall.

Safety is recorded while running (`violations`): a second leader elected in an
epoch, a second promotion in an epoch, two addresses for one config epoch.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from typing import Any

from redkeep.sentinel.core import Connect, Disconnect, Event, FlushConfig, Send, SentinelCore
from redkeep.sentinel.instance import Addr, Master, Replica, SentinelPeer

MASTER_NAME = "mymaster"
SENTINEL_PORT = 26379
REPL_STEP = 100          # replication advances every 100 ms
CONNECT_TIMEOUT = 1000   # node.py's connect timeout (SYN lost in a partition)
START_MS = 1_000_000     # a monotonic clock is far from 0 (failover_start_time 0 = long ago)
_LOST = object()


@dataclass
class DataNode:
    name: str
    addr: Addr
    run_id: str
    role: str = "master"
    master: Addr | None = None          # replicaof
    offset: int = 0
    alive: bool = True
    incarnation: int = 0
    link_up: bool = False
    link_down_since: int = 0
    priority: int = 100
    saved: tuple[str, Addr | None] = ("master", None)   # as of the last CONFIG REWRITE
    paused_until: int = 0               # data nodes are never paused (same interface)

    def info(self, sim: Sim) -> bytes:
        lines = ["# Server", f"run_id:{self.run_id}", "# Replication", f"role:{self.role}"]
        if self.role == "slave" and self.master is not None:
            lines += [f"master_host:{self.master[0]}", f"master_port:{self.master[1]}",
                      f"master_link_status:{'up' if self.link_up else 'down'}"]
            if not self.link_up:
                down = (sim.now - self.link_down_since) // 1000 if self.link_down_since else -1
                lines.append(f"master_link_down_since_seconds:{down}")
            lines += [f"slave_repl_offset:{self.offset}", f"slave_priority:{self.priority}",
                      "slave_read_only:1", "replica_announced:1"]
        replicas = [r for r in sim.nodes.values() if r.alive and r.role == "slave"
                    and r.master == self.addr and r.link_up]
        lines.append(f"connected_slaves:{len(replicas)}")
        for i, r in enumerate(replicas):
            lines.append(f"slave{i}:ip={r.addr[0]},port={r.addr[1]},state=online,"
                         f"offset={r.offset},lag=0")
        lines.append(f"master_repl_offset:{self.offset}")
        return ("\r\n".join(lines) + "\r\n").encode()


@dataclass
class SimSentinel:
    name: str
    ip: str
    core: SentinelCore | None
    saved: dict[str, Any]
    alive: bool = True
    incarnation: int = 0
    paused_until: int = 0
    links: dict[int, Link] = field(default_factory=dict)


@dataclass(eq=False)
class Link:
    owner: SimSentinel
    lid: int
    target: str                 # endpoint name ("" when the address is unknown)
    subscribe: bool
    inc: int                    # the owner's incarnation (link ids restart with it)
    target_inc: int = -1
    open: bool = False
    closed: bool = False
    out_at: int = 0             # FIFO per direction
    in_at: int = 0
    multi: list[list[bytes]] | None = None


def snapshot(core: SentinelCore) -> dict[str, Any]:
    """What the rewritten sentinel.conf would hold (the current master address, as
    Redis's rewrite writes sentinelGetCurrentMasterAddress)."""
    masters = []
    for m in core.masters.values():
        addr = core.current_master_addr(m)
        replicas = [a for a in m.replicas if a != addr]
        if addr != m.addr:
            replicas.append(m.addr)
        masters.append(dict(
            name=m.name, addr=addr, quorum=m.quorum, down_after_ms=m.down_after_ms,
            failover_timeout=m.failover_timeout, parallel_syncs=m.parallel_syncs,
            config_epoch=m.config_epoch, leader=m.leader, leader_epoch=m.leader_epoch,
            replicas=replicas, sentinels=[(s.runid, s.addr) for s in m.sentinels.values()]))
    return {"myid": core.myid, "current_epoch": core.current_epoch, "masters": masters}


class Sim:
    def __init__(self, seed: int, sentinels: int = 3, replicas: int = 2, quorum: int = 2,
                 down_after: int = 1000, failover_timeout: int = 6000,
                 parallel_syncs: int = 1, delay: tuple[int, int] = (1, 5),
                 drop: float = 0.0) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.now = START_MS
        self.delay = delay
        self.drop = drop
        self._q: list[tuple[int, int, Any, tuple[Any, ...]]] = []
        self._seq = 0
        self.groups: dict[str, int] = {}     # partition: endpoint -> group (default 0)
        self.cuts: set[tuple[str, str]] = set()   # single broken paths, both directions
        self.trace: list[str] = []
        self.events: list[tuple[int, str, str, str]] = []
        self.violations: list[str] = []
        self.elected: dict[int, str] = {}            # epoch -> runid
        self.promoted: dict[int, tuple[str, str]] = {}   # epoch -> (sentinel, replica)
        self.epoch_addr: dict[int, Addr] = {}        # config epoch -> master address
        self._reported: set[tuple[int, Addr]] = set()
        self.nodes: dict[str, DataNode] = {}
        self.node_by_addr: dict[Addr, DataNode] = {}
        for i in range(replicas + 1):
            addr = (f"10.0.0.{i + 1}", 6379)
            n = DataNode(f"{addr[0]}:{addr[1]}", addr, self._hex())
            if i:
                n.role, n.master, n.link_up = "slave", ("10.0.0.1", 6379), True
                n.saved = (n.role, n.master)
            self.nodes[n.name] = n
            self.node_by_addr[addr] = n
        self.master_addr0: Addr = ("10.0.0.1", 6379)
        self.epoch_addr[0] = self.master_addr0
        self.config = dict(quorum=quorum, down_after_ms=down_after,
                           failover_timeout=failover_timeout, parallel_syncs=parallel_syncs)
        self.sentinels: list[SimSentinel] = []
        self.sentinel_by_addr: dict[Addr, SimSentinel] = {}
        for i in range(sentinels):
            saved = {"myid": self._hex(), "current_epoch": 0, "masters": [dict(
                name=MASTER_NAME, addr=self.master_addr0, config_epoch=0, leader="",
                leader_epoch=0, replicas=[], sentinels=[], **self.config)]}
            s = SimSentinel(f"s{i}", f"10.0.1.{i + 1}", None, saved)
            self.sentinels.append(s)
            self.sentinel_by_addr[(s.ip, SENTINEL_PORT)] = s
        self.endpoints: dict[str, Any] = {**self.nodes, **{s.name: s for s in self.sentinels}}
        for s in self.sentinels:
            self._start_sentinel(s)
        self._at(self.now + REPL_STEP, self._replicate)

    # ---- Event loop ----

    def _hex(self) -> str:
        return "%040x" % self.rng.getrandbits(160)

    def _at(self, t: int, fn: Any, *args: Any) -> None:
        heapq.heappush(self._q, (t, self._seq, fn, args))
        self._seq += 1

    def run_until(self, t_end: int) -> None:
        q = self._q
        while q and q[0][0] <= t_end:
            t, _, fn, args = heapq.heappop(q)
            self.now = t
            fn(*args)
        self.now = t_end

    def run_for(self, ms: int) -> None:
        self.run_until(self.now + ms)

    def log(self, text: str) -> None:
        self.trace.append(f"{self.now - START_MS:>8} # {text}")

    # ---- Network ----

    def can_talk(self, a: str, b: str) -> bool:
        if self.cuts and (a, b) in self.cuts:
            return False
        return self.groups.get(a, 0) == self.groups.get(b, 0)

    def _lost(self, a: str, b: str) -> bool:
        return not self.can_talk(a, b) or (self.drop > 0 and self.rng.random() < self.drop)

    def _delay(self) -> int:
        return self.rng.randint(*self.delay)

    def _defer(self, who: Any, fn: Any, *args: Any) -> bool:
        """A paused process handles nothing: deliver again when it resumes."""
        if who.paused_until > self.now:
            self._at(who.paused_until, fn, *args)
            return True
        return False

    # ---- Sentinels: lifecycle and actions ----

    def _start_sentinel(self, s: SimSentinel) -> None:
        saved = s.saved
        masters = {}
        for d in saved["masters"]:
            m = Master(d["name"], d["addr"], d["quorum"], down_after_ms=d["down_after_ms"],
                       failover_timeout=d["failover_timeout"],
                       parallel_syncs=d["parallel_syncs"], config_epoch=d["config_epoch"],
                       leader=d["leader"], leader_epoch=d["leader_epoch"])
            for a in d["replicas"]:
                m.replicas[a] = Replica(a)
            for runid, a in d["sentinels"]:
                m.sentinels[runid] = SentinelPeer(a, runid)
            masters[m.name] = m
        s.core = SentinelCore(saved["myid"], {}, random.Random(self.rng.getrandbits(64)),
                              port=SENTINEL_PORT, current_epoch=saved["current_epoch"])
        s.links = {}
        for m in masters.values():
            s.core.monitor(m, self.now)
        self._drain(s)
        self._at(self.now + self.rng.randint(1, 100), self._tick, s, s.incarnation)

    def _tick(self, s: SimSentinel, inc: int) -> None:
        if not s.alive or s.incarnation != inc:
            return
        if self._defer(s, self._tick, s, inc):
            return
        s.core.tick(self.now)
        self._drain(s)
        self._at(self.now + self.rng.randint(70, 130), self._tick, s, inc)

    def _drain(self, s: SimSentinel) -> None:
        core = s.core
        flush = False
        while core.actions:
            actions, core.actions = core.actions, []
            for a in actions:
                t = a.__class__
                if t is Send:
                    self._send(s, a)
                elif t is Event:
                    self._event(s, a)
                elif t is Connect:
                    self._connect(s, a)
                elif t is Disconnect:
                    link = s.links.pop(a.link, None)
                    if link is not None:
                        link.closed = True
                elif t is FlushConfig:
                    flush = True
        if flush:   # every change of config epoch or master address flushes
            s.saved = snapshot(core)
            self._check_epochs(s)

    def _event(self, s: SimSentinel, ev: Event) -> None:
        self.events.append((self.now, s.name, ev.type, ev.text))
        self.trace.append(f"{self.now - START_MS:>8} {s.name} {ev.type} {ev.text}")
        m = s.core.masters.get(MASTER_NAME)
        if m is None:
            return
        if ev.type == "+elected-leader":
            prev = self.elected.setdefault(m.failover_epoch, s.core.myid)
            if prev != s.core.myid:
                self.violations.append(f"two leaders in epoch {m.failover_epoch}: "
                                       f"{prev} and {s.core.myid} ({s.name})")
        elif ev.type == "+promoted-slave":
            who = (s.name, ev.text.split()[1])
            prev2 = self.promoted.setdefault(m.config_epoch, who)
            if prev2 != who:
                self.violations.append(f"two promotions in epoch {m.config_epoch}: "
                                       f"{prev2} and {who}")

    def _check_epochs(self, s: SimSentinel) -> None:
        for m in s.core.masters.values():
            addr = s.core.current_master_addr(m)
            prev = self.epoch_addr.setdefault(m.config_epoch, addr)
            if prev != addr and (m.config_epoch, addr) not in self._reported:
                self._reported.add((m.config_epoch, addr))
                self.violations.append(f"config epoch {m.config_epoch}: {s.name} has "
                                       f"{addr}, another sentinel had {prev}")

    def _connect(self, s: SimSentinel, a: Connect) -> None:
        old = s.links.pop(a.link, None)
        if old is not None:
            old.closed = True
        target = self.node_by_addr.get(a.addr) or self.sentinel_by_addr.get(a.addr)
        link = Link(s, a.link, target.name if target else "", a.subscribe_hello, s.incarnation)
        s.links[a.link] = link
        if target is None or not self.can_talk(s.name, target.name):
            self._at(self.now + CONNECT_TIMEOUT, self._connect_done, link)
        else:
            self._at(self.now + self._delay(), self._connect_done, link)

    def _connect_done(self, link: Link) -> None:
        s = link.owner
        if not s.alive or link.inc != s.incarnation:
            return
        if self._defer(s, self._connect_done, link):
            return
        target = self.endpoints.get(link.target)
        if s.links.get(link.lid) is not link:          # closed while connecting
            s.core.connect_finished(link.lid)
        elif target is not None and target.alive and self.can_talk(s.name, target.name):
            link.open = True
            link.target_inc = target.incarnation
            s.core.connect_finished(link.lid)
            s.core.link_up(link.lid, self.now)
        else:
            link.closed = True
            del s.links[link.lid]
            s.core.connect_finished(link.lid)
        self._drain(s)

    def _send(self, s: SimSentinel, a: Send) -> None:
        link = s.links.get(a.link)
        if link is None or not link.open:
            s.core.reply(a.link, a.tag, None, self.now)   # as node.py: no connection yet
            return
        argv = a.argv
        if a.tag == "hello" and b"{local-ip}" in argv[2]:
            argv = [argv[0], argv[1], argv[2].replace(b"{local-ip}", s.ip.encode())]
        if link.closed or self._lost(s.name, link.target):
            return
        t = max(link.out_at, self.now + self._delay())
        link.out_at = t
        self._at(t, self._arrive, link, argv, a.tag)

    def _arrive(self, link: Link, argv: list[bytes], tag: str) -> None:
        target = self.endpoints[link.target]
        if link.closed or not target.alive or target.incarnation != link.target_inc:
            return
        if not self.can_talk(link.owner.name, link.target):
            return
        if self._defer(target, self._arrive, link, argv, tag):
            return
        if isinstance(target, SimSentinel):
            reply = self._sentinel_command(target, argv)
        else:
            reply = self._node_command(target, link, argv)
        if reply is _LOST or link.closed or self._lost(link.target, link.owner.name):
            return
        t = max(link.in_at, self.now + self._delay())
        link.in_at = t
        self._at(t, self._reply_arrive, link, tag, reply)

    def _reply_arrive(self, link: Link, tag: str, reply: Any) -> None:
        s = link.owner
        if link.closed or not s.alive:
            return
        if self._defer(s, self._reply_arrive, link, tag, reply):
            return
        s.core.reply(link.lid, tag, reply, self.now)
        self._drain(s)

    def _hello_arrive(self, link: Link, payload: str) -> None:
        s = link.owner
        if link.closed or not s.alive:
            return
        if self._defer(s, self._hello_arrive, link, payload):
            return
        s.core.hello(payload, self.now)
        self._drain(s)

    def _close_links_to(self, name: str) -> None:
        """The process behind `name` died or killed its clients: a RST reaches the
        sentinels still connected to it by the network; other links just stall."""
        for s in self.sentinels:
            if not s.alive:
                continue
            for link in list(s.links.values()):
                if link.target != name or link.closed:
                    continue
                link.closed = True
                if link.open and self.can_talk(s.name, name):
                    self._at(self.now + self._delay(), self._link_lost, link)

    def _link_lost(self, link: Link) -> None:
        s = link.owner
        if not s.alive or s.links.get(link.lid) is not link:
            return
        if self._defer(s, self._link_lost, link):
            return
        del s.links[link.lid]
        s.core.link_down(link.lid, self.now)
        self._drain(s)

    # ---- What the targets answer ----

    def _sentinel_command(self, t: SimSentinel, argv: list[bytes]) -> Any:
        cmd = argv[0].upper()
        if cmd == b"PING":
            return b"PONG"
        if cmd == b"PUBLISH":
            t.core.hello(argv[2].decode(), self.now)
            self._drain(t)
            return 1
        if cmd == b"SENTINEL" and argv[1].lower() == b"is-master-down-by-addr":
            r = t.core.is_master_down_by_addr((argv[2].decode(), int(argv[3])),
                                              int(argv[4]), argv[5].decode(), self.now)
            self._drain(t)
            return r
        return b"ERR unknown command"

    def _node_command(self, n: DataNode, link: Link, argv: list[bytes]) -> Any:
        cmd = argv[0].upper()
        if cmd == b"MULTI":
            link.multi = []
            return b"OK"
        if cmd == b"EXEC":
            queued, link.multi = link.multi or [], None
            return [self._node_exec(n, c) for c in queued]
        if link.multi is not None:
            link.multi.append(argv)
            return b"QUEUED"
        return self._node_exec(n, argv)

    def _node_exec(self, n: DataNode, argv: list[bytes]) -> Any:
        cmd = argv[0].upper()
        if cmd == b"PING":
            return b"PONG"
        if cmd == b"INFO":
            return n.info(self)
        if cmd == b"PUBLISH":
            return self._publish(n, argv[2].decode())
        if cmd == b"SLAVEOF":
            if argv[1].upper() == b"NO":
                if n.role != "master":
                    self.log(f"{n.name} SLAVEOF NO ONE")
                n.role, n.master = "master", None
            else:
                new = (argv[1].decode(), int(argv[2]))
                if (n.role, n.master) != ("slave", new):
                    self.log(f"{n.name} SLAVEOF {new[0]} {new[1]}")
                    n.role, n.master, n.link_up, n.link_down_since = "slave", new, False, 0
            return b"OK"
        if cmd == b"CONFIG":
            n.saved = (n.role, n.master)
            return b"OK"
        if cmd == b"CLIENT":
            self._close_links_to(n.name)
            return 0
        return b"ERR unknown command"

    def _publish(self, n: DataNode, payload: str) -> int:
        count = 0
        for s in self.sentinels:
            if not s.alive:
                continue
            for link in s.links.values():
                if link.target != n.name or not link.subscribe or not link.open or \
                        link.closed or link.target_inc != n.incarnation:
                    continue
                count += 1
                if self._lost(n.name, s.name):
                    continue
                t = max(link.in_at, self.now + self._delay())
                link.in_at = t
                self._at(t, self._hello_arrive, link, payload)
        return count

    def _replicate(self) -> None:
        for n in self.nodes.values():
            if n.alive and n.role == "master":
                n.offset += 100
        for n in self.nodes.values():
            if not n.alive or n.role != "slave":
                continue
            up = self.node_by_addr.get(n.master) if n.master else None
            if up is not None and up.alive and self.can_talk(n.name, up.name):
                n.link_up, n.offset = True, up.offset
            elif n.link_up or not n.link_down_since:
                n.link_up, n.link_down_since = False, self.now
        self._at(self.now + REPL_STEP, self._replicate)

    # ---- Faults ----

    def kill_node(self, name: str) -> None:
        n = self.nodes[name]
        if not n.alive:
            return
        self.log(f"kill data node {name}")
        n.alive = False
        self._close_links_to(name)

    def restart_node(self, name: str) -> None:
        n = self.nodes[name]
        if n.alive:
            return
        n.alive, n.incarnation, n.run_id = True, n.incarnation + 1, self._hex()
        n.role, n.master = n.saved
        n.link_up, n.link_down_since = False, 0
        self.log(f"restart data node {name} as {n.role} of {n.master}")

    def kill_sentinel(self, i: int) -> None:
        s = self.sentinels[i]
        if not s.alive:
            return
        self.log(f"kill sentinel {s.name}")
        s.alive = False
        for link in s.links.values():
            link.closed = True
        s.links = {}
        s.core = None
        self._close_links_to(s.name)

    def restart_sentinel(self, i: int) -> None:
        s = self.sentinels[i]
        if s.alive:
            return
        self.log(f"restart sentinel {s.name}")
        s.alive, s.incarnation, s.paused_until = True, s.incarnation + 1, 0
        self._start_sentinel(s)

    def pause_sentinel(self, i: int, ms: int) -> None:
        s = self.sentinels[i]
        if s.alive:
            self.log(f"pause sentinel {s.name} for {ms} ms")
            s.paused_until = max(s.paused_until, self.now + ms)

    def partition(self, *groups: list[str]) -> None:
        """Endpoints in different groups cannot talk; unlisted ones are in group 0."""
        self.groups = {name: i + 1 for i, g in enumerate(groups) for name in g}
        self.log("partition " + " | ".join(",".join(g) for g in groups))

    def cut(self, a: str, b: str) -> None:
        """Only `a` and `b` cannot talk (an asymmetric view of the network)."""
        self.cuts |= {(a, b), (b, a)}
        self.log(f"cut {a} from {b}")

    def heal(self) -> None:
        if self.groups or self.cuts:
            self.log("heal")
        self.groups = {}
        self.cuts = set()

    def heal_all(self) -> None:
        """Final heal: no partition, no loss, every process running."""
        self.heal()
        self.drop = 0.0
        for n in self.nodes.values():
            self.restart_node(n.name)
        for i, s in enumerate(self.sentinels):
            self.restart_sentinel(i)
            s.paused_until = min(s.paused_until, self.now)

    # ---- Views ----

    def views(self) -> list[Addr]:
        return [s.core.masters[MASTER_NAME].addr for s in self.sentinels if s.alive]

    def data_masters(self) -> list[DataNode]:
        return [n for n in self.nodes.values() if n.alive and n.role == "master"]

    def converged(self) -> Addr | None:
        """The master every sentinel and data node agree on, or None."""
        views = self.views()
        if not views or any(v != views[0] for v in views):
            return None
        addr = views[0]
        for s in self.sentinels:
            if s.alive and s.core.masters[MASTER_NAME].failover_state.value != "none":
                return None
        for n in self.nodes.values():
            if not n.alive:
                continue
            if n.addr == addr:
                if n.role != "master":
                    return None
            elif n.role != "slave" or n.master != addr or not n.link_up:
                return None
        return addr

    def events_of(self, etype: str) -> list[tuple[int, str, str, str]]:
        return [e for e in self.events if e[2] == etype]

    def dump(self, last: int = 0) -> str:
        lines = self.trace[-last:] if last else self.trace
        return "\n".join([f"seed {self.seed}", *lines])
