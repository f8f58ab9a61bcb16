"""redkeep sentinels with real processes: seed 001's whole experiment, the SENTINEL
commands on a running set (shapes and error texts compared with a real redis-sentinel
watching the same group), client-reconfig/notification scripts, and seed 003's typo.

Every process is started by pid on 127.0.0.1 (tests/support/sentinels.py), every wait
is a poll with a deadline, and everything is stopped in the fixture's teardown.
"""

from __future__ import annotations

import re
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.sentinel import Sentinel

from support.procs import HOST, free_port, require_binary, wait_until
from support.sentinels import (
    MASTER_NAME,
    PASSWORD,
    Group,
    SentinelProc,
    kill9,
    wait_role,
)

# Events the elected leader publishes during one failover, in this order (seed 003).
LEADER_EVENTS = [
    "+new-epoch", "+try-failover", "+vote-for-leader", "+elected-leader",
    "+failover-state-select-slave", "+selected-slave", "+failover-state-send-slaveof-noone",
    "+failover-state-wait-promotion", "+promoted-slave", "+failover-state-reconf-slaves",
    "+slave-reconf-sent", "+slave-reconf-inprog", "+slave-reconf-done", "+failover-end",
    "+switch-master",
]


class EventLog:
    """Every message a sentinel publishes (PSUBSCRIBE *), collected by a thread."""

    def __init__(self, sentinel: SentinelProc) -> None:
        self.sentinel = sentinel
        self.events: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._client = sentinel.client(socket_timeout=None)
        self._pubsub = self._client.pubsub()
        self._pubsub.psubscribe(**{"*": self._on_message})
        self._thread = self._pubsub.run_in_thread(sleep_time=0.05, daemon=True)

    def _on_message(self, msg: dict) -> None:
        with self._lock:
            self.events.append((msg["channel"], msg["data"]))

    def channels(self) -> list[str]:
        with self._lock:
            return [c for c, _ in self.events]

    def has(self, channel: str, data: str | None = None) -> bool:
        with self._lock:
            return any(c == channel and (data is None or d == data) for c, d in self.events)

    def stop(self) -> None:
        self._thread.stop()
        self._thread.join(timeout=5)
        self._pubsub.close()
        self._client.close()


def _file_has(path: Path, *patterns: str) -> bool:
    try:
        text = path.read_text()
    except OSError:
        return False
    return all(re.search(p, text, re.M) for p in patterns)


def _subsequence(wanted: list[str], got: list[str]) -> bool:
    it = iter(got)
    return all(any(w == g for g in it) for w in wanted)


# ---- Seed 001: the whole experiment ----

def test_seed_001_experiment() -> None:
    g = Group(down_after=1500, failover_timeout=10000)
    logs: list[EventLog] = []
    try:
        g.start()
        _seed_001(g, logs)
    except BaseException:
        print(g.describe())
        raise
    finally:
        for log in logs:
            log.stop()
        g.stop()


def _seed_001(g: Group, logs: list[EventLog]) -> None:
    master, replicas = g.master, g.servers[1:]
    old = master.port
    sentinel = Sentinel([(HOST, s.port) for s in g.sentinels], socket_timeout=2)
    assert sentinel.discover_master(MASTER_NAME) == (HOST, old)
    assert sorted(sentinel.discover_slaves(MASTER_NAME)) == sorted((HOST, r.port) for r in replicas)

    w = sentinel.master_for(MASTER_NAME, socket_timeout=2, password=PASSWORD, db=0)
    assert w.set("hello", "python")
    r = sentinel.slave_for(MASTER_NAME, socket_timeout=2, password=PASSWORD, db=0)
    wait_until(lambda: r.get("hello") == b"python", 20, what="replica read of 'hello'")
    with pytest.raises(redis.ReadOnlyError):
        replicas[0].client().set("hello", "spring")

    # Each sentinel's file gained the discovered replicas and the other sentinels.
    ids = {s.port: s.call("SENTINEL", "MYID") for s in g.sentinels}
    for s in g.sentinels:
        wait_until(lambda s=s: _file_has(
            s.conf_path, *[rf"^sentinel known-replica {MASTER_NAME} 127\.0\.0\.1 {x.port}$"
                           for x in replicas],
            *[rf"^sentinel known-sentinel {MASTER_NAME} 127\.0\.0\.1 {o.port} {ids[o.port]}$"
              for o in g.sentinels if o is not s],
            rf"^sentinel myid {ids[s.port]}$"), 20, what=f"sentinel-{s.port}.conf discovery")

    logs += [EventLog(s) for s in g.sentinels]
    kill9(master)
    new = g.wait_new_master(old, timeout=60)
    promoted = g.server_at(new)
    other = next(x for x in replicas if x.port != new)
    assert sentinel.discover_master(MASTER_NAME) == (HOST, new)
    wait_role(promoted, "master")
    wait_role(other, "slave", new, timeout=30)
    assert promoted.client().get("hello") == b"python"
    assert w.set("hello", "after-failover")   # master_for follows the new master
    wait_until(lambda: other.client().get("hello") == b"after-failover", 20,
               what="other replica following the new master")

    switch = f"{MASTER_NAME} 127.0.0.1 {old} 127.0.0.1 {new}"
    for log in logs:
        wait_until(lambda log=log: log.has("+switch-master", switch), 30,
                   what=f"+switch-master on {log.sentinel.port}")
    # ODOWN took a quorum of SDOWNs; a sentinel whose own down-after had not run out yet
    # may learn the switch from the leader's hello first (real Sentinel too, when the
    # failover is quicker than the spread of the sentinels' last PONGs).
    sdown = [log for log in logs if log.has("+sdown", f"master {MASTER_NAME} 127.0.0.1 {old}")]
    assert len(sdown) >= 2, [log.channels() for log in logs]
    leaders = [log for log in logs if log.has("+elected-leader")]
    assert leaders, [log.channels() for log in logs]
    assert any(log.has("+odown") for log in logs)
    final = leaders[-1]
    assert _subsequence([e for e in LEADER_EVENTS if e != "+vote-for-leader"],
                        final.channels()), final.channels()
    assert final.has("+selected-slave", f"slave 127.0.0.1:{new} 127.0.0.1 {new} @ "
                                        f"{MASTER_NAME} 127.0.0.1 {old}")
    assert final.has("+slave-reconf-done", f"slave 127.0.0.1:{other.port} 127.0.0.1 "
                                           f"{other.port} @ {MASTER_NAME} 127.0.0.1 {old}")
    for log in logs:
        if log is not final:
            wait_until(lambda log=log: log.has("+config-update-from") or
                       log.has("+elected-leader"), 20, what="+config-update-from")

    # Files rewritten as the seed shows.
    for s in g.sentinels:
        wait_until(lambda s=s: _file_has(
            s.conf_path, rf"^sentinel monitor {MASTER_NAME} 127\.0\.0\.1 {new} 2$",
            rf"^sentinel known-replica {MASTER_NAME} 127\.0\.0\.1 {other.port}$",
            rf"^sentinel known-replica {MASTER_NAME} 127\.0\.0\.1 {old}$",
            rf"^sentinel config-epoch {MASTER_NAME} [1-9]",
            *[rf"^sentinel known-sentinel {MASTER_NAME} 127\.0\.0\.1 {o.port} {ids[o.port]}$"
              for o in g.sentinels if o is not s]), 20, what=f"sentinel-{s.port}.conf failover")
        assert not _file_has(s.conf_path, rf"^sentinel known-replica {MASTER_NAME} \S+ {new}$")
    wait_until(lambda: _file_has(other.conf_path, rf"^replicaof 127\.0\.0\.1 {new}$"), 20,
               what="reconfigured replica's redis.conf")
    wait_until(lambda: not _file_has(promoted.conf_path, r"^(replicaof|slaveof) "), 20,
               what="promoted replica's redis.conf without replicaof")

    # The old master, now a known replica, is down (seed 003: +sdown slave) until it
    # comes back with its old config (a master) and is converted.
    old_replica = f"slave 127.0.0.1:{old} 127.0.0.1 {old} @ {MASTER_NAME} 127.0.0.1 {new}"
    wait_until(lambda: all(log.has("+sdown", old_replica) for log in logs), 30,
               what="+sdown of the old master as a replica")
    master.restart()
    wait_role(master, "slave", new, timeout=60)
    wait_until(lambda: master.client().get("hello") == b"after-failover", 20,
               what="old master synced from the new one")
    wait_until(lambda: _file_has(master.conf_path, rf"^replicaof 127\.0\.0\.1 {new}$"), 20,
               what="old master's redis.conf rewritten")
    wait_until(lambda: any(log.has("+convert-to-slave") for log in logs), 20,
               what="+convert-to-slave")
    wait_until(lambda: all(log.has("-sdown", old_replica) for log in logs), 30,
               what="-sdown of the restarted old master")
    assert sorted(sentinel.discover_slaves(MASTER_NAME)) == sorted(
        [(HOST, old), (HOST, other.port)])


# ---- A running set: SENTINEL commands, compared with a real redis-sentinel ----

SCRIPT = """#!/bin/sh
echo "$@" >> "$PWD/{name}.log"
exit 0
"""


def _script(root: Path, name: str) -> Path:
    path = root / f"{name}.sh"
    path.write_text(SCRIPT.format(name=name))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture(scope="module")
def group() -> Iterator[Group]:
    """Three redkeep servers watched by two redkeep sentinels and one redis-sentinel
    (the last one, a control for reply shapes and texts); scripts on every sentinel."""
    require_binary("redis-sentinel")
    g = Group(sentinel_kinds=("redkeep", "redkeep", "redis"), down_after=2000,
              failover_timeout=10000)
    g.root.mkdir(parents=True, exist_ok=True)
    g.sentinel_extra = [
        f"sentinel client-reconfig-script {MASTER_NAME} {_script(g.root, 'reconfig')}",
        f"sentinel notification-script {MASTER_NAME} {_script(g.root, 'notify')}"]
    try:
        g.start()
        yield g
    except BaseException:
        print(g.describe())
        raise
    finally:
        g.stop()


def _keys(reply: object) -> list[str]:
    return list(reply.keys()) if isinstance(reply, dict) else list(reply[::2])


def _reply(s: SentinelProc, *args: object) -> object:
    try:
        return s.call(*args)
    except redis.ResponseError as e:
        return f"-{e}"


@pytest.mark.interop
def test_instance_field_names_match_real(group: Group) -> None:
    rk, real = group.sentinels[0], group.sentinels[2]
    for sub in ("MASTER", "MASTERS", "REPLICAS", "SLAVES", "SENTINELS"):
        args = ("SENTINEL", sub) if sub == "MASTERS" else ("SENTINEL", sub, MASTER_NAME)
        mine, theirs = rk.call(*args), real.call(*args)
        if sub == "MASTER":
            mine, theirs = [mine], [theirs]
        assert len(mine) == len(theirs), (sub, mine, theirs)
        assert [_keys(x) for x in mine] == [_keys(x) for x in theirs], sub
    m = rk.master_state()
    assert (m["name"], m["ip"], int(m["port"])) == (MASTER_NAME, "127.0.0.1", group.master.port)
    assert m["flags"] == "master" and m["role-reported"] == "master"
    assert int(m["num-slaves"]) == 2 and int(m["num-other-sentinels"]) == 2
    assert (int(m["quorum"]), int(m["down-after-milliseconds"])) == (2, 2000)
    assert m["client-reconfig-script"].endswith("reconfig.sh")
    reps = rk.call("SENTINEL", "REPLICAS", MASTER_NAME)
    assert sorted(int(r["port"]) for r in reps) == sorted(s.port for s in group.servers[1:])
    for r in reps:
        assert r["flags"] == "slave" and r["master-link-status"] == "ok"
        assert r["name"] == f"127.0.0.1:{r['port']}" and int(r["master-port"]) == group.master.port
    peers = rk.call("SENTINEL", "SENTINELS", MASTER_NAME)
    ids = {s.port: s.call("SENTINEL", "MYID") for s in group.sentinels}
    assert {int(p["port"]): p["runid"] for p in peers} == {
        p: i for p, i in ids.items() if p != rk.port}
    assert all(re.fullmatch(r"[0-9a-f]{40}", i) for i in ids.values())


@pytest.mark.interop
def test_replies_and_error_texts_match_real(group: Group) -> None:
    rk, real = group.sentinels[0], group.sentinels[2]
    mport = str(group.master.port)
    cases = [
        ("SENTINEL", "MASTER", "nosuch"), ("SENTINEL", "REPLICAS", "nosuch"),
        ("SENTINEL", "SLAVES", "nosuch"), ("SENTINEL", "SENTINELS", "nosuch"),
        ("SENTINEL", "CKQUORUM", "nosuch"), ("SENTINEL", "FAILOVER", "nosuch"),
        ("SENTINEL", "SET", "nosuch", "quorum", "2"), ("SENTINEL", "REMOVE", "nosuch"),
        ("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "nosuch"), ("SENTINEL", "RESET", "nosuch"),
        ("SENTINEL", "INFO-CACHE", "nosuch"), ("SENTINEL", "FOO"), ("SENTINEL",),
        ("SENTINEL", "MASTER"), ("SENTINEL", "MYID", "x"), ("SENTINEL", "MASTERS", "x"),
        ("SENTINEL", "CKQUORUM", MASTER_NAME), ("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME),
        ("SENTINEL", "MONITOR", "x", "127.0.0.1", "abc", "2"),
        ("SENTINEL", "MONITOR", "x", "127.0.0.1", "6379", "q"),
        ("SENTINEL", "MONITOR", "x", "127.0.0.1", "99999", "2"),
        ("SENTINEL", "MONITOR", "x", "127.0.0.1", "6379", "0"),
        ("SENTINEL", "MONITOR", "x", "nosuch.invalid", "6379", "2"),
        ("SENTINEL", "MONITOR", MASTER_NAME, "127.0.0.1", "6379", "2"),
        ("SENTINEL", "SET", MASTER_NAME, "foo", "1"), ("SENTINEL", "SET", MASTER_NAME, "quorum"),
        ("SENTINEL", "SET", MASTER_NAME, "quorum", "0"),
        ("SENTINEL", "SET", MASTER_NAME, "down-after-milliseconds", "abc"),
        ("SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "127.0.0.1", "abc", "0", "*"),
        ("SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "127.0.0.1", mport, "0", "*"),
        ("SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "127.0.0.1", "1", "0", "*"),
        ("SENTINEL", "CONFIG", "FOO"), ("SENTINEL", "CONFIG", "GET"),
        ("SENTINEL", "CONFIG", "GET", "resolve-hostnames"),
        ("SENTINEL", "DEBUG", "FOO", "1"), ("SENTINEL", "DEBUG", "INFO-PERIOD"),
        ("SENTINEL", "DEBUG", "INFO-PERIOD", "-5"), ("SENTINEL", "SIMULATE-FAILURE", "foo"),
        ("SENTINEL", "PENDING-SCRIPTS"), ("ROLE",), ("PING",), ("SET", "a", "b"),
        ("PUBLISH", "x", "y"),
    ]
    diffs = [(c, _reply(rk, *c), _reply(real, *c)) for c in cases]
    assert [d for d in diffs if d[1] != d[2]] == []
    assert _reply(rk, "SENTINEL", "DEBUG").keys() == _reply(real, "SENTINEL", "DEBUG").keys()


def test_info_role_ckquorum_myid(group: Group) -> None:
    rk = group.sentinels[0]
    assert rk.call("ROLE") == ["sentinel", [MASTER_NAME]]
    assert rk.call("SENTINEL", "CKQUORUM", MASTER_NAME) == \
        "OK 3 usable Sentinels. Quorum and failover authorization can be reached"
    info = rk.call("INFO", "sentinel")
    assert info["sentinel_masters"] == 1 and info["sentinel_tilt"] == 0
    m0 = info["master0"]
    assert (m0["name"], m0["status"], m0["address"], m0["slaves"], m0["sentinels"]) == \
        (MASTER_NAME, "ok", f"127.0.0.1:{group.master.port}", 2, 3)
    assert rk.call("INFO")["redis_mode"] == "sentinel"
    with rk.client(protocol=2) as r2:   # RESP2 bulk and RESP3 verbatim both parse
        assert r2.info("sentinel")["master0"] == m0
    assert list(info) == list(group.sentinels[2].call("INFO", "sentinel"))


def test_killed_pubsub_connection_keeps_the_command_link(group: Group) -> None:
    """CLIENT KILL TYPE pubsub (a promotion sends it) closes only the sentinels' hello
    connections: the command connection stays (replies owed on it still arrive, as with
    Redis's two link contexts) and the pub/sub one comes back."""
    names = [f"sentinel-{s.call('SENTINEL', 'MYID')[:8]}" for s in group.sentinels[:2]]
    with group.master.client() as c:
        def ids(kind: str) -> dict[str, int]:
            return {x["name"]: int(x["id"]) for x in c.client_list()
                    if x["name"] in [f"{n}-{kind}" for n in names]}
        wait_until(lambda: len(ids("cmd")) == 2 and len(ids("pubsub")) == 2, 10,
                   what="sentinel connections")
        cmd_before, sub_before = ids("cmd"), ids("pubsub")
        assert c.execute_command("CLIENT", "KILL", "TYPE", "pubsub") >= 2
        wait_until(lambda: len(ids("pubsub")) == 2 and
                   not set(ids("pubsub").values()) & set(sub_before.values()), 10,
                   what="pub/sub connections back")
        assert ids("cmd") == cmd_before


def test_monitor_set_remove_rewrite_config(group: Group) -> None:
    rk = group.sentinels[0]
    port = group.master.port
    assert rk.call("SENTINEL", "MONITOR", "extra", "127.0.0.1", str(port), "2") == "OK"
    wait_until(lambda: _file_has(rk.conf_path, rf"^sentinel monitor extra 127\.0\.0\.1 {port} 2$"),
               10, what="MONITOR in the config file")
    assert rk.call("SENTINEL", "SET", "extra", "auth-pass", PASSWORD,
                   "down-after-milliseconds", "4321", "quorum", "1") == "OK"
    wait_until(lambda: _file_has(rk.conf_path, r"^sentinel down-after-milliseconds extra 4321$",
                                 rf"^sentinel auth-pass extra {PASSWORD}$",
                                 rf"^sentinel monitor extra 127\.0\.0\.1 {port} 1$"),
               10, what="SET in the config file")
    m = rk.call("SENTINEL", "MASTER", "extra")
    assert (int(m["down-after-milliseconds"]), int(m["quorum"])) == (4321, 1)
    assert rk.call("ROLE") == ["sentinel", [MASTER_NAME, "extra"]]
    # With auth-pass set it links up and discovers the replicas.
    wait_until(lambda: int(rk.call("SENTINEL", "MASTER", "extra")["num-slaves"]) == 2, 30,
               what="replicas of 'extra' discovered")
    assert rk.call("SENTINEL", "REMOVE", "extra") == "OK"
    wait_until(lambda: not _file_has(rk.conf_path, r"^sentinel \S+ extra"), 10,
               what="REMOVE in the config file")
    assert rk.call("ROLE") == ["sentinel", [MASTER_NAME]]
    assert rk.master_addr("extra") is None


def test_reset(group: Group) -> None:
    rk = group.sentinels[1]
    assert rk.call("SENTINEL", "RESET", "nomatch*") == 0
    assert rk.call("SENTINEL", "RESET", "my*") == 1
    m = rk.master_state()
    assert (int(m["num-other-sentinels"]), int(m["num-slaves"])) == (0, 0)
    assert m["flags"] in ("master", "master,disconnected")   # links are dropped too
    group.wait_discovery(timeout=40)   # replicas from INFO, peers from hellos again


def test_forced_failover_and_scripts(group: Group) -> None:
    rk = group.sentinels[0]
    old = rk.master_addr()[1]
    assert rk.call("SENTINEL", "FAILOVER", MASTER_NAME) == "OK"
    assert _reply(rk, "SENTINEL", "FAILOVER", MASTER_NAME) == "-INPROG Failover already in progress"
    new = group.wait_new_master(old, timeout=60)
    wait_role(group.server_at(old), "slave", new, timeout=60)
    others = [s for s in group.servers if s.port not in (old, new)]
    for s in others:
        wait_role(s, "slave", new, timeout=60)

    reconfig = rk.dir / "reconfig.log"
    wanted = f"{MASTER_NAME} leader start 127.0.0.1 {old} 127.0.0.1 {new}"
    wait_until(lambda: wanted in reconfig.read_text().splitlines() if reconfig.exists()
               else False, 30, what="client-reconfig-script run by the leader")
    notify = rk.dir / "notify.log"
    for line in (f"+switch-master {MASTER_NAME} 127.0.0.1 {old} 127.0.0.1 {new}",
                 f"+try-failover master {MASTER_NAME} 127.0.0.1 {old}",
                 f"+elected-leader master {MASTER_NAME} 127.0.0.1 {old}"):
        wait_until(lambda line=line: notify.exists() and line in notify.read_text().splitlines(),
                   30, what=f"notification-script called with {line!r}")
    # Verbose/notice events (+slave-reconf-sent …) are not sent to the notification script.
    assert "+slave-reconf-sent" not in notify.read_text()
    # The observers switch too, and their scripts are not called as leader.
    for s in group.sentinels[1:]:
        log = s.dir / "reconfig.log"
        assert not log.exists() or wanted not in log.read_text().splitlines()


@pytest.mark.parametrize("point", ["crash-after-election", "crash-after-promotion"])
def test_simulate_failure_crashes_at_its_point(point: str) -> None:
    """SENTINEL SIMULATE-FAILURE: a forced failover ends the sentinel with status 99 and
    Redis's line at the chosen point (the promotion is seen on an INFO reply, not in the
    timer: both paths must crash the same way)."""
    g = Group(server_kinds=("redkeep", "redkeep"), sentinel_kinds=("redkeep",), quorum=1)
    try:
        g.start()
        s = g.sentinels[0]
        old = s.master_addr()[1]
        assert s.call("SENTINEL", "SIMULATE-FAILURE", point) == "OK"
        wait_until(lambda: _reply(s, "SENTINEL", "FAILOVER", MASTER_NAME) == "OK", 30,
                   what="a replica the sentinel can promote")
        wait_until(lambda: s.proc.poll() is not None, 30, what="the sentinel to crash")
        assert s.proc.returncode == 99
        assert "Sentinel CRASH because of SENTINEL simulate-failure" in s.log_text()
        if point == "crash-after-promotion":   # it got as far as promoting the replica
            replica = next(x for x in g.servers if x.port != old)
            wait_role(replica, "master", timeout=30)
        else:
            assert "+promoted-slave" not in s.log_text()
    finally:
        g.stop()


# ---- Seed 003's typo ----

def test_config_typo_refuses_to_start(tmp_path: Path) -> None:
    conf = tmp_path / "sentinel.conf"
    conf.write_text("\n".join([
        "protected-mode no", f"port {free_port()}",
        "sentinel monitor master1 127.0.0.1 6379 2",
        "sentinel auth-pass master1 shk9Hjwe",
        "sentinel down-after-milliseconds mymaster 5000",
        "sentinel parallel-syncs master1 1",
        "sentinel failover-timeout master1 30000"]) + "\n")
    out = subprocess.run([sys.executable, "-m", "redkeep", "sentinel", str(conf)],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path,
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 1
    text = out.stdout + out.stderr
    assert "*** FATAL CONFIG FILE ERROR" in text
    assert "at line 5" in text
    assert ">>> 'sentinel down-after-milliseconds mymaster 5000'" in text
    assert "No such master with specified name." in text
    assert "master1" in text.split(">>>", 1)[1]   # names the monitored master
