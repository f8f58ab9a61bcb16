"""Side-by-side persistence benchmark of redkeep and redis-server.

For each server, in its own directory: build the same dataset of N keys of mixed types
(90% strings from `DEBUG POPULATE`, then lists, hashes, sets and sorted sets of 10
elements each, 2.5% of the keys per type, pipelined), then measure

* SAVE: the wall time of a foreground SAVE, and the size of dump.rdb;
* the latency clients see during a BGSAVE of the whole dataset: one connection sends
  PING after PING while the child runs (p50 / p99 / max round trip);
* load: the server is stopped and started again on the file; the time from process
  start until PING answers, and the "DB loaded from disk" seconds of its log.

It prints a table with redkeep / redis ratios (target for the times: within 3x).
Run from the repo root: `python bench/persistence_bench.py --keys 100000` for a quick run.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    DEFAULT_REDIS_CMD,
    DEFAULT_REDKEEP_CMD,
    BenchError,
    Connection,
    Server,
    fmt_ratio,
    info_field,
    ratio,
    start_server,
    stop_server,
)

TIME_TARGET = 3.0
BATCH = 1000
ELEMENTS = 10


@dataclass
class Result:
    server: str
    keys: int
    save_s: float
    rdb_bytes: int
    start_s: float          # process start -> PING answers, with the file
    load_s: float | None    # "DB loaded from disk: X seconds"
    bgsave_s: float
    ping_p50_ms: float
    ping_p99_ms: float
    ping_max_ms: float
    pings: int


def containers(keys: int) -> list[tuple[bytes, ...]]:
    """The non-string part of the dataset: 2.5% of the keys for each container type."""
    n = max(1, keys // 40)
    els = [b"member:%d" % j for j in range(ELEMENTS)]
    cmds: list[tuple[bytes, ...]] = []
    for i in range(n):
        cmds.append((b"RPUSH", b"list:%d" % i, *els))
        cmds.append((b"HSET", b"hash:%d" % i, *[x for j, e in enumerate(els)
                                                for x in (e, b"%d" % (i * j))]))
        cmds.append((b"SADD", b"set:%d" % i, *els))
        cmds.append((b"ZADD", b"zset:%d" % i, *[x for j, e in enumerate(els)
                                                for x in (b"%d.5" % j, e)]))
    return cmds


def build_dataset(port: int, keys: int) -> None:
    rest = containers(keys)
    with Connection(port, timeout=600) as conn:
        conn.call("FLUSHALL")
        conn.call("DEBUG", "POPULATE", str(keys - len(rest)), "key")
        for i in range(0, len(rest), BATCH):
            conn.pipeline(rest[i:i + BATCH])
        got = conn.call("DBSIZE")
    if got != keys:
        raise BenchError(f"dataset has {got} keys, expected {keys}")


def ping_during_bgsave(port: int) -> tuple[float, list[float]]:
    """PING round trips (ms) while a BGSAVE runs; and how long the BGSAVE took."""
    with Connection(port, timeout=60) as conn, Connection(port, timeout=60) as ctl:
        before = int(info_field(port, "persistence", "rdb_saves") or 0)
        start = time.perf_counter()
        ctl.call("BGSAVE")
        rtts: list[float] = []
        next_check = 0.0
        while True:
            t0 = time.perf_counter()
            conn.call("PING")
            t1 = time.perf_counter()
            rtts.append((t1 - t0) * 1000)
            if t1 >= next_check:
                next_check = t1 + 0.05
                raw = ctl.call("INFO", "persistence")
                text = raw.decode() if isinstance(raw, bytes) else str(raw)
                fields = dict(ln.split(":", 1) for ln in text.splitlines() if ":" in ln)
                if fields["rdb_bgsave_in_progress"] == "0" and \
                        int(fields["rdb_saves"]) > before:
                    return time.perf_counter() - start, rtts


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))]


def run_server(name: str, cmd: str, keys: int, workdir: Path) -> Result:
    flags = ("--dir", str(workdir), "--enable-debug-command", "yes")
    server = start_server(name, cmd, flags)
    try:
        build_dataset(server.port, keys)
        with Connection(server.port, timeout=600) as conn:
            t0 = time.perf_counter()
            conn.call("SAVE")
            save_s = time.perf_counter() - t0
        rdb_bytes = (workdir / "dump.rdb").stat().st_size
        bgsave_s, rtts = ping_during_bgsave(server.port)
    finally:
        stop_server(server)
    t0 = time.perf_counter()
    server = start_server(name, cmd, flags, timeout=600)
    start_s = time.perf_counter() - t0
    try:
        log = server.log_path.read_text(errors="replace")
        m = re.findall(r"DB loaded from disk: ([0-9.]+) seconds", log)
        load_s = float(m[-1]) if m else None
        with Connection(server.port) as conn:
            if conn.call("DBSIZE") != keys:
                raise BenchError(f"{name} did not load {keys} keys")
    finally:
        stop_server(server)
    return Result(name, keys, save_s, rdb_bytes, start_s, load_s, bgsave_s,
                  percentile(rtts, 0.5), percentile(rtts, 0.99), max(rtts), len(rtts))


def table(rk: Result, rd: Result) -> str:
    rows = [
        ("SAVE time (s)", rk.save_s, rd.save_s, TIME_TARGET),
        ("load time, DB loaded from disk (s)", rk.load_s, rd.load_s, TIME_TARGET),
        ("start until PING with the file (s)", rk.start_s, rd.start_s, None),
        ("dump.rdb size (bytes)", rk.rdb_bytes, rd.rdb_bytes, None),
        ("BGSAVE duration (s)", rk.bgsave_s, rd.bgsave_s, None),
        ("PING p50 during BGSAVE (ms)", rk.ping_p50_ms, rd.ping_p50_ms, None),
        ("PING p99 during BGSAVE (ms)", rk.ping_p99_ms, rd.ping_p99_ms, None),
        ("PING max during BGSAVE (ms)", rk.ping_max_ms, rd.ping_max_ms, None),
    ]
    out = [f"{rk.keys} keys of mixed types; {rk.pings} / {rd.pings} PINGs during BGSAVE",
           "", "| measure | redkeep | redis | ratio | target |", "| --- | --- | --- | --- | --- |"]
    for label, a, b, target in rows:
        r = ratio(a, b)
        verdict = "" if target is None or r is None else \
            f"{'met' if r <= target else 'NOT met'} (<= {target:g}x)"
        fa = "n/a" if a is None else (f"{a:.3f}" if isinstance(a, float) else str(a))
        fb = "n/a" if b is None else (f"{b:.3f}" if isinstance(b, float) else str(b))
        out.append(f"| {label} | {fa} | {fb} | {fmt_ratio(r)} | {verdict} |")
    return "\n".join(out)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--keys", type=int, default=1_000_000, help="keys in the dataset")
    p.add_argument("--redkeep-cmd", default=DEFAULT_REDKEEP_CMD, help="server under test")
    p.add_argument("--redis-cmd", default=DEFAULT_REDIS_CMD, help="reference server command")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="persistence-bench-") as tmp:
        results = {}
        for name, cmd in (("redis", args.redis_cmd), ("redkeep", args.redkeep_cmd)):
            d = Path(tmp) / name
            d.mkdir()
            print(f"{name}: building {args.keys} keys, SAVE, BGSAVE, restart ...", flush=True)
            results[name] = run_server(name, cmd, args.keys, d)
    print()
    print(table(results["redkeep"], results["redis"]))
    return 0


_ = Server   # re-exported type for readers of the helpers above

if __name__ == "__main__":
    sys.exit(main())
