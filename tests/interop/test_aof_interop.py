"""Multi-part AOF directories moving between redkeep and real redis-server 7.0.15.

Each test fills a server with every type (strings, lists, hashes, sets, zsets, streams;
small and large encodings), TTLs and several databases, stops it (SIGTERM: the AOF is
written and fsynced), copies its ``appendonlydir`` to a fresh directory and starts the
other server there with ``appendonly yes``. DEBUG DIGEST (redkeep implements Redis's
algorithm) must be equal, and every key must match: DEBUG DIGEST-VALUE and PEXPIRETIME.

Directions: redkeep's incr file on an RDB-preamble base, after BGREWRITEAOF (RDB base
and command base), after CONFIG SET appendonly yes at runtime; and real redis-server's
directory (RDB base + incr, and a command base) loading in redkeep.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from support.procs import ServerProc, require_binary, wait_until
from support.resp import Conn

pytestmark = pytest.mark.interop

FAR = 4102444800000          # 2100-01-01 in unix ms


def fill(r: Conn, tag: str = "") -> None:
    """Every type, small and large encodings, absolute TTLs, three databases."""
    r("SELECT", 0)
    r("SET", f"s:small{tag}", "hello")
    r("SET", f"s:int{tag}", "12345")
    r("INCR", f"s:int{tag}")
    r("APPEND", f"s:long{tag}", "abc" * 200)
    r("SET", f"s:ttl{tag}", "x", "PXAT", FAR)
    r("RPUSH", f"l:small{tag}", "a", "1", "-100", "x" * 70)
    r("LPUSH", f"l:small{tag}", "first")
    r("RPUSH", f"l:big{tag}", *[f"item-{i}" for i in range(700)])
    r("PEXPIREAT", f"l:big{tag}", FAR + 1)
    r("HSET", f"h:small{tag}", "f1", "v1", "n", "42")
    r("HINCRBY", f"h:small{tag}", "n", "8")
    r("HSET", f"h:big{tag}", *[x for i in range(600) for x in (f"f{i}", str(i * 3))])
    r("SADD", f"set:ints{tag}", "1", "-2", "300", "70000", "5000000000")
    r("SADD", f"set:strs{tag}", "a", "b", "c")
    r("SREM", f"set:strs{tag}", "b")
    r("SADD", f"set:big{tag}", *[str(i) for i in range(600)])
    r("ZADD", f"z:small{tag}", "1", "a", "2.5", "b", "-3", "c", "inf", "d")
    r("ZINCRBY", f"z:small{tag}", "0.5", "a")
    r("ZADD", f"z:big{tag}", *[x for i in range(200) for x in (str(i / 7), f"m{i}")])
    for i in range(40):
        r("XADD", f"x:stream{tag}", f"{1000 + i}-{i % 3}", "a", str(i), "b", "y" * (i % 7))
    r("XDEL", f"x:stream{tag}", "1039-0")
    r("SET", f"gone{tag}", "1")
    r("DEL", f"gone{tag}")
    r("SELECT", 1)
    r("SET", f"s:small{tag}", "other db")
    r("HSET", f"h:ttl{tag}", "a", "b")
    r("PEXPIREAT", f"h:ttl{tag}", FAR + 2)
    r("MULTI")
    r("INCRBY", f"counter{tag}", "5")
    r("RPUSH", f"l:tx{tag}", "q")
    r("EXEC")
    r("SELECT", 9)
    r("LPUSH", f"l:one{tag}", "only")
    r("SELECT", 0)


def dataset(port: int) -> tuple[bytes, dict[int, dict[bytes, tuple[bytes, int]]]]:
    """DEBUG DIGEST and, per db, key -> (DEBUG DIGEST-VALUE, PEXPIRETIME)."""
    out: dict[int, dict[bytes, tuple[bytes, int]]] = {}
    with Conn(port) as r:
        digest = r("DEBUG", "DIGEST")
        for db in range(16):
            r("SELECT", db)
            keys = sorted(r("KEYS", "*"))
            if keys:
                out[db] = {k: (r("DEBUG", "DIGEST-VALUE", k)[0], r("PEXPIRETIME", k))
                           for k in keys}
    return digest, out


def info(r: Conn) -> dict[str, str]:
    text = r("INFO", "persistence")
    text = text.decode() if isinstance(text, bytes) else str(text)
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def wait_rewrite(r: Conn, rewrites: int) -> None:
    def done() -> bool:
        f = info(r)
        return (f["aof_rewrite_in_progress"] == "0" and f["aof_rewrite_scheduled"] == "0"
                and int(f["aof_rewrites"]) >= rewrites)
    wait_until(done, timeout=30, what="AOF rewrite to finish")
    assert info(r)["aof_last_bgrewrite_status"] == "ok"


def start(procs: list[ServerProc], kind: str, directory: Path, *args: str) -> ServerProc:
    if kind == "redis":
        require_binary("redis-server")
    p = ServerProc(kind, ("--appendonly", "yes", *args), dir=directory)
    procs.append(p)
    return p.start()


def move_to(procs, src: ServerProc, kind: str, dest: Path, *args: str):
    """Stop `src` (SIGTERM), copy its appendonlydir to `dest`, start `kind` there."""
    expected = dataset(src.port)
    assert src.stop(remove_dir=False) == 0
    shutil.copytree(src.dir / "appendonlydir", dest / "appendonlydir")
    p = start(procs, kind, dest, *args)
    return p, expected


def manifest_of(p: ServerProc) -> str:
    return (p.dir / "appendonlydir" / "appendonly.aof.manifest").read_text()


def test_redkeep_incr_file_loads_in_redis(procs, tmp_path):
    rk = start(procs, "redkeep", tmp_path / "rk")
    with Conn(rk.port) as r:
        fill(r)
    assert manifest_of(rk) == ("file appendonly.aof.1.base.rdb seq 1 type b\n"
                               "file appendonly.aof.1.incr.aof seq 1 type i\n")
    redis, expected = move_to(procs, rk, "redis", tmp_path / "redis")
    assert dataset(redis.port) == expected
    assert "DB loaded from incr file appendonly.aof.1.incr.aof" in redis.log_text()


@pytest.mark.parametrize("preamble", ["yes", "no"])
def test_redkeep_rewritten_aof_loads_in_redis(procs, tmp_path, preamble):
    rk = start(procs, "redkeep", tmp_path / "rk", "--aof-use-rdb-preamble", preamble)
    with Conn(rk.port) as r:
        fill(r)
        assert r("BGREWRITEAOF") == "Background append only file rewriting started"
        wait_rewrite(r, 1)
        fill(r, ":after")                      # goes to the new incr file
    suffix = "rdb" if preamble == "yes" else "aof"
    assert manifest_of(rk) == (f"file appendonly.aof.2.base.{suffix} seq 2 type b\n"
                               "file appendonly.aof.2.incr.aof seq 2 type i\n")
    files = sorted(f.name for f in (rk.dir / "appendonlydir").iterdir())
    assert files == [f"appendonly.aof.2.base.{suffix}", "appendonly.aof.2.incr.aof",
                     "appendonly.aof.manifest"]           # history deleted
    redis, expected = move_to(procs, rk, "redis", tmp_path / "redis")
    assert dataset(redis.port) == expected
    # and redkeep itself restarts on the same files
    rk2 = start(procs, "redkeep", rk.dir)
    assert dataset(rk2.port) == expected


@pytest.mark.parametrize("preamble", ["yes", "no"])
def test_redis_aof_loads_in_redkeep(procs, tmp_path, preamble):
    redis = start(procs, "redis", tmp_path / "redis", "--aof-use-rdb-preamble", preamble)
    with Conn(redis.port) as r:
        fill(r)
        assert r("BGREWRITEAOF") == "Background append only file rewriting started"
        wait_rewrite(r, 1)
        fill(r, ":after")
    rk, expected = move_to(procs, redis, "redkeep", tmp_path / "rk")
    assert dataset(rk.port) == expected
    log = rk.log_text()
    assert "DB loaded from append only file" in log
    assert "Opening AOF incr file appendonly.aof.2.incr.aof on server start" in log


def test_config_set_appendonly_at_runtime(procs, tmp_path):
    rk = ServerProc("redkeep", dir=tmp_path / "rk")       # appendonly no
    procs.append(rk)
    rk.start()
    with Conn(rk.port) as r:
        fill(r)
        assert r("CONFIG", "SET", "appendonly", "yes") == "OK"
        wait_rewrite(r, 1)
        assert info(r)["aof_enabled"] == "1"
        fill(r, ":after")
        assert r("CONFIG", "SET", "appendonly", "no") == "OK"
        r("SET", "not:in:aof", "1")
        r("DEL", "not:in:aof")
        assert r("CONFIG", "SET", "appendonly", "yes") == "OK"
        wait_rewrite(r, 2)
        r("SET", "after:second:enable", "v")
    assert manifest_of(rk) == ("file appendonly.aof.2.base.rdb seq 2 type b\n"
                               "file appendonly.aof.2.incr.aof seq 2 type i\n")
    log = rk.log_text()
    assert "Creating AOF incr file temp-appendonly.aof.incr on background rewrite" in log
    assert ("Successfully renamed the temporary AOF incr file temp-appendonly.aof.incr into "
            "appendonly.aof.1.incr.aof") in log
    redis, expected = move_to(procs, rk, "redis", tmp_path / "redis")
    assert dataset(redis.port) == expected


def test_bgrewriteaof_replies_and_child_exclusivity(procs, tmp_path):
    """BGREWRITEAOF / BGSAVE while the other child runs answer as real redis does."""
    replies = {}
    for kind in ("redis", "redkeep"):
        p = start(procs, kind, tmp_path / kind)
        with Conn(p.port) as r:
            r("DEBUG", "POPULATE", "200000" if kind == "redkeep" else "20000")
            if kind == "redis":
                r("CONFIG", "SET", "rdb-key-save-delay", "100")   # a slow child
            got = [r.call("BGREWRITEAOF"), r.call("BGREWRITEAOF"), r.call("BGSAVE"),
                   r.call("BGSAVE", "SCHEDULE")]
            wait_until(lambda r=r: info(r)["aof_rewrite_in_progress"] == "0", timeout=60,
                       what="rewrite")
            wait_until(lambda r=r: info(r)["rdb_bgsave_in_progress"] == "0"
                       and int(info(r)["rdb_saves"]) == 1, timeout=60, what="scheduled BGSAVE")
            got.append(r.call("BGSAVE"))
            got.append(r.call("BGREWRITEAOF"))
            got.append(r.call("BGSAVE"))
            replies[kind] = got
            r("CONFIG", "SET", "rdb-key-save-delay", "0")
            wait_until(lambda r=r: info(r)["aof_rewrite_in_progress"] == "0"
                       and info(r)["rdb_bgsave_in_progress"] == "0"
                       and info(r)["aof_rewrite_scheduled"] == "0", timeout=60, what="idle")
    assert replies["redkeep"] == replies["redis"]


def _start_fails(kind: str, directory: Path) -> tuple[int, str]:
    """Start a server that must refuse to start; its exit status and log."""
    from support.procs import ServerStartError
    p = ServerProc(kind, ("--appendonly", "yes"), dir=directory, start_timeout=20)
    with pytest.raises(ServerStartError):
        p.start()
    return p.starts, p.log_text()


def _aof_dir_with(directory: Path, incr: bytes) -> None:
    d = directory / "appendonlydir"
    d.mkdir(parents=True)
    (d / "appendonly.aof.1.base.aof").write_bytes(b"")
    (d / "appendonly.aof.1.incr.aof").write_bytes(incr)
    (d / "appendonly.aof.manifest").write_text(
        "file appendonly.aof.1.base.aof seq 1 type b\n"
        "file appendonly.aof.1.incr.aof seq 1 type i\n")


GOOD = (b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n"
        b"*3\r\n$5\r\nRPUSH\r\n$1\r\nl\r\n$1\r\nx\r\n")


def test_torn_tail_and_corruption_handled_as_redis(procs, tmp_path):
    require_binary("redis-server")
    for kind in ("redis", "redkeep"):
        torn = tmp_path / f"{kind}-torn"
        _aof_dir_with(torn, GOOD + b"*3\r\n$3\r\nSET\r\n$1\r\nb")
        p = start(procs, kind, torn)
        with Conn(p.port) as r:
            assert r("DBSIZE") == 2
        log = p.log_text()
        assert "!!! Truncating the AOF appendonly.aof.1.incr.aof at offset %d !!!" % len(GOOD) \
            in log, kind
        assert "AOF appendonly.aof.1.incr.aof loaded anyway because aof-load-truncated is " \
            "enabled" in log
        assert (torn / "appendonlydir" / "appendonly.aof.1.incr.aof").read_bytes() == GOOD
        bad = tmp_path / f"{kind}-bad"
        _aof_dir_with(bad, GOOD + b"garbage" + GOOD)
        _, log = _start_fails(kind, bad)
        assert "Bad file format reading the append only file appendonly.aof.1.incr.aof: make " \
            "a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>" \
            in log, kind
        if kind == "redkeep":
            assert f"not valid from offset {len(GOOD)}" in log


def test_appendonly_yes_ignores_dump_rdb_like_redis_7_0(procs, tmp_path):
    """Redis 7.0 with appendonly yes and no AOF yet does not read dump.rdb: it starts
    empty and writes an empty base. redkeep does the same."""
    sizes = {}
    for kind in ("redis", "redkeep"):
        d = tmp_path / kind
        p = start(procs, kind, d, "--appendonly", "no")
        with Conn(p.port) as r:
            r("SET", "k", "v")
            assert r("SAVE") == "OK"
        p.stop(remove_dir=False)
        p2 = start(procs, kind, d)
        with Conn(p2.port) as r:
            sizes[kind] = r("DBSIZE")
        assert "Creating AOF base file appendonly.aof.1.base.rdb on server start" \
            in p2.log_text()
    assert sizes == {"redis": 0, "redkeep": 0}
