"""The replication backlog: the last `repl-backlog-size` bytes of the replication stream.

Theory of operation
-------------------
Every byte a master sends to its replicas (and every byte a replica receives from its
master, so a promoted replica can serve its former siblings) is appended here. Stream
bytes are numbered from 1 (Redis's offsets: after N bytes `master_repl_offset` is N,
the next byte is N+1). The backlog keeps the most recent `size` bytes, i.e. offsets
`first_offset .. end_offset`; a replica that reconnects asking for `offset` can be
served from here (a partial resync) iff first_offset <= offset <= end_offset + 1.

Chunks are kept in a deque and trimmed from the front, so appending is O(1) and a
resync copies only what it sends. Trimming is lazy: up to `slack` bytes more than
`size` may be held (`held`), but what the backlog answers for (`histlen`,
`first_offset`, `can_serve`) is exactly the last `size` bytes, as in Redis; a full
backlog so costs an append, not a copy of its head chunk, per write. The backlog
knows nothing about ids or sockets.
"""

from __future__ import annotations

from collections import deque


class Backlog:
    def __init__(self, size: int, start_offset: int) -> None:
        """`start_offset` is the master_repl_offset when the backlog is created: the
        first byte appended will be number start_offset + 1."""
        self.chunks: deque[bytes] = deque()
        self.held = 0                        # bytes in chunks (up to size + slack)
        self.end_offset = start_offset       # offset of the last byte held
        self.resize(size)

    @property
    def histlen(self) -> int:
        """repl_backlog_histlen: the bytes the backlog answers for (at most size)."""
        return min(self.held, self.size)

    @property
    def first_offset(self) -> int:
        """repl_backlog_first_byte_offset (Redis shows end+1 when empty)."""
        return self.end_offset - self.histlen + 1

    def append(self, data: bytes) -> None:
        if not data:
            return
        self.chunks.append(data)
        self.held += len(data)
        self.end_offset += len(data)
        if self.held > self.size + self.slack:
            self._trim()

    def _trim(self) -> None:
        """Drop what is older than the last `size` bytes."""
        excess = self.held - self.size
        chunks = self.chunks
        while excess > 0 and chunks:
            head = chunks[0]
            if len(head) <= excess:
                chunks.popleft()
                self.held -= len(head)
                excess -= len(head)
            else:
                chunks[0] = head[excess:]
                self.held -= excess
                excess = 0

    def resize(self, size: int) -> None:
        self.size = max(size, 16 * 1024)
        self.slack = max(self.size // 8, 4096)
        self._trim()

    def can_serve(self, offset: int) -> bool:
        """A replica that wants the stream from byte `offset` on."""
        return self.histlen > 0 and self.first_offset <= offset <= self.end_offset + 1 \
            or (self.histlen == 0 and offset == self.end_offset + 1)

    def read_from(self, offset: int) -> bytes:
        """The bytes from `offset` to the end (can_serve(offset) must hold)."""
        skip = offset - (self.end_offset - self.held + 1)
        out = []
        for chunk in self.chunks:
            if skip >= len(chunk):
                skip -= len(chunk)
                continue
            out.append(chunk[skip:] if skip else chunk)
            skip = 0
        return b"".join(out)
