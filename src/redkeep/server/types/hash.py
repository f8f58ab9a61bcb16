"""The hash type: a Python `dict` of bytes fields to bytes values that knows its Redis
7.0 encoding.

Theory of operation
-------------------
Redis 7.0 keeps a small hash as a *listpack* (fields and values side by side, in
insertion order) and converts it to a *hashtable* for good when

1) a command is about to write a field or value longer than `hash-max-listpack-value`
   bytes (HSET/HMSET/HSETNX check all their arguments first: `try_conversion`; every
   write also checks its own field and value: `set_field`), or
2) after a write, the hash holds more than `hash-max-listpack-entries` fields.

A Python dict keeps insertion order and updates in place, exactly like a listpack, so
HGETALL/HKEYS/HSCAN of a listpack hash come out in Redis's order; a hashtable's order
is unspecified in Redis and the dict's order stands in for it.

Mutate through `set_field` / `delete_field` so the encoding flag and the random sampler
(see types.set) stay right; `random_element` from types.set draws a field.
"""

from __future__ import annotations

from collections.abc import Iterable

from redkeep.server.keyspace import register_type


class Hash(dict):
    """A Redis hash: bytes field -> bytes value, plus the listpack-or-hashtable flag."""

    __slots__ = ("listpack", "sample")

    def __init__(self, items: Iterable[tuple[bytes, bytes]] | dict = (),
                 listpack: bool = True) -> None:
        super().__init__(items)
        self.listpack = listpack
        self.sample: list[bytes] | None = None

    def encoding(self) -> str:
        return "listpack" if self.listpack else "hashtable"

    def try_conversion(self, args: Iterable[bytes], max_value: int) -> None:
        """hashTypeTryConversion: convert before writing any over-long argument."""
        if self.listpack and any(len(a) > max_value for a in args):
            self.listpack = False

    def set_field(self, field: bytes, value: bytes, max_entries: int, max_value: int) -> bool:
        """hashTypeSet: True when the field was created (False: updated)."""
        if self.listpack and (len(field) > max_value or len(value) > max_value):
            self.listpack = False
        created = field not in self
        self[field] = value
        if created and self.sample is not None:
            self.sample.append(field)
        if self.listpack and len(self) > max_entries:
            self.listpack = False
        return created

    def delete_field(self, field: bytes) -> bool:
        if field in self:
            del self[field]
            return True
        return False

    def forget_sample(self) -> None:
        self.sample = None

    def copy(self) -> Hash:
        """hashTypeDup: same fields, same encoding."""
        return Hash(self, self.listpack)

    def __copy__(self) -> Hash:
        return self.copy()

    def __deepcopy__(self, memo: dict) -> Hash:
        return self.copy()

    def __reduce__(self) -> tuple:
        return (Hash, (list(self.items()), self.listpack))

    def __repr__(self) -> str:
        return f"Hash({dict.__repr__(self)}, {self.encoding()})"


register_type(Hash, b"hash")
