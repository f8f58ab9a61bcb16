"""busy-reply-threshold on a real redkeep process: an endless script makes the node answer
BUSY to everyone else, SCRIPT KILL stops it, and the node then serves normally; a
script that wrote keeps running to its end; SHUTDOWN NOSAVE still works while busy.

(tests/interop/test_differential_scripting.py checks the same replies byte for byte
against real redis-server; these tests cover what only one server can show: the log,
disconnects and shutdown.)
"""

from __future__ import annotations

import time

import pytest

from support.procs import ServerProc, wait_until
from support.resp import RawConn, encode_command

BUSY = b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"


@pytest.fixture
def node():
    proc = ServerProc("redkeep", ["--busy-reply-threshold", "150"]).start()
    try:
        yield proc
    finally:
        proc.stop()


def _until_busy(conn: RawConn) -> None:
    wait_until(lambda: conn.call("PING") == BUSY, timeout=10, what="BUSY replies")


def test_endless_script_is_busy_then_killed(node):
    with RawConn(node.port) as runner, RawConn(node.port) as other:
        assert other.call("SET", "before", "1") == b"+OK\r\n"
        runner.send("EVAL", "while true do end", 0)
        started = time.monotonic()
        _until_busy(other)
        assert time.monotonic() - started >= 0.1          # not before the threshold
        assert other.call("GET", "before") == BUSY
        assert other.call("SCRIPT", "KILL") == b"+OK\r\n"
        killed = runner.read_reply(timeout=10)
        assert killed.startswith(b"-ERR Script killed by user with SCRIPT KILL... script: ")
        assert other.call("PING") == b"+PONG\r\n"
        assert other.call("GET", "before") == b"$1\r\n1\r\n"
        assert runner.call("EVAL", "return redis.call('incr', 'n')", 0) == b":1\r\n"
        assert other.call("SCRIPT", "KILL") == b"-NOTBUSY No scripts in execution right now.\r\n"
    log = node.log_text()
    assert "Slow script detected: still in execution after" in log
    assert "Lua script killed by user with SCRIPT KILL." in log


def test_script_with_writes_runs_to_completion(node):
    script = ("local n = 0 local t = redis.call('time') local start = t[1] * 1e6 + t[2] "
              "local now = start while now - start < 600000 do redis.call('incr', 'c') "
              "n = n + 1 t = redis.call('time') now = t[1] * 1e6 + t[2] end return n")
    with RawConn(node.port) as runner, RawConn(node.port) as other:
        runner.send("EVAL", script, 0)
        _until_busy(other)
        assert other.call("SCRIPT", "KILL").startswith(b"-UNKILLABLE Sorry the script already")
        reply = runner.read_reply(timeout=20)
        assert reply.startswith(b":")
        count = int(reply[1:-2])
        assert count > 0
        assert other.call("GET", "c") == b"$%d\r\n%d\r\n" % (len(str(count)), count)


def test_pipelined_commands_wait_for_the_script(node):
    with RawConn(node.port) as runner, RawConn(node.port) as other:
        runner.send_raw(encode_command("EVAL", "while true do end", 0)
                        + encode_command("SET", "after", "1") + encode_command("GET", "after"))
        _until_busy(other)
        assert other.call("SCRIPT", "KILL") == b"+OK\r\n"
        assert runner.read_reply(timeout=10).startswith(b"-ERR Script killed")
        assert runner.read_reply(timeout=10) == b"+OK\r\n"
        assert runner.read_reply(timeout=10) == b"$1\r\n1\r\n"


def test_caller_disconnects_while_busy(node):
    with RawConn(node.port) as other:
        runner = RawConn(node.port)
        runner.send("EVAL", "while true do end", 0)
        _until_busy(other)
        runner.close()
        time.sleep(0.1)
        assert other.call("PING") == BUSY
        assert other.call("SCRIPT", "KILL") == b"+OK\r\n"
        wait_until(lambda: other.call("PING") == b"+PONG\r\n", timeout=10, what="PONG")
        assert other.call("DBSIZE") == b":0\r\n"


def test_function_busy_and_function_kill(node):
    with RawConn(node.port) as runner, RawConn(node.port) as other:
        assert other.call("FUNCTION", "LOAD", "#!lua name=spin\nredis.register_function("
                          "'spin', function() while true do end end)") == b"$4\r\nspin\r\n"
        runner.send("FCALL", "spin", 0)
        wait_until(lambda: other.call("PING").startswith(b"-BUSY"), timeout=10, what="BUSY")
        assert other.call("PING") == (b"-BUSY Redis is busy running a script. You can only call "
                                      b"FUNCTION KILL or SHUTDOWN NOSAVE.\r\n")
        stats = other.call("FUNCTION", "STATS")
        assert b"running_script" in stats and b"spin" in stats and b"FCALL" in stats
        assert other.call("FUNCTION", "KILL") == b"+OK\r\n"
        assert runner.read_reply(timeout=10) == (b"-ERR Script killed by user with SCRIPT KILL... "
                                                 b"script: spin, on @user_function:2.\r\n")
        assert other.call("PING") == b"+PONG\r\n"


def test_shutdown_nosave_while_busy(node):
    with RawConn(node.port) as runner, RawConn(node.port) as other:
        runner.send("EVAL", "redis.call('set', 'x', 1) while true do end", 0)
        _until_busy(other)
        assert other.call("SHUTDOWN") == BUSY
        other.send("SHUTDOWN", "NOSAVE")
        wait_until(lambda: not node.alive(), timeout=15, what="server exit")
    assert node.proc.returncode == 0
