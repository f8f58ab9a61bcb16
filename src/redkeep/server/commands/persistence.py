"""Persistence commands: SAVE, BGSAVE [SCHEDULE], BGREWRITEAOF, and DEBUG RELOAD's body.

The file work and the child processes live in `redkeep.persistence.snapshot` (RDB) and
`redkeep.persistence.aof`; these handlers only pick the Redis reply (LASTSAVE and
SHUTDOWN stay in commands/server.py). Only one child runs at a time, as in Redis.
"""

from __future__ import annotations

import os

from redkeep.persistence import aof, snapshot
from redkeep.resp.types import OK, Status
from redkeep.server import errors
from redkeep.server.connection import Client
from redkeep.server.errors import CommandError
from redkeep.server.table import CommandTable

BGSAVE_IN_PROGRESS = "ERR Background save already in progress"


def cmd_save(c: Client, argv: list[bytes]) -> object:
    srv = c.server
    if snapshot.state_of(srv).child_pid is not None:
        raise CommandError(BGSAVE_IN_PROGRESS)
    if not snapshot.save(srv):
        raise CommandError("ERR")
    return OK


def cmd_bgsave(c: Client, argv: list[bytes]) -> object:
    schedule = False
    if len(argv) > 1:
        if len(argv) == 2 and argv[1].lower() == b"schedule":
            schedule = True
        else:
            raise CommandError(errors.SYNTAX)
    srv = c.server
    st = snapshot.state_of(srv)
    if st.child_pid is not None:
        raise CommandError(BGSAVE_IN_PROGRESS)
    if c.in_exec or aof.child_pid(srv) is not None:
        if schedule or c.in_exec:
            st.bgsave_scheduled = True
            return Status(b"Background saving scheduled")
        raise CommandError(
            "ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE "
            "SCHEDULE in order to schedule a BGSAVE whenever possible.")
    if not snapshot.bgsave(srv):
        raise CommandError("ERR")
    return Status(b"Background saving started")


def cmd_bgrewriteaof(c: Client, argv: list[bytes]) -> object:
    outcome = aof.bgrewriteaof(c.server, c.in_exec)
    if outcome == "in_progress":
        raise CommandError("ERR Background append only file rewriting already in progress")
    if outcome == "scheduled":
        return Status(b"Background append only file rewriting scheduled")
    if outcome == "error":
        raise CommandError("ERR Can't execute an AOF background rewriting. Please check the "
                           "server logs for more information.")
    return Status(b"Background append only file rewriting started")


def debug_reload(c: Client, argv: list[bytes]) -> object:
    """DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save, empty the dataset, load it back."""
    merge, flush, save = False, True, True
    for opt in (a.lower() for a in argv[2:]):
        if opt == b"merge":
            merge = True
        elif opt == b"noflush":
            flush = False
        elif opt == b"nosave":
            save = False
        else:
            raise CommandError(
                "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.")
    srv = c.server
    if save and not snapshot.save(srv):
        raise CommandError("ERR")
    if flush:
        snapshot.flush_data(srv)
    try:
        snapshot.load_file(srv, snapshot.rdb_path(srv), merge)
    except (OSError, ValueError) as e:
        log = getattr(srv, "log", None)
        if log is not None:
            log.warning(f"Error loading the RDB: {e}")
        raise CommandError("ERR Error trying to load the RDB dump, check server logs.") from None
    log = getattr(srv, "log", None)
    if log is not None:
        log.warning("DB reloaded by DEBUG RELOAD")
    return OK


def debug_loadaof(c: Client, argv: list[bytes]) -> object:
    """DEBUG LOADAOF: write the AOF buffer, empty the dataset, load the AOF files back.
    Like Redis a load that fails ends the process (the dataset is gone by then); unlike
    Redis it is refused while appendonly is off (Redis would empty the dataset and exit)."""
    srv = c.server
    if not srv.config.appendonly or srv.aof is None:
        raise CommandError("ERR DEBUG LOADAOF needs the AOF on (appendonly yes)")
    dirty = srv.dirty
    srv.aof.write_pending()
    srv.aof.fsync()
    snapshot.flush_data(srv)
    aof.load_manifest(srv)
    aof.delete_history_files(srv)
    ret = aof.load_files(srv)
    log = getattr(srv, "log", None)
    if ret not in (aof.LoadResult.AOF_OK, aof.LoadResult.AOF_EMPTY):
        if log is not None:
            log.warning(f"DEBUG LOADAOF failed to load the AOF ({ret.name}). Exiting.")
        os._exit(1)
    srv.dirty = dirty              # what was loaded is no change to save or propagate
    if log is not None:
        log.warning("Append Only File loaded by DEBUG LOADAOF")
    return OK


def register(table: CommandTable) -> None:
    g = "server"
    dangerous = "@admin @slow @dangerous"
    table.add("save", cmd_save, 1, "admin noscript no_multi", group=g, categories=dangerous)
    table.add("bgsave", cmd_bgsave, -1, "admin noscript", group=g, categories=dangerous)
    table.add("bgrewriteaof", cmd_bgrewriteaof, 1, "admin noscript", group=g,
              categories=dangerous)
