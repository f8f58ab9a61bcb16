"""redis-py's `Lock` (EVALSHA/EVAL Lua scripts under the hood) running unchanged.

Acquire, extend, reacquire, release and ownership errors in one process, then two
worker processes contending for the same lock around a read-modify-write of a counter:
no update may be lost and the lock must always come back. Each test runs against
redkeep and, as a control proving the test itself is right, real redis-server.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
import redis
from redis.exceptions import LockError, LockNotOwnedError

from support.procs import ServerProc
from support.resp import RawConn


@pytest.fixture(params=["redkeep", "redis"])
def target(request) -> ServerProc:
    proc: ServerProc = request.getfixturevalue(f"{request.param}_server")
    with RawConn(proc.port) as c:
        assert c.call("FLUSHALL") == b"+OK\r\n"
        assert c.call("SCRIPT", "FLUSH") == b"+OK\r\n"
    yield proc
    with RawConn(proc.port) as c:     # leave the shared server as we found it
        c.call("SCRIPT", "FLUSH")


def test_acquire_extend_release(target):
    r = redis.Redis(port=target.port, socket_timeout=10)
    try:
        lock = r.lock("resource", timeout=5)
        assert lock.acquire(blocking=False) is True
        assert lock.locked() and lock.owned()
        assert 0 < r.pttl("resource") <= 5000
        # a second lock object (another owner) cannot take it
        other = r.lock("resource", timeout=5)
        assert other.acquire(blocking=False) is False
        assert other.acquire(blocking=True, blocking_timeout=0.2) is False
        # extend adds time; replace_ttl sets it
        assert lock.extend(10) is True
        assert 10000 < r.pttl("resource") <= 15000
        assert lock.extend(3, replace_ttl=True) is True
        assert 0 < r.pttl("resource") <= 3000
        assert lock.reacquire() is True
        assert 3000 < r.pttl("resource") <= 5000
        other.local.token = b"not-the-owner"      # the Lua scripts check the token
        with pytest.raises(LockNotOwnedError):
            other.extend(1)
        with pytest.raises(LockNotOwnedError):
            other.reacquire()
        with pytest.raises(LockNotOwnedError):
            other.release()
        lock.release()
        assert not lock.locked()
        with pytest.raises(LockError):
            lock.release()
        # the scripts were cached with SCRIPT LOAD / EVALSHA
        assert all(r.script_exists(lock.lua_release.sha, lock.lua_extend.sha))
    finally:
        r.close()


def test_lock_survives_script_flush_and_expires(target):
    r = redis.Redis(port=target.port, socket_timeout=10)
    try:
        lock = r.lock("flushy", timeout=0.3)
        assert lock.acquire(blocking=False)
        r.script_flush()                       # EVALSHA gets NOSCRIPT, redis-py falls back
        assert lock.extend(0.2) is True
        deadline = time.monotonic() + 5
        while lock.locked():
            assert time.monotonic() < deadline, "lock never expired"
            time.sleep(0.02)
        with pytest.raises(LockNotOwnedError):
            lock.release()
        again = r.lock("flushy", timeout=5)
        assert again.acquire(blocking=False)
        again.release()
    finally:
        r.close()


def test_lock_with_context_manager_and_blocking(target):
    r = redis.Redis(port=target.port, socket_timeout=10)
    try:
        holder = r.lock("cm", timeout=0.5)
        assert holder.acquire(blocking=False)
        start = time.monotonic()
        with r.lock("cm", timeout=5, blocking_timeout=5, sleep=0.02) as waited:
            assert waited.owned()
            assert time.monotonic() - start >= 0.3   # had to wait for the expiry
        assert r.get("cm") is None
    finally:
        r.close()


WORKER = textwrap.dedent("""
    import sys, time, redis
    port, name, rounds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    r = redis.Redis(port=port, socket_timeout=20)
    held = 0
    for _ in range(rounds):
        with r.lock("counter-lock", timeout=10, blocking_timeout=30, sleep=0.001):
            value = int(r.get("counter") or 0)
            r.rpush("holders", name)
            time.sleep(0.0005)
            r.set("counter", value + 1)
            held += 1
    print(held)
""")


def test_contention_between_two_processes(target):
    rounds = 60
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(target.port), name, str(rounds)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in ("a", "b")]
    outputs = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        assert p.returncode == 0, err
        outputs.append(int(out.strip()))
    assert outputs == [rounds, rounds]
    r = redis.Redis(port=target.port, socket_timeout=10)
    try:
        assert int(r.get("counter")) == 2 * rounds          # no lost update
        holders = r.lrange("holders", 0, -1)
        assert sorted(holders) == sorted([b"a"] * rounds + [b"b"] * rounds)
        assert r.exists("counter-lock") == 0                 # released at the end
    finally:
        r.close()
