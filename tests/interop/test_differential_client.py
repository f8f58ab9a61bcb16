"""Differential tests for CLIENT: the same subcommands to redkeep and to real
redis-server 7.0.15, replies compared byte for byte (CLIENT LIST/INFO text and CLIENT ID
are normalized by the harness: only their type is compared).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.interop


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def proto_diff(request, diff):
    diff.run("HELLO", request.param)
    return diff


def test_help_names_and_tracking_info(proto_diff):
    d = proto_diff
    d.run("CLIENT", "HELP")
    d.run("CLIENT", "GETNAME")
    d.run("CLIENT", "SETNAME", "conn-1")
    d.run("CLIENT", "GETNAME")
    d.run("CLIENT", "SETNAME", "")
    d.run("CLIENT", "GETNAME")
    d.run("CLIENT", "SETNAME", "bad name")
    d.run("CLIENT", "SETNAME", b"caf\xc3\xa9")
    d.run("CLIENT", "ID")
    d.run("CLIENT", "INFO")
    d.run("CLIENT", "LIST")
    d.run("CLIENT", "LIST", "TYPE", "master")       # empty text, typed
    d.run("CLIENT", "LIST", "ID", "0")
    d.run("CLIENT", "GETREDIR")
    d.run("CLIENT", "TRACKINGINFO")
    d.run("CLIENT", "TRACKING", "off")
    d.run("CLIENT", "CACHING", "yes")
    d.run("CLIENT", "SETINFO", "LIB-NAME", "x")       # 7.2 only
    d.run("CLIENT", "NOSUCH")
    d.run("client", "help", "extra")


@pytest.mark.parametrize("args", [
    ("LIST", "TYPE", "foo"), ("LIST", "ID", "x"), ("LIST", "ID", "1", "2", "x"),
    ("LIST", "foo"), ("LIST", "TYPE"), ("LIST", "TYPE", "normal", "x"), ("LIST", "ID"),
    ("KILL",), ("KILL", "1.2.3.4:5"), ("KILL", "ID", "0"), ("KILL", "ID", "-1"),
    ("KILL", "ID", "x"), ("KILL", "ID", "99999"), ("KILL", "TYPE", "foo"),
    ("KILL", "USER", "nobody"), ("KILL", "SKIPME", "maybe"), ("KILL", "foo", "bar"),
    ("KILL", "ID"), ("KILL", "ID", "1", "TYPE"), ("KILL", "ADDR", "1.2.3.4:5", "SKIPME", "no"),
    ("KILL", "LADDR", "1.2.3.4:5"), ("KILL", "TYPE", "master"), ("KILL", "USER", "default",
                                                                  "ADDR", "nowhere:1"),
    ("REPLY",), ("REPLY", "foo"), ("REPLY", "on", "x"),
    ("NO-EVICT",), ("NO-EVICT", "foo"), ("NO-EVICT", "on"), ("NO-EVICT", "OFF"),
    ("PAUSE",), ("PAUSE", "x"), ("PAUSE", "-1"), ("PAUSE", "10", "foo"),
    ("PAUSE", "x", "foo"), ("PAUSE", "10", "write", "x"), ("PAUSE", "0"),
    ("PAUSE", "9223372036854775807"), ("PAUSE", "99999999999999999999"), ("UNPAUSE",),
    ("UNPAUSE", "x"),
    ("UNBLOCK",), ("UNBLOCK", "x"), ("UNBLOCK", "1", "foo"), ("UNBLOCK", "1", "timeout", "x"),
    ("UNBLOCK", "999"), ("UNBLOCK", "999", "ERROR"), ("UNBLOCK", "999", "timeout"),
    ("TRACKING",), ("TRACKING", "foo"), ("TRACKING", "off", "foo"),
    ("TRACKING", "off", "bcast", "optin", "noloop", "prefix", "a"),
    ("TRACKING", "off", "redirect", "999"), ("TRACKING", "off", "redirect", "x"),
    ("TRACKING", "on", "prefix", "a"), ("TRACKING", "on", "bcast", "optin"),
    ("TRACKING", "on", "optin", "optout"), ("TRACKING", "off", "prefix"),
    ("CACHING",), ("CACHING", "x"), ("CACHING", "yes", "no"),
    ("GETREDIR", "x"), ("TRACKINGINFO", "x"), ("ID", "x"), ("INFO", "x"), ("GETNAME", "x"),
    ("SETNAME",), ("SETNAME", "a", "b"),
], ids=lambda a: "-".join(a))
def test_errors_and_simple_replies(diff, args):
    diff.run("CLIENT", *args)
    diff.run("PING")           # still alive, not paused


def test_reply_off_on_skip(diff):
    diff.run_raw(b"CLIENT REPLY OFF\r\nSET a 1\r\nGET a\r\nCLIENT REPLY ON\r\nGET a\r\n", replies=2)
    diff.run_raw(b"CLIENT REPLY SKIP\r\nSET a 2\r\nGET a\r\n", replies=1)
    diff.run_raw(b"CLIENT REPLY SKIP\r\nCLIENT REPLY SKIP\r\nGET a\r\nPING\r\n", replies=1)
    diff.run_raw(b"CLIENT REPLY OFF\r\nCLIENT REPLY SKIP\r\nGET a\r\nCLIENT REPLY ON\r\n",
                 replies=1)
    diff.run("CLIENT", "REPLY", "ON")


def test_kill_another_client_and_yourself(diff):
    other = diff.other()
    try:
        other.run("CLIENT", "SETNAME", "victim")
        rk_id = int(other.rk.call("CLIENT", "ID")[1:-2])
        rd_id = int(other.rd.call("CLIENT", "ID")[1:-2])
        rk = diff.rk.call("CLIENT", "KILL", "ID", rk_id)
        rd = diff.rd.call("CLIENT", "KILL", "ID", rd_id)
        assert rk == rd == b":1\r\n"
        other.expect_closed()
    finally:
        other.close()
    diff.run("CLIENT", "KILL", "ID", "999999", "SKIPME", "no")
    diff.run("CLIENT", "KILL", "USER", "nobody", "SKIPME", "no")
    diff.run_raw(b"CLIENT KILL SKIPME no USER default LADDR nowhere:0\r\n")
    diff.run("PING")


def test_command_info_for_client_subcommands(diff):
    for sub in ("caching", "getname", "getredir", "help", "id", "info", "kill", "list",
                "no-evict", "pause", "reply", "setname", "tracking", "trackinginfo",
                "unblock", "unpause"):
        diff.run("COMMAND", "INFO", f"client|{sub}")
