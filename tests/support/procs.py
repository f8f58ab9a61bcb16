"""Server processes for integration and interop tests.

Theory of operation: a `ServerProc` starts either the real `redis-server` or
`python -m redkeep server` with the same redis-server style command line, in a private
directory that is both its cwd and its `--dir`, with stdout+stderr going to a log file in
that directory. `start()` polls with a deadline until the server answers PING on its port
(no fixed sleeps); if the process exits or the deadline passes, the log is included in the
exception. `stop()` signals the process *by pid* (SIGTERM, then SIGKILL after a deadline)
and reaps it. Every started process is also recorded in a module registry that an atexit
hook sweeps, so nothing outlives the test run even when a fixture's teardown never runs.

Environment knobs (for developing the harness, never needed in CI):

* ``REDKEEP_TEST_STANDIN=redis`` makes the "redkeep" kind start real redis-server instead,
  so the harness and the differential tests can be checked with redis on both sides.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

HOST = "127.0.0.1"
REDIS_SERVER = "redis-server"

# ---- Small utilities ----


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def require_binary(name: str) -> str:
    """Path of an external program; skip the test when it is missing, fail in CI."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name!r} binary not found on PATH (Debian packages redis-server / redis-tools)"
        if in_ci():
            pytest.fail(f"{reason}; CI=true so this is an error, not a skip", pytrace=False)
        pytest.skip(reason)
    return path


def raise_fd_limit(wanted: int = 65536) -> int:
    """Raise this process's soft RLIMIT_NOFILE towards `wanted` (capped by the hard limit),
    like `ulimit -n` in a shell; children started afterwards inherit it. Returns the soft
    limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def ping(port: int, host: str = HOST, timeout: float = 1.0, password: str = "") -> bool:
    """True when a fresh connection to host:port answers PING with +PONG (after AUTH
    `password` when one is given)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            want = b"+PONG\r\n"
            if password:
                pw = password.encode()
                s.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(pw), pw))
                want = b"+OK\r\n" + want
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            data = b""
            while data.count(b"\r\n") < want.count(b"\r\n"):
                chunk = s.recv(64)
                if not chunk:
                    return False
                data += chunk
            return data == want
    except OSError:
        return False


def wait_until(predicate, timeout: float, interval: float = 0.01, what: str = "condition"):
    """Poll `predicate` until it returns a truthy value or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


# ---- Server processes ----

_LIVE: dict[int, subprocess.Popen] = {}


def _kill_pid(proc: subprocess.Popen, term_timeout: float) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=term_timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@atexit.register
def _sweep_live_processes() -> None:
    for proc in list(_LIVE.values()):
        with contextlib.suppress(Exception):
            _kill_pid(proc, term_timeout=2.0)
    _LIVE.clear()


class ServerStartError(RuntimeError):
    pass


class ServerProc:
    """One redis-server or redkeep server process.

    kind: "redis" (real redis-server) or "redkeep" (`python -m redkeep server`).
    args: extra redis-server style arguments, e.g. ("--maxclients", "20000").
    """

    def __init__(
        self,
        kind: str,
        args: Sequence[str] = (),
        *,
        dir: str | os.PathLike | None = None,
        port: int | None = None,
        start_timeout: float = 30.0,
        password: str = "",
    ) -> None:
        if kind not in ("redis", "redkeep"):
            raise ValueError(f"unknown server kind {kind!r}")
        self.kind = kind
        self.extra_args = list(args)
        self._own_dir = dir is None
        self.dir = Path(dir) if dir is not None else Path(tempfile.mkdtemp(prefix=f"{kind}-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port if port is not None else free_port()
        self.start_timeout = start_timeout
        self.password = password     # AUTH before the PING that says "started"
        self.log_path = self.dir / "server.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    # -- identity --

    @property
    def pid(self) -> int:
        assert self.proc is not None, "server not started"
        return self.proc.pid

    @property
    def host(self) -> str:
        return HOST

    @property
    def is_real_redis(self) -> bool:
        return self.kind == "redis" or os.environ.get("REDKEEP_TEST_STANDIN") == "redis"

    def __repr__(self) -> str:
        pid = self.proc.pid if self.proc else None
        return f"<ServerProc {self.kind} port={self.port} pid={pid} dir={self.dir}>"

    def command_line(self) -> list[str]:
        common = ["--port", str(self.port), "--save", "", "--appendonly", "no",
                  "--dir", str(self.dir), "--enable-debug-command", "yes"]
        if self.is_real_redis:
            exe = shutil.which(REDIS_SERVER) or REDIS_SERVER
            return [exe, *common, *self.extra_args]
        return [sys.executable, "-m", "redkeep", "server", *common, *self.extra_args]

    # -- lifecycle --

    def start(self) -> ServerProc:
        """Start and wait until PING answers; retries with another port when the one
        picked by free_port() got taken in the meantime."""
        for attempt in range(3):
            try:
                self._start_once()
                return self
            except ServerStartError as e:
                if "in use" not in str(e).lower() or attempt == 2:
                    raise
                self.port = free_port()
        raise AssertionError("unreachable")

    def _start_once(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        env = dict(os.environ)
        src = str(Path(__file__).resolve().parents[2] / "src")
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.setdefault("PYTHONUNBUFFERED", "1")
        with open(self.log_path, "ab") as log:
            log.write(f"==== start #{self.starts}: {self.command_line()}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.command_line(), cwd=self.dir, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=env,
            )
        _LIVE[self.proc.pid] = self.proc
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self._forget()
                raise ServerStartError(
                    f"{self.kind} server exited with status {rc} before answering PING "
                    f"on port {self.port}\n{self.describe_log()}")
            if ping(self.port, timeout=0.5, password=self.password):
                return
            if time.monotonic() >= deadline:
                self.stop(remove_dir=False)
                raise ServerStartError(
                    f"{self.kind} server did not answer PING on port {self.port} within "
                    f"{self.start_timeout:.0f}s\n{self.describe_log()}")
            time.sleep(0.02)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, term_timeout: float = 5.0, remove_dir: bool | None = None) -> int | None:
        """SIGTERM by pid, SIGKILL after `term_timeout`, reap. Returns the exit status."""
        if self.proc is None:
            return None
        _kill_pid(self.proc, term_timeout)
        rc = self.proc.returncode
        self._forget()
        if remove_dir is None:
            remove_dir = self._own_dir and os.environ.get("REDKEEP_KEEP_LOGS") is None
        if remove_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        return rc

    def restart(self) -> ServerProc:
        """Start again on the same port (after a crash or a stop)."""
        if self.alive():
            self.stop(remove_dir=False)
        self.dir.mkdir(parents=True, exist_ok=True)
        return self.start()

    def _forget(self) -> None:
        if self.proc is not None:
            _LIVE.pop(self.proc.pid, None)

    def __enter__(self) -> ServerProc:
        return self.start() if not self.alive() else self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- diagnostics --

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def describe_log(self, tail_lines: int = 60) -> str:
        lines = self.log_text().splitlines()
        tail = "\n".join(lines[-tail_lines:])
        return f"--- {self.log_path} (last {tail_lines} lines) ---\n{tail}\n--- end of log ---"
