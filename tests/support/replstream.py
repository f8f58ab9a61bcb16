"""A raw replica connection: read the command stream a master propagates.

Theory of operation: `ReplicaTap(port)` connects to a master (real redis-server or
redkeep) and sends `SYNC` — the pre-PSYNC handshake, so the master neither expects
REPLCONF ACKs nor times the link out. The master answers with the RDB payload as one
bulk (`$<len>\\r\\n<bytes>`, no trailing CRLF; newlines may precede it while a disk
snapshot is being made), which is skipped; everything after it is the replication
stream, parsed as RESP multibulk commands. `commands(until=…)` reads until a predicate
over the commands seen so far holds or a deadline passes (polling the socket, no fixed
sleeps). Master keepalive PINGs are kept: callers filter them (`drop_pings`).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from redkeep.resp.parser import RequestParser


class ReplicaTap:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.parser = RequestParser(use_hiredis=False)
        self.parser.is_master = True
        self.received: list[list[bytes]] = []
        self._skip_rdb(timeout)

    def _recv(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("master closed the replication link")
        return data

    def _skip_rdb(self, timeout: float) -> None:
        self.sock.sendall(b"*1\r\n$4\r\nSYNC\r\n")
        buf = b""
        deadline = time.monotonic() + timeout
        while True:
            buf = buf.lstrip(b"\r\n")     # keepalive newlines while the RDB is made
            end = buf.find(b"\r\n")
            if buf.startswith(b"$") and end > 0:
                size = int(buf[1:end])
                body = buf[end + 2:]
                while len(body) < size:
                    body += self._recv()
                self.parser.feed(body[size:])
                return
            if time.monotonic() > deadline:
                raise TimeoutError("no RDB payload from the master")
            buf += self._recv()

    def poll(self, wait: float) -> None:
        """Read what arrived within `wait` seconds into `received`."""
        self.sock.settimeout(wait)
        try:
            self.parser.feed(self._recv())
        except TimeoutError:
            pass
        while True:
            cmd = self.parser.next_command()
            if cmd is None:
                return
            self.received.append(cmd)

    def commands(self, until: Callable[[list[list[bytes]]], bool],
                 timeout: float = 10.0) -> list[list[bytes]]:
        deadline = time.monotonic() + timeout
        while not until(self.received):
            if time.monotonic() > deadline:
                raise TimeoutError(f"replication stream incomplete: {self.received[-5:]}")
            self.poll(0.05)
        return self.received

    def close(self) -> None:
        self.sock.close()


def drop_pings(cmds: list[list[bytes]]) -> list[list[bytes]]:
    return [c for c in cmds if c[0].lower() != b"ping"]
