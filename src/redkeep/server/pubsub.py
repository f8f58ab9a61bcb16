"""Publish/subscribe registry: channels and patterns to subscribed clients.

Pure bookkeeping. Delivery goes through `Client.push`, which encodes the message
for the client's protocol (a RESP3 push frame or a RESP2 array). Pattern matching
uses Redis's glob rules (server.glob).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from redkeep.resp.types import Push
from redkeep.server.glob import stringmatch

if TYPE_CHECKING:
    from redkeep.server.connection import Client


class PubSub:
    def __init__(self) -> None:
        self.channels: dict[bytes, dict[Client, None]] = {}   # insertion-ordered sets
        self.patterns: dict[bytes, dict[Client, None]] = {}

    def subscribe(self, c: Client, channel: bytes) -> bool:
        if channel in c.channels:
            return False
        c.channels.add(channel)
        self.channels.setdefault(channel, {})[c] = None
        return True

    def unsubscribe(self, c: Client, channel: bytes) -> bool:
        if channel not in c.channels:
            return False
        c.channels.discard(channel)
        subs = self.channels.get(channel)
        if subs is not None:
            subs.pop(c, None)
            if not subs:
                del self.channels[channel]
        return True

    def psubscribe(self, c: Client, pattern: bytes) -> bool:
        if pattern in c.patterns:
            return False
        c.patterns.add(pattern)
        self.patterns.setdefault(pattern, {})[c] = None
        return True

    def punsubscribe(self, c: Client, pattern: bytes) -> bool:
        if pattern not in c.patterns:
            return False
        c.patterns.discard(pattern)
        subs = self.patterns.get(pattern)
        if subs is not None:
            subs.pop(c, None)
            if not subs:
                del self.patterns[pattern]
        return True

    def drop_client(self, c: Client) -> None:
        for ch in list(c.channels):
            self.unsubscribe(c, ch)
        for p in list(c.patterns):
            self.punsubscribe(c, p)

    def publish(self, channel: bytes, message: bytes) -> int:
        receivers = 0
        subs = self.channels.get(channel)
        if subs:
            for c in list(subs):
                c.push(Push([b"message", channel, message]))
                receivers += 1
        if self.patterns:
            for pattern, clients in list(self.patterns.items()):
                if stringmatch(pattern, channel):
                    for c in list(clients):
                        c.push(Push([b"pmessage", pattern, channel, message]))
                        receivers += 1
        return receivers

    def numsub(self, channel: bytes) -> int:
        return len(self.channels.get(channel, ()))

    def active_channels(self, pattern: bytes | None = None) -> list[bytes]:
        if pattern is None:
            return list(self.channels)
        return [ch for ch in self.channels if stringmatch(pattern, ch)]
