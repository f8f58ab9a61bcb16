"""What a write sends downstream: the commands the replication stream and the AOF get.

Theory of operation
-------------------
Redis does not ship data, it ships commands: every command that changed the dataset
(`server.dirty` moved while it ran) is *propagated* — appended to the AOF and to the
replication stream — so that replaying the stream on an empty node rebuilds the same
data. `Propagator` collects the commands of one *execution unit* (a top-level command
with everything it runs: the commands inside EXEC, the calls of a script, the keys
that expired or were evicted on the way) in `pending`, as (dbid, argv, targets)
operations, and `flush()` hands them to every feed at the end of the unit; more than
one operation is wrapped in MULTI/EXEC so a replica applies the unit atomically
(Redis 7.0's propagatePendingCommands).

A handler whose command would not replay to the same result rewrites what is
propagated by setting `client.propagate_as` (Redis's rewriteClientCommandVector):
relative TTLs become absolute (SET … PXAT, PEXPIREAT), random or served pops become
the removal they did (SPOP → SREM, a served BLPOP → LPOP), floats become the value
they produced (INCRBYFLOAT → SET … KEEPTTL). An empty list propagates nothing.
Commands that only run others (EXEC, EVAL, FCALL) never propagate themselves.

Each feed is a callable taking the list of operations; `StreamEncoder` turns them
into RESP bytes for one target, inserting SELECT when the database changes (every
stream has its own selected database: the AOF and the replication stream differ).
Targets: PUBLISH goes to replicas only (PROPAGATE_REPL), everything else to both.
"""

from __future__ import annotations

from collections.abc import Callable

from hiredis import pack_command

PROPAGATE_AOF = 1
PROPAGATE_REPL = 2
PROPAGATE_ALL = 3

Op = tuple[int, list[bytes], int]    # (dbid, argv, targets); dbid -1: no SELECT needed
Feed = Callable[[list[Op]], None]

# Commands that run other commands: what they ran is propagated, never themselves.
NO_SELF_PROPAGATION = frozenset({
    "exec", "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro",
})


def encode_command(argv: list[bytes]) -> bytes:
    """A command as a RESP multibulk, byte for byte as Redis writes it to a stream
    (hiredis's C packer; other bytes-like arguments the long way)."""
    try:
        return pack_command(tuple(argv))
    except TypeError:
        return b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in argv)


class Propagator:
    def __init__(self) -> None:
        self.pending: list[Op] = []
        self.depth = 0                  # nesting of Server.call (0: between units)
        self.feeds: list[Feed] = []

    def also(self, dbid: int, argv: list[bytes], targets: int = PROPAGATE_ALL) -> None:
        """Queue one operation in the current execution unit (alsoPropagate)."""
        self.pending.append((dbid, argv, targets))

    def deletion(self, dbid: int, key: bytes, lazy: bool) -> None:
        """An expired or evicted key: a DEL (UNLINK when lazyfree says so) downstream.
        Outside a command (the active expire cycle, eviction in cron) it goes at once."""
        if not self.feeds:
            return
        self.pending.append((dbid, [b"UNLINK" if lazy else b"DEL", key], PROPAGATE_ALL))
        if self.depth == 0:
            self.flush()

    def flush(self) -> None:
        ops, self.pending = self.pending, []
        if not ops or not self.feeds:
            return
        if len(ops) > 1:
            targets = 0
            for op in ops:
                targets |= op[2]
            ops = [(ops[0][0], [b"MULTI"], targets), *ops, (-1, [b"EXEC"], targets)]
        for feed in self.feeds:
            feed(ops)


class StreamEncoder:
    """RESP bytes of operations for one target, with SELECT when the db changes."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.seldb = -1

    def encode(self, ops: list[Op]) -> bytes:
        out = []
        for dbid, argv, targets in ops:
            if not targets & self.target:
                continue
            if dbid >= 0 and dbid != self.seldb:
                out.append(encode_command([b"SELECT", b"%d" % dbid]))
                self.seldb = dbid
            out.append(encode_command(argv))
        return b"".join(out)
