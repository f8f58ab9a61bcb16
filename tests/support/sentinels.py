"""Sentinel groups for integration, interop tests and the failover bench.

Theory of operation: a `ConfServer` is a `ServerProc` started from a redis.conf file it
writes itself (`redis-server <file>`, so CONFIG REWRITE — which Sentinel sends with
SLAVEOF — has a file to rewrite). A `SentinelProc` is a redkeep sentinel
(`python -m redkeep sentinel <file>`) or a real `redis-sentinel <file>`, started from a
sentinel-<port>.conf it writes; both kinds are tracked by pid in procs' registry and
swept at exit. `Group` builds seed 001's topology — a master, replicas with
requirepass/masterauth, sentinels with quorum and auth-pass — with any mix of kinds, and
offers the polling helpers the tests need (wait for discovery, wait for a new master,
read the rewritten files). Nothing here sleeps to synchronise: every wait is a poll with
a deadline.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis

from support.procs import HOST, ServerProc, free_port, wait_until

MASTER_NAME = "mymaster"
PASSWORD = "123456"


class ConfServer(ServerProc):
    """A redis-server / redkeep server started as `<exe> <dir>/redis-<port>.conf`."""

    def __init__(self, kind: str, lines: Sequence[str], *, dir: Path, port: int,
                 password: str = "", start_timeout: float = 30.0) -> None:
        super().__init__(kind, dir=dir, port=port, password=password,
                         start_timeout=start_timeout)
        self._own_dir = False
        self.conf_path = self.dir / f"redis-{port}.conf"
        base = [f"port {port}", "bind 127.0.0.1", f'dir "{self.dir}"', 'save ""',
                "appendonly no", "repl-diskless-sync-delay 0", "enable-debug-command yes",
                f"dbfilename dump-{port}.rdb", "protected-mode no"]
        self.conf_path.write_text("\n".join([*base, *lines]) + "\n")

    def command_line(self) -> list[str]:
        if self.is_real_redis:
            return [shutil.which("redis-server") or "redis-server", str(self.conf_path)]
        return [sys.executable, "-m", "redkeep", "server", str(self.conf_path)]

    def client(self, **kw) -> redis.Redis:
        return redis.Redis(HOST, self.port, password=self.password or None,
                           socket_timeout=kw.pop("socket_timeout", 5), **kw)

    def info(self, section: str = "replication") -> dict:
        with self.client() as r:
            return r.info(section)

    def conf_text(self) -> str:
        return self.conf_path.read_text()


class SentinelProc(ServerProc):
    """A sentinel: kind "redkeep" (`python -m redkeep sentinel`) or "redis" (redis-sentinel)."""

    def __init__(self, kind: str, lines: Sequence[str], *, dir: Path, port: int,
                 start_timeout: float = 30.0) -> None:
        super().__init__(kind, dir=dir, port=port, start_timeout=start_timeout)
        self._own_dir = False
        self.conf_path = self.dir / f"sentinel-{port}.conf"
        self.log_path = self.dir / f"sentinel-{port}.log"
        base = [f"port {port}", "bind 127.0.0.1", f'dir "{self.dir}"', "protected-mode no",
                "loglevel verbose"]
        self.conf_path.write_text("\n".join([*base, *lines]) + "\n")

    def command_line(self) -> list[str]:
        if self.kind == "redis":
            return [shutil.which("redis-sentinel") or "redis-sentinel", str(self.conf_path)]
        return [sys.executable, "-m", "redkeep", "sentinel", str(self.conf_path)]

    def client(self, **kw) -> redis.Redis:
        return redis.Redis(HOST, self.port, socket_timeout=kw.pop("socket_timeout", 5),
                           decode_responses=kw.pop("decode_responses", True), **kw)

    def call(self, *args):
        with self.client() as r:
            return r.execute_command(*args)

    def master_addr(self, name: str = MASTER_NAME) -> tuple[str, int] | None:
        try:
            reply = self.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
        except (redis.RedisError, OSError):
            return None
        return (reply[0], int(reply[1])) if reply else None

    def master_state(self, name: str = MASTER_NAME) -> dict:
        return self.call("SENTINEL", "MASTER", name)

    def conf_text(self) -> str:
        return self.conf_path.read_text()


def sentinel_lines(master_port: int, quorum: int = 2, down_after: int = 1000,
                   failover_timeout: int = 10000, password: str = PASSWORD,
                   name: str = MASTER_NAME, extra: Sequence[str] = ()) -> list[str]:
    lines = [f"sentinel monitor {name} 127.0.0.1 {master_port} {quorum}",
             f"sentinel down-after-milliseconds {name} {down_after}",
             f"sentinel failover-timeout {name} {failover_timeout}",
             f"sentinel parallel-syncs {name} 1"]
    if password:
        lines.append(f"sentinel auth-pass {name} {password}")
    return lines + list(extra)


@dataclass
class Group:
    """Seed 001's topology: master + replicas (servers) watched by sentinels."""

    server_kinds: Sequence[str] = ("redkeep", "redkeep", "redkeep")
    sentinel_kinds: Sequence[str] = ("redkeep", "redkeep", "redkeep")
    quorum: int = 2
    down_after: int = 1000
    failover_timeout: int = 10000
    password: str = PASSWORD
    sentinel_extra: Sequence[str] = ()
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sentinel-grp-")))
    servers: list[ConfServer] = field(default_factory=list)
    sentinels: list[SentinelProc] = field(default_factory=list)

    # ---- building ----

    def server_auth_lines(self) -> list[str]:
        if not self.password:
            return []
        return [f"requirepass {self.password}", f"masterauth {self.password}"]

    def start(self, wait_discovery: bool = True) -> Group:
        ports = []
        while len(ports) < len(self.server_kinds):
            p = free_port()
            if p not in ports:
                ports.append(p)
        for i, kind in enumerate(self.server_kinds):
            lines = self.server_auth_lines() + ["replica-read-only yes"]
            if i:
                lines.append(f"replicaof 127.0.0.1 {ports[0]}")
            d = self.root / f"server-{ports[i]}"
            d.mkdir(parents=True, exist_ok=True)
            self.servers.append(ConfServer(kind, lines, dir=d, port=ports[i],
                                           password=self.password))
        for s in self.servers:
            s.start()
        for r in self.servers[1:]:
            wait_until(lambda r=r: r.info().get("master_link_status") == "up", 30,
                       interval=0.05, what=f"replica {r.port} linked")
        for kind in self.sentinel_kinds:
            self.add_sentinel(kind)
        if wait_discovery:
            self.wait_discovery()
        return self

    def add_sentinel(self, kind: str, extra: Sequence[str] = ()) -> SentinelProc:
        port = free_port()
        d = self.root / f"sentinel-{port}"
        d.mkdir(parents=True, exist_ok=True)
        lines = sentinel_lines(self.master.port, self.quorum, self.down_after,
                               self.failover_timeout, self.password,
                               extra=[*self.sentinel_extra, *extra])
        s = SentinelProc(kind, lines, dir=d, port=port)
        s.start()
        self.sentinels.append(s)
        return s

    @property
    def master(self) -> ConfServer:
        return self.servers[0]

    def server_at(self, port: int) -> ConfServer:
        return next(s for s in self.servers if s.port == port)

    # ---- waiting ----

    def wait_discovery(self, timeout: float = 40.0) -> None:
        """Every sentinel knows every replica and every other sentinel."""
        want_r, want_s = len(self.servers) - 1, len(self.sentinels) - 1

        def ready() -> bool:
            for s in self.sentinels:
                try:
                    m = s.master_state()
                except (redis.RedisError, OSError):
                    return False
                if int(m["num-slaves"]) < want_r or int(m["num-other-sentinels"]) < want_s:
                    return False
            return True

        wait_until(ready, timeout, interval=0.1, what="sentinels discovering the group")

    def wait_new_master(self, old_port: int, timeout: float = 60.0,
                        sentinels: Sequence[SentinelProc] | None = None) -> int:
        """All (given) sentinels report the same master address, other than old_port."""
        who = list(sentinels if sentinels is not None else self.sentinels)

        def agreed() -> int | None:
            addrs = {s.master_addr() for s in who}
            if len(addrs) == 1:
                (addr,) = addrs
                if addr is not None and addr[1] != old_port:
                    return addr[1]
            return None

        return wait_until(agreed, timeout, interval=0.1, what="sentinels agreeing on a new master")

    # ---- teardown / diagnostics ----

    def stop(self) -> None:
        for p in [*self.sentinels, *self.servers]:
            p.stop(term_timeout=5.0, remove_dir=False)
        if os.environ.get("REDKEEP_KEEP_LOGS") is None:
            shutil.rmtree(self.root, ignore_errors=True)

    def describe(self) -> str:
        out = []
        for p in [*self.sentinels, *self.servers]:
            out.append(f"{p!r}\n{p.describe_log(40)}")
        return "\n".join(out)

    def __enter__(self) -> Group:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def kill9(proc: ServerProc) -> None:
    """kill -9 by pid, and reap it (the process stays registered for nothing)."""
    assert proc.proc is not None
    os.kill(proc.proc.pid, 9)
    proc.proc.wait(timeout=10)
    proc._forget()


def wait_role(server: ConfServer, role: str, master_port: int | None = None,
              timeout: float = 30.0) -> dict:
    def check() -> dict | None:
        try:
            info = server.info()
        except (redis.RedisError, OSError):
            return None
        if info.get("role") != role:
            return None
        if master_port is not None and (int(info.get("master_port", -1)) != master_port
                                        or info.get("master_link_status") != "up"):
            return None
        return info

    return wait_until(check, timeout, interval=0.05,
                      what=f"{server.port} becoming {role} of {master_port}")


def now() -> float:
    return time.monotonic()
