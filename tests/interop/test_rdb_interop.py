"""redkeep.persistence.rdb against real redis-server 7.0.15, both directions.

1) a real server filled with every type (small and large encodings, TTLs, several dbs)
   SAVEs; load_rdb reads its dump.rdb and every key equals what the server replies
   (value, TTL, OBJECT ENCODING, DEBUG DIGEST-VALUE);
2) dump_rdb writes an equivalent dataset built from redkeep values; redis-check-rdb
   accepts the file, a real server starts on it and every key matches (value, TTL, encoding, DEBUG DIGEST-VALUE, DEBUG DIGEST);
3) DUMP payloads: the server's DUMP loads with load_value, and dump_value's payloads are
   accepted by RESTORE with the same value.
"""

from __future__ import annotations

import random
import subprocess

import pytest

from redkeep.persistence.rdb import RDBError, dump_rdb, dump_value, load_rdb, load_value
from redkeep.server.digest import mix_value
from redkeep.server.types.hash import Hash
from redkeep.server.types.list import List
from redkeep.server.types.set import Set
from redkeep.server.types.stream import Stream
from redkeep.server.types.zset import ZSet
from support.procs import ServerProc, require_binary
from support.resp import Conn, ReplyError

pytestmark = pytest.mark.interop

FAR = 4102444800000          # 2100-01-01 in unix ms


def _rng_bytes(rng: random.Random, n: int) -> bytes:
    return bytes(rng.randrange(256) for _ in range(n))


def build_dataset() -> dict[int, dict[bytes, tuple[object, int | None]]]:
    """Every type in its small and large encodings, some with TTLs, in three dbs."""
    rng = random.Random(7)
    db0: dict[bytes, tuple[object, int | None]] = {
        b"s:small": (b"hello", None),
        b"s:int": (b"12345", FAR),
        b"s:neg": (b"-7", None),
        b"s:i32": (b"2147483647", None),
        b"s:i64": (b"9223372036854775807", None),
        b"s:lead0": (b"007", None),
        b"s:empty": (b"", None),
        b"s:lzf": (b"abcabcabc" * 40, FAR + 1),
        b"s:rand": (_rng_bytes(rng, 300), None),
        b"s:bin": (b"\x00\xff\r\n" * 3, None),
        b"l:small": (List([b"a", b"1", b"-100", b"5000", b"70000", b"-9000000",
                           b"3000000000", b"x" * 70, b"y" * 5000, b""]), None),
        b"l:big": (List(b"item-%d" % i for i in range(3000)), FAR + 2),
        b"h:small": (Hash([(b"f1", b"v1"), (b"n", b"42"), (b"neg", b"-4096")]), None),
        b"h:big": (Hash([(b"f%d" % i, b"%d" % (i * 1000)) for i in range(600)],
                        listpack=False), None),
        b"h:long": (Hash([(b"f", b"z" * 100)], listpack=False), FAR),
        b"set:ints": (Set([b"1", b"-2", b"300", b"70000", b"5000000000"], intset=True), None),
        b"set:ints16": (Set([b"1", b"2", b"3"], intset=True), None),
        b"set:strs": (Set([b"a", b"b", b"c", b"1"]), None),
        b"set:big": (Set([b"%d" % i for i in range(600)]), FAR),
        b"z:small": (ZSet([(b"a", 1.0), (b"b", 2.5), (b"c", -3.0), (b"d", float("inf")),
                           (b"e", float("-inf")), (b"f", 0.0), (b"g", 1e20),
                           (b"h", 0.1)]), None),
        b"z:big": (ZSet([(b"m%d" % i, i / 7) for i in range(200)], skiplist=True), None),
        b"z:long": (ZSet([(b"q" * 100, 1.0)], skiplist=True), FAR),
    }
    big = Stream()
    for i in range(350):
        ms = 1000 + i // 4
        fields = [(b"a", b"%d" % i), (b"b", b"x" * (i % 50))] if i % 3 else [(b"o", b"-7")]
        big.add((ms, (ms % 3) * 10 + i % 4), fields)
    db0[b"x:stream"] = (big, FAR)
    small = Stream()
    for sid, fields in [((1, 1), [(b"a", b"1"), (b"b", b"2")]), ((1, 2), [(b"a", b"3")]),
                        ((5, 0), [(b"other", b"x")]), ((6, 0), [(b"a", b"-5"), (b"b", b"zz" * 40)])]:
        small.add(sid, fields)
    small.delete_ids([(1, 2)])
    db1 = {b"s:small": (b"other db", None), b"l:one": (List([b"only"]), None)}
    db2 = {b"st": (small, None)}
    db9 = {b"h:x": (Hash([(b"a", b"b")]), FAR + 3)}
    return {0: db0, 1: db1, 2: db2, 9: db9}


def fill_redis(r: Conn, dataset) -> None:
    for dbid, keys in dataset.items():
        r.execute_command("SELECT", dbid)
        for key, (value, exp) in keys.items():
            if isinstance(value, bytes):
                r.execute_command("SET", key, value)
            elif isinstance(value, List):
                r.execute_command("RPUSH", key, *value)
            elif isinstance(value, Hash):
                r.execute_command("HSET", key, *[x for p in value.items() for x in p])
            elif isinstance(value, Set):
                r.execute_command("SADD", key, *value)
            elif isinstance(value, ZSet):
                r.execute_command("ZADD", key,
                                  *[x for m, s in value.items() for x in (repr(s), m)])
            elif isinstance(value, Stream):
                for (ms, seq), fields in value.items():
                    r.execute_command("XADD", key, f"{ms}-{seq}",
                                      *[x for pair in fields for x in pair])
                r.execute_command("XSETID", key, "%d-%d" % value.last_id,
                                  "ENTRIESADDED", value.entries_added,
                                  "MAXDELETEDID", "%d-%d" % value.max_deleted_id)
            if exp is not None:
                r.execute_command("PEXPIREAT", key, exp)
    r.execute_command("SELECT", 0)


def redis_value(r: Conn, key: bytes) -> object:
    kind = r.execute_command("TYPE", key)
    if kind == "string":
        return r.execute_command("GET", key)
    if kind == "list":
        return r.execute_command("LRANGE", key, 0, -1)
    if kind == "hash":
        flat = r.execute_command("HGETALL", key)
        return dict(zip(flat[::2], flat[1::2], strict=True))
    if kind == "set":
        return set(r.execute_command("SMEMBERS", key))
    if kind == "zset":
        flat = r.execute_command("ZRANGE", key, 0, -1, "WITHSCORES")
        return [(m, float(s)) for m, s in zip(flat[::2], flat[1::2], strict=True)]
    if kind == "stream":
        return [(tuple(int(x) for x in sid.split(b"-")), list(zip(f[::2], f[1::2], strict=True)))
                for sid, f in r.execute_command("XRANGE", key, "-", "+")]
    raise AssertionError(f"unexpected type {kind!r}")


def python_value(value: object) -> object:
    if isinstance(value, bytes):
        return value
    if isinstance(value, List):
        return list(value)
    if isinstance(value, Hash):
        return dict(value)
    if isinstance(value, Set):
        return set(value)
    if isinstance(value, ZSet):
        return list(value.ordered_items())
    if isinstance(value, Stream):
        return [(sid, list(value[sid])) for sid in value.ids]
    raise AssertionError(type(value))


def assert_same_as_redis(r: Conn, dbs) -> None:
    """Every key of `dbs` (and nothing else) is in the server with the same value,
    TTL, encoding and DEBUG DIGEST-VALUE."""
    for dbid in range(16):
        r.execute_command("SELECT", dbid)
        keys = dbs.get(dbid, {})
        assert set(r.execute_command("KEYS", "*")) == set(keys), f"db {dbid}"
        for key, (value, exp) in keys.items():
            where = f"db {dbid} key {key!r}"
            assert redis_value(r, key) == python_value(value), where
            pexp = r.execute_command("PEXPIRETIME", key)
            assert (None if pexp == -1 else pexp) == exp, where
            if not isinstance(value, bytes):
                assert r.execute_command("OBJECT", "ENCODING", key).decode() == \
                    value.encoding(), where
            if isinstance(value, Stream):
                info = r.execute_command("XINFO", "STREAM", key)
                info = dict(zip(info[::2], info[1::2], strict=True))
                assert (info[b"last-generated-id"], info[b"max-deleted-entry-id"],
                        info[b"entries-added"]) == \
                    (b"%d-%d" % value.last_id, b"%d-%d" % value.max_deleted_id,
                     value.entries_added), where
            digest = r.execute_command("DEBUG", "DIGEST-VALUE", key)[0]
            assert digest == mix_value(0, value, exp is not None).to_bytes(20, "big").hex(), where
    r.execute_command("SELECT", 0)


@pytest.fixture
def real_redis():
    require_binary("redis-server")
    procs: list[ServerProc] = []

    def start(*args: str) -> tuple[ServerProc, Conn]:
        proc = ServerProc("redis", args).start()
        procs.append(proc)
        return proc, Conn(proc.port)

    yield start
    for p in procs:
        p.stop()


def test_load_rdb_written_by_redis(real_redis):
    proc, r = real_redis()
    dataset = build_dataset()
    fill_redis(r, dataset)
    assert r.execute_command("SAVE") == "OK"
    loaded = load_rdb((proc.dir / "dump.rdb").read_bytes())
    assert loaded.version == 10
    assert loaded.aux["redis-ver"] == b"7.0.15"
    assert set(loaded.dbs) == {0, 1, 2, 9}
    stream, exp = loaded.dbs[2][b"st"]
    assert isinstance(stream, Stream) and exp is None
    assert stream.last_id == (6, 0) and stream.entries_added == 4
    assert stream.max_deleted_id == (1, 2)
    assert_same_as_redis(r, loaded.dbs)
    r.execute_command("SELECT", 2)
    dumped = load_value(r.execute_command("DUMP", "st"))
    assert python_value(dumped) == python_value(stream) and dumped.last_id == (6, 0)
    r.execute_command("XGROUP", "CREATE", "st", "g", "0")
    with pytest.raises(RDBError, match="consumer groups for the stream key 'st'"):
        load_value(r.execute_command("DUMP", "st"), key=b"st")
    r.execute_command("SELECT", 0)
    # and the loaded data is exactly the dataset we put in
    for dbid, keys in dataset.items():
        for key, (value, exp) in keys.items():
            got, got_exp = loaded.dbs[dbid][key]
            assert python_value(got) == python_value(value) and got_exp == exp, key


def test_redis_starts_on_dump_rdb(real_redis, tmp_path):
    dataset = build_dataset()
    for compress in (True, False):
        name = f"redkeep-{compress}.rdb"
        (tmp_path / name).write_bytes(dump_rdb(dataset, {"ctime": 1700000000},
                                               compress=compress))
        check = subprocess.run([require_binary("redis-check-rdb"), str(tmp_path / name)],
                               capture_output=True, text=True, timeout=60)
        assert "RDB looks OK" in check.stdout and "Checksum OK" in check.stdout, check.stdout
        proc, r = real_redis("--dir", str(tmp_path), "--dbfilename", name)
        assert_same_as_redis(r, dataset)
        # the whole-dataset digest of a server filled by commands agrees too
        _, r2 = real_redis()
        fill_redis(r2, dataset)
        assert r.execute_command("DEBUG", "DIGEST") == r2.execute_command("DEBUG", "DIGEST")
        # and redis's own SAVE of it (over our file) reads back the same
        assert r.execute_command("SAVE") == "OK"
        proc.stop()
        loaded = load_rdb((tmp_path / name).read_bytes())
        assert {d: {k: (python_value(v), e) for k, (v, e) in keys.items()}
                for d, keys in loaded.dbs.items()} == \
            {d: {k: (python_value(v), e) for k, (v, e) in keys.items()}
             for d, keys in dataset.items()}


def test_dump_payloads_both_ways(real_redis):
    _, r = real_redis()
    dataset = build_dataset()
    fill_redis(r, {0: dataset[0]})
    for key, (value, exp) in dataset[0].items():
        payload = r.execute_command("DUMP", key)
        got = load_value(payload)
        assert python_value(got) == python_value(value), key
        assert type(got) is type(value)
        if not isinstance(value, bytes):
            assert got.encoding() == value.encoding(), key
        ours = dump_value(value)
        restored = b"restored:" + key
        absttl = () if exp is None else ("ABSTTL",)
        assert r.execute_command("RESTORE", restored, exp or 0, ours, *absttl) == "OK", key
        assert redis_value(r, restored) == python_value(value), key
        assert r.execute_command("DEBUG", "DIGEST-VALUE", restored) == \
            r.execute_command("DEBUG", "DIGEST-VALUE", key), key
        if not isinstance(value, bytes):
            assert r.execute_command("OBJECT", "ENCODING", restored) == \
                r.execute_command("OBJECT", "ENCODING", key), key


def test_redis_refuses_a_corrupted_dump_value(real_redis):
    _, r = real_redis()
    payload = bytearray(dump_value(b"hello"))
    payload[2] ^= 1
    with pytest.raises(ReplyError, match="checksum"):
        r.execute_command("RESTORE", "k", 0, bytes(payload))


# ---- IDLE / FREQ: what LRU and LFU policies save ----

def _saved_then_loaded(src_kind: str, dst_kind: str, policy: str, tmp_path,
                       restore_opt: tuple[str, str]) -> tuple[int, int]:
    """RESTORE a key with IDLETIME / FREQ on `src_kind`, SAVE, start `dst_kind` on the
    file (same policy): OBJECT IDLETIME or FREQ of that key, and of a fresh one."""
    src = ServerProc(src_kind, ("--maxmemory-policy", policy), dir=tmp_path / "src")
    src.start()
    try:
        with Conn(src.port) as r:
            r.execute_command("RESTORE", "old", "0", dump_value(b"v"), *restore_opt)
            r.execute_command("SET", "fresh", "v")
            r.execute_command("SAVE")
        data = (src.dir / "dump.rdb").read_bytes()
    finally:
        src.stop()
    (tmp_path / "dst").mkdir()
    (tmp_path / "dst" / "dump.rdb").write_bytes(data)
    dst = ServerProc(dst_kind, ("--maxmemory-policy", policy), dir=tmp_path / "dst")
    dst.start()
    try:
        with Conn(dst.port) as r:
            what = "IDLETIME" if "lru" in policy else "FREQ"
            return (r.execute_command("OBJECT", what, "old"),
                    r.execute_command("OBJECT", what, "fresh"))
    finally:
        dst.stop()


@pytest.mark.parametrize("src,dst", [("redis", "redkeep"), ("redkeep", "redis"),
                                     ("redkeep", "redkeep")])
def test_lru_idle_and_lfu_freq_survive_save_and_load(real_redis, tmp_path, src, dst):
    old, fresh = _saved_then_loaded(src, dst, "allkeys-lru", tmp_path / "lru",
                                    ("IDLETIME", "1000"))
    assert 1000 <= old <= 1010 and fresh <= 5
    old, fresh = _saved_then_loaded(src, dst, "allkeys-lfu", tmp_path / "lfu",
                                    ("FREQ", "100"))
    assert old == 100 and fresh == 5            # LFU_INIT_VAL for a new key


def test_aof_preamble_base_keeps_lru_idle_for_redis(real_redis, tmp_path):
    """The RDB part of an AOF base carries IDLE records too: real redis-server started on
    redkeep's appendonlydir (after BGREWRITEAOF) sees the same OBJECT IDLETIME."""
    import shutil
    import time
    args = ("--maxmemory-policy", "allkeys-lru", "--appendonly", "yes",
            "--aof-use-rdb-preamble", "yes")
    src = ServerProc("redkeep", args, dir=tmp_path / "src")
    src.start()
    try:
        with Conn(src.port) as r:
            r.execute_command("RESTORE", "old", "0", dump_value(b"v"), "IDLETIME", "1000")
            r.execute_command("BGREWRITEAOF")
            deadline = time.monotonic() + 30
            while b"aof_rewrite_in_progress:0" not in r.execute_command("INFO", "persistence") \
                    or b"aof_rewrite_scheduled:0" not in r.execute_command("INFO", "persistence"):
                assert time.monotonic() < deadline, "BGREWRITEAOF did not finish"
                time.sleep(0.05)
    finally:
        src.stop(remove_dir=False)
    shutil.copytree(src.dir / "appendonlydir", tmp_path / "dst" / "appendonlydir")
    dst = ServerProc("redis", args, dir=tmp_path / "dst")
    dst.start()
    try:
        with Conn(dst.port) as r:
            assert 1000 <= r.execute_command("OBJECT", "IDLETIME", "old") <= 1010
    finally:
        dst.stop()
