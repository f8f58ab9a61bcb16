"""A Server with a ManualClock for the hash/set/SORT unit tests: commands go through
`Server.execute`, keyspace events are captured instead of published."""

from __future__ import annotations

from redkeep.clock import ManualClock
from redkeep.resp.encoder import encode
from redkeep.server.config import NOTIFY_ALL, NOTIFY_KEYEVENT, NOTIFY_NEW, ServerConfig
from redkeep.server.server import Server

NOW = 1_700_000_000_000


def b(x: object) -> bytes:
    return x if isinstance(x, bytes) else str(x).encode()


class Harness:
    def __init__(self, **config: object) -> None:
        cfg = ServerConfig()
        for k, v in config.items():
            setattr(cfg, k, v)
        self.clock = ManualClock(wall_ms=NOW)
        self.server = Server(cfg, self.clock)
        self.client = self.server.new_client()
        self.events: list[tuple[str, bytes]] = []

    def __call__(self, *args: object) -> object:
        return self.server.execute(self.client, [b(a) for a in args])

    def resp3(self, *args: object) -> bytes:
        """The RESP3 bytes of the reply (shape checks: maps, sets, nulls)."""
        self.client.resp = 3
        try:
            return encode(self(*args), 3)
        finally:
            self.client.resp = 2

    def resp2(self, *args: object) -> bytes:
        return encode(self(*args), 2)

    @property
    def db(self):
        return self.client.db

    @property
    def dirty(self) -> int:
        return self.server.dirty

    def capture_events(self) -> list[tuple[str, bytes]]:
        """Record keyevent notifications as (event, key) from now on."""
        self.server.keyspace.notify_flags = NOTIFY_ALL | NOTIFY_KEYEVENT | NOTIFY_NEW

        def publish(channel: bytes, message: bytes) -> int:
            self.events.append((channel.split(b":", 1)[1].decode(), message))
            return 0

        self.server.pubsub.publish = publish
        return self.events

    def take_events(self) -> list[tuple[str, bytes]]:
        out = list(self.events)
        self.events.clear()
        return out
