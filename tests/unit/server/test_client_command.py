"""CLIENT subcommands driven through `Server.execute`: pure, ManualClock, no sockets.

Expected texts were taken from real redis-server 7.0.15 (the interop and integration
tests check the same behaviour live).
"""

from __future__ import annotations

import pytest

from redkeep.clock import ManualClock
from redkeep.resp.encoder import encode
from redkeep.resp.types import ErrorReply, Map, SetReply, Status, Verbatim
from redkeep.server.commands.client import (
    CLIENT_HELP,
    client_flags,
    client_info_line,
    client_type,
)
from redkeep.server.config import ServerConfig
from redkeep.server.connection import REPLY_OFF, REPLY_ON, REPLY_SKIP
from redkeep.server.server import Server

FIELDS = ("id addr laddr fd name age idle flags db sub psub ssub multi qbuf qbuf-free "
          "argv-mem multi-mem rbs rbp obl oll omem tot-mem events cmd user redir resp").split()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def server(clock) -> Server:
    return Server(ServerConfig(), clock)


class Conn:
    """A client plus what the node would do with it (closed flag, pushed bytes)."""

    def __init__(self, server: Server, port: int) -> None:
        self.closed = False
        self.pushed: list[bytes] = []
        self.client = server.new_client(f"127.0.0.1:{port}", "127.0.0.1:6379",
                                         writer=self.pushed.append, closer=self._close)
        self.server = server

    def _close(self) -> None:
        self.closed = True

    def __call__(self, *args):
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        return self.server.execute(self.client, argv)


@pytest.fixture
def a(server) -> Conn:
    return Conn(server, 50001)


@pytest.fixture
def b(server) -> Conn:
    return Conn(server, 50002)


def err(reply) -> str:
    assert isinstance(reply, ErrorReply), reply
    return reply.message


def parse_line(line: bytes) -> dict[str, str]:
    pairs = [p.split(b"=", 1) for p in line.split(b" ")]
    return {k.decode(): v.decode() for k, v in pairs}


# ---- ID / SETNAME / GETNAME ----


def test_id_and_names(a, b):
    assert a("CLIENT", "ID") == a.client.id
    assert b("CLIENT", "ID") == a.client.id + 1
    assert a("CLIENT", "GETNAME") is None
    assert a("CLIENT", "SETNAME", "worker-1") == b"OK"
    assert a("CLIENT", "GETNAME") == b"worker-1"
    assert a("CLIENT", "SETNAME", "") == b"OK"          # clears the name
    assert a("CLIENT", "GETNAME") is None


@pytest.mark.parametrize("bad", [b"a b", b"a\nb", b"\x00", b"caf\xc3\xa9", b"tab\t"])
def test_setname_refuses_special_characters(a, bad):
    assert err(a("CLIENT", "SETNAME", bad)) == (
        "ERR Client names cannot contain spaces, newlines or special characters.")


def test_arity_and_unknown_subcommands(a):
    assert err(a("CLIENT", "SETNAME")) == "ERR wrong number of arguments for 'client|setname' command"
    assert err(a("CLIENT", "ID", "x")) == "ERR wrong number of arguments for 'client|id' command"
    assert err(a("CLIENT", "GETREDIR", "x")) == (
        "ERR wrong number of arguments for 'client|getredir' command")
    # 7.0.15 has no CLIENT SETINFO (7.2 added it)
    assert err(a("CLIENT", "SETINFO", "LIB-NAME", "x")) == (
        "ERR unknown subcommand 'SETINFO'. Try CLIENT HELP.")
    assert err(a("CLIENT")) == "ERR wrong number of arguments for 'client' command"


# ---- LIST / INFO ----


def test_info_line_has_redis_fields_in_order(a, clock):
    a("CLIENT", "SETNAME", "me")
    a("SELECT", 2)
    clock.advance(3500)
    reply = a("CLIENT", "INFO")
    assert isinstance(reply, bytes) and reply.endswith(b"\n")
    fields = parse_line(reply[:-1])
    assert list(fields) == FIELDS
    assert fields["id"] == str(a.client.id)
    assert fields["addr"] == "127.0.0.1:50001"
    assert fields["laddr"] == "127.0.0.1:6379"
    assert fields["fd"] == "-1"                      # no socket in a unit test
    assert fields["name"] == "me"
    assert fields["age"] == "3"
    assert fields["db"] == "2"
    assert fields["flags"] == "N"
    assert fields["multi"] == "-1"
    assert fields["cmd"] == "client|info"
    assert fields["argv-mem"] == "10"                # "client" + "info"
    assert fields["user"] == "default"
    assert fields["redir"] == "-1"
    assert fields["resp"] == "2"


def test_list_shows_every_client_in_creation_order(a, b, clock):
    b("GET", "x")
    clock.advance(2000)
    reply = a("CLIENT", "LIST")
    lines = reply.decode().split("\n")
    assert lines[-1] == ""
    parsed = [parse_line(line.encode()) for line in lines[:-1]]
    assert [p["id"] for p in parsed] == [str(a.client.id), str(b.client.id)]
    assert parsed[1]["cmd"] == "get" and parsed[1]["idle"] == "2"
    assert parsed[1]["argv-mem"] == "0"              # argv is freed after the command


def test_list_and_info_are_verbatim_in_resp3(a):
    a("HELLO", 3)
    for sub in ("LIST", "INFO"):
        reply = a("CLIENT", sub)
        assert isinstance(reply, Verbatim) and reply.fmt == b"txt"
        assert encode(reply, 3).startswith(b"=")
        assert b"resp=3" in reply.data


def test_list_type_and_id_filters(a, b, server):
    b("SUBSCRIBE", "ch")
    assert parse_line(a("CLIENT", "LIST", "TYPE", "pubsub")[:-1])["id"] == str(b.client.id)
    assert parse_line(a("CLIENT", "LIST", "type", "NORMAL")[:-1])["id"] == str(a.client.id)
    assert a("CLIENT", "LIST", "TYPE", "master") == b""
    assert a("CLIENT", "LIST", "TYPE", "replica") == b""
    assert a("CLIENT", "LIST", "TYPE", "slave") == b""
    ids = a("CLIENT", "LIST", "ID", b.client.id, 999, a.client.id).decode()
    assert [parse_line(x.encode())["id"] for x in ids.split("\n")[:-1]] == [
        str(a.client.id), str(b.client.id)]
    assert a("CLIENT", "LIST", "ID", 0) == b""
    assert a("CLIENT", "LIST", "ID", -5) == b""


@pytest.mark.parametrize("args, message", [
    (("TYPE", "foo"), "ERR Unknown client type 'foo'"),
    (("ID", "x"), "ERR Invalid client ID"),
    (("ID", "1", "2", "x"), "ERR Invalid client ID"),
    (("foo",), "ERR syntax error"),
    (("TYPE",), "ERR syntax error"),
    (("ID",), "ERR syntax error"),
    (("TYPE", "normal", "x"), "ERR syntax error"),
])
def test_list_errors(a, args, message):
    assert err(a("CLIENT", "LIST", *args)) == message


def test_flags_field(a, b, server):
    assert client_flags(a.client) == "N"
    a("MULTI")
    assert client_flags(a.client) == "x"
    a("DISCARD")
    a("CLIENT", "NO-EVICT", "on")
    assert client_flags(a.client) == "e"
    a("CLIENT", "NO-EVICT", "off")
    b("SUBSCRIBE", "x")
    assert client_flags(b.client) == "P"
    assert client_type(b.client) == "pubsub"
    a("WATCH", "k")
    b.client.channels.clear()
    b.client.close_after_reply = True
    assert client_flags(b.client) == "c"
    Conn(server, 50003)("SET", "k", "v")
    assert client_flags(a.client) == "d"
    b.client.is_monitor = True
    b.client.kind = "replica"
    assert client_flags(b.client).startswith("O")
    assert client_type(b.client) == "normal"          # MONITOR is not a replica
    b.client.is_monitor = False
    assert client_type(b.client) == "replica"


def test_multi_field_counts_queued_commands(a, b):
    a("MULTI")
    a("SET", "k", "v")
    a("GET", "k")
    fields = parse_line(b("CLIENT", "LIST", "ID", a.client.id)[:-1])
    assert fields["multi"] == "2"
    assert int(fields["multi-mem"]) > 0
    assert fields["flags"] == "x"


def test_info_line_without_caller(a):
    assert list(parse_line(client_info_line(a.client))) == FIELDS


# ---- KILL ----


def test_kill_old_form(a, b):
    assert err(a("CLIENT", "KILL", "1.2.3.4:5")) == "ERR No such client"
    assert err(a("CLIENT", "KILL", "ID")) == "ERR No such client"   # argc 3: an address
    assert a("CLIENT", "KILL", "127.0.0.1:50002") == b"OK"
    assert b.closed
    assert b.client.id not in a.server.clients


def test_kill_old_form_can_kill_yourself(a):
    assert a("CLIENT", "KILL", "127.0.0.1:50001") == b"OK"
    assert a.client.close_after_reply


def test_kill_new_form_filters(a, b, server):
    c = Conn(server, 50003)
    c("SUBSCRIBE", "news")
    assert a("CLIENT", "KILL", "ID", 9999) == 0
    assert a("CLIENT", "KILL", "ADDR", "1.2.3.4:5", "SKIPME", "no") == 0
    assert a("CLIENT", "KILL", "TYPE", "pubsub") == 1
    assert c.closed and not b.closed
    assert a("CLIENT", "KILL", "LADDR", "127.0.0.1:6379") == 1     # skipme yes: not a
    assert b.closed and not a.closed and not a.client.close_after_reply


def test_kill_skipme_no_kills_the_caller_after_the_reply(a, b):
    assert a("CLIENT", "KILL", "USER", "default", "SKIPME", "no") == 2
    assert b.closed
    assert a.client.close_after_reply and not a.closed


def test_kill_by_id(a, b):
    assert a("CLIENT", "KILL", "ID", b.client.id) == 1
    assert b.closed
    assert a("CLIENT", "KILL", "ID", b.client.id) == 0


@pytest.mark.parametrize("args, message", [
    (("ID", "0"), "ERR client-id should be greater than 0"),
    (("ID", "-1"), "ERR client-id should be greater than 0"),
    (("ID", "x"), "ERR client-id should be greater than 0"),
    (("TYPE", "foo"), "ERR Unknown client type 'foo'"),
    (("USER", "nobody"), "ERR No such user 'nobody'"),
    (("SKIPME", "maybe"), "ERR syntax error"),
    (("foo", "bar"), "ERR syntax error"),
    (("ID", "1", "TYPE"), "ERR syntax error"),
])
def test_kill_errors(a, b, args, message):
    assert err(a("CLIENT", "KILL", *args)) == message
    assert not b.closed


# ---- PAUSE / UNPAUSE ----


def test_pause_sets_deadline_and_mode(a, server, clock):
    clock.advance(1000)
    assert a("CLIENT", "PAUSE", 500) == b"OK"
    assert server.pause_until_ms == 1500 and not server.pause_writes_only
    assert a("CLIENT", "UNPAUSE") == b"OK"
    assert server.pause_until_ms == 0
    assert a("CLIENT", "PAUSE", 500, "write") == b"OK"
    assert server.pause_writes_only


def test_active_pause_only_gets_longer_and_stricter(a, server, clock):
    a("CLIENT", "PAUSE", 1000, "WRITE")
    a("CLIENT", "PAUSE", 100, "ALL")
    assert server.pause_until_ms == 1000 and not server.pause_writes_only
    a("CLIENT", "PAUSE", 5000, "WRITE")
    assert server.pause_until_ms == 5000 and not server.pause_writes_only
    clock.advance(6000)
    a("CLIENT", "PAUSE", 100, "WRITE")                 # the old pause is over
    assert server.pause_until_ms == 6100 and server.pause_writes_only


def test_pause_zero_and_overflowing_timeouts_pause_nobody(a, server):
    assert a("CLIENT", "PAUSE", 0) == b"OK"
    assert server.pause_until_ms == 0
    assert a("CLIENT", "PAUSE", 9223372036854775807) == b"OK"    # 7.0.15 overflows
    assert server.pause_until_ms == 0


@pytest.mark.parametrize("args, message", [
    (("x",), "ERR timeout is not an integer or out of range"),
    (("-1",), "ERR timeout is negative"),
    (("10", "foo"), "ERR CLIENT PAUSE mode must be WRITE or ALL"),
    (("x", "foo"), "ERR CLIENT PAUSE mode must be WRITE or ALL"),
    (("10", "write", "x"),
     "ERR unknown subcommand or wrong number of arguments for 'PAUSE'. Try CLIENT HELP."),
])
def test_pause_errors(a, server, args, message):
    assert err(a("CLIENT", "PAUSE", *args)) == message
    assert server.pause_until_ms == 0


def test_unpause_resumes_the_node(a, server):
    class FakeNode:
        resumed = 0
        connections: dict = {}

        def resume_paused(self):
            self.resumed += 1
    server.node = FakeNode()
    a("CLIENT", "PAUSE", 10_000)
    assert a("CLIENT", "UNPAUSE") == b"OK"
    assert server.node.resumed == 1 and server.pause_until_ms == 0


# ---- REPLY / NO-EVICT ----


def test_reply_modes(a):
    assert a("CLIENT", "REPLY", "OFF") == b"OK"
    assert a.client.reply_mode == REPLY_OFF
    a("CLIENT", "REPLY", "SKIP")                       # SKIP does nothing while OFF
    assert a.client.reply_mode == REPLY_OFF
    assert a("CLIENT", "REPLY", "on") == b"OK"
    assert a.client.reply_mode == REPLY_ON
    a("CLIENT", "REPLY", "skip")
    assert a.client.reply_mode == REPLY_SKIP           # the node skips this and the next
    assert err(a("CLIENT", "REPLY", "foo")) == "ERR syntax error"


def test_no_evict(a):
    assert a("CLIENT", "NO-EVICT", "ON") == b"OK"
    assert a.client.no_evict
    assert a("CLIENT", "NO-EVICT", "off") == b"OK"
    assert not a.client.no_evict
    assert err(a("CLIENT", "NO-EVICT", "foo")) == "ERR syntax error"
    assert err(a("CLIENT", "NO-EVICT")) == (
        "ERR wrong number of arguments for 'client|no-evict' command")


# ---- UNBLOCK ----


def _block(server: Server, conn: Conn, replies: list) -> None:
    c = conn.client
    c.on_unblock = replies.append
    c.cur_cmd = server.table.lookup(b"get")
    c.cur_argv = [b"GET", b"k"]
    server.blocking.block(c, [b"k"], 0, None)


def test_unblock_with_timeout_and_error(a, b, server):
    replies: list = []
    _block(server, b, replies)
    assert client_flags(b.client) == "b"
    assert a("CLIENT", "UNBLOCK", b.client.id) == 1
    assert replies == [None] and b.client.blocked is None
    assert a("CLIENT", "UNBLOCK", b.client.id) == 0
    _block(server, b, replies)
    assert a("CLIENT", "UNBLOCK", b.client.id, "ERROR") == 1
    assert err(replies[-1]) == "UNBLOCKED client unblocked via CLIENT UNBLOCK"
    assert server.errorstats["UNBLOCKED"] == 1


@pytest.mark.parametrize("args, message", [
    (("x",), "ERR value is not an integer or out of range"),
    (("1", "foo"), "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
    (("1", "timeout", "x"),
     "ERR unknown subcommand or wrong number of arguments for 'UNBLOCK'. Try CLIENT HELP."),
])
def test_unblock_errors(a, args, message):
    assert err(a("CLIENT", "UNBLOCK", *args)) == message


def test_unblock_unknown_client(a):
    assert a("CLIENT", "UNBLOCK", 999) == 0
    assert a("CLIENT", "UNBLOCK", a.client.id, "error") == 0


# ---- Tracking family (no client side caching: answers for a non-tracking client) ----


def test_tracking_off_and_info(a, b):
    assert a("CLIENT", "TRACKING", "off") == b"OK"
    assert a("CLIENT", "TRACKING", "OFF", "BCAST", "NOLOOP", "PREFIX", "x") == b"OK"
    assert a("CLIENT", "TRACKING", "off", "REDIRECT", b.client.id) == b"OK"
    assert a("CLIENT", "GETREDIR") == -1
    info = a("CLIENT", "TRACKINGINFO")
    assert isinstance(info, Map)
    assert encode(info, 2) == b"*6\r\n$5\r\nflags\r\n*1\r\n$3\r\noff\r\n$8\r\nredirect\r\n" \
        b":-1\r\n$8\r\nprefixes\r\n*0\r\n"
    assert isinstance(dict(info.items)[b"flags"], SetReply)
    assert encode(info, 3) == b"%3\r\n$5\r\nflags\r\n~1\r\n$3\r\noff\r\n$8\r\nredirect\r\n" \
        b":-1\r\n$8\r\nprefixes\r\n*0\r\n"


@pytest.mark.parametrize("args, message", [
    (("foo",), "ERR syntax error"),
    (("off", "foo"), "ERR syntax error"),
    (("off", "redirect", "999"), "ERR The client ID you want redirect to does not exist"),
    (("off", "redirect", "x"), "ERR value is not an integer or out of range"),
    (("on", "prefix", "a"), "ERR PREFIX option requires BCAST mode to be enabled"),
    (("on", "bcast", "optin"), "ERR OPTIN and OPTOUT are not compatible with BCAST"),
    (("on", "optin", "optout"), "ERR You can't specify both OPTIN mode and OPTOUT mode"),
])
def test_tracking_errors_like_redis(a, args, message):
    assert err(a("CLIENT", "TRACKING", *args)) == message


def test_tracking_on_is_refused_clearly(a):
    assert "not supported" in err(a("CLIENT", "TRACKING", "on"))
    assert a("CLIENT", "TRACKINGINFO").items[0][1] == [b"off"]


def test_caching_requires_tracking(a):
    msg = ("ERR CLIENT CACHING can be called only when the client is in tracking mode with "
           "OPTIN or OPTOUT mode enabled")
    assert err(a("CLIENT", "CACHING", "yes")) == msg
    assert err(a("CLIENT", "CACHING", "x")) == msg


# ---- HELP and the table ----


def test_help(a):
    reply = a("CLIENT", "HELP")
    assert all(isinstance(line, Status) for line in reply)
    assert reply[0] == b"CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert reply[-1] == b"    Prints this help."
    assert len(reply) == len(CLIENT_HELP) == 48


def test_table_entries(server):
    client = server.table.lookup(b"client")
    subs = client.subcommands
    assert sorted(s.decode() for s in subs) == sorted(
        "caching getname getredir help id info kill list no-evict pause reply setname "
        "tracking trackinginfo unblock unpause".split())
    assert subs[b"kill"].arity == -3 and subs[b"kill"].is_admin
    assert subs[b"list"].flags == ("admin", "noscript", "loading", "stale")
    assert subs[b"help"].flags == ("loading", "stale")
    assert subs[b"reply"].arity == 3 and not subs[b"reply"].is_admin
    assert subs[b"pause"].categories == ("@admin", "@slow", "@dangerous", "@connection")
