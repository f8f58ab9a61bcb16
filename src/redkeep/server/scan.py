"""Cursors for the SCAN family over containers (HSCAN, SSCAN, ZSCAN).

Theory of operation
-------------------
Redis's cursor is a position in a hash table, which a Python dict or set does not expose.
Here a cursor names an *iteration in flight*, kept in an LRU (`MAX_ITERATIONS`) of
`Iteration`s per keyspace; the cursor is ``serial << 32 | consumed`` (below 2**53) where `consumed`
counts the elements handed out so far (decimal, never 0 while elements remain). This is
the scheme commands/keys.py uses for SCAN over a database, made generic over any sized
iterable `source` whose elements can be tested with `in`.

An iteration has two modes:

1) *live* — a new iteration takes COUNT elements per call from `iter(source)`, O(COUNT),
   and remembers what it returned plus a change token (the caller's, e.g. the server's
   dirty counter, with the source's identity and size). A Python iterator is only valid
   while nothing is added or removed, so when the token differs (or the iterator raises)
   the iteration falls back, once, to:
2) *snapshot* — every current element not yet returned, listed once (O(n)), then walked;
   elements removed meanwhile are skipped.

Elements present for the whole iteration are thus returned at least once, elements added
meanwhile may or may not be, and every iteration ends — Redis's SCAN guarantees. A cursor
the LRU does not know (evicted, made up, or for a container that was replaced) resumes
*by position*: a snapshot from index `consumed` on in the current order.

The caller decides what is small enough to return whole (Redis returns a listpack or
intset container whole, cursor 0, whatever COUNT says) and filters with MATCH.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Iterator
from itertools import islice
from typing import Any

MAX_ITERATIONS = 256
_POS_BITS = 32
_POS_MASK = (1 << _POS_BITS) - 1
_SERIAL_MASK = (1 << (53 - _POS_BITS)) - 1     # cursors stay below 2**53 (exact in JS)


class Iteration:
    """One iteration over one container (see the module docstring)."""

    __slots__ = ("serial", "source", "it", "returned", "token", "snapshot", "index",
                 "consumed")

    def __init__(self, serial: int, source: Any) -> None:
        self.serial = serial
        self.source = source
        self.it: Iterator[Any] | None = None
        self.returned: list[Any] = []
        self.token: tuple = ()
        self.snapshot: list[Any] = []
        self.index = 0
        self.consumed = 0

    @property
    def cursor(self) -> int:
        return self.serial << _POS_BITS | min(self.consumed, _POS_MASK)

    @property
    def finished(self) -> bool:
        return self.it is None and self.index >= len(self.snapshot)


class Cursors:
    """The iterations in flight (an LRU keyed by serial)."""

    def __init__(self, max_iterations: int = MAX_ITERATIONS) -> None:
        self.max_iterations = max_iterations
        self.states: OrderedDict[int, Iteration] = OrderedDict()
        self.next_serial = 1

    def scan(self, source: Any, cursor: int, count: int, token: tuple = ()
             ) -> tuple[int, list[Any]]:
        """One step: (next cursor, 0 when done; up to `count` candidate elements).

        Candidates from a snapshot may have been removed since: callers that care test
        `element in source` (the snapshot already skips removed ones when taken).
        """
        token = (id(source), len(source), *token)
        st = self._resume(source, cursor, token)
        batch = self._take(st, count, token)
        if st.finished:
            return 0, batch
        st.token = token
        self.states[st.serial] = st
        while len(self.states) > max(self.max_iterations, 1):
            self.states.popitem(last=False)
        return st.cursor, batch

    def forget(self, source: Any) -> None:
        """Drop the iterations over `source` (e.g. when it is freed)."""
        for serial in [s for s, st in self.states.items() if st.source is source]:
            del self.states[serial]

    def _start(self, source: Any, token: tuple, position: int) -> Iteration:
        serial = self.next_serial
        for _ in range(len(self.states)):       # after wrapping around: skip live ones
            if serial not in self.states:
                break
            serial = serial % _SERIAL_MASK + 1
        self.next_serial = serial % _SERIAL_MASK + 1
        st = Iteration(serial, source)
        if position == 0:
            st.it = iter(source)
            st.token = token
        else:
            st.snapshot = list(islice(source, position, None))
            st.consumed = position
        return st

    def _resume(self, source: Any, cursor: int, token: tuple) -> Iteration:
        serial = cursor >> _POS_BITS
        st = self.states.get(serial) if cursor else None
        if st is None or st.source is not source or st.cursor != cursor:
            return self._start(source, token, cursor & _POS_MASK)
        del self.states[serial]
        return st

    def _take(self, st: Iteration, count: int, token: tuple) -> list[Any]:
        if st.it is not None:
            if st.token == token:
                try:
                    batch = list(islice(st.it, count))
                except RuntimeError:       # changed size during iteration
                    batch = None
                if batch is not None:
                    st.returned += batch
                    st.consumed += len(batch)
                    if st.consumed >= len(st.source):
                        st.it = None
                        st.returned = []
                    return batch
            self._fall_back(st)
        source = st.source
        batch: list[Any] = []
        snapshot = st.snapshot
        while len(batch) < count and st.index < len(snapshot):
            element = snapshot[st.index]
            st.index += 1
            if element in source:
                batch.append(element)
        st.consumed += len(batch)
        return batch

    def _fall_back(self, st: Iteration) -> None:
        seen = set(st.returned)
        st.snapshot = [e for e in st.source if e not in seen]
        st.index = 0
        st.it = None
        st.returned = []


_CURSORS: weakref.WeakKeyDictionary[Any, Cursors] = weakref.WeakKeyDictionary()


def cursors_for(owner: Any) -> Cursors:
    """The `Cursors` of an owner (a Keyspace), created on first use."""
    cur = _CURSORS.get(owner)
    if cur is None:
        cur = _CURSORS[owner] = Cursors()
    return cur
