"""INFO replication and its role-dependent fields, as Redis 7.0 prints them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redkeep.server.server import Server


def replication_fields(srv: Server) -> list[tuple[str, Any]]:
    cfg = srv.config
    now = srv.clock.monotonic_ms()
    up = srv.upstream
    out: list[tuple[str, Any]] = []
    if up is None:
        out.append(("role", "master"))
    else:
        up_ = up.link_up
        out += [("role", "slave"), ("master_host", up.host), ("master_port", up.port),
                ("master_link_status", "up" if up_ else "down"),
                ("master_last_io_seconds_ago", (now - up.last_io_ms) // 1000 if up_ else -1)]
        syncing = up.role_state() == "sync"
        out.append(("master_sync_in_progress", int(syncing)))
        out += [("slave_read_repl_offset", srv.master_repl_offset),
                ("slave_repl_offset", srv.master_repl_offset)]
        if syncing and up.link is not None:
            read, total = up.link.transfer_progress()
            perc = read * 100.0 / total if total > 0 else 0.0
            out += [("master_sync_total_bytes", total), ("master_sync_read_bytes", read),
                    ("master_sync_left_bytes", total - read if total > 0 else -1),
                    ("master_sync_perc", f"{perc:.2f}"),
                    ("master_sync_last_io_seconds_ago", (now - up.last_io_ms) // 1000)]
        if not up_:
            out.append(("master_link_down_since_seconds", (now - up.down_since_ms) // 1000))
        out += [("slave_priority", cfg.replica_priority),
                ("slave_read_only", int(cfg.replica_read_only)),
                ("replica_announced", int(cfg.replica_announced))]
    ms = srv.master_side
    out.append(("connected_slaves", len(ms.replicas)))
    if up is None and cfg.min_replicas_to_write:
        out.append(("min_slaves_good_slaves", ms.good_replicas()))
    for i, r in enumerate(ms.replicas.values()):
        lag = (now - r.ack_time_ms) // 1000
        out.append((f"slave{i}", f"ip={r.host},port={r.port},state={r.state.info_name},"
                    f"offset={r.ack_offset},lag={lag}"))
    backlog = ms.backlog
    out += [("master_failover_state", srv.failover_state),
            ("master_replid", srv.replid), ("master_replid2", srv.replid2),
            ("master_repl_offset", srv.master_repl_offset),
            ("second_repl_offset", srv.second_repl_offset),
            ("repl_backlog_active", int(backlog is not None)),
            ("repl_backlog_size", cfg.repl_backlog_size),
            ("repl_backlog_first_byte_offset", backlog.first_offset if backlog else 0),
            ("repl_backlog_histlen", backlog.histlen if backlog else 0)]
    return out
