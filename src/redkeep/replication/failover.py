"""Coordinated failover: the FAILOVER command (Redis 6.2+), on the master's side.

Theory of operation
-------------------
``FAILOVER [TO host port [FORCE]] [TIMEOUT ms]`` on a master with replicas, or
``FAILOVER ABORT``; `server.failover_state` is what INFO shows as master_failover_state.

1. ``waiting-for-sync``: writes are paused (a pause of its own, `server.failover_pause`,
   so a user's CLIENT PAUSE / UNPAUSE neither ends it nor is ended by it) and `update`
   (from every REPLCONF ACK and the cron) waits until the target, or without TO the
   first replica, has acknowledged master_repl_offset. At the timeout it aborts ("Replica
   never caught up before timeout"), or with FORCE fails over anyway.
2. ``failover-in-progress``: this node turns into a replica of the target, caching its
   own history, and its handshake sends ``PSYNC <replid> <offset> FAILOVER``. The target,
   whose replid is ours since it replicated us, promotes itself and answers. +CONTINUE
   or +FULLRESYNC ends the failover (`succeeded`: the paused writes now get READONLY);
   an error reply aborts it: the node is a master again with its data (`abort`). A
   target that never answers keeps it in progress until FAILOVER ABORT, as in Redis.

The target's side is PSYNC's: commands/replication.py promotes a replica that gets
``PSYNC <its replid> <offset> FAILOVER``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from redkeep.server import errors
from redkeep.server.arguments import parse_int
from redkeep.server.errors import CommandError

if TYPE_CHECKING:
    from redkeep.replication.master import AttachedReplica
    from redkeep.server.connection import Client
    from redkeep.server.server import Server

NO_FAILOVER = "no-failover"
WAIT_FOR_SYNC = "waiting-for-sync"
IN_PROGRESS = "failover-in-progress"


def _log(srv: Server, msg: str) -> None:
    log = getattr(srv, "log", None)
    if log is not None:
        log.notice(msg)


def _target_name(srv: Server) -> str:
    t = srv.failover_target
    return f"{t[0]}:{t[1]}" if t else "any replica"


def find_replica(srv: Server, host: str, port: int) -> AttachedReplica | None:
    """findReplica: by announced (or peer) ip and listening port."""
    for r in srv.master_side.replicas.values():
        if r.host.lower() == host.lower() and r.port == port:
            return r
    return None


def parse(argv: list[bytes]) -> tuple[tuple[str, int] | None, bool, int]:
    """(target, force, timeout ms) of FAILOVER's arguments, Redis's errors otherwise."""
    target: tuple[str, int] | None = None
    force, timeout = False, 0
    j = 1
    while j < len(argv):
        opt = argv[j].lower()
        if opt == b"timeout" and j + 1 < len(argv) and not timeout:
            timeout = parse_int(argv[j + 1])
            if timeout <= 0:
                raise CommandError("ERR FAILOVER timeout must be greater than 0")
            j += 2
        elif opt == b"to" and j + 2 < len(argv) and target is None:
            target = (argv[j + 1].decode("utf-8", "replace"), parse_int(argv[j + 2]))
            j += 3
        elif opt == b"force" and not force:
            force = True
            j += 1
        else:
            raise CommandError(errors.SYNTAX)
    return target, force, timeout


def start(srv: Server, argv: list[bytes]) -> None:
    """failoverCommand after ABORT: checks in Redis's order, then WAIT_FOR_SYNC."""
    target, force, timeout = parse(argv)
    if srv.failover_state != NO_FAILOVER:
        raise CommandError("ERR FAILOVER already in progress.")
    if srv.upstream is not None:
        raise CommandError("ERR FAILOVER is not valid when server is a replica.")
    if not srv.master_side.replicas:
        raise CommandError("ERR FAILOVER requires connected replicas.")
    if force and (not timeout or target is None):
        raise CommandError("ERR FAILOVER with force option requires both a timeout and "
                           "target HOST and IP.")
    if target is not None:
        from redkeep.replication.master import SlaveState
        r = find_replica(srv, *target)
        if r is None:
            raise CommandError("ERR FAILOVER target HOST and PORT is not a replica.")
        if r.state is not SlaveState.ONLINE:
            raise CommandError("ERR FAILOVER target replica is not online.")
        _log(srv, f"FAILOVER requested to {target[0]}:{target[1]}.")
    else:
        _log(srv, "FAILOVER requested to any replica.")
    srv.failover_target = target
    srv.failover_force = force
    srv.failover_end_ms = srv.clock.monotonic_ms() + timeout if timeout else 0
    srv.failover_state = WAIT_FOR_SYNC
    srv.failover_pause = True


def update(srv: Server) -> None:
    """updateFailoverStatus: the timeout, then a synced target starts the switch. In
    progress, as in Redis, it waits for the target's answer (FAILOVER ABORT ends it)."""
    if srv.failover_state != WAIT_FOR_SYNC:
        return
    if srv.failover_end_ms and srv.failover_end_ms <= srv.clock.monotonic_ms():
        if srv.failover_force:
            _log(srv, f"FAILOVER to {_target_name(srv)} time out exceeded, failing over.")
            _switch(srv)
        else:
            abort(srv, "Replica never caught up before timeout")
        return
    offset = srv.master_repl_offset
    if srv.failover_target is not None:
        r = find_replica(srv, *srv.failover_target)
        synced = r is not None and r.ack_offset == offset
    else:
        r = next((r for r in srv.master_side.replicas.values() if r.ack_offset == offset),
                 None)
        synced = r is not None
        if r is not None:
            srv.failover_target = (r.host, r.port)
    if synced:
        _log(srv, f"Failover target {_target_name(srv)} is synced, failing over.")
        _switch(srv)


def _switch(srv: Server) -> None:
    from redkeep.replication.upstream import become_replica
    srv.failover_state = IN_PROGRESS
    host, port = srv.failover_target
    become_replica(srv, host, port)


def succeeded(srv: Server) -> None:
    """The target answered our PSYNC FAILOVER: done, writes resume (as a replica)."""
    if srv.failover_state == IN_PROGRESS:
        clear(srv)


def abort(srv: Server, why: str) -> None:
    """abortFailover: back to a master with our data if we had turned into a replica."""
    if srv.failover_state == NO_FAILOVER:
        return
    _log(srv, f"FAILOVER to {_target_name(srv)} aborted: {why}")
    if srv.failover_state == IN_PROGRESS:
        from redkeep.replication.upstream import promote
        promote(srv)
    clear(srv)


def clear(srv: Server) -> None:
    """clearFailoverState: no target, no timeout, the failover's pause lifted."""
    srv.failover_state = NO_FAILOVER
    srv.failover_target = None
    srv.failover_force = False
    srv.failover_end_ms = 0
    srv.failover_pause = False
    node = getattr(srv, "node", None)
    if node is not None:
        node.resume_paused()


def command(c: Client, argv: list[bytes]) -> object:
    """FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT milliseconds]."""
    from redkeep.resp.types import OK
    srv = c.server
    if len(argv) == 2 and argv[1].lower() == b"abort":
        if srv.failover_state == NO_FAILOVER:
            raise CommandError("ERR No failover in progress.")
        abort(srv, "Failover manually aborted")
        return OK
    start(srv, argv)
    return OK
