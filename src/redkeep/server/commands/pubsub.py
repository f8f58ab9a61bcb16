"""Pub/sub commands: SUBSCRIBE PSUBSCRIBE UNSUBSCRIBE PUNSUBSCRIBE PUBLISH PUBSUB."""

from __future__ import annotations

from collections.abc import Callable

from redkeep.resp.encoder import encode
from redkeep.resp.types import Push, Raw
from redkeep.server.connection import Client
from redkeep.server.propagation import PROPAGATE_REPL
from redkeep.server.server import NO_REPLY
from redkeep.server.table import CommandTable


def _confirm(c: Client, frames: list[Push]) -> object:
    """(Un)subscribe confirmations: pushed now, or, inside EXEC, the command's reply
    (Redis writes them where the command's reply goes, inside EXEC's array)."""
    if c.in_exec:
        return Raw(b"".join(encode(f, c.resp) for f in frames))
    for f in frames:
        c.push(f)
    return NO_REPLY


def _subscribe(c: Client, names: list[bytes], add: Callable[[Client, bytes], bool],
               kind: bytes) -> object:
    frames = []
    for name in names:
        add(c, name)
        frames.append(Push([kind, name, c.subscription_count]))
    return _confirm(c, frames)


def _unsubscribe(c: Client, names: list[bytes], remove: Callable[[Client, bytes], bool],
                 kind: bytes) -> object:
    """No names: all of the client's, in order; none at all still gets one (nil) frame."""
    frames = [] if names else [Push([kind, None, c.subscription_count])]
    for name in names:
        remove(c, name)
        frames.append(Push([kind, name, c.subscription_count]))
    return _confirm(c, frames)


def cmd_subscribe(c: Client, argv: list[bytes]) -> object:
    return _subscribe(c, argv[1:], c.server.pubsub.subscribe, b"subscribe")


def cmd_psubscribe(c: Client, argv: list[bytes]) -> object:
    return _subscribe(c, argv[1:], c.server.pubsub.psubscribe, b"psubscribe")


def cmd_unsubscribe(c: Client, argv: list[bytes]) -> object:
    return _unsubscribe(c, argv[1:] or sorted(c.channels), c.server.pubsub.unsubscribe,
                        b"unsubscribe")


def cmd_punsubscribe(c: Client, argv: list[bytes]) -> object:
    return _unsubscribe(c, argv[1:] or sorted(c.patterns), c.server.pubsub.punsubscribe,
                        b"punsubscribe")


def cmd_publish(c: Client, argv: list[bytes]) -> object:
    prop = c.server.propagator
    if prop.feeds:   # replicas see PUBLISH too (not the AOF), as Redis
        prop.also(c.db.id, argv, PROPAGATE_REPL)
    return c.server.pubsub.publish(argv[1], argv[2])


def cmd_pubsub_channels(c: Client, argv: list[bytes]) -> object:
    if len(argv) > 3:   # Redis's addReplySubcommandSyntaxError, as typed
        from redkeep.server.errors import CommandError
        raise CommandError(
            "ERR unknown subcommand or wrong number of arguments for "
            f"'{argv[1].decode('utf-8', 'replace')[:128]}'. Try PUBSUB HELP.")
    return c.server.pubsub.active_channels(argv[2] if len(argv) == 3 else None)


def cmd_pubsub_numsub(c: Client, argv: list[bytes]) -> object:
    out: list[object] = []
    for ch in argv[2:]:
        out += [ch, c.server.pubsub.numsub(ch)]
    return out


def cmd_pubsub_numpat(c: Client, argv: list[bytes]) -> object:
    return len(c.server.pubsub.patterns)


def cmd_pubsub_help(c: Client, argv: list[bytes]) -> object:
    from redkeep.resp.types import Status
    lines = [
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Prints this help.",
    ]
    return [Status(s.encode()) for s in lines]


def register(table: CommandTable) -> None:
    g = "pubsub"
    fl = "pubsub noscript loading stale"
    table.add("subscribe", cmd_subscribe, -2, fl, group=g)
    table.add("psubscribe", cmd_psubscribe, -2, fl, group=g)
    table.add("unsubscribe", cmd_unsubscribe, -1, fl, group=g)
    table.add("punsubscribe", cmd_punsubscribe, -1, fl, group=g)
    table.add("publish", cmd_publish, 3, "pubsub loading stale fast may_replicate", group=g)
    ps = table.add("pubsub", None, -2, "", group=g, categories="@slow")
    table.add_subcommand(ps, "channels", cmd_pubsub_channels, -2, "pubsub loading stale")
    table.add_subcommand(ps, "numsub", cmd_pubsub_numsub, -2, "pubsub loading stale")
    table.add_subcommand(ps, "numpat", cmd_pubsub_numpat, 2, "pubsub loading stale")
    table.add_subcommand(ps, "help", cmd_pubsub_help, 2, "loading stale")
