"""The set type: a Python `set` of bytes members that knows its Redis 7.0 encoding.

Theory of operation
-------------------
Redis 7.0 keeps a set as an *intset* (a sorted array of 64-bit integers) while every
member is the canonical text of an integer (string2ll accepts it) and there are at most
`set-max-intset-entries` of them (capped at 2**30), and as a *hashtable* otherwise. It
converts on the add that breaks a rule and never converts back. 7.0.15 has no listpack
sets (that came with 7.2).

Here the members are always bytes in the Python set and `intset` is a flag following
those rules. The encoding shows in two places: OBJECT ENCODING, and order — an intset
iterates in numeric order (SMEMBERS, SSCAN, SRANDMEMBER with a large count, the result
of SUNION...), which `ordered()` reproduces; a hashtable's order is unspecified in Redis
and Python's set order stands in for it.

Mutate through `add_member` / `remove_member` (or call `forget_sample()` after changing
the set another way) so the encoding flag and the random sampler stay right.

Random picks (SPOP, SRANDMEMBER, and HRANDFIELD for hashes) need O(1) indexing, which a
Python set or dict lacks. `random_element` keeps a lazily built list of the members in
the container's `sample` slot: adds append to it, removals leave dead entries that are
skipped when drawn (membership check), and the list is rebuilt when it is shorter than
the container (something bypassed `note_added`) or when dead entries outnumber live
ones. Draws are uniform up to a member removed and re-added before a rebuild (it is
listed twice until then).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from redkeep.resp.parser import parse_ll
from redkeep.server.keyspace import register_type

INTSET_MAX_CAP = 1 << 30      # "limit to 1G entries due to intset internals"

_RNG = random.Random()


def default_rng() -> random.Random:
    """The generator random replies use unless the server provides `rng`."""
    return _RNG


def intset_limit(configured: int) -> int:
    return min(configured, INTSET_MAX_CAP)


def is_int_member(member: bytes) -> bool:
    """isSdsRepresentableAsLongLong: would an intset hold this member?"""
    return len(member) <= 20 and parse_ll(member) is not None


# ---- Random draws, shared with the hash type ----

def note_added(container: Any, member: bytes) -> None:
    """Tell the sampler of `container` about a new member/field."""
    sample = container.sample
    if sample is not None:
        sample.append(member)


def random_element(container: Any, rng: random.Random) -> bytes:
    """A uniformly drawn member (field, for a hash) of a non-empty container."""
    sample = container.sample
    n = len(container)
    if sample is None or len(sample) < n or len(sample) > 2 * n + 32:
        sample = container.sample = list(container)
    for _ in range(32):
        member = sample[rng.randrange(len(sample))]
        if member in container:
            return member
    sample = container.sample = list(container)
    return sample[rng.randrange(len(sample))]


# ---- The type ----

class Set(set):
    """A Redis set: bytes members, plus the intset-or-hashtable encoding flag."""

    __slots__ = ("intset", "sample")

    def __init__(self, members: Iterable[bytes] = (), intset: bool = False) -> None:
        super().__init__(members)
        self.intset = intset
        self.sample: list[bytes] | None = None

    @classmethod
    def for_member(cls, member: bytes) -> Set:
        """setTypeCreate: an empty set that can hold `member` (intset if it is an int)."""
        return cls((), is_int_member(member))

    @classmethod
    def build(cls, members: Iterable[bytes], max_intset: int) -> Set:
        """A set with these members, encoded as Redis encodes a set filled by adding
        them to an empty intset (SUNIONSTORE, SINTERSTORE, SPOP's kept part...)."""
        s = cls(members)
        s.intset = len(s) <= intset_limit(max_intset) and all(map(is_int_member, s))
        return s

    def encoding(self) -> str:
        return "intset" if self.intset else "hashtable"

    def add_member(self, member: bytes, max_intset: int) -> bool:
        """setTypeAdd: True when the member was new."""
        if member in self:
            return False
        set.add(self, member)
        if self.intset and (not is_int_member(member) or len(self) > intset_limit(max_intset)):
            self.intset = False
        if self.sample is not None:
            self.sample.append(member)
        return True

    def remove_member(self, member: bytes) -> bool:
        """setTypeRemove: True when the member was there."""
        if member in self:
            set.remove(self, member)
            return True
        return False

    def forget_sample(self) -> None:
        self.sample = None

    def ordered(self) -> list[bytes]:
        """Members in Redis's iteration order where it is defined (intset: numeric)."""
        if self.intset:
            return sorted(self, key=int)
        return list(self)

    def copy(self) -> Set:
        """setTypeDup: same members, same encoding."""
        return Set(self, self.intset)

    def __copy__(self) -> Set:
        return self.copy()

    def __deepcopy__(self, memo: dict) -> Set:
        return self.copy()

    def __reduce__(self) -> tuple:
        return (Set, (list(self), self.intset))

    def __repr__(self) -> str:
        return f"Set({sorted(self)!r}, {self.encoding()})"


register_type(Set, b"set")
