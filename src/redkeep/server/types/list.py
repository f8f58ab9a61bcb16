"""The list type: a `collections.deque` of bytes elements that knows its Redis 7.0
encoding.

Theory of operation
-------------------
Redis 7.0 keeps every list in a *quicklist* (a linked list of listpacks), whatever its
size: OBJECT ENCODING always answers "quicklist" (the small-list "listpack" encoding
only arrived in 7.2), so `list-max-listpack-size` and `list-compress-depth` change
nothing that a client can observe here and are not consulted.

A deque gives O(1) pushes and pops at both ends, which is what queues need. Indexing
into the middle (LINDEX, LSET, LINSERT at a far pivot) walks from the nearer end, O(n)
like Redis's quicklist walk; ranges are read with `islice` from the nearer end, so
LRANGE 0 99 on a long list costs 100 steps. Elements are the client's bytes, stored as
given: Redis stores integer-looking elements as integers but gives back the same
canonical digits, and compares them by value only when the argument is canonical too,
so byte equality is the same test.

The methods below are pure list algorithms with Redis's index conventions (negative
indexes count from the tail; ranges are clamped as in `addListRangeReply` and
`ltrimCommand`). They know nothing about keys, replies or events.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from itertools import islice
from typing import Any

from redkeep.server.arguments import rank_bounds
from redkeep.server.keyspace import register_type

HEAD, TAIL = 0, 1
LONG_MIN = -(1 << 63)


class List(deque):
    """A Redis list: a deque of bytes."""

    __slots__ = ()

    def __init__(self, items: Iterable[bytes] = ()) -> None:
        super().__init__(items)

    def encoding(self) -> str:
        return "quicklist"

    def copy(self) -> List:
        """COPY duplicates the list; the elements are immutable bytes."""
        return List(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> List:
        return List(self)

    def __reduce__(self) -> tuple:
        return (List, (list(self),))

    # ---- Positions ----

    def normalize_index(self, index: int) -> int | None:
        """A Redis index (negative from the tail) as a deque index, None if outside."""
        n = len(self)
        if index < 0:
            index += n
        return index if 0 <= index < n else None

    def get(self, index: int) -> bytes | None:
        i = self.normalize_index(index)
        return None if i is None else self[i]

    def replace(self, index: int, value: bytes) -> bool:
        i = self.normalize_index(index)
        if i is None:
            return False
        self[i] = value
        return True

    def range_bounds(self, start: int, end: int) -> tuple[int, int] | None:
        """addListRangeReply's clamping: (first, last) inclusive, or None when empty."""
        return rank_bounds(start, end, len(self))

    def slice(self, first: int, last: int) -> list[bytes]:
        """Elements first..last (inclusive, already valid), walked from the nearer end."""
        n = len(self)
        if first <= n - 1 - last:
            return list(islice(self, first, last + 1))
        out = list(islice(reversed(self), n - 1 - last, n - first))
        out.reverse()
        return out

    def range(self, start: int, end: int) -> list[bytes]:
        bounds = self.range_bounds(start, end)
        return [] if bounds is None else self.slice(*bounds)

    # ---- Removal ----

    def pop_many(self, where: int, count: int) -> list[bytes]:
        """Pop up to `count` elements from one end, in the order they come off."""
        take = self.popleft if where == HEAD else self.pop
        return [take() for _ in range(min(count, len(self)))]

    def trim(self, start: int, end: int) -> int:
        """LTRIM: keep start..end; returns how many elements were removed."""
        n = len(self)
        bounds = self.range_bounds(start, end)
        if bounds is None:
            self.clear()
            return n
        first, last = bounds
        for _ in range(first):
            self.popleft()
        for _ in range(n - 1 - last):
            self.pop()
        return n - len(self)

    def remove_matches(self, value: bytes, count: int) -> int:
        """LREM: remove `count` occurrences of `value` from the head (count > 0), from
        the tail (count < 0) or all of them (0); returns how many were removed."""
        if count == 0:
            kept = [e for e in self if e != value]
            removed = len(self) - len(kept)
        else:
            limit = abs(count)
            source = self if count > 0 else reversed(self)
            kept, removed = [], 0
            for e in source:
                if removed < limit and e == value:
                    removed += 1
                else:
                    kept.append(e)
            if count < 0:
                kept.reverse()
        if removed:
            self.clear()
            self.extend(kept)
        return removed

    # ---- Search and insertion ----

    def insert_near(self, pivot: bytes, value: bytes, after: bool) -> bool:
        """LINSERT: insert next to the first `pivot` from the head; False if absent."""
        try:
            i = self.index(pivot)
        except ValueError:
            return False
        self.insert(i + 1 if after else i, value)
        return True

    def positions(self, value: bytes, rank: int, count: int, maxlen: int) -> list[int]:
        """LPOS: indexes of matches, skipping |rank|-1 of them, scanning from the tail
        when rank < 0, looking at no more than `maxlen` elements (0 = all), returning
        at most `count` of them (0 = all)."""
        n = len(self)
        backwards = rank < 0
        # Redis negates a negative rank in a C long: LONG_MIN stays negative, so every
        # match then counts as "at or past the rank", exactly like rank -1.
        skip = 0 if rank == LONG_MIN else abs(rank) - 1
        source = reversed(self) if backwards else iter(self)
        if maxlen:
            source = islice(source, maxlen)
        out: list[int] = []
        for i, e in enumerate(source):
            if e != value:
                continue
            if skip:
                skip -= 1
                continue
            out.append(n - 1 - i if backwards else i)
            if count and len(out) >= count:
                break
        return out


register_type(List, b"list")
