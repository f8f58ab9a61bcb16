"""Unit-test servers allow DEBUG, like the interop servers started with
`--enable-debug-command yes` (the default, "no", is tested in test_protected_commands.py)."""

from __future__ import annotations

import pytest

from redkeep.server.config import ServerConfig

_original_init = ServerConfig.__init__


@pytest.fixture(autouse=True)
def _debug_command_enabled(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest):
    if request.node.get_closest_marker("debug_default") or "test_config" in request.node.nodeid:
        yield
        return

    def init(self: ServerConfig, *args: object, **kw: object) -> None:
        _original_init(self, *args, **kw)
        self.enable_debug_command = "yes"

    monkeypatch.setattr(ServerConfig, "__init__", init)
    yield
