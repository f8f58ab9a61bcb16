"""Side-by-side redis-benchmark of redkeep and redis-server.

Starts both servers on free 127.0.0.1 ports in the same run, runs the same
redis-benchmark load against each (one redis-benchmark invocation per test and
pipeline depth, so the server's CPU time can be attributed to it), and prints
throughput, server CPU µs per request and the redkeep/redis ratios against the
targets.  Run from the repo root: `python bench/server_bench.py --help`.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import shlex
import shutil
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    DEFAULT_REDIS_CMD,
    DEFAULT_REDKEEP_CMD,
    HOST,
    BenchError,
    Server,
    command,
    fmt_ratio,
    ratio,
    server_version,
    start_server,
    stop_server,
)

# --------------------------------------------------------------------------- tests


@dataclass(frozen=True)
class BenchTest:
    """One load: the redis-benchmark arguments that select it, and optional setup.

    `load` is either `("-t", name)` for a built-in test or a literal command
    (redis-benchmark's `[command args...]` form).  `setup` commands are sent to
    the server before the measured run (not counted).
    """

    name: str
    load: tuple[str, ...]
    setup: tuple[tuple[str, ...], ...] = ()


def _builtin(name: str) -> BenchTest:
    return BenchTest(name.upper(), ("-t", name))


EVAL_SCRIPT = "return redis.call('incr', KEYS[1])"

# Adding a test = adding a line here (the key is what --tests takes).
TESTS: dict[str, BenchTest] = {
    "set": _builtin("set"),
    "get": _builtin("get"),
    "incr": _builtin("incr"),
    "mset": _builtin("mset"),
    "lpush": _builtin("lpush"),
    "rpush": _builtin("rpush"),
    "lpop": _builtin("lpop"),
    "rpop": _builtin("rpop"),
    "sadd": _builtin("sadd"),
    "hset": _builtin("hset"),
    "spop": _builtin("spop"),
    "zadd": _builtin("zadd"),
    "zpopmin": _builtin("zpopmin"),
    "ping": BenchTest("PING", ("-t", "ping_mbulk")),
    # Pure LRANGE on a 100-element list (`-t lrange_100` would also time its LPUSH setup).
    "lrange_100": BenchTest(
        "LRANGE_100", ("LRANGE", "mylist", "0", "99"),
        setup=(("DEL", "mylist"), ("RPUSH", "mylist", *["xxx"] * 100)),
    ),
    # A small script through EVALSHA (loaded first; the SHA1 is that of the script text).
    "evalsha": BenchTest(
        "EVALSHA", ("EVALSHA", hashlib.sha1(EVAL_SCRIPT.encode()).hexdigest(), "1", "evalkey"),
        setup=(("SCRIPT", "LOAD", EVAL_SCRIPT),),
    ),
}
DEFAULT_TESTS = "set,get,incr,mset"
DEFAULT_PIPELINES = "1,16"
DEFAULT_N = {1: 100_000}  # any other pipeline depth: DEFAULT_N_PIPELINED
DEFAULT_N_PIPELINED = 500_000

# Targets for redkeep/redis, per pipeline depth (the acceptance numbers).
CPU_TARGET = {1: 1.5, 16: 2.0}  # CPU µs/op ratio must be <= this
RPS_TARGET = {1: 0.9}  # throughput ratio must be >= this


# --------------------------------------------------------------------------- running


@dataclass
class RunResult:
    """One redis-benchmark invocation against one server."""

    rps: float
    requests: int
    cpu_us: int

    @property
    def cpu_us_per_op(self) -> float:
        return self.cpu_us / self.requests if self.requests else 0.0


@dataclass
class Comparison:
    test: str
    pipeline: int
    requests: int
    redkeep_rps: float
    redis_rps: float
    redkeep_cpu_us_op: float
    redis_cpu_us_op: float
    rps_ratio: float | None
    cpu_ratio: float | None
    rps_target: float | None
    cpu_target: float | None
    rps_met: bool | None
    cpu_met: bool | None
    runs: dict[str, list[dict[str, float]]] = field(default_factory=dict)


def parse_csv(text: str) -> list[tuple[str, float]]:
    """(test, rps) rows of redis-benchmark --csv output; non-CSV lines are skipped."""
    lines = [ln for ln in text.splitlines() if ln.startswith('"')]
    return [(row["test"], float(row["rps"])) for row in csv.DictReader(lines)]


def benchmark_argv(port: int, test: BenchTest, n: int, clients: int, pipeline: int,
                   keyspace: int | None) -> list[str]:
    argv = ["redis-benchmark", "-h", HOST, "-p", str(port), "-c", str(clients),
            "-n", str(n), "-P", str(pipeline), "--csv"]
    if keyspace:
        argv += ["-r", str(keyspace)]
    return argv + list(test.load)


class ServerDied(BenchError):
    """A server exited during the run: nothing further can be measured."""


def check_alive(server: Server) -> None:
    if server.proc.poll() is not None:
        raise ServerDied(f"{server.name} exited with status {server.proc.returncode}:\n"
                         f"{server.log_tail()}")


def run_once(server: Server, test: BenchTest, n: int, clients: int, pipeline: int,
             keyspace: int | None, timeout: float) -> RunResult:
    """Run one redis-benchmark invocation; CPU is the server's delta over it."""
    check_alive(server)
    for cmd in test.setup:
        try:
            command(server.port, *cmd)
        except BenchError as e:
            raise BenchError(f"{test.name} setup {cmd[0]} on {server.name}: {e}") from e
    argv = benchmark_argv(server.port, test, n, clients, pipeline, keyspace)
    cpu_before = server.cpu_us()
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise BenchError(f"{test.name} -P {pipeline} on {server.name}: redis-benchmark "
                         f"took more than {timeout:.0f}s") from e
    cpu_us = server.cpu_us() - cpu_before
    check_alive(server)
    rows = parse_csv(out.stdout)
    if out.returncode != 0 or not rows:
        raise BenchError(f"{test.name} -P {pipeline} on {server.name}: redis-benchmark "
                         f"exit {out.returncode}: {(out.stderr or out.stdout).strip()[-300:]}")
    return RunResult(rps=rows[-1][1], requests=n * len(rows), cpu_us=cpu_us)


def run_pair(servers: dict[str, Server], order: Sequence[str], test: BenchTest, n: int,
             args: argparse.Namespace, pipeline: int) -> dict[str, RunResult]:
    return {name: run_once(servers[name], test, n, args.clients, pipeline, args.keyspace,
                           args.timeout)
            for name in order}


def median_result(runs: list[RunResult]) -> RunResult:
    return RunResult(rps=statistics.median(r.rps for r in runs),
                     requests=runs[0].requests,
                     cpu_us=int(statistics.median(r.cpu_us for r in runs)))


def compare(test: BenchTest, pipeline: int, n: int, rk: list[RunResult],
            rd: list[RunResult]) -> Comparison:
    a, b = median_result(rk), median_result(rd)
    rps_r = ratio(a.rps, b.rps)
    cpu_r = ratio(a.cpu_us_per_op, b.cpu_us_per_op)
    rps_t, cpu_t = RPS_TARGET.get(pipeline), CPU_TARGET.get(pipeline)
    return Comparison(
        test=test.name, pipeline=pipeline, requests=a.requests,
        redkeep_rps=a.rps, redis_rps=b.rps,
        redkeep_cpu_us_op=a.cpu_us_per_op, redis_cpu_us_op=b.cpu_us_per_op,
        rps_ratio=rps_r, cpu_ratio=cpu_r, rps_target=rps_t, cpu_target=cpu_t,
        rps_met=None if rps_t is None or rps_r is None else rps_r >= rps_t,
        cpu_met=None if cpu_t is None or cpu_r is None else cpu_r <= cpu_t,
        runs={"redkeep": [asdict(r) for r in rk], "redis": [asdict(r) for r in rd]},
    )


def bench_one(servers: dict[str, Server], test: BenchTest, pipeline: int,
              args: argparse.Namespace, index: int) -> Comparison:
    """All repeats of one (test, pipeline); the server that goes first alternates."""
    n = args.n or DEFAULT_N.get(pipeline, DEFAULT_N_PIPELINED)
    runs: dict[str, list[RunResult]] = {"redkeep": [], "redis": []}
    for rep in range(args.repeat):
        order = ("redis", "redkeep") if (index + rep) % 2 == 0 else ("redkeep", "redis")
        for name, result in run_pair(servers, order, test, n, args, pipeline).items():
            runs[name].append(result)
    return compare(test, pipeline, n, runs["redkeep"], runs["redis"])


# --------------------------------------------------------------------------- output


HEADER = (f"{'test':<11}{'P':>3}{'requests':>9} {'redkeep rps':>12}{'redis rps':>12}"
          f"{'rps ratio':>10}  {'target':<14}"
          f"{'rk µs/op':>9}{'rd µs/op':>9}{'cpu ratio':>10}  {'target':<14}")


def _target(met: bool | None, op: str, target: float | None) -> str:
    if target is None:
        return "-"
    return f"{op}{target:.1f}x {'met' if met else 'NOT met'}"


def format_row(c: Comparison) -> str:
    return (f"{c.test:<11}{c.pipeline:>3}{c.requests:>9} {c.redkeep_rps:>12,.0f}"
            f"{c.redis_rps:>12,.0f}{fmt_ratio(c.rps_ratio):>10}  "
            f"{_target(c.rps_met, '>=', c.rps_target):<14}"
            f"{c.redkeep_cpu_us_op:>9.2f}{c.redis_cpu_us_op:>9.2f}{fmt_ratio(c.cpu_ratio):>10}  "
            f"{_target(c.cpu_met, '<=', c.cpu_target):<14}")


def summary(results: list[Comparison]) -> str:
    checks = [m for c in results for m in (c.rps_met, c.cpu_met) if m is not None]
    return f"targets met: {sum(checks)}/{len(checks)}"


# --------------------------------------------------------------------------- main


def parse_list(text: str) -> list[str]:
    return [t.strip().lower() for t in text.split(",") if t.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--tests", default=DEFAULT_TESTS,
                   help=f"comma-separated, from: {','.join(TESTS)}")
    p.add_argument("--pipelines", default=DEFAULT_PIPELINES, help="comma-separated -P values")
    p.add_argument("-n", type=int, default=None,
                   help=f"requests per run (default {DEFAULT_N[1]} for -P 1, "
                        f"{DEFAULT_N_PIPELINED} otherwise)")
    p.add_argument("--clients", type=int, default=50, help="redis-benchmark -c")
    p.add_argument("--keyspace", type=int, default=None, help="redis-benchmark -r (random keys)")
    p.add_argument("--repeat", type=int, default=3, help="runs per server; medians are reported")
    p.add_argument("--timeout", type=float, default=300.0,
                   help="seconds allowed for one redis-benchmark invocation")
    p.add_argument("--redkeep-cmd", default=DEFAULT_REDKEEP_CMD,
                   help="server command for redkeep ('python' = this interpreter)")
    p.add_argument("--redis-cmd", default=DEFAULT_REDIS_CMD, help="reference server command")
    p.add_argument("--json", type=Path, default=None, help="write results to this file")
    args = p.parse_args(argv)
    unknown = [t for t in parse_list(args.tests) if t not in TESTS]
    if unknown:
        p.error(f"unknown test(s) {','.join(unknown)}; known: {','.join(TESTS)}")
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    return args


def start_both(args: argparse.Namespace) -> dict[str, Server]:
    servers: dict[str, Server] = {}
    try:
        servers["redis"] = start_server("redis", args.redis_cmd)
        servers["redkeep"] = start_server("redkeep", args.redkeep_cmd)
    except BaseException:
        for s in servers.values():
            stop_server(s)
        raise
    return servers


def run(args: argparse.Namespace) -> tuple[list[Comparison], list[str]]:
    if shutil.which("redis-benchmark") is None:
        raise BenchError("redis-benchmark not found on PATH")
    tests = [TESTS[t] for t in parse_list(args.tests)]
    pipelines = [int(p) for p in parse_list(args.pipelines)]
    servers = start_both(args)
    try:
        for name, s in servers.items():
            print(f"{name}: pid {s.pid}, port {s.port}, version {server_version(s.port)}, "
                  f"cmd: {shlex.join(s.argv)}")
        print(f"clients {args.clients}, repeat {args.repeat}; CPU = server utime+stime delta "
              f"/ requests\n\n{HEADER}", flush=True)
        results: list[Comparison] = []
        failures: list[str] = []
        for index, (pipeline, test) in enumerate((p, t) for p in pipelines for t in tests):
            try:
                results.append(bench_one(servers, test, pipeline, args, index))
            except ServerDied:
                raise
            except BenchError as e:  # e.g. a command the server lacks: go on with the rest
                failures.append(str(e))
                print(f"{test.name:<11}{pipeline:>3}  FAILED: {e}", flush=True)
                continue
            print(format_row(results[-1]), flush=True)
        print(f"\n{summary(results)}" + (f", {len(failures)} failed" if failures else ""))
        return results, failures
    finally:
        for s in servers.values():
            stop_server(s)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        results, failures = run(args)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if args.json:
        payload = {"clients": args.clients, "repeat": args.repeat,
                   "results": [asdict(c) for c in results], "failures": failures}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
