"""(placeholder: filled in by its group's work)"""

from __future__ import annotations

from redkeep.server.table import CommandTable


def register(table: CommandTable) -> None:
    pass
