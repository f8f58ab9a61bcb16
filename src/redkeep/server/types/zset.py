"""The sorted set type: member -> score, kept in (score, member) order.

Theory of operation
-------------------
A `ZSet` is a `dict` (member bytes -> float score) plus `order`, a
sortedcontainers `SortedList` of ``(score, member)`` tuples: the dict answers ZSCORE
and membership in O(1), the sorted list gives ranks, rank ranges and score ranges in
O(log n). Python compares ``(score, member)`` tuples exactly as Redis's skiplist
compares its nodes (score first, then the member bytes with memcmp and length), with
-0.0 equal to 0.0, and a NaN score is never stored. A SortedKeyList of members keyed
on the dict was measured too: it stores the key tuples next to the members and was
about 7% bigger and 40% slower to fill, so the plain list of tuples stands.

Invariant: ``order`` holds exactly one ``(self[m], m)`` per member. Mutate through
`add_new`, `set_score`, `remove` and the range/pop helpers (or the overridden dict
methods, which route through them) — never through ``dict`` directly.

Encoding. Redis 7.0 keeps a small sorted set in a *listpack* and converts it to a
*skiplist* once it would exceed `zset-max-listpack-entries` members or hold a member
longer than `zset-max-listpack-value` bytes; it never converts back on deletions.
`skiplist` is that flag; the commands pass the configured limits to `add_new`
(zsetAdd's check) and decide the encoding of new keys the way each command does
(`ZSet.for_first_member`, `shrink_if_small` for the *STORE results, which Redis builds
as a skiplist and converts when small — the only way back). Two observable quirks of
the listpack are reproduced: a score stored in it that is an integer is stored as one,
so -0 reads back as 0 (`store_score`), and ZSCAN prints listpack scores in their
stored form (`listpack_score_text`).

What it deliberately doesn't know: the configuration, replies, keyspace events.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from sortedcontainers import SortedList

from redkeep.resp.encoder import format_double
from redkeep.server.keyspace import register_type

LLONG_HALF = 9223372036854775807 // 2     # double2ll's range: |d| <= LLONG_MAX/2


def listpack_score_text(score: float) -> bytes:
    """How a listpack stores a score: an integer when double2ll accepts it, else %.17g."""
    if math.isfinite(score) and -LLONG_HALF <= score <= LLONG_HALF and score == int(score):
        return b"%d" % int(score)
    return format_double(score)


class ZSet(dict):
    """A Redis sorted set (see the module docstring)."""

    __slots__ = ("order", "skiplist")

    def __init__(self, items: Iterable[tuple[bytes, float]] = (), skiplist: bool = False
                 ) -> None:
        super().__init__()
        self.order: SortedList = SortedList()
        self.skiplist = skiplist
        pairs = []
        twice = False
        for member, score in items:
            score = self.store_score(score)
            if dict.get(self, member) is None:
                pairs.append((score, member))
            else:
                twice = True
            dict.__setitem__(self, member, score)
        if twice:                        # a member listed twice: the last score wins
            pairs = [(s, m) for m, s in dict.items(self)]
        if pairs:
            self.order.update(pairs)

    @classmethod
    def loaded(cls, members: list[bytes], scores: list[float], skiplist: bool) -> ZSet:
        """A set read from a file (members with their scores), built in bulk; a member
        listed twice takes the general path (the last score wins)."""
        z = dict.__new__(cls)            # __init__'s work, in bulk
        dict.update(z, zip(members, scores, strict=True))
        if len(z) != len(members):
            return cls(zip(members, scores, strict=True), skiplist)
        z.skiplist = skiplist
        if not skiplist and 0.0 in scores:                 # a listpack turns -0 into 0
            dict.update(z, ((m, 0.0) for m, s in zip(members, scores, strict=True) if s == 0))
            scores = [0.0 if s == 0 else s for s in scores]
        z.order = SortedList(zip(scores, members, strict=True))
        return z

    @classmethod
    def for_first_member(cls, member: bytes, max_entries: int, max_value: int) -> ZSet:
        """The empty set ZADD creates for a new key (decided on its first member)."""
        return cls(skiplist=max_entries == 0 or len(member) > max_value)

    # ---- Encoding ----

    def encoding(self) -> str:
        return "skiplist" if self.skiplist else "listpack"

    def store_score(self, score: float) -> float:
        """The score as the current encoding stores it (a listpack turns -0 into 0)."""
        if score == 0 and not self.skiplist:
            return 0.0
        return score

    def to_skiplist(self) -> None:
        """zsetConvert to a skiplist (SORT does this to a sorted set it sorts)."""
        self.skiplist = True

    def shrink_if_small(self, max_entries: int, max_value: int) -> None:
        """zsetConvertToListpackIfNeeded: back to a listpack when small enough."""
        if self.skiplist and len(self) <= max_entries and \
                all(len(m) <= max_value for m in dict.keys(self)):
            self.skiplist = False
            if any(s == 0 and math.copysign(1, s) < 0 for s, _ in self.order):
                pairs = [(0.0 if s == 0 else s, m) for s, m in self.order]
                dict.update(self, ((m, s) for s, m in pairs))
                self.order = SortedList(pairs)

    # ---- Mutation ----

    def add_new(self, member: bytes, score: float, max_entries: int, max_value: int) -> None:
        """Insert a member that is not there (zsetAdd's insert, with its conversion)."""
        if not self.skiplist and (len(self) + 1 > max_entries or len(member) > max_value):
            self.skiplist = True
        score = self.store_score(score)
        dict.__setitem__(self, member, score)
        self.order.add((score, member))

    def set_score(self, member: bytes, score: float) -> None:
        """Change the score of an existing member."""
        old = dict.__getitem__(self, member)
        score = self.store_score(score)
        order = self.order
        order.remove((old, member))
        order.add((score, member))
        dict.__setitem__(self, member, score)

    def remove(self, member: bytes) -> bool:
        score = dict.pop(self, member, None)
        if score is None:
            return False
        self.order.remove((score, member))
        return True

    def pop_end(self, last: bool) -> tuple[bytes, float]:
        """Remove and return the (member, score) with the lowest (or highest) rank."""
        score, member = self.order.pop(-1 if last else 0)
        dict.__delitem__(self, member)
        return member, score

    def remove_ranks(self, start: int, stop: int) -> int:
        """Remove the members at ranks start..stop-1; returns how many."""
        if start >= stop:
            return 0
        for _, member in self.order.islice(start, stop):
            dict.__delitem__(self, member)
        del self.order[start:stop]
        return stop - start

    # ---- Queries ----

    def rank(self, member: bytes) -> int | None:
        score = dict.get(self, member)
        if score is None:
            return None
        return self.order.index((score, member))

    def at(self, rank: int) -> tuple[float, bytes]:
        return self.order[rank]

    def ranks(self, start: int, stop: int, reverse: bool = False
              ) -> Iterator[tuple[float, bytes]]:
        """(score, member) at ranks start..stop-1 (descending when reverse)."""
        return self.order.islice(start, stop, reverse)

    def score_span(self, low: float, low_ex: bool, high: float, high_ex: bool
                   ) -> tuple[int, int]:
        """Ranks [lo, hi) of the members with low <(=) score <(=) high."""
        order = self.order
        if low_ex:
            lo = len(order) if low == math.inf else order.bisect_left((math.nextafter(low, math.inf),))
        else:
            lo = order.bisect_left((low,))
        if high_ex:
            hi = order.bisect_left((high,))
        else:
            hi = len(order) if high == math.inf else order.bisect_left((math.nextafter(high, math.inf),))
        return lo, max(lo, hi)

    def member_at(self, rank: int) -> bytes:
        return self.order[rank][1]

    def ordered_members(self) -> Iterator[bytes]:
        """Members in rank order (SORT, RDB)."""
        return (m for _, m in self.order)

    def ordered_items(self) -> Iterator[tuple[bytes, float]]:
        """(member, score) in rank order."""
        return ((m, s) for s, m in self.order)

    def reverse_items(self) -> Iterator[tuple[bytes, float]]:
        """(member, score) from the highest rank down (Redis's zuiNext order)."""
        return ((m, s) for s, m in reversed(self.order))

    # ---- dict methods that must keep `order` in step ----

    def __setitem__(self, member: bytes, score: float) -> None:
        if dict.__contains__(self, member):
            self.set_score(member, score)
        else:
            self.add_new(member, score, 1 << 62, 1 << 62)

    def __delitem__(self, member: bytes) -> None:
        if not self.remove(member):
            raise KeyError(member)

    def pop(self, member: bytes, *default: Any) -> Any:
        score = dict.get(self, member)
        if score is None:
            if default:
                return default[0]
            raise KeyError(member)
        self.remove(member)
        return score

    def popitem(self) -> tuple[bytes, float]:
        if not self:
            raise KeyError("popitem(): sorted set is empty")
        return self.pop_end(True)

    def setdefault(self, member: bytes, score: Any = None) -> Any:
        if not dict.__contains__(self, member):
            self[member] = score
        return dict.__getitem__(self, member)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for member, score in dict(*args, **kwargs).items():
            self[member] = score

    def clear(self) -> None:
        dict.clear(self)
        self.order.clear()

    # ---- Copies ----

    def copy(self) -> ZSet:
        """zsetDup: same members and scores, same encoding."""
        dup = ZSet(skiplist=self.skiplist)
        dict.update(dup, self)
        dup.order = self.order.copy()
        return dup

    def __copy__(self) -> ZSet:
        return self.copy()

    def __deepcopy__(self, memo: dict) -> ZSet:
        return self.copy()

    def __reduce__(self) -> tuple:
        return (ZSet, (list(self.ordered_items()), self.skiplist))

    def __repr__(self) -> str:
        return f"ZSet({list(islice(self.ordered_items(), 20))!r}, {self.encoding()})"


register_type(ZSet, b"zset")
