"""RDB snapshots on disk: SAVE, BGSAVE (a forked child), save points, load at startup.

Theory of operation
-------------------
The bytes come from the pure codec (`persistence.rdb`); this module is the I/O shell
around it, shaped like Redis's rdb.c:

* `write_rdb_file` writes ``<dir>/temp-<pid>.rdb``, fsyncs it, renames it over
  ``<dir>/<dbfilename>`` and fsyncs the directory, so a crash at any moment leaves
  either the old or the new complete file (rdbSave).
* `save` is the foreground SAVE; `bgsave` forks: the child serializes the copy-on-write
  image of the keyspace, writes the file and `os._exit`s with 0 or 1; the parent only
  records the child's pid and start time. `cron` (called from Server.cron) reaps the
  child with ``waitpid(WNOHANG)`` and runs the `save` points and BGSAVE SCHEDULE.
* The bookkeeping lives in one `RDBState` per server (`state_of(server)`): lastsave,
  the dirty counter at the last save (changes since = server.dirty - dirty_at_save),
  the last bgsave status (a failure sets `server.misconf`, which Server.execute turns
  into MISCONF replies when stop-writes-on-bgsave-error is on), counters for INFO.
* `load_at_startup` loads ``dir/dbfilename`` before connections are served, with
  Redis's log lines; keys already expired are skipped (we are always a master here).

The pure decisions (`due_save_point`, `load_into`) take plain values so unit tests
need neither files nor forks.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redkeep.persistence.rdb import (
    Limits,
    LoadedRDB,
    RDBError,
    keyspace_view,
    load_rdb,
    write_rdb,
)

BGSAVE_RETRY_DELAY = 5          # CONFIG_BGSAVE_RETRY_DELAY (seconds)


@dataclass
class RDBState:
    lastsave: int = 0                 # unix seconds of the last successful save
    dirty_at_save: int = 0            # server.dirty when the last save was taken
    dirty_before_bgsave: int = 0
    child_pid: int | None = None
    child_start_mono_ms: int = 0
    lastbgsave_try: int = 0           # unix seconds
    lastbgsave_ok: bool = True
    bgsave_scheduled: bool = False
    save_time_last: int = -1          # seconds the last bgsave took
    saves: int = 0                    # rdb_saves
    last_load_keys_loaded: int = 0
    last_load_keys_expired: int = 0
    # called with (ok) when a BGSAVE child is reaped (replication serves waiting replicas)
    done_hooks: list = field(default_factory=list)


def state_of(server: Any) -> RDBState:
    st = getattr(server, "rdb_state", None)
    if st is None:
        st = RDBState(lastsave=server.start_wall_ms // 1000)
        server.rdb_state = st
    return st


def _log(server: Any) -> Any:
    return getattr(server, "log", None)


def _note(server: Any, level: str, msg: str) -> None:
    log = _log(server)
    if log is not None:
        getattr(log, level)(msg)


def rdb_path(server: Any) -> str:
    return os.path.join(server.config.dir, server.config.dbfilename)


# ---- Pure parts ----

def due_save_point(params: list[tuple[int, int]], changes: int, now_s: int, lastsave: int,
                   last_ok: bool, last_try: int) -> tuple[int, int] | None:
    """The first `save <seconds> <changes>` point that is due (serverCron); after a
    failed BGSAVE only once BGSAVE_RETRY_DELAY seconds passed since the last try."""
    retry_ok = last_ok or now_s - last_try > BGSAVE_RETRY_DELAY
    for seconds, min_changes in params:
        if changes >= min_changes and now_s - lastsave > seconds and retry_ok:
            return seconds, min_changes
    return None


def build_rdb(server: Any) -> bytes:
    """The whole RDB file for the server's current keyspace and function libraries."""
    parts: list[bytes] = []
    emit_rdb(server, parts.append)
    return b"".join(parts)


def emit_rdb(server: Any, write: Callable[[bytes], object]) -> None:
    """That RDB file handed to `write` piece by piece as it is built (rdb.write_rdb)."""
    cfg = server.config
    aux = {"ctime": server.clock.wall_ms() // 1000,
           "used-mem": getattr(server.keyspace, "used_memory", 0), **repl_aux(server)}
    st = getattr(server, "scripting", None)
    functions = [lib.code for lib in st.libraries.values()] if st is not None else []
    write_rdb(write, keyspace_view(server.keyspace), aux, bool(cfg.rdbcompression),
              bool(cfg.rdbchecksum), functions)


def write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is out."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def repl_aux(server: Any) -> dict[str, bytes | int]:
    """rdbPopulateSaveInfo: the replication history the data stands for (repl-id,
    repl-offset and the stream's selected db), so a restarted node can continue with
    PSYNC. Only a node with a history to continue has it: a master with a backlog, or a
    replica that is (or was) linked."""
    ms = getattr(server, "master_side", None)
    up = getattr(server, "upstream", None)
    if up is not None:
        client = up.client
        if client is None and up.cached is None:
            return {}
        db = client.db.id if client is not None else up.master_db
    elif ms is not None and ms.backlog is not None:
        db = max(ms.encoder.seldb, 0)
    else:
        return {}
    return {"repl-stream-db": db, "repl-id": server.replid.encode(),
            "repl-offset": server.master_repl_offset}


def restore_replication(server: Any, aux: dict[str, bytes]) -> None:
    """After loading an RDB at startup: adopt its replication history (loadDataFromDisk).
    A replica will ask PSYNC <repl-id> <repl-offset + 1>; a master keeps serving that
    history to replicas that reconnect."""
    rid, off = aux.get("repl-id"), aux.get("repl-offset")
    if not rid or off is None or len(rid) != 40 or not off.lstrip(b"-").isdigit():
        return
    try:
        db = int(aux.get("repl-stream-db", b"0"))
    except ValueError:
        db = 0
    server.replid, server.master_repl_offset = rid.decode(), int(off)
    if server.config.replicaof:
        server.restored_master = (server.replid, server.master_repl_offset, db)
    elif getattr(server, "master_side", None) is not None and server.master_side.backlog is None:
        server.master_side.create_backlog(new_history=False)


def load_into(server: Any, loaded: LoadedRDB, now_ms: int, merge: bool = False) -> tuple[int, int]:
    """Put a loaded RDB into the keyspace: (keys loaded, keys expired). Keys expired at
    `now_ms` are skipped (rdbLoad on a master). Raises RDBError for a db index out of
    range or, unless `merge`, a key that already exists."""
    dbs = server.keyspace.dbs
    loaded_n = expired_n = 0
    for dbid, values in loaded.values.items():
        if dbid >= len(dbs):
            raise RDBError(f"FATAL: Data file was created with a Redis server configured to "
                           f"handle more than {len(dbs)} databases. Exiting")
        db, expires = dbs[dbid], loaded.expires[dbid]
        if not db.data and db.access is None and not server.keyspace.notify_flags:
            expired = db.bulk_load(values, expires, now_ms)   # the common case: a fresh start
            expired_n += expired
            loaded_n += len(values) - expired
            continue
        for key, value in values.items():
            expire = expires.get(key)
            if expire is not None and expire < now_ms:
                expired_n += 1
                continue
            if key in db.data and not merge:
                raise RDBError(f"RDB has duplicated key '{key.decode(errors='replace')}' "
                               f"in DB {dbid}")
            db.set_key(key, value)
            if expire is not None:
                db.set_expire(key, expire)
            loaded_n += 1
    _restore_access(server, loaded)
    if loaded.functions:
        from redkeep.server.scripting import scripting_of
        st = scripting_of(server)
        for code in loaded.functions:
            st.function_load(code, True)
    return loaded_n, expired_n


def _restore_access(server: Any, loaded: LoadedRDB) -> None:
    """objectSetLRUOrLFU for keys saved with IDLE / FREQ, when the policy tracks that kind
    of access information (an LRU file loaded under LFU keeps fresh counters, as Redis)."""
    tracker = getattr(server.keyspace, "tracker", None)
    if tracker is None:
        return
    now = tracker.clock.monotonic_ms()
    for dbid, keys in loaded.access.items():
        access = server.keyspace.dbs[dbid].access
        if access is None:
            continue
        for key, (kind, n) in keys.items():
            if key not in access:
                continue                       # skipped as expired
            if tracker.lfu and kind == "freq":
                access[key] = (tracker.minutes() << 8) | n
            elif not tracker.lfu and kind == "idle":
                access[key] = now - n * 1000


def limits_of(config: Any) -> Limits:
    return Limits(config.hash_max_listpack_entries, config.hash_max_listpack_value,
                  config.zset_max_listpack_entries, config.zset_max_listpack_value,
                  config.set_max_intset_entries)


# ---- Files ----

def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all_synced(fd: int, data: bytes) -> None:
    """Write every byte to `fd`, fsync it and close it (closed even on errors)."""
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def write_rdb_file(directory: str, filename: str, data: bytes, pid: int) -> None:
    """An RDB file with these bytes (see stream_rdb_file)."""
    stream_rdb_file(directory, filename, lambda write: write(data), pid)


def stream_rdb_file(directory: str, filename: str,
                    emit: Callable[[Callable[[bytes], object]], None], pid: int) -> None:
    """temp-<pid>.rdb written by `emit(write)`, fsync, rename, fsync the directory.
    Raises OSError (with Redis's text) and leaves no temp file behind."""
    tmp = os.path.join(directory, f"temp-{pid}.rdb")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as e:
        raise OSError(e.errno, f"Failed opening the temp RDB file temp-{pid}.rdb (in server "
                      f"root dir {directory}) for saving: {e.strerror}") from e
    try:
        try:
            emit(lambda data: write_all(fd, data))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, os.path.join(directory, filename))
    except BaseException as e:   # also a value that can't be encoded, met mid-file
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise OSError(e.errno, f"Write error saving DB on disk: {e.strerror}") from e
        raise
    _fsync_dir(directory)


# ---- SAVE ----

def save(server: Any) -> bool:
    """rdbSave: the foreground save. Logs and returns False on failure."""
    cfg = server.config
    try:
        stream_rdb_file(cfg.dir, cfg.dbfilename, lambda w: emit_rdb(server, w), os.getpid())
    except (OSError, RDBError) as e:
        _note(server, "warning", str(e))
        return False
    _note(server, "notice", "DB saved on disk")
    st = state_of(server)
    st.dirty_at_save = server.dirty
    st.lastsave = server.clock.wall_ms() // 1000
    st.lastbgsave_ok = True
    st.saves += 1
    server.misconf = False
    return True


def changes_since_save(server: Any) -> int:
    return server.dirty - state_of(server).dirty_at_save


# ---- BGSAVE ----

def bgsave(server: Any) -> bool:
    """rdbSaveBackground: fork; the child writes the file and exits. False if fork fails
    or a child (this one or the AOF rewrite) is already running."""
    st = state_of(server)
    if st.child_pid is not None or _aof_child(server) is not None:
        return False
    st.dirty_before_bgsave = server.dirty
    st.lastbgsave_try = server.clock.wall_ms() // 1000
    started = time.perf_counter_ns()
    try:
        pid = os.fork()
    except OSError as e:
        st.lastbgsave_ok = False
        _note(server, "warning", f"Can't save in background: fork: {e.strerror}")
        return False
    if pid == 0:
        _child_save(server)             # never returns
    st.child_pid = pid
    st.child_start_mono_ms = server.clock.monotonic_ms()
    server.stats["total_forks"] = server.stats.get("total_forks", 0) + 1
    server.stats["latest_fork_usec"] = (time.perf_counter_ns() - started) // 1000
    _note(server, "notice", f"Background saving started by pid {pid}")
    return True


def become_child(server: Any) -> None:
    """In a forked child: default signal handling, and log lines marked C (child)."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
        signal.signal(sig, signal.SIG_DFL)
    log = _log(server)
    if log is not None:
        from redkeep.log import Logger
        server.log = Logger(log.logfile, _level_name(log.level), role="C")


def _child_save(server: Any) -> None:
    status = 1
    try:
        become_child(server)
        cfg = server.config
        stream_rdb_file(cfg.dir, cfg.dbfilename, lambda w: emit_rdb(server, w), os.getpid())
        _note(server, "notice", "DB saved on disk")
        status = 0
    except BaseException as e:  # noqa: BLE001 - the child must always _exit
        try:
            _note(server, "warning", f"{e}")
        except BaseException:  # noqa: BLE001
            pass
    finally:
        os._exit(status)


def _level_name(level: int) -> str:
    from redkeep.log import LEVELS
    return next((name for name, n in LEVELS.items() if n == level), "notice")


def bgsave_elapsed_s(server: Any) -> int:
    st = state_of(server)
    if st.child_pid is None:
        return -1
    return (server.clock.monotonic_ms() - st.child_start_mono_ms) // 1000


def reap_child(server: Any) -> None:
    """checkChildrenDone + backgroundSaveDoneHandler."""
    st = state_of(server)
    if st.child_pid is None:
        return
    try:
        pid, status = os.waitpid(st.child_pid, os.WNOHANG)
    except ChildProcessError:
        pid, status = st.child_pid, 1 << 8
    if pid == 0:
        return
    st.save_time_last = bgsave_elapsed_s(server)
    st.child_pid = None
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        _note(server, "warning", f"Background saving terminated by signal {sig}")
        _remove_temp(server, pid)
        if sig != signal.SIGUSR1:       # SIGUSR1 is how Redis kills its own child
            _bgsave_failed(server)
    elif os.WEXITSTATUS(status) == 0:
        _note(server, "notice", "Background saving terminated with success")
        st.dirty_at_save = st.dirty_before_bgsave
        st.lastsave = server.clock.wall_ms() // 1000
        st.lastbgsave_ok = True
        st.saves += 1
        server.misconf = False
    else:
        _note(server, "warning", "Background saving error")
        _bgsave_failed(server)
    ok = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    for hook in list(st.done_hooks):
        hook(ok)


def _bgsave_failed(server: Any) -> None:
    state_of(server).lastbgsave_ok = False
    server.misconf = True


def _remove_temp(server: Any, pid: int) -> None:
    try:
        os.unlink(os.path.join(server.config.dir, f"temp-{pid}.rdb"))
    except OSError:
        pass


def kill_child(server: Any) -> None:
    """killRDBChild: SIGUSR1, reap, remove its temp file; the save counts as not done."""
    st = state_of(server)
    pid = st.child_pid
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGUSR1)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    st.child_pid = None
    _remove_temp(server, pid)


def _aof_child(server: Any) -> int | None:
    from redkeep.persistence.aof import child_pid
    return child_pid(server)


def cron(server: Any) -> None:
    """From Server.cron: the AOF's duties (persistence.aof.cron), reap a finished child,
    then a scheduled BGSAVE or a save point (only one child at a time)."""
    from redkeep.persistence.aof import cron as aof_cron
    aof_cron(server)
    st = state_of(server)
    if st.child_pid is not None:
        reap_child(server)
        return
    if _aof_child(server) is not None:
        return
    now_s = server.clock.wall_ms() // 1000
    retry_ok = st.lastbgsave_ok or now_s - st.lastbgsave_try > BGSAVE_RETRY_DELAY
    if st.bgsave_scheduled and retry_ok:
        st.bgsave_scheduled = False
        bgsave(server)
        return
    params = server.config.save
    if not params:
        return
    point = due_save_point(params, changes_since_save(server), now_s, st.lastsave,
                           st.lastbgsave_ok, st.lastbgsave_try)
    if point is not None:
        _note(server, "notice", f"{point[1]} changes in {point[0]} seconds. Saving...")
        bgsave(server)


# ---- Shutdown ----

def shutdown_save(server: Any, mode: str, force: bool = False) -> bool:
    """prepareForShutdown: kill the RDB child, the AOF part (persistence.aof.shutdown),
    then the final RDB. mode: "save", "nosave" or "default" (save when
    save points exist). False when the save failed and the shutdown must not go on."""
    st = state_of(server)
    if st.child_pid is not None:
        _note(server, "warning", "There is a child saving an .rdb. Killing it!")
        kill_child(server)
    from redkeep.persistence.aof import shutdown as aof_shutdown
    if not aof_shutdown(server, force):
        return False
    if mode == "nosave" or (mode == "default" and not server.config.save):
        return True
    _note(server, "notice", "Saving the final RDB snapshot before exiting.")
    if save(server):
        return True
    if force:
        _note(server, "warning", "Error trying to save the DB. Exit anyway.")
        return True
    _note(server, "warning", "Error trying to save the DB, can't exit.")
    return False


# ---- Loading ----

def load_file(server: Any, path: str, merge: bool = False) -> tuple[int, int]:
    """rdbLoad with its log lines; raises OSError / RDBError."""
    with open(path, "rb") as fh:
        data = fh.read()
    loaded = load_rdb(data, limits_of(server.config))
    ver = loaded.aux.get("redis-ver")
    if ver is not None:
        _note(server, "notice", f"Loading RDB produced by version {ver.decode(errors='replace')}")
    now_ms = server.clock.wall_ms()
    ctime = loaded.aux.get("ctime")
    if ctime is not None and ctime.lstrip(b"-").isdigit():
        _note(server, "notice", f"RDB age {now_ms // 1000 - int(ctime)} seconds")
    used = loaded.aux.get("used-mem")
    if used is not None and used.isdigit():
        _note(server, "notice", f"RDB memory usage when created {int(used) / 1048576:.2f} Mb")
    # A replica loads keys already past their TTL (rdbLoad's iAmMaster check): the
    # stream it continues with PSYNC may touch them before the master's DEL comes.
    n, expired = load_into(server, loaded, 0 if server.config.replicaof else now_ms, merge)
    st = state_of(server)
    st.last_load_keys_loaded, st.last_load_keys_expired = n, expired
    if not merge:
        restore_replication(server, loaded.aux)
    _note(server, "notice", f"Done loading RDB, keys loaded: {n}, keys expired: {expired}.")
    return n, expired


def load_at_startup(server: Any) -> bool:
    """aofLoadManifestFromDisk + loadDataFromDisk: with appendonly on the AOF is loaded
    (persistence.aof) and dump.rdb is not looked at, as in Redis 7.0; else the RDB.
    False when the server must not start."""
    from redkeep.persistence import aof
    if not aof.load_manifest(server):
        return False
    if server.config.appendonly:
        return aof.load_at_startup(server)
    path = rdb_path(server)
    if not os.path.exists(path):
        return True
    start = time.perf_counter()
    try:
        load_file(server, path)
    except RDBError as e:
        _note(server, "warning", f"Internal error in RDB reading: {e}")
        _note(server, "warning", "Terminating server after rdb file reading failure.")
        return False
    except OSError as e:
        _note(server, "warning", f"Fatal error loading the DB: {e.strerror}. Exiting.")
        return False
    _note(server, "notice", f"DB loaded from disk: {time.perf_counter() - start:.3f} seconds")
    return True


def flush_data(server: Any) -> None:
    """emptyData(-1, EMPTYDB_NO_FLAGS): every database and the function libraries."""
    from redkeep.server.commands.keys import encoding_notes, key_iterators

    dbs = server.keyspace.dbs
    key_iterators(server.keyspace).forget(*dbs)
    encoding_notes(server.keyspace).forget(*dbs)
    for db in dbs:
        server.dirty += db.clear()
    st = getattr(server, "scripting", None)
    if st is not None:
        st.function_flush()


def flushall_save(server: Any) -> None:
    """FLUSHALL's tail (flushAllDataAndResetRDB): a running BGSAVE would write the old
    data, so it is killed; with save points the (now empty) dataset is saved at once."""
    kill_child(server)
    if server.config.save:
        save(server)
