"""A local deployment: a replication group of daemonized data nodes.

Theory of operation
-------------------
`up()` turns a `Topology` (flags or a small YAML file) into processes: one directory
per node under the deployment directory with its own redis.conf, dir, pidfile and
logfile — exactly what a person would write by hand for redis-server — then starts
the master and the replicas (`replicaof <master>`, `masterauth` when a password is
set), each daemonized, and waits with a deadline until every node answers and every
replica reports `master_link_status:up`. What it started is recorded in
`deployment.json`; `down()` reads that file and stops each node by pid (SIGTERM, then
SIGKILL after a deadline); `status()` rows come from each node's INFO. Nothing here
keeps running: the processes are ordinary daemons, like redis-server started from a
tutorial. A topology may run real `redis-server` binaries as the data nodes
(`server: redis-server`): redkeep's control plane does not care which it manages.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "deployment.json"


@dataclass
class Topology:
    """What `redkeep up` starts: a master and `replicas` replicas on consecutive ports,
    and `sentinels` sentinels (from `sentinel_port`) monitoring them as `master_name`."""
    port: int = 6379
    replicas: int = 2
    requirepass: str = ""
    server: str = "redkeep"           # or the path/name of a redis-server binary
    config: list[str] = field(default_factory=list)   # extra redis.conf lines for every node
    sentinels: int = 3
    sentinel_port: int = 26379
    quorum: int = 2
    master_name: str = "mymaster"
    down_after_ms: int = 5000
    failover_timeout_ms: int = 60000
    sentinel: str = "redkeep"         # or the path/name of a redis-sentinel binary

    @classmethod
    def from_file(cls, path: str) -> Topology:
        """YAML: port, replicas, requirepass, server, config (list of redis.conf lines)."""
        import yaml

        data = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a topology file is a mapping (port, replicas, ...)")
        known = {"port", "replicas", "requirepass", "server", "config", "sentinels",
                 "sentinel_port", "quorum", "master_name", "down_after_ms",
                 "failover_timeout_ms", "sentinel"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{path}: unknown key(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(known))}")
        topo = cls(**data)
        topo.validate(path)
        return topo

    def validate(self, where: str = "topology") -> None:
        if not isinstance(self.port, int) or not 1 <= self.port <= 65535:
            raise ValueError(f"{where}: port must be 1..65535, got {self.port!r}")
        if not isinstance(self.replicas, int) or not 0 <= self.replicas <= 16:
            raise ValueError(f"{where}: replicas must be 0..16, got {self.replicas!r}")
        if not isinstance(self.config, list) or not all(isinstance(x, str) for x in self.config):
            raise ValueError(f"{where}: config must be a list of redis.conf lines")
        if not isinstance(self.sentinels, int) or not 0 <= self.sentinels <= 9:
            raise ValueError(f"{where}: sentinels must be 0..9, got {self.sentinels!r}")
        if self.sentinels and not 1 <= self.quorum <= self.sentinels:
            raise ValueError(f"{where}: quorum must be 1..sentinels ({self.sentinels}), "
                             f"got {self.quorum!r}")
        if not self.master_name or any(c in self.master_name for c in " \t\"'"):
            raise ValueError(f"{where}: master_name must be a plain word")


@dataclass
class NodeSpec:
    name: str
    port: int
    role: str = "master"
    dir: str = ""
    pidfile: str = ""
    logfile: str = ""
    config: str = ""
    pid: int = 0
    server: str = "redkeep"
    kind: str = "server"              # "server" or "sentinel"


@dataclass
class Deployment:
    root: str
    nodes: list[NodeSpec] = field(default_factory=list)
    requirepass: str = ""
    master_name: str = "mymaster"

    def save(self) -> None:
        path = Path(self.root) / STATE_FILE
        path.write_text(json.dumps({"root": self.root, "requirepass": self.requirepass,
                                    "master_name": self.master_name,
                                    "nodes": [asdict(n) for n in self.nodes]}, indent=2))

    @classmethod
    def load(cls, root: str) -> Deployment:
        data = json.loads((Path(root) / STATE_FILE).read_text())
        return cls(data["root"], [NodeSpec(**n) for n in data["nodes"]],
                   data.get("requirepass", ""), data.get("master_name", "mymaster"))


# ---- Talking to nodes ----

def command(port: int, *args: str, password: str = "", timeout: float = 1.0) -> Any:
    """One command to 127.0.0.1:port (after AUTH when a password is given); the reply
    as str / int / list / None, an error as a str starting with '-'. Raises OSError."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        f = s.makefile("rb")
        if password:
            s.sendall(_encode(["AUTH", password]))
            _read_reply(f)
        s.sendall(_encode(list(args)))
        return _read_reply(f)


def _encode(args: list[str]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def _read_reply(f: Any) -> Any:
    line = f.readline()
    if not line:
        raise OSError("connection closed")
    kind, rest = line[:1], line[1:-2].decode(errors="replace")
    if kind == b"+":
        return rest
    if kind == b"-":
        return "-" + rest
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2].decode(errors="replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise OSError(f"unexpected reply {line[:40]!r}")


def info(port: int, password: str = "", timeout: float = 1.0) -> dict[str, str]:
    """INFO of a node as a dict (empty when it does not answer)."""
    try:
        text = command(port, "INFO", password=password, timeout=timeout)
    except (OSError, ValueError):
        return {}
    if not isinstance(text, str) or text.startswith("-"):
        return {}
    fields = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            k, _, v = line.partition(":")
            fields[k] = v
    return fields


def ping(port: int, timeout: float = 0.5) -> bool:
    try:
        reply = command(port, "PING", timeout=timeout)
    except OSError:
        return False
    return reply == "PONG" or (isinstance(reply, str) and reply.startswith("-NOAUTH"))


# ---- Starting ----

def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_ports(first: int, count: int) -> list[int]:
    ports: list[int] = []
    port = first
    while len(ports) < count and port < 65535:
        if port_is_free(port):
            ports.append(port)
        port += 1
    return ports


def _process_lines(node: NodeSpec) -> list[str]:
    """What every daemon `up` starts has: its port, loopback, its pidfile, log and dir."""
    return ["# written by `redkeep up`", f"port {node.port}", "bind 127.0.0.1 -::1",
            "daemonize yes", f'pidfile "{node.pidfile}"', f'logfile "{node.logfile}"',
            f'dir "{node.dir}"']


def write_node_config(node: NodeSpec, extra: list[str]) -> None:
    lines = [*_process_lines(node), 'save ""', "appendonly no", *extra]
    Path(node.config).write_text("\n".join(lines) + "\n")


def server_command(node: NodeSpec) -> list[str]:
    if node.server == "redkeep":
        return [sys.executable, "-m", "redkeep", node.kind, node.config]
    binary = shutil.which(node.server) or node.server
    return [binary, node.config]


def write_sentinel_config(node: NodeSpec, master: NodeSpec, topo: Topology) -> None:
    name = topo.master_name
    lines = [
        *_process_lines(node),
        f"sentinel monitor {name} 127.0.0.1 {master.port} {topo.quorum}",
        f"sentinel down-after-milliseconds {name} {topo.down_after_ms}",
        f"sentinel failover-timeout {name} {topo.failover_timeout_ms}",
        f"sentinel parallel-syncs {name} 1",
    ]
    if topo.requirepass:
        lines.append(f'sentinel auth-pass {name} "{topo.requirepass}"')
    Path(node.config).write_text("\n".join(lines) + "\n")


def wait_for(node: NodeSpec, ready: Any, what: str, deadline_s: float) -> None:
    """Poll `ready()` until it is true; RuntimeError naming the node and its log if not."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{node.name} on port {node.port} did not {what} in "
                       f"{deadline_s:.0f}s; see {node.logfile}")


def start_node(node: NodeSpec, deadline_s: float = 15.0) -> None:
    result = subprocess.run(server_command(node), capture_output=True, text=True,
                            timeout=deadline_s)
    if result.returncode != 0:
        raise RuntimeError(f"{node.name} did not start: "
                           f"{(result.stderr or result.stdout).strip()}")

    def answering() -> bool:
        node.pid = _read_pid(node.pidfile) if ping(node.port) else 0
        return bool(node.pid)

    wait_for(node, answering, "answer PING", deadline_s)


def wait_linked(node: NodeSpec, password: str, deadline_s: float = 30.0) -> None:
    """Until a replica reports master_link_status:up."""
    wait_for(node, lambda: info(node.port, password).get("master_link_status") == "up",
             "link to its master", deadline_s)


def wait_sentinel_ready(node: NodeSpec, topo: Topology, deadline_s: float = 30.0) -> None:
    """Until the sentinel knows every replica and every other sentinel of the group."""
    def discovered() -> bool:
        try:
            m = command(node.port, "SENTINEL", "MASTER", topo.master_name)
        except OSError:
            return False
        if not isinstance(m, list):
            return False
        d = dict(zip(m[::2], m[1::2], strict=False))
        return int(d.get("num-slaves", -1)) >= topo.replicas and \
            int(d.get("num-other-sentinels", -1)) >= topo.sentinels - 1

    wait_for(node, discovered, "discover the group", deadline_s)


def plan(root: Path, topo: Topology) -> Deployment:
    dep = Deployment(str(root), requirepass=topo.requirepass, master_name=topo.master_name)
    ports = pick_ports(topo.port, 1 + topo.replicas)
    if len(ports) < 1 + topo.replicas:
        raise RuntimeError(f"not enough free ports from {topo.port}")
    for i, port in enumerate(ports):
        ndir = root / f"node-{port}"
        ndir.mkdir(exist_ok=True)
        dep.nodes.append(NodeSpec(
            name="master" if i == 0 else f"replica{i}", port=port,
            role="master" if i == 0 else "replica", dir=str(ndir),
            pidfile=str(ndir / "redkeep.pid"), logfile=str(ndir / "redkeep.log"),
            config=str(ndir / "redis.conf"), server=topo.server))
    sports = pick_ports(max(topo.sentinel_port, ports[-1] + 1), topo.sentinels)
    if len(sports) < topo.sentinels:
        raise RuntimeError(f"not enough free ports from {topo.sentinel_port}")
    for i, port in enumerate(sports):
        sdir = root / f"sentinel-{port}"
        sdir.mkdir(exist_ok=True)
        dep.nodes.append(NodeSpec(
            name=f"sentinel{i + 1}", port=port, role="sentinel", dir=str(sdir),
            pidfile=str(sdir / "sentinel.pid"), logfile=str(sdir / "sentinel.log"),
            config=str(sdir / f"sentinel-{port}.conf"), server=topo.sentinel, kind="sentinel"))
    return dep


def node_config_lines(node: NodeSpec, master: NodeSpec, topo: Topology) -> list[str]:
    extra = []
    if topo.requirepass:
        extra += [f'requirepass "{topo.requirepass}"', f'masterauth "{topo.requirepass}"']
    if node.role == "replica":
        extra.append(f"replicaof 127.0.0.1 {master.port}")
    return extra + topo.config


def up(root: str, topo: Topology | None = None) -> Deployment:
    topo = topo or Topology()
    topo.validate()
    rootp = Path(root).resolve()
    if (rootp / STATE_FILE).exists():
        raise RuntimeError(f"a deployment is already recorded in {rootp}; run `redkeep down` first")
    rootp.mkdir(parents=True, exist_ok=True)
    dep = plan(rootp, topo)
    master = dep.nodes[0]
    data = [n for n in dep.nodes if n.kind == "server"]
    try:
        for node in data:
            write_node_config(node, node_config_lines(node, master, topo))
            start_node(node)
        for node in data[1:]:
            wait_linked(node, topo.requirepass)
        for node in dep.nodes:
            if node.kind == "sentinel":
                write_sentinel_config(node, master, topo)
                start_node(node)
        for node in dep.nodes:
            if node.kind == "sentinel":
                wait_sentinel_ready(node, topo)
    except Exception:
        stop_nodes(dep)
        raise
    dep.save()
    return dep


# ---- Stopping ----

def stop_nodes(dep: Deployment, deadline_s: float = 10.0) -> list[str]:
    stopped = []
    for node in reversed(dep.nodes):
        pid = _read_pid(node.pidfile) or node.pid   # a node restarted since `up` has a new pid
        if not pid:
            continue
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        stopped.append(f"{node.name} (pid {pid}, port {node.port})")
    return stopped


def down(root: str) -> list[str]:
    dep = Deployment.load(root)
    stopped = stop_nodes(dep)
    (Path(dep.root) / STATE_FILE).unlink()
    return stopped


def _read_pid(path: str) -> int:
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


# ---- Status ----

@dataclass
class NodeStatus:
    name: str
    address: str
    pid: int
    up: bool
    role: str = "?"
    master: str = ""
    link: str = ""
    offset: int = -1
    lag: str = ""
    keys: int = 0
    clients: str = "?"
    memory: str = "?"


def status(dep: Deployment) -> list[NodeStatus]:
    """One row per node from its INFO; a replica's lag is in bytes behind its master's
    offset (and the master's view of its ACK age in seconds)."""
    infos = {n.port: info(n.port, dep.requirepass) for n in dep.nodes if n.kind == "server"}
    offsets = {port: int(f.get("master_repl_offset", -1)) for port, f in infos.items() if f}
    acks = {}
    for f in infos.values():
        for k, v in f.items():
            if k.startswith("slave") and k[5:].isdigit():
                d = dict(p.split("=", 1) for p in v.split(","))
                acks[int(d.get("port", 0))] = d.get("lag", "?")
    rows = []
    for n in dep.nodes:
        if n.kind != "server":
            continue
        f = infos[n.port]
        row = NodeStatus(n.name, f"127.0.0.1:{n.port}", n.pid, bool(f))
        if f:
            row.role = f.get("role", "?")
            row.offset = int(f.get("master_repl_offset", -1))
            row.keys = sum(int(v.split(",")[0].split("=")[1]) for k, v in f.items()
                           if k.startswith("db") and "keys=" in v)
            row.clients = f.get("connected_clients", "?")
            row.memory = f.get("used_memory_human", "?")
            if row.role == "slave":
                mport = int(f.get("master_port", 0))
                row.master = f"{f.get('master_host', '?')}:{mport}"
                row.link = f.get("master_link_status", "?")
                behind = offsets.get(mport, row.offset) - row.offset
                row.lag = f"{behind} B / {acks.get(n.port, '?')} s"
        rows.append(row)
    return rows


@dataclass
class SentinelStatus:
    name: str
    address: str
    pid: int
    up: bool
    epoch: str = "?"
    master: str = "?"
    flags: str = "?"
    replicas: str = "?"
    sentinels: str = "?"


def sentinel_status(dep: Deployment) -> list[SentinelStatus]:
    """Each sentinel's view of the group: its epoch, the master address, the flags."""
    rows = []
    for n in dep.nodes:
        if n.kind != "sentinel":
            continue
        row = SentinelStatus(n.name, f"127.0.0.1:{n.port}", n.pid, False)
        try:
            m = command(n.port, "SENTINEL", "MASTER", dep.master_name)
            fields = info(n.port)
        except OSError:
            m = None
            fields = {}
        if isinstance(m, list):
            d = dict(zip(m[::2], m[1::2], strict=False))
            row.up = True
            row.master = f"{d.get('ip')}:{d.get('port')}"
            row.flags = d.get("flags", "?")
            row.replicas = d.get("num-slaves", "?")
            row.sentinels = str(int(d.get("num-other-sentinels", 0)) + 1)
            row.epoch = d.get("config-epoch", "?")
        row.up = row.up or bool(fields)
        rows.append(row)
    return rows
