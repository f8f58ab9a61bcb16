"""The Sentinel algorithm as a sans-IO state machine: monitoring, agreement, failover.

Theory of operation
-------------------
`SentinelCore` is Redis's sentinel.c without sockets or clocks. The shell calls
`tick(now)` about ten times a second and reports what happened on the links
(`link_up`, `link_down`, `reply`, `hello`); the core answers with actions in
`self.actions` (Connect, Disconnect, Send, Event, FlushConfig, RunScript) that the
shell carries out. Every monitored instance (master, replica, other sentinel) has a
link id; replies come back tagged with the request that caused them.

Per instance and tick (sentinelHandleRedisInstance):
  1) connect the link if it is down,
  2) periodic commands: INFO every 10 s (every 1 s for replicas of a master that is
     O_DOWN or failing over), PING every second (down-after if smaller), a hello
     (`PUBLISH __sentinel__:hello ip,port,runid,epoch,master,ip,port,config-epoch`)
     every 2 s,
  3) unless in TILT: subjectively down (SDOWN) when no valid PING reply (+PONG,
     -LOADING, -MASTERDOWN) came for down-after-milliseconds, or a master keeps
     reporting role slave; for masters then
  4) objectively down (ODOWN) when we and quorum-1 peers (their last answer to
     SENTINEL is-master-down-by-addr, fresh within 5 s) see it down,
  5) start a failover if ODOWN, none in progress and 2 * failover-timeout passed
     since the last attempt: a new epoch, then ask the peers for their vote,
  6) the failover state machine (one method per FailoverState):
     WAIT_START — win the election (votes from a majority of known sentinels and at
     least quorum, in our epoch) or abort after min(10 s, failover-timeout);
     SELECT_SLAVE — the best replica (not down, linked, answering, fresh INFO, not
     disconnected from the master too long, priority > 0; lowest priority, highest
     offset, lowest run id); SEND_SLAVEOF_NOONE — MULTI, SLAVEOF NO ONE, CONFIG
     REWRITE, CLIENT KILL, EXEC; WAIT_PROMOTION — its INFO says role:master → config
     epoch = our epoch; RECONF_SLAVES — SLAVEOF the new master to parallel-syncs
     replicas at a time until all are done (or failover-timeout);
     UPDATE_CONFIG — +switch-master: the master's address becomes the promoted one and
     the old master and other replicas become its replicas.
Peers converge through hellos: a hello carrying a higher config epoch for a master
with another address than the one we advertise switches us too (+config-update-from);
from RECONF_SLAVES on, a leader advertises the promoted replica's address with its new
config epoch (sentinelGetCurrentMasterAddress). Votes: one per epoch
(sentinelVoteLeader). Clock jumps (tick deltas < 0 or > 2 s) enter TILT for 30 s,
during which nothing is decided.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from redkeep.sentinel.instance import (
    Addr,
    FailoverState,
    Flag,
    Liveness,
    Master,
    Replica,
    SentinelPeer,
    master_event_name,
    replica_event_name,
    sentinel_event_name,
)

INFO_PERIOD = 10_000
PING_PERIOD = 1_000
ASK_PERIOD = 1_000
PUBLISH_PERIOD = 2_000
DEFAULT_DOWN_AFTER = 30_000
TILT_TRIGGER = 2_000
TILT_PERIOD = PING_PERIOD * 30
SLAVE_RECONF_TIMEOUT = 10_000
ELECTION_TIMEOUT = 10_000
MAX_DESYNC = 1_000
MAX_PENDING_COMMANDS = 100
MIN_LINK_RECONNECT_PERIOD = 15_000
HELLO_CHANNEL = b"__sentinel__:hello"


# ---- Actions for the shell ----

@dataclass
class Connect:
    link: int
    addr: Addr
    kind: str                   # "master" / "replica" / "sentinel"
    auth_user: str = ""
    auth_pass: str = ""
    subscribe_hello: bool = False
    client_name: str = ""


@dataclass
class Disconnect:
    link: int


@dataclass
class Send:
    link: int
    argv: list[bytes]
    tag: str
    master: str = ""            # the master a reply concerns (is-master-down)


@dataclass
class Event:
    level: str                  # "warning" / "notice" / "verbose"
    type: str
    text: str


@dataclass
class FlushConfig:
    pass


@dataclass
class RunScript:
    path: str
    args: list[str]


@dataclass
class _Link:
    inst: Any
    master: Master
    pending: int = 0
    connected: bool = False
    last_pub_time: int = 0


# Failover states whose step needs no reply: entered, they run in the same tick.
_NO_WAIT_STATES = (FailoverState.SELECT_SLAVE, FailoverState.SEND_SLAVEOF_NOONE)


@dataclass
class SentinelCore:
    myid: str
    masters: dict[str, Master]
    rng: random.Random
    announce_ip: str = ""
    announce_port: int = 0
    port: int = 26379
    current_epoch: int = 0
    actions: list[Any] = field(default_factory=list)
    tilt: bool = False
    tilt_start_time: int = 0
    previous_time: int = 0
    running_scripts: int = 0
    simfailure: set[str] = field(default_factory=set)
    # how a log line shows a point of our (monotonic) time; the shell shows a wall date
    format_time: Any = field(default=lambda ms: f"{ms} (ms)")
    _links: dict[int, _Link] = field(default_factory=dict)
    _next_link: int = 1

    # ---- Links ----

    def link_of(self, inst: Any, master: Master) -> int:
        lid = getattr(inst, "_link_id", 0)
        if lid and lid in self._links:
            return lid
        lid = self._next_link
        self._next_link += 1
        inst._link_id = lid
        self._links[lid] = _Link(inst, master)
        return lid

    def drop_link(self, inst: Any) -> None:
        lid = getattr(inst, "_link_id", 0)
        if lid and self._links.pop(lid, None) is not None:
            self.actions.append(Disconnect(lid))
        inst._link_id = 0

    def link_up(self, lid: int, now: int) -> None:
        ln = self._links.get(lid)
        if ln is None:
            return
        ln.connected = True
        ln.pending = 0
        live = ln.inst.live
        live.link_connected = True
        live.link_since = now
        self._send_ping(ln.inst, ln.master, now)   # a PING as soon as the link is up

    def link_down(self, lid: int, now: int) -> None:
        ln = self._links.get(lid)
        if ln is None:
            return
        ln.connected = False
        ln.pending = 0
        ln.inst.live.link_connected = False
        ln.inst.live.link_since = now

    def pending_commands(self, inst: Any) -> int:
        ln = self._links.get(getattr(inst, "_link_id", 0))
        return ln.pending if ln else 0

    def _send(self, inst: Any, master: Master, argv: list[bytes], tag: str) -> bool:
        lid = self.link_of(inst, master)
        ln = self._links[lid]
        if not ln.connected:
            return False
        ln.pending += 1
        self.actions.append(Send(lid, argv, tag, master.name))
        return True

    # ---- Events ----

    def event(self, level: str, etype: str, text: str, master: Master | None = None) -> None:
        """sentinelEvent: log, publish, and run the notification script for warnings."""
        self.actions.append(Event(level, etype, text))
        if level == "warning" and master is not None and master.notification_script:
            self.actions.append(RunScript(master.notification_script, [etype, text]))

    def _ev(self, level: str, etype: str, inst: Any, master: Master, extra: str = "") -> None:
        if isinstance(inst, Master):
            text = master_event_name(inst)
        elif isinstance(inst, Replica):
            text = replica_event_name(inst, master)
        else:
            text = sentinel_event_name(inst, master)
        self.event(level, etype, text + (" " + extra if extra else ""), master)

    def flush_config(self) -> None:
        if not any(isinstance(a, FlushConfig) for a in self.actions):
            self.actions.append(FlushConfig())

    # ---- The timer ----

    def tick(self, now: int) -> None:
        """sentinelTimer: TILT check, then every master with its replicas and peers."""
        self._check_tilt(now)
        switch = []
        for m in list(self.masters.values()):
            self._handle_instance(m, m, now)
            for r in list(m.replicas.values()):
                self._handle_instance(r, m, now)
            for s in list(m.sentinels.values()):
                self._handle_instance(s, m, now)
            if m.failover_state is FailoverState.UPDATE_CONFIG:
                switch.append(m)
        for m in switch:
            self.switch_to_promoted(m, now)

    def _check_tilt(self, now: int) -> None:
        delta = now - self.previous_time
        if self.previous_time and (delta < 0 or delta > TILT_TRIGGER):
            self.tilt = True
            self.tilt_start_time = now
            self.event("warning", "+tilt", "#tilt mode entered")
        self.previous_time = now

    def _handle_instance(self, inst: Any, m: Master, now: int) -> None:
        self._reconnect(inst, m)
        self._periodic_commands(inst, m, now)
        if self.tilt:
            if now - self.tilt_start_time < TILT_PERIOD:
                return
            self.tilt = False
            self.event("warning", "-tilt", "#tilt mode exited")
        self._check_sdown(inst, m, now)
        if inst is m:
            self._check_odown(m, now)
            if self._start_failover_if_needed(m, now):
                self._ask_master_state(m, now, forced=True)
            self._failover_state_machine(m, now)
            self._ask_master_state(m, now, forced=False)

    def _reconnect(self, inst: Any, m: Master) -> None:
        lid = self.link_of(inst, m)
        ln = self._links[lid]
        if ln.connected or getattr(inst, "_connecting", False):
            return
        if isinstance(inst, SentinelPeer) and inst.addr[1] == 0:
            return   # invalid address (another sentinel took it)
        inst._connecting = True
        kind = "master" if inst is m else "replica" if isinstance(inst, Replica) else "sentinel"
        user, pw = (m.auth_user, m.auth_pass) if kind != "sentinel" else ("", "")
        self.actions.append(Connect(lid, inst.addr, kind, user, pw, kind != "sentinel",
                                    f"sentinel-{self.myid[:8]}-cmd"))

    def connect_finished(self, lid: int) -> None:
        """The shell finished a connection attempt (succeeded or not)."""
        ln = self._links.get(lid)
        if ln is not None:
            ln.inst._connecting = False

    def _periodic_commands(self, inst: Any, m: Master, now: int) -> None:
        ln = self._links.get(getattr(inst, "_link_id", 0))
        if ln is None or not ln.connected or ln.pending >= MAX_PENDING_COMMANDS:
            return
        live: Liveness = inst.live
        info_period = INFO_PERIOD
        if isinstance(inst, Replica) and (m.flags & (Flag.O_DOWN | Flag.FAILOVER_IN_PROGRESS)
                                          or inst.master_link_down_since_ms):
            info_period = 1000      # and a replica whose link to its master is down
        if inst is m and m.flags & Flag.MASTER_REBOOT:
            info_period = 1000
        down_after = m.down_after_ms
        ping_period = min(down_after, PING_PERIOD)
        if not isinstance(inst, SentinelPeer) and (
                live.info_refresh == 0 or now - live.info_refresh > info_period):
            self._send(inst, m, [b"INFO"], "info")
        if now - live.last_pong_time > ping_period and now - live.last_ping_time > ping_period // 2:
            self._send_ping(inst, m, now)
        if now - ln.last_pub_time > PUBLISH_PERIOD:
            self._send_hello(inst, m, now)

    def _send_ping(self, inst: Any, m: Master, now: int) -> None:
        if self._send(inst, m, [b"PING"], "ping"):
            live = inst.live
            live.last_ping_time = now
            if live.act_ping_time == 0:
                live.act_ping_time = now

    def _send_hello(self, inst: Any, m: Master, now: int) -> None:
        ln = self._links[inst._link_id]
        ip = self.announce_ip or "{local-ip}"   # the shell fills in the link's local address
        port = self.announce_port or self.port
        addr = self.current_master_addr(m)
        payload = (f"{ip},{port},{self.myid},{self.current_epoch},{m.name},{addr[0]},"
                   f"{addr[1]},{m.config_epoch}")
        if self._send(inst, m, [b"PUBLISH", HELLO_CHANNEL, payload.encode()], "hello"):
            ln.last_pub_time = now

    @staticmethod
    def current_master_addr(m: Master) -> Addr:
        """sentinelGetCurrentMasterAddress: once the promoted replica acknowledged its
        promotion (RECONF_SLAVES and later) the new address goes with the new config
        epoch; advertising the old one with it would pin the peers to the old master."""
        if m.flags & Flag.FAILOVER_IN_PROGRESS and m.promoted is not None and \
                m.failover_state in (FailoverState.RECONF_SLAVES, FailoverState.UPDATE_CONFIG):
            return m.promoted
        return m.addr

    def force_hello_update(self, m: Master, now: int | None = None) -> None:
        """sentinelForceHelloUpdateForMaster: hellos go out on the next tick, or with
        `now` at once on every connected link (the promotion does that: the peers learn
        the new configuration a tick sooner, and their clients with them)."""
        for inst in (m, *m.replicas.values(), *m.sentinels.values()):
            ln = self._links.get(getattr(inst, "_link_id", 0))
            if ln is not None:
                ln.last_pub_time = 0
                if now is not None and ln.connected:
                    self._send_hello(inst, m, now)

    # ---- SDOWN / ODOWN ----

    def _check_sdown(self, inst: Any, m: Master, now: int) -> None:
        live: Liveness = inst.live
        if live.act_ping_time:
            elapsed = now - live.act_ping_time
        elif not live.link_connected:
            elapsed = now - live.last_avail_time
        else:
            elapsed = 0
        down_after = m.down_after_ms
        ln = self._links.get(getattr(inst, "_link_id", 0))
        if ln is not None and ln.connected and now - live.link_since > MIN_LINK_RECONNECT_PERIOD \
                and live.act_ping_time and now - live.act_ping_time > down_after // 2 \
                and now - live.last_pong_time > down_after // 2:
            self.link_down(inst._link_id, now)   # the link looks stuck: reconnect
            self.actions.append(Disconnect(inst._link_id))
        flags = inst.flags
        down = elapsed > down_after or (
            inst is m and live.role_reported == "slave"
            and now - live.role_reported_time > down_after + INFO_PERIOD * 2) or (
            inst is m and flags & Flag.MASTER_REBOOT
            and now - m.master_reboot_since_time > m.master_reboot_down_after_period)
        if down:
            if not flags & Flag.S_DOWN:
                self._ev("warning", "+sdown", inst, m)
                live.s_down_since = now
                inst.flags |= Flag.S_DOWN
        elif flags & Flag.S_DOWN:
            self._ev("warning", "-sdown", inst, m)
            inst.flags &= ~(Flag.S_DOWN | Flag.SCRIPT_KILL_SENT)

    def _check_odown(self, m: Master, now: int) -> None:
        odown = False
        quorum = 0
        if m.flags & Flag.S_DOWN:
            quorum = 1 + sum(1 for s in m.sentinels.values() if s.flags & Flag.MASTER_DOWN)
            odown = quorum >= m.quorum
        if odown:
            if not m.flags & Flag.O_DOWN:
                self._ev("warning", "+odown", m, m, f"#quorum {quorum}/{m.quorum}")
                m.flags |= Flag.O_DOWN
                m.live.o_down_since = now
        elif m.flags & Flag.O_DOWN:
            self._ev("warning", "-odown", m, m)
            m.flags &= ~Flag.O_DOWN

    def _ask_master_state(self, m: Master, now: int, forced: bool) -> None:
        """sentinelAskMasterStateToOtherSentinels. redkeep asks a peer that has not yet
        said the master is down every 200 ms instead of every second while ODOWN is not
        reached (agreement is what a failover waits for; peers see SDOWN within a tick
        or two of each other), never with an ask of ours still unanswered."""
        for s in m.sentinels.values():
            elapsed = now - s.last_master_down_reply_time
            if elapsed > ASK_PERIOD * 5:
                s.flags &= ~Flag.MASTER_DOWN
                s.leader = ""
            if not m.flags & Flag.S_DOWN or not s.live.link_connected:
                continue
            period = ASK_PERIOD
            if not m.flags & Flag.O_DOWN and not s.flags & Flag.MASTER_DOWN:
                period = ASK_PERIOD // 5
                sent = getattr(s, "_ask_sent", 0)
                if sent > s.last_master_down_reply_time and now - sent < ASK_PERIOD:
                    continue   # still waiting for the previous answer
            if not forced and elapsed < period:
                continue
            s._ask_sent = now
            runid = self.myid if m.failover_state is not FailoverState.NONE else "*"
            self._send(s, m, [b"SENTINEL", b"is-master-down-by-addr", m.addr[0].encode(),
                              b"%d" % m.addr[1], b"%d" % self.current_epoch, runid.encode()],
                       "is-master-down")

    def is_master_down_reply(self, s: SentinelPeer, reply: Any, now: int) -> None:
        if not (isinstance(reply, list) and len(reply) == 3 and isinstance(reply[0], int)
                and isinstance(reply[1], bytes) and isinstance(reply[2], int)):
            return
        s.last_master_down_reply_time = now
        if reply[0] == 1:
            s.flags |= Flag.MASTER_DOWN
        else:
            s.flags &= ~Flag.MASTER_DOWN
        leader = reply[1].decode("utf-8", "replace")
        if leader != "*":
            s.leader, s.leader_epoch = leader, reply[2]

    # ---- Votes (answering peers) ----

    def vote_leader(self, m: Master, req_epoch: int, req_runid: str, now: int) -> tuple[str, int]:
        """sentinelVoteLeader: one vote per epoch; returns (leader, leader_epoch)."""
        if req_epoch > self.current_epoch:
            self.current_epoch = req_epoch
            self.flush_config()
            self.event("warning", "+new-epoch", str(self.current_epoch), m)
        if m.leader_epoch < req_epoch and self.current_epoch <= req_epoch:
            m.leader, m.leader_epoch = req_runid, self.current_epoch
            self.flush_config()
            self.event("warning", "+vote-for-leader", f"{m.leader} {m.leader_epoch}", m)
            if m.leader != self.myid:
                m.failover_start_time = now + self.rng.randrange(MAX_DESYNC)
        return m.leader, m.leader_epoch

    def is_master_down_by_addr(self, addr: Addr, req_epoch: int, runid: str,
                               now: int) -> list[Any]:
        """The reply to SENTINEL is-master-down-by-addr."""
        m = next((x for x in self.masters.values() if x.addr == addr), None)
        isdown = int(m is not None and not self.tilt and bool(m.flags & Flag.S_DOWN))
        leader, epoch = "*", 0
        if m is not None and runid != "*":
            leader, epoch = self.vote_leader(m, req_epoch, runid, now)
        return [isdown, (leader or "*").encode(), epoch]

    def get_leader(self, m: Master, epoch: int, now: int) -> str:
        """sentinelGetLeader: the winner of `epoch`, if any (majority and quorum)."""
        counters: dict[str, int] = {}
        voters = len(m.sentinels) + 1
        for s in m.sentinels.values():
            if s.leader and s.leader_epoch == self.current_epoch:
                counters[s.leader] = counters.get(s.leader, 0) + 1
        winner, max_votes = "", 0
        for runid, votes in counters.items():
            if votes > max_votes or (votes == max_votes and runid > winner):
                winner, max_votes = runid, votes
        myvote, leader_epoch = self.vote_leader(m, epoch, winner or self.myid, now)
        if myvote and leader_epoch == epoch:
            votes = counters.get(myvote, 0) + 1
            counters[myvote] = votes
            if votes > max_votes:
                winner, max_votes = myvote, votes
        if winner and (max_votes < voters // 2 + 1 or max_votes < m.quorum):
            winner = ""
        return winner

    # ---- Failover ----

    def _start_failover_if_needed(self, m: Master, now: int) -> bool:
        if not m.flags & Flag.O_DOWN or m.flags & Flag.FAILOVER_IN_PROGRESS:
            return False
        if now - m.failover_start_time < m.failover_timeout * 2:
            if m.failover_delay_logged != m.failover_start_time:
                m.failover_delay_logged = m.failover_start_time
                self.actions.append(Event("warning", "", (
                    f"Next failover delay: I will not start a failover before "
                    f"{self.format_time(m.failover_start_time + m.failover_timeout * 2)}")))
            return False
        self.start_failover(m, now)
        return True

    def start_failover(self, m: Master, now: int) -> None:
        m.failover_state = FailoverState.WAIT_START
        m.failover_state_change_time = now
        m.flags |= Flag.FAILOVER_IN_PROGRESS
        self.current_epoch += 1
        m.failover_epoch = self.current_epoch
        self.event("warning", "+new-epoch", str(self.current_epoch), m)
        self._ev("warning", "+try-failover", m, m)
        m.failover_start_time = now + self.rng.randrange(MAX_DESYNC)
        self.flush_config()

    def abort_failover(self, m: Master, now: int) -> None:
        if m.failover_state not in (FailoverState.WAIT_START, FailoverState.SELECT_SLAVE,
                                    FailoverState.SEND_SLAVEOF_NOONE,
                                    FailoverState.WAIT_PROMOTION):
            raise AssertionError(f"abort in state {m.failover_state}")
        m.flags &= ~(Flag.FAILOVER_IN_PROGRESS | Flag.FORCE_FAILOVER)
        m.failover_state = FailoverState.NONE
        m.failover_state_change_time = now
        if m.promoted is not None and m.promoted in m.replicas:
            m.replicas[m.promoted].flags &= ~Flag.PROMOTED
        m.promoted = None

    def _failover_state_machine(self, m: Master, now: int) -> None:
        """sentinelFailoverStateMachine. Redis takes one step per timer tick; redkeep goes
        straight on through the states that wait for nothing (select the replica, send
        it SLAVEOF NO ONE), which saves two ticks of the client-visible outage."""
        while m.flags & Flag.FAILOVER_IN_PROGRESS:
            before = m.failover_state
            step = {
                FailoverState.WAIT_START: self._failover_wait_start,
                FailoverState.SELECT_SLAVE: self._failover_select_slave,
                FailoverState.SEND_SLAVEOF_NOONE: self._failover_send_slaveof_noone,
                FailoverState.WAIT_PROMOTION: self._failover_wait_promotion,
                FailoverState.RECONF_SLAVES: self._failover_reconf_next_slave,
            }.get(before)
            if step is not None:
                step(m, now)
            if m.failover_state is before or m.failover_state not in _NO_WAIT_STATES:
                return

    def _failover_wait_start(self, m: Master, now: int) -> None:
        leader = self.get_leader(m, m.failover_epoch, now)
        if leader != self.myid and not m.flags & Flag.FORCE_FAILOVER:
            timeout = min(ELECTION_TIMEOUT, m.failover_timeout)
            if now - m.failover_start_time > timeout:
                self._ev("warning", "-failover-abort-not-elected", m, m)
                self.abort_failover(m, now)
            return
        self._ev("warning", "+elected-leader", m, m)
        if "crash-after-election" in self.simfailure:
            raise SystemExit("Sentinel SIMULATE-FAILURE crash-after-election")
        self._set_state(m, FailoverState.SELECT_SLAVE, now)
        self._ev("warning", "+failover-state-select-slave", m, m)

    def _set_state(self, m: Master, state: FailoverState, now: int) -> None:
        m.failover_state = state
        m.failover_state_change_time = now

    def _replica_info_due(self, m: Master, now: int) -> bool:
        """Within a second of entering SELECT_SLAVE, a reachable replica whose INFO is
        only too old to be trusted: the 1 s INFO poll of a failover will refresh it (a
        leader elected on the votes' replies can get here before those INFO replies)."""
        if now - m.failover_state_change_time >= PING_PERIOD:
            return False
        validity = self._info_validity(m)
        return any(r.live.link_connected and not r.flags & (Flag.S_DOWN | Flag.O_DOWN)
                   and now - r.live.info_refresh > validity for r in m.replicas.values())

    @staticmethod
    def _info_validity(m: Master) -> int:
        """How old a replica's INFO may be for it to be promoted."""
        return PING_PERIOD * 5 if m.flags & Flag.S_DOWN else INFO_PERIOD * 3

    def select_replica(self, m: Master, now: int) -> Replica | None:
        """sentinelSelectSlave, conditions in order; then priority, offset, run id."""
        max_down = m.down_after_ms * 10
        if m.flags & Flag.S_DOWN:
            max_down += now - m.live.s_down_since
        validity = self._info_validity(m)
        good = []
        for r in m.replicas.values():
            if r.flags & (Flag.S_DOWN | Flag.O_DOWN) or not r.live.link_connected:
                continue
            if now - r.live.last_avail_time > PING_PERIOD * 5 or r.priority == 0:
                continue
            if now - r.live.info_refresh > validity or r.master_link_down_since_ms > max_down:
                continue
            good.append(r)
        if not good:
            return None
        good.sort(key=lambda r: (r.priority, -r.repl_offset, r.live.runid or "\xff" * 41))
        return good[0]

    def _failover_select_slave(self, m: Master, now: int) -> None:
        r = self.select_replica(m, now)
        if r is None and self._replica_info_due(m, now):
            return      # an INFO on its way may qualify one: its reply runs this again
        if r is None:
            self._ev("warning", "-failover-abort-no-good-slave", m, m)
            self.abort_failover(m, now)
            return
        self._ev("warning", "+selected-slave", r, m)
        r.flags |= Flag.PROMOTED
        m.promoted = r.addr
        self._set_state(m, FailoverState.SEND_SLAVEOF_NOONE, now)
        self._ev("notice", "+failover-state-send-slaveof-noone", r, m)

    def send_slaveof(self, inst: Any, m: Master, addr: Addr | None) -> bool:
        """MULTI / SLAVEOF / CONFIG REWRITE / CLIENT KILL normal+pubsub / EXEC; a promotion
        (SLAVEOF NO ONE) is followed by an INFO, redkeep's addition: its reply (after
        EXEC's, replies come in order) shows role:master at once instead of at the next
        1 s INFO poll, so WAIT_PROMOTION ends up to a second earlier. Sent once per
        failover (the state moves on), so it can't turn into a loop."""
        target = [b"NO", b"ONE"] if addr is None else [addr[0].encode(), b"%d" % addr[1]]
        ok = self._send(inst, m, [b"MULTI"], "discard")
        if not ok:
            return False
        for argv in ([b"SLAVEOF", *target], [b"CONFIG", b"REWRITE"],
                     [b"CLIENT", b"KILL", b"TYPE", b"normal"],
                     [b"CLIENT", b"KILL", b"TYPE", b"pubsub"], [b"EXEC"]):
            self._send(inst, m, argv, "discard")
        if addr is None:
            self._send(inst, m, [b"INFO"], "info")
        return True

    def _failover_send_slaveof_noone(self, m: Master, now: int) -> None:
        r = m.replicas.get(m.promoted) if m.promoted else None
        if r is None or not r.live.link_connected:
            if now - m.failover_state_change_time > m.failover_timeout:
                self._ev("warning", "-failover-abort-slave-timeout", m, m)
                self.abort_failover(m, now)
            return
        if not self.send_slaveof(r, m, None):
            return
        self._ev("notice", "+failover-state-wait-promotion", r, m)
        self._set_state(m, FailoverState.WAIT_PROMOTION, now)

    def _failover_wait_promotion(self, m: Master, now: int) -> None:
        if now - m.failover_state_change_time > m.failover_timeout:
            self._ev("warning", "-failover-abort-slave-timeout", m, m)
            self.abort_failover(m, now)

    def _failover_reconf_next_slave(self, m: Master, now: int) -> None:
        promoted = m.replicas.get(m.promoted) if m.promoted else None
        in_progress = sum(1 for r in m.replicas.values()
                          if r.flags & (Flag.RECONF_SENT | Flag.RECONF_INPROG))
        for r in m.replicas.values():
            if in_progress >= m.parallel_syncs:
                break
            if r.flags & (Flag.PROMOTED | Flag.RECONF_DONE):
                continue
            if r.flags & Flag.RECONF_SENT and now - r.reconf_sent_time > SLAVE_RECONF_TIMEOUT:
                self._ev("notice", "-slave-reconf-sent-timeout", r, m)
                r.flags &= ~Flag.RECONF_SENT
                r.flags |= Flag.RECONF_DONE
            if r.flags & (Flag.RECONF_SENT | Flag.RECONF_INPROG | Flag.RECONF_DONE):
                continue
            if not r.live.link_connected or promoted is None:
                continue
            if self.send_slaveof(r, m, promoted.addr):
                r.flags |= Flag.RECONF_SENT
                r.reconf_sent_time = now
                self._ev("notice", "+slave-reconf-sent", r, m)
                in_progress += 1
        self._failover_detect_end(m, now)

    def _failover_detect_end(self, m: Master, now: int) -> None:
        promoted = m.replicas.get(m.promoted) if m.promoted else None
        if promoted is None or promoted.flags & Flag.S_DOWN:
            return
        not_reconfigured = sum(1 for r in m.replicas.values()
                               if not r.flags & (Flag.PROMOTED | Flag.RECONF_DONE)
                               and not r.flags & Flag.S_DOWN)
        timeout = now - m.failover_state_change_time > m.failover_timeout
        if timeout:
            not_reconfigured = 0
            self._ev("warning", "+failover-end-for-timeout", m, m)
        if not_reconfigured == 0:
            self._ev("warning", "+failover-end", m, m)
            self._set_state(m, FailoverState.UPDATE_CONFIG, now)
        if timeout:
            for r in m.replicas.values():
                if r.flags & (Flag.PROMOTED | Flag.RECONF_DONE | Flag.RECONF_SENT):
                    continue
                if r.live.link_connected and self.send_slaveof(r, m, promoted.addr):
                    self._ev("notice", "+slave-reconf-sent-be", r, m)
                    r.flags |= Flag.RECONF_SENT

    def switch_to_promoted(self, m: Master, now: int) -> None:
        """sentinelFailoverSwitchToPromotedSlave."""
        new = m.promoted or m.addr
        self.event("warning", "+switch-master",
                   f"{m.name} {m.addr[0]} {m.addr[1]} {new[0]} {new[1]}", m)
        self.reset_master_and_change_address(m, new, now)

    def reset_master_and_change_address(self, m: Master, new: Addr, now: int) -> None:
        keep = [a for a in m.replicas if a != new]
        if m.addr != new:
            keep.append(m.addr)
        self.reset_master(m, now, keep_sentinels=True)
        m.addr = new
        m.live.o_down_since = m.live.s_down_since = 0
        for a in keep:
            r = m.replicas[a] = Replica(a, live=Liveness(
                last_avail_time=now, last_pong_time=now, act_ping_time=now))
            self._ev("notice", "+slave", r, m)
        self.flush_config()

    def reset_master(self, m: Master, now: int, keep_sentinels: bool) -> None:
        """sentinelResetMaster: forget replicas (and peers), failover state, links."""
        for r in m.replicas.values():
            self.drop_link(r)
        m.replicas.clear()
        if not keep_sentinels:
            for s in m.sentinels.values():
                self.drop_link(s)
            m.sentinels.clear()
        self.drop_link(m)
        m._connecting = False
        m.flags = Flag.MASTER
        m.leader = ""
        m.failover_state = FailoverState.NONE
        m.failover_state_change_time = 0
        m.failover_start_time = 0
        m.promoted = None
        m.live = Liveness(last_avail_time=now, last_pong_time=now, act_ping_time=now,
                          role_reported="master", role_reported_time=now,
                          down_after_ms=m.down_after_ms)

    # ---- Replies ----

    def reply(self, lid: int, tag: str, reply: Any, now: int) -> None:
        ln = self._links.get(lid)
        if ln is None:
            return
        ln.pending = max(0, ln.pending - 1)
        if reply is None:
            return   # no connection: nothing was answered (Redis's callbacks skip NULL)
        inst, m = ln.inst, ln.master
        if tag == "ping":
            self._on_ping_reply(inst, m, reply, now)
        elif tag == "info" and isinstance(reply, bytes):
            self.refresh_from_info(inst, m, reply.decode("utf-8", "replace"), now)
            if m.failover_state is FailoverState.SELECT_SLAVE and not self.tilt:
                self._failover_state_machine(m, now)   # the replica it waited for
        elif tag == "is-master-down" and isinstance(inst, SentinelPeer):
            self.is_master_down_reply(inst, reply, now)
            if m.failover_state is FailoverState.WAIT_START and not self.tilt:
                self._failover_state_machine(m, now)   # elected as soon as the votes are in

    def _on_ping_reply(self, inst: Any, m: Master, reply: Any, now: int) -> None:
        live = inst.live
        text = reply.decode("utf-8", "replace") if isinstance(reply, (bytes, str)) else str(reply)
        if text.startswith(("PONG", "LOADING", "MASTERDOWN")):
            live.last_avail_time = now
            live.act_ping_time = 0
        elif text.startswith("BUSY") and inst.flags & Flag.S_DOWN and \
                not inst.flags & Flag.SCRIPT_KILL_SENT:
            if self._send(inst, m, [b"SCRIPT", b"KILL"], "discard"):
                inst.flags |= Flag.SCRIPT_KILL_SENT
        live.last_pong_time = now

    # ---- INFO ----

    def refresh_from_info(self, inst: Any, m: Master, text: str, now: int) -> None:
        """sentinelRefreshInstanceInfo: learn replicas, roles, offsets; drive the failover."""
        fields: dict[str, str] = {}
        for line in text.splitlines():
            if ":" in line and not line.startswith("#"):
                k, _, v = line.partition(":")
                fields[k] = v.strip()
        live = inst.live
        runid = fields.get("run_id", "")
        if runid:
            if live.runid and live.runid != runid:
                self._ev("notice", "+reboot", inst, m)
                if inst is m and m.master_reboot_down_after_period:
                    m.flags |= Flag.MASTER_REBOOT
                    m.master_reboot_since_time = now
            live.runid = runid
        if inst is m:
            self._discover_replicas(m, fields, now)
        role = fields.get("role", "")
        if isinstance(inst, Replica):
            self._replica_fields(inst, fields)
        live.info_refresh = now
        if role and role != live.role_reported:
            live.role_reported = role
            live.role_reported_time = now
            if role == "slave" and isinstance(inst, Replica):
                inst.slave_conf_change_time = now
            coherent = (role == "master") == (inst is m)
            self._ev("verbose", "+role-change" if coherent else "-role-change", inst, m,
                     f"new reported role is {role}")
        if self.tilt:
            return
        if isinstance(inst, Replica):
            self._replica_role_actions(inst, m, role, now)

    def _discover_replicas(self, m: Master, fields: dict[str, str], now: int) -> None:
        for k, v in fields.items():
            if not (k.startswith("slave") and k[5:].isdigit()):
                continue
            d = dict(p.split("=", 1) for p in v.split(",") if "=" in p)
            try:
                addr = (d["ip"], int(d["port"]))
            except (KeyError, ValueError):
                continue
            if addr not in m.replicas:
                r = m.replicas[addr] = Replica(addr, live=Liveness(
                    last_avail_time=now, last_pong_time=now, act_ping_time=now))
                self._ev("notice", "+slave", r, m)
                self.flush_config()

    @staticmethod
    def _replica_fields(r: Replica, f: dict[str, str]) -> None:
        def num(name: str, default: int = 0) -> int:
            try:
                return int(f.get(name, default))
            except ValueError:
                return default
        r.master_link_down_since_ms = num("master_link_down_since_seconds") * 1000
        r.master_host = f.get("master_host", r.master_host)
        r.master_port = num("master_port", r.master_port)
        r.master_link_status_up = f.get("master_link_status") == "up"
        r.priority = num("slave_priority", r.priority)
        r.repl_offset = num("slave_repl_offset", r.repl_offset)
        r.replica_announced = f.get("replica_announced", "1") == "1"

    def _replica_role_actions(self, r: Replica, m: Master, role: str, now: int) -> None:
        if role == "master":
            if r.flags & Flag.PROMOTED and m.flags & Flag.FAILOVER_IN_PROGRESS and \
                    m.failover_state is FailoverState.WAIT_PROMOTION:
                m.config_epoch = m.failover_epoch
                self._set_state(m, FailoverState.RECONF_SLAVES, now)
                self.flush_config()
                self._ev("warning", "+promoted-slave", r, m)
                if "crash-after-promotion" in self.simfailure:
                    raise SystemExit("Sentinel SIMULATE-FAILURE crash-after-promotion")
                self._ev("warning", "+failover-state-reconf-slaves", m, m)
                self.client_reconfig(m, "leader", "start", m.addr, r.addr)
                self.force_hello_update(m, now)
                self._failover_reconf_next_slave(m, now)
            else:
                wait = PUBLISH_PERIOD * 4
                if not r.flags & Flag.PROMOTED and self.master_looks_sane(m, now) and \
                        self.no_down_for(r, wait, now) and now - r.live.role_reported_time > wait:
                    if self.send_slaveof(r, m, m.addr):
                        self._ev("notice", "+convert-to-slave", r, m)
        if role == "slave" and (r.master_port != m.addr[1] or r.master_host != m.addr[0]):
            wait = m.failover_timeout
            if self.master_looks_sane(m, now) and self.no_down_for(r, wait, now) and \
                    now - r.slave_conf_change_time > wait:
                if self.send_slaveof(r, m, m.addr):
                    self._ev("notice", "+fix-slave-config", r, m)
        if role == "slave" and r.flags & (Flag.RECONF_SENT | Flag.RECONF_INPROG):
            promoted = m.promoted
            if r.flags & Flag.RECONF_SENT and promoted is not None and \
                    (r.master_host, r.master_port) == promoted:
                r.flags = (r.flags & ~Flag.RECONF_SENT) | Flag.RECONF_INPROG
                self._ev("notice", "+slave-reconf-inprog", r, m)
            if r.flags & Flag.RECONF_INPROG and r.master_link_status_up:
                r.flags = (r.flags & ~Flag.RECONF_INPROG) | Flag.RECONF_DONE
                self._ev("notice", "+slave-reconf-done", r, m)

    def master_looks_sane(self, m: Master, now: int) -> bool:
        return (m.live.role_reported == "master" and not m.flags & (Flag.S_DOWN | Flag.O_DOWN)
                and now - m.live.info_refresh < INFO_PERIOD * 2)

    @staticmethod
    def no_down_for(inst: Any, ms: int, now: int) -> bool:
        recent = max(inst.live.s_down_since if inst.flags & Flag.S_DOWN else 0,
                     inst.live.o_down_since if inst.flags & Flag.O_DOWN else 0)
        return recent == 0 or now - recent > ms

    def client_reconfig(self, m: Master, role: str, state: str, old: Addr, new: Addr) -> None:
        if m.client_reconfig_script:
            self.actions.append(RunScript(m.client_reconfig_script, [
                m.name, role, state, old[0], str(old[1]), new[0], str(new[1])]))

    # ---- Hello ----

    def hello(self, payload: str, now: int) -> None:
        """sentinelProcessHelloMessage (from a pub/sub link or a peer's PUBLISH)."""
        t = payload.split(",")
        if len(t) != 8:
            return
        ip, runid, mname, mip = t[0], t[2], t[4], t[5]
        try:
            port, cur_epoch, mport, mepoch = int(t[1]), int(t[3]), int(t[6]), int(t[7])
        except ValueError:
            return
        if runid == self.myid:
            return
        m = self.masters.get(mname)
        if m is None:
            return
        si = m.sentinels.get(runid)
        if si is not None and si.addr != (ip, port):
            self.drop_link(si)
            del m.sentinels[runid]
            si = None
            self.event("notice", "+sentinel-address-switch",
                       f"{master_event_name(m)} ip {ip} port {port} for {runid}", m)
            si = self._add_sentinel(m, runid, (ip, port), now, announce=False)
        elif si is None:
            for other in m.sentinels.values():
                if other.addr == (ip, port):
                    self._ev("notice", "+sentinel-invalid-addr", other, m)
                    other.addr = (other.addr[0], 0)
                    self.drop_link(other)
            si = self._add_sentinel(m, runid, (ip, port), now, announce=True)
        if cur_epoch > self.current_epoch:
            self.current_epoch = cur_epoch
            self.flush_config()
            self.event("warning", "+new-epoch", str(cur_epoch), m)
        if m.config_epoch < mepoch:
            m.config_epoch = mepoch
            self.flush_config()
            # Compared with the address we advertise, not m.addr: a leader still
            # reconfiguring replicas already stands for the promoted one, and a newer
            # config naming the old master again must win over it.
            if (mip, mport) != self.current_master_addr(m):
                self._ev("warning", "+config-update-from", si, m)
                old = m.addr
                self.event("warning", "+switch-master",
                           f"{m.name} {old[0]} {old[1]} {mip} {mport}", m)
                self.reset_master_and_change_address(m, (mip, mport), now)
                self.client_reconfig(m, "observer", "start", old, (mip, mport))
        si.live.last_hello_time = now

    def _add_sentinel(self, m: Master, runid: str, addr: Addr, now: int,
                      announce: bool) -> SentinelPeer:
        si = m.sentinels[runid] = SentinelPeer(addr, runid, live=Liveness(
            last_avail_time=now, last_pong_time=now, act_ping_time=now, runid=runid))
        if announce:
            self._ev("notice", "+sentinel", si, m)
        self.flush_config()
        return si

    # ---- Commands that change the monitored set ----

    def monitor(self, m: Master, now: int) -> None:
        """Start monitoring `m` (from the config file or SENTINEL MONITOR); replicas and
        peers it already lists (known-replica / known-sentinel) start as just seen."""
        m.live = Liveness(last_avail_time=now, last_pong_time=now, act_ping_time=now,
                          down_after_ms=m.down_after_ms)
        for inst in (*m.replicas.values(), *m.sentinels.values()):
            inst.live = Liveness(last_avail_time=now, last_pong_time=now, act_ping_time=now,
                                 runid=inst.live.runid)
        self.masters[m.name] = m
        self.event("warning", "+monitor", f"{master_event_name(m)} quorum {m.quorum}", m)
        self.flush_config()

    def remove(self, name: str, now: int) -> None:
        m = self.masters.pop(name)
        self.reset_master(m, now, keep_sentinels=False)
        self.drop_link(m)
        self.event("warning", "-monitor", master_event_name(m), m)
        self.flush_config()

    def force_failover(self, m: Master, now: int) -> str | None:
        """SENTINEL FAILOVER: an error text, or None when started."""
        if m.flags & Flag.FAILOVER_IN_PROGRESS:
            return "INPROG Failover already in progress"
        if self.select_replica(m, now) is None:
            return "NOGOODSLAVE No suitable replica to promote"
        self.start_failover(m, now)
        m.flags |= Flag.FORCE_FAILOVER
        return None
