"""Real clients against a running server: redis-py (sync and asyncio, RESP2 and RESP3),
redis-cli (one-shot, --raw, -3, stdin, --pipe) and redis-benchmark.

Every test runs against redkeep and, as a control proving the test itself is right,
against real redis-server.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time

import pytest
import redis
import redis.asyncio

from support.procs import ServerProc, require_binary
from support.resp import RawConn


@pytest.fixture(params=["redkeep", "redis"])
def target(request) -> ServerProc:
    """A running server (session-scoped underneath), flushed before the test."""
    proc: ServerProc = request.getfixturevalue(f"{request.param}_server")
    with RawConn(proc.port) as c:
        assert c.call("FLUSHALL") == b"+OK\r\n"
    return proc


def _wait_message(get, timeout: float = 5.0):
    """Poll a pubsub get_message-like callable until it returns a message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = get()
        if msg is not None:
            return msg
    raise TimeoutError("no pubsub message within the deadline")


# ---- redis-py, sync ----


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_sync_basics(target, protocol):
    r = redis.Redis(port=target.port, protocol=protocol, socket_timeout=10)
    try:
        assert r.ping() is True
        assert r.set("a", "1") is True
        assert r.get("a") == b"1"
        assert r.get("missing") is None
        assert r.incr("a") == 2
        assert r.incrby("a", 10) == 12
        assert r.mset({"x": "1", "y": b"\x00\xff"}) is True
        assert r.mget("a", "x", "y", "missing") == [b"12", b"1", b"\x00\xff", None]
        assert r.set("a", "v", nx=True) is None
        assert r.set("t", "v", ex=100) is True
        assert 99 <= r.ttl("t") <= 100
        assert r.exists("a", "x", "missing") == 2
        assert r.delete("x", "missing") == 1
        assert r.incrbyfloat("f", 1.5) == 1.5
        with pytest.raises(redis.ResponseError, match="not an integer"):
            r.incr("y")
    finally:
        r.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_sync_hello(target, protocol):
    r = redis.Redis(port=target.port, protocol=protocol, socket_timeout=10)
    try:
        reply = r.execute_command("HELLO", protocol)
        if isinstance(reply, list):
            reply = dict(zip(reply[0::2], reply[1::2], strict=True))
        reply = {(k.decode() if isinstance(k, bytes) else k): v for k, v in reply.items()}
        assert reply["proto"] == protocol, reply
        assert reply["server"] in (b"redis", "redis"), reply
        assert {"version", "id", "mode", "role", "modules"} <= set(reply), reply
        assert r.client_id() == reply["id"]
    finally:
        r.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_sync_pipeline_and_transaction(target, protocol):
    r = redis.Redis(port=target.port, protocol=protocol, socket_timeout=10)
    try:
        with r.pipeline(transaction=False) as p:
            for i in range(100):
                p.set(f"k{i}", i)
            p.get("k42").incr("k42").mget("k1", "k2", "nope")
            results = p.execute()
        assert results[:100] == [True] * 100
        assert results[100:] == [b"42", 43, [b"1", b"2", None]]

        with r.pipeline(transaction=True) as p:
            p.set("tx", "1").incr("tx").get("tx")
            assert p.execute() == [True, 2, b"2"]

        def bump(pipe):
            current = int(pipe.get("counter") or 0)
            pipe.multi()
            pipe.set("counter", current + 1)

        for _ in range(3):
            r.transaction(bump, "counter")
        assert r.get("counter") == b"3"

        # WATCH conflict: the transaction is retried after another client's write
        other = redis.Redis(port=target.port, protocol=protocol)
        attempts = []

        def conflicting(pipe):
            attempts.append(1)
            value = pipe.get("w")
            if len(attempts) == 1:
                other.set("w", "changed")
            pipe.multi()
            pipe.set("w", (value or b"") + b"!")

        r.set("w", "orig")
        r.transaction(conflicting, "w")
        other.close()
        assert len(attempts) == 2
        assert r.get("w") == b"changed!"

        with pytest.raises(redis.ResponseError):
            with r.pipeline(transaction=True) as p:
                p.set("a", "1")
                p.execute_command("GET")  # wrong arity -> EXECABORT
                p.execute()
        assert r.exists("a") == 0
    finally:
        r.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_sync_pubsub(target, protocol):
    r = redis.Redis(port=target.port, protocol=protocol, socket_timeout=10)
    p = r.pubsub()
    try:
        p.subscribe("news")
        sub = _wait_message(lambda: p.get_message(timeout=0.1))
        assert sub["type"] == "subscribe" and sub["channel"] == b"news", sub
        p.psubscribe("n*")
        psub = _wait_message(lambda: p.get_message(timeout=0.1))
        assert psub["type"] == "psubscribe", psub
        assert r.publish("news", "hello") == 2
        got = [_wait_message(lambda: p.get_message(timeout=0.1)) for _ in range(2)]
        kinds = sorted((m["type"], m["data"]) for m in got)
        assert kinds == [("message", b"hello"), ("pmessage", b"hello")], got
        p.unsubscribe("news")
        p.punsubscribe("n*")
        unsubs = [_wait_message(lambda: p.get_message(timeout=0.1)) for _ in range(2)]
        assert sorted(m["type"] for m in unsubs) == ["punsubscribe", "unsubscribe"], unsubs
        assert r.publish("news", "nobody") == 0
    finally:
        p.close()
        r.close()


# ---- redis-py, asyncio ----


async def _async_round_trip(port: int, protocol: int) -> None:
    r = redis.asyncio.Redis(port=port, protocol=protocol, socket_timeout=10)
    try:
        assert await r.ping() is True
        assert await r.set("a", "1") is True
        assert await r.get("a") == b"1"
        assert await r.incr("a") == 2
        assert await r.mget("a", "nope") == [b"2", None]
        async with r.pipeline(transaction=False) as p:
            p.set("p", "x").get("p").incr("n")
            assert await p.execute() == [True, b"x", 1]
        async with r.pipeline(transaction=True) as p:
            p.incr("n").incr("n").get("n")
            assert await p.execute() == [2, 3, b"3"]
        hello = await r.execute_command("HELLO", protocol)
        if isinstance(hello, list):
            hello = dict(zip(hello[0::2], hello[1::2], strict=True))
        hello = {(k.decode() if isinstance(k, bytes) else k): v for k, v in hello.items()}
        assert hello["proto"] == protocol, hello

        # concurrent clients on one pool
        results = await asyncio.gather(*(r.incr("concurrent") for _ in range(50)))
        assert sorted(results) == list(range(1, 51))

        p = r.pubsub()
        await p.subscribe("chan")
        msg = None
        deadline = time.monotonic() + 5
        while msg is None and time.monotonic() < deadline:
            msg = await p.get_message(timeout=0.1)
        assert msg and msg["type"] == "subscribe", msg
        assert await r.publish("chan", "hi") == 1
        msg = None
        deadline = time.monotonic() + 5
        while msg is None and time.monotonic() < deadline:
            msg = await p.get_message(ignore_subscribe_messages=True, timeout=0.1)
        assert msg and msg["data"] == b"hi", msg
        await p.unsubscribe("chan")
        await p.aclose()
    finally:
        await r.aclose()


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_asyncio(target, protocol):
    asyncio.run(asyncio.wait_for(_async_round_trip(target.port, protocol), timeout=60))


# ---- redis-cli ----


def cli(port: int, *args: str, input: bytes | None = None, timeout: float = 60) -> str:
    exe = require_binary("redis-cli")
    proc = subprocess.run([exe, "-p", str(port), *args], input=input, capture_output=True,
                          timeout=timeout)
    out = proc.stdout.decode(errors="replace")
    assert proc.returncode == 0, (f"redis-cli {' '.join(args)} exited {proc.returncode}\n"
                                  f"stdout: {out}\nstderr: {proc.stderr.decode()}")
    return out


def test_redis_cli_one_shot(target):
    assert cli(target.port, "SET", "a", "b") == "OK\n"
    assert cli(target.port, "GET", "a") == "b\n"
    assert cli(target.port, "--raw", "GET", "a") == "b\n"
    assert cli(target.port, "--no-raw", "GET", "a") == '"b"\n'
    assert cli(target.port, "--no-raw", "GET", "missing") == "(nil)\n"
    assert cli(target.port, "--no-raw", "INCR", "n") == "(integer) 1\n"
    assert cli(target.port, "--no-raw", "INCR", "a") == \
        "(error) ERR value is not an integer or out of range\n"
    assert cli(target.port, "--no-raw", "MGET", "a", "missing") == '1) "b"\n2) (nil)\n'
    assert cli(target.port, "PING") == "PONG\n"
    assert cli(target.port, "-n", "3", "SET", "in3", "x") == "OK\n"
    assert cli(target.port, "-n", "3", "GET", "in3") == "x\n"
    assert cli(target.port, "GET", "in3") == "\n"


def test_redis_cli_resp3(target):
    out = cli(target.port, "-3", "--no-raw", "HELLO", "3")
    assert '"server" => "redis"' in out, out
    assert '"proto" => (integer) 3' in out, out
    assert cli(target.port, "-3", "SET", "k", "v") == "OK\n"
    assert cli(target.port, "-3", "--no-raw", "GET", "missing") == "(nil)\n"
    assert cli(target.port, "-3", "--no-raw", "MGET", "k", "missing") == '1) "v"\n2) (nil)\n'


def test_redis_cli_commands_on_stdin(target):
    script = b"SET x 1\nINCR x\nGET x\nMGET x nope\nSET 'quoted key' \"a b\"\nGET 'quoted key'\n"
    out = cli(target.port, input=script)
    assert out == "OK\n2\n2\n2\n\nOK\na b\n", repr(out)
    out = cli(target.port, "--no-raw", input=b"GET x\nEXISTS x nope\n")
    assert out == '"2"\n(integer) 1\n', repr(out)


def test_redis_cli_pipe_mass_insertion(target):
    n = 5000
    payload = b"".join(
        b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v)
        for k, v in ((b"mass:%d" % i, b"value-%d" % i) for i in range(n)))
    out = cli(target.port, "--pipe", input=payload, timeout=120)
    assert f"errors: 0, replies: {n}" in out, out
    assert cli(target.port, "DBSIZE") == f"{n}\n"
    assert cli(target.port, "GET", "mass:4321") == "value-4321\n"


# ---- redis-benchmark ----


@pytest.mark.timeout(300)
def test_redis_benchmark_core_tests(target):
    exe = require_binary("redis-benchmark")
    proc = subprocess.run(
        [exe, "-p", str(target.port), "-q", "-n", "2000",
         "-t", "ping_inline,ping_mbulk,set,get,incr,mset"],
        capture_output=True, timeout=240)
    out = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
    lines = [ln.strip() for ln in re.split(r"[\r\n]+", out) if ln.strip()]
    assert proc.returncode == 0, out
    assert not [ln for ln in lines if "error" in ln.lower()], out
    for label in ("PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "MSET (10 keys)"):
        pattern = re.compile(re.escape(label) + r": [\d.]+ requests per second")
        assert any(pattern.match(ln) for ln in lines), f"no result line for {label}:\n{out}"
    with RawConn(target.port) as c:
        assert c.call("GET", "key:__rand_int__") == b"$3\r\nVXK\r\n"


@pytest.mark.timeout(300)
def test_redis_benchmark_all_default_tests(target):
    """redis-benchmark's whole default suite (no -t): every test reports a result."""
    exe = require_binary("redis-benchmark")
    proc = subprocess.run([exe, "-p", str(target.port), "-q", "-n", "1000", "-c", "20"],
                          capture_output=True, timeout=280)
    out = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
    lines = [ln.strip() for ln in re.split(r"[\r\n]+", out) if ln.strip()]
    assert proc.returncode == 0, out
    assert not [ln for ln in lines if "error" in ln.lower()], out
    labels = ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "LPUSH", "RPUSH", "LPOP",
              "RPOP", "SADD", "HSET", "SPOP", "ZADD", "ZPOPMIN",
              "LPUSH (needed to benchmark LRANGE)", "LRANGE_100 (first 100 elements)",
              "LRANGE_300 (first 300 elements)", "LRANGE_500 (first 500 elements)",
              "LRANGE_600 (first 600 elements)", "MSET (10 keys)"]
    for label in labels:
        pattern = re.compile(re.escape(label) + r": [\d.]+ requests per second")
        assert any(pattern.match(ln) for ln in lines), f"no result line for {label}:\n{out}"
