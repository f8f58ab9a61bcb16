"""Connection commands: AUTH HELLO PING ECHO SELECT QUIT RESET."""

from __future__ import annotations

import hmac

from redkeep.resp.types import OK, PONG, Map, Status
from redkeep.server import errors
from redkeep.server.arguments import parse_int
from redkeep.server.connection import REPLY_ON, Client
from redkeep.server.errors import CommandError
from redkeep.server.table import CommandTable


def check_password(c: Client, user: bytes, password: bytes) -> bool:
    if user != b"default":
        return False
    required = c.server.config.requirepass
    if not required:
        return True  # the default user is "nopass"
    return hmac.compare_digest(password, required.encode("utf-8", "surrogateescape"))


def cmd_auth(c: Client, argv: list[bytes]) -> object:
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    if len(argv) == 2:
        if not c.server.config.requirepass:
            raise CommandError(errors.AUTH_NOT_CONFIGURED)
        user, password = b"default", argv[1]
    else:
        user, password = argv[1], argv[2]
    if not check_password(c, user, password):
        raise CommandError(errors.WRONGPASS)
    c.authenticated = True
    if c.parser is not None:
        c.parser.authenticated = True
    return OK


def cmd_hello(c: Client, argv: list[bytes]) -> object:
    proto = c.resp
    i = 1
    if len(argv) >= 2:
        try:
            proto = parse_int(argv[1])
        except CommandError:
            raise CommandError("ERR Protocol version is not an integer or out of range") from None
        if proto < 2 or proto > 3:
            raise CommandError(errors.UNKNOWN_PROTO)
        i = 2
    auth: tuple[bytes, bytes] | None = None
    name: bytes | None = None
    while i < len(argv):
        opt = argv[i].lower()
        more = len(argv) - i - 1
        if opt == b"auth" and more >= 2:
            auth = (argv[i + 1], argv[i + 2])
            i += 3
        elif opt == b"setname" and more >= 1:
            name = argv[i + 1]
            validate_client_name(name)
            i += 2
        else:
            raise CommandError(
                f"ERR Syntax error in HELLO option '{argv[i].decode('utf-8', 'replace')}'")
    if auth is not None:
        if not check_password(c, *auth):
            raise CommandError(errors.WRONGPASS)
        c.authenticated = True
        if c.parser is not None:
            c.parser.authenticated = True
    if not c.authenticated:
        raise CommandError(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
            "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
            "select the RESP protocol version at the same time")
    if name is not None:
        c.name = name or None
    c.resp = proto
    srv = c.server
    role = b"replica" if srv.keyspace.is_replica else b"master"
    return Map([
        (b"server", b"redis"), (b"version", srv.version.encode()), (b"proto", proto),
        (b"id", c.id), (b"mode", b"standalone"), (b"role", role), (b"modules", []),
    ])


def validate_client_name(name: bytes) -> None:
    for b in name:
        if b < 33 or b > 126:
            raise CommandError(
                "ERR Client names cannot contain spaces, newlines or special characters.")


def cmd_ping(c: Client, argv: list[bytes]) -> object:
    if len(argv) > 2:
        raise CommandError(errors.wrong_arity("ping"))
    if c.resp == 2 and (c.channels or c.patterns):
        return [b"pong", argv[1] if len(argv) == 2 else b""]
    return argv[1] if len(argv) == 2 else PONG


def cmd_echo(c: Client, argv: list[bytes]) -> object:
    return argv[1]


def cmd_select(c: Client, argv: list[bytes]) -> object:
    idx = parse_int(argv[1])
    dbs = c.server.keyspace.dbs
    if idx < 0 or idx >= len(dbs):
        raise CommandError(errors.DB_INDEX)
    c.db = dbs[idx]
    return OK


def cmd_quit(c: Client, argv: list[bytes]) -> object:
    c.close_after_reply = True
    return OK


def cmd_reset(c: Client, argv: list[bytes]) -> object:
    srv = c.server
    srv.discard_transaction(c)
    srv.pubsub.drop_client(c)
    if c.is_monitor:
        c.is_monitor = False
        if c in srv.monitors:
            srv.monitors.remove(c)
    c.db = srv.keyspace.dbs[0]
    c.resp = 2
    c.name = None
    c.reply_mode = REPLY_ON
    c.no_evict = False
    c.authenticated = not srv.requires_auth()
    if c.parser is not None:
        c.parser.authenticated = c.authenticated
    return Status(b"RESET")


def register(table: CommandTable) -> None:
    g = "connection"
    table.add("auth", cmd_auth, -2, "noscript loading stale fast no_auth", group=g,
              categories="@connection")
    table.add("hello", cmd_hello, -1, "noscript loading stale fast no_auth", group=g,
              categories="@connection")
    table.add("ping", cmd_ping, -1, "fast", group=g, categories="@connection")
    table.add("echo", cmd_echo, 2, "fast", group=g, categories="@connection")
    table.add("select", cmd_select, 2, "loading stale fast", group=g, categories="@connection")
    table.add("quit", cmd_quit, -1, "noscript loading stale fast no_auth allow_busy", group=g,
              categories="@connection")
    table.add("reset", cmd_reset, 1, "noscript loading stale fast no_auth allow_busy",
              group=g, categories="@connection")
