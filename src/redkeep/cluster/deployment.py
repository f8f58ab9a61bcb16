"""A local deployment: data nodes started as daemonized `redkeep server` processes.

Theory of operation
-------------------
`up()` lays out one directory per node under the deployment directory (its own
redis.conf, dir, pidfile and logfile, exactly what a person would write by hand
for redis-server), starts each node daemonized, waits with a deadline until every
node answers PING, and records what it started in `deployment.json`. `down()`
reads that file and stops each node by pid (SIGTERM, then SIGKILL after a
deadline). `status()` asks every node for INFO. Nothing here keeps running:
the processes are ordinary daemons, like redis-server started from a tutorial.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

STATE_FILE = "deployment.json"


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


@dataclass
class Deployment:
    root: str
    nodes: list[NodeSpec] = field(default_factory=list)

    def save(self) -> None:
        path = Path(self.root) / STATE_FILE
        path.write_text(json.dumps({"root": self.root, "nodes": [asdict(n) for n in self.nodes]},
                                   indent=2))

    @classmethod
    def load(cls, root: str) -> Deployment:
        data = json.loads((Path(root) / STATE_FILE).read_text())
        return cls(data["root"], [NodeSpec(**n) for n in data["nodes"]])


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


def write_node_config(node: NodeSpec, extra: list[str]) -> None:
    lines = [
        "# written by `redkeep up`",
        f"port {node.port}",
        "bind 127.0.0.1 -::1",
        "daemonize yes",
        f'pidfile "{node.pidfile}"',
        f'logfile "{node.logfile}"',
        f'dir "{node.dir}"',
        'save ""',
        "appendonly no",
        *extra,
    ]
    Path(node.config).write_text("\n".join(lines) + "\n")


def ping(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def start_node(node: NodeSpec, deadline_s: float = 15.0) -> None:
    cmd = [sys.executable, "-m", "redkeep", "server", node.config]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=deadline_s)
    if result.returncode != 0:
        raise RuntimeError(f"{node.name} did not start: {result.stderr.strip()}")
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if ping(node.port):
            node.pid = int(Path(node.pidfile).read_text().strip())
            return
        time.sleep(0.05)
    raise RuntimeError(f"{node.name} on port {node.port} did not answer PING in "
                       f"{deadline_s:.0f}s; see {node.logfile}")


def up(root: str, first_port: int = 6379, extra_config: list[str] | None = None) -> Deployment:
    rootp = Path(root).resolve()
    if (rootp / STATE_FILE).exists():
        raise RuntimeError(f"a deployment is already recorded in {rootp}; run `redkeep down` first")
    rootp.mkdir(parents=True, exist_ok=True)
    dep = Deployment(str(rootp))
    for i, port in enumerate(pick_ports(first_port, 1)):
        ndir = rootp / f"node-{port}"
        ndir.mkdir(exist_ok=True)
        dep.nodes.append(NodeSpec(
            name=f"node{i}", port=port, dir=str(ndir), pidfile=str(ndir / "redkeep.pid"),
            logfile=str(ndir / "redkeep.log"), config=str(ndir / "redis.conf")))
    try:
        for node in dep.nodes:
            write_node_config(node, extra_config or [])
            start_node(node)
    except Exception:
        stop_nodes(dep)
        raise
    dep.save()
    return dep


def stop_nodes(dep: Deployment, deadline_s: float = 10.0) -> list[str]:
    stopped = []
    for node in dep.nodes:
        pid = node.pid or _read_pid(node.pidfile)
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


def info(port: int, timeout: float = 1.0) -> dict[str, str]:
    """INFO of a node as a dict (empty when it does not answer)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"*1\r\n$4\r\nINFO\r\n")
            data = b""
            while not data.startswith(b"$") or data.count(b"\r\n") < 1:
                data += s.recv(65536)
            header, _, rest = data.partition(b"\r\n")
            if not header.startswith(b"$"):
                return {}
            size = int(header[1:])
            while len(rest) < size:
                chunk = s.recv(65536)
                if not chunk:
                    break
                rest += chunk
    except (OSError, ValueError):
        return {}
    fields = {}
    for line in rest[:size].decode(errors="replace").splitlines():
        if ":" in line and not line.startswith("#"):
            k, _, v = line.partition(":")
            fields[k] = v
    return fields
