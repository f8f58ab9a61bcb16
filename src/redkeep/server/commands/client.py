"""CLIENT subcommands: ID SETNAME GETNAME LIST INFO KILL PAUSE UNPAUSE REPLY NO-EVICT
UNBLOCK TRACKING CACHING GETREDIR TRACKINGINFO HELP, as Redis 7.0.15 answers them.

Theory of operation
-------------------
Handlers only read and change `Client` / `Server` state; the node does the I/O:

* CLIENT LIST / INFO render Redis 7.0's line (`client_info_line`), field for field and
  in Redis's order. Sizes that only make sense for a C server (query/reply buffers,
  tot-mem) are estimates consistent with INFO's client memory; `fd` is the socket's
  file descriptor when the node has one (-1 for clients without a socket, as Redis).
* CLIENT KILL closes other clients through their `closer` and forgets them at once,
  so a CLIENT LIST pipelined after it no longer shows them; killing yourself (old
  form, or SKIPME no) closes the connection after the reply, as in Redis.
* CLIENT PAUSE sets `server.pause_until_ms` (monotonic ms) and
  `server.pause_writes_only`; a pause never gets shorter or less strict while it is
  active (Redis's pauseClients). The node holds paused clients and resumes them.
* CLIENT REPLY only sets `Client.reply_mode`; the node suppresses the replies.
* Client-side caching (TRACKING ON) is not implemented: TRACKING validates its
  arguments like Redis and then refuses ON with a clear error; OFF, CACHING,
  GETREDIR and TRACKINGINFO answer as Redis does for a client that is not tracking.
"""

from __future__ import annotations

from typing import Any

from redkeep.resp.types import OK, ErrorReply, Map, SetReply, Status, Verbatim
from redkeep.server import errors
from redkeep.server.arguments import parse_int
from redkeep.server.commands.connection import validate_client_name
from redkeep.server.connection import REPLY_OFF, REPLY_ON, REPLY_SKIP, Client
from redkeep.server.errors import CommandError
from redkeep.server.info import CLIENT_MEMORY
from redkeep.server.table import CommandTable

LLONG_MAX = 9223372036854775807
CLIENT_TYPES = {b"normal": "normal", b"slave": "replica", b"replica": "replica",
                b"pubsub": "pubsub", b"master": "master"}
TRACKING_NOT_SUPPORTED = (
    "ERR CLIENT TRACKING ON is not supported by this server: redkeep has no "
    "server-assisted client side caching")
CACHING_NOT_TRACKING = (
    "ERR CLIENT CACHING can be called only when the client is in tracking mode with "
    "OPTIN or OPTOUT mode enabled")
REPLY_BUFFER_SIZE = 1024      # rbs of an idle client in Redis 7.0 (the buffer shrinks)


def subcommand_syntax_error(argv: list[bytes]) -> CommandError:
    """addReplySubcommandSyntaxError: the subcommand as the user typed it."""
    sub = argv[1].decode("utf-8", "replace")[:128]
    return CommandError(f"ERR unknown subcommand or wrong number of arguments for '{sub}'. "
                        f"Try {argv[0].decode('utf-8', 'replace').upper()} HELP.")


# ---- The CLIENT LIST line ----

def client_type(c: Client) -> str:
    """getClientType: master, replica (not MONITOR), pubsub, normal."""
    if c.kind == "master":
        return "master"
    if c.kind == "replica" and not c.is_monitor:
        return "replica"
    if c.channels or c.patterns or getattr(c, "shard_channels", None):
        return "pubsub"
    return "normal"


def client_flags(c: Client) -> str:
    """The flags field, letters in Redis's order (catClientInfoString)."""
    f = ""
    if c.is_monitor:
        f += "O"
    elif c.kind == "replica":
        f += "S"
    if c.kind == "master":
        f += "M"
    if c.channels or c.patterns:
        f += "P"
    if c.in_multi:
        f += "x"
    if c.blocked is not None:
        f += "b"
    if c.watched and c.dirty_cas:
        f += "d"
    if c.close_after_reply:
        f += "c"
    if _is_unix(c):
        f += "U"
    if c.no_evict:
        f += "e"
    f += c.flags_extra
    return f or "N"


def _is_unix(c: Client) -> bool:
    sock = c.server.config.unixsocket
    return bool(sock) and c.addr == f"{sock}:0"


def _connection(c: Client) -> Any:
    node = getattr(c.server, "node", None)
    return node.connections.get(c.id) if node is not None else None


def _fd_and_output(c: Client) -> tuple[int, int]:
    """(file descriptor, bytes waiting in the socket's write buffer)."""
    conn = _connection(c)
    transport = getattr(conn, "transport", None)
    if transport is None:
        return -1, 0
    sock = transport.get_extra_info("socket")
    try:
        fd = sock.fileno() if sock is not None else -1
    except (OSError, ValueError):
        fd = -1
    try:
        pending = transport.get_write_buffer_size()
    except (AttributeError, RuntimeError):
        pending = 0
    return fd, pending


def _multi_mem(c: Client) -> int:
    """multiStateMemOverhead: queued argv bytes plus the per-command bookkeeping."""
    if not c.in_multi:
        return 0
    return sum(sum(len(a) for a in argv) + 8 * len(argv) + 24 for _, argv in c.mstate)


def client_info_line(c: Client, caller: Client | None = None) -> bytes:
    """One CLIENT LIST line (without the newline), Redis 7.0.15's fields in order."""
    now = c.server.clock.monotonic_ms()
    fd, omem = _fd_and_output(c)
    qbuf = c.parser.pending_bytes() if c.parser is not None else 0
    argv_mem = sum(len(a) for a in c.cur_argv) if c is caller else 0
    multi_mem = _multi_mem(c)
    cmd = c.cur_cmd.fullname if c is caller and c.cur_cmd is not None else c.last_cmd
    redir = -1
    fields: list[tuple[str, Any]] = [
        ("id", c.id), ("addr", c.addr), ("laddr", c.laddr), ("fd", fd),
        ("name", c.name or b""), ("age", (now - c.ctime) // 1000),
        ("idle", (now - c.last_interaction) // 1000), ("flags", client_flags(c)),
        ("db", c.db.id), ("sub", len(c.channels)), ("psub", len(c.patterns)),
        ("ssub", len(getattr(c, "shard_channels", None) or ())),
        ("multi", len(c.mstate) if c.in_multi else -1), ("qbuf", qbuf),
        ("qbuf-free", 0), ("argv-mem", argv_mem), ("multi-mem", multi_mem),
        ("rbs", REPLY_BUFFER_SIZE), ("rbp", 0), ("obl", 0), ("oll", 0), ("omem", omem),
        ("tot-mem", CLIENT_MEMORY + qbuf + argv_mem + multi_mem + omem),
        ("events", "rw" if omem else "r"), ("cmd", cmd), ("user", c.user),
        ("redir", redir), ("resp", c.resp),
    ]
    return b" ".join(k.encode() + b"=" + (v if type(v) is bytes else str(v).encode())
                     for k, v in fields)


def _text_reply(c: Client, text: bytes) -> Any:
    return Verbatim(text) if c.resp == 3 else text


# ---- ID / SETNAME / GETNAME / INFO / LIST ----

def cmd_client_id(c: Client, argv: list[bytes]) -> object:
    return c.id


def cmd_client_setname(c: Client, argv: list[bytes]) -> object:
    validate_client_name(argv[2])
    c.name = argv[2] or None
    return OK


def cmd_client_getname(c: Client, argv: list[bytes]) -> object:
    return c.name


def cmd_client_info(c: Client, argv: list[bytes]) -> object:
    return _text_reply(c, client_info_line(c, c) + b"\n")


def cmd_client_list(c: Client, argv: list[bytes]) -> object:
    wanted_type: str | None = None
    ids: set[int] | None = None
    if len(argv) == 4 and argv[2].lower() == b"type":
        wanted_type = CLIENT_TYPES.get(argv[3].lower())
        if wanted_type is None:
            raise CommandError(f"ERR Unknown client type '{_text(argv[3])}'")
    elif len(argv) > 3 and argv[2].lower() == b"id":
        ids = {parse_int(a, "ERR Invalid client ID") for a in argv[3:]}
    elif len(argv) != 2:
        raise CommandError(errors.SYNTAX)
    lines = []
    for other in list(c.server.clients.values()):
        if wanted_type is not None and client_type(other) != wanted_type:
            continue
        if ids is not None and other.id not in ids:
            continue
        lines.append(client_info_line(other, c) + b"\n")
    return _text_reply(c, b"".join(lines))


def _text(b: bytes) -> str:
    return b.decode("utf-8", "replace")


# ---- KILL ----

class KillFilter:
    """CLIENT KILL's filters; a client must match every one that is set."""

    __slots__ = ("addr", "laddr", "ctype", "cid", "user", "skipme")

    def __init__(self) -> None:
        self.addr: str | None = None
        self.laddr: str | None = None
        self.ctype: str | None = None
        self.cid = 0
        self.user: str | None = None
        self.skipme = True

    def matches(self, target: Client, caller: Client) -> bool:
        return not (
            (self.addr is not None and target.addr != self.addr)
            or (self.laddr is not None and target.laddr != self.laddr)
            or (self.ctype is not None and client_type(target) != self.ctype)
            or (self.cid and target.id != self.cid)
            or (self.user is not None and target.user != self.user)
            or (target is caller and self.skipme))


def _known_users(c: Client) -> set[str]:
    return {"default"} | {other.user for other in c.server.clients.values()}


def parse_kill_filter(c: Client, argv: list[bytes]) -> KillFilter:
    f = KillFilter()
    if len(argv) == 3:                       # old form: CLIENT KILL addr:port
        f.addr = _text(argv[2])
        f.skipme = False                     # with the old form you can kill yourself
        return f
    i = 2
    while i < len(argv):
        opt = argv[i].lower()
        if i + 1 >= len(argv):
            raise CommandError(errors.SYNTAX)
        value = argv[i + 1]
        if opt == b"id":
            cid = _parse_long(value)
            if cid is None or cid < 1:
                raise CommandError("ERR client-id should be greater than 0")
            f.cid = cid
        elif opt == b"type":
            f.ctype = CLIENT_TYPES.get(value.lower())
            if f.ctype is None:
                raise CommandError(f"ERR Unknown client type '{_text(value)}'")
        elif opt == b"addr":
            f.addr = _text(value)
        elif opt == b"laddr":
            f.laddr = _text(value)
        elif opt == b"user":
            if _text(value) not in _known_users(c):
                raise CommandError(f"ERR No such user '{_text(value)}'")
            f.user = _text(value)
        elif opt == b"skipme":
            if value.lower() not in (b"yes", b"no"):
                raise CommandError(errors.SYNTAX)
            f.skipme = value.lower() == b"yes"
        else:
            raise CommandError(errors.SYNTAX)
        i += 2
    return f


def _parse_long(value: bytes) -> int | None:
    try:
        return parse_int(value)
    except CommandError:
        return None


def kill_client(c: Client, target: Client) -> None:
    """Close `target` now (the node closes its socket) and forget it."""
    srv = c.server
    target.closer()
    srv.free_client(target)


def cmd_client_kill(c: Client, argv: list[bytes]) -> object:
    f = parse_kill_filter(c, argv)
    killed = 0
    close_self = False
    for target in list(c.server.clients.values()):
        if not f.matches(target, c):
            continue
        if target is c:
            close_self = True
        else:
            kill_client(c, target)
        killed += 1
    if close_self:
        c.close_after_reply = True
    if len(argv) == 3:
        if not killed:
            raise CommandError("ERR No such client")
        return OK
    return killed


# ---- PAUSE / UNPAUSE ----

def cmd_client_pause(c: Client, argv: list[bytes]) -> object:
    if len(argv) > 4:
        raise subcommand_syntax_error(argv)
    writes_only = False
    if len(argv) == 4:
        mode = argv[3].lower()
        if mode not in (b"write", b"all"):
            raise CommandError("ERR CLIENT PAUSE mode must be WRITE or ALL")
        writes_only = mode == b"write"
    timeout = parse_int(argv[2], "ERR timeout is not an integer or out of range")
    if timeout < 0:
        raise CommandError("ERR timeout is negative")
    pause_clients(c.server, timeout, writes_only)
    return OK


def pause_clients(srv: Any, timeout_ms: int, writes_only: bool) -> None:
    """pauseClients: an active pause only gets longer and stricter (ALL beats WRITE)."""
    clock = srv.clock
    if timeout_ms == 0 or clock.wall_ms() + timeout_ms > LLONG_MAX:
        # Redis computes the end as now + timeout: 0 ends at once, an overflowing end
        # (7.0.15 does not check) is in the past: neither pauses anyone.
        timeout_ms = 0
    now = clock.monotonic_ms()
    end = now + timeout_ms
    if srv.pause_until_ms and now < srv.pause_until_ms:
        srv.pause_writes_only = srv.pause_writes_only and writes_only
        srv.pause_until_ms = max(srv.pause_until_ms, end)
    elif timeout_ms:
        srv.pause_writes_only = writes_only
        srv.pause_until_ms = end


def cmd_client_unpause(c: Client, argv: list[bytes]) -> object:
    srv = c.server
    srv.pause_until_ms = 0
    srv.pause_writes_only = False
    node = getattr(srv, "node", None)
    if node is not None:
        node.resume_paused()
    return OK


# ---- REPLY / NO-EVICT / UNBLOCK ----

def cmd_client_reply(c: Client, argv: list[bytes]) -> object:
    mode = argv[2].lower()
    if mode == b"on":
        c.reply_mode = REPLY_ON
    elif mode == b"off":
        c.reply_mode = REPLY_OFF
    elif mode == b"skip":
        if c.reply_mode != REPLY_OFF:
            c.reply_mode = REPLY_SKIP      # the node skips this reply and the next one
    else:
        raise CommandError(errors.SYNTAX)
    return OK


def cmd_client_no_evict(c: Client, argv: list[bytes]) -> object:
    mode = argv[2].lower()
    if mode not in (b"on", b"off"):
        raise CommandError(errors.SYNTAX)
    c.no_evict = mode == b"on"
    return OK


UNBLOCKED_ERROR = "UNBLOCKED client unblocked via CLIENT UNBLOCK"


def cmd_client_unblock(c: Client, argv: list[bytes]) -> object:
    if len(argv) > 4:
        raise subcommand_syntax_error(argv)
    cid = parse_int(argv[2])
    with_error = False
    if len(argv) == 4:
        reason = argv[3].lower()
        if reason not in (b"timeout", b"error"):
            raise CommandError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
        with_error = reason == b"error"
    srv = c.server
    target = srv.clients.get(cid)
    if target is None or target.blocked is None:
        return 0
    if with_error:
        srv.count_error(UNBLOCKED_ERROR)
        srv.blocking.unblock(target, ErrorReply(UNBLOCKED_ERROR))
    else:
        srv.blocking.timeout(target)
    return 1


# ---- Client side caching (not implemented: answers for a non-tracking client) ----

def cmd_client_tracking(c: Client, argv: list[bytes]) -> object:
    redirect = 0
    bcast = optin = optout = False
    prefixes = 0
    j = 3
    while j < len(argv):
        opt = argv[j].lower()
        more = j + 1 < len(argv)
        if opt == b"redirect" and more:
            j += 1
            if redirect:
                raise CommandError("ERR A client can only redirect to a single other client")
            redirect = parse_int(argv[j])
            if redirect not in c.server.clients:
                raise CommandError("ERR The client ID you want redirect to does not exist")
        elif opt == b"bcast":
            bcast = True
        elif opt == b"optin":
            optin = True
        elif opt == b"optout":
            optout = True
        elif opt == b"noloop":
            pass
        elif opt == b"prefix" and more:
            j += 1
            prefixes += 1
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    state = argv[2].lower()
    if state == b"off":
        return OK
    if state != b"on":
        raise CommandError(errors.SYNTAX)
    if prefixes and not bcast:
        raise CommandError("ERR PREFIX option requires BCAST mode to be enabled")
    if bcast and (optin or optout):
        raise CommandError("ERR OPTIN and OPTOUT are not compatible with BCAST")
    if optin and optout:
        raise CommandError("ERR You can't specify both OPTIN mode and OPTOUT mode")
    raise CommandError(TRACKING_NOT_SUPPORTED)


def cmd_client_caching(c: Client, argv: list[bytes]) -> object:
    raise CommandError(CACHING_NOT_TRACKING)


def cmd_client_getredir(c: Client, argv: list[bytes]) -> object:
    return -1


def cmd_client_trackinginfo(c: Client, argv: list[bytes]) -> object:
    return Map([(b"flags", SetReply([b"off"])), (b"redirect", -1), (b"prefixes", [])])


# ---- HELP ----

CLIENT_HELP = (
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "HELP",
    "    Prints this help.",
)


def cmd_client_help(c: Client, argv: list[bytes]) -> object:
    return [Status(line.encode()) for line in CLIENT_HELP]


# ---- Registration ----

def register(table: CommandTable) -> None:
    client = table.add("client", None, -2, "", group="connection", categories="@slow")
    plain = "noscript loading stale"
    admin = "admin noscript loading stale"
    conn, admin_cats = "@slow @connection", "@admin @slow @dangerous @connection"
    for name, handler, arity, flags, cats in (
        ("caching", cmd_client_caching, 3, plain, conn),
        ("getname", cmd_client_getname, 2, plain, conn),
        ("getredir", cmd_client_getredir, 2, plain, conn),
        ("help", cmd_client_help, 2, "loading stale", conn),
        ("id", cmd_client_id, 2, plain, conn),
        ("info", cmd_client_info, 2, plain, conn),
        ("kill", cmd_client_kill, -3, admin, admin_cats),
        ("list", cmd_client_list, -2, admin, admin_cats),
        ("no-evict", cmd_client_no_evict, 3, admin, admin_cats),
        ("pause", cmd_client_pause, -3, admin, admin_cats),
        ("reply", cmd_client_reply, 3, plain, conn),
        ("setname", cmd_client_setname, 3, plain, conn),
        ("tracking", cmd_client_tracking, -3, plain, conn),
        ("trackinginfo", cmd_client_trackinginfo, 2, plain, conn),
        ("unblock", cmd_client_unblock, -3, admin, admin_cats),
        ("unpause", cmd_client_unpause, 2, admin, admin_cats),
    ):
        table.add_subcommand(client, name, handler, arity, flags, categories=cats)
