"""Replication commands: REPLICAOF/SLAVEOF, REPLCONF, PSYNC/SYNC, WAIT, ROLE."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from redkeep.replication import failover
from redkeep.resp.types import OK, Status
from redkeep.server import errors
from redkeep.server.arguments import parse_int
from redkeep.server.errors import CommandError

if TYPE_CHECKING:
    from redkeep.server.connection import Client
    from redkeep.server.server import Server
    from redkeep.server.table import CommandTable


def _client_info(c: Client) -> str:
    from redkeep.server.commands.client import client_info_line
    try:
        return client_info_line(c).decode("utf-8", "replace").rstrip()
    except Exception:  # noqa: BLE001 - only for a log line
        return f"id={c.id} addr={c.addr}"


# ---- REPLICAOF ----

def cmd_replicaof(c: Client, argv: list[bytes]) -> object:
    from redkeep.replication.upstream import become_replica, promote

    srv = c.server
    if argv[1].lower() == b"no" and argv[2].lower() == b"one":
        if srv.upstream is not None:
            promote(srv, f"user request from '{_client_info(c)}'")
        return OK
    if c.kind == "replica":
        raise CommandError("ERR Command is not valid when client is a replica.")
    port = parse_int(argv[2], "ERR Invalid master port")
    if not 0 <= port <= 65535:
        raise CommandError("ERR Invalid master port")
    host = argv[1].decode("utf-8", "replace")
    up = srv.upstream
    if up is not None and up.host == host and up.port == port:
        srv.log.notice("REPLICAOF would result into synchronization with the master we are "
                       "already connected with. No operation performed.") \
            if getattr(srv, "log", None) else None
        return Status(b"OK Already connected to specified master")
    become_replica(srv, host, port, f"user request from '{_client_info(c)}'")
    return OK


# ---- REPLCONF ----

def cmd_replconf(c: Client, argv: list[bytes]) -> object:
    from redkeep.server.server import NO_REPLY

    if len(argv) % 2 == 0:
        raise CommandError(errors.SYNTAX)
    srv = c.server
    conf = c.replconf if c.replconf is not None else {}
    for i in range(1, len(argv), 2):
        opt, val = argv[i].lower(), argv[i + 1]
        if opt == b"listening-port":
            conf["listening-port"] = parse_int(val)
        elif opt == b"ip-address":
            conf["ip-address"] = val.decode("utf-8", "replace")
        elif opt == b"capa":
            conf.setdefault("capa", set()).add(val.lower().decode("utf-8", "replace"))
        elif opt == b"ack":
            if c.kind == "replica":   # no reply: the stream to the replica stays clean
                srv.master_side.on_ack(c, parse_int(val))
                srv.wake_waiters()
            return NO_REPLY
        elif opt == b"getack":
            if c.kind == "master" and srv.upstream is not None:
                srv.upstream.send_ack()
            return NO_REPLY
        elif opt == b"rdb-only":
            conf["rdb-only"] = val == b"1"
        elif opt == b"rdb-filter-only":
            pass
        else:
            raise CommandError(f"ERR Unrecognized REPLCONF option: {argv[i].decode('utf-8', 'replace')}")
    c.replconf = conf
    return OK


# ---- PSYNC / SYNC ----

def cmd_psync(c: Client, argv: list[bytes]) -> object:
    from redkeep.server.server import NO_REPLY

    srv = c.server
    if c.kind == "replica":
        return NO_REPLY
    if len(argv) > 3 and argv[0].lower() == b"psync" and argv[3].lower() == b"failover":
        _psync_failover(c, argv[1].decode("utf-8", "replace"))
    if srv.failover_state != failover.NO_FAILOVER:
        raise CommandError("NOMASTERLINK Can't SYNC while failing over")
    if srv.upstream is not None and not srv.upstream.link_up:
        raise CommandError(errors.NOMASTERLINK)
    if argv[0].lower() == b"sync" or len(argv) < 3:
        replid, offset = "?", -1
    else:
        replid = argv[1].decode("utf-8", "replace")
        offset = parse_int(argv[2])
    if c.replconf is None:
        c.replconf = {}
    if argv[0].lower() == b"sync":
        c.replconf["capa"] = set()      # old-style SYNC: no +FULLRESYNC, disk payload only
        c.replconf["pre-psync"] = True
    srv.master_side.psync(c, replid, offset)
    return NO_REPLY


def _psync_failover(c: Client, replid: str) -> None:
    """PSYNC <replid> <offset> FAILOVER: our master hands over (its FAILOVER command);
    we take over if it is the master whose history we have."""
    from redkeep.replication.upstream import promote

    srv = c.server
    if getattr(srv, "log", None) is not None:
        srv.log.warning(f"Failover request received for replid {replid}.")
    if srv.upstream is None:
        raise CommandError("ERR PSYNC FAILOVER can't be sent to a master.")
    if replid.lower() != srv.replid.lower():
        raise CommandError("ERR PSYNC FAILOVER replid must match my replid.")
    promote(srv, f"failover request from '{_client_info(c)}'")


# ---- WAIT ----

def cmd_wait(c: Client, argv: list[bytes]) -> object:
    srv = c.server
    if srv.upstream is not None:
        raise CommandError(
            "ERR WAIT cannot be used with replica instances. Please also note that since Redis "
            "4.0 if a replica is configured to be writable (which is not the default) writes to "
            "replicas are just local and are not propagated.")
    numreplicas = parse_int(argv[1])
    timeout = parse_int(argv[2], "ERR timeout is not an integer or out of range")
    if timeout < 0:
        raise CommandError("ERR timeout is negative")
    offset = srv.master_repl_offset
    acked = srv.master_side.count_acked(offset)
    if acked >= numreplicas or not c.can_block():
        return acked
    srv.waiting_acks.append((c, offset, numreplicas))
    srv.master_side.feed_command([b"REPLCONF", b"GETACK", b"*"])
    return srv.blocking.block(c, [], timeout / 1000.0,
                              lambda: _wait_done(srv, c, offset))


def _wait_done(srv: Server, c: Client, offset: int) -> int:
    srv.waiting_acks = [w for w in srv.waiting_acks if w[0] is not c]
    return srv.master_side.count_acked(offset)


# ---- ROLE ----

def role_reply(srv: Server) -> list[Any]:
    up = srv.upstream
    if up is None:
        replicas = [[(r.ip or r.client.addr.rsplit(":", 1)[0]).encode(), b"%d" % r.port,
                     b"%d" % r.ack_offset]
                    for r in srv.master_side.replicas.values() if r.state.name == "ONLINE"]
        return [b"master", srv.master_repl_offset, replicas]
    offset = srv.master_repl_offset if up.link_up or up.cached else -1
    return [b"slave", up.host.encode(), up.port, up.role_state().encode(), offset]


def register(table: CommandTable) -> None:
    g = "server"
    for name in ("replicaof", "slaveof"):
        table.add(name, cmd_replicaof, 3, "admin noscript stale", group=g)
    table.add("replconf", cmd_replconf, -1, "admin noscript loading stale allow_busy", group=g)
    table.add("psync", cmd_psync, -3, "admin noscript no_multi", group=g)
    table.add("sync", cmd_psync, 1, "admin noscript no_multi", group=g)
    table.add("wait", cmd_wait, 3, "noscript", group="generic")
    from redkeep.replication.failover import command as cmd_failover
    table.add("failover", cmd_failover, -1, "admin noscript stale", group=g)


def install_replication_hooks(srv: Server) -> None:
    """CONFIG SET side effects for replication directives."""
    cfg = srv.config

    def guard(name: str) -> None:
        srv.refresh_replication_guard()

    def backlog_size(name: str) -> None:
        if srv.master_side.backlog is not None:
            srv.master_side.backlog.resize(cfg.repl_backlog_size)

    cfg.on_change("min-replicas-to-write", guard)
    cfg.on_change("repl-backlog-size", backlog_size)
