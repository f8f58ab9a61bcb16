"""Shared helpers for the side-by-side benchmarks: start/stop servers, talk RESP,
read a server's CPU time and RSS from /proc.

Every server started here is registered and stopped on normal exit, on an
exception, on Ctrl-C (KeyboardInterrupt) and on SIGTERM/SIGHUP (turned into
SystemExit so that `finally` blocks and atexit handlers run).
"""

from __future__ import annotations

import atexit
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REDKEEP_CMD = "python -m redkeep server"
DEFAULT_REDIS_CMD = "redis-server"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


class BenchError(RuntimeError):
    """A benchmark step failed (server did not start, command failed, ...)."""


# --------------------------------------------------------------------------- ports


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- RESP


def encode_command(args: Sequence[str | bytes]) -> bytes:
    """Encode one command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a.encode() if isinstance(a, str) else a
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class _Reader:
    """Minimal blocking RESP2 reply reader over a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise BenchError("connection closed by server")
        self.buf += chunk

    def _line(self) -> bytes:
        while (i := self.buf.find(b"\r\n")) < 0:
            self._fill()
        line, self.buf = self.buf[:i], self.buf[i + 2:]
        return line

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self) -> object:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return BenchError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise BenchError(f"unexpected reply line {line!r}")


class Connection:
    """A blocking RESP connection to 127.0.0.1:port (use as a context manager)."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.reader = _Reader(self.sock)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.sock.close()

    def call(self, *args: str | bytes) -> object:
        """Send one command and return its reply; raise BenchError on an error reply."""
        return self.pipeline([args])[0]

    def pipeline(self, commands: Sequence[Sequence[str | bytes]]) -> list[object]:
        """Send commands in one write, read all replies; raise on the first error reply."""
        self.sock.sendall(b"".join(encode_command(c) for c in commands))
        replies = [self.reader.reply() for _ in commands]
        for r in replies:
            if isinstance(r, BenchError):
                raise r
        return replies


def command(port: int, *args: str | bytes, timeout: float = 10.0) -> object:
    """Send one command on a fresh connection and return its reply (raise on error replies)."""
    with Connection(port, timeout) as conn:
        return conn.call(*args)


def info_field(port: int, section: str, name: str) -> str | None:
    """One field of INFO <section>, or None if the server does not report it."""
    raw = command(port, "INFO", section)
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key == name:
            return value.strip()
    return None


# --------------------------------------------------------------------------- /proc


def _stat_fields(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name (index 0 = state)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2:].split()


def group_pids(pgid: int) -> list[int]:
    """All live pids in process group pgid (the server and anything it forked)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if int(_stat_fields(int(entry))[2]) == pgid:
                pids.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return pids


def cpu_time_us(pid: int) -> int:
    """utime+stime of one process (all its threads), in microseconds."""
    fields = _stat_fields(pid)
    ticks = int(fields[11]) + int(fields[12])
    return ticks * 1_000_000 // CLK_TCK


def rss_bytes(pid: int) -> int:
    """Resident set size of one process, from VmRSS (falls back to statm)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE


def _sum_over_group(pgid: int, reader: Callable[[int], int]) -> int:
    total = 0
    for pid in group_pids(pgid) or [pgid]:
        try:
            total += reader(pid)
        except (OSError, ValueError, IndexError):
            continue
    return total


# --------------------------------------------------------------------------- servers


def resolve_cmd(cmd: str) -> list[str]:
    """Split a command line; a leading `python`/`python3` means this interpreter."""
    argv = shlex.split(cmd)
    if not argv:
        raise BenchError("empty server command")
    if argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return argv


def _child_env() -> dict[str, str]:
    """Environment for servers: the repo's src/ first on PYTHONPATH (for redkeep)."""
    env = dict(os.environ)
    src = str(REPO_ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


@dataclass
class Server:
    """A server process started by start_server(); `pid` is also its process group."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    workdir: tempfile.TemporaryDirectory[str]
    argv: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def log_path(self) -> Path:
        return Path(self.workdir.name) / "server.log"

    def cpu_us(self) -> int:
        """CPU time (user+system, µs) of the server's process group."""
        return _sum_over_group(self.pid, cpu_time_us)

    def rss(self) -> int:
        """RSS in bytes of the server's process group."""
        return _sum_over_group(self.pid, rss_bytes)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


_RUNNING: dict[int, Server] = {}


def _ping(port: int) -> bool:
    try:
        return command(port, "PING", timeout=1.0) == "PONG"
    except (OSError, BenchError):
        return False


def wait_for_ping(server: Server, timeout: float = START_TIMEOUT) -> None:
    """Poll PING until PONG; fail early if the process exits, or at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise BenchError(f"{server.name} exited with status {server.proc.returncode} "
                             f"before answering PING:\n{server.log_tail()}")
        if _ping(server.port):
            return
        time.sleep(0.05)
    raise BenchError(f"{server.name} did not answer PING on port {server.port} "
                     f"within {timeout:.0f}s:\n{server.log_tail()}")


def start_server(name: str, cmd: str, extra: Sequence[str] = (),
                 timeout: float = START_TIMEOUT) -> Server:
    """Start `cmd` as a redis-server-like process on a free 127.0.0.1 port, wait for PING.

    Persistence is off (`--save "" --appendonly no`) and it runs in a private
    temporary directory, in a new session so that it and its children can be
    signalled as one process group.
    """
    ensure_cleanup_handlers()
    port = free_port()
    argv = [*resolve_cmd(cmd), "--port", str(port), "--bind", HOST,
            "--save", "", "--appendonly", "no", *extra]
    workdir = tempfile.TemporaryDirectory(prefix=f"bench-{name}-")
    with open(Path(workdir.name) / "server.log", "wb") as log:
        proc = subprocess.Popen(argv, cwd=workdir.name, env=_child_env(), stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(name, port, proc, workdir, argv)
    _RUNNING[proc.pid] = server
    try:
        wait_for_ping(server, timeout)
    except BaseException:
        stop_server(server)
        raise
    return server


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def stop_server(server: Server) -> None:
    """SIGTERM the server's process group, SIGKILL it if it is still there after a while."""
    _RUNNING.pop(server.pid, None)
    try:
        if server.proc.poll() is None:
            _signal_group(server.pid, signal.SIGTERM)
            try:
                server.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                _signal_group(server.pid, signal.SIGKILL)
                server.proc.wait(STOP_TIMEOUT)
        _signal_group(server.pid, signal.SIGKILL)  # stray children, if any
    finally:
        server.workdir.cleanup()


def stop_all() -> None:
    """Stop every server still registered (atexit / signal path)."""
    for server in list(_RUNNING.values()):
        try:
            stop_server(server)
        except Exception as e:  # keep stopping the others
            print(f"warning: stopping {server.name} (pid {server.pid}): {e}", file=sys.stderr)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


_HANDLERS_INSTALLED = False


def ensure_cleanup_handlers() -> None:
    """Install atexit + SIGTERM/SIGHUP handlers once (Ctrl-C raises KeyboardInterrupt)."""
    global _HANDLERS_INSTALLED
    if _HANDLERS_INSTALLED:
        return
    atexit.register(stop_all)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on_signal)
    _HANDLERS_INSTALLED = True


# --------------------------------------------------------------------------- misc


def server_version(port: int) -> str:
    """redis_version reported by INFO server, or "?" if INFO is not supported."""
    try:
        return info_field(port, "server", "redis_version") or "?"
    except (OSError, BenchError):
        return "?"


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b
