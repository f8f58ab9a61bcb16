"""Side-by-side memory per key of redkeep and redis-server.

For each server: start it on a free 127.0.0.1 port (with `--enable-debug-command
yes`), read its RSS, load N keys with `DEBUG POPULATE N` (or pipelined SETs of
the same keys and values with `--method set`), read the RSS again and report
(RSS after - RSS before) / N as bytes per key, and the redkeep/redis ratio
against the target.  Servers run one after the other, each stopped before the
next starts.  Run from the repo root: `python bench/memory_bench.py --help`.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
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

TARGET = 1.6  # redkeep bytes/key must be <= TARGET x redis bytes/key
DEFAULT_KEYS = 1_000_000
SET_BATCH = 1000
SERVER_FLAGS = ("--enable-debug-command", "yes")


@dataclass
class MemoryResult:
    server: str
    keys: int
    rss_before: int
    rss_after: int
    seconds: float
    used_memory_before: int | None
    used_memory_after: int | None

    @property
    def bytes_per_key(self) -> float:
        return (self.rss_after - self.rss_before) / self.keys

    @property
    def used_memory_per_key(self) -> float | None:
        if self.used_memory_before is None or self.used_memory_after is None:
            return None
        return (self.used_memory_after - self.used_memory_before) / self.keys


# --------------------------------------------------------------------------- loading


def populate_value(i: int, size: int | None) -> bytes:
    """The value DEBUG POPULATE stores for key i: `value:i`, zero-padded/cut to size."""
    value = b"value:%d" % i
    if size is None:
        return value
    return value[:size].ljust(size, b"\0")


def set_batches(keys: int, prefix: str, size: int | None) -> Iterator[list[tuple[bytes, ...]]]:
    for start in range(0, keys, SET_BATCH):
        yield [(b"SET", b"%s:%d" % (prefix.encode(), i), populate_value(i, size))
               for i in range(start, min(start + SET_BATCH, keys))]


def load_keys(conn: Connection, args: argparse.Namespace) -> None:
    """Load args.keys keys; the whole load must finish within args.timeout seconds."""
    if args.method == "populate":
        size = [str(args.size)] if args.size is not None else []
        conn.call("DEBUG", "POPULATE", str(args.keys), args.prefix, *size)
        return
    deadline = time.monotonic() + args.timeout
    for batch in set_batches(args.keys, args.prefix, args.size):
        conn.pipeline(batch)
        if time.monotonic() > deadline:
            raise BenchError(f"loading took more than {args.timeout:.0f}s")


def used_memory(port: int) -> int | None:
    """INFO memory used_memory, or None when the server does not report it."""
    try:
        value = info_field(port, "memory", "used_memory")
    except (OSError, BenchError):
        return None
    return int(value) if value and value.isdigit() else None


def check_dbsize(conn: Connection, keys: int) -> None:
    try:
        size = conn.call("DBSIZE")
    except BenchError:
        return  # DBSIZE not implemented: nothing to check
    if size != keys:
        raise BenchError(f"DBSIZE is {size} after loading {keys} keys")


def measure(server: Server, args: argparse.Namespace) -> MemoryResult:
    """RSS before/after loading args.keys keys into an empty server."""
    time.sleep(args.settle)
    rss_before, um_before = server.rss(), used_memory(server.port)
    start = time.monotonic()
    with Connection(server.port, timeout=args.timeout) as conn:
        load_keys(conn, args)
        seconds = time.monotonic() - start
        check_dbsize(conn, args.keys)
    time.sleep(args.settle)
    if server.proc.poll() is not None:
        raise BenchError(f"{server.name} exited while loading keys:\n{server.log_tail()}")
    return MemoryResult(server.name, args.keys, rss_before, server.rss(), seconds,
                        um_before, used_memory(server.port))


def bench_server(name: str, cmd: str, args: argparse.Namespace) -> MemoryResult:
    server = start_server(name, cmd, SERVER_FLAGS)
    try:
        print(f"{name}: pid {server.pid}, port {server.port}, cmd: {shlex.join(server.argv)}",
              flush=True)
        return measure(server, args)
    except BenchError as e:
        if args.method == "populate" and "unknown command" in str(e).lower():
            raise BenchError(f"{name}: {str(e).strip()} (try --method set)") from e
        raise BenchError(f"{name}: {e}") from e
    finally:
        stop_server(server)


# --------------------------------------------------------------------------- output


def mib(n: int) -> str:
    return f"{n / 2**20:8.1f} MiB"


def format_result(r: MemoryResult) -> str:
    used = r.used_memory_per_key
    used_text = "" if used is None else f", used_memory {used:6.1f} B/key"
    return (f"{r.server:<8} RSS {mib(r.rss_before)} -> {mib(r.rss_after)}  "
            f"{r.bytes_per_key:7.1f} B/key{used_text}  (load {r.seconds:.1f}s)")


def verdict(rk: MemoryResult | None, rd: MemoryResult | None) -> tuple[float | None, str]:
    r = ratio(rk.bytes_per_key if rk else None, rd.bytes_per_key if rd else None)
    if r is None:
        return None, f"ratio n/a (target <= {TARGET:.1f}x)"
    met = "met" if r <= TARGET else "NOT met"
    return r, f"bytes/key ratio redkeep/redis: {fmt_ratio(r)}  (target <= {TARGET:.1f}x: {met})"


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--keys", "-n", type=int, default=DEFAULT_KEYS, help="keys to load")
    p.add_argument("--method", choices=("populate", "set"), default="populate",
                   help="DEBUG POPULATE, or pipelined SETs of the same keys/values")
    p.add_argument("--prefix", default="key", help="key prefix (keys are PREFIX:i)")
    p.add_argument("--size", type=int, default=None,
                   help="value size in bytes (DEBUG POPULATE's size argument)")
    p.add_argument("--settle", type=float, default=0.5,
                   help="seconds to wait before each RSS reading")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds allowed for loading")
    p.add_argument("--servers", default="redis,redkeep", help="which servers, in this order")
    p.add_argument("--redkeep-cmd", default=DEFAULT_REDKEEP_CMD,
                   help="server command for redkeep ('python' = this interpreter)")
    p.add_argument("--redis-cmd", default=DEFAULT_REDIS_CMD, help="reference server command")
    p.add_argument("--json", type=Path, default=None, help="write results to this file")
    args = p.parse_args(argv)
    if args.keys < 1:
        p.error("--keys must be >= 1")
    args.server_list = [s.strip() for s in args.servers.split(",") if s.strip()]
    if not args.server_list or set(args.server_list) - {"redis", "redkeep"}:
        p.error("--servers takes redis and/or redkeep")
    return args


def run(args: argparse.Namespace) -> tuple[dict[str, MemoryResult], list[str]]:
    cmds = {"redis": args.redis_cmd, "redkeep": args.redkeep_cmd}
    results: dict[str, MemoryResult] = {}
    errors: list[str] = []
    for name in args.server_list:
        try:
            results[name] = bench_server(name, cmds[name], args)
            print(format_result(results[name]), flush=True)
        except BenchError as e:
            errors.append(str(e))
            print(f"FAILED: {e}", flush=True)
    return results, errors


def write_json(path: Path, args: argparse.Namespace, results: dict[str, MemoryResult],
               r: float | None) -> None:
    payload = {
        "keys": args.keys, "method": args.method, "size": args.size, "target": TARGET,
        "ratio": r,
        "results": {n: {**asdict(m), "bytes_per_key": m.bytes_per_key,
                        "used_memory_per_key": m.used_memory_per_key}
                    for n, m in results.items()},
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {path}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"loading {args.keys} keys per server with "
          f"{'DEBUG POPULATE' if args.method == 'populate' else 'pipelined SET'}", flush=True)
    try:
        results, errors = run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    r, text = verdict(results.get("redkeep"), results.get("redis"))
    print(text)
    if args.json:
        write_json(args.json, args, results, r)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
