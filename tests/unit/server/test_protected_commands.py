from __future__ import annotations

import pytest

from redkeep.clock import ManualClock
from redkeep.resp.types import ErrorReply
from redkeep.server.config import ServerConfig
from redkeep.server.server import Server

pytestmark = pytest.mark.debug_default

DENIED = ("ERR DEBUG command not allowed. If the enable-debug-command option is set to "
          "\"local\", you can run it from a local connection, otherwise you need to set this "
          "option in the configuration file, and then restart the server.")


@pytest.mark.parametrize("setting,addr,allowed", [
    ("no", "127.0.0.1:5000", False), ("local", "127.0.0.1:5000", True),
    ("local", "10.1.2.3:5000", False), ("yes", "10.1.2.3:5000", True),
])
def test_debug_is_a_protected_command(setting: str, addr: str, allowed: bool) -> None:
    cfg = ServerConfig()
    assert cfg.enable_debug_command == "no"
    cfg.enable_debug_command = setting
    srv = Server(cfg, ManualClock())
    c = srv.new_client(addr, "127.0.0.1:6379")
    reply = srv.execute(c, [b"DEBUG", b"SLEEP", b"0"])
    if allowed:
        assert not isinstance(reply, ErrorReply)
    else:
        assert reply == ErrorReply(DENIED)


def test_a_handler_bug_becomes_an_error_reply_not_a_crash() -> None:
    srv = Server(ServerConfig(), ManualClock())
    c = srv.new_client("127.0.0.1:5000", "127.0.0.1:6379")

    def broken(client, argv):
        raise IndexError("boom")

    srv.table.lookup(b"echo").handler = broken
    reply = srv.execute(c, [b"ECHO", b"x"])
    assert isinstance(reply, ErrorReply) and reply.message.startswith("ERR internal error")
    assert srv.stats["unexpected_error_replies"] == 1
    assert srv.execute(c, [b"PING"]).upper() == b"PONG"
