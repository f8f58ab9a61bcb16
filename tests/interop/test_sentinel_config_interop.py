"""redkeep.sentinel.config against real redis-sentinel 7.0.15.

* bad sentinel.conf lines: the FATAL block equals what redis-sentinel prints on stderr
  (``--port 0`` is appended so a file that unexpectedly loads exits at once), except the
  unknown-master text, which redkeep extends on purpose with the monitored names;
* a file redkeep rewrote (known replicas, known sentinels, epochs, options) is accepted by
  redis-sentinel, which then reports that very state (SENTINEL MYID / MASTER / REPLICAS /
  SENTINELS);
* a file redis-sentinel rewrote after discovering a replica loads in redkeep with the same
  state, and redkeep's own rewrite of it keeps the real file's lines;
* SENTINEL SET / SENTINEL CONFIG SET error replies equal redkeep's pure functions'.

Every process is started by pid and stopped in the test (and swept at exit).
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from redkeep.sentinel.config import (
    SentinelConfig,
    config_set,
    rewrite,
    sentinel_set,
)
from redkeep.sentinel.instance import Replica, SentinelPeer
from redkeep.server.config import ConfigFileError
from support import procs
from support.procs import ServerProc, free_port, require_binary, wait_until

pytestmark = pytest.mark.interop

MYID = "fd435b0317150e21d34f520915f69fa254a7c253"
PEER = "2d5135056f4e03d14c01b94a5b6bfe7279ed5ca8"
M = "sentinel monitor m1 127.0.0.1 6379 2"

BAD_FILES = {
    "quorum-zero": ["sentinel monitor m 127.0.0.1 6379 0"],
    "quorum-word": ["sentinel monitor m 127.0.0.1 6379 x"],
    "unresolvable": ["sentinel monitor m nosuchhost.invalid 6379 2"],
    "hostname-without-resolve": ["sentinel monitor m localhost 6379 2"],
    "port-range": ["sentinel monitor m 127.0.0.1 70000 2"],
    "port-negative": ["sentinel monitor m 127.0.0.1 -1 2"],
    "duplicate-master": [M, "sentinel monitor m1 127.0.0.1 6380 2"],
    "monitor-arity": ["sentinel monitor m 127.0.0.1 6379"],
    "down-after-zero": [M, "sentinel down-after-milliseconds m1 0"],
    "down-after-word": [M, "sentinel down-after-milliseconds m1 abc"],
    "failover-timeout-negative": [M, "sentinel failover-timeout m1 -5"],
    "notification-missing": [M, "sentinel notification-script m1 /nonexistent-script"],
    "reconfig-missing": [M, "sentinel client-reconfig-script m1 /nonexistent-script"],
    "myid-short": [M, "sentinel myid abc"],
    "replica-duplicate": [M, "sentinel known-replica m1 127.0.0.1 6380",
                          "sentinel known-replica m1 127.0.0.1 6380"],
    "replica-port": [M, "sentinel known-replica m1 127.0.0.1 99999"],
    "sentinel-duplicate": [M, "sentinel known-sentinel m1 127.0.0.1 26380 aaaa",
                           "sentinel known-sentinel m1 127.0.0.1 26381 aaaa"],
    "rename-twice": [M, "sentinel rename-command m1 config c1",
                     "sentinel rename-command m1 CONFIG c2"],
    "reboot-negative": [M, "sentinel master-reboot-down-after-period m1 -1"],
    "deny-scripts-word": ["sentinel deny-scripts-reconfig maybe"],
    "resolve-word": ["sentinel resolve-hostnames maybe"],
    "announce-hostnames-word": ["sentinel announce-hostnames maybe"],
    "unknown-statement": ["sentinel foo bar"],
    "auth-pass-arity": [M, "sentinel auth-pass m1"],
    "pre-monitor-first": [M, M, "sentinel foo", "sentinel myid abc"],
    "server-line-first": ["sentinel foo", "port abc"],
    "unknown-master": ["sentinel down-after-milliseconds mymaster 5000", M],
    "unknown-master-case": [M, "sentinel parallel-syncs M1 2"],
}


def _real_stderr(path: Path) -> str:
    real = subprocess.run([require_binary("redis-sentinel"), str(path), "--port", "0"],
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=20,
                          cwd=path.parent)
    assert real.returncode == 1, real
    return real.stderr.decode("utf-8", "surrogateescape")


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_config_same_fatal_block(tmp_path: Path, name: str) -> None:
    path = tmp_path / "sentinel.conf"
    path.write_text("\n".join(BAD_FILES[name]) + "\n")
    real = _real_stderr(path)
    with pytest.raises(ConfigFileError) as info:
        SentinelConfig.from_argv([str(path), "--port", "0"])
    ours = str(info.value) + "\n"
    if name.startswith("unknown-master"):
        # our text = Redis's text + which masters are monitored (on purpose)
        assert real.endswith("No such master with specified name.\n")
        assert ours.startswith(real[:-1] + " '") and "monitored masters: m1." in ours
    else:
        assert ours == real


@contextlib.contextmanager
def real_sentinel(path: Path, port: int) -> Iterator[redis.Redis]:
    log = path.parent / "sentinel.log"
    proc = subprocess.Popen([require_binary("redis-sentinel"), str(path), "--port", str(port),
                             "--logfile", str(log)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT, cwd=path.parent)
    procs._LIVE[proc.pid] = proc
    client = redis.Redis(port=port, decode_responses=True, socket_timeout=5)
    try:
        wait_until(lambda: proc.poll() is not None or procs.ping(port), 20, what="redis-sentinel")
        assert proc.poll() is None, log.read_text() if log.exists() else "no log"
        yield client
    finally:
        client.close()
        procs._kill_pid(proc, term_timeout=5)
        procs._LIVE.pop(proc.pid, None)


def test_real_sentinel_accepts_a_file_redkeep_rewrote(tmp_path: Path) -> None:
    master_port, replica_port, peer_port = free_port(), free_port(), free_port()
    path = tmp_path / "sentinel.conf"
    path.write_text(f"# ours\nsentinel monitor mymaster 127.0.0.1 {master_port} 2\n"
                    "sentinel known-slave mymaster 127.0.0.1 1\n")
    cfg = SentinelConfig.load(str(path))
    m = cfg.masters["mymaster"]
    m.replicas = {("127.0.0.1", replica_port): Replica(("127.0.0.1", replica_port))}
    m.sentinels[PEER] = SentinelPeer(("127.0.0.1", peer_port), PEER)
    m.config_epoch, m.leader_epoch, m.leader = 3, 4, PEER
    assert sentinel_set(cfg, m, ["down-after-milliseconds", "1234", "failover-timeout", "9000",
                                 "parallel-syncs", "2", "auth-pass", "p w",
                                 "rename-command", "CONFIG", "cfg2"]).error is None
    assert config_set(cfg, "announce-port", "26999") == (None, False)
    rewrite(str(path), cfg, myid=MYID, current_epoch=5)
    port = free_port()
    with real_sentinel(path, port) as r:
        assert r.execute_command("SENTINEL", "MYID") == MYID
        info = r.sentinel_master("mymaster")
        assert (info["ip"], info["port"], info["quorum"]) == ("127.0.0.1", master_port, 2)
        assert (info["down-after-milliseconds"], info["failover-timeout"],
                info["parallel-syncs"], info["config-epoch"]) == (1234, 9000, 2, 3)
        assert [(s["ip"], s["port"]) for s in r.sentinel_slaves("mymaster")] == [
            ("127.0.0.1", replica_port)]
        assert [s["runid"] for s in r.sentinel_sentinels("mymaster")] == [PEER]
        assert r.execute_command("SENTINEL", "CONFIG", "GET", "announce-port") in (
            ["announce-port", "26999"], {"announce-port": "26999"})
        wait_until(lambda: "current-epoch 5" in path.read_text(), 10, what="real flush")
    text = path.read_text()
    assert text.startswith("# ours\n") and "sentinel current-epoch 5\n" in text
    assert 'sentinel auth-pass mymaster "p w"' in text or "sentinel auth-pass mymaster p w" in text


def _sentinel_part(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.startswith("sentinel ")]


def test_redkeep_loads_a_file_real_sentinel_rewrote(tmp_path: Path) -> None:
    master = ServerProc("redis").start()
    replica = ServerProc("redis", ["--replicaof", "127.0.0.1", str(master.port)]).start()
    try:
        path = tmp_path / "sentinel.conf"
        path.write_text(f"port 26379\nsentinel monitor mymaster 127.0.0.1 {master.port} 2\n"
                        "sentinel down-after-milliseconds mymaster 5000\n"
                        "sentinel parallel-syncs mymaster 1\n")
        port = free_port()
        with real_sentinel(path, port) as r:
            wait_until(lambda: "known-replica" in path.read_text(), 20, what="+slave flush")
            myid = r.execute_command("SENTINEL", "MYID")
        real_text = path.read_text()
    finally:
        replica.stop()
        master.stop()
    cfg = SentinelConfig.load(str(path))
    assert cfg.myid == myid and cfg.server.port == port
    m = cfg.masters["mymaster"]
    assert (m.addr, m.down_after_ms, m.parallel_syncs) == (("127.0.0.1", master.port), 5000, 1)
    assert list(m.replicas) == [("127.0.0.1", replica.port)]
    ours = tmp_path / "ours.conf"
    ours.write_text(real_text)
    cfg.server.config_file = str(ours)
    rewrite(str(ours), cfg)
    assert _sentinel_part(ours.read_text()) == _sentinel_part(real_text)
    assert "parallel-syncs" not in real_text   # the default went, in both
    assert ours.read_text().replace("\n\n", "\n") == real_text.replace("\n\n", "\n")


SET_CASES = [
    ["down-after-milliseconds", "0"], ["down-after-milliseconds", "x"],
    ["failover-timeout", "-1"], ["parallel-syncs", "0"], ["quorum", "2x"],
    ["master-reboot-down-after-period", "-1"], ["notification-script", "/nonexist"],
    ["client-reconfig-script", ""], ["rename-command", "CONFIG", ""],
    ["rename-command", "", "X"], ["foo", "bar"], ["quorum", "3", "parallel-syncs", "x"],
    ["quorum", "3", "parallel-syncs"],
]
CONFIG_SET_CASES = [
    ["foo", "bar"], ["loglevel", "debug"], ["announce-port", "abc"], ["announce-port", "-1"],
    ["announce-port", "70000"], ["announce-port", "+7"], ["resolve-hostnames", "maybe"],
    ["ANNOUNCE-PORT", "x"],
]


def test_set_errors_equal_real_sentinel(tmp_path: Path) -> None:
    path = tmp_path / "sentinel.conf"
    text = f"sentinel monitor m 127.0.0.1 {free_port()} 2\n"
    path.write_text(text)
    cfg = SentinelConfig.load(str(path))
    with real_sentinel(path, free_port()) as r:
        for args in SET_CASES:
            with pytest.raises(redis.ResponseError) as info:
                r.execute_command("SENTINEL", "SET", "m", *args)
            ours = sentinel_set(cfg, cfg.masters["m"], list(args)).error
            assert ours == "ERR " + str(info.value), args   # redis-py drops the "ERR "
        for args in CONFIG_SET_CASES:
            with pytest.raises(redis.ResponseError) as info:
                r.execute_command("SENTINEL", "CONFIG", "SET", *args)
            assert config_set(cfg, *args)[0] == "ERR " + str(info.value), args
