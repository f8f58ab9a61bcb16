"""Side-by-side replication benchmark: a redkeep master/replica pair vs a redis-server pair.

For each pair, in the same run:

1. full sync: the master gets `DEBUG POPULATE <keys>` plus some containers (hashes,
   lists, sets, sorted sets); the replica is told `REPLICAOF`; we time until its
   `master_link_status:up`, then check that DEBUG DIGEST is equal on both sides (the
   digest is verified, and reported, separately: computing it is not replication);
2. lag under load: `redis-benchmark -t set -P 16` against the master while sampling,
   every 20 ms, master_repl_offset minus the replica's offset (both the replica's own
   processed `slave_repl_offset` and the offset it acked to the master with REPLCONF
   ACK, which only moves once a second); reports max / p99 in bytes and the time the
   replica needs to catch up once the load ends.

Run from the repo root: `python bench/replication_bench.py --help`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    DEFAULT_REDIS_CMD,
    DEFAULT_REDKEEP_CMD,
    BenchError,
    Connection,
    Server,
    encode_command,
    fmt_ratio,
    ratio,
    server_version,
    start_server,
    stop_server,
)

POLL = 0.02

# --------------------------------------------------------------------------- INFO


def parse_info(raw: object) -> dict[str, str]:
    if isinstance(raw, BenchError):
        raise raw
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def info(conn: Connection, section: str = "replication") -> dict[str, str]:
    return parse_info(conn.call("INFO", section))


def acked_offset(master_info: dict[str, str]) -> int | None:
    """The offset slave0 acked (REPLCONF ACK), from the master's INFO."""
    line = master_info.get("slave0")
    if not line:
        return None
    fields = dict(kv.split("=", 1) for kv in line.split(","))
    return int(fields["offset"])


def wait_for(predicate, timeout: float, what: str) -> float:
    """Poll until predicate() is true; returns the seconds it took."""
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(POLL)
    return time.monotonic() - t0


# --------------------------------------------------------------------------- results


@dataclass
class PairResult:
    name: str
    keys: int
    sync_s: float = 0.0              # REPLICAOF → master_link_status:up
    digest_equal: bool = False
    digest_s: float = 0.0            # computing both digests (not replication)
    load_rps: float = 0.0
    load_s: float = 0.0
    lag_max: int = 0                 # bytes, master_repl_offset - replica's processed offset
    lag_p99: int = 0
    acked_lag_max: int = 0           # bytes, master_repl_offset - offset acked to the master
    acked_lag_p99: int = 0
    catchup_s: float = 0.0           # load end → replica offset == master offset
    samples: int = 0
    notes: list[str] = field(default_factory=list)


def p99(values: list[int]) -> int:
    if not values:
        return 0
    if len(values) < 2:
        return values[0]
    return int(statistics.quantiles(values, n=100, method="inclusive")[98])


# --------------------------------------------------------------------------- phases


def populate(port: int, keys: int, containers: int) -> None:
    with Connection(port, timeout=600) as c:
        c.call("DEBUG", "POPULATE", str(keys))
        batch = []
        for i in range(containers):
            batch += [("HSET", f"h:{i}", *[x for j in range(20) for x in (f"f{j}", str(i * j))]),
                      ("RPUSH", f"l:{i}", *[f"e{j}" for j in range(20)]),
                      ("SADD", f"s:{i}", *[str(j * 7) for j in range(20)]),
                      ("ZADD", f"z:{i}", *[x for j in range(20) for x in (str(j / 3), f"m{j}")]),
                      ("PEXPIRE", f"h:{i}", str(3_600_000 + i))]
            if len(batch) >= 500:
                c.pipeline(batch)
                batch = []
        if batch:
            c.pipeline(batch)


def full_sync(res: PairResult, master: Server, replica: Server, timeout: float) -> None:
    with Connection(master.port, timeout=600) as m, Connection(replica.port, timeout=600) as r:
        r.call("REPLICAOF", "127.0.0.1", str(master.port))
        t0 = time.monotonic()
        wait_for(lambda: info(r).get("master_link_status") == "up", timeout,
                 f"{res.name} replica link up")
        res.sync_s = time.monotonic() - t0
        wait_for(lambda: info(r)["slave_repl_offset"] == info(m)["master_repl_offset"],
                 timeout, f"{res.name} replica offset")
        t1 = time.monotonic()
        res.digest_equal = m.call("DEBUG", "DIGEST") == r.call("DEBUG", "DIGEST")
        res.digest_s = time.monotonic() - t1


def sample_lag(res: PairResult, master: Server, replica: Server, stop: threading.Event,
               out: tuple[list[int], list[int]]) -> None:
    with Connection(master.port) as m, Connection(replica.port) as r:
        while not stop.is_set():
            # both asked at once: a busy master answering late must not give its
            # replica time to catch up with the offset it reports
            for conn in (m, r):
                conn.sock.sendall(encode_command(["INFO", "replication"]))
            mi, ri = (parse_info(conn.reader.reply()) for conn in (m, r))
            moff = int(mi["master_repl_offset"])
            out[0].append(max(0, moff - int(ri["slave_repl_offset"])))
            acked = acked_offset(mi)
            if acked is not None:
                out[1].append(max(0, moff - acked))
            time.sleep(POLL)


def lag_under_load(res: PairResult, master: Server, replica: Server, args: argparse.Namespace) -> None:
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(master.port), "-t", "set",
            "-n", str(args.requests), "-P", str(args.pipeline), "-c", str(args.clients),
            "-r", "100000", "-q"]
    samples: tuple[list[int], list[int]] = ([], [])
    stop = threading.Event()
    sampler = threading.Thread(target=sample_lag, args=(res, master, replica, stop, samples),
                               daemon=True)
    sampler.start()
    t0 = time.monotonic()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=args.timeout)
    finally:
        res.load_s = time.monotonic() - t0
        t_end = time.monotonic()
        with Connection(master.port) as m, Connection(replica.port) as r:
            wait_for(lambda: int(info(r)["slave_repl_offset"]) >=
                     int(info(m)["master_repl_offset"]), args.timeout, f"{res.name} catch-up")
        res.catchup_s = time.monotonic() - t_end
        stop.set()
        sampler.join(timeout=10)
    if proc.returncode != 0:
        raise BenchError(f"redis-benchmark failed: {proc.stderr.strip()[-300:]}")
    res.load_rps = args.requests / res.load_s
    lag, acked = samples
    res.samples = len(lag)
    res.lag_max, res.lag_p99 = (max(lag), p99(lag)) if lag else (0, 0)
    res.acked_lag_max, res.acked_lag_p99 = (max(acked), p99(acked)) if acked else (0, 0)


def run_pair(name: str, cmd: str, args: argparse.Namespace) -> PairResult:
    extra = ["--enable-debug-command", "yes", "--repl-diskless-sync", args.diskless,
             "--repl-diskless-sync-delay", "0", "--repl-backlog-size", "64mb"]
    master = start_server(f"{name}-master", cmd, extra)
    replica = None
    try:
        replica = start_server(f"{name}-replica", cmd, extra)
        print(f"{name}: master pid {master.pid} port {master.port}, replica pid {replica.pid} "
              f"port {replica.port}, version {server_version(master.port)}", flush=True)
        res = PairResult(name, args.keys)
        t0 = time.monotonic()
        populate(master.port, args.keys, args.containers)
        print(f"  populated {args.keys} keys + {4 * args.containers} containers in "
              f"{time.monotonic() - t0:.1f}s", flush=True)
        full_sync(res, master, replica, args.timeout)
        print(f"  full sync {res.sync_s:.2f}s, digest equal: {res.digest_equal} "
              f"(digests took {res.digest_s:.1f}s)", flush=True)
        lag_under_load(res, master, replica, args)
        print(f"  load {res.load_rps:,.0f} SET/s, {res.samples} lag samples; lag max {res.lag_max:,} B, p99 "
              f"{res.lag_p99:,} B; acked lag max {res.acked_lag_max:,} B; catch-up "
              f"{res.catchup_s:.2f}s", flush=True)
        return res
    finally:
        for s in (replica, master):
            if s is not None:
                stop_server(s)


# --------------------------------------------------------------------------- report


def report(rk: PairResult, rd: PairResult, target: float) -> str:
    def row(label: str, a: float, b: float, fmt: str, note: str = "") -> str:
        return (f"{label:<34}{format(a, fmt):>14}{format(b, fmt):>14}"
                f"{fmt_ratio(ratio(a, b)):>9}  {note}")
    sync_ratio = ratio(rk.sync_s, rd.sync_s)
    met = sync_ratio is not None and sync_ratio <= target
    lines = [f"{'':<34}{'redkeep':>14}{'redis':>14}{'ratio':>9}",
             row(f"full sync of {rk.keys:,} keys (s)", rk.sync_s, rd.sync_s, ".2f",
                 f"target <= {target:.0f}x: {'met' if met else 'NOT met'}"),
             f"{'digest equal after sync':<34}{rk.digest_equal!s:>14}{rd.digest_equal!s:>14}",
             row("SET load on the master (req/s)", rk.load_rps, rd.load_rps, ",.0f"),
             row("lag max (bytes)", rk.lag_max, rd.lag_max, ",d"),
             row("lag p99 (bytes)", rk.lag_p99, rd.lag_p99, ",d"),
             row("acked lag max (bytes)", rk.acked_lag_max, rd.acked_lag_max, ",d"),
             row("acked lag p99 (bytes)", rk.acked_lag_p99, rd.acked_lag_p99, ",d"),
             row("catch-up after the load (s)", rk.catchup_s, rd.catchup_s, ".2f")]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--keys", type=int, default=1_000_000, help="DEBUG POPULATE count")
    p.add_argument("--containers", type=int, default=5000,
                   help="hashes, lists, sets and sorted sets of 20 elements each (this many of each)")
    p.add_argument("--diskless", choices=("yes", "no"), default="yes",
                   help="repl-diskless-sync on both masters")
    p.add_argument("--requests", type=int, default=200_000, help="redis-benchmark -n")
    p.add_argument("--pipeline", type=int, default=16, help="redis-benchmark -P")
    p.add_argument("--clients", type=int, default=50, help="redis-benchmark -c")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per step")
    p.add_argument("--target", type=float, default=3.0, help="full sync time ratio target")
    p.add_argument("--redkeep-cmd", default=DEFAULT_REDKEEP_CMD,
                   help="server command for redkeep ('python' = this interpreter)")
    p.add_argument("--redis-cmd", default=DEFAULT_REDIS_CMD, help="reference server command")
    p.add_argument("--json", type=Path, default=None, help="write results to this file")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("redis-benchmark") is None:
        print("error: redis-benchmark not found on PATH", file=sys.stderr)
        return 1
    try:
        rd = run_pair("redis", args.redis_cmd, args)
        rk = run_pair("redkeep", args.redkeep_cmd, args)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(f"\nrepl-diskless-sync {args.diskless}; load: redis-benchmark -t set -n "
          f"{args.requests} -P {args.pipeline} -c {args.clients} -r 100000\n")
    print(report(rk, rd, args.target))
    if args.json:
        args.json.write_text(json.dumps({"redkeep": asdict(rk), "redis": asdict(rd),
                                         "args": {k: str(v) for k, v in vars(args).items()}},
                                        indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0 if rk.digest_equal and rd.digest_equal else 1


if __name__ == "__main__":
    sys.exit(main())
