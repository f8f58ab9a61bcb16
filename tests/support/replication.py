"""Helpers for replication tests: a group of server processes, INFO polling, digests.

Theory of operation: a `Group` starts `ServerProc`s (real redis-server or redkeep) in
directories under one base directory, remembers them and stops every one of them
(`close()`), whatever happens. A `Node` wraps one process with a persistent RESP
connection that reconnects after a restart and authenticates with the node's password.
Waits poll with a deadline and, when they time out, raise with the tail of every node's
log so a failure explains itself. `in_sync()` is the end-of-test check: every replica's
link is up and its `slave_repl_offset` equals the master's `master_repl_offset` (read
before and after, so a concurrent write or PING can't fake it).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.procs import ServerProc
from support.resp import ConnectionClosed, RawConn, ReplyError

FAR_MS = 4102444800000          # 2100-01-01 in unix ms


class Node:
    def __init__(self, proc: ServerProc, password: str = "") -> None:
        self.proc = proc
        self.password = password
        self._conn: RawConn | None = None

    def __repr__(self) -> str:
        return f"<Node {self.proc.kind}:{self.port}>"

    @property
    def port(self) -> int:
        return self.proc.port

    @property
    def kind(self) -> str:
        return self.proc.kind

    def connect(self, timeout: float = 20.0) -> RawConn:
        c = RawConn(self.port, timeout=timeout)
        if self.password:
            reply = c.call_py("AUTH", self.password)
            assert reply == "OK", reply
        return c

    def raw(self, *args: Any) -> Any:
        """One command on the node's connection; error replies are returned, not raised.
        A connection the server closed (restart, CLIENT KILL) is reopened once."""
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = self.connect()
            try:
                return self._conn.call_py(*args)
            except (ConnectionClosed, ConnectionResetError, BrokenPipeError):
                self.drop_connection()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def __call__(self, *args: Any) -> Any:
        reply = self.raw(*args)
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    def drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
            self._conn = None

    def info(self, section: str = "replication") -> dict[str, str]:
        text = self("INFO", section)
        text = text.decode() if isinstance(text, bytes) else str(text)
        return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)

    def stat(self, name: str) -> int:
        return int(self.info("stats").get(name, "0"))

    def digest(self) -> bytes:
        return self("DEBUG", "DIGEST")

    def replicaof(self, master: Node | None) -> Any:
        if master is None:
            return self("REPLICAOF", "NO", "ONE")
        return self("REPLICAOF", "127.0.0.1", master.port)

    def link_up(self) -> bool:
        try:
            return self.info().get("master_link_status") == "up"
        except (OSError, ReplyError):
            return False

    def kill9(self) -> None:
        """kill -9 by pid, reap; the directory (and its logs) stays."""
        self.drop_connection()
        if self.proc.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.stop(remove_dir=False)

    def restart(self) -> None:
        self.drop_connection()
        self.proc.start()


class Group:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.nodes: list[Node] = []

    def start(self, kind: str, *args: str, password: str = "") -> Node:
        directory = self.base / f"{kind}-{len(self.nodes)}"
        if password:
            args = ("--requirepass", password, "--masterauth", password, *args)
        # full syncs start at once unless a test asks for the delay (last one wins)
        args = ("--repl-diskless-sync-delay", "0", *args)
        node = Node(ServerProc(kind, args, dir=directory, password=password), password)
        self.nodes.append(node)
        node.proc.start()
        return node

    def close(self) -> None:
        for n in self.nodes:
            n.drop_connection()
            with contextlib.suppress(Exception):
                n.proc.stop(remove_dir=False)

    def logs(self, lines: int = 40) -> str:
        return "\n".join(n.proc.describe_log(lines) for n in self.nodes)

    def wait(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = predicate()
            except (OSError, ReplyError, ConnectionClosed):
                value = None
            if value:
                return value
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n"
                                     f"{self.logs()}")
            time.sleep(0.05)

    def wait_link_up(self, *replicas: Node, timeout: float = 30.0) -> None:
        self.wait(lambda: all(r.link_up() for r in replicas), timeout,
                  f"master_link_status:up on {replicas}")

    def wait_in_sync(self, master: Node, replicas: list[Node], timeout: float = 30.0) -> int:
        """Every replica processed every byte the master produced; returns that offset."""
        def check() -> tuple[int] | None:     # a tuple: offset 0 is an answer too
            before = int(master.info()["master_repl_offset"])
            for r in replicas:
                i = r.info()
                if i.get("master_link_status") != "up" or int(i["slave_repl_offset"]) != before:
                    return None
            after = int(master.info()["master_repl_offset"])
            return (before,) if after == before else None
        return self.wait(check, timeout, f"{replicas} in sync with {master}")[0]

    def assert_same_data(self, master: Node, replicas: list[Node], note: str = "") -> None:
        want = master.digest()
        got = {r.port: r.digest() for r in replicas}
        assert all(d == want for d in got.values()), \
            f"{note}\ndigest of master {master}: {want!r}, replicas: {got}\n{self.logs()}"


# ---- Data of every type ----


def fill_every_type(node: Node, prefix: str = "") -> None:
    """Every type, small and large encodings, TTLs far away, three databases."""
    p = prefix
    r = node
    r("SELECT", 0)
    r("SET", f"{p}s:small", "hello")
    r("SET", f"{p}s:int", "12345")
    r("SET", f"{p}s:long", "abc" * 200)
    r("SET", f"{p}s:ttl", "x", "PXAT", FAR_MS)
    r("RPUSH", f"{p}l:small", "a", "1", "-100", "x" * 70)
    r("RPUSH", f"{p}l:big", *[f"item-{i}" for i in range(600)])
    r("PEXPIREAT", f"{p}l:big", FAR_MS + 1)
    r("HSET", f"{p}h:small", "f1", "v1", "n", "42")
    r("HSET", f"{p}h:big", *[x for i in range(300) for x in (f"f{i}", str(i * 3))])
    r("SADD", f"{p}set:ints", "1", "-2", "300", "70000", "5000000000")
    r("SADD", f"{p}set:strs", "a", "b", "c")
    r("SADD", f"{p}set:big", *[str(i) for i in range(300)])
    r("ZADD", f"{p}z:small", "1", "a", "2.5", "b", "-3", "c", "inf", "d")
    r("ZADD", f"{p}z:big", *[x for i in range(200) for x in (str(i / 7), f"m{i}")])
    for i in range(30):
        r("XADD", f"{p}x:stream", f"{1000 + i}-{i % 3}", "a", str(i), "b", "y" * (i % 7))
    r("SELECT", 1)
    r("SET", f"{p}s:small", "other db")
    r("HSET", f"{p}h:ttl", "a", "b")
    r("PEXPIREAT", f"{p}h:ttl", FAR_MS + 2)
    r("SELECT", 9)
    r("LPUSH", f"{p}l:one", "only")
    r("SELECT", 0)


def random_write(rnd: random.Random, nkeys: int = 200, short_ttl: bool = True) -> list[Any]:
    """One random write command of any type (some with expirations)."""
    k = rnd.randrange(nkeys)
    v = rnd.choice(["v", "12", "-3.5", "x" * rnd.randrange(1, 300), "\x00\r\nbin"])
    n = rnd.randrange(1, 6)
    ops: list[list[Any]] = [
        ["SET", f"s{k}", v],
        ["SET", f"s{k}", v, "PX", rnd.randrange(20, 800)] if short_ttl else ["SET", f"s{k}", v],
        ["APPEND", f"s{k}", v],
        ["INCRBY", f"i{k}", rnd.randrange(-50, 50)],
        ["INCRBYFLOAT", f"f{k}", "1.5"],
        ["RPUSH", f"l{k}", *[f"e{rnd.randrange(100)}" for _ in range(n)]],
        ["LPOP", f"l{k}"],
        ["LMOVE", f"l{k}", f"l{(k + 1) % nkeys}", "LEFT", "RIGHT"],
        ["HSET", f"h{k}", *[x for j in range(n) for x in (f"f{rnd.randrange(50)}", v)]],
        ["HINCRBY", f"h{k}", "cnt", 3],
        ["HDEL", f"h{k}", f"f{rnd.randrange(50)}"],
        ["SADD", f"t{k}", *[str(rnd.randrange(1000)) for _ in range(n)]],
        ["SPOP", f"t{k}"],
        ["SREM", f"t{k}", str(rnd.randrange(1000))],
        ["ZADD", f"z{k}", *[x for _ in range(n) for x in (str(rnd.randrange(-99, 99) / 4),
                                                          f"m{rnd.randrange(80)}")]],
        ["ZINCRBY", f"z{k}", "2.25", f"m{rnd.randrange(80)}"],
        ["ZPOPMIN", f"z{k}"],
        ["XADD", f"x{k}", "MAXLEN", "~", "50", "*", "f", v],
        ["EXPIRE", f"h{k}", rnd.randrange(1, 3)] if short_ttl else ["PERSIST", f"h{k}"],
        ["PEXPIRE", f"z{k}", rnd.randrange(50, 900)] if short_ttl else ["PERSIST", f"z{k}"],
        ["EXPIREAT", f"l{k}", FAR_MS // 1000],
        ["PERSIST", f"s{k}"],
        ["DEL", f"s{k}", f"t{k}"],
        ["UNLINK", f"i{k}"],
        ["RENAME", f"h{k}", f"h{(k + 7) % nkeys}"],
        ["EVAL", "redis.call('incr', KEYS[1]); return redis.call('srandmember', KEYS[2])",
         2, f"i{k}", f"t{k}"],
        ["EVAL", "return redis.call('spop', KEYS[1])", 1, f"t{k}"],
    ]
    return rnd.choice(ops)


class Writer(threading.Thread):
    """Writes random commands to a node until stopped; counts what it sent."""

    def __init__(self, node: Node, seed: int, nkeys: int = 200, short_ttl: bool = True,
                 dbs: int = 1) -> None:
        super().__init__(daemon=True)
        self.node, self.rnd, self.nkeys = node, random.Random(seed), nkeys
        self.short_ttl, self.dbs = short_ttl, dbs
        self.stop_flag = threading.Event()
        self.sent = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            conn = self.node.connect()
            while not self.stop_flag.is_set():
                if self.dbs > 1 and self.rnd.random() < 0.1:
                    conn.call_py("SELECT", self.rnd.randrange(self.dbs))
                if self.rnd.random() < 0.05:
                    cmds = [random_write(self.rnd, self.nkeys, self.short_ttl)
                            for _ in range(self.rnd.randrange(1, 5))]
                    conn.send_many([("MULTI",), *[tuple(c) for c in cmds], ("EXEC",)])
                    conn.read_replies(len(cmds) + 2)
                else:
                    conn.call_py(*random_write(self.rnd, self.nkeys, self.short_ttl))
                self.sent += 1
            conn.close()
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e

    def finish(self) -> None:
        self.stop_flag.set()
        self.join(timeout=30)
        assert not self.is_alive(), "writer thread did not stop"
        if self.error is not None:
            raise self.error
