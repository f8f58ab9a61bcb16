"""redkeep.persistence.snapshot: save points, the file writer, loading into a keyspace,
SAVE / BGSAVE / DEBUG RELOAD / MISCONF through an in-process Server (no sockets)."""

from __future__ import annotations

import os
import time

import pytest

from redkeep.clock import ManualClock
from redkeep.persistence import snapshot
from redkeep.persistence.rdb import LoadedRDB, RDBError, load_rdb
from redkeep.resp.types import OK, ErrorReply, Status
from redkeep.server.config import ServerConfig
from redkeep.server.errors import MISCONF
from redkeep.server.server import Server
from redkeep.server.types.hash import Hash

NOW = 1_700_000_000_000


@pytest.fixture
def server(tmp_path) -> Server:
    cfg = ServerConfig()
    cfg.dir = str(tmp_path)
    cfg.save = []
    return Server(cfg, ManualClock(wall_ms=NOW))


def run(srv: Server, *args: bytes | str) -> object:
    c = srv.clients.get(1) or srv.new_client("127.0.0.1:1", "127.0.0.1:6379")
    return srv.execute(c, [a.encode() if isinstance(a, str) else a for a in args])


# ---- due_save_point ----

def test_save_point_due_when_changes_and_seconds_reached():
    params = [(900, 1), (300, 10)]
    assert snapshot.due_save_point(params, 0, 2000, 0, True, 0) is None
    assert snapshot.due_save_point(params, 1, 901, 0, True, 0) == (900, 1)
    assert snapshot.due_save_point(params, 1, 900, 0, True, 0) is None   # strictly more
    assert snapshot.due_save_point(params, 10, 301, 0, True, 0) == (300, 10)


def test_save_point_after_failure_waits_retry_delay():
    params = [(1, 1)]
    assert snapshot.due_save_point(params, 5, 100, 0, False, 97) is None
    assert snapshot.due_save_point(params, 5, 103, 0, False, 97) == (1, 1)


# ---- write_rdb_file ----

def test_write_rdb_file_replaces_atomically(tmp_path):
    snapshot.write_rdb_file(str(tmp_path), "dump.rdb", b"old", 42)
    snapshot.write_rdb_file(str(tmp_path), "dump.rdb", b"new", 42)
    assert (tmp_path / "dump.rdb").read_bytes() == b"new"
    assert sorted(os.listdir(tmp_path)) == ["dump.rdb"]


def test_write_rdb_file_failure_names_temp_file(tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(OSError, match=r"Failed opening the temp RDB file temp-7\.rdb"):
        snapshot.write_rdb_file(missing, "dump.rdb", b"x", 7)


# ---- load_into ----

def test_load_into_skips_expired_and_counts(server):
    loaded = LoadedRDB.from_entries(10, {0: {b"a": (b"1", None), b"gone": (b"x", NOW - 1)},
                                3: {b"h": (Hash([(b"f", b"v")]), NOW + 5000)}})
    assert snapshot.load_into(server, loaded, NOW) == (2, 1)
    db0, db3 = server.keyspace.dbs[0], server.keyspace.dbs[3]
    assert db0.data == {b"a": b"1"}
    assert db3.expires[b"h"] == NOW + 5000


def test_bulk_load_accounts_memory_as_key_by_key_and_skips_expired(server, tmp_path):
    from redkeep.server.types.list import List
    from redkeep.server.types.set import Set
    entries = {0: {b"s": (b"x" * 10, None), b"h": (Hash([(b"f", b"v"), (b"g", b"w")]), None),
                   b"l": (List([b"a", b"b", b"c"]), NOW + 10), b"z": (Set([b"m"]), NOW - 1),
                   b"old": (b"v", NOW - 5)}}
    assert snapshot.load_into(server, LoadedRDB.from_entries(10, entries), NOW) == (3, 2)
    one_by_one = Server(server.config, ManualClock(wall_ms=NOW))
    db = one_by_one.keyspace.dbs[0]
    for key, (value, expire) in entries[0].items():
        if expire is None or expire >= NOW:
            db.set_key(key, value)
            if expire is not None:
                db.set_expire(key, expire)
    bulk = server.keyspace.dbs[0]
    assert bulk.data == db.data and bulk.expires == db.expires == {b"l": NOW + 10}
    assert server.keyspace.used_memory == one_by_one.keyspace.used_memory
    assert bulk._container_mem == db._container_mem


def test_load_into_refuses_duplicates_and_bad_db(server):
    server.keyspace.dbs[0].set_key(b"a", b"0")
    with pytest.raises(RDBError, match="duplicated key 'a' in DB 0"):
        snapshot.load_into(server, LoadedRDB.from_entries(10, {0: {b"a": (b"1", None)}}), NOW)
    assert snapshot.load_into(server, LoadedRDB.from_entries(10, {0: {b"a": (b"1", None)}}), NOW,
                              merge=True) == (1, 0)
    with pytest.raises(RDBError, match="more than 16 databases"):
        snapshot.load_into(server, LoadedRDB.from_entries(10, {16: {b"a": (b"1", None)}}), NOW)


# ---- Commands through the Server ----

def test_save_writes_file_and_lastsave(server, tmp_path):
    run(server, "SET", "k", "v")
    run(server, "PEXPIRE", "k", "100000")
    server.clock.advance(5000)
    assert snapshot.changes_since_save(server) == 2
    assert run(server, "SAVE") == OK
    loaded = load_rdb((tmp_path / "dump.rdb").read_bytes())
    assert loaded.dbs[0][b"k"] == (b"v", NOW + 100000)
    assert run(server, "LASTSAVE") == (NOW + 5000) // 1000
    assert snapshot.changes_since_save(server) == 0
    assert b"rdb_saves:1\r\n" in run(server, "INFO", "persistence").data


def test_debug_reload_keeps_data(server):
    server.config.enable_debug_command = "yes"
    run(server, "SET", "k", "v")
    run(server, "RPUSH", "l", "a", "b")
    run(server, "SELECT", "2")
    run(server, "SADD", "s", "1", "2")
    before = run(server, "DEBUG", "DIGEST")
    assert run(server, "DEBUG", "RELOAD") == OK
    assert run(server, "DEBUG", "DIGEST") == before
    reply = run(server, "DEBUG", "RELOAD", "BOGUS")
    assert isinstance(reply, ErrorReply) and "MERGE, NOFLUSH and NOSAVE" in str(reply)


def test_bgsave_forks_and_cron_reaps(server, tmp_path):
    run(server, "SET", "k", "v")
    assert run(server, "BGSAVE") == Status(b"Background saving started")
    reply = run(server, "SAVE")
    assert isinstance(reply, ErrorReply) and "Background save already in progress" in str(reply)
    deadline = time.monotonic() + 10
    while snapshot.state_of(server).child_pid is not None:
        assert time.monotonic() < deadline, "BGSAVE child did not finish"
        time.sleep(0.01)
        server.cron()
    assert load_rdb((tmp_path / "dump.rdb").read_bytes()).dbs[0][b"k"] == (b"v", None)
    st = snapshot.state_of(server)
    assert st.lastbgsave_ok and st.saves == 1
    assert isinstance(run(server, "BGSAVE", "NOW"), ErrorReply)


def test_failed_bgsave_sets_misconf(server, tmp_path):
    server.config.save = [(3600, 1)]
    server.config.dir = str(tmp_path / "missing")
    run(server, "SET", "k", "v")
    assert run(server, "BGSAVE") == Status(b"Background saving started")
    deadline = time.monotonic() + 10
    while snapshot.state_of(server).child_pid is not None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
        server.cron()
    assert not snapshot.state_of(server).lastbgsave_ok
    assert run(server, "SET", "k", "w") == ErrorReply(MISCONF)
    assert run(server, "PING") == ErrorReply(MISCONF)
    assert run(server, "GET", "k") == b"v"
    server.config.stop_writes_on_bgsave_error = False
    assert not isinstance(run(server, "SET", "k", "w"), ErrorReply)


def test_save_point_triggers_bgsave_from_cron(server, tmp_path):
    server.config.save = [(10, 2)]
    run(server, "SET", "a", "1")
    run(server, "SET", "b", "2")
    server.cron()
    assert snapshot.state_of(server).child_pid is None   # not yet 10 seconds
    server.clock.advance(11_000)
    server.cron()
    assert snapshot.state_of(server).child_pid is not None
    deadline = time.monotonic() + 10
    while snapshot.state_of(server).child_pid is not None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
        server.cron()
    assert set(load_rdb((tmp_path / "dump.rdb").read_bytes()).dbs[0]) == {b"a", b"b"}


def test_flushall_saves_with_save_points(server, tmp_path):
    server.config.save = [(3600, 1)]
    run(server, "SET", "a", "1")
    run(server, "SAVE")
    run(server, "FLUSHALL")
    assert load_rdb((tmp_path / "dump.rdb").read_bytes()).dbs == {}
    assert snapshot.changes_since_save(server) == 1


def test_shutdown_save_failure_refuses(server, tmp_path):
    server.config.dir = str(tmp_path / "missing")
    reply = run(server, "SHUTDOWN", "SAVE")
    assert reply == ErrorReply("ERR Errors trying to SHUTDOWN. Check logs.")
    assert server.shutdown_requested is None
    server.config.dir = str(tmp_path)
    run(server, "SET", "a", "1")
    run(server, "SHUTDOWN", "SAVE")
    assert server.shutdown_requested == "save"
    assert (tmp_path / "dump.rdb").exists()


def test_debug_reload_keeps_function_libraries(server):
    pytest.importorskip("lupa")
    server.config.enable_debug_command = "yes"
    code = "#!lua name=mylib\nredis.register_function('f', function() return 7 end)"
    assert run(server, "FUNCTION", "LOAD", code) == b"mylib"
    assert run(server, "DEBUG", "RELOAD") == OK
    assert run(server, "FCALL", "f", "0") == 7


def wait_child(server: Server) -> None:
    deadline = time.monotonic() + 10
    while snapshot.state_of(server).child_pid is not None:
        assert time.monotonic() < deadline, "BGSAVE child did not finish"
        time.sleep(0.01)
        server.cron()


def test_bgsave_in_exec_is_scheduled_and_run_by_cron(server, tmp_path):
    run(server, "MULTI")
    run(server, "BGSAVE")
    assert run(server, "EXEC") == [Status(b"Background saving scheduled")]
    assert snapshot.state_of(server).bgsave_scheduled
    server.cron()
    assert snapshot.state_of(server).child_pid is not None
    wait_child(server)
    assert (tmp_path / "dump.rdb").exists()


def test_rdbchecksum_and_rdbcompression_settings(server, tmp_path):
    run(server, "SET", "k", "a" * 500)
    server.config.rdbchecksum = False
    server.config.rdbcompression = False
    run(server, "SAVE")
    data = (tmp_path / "dump.rdb").read_bytes()
    assert data.endswith(b"\0" * 8) and b"a" * 500 in data
    server.config.rdbchecksum = server.config.rdbcompression = True
    run(server, "SAVE")
    data = (tmp_path / "dump.rdb").read_bytes()
    assert not data.endswith(b"\0" * 8) and b"a" * 500 not in data
    assert load_rdb(data).dbs[0][b"k"] == (b"a" * 500, None)


def test_a_value_that_cannot_be_saved_mid_file_leaves_no_temp_file(server, tmp_path):
    """The file is streamed: an error met half-way still removes the temp file and
    keeps the previous dump.rdb."""
    (tmp_path / "dump.rdb").write_bytes(b"previous")
    run(server, "SET", "k", "v")

    class Unsaveable:
        pass
    server.keyspace.dbs[0].data[b"bad"] = Unsaveable()
    assert snapshot.save(server) is False
    assert (tmp_path / "dump.rdb").read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("temp-")] == []
