"""The commands a sentinel answers: SENTINEL …, and the few server commands it keeps.

Handlers read and drive `c.server.sentinel` (the shell's `SentinelNode`: `core`,
`now()`, `flush()`, the loaded config and the script runner). Replies and error texts
are redis-sentinel 7.0's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from redkeep.resp.types import OK, Map
from redkeep.sentinel.instance import Flag, Master, Replica, SentinelPeer, flags_text
from redkeep.server.arguments import parse_int
from redkeep.server.errors import CommandError
from redkeep.server.table import CommandTable

if TYPE_CHECKING:
    from redkeep.server.connection import Client

NO_SUCH_MASTER = "ERR No such master with that name"


def _node(c: Client) -> Any:
    return c.server.sentinel


def _master(c: Client, name: bytes) -> Master:
    m = _node(c).core.masters.get(name.decode("utf-8", "replace"))
    if m is None:
        raise CommandError(NO_SUCH_MASTER)
    return m


def _kv(c: Client, pairs: list[tuple[str, Any]]) -> Any:
    if c.resp == 3:
        return Map([(k.encode(), _b(v)) for k, v in pairs])
    out = []
    for k, v in pairs:
        out += [k.encode(), _b(v)]
    return out


def _b(v: Any) -> bytes:
    return v if isinstance(v, bytes) else str(v).encode()


# ---- Describing instances (addReplySentinelRedisInstance) ----

def instance_fields(node: Any, inst: Any, m: Master) -> list[tuple[str, Any]]:
    now = node.now()
    core = node.core
    live = inst.live
    name = inst.name if not isinstance(inst, Master) else inst.name
    runid = inst.runid if isinstance(inst, SentinelPeer) else live.runid
    flags = inst.flags
    if not live.link_connected:
        flags |= Flag.NONE
    ftext = flags_text(flags) + ("" if live.link_connected else ",disconnected")
    out: list[tuple[str, Any]] = [
        ("name", name), ("ip", inst.addr[0]), ("port", inst.addr[1]), ("runid", runid),
        ("flags", ftext), ("link-pending-commands", core.pending_commands(inst)),
        ("link-refcount", 1),
        ("last-ping-sent", now - live.act_ping_time if live.act_ping_time else 0),
        ("last-ok-ping-reply", now - live.last_avail_time),
        ("last-ping-reply", now - live.last_pong_time)]
    if flags & Flag.S_DOWN:
        out.append(("s-down-time", now - live.s_down_since))
    if flags & Flag.O_DOWN:
        out.append(("o-down-time", now - live.o_down_since))
    out.append(("down-after-milliseconds", m.down_after_ms))
    if isinstance(inst, (Master, Replica)):
        out += [("info-refresh", now - live.info_refresh if live.info_refresh else 0),
                ("role-reported", live.role_reported or ("master" if inst is m else "slave")),
                ("role-reported-time", now - live.role_reported_time)]
    if isinstance(inst, Master):
        out += [("config-epoch", m.config_epoch), ("num-slaves", len(m.replicas)),
                ("num-other-sentinels", len(m.sentinels)), ("quorum", m.quorum),
                ("failover-timeout", m.failover_timeout), ("parallel-syncs", m.parallel_syncs)]
        if m.notification_script:
            out.append(("notification-script", m.notification_script))
        if m.client_reconfig_script:
            out.append(("client-reconfig-script", m.client_reconfig_script))
    elif isinstance(inst, Replica):
        out += [("master-link-down-time", inst.master_link_down_since_ms),
                ("master-link-status", "ok" if inst.master_link_status_up else "err"),
                ("master-host", inst.master_host or "?"), ("master-port", inst.master_port),
                ("slave-priority", inst.priority), ("slave-repl-offset", inst.repl_offset),
                ("replica-announced", int(inst.replica_announced))]
    else:
        out += [("last-hello-message", now - live.last_hello_time if live.last_hello_time else 0),
                ("voted-leader", inst.leader or "?"), ("voted-leader-epoch", inst.leader_epoch)]
    return out


# ---- SENTINEL subcommands ----

def cmd_masters(c: Client, argv: list[bytes]) -> object:
    node = _node(c)
    return [_kv(c, instance_fields(node, m, m)) for m in node.core.masters.values()]


def cmd_master(c: Client, argv: list[bytes]) -> object:
    m = _master(c, argv[2])
    return _kv(c, instance_fields(_node(c), m, m))


def cmd_replicas(c: Client, argv: list[bytes]) -> object:
    m = _master(c, argv[2])
    return [_kv(c, instance_fields(_node(c), r, m)) for r in m.replicas.values()]


def cmd_sentinels(c: Client, argv: list[bytes]) -> object:
    m = _master(c, argv[2])
    return [_kv(c, instance_fields(_node(c), s, m)) for s in m.sentinels.values()]


def cmd_get_master_addr(c: Client, argv: list[bytes]) -> object:
    m = _node(c).core.masters.get(argv[2].decode("utf-8", "replace"))
    if m is None:
        return None
    addr = m.addr
    if m.promoted is not None and m.failover_state.value in ("reconf_slaves", "update_config"):
        addr = m.promoted   # the promoted replica once it is a master (sentinelGetCurrentMasterAddress)
    return [addr[0].encode(), str(addr[1]).encode()]


def cmd_is_master_down(c: Client, argv: list[bytes]) -> object:
    port = parse_int(argv[3])
    epoch = parse_int(argv[4])
    node = _node(c)
    return node.core.is_master_down_by_addr(
        (argv[2].decode("utf-8", "replace"), port), epoch,
        argv[5].decode("utf-8", "replace"), node.now())


def cmd_failover(c: Client, argv: list[bytes]) -> object:
    node = _node(c)
    m = _master(c, argv[2])
    err = node.core.force_failover(m, node.now())
    if err is not None:
        raise CommandError(err)
    node.log.warning(f"Executing user requested FAILOVER of '{m.name}'")
    node.kick()
    return OK


def cmd_reset(c: Client, argv: list[bytes]) -> object:
    from redkeep.server.glob import stringmatch

    node = _node(c)
    n = 0
    for m in list(node.core.masters.values()):
        if stringmatch(argv[2], m.name.encode()):
            node.core.reset_master(m, node.now(), keep_sentinels=False)
            node.core.event("warning", "+reset-master", f"master {m.name} {m.addr[0]} {m.addr[1]}", m)
            n += 1
    node.core.flush_config()
    node.kick()
    return n


def cmd_ckquorum(c: Client, argv: list[bytes]) -> object:
    from redkeep.resp.types import Status

    m = _master(c, argv[2])
    usable = 1 + sum(1 for s in m.sentinels.values()
                     if not s.flags & (Flag.S_DOWN | Flag.O_DOWN))
    voters = len(m.sentinels) + 1
    if usable < m.quorum:
        raise CommandError(f"NOQUORUM {usable} usable Sentinels. Not enough available "
                           "Sentinels to reach the specified quorum for this master")
    if usable < voters // 2 + 1:
        raise CommandError(f"NOQUORUM {usable} usable Sentinels. Not enough available "
                           "Sentinels to reach the majority and authorize a failover")
    return Status(f"OK {usable} usable Sentinels. Quorum and failover authorization "
                  "can be reached".encode())


def cmd_flushconfig(c: Client, argv: list[bytes]) -> object:
    _node(c).flush(force=True)
    return OK


def cmd_myid(c: Client, argv: list[bytes]) -> object:
    return _node(c).core.myid.encode()


def cmd_monitor(c: Client, argv: list[bytes]) -> object:
    """SENTINEL MONITOR: Redis's checks in Redis's order (quorum and port parsed as
    strict integers, quorum > 0, an IP literal unless resolve-hostnames, then
    createSentinelRedisInstance's port range and duplicate-name errors)."""
    import ipaddress

    from redkeep.sentinel.config import _string2ll, default_resolver

    node = _node(c)
    name = argv[2].decode("utf-8", "replace")
    host = argv[3].decode("utf-8", "replace")
    quorum = _string2ll(argv[5].decode("utf-8", "replace"))
    if quorum is None:
        raise CommandError("ERR Invalid quorum")
    port = _string2ll(argv[4].decode("utf-8", "replace"))
    if port is None:
        raise CommandError("ERR Invalid port")
    if quorum <= 0:
        raise CommandError("ERR Quorum must be 1 or greater.")
    try:
        ip = str(ipaddress.ip_address(host))
    except ValueError:
        ip = default_resolver(host) if node.cfg.resolve_hostnames else None
    if ip is None:
        raise CommandError("ERR Invalid IP address or hostname specified")
    if not 0 <= port <= 65535:
        raise CommandError("ERR Invalid port number.")
    if name in node.core.masters:
        raise CommandError("ERR Duplicate master name.")
    m = Master(name, (host if node.cfg.resolve_hostnames else ip, port), quorum)
    node.core.monitor(m, node.now())
    node.kick()
    return OK


def cmd_remove(c: Client, argv: list[bytes]) -> object:
    node = _node(c)
    m = _master(c, argv[2])
    node.core.remove(m.name, node.now())
    node.kick()
    return OK


def cmd_set(c: Client, argv: list[bytes]) -> object:
    node = _node(c)
    m = _master(c, argv[2])
    if len(argv) < 5 or len(argv) % 2 == 0:
        raise CommandError("ERR wrong number of arguments for 'sentinel|set' command")
    err = node.apply_master_options(m, argv[3:])
    if err:
        raise CommandError(err)
    node.core.flush_config()
    node.kick()
    return OK


def cmd_info_cache(c: Client, argv: list[bytes]) -> object:
    node = _node(c)
    out: list[Any] = []
    for m in node.core.masters.values():
        if len(argv) > 2 and m.name.encode() not in argv[2:]:
            continue
        entries = []
        for inst in (m, *m.replicas.values()):
            text = node.info_cache.get(id(inst))
            age = node.now() - inst.live.info_refresh if inst.live.info_refresh else 0
            entries.append([age, text[1] if text else None])
        out += [m.name.encode(), entries]
    return out


def cmd_simulate_failure(c: Client, argv: list[bytes]) -> object:
    core = _node(c).core
    for a in argv[2:]:
        word = a.lower().decode("utf-8", "replace")
        if word in ("crash-after-election", "crash-after-promotion"):
            core.simfailure.add(word)
        elif word == "help":
            return [b"crash-after-election", b"crash-after-promotion"]
        else:
            raise CommandError("ERR Unknown failure simulation specified")
    return OK


def cmd_config(c: Client, argv: list[bytes]) -> object:
    node = _node(c)
    sub = argv[2].lower() if len(argv) > 2 else b""
    if sub == b"get" and len(argv) == 4:
        return _kv(c, node.config_get(argv[3].decode("utf-8", "replace")))
    if sub == b"set" and len(argv) >= 5 and len(argv) % 2 == 1:
        err = node.config_set([(argv[i].decode("utf-8", "replace"), argv[i + 1].decode(
            "utf-8", "replace")) for i in range(3, len(argv), 2)])
        if err:
            raise CommandError(err)
        return OK
    raise CommandError("ERR Only SENTINEL CONFIG GET <option> / SET <option> <value> "
                       "are supported.")


# SENTINEL DEBUG parameters: name -> (module, attribute) holding the value in ms.
_DEBUG_PARAMS = (
    ("INFO-PERIOD", "core", "INFO_PERIOD"), ("PING-PERIOD", "core", "PING_PERIOD"),
    ("ASK-PERIOD", "core", "ASK_PERIOD"), ("PUBLISH-PERIOD", "core", "PUBLISH_PERIOD"),
    ("DEFAULT-DOWN-AFTER", "config", "DEFAULT_DOWN_AFTER"),
    ("DEFAULT-FAILOVER-TIMEOUT", "config", "DEFAULT_FAILOVER_TIMEOUT"),
    ("TILT-TRIGGER", "core", "TILT_TRIGGER"), ("TILT-PERIOD", "core", "TILT_PERIOD"),
    ("SLAVE-RECONF-TIMEOUT", "core", "SLAVE_RECONF_TIMEOUT"),
    ("MIN-LINK-RECONNECT-PERIOD", "core", "MIN_LINK_RECONNECT_PERIOD"),
    ("ELECTION-TIMEOUT", "core", "ELECTION_TIMEOUT"),
    ("SCRIPT-MAX-RUNTIME", "scripts", "SCRIPT_MAX_RUNTIME"),
    ("SCRIPT-RETRY-DELAY", "scripts", "SCRIPT_RETRY_DELAY"),
)


def _debug_module(which: str) -> Any:
    from redkeep.sentinel import config, core, scripts
    return {"core": core, "config": config, "scripts": scripts}[which]


def cmd_debug(c: Client, argv: list[bytes]) -> object:
    """SENTINEL DEBUG: list the timing parameters, or set `<param> <ms>` pairs in order
    (sentinelSetDebugConfigParameters; values must be integers > 0)."""
    from redkeep.sentinel.config import _string2ll

    if len(argv) == 2:
        return _kv(c, [(n, getattr(_debug_module(mod), attr)) for n, mod, attr in _DEBUG_PARAMS])
    known = {n.lower(): (mod, attr) for n, mod, attr in _DEBUG_PARAMS}
    j = 2
    while j < len(argv):
        option = argv[j].decode("utf-8", "replace")
        where = known.get(option.lower())
        if where is None or j + 1 >= len(argv):
            raise CommandError("ERR Unknown option or number of arguments for "
                               f"SENTINEL DEBUG '{option}'")
        text = argv[j + 1].decode("utf-8", "replace")
        value = _string2ll(text)
        if value is None or value <= 0:
            raise CommandError(f"ERR Invalid argument '{text}' for SENTINEL DEBUG '{option}'")
        setattr(_debug_module(where[0]), where[1], value)
        j += 2
    return OK


def cmd_pending_scripts(c: Client, argv: list[bytes]) -> object:
    return _node(c).pending_scripts_reply()


_HELP = [
    "SENTINEL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CKQUORUM <master-name>",
    "    Check if the current Sentinel configuration is able to reach the quorum",
    "    needed to failover a master and the majority needed to authorize the",
    "    failover.",
    "CONFIG SET <param> <value>",
    "    Set a global Sentinel configuration parameter.",
    "CONFIG GET <param>",
    "    Get global Sentinel configuration parameter.",
    "DEBUG [<param> <value> ...]",
    "    Show a list of configurable time parameters and their values (milliseconds).",
    "    Or update current configurable parameters values (one or more).",
    "GET-MASTER-ADDR-BY-NAME <master-name>",
    "    Return the ip and port number of the master with that name.",
    "FAILOVER <master-name>",
    "    Manually failover a master node without asking for agreement from other",
    "    Sentinels",
    "FLUSHCONFIG",
    "    Force Sentinel to rewrite its configuration on disk, including the current",
    "    Sentinel state.",
    "INFO-CACHE <master-name>",
    "    Return last cached INFO output from masters and all its replicas.",
    "IS-MASTER-DOWN-BY-ADDR <ip> <port> <current-epoch> <runid>",
    "    Check if the master specified by ip:port is down from current Sentinel's",
    "    point of view.",
    "MASTER <master-name>",
    "    Show the state and info of the specified master.",
    "MASTERS",
    "    Show a list of monitored masters and their state.",
    "MONITOR <name> <ip> <port> <quorum>",
    "    Start monitoring a new master with the specified name, ip, port and quorum.",
    "MYID",
    "    Return the ID of the Sentinel instance.",
    "PENDING-SCRIPTS",
    "    Get pending scripts information.",
    "REMOVE <master-name>",
    "    Remove master from Sentinel's monitor list.",
    "REPLICAS <master-name>",
    "    Show a list of replicas for this master and their state.",
    "RESET <pattern>",
    "    Reset masters for specific master name matching this pattern.",
    "SENTINELS <master-name>",
    "    Show a list of Sentinel instances for this master and their state.",
    "SET <master-name> <option> <value> [<option> <value> ...]",
    "    Set configuration parameters for certain masters.",
    "SIMULATE-FAILURE [CRASH-AFTER-ELECTION] [CRASH-AFTER-PROMOTION] [HELP]",
    "    Simulate a Sentinel crash.",
    "HELP",
    "    Prints this help.",
]


def cmd_help(c: Client, argv: list[bytes]) -> object:
    from redkeep.resp.types import Status
    return [Status(line.encode()) for line in _HELP]


# ---- Server commands with a sentinel flavour ----

def cmd_publish(c: Client, argv: list[bytes]) -> object:
    from redkeep.sentinel.core import HELLO_CHANNEL

    if argv[1] != HELLO_CHANNEL:
        raise CommandError("ERR Only HELLO messages are accepted by Sentinel instances.")
    node = _node(c)
    node.core.hello(argv[2].decode("utf-8", "replace"), node.now())
    node.kick()
    return 1


def cmd_role(c: Client, argv: list[bytes]) -> object:
    return [b"sentinel", [m.encode() for m in _node(c).core.masters]]


def cmd_info(c: Client, argv: list[bytes]) -> object:
    from redkeep.resp.types import Verbatim
    text = _node(c).info_text([a.decode("utf-8", "replace").lower() for a in argv[1:]])
    return Verbatim(text.encode()) if c.resp == 3 else text.encode()


def build_sentinel_table() -> CommandTable:
    """Sentinel mode's command table: SENTINEL, pub/sub, and the connection basics."""
    from redkeep.server.commands import build_table

    full = build_table()
    table = CommandTable()
    keep = ("ping", "subscribe", "unsubscribe", "psubscribe", "punsubscribe", "client",
            "shutdown", "auth", "hello", "command", "quit", "reset", "acl")
    for name in keep:
        cmd = full.commands.get(name)
        if cmd is not None:
            table.commands[name] = cmd
            table._index(name, cmd)
    table.add("publish", cmd_publish, 3, "pubsub loading stale fast", group="pubsub")
    table.add("role", cmd_role, 1, "noscript loading stale fast", group="server")
    table.add("info", cmd_info, -1, "loading stale", group="server")
    s = table.add("sentinel", None, -2, "admin loading stale", group="sentinel")
    for name, fn, arity in (
            ("masters", cmd_masters, 2), ("master", cmd_master, 3),
            ("replicas", cmd_replicas, 3), ("slaves", cmd_replicas, 3),
            ("sentinels", cmd_sentinels, 3),
            ("get-master-addr-by-name", cmd_get_master_addr, 3),
            ("is-master-down-by-addr", cmd_is_master_down, 6),
            ("failover", cmd_failover, 3), ("reset", cmd_reset, 3),
            ("ckquorum", cmd_ckquorum, 3), ("flushconfig", cmd_flushconfig, 2),
            ("myid", cmd_myid, 2), ("monitor", cmd_monitor, 6), ("remove", cmd_remove, 3),
            ("set", cmd_set, -3), ("info-cache", cmd_info_cache, -3),
            ("simulate-failure", cmd_simulate_failure, -3), ("config", cmd_config, -3),
            ("debug", cmd_debug, -2), ("pending-scripts", cmd_pending_scripts, 2),
            ("help", cmd_help, 2)):
        table.add_subcommand(s, name, fn, arity, "admin loading stale")
    return table
