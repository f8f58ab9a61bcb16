"""Redis-shaped log lines: `pid:R dd Mon yyyy HH:MM:SS.mmm L message`.

R is the role (M master, S replica, C child, X sentinel); L the level mark
('.' debug, '-' verbose, '*' notice, '#' warning), exactly as Redis writes them, so
log-scraping habits and tools keep working. Writes to a file (append) or stdout.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

LEVELS = {"debug": 0, "verbose": 1, "notice": 2, "warning": 3, "nothing": 4}
MARKS = ".-*#"


class Logger:
    def __init__(self, logfile: str = "", level: str = "notice", role: str = "M") -> None:
        self.level = LEVELS.get(level, 2)
        self.role = role
        self.logfile = logfile
        self._fh: TextIO | None = None
        self.reopen()

    def reopen(self) -> None:
        if self._fh is not None and self._fh is not sys.stdout:
            self._fh.close()
        self._fh = open(self.logfile, "a", buffering=1) if self.logfile else sys.stdout

    def set_level(self, level: str) -> None:
        self.level = LEVELS.get(level, self.level)

    def log(self, level: int, msg: str) -> None:
        if level < self.level or self._fh is None:
            return
        now = time.time()
        stamp = time.strftime("%d %b %Y %H:%M:%S", time.localtime(now))
        line = f"{os.getpid()}:{self.role} {stamp}.{int(now * 1000) % 1000:03d} {MARKS[level]} {msg}\n"
        try:
            self._fh.write(line)
            self._fh.flush()
        except (OSError, ValueError):
            pass

    def debug(self, msg: str) -> None:
        self.log(0, msg)

    def verbose(self, msg: str) -> None:
        self.log(1, msg)

    def notice(self, msg: str) -> None:
        self.log(2, msg)

    def warning(self, msg: str) -> None:
        self.log(3, msg)
