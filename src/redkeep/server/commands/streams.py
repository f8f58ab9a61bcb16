"""Stream commands: XADD XRANGE XREVRANGE XLEN XDEL XTRIM (no consumer groups yet).

Propagation, as Redis 7.0.15 rewrites it (xaddCommand, xtrimCommand): an ID made by the
server (`*` or `<ms>-*`) goes downstream as the ID it became, and an approximate trim
(`~`, maybe with LIMIT) as the exact trim it amounted to — `~` becomes `=` and the
threshold the stream's length (MAXLEN) or its first ID (MINID; the largest ID when it
is empty) after trimming. The master's link (and AOF loading) may therefore send LIMIT
without `~`: from those clients LIMIT is accepted and ignored (mustObeyClient).
"""

from __future__ import annotations

from redkeep.resp.types import NullArray
from redkeep.server import errors
from redkeep.server.arguments import parse_int
from redkeep.server.commands.strings import modified, notify
from redkeep.server.config import NOTIFY_STREAM
from redkeep.server.connection import Client
from redkeep.server.errors import CommandError
from redkeep.server.table import CommandTable
from redkeep.server.types.stream import Stream, StreamID

U64 = (1 << 64) - 1
INVALID_ID = "ERR Invalid stream ID specified as stream command argument"


def format_id(sid: StreamID) -> bytes:
    return b"%d-%d" % sid


def parse_id(arg: bytes, missing_seq: int = 0, error: str = INVALID_ID) -> StreamID:
    """streamParseID: "<ms>" or "<ms>-<seq>", unsigned 64-bit parts."""
    ms_part, dash, seq_part = arg.partition(b"-")
    ms = _u64(ms_part, error)
    seq = _u64(seq_part, error) if dash else missing_seq
    return ms, seq


def _u64(s: bytes, error: str) -> int:
    if not s or not s.isdigit() or len(s) > 20:
        raise CommandError(error)
    v = int(s)
    if v > U64:
        raise CommandError(error)
    return v


def parse_range_bound(arg: bytes, is_start: bool) -> StreamID | None:
    """XRANGE bounds: - + and "(" exclusive IDs; None means the range is empty."""
    if arg == b"-":
        return (0, 0)
    if arg == b"+":
        return (U64, U64)
    exclusive = arg.startswith(b"(")
    sid = parse_id(arg[1:] if exclusive else arg, 0 if is_start else U64)
    if not exclusive:
        return sid
    ms, seq = sid
    if is_start:
        if seq < U64:
            return ms, seq + 1
        if ms < U64:
            return ms + 1, 0
        raise CommandError("ERR invalid start ID for the interval")
    if seq > 0:
        return ms, seq - 1
    if ms > 0:
        return ms - 1, U64
    raise CommandError("ERR invalid end ID for the interval")


def _get_stream(c: Client, key: bytes, write: bool = False) -> Stream | None:
    return c.db.get_typed(key, Stream, write=write)


# ---- Trimming arguments (XADD and XTRIM) ----

MAX_ID = b"%d-%d" % (U64, U64)


class TrimSpec:
    __slots__ = ("strategy", "approx", "threshold", "limit", "arg_idx")

    def __init__(self) -> None:
        self.strategy: bytes | None = None
        self.approx = False
        self.threshold: object = None
        self.limit = -1
        self.arg_idx = 0            # where the threshold argument is (for the rewrite)


def _parse_trim(argv: list[bytes], i: int, spec: TrimSpec) -> int:
    """Parse MAXLEN|MINID [=|~] threshold at argv[i]; returns the next index."""
    spec.strategy = argv[i].lower()
    i += 1
    if i < len(argv) and argv[i] in (b"=", b"~"):
        spec.approx = argv[i] == b"~"
        i += 1
    if i >= len(argv):
        raise CommandError(errors.SYNTAX)
    spec.arg_idx = i
    if spec.strategy == b"maxlen":
        n = parse_int(argv[i])
        if n < 0:
            raise CommandError("ERR The MAXLEN argument must be >= 0.")
        spec.threshold = n
    else:
        spec.threshold = parse_id(argv[i])
    return i + 1


def _apply_trim(s: Stream, spec: TrimSpec) -> int:
    if spec.strategy is None:
        return 0
    limit = spec.limit if spec.limit >= 0 else (100 * 100 if spec.approx else 0)
    if spec.strategy == b"maxlen":
        return s.trim_maxlen(spec.threshold, spec.approx, limit)  # type: ignore[arg-type]
    return s.trim_minid(spec.threshold, spec.approx, limit)  # type: ignore[arg-type]


def _check_limit(c: Client, spec: TrimSpec) -> None:
    """LIMIT needs `~`, except from the master's link or the AOF (Redis's mustObeyClient:
    what they send was rewritten to an exact trim), where it is ignored."""
    if c.kind in ("master", "aof"):
        spec.limit = 0
    elif spec.limit >= 0 and not spec.approx:
        raise CommandError("ERR syntax error, LIMIT cannot be used without the special ~ option")


def _rewrite_trim(prop: list[bytes], s: Stream, spec: TrimSpec) -> None:
    """streamRewriteApproxSpecifier + streamRewriteTrimArgument: `~` -> `=` and the
    threshold that gives the same stream when trimmed exactly."""
    prop[spec.arg_idx - 1] = b"="
    if spec.strategy == b"maxlen":
        prop[spec.arg_idx] = b"%d" % len(s)
    else:
        prop[spec.arg_idx] = format_id(s.ids[0]) if s.ids else MAX_ID


def _parse_limit(argv: list[bytes], i: int, spec: TrimSpec) -> int:
    if i + 1 >= len(argv):
        raise CommandError(errors.SYNTAX)
    n = parse_int(argv[i + 1])
    if n < 0:
        raise CommandError("ERR The LIMIT argument must be >= 0.")
    spec.limit = n
    return i + 2


# ---- Commands ----

def cmd_xadd(c: Client, argv: list[bytes]) -> object:
    key, spec, nomkstream, i = argv[1], TrimSpec(), False, 2
    while i < len(argv):
        opt = argv[i].lower()
        if opt == b"nomkstream":
            nomkstream, i = True, i + 1
        elif opt in (b"maxlen", b"minid"):
            i = _parse_trim(argv, i, spec)
        elif opt == b"limit":
            i = _parse_limit(argv, i, spec)
        else:
            break
    _check_limit(c, spec)
    if i >= len(argv) or (len(argv) - i - 1) % 2 or len(argv) - i - 1 == 0:
        raise CommandError(errors.wrong_arity("xadd"))
    id_arg, fields = argv[i], argv[i + 1:]
    explicit = None if id_arg == b"*" else id_arg
    s = _get_stream(c, key, write=True)
    if s is None and nomkstream:
        return None
    sid = _next_id(c, s, explicit)
    if s is None:
        s = Stream()
        c.db.set_key(key, s)
    s.add(sid, [(fields[j], fields[j + 1]) for j in range(0, len(fields), 2)])
    c.db.signal_modified(key)
    modified(c, key, "xadd", NOTIFY_STREAM)
    if _apply_trim(s, spec):          # XADD counts one change, whatever it trimmed
        c.db.signal_modified(key)
        notify(c, NOTIFY_STREAM, "xtrim", key)
    server_made = explicit is None or explicit.endswith(b"-*")
    if server_made or spec.approx:
        prop = list(argv)
        if server_made:
            prop[i] = format_id(sid)
        if spec.approx:
            _rewrite_trim(prop, s, spec)
        c.propagate_as = [prop]
    return format_id(sid)


def _next_id(c: Client, s: Stream | None, explicit: bytes | None) -> StreamID:
    last = s.last_id if s is not None else (0, 0)
    if explicit is None:
        ms = max(c.server.clock.wall_ms(), last[0])
        if ms == last[0]:
            if last[1] == U64:
                raise CommandError("ERR The stream has exhausted the last possible ID, "
                                   "unable to add more items")
            return ms, last[1] + 1
        return ms, 0
    if explicit.endswith(b"-*"):
        ms = _u64(explicit[:-2], INVALID_ID)
        sid = (ms, last[1] + 1 if ms == last[0] else 0)
        if ms < last[0] or (ms == last[0] and last[1] == U64):
            raise CommandError("ERR The ID specified in XADD is equal or smaller than the "
                               "target stream top item")
    else:
        sid = parse_id(explicit)
    if sid == (0, 0):
        raise CommandError("ERR The ID specified in XADD must be greater than 0-0")
    if sid <= last:
        raise CommandError("ERR The ID specified in XADD is equal or smaller than the target "
                           "stream top item")
    return sid


def _range(c: Client, argv: list[bytes], rev: bool) -> object:
    lo_arg, hi_arg = (argv[3], argv[2]) if rev else (argv[2], argv[3])
    start = parse_range_bound(lo_arg, True)
    end = parse_range_bound(hi_arg, False)
    count = None
    if len(argv) > 4:
        if len(argv) != 6 or argv[4].lower() != b"count":
            raise CommandError(errors.SYNTAX)
        count = max(0, parse_int(argv[5]))
    if count == 0:  # Redis answers COUNT 0 (and negative counts) with a null array
        return NullArray
    s = _get_stream(c, argv[1])
    if s is None or start > end:
        return []
    return [[format_id(sid), [x for pair in fields for x in pair]]
            for sid, fields in s.range(start, end, count, rev)]


def cmd_xrange(c: Client, argv: list[bytes]) -> object:
    return _range(c, argv, False)


def cmd_xrevrange(c: Client, argv: list[bytes]) -> object:
    return _range(c, argv, True)


def cmd_xlen(c: Client, argv: list[bytes]) -> object:
    s = _get_stream(c, argv[1])
    return 0 if s is None else len(s)


def cmd_xdel(c: Client, argv: list[bytes]) -> object:
    ids = [parse_id(a) for a in argv[2:]]
    s = _get_stream(c, argv[1], write=True)
    if s is None:
        return 0
    deleted = s.delete_ids(ids)
    if deleted:
        c.db.signal_modified(argv[1])
        notify(c, NOTIFY_STREAM, "xdel", argv[1])
        c.server.dirty += deleted                 # one change per entry deleted
    return deleted


def cmd_xtrim(c: Client, argv: list[bytes]) -> object:
    spec = TrimSpec()
    if argv[2].lower() not in (b"maxlen", b"minid"):
        raise CommandError(errors.SYNTAX)
    i = _parse_trim(argv, 2, spec)
    while i < len(argv):
        if argv[i].lower() != b"limit":
            raise CommandError(errors.SYNTAX)
        i = _parse_limit(argv, i, spec)
    _check_limit(c, spec)
    s = _get_stream(c, argv[1], write=True)
    if s is None:
        return 0
    trimmed = _apply_trim(s, spec)
    if trimmed:
        c.db.signal_modified(argv[1])
        notify(c, NOTIFY_STREAM, "xtrim", argv[1])
        c.server.dirty += trimmed                 # one change per entry trimmed
        if spec.approx:
            prop = list(argv)
            _rewrite_trim(prop, s, spec)
            c.propagate_as = [prop]
    return trimmed


def register(table: CommandTable) -> None:
    g = "stream"
    table.add("xadd", cmd_xadd, -5, "write denyoom fast", 1, 1, 1, group=g, categories="@stream")
    table.add("xrange", cmd_xrange, -4, "readonly", 1, 1, 1, group=g, categories="@stream")
    table.add("xrevrange", cmd_xrevrange, -4, "readonly", 1, 1, 1, group=g,
              categories="@stream")
    table.add("xlen", cmd_xlen, 2, "readonly fast", 1, 1, 1, group=g, categories="@stream")
    table.add("xdel", cmd_xdel, -3, "write fast", 1, 1, 1, group=g, categories="@stream")
    table.add("xtrim", cmd_xtrim, -4, "write", 1, 1, 1, group=g, categories="@stream")
