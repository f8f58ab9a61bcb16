"""List commands: pushes and pops at both ends, ranges, LPOS/LINSERT/LREM/LTRIM, the
moves between lists, LMPOP, and the blocking BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP.

Theory of operation
-------------------
Values are `types.list.List` (a deque). Each handler follows its Redis 7.0 function
(t_list.c) step by step, because the order in which arguments are parsed and keys are
looked up decides which error a bad call gets: LRANGE parses its indexes before it
looks at the key, LINDEX the other way round; BLPOP parses its timeout before it looks
at any key, BLMOVE only after both directions.

Every write changes the deque in place (or creates the key with `set_key`, which sends
"new"), then calls `signal_modified` (WATCH, memory, waking blocked clients), counts
`dirty` as Redis does (one per element pushed or removed, one per LSET/LINSERT/move)
and sends the keyspace events in Redis's order; a list emptied by a command deletes
its key and sends "del".

Blocking: a blocking handler first tries to serve at once. When nothing can be served
it either answers as on timeout (inside MULTI/EXEC or a script: `not c.can_block()`) or
queues the client with `server.blocking.block(...)`. When a key it waits for is written,
the blocking core runs the same handler again (`c.blocked` is then set) with
`blocking.serving` naming the key that became ready: like Redis 7.0, the client is served
from that key only, and a waited-for key that now holds another type is passed over
instead of failing (the client keeps waiting). A BLMOVE woken while its destination holds
another type gets WRONGTYPE and stops waiting, as in 7.0.

Propagation, as Redis 7.0.15 rewrites it: a BLPOP/BRPOP (served at once or later) goes
downstream as LPOP/RPOP key, LMPOP/BLMPOP as LPOP/RPOP key <number popped>, BLMOVE as
LMOVE (with its own direction words when served at once, "left"/"right" when served
later) and BRPOPLPUSH as RPOPLPUSH, so a replica never blocks.
"""

from __future__ import annotations

import math

from redkeep.resp.types import OK, NullArray
from redkeep.server import errors
from redkeep.server.arguments import parse_int
from redkeep.server.commands.strings import notify
from redkeep.server.config import NOTIFY_GENERIC, NOTIFY_LIST
from redkeep.server.connection import Client
from redkeep.server.errors import WRONGTYPE, CommandError
from redkeep.server.table import CommandTable
from redkeep.server.types.list import HEAD, TAIL, List

LONG_MAX = (1 << 63) - 1
_POP_NAME = {HEAD: b"LPOP", TAIL: b"RPOP"}   # what the pops propagate as
_WHERE_NAME = {HEAD: b"left", TAIL: b"right"}

TIMEOUT_NOT_FLOAT = "ERR timeout is not a float or out of range"
TIMEOUT_NEGATIVE = "ERR timeout is negative"
INDEX_OUT_OF_RANGE = "ERR index out of range"
POP_COUNT = "ERR value is out of range, must be positive"
NUMKEYS = "ERR numkeys should be greater than 0"
MPOP_COUNT = "ERR count should be greater than 0"
LPOS_RANK_ZERO = ("ERR RANK can't be zero: use 1 to start from the first match, 2 from the "
                  "second ... or use negative to start from the end of the list")
LPOS_COUNT = "ERR COUNT can't be negative"
LPOS_MAXLEN = "ERR MAXLEN can't be negative"


# ---- Arguments ----

def parse_where(arg: bytes) -> int:
    """getListPositionFromObjectOrReply: LEFT or RIGHT, any case."""
    low = arg.lower()
    if low == b"left":
        return HEAD
    if low == b"right":
        return TAIL
    raise CommandError(errors.SYNTAX)


def parse_timeout_ms(arg: bytes) -> int:
    """getTimeoutFromObjectOrReply in seconds, as 7.0.15 does it: a long double, times
    1000 in long double, rounded up (ceill); a result a long long cannot hold converts
    to LLONG_MIN and so reads as negative. 0 means wait forever."""
    if arg.isdigit() and len(arg) < 16:          # the usual "0" / "5": exact already
        return int(arg) * 1000
    from redkeep.server.commands.hashes import parse_long_double
    from redkeep.server.longdouble import round_to_long_double

    value = parse_long_double(arg)
    if value is None:
        raise CommandError(TIMEOUT_NOT_FLOAT)
    if isinstance(value, float):                 # +-inf: the cast gives LLONG_MIN
        raise CommandError(TIMEOUT_NEGATIVE)
    scaled = round_to_long_double(value * 1000)
    if isinstance(scaled, float):
        raise CommandError(TIMEOUT_NEGATIVE)
    ms = math.ceil(scaled)
    if ms < 0 or ms > LONG_MAX:
        raise CommandError(TIMEOUT_NEGATIVE)
    return ms


def _ranged_long(arg: bytes, message: str, low: int) -> int:
    """getRangeLongFromObjectOrReply(low, LONG_MAX, message): one text for both a
    non-number and a number out of range."""
    v = parse_int(arg, message)
    if v < low:
        raise CommandError(message)
    return v


# ---- Write helpers ----

def _lookup(c: Client, key: bytes, write: bool = True) -> List | None:
    return c.db.get_typed(key, List, write=write)


def _after_removal(c: Client, key: bytes, lst: List, event: str, removed: int) -> None:
    """listElementsRemoved: event, "del" if emptied, signal, dirty += removed."""
    db = c.db
    notify(c, NOTIFY_LIST, event, key)
    if lst:
        db.signal_modified(key)
    else:
        db.delete(key)
        notify(c, NOTIFY_GENERIC, "del", key)
    c.server.dirty += removed


def _push_into(c: Client, key: bytes, lst: List | None, values: list[bytes], where: int
               ) -> List:
    """Push `values` one by one at `where` (creating the key); event and dirty."""
    db = c.db
    if lst is None:
        lst = List()
        _extend(lst, values, where)
        db.set_key(key, lst)
    else:
        _extend(lst, values, where)
        db.signal_modified(key)
    c.server.dirty += len(values)
    notify(c, NOTIFY_LIST, "lpush" if where == HEAD else "rpush", key)
    return lst


def _extend(lst: List, values: list[bytes], where: int) -> None:
    if where == HEAD:
        lst.extendleft(values)
    else:
        lst.extend(values)


# ---- Push ----

def _push(c: Client, argv: list[bytes], where: int, only_existing: bool) -> int:
    key = argv[1]
    lst = _lookup(c, key)
    if lst is None and only_existing:
        return 0
    return len(_push_into(c, key, lst, argv[2:], where))


def cmd_lpush(c: Client, argv: list[bytes]) -> object:
    return _push(c, argv, HEAD, False)


def cmd_rpush(c: Client, argv: list[bytes]) -> object:
    return _push(c, argv, TAIL, False)


def cmd_lpushx(c: Client, argv: list[bytes]) -> object:
    return _push(c, argv, HEAD, True)


def cmd_rpushx(c: Client, argv: list[bytes]) -> object:
    return _push(c, argv, TAIL, True)


def cmd_linsert(c: Client, argv: list[bytes]) -> object:
    where = argv[2].lower()
    if where not in (b"before", b"after"):
        raise CommandError(errors.SYNTAX)
    key = argv[1]
    lst = _lookup(c, key)
    if lst is None:
        return 0
    if not lst.insert_near(argv[3], argv[4], where == b"after"):
        return -1
    c.db.signal_modified(key)
    notify(c, NOTIFY_LIST, "linsert", key)
    c.server.dirty += 1
    return len(lst)


# ---- Pop ----

def _pop(c: Client, argv: list[bytes], where: int) -> object:
    if len(argv) > 3:
        raise CommandError(errors.wrong_arity(c.cur_cmd.fullname))
    has_count = len(argv) == 3
    count = _ranged_long(argv[2], POP_COUNT, 0) if has_count else 0
    key = argv[1]
    lst = _lookup(c, key)
    if lst is None:
        return NullArray if has_count else None
    if has_count and count == 0:
        return []
    popped = lst.pop_many(where, count or 1)
    _after_removal(c, key, lst, "lpop" if where == HEAD else "rpop", len(popped))
    return popped if has_count else popped[0]


def cmd_lpop(c: Client, argv: list[bytes]) -> object:
    return _pop(c, argv, HEAD)


def cmd_rpop(c: Client, argv: list[bytes]) -> object:
    return _pop(c, argv, TAIL)


def _pop_with_key(c: Client, key: bytes, lst: List, where: int, count: int) -> list:
    """listPopRangeAndReplyWithKey: [key, [elements]], propagated as LPOP/RPOP key n."""
    popped = lst.pop_many(where, count)
    _after_removal(c, key, lst, "lpop" if where == HEAD else "rpop", len(popped))
    c.propagate_as = [[_POP_NAME[where], key, b"%d" % len(popped)]]
    return [key, popped]


# ---- Read ----

def cmd_llen(c: Client, argv: list[bytes]) -> object:
    lst = _lookup(c, argv[1], write=False)
    return 0 if lst is None else len(lst)


def cmd_lindex(c: Client, argv: list[bytes]) -> object:
    lst = _lookup(c, argv[1], write=False)
    if lst is None:
        return None
    return lst.get(parse_int(argv[2]))


def cmd_lrange(c: Client, argv: list[bytes]) -> object:
    start, end = parse_int(argv[2]), parse_int(argv[3])
    lst = _lookup(c, argv[1], write=False)
    return [] if lst is None else lst.range(start, end)


def cmd_lpos(c: Client, argv: list[bytes]) -> object:
    rank, count, maxlen = 1, -1, 0
    j = 3
    while j < len(argv):
        opt, more = argv[j].lower(), j + 1 < len(argv)
        if opt == b"rank" and more:
            rank = parse_int(argv[j + 1])
            if rank == 0:
                raise CommandError(LPOS_RANK_ZERO)
        elif opt == b"count" and more:
            count = _ranged_long(argv[j + 1], LPOS_COUNT, 0)
        elif opt == b"maxlen" and more:
            maxlen = _ranged_long(argv[j + 1], LPOS_MAXLEN, 0)
        else:
            raise CommandError(errors.SYNTAX)
        j += 2
    lst = _lookup(c, argv[1], write=False)
    if lst is None:
        return [] if count != -1 else None
    found = lst.positions(argv[2], rank, 1 if count == -1 else count, maxlen)
    if count != -1:
        return found
    return found[0] if found else None


# ---- Modify in place ----

def cmd_lset(c: Client, argv: list[bytes]) -> object:
    key = argv[1]
    lst = _lookup(c, key)
    if lst is None:
        raise CommandError(errors.NO_SUCH_KEY)
    if not lst.replace(parse_int(argv[2]), argv[3]):
        raise CommandError(INDEX_OUT_OF_RANGE)
    c.db.signal_modified(key)
    notify(c, NOTIFY_LIST, "lset", key)
    c.server.dirty += 1
    return OK


def cmd_lrem(c: Client, argv: list[bytes]) -> object:
    count = parse_int(argv[2])
    key = argv[1]
    lst = _lookup(c, key)
    if lst is None:
        return 0
    removed = lst.remove_matches(argv[3], count)
    db = c.db
    if removed:
        c.server.dirty += removed
        db.signal_modified(key)
        notify(c, NOTIFY_LIST, "lrem", key)
    if not lst:
        db.delete(key)
        notify(c, NOTIFY_GENERIC, "del", key)
    return removed


def cmd_ltrim(c: Client, argv: list[bytes]) -> object:
    start, end = parse_int(argv[2]), parse_int(argv[3])
    key = argv[1]
    lst = _lookup(c, key)
    if lst is None:
        return OK
    _after_removal(c, key, lst, "ltrim", lst.trim(start, end))
    return OK


# ---- Moves between lists ----

def _move(c: Client, src_key: bytes, dst_key: bytes, wherefrom: int, whereto: int) -> object:
    """lmoveGenericCommand: the source must hold a list (None otherwise); the
    destination is checked only when there is something to move."""
    src = _lookup(c, src_key)
    if src is None:
        return None
    return _move_from(c, src, src_key, dst_key, wherefrom, whereto)


def _move_from(c: Client, src: List, src_key: bytes, dst_key: bytes, wherefrom: int,
               whereto: int) -> bytes:
    dst = _lookup(c, dst_key)           # looked up before the pop: for src == dst it
    value = src.popleft() if wherefrom == HEAD else src.pop()   # is the same object
    _push_into_unchecked(c, dst_key, dst, value, whereto)
    _after_removal(c, src_key, src, "lpop" if wherefrom == HEAD else "rpop", 1)
    return value


def _push_into_unchecked(c: Client, key: bytes, lst: List | None, value: bytes, where: int
                         ) -> None:
    """lmoveHandlePush: create if needed, push one element, event (no dirty)."""
    db = c.db
    if lst is None:
        db.set_key(key, List((value,)))
    else:
        if where == HEAD:
            lst.appendleft(value)
        else:
            lst.append(value)
        db.signal_modified(key)
    notify(c, NOTIFY_LIST, "lpush" if where == HEAD else "rpush", key)


def cmd_rpoplpush(c: Client, argv: list[bytes]) -> object:
    return _move(c, argv[1], argv[2], TAIL, HEAD)


def cmd_lmove(c: Client, argv: list[bytes]) -> object:
    wherefrom, whereto = parse_where(argv[3]), parse_where(argv[4])
    return _move(c, argv[1], argv[2], wherefrom, whereto)


# ---- LMPOP ----

def _parse_mpop(argv: list[bytes], numkeys_idx: int) -> tuple[list[bytes], int, int]:
    """lmpopGenericCommand's parsing: (keys, where, count)."""
    numkeys = _ranged_long(argv[numkeys_idx], NUMKEYS, 1)
    where_idx = numkeys_idx + numkeys + 1
    if where_idx >= len(argv):
        raise CommandError(errors.SYNTAX)
    where = parse_where(argv[where_idx])
    count = -1
    j = where_idx + 1
    while j < len(argv):
        if count == -1 and argv[j].lower() == b"count" and j + 1 < len(argv):
            count = _ranged_long(argv[j + 1], MPOP_COUNT, 1)
            j += 2
        else:
            raise CommandError(errors.SYNTAX)
    return argv[numkeys_idx + 1:where_idx], where, (1 if count == -1 else count)


def cmd_lmpop(c: Client, argv: list[bytes]) -> object:
    keys, where, count = _parse_mpop(argv, 1)
    for key in keys:
        lst = _lookup(c, key)
        if lst is not None:
            return _pop_with_key(c, key, lst, where, count)
    return NullArray


# ---- Blocking ----

def _keys_to_try(c: Client, keys: list[bytes]) -> tuple[list[bytes], bool]:
    """(keys to look at, retry?): a retry only looks at the key being served."""
    if c.blocked is None:
        return keys, False
    serving = c.server.blocking.serving
    if serving is not None and serving[0] is c.db and serving[1] in keys:
        return [serving[1]], True
    return keys, True


def _find_list(c: Client, keys: list[bytes]) -> tuple[bytes, List] | None:
    """The first key holding a list; WRONGTYPE for another type, except on a retry."""
    candidates, retry = _keys_to_try(c, keys)
    db = c.db
    for key in candidates:
        value = db.lookup_write(key)
        if value is None:
            continue
        if type(value) is not List:
            if retry:
                continue
            raise CommandError(WRONGTYPE)
        return key, value
    return None


def _block(c: Client, keys: list[bytes], timeout_ms: int, timeout_reply: object) -> object:
    if not c.can_block():
        return timeout_reply
    # block() takes seconds and rounds down to ms: the half keeps the exact ms count.
    seconds = (timeout_ms + 0.5) / 1000 if timeout_ms else 0
    return c.server.blocking.block(c, keys, seconds, timeout_reply)


def _blocking_pop(c: Client, keys: list[bytes], where: int, count: int, timeout_ms: int
                  ) -> object:
    """blockingPopGenericCommand: count -1 for BLPOP/BRPOP ([key, element]), else BLMPOP
    ([key, [elements]])."""
    found = _find_list(c, keys)
    if found is None:
        return _block(c, keys, timeout_ms, NullArray)
    key, lst = found
    if count != -1:
        return _pop_with_key(c, key, lst, where, count)
    value = lst.popleft() if where == HEAD else lst.pop()
    _after_removal(c, key, lst, "lpop" if where == HEAD else "rpop", 1)
    c.propagate_as = [[_POP_NAME[where], key]]
    return [key, value]


def cmd_blpop(c: Client, argv: list[bytes]) -> object:
    timeout = parse_timeout_ms(argv[-1])
    return _blocking_pop(c, argv[1:-1], HEAD, -1, timeout)


def cmd_brpop(c: Client, argv: list[bytes]) -> object:
    timeout = parse_timeout_ms(argv[-1])
    return _blocking_pop(c, argv[1:-1], TAIL, -1, timeout)


def cmd_blmpop(c: Client, argv: list[bytes]) -> object:
    keys, where, count = _parse_mpop(argv, 2)
    timeout = parse_timeout_ms(argv[1])
    return _blocking_pop(c, keys, where, count, timeout)


def _blocking_move(c: Client, argv: list[bytes], wherefrom: int, whereto: int,
                   timeout_ms: int) -> object:
    """blmoveGenericCommand. The timeout reply is a null *array* (what 7.0 sends to any
    list waiter that times out); inside MULTI it is a plain null."""
    found = _find_list(c, [argv[1]])
    if found is None:
        if not c.can_block():
            return None
        return _block(c, [argv[1]], timeout_ms, NullArray)
    value = _move_from(c, found[1], argv[1], argv[2], wherefrom, whereto)
    if len(argv) == 4:
        c.propagate_as = [[b"RPOPLPUSH", argv[1], argv[2]]]
    elif c.blocked is None:        # served at once: its own words
        c.propagate_as = [[b"LMOVE", *argv[1:5]]]
    else:                          # served later: Redis writes the directions itself
        c.propagate_as = [[b"LMOVE", argv[1], argv[2], _WHERE_NAME[wherefrom],
                           _WHERE_NAME[whereto]]]
    return value


def cmd_blmove(c: Client, argv: list[bytes]) -> object:
    wherefrom, whereto = parse_where(argv[3]), parse_where(argv[4])
    timeout = parse_timeout_ms(argv[5])
    return _blocking_move(c, argv, wherefrom, whereto, timeout)


def cmd_brpoplpush(c: Client, argv: list[bytes]) -> object:
    timeout = parse_timeout_ms(argv[3])
    return _blocking_move(c, argv, TAIL, HEAD, timeout)


# ---- Table ----

def register(table: CommandTable) -> None:
    def add(name: str, handler: object, arity: int, flags: str, first: int, last: int,
            cats: str) -> None:
        table.add(name, handler, arity, flags, first, last, 1 if first else 0,
                  group="list", categories=cats)

    w_fast, w_slow = "@write @list @fast", "@write @list @slow"
    r_fast, r_slow = "@read @list @fast", "@read @list @slow"
    blocking = "@write @list @slow @blocking"
    for name, handler in (("lpush", cmd_lpush), ("rpush", cmd_rpush),
                          ("lpushx", cmd_lpushx), ("rpushx", cmd_rpushx)):
        add(name, handler, -3, "write denyoom fast", 1, 1, w_fast)
    add("lpop", cmd_lpop, -2, "write fast", 1, 1, w_fast)
    add("rpop", cmd_rpop, -2, "write fast", 1, 1, w_fast)
    add("llen", cmd_llen, 2, "readonly fast", 1, 1, r_fast)
    add("lrange", cmd_lrange, 4, "readonly", 1, 1, r_slow)
    add("lindex", cmd_lindex, 3, "readonly", 1, 1, r_slow)
    add("lset", cmd_lset, 4, "write denyoom", 1, 1, w_slow)
    add("linsert", cmd_linsert, 5, "write denyoom", 1, 1, w_slow)
    add("lrem", cmd_lrem, 4, "write", 1, 1, w_slow)
    add("ltrim", cmd_ltrim, 4, "write", 1, 1, w_slow)
    add("lpos", cmd_lpos, -3, "readonly", 1, 1, r_slow)
    add("rpoplpush", cmd_rpoplpush, 3, "write denyoom", 1, 2, w_slow)
    add("lmove", cmd_lmove, 5, "write denyoom", 1, 2, w_slow)
    add("lmpop", cmd_lmpop, -4, "write movablekeys", 0, 0, w_slow)
    add("blpop", cmd_blpop, -3, "write noscript blocking", 1, -2, blocking)
    add("brpop", cmd_brpop, -3, "write noscript blocking", 1, -2, blocking)
    add("blmove", cmd_blmove, 6, "write denyoom noscript blocking", 1, 2, blocking)
    add("brpoplpush", cmd_brpoplpush, 4, "write denyoom noscript blocking", 1, 2, blocking)
    add("blmpop", cmd_blmpop, -5, "write blocking movablekeys", 0, 0, blocking)
