"""Server commands: INFO CONFIG COMMAND TIME ROLE LASTSAVE SHUTDOWN MONITOR SLOWLOG
LATENCY MEMORY DEBUG.

Replies, subcommand help texts and error texts are Redis 7.0.15's. INFO's text comes
from server.info, DEBUG DIGEST from server.digest, COMMAND DOCS and the tips / key
specs of COMMAND INFO from server.commanddocs (recorded from redis-server 7.0.15) while
names, arity, flags, key ranges and ACL categories come from the command table.

CONFIG SET changes that must act at once (notify-keyspace-events, slowlog-max-len,
maxmemory, requirepass, loglevel) are applied by the hooks `install_config_hooks`
registers; Server.__init__ calls it.

Known approximations: MEMORY USAGE and DEBUG OBJECT estimate sizes the way jemalloc and
Redis's encodings would lay a value out (exact for strings, close for containers);
serializedlength ignores LZF compression; LATENCY keeps only the samples that other
parts of the server add with `latency_add_sample`; latency percentiles and histograms
are derived from each command's mean latency (there is no per-call histogram).
"""

from __future__ import annotations

import itertools
import os
import random
import re
import struct
import time
from typing import TYPE_CHECKING, Any

from redkeep.resp.parser import parse_ll
from redkeep.resp.types import (
    OK,
    Bool,
    Double,
    ErrorReply,
    Map,
    Raw,
    SetReply,
    Status,
    Verbatim,
)
from redkeep.server import commanddocs, digest, errors, info
from redkeep.server.arguments import parse_int
from redkeep.server.config import ConfigSetError
from redkeep.server.connection import Client
from redkeep.server.errors import CommandError
from redkeep.server.glob import stringmatch
from redkeep.server.table import Command, CommandTable

if TYPE_CHECKING:
    from redkeep.server.server import Server


def _no_reply() -> Any:
    from redkeep.server.server import NO_REPLY
    return NO_REPLY


def help_reply(container: str, lines: list[str]) -> list[Status]:
    """addReplyHelp: the usage line, the subcommand lines, then HELP."""
    head = f"{container} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    return [Status(s.encode()) for s in (head, *lines, "HELP", "    Prints this help.")]


def subcommand_error(argv: list[bytes]) -> CommandError:
    return CommandError(errors.subcommand_syntax(argv[1], argv[0].decode("utf-8", "replace")))


def _log(server: Server) -> Any:
    return getattr(server, "log", None)


# ---- INFO ----

def cmd_info(c: Client, argv: list[bytes]) -> object:
    return Verbatim(info.generate_info(c.server, argv[1:]))


# ---- CONFIG ----

CONFIG_HELP = [
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
]


def _text(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def cmd_config_get(c: Client, argv: list[bytes]) -> object:
    return Map([(_text(k), _text(v)) for k, v in c.server.config.get(argv[2:])])


def is_local_client(c: Client) -> bool:
    addr = c.addr
    return (addr.startswith("127.") or addr.startswith("[::1]")
            or addr.startswith("/") or addr.startswith("[::ffff:127."))


def cmd_config_set(c: Client, argv: list[bytes]) -> object:
    if len(argv) % 2:
        raise CommandError(errors.SYNTAX)
    pairs = list(zip(argv[2::2], argv[3::2], strict=True))
    try:
        c.server.config.set(pairs, client_is_local=is_local_client(c))
    except ConfigSetError as e:
        raise CommandError(str(e)) from None
    return OK


def cmd_config_resetstat(c: Client, argv: list[bytes]) -> object:
    reset_stats(c.server)
    return OK


_GAUGES = frozenset({"pubsub_channels", "total_blocking_keys"})


def reset_stats(srv: Server) -> None:
    """resetServerStats + resetCommandTableStats + resetErrorTableStats."""
    for name in srv.stats:
        if name not in _GAUGES:
            srv.stats[name] = 0
    srv.errorstats.clear()
    srv.table.reset_stats()
    ks = srv.keyspace
    ks.keyspace_hits = ks.keyspace_misses = ks.expired_keys = ks.evicted_keys = 0
    from redkeep.persistence.snapshot import state_of
    state_of(srv).saves = 0
    if hasattr(srv, "stat_aof_rewrites"):
        srv.stat_aof_rewrites = 0
    info.metrics_of(srv).reset()


def cmd_config_rewrite(c: Client, argv: list[bytes]) -> object:
    log = _log(c.server)
    try:
        c.server.config.rewrite()
    except ConfigSetError as e:
        if log is not None:
            log.warning(f"CONFIG REWRITE failed: {str(e).removeprefix('ERR ')}")
        raise CommandError(str(e)) from None
    if log is not None:
        log.notice("CONFIG REWRITE executed with success.")
    return OK


def cmd_config_help(c: Client, argv: list[bytes]) -> object:
    return help_reply("CONFIG", CONFIG_HELP)


def install_config_hooks(server: Server) -> None:
    """CONFIG SET side effects that must happen at once (Redis's apply functions)."""
    cfg, ks = server.config, server.keyspace

    def notify_events(name: str) -> None:
        ks.notify_flags = cfg.notify_flags

    def slowlog_len(name: str) -> None:
        n = cfg.slowlog_max_len
        server.slowlog = type(server.slowlog)(itertools.islice(server.slowlog, n), maxlen=n)

    def maxmemory(name: str) -> None:
        limit = cfg.maxmemory
        used = info.memory_numbers(server)["used"]
        log = _log(server)
        if limit and limit < used and log is not None:
            log.warning(f"WARNING: the new maxmemory value set via CONFIG SET ({limit}) is "
                        f"smaller than the current memory usage ({used}). This will result "
                        "in key eviction and/or the inability to accept new write commands "
                        "depending on the maxmemory-policy.")
        if limit and server.evictor is not None:
            server.evictor.make_room(None)

    def requirepass(name: str) -> None:
        if not cfg.requirepass:  # the default user is "nopass" again: everyone is in
            for cl in server.clients.values():
                cl.authenticated = True
                if cl.parser is not None:
                    cl.parser.authenticated = True

    def loglevel(name: str) -> None:
        log = _log(server)
        if log is not None and hasattr(log, "set_level"):
            log.set_level(cfg.loglevel)

    cfg.on_change("notify-keyspace-events", notify_events)
    cfg.on_change("slowlog-max-len", slowlog_len)
    cfg.on_change("maxmemory", maxmemory)
    cfg.on_change("requirepass", requirepass)
    cfg.on_change("loglevel", loglevel)
    from redkeep.persistence.aof import on_config_appendonly
    cfg.on_change("appendonly", lambda name: on_config_appendonly(server))
    slowlog_len("slowlog-max-len")


# ---- COMMAND ----

COMMAND_HELP = [
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
]

# The order COMMAND INFO lists flags and ACL categories in (Redis's bit order).
FLAG_ORDER = ("write", "readonly", "denyoom", "module", "admin", "pubsub", "noscript",
              "blocking", "loading", "stale", "skip_monitor", "skip_slowlog", "asking", "fast",
              "no_auth", "may_replicate", "no_mandatory_keys", "no_async_loading", "no_multi",
              "movablekeys", "allow_busy")
CATEGORY_ORDER = ("@keyspace", "@read", "@write", "@set", "@sortedset", "@list", "@hash",
                  "@string", "@bitmap", "@hyperloglog", "@geo", "@stream", "@pubsub",
                  "@admin", "@fast", "@slow", "@blocking", "@dangerous", "@connection",
                  "@transaction", "@scripting")
_FLAG_RANK = {f: i for i, f in enumerate(FLAG_ORDER)}
_CAT_RANK = {c: i for i, c in enumerate(CATEGORY_ORDER)}


def command_info_entry(cmd: Command) -> list[Any]:
    docs = commanddocs
    flags = sorted((f for f in cmd.flags if f in _FLAG_RANK), key=_FLAG_RANK.__getitem__)
    cats = sorted(cmd.categories, key=lambda x: _CAT_RANK.get(x, len(_CAT_RANK)))
    # Redis replies an empty *set* when there are no subcommands, else an array
    subs = [command_info_entry(s) for s in cmd.subcommands.values()] if cmd.subcommands \
        else SetReply()
    return [cmd.fullname.encode(), cmd.arity, SetReply(Status(f.encode()) for f in flags),
            cmd.first_key, cmd.last_key, cmd.step,
            SetReply(Status(x.encode()) for x in cats),
            docs.tips_reply(cmd.fullname), docs.key_specs_reply(cmd.fullname), subs]


def command_docs(cmd: Command) -> Map:
    items = commanddocs.docs_items(cmd.fullname)
    items = list(items) if items is not None else [(b"group", cmd.group.encode())]
    if cmd.subcommands:
        items.append((b"subcommands", Map([(s.fullname.encode(), command_docs(s))
                                           for s in cmd.subcommands.values()])))
    return Map(items)


def lookup_fullname(table: CommandTable, name: bytes) -> Command | None:
    """lookupCommandBySds: "get" or "config|get"."""
    parts = name.split(b"|")
    if len(parts) > 2:
        return None
    cmd = table.lookup(parts[0])
    if cmd is None or len(parts) == 1:
        return cmd
    return (cmd.subcommands or {}).get(parts[1].lower())


def lookup_argv(table: CommandTable, argv: list[bytes]) -> Command | None:
    """lookupCommand on an argv: the container's subcommand when there is one."""
    cmd = table.lookup(argv[0])
    if cmd is None or not cmd.subcommands:
        return cmd
    if len(argv) < 2:
        return cmd
    return cmd.subcommands.get(argv[1].lower())


def cmd_command(c: Client, argv: list[bytes]) -> object:
    return [command_info_entry(cmd) for cmd in c.server.table.all_commands()]


def cmd_command_count(c: Client, argv: list[bytes]) -> object:
    return len(c.server.table.commands)


def cmd_command_info(c: Client, argv: list[bytes]) -> object:
    table = c.server.table
    if len(argv) == 2:
        return cmd_command(c, argv)
    out = []
    for name in argv[2:]:
        cmd = lookup_fullname(table, name)
        out.append(None if cmd is None else command_info_entry(cmd))
    return out


def cmd_command_docs(c: Client, argv: list[bytes]) -> object:
    table = c.server.table
    if len(argv) == 2:
        cmds = table.all_commands()
    else:
        cmds = [cmd for cmd in (lookup_fullname(table, n) for n in argv[2:]) if cmd is not None]
    return Map([(cmd.fullname.encode(), command_docs(cmd)) for cmd in cmds])


def _all_with_subcommands(table: CommandTable) -> list[Command]:
    out = []
    for cmd in table.all_commands():
        out.append(cmd)
        out.extend((cmd.subcommands or {}).values())
    return out


def cmd_command_list(c: Client, argv: list[bytes]) -> object:
    cmds = _all_with_subcommands(c.server.table)
    if len(argv) == 2:
        return [cmd.fullname.encode() for cmd in cmds]
    if len(argv) != 5 or argv[2].lower() != b"filterby":
        raise CommandError(errors.SYNTAX)
    kind, arg = argv[3].lower(), argv[4]
    if kind == b"module":
        return []
    if kind == b"aclcat":
        cat = "@" + arg.decode("utf-8", "replace").lower()
        return [cmd.fullname.encode() for cmd in cmds if cat in cmd.categories]
    if kind == b"pattern":
        return [cmd.fullname.encode() for cmd in cmds
                if stringmatch(arg, cmd.fullname.encode(), True)]
    raise CommandError(errors.SYNTAX)


def _getkeys(c: Client, argv: list[bytes]) -> list[tuple[bytes, tuple[str, ...]]]:
    """commandGetKeysAndFlags: (key, flags) for the command given as arguments."""
    args = argv[2:]
    cmd = lookup_argv(c.server.table, args)
    if cmd is None:
        raise CommandError("ERR Invalid command specified")
    specs = commanddocs.KEY_SPECS.get(cmd.fullname)
    if not (any("not_key" not in s["flags"] for s in specs) if specs else cmd.first_key > 0):
        raise CommandError("ERR The command has no key arguments")
    if not cmd.check_arity(len(args)):
        raise CommandError("ERR Invalid number of arguments specified for command")
    found = keys_from_specs(specs, cmd.arity, args) if specs else None
    if cmd.name == "sort":  # Redis has a getkeys procedure for SORT: STORE is a key too
        from redkeep.server.commands.sort import sort_getkeys
        found = sort_getkeys(args)
    if found is None:
        found = [(i, ()) for i in cmd.key_positions(args)]
    if not found:
        if "no_mandatory_keys" in cmd.flags:
            return []
        raise CommandError("ERR Invalid arguments specified for command")
    return [(args[i], flags) for i, flags in found]


def keys_from_specs(specs: list[dict], arity: int, argv: list[bytes]
                    ) -> list[tuple[int, tuple[str, ...]]] | None:
    """getKeysUsingKeySpecs: key positions and flags, None when a spec can't tell."""
    argc, out = len(argv), []
    for spec in specs:
        if "not_key" in spec["flags"]:
            continue
        bs, fk = spec["begin_search"], spec["find_keys"]
        if bs["type"] == "index":
            first = bs["spec"]["index"]
        elif bs["type"] == "keyword":
            first = _keyword_position(bs["spec"], argv)
            if not first:
                continue
        else:
            return None
        bounds = _find_keys(fk, first, argv)
        if bounds is None:
            return None
        first, last, step = bounds
        if last >= argc or last < first or first >= argc:
            return None
        out.extend((i, spec["flags"]) for i in range(first, last + 1, step) if i < argc)
        if "incomplete" in spec["flags"]:
            return None
    return out


def _keyword_position(spec: dict, argv: list[bytes]) -> int:
    argc, startfrom = len(argv), spec["startfrom"]
    keyword = spec["keyword"].encode().lower()
    start = startfrom if startfrom > 0 else argc + startfrom
    end = argc - 1 if startfrom > 0 else 1
    i = start
    while i != end:
        if i >= argc or i < 1:
            break
        if argv[i].lower() == keyword:
            return i + 1
        i = i + 1 if start <= end else i - 1
    return 0


def _find_keys(fk: dict, first: int, argv: list[bytes]) -> tuple[int, int, int] | None:
    argc, s = len(argv), fk["spec"]
    if fk["type"] == "range":
        lastkey, limit = s["lastkey"], s["limit"]
        if lastkey >= 0:
            last = first + lastkey
        elif not limit:
            last = argc + lastkey
        else:
            last = first + ((argc - first) // limit + lastkey)
        return first, last, s["keystep"]
    if fk["type"] == "keynum":
        idx = first + s["keynumidx"]
        if idx >= argc:
            return None
        n = parse_ll(argv[idx])
        if n is None or n < 0:
            return None
        first += s["firstkey"]
        return first, first + n - 1, s["keystep"]
    return None


def cmd_command_getkeys(c: Client, argv: list[bytes]) -> object:
    return [key for key, _ in _getkeys(c, argv)]


def cmd_command_getkeysandflags(c: Client, argv: list[bytes]) -> object:
    return [[key, SetReply(Status(f.encode()) for f in flags)] for key, flags in _getkeys(c, argv)]


def cmd_command_help(c: Client, argv: list[bytes]) -> object:
    return help_reply("COMMAND", COMMAND_HELP)


# ---- TIME ROLE LASTSAVE ----

def cmd_time(c: Client, argv: list[bytes]) -> object:
    us = c.server.clock.wall_us()
    return [b"%d" % (us // 1_000_000), b"%d" % (us % 1_000_000)]


def cmd_role(c: Client, argv: list[bytes]) -> object:
    from redkeep.server.commands.replication import role_reply
    return role_reply(c.server)


def cmd_lastsave(c: Client, argv: list[bytes]) -> object:
    return info.last_save_time(c.server)


# ---- SHUTDOWN ----

def cmd_shutdown(c: Client, argv: list[bytes]) -> object:
    flags: set[str] = set()
    abort = False
    for a in argv[1:]:
        opt = a.lower()
        if opt in (b"nosave", b"save", b"now", b"force"):
            flags.add(opt.decode())
        elif opt == b"abort":
            abort = True
        else:
            raise CommandError(errors.SYNTAX)
    if (abort and flags) or {"save", "nosave"} <= flags:
        raise CommandError(errors.SYNTAX)
    if abort:
        raise CommandError("ERR No shutdown in progress.")
    srv = c.server
    mode = "save" if "save" in flags else "nosave" if "nosave" in flags else "default"
    from redkeep.persistence.snapshot import shutdown_save
    if not shutdown_save(srv, mode, "force" in flags):
        raise CommandError("ERR Errors trying to SHUTDOWN. Check logs.")
    srv.shutdown_saved = True  # type: ignore[attr-defined]  # the node must not save again
    srv.shutdown_requested = "save" if "save" in flags else \
        "nosave" if "nosave" in flags else "default"
    srv.shutdown_flags = flags  # type: ignore[attr-defined]  # now / force, for the node
    return _no_reply()


# ---- MONITOR ----

def cmd_monitor(c: Client, argv: list[bytes]) -> object:
    if c.is_monitor or c.kind == "replica":  # Redis ignores it silently: no reply
        return _no_reply()
    c.is_monitor = True
    c.server.monitors.append(c)
    return OK


# ---- SLOWLOG ----

SLOWLOG_HELP = [
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
]


def cmd_slowlog_get(c: Client, argv: list[bytes]) -> object:
    if len(argv) > 3:
        raise subcommand_error(argv)
    slowlog = c.server.slowlog
    count = 10
    if len(argv) == 3:
        msg = "ERR count should be greater than or equal to -1"
        count = parse_int(argv[2], msg)
        if count < -1:
            raise CommandError(msg)
        if count == -1:
            count = len(slowlog)
    return [[e.id, e.time, e.duration, list(e.argv), e.addr.encode(), e.name or b""]
            for e in itertools.islice(slowlog, count)]


def cmd_slowlog_len(c: Client, argv: list[bytes]) -> object:
    return len(c.server.slowlog)


def cmd_slowlog_reset(c: Client, argv: list[bytes]) -> object:
    c.server.slowlog.clear()
    return OK


def cmd_slowlog_help(c: Client, argv: list[bytes]) -> object:
    return help_reply("SLOWLOG", SLOWLOG_HELP)


# ---- LATENCY ----

LATENCY_HELP = [
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the "
    "specified command names.",
    "    If no commands are specified then all histograms are replied.",
]
LATENCY_TS_LEN = 160

DAVE_DISABLED = (
    "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis "
    "instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in "
    "order to enable it. If we weren't in a deep space mission I'd suggest to take a look "
    "at https://redis.io/topics/latency-monitor.\n")
DAVE_NOTHING = (
    "Dave, no latency spike was observed during the lifetime of this Redis instance, not "
    "in the slightest bit. I honestly think you ought to sit down calmly, take a stress "
    "pill, and think things over.\n")


def latency_add_sample(server: Server, event: str, latency_ms: int) -> None:
    """latencyAddSampleIfNeeded: one sample per second per event (the worst wins)."""
    threshold = server.config.latency_monitor_threshold
    if not threshold or latency_ms < threshold:
        return
    now = server.clock.wall_ms() // 1000
    samples = server.latency_events.setdefault(event, [])
    if samples and samples[-1][0] == now:
        samples[-1] = (now, max(samples[-1][1], latency_ms))
    else:
        samples.append((now, latency_ms))
        del samples[:-LATENCY_TS_LEN]


def cmd_latency_latest(c: Client, argv: list[bytes]) -> object:
    return [[event.encode(), s[-1][0], s[-1][1], max(ms for _, ms in s)]
            for event, s in c.server.latency_events.items() if s]


def cmd_latency_history(c: Client, argv: list[bytes]) -> object:
    samples = c.server.latency_events.get(argv[2].decode("utf-8", "replace"), [])
    return [[t, ms] for t, ms in samples]


def cmd_latency_reset(c: Client, argv: list[bytes]) -> object:
    events = c.server.latency_events
    if len(argv) == 2:
        n = len(events)
        events.clear()
        return n
    n = 0
    for name in argv[2:]:
        if events.pop(name.decode("utf-8", "replace"), None) is not None:
            n += 1
    return n


def cmd_latency_graph(c: Client, argv: list[bytes]) -> object:
    event = argv[2].decode("utf-8", "replace")
    samples = c.server.latency_events.get(event)
    if not samples:
        raise CommandError(f"ERR No samples available for event '{event}'")
    values = [ms for _, ms in samples]
    high, low = max(values), min(values)
    lines = [f"{event} - high {high} ms, low {low} ms (all time high {high} ms)", "-" * 80]
    span = (high - low) or 1
    rows = 4
    for r in range(rows, 0, -1):
        lines.append("".join("#" if (v - low) * rows >= (r - 1) * span and v else " "
                             for v in values))
    return Verbatim(("\n".join(lines) + "\n").encode())


def cmd_latency_doctor(c: Client, argv: list[bytes]) -> object:
    srv = c.server
    if not srv.config.latency_monitor_threshold:
        return Verbatim(DAVE_DISABLED.encode())
    events = [(e, s) for e, s in srv.latency_events.items() if s]
    if not events:
        return Verbatim(DAVE_NOTHING.encode())
    out = ["Dave, I have observed latency spikes in this Redis instance. You don't mind "
           "talking about it, do you Dave?\n\n"]
    for i, (event, samples) in enumerate(events, 1):
        values = [ms for _, ms in samples]
        avg = sum(values) // len(values)
        dev = sum(abs(v - avg) for v in values) // len(values)
        period = (samples[-1][0] - samples[0][0]) / len(samples) if len(samples) > 1 else 1.0
        out.append(f"{i}. {event}: {len(values)} latency spikes (average {avg}ms, mean "
                   f"deviation {dev}ms, period {period:.2f} sec). Worst all time event "
                   f"{max(values)}ms.\n")
    out.append("\nI have a few advices for you:\n\n- Check your Slow Log to understand what "
               "are the commands you are running which are too slow to execute. Please "
               "check https://redis.io/commands/slowlog for more information.\n")
    return Verbatim("".join(out).encode())


def cmd_latency_histogram(c: Client, argv: list[bytes]) -> object:
    table = c.server.table
    if len(argv) == 2:
        cmds = _all_with_subcommands(table)
    else:
        cmds = [cmd for cmd in (lookup_fullname(table, n) for n in argv[2:]) if cmd is not None]
    out = []
    for cmd in cmds:
        if cmd.calls:
            out.append((cmd.fullname.encode(), Map([
                (b"calls", cmd.calls),
                (b"histogram_usec", Map([histogram_bucket(cmd.usec * 1000 // cmd.calls,
                                                          cmd.calls)]))])))
    return Map(out)


def histogram_bucket(mean_ns: int, calls: int) -> tuple[int, int]:
    """The log-2 bucket (from 1024 ns) holding the mean, as hdr's log iterator names it."""
    level = 1024
    while info.hdr_highest_equivalent(level) < mean_ns:
        level *= 2
    return info.hdr_highest_equivalent(level) // 1000, calls


def cmd_latency_help(c: Client, argv: list[bytes]) -> object:
    return help_reply("LATENCY", LATENCY_HELP)


# ---- MEMORY ----

MEMORY_HELP = [
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
]
ROBJ, DICT_ENTRY, EMBSTR_LIMIT = 16, 24, 44


def malloc_size(n: int) -> int:
    """jemalloc's size class for an n-byte allocation (8, 16, 32, 48 … then 4 per doubling)."""
    if n <= 8:
        return 8
    if n <= 128:
        return (n + 15) & ~15
    step = (1 << ((n - 1).bit_length() - 1)) // 4
    return (n + step - 1) // step * step


def _sds_header(length: int, type5: bool) -> int:
    if type5 and length < 32:
        return 1
    return 3 if length < 256 else 5 if length < 65536 else 9 if length < 1 << 32 else 17


def sds_alloc(length: int, type5: bool = False) -> int:
    """The allocation of an sds made by sdsnewlen (keys may use the 1-byte sdshdr5)."""
    return malloc_size(_sds_header(length, type5) + length + 1)


def sds_avail(length: int, type5: bool = False) -> int:
    """sdsnewlen keeps the allocator's slack as free space (sdshdr5 has none)."""
    header = _sds_header(length, type5)
    if header == 1:
        return 0
    type_max = {3: 255, 5: 65535, 9: (1 << 32) - 1}.get(header, 1 << 64)
    return min(sds_alloc(length, type5) - header - 1, type_max) - length


def string_value_size(v: bytes, enc: bytes = b"") -> int:
    """objectComputeSize for a string: int, embstr or raw (as SET stores it by default)."""
    if enc == b"int" or (not enc and len(v) <= 20 and parse_ll(v) is not None):
        return ROBJ
    if enc == b"embstr" or (not enc and len(v) <= EMBSTR_LIMIT):
        return malloc_size(ROBJ + 3 + len(v) + 1)
    return ROBJ + sds_alloc(len(v))


def _elements(value: Any) -> Any:
    items = getattr(value, "items", None)
    return items() if callable(items) else iter(value)


def _element_size(e: Any) -> int:
    if isinstance(e, tuple):
        return sum(_element_size(x) for x in e)
    if isinstance(e, bytes):
        return len(e)
    return 8


def container_size(value: Any, samples: int, enc: bytes) -> int:
    """A container's footprint: listpack-sized when compact, else hash table + entries,
    extrapolated from the first `samples` elements (0 = all), like objectComputeSize."""
    n = len(value)
    if not n:
        return ROBJ
    it = _elements(value)
    picked = list(it if samples <= 0 else itertools.islice(it, samples))
    per = sum(_element_size(e) for e in picked) / max(len(picked), 1)
    if enc in (b"listpack", b"intset", b"ziplist"):
        return ROBJ + malloc_size(int(7 + n * (per + 2)))
    if enc == b"quicklist":
        nodes = (n + 127) // 128
        return ROBJ + 40 + nodes * 32 + nodes * malloc_size(int(7 + min(n, 128) * (per + 2)))
    buckets = 1 << max(2, (n - 1).bit_length())
    return ROBJ + 96 + 8 * buckets + int(n * (DICT_ENTRY + sds_alloc(int(per)) + 8))


def memory_usage(key: bytes, value: Any, samples: int = 5, enc: bytes = b"") -> int:
    if type(value) is bytes:
        size = string_value_size(value, enc)
    else:
        size = container_size(value, samples, enc)
    return size + sds_alloc(len(key), type5=True) + DICT_ENTRY


def object_encoding(c: Client, key: bytes, value: Any) -> bytes:
    """OBJECT ENCODING's answer (the keys group owns it); a plain guess if unavailable."""
    try:
        from redkeep.server.commands.keys import object_encoding as keys_encoding
        return keys_encoding(c, key, value)
    except (ImportError, TypeError):  # pragma: no cover - the keys group is always present
        pass
    if type(value) is bytes:
        if len(value) <= 20 and parse_ll(value) is not None:
            return b"int"
        return b"embstr" if len(value) <= EMBSTR_LIMIT else b"raw"
    return b"hashtable"


def cmd_memory_usage(c: Client, argv: list[bytes]) -> object:
    samples = 5
    i = 3
    while i < len(argv):
        if argv[i].lower() == b"samples" and i + 1 < len(argv):
            samples = parse_int(argv[i + 1])
            if samples < 0:
                raise CommandError(errors.SYNTAX)
            i += 2
        else:
            raise CommandError(errors.SYNTAX)
    value = c.db.lookup_quiet(argv[2])
    if value is None:
        return None
    return memory_usage(argv[2], value, samples, object_encoding(c, argv[2], value))


def _float32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


def cmd_memory_stats(c: Client, argv: list[bytes]) -> object:
    srv = c.server
    mem = info.memory_numbers(srv)
    used, startup, rss = mem["used"], mem["startup"], mem["rss"]
    items: list[tuple[bytes, Any]] = [
        (b"peak.allocated", mem["peak"]), (b"total.allocated", used),
        (b"startup.allocated", startup), (b"replication.backlog", 0),
        (b"clients.slaves", 0), (b"clients.normal", mem["clients"]),
        (b"cluster.links", 0), (b"aof.buffer", 0), (b"lua.caches", 0),
        (b"functions.caches", 200),
    ]
    keys = 0
    for db in srv.keyspace.dbs:
        if db.data or db.expires:
            keys += len(db.data)
            items.append((b"db.%d" % db.id, Map([
                (b"overhead.hashtable.main", 8 * len(db.data) + 24 * len(db.data)),
                (b"overhead.hashtable.expires", 8 * len(db.expires) + 24 * len(db.expires)),
                (b"overhead.hashtable.slot-to-keys", 0)])))
    net = used - startup
    items += [
        (b"overhead.total", mem["overhead"]), (b"keys.count", keys),
        (b"keys.bytes-per-key", net // keys if keys else 0),
        (b"dataset.bytes", mem["dataset"]),
        (b"dataset.percentage", Double(_float32(mem["dataset"] * 100 / (net or 1)))),
        (b"peak.percentage", Double(_float32(used * 100 / (mem["peak"] or 1)))),
        (b"allocator.allocated", used), (b"allocator.active", used),
        (b"allocator.resident", rss),
        (b"allocator-fragmentation.ratio", Double(1.0)),
        (b"allocator-fragmentation.bytes", 0),
        (b"allocator-rss.ratio", Double(_float32(rss / used))),
        (b"allocator-rss.bytes", rss - used),
        (b"rss-overhead.ratio", Double(1.0)), (b"rss-overhead.bytes", 0),
        (b"fragmentation", Double(_float32(rss / used))),
        (b"fragmentation.bytes", rss - used),
    ]
    return Map(items)


SAM_EMPTY = (
    "Hi Sam, this instance is empty or is using very little memory, my issues detector "
    "can't be used in these conditions. Please, leave for your mission on Earth and fill it "
    "with some data. The new Sam and I will be back to our programming as soon as I "
    "finished rebooting.\n")
SAM_FINE = ("Hi Sam, I can't find any memory issue in your instance. I can only account "
            "for what occurs on this base.\n")


def cmd_memory_doctor(c: Client, argv: list[bytes]) -> object:
    used = info.memory_numbers(c.server)["used"]
    return Verbatim((SAM_EMPTY if used < 5 * 1024 * 1024 else SAM_FINE).encode())


def cmd_memory_malloc_stats(c: Client, argv: list[bytes]) -> object:
    return Verbatim(b"Stats not supported for the current allocator")


def cmd_memory_purge(c: Client, argv: list[bytes]) -> object:
    return OK


def cmd_memory_help(c: Client, argv: list[bytes]) -> object:
    return help_reply("MEMORY", MEMORY_HELP)


# ---- DEBUG ----

DEBUG_HELP = [
    "AOF-FLUSH-SLEEP <microsec>",
    "    Server will sleep before flushing the AOF, this is used for testing.",
    "ASSERT",
    "    Crash by assertion failed.",
    "CHANGE-REPL-ID",
    "    Change the replication IDs of the instance.",
    "    Dangerous: should be used only for testing the replication subsystem.",
    "CONFIG-REWRITE-FORCE-ALL",
    "    Like CONFIG REWRITE but writes all configuration options, including",
    "    keywords not listed in original configuration file or default values.",
    "CRASH-AND-RECOVER [<milliseconds>]",
    "    Hard crash and restart after a <milliseconds> delay (default 0).",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message. Useful for clients",
    "    unit tests to simulate Redis errors.",
    "LEAK <string>",
    "    Create a memory leak of the input string.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "HTSTATS <dbid>",
    "    Return hash table statistics of the specified Redis database.",
    "HTSTATS-KEY <key>",
    "    Like HTSTATS but for the hash table stored at <key>'s value.",
    "LOADAOF",
    "    Flush the AOF buffers on disk and reload the AOF in memory.",
    "REPLICATE <string>",
    "    Replicates the provided string to replicas, allowing data divergence.",
    "MALLCTL <key> [<val>]",
    "    Get or set a malloc tuning integer.",
    "MALLCTL-STR <key> [<val>]",
    "    Get or set a malloc tuning string.",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "DROP-CLUSTER-PACKET-FILTER <packet-type>",
    "    Drop all packets that match the filtered type. Set to -1 allow all packets.",
    "OOM",
    "    Crash the server simulating an out-of-memory error.",
    "PANIC",
    "    Crash the server simulating a panic.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. These are not propagated to",
    "    replicas. Cluster slots are not respected so keys not belonging to the",
    "    current node can be created in cluster mode.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "RELOAD [option ...]",
    "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
    "    * MERGE: conflicting keys will be loaded from RDB.",
    "    * NOFLUSH: the existing database will not be removed before load, but",
    "      conflicting keys will generate an exception and kill the server.",
    "    * NOSAVE: the database will be loaded from an existing RDB file.",
    "    Examples:",
    "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
    "      the database.",
    "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
    "      existing RDB file.",
    "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
    "      file to the database.",
    "RESTART [<milliseconds>]",
    "    Graceful restart: save config, db, restart after a <milliseconds> delay (default 0).",
    "SDSLEN <key>",
    "    Show low level SDS string info representing `key` and value.",
    "SEGFAULT",
    "    Crash the server with sigsegv.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Sets the threshold for elements to be inserted as plain vs packed nodes",
    "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
    "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
    "    Enables or disables checksum checks for RDB files and RESTORE's payload.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "STRINGMATCH-TEST",
    "    Run a fuzz tester against the stringmatchlen() function.",
    "STRUCTSIZE",
    "    Return the size of different Redis core C structures.",
    "LISTPACK <key>",
    "    Show low level info about the listpack encoding of <key>.",
    "QUICKLIST <key> [<0|1>]",
    "    Show low level info about the quicklist encoding of <key>.",
    "    The optional argument (0 by default) sets the level of detail",
    "CLIENT-EVICTION",
    "    Show low level client eviction pools info (maxmemory-clients).",
    "PAUSE-CRON <0|1>",
    "    Stop periodic cron job processing.",
    "REPLYBUFFER PEAK-RESET-TIME <NEVER||RESET|time>",
    "    Sets the time (in milliseconds) to wait between client reply buffer peak resets.",
    "    In case NEVER is provided the last observed peak will never be reset",
    "    In case RESET is provided the peak reset time will be restored to the default value",
    "REPLYBUFFER RESIZING <0|1>",
    "    Enable or disable the reply buffer resize cron job",
    "CLUSTERLINK KILL <to|from|all> <node-id>",
    "    Kills the link based on the direction to/from (both) with the provided node.",
]

MUST_BE_POSITIVE = "ERR value is out of range, must be positive"
_STRTOD = re.compile(rb"\s*[+-]?(inf(inity)?|nan|(\d+\.?\d*|\.\d+)(e[+-]?\d+)?)", re.I)


def strtod(arg: bytes) -> float:
    """C strtod: the longest numeric prefix, 0.0 when there is none."""
    m = _STRTOD.match(arg)
    return float(m.group(0)) if m else 0.0


def atoi(arg: bytes) -> int:
    m = re.match(rb"\s*[+-]?\d+", arg)
    return int(m.group(0)) if m else 0


def debug_populate(c: Client, argv: list[bytes]) -> object:
    count = parse_int(argv[2], MUST_BE_POSITIVE)
    if count < 0:
        raise CommandError(MUST_BE_POSITIVE)
    size = 0
    if len(argv) == 5:
        size = parse_int(argv[4], MUST_BE_POSITIVE)
        if size < 0:
            raise CommandError(MUST_BE_POSITIVE)
    prefix = argv[3] if len(argv) >= 4 else b"key"
    db = c.db
    for j in range(count):
        key = b"%s:%d" % (prefix, j)
        if db.lookup_write(key) is not None:
            continue
        value = b"value:%d" % j
        if size:
            value = value[:size].ljust(size, b"\0")
        db.set_key(key, value)
    return OK


def debug_object(c: Client, argv: list[bytes]) -> object:
    value = c.db.data.get(argv[2])
    if value is None:
        raise CommandError(errors.NO_SUCH_KEY)
    enc = object_encoding(c, argv[2], value)
    shared = type(value) is bytes and enc == b"int" and 0 <= int(value) < 10000 \
        and len(value) == len(str(int(value)))
    lru = (c.server.clock.wall_ms() // 1000) & info.LRU_CLOCK_MAX
    extra = ""
    if enc == b"quicklist":
        n = len(value)
        nodes = max(1, (n + 127) // 128)
        size = sum(_element_size(e) for e in value)
        extra = (f" ql_nodes:{nodes} ql_avg_node:{n / nodes:.2f} ql_listpack_max:"
                 f"{c.server.config.list_max_listpack_size} ql_compressed:"
                 f"{int(bool(c.server.config.list_compress_depth))} "
                 f"ql_uncompressed_size:{7 * nodes + size + 2 * n}")
    return Status(
        f"Value at:{hex(id(value))} refcount:{2147483647 if shared else 1} "
        f"encoding:{enc.decode()} serializedlength:{serialized_length(value)} "
        f"lru:{lru} lru_seconds_idle:0{extra}".encode())


def _rdb_len(n: int) -> int:
    return 1 if n < 64 else 2 if n < 16384 else 5 if n < 1 << 32 else 9


def serialized_length(value: Any) -> int:
    """rdbSavedObjectLen without LZF: integer encodings for small ints, else len + data."""
    if type(value) is bytes:
        if len(value) <= 11:
            v = parse_ll(value)
            if v is not None:
                if -(1 << 7) <= v < 1 << 7:
                    return 2
                if -(1 << 15) <= v < 1 << 15:
                    return 3
                if -(1 << 31) <= v < 1 << 31:
                    return 5
        return _rdb_len(len(value)) + len(value)
    total = _rdb_len(len(value))
    for e in _elements(value):
        parts = e if isinstance(e, tuple) else (e,)
        for p in parts:
            total += _rdb_len(len(p)) + len(p) if isinstance(p, bytes) else 9
    return total


def debug_sdslen(c: Client, argv: list[bytes]) -> object:
    key = argv[2]
    value = c.db.data.get(key)
    if value is None:
        raise CommandError(errors.NO_SUCH_KEY)
    if type(value) is not bytes or object_encoding(c, key, value) == b"int":
        raise CommandError("ERR Not an sds encoded string.")
    if object_encoding(c, key, value) == b"embstr":
        val_alloc, val_avail = malloc_size(ROBJ + 3 + len(value) + 1) - ROBJ, 0
    else:
        val_alloc, val_avail = sds_alloc(len(value)), sds_avail(len(value))
        if val_avail > len(value) // 10:    # tryObjectEncoding trims large slack
            val_avail = 0
    return Status(
        f"key_sds_len:{len(key)}, key_sds_avail:{sds_avail(len(key), True)}, key_zmalloc: "
        f"{sds_alloc(len(key), type5=True)}, val_sds_len:{len(value)}, "
        f"val_sds_avail:{val_avail}, val_zmalloc: {val_alloc}".encode())


def debug_protocol(c: Client, argv: list[bytes]) -> object:
    name = argv[2].lower()
    resp3 = c.resp == 3
    replies: dict[bytes, Any] = {
        b"string": b"Hello World", b"integer": 12345, b"double": Double(3.141),
        b"bignum": Raw(b"(1234567999999999999999999999999999999\r\n") if resp3
        else b"1234567999999999999999999999999999999",
        b"null": None, b"array": [0, 1, 2], b"set": SetReply([0, 1, 2]),
        b"map": Map([(0, Bool(False)), (1, Bool(True)), (2, Bool(False))]),
        b"attrib": Raw(b"|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n"
                       b"$39\r\nSome real reply following the attribute\r\n") if resp3
        else b"Some real reply following the attribute",
        b"verbatim": Verbatim(b"This is a verbatim\nstring"),
        b"true": Bool(True), b"false": Bool(False),
    }
    if name == b"push":
        if not resp3:
            raise CommandError("ERR RESP2 is not supported by this command")
        return Raw(b">2\r\n$16\r\nserver-cpu-usage\r\n:42\r\n"
                   b"$40\r\nSome real reply following the push reply\r\n")
    if name not in replies:
        raise CommandError("ERR Wrong protocol type name. Please use one of the following: "
                           "string|integer|double|bignum|null|array|set|map|attrib|push|"
                           "verbatim|true|false")
    return replies[name]


def debug_stringmatch_test(c: Client, argv: list[bytes]) -> object:
    rng = random.Random(0)
    for _ in range(1000):
        pat = bytes(rng.choice(b"ab*?[]^-\\x") for _ in range(rng.randint(0, 16)))
        s = bytes(rng.choice(b"abx-[]") for _ in range(rng.randint(0, 16)))
        stringmatch(pat, s, bool(rng.getrandbits(1)))
    return Status(b"Apparently Redis did not crash: test passed")


def debug_change_repl_id(c: Client, argv: list[bytes]) -> object:
    srv = c.server
    log = _log(srv)
    if log is not None:
        log.notice("Changing replication IDs after receiving DEBUG change-repl-id")
    srv.replid = os.urandom(20).hex()  # type: ignore[attr-defined]
    srv.replid2 = "0" * 40  # type: ignore[attr-defined]
    srv.second_repl_offset = -1  # type: ignore[attr-defined]
    return OK


def debug_knob(c: Client, argv: list[bytes]) -> object:
    """Test knobs redkeep has no machinery for: recorded, acknowledged."""
    knobs = getattr(c.server, "debug_knobs", None)
    if knobs is None:
        knobs = c.server.debug_knobs = {}  # type: ignore[attr-defined]
    knobs[argv[1].lower().decode()] = argv[2:]
    return OK


def _debug_handlers() -> dict[bytes, tuple[Any, int, int]]:
    """subcommand -> (handler, min argc, max argc) with argc counting DEBUG itself."""
    def digest_all(c: Client, argv: list[bytes]) -> object:
        return Status(digest.dataset_digest(c.server.keyspace).hex().encode())

    def digest_value(c: Client, argv: list[bytes]) -> object:
        return [Status(digest.value_digest(c.db, k).hex().encode()) for k in argv[2:]]

    def sleep(c: Client, argv: list[bytes]) -> object:
        seconds = strtod(argv[2])
        if seconds > 0:
            time.sleep(seconds)
        return OK

    def active_expire(c: Client, argv: list[bytes]) -> object:
        c.server.active_expire_enabled = bool(atoi(argv[2]))  # type: ignore[attr-defined]
        return OK

    def error(c: Client, argv: list[bytes]) -> object:
        return ErrorReply(argv[2].decode("utf-8", "surrogateescape"))

    def log(c: Client, argv: list[bytes]) -> object:
        logger = _log(c.server)
        if logger is not None:
            logger.warning(f"DEBUG LOG: {argv[2].decode('utf-8', 'replace')}")
        return OK

    def ok(c: Client, argv: list[bytes]) -> object:
        return OK

    def structsize(c: Client, argv: list[bytes]) -> object:
        return b"bits:64 robj:16 dictentry:24 sdshdr5:1 sdshdr8:3 sdshdr16:5 sdshdr32:9 " \
               b"sdshdr64:17 "

    from redkeep.server.commands.persistence import debug_loadaof, debug_reload

    big = 1 << 30
    return {
        b"digest": (digest_all, 2, 2), b"digest-value": (digest_value, 2, big),
        b"reload": (debug_reload, 2, 5), b"loadaof": (debug_loadaof, 2, 2),
        b"populate": (debug_populate, 3, 5), b"object": (debug_object, 3, 3),
        b"sdslen": (debug_sdslen, 3, 3), b"sleep": (sleep, 3, 3),
        b"set-active-expire": (active_expire, 3, 3), b"error": (error, 3, 3),
        b"log": (log, 3, 3), b"leak": (ok, 3, 3), b"protocol": (debug_protocol, 3, 3),
        b"structsize": (structsize, 2, 2), b"change-repl-id": (debug_change_repl_id, 2, 2),
        b"stringmatch-test": (debug_stringmatch_test, 2, 2),
        b"quicklist-packed-threshold": (debug_knob, 3, 3),
        b"set-skip-checksum-validation": (debug_knob, 3, 3),
        b"aof-flush-sleep": (debug_knob, 3, 3), b"pause-cron": (debug_knob, 3, 3),
        b"replybuffer": (debug_knob, 4, 4), b"drop-cluster-packet-filter": (debug_knob, 3, 3),
    }


_DEBUG: dict[bytes, tuple[Any, int, int]] = {}


def cmd_debug(c: Client, argv: list[bytes]) -> object:
    sub = argv[1].lower()
    if sub == b"help" and len(argv) == 2:
        return help_reply("DEBUG", DEBUG_HELP)
    if not _DEBUG:
        _DEBUG.update(_debug_handlers())
    entry = _DEBUG.get(sub)
    if entry is None or not entry[1] <= len(argv) <= entry[2]:
        raise subcommand_error(argv)
    return entry[0](c, argv)


# ---- Registration ----

def register(table: CommandTable) -> None:
    g = "server"
    dangerous = "@admin @slow @dangerous"
    table.add("info", cmd_info, -1, "loading stale", group=g, categories="@slow @dangerous")

    config = table.add("config", None, -2, "", group=g)
    admin = "admin noscript loading stale"
    table.add_subcommand(config, "get", cmd_config_get, -3, admin, categories=dangerous)
    table.add_subcommand(config, "set", cmd_config_set, -4, admin, categories=dangerous)
    table.add_subcommand(config, "resetstat", cmd_config_resetstat, 2, admin,
                         categories=dangerous)
    table.add_subcommand(config, "rewrite", cmd_config_rewrite, 2, admin, categories=dangerous)
    table.add_subcommand(config, "help", cmd_config_help, 2, "loading stale")

    cc = "@slow @connection"
    command = table.add("command", cmd_command, -1, "loading stale", group=g, categories=cc)
    for name, handler, arity in (
            ("count", cmd_command_count, 2), ("info", cmd_command_info, -2),
            ("list", cmd_command_list, -2), ("docs", cmd_command_docs, -2),
            ("getkeys", cmd_command_getkeys, -4),
            ("getkeysandflags", cmd_command_getkeysandflags, -4),
            ("help", cmd_command_help, 2)):
        table.add_subcommand(command, name, handler, arity, "loading stale", categories=cc)

    table.add("time", cmd_time, 1, "loading stale fast", group=g, categories="@fast")
    table.add("role", cmd_role, 1, "noscript loading stale fast", group=g,
              categories="@admin @fast @dangerous")
    table.add("lastsave", cmd_lastsave, 1, "loading stale fast", group=g,
              categories="@admin @fast @dangerous")
    table.add("shutdown", cmd_shutdown, -1, "admin noscript loading stale no_multi allow_busy",
              group=g, categories=dangerous)
    table.add("monitor", cmd_monitor, 1, admin, group=g, categories=dangerous)

    slowlog = table.add("slowlog", None, -2, "", group=g)
    for name, handler, arity in (("get", cmd_slowlog_get, -2), ("len", cmd_slowlog_len, 2),
                                 ("reset", cmd_slowlog_reset, 2)):
        table.add_subcommand(slowlog, name, handler, arity, "admin loading stale",
                             categories=dangerous)
    table.add_subcommand(slowlog, "help", cmd_slowlog_help, 2, "loading stale")

    latency = table.add("latency", None, -2, "", group=g)
    for name, handler, arity in (
            ("latest", cmd_latency_latest, 2), ("history", cmd_latency_history, 3),
            ("reset", cmd_latency_reset, -2), ("graph", cmd_latency_graph, 3),
            ("doctor", cmd_latency_doctor, 2), ("histogram", cmd_latency_histogram, -2)):
        table.add_subcommand(latency, name, handler, arity, admin, categories=dangerous)
    table.add_subcommand(latency, "help", cmd_latency_help, 2, "loading stale")

    memory = table.add("memory", None, -2, "", group=g)
    table.add_subcommand(memory, "usage", cmd_memory_usage, -3, "readonly", 2, 2, 1,
                         categories="@read @slow")
    for name, handler in (("doctor", cmd_memory_doctor), ("stats", cmd_memory_stats),
                          ("malloc-stats", cmd_memory_malloc_stats),
                          ("purge", cmd_memory_purge)):
        table.add_subcommand(memory, name, handler, 2, "")
    table.add_subcommand(memory, "help", cmd_memory_help, 2, "loading stale")

    table.add("debug", cmd_debug, -2, admin, group=g, categories=dangerous)
