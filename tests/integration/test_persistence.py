"""RDB snapshots through real processes: SAVE + restart, BGSAVE, save points, SHUTDOWN
SAVE, a corrupt dump, and files moving between redkeep and a real redis-server 7.0
(DEBUG DIGEST equal on both sides). Every process is stopped by pid (ServerProc)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from support.procs import ServerProc, ServerStartError, require_binary, wait_until
from support.resp import Conn

FAR = 4102444800000          # 2100-01-01 in unix ms


def fill(r: Conn) -> None:
    """Every type, small and large encodings, TTLs, three databases."""
    r("SELECT", 0)
    r("SET", "s:small", "hello")
    r("SET", "s:int", "12345")
    r("SET", "s:long", "abc" * 200)
    r("SET", "s:ttl", "x", "PXAT", FAR)
    r("RPUSH", "l:small", "a", "1", "-100", "x" * 70)
    r("RPUSH", "l:big", *[f"item-{i}" for i in range(2000)])
    r("PEXPIREAT", "l:big", FAR + 1)
    r("HSET", "h:small", "f1", "v1", "n", "42")
    r("HSET", "h:big", *[x for i in range(600) for x in (f"f{i}", str(i * 3))])
    r("SADD", "set:ints", "1", "-2", "300", "70000", "5000000000")
    r("SADD", "set:strs", "a", "b", "c")
    r("SADD", "set:big", *[str(i) for i in range(600)])
    r("ZADD", "z:small", "1", "a", "2.5", "b", "-3", "c", "inf", "d")
    r("ZADD", "z:big", *[x for i in range(200) for x in (str(i / 7), f"m{i}")])
    for i in range(50):
        r("XADD", "x:stream", f"{1000 + i}-{i % 3}", "a", str(i), "b", "y" * (i % 7))
    r("SELECT", 1)
    r("SET", "s:small", "other db")
    r("HSET", "h:ttl", "a", "b")
    r("PEXPIREAT", "h:ttl", FAR + 2)
    r("SELECT", 9)
    r("LPUSH", "l:one", "only")
    r("SELECT", 0)


def digest(port: int) -> bytes:
    with Conn(port) as r:
        return r("DEBUG", "DIGEST")


def wait_bgsave_done(r: Conn, saves_before: int) -> None:
    def done() -> bool:
        info = r("INFO", "persistence")
        text = info.decode() if isinstance(info, bytes) else str(info)
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        return fields["rdb_bgsave_in_progress"] == "0" and int(fields["rdb_saves"]) > saves_before
    wait_until(done, timeout=20, what="BGSAVE to finish")


def start(procs: list[ServerProc], kind: str, directory: Path, *args: str) -> ServerProc:
    p = ServerProc(kind, args, dir=directory)
    procs.append(p)
    return p.start()


def test_save_and_restart_keeps_data(procs, tmp_path):
    p = start(procs, "redkeep", tmp_path)
    with Conn(p.port) as r:
        fill(r)
        before = r("DEBUG", "DIGEST")
        assert r("SAVE") == "OK"
        assert r("DBSIZE") > 0
    p.restart()
    assert digest(p.port) == before
    log = p.log_text()
    assert "Loading RDB produced by version 7.0.15" in log
    assert "Done loading RDB, keys loaded: 17, keys expired: 0." in log
    assert "DB loaded from disk:" in log


@pytest.mark.interop
def test_bgsave_file_loads_in_real_redis(procs, tmp_path):
    require_binary("redis-server")
    p = start(procs, "redkeep", tmp_path / "rk")
    with Conn(p.port) as r:
        fill(r)
        before = r("DEBUG", "DIGEST")
        assert r("BGSAVE") == "Background saving started"
        wait_bgsave_done(r, 0)
    assert "Background saving terminated with success" in p.log_text()
    other = tmp_path / "redis"
    other.mkdir()
    shutil.copy(tmp_path / "rk" / "dump.rdb", other / "from-redkeep.rdb")
    real = start(procs, "redis", other, "--dbfilename", "from-redkeep.rdb")
    assert digest(real.port) == before


@pytest.mark.interop
def test_real_redis_dump_loads_at_startup(procs, tmp_path):
    require_binary("redis-server")
    real = start(procs, "redis", tmp_path / "redis")
    with Conn(real.port) as r:
        fill(r)
        before = r("DEBUG", "DIGEST")
        assert r("SAVE") == "OK"
    (tmp_path / "rk").mkdir()
    shutil.copy(tmp_path / "redis" / "dump.rdb", tmp_path / "rk" / "dump.rdb")
    p = start(procs, "redkeep", tmp_path / "rk")
    assert digest(p.port) == before


def test_save_point_triggers_background_save(procs, tmp_path):
    p = start(procs, "redkeep", tmp_path, "--save", "1", "1")
    with Conn(p.port) as r:
        r("SET", "k", "v")
        wait_bgsave_done(r, 0)
    assert "1 changes in 1 seconds. Saving..." in p.log_text()
    assert (tmp_path / "dump.rdb").exists()


def test_shutdown_save_writes_the_file(procs, tmp_path):
    p = start(procs, "redkeep", tmp_path)
    with Conn(p.port) as r:
        r("SET", "k", "v")
        r.send("SHUTDOWN", "SAVE")
        r.wait_closed()
    p.proc.wait(timeout=10)
    assert (tmp_path / "dump.rdb").exists()
    p.restart()
    with Conn(p.port) as r:
        assert r("GET", "k") == b"v"


def test_corrupt_dump_refuses_to_start(procs, tmp_path):
    good = ServerProc("redkeep", dir=tmp_path)
    procs.append(good)
    good.start()
    with Conn(good.port) as r:
        r("SET", "k", "v" * 100)
        r("SAVE")
    good.stop(remove_dir=False)
    data = bytearray((tmp_path / "dump.rdb").read_bytes())
    data[-12] ^= 0xFF                      # inside the payload: the CRC no longer matches
    (tmp_path / "dump.rdb").write_bytes(bytes(data))
    started = time.monotonic()
    with pytest.raises(ServerStartError, match="exited with status 1"):
        good.start()
    assert time.monotonic() - started < 30
    assert "Terminating server after rdb file reading failure." in good.log_text()


def test_sigterm_saves_when_save_points_exist(procs, tmp_path):
    p = start(procs, "redkeep", tmp_path, "--save", "3600", "1")
    with Conn(p.port) as r:
        r("SET", "k", "v")
        r("SET", "gone", "x", "PX", "1")
    assert p.stop(remove_dir=False) == 0
    log = p.log_text()
    assert "Saving the final RDB snapshot before exiting." in log
    p.start()
    with Conn(p.port) as r:
        assert r("GET", "k") == b"v"
    assert "keys loaded: 1, keys expired: " in p.log_text()
