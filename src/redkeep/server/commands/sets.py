"""Set commands: SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP SRANDMEMBER SMOVE
SINTER SINTERCARD SUNION SDIFF SINTERSTORE SUNIONSTORE SDIFFSTORE SSCAN.

Replies, error texts, `server.dirty` counts and keyspace events follow Redis 7.0.15's
t_set.c. The intset/hashtable rules live in types.set; they decide reply order where
Redis's is defined: an intset iterates in numeric order, and the results of SUNION,
SDIFF (and SPOP/SRANDMEMBER taking the whole set) are built in an intset first, so they
come out sorted whenever they are all integers and few enough. SINTER walks the smallest
set. Random choices (SPOP, SRANDMEMBER) use the sampler of types.set.

Propagation: SPOP's choice is random, so it goes downstream as what it removed, as in
Redis 7.0.15 — one `SREM key member` per popped member (several are wrapped in
MULTI/EXEC by the propagator), or `DEL key` when the count took the whole set.
"""

from __future__ import annotations

from typing import Any

from redkeep.resp.parser import parse_ll
from redkeep.resp.types import SetReply
from redkeep.server import errors
from redkeep.server.arguments import parse_int
from redkeep.server.commands.keys import parse_scan_cursor, parse_scan_options, remove_elements
from redkeep.server.commands.strings import notify
from redkeep.server.config import NOTIFY_GENERIC, NOTIFY_SET
from redkeep.server.connection import Client
from redkeep.server.errors import CommandError
from redkeep.server.glob import stringmatch
from redkeep.server.scan import cursors_for
from redkeep.server.table import CommandTable
from redkeep.server.types.set import Set, default_rng, random_element

LONG_MAX = 9223372036854775807
SPOP_MOVE_STRATEGY_MUL = 5
SRANDMEMBER_SUB_STRATEGY_MUL = 3
NOT_POSITIVE = "ERR value is out of range, must be positive"

EMPTY_SCAN = [b"0", []]


# ---- Helpers ----

def _read(c: Client, key: bytes) -> Set | None:
    return c.db.get_typed(key, Set)


def _for_write(c: Client, key: bytes) -> Set | None:
    return c.db.get_typed(key, Set, write=True)


def _max_intset(c: Client) -> int:
    return c.server.config.set_max_intset_entries


def _rng(c: Client) -> Any:
    return getattr(c.server, "rng", None) or default_rng()


def _add_new_key(c: Client, key: bytes, value: Set) -> None:
    """dbAdd: a key that did not exist (set_key sends the "new" event)."""
    c.db.set_key(key, value)


def _store(c: Client, key: bytes, value: Set) -> None:
    """setKey: replace whatever the key held (TTL dropped; "new" if it was missing or
    logically expired)."""
    c.db.lookup_write(key)
    c.db.set_key(key, value)


def _emptied(c: Client, key: bytes) -> None:
    c.db.delete(key)
    notify(c, NOTIFY_GENERIC, "del", key)


def _parse_positive(arg: bytes, message: str) -> int:
    """getPositiveLongFromObjectOrReply with a custom message."""
    v = parse_ll(arg)
    if v is None or v < 0:
        raise CommandError(message)
    return v


# ---- SADD SREM SMOVE ----

def cmd_sadd(c: Client, argv: list[bytes]) -> object:
    key = argv[1]
    s = _for_write(c, key)
    if s is None:
        s = Set.for_member(argv[2])
        _add_new_key(c, key, s)
    limit = _max_intset(c)
    added = 0
    for m in argv[2:]:
        added += s.add_member(m, limit)
    if added:
        c.db.signal_modified(key)
        notify(c, NOTIFY_SET, "sadd", key)
    c.server.dirty += added
    return added


def cmd_srem(c: Client, argv: list[bytes]) -> object:
    key = argv[1]
    s = _for_write(c, key)
    if s is None:
        return 0
    return remove_elements(c, key, s, argv[2:], s.remove_member, NOTIFY_SET, "srem")


def cmd_smove(c: Client, argv: list[bytes]) -> object:
    src_key, dst_key, member = argv[1], argv[2], argv[3]
    db = c.db
    src = db.lookup_write(src_key)
    dst = db.lookup_write(dst_key)
    if src is None:
        return 0
    if type(src) is not Set or (dst is not None and type(dst) is not Set):
        raise CommandError(errors.WRONGTYPE)
    if src is dst:
        return int(member in src)
    if not src.remove_member(member):
        return 0
    notify(c, NOTIFY_SET, "srem", src_key)
    if not src:
        _emptied(c, src_key)
    else:
        db.signal_modified(src_key)
    if dst is None:
        dst = Set.for_member(member)
        _add_new_key(c, dst_key, dst)
    c.server.dirty += 1
    if dst.add_member(member, _max_intset(c)):
        c.server.dirty += 1
        db.signal_modified(dst_key)
        notify(c, NOTIFY_SET, "sadd", dst_key)
    return 1


# ---- Membership and size ----

def cmd_sismember(c: Client, argv: list[bytes]) -> object:
    s = _read(c, argv[1])
    return int(s is not None and argv[2] in s)


def cmd_smismember(c: Client, argv: list[bytes]) -> object:
    s = _read(c, argv[1])
    if s is None:
        return [0] * (len(argv) - 2)
    return [int(m in s) for m in argv[2:]]


def cmd_scard(c: Client, argv: list[bytes]) -> object:
    s = _read(c, argv[1])
    return 0 if s is None else len(s)


# ---- SPOP SRANDMEMBER ----

def cmd_spop(c: Client, argv: list[bytes]) -> object:
    if len(argv) == 3:
        return _spop_count(c, argv[1], _parse_positive(argv[2], NOT_POSITIVE))
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    key = argv[1]
    s = _for_write(c, key)
    if s is None:
        return None
    member = random_element(s, _rng(c))
    s.remove_member(member)
    notify(c, NOTIFY_SET, "spop", key)
    if not s:
        _emptied(c, key)
    else:
        c.db.signal_modified(key)
    c.server.dirty += 1
    c.propagate_as = [[b"SREM", key, member]]
    return member


def _spop_count(c: Client, key: bytes, count: int) -> object:
    s = _for_write(c, key)
    if s is None or count == 0:
        return SetReply()
    size = len(s)
    notify(c, NOTIFY_SET, "spop", key)
    c.server.dirty += min(count, size)
    if count >= size:                      # the whole set, as SUNION of it
        reply = SetReply(_union_order([s], _max_intset(c)))
        _emptied(c, key)
        c.propagate_as = [[b"DEL", key]]
        return reply
    rng = _rng(c)
    remaining = size - count
    if remaining * SPOP_MOVE_STRATEGY_MUL > count:
        popped = SetReply()
        for _ in range(count):
            member = random_element(s, rng)
            s.remove_member(member)
            popped.append(member)
        c.db.signal_modified(key)
        c.propagate_as = [[b"SREM", key, m] for m in popped]
        return popped
    kept = rng.sample(list(s), remaining)  # keep a few, return the rest
    keep = set(kept)
    reply = SetReply(m for m in s.ordered() if m not in keep)
    c.db.set_key(key, Set.build(kept, _max_intset(c)), keep_ttl=True)
    c.propagate_as = [[b"SREM", key, m] for m in reply]
    return reply


def cmd_srandmember(c: Client, argv: list[bytes]) -> object:
    if len(argv) == 3:
        count = parse_int(argv[2])
        if count < -LONG_MAX:
            raise CommandError(errors.int_out_of_range(-LONG_MAX, LONG_MAX))
        return _srandmember_count(c, argv[1], count)
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    s = _read(c, argv[1])
    if s is None:
        return None
    return random_element(s, _rng(c))


def _srandmember_count(c: Client, key: bytes, count: int) -> object:
    s = _read(c, key)
    if s is None or count == 0:
        return []
    rng = _rng(c)
    if count < 0 or count == 1:
        return [random_element(s, rng) for _ in range(abs(count))]
    if count >= len(s):
        return s.ordered()
    if count * SRANDMEMBER_SUB_STRATEGY_MUL > len(s):
        return rng.sample(list(s), count)
    picked: dict[bytes, None] = {}
    while len(picked) < count:
        picked[random_element(s, rng)] = None
    return list(picked)


# ---- SINTER SINTERCARD SINTERSTORE ----

def _lookup_sets(c: Client, keys: list[bytes]) -> list[Set | None]:
    """Each key's set (None when missing); WRONGTYPE at the first wrong key."""
    return [_read(c, k) for k in keys]


def _intersection(sets: list[Set], limit: int = 0) -> list[bytes]:
    """sinterGenericCommand's walk: the smallest set's members found in all others."""
    ordered = sorted(sets, key=len)
    first, others = ordered[0], [s for s in ordered[1:] if s is not ordered[0]]
    out = []
    for m in first.ordered():
        if all(m in s for s in others):
            out.append(m)
            if limit and len(out) >= limit:
                break
    return out


def cmd_sinter(c: Client, argv: list[bytes]) -> object:
    sets = _lookup_sets(c, argv[1:])
    if any(s is None for s in sets):
        return SetReply()
    return SetReply(_intersection(sets))   # type: ignore[arg-type]


def cmd_smembers(c: Client, argv: list[bytes]) -> object:
    s = _read(c, argv[1])
    return SetReply() if s is None else SetReply(s.ordered())


def cmd_sintercard(c: Client, argv: list[bytes]) -> object:
    numkeys = parse_ll(argv[1])
    if numkeys is None or numkeys < 1:
        raise CommandError("ERR numkeys should be greater than 0")
    if numkeys > len(argv) - 2:
        raise CommandError("ERR Number of keys can't be greater than number of args")
    limit = 0
    i = 2 + numkeys
    while i < len(argv):
        if argv[i].lower() == b"limit" and i + 1 < len(argv):
            limit = _parse_positive(argv[i + 1], "ERR LIMIT can't be negative")
            i += 2
        else:
            raise CommandError(errors.SYNTAX)
    sets = _lookup_sets(c, argv[2:2 + numkeys])
    if any(s is None for s in sets):
        return 0
    return len(_intersection(sets, limit))   # type: ignore[arg-type]


def _store_result(c: Client, dst: bytes, members: list[bytes], event: str) -> int:
    if members:
        _store(c, dst, Set.build(members, _max_intset(c)))
        notify(c, NOTIFY_SET, event, dst)
        c.server.dirty += 1
        return len(members)
    if c.db.delete(dst):
        c.server.dirty += 1
        notify(c, NOTIFY_GENERIC, "del", dst)
    return 0


def cmd_sinterstore(c: Client, argv: list[bytes]) -> object:
    sets = _lookup_sets(c, argv[2:])
    members = [] if any(s is None for s in sets) else _intersection(sets)  # type: ignore
    return _store_result(c, argv[1], members, "sinterstore")


# ---- SUNION SDIFF and their STORE forms ----

def _union_order(sets: list[Set], max_intset: int) -> list[bytes]:
    """Members of the union in the order Redis's result set iterates them."""
    merged: dict[bytes, None] = {}
    for s in sets:
        merged.update(dict.fromkeys(s.ordered()))
    return Set.build(merged, max_intset).ordered() if merged else []


def _difference(sets: list[Set | None]) -> list[bytes]:
    first = sets[0]
    if first is None or any(s is first for s in sets[1:]):
        return []
    others = [s for s in sets[1:] if s is not None]
    return [m for m in first.ordered() if not any(m in s for s in others)]


def _result_order(members: list[bytes], max_intset: int) -> list[bytes]:
    return Set.build(members, max_intset).ordered() if members else []


def cmd_sunion(c: Client, argv: list[bytes]) -> object:
    sets = [s for s in _lookup_sets(c, argv[1:]) if s is not None]
    return SetReply(_union_order(sets, _max_intset(c)))


def cmd_sunionstore(c: Client, argv: list[bytes]) -> object:
    sets = [s for s in _lookup_sets(c, argv[2:]) if s is not None]
    return _store_result(c, argv[1], _union_order(sets, _max_intset(c)), "sunionstore")


def cmd_sdiff(c: Client, argv: list[bytes]) -> object:
    members = _difference(_lookup_sets(c, argv[1:]))
    return SetReply(_result_order(members, _max_intset(c)))


def cmd_sdiffstore(c: Client, argv: list[bytes]) -> object:
    members = _difference(_lookup_sets(c, argv[2:]))
    return _store_result(c, argv[1], members, "sdiffstore")


# ---- SSCAN ----

def cmd_sscan(c: Client, argv: list[bytes]) -> object:
    cursor = parse_scan_cursor(argv[2])
    s = _read(c, argv[1])
    if s is None:
        return EMPTY_SCAN
    count, pattern, _ = parse_scan_options(argv, 3, False)
    if s.intset:
        members: Any = s.ordered()
        cursor = 0
    else:
        cursor, members = cursors_for(c.server.keyspace).scan(s, cursor, count,
                                                              (c.server.dirty,))
    if pattern is not None:
        members = [m for m in members if stringmatch(pattern, m)]
    return [b"%d" % cursor, list(members)]


def register(table: CommandTable) -> None:
    def add(name: str, handler: Any, arity: int, flags: str, first: int, last: int,
            cats: str) -> None:
        table.add(name, handler, arity, flags, first, last, 1 if first else 0, group="set",
                  categories=cats)

    add("sadd", cmd_sadd, -3, "write denyoom fast", 1, 1, "@write @set @fast")
    add("srem", cmd_srem, -3, "write fast", 1, 1, "@write @set @fast")
    add("smembers", cmd_smembers, 2, "readonly", 1, 1, "@read @set @slow")
    add("sismember", cmd_sismember, 3, "readonly fast", 1, 1, "@read @set @fast")
    add("smismember", cmd_smismember, -3, "readonly fast", 1, 1, "@read @set @fast")
    add("scard", cmd_scard, 2, "readonly fast", 1, 1, "@read @set @fast")
    add("spop", cmd_spop, -2, "write fast", 1, 1, "@write @set @fast")
    add("srandmember", cmd_srandmember, -2, "readonly", 1, 1, "@read @set @slow")
    add("smove", cmd_smove, 4, "write fast", 1, 2, "@write @set @fast")
    add("sinter", cmd_sinter, -2, "readonly", 1, -1, "@read @set @slow")
    add("sintercard", cmd_sintercard, -3, "readonly movablekeys", 0, 0, "@read @set @slow")
    add("sunion", cmd_sunion, -2, "readonly", 1, -1, "@read @set @slow")
    add("sdiff", cmd_sdiff, -2, "readonly", 1, -1, "@read @set @slow")
    add("sinterstore", cmd_sinterstore, -3, "write denyoom", 1, -1, "@write @set @slow")
    add("sunionstore", cmd_sunionstore, -3, "write denyoom", 1, -1, "@write @set @slow")
    add("sdiffstore", cmd_sdiffstore, -3, "write denyoom", 1, -1, "@write @set @slow")
    add("sscan", cmd_sscan, -3, "readonly", 1, 1, "@read @set @slow")
