"""Shared fixtures: real redis-server and redkeep server processes, and differential pairs.

Fixtures (see tests/support/ for the machinery):

* ``redis_server``   session  ServerProc running real redis-server (skipped when the binary
                              is missing, *failed* instead when CI=true)
* ``redkeep_server`` session  ServerProc running ``python -m redkeep server``
* ``server_pair``    session  ServerPair(redkeep=..., redis=...)
* ``diff``           function DiffPair connected to both, after FLUSHALL, SCRIPT FLUSH and
                              FUNCTION FLUSH on both

Every server is started with ``--save "" --appendonly no --enable-debug-command yes`` in its
own directory. A session server that dies
during a test is restarted on the same port and that test is reported as an error with the
server's log tail. Set ``REDKEEP_TEST_STANDIN=redis`` to run real redis-server in place of
redkeep (only for developing the harness itself).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NamedTuple

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.differential import DiffPair  # noqa: E402
from support.procs import ServerProc, raise_fd_limit, require_binary  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    # Like `ulimit -n` before starting servers: children inherit the raised soft limit.
    raise_fd_limit()


# Session servers currently running, checked around every test.
_SESSION_SERVERS: list[ServerProc] = []


class ServerPair(NamedTuple):
    redkeep: ServerProc
    redis: ServerProc


def _session_server(kind: str, tmp_path_factory: pytest.TempPathFactory):
    if kind == "redis":
        require_binary("redis-server")
    proc = ServerProc(kind, dir=tmp_path_factory.mktemp(f"{kind}-server"))
    try:
        proc.start()
        _SESSION_SERVERS.append(proc)
        yield proc
    finally:
        if proc in _SESSION_SERVERS:
            _SESSION_SERVERS.remove(proc)
        proc.stop(remove_dir=False)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """Real redis-server, shared by the whole session."""
    yield from _session_server("redis", tmp_path_factory)


@pytest.fixture(scope="session")
def redkeep_server(tmp_path_factory):
    """redkeep server (`python -m redkeep server`), shared by the whole session."""
    yield from _session_server("redkeep", tmp_path_factory)


@pytest.fixture(scope="session")
def server_pair(redkeep_server, redis_server) -> ServerPair:
    return ServerPair(redkeep=redkeep_server, redis=redis_server)


@pytest.fixture
def diff(server_pair):
    """A DiffPair on fresh connections, both servers emptied first (keys, scripts, functions)."""
    pair = DiffPair(server_pair.redkeep.port, server_pair.redis.port)
    try:
        for reset in (("FLUSHALL",), ("SCRIPT", "FLUSH"), ("FUNCTION", "FLUSH")):
            replies = pair.run(*reset)
            assert replies.redis == b"+OK\r\n", replies
        pair.history.clear()
        yield pair
    finally:
        pair.close()


@pytest.fixture
def procs():
    """A list to put started ServerProcs in; each is stopped (its dir kept) afterwards."""
    started: list = []
    yield started
    for p in started:
        p.stop(remove_dir=False)


@pytest.fixture
def repl_group(tmp_path):
    """A support.replication.Group of server processes (needs redis-server), all stopped
    after the test."""
    from support.procs import require_binary
    from support.replication import Group
    require_binary("redis-server")
    g = Group(tmp_path)
    try:
        yield g
    finally:
        g.close()


@pytest.fixture(autouse=True)
def _session_servers_survive():
    """Restart a session server that died, and blame the test during which it died."""
    for proc in _SESSION_SERVERS:
        if not proc.alive():
            proc.restart()
    yield
    reports = []
    for proc in [p for p in _SESSION_SERVERS if not p.alive()]:
        rc = proc.proc.returncode if proc.proc else None
        reports.append(f"{proc.kind} server (port {proc.port}) died during this test with "
                       f"status {rc}; it was restarted for the next test.\n"
                       f"{proc.describe_log()}")
        proc.restart()
    if reports:
        pytest.fail("\n".join(reports), pytrace=False)
