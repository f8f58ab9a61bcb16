"""Transactions: MULTI EXEC DISCARD WATCH UNWATCH (the queueing itself is in Server.execute)."""

from __future__ import annotations

from redkeep.resp.types import OK
from redkeep.server import errors
from redkeep.server.connection import Client
from redkeep.server.errors import CommandError
from redkeep.server.table import CommandTable


def cmd_multi(c: Client, argv: list[bytes]) -> object:
    if c.in_multi:
        raise CommandError(errors.MULTI_NESTED)
    c.in_multi = True
    return OK


def cmd_exec(c: Client, argv: list[bytes]) -> object:
    return c.server.exec_transaction(c)


def cmd_discard(c: Client, argv: list[bytes]) -> object:
    if not c.in_multi:
        raise CommandError(errors.DISCARD_WITHOUT_MULTI)
    c.server.discard_transaction(c)
    return OK


def cmd_watch(c: Client, argv: list[bytes]) -> object:
    if c.in_multi:
        raise CommandError(errors.WATCH_IN_MULTI)
    for key in argv[1:]:
        c.server.watch(c, key)
    return OK


def cmd_unwatch(c: Client, argv: list[bytes]) -> object:
    c.server.unwatch_all(c)
    return OK


def register(table: CommandTable) -> None:
    g = "transactions"
    table.add("multi", cmd_multi, 1, "noscript loading stale fast allow_busy", group=g,
              categories="@transaction")
    table.add("exec", cmd_exec, 1, "noscript loading stale skip_slowlog", group=g,
              categories="@transaction")
    table.add("discard", cmd_discard, 1, "noscript loading stale fast allow_busy", group=g,
              categories="@transaction")
    table.add("watch", cmd_watch, -2, "noscript loading stale fast allow_busy", 1, -1, 1,
              group=g, categories="@transaction")
    table.add("unwatch", cmd_unwatch, 1, "noscript loading stale fast allow_busy", group=g,
              categories="@transaction")
