"""persistence.aof's pure parts: the manifest, the command stream, the rewrite commands,
and the in-process loader on files written by hand (Redis 7.0.15's texts and layout)."""

from __future__ import annotations

import errno
import os

import pytest

from redkeep.clock import ManualClock
from redkeep.persistence import aof
from redkeep.persistence.aof import (
    AOFFormatError,
    AOFInfo,
    AOFTruncated,
    LoadResult,
    Manifest,
    ManifestError,
    auto_rewrite_growth,
    parse_manifest,
    read_commands,
    rewrite_commands,
)
from redkeep.resp.types import OK
from redkeep.server.config import ServerConfig
from redkeep.server.propagation import encode_command
from redkeep.server.server import Server
from redkeep.server.types.hash import Hash
from redkeep.server.types.list import List
from redkeep.server.types.set import Set
from redkeep.server.types.stream import Stream
from redkeep.server.types.zset import ZSet

# What redis-server 7.0.15 writes after one BGREWRITEAOF with the AOF on.
REDIS_MANIFEST = (b"file appendonly.aof.2.base.rdb seq 2 type b\n"
                  b"file appendonly.aof.2.incr.aof seq 2 type i\n")


def cmd(*args: bytes | str) -> bytes:
    return encode_command([a.encode() if isinstance(a, str) else a for a in args])


# ---- Manifest ----

def test_manifest_parses_and_formats_redis_layout():
    am = parse_manifest(REDIS_MANIFEST)
    assert am.base == AOFInfo("appendonly.aof.2.base.rdb", 2, "b")
    assert am.incrs == [AOFInfo("appendonly.aof.2.incr.aof", 2, "i")]
    assert (am.base_seq, am.incr_seq) == (2, 2)
    assert am.format() == REDIS_MANIFEST


def test_manifest_rewrite_cycle_names_files_like_redis():
    am = Manifest()
    assert am.new_base("appendonly.aof", True) == "appendonly.aof.1.base.rdb"
    assert am.last_incr("appendonly.aof") == "appendonly.aof.1.incr.aof"
    # BGREWRITEAOF with the AOF on: a new incr file, then a new base; the old ones are history
    assert am.new_incr("appendonly.aof") == "appendonly.aof.2.incr.aof"
    assert am.new_base("appendonly.aof", False) == "appendonly.aof.2.base.aof"
    am.mark_rewritten_incrs_as_history(keep_last=True)
    assert am.format() == (b"file appendonly.aof.2.base.aof seq 2 type b\n"   # aof.c's order
                           b"file appendonly.aof.1.incr.aof seq 1 type h\n"
                           b"file appendonly.aof.1.base.rdb seq 1 type h\n"
                           b"file appendonly.aof.2.incr.aof seq 2 type i\n")
    again = parse_manifest(am.format())
    assert again.format() == am.format()
    assert [f.name for f in again.files()] == ["appendonly.aof.2.base.aof",
                                               "appendonly.aof.2.incr.aof"]


def test_manifest_history_comments_and_quoted_names():
    am = parse_manifest(b"# a comment\nfile \"my file.1.base.rdb\" seq 1 type b\n"
                        b"file x.1.incr.aof seq 1 type h\n")
    assert am.base.name == "my file.1.base.rdb"
    assert am.history[0].type == "h"
    assert b'file "my file.1.base.rdb" seq 1 type b\n' in am.format()


@pytest.mark.parametrize("data, err, line", [
    (b"", "Found an empty AOF manifest", None),
    (b"file a seq 1 type b", "The AOF manifest file contains too long line", None),
    (b"\n", "Invalid AOF manifest file format", 1),
    (b"file a seq 1\n", "Invalid AOF manifest file format", 1),
    (b"file a seq 1 type\n", "Invalid AOF manifest file format", 1),
    (b"file a seq 0 type b\n", "Invalid AOF manifest file format", 1),
    (b"file d/a seq 1 type b\n", "File can't be a path, just a filename", 1),
    (b"file a seq 1 type b\nfile b seq 2 type b\n", "Found duplicate base file information", 2),
    (b"file a seq 2 type i\nfile b seq 2 type i\n", "Found a non-monotonic sequence number", 2),
    (b"file a seq 1 type x\n", "Unknown AOF file type", 1),
])
def test_manifest_errors_have_redis_texts(data, err, line):
    with pytest.raises(ManifestError) as exc:
        parse_manifest(data)
    assert exc.value.err == err
    if line is not None:
        assert exc.value.linenum == line


# ---- Command stream ----

def test_read_commands_offsets_and_annotations():
    data = cmd("SELECT", "0") + b"#TS:1700000000\r\n" + cmd("SET", "k", "v\r\nx")
    got = list(read_commands(data))
    assert [a for a, _ in got] == [[b"SELECT", b"0"], [b"SET", b"k", b"v\r\nx"]]
    assert got[-1][1] == len(data)
    assert got[0][1] == len(cmd("SELECT", "0"))


@pytest.mark.parametrize("cut", range(1, len(cmd("SET", "key", "value"))))
def test_every_torn_tail_is_truncation(cut):
    whole = cmd("SET", "a", "1")
    data = whole + cmd("SET", "key", "value")[:cut]
    it = read_commands(data)
    assert next(it) == ([b"SET", b"a", b"1"], len(whole))
    with pytest.raises(AOFTruncated):
        next(it)


@pytest.mark.parametrize("garbage", [b"garbage\r\n", b"*0\r\n", b"*x\r\n",
                                     b"*2\r\n$3\r\nSET\r\n:1\r\n", b"*1\r\n$-5\r\n"])
def test_corruption_is_a_format_error_with_its_offset(garbage):
    good = cmd("SET", "a", "1")
    with pytest.raises(AOFFormatError) as exc:
        list(read_commands(good + garbage + cmd("SET", "b", "2")))
    assert exc.value.offset == len(good)


def test_rewrite_commands_rebuild_every_type():
    s = Stream()
    s.add((5, 0), [(b"f", b"v")])
    s.add((6, 1), [(b"a", b"b"), (b"c", b"d")])
    s.max_deleted_id = (4, 0)
    snap = {0: {b"s": (b"str", None), b"l": (List([b"%d" % i for i in range(70)]), 1234),
                b"h": (Hash([(b"f", b"1")]), None), b"z": (ZSet([(b"m", 1.5)]), None),
                b"set": (Set([b"x"]), None), b"x": (s, None), b"empty": (Stream(), None)},
            3: {b"k": (b"v", None)}}
    out = b"".join(rewrite_commands(snap, [b"#!lua name=lib\n"]))
    argvs = [a for a, _ in read_commands(out)]
    assert argvs[0] == [b"FUNCTION", b"LOAD", b"#!lua name=lib\n"]
    assert argvs[1] == [b"SELECT", b"0"]
    assert [b"SET", b"s", b"str"] in argvs
    rpush = [a for a in argvs if a[0] == b"RPUSH"]
    assert [len(a) - 2 for a in rpush] == [64, 6]         # AOF_REWRITE_ITEMS_PER_CMD
    assert [b"PEXPIREAT", b"l", b"1234"] in argvs
    assert [b"HMSET", b"h", b"f", b"1"] in argvs
    assert [b"ZADD", b"z", b"1.5", b"m"] in argvs
    assert [b"SADD", b"set", b"x"] in argvs
    assert [b"XADD", b"x", b"6-1", b"a", b"b", b"c", b"d"] in argvs
    assert [b"XSETID", b"x", b"6-1", b"ENTRIESADDED", b"2", b"MAXDELETEDID", b"4-0"] in argvs
    assert [b"XADD", b"empty", b"MAXLEN", b"0", b"0-1", b"x", b"y"] in argvs
    assert argvs[-2:] == [[b"SELECT", b"3"], [b"SET", b"k", b"v"]]


def test_auto_rewrite_growth():
    assert auto_rewrite_growth(200, 100) == 100
    assert auto_rewrite_growth(150, 100) == 50
    assert auto_rewrite_growth(5, 0) == 400


# ---- Loading files written by hand (no fork, no sockets) ----

@pytest.fixture
def aof_server(tmp_path):
    cfg = ServerConfig()
    cfg.dir = str(tmp_path)
    server = Server(cfg, ManualClock(wall_ms=1_700_000_000_000))
    (tmp_path / "appendonlydir").mkdir()
    logged: list[str] = []

    class Log:
        def __getattr__(self, level):
            return logged.append
    server.log = Log()
    server.logged = logged
    return server


def write_files(tmp_path, files: dict[str, bytes], manifest: bytes) -> None:
    d = tmp_path / "appendonlydir"
    for name, data in files.items():
        (d / name).write_bytes(data)
    (d / "appendonly.aof.manifest").write_bytes(manifest)


MANIFEST_2 = (b"file appendonly.aof.1.base.aof seq 1 type b\n"
              b"file appendonly.aof.1.incr.aof seq 1 type i\n")


def test_load_base_commands_and_incr(aof_server, tmp_path):
    write_files(tmp_path, {
        "appendonly.aof.1.base.aof": cmd("SELECT", "0") + cmd("SET", "a", "1"),
        "appendonly.aof.1.incr.aof": cmd("SELECT", "2") + cmd("INCR", "n") + cmd("INCR", "n")
        + cmd("MULTI") + cmd("RPUSH", "l", "x") + cmd("EXEC"),
    }, MANIFEST_2)
    assert aof.load_manifest(aof_server)
    assert aof.load_files(aof_server) is LoadResult.AOF_OK
    dbs = aof_server.keyspace.dbs
    assert dbs[0].data[b"a"] == b"1"
    assert dbs[2].data[b"n"] == b"2"
    assert list(dbs[2].data[b"l"]) == [b"x"]


def test_expired_keys_are_kept_while_loading(aof_server, tmp_path):
    # SET with a past PXAT then INCR: Redis keeps the key while loading (it expires after)
    write_files(tmp_path, {
        "appendonly.aof.1.base.aof": b"",
        "appendonly.aof.1.incr.aof": cmd("SET", "k", "1", "PXAT", "1000") + cmd("INCR", "k"),
    }, MANIFEST_2)
    aof.load_manifest(aof_server)
    assert aof.load_files(aof_server) is LoadResult.AOF_OK
    db = aof_server.keyspace.dbs[0]
    assert db.data[b"k"] == b"2" and db.expires[b"k"] == 1000


def test_torn_tail_of_last_file_is_truncated(aof_server, tmp_path):
    good = cmd("SET", "a", "1") + cmd("MULTI") + cmd("SET", "b", "2") + cmd("EXEC")
    write_files(tmp_path, {"appendonly.aof.1.base.aof": cmd("SET", "z", "0"),
                           "appendonly.aof.1.incr.aof": good + b"*3\r\n$3\r\nSET\r\n$1\r\nc"},
                MANIFEST_2)
    aof.load_manifest(aof_server)
    assert aof.load_files(aof_server) is LoadResult.AOF_TRUNCATED
    incr = tmp_path / "appendonlydir" / "appendonly.aof.1.incr.aof"
    assert incr.read_bytes() == good
    assert "!!! Truncating the AOF appendonly.aof.1.incr.aof at offset %d !!!" % len(good) \
        in aof_server.logged
    assert aof_server.keyspace.dbs[0].data[b"b"] == b"2"


def test_unterminated_multi_is_reverted(aof_server, tmp_path):
    good = cmd("SET", "a", "1")
    write_files(tmp_path, {"appendonly.aof.1.base.aof": b"",
                           "appendonly.aof.1.incr.aof": good + cmd("MULTI") + cmd("SET", "b", "2")},
                MANIFEST_2)
    aof.load_manifest(aof_server)
    assert aof.load_files(aof_server) is LoadResult.AOF_TRUNCATED
    assert "Revert incomplete MULTI/EXEC transaction in AOF file appendonly.aof.1.incr.aof" \
        in aof_server.logged
    assert b"b" not in aof_server.keyspace.dbs[0].data
    assert (tmp_path / "appendonlydir" / "appendonly.aof.1.incr.aof").read_bytes() == good


def test_torn_tail_not_in_last_file_refuses(aof_server, tmp_path):
    write_files(tmp_path, {"appendonly.aof.1.base.aof": cmd("SET", "a", "1") + b"*2\r\n",
                           "appendonly.aof.1.incr.aof": cmd("SET", "b", "2")}, MANIFEST_2)
    aof.load_manifest(aof_server)
    assert aof.load_files(aof_server) is LoadResult.AOF_FAILED
    assert "Fatal error: the truncated file is not the last file" in aof_server.logged


def test_truncation_disabled_refuses(aof_server, tmp_path):
    aof_server.config.aof_load_truncated = False
    write_files(tmp_path, {"appendonly.aof.1.base.aof": b"",
                           "appendonly.aof.1.incr.aof": cmd("SET", "a", "1") + b"*2\r\n$3"},
                MANIFEST_2)
    aof.load_manifest(aof_server)
    assert aof.load_files(aof_server) is LoadResult.AOF_FAILED
    assert any(m.startswith("Unexpected end of file reading the append only file "
                            "appendonly.aof.1.incr.aof.") for m in aof_server.logged)


def test_corruption_refuses_with_offset(aof_server, tmp_path):
    good = cmd("SET", "a", "1")
    write_files(tmp_path, {"appendonly.aof.1.base.aof": b"",
                           "appendonly.aof.1.incr.aof": good + b"garbage" + cmd("SET", "b", "2")},
                MANIFEST_2)
    aof.load_manifest(aof_server)
    assert aof.load_files(aof_server) is LoadResult.AOF_FAILED
    assert ("Bad file format reading the append only file appendonly.aof.1.incr.aof: make a "
            "backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>"
            ) in aof_server.logged
    assert any(f"from offset {len(good)}" in m for m in aof_server.logged)


def test_unknown_command_refuses(aof_server, tmp_path):
    write_files(tmp_path, {"appendonly.aof.1.base.aof": b"",
                           "appendonly.aof.1.incr.aof": cmd("NOSUCHCMD", "x")}, MANIFEST_2)
    aof.load_manifest(aof_server)
    assert aof.load_files(aof_server) is LoadResult.AOF_FAILED
    assert ("Unknown command 'NOSUCHCMD' reading the append only file "
            "appendonly.aof.1.incr.aof") in aof_server.logged


def test_missing_listed_file_refuses(aof_server, tmp_path):
    write_files(tmp_path, {"appendonly.aof.1.base.aof": cmd("SET", "a", "1")}, MANIFEST_2)
    aof.load_manifest(aof_server)
    assert aof.load_files(aof_server) is LoadResult.AOF_FAILED
    assert any(m.startswith("Unable to obtain the AOF file appendonly.aof.1.incr.aof length.")
               for m in aof_server.logged)


def test_rewrite_commands_replay_to_the_same_digest(aof_server, tmp_path):
    from redkeep.persistence.rdb import snapshot_keyspace
    from redkeep.server.digest import dataset_digest
    s = Stream()
    s.add((7, 0), [(b"f", b"v")])
    s.add((9, 0), [(b"g", b"w")])
    s.delete_ids([(9, 0)])
    dbs = aof_server.keyspace.dbs
    dbs[0].set_key(b"str", b"v")
    dbs[0].set_key(b"z", ZSet([(b"a", 0.1), (b"b", float("inf"))]))
    dbs[0].set_key(b"x", s)
    dbs[1].set_key(b"l", List([b"1", b"2"]))
    dbs[1].set_expire(b"l", 4102444800000)
    before = dataset_digest(aof_server.keyspace)
    base = b"".join(rewrite_commands(snapshot_keyspace(aof_server.keyspace)))
    for db in dbs:
        db.clear()
    write_files(tmp_path, {"appendonly.aof.1.base.aof": base}, MANIFEST_2.split(b"\n")[0] + b"\n")
    aof.load_manifest(aof_server)
    assert aof.load_files(aof_server) is LoadResult.AOF_OK
    assert dataset_digest(aof_server.keyspace) == before
    x = dbs[0].data[b"x"]
    assert (x.last_id, x.entries_added, x.max_deleted_id) == ((9, 0), 2, (9, 0))


# ---- The writer and the cron decisions ----

def test_writes_reach_the_incr_file_in_redis_format(aof_server, tmp_path):
    from redkeep.server.connection import Client
    aof_server.config.appendonly = True
    assert aof.load_at_startup(aof_server)              # empty start: base + incr created
    d = tmp_path / "appendonlydir"
    assert (d / "appendonly.aof.manifest").read_bytes() == (
        b"file appendonly.aof.1.base.rdb seq 1 type b\n"
        b"file appendonly.aof.1.incr.aof seq 1 type i\n")
    c = Client(aof_server, 1)
    for argv in ([b"set", b"a", b"1"], [b"GET", b"a"], [b"SELECT", b"2"],
                 [b"RPUSH", b"l", b"x", b"y"]):
        aof_server.execute(c, argv)
    assert aof_server.aof.pending
    aof_server.aof.write_pending()
    assert not aof_server.aof.pending
    expected = (cmd("SELECT", "0") + cmd("set", "a", "1") + cmd("SELECT", "2")
                + cmd("RPUSH", "l", "x", "y"))
    assert (d / "appendonly.aof.1.incr.aof").read_bytes() == expected
    st = aof.state_of(aof_server)
    assert st.current_size == len(expected)
    always, when_on = aof.info_fields(aof_server)
    assert ("aof_enabled", 1) in always and ("aof_current_size", len(expected)) in when_on
    aof.stop_append_only(aof_server)
    assert aof_server.aof is None and not aof_server.propagator.feeds
    aof_server.execute(c, [b"SET", b"b", b"2"])
    assert (d / "appendonly.aof.1.incr.aof").read_bytes() == expected


def test_write_error_refuses_writes_with_misconf_until_a_write_works(aof_server, tmp_path,
                                                                       monkeypatch):

    from redkeep.server.connection import Client
    aof_server.config.appendonly = True
    aof_server.config.appendfsync = "everysec"
    assert aof.load_at_startup(aof_server)
    c = Client(aof_server, 1)
    real_write = os.write

    def full_disk(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(aof.os, "write", full_disk)
    assert aof_server.execute(c, [b"SET", b"a", b"1"]) == OK   # executed, then not written
    aof_server.aof.write_pending()
    assert "Error writing to the AOF file: No space left on device" in aof_server.logged
    refused = "MISCONF Errors writing to the AOF file: No space left on device"
    for argv in ([b"SET", b"b", b"2"], [b"PING"], [b"INCR", b"n"]):
        assert aof_server.execute(c, argv).message == refused
    assert aof_server.execute(c, [b"GET", b"a"]) == b"1"          # reads go on
    assert dict(aof.info_fields(aof_server)[0])["aof_last_write_status"] == "err"
    monkeypatch.setattr(aof.os, "write", real_write)
    aof.cron(aof_server)                                           # the retry works
    assert "AOF write error looks solved, Redis can write again." in aof_server.logged
    assert aof_server.execute(c, [b"SET", b"b", b"2"]) == OK
    aof_server.aof.write_pending()
    assert (tmp_path / "appendonlydir" / "appendonly.aof.1.incr.aof").read_bytes() == \
        cmd("SELECT", "0") + cmd("SET", "a", "1") + cmd("SET", "b", "2")


def test_fsync_error_refuses_writes_until_an_fsync_works(aof_server, monkeypatch):

    from redkeep.server.connection import Client
    aof_server.config.appendonly = True
    assert aof.load_at_startup(aof_server)
    c = Client(aof_server, 1)

    def io_error(fd):
        raise OSError(errno.EIO, os.strerror(errno.EIO))
    monkeypatch.setattr(aof.os, "fdatasync", io_error)
    aof_server.execute(c, [b"SET", b"a", b"1"])
    aof_server.aof.write_pending()
    aof_server.aof.fsync()
    assert aof_server.execute(c, [b"SET", b"a", b"2"]).message == \
        "MISCONF Errors writing to the AOF file: Input/output error"
    monkeypatch.undo()
    aof_server.aof.fsync()
    assert aof_server.execute(c, [b"SET", b"a", b"2"]) == OK


def test_timestamp_annotations_once_a_second_and_skipped_on_load(aof_server, tmp_path):
    from redkeep.server.connection import Client
    aof_server.config.appendonly = True
    aof_server.config.aof_timestamp_enabled = True
    assert aof.load_at_startup(aof_server)
    c = Client(aof_server, 1)
    t0 = aof_server.clock.wall_ms() // 1000
    aof_server.execute(c, [b"SET", b"a", b"1"])
    aof_server.execute(c, [b"SET", b"b", b"2"])
    aof_server.clock.advance(1500)
    aof_server.execute(c, [b"SET", b"c", b"3"])
    aof_server.aof.write_pending()
    incr = (tmp_path / "appendonlydir" / "appendonly.aof.1.incr.aof").read_bytes()
    assert incr == (b"#TS:%d\r\n" % t0 + cmd("SELECT", "0") + cmd("SET", "a", "1")
                    + cmd("SET", "b", "2") + b"#TS:%d\r\n" % (t0 + 1) + cmd("SET", "c", "3"))
    aof_server.config.aof_use_rdb_preamble = False
    assert aof.base_bytes(aof_server).startswith(b"#TS:%d\r\n*2\r\n$6\r\nSELECT" % (t0 + 1))
    from redkeep.persistence import snapshot
    snapshot.flush_data(aof_server)
    assert aof.load_files(aof_server) is aof.LoadResult.AOF_OK
    assert set(aof_server.keyspace.dbs[0].data) == {b"a", b"b", b"c"}


def test_debug_loadaof_reloads_what_the_aof_holds(aof_server):
    from redkeep.server.connection import Client
    c = Client(aof_server, 1)
    aof_server.config.enable_debug_command = "yes"
    assert aof_server.execute(c, [b"DEBUG", b"LOADAOF"]).message == \
        "ERR DEBUG LOADAOF needs the AOF on (appendonly yes)"
    aof_server.config.appendonly = True
    assert aof.load_at_startup(aof_server)
    for argv in ([b"SET", b"a", b"1"], [b"RPUSH", b"l", b"x"], [b"SELECT", b"3"],
                 [b"INCR", b"n"]):
        aof_server.execute(c, argv)
    aof_server.keyspace.dbs[0].set_key(b"only-in-memory", b"v")    # never in the AOF
    assert aof_server.execute(c, [b"DEBUG", b"LOADAOF"]) == OK
    assert "Append Only File loaded by DEBUG LOADAOF" in aof_server.logged
    assert set(aof_server.keyspace.dbs[0].data) == {b"a", b"l"}
    assert aof_server.keyspace.dbs[3].data == {b"n": b"1"}
    aof_server.execute(c, [b"INCR", b"n"])                        # the AOF goes on
    assert aof_server.execute(c, [b"DEBUG", b"LOADAOF"]) == OK
    assert aof_server.keyspace.dbs[3].data == {b"n": b"2"}


def test_rewrite_limited_backs_off_after_three_failures(aof_server):
    st = aof.state_of(aof_server)
    clock = aof_server.clock
    st.consecutive_failures = 2
    assert not aof.rewrite_limited(aof_server)
    st.consecutive_failures = 3
    assert aof.rewrite_limited(aof_server)            # 1 minute
    clock.advance(59_000)
    assert aof.rewrite_limited(aof_server)
    clock.advance(2_000)
    assert not aof.rewrite_limited(aof_server)         # one try when the time has come
    assert aof.rewrite_limited(aof_server)            # then 2 minutes
    assert "will retry in 2 minutes" in aof_server.logged[-1]
    st.consecutive_failures = 0
    assert not aof.rewrite_limited(aof_server)
