"""Command handlers, one module per command group, and the explicit table builder."""

from __future__ import annotations

from redkeep.server.table import CommandTable


def build_table() -> CommandTable:
    from redkeep.server.commands import (
        client,
        connection,
        hashes,
        keys,
        lists,
        persistence,
        pubsub,
        replication,
        scripting,
        serialization,
        server,
        sets,
        sort,
        streams,
        strings,
        transactions,
        zsets,
    )

    table = CommandTable()
    for group in (connection, transactions, pubsub, strings, keys, server, client, lists,
                  hashes, sets, sort, zsets, streams, scripting, serialization,
                  persistence, replication):
        group.register(table)
    return table
