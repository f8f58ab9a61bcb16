"""Sentinels failing over a replication group on a seeded simulated network (issue 6).

Every run is deterministic: a failing seed prints itself and its event trace, and
`Sim(seed, ...)` / `chaos(seed)` replay it exactly. REDKEEP_SIM_SEEDS scales the
number of chaos seeds (default 1000).
"""

from __future__ import annotations

import os
import random
from collections import Counter

import pytest

from sim.simnet import MASTER_NAME, Sim

OLD = "10.0.0.1:6379"
CONVERGE_BOUND_MS = 240_000


def run_until_converged(sim: Sim, bound_ms: int, step: int = 500) -> tuple | None:
    deadline = sim.now + bound_ms
    while sim.now < deadline:
        sim.run_for(step)
        addr = sim.converged()
        if addr is not None:
            return addr
    return None


def fail(sim: Sim, why: str) -> None:
    print(sim.dump())
    pytest.fail(f"seed {sim.seed}: {why}\n{sim.dump(last=400)}", pytrace=False)


# ---- One failover, end to end ----

def test_kill_master_one_failover_everyone_follows() -> None:
    sim = Sim(seed=1, sentinels=3, replicas=2, quorum=2, down_after=2000,
              failover_timeout=10_000)
    sim.run_for(5000)
    assert sim.converged() == ("10.0.0.1", 6379)
    for s in sim.sentinels:
        m = s.core.masters[MASTER_NAME]
        assert len(m.replicas) == 2 and len(m.sentinels) == 2, sim.dump()
    killed_at = sim.now
    sim.kill_node(OLD)
    deadline = killed_at + 30_000
    while sim.now < deadline and not (len(set(sim.views())) == 1 and sim.views()[0] != (
            "10.0.0.1", 6379) and len(sim.events_of("+failover-end")) == 1):
        sim.run_for(100)
    views = sim.views()
    assert len(set(views)) == 1 and views[0] != ("10.0.0.1", 6379), sim.dump()
    new = views[0]
    assert sim.now - killed_at < 20_000, sim.dump()
    promoted = sim.events_of("+promoted-slave")
    assert len(promoted) == 1 and f"{new[0]}:{new[1]}" in promoted[0][3], sim.dump()
    assert [n.name for n in sim.data_masters()] == [f"{new[0]}:{new[1]}"]
    others = [n for n in sim.nodes.values() if n.alive and n.addr != new]
    sim.run_for(3000)
    assert all(n.role == "slave" and n.master == new and n.link_up for n in others), sim.dump()

    sim.restart_node(OLD)
    assert run_until_converged(sim, 30_000) == new, sim.dump()
    assert sim.nodes[OLD].role == "slave" and sim.nodes[OLD].master == new
    assert sim.events_of("+convert-to-slave"), sim.dump()

    leader = sim.events_of("+elected-leader")[0][1]
    seen = {e[2] for e in sim.events}
    leader_seen = {e[2] for e in sim.events if e[1] == leader}
    for etype in ("+sdown", "+odown", "+new-epoch", "+try-failover", "+vote-for-leader",
                  "+switch-master"):
        assert etype in seen, etype
    for etype in ("+elected-leader", "+failover-state-select-slave", "+selected-slave",
                  "+failover-state-send-slaveof-noone", "+failover-state-wait-promotion",
                  "+promoted-slave", "+failover-state-reconf-slaves", "+slave-reconf-sent",
                  "+slave-reconf-inprog", "+slave-reconf-done", "+failover-end",
                  "+switch-master"):
        assert etype in leader_seen, (etype, sim.dump())
    followers = {s.name for s in sim.sentinels} - {leader}
    updated = {e[1] for e in sim.events_of("+config-update-from")}
    assert updated == followers, sim.dump()
    # the leader's events come in the failover state machine's order
    order = [e[2] for e in sim.events if e[1] == leader and e[2] in (
        "+try-failover", "+elected-leader", "+selected-slave", "+promoted-slave",
        "+slave-reconf-done", "+failover-end", "+switch-master")]
    assert order[:7] == ["+try-failover", "+elected-leader", "+selected-slave",
                         "+promoted-slave", "+slave-reconf-done", "+failover-end",
                         "+switch-master"], order
    assert not sim.violations


def test_same_seed_same_run() -> None:
    runs = []
    for _ in range(2):
        sim = chaos(4242)
        runs.append((sim.trace, sim.now, sim.views()))
    assert runs[0] == runs[1]


# ---- Quorum and minority ----

def test_one_of_three_sees_the_master_down_no_odown_no_failover() -> None:
    sim = Sim(seed=7, sentinels=3, replicas=2, quorum=2, down_after=1000)
    sim.run_for(5000)
    sim.cut("s0", OLD)                  # only s0 loses the master
    sim.run_for(60_000)
    down = [e[1] for e in sim.events_of("+sdown") if e[3].startswith("master")]
    assert down == ["s0"], sim.dump()
    assert not sim.events_of("+odown"), sim.dump()
    assert not sim.events_of("+try-failover"), sim.dump()
    assert sim.views() == [("10.0.0.1", 6379)] * 3
    sim.heal()
    sim.run_for(3000)
    assert [e[1] for e in sim.events_of("-sdown") if e[3].startswith("master")] == ["s0"]


def test_minority_partition_cannot_elect() -> None:
    """Two sentinels of five cut off from everything: with quorum 2 they agree the
    master is down (ODOWN) and try, but 2 votes of 5 elect nobody."""
    sim = Sim(seed=11, sentinels=5, replicas=2, quorum=2, down_after=1000,
              failover_timeout=3000)
    sim.run_for(6000)
    sim.partition(["s0", "s1"])
    sim.run_for(60_000)
    tried = {e[1] for e in sim.events_of("+try-failover")}
    assert tried and tried <= {"s0", "s1"}, sim.dump()
    assert {e[1] for e in sim.events_of("+odown")} == {"s0", "s1"}, sim.dump()
    assert not sim.events_of("+elected-leader"), sim.dump()
    assert sim.events_of("-failover-abort-not-elected"), sim.dump()
    assert sim.converged() is None or sim.views() == [("10.0.0.1", 6379)] * 5
    sim.heal()
    assert run_until_converged(sim, 60_000) == ("10.0.0.1", 6379), sim.dump()
    assert not sim.events_of("+promoted-slave") and not sim.violations


def test_master_cut_off_with_a_minority_of_sentinels() -> None:
    """The master and two sentinels of five on one side: the three others elect a
    leader and promote a replica; the minority sees a healthy master and does nothing.
    After the heal everyone follows the new master and the old one is demoted."""
    sim = Sim(seed=12, sentinels=5, replicas=2, quorum=3, down_after=1000,
              failover_timeout=4000)
    sim.run_for(6000)
    sim.partition(["s0", "s1", OLD])
    sim.run_for(30_000)
    elected = sim.events_of("+elected-leader")
    assert elected and {e[1] for e in elected} <= {"s2", "s3", "s4"}, sim.dump()
    assert len(sim.events_of("+promoted-slave")) == 1, sim.dump()
    assert {s.name for s in sim.sentinels
            if s.core.masters[MASTER_NAME].addr == ("10.0.0.1", 6379)} == {"s0", "s1"}
    sim.heal()
    new = run_until_converged(sim, 60_000)
    assert new is not None and new != ("10.0.0.1", 6379), sim.dump()
    assert sim.nodes[OLD].role == "slave" and sim.events_of("+convert-to-slave")
    assert {e[1] for e in sim.events_of("+config-update-from")} >= {"s0", "s1"}
    assert not sim.violations, sim.violations


# ---- Chaos: safety over many seeds ----

def chaos(seed: int) -> Sim:
    """Random kills, partitions (including the master cut off with a minority of
    sentinels), pauses, delays and loss for ~40 s, then a final heal."""
    rng = random.Random(seed * 7919 + 1)
    n = rng.choice([3, 3, 4, 5])
    sim = Sim(seed, sentinels=n, replicas=rng.choice([1, 2, 2, 3]),
              quorum=rng.randint(2, n // 2 + 1) if rng.random() < 0.8 else rng.randint(1, n),
              down_after=rng.choice([1000, 2000, 3000]),
              failover_timeout=rng.choice([3000, 6000, 10_000]),
              parallel_syncs=rng.choice([1, 1, 2]),
              delay=rng.choice([(1, 3), (1, 20), (5, 200)]),
              drop=rng.choice([0.0, 0.0, 0.01, 0.05]))
    sim.run_for(rng.randint(3000, 8000))
    end = sim.now + rng.randint(15_000, 40_000)
    sentinels = [s.name for s in sim.sentinels]
    nodes = list(sim.nodes)
    while sim.now < end:
        sim.run_for(rng.randint(300, 6000))
        what = rng.random()
        masters = [d.name for d in sim.data_masters()] or nodes
        if what < 0.20:
            sim.kill_node(rng.choice(masters))
        elif what < 0.30:
            sim.kill_node(rng.choice(nodes))
        elif what < 0.45:
            for name in nodes:
                if rng.random() < 0.7:
                    sim.restart_node(name)
        elif what < 0.55:
            minority = rng.sample(sentinels, rng.randint(0, (n - 1) // 2))
            sim.partition(minority + [rng.choice(masters)])
        elif what < 0.65:
            side = [x for x in sentinels + nodes if rng.random() < 0.5]
            sim.partition(side)
        elif what < 0.78:
            sim.heal()
        elif what < 0.84:
            sim.pause_sentinel(rng.randrange(n), rng.randint(500, 5000))
        elif what < 0.90:
            sim.kill_sentinel(rng.randrange(n))
        elif what < 0.96:
            sim.restart_sentinel(rng.randrange(n))
        elif what < 0.98:
            sim.cut(rng.choice(sentinels), rng.choice(sentinels + nodes))
        else:
            sim.delay = rng.choice([(1, 3), (1, 20), (5, 200), (50, 800)])
            sim.log(f"delay {sim.delay}")
    sim.heal_all()
    sim.delay = (1, 5)
    sim.final_heal_at = sim.now
    sim.converged_addr = run_until_converged(sim, CONVERGE_BOUND_MS)
    return sim


SEEDS = int(os.environ.get("REDKEEP_SIM_SEEDS", "1000"))


def test_chaos_no_split_brain_and_convergence_after_heal() -> None:
    failures = []
    took = []
    for seed in range(SEEDS):
        sim = chaos(seed)
        if sim.violations:
            failures.append((sim, "; ".join(sim.violations[:3])))
        elif sim.converged_addr is None:
            failures.append((sim, f"no convergence within {CONVERGE_BOUND_MS} ms after "
                                  f"the final heal (views {sim.views()})"))
        else:
            took.append(sim.now - sim.final_heal_at)
    if failures:
        sim, why = failures[0]
        print(f"{len(failures)} failing seeds: {[s.seed for s, _ in failures][:50]}")
        fail(sim, why)
    took.sort()
    print(f"{SEEDS} seeds; convergence after heal: median {took[len(took) // 2]} ms, "
          f"worst {took[-1]} ms")


def test_chaos_explores_failovers() -> None:
    """The chaos runs are not vacuous: most of them elect leaders and promote."""
    counts: Counter[str] = Counter()
    for seed in range(40):
        sim = chaos(seed)
        counts.update({e[2] for e in sim.events})
    assert counts["+elected-leader"] >= 20, counts
    assert counts["+promoted-slave"] >= 20, counts
    assert counts["+tilt"] >= 1 and counts["-failover-abort-not-elected"] >= 1, counts


