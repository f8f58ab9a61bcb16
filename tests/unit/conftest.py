"""Unit tests run in a private working directory: a Server built from the default
ServerConfig has `dir` = cwd and Redis's default save points, so FLUSHALL and SHUTDOWN
write dump.rdb there, as redis-server does."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _private_cwd(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
