"""Client-visible failover outage: redkeep sentinels+servers vs redis-sentinel+redis-server.

For each repetition and each stack (interleaved, so machine noise hits both alike):
start a master and two replicas (requirepass/masterauth, config files) watched by three
sentinels (quorum 2, down-after-milliseconds 1000), wait until every sentinel knows the
whole group, then run a writer through redis-py's `Sentinel.master_for` (it re-discovers
the master on connection errors; errors are retried at once). Each writer step does
`INCR counter` then `SET seq:<n> <n>` and records the acknowledged replies with their
time. After a steady second the master is killed with SIGKILL; the writer keeps going
until writes have been acknowledged for a while on the new master.

  outage = first acknowledged write after the kill - last acknowledged write before it
  lost   = acknowledged `seq:<n>` keys missing on the new master
           + acknowledged increments the new master's counter does not contain

Run from the repo root: `python bench/failover_bench.py --reps 20` (`--reps 3` is quick).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.sentinel import Sentinel

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    _RUNNING,
    HOST,
    BenchError,
    Server,
    _child_env,
    ensure_cleanup_handlers,
    free_port,
    resolve_cmd,
    stop_server,
)

NAME = "mymaster"
PASSWORD = "bench-pass"
TARGET_OUTAGE_S = 1.5

STACKS = {
    "redkeep": ("python -m redkeep server", "python -m redkeep sentinel"),
    "redis": ("redis-server", "redis-sentinel"),
}


# --------------------------------------------------------------------------- processes


def _start(name: str, cmd: str, conf_lines: Sequence[str], port: int,
           password: str = "", timeout: float = 30.0) -> Server:
    """`<cmd> <conf>` in a private directory and session; poll PING until it answers."""
    ensure_cleanup_handlers()
    workdir = tempfile.TemporaryDirectory(prefix=f"failover-{name}-")
    conf = Path(workdir.name) / "node.conf"
    conf.write_text("\n".join([f"port {port}", "bind 127.0.0.1", f'dir "{workdir.name}"',
                               *conf_lines]) + "\n")
    argv = [*resolve_cmd(cmd), str(conf)]
    with open(Path(workdir.name) / "server.log", "wb") as log:
        proc = subprocess.Popen(argv, cwd=workdir.name, env=_child_env(),
                                stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(name, port, proc, workdir, argv)
    _RUNNING[proc.pid] = server
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            stop_server(server)
            raise BenchError(f"{name} exited with {proc.returncode}:\n{server.log_tail()}")
        try:
            with redis.Redis(HOST, port, password=password or None, socket_timeout=1) as r:
                if r.ping():
                    return server
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            tail = server.log_tail()
            stop_server(server)
            raise BenchError(f"{name} did not answer PING in {timeout:.0f}s:\n{tail}")
        time.sleep(0.05)


def _kill9(server: Server) -> None:
    os.kill(server.pid, signal.SIGKILL)
    server.proc.wait(10)


def _wait(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Stack:
    kind: str
    servers: list[Server] = field(default_factory=list)
    sentinels: list[Server] = field(default_factory=list)

    def start(self, down_after: int, failover_timeout: int) -> None:
        server_cmd, sentinel_cmd = STACKS[self.kind]
        auth = [f"requirepass {PASSWORD}", f"masterauth {PASSWORD}", 'save ""',
                "appendonly no", "repl-diskless-sync-delay 0", "protected-mode no"]
        mport = free_port()
        self.servers.append(_start(f"{self.kind}-master", server_cmd, auth, mport, PASSWORD))
        for i in range(2):
            self.servers.append(_start(f"{self.kind}-replica{i}", server_cmd,
                                       [*auth, f"replicaof 127.0.0.1 {mport}"], free_port(),
                                       PASSWORD))
        for i in range(3):
            self.sentinels.append(_start(f"{self.kind}-sentinel{i}", sentinel_cmd, [
                "protected-mode no",
                f"sentinel monitor {NAME} 127.0.0.1 {mport} 2",
                f"sentinel down-after-milliseconds {NAME} {down_after}",
                f"sentinel failover-timeout {NAME} {failover_timeout}",
                f"sentinel parallel-syncs {NAME} 1",
                f"sentinel auth-pass {NAME} {PASSWORD}"], free_port()))
        _wait(self._discovered, 60, f"{self.kind} sentinels discovering the group")

    def _discovered(self) -> bool:
        for s in self.sentinels:
            try:
                with redis.Redis(HOST, s.port, socket_timeout=2, decode_responses=True) as r:
                    m = r.sentinel_master(NAME)
            except redis.RedisError:
                return False
            if int(m.get("num-slaves", 0)) != 2 or int(m.get("num-other-sentinels", 0)) != 2:
                return False
        return all(self._linked(r) for r in self.servers[1:])

    def _linked(self, server: Server) -> bool:
        try:
            with redis.Redis(HOST, server.port, password=PASSWORD, socket_timeout=2) as r:
                return r.info("replication").get("master_link_status") == "up"
        except redis.RedisError:
            return False

    def sentinel_addrs(self) -> list[tuple[str, int]]:
        return [(HOST, s.port) for s in self.sentinels]

    def agreed_master(self) -> int | None:
        ports = set()
        for s in self.sentinels:
            try:
                with redis.Redis(HOST, s.port, socket_timeout=2) as r:
                    addr = r.sentinel_get_master_addr_by_name(NAME)
            except redis.RedisError:
                return None
            ports.add(int(addr[1]) if addr else None)
        return ports.pop() if len(ports) == 1 else None

    def stop(self) -> None:
        for s in [*self.sentinels, *self.servers]:
            try:
                stop_server(s)
            except Exception as e:  # keep stopping the others
                print(f"warning: stopping {s.name}: {e}", file=sys.stderr)


# --------------------------------------------------------------------------- writer


@dataclass
class Writer:
    """Sequential INCR + SET through Sentinel.master_for; acknowledged ops with times."""

    sentinels: list[tuple[str, int]]
    acks: list[tuple[float, int, int]] = field(default_factory=list)  # (t, seq, incr)
    errors: int = 0
    stop_flag: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        client = Sentinel(self.sentinels, socket_timeout=0.5, socket_connect_timeout=0.5)
        master = client.master_for(NAME, socket_timeout=0.5, socket_connect_timeout=0.5,
                                   password=PASSWORD, retry_on_timeout=False)
        seq = 0
        while not self.stop_flag.is_set():
            seq += 1
            try:
                incr = int(master.incr("counter"))
                master.set(f"seq:{seq}", seq)
                self.acks.append((time.monotonic(), seq, incr))
            except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError,
                    redis.ResponseError, OSError):
                # Not acknowledged (a failed SET after an acknowledged INCR is counted
                # through the counter only).
                self.errors += 1
                time.sleep(0.002)


@dataclass
class Result:
    kind: str
    outage_s: float
    lost: int
    acked: int
    errors: int
    failover_s: float


def _lost_writes(port: int, acks: list[tuple[float, int, int]], t_kill: float) -> int:
    with redis.Redis(HOST, port, password=PASSWORD, socket_timeout=10) as r:
        seqs = [seq for _, seq, _ in acks]
        missing = 0
        for i in range(0, len(seqs), 1000):
            chunk = seqs[i:i + 1000]
            values = r.mget([f"seq:{s}" for s in chunk])
            missing += sum(1 for v in values if v is None)
        before = [incr for t, _, incr in acks if t <= t_kill]
        after = [incr for t, _, incr in acks if t > t_kill]
        # Increments acknowledged by the old master that the new one does not have:
        lost_incr = max(0, before[-1] - (after[0] - 1)) if before and after else 0
        return missing + lost_incr


def _keep_logs(stack: Stack, dest: Path, t_kill_wall: float) -> None:
    """Copy every process's log to dest (for a rep over the target), with the kill time."""
    import shutil
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "kill-time").write_text(f"{t_kill_wall:.3f}\n")
    for s in [*stack.servers, *stack.sentinels]:
        if s.log_path.exists():
            shutil.copy(s.log_path, dest / f"{s.name}.log")


def run_once(kind: str, down_after: int, failover_timeout: int, steady_s: float,
             after_s: float, keep_logs: Path | None = None) -> Result:
    stack = Stack(kind)
    t_kill_wall = 0.0
    result: Result | None = None
    try:
        stack.start(down_after, failover_timeout)
        writer = Writer(stack.sentinel_addrs())
        thread = threading.Thread(target=writer.run, daemon=True)
        thread.start()
        _wait(lambda: len(writer.acks) > 0 and
              writer.acks[-1][0] - writer.acks[0][0] >= steady_s, 30, "a steady writer")
        old_port = stack.servers[0].port
        _kill9(stack.servers[0])
        t_kill, t_kill_wall = time.monotonic(), time.time()   # after the kill is complete: later acks are the new master's
        _wait(lambda: (stack.agreed_master() or old_port) != old_port, 120,
              f"{kind} sentinels agreeing on a new master")
        failover_s = time.monotonic() - t_kill
        _wait(lambda: writer.acks and writer.acks[-1][0] > t_kill and
              time.monotonic() - min(t for t, _, _ in writer.acks if t > t_kill) >= after_s,
              120, f"{kind} writes resuming")
        writer.stop_flag.set()
        thread.join(10)
        acks = writer.acks
        before = [t for t, _, _ in acks if t <= t_kill]
        after = [t for t, _, _ in acks if t > t_kill]
        outage = after[0] - before[-1]
        new_port = stack.agreed_master()
        if new_port is None:
            raise BenchError("sentinels disagree after the failover")
        lost = _lost_writes(new_port, acks, t_kill)
        result = Result(kind, outage, lost, len(acks), writer.errors, failover_s)
        return result
    finally:
        if keep_logs is not None and result is not None and \
                (result.outage_s > TARGET_OUTAGE_S or result.lost):
            _keep_logs(stack, keep_logs / f"{kind}-{time.strftime('%H%M%S')}", t_kill_wall)
        stack.stop()


# --------------------------------------------------------------------------- report


def _table(results: dict[str, list[Result]]) -> str:
    header = ("| stack | reps | outage median (s) | outage worst (s) | failover median (s) "
              "| lost writes (total / worst rep) | acked writes | target |")
    lines = [header, "| --- " * 8 + "|"]
    for kind, rs in results.items():
        if not rs:
            continue
        outages = [r.outage_s for r in rs]
        worst = max(outages)
        lost_total, lost_worst = sum(r.lost for r in rs), max(r.lost for r in rs)
        target = ("met" if worst <= TARGET_OUTAGE_S and lost_total == 0 else "NOT met") \
            if kind == "redkeep" else "reference"
        lines.append(
            f"| {kind} | {len(rs)} | {statistics.median(outages):.3f} | {worst:.3f} | "
            f"{statistics.median(r.failover_s for r in rs):.3f} | {lost_total} / {lost_worst} | "
            f"{sum(r.acked for r in rs)} | {target} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=20, help="repetitions per stack (default 20)")
    ap.add_argument("--stacks", default="redkeep,redis",
                    help="comma-separated: redkeep, redis (default both)")
    ap.add_argument("--down-after", type=int, default=1000,
                    help="sentinel down-after-milliseconds (default 1000)")
    ap.add_argument("--failover-timeout", type=int, default=10000)
    ap.add_argument("--steady", type=float, default=1.0,
                    help="seconds of writes before the kill (default 1)")
    ap.add_argument("--after", type=float, default=1.0,
                    help="seconds of writes on the new master before stopping (default 1)")
    ap.add_argument("--keep-logs", type=Path, default=None, metavar="DIR",
                    help="save every process's log of reps over the target in DIR")
    args = ap.parse_args(argv)
    kinds = [k.strip() for k in args.stacks.split(",") if k.strip()]
    for k in kinds:
        if k not in STACKS:
            ap.error(f"unknown stack {k!r}")
    results: dict[str, list[Result]] = {k: [] for k in kinds}
    for rep in range(args.reps):
        for kind in kinds:
            r = run_once(kind, args.down_after, args.failover_timeout, args.steady, args.after,
                         args.keep_logs)
            results[kind].append(r)
            print(f"rep {rep + 1}/{args.reps} {kind:8s} outage {r.outage_s:.3f}s "
                  f"failover {r.failover_s:.3f}s lost {r.lost} acked {r.acked} "
                  f"errors {r.errors}", flush=True)
    print()
    print(f"down-after-milliseconds {args.down_after}, kill -9 of the master, writer via "
          f"redis-py Sentinel.master_for (INCR + SET seq:<n>); outage target "
          f"<= {TARGET_OUTAGE_S} s and 0 lost")
    print(_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
