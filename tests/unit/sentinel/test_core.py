"""SentinelCore decisions, fed by hand on a manual clock (no sockets, no sleeps).

The harness plays the shell: it opens every link the core asks for, and the tests answer
the commands the core sends (PING, INFO, SENTINEL is-master-down-by-addr) with the
replies a redis-server or a peer sentinel would give.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from redkeep.sentinel.core import (
    ELECTION_TIMEOUT,
    MIN_LINK_RECONNECT_PERIOD,
    TILT_PERIOD,
    Connect,
    Disconnect,
    Event,
    FlushConfig,
    Send,
    SentinelCore,
)
from redkeep.sentinel.instance import FailoverState, Flag, Master, Replica

MYID = "m" * 40
PEERS = ["a" * 40, "b" * 40, "c" * 40, "d" * 40]
MASTER = ("10.0.0.1", 6379)
T0 = 1_000_000


class Harness:
    def __init__(self, quorum: int = 2, down_after: int = 5000, failover_timeout: int = 60_000,
                 parallel_syncs: int = 1, peers: int = 2) -> None:
        self.now = T0
        self.core = SentinelCore(MYID, {}, random.Random(7), port=26379)
        self.m = Master("mymaster", MASTER, quorum, down_after_ms=down_after,
                        failover_timeout=failover_timeout, parallel_syncs=parallel_syncs)
        self.core.monitor(self.m, self.now)
        self.events: list[Event] = []
        self.sent: list[Send] = []
        self.closed: list[int] = []
        self.refuse: set[tuple[str, int]] = set()      # addresses whose links fail
        self.tick(0)                                   # links to the master come up
        for i in range(peers):
            self.hello(PEERS[i], ("10.0.1.%d" % (i + 1), 26379))

    # -- the shell's part --

    def pump(self) -> None:
        while self.core.actions:
            actions, self.core.actions = self.core.actions, []
            for a in actions:
                if isinstance(a, Connect):
                    self.core.connect_finished(a.link)
                    if a.addr not in self.refuse:
                        self.core.link_up(a.link, self.now)
                elif isinstance(a, Event):
                    self.events.append(a)
                elif isinstance(a, Send):
                    self.sent.append(a)
                elif isinstance(a, Disconnect):      # what was in flight is lost
                    self.sent = [s for s in self.sent if s.link != a.link]
                    self.closed.append(a.link)

    def tick(self, ms: int = 100) -> None:
        self.now += ms
        self.core.tick(self.now)
        self.pump()

    def run(self, ms: int, step: int = 100, answer: Any = None) -> None:
        end = self.now + ms
        while self.now < end:
            self.tick(min(step, end - self.now))
            if answer is not None:
                answer(self)

    def addr_of(self, send: Send) -> tuple[str, int]:
        return self.core._links[send.link].inst.addr

    def take(self, tag: str, addr: tuple[str, int] | None = None) -> list[Send]:
        got = [s for s in self.sent if s.tag == tag and (addr is None or self.addr_of(s) == addr)]
        self.sent = [s for s in self.sent if s not in got]
        return got

    def reply(self, send: Send, value: Any) -> None:
        self.core.reply(send.link, send.tag, value, self.now)
        self.pump()

    def hello(self, runid: str, addr: tuple[str, int], epoch: int = 0,
              master: tuple[str, int] = MASTER, config_epoch: int = 0) -> None:
        self.core.hello(f"{addr[0]},{addr[1]},{runid},{epoch},mymaster,{master[0]},"
                        f"{master[1]},{config_epoch}", self.now)
        self.pump()

    def types(self) -> list[str]:
        return [e.type for e in self.events]

    def texts(self, etype: str) -> list[str]:
        return [e.text for e in self.events if e.type == etype]

    # -- what the instances answer --

    def pong_all(self, value: bytes = b"PONG", but: tuple[str, int] | None = None) -> None:
        for s in self.take("ping"):
            if self.addr_of(s) != but:
                self.reply(s, value)

    def answer_all(self, infos: dict[tuple[str, int], bytes], down: set | frozenset = frozenset(),
                   votes: dict[str, str] | None = None) -> None:
        """PONG/INFO from every instance not in `down`; peers say the master is down
        and vote as `votes` says (runid -> whom), else '*'."""
        for s in list(self.sent):
            addr = self.addr_of(s)
            if addr in down or s.tag not in ("ping", "info", "is-master-down"):
                continue
            self.sent.remove(s)
            if s.tag == "ping":
                self.reply(s, b"PONG")
            elif s.tag == "info" and addr in infos:
                self.reply(s, infos[addr])
            elif s.tag == "is-master-down":
                peer = self.core._links[s.link].inst
                leader = (votes or {}).get(peer.runid, "*")
                epoch = int(s.argv[4]) if leader != "*" else 0
                self.reply(s, [1, leader.encode(), epoch])


def master_info(replicas: list[tuple[tuple[str, int], int]], runid: str = "1" * 40) -> bytes:
    lines = [f"run_id:{runid}", "role:master", f"connected_slaves:{len(replicas)}"]
    lines += [f"slave{i}:ip={a[0]},port={a[1]},state=online,offset={off},lag=0"
              for i, (a, off) in enumerate(replicas)]
    return ("\r\n".join(lines) + "\r\n").encode()


def replica_info(master: tuple[str, int] | None, offset: int = 100, priority: int = 100,
                 runid: str = "2" * 40, link_up: bool = True, down_since: int = -1) -> bytes:
    if master is None:
        return master_info([], runid)
    lines = [f"run_id:{runid}", "role:slave", f"master_host:{master[0]}",
             f"master_port:{master[1]}", f"master_link_status:{'up' if link_up else 'down'}",
             f"slave_repl_offset:{offset}", f"slave_priority:{priority}"]
    if not link_up:
        lines.append(f"master_link_down_since_seconds:{down_since}")
    return ("\r\n".join(lines) + "\r\n").encode()


R1, R2, R3, R4 = ("10.0.0.2", 6379), ("10.0.0.3", 6379), ("10.0.0.4", 6379), ("10.0.0.5", 6379)


def with_replicas(h: Harness, replicas: dict[tuple[str, int], bytes]) -> dict:
    """Teach the core the replicas (master INFO) and their INFO; returns the infos map."""
    infos = {MASTER: master_info([(a, 100) for a in replicas]), **replicas}
    for _ in range(3):
        h.tick()
        h.answer_all(infos)
    assert set(h.m.replicas) == set(replicas)
    return infos


# ---- SDOWN ----

def test_sdown_after_down_after_milliseconds_without_valid_reply() -> None:
    h = Harness(down_after=5000, peers=0)
    pings = h.take("ping")
    assert len(pings) == 1       # a PING as soon as the link is up
    h.run(4900)
    assert "+sdown" not in h.types()
    h.run(200)
    assert h.types().count("+sdown") == 1
    assert h.m.flags & Flag.S_DOWN
    assert h.texts("+sdown") == ["master mymaster 10.0.0.1 6379"]


@pytest.mark.parametrize("alive", [b"PONG", b"LOADING Redis is loading the dataset in memory",
                                   b"MASTERDOWN Link with MASTER is down and "
                                   b"replica-serve-stale-data is set to 'no'."])
def test_pong_loading_masterdown_count_as_alive(alive: bytes) -> None:
    h = Harness(down_after=2000, peers=0)
    h.run(20_000, answer=lambda h: h.pong_all(alive))
    assert "+sdown" not in h.types()


@pytest.mark.parametrize("error", [b"ERR unknown command", b"NOAUTH Authentication required.",
                                   b"BUSY Redis is busy running a script."])
def test_other_errors_do_not_count_as_alive(error: bytes) -> None:
    h = Harness(down_after=2000, peers=0)
    h.run(3000, answer=lambda h: h.pong_all(error))
    assert "+sdown" in h.types()


def test_sdown_then_recovery_emits_minus_sdown() -> None:
    h = Harness(down_after=1000, peers=0)
    h.run(1500)
    assert h.m.flags & Flag.S_DOWN
    h.run(2000, answer=lambda h: h.pong_all())
    assert h.types().count("-sdown") == 1 and not h.m.flags & Flag.S_DOWN


def test_refused_link_goes_sdown_from_last_avail_time() -> None:
    h = Harness(down_after=3000, peers=0)
    h.pong_all()
    lid = h.m._link_id
    h.refuse.add(MASTER)
    h.core.link_down(lid, h.now)
    h.run(2900)
    assert "+sdown" not in h.types()
    h.run(300)
    assert "+sdown" in h.types()


def test_stuck_link_is_closed_only_when_older_than_min_reconnect_period() -> None:
    """No reply to PING for down-after/2: the link looks stuck and is closed, but not
    a link younger than 15 s (it was just made, a PING went out with it)."""
    h = Harness(down_after=2000, peers=0)
    lid = h.m._link_id
    h.run(MIN_LINK_RECONNECT_PERIOD - 100)
    assert h.m.flags & Flag.S_DOWN and h.closed == []
    h.run(300)
    assert h.closed == [lid]
    h.tick()
    assert any(s.tag == "ping" and s.link == lid for s in h.sent)   # reconnected


# ---- ODOWN ----

def test_odown_needs_quorum_of_is_master_down_replies() -> None:
    h = Harness(quorum=3, down_after=1000, peers=2)
    h.run(1200, answer=lambda h: h.pong_all(but=MASTER))
    assert h.m.flags & Flag.S_DOWN and "+odown" not in h.types()
    asks = h.take("is-master-down")
    assert {tuple(s.argv[:4]) for s in asks} == {
        (b"SENTINEL", b"is-master-down-by-addr", b"10.0.0.1", b"6379")}
    assert all(s.argv[5] == b"*" for s in asks)        # no vote asked outside a failover
    h.reply(asks[0], [1, b"*", 0])
    h.tick()
    assert "+odown" not in h.types()                    # 2 of 3
    h.reply(asks[1], [1, b"*", 0])
    h.tick()
    assert h.texts("+odown") == ["master mymaster 10.0.0.1 6379 #quorum 3/3"]


def test_is_master_down_replies_expire_after_five_seconds() -> None:
    h = Harness(quorum=2, down_after=1000, peers=1)
    h.run(1200, answer=lambda h: h.pong_all(but=MASTER))
    for s in h.take("is-master-down"):
        h.reply(s, [1, b"*", 0])
    h.tick()
    assert h.m.flags & Flag.O_DOWN
    h.m.failover_start_time = h.now     # keep the failover from starting
    h.run(4800, answer=lambda h: h.pong_all(but=MASTER))   # asks go unanswered
    assert h.m.flags & Flag.O_DOWN
    h.run(500, answer=lambda h: h.pong_all(but=MASTER))
    assert not h.m.flags & Flag.O_DOWN and "-odown" in h.types()


def test_a_peer_saying_not_down_clears_its_vote() -> None:
    h = Harness(quorum=2, down_after=1000, peers=1)
    h.run(1200, answer=lambda h: h.pong_all(but=MASTER))
    h.reply(h.take("is-master-down")[0], [1, b"*", 0])
    peer = next(iter(h.m.sentinels.values()))
    assert peer.flags & Flag.MASTER_DOWN
    h.run(1100, answer=lambda h: h.pong_all(but=MASTER))
    h.reply(h.take("is-master-down")[-1], [0, b"*", 0])
    assert not peer.flags & Flag.MASTER_DOWN
    h.reply(Send(peer._link_id, [], "is-master-down"), b"garbage")   # ignored
    assert not peer.flags & Flag.MASTER_DOWN


def test_tilt_answers_is_master_down_with_zero() -> None:
    h = Harness(down_after=1000, peers=0)
    h.run(1500)
    assert h.core.is_master_down_by_addr(MASTER, 0, "*", h.now)[0] == 1
    h.tick(5000)
    assert h.core.tilt
    assert h.core.is_master_down_by_addr(MASTER, 0, "*", h.now) == [0, b"*", 0]
    assert h.core.is_master_down_by_addr(("9.9.9.9", 1), 0, "*", h.now) == [0, b"*", 0]


# ---- Votes and leader election ----

def test_vote_once_per_epoch() -> None:
    h = Harness(peers=0)
    c, m = h.core, h.m
    assert c.vote_leader(m, 5, PEERS[0], h.now) == (PEERS[0], 5)
    assert c.current_epoch == 5
    assert c.vote_leader(m, 5, PEERS[1], h.now) == (PEERS[0], 5)     # already voted in 5
    assert c.vote_leader(m, 4, PEERS[1], h.now) == (PEERS[0], 5)     # older epoch
    assert c.vote_leader(m, 6, PEERS[1], h.now) == (PEERS[1], 6)
    h.pump()
    assert h.texts("+vote-for-leader") == [f"{PEERS[0]} 5", f"{PEERS[1]} 6"]
    assert h.texts("+new-epoch") == ["5", "6"]
    # voting for someone else delays our own failover attempts
    assert m.failover_start_time >= h.now


def test_is_master_down_by_addr_votes_only_when_asked() -> None:
    h = Harness(peers=0)
    assert h.core.is_master_down_by_addr(MASTER, 3, "*", h.now) == [0, b"*", 0]
    assert h.m.leader_epoch == 0
    assert h.core.is_master_down_by_addr(MASTER, 3, PEERS[2], h.now) == [
        0, PEERS[2].encode(), 3]
    assert h.core.is_master_down_by_addr(MASTER, 3, PEERS[1], h.now) == [
        0, PEERS[2].encode(), 3]
    flushes = [a for a in h.core.actions if isinstance(a, FlushConfig)]
    assert flushes        # the vote is persisted before it is relied on


@pytest.mark.parametrize("peer_votes, quorum, winner", [
    ({}, 2, ""),                                          # only my vote: 1 of 5
    ({0: "me", 1: "me"}, 2, MYID),                        # 3 of 5
    ({0: "me"}, 2, ""),                                   # 2 of 5: no majority
    ({0: "a", 1: "a", 2: "me"}, 2, PEERS[0]),             # I join the most voted
    ({0: "me", 1: "me", 2: "me"}, 5, ""),                 # majority but below quorum 5
    ({0: "me", 1: "me", 2: "me", 3: "me"}, 5, MYID),      # 5 of 5
])
def test_leader_needs_majority_and_quorum(peer_votes: dict, quorum: int, winner: str) -> None:
    h = Harness(quorum=quorum, peers=4)
    h.core.current_epoch = 7
    names = {"me": MYID, "a": PEERS[0]}
    for i, vote in peer_votes.items():
        p = h.m.sentinels[PEERS[i]]
        p.leader, p.leader_epoch = names[vote], 7
    assert h.core.get_leader(h.m, 7, h.now) == winner


def test_votes_from_an_older_epoch_do_not_count() -> None:
    h = Harness(quorum=2, peers=2)
    h.core.current_epoch = 7
    for runid in PEERS[:2]:
        h.m.sentinels[runid].leader, h.m.sentinels[runid].leader_epoch = MYID, 6
    assert h.core.get_leader(h.m, 7, h.now) == ""


# ---- A failover, step by step ----

def failing_over(h: Harness, replicas: dict, votes: bool = True) -> dict:
    infos = with_replicas(h, replicas)
    infos = {a: v for a, v in infos.items() if a != MASTER}
    votes_map = {p: MYID for p in h.m.sentinels} if votes else {}
    h.run(h.m.down_after_ms + 3000,
          answer=lambda h: h.answer_all(infos, down={MASTER}, votes=votes_map))
    return infos


def test_full_failover_events_and_state_order() -> None:
    h = Harness(quorum=2, down_after=1000, failover_timeout=30_000, peers=2)
    replicas = {R1: replica_info(MASTER, offset=100, runid="2" * 40),
                R2: replica_info(MASTER, offset=200, runid="3" * 40)}
    infos = failing_over(h, replicas)
    types = h.types()
    for t in ("+sdown", "+odown", "+new-epoch", "+try-failover", "+vote-for-leader",
              "+elected-leader", "+failover-state-select-slave", "+selected-slave",
              "+failover-state-send-slaveof-noone", "+failover-state-wait-promotion"):
        assert t in types, t
    assert h.texts("+selected-slave") == [
        "slave 10.0.0.3:6379 10.0.0.3 6379 @ mymaster 10.0.0.1 6379"]   # higher offset
    noone = [s.argv for s in h.take("discard", R2)]
    assert noone == [[b"MULTI"], [b"SLAVEOF", b"NO", b"ONE"], [b"CONFIG", b"REWRITE"],
                     [b"CLIENT", b"KILL", b"TYPE", b"normal"],
                     [b"CLIENT", b"KILL", b"TYPE", b"pubsub"], [b"EXEC"]]
    assert h.m.failover_state is FailoverState.WAIT_PROMOTION
    # the promoted replica reports role:master
    infos[R2] = master_info([], runid="3" * 40)
    h.run(1500, answer=lambda h: h.answer_all(infos, down={MASTER}))
    assert "+promoted-slave" in h.types() and h.m.config_epoch == h.m.failover_epoch
    assert h.m.failover_state is FailoverState.RECONF_SLAVES
    # hellos now carry the promoted address with the new config epoch
    hello = [s for s in h.sent if s.tag == "hello"][-1].argv[2].decode().split(",")
    assert (hello[5], hello[6], hello[7]) == ("10.0.0.3", "6379", str(h.m.failover_epoch))
    reconf = [s.argv for s in h.take("discard", R1)]
    assert [b"SLAVEOF", b"10.0.0.3", b"6379"] in reconf
    assert "+slave-reconf-sent" in h.types()
    infos[R1] = replica_info(R2, link_up=False)
    h.run(1200, answer=lambda h: h.answer_all(infos, down={MASTER}))
    assert "+slave-reconf-inprog" in h.types() and "+slave-reconf-done" not in h.types()
    infos[R1] = replica_info(R2, link_up=True)
    h.run(1200, answer=lambda h: h.answer_all(infos, down={MASTER}))
    assert "+slave-reconf-done" in h.types()
    assert "+failover-end" in h.types()
    assert h.texts("+switch-master") == ["mymaster 10.0.0.1 6379 10.0.0.3 6379"]
    assert h.m.addr == R2 and set(h.m.replicas) == {R1, MASTER}
    assert h.m.failover_state is FailoverState.NONE
    assert h.texts("+slave")[-2:] == [
        "slave 10.0.0.2:6379 10.0.0.2 6379 @ mymaster 10.0.0.3 6379",
        "slave 10.0.0.1:6379 10.0.0.1 6379 @ mymaster 10.0.0.3 6379"]
    order = [t for t in h.types() if t in ("+try-failover", "+elected-leader", "+selected-slave",
                                           "+promoted-slave", "+slave-reconf-done",
                                           "+failover-end", "+switch-master")]
    assert order == ["+try-failover", "+elected-leader", "+selected-slave", "+promoted-slave",
                     "+slave-reconf-done", "+failover-end", "+switch-master"]


def test_old_master_back_as_master_is_converted_to_replica() -> None:
    h = Harness(down_after=1000, peers=0)
    h.core.reset_master_and_change_address(h.m, R2, h.now)
    h.pump()
    infos = {R2: master_info([(R1, 10)]), R1: replica_info(R2),
             MASTER: master_info([], runid="9" * 40)}
    h.run(8000, answer=lambda h: h.answer_all(infos))
    assert "+convert-to-slave" not in h.types()         # 4 hello periods first
    h.run(3000, answer=lambda h: h.answer_all(infos))   # and the next INFO (10 s)
    assert h.texts("+convert-to-slave") == [
        "slave 10.0.0.1:6379 10.0.0.1 6379 @ mymaster 10.0.0.3 6379"]
    assert [b"SLAVEOF", b"10.0.0.3", b"6379"] in [s.argv for s in h.sent]


# ---- Replica selection ----

def selection(h: Harness, infos: dict) -> Replica | None:
    with_replicas(h, infos)
    return h.core.select_replica(h.m, h.now)


def test_select_lowest_priority_then_highest_offset_then_lowest_runid() -> None:
    h = Harness(peers=0)
    r = selection(h, {R1: replica_info(MASTER, offset=500, priority=100, runid="2" * 40),
                      R2: replica_info(MASTER, offset=100, priority=10, runid="3" * 40),
                      R3: replica_info(MASTER, offset=900, priority=50, runid="4" * 40)})
    assert r.addr == R2
    h = Harness(peers=0)
    r = selection(h, {R1: replica_info(MASTER, offset=500, runid="2" * 40),
                      R2: replica_info(MASTER, offset=900, runid="3" * 40),
                      R3: replica_info(MASTER, offset=900, runid="1" * 40)})
    assert r.addr == R3


def test_select_excludes_priority_zero_disconnected_stale_and_down() -> None:
    h = Harness(down_after=5000, peers=0)
    infos = {R1: replica_info(MASTER, offset=900, priority=0),
             R2: replica_info(MASTER, offset=800),
             R3: replica_info(MASTER, offset=700),
             R4: replica_info(MASTER, offset=600, link_up=False, down_since=600)}
    assert selection(h, infos).addr == R2                # priority 0 never
    h.core.link_down(h.m.replicas[R2]._link_id, h.now)
    h.refuse.add(R2)
    assert h.core.select_replica(h.m, h.now).addr == R3  # disconnected link
    h.m.replicas[R3].live.info_refresh = h.now - 31_000
    # stale INFO (30 s while the master is up); R4 lost its master 600 s ago > 10 x 5 s
    assert h.core.select_replica(h.m, h.now) is None
    h.m.replicas[R4].master_link_down_since_ms = 40_000
    assert h.core.select_replica(h.m, h.now).addr == R4
    h.m.replicas[R4].flags |= Flag.S_DOWN
    assert h.core.select_replica(h.m, h.now) is None


# ---- Failover timeouts ----

def test_not_elected_aborts_after_election_timeout_then_waits_twice_failover_timeout() -> None:
    h = Harness(quorum=2, down_after=1000, failover_timeout=20_000, peers=2)
    infos = with_replicas(h, {R1: replica_info(MASTER)})
    infos.pop(MASTER)
    odown = {p: "*" for p in h.m.sentinels}   # peers agree it is down, never vote for us

    h.run(2500, answer=lambda h: h.answer_all(infos, down={MASTER}, votes=odown))
    assert "+try-failover" in h.types()
    started = h.m.failover_start_time
    h.run(ELECTION_TIMEOUT - 2000, answer=lambda h: h.answer_all(infos, down={MASTER}))
    assert "-failover-abort-not-elected" not in h.types()
    h.run(3500, answer=lambda h: h.answer_all(infos, down={MASTER}, votes=odown))
    assert h.types().count("-failover-abort-not-elected") == 1
    assert not h.m.flags & Flag.FAILOVER_IN_PROGRESS
    delay = [e.text for e in h.events if e.type == "" and "Next failover delay" in e.text]
    assert delay and str(started + 40_000) in delay[0]
    h.run(started + 40_000 - h.now - 200,
          answer=lambda h: h.answer_all(infos, down={MASTER}, votes=odown))
    assert h.types().count("+try-failover") == 1
    h.run(1000, answer=lambda h: h.answer_all(infos, down={MASTER}, votes=odown))
    assert h.types().count("+try-failover") == 2


def test_election_timeout_is_min_of_10s_and_failover_timeout() -> None:
    h = Harness(quorum=2, down_after=1000, failover_timeout=3000, peers=2)
    infos = with_replicas(h, {R1: replica_info(MASTER)})
    infos.pop(MASTER)
    no = {p: "*" for p in h.m.sentinels}
    h.run(2500, answer=lambda h: h.answer_all(infos, down={MASTER}, votes=no))
    assert "+try-failover" in h.types()
    h.run(4500, answer=lambda h: h.answer_all(infos, down={MASTER}, votes=no))
    assert "-failover-abort-not-elected" in h.types()


def test_no_good_slave_aborts() -> None:
    h = Harness(quorum=2, down_after=1000, failover_timeout=10_000, peers=2)
    infos = failing_over(h, {R1: replica_info(MASTER, priority=0)})
    assert "+elected-leader" in h.types()
    assert "-failover-abort-no-good-slave" in h.types()
    assert not h.m.flags & Flag.FAILOVER_IN_PROGRESS and h.m.promoted is None
    assert infos


def test_promotion_timeout_aborts_and_unflags_the_replica() -> None:
    h = Harness(quorum=2, down_after=1000, failover_timeout=5000, peers=2)
    infos = failing_over(h, {R1: replica_info(MASTER)})
    assert h.m.failover_state is FailoverState.WAIT_PROMOTION
    h.run(5200, answer=lambda h: h.answer_all(infos, down={MASTER}))   # stays a replica
    assert "-failover-abort-slave-timeout" in h.types()
    assert not h.m.replicas[R1].flags & Flag.PROMOTED


def test_parallel_syncs_limits_replicas_reconfigured_at_once() -> None:
    h = Harness(quorum=2, down_after=1000, failover_timeout=60_000, parallel_syncs=2)
    reps = {R1: replica_info(MASTER, offset=900), R2: replica_info(MASTER),
            R3: replica_info(MASTER), R4: replica_info(MASTER)}
    infos = failing_over(h, reps)
    infos[R1] = master_info([])
    h.run(1200, answer=lambda h: h.answer_all(infos, down={MASTER}))
    assert h.m.failover_state is FailoverState.RECONF_SLAVES
    sent = h.texts("+slave-reconf-sent")
    assert len(sent) == 2
    h.run(3000, answer=lambda h: h.answer_all(infos, down={MASTER}))
    assert len(h.texts("+slave-reconf-sent")) == 2          # still waiting for them
    first = next(a for a in (R2, R3, R4) if f"{a[0]}:{a[1]}" in sent[0])
    infos[first] = replica_info(R1)
    h.run(1200, answer=lambda h: h.answer_all(infos, down={MASTER}))
    assert h.texts("+slave-reconf-done") and len(h.texts("+slave-reconf-sent")) == 3
    for a in (R2, R3, R4):
        infos[a] = replica_info(R1)
    h.run(3000, answer=lambda h: h.answer_all(infos, down={MASTER}))
    assert len(h.texts("+slave-reconf-done")) == 3 and "+failover-end" in h.types()


# ---- TILT ----

def test_clock_jump_enters_tilt_no_decisions_for_30s() -> None:
    h = Harness(down_after=1000, peers=0)
    h.pong_all()
    h.tick(2500)                       # the timer did not run for 2.5 s
    assert h.types().count("+tilt") == 1 and h.core.tilt
    h.run(TILT_PERIOD - 500)           # no PONG at all, but no SDOWN while in TILT
    assert "+sdown" not in h.types()
    assert h.take("ping")              # monitoring goes on
    h.run(1000)
    assert "-tilt" in h.types() and not h.core.tilt
    assert "+sdown" in h.types()


def test_backwards_clock_enters_tilt() -> None:
    h = Harness(peers=0)
    h.tick(100)
    h.now -= 500
    h.tick(100)
    assert "+tilt" in h.types()


# ---- Hello ----

def test_hello_adds_sentinel_and_bumps_epoch() -> None:
    h = Harness(peers=0)
    h.hello(PEERS[0], ("10.0.1.1", 26379), epoch=4)
    assert h.texts("+sentinel") == [
        f"sentinel {PEERS[0]} 10.0.1.1 26379 @ mymaster 10.0.0.1 6379"]
    assert h.texts("+new-epoch") == ["4"] and h.core.current_epoch == 4
    h.hello(PEERS[0], ("10.0.1.1", 26379), epoch=3)
    assert h.core.current_epoch == 4 and len(h.texts("+sentinel")) == 1
    h.hello(MYID, ("10.0.1.9", 26379), epoch=99)      # our own hello is ignored
    assert h.core.current_epoch == 4
    h.core.hello("garbage", h.now)
    h.core.hello("1,2,3,4,nomaster,5,6,7", h.now)


def test_hello_with_newer_config_switches_master() -> None:
    h = Harness(peers=1)
    h.hello(PEERS[0], ("10.0.1.1", 26379), epoch=5, master=R1, config_epoch=5)
    assert h.texts("+config-update-from") == [
        f"sentinel {PEERS[0]} 10.0.1.1 26379 @ mymaster 10.0.0.1 6379"]
    assert h.texts("+switch-master") == ["mymaster 10.0.0.1 6379 10.0.0.2 6379"]
    assert h.m.addr == R1 and h.m.config_epoch == 5 and MASTER in h.m.replicas
    # an older or equal config epoch changes nothing
    h.hello(PEERS[0], ("10.0.1.1", 26379), epoch=5, master=R2, config_epoch=5)
    h.hello(PEERS[0], ("10.0.1.1", 26379), epoch=5, master=R2, config_epoch=4)
    assert h.m.addr == R1 and len(h.texts("+switch-master")) == 1


def test_hello_address_switch_of_a_known_sentinel() -> None:
    h = Harness(peers=1)
    h.hello(PEERS[0], ("10.0.1.7", 26380))
    assert "+sentinel-address-switch" in h.types()
    assert h.m.sentinels[PEERS[0]].addr == ("10.0.1.7", 26380)
    assert len(h.m.sentinels) == 1


def test_hello_same_address_new_runid_invalidates_the_old_one() -> None:
    h = Harness(peers=1)
    h.hello(PEERS[1], ("10.0.1.1", 26379))
    assert "+sentinel-invalid-addr" in h.types()
    assert h.m.sentinels[PEERS[1]].addr == ("10.0.1.1", 26379)


def test_newer_config_naming_the_old_master_wins_over_a_reconf_in_progress() -> None:
    """A leader reconfiguring replicas for epoch 4 (promoted R1) hears epoch 5, which
    put the old master back: it must follow epoch 5, not finish its own failover."""
    h = Harness(quorum=2, down_after=1000, failover_timeout=30_000, peers=2)
    infos = failing_over(h, {R1: replica_info(MASTER), R2: replica_info(MASTER, offset=1)})
    infos[R1] = master_info([])
    h.run(1200, answer=lambda h: h.answer_all(infos, down={MASTER}))
    assert h.m.failover_state is FailoverState.RECONF_SLAVES
    epoch = h.m.config_epoch
    h.hello(PEERS[0], ("10.0.1.1", 26379), epoch=epoch + 1, master=MASTER,
            config_epoch=epoch + 1)
    assert h.m.addr == MASTER and h.m.failover_state is FailoverState.NONE
    assert h.m.config_epoch == epoch + 1


# ---- Forced failover ----

def test_forced_failover_needs_no_votes() -> None:
    h = Harness(quorum=2, peers=2)
    infos = with_replicas(h, {R1: replica_info(MASTER)})
    assert h.core.force_failover(h.m, h.now) is None
    assert h.m.flags & Flag.FORCE_FAILOVER
    assert h.core.force_failover(h.m, h.now) == "INPROG Failover already in progress"
    h.run(500, answer=lambda h: h.answer_all(infos))
    assert "+elected-leader" in h.types() and "+selected-slave" in h.types()
    assert "+odown" not in h.types()


def test_forced_failover_without_a_good_replica() -> None:
    h = Harness(peers=0)
    with_replicas(h, {R1: replica_info(MASTER, priority=0)})
    assert h.core.force_failover(h.m, h.now) == "NOGOODSLAVE No suitable replica to promote"
    assert not h.m.flags & Flag.FAILOVER_IN_PROGRESS


# ---- Replies without a connection ----

def test_no_reply_is_not_a_pong() -> None:
    h = Harness(down_after=1000, peers=0)
    ping = h.take("ping")[0]
    pong_time = h.m.live.last_pong_time
    h.now += 10
    h.reply(ping, None)
    assert h.m.live.last_pong_time == pong_time and h.m.live.act_ping_time


# ---- Failover latency: replies move the failover on without waiting for a tick ----

def _odown_awaiting_votes(h: Harness, replicas: dict) -> dict:
    """Master down and ODOWN, failover started, no peer has voted yet."""
    infos = with_replicas(h, replicas)
    infos = {a: v for a, v in infos.items() if a != MASTER}
    while True:
        h.tick()
        if "+try-failover" in h.types():        # its vote requests stay unanswered
            break
        h.answer_all(infos, down={MASTER})      # peers: master down, no vote ('*')
    assert h.m.failover_state is FailoverState.WAIT_START
    return infos


def _ask_for_votes(h: Harness) -> list[Send]:
    asks = [s for s in h.take("is-master-down") if s.argv[5] == MYID.encode()]
    assert asks
    return asks


def test_elected_on_the_votes_reply_then_promotion_sent_in_the_same_step() -> None:
    h = Harness(quorum=2, down_after=1000, peers=2)
    _odown_awaiting_votes(h, {R1: replica_info(MASTER)})
    asks = _ask_for_votes(h)
    assert asks and "+elected-leader" not in h.types()
    h.sent.clear()
    h.reply(asks[0], [1, MYID.encode(), h.m.failover_epoch])   # no tick after this
    assert [t for t in h.types() if t in ("+elected-leader", "+selected-slave",
                                          "+failover-state-wait-promotion")] == [
        "+elected-leader", "+selected-slave", "+failover-state-wait-promotion"]
    assert [b"SLAVEOF", b"NO", b"ONE"] in [s.argv for s in h.take("discard", R1)]
    assert h.take("info", R1), "an INFO follows SLAVEOF NO ONE"
    assert h.m.failover_state is FailoverState.WAIT_PROMOTION


def test_selection_waits_for_a_due_replica_info_instead_of_aborting() -> None:
    h = Harness(quorum=2, down_after=1000, peers=2)
    infos = _odown_awaiting_votes(h, {R1: replica_info(MASTER)})
    asks = _ask_for_votes(h)
    h.take("info")
    h.m.replicas[R1].live.info_refresh = h.now - 6000      # older than 5 ping periods
    h.reply(asks[0], [1, MYID.encode(), h.m.failover_epoch])
    assert "+elected-leader" in h.types() and "+selected-slave" not in h.types()
    assert "-failover-abort-no-good-slave" not in h.types()
    assert h.m.failover_state is FailoverState.SELECT_SLAVE
    h.tick()                                   # the 1 s failover INFO poll asks R1
    ask = h.take("info", R1)
    assert ask and "+selected-slave" not in h.types()
    h.reply(ask[0], infos[R1])                 # its reply selects and promotes at once
    assert "+selected-slave" in h.types()
    assert h.m.failover_state is FailoverState.WAIT_PROMOTION


def test_selection_aborts_when_the_info_stays_stale_for_a_second() -> None:
    h = Harness(quorum=2, down_after=1000, peers=2)
    _odown_awaiting_votes(h, {R1: replica_info(MASTER)})
    asks = _ask_for_votes(h)
    h.m.replicas[R1].live.info_refresh = h.now - 6000
    h.reply(asks[0], [1, MYID.encode(), h.m.failover_epoch])
    h.run(1100, answer=lambda h: (h.take("info"), h.pong_all(but=MASTER)))   # no INFO reply
    assert "-failover-abort-no-good-slave" in h.types()


def test_promotion_sends_hellos_and_reconfigures_replicas_in_the_same_step() -> None:
    h = Harness(quorum=2, down_after=1000, peers=2)
    _odown_awaiting_votes(h, {R1: replica_info(MASTER, offset=200, runid="2" * 40),
                              R2: replica_info(MASTER, offset=100, runid="3" * 40)})
    h.reply(_ask_for_votes(h)[0], [1, MYID.encode(), h.m.failover_epoch])
    info_after_noone = h.take("info", R1)
    h.sent.clear()
    h.reply(info_after_noone[0], master_info([], runid="2" * 40))   # no tick after this
    assert "+promoted-slave" in h.types()
    hellos = [s for s in h.sent if s.tag == "hello"]
    assert hellos and all(s.argv[2].decode().split(",")[5:7] == ["10.0.0.2", "6379"]
                          for s in hellos)
    assert [b"SLAVEOF", b"10.0.0.2", b"6379"] in [s.argv for s in h.take("discard", R2)]
    assert "+slave-reconf-sent" in h.types()


def test_replica_with_its_master_link_down_gets_info_every_second() -> None:
    h = Harness(down_after=30_000, peers=0)
    infos = with_replicas(h, {R1: replica_info(MASTER), R2: replica_info(MASTER)})
    infos[R2] = replica_info(MASTER, link_up=False, down_since=3)
    h.run(10_500, answer=lambda h: h.answer_all(infos))   # the 10 s poll sees it down
    h.take("info")
    asked = {R1: 0, R2: 0}

    def count(h: Harness) -> None:
        for s in h.take("info"):
            if h.addr_of(s) in asked:
                asked[h.addr_of(s)] += 1
            h.reply(s, infos[h.addr_of(s)])
        h.pong_all()
    h.run(5000, answer=count)
    assert asked[R1] == 0 and asked[R2] >= 4
