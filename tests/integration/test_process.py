"""redkeep-server behaves like redis-server as a process: config file, daemonize, pidfile,
logfile, SIGTERM, --version, config from stdin, fatal config errors, `redkeep up/down`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from support.procs import free_port, ping, wait_until


def answers(port: int) -> bool:
    """Up and speaking RESP (a password-protected server answers PING with NOAUTH)."""
    try:
        return redis.Redis(port=port, socket_timeout=1).ping()
    except redis.AuthenticationError:
        return True
    except redis.ConnectionError:
        return False

PY = [sys.executable, "-m", "redkeep"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_version() -> None:
    out = subprocess.run([*PY, "server", "--version"], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0
    assert out.stdout.startswith("Redis server v=7.0.15")


def test_daemonize_pidfile_logfile_and_sigterm(tmp_path: Path) -> None:
    port = free_port()
    conf = tmp_path / "redis.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndaemonize yes\n"
        f'pidfile "{tmp_path}/r.pid"\nlogfile "r.log"\ndir "{tmp_path}"\n'
        "requirepass 123456\nsave \"\"\n")
    pidfile = tmp_path / "r.pid"
    try:
        done = subprocess.run([*PY, "server", str(conf)], capture_output=True, text=True,
                              timeout=30, cwd=tmp_path)
        assert done.returncode == 0, done.stderr  # the foreground process returns at once
        wait_until(lambda: answers(port), 20, what="daemonized server answering")
        pid = int(pidfile.read_text())
        r = redis.Redis(port=port, password="123456")
        assert r.set("hello", "world") and r.get("hello") == b"world"
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port).get("hello")
        log = (tmp_path / "r.log").read_text()
        assert f"{pid}:M" in log and "Ready to accept connections" in log
    finally:
        if pidfile.exists():  # the daemon is stopped by pid even when the test failed
            os.kill(int(pidfile.read_text()), signal.SIGTERM)
    wait_until(lambda: not _alive(pid), 20, what="server exit after SIGTERM")
    assert not (tmp_path / "r.pid").exists()
    assert "Redis is now ready to exit, bye bye..." in (tmp_path / "r.log").read_text()


def test_config_from_stdin_and_overrides(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([*PY, "server", "-", "--port", str(port)], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=tmp_path, text=True)
    try:
        proc.stdin.write('port 1\nsave ""\nmaxmemory-policy allkeys-lru\n')
        proc.stdin.close()
        wait_until(lambda: ping(port), 20, what="server configured from stdin")
        r = redis.Redis(port=port)
        assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
        assert r.config_get("port") == {"port": str(port)}   # the override wins
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)


def test_fatal_config_error_shape(tmp_path: Path) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text("port 7000\nsentinel monitor mymaster 127.0.0.1 6379 2\nmaxmemory lots\n")
    done = subprocess.run([*PY, "server", str(conf)], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 1
    assert "*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***" in done.stderr
    assert "Reading the configuration file, at line 2" in done.stderr
    assert ">>> 'sentinel monitor mymaster 127.0.0.1 6379 2'" in done.stderr


def test_protected_mode_denies_non_loopback(tmp_path: Path) -> None:
    """With no password, a client from a non-loopback address gets Redis's DENIED text."""
    import socket

    addrs = [a for a in _local_non_loopback_ipv4()]
    if not addrs:
        pytest.skip("this machine has no non-loopback IPv4 address to connect from")
    port = free_port()
    proc = subprocess.Popen([*PY, "server", "--port", str(port), "--save", ""],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        wait_until(lambda: ping(port), 20, what="server up")
        with socket.create_connection((addrs[0], port), timeout=5) as s:
            s.sendall(b"PING\r\n")
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        assert data.startswith(b"-DENIED Redis is running in protected mode")
        assert ping(port)   # loopback still served
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _local_non_loopback_ipv4() -> list[str]:
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True)
    return [a for a in out.stdout.split() if "." in a and not a.startswith("127.")]


def test_up_status_down(tmp_path: Path) -> None:
    root = tmp_path / "run"
    port = free_port()
    up = subprocess.run([*PY, "up", "--dir", str(root), "--port", str(port)],
                        capture_output=True, text=True, timeout=60)
    assert up.returncode == 0, up.stderr
    assert "connect: redis-cli -p" in up.stdout
    try:
        used = int(up.stdout.split("connect: redis-cli -p ")[1].split()[0])
        assert redis.Redis(port=used).ping()
        st = subprocess.run([*PY, "status", "--dir", str(root)], capture_output=True,
                            text=True, timeout=60)
        assert st.returncode == 0 and "master" in st.stdout
    finally:
        down = subprocess.run([*PY, "down", "--dir", str(root)], capture_output=True,
                              text=True, timeout=60)
    assert down.returncode == 0, down.stderr
    assert "stopped" in down.stdout
    assert not ping(used)
