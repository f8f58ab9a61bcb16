"""The stream type, as far as XADD / XRANGE / XREVRANGE / XLEN / XDEL / XTRIM need it.

Theory of operation
-------------------
A stream is a dict from entry ID `(ms, seq)` to its field/value pairs. IDs only grow,
so the dict's insertion order is ID order, and `ids` (a list kept in step) allows
range lookups by bisection. `last_id` is the top ID ever added (it survives XDEL, as
in Redis), `entries_added` counts every XADD, `max_deleted_id` the highest deleted ID.

Approximate trimming (`~`) frees only whole nodes, like Redis's radix tree of
listpacks: entries go `NODE_ENTRIES` at a time from the head, and only while a whole
node can go without falling below the threshold. Consumer groups are not modelled.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from redkeep.server.keyspace import register_type

StreamID = tuple[int, int]
NODE_ENTRIES = 100   # stream-node-max-entries default


class Stream(dict):
    __slots__ = ("ids", "last_id", "entries_added", "max_deleted_id")

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[StreamID] = []
        self.last_id: StreamID = (0, 0)
        self.entries_added = 0
        self.max_deleted_id: StreamID = (0, 0)

    def encoding(self) -> str:
        return "stream"

    def add(self, sid: StreamID, fields: list[tuple[bytes, bytes]]) -> None:
        self[sid] = fields
        self.ids.append(sid)
        self.last_id = sid
        self.entries_added += 1

    def range(self, start: StreamID, end: StreamID, count: int | None, rev: bool
              ) -> list[tuple[StreamID, list[tuple[bytes, bytes]]]]:
        lo = bisect_left(self.ids, start)
        hi = bisect_right(self.ids, end)
        chosen = self.ids[lo:hi]
        if rev:
            chosen.reverse()
        if count is not None:
            chosen = chosen[:count]
        return [(sid, self[sid]) for sid in chosen]

    def delete_ids(self, ids: list[StreamID]) -> int:
        deleted = 0
        for sid in ids:
            if self.pop(sid, None) is not None:
                self.ids.pop(bisect_left(self.ids, sid))
                deleted += 1
                self.max_deleted_id = max(self.max_deleted_id, sid)
        return deleted

    def trim_maxlen(self, maxlen: int, approx: bool, limit: int) -> int:
        excess = len(self.ids) - maxlen
        if approx:
            excess = (excess // NODE_ENTRIES) * NODE_ENTRIES
        return self._trim_head(excess, limit)

    def trim_minid(self, minid: StreamID, approx: bool, limit: int) -> int:
        excess = bisect_left(self.ids, minid)
        if approx:
            excess = (excess // NODE_ENTRIES) * NODE_ENTRIES
        return self._trim_head(excess, limit)

    def _trim_head(self, n: int, limit: int) -> int:
        if limit > 0:
            n = min(n, limit)
        if n <= 0:
            return 0
        for sid in self.ids[:n]:
            del self[sid]
        self.max_deleted_id = max(self.max_deleted_id, self.ids[n - 1])
        del self.ids[:n]
        return n

    def copy(self) -> Stream:
        new = Stream()
        for sid in self.ids:
            new[sid] = list(self[sid])
        new.ids = list(self.ids)
        new.last_id, new.entries_added = self.last_id, self.entries_added
        new.max_deleted_id = self.max_deleted_id
        return new


register_type(Stream, b"stream")
