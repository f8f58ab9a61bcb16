"""The append-only file, as Redis 7.0 lays it out: a manifest, a base, incr files.

Theory of operation
-------------------
Every command that changed the dataset reaches the AOF through the propagation core
(`server.propagation`): `AppendOnlyFile.feed` is one of `server.propagator.feeds`
and only *buffers* the RESP bytes (with SELECT when the database changes). The node
calls `write_pending()` before it writes any reply, so a client never sees the
answer to a write that is not in the file; with ``appendfsync always`` the bytes are
also fsynced there (an acknowledged write is on disk), with ``everysec`` the cron
fsyncs once a second, with ``no`` the kernel decides. The cron also writes what was
buffered without a reply (expired keys).

Redis 7's multi-part layout, under ``<dir>/<appenddirname>``:

* ``<appendfilename>.manifest`` lists the files, one line each
  (``file <name> seq <n> type <b|h|i>``): at most one *base* (a snapshot: an RDB when
  aof-use-rdb-preamble is on, ``.base.rdb``, else commands, ``.base.aof``), the *incr*
  files with the commands written since, in order, and *history* files waiting to be
  deleted. The manifest is only ever replaced whole: temp file, fsync, rename, fsync
  of the directory, so a crash leaves the old or the new one.
* BGREWRITEAOF (`rewrite_background`) writes what is buffered, opens a NEW incr file
  and records it in the manifest, then forks: the child writes the keyspace image as
  ``temp-rewriteaof-bg-<pid>.aof`` in `dir` and exits. Writes made meanwhile go to the
  new incr file, so no rewrite buffer is needed. When the child succeeded (`cron` ->
  `rewrite_done`) the temp file is renamed to the next base, the older base and incr
  files become history, the new manifest is persisted and the history files deleted.
  A failed or killed child leaves the manifest as it was (one incr file more).
* ``CONFIG SET appendonly yes`` (`start_append_only`) enters AOF_WAIT_REWRITE: a
  rewrite starts, the writes made meanwhile go to ``temp-<appendfilename>.incr``,
  which becomes the first incr file when the base is in place (then AOF_ON).

Loading (`load_at_startup`): the base (RDB or commands) then every incr file is
replayed through the command table by a fake client (no replies, no propagation; keys
are never expired while loading, as in Redis). A torn tail of the LAST file is cut
at the end of the last complete command (or before an unterminated MULTI) when
aof-load-truncated is on; a torn tail elsewhere or a format error refuses to start.

Pure parts (`Manifest`, `parse_manifest`, `read_commands`, `rewrite_commands`,
`auto_rewrite_growth`) take and return plain values; the I/O half follows Redis's
aof.c functions, named in the docstrings, and its log lines.
"""

from __future__ import annotations

import enum
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from redkeep.persistence.rdb import (
    RDBError,
    crc64,
    keyspace_view,
    load_rdb,
    snapshot_keyspace,
    write_rdb,
)
from redkeep.persistence.snapshot import limits_of, load_into
from redkeep.resp.splitargs import split_args
from redkeep.server.propagation import PROPAGATE_AOF, StreamEncoder, encode_command

ITEMS_PER_CMD = 64              # AOF_REWRITE_ITEMS_PER_CMD
LINE_MAX = 1024                 # AOF_ANNOTATION_LINE_MAX_LEN (the fgets buffer)
MANIFEST_MAX_LINE = 1024
TYPE_BASE, TYPE_HIST, TYPE_INCR = "b", "h", "i"


class AOFStatus(enum.Enum):
    AOF_OFF = 0
    AOF_ON = 1
    AOF_WAIT_REWRITE = 2


class LoadResult(enum.Enum):
    AOF_OK = 0
    AOF_NOT_EXIST = 1
    AOF_EMPTY = 2
    AOF_OPEN_ERR = 3
    AOF_FAILED = 4
    AOF_TRUNCATED = 5


# ---- Pure parts: the manifest ----

@dataclass
class AOFInfo:
    name: str
    seq: int
    type: str


class ManifestError(ValueError):
    """A manifest Redis would refuse: `err` is Redis's text, `line` the offending line."""

    def __init__(self, err: str, linenum: int = 0, line: str | None = None) -> None:
        super().__init__(err)
        self.err, self.linenum, self.line = err, linenum, line


def _needs_repr(name: str) -> bool:
    return any(not (0x21 <= ord(ch) <= 0x7E) or ch in "\"'\\" for ch in name)


def _repr_name(name: str) -> str:
    from redkeep.server.config import quote_arg
    return quote_arg(name) if _needs_repr(name) else name


@dataclass
class Manifest:
    base: AOFInfo | None = None
    incrs: list[AOFInfo] = field(default_factory=list)
    history: list[AOFInfo] = field(default_factory=list)
    base_seq: int = 0               # curr_base_file_seq
    incr_seq: int = 0               # curr_incr_file_seq

    def copy(self) -> Manifest:
        return Manifest(replace(self.base) if self.base else None,
                        [replace(i) for i in self.incrs], [replace(h) for h in self.history],
                        self.base_seq, self.incr_seq)

    def format(self) -> bytes:
        """getAofManifestAsString: base, then history, then incr files."""
        files = ([self.base] if self.base else []) + self.history + self.incrs
        return "".join(f"file {_repr_name(i.name)} seq {i.seq} type {i.type}\n"
                       for i in files).encode("utf-8", "surrogateescape")

    def new_base(self, filename: str, rdb_preamble: bool) -> str:
        """getNewBaseFileNameAndMarkPreAsHistory."""
        if self.base is not None:
            self.base.type = TYPE_HIST
            self.history.insert(0, self.base)
        self.base_seq += 1
        suffix = ".rdb" if rdb_preamble else ".aof"
        self.base = AOFInfo(f"{filename}.{self.base_seq}.base{suffix}", self.base_seq, TYPE_BASE)
        return self.base.name

    def new_incr(self, filename: str) -> str:
        """getNewIncrAofName."""
        self.incr_seq += 1
        info = AOFInfo(f"{filename}.{self.incr_seq}.incr.aof", self.incr_seq, TYPE_INCR)
        self.incrs.append(info)
        return info.name

    def last_incr(self, filename: str) -> str:
        """getLastIncrAofName: the last incr file, or a new one."""
        return self.incrs[-1].name if self.incrs else self.new_incr(filename)

    def mark_rewritten_incrs_as_history(self, keep_last: bool) -> None:
        """markRewrittenIncrAofAsHistory: all incr files (but the one being written,
        when the AOF is on) become history."""
        moved = self.incrs[:-1] if keep_last else self.incrs
        self.incrs = self.incrs[-1:] if keep_last else []
        for info in reversed(moved):
            info.type = TYPE_HIST
            self.history.insert(0, info)

    def files(self) -> list[AOFInfo]:
        """The files to load, in order: base then incr files."""
        return ([self.base] if self.base else []) + self.incrs


def parse_manifest(data: bytes) -> Manifest:
    """aofLoadManifestFromFile; raises ManifestError with Redis's texts."""
    am = Manifest()
    pos, linenum = 0, 0
    while True:
        if pos >= len(data):
            if linenum == 0:
                raise ManifestError("Found an empty AOF manifest")
            return am
        nl = data.find(b"\n", pos, pos + MANIFEST_MAX_LINE)
        end = nl + 1 if nl >= 0 else min(len(data), pos + MANIFEST_MAX_LINE)
        raw, pos = data[pos:end], end
        linenum += 1
        if raw.startswith(b"#"):
            continue
        if nl < 0:
            raise ManifestError("The AOF manifest file contains too long line")
        line = raw.strip(b" \t\r\n").decode("utf-8", "surrogateescape")
        _manifest_line(am, line, linenum)


def _manifest_line(am: Manifest, line: str, linenum: int) -> None:
    def bad(err: str) -> ManifestError:
        return ManifestError(err, linenum, line)
    if not line:
        raise bad("Invalid AOF manifest file format")
    argv = split_args(line.encode("utf-8", "surrogateescape"))
    if argv is None or len(argv) < 6 or len(argv) % 2:
        raise bad("Invalid AOF manifest file format")
    name, seq, ftype = None, 0, ""
    for k, v in zip(argv[::2], argv[1::2], strict=True):
        key = k.lower()
        if key == b"file":
            name = v.decode("utf-8", "surrogateescape")
            if "/" in name:
                raise bad("File can't be a path, just a filename")
        elif key == b"seq":
            seq = _atoi(v)
        elif key == b"type":
            ftype = v[:1].decode("latin-1")
    if not name or not seq or not ftype:
        raise bad("Invalid AOF manifest file format")
    info = AOFInfo(name, seq, ftype)
    if ftype == TYPE_BASE:
        if am.base is not None:
            raise bad("Found duplicate base file information")
        am.base, am.base_seq = info, seq
    elif ftype == TYPE_HIST:
        am.history.append(info)
    elif ftype == TYPE_INCR:
        if am.incrs and seq <= am.incrs[-1].seq:
            raise bad("Found a non-monotonic sequence number")
        am.incrs.append(info)
        am.incr_seq = seq
    else:
        raise bad("Unknown AOF file type")


def _atoi(b: bytes) -> int:
    """C atoi/strtol: optional blanks and sign, then leading digits (0 if none)."""
    s = b.lstrip(b" \t")
    sign = -1 if s[:1] == b"-" else 1
    if s[:1] in (b"-", b"+"):
        s = s[1:]
    n = 0
    for ch in s:
        if not 48 <= ch <= 57:
            break
        n = n * 10 + ch - 48
    return sign * n


# ---- Pure parts: the command stream ----

class AOFTruncated(Exception):
    """The data ends in the middle of a command (a torn write)."""


class AOFFormatError(Exception):
    """Bytes that are not the AOF's command format; `offset` is where the bad command begins."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"bad file format at offset {offset}")
        self.offset = offset


def _fgets(data: bytes, pos: int) -> tuple[bytes, int] | None:
    if pos >= len(data):
        return None
    nl = data.find(b"\n", pos, pos + LINE_MAX - 1)
    end = nl + 1 if nl >= 0 else min(len(data), pos + LINE_MAX - 1)
    return data[pos:end], end


def read_commands(data: bytes, pos: int = 0) -> Iterator[tuple[list[bytes], int]]:
    """The commands of an AOF command stream from `pos`, with the offset just after each,
    read as loadSingleAppendOnlyFile does ('#' annotation lines are skipped). Raises
    AOFTruncated when the data ends inside a command, AOFFormatError otherwise."""
    n = len(data)
    while True:
        start = pos
        got = _fgets(data, pos)
        if got is None:
            return
        line, pos = got
        if line[:1] == b"#":
            continue
        if line[:1] != b"*":
            raise AOFFormatError(start)
        if line == b"*":
            raise AOFTruncated()
        argc = _atoi(line[1:])
        if argc < 1:
            raise AOFFormatError(start)
        argv = []
        for _ in range(argc):
            got = _fgets(data, pos)
            if got is None:
                raise AOFTruncated()
            line, pos = got
            if line[:1] != b"$":
                raise AOFFormatError(start)
            length = _atoi(line[1:])
            if length < 0:
                raise AOFFormatError(start)
            if pos + length > n or pos + length + 2 > n:
                raise AOFTruncated()
            argv.append(data[pos:pos + length])
            pos += length + 2
        yield argv, pos


def rdb_end(data: bytes) -> int:
    """Where the RDB at the start of `data` ends (after EOF + CRC64): the rest of an
    old-style RDB-preamble AOF is its command tail. len(data) when no tail is found."""
    n = len(data)
    p = data.find(b"\xff", 9)
    while 0 <= p <= n - 9:
        after = p + 9
        if after == n or data[after:after + 1] == b"*":
            crc = int.from_bytes(data[p + 1:after], "little")
            if crc == 0 or crc == crc64(data[:p + 1]):
                return after
        p = data.find(b"\xff", p + 1)
    return n


def _bulk(b: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(b), b)


def _batched(cmd: bytes, key: bytes, items: list[bytes], per_item: int) -> Iterator[bytes]:
    for i in range(0, len(items), ITEMS_PER_CMD * per_item):
        chunk = items[i:i + ITEMS_PER_CMD * per_item]
        yield (b"*%d\r\n" % (2 + len(chunk)) + _bulk(cmd) + _bulk(key)
               + b"".join(_bulk(x) for x in chunk))


def _sid(sid: tuple[int, int]) -> bytes:
    return b"%d-%d" % sid


def _rewrite_value(key: bytes, value: Any) -> Iterator[bytes]:
    from redkeep.server.types.hash import Hash
    from redkeep.server.types.list import List
    from redkeep.server.types.set import Set
    from redkeep.server.types.stream import Stream
    from redkeep.server.types.zset import ZSet

    if type(value) is bytes:
        yield encode_command([b"SET", key, value])
    elif isinstance(value, List):
        yield from _batched(b"RPUSH", key, list(value), 1)
    elif isinstance(value, Set):
        yield from _batched(b"SADD", key, list(value), 1)
    elif isinstance(value, ZSet):
        flat = [x for m, s in value.items() for x in (b"%.17g" % s, m)]
        yield from _batched(b"ZADD", key, flat, 2)
    elif isinstance(value, Hash):
        yield from _batched(b"HMSET", key, [x for f, v in value.items() for x in (f, v)], 2)
    elif isinstance(value, Stream):
        yield from _rewrite_stream(key, value)
    else:
        raise RDBError(f"Unknown object type for key '{key.decode(errors='replace')}'")


def _rewrite_stream(key: bytes, s: Any) -> Iterator[bytes]:
    """rewriteStreamObject: XADD per entry (or the MAXLEN 0 trick), then XSETID."""
    if s:
        for sid, fields in s.items():
            yield encode_command([b"XADD", key, _sid(sid), *[x for fv in fields for x in fv]])
    else:
        yield encode_command([b"XADD", key, b"MAXLEN", b"0", b"0-1", b"x", b"y"])
    yield encode_command([b"XSETID", key, _sid(s.last_id), b"ENTRIESADDED",
                          b"%d" % s.entries_added, b"MAXDELETEDID", _sid(s.max_deleted_id)])


def rewrite_commands(snapshot: dict[int, dict[bytes, tuple[Any, int | None]]],
                     functions: list[bytes] = ()) -> Iterator[bytes]:
    """rewriteAppendOnlyFileRio: the commands that rebuild a keyspace image (a base
    file in command format): FUNCTION LOAD, then per db SELECT and per key its
    variadic commands (at most 64 items each) and PEXPIREAT."""
    for code in functions:
        yield b"*3\r\n$8\r\nFUNCTION\r\n$4\r\nLOAD\r\n" + _bulk(code)
    for dbid in sorted(snapshot):
        keys = snapshot[dbid]
        if not keys:
            continue
        yield encode_command([b"SELECT", b"%d" % dbid])
        for key, (value, expire) in keys.items():
            yield from _rewrite_value(key, value)
            if expire is not None:
                yield encode_command([b"PEXPIREAT", key, b"%d" % expire])


def auto_rewrite_growth(current_size: int, base_size: int) -> int:
    """The growth percentage serverCron compares with auto-aof-rewrite-percentage."""
    return current_size * 100 // (base_size or 1) - 100


# ---- Per-server state ----

@dataclass
class AOFState:
    manifest: Manifest = field(default_factory=Manifest)
    status: AOFStatus = AOFStatus.AOF_OFF
    child_pid: int | None = None
    rewrite_start_s: int = -1          # aof_rewrite_time_start
    rewrite_time_last: int = -1
    rewrite_scheduled: bool = False
    lastbgrewrite_ok: bool = True
    consecutive_failures: int = 0
    current_size: int = 0              # aof_current_size
    base_size: int = 0                 # aof_rewrite_base_size
    last_incr_size: int = 0
    fsync_offset: int = 0
    last_fsync_s: int = 0
    last_write_ok: bool = True
    last_write_error: str = ""
    limit_delay_min: int = 0           # aofRewriteLimited's next_delay_minutes
    limit_until_s: int = 0             # ... and next_rewrite_time


def state_of(server: Any) -> AOFState:
    st = getattr(server, "aof_state", None)
    if st is None:
        st = AOFState()
        server.aof_state = st
    return st


def child_pid(server: Any) -> int | None:
    """The BGREWRITEAOF child's pid, or None."""
    st = getattr(server, "aof_state", None)
    return st.child_pid if st is not None else None


def _note(server: Any, level: str, msg: str) -> None:
    log = getattr(server, "log", None)
    if log is not None:
        getattr(log, level)(msg)


def aof_dir(server: Any) -> str:
    return os.path.join(server.config.dir, server.config.appenddirname)


def _path(server: Any, name: str) -> str:
    return os.path.join(aof_dir(server), name)


def _now_s(server: Any) -> int:
    return server.clock.wall_ms() // 1000


# ---- The writer ----

class AppendOnlyFile:
    """`server.aof` while the AOF is on (or waiting for its first rewrite): buffers the
    propagated writes and appends them to the current incr file."""

    def __init__(self, server: Any, fd: int) -> None:
        self.server = server
        self.state = state_of(server)
        self.fd = fd
        self.encoder = StreamEncoder(PROPAGATE_AOF)
        self.pending: list[bytes] = []   # truthy when bytes wait for write_pending()
        self.stamped_s = 0               # the last #TS annotation written (unix seconds)

    def feed(self, ops: list) -> None:
        data = self.encoder.encode(ops)
        st = self.state
        if data and (st.status is AOFStatus.AOF_ON or st.child_pid is not None):
            if self.server.config.aof_timestamp_enabled:   # genAofTimestampAnnotation
                now = _now_s(self.server)
                if now > self.stamped_s:
                    self.stamped_s = now
                    data = b"#TS:%d\r\n" % now + data
            self.pending.append(data)

    def write_pending(self) -> None:
        """flushAppendOnlyFile(force): write the buffer, fsync it under `always`."""
        if not self.pending or self.fd < 0:
            return
        data = self.pending[0] if len(self.pending) == 1 else b"".join(self.pending)
        st, srv = self.state, self.server
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view):]
        except OSError as e:
            self._write_failed(e, len(data) - len(view))
            return
        self.pending.clear()
        if not st.last_write_ok:
            _note(srv, "warning", "AOF write error looks solved, Redis can write again.")
            st.last_write_ok = True
            srv.aof_write_error = ""
        st.current_size += len(data)
        st.last_incr_size += len(data)
        if srv.config.appendfsync == "always" and not self._fsync_paused():
            try:
                os.fdatasync(self.fd)
            except OSError as e:
                _note(srv, "warning", "Can't persist AOF for fsync error when the AOF fsync "
                      f"policy is 'always': {e.strerror}. Exiting...")
                os._exit(1)
            st.fsync_offset = st.current_size
            st.last_fsync_s = _now_s(srv)

    def _fsync_paused(self) -> bool:
        """no-appendfsync-on-rewrite: no fsync while a child writes to disk."""
        if not self.server.config.no_appendfsync_on_rewrite:
            return False
        from redkeep.persistence.snapshot import state_of as rdb_state
        return self.state.child_pid is not None or rdb_state(self.server).child_pid is not None

    def _write_failed(self, e: OSError, written: int) -> None:
        st, srv = self.state, self.server
        if written:
            try:       # remove the partial write, as Redis does with ftruncate
                os.ftruncate(self.fd, st.last_incr_size)
            except OSError:
                pass
        _note(srv, "warning", f"Error writing to the AOF file: {e.strerror}")
        st.last_write_error = e.strerror or str(e)
        if srv.config.appendfsync == "always":
            _note(srv, "warning", "Can't recover from AOF write error when the AOF fsync "
                  "policy is 'always'. Exiting...")
            os._exit(1)
        st.last_write_ok = False
        srv.aof_write_error = st.last_write_error     # writes get MISCONF until it works

    def fsync(self) -> None:
        st, srv = self.state, self.server
        if self.fd < 0:
            return
        try:
            os.fdatasync(self.fd)
        except OSError as e:    # aof_bio_fsync_status: writes refused until an fsync works
            _note(srv, "warning", f"Fail to fsync the AOF file: {e.strerror}.")
            srv.aof_write_error = e.strerror or str(e)
            return
        if st.last_write_ok:
            srv.aof_write_error = ""
        st.fsync_offset = st.current_size
        st.last_fsync_s = _now_s(srv)

    def everysec(self) -> None:
        """The once-a-second fsync of ``appendfsync everysec`` (from the cron)."""
        st = self.state
        now = _now_s(self.server)
        if st.fsync_offset != st.current_size and now > st.last_fsync_s \
                and not self._fsync_paused():
            self.fsync()
            st.last_fsync_s = now

    def switch_to(self, fd: int) -> None:
        """A new incr file: the old one is fsynced and closed; SELECT is re-sent."""
        old, self.fd = self.fd, fd
        if old >= 0:
            try:
                os.fsync(old)
            except OSError:
                pass
            os.close(old)
        self.encoder.seldb = -1
        st = self.state
        st.fsync_offset = st.current_size
        st.last_incr_size = 0

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _install(server: Any, fd: int) -> AppendOnlyFile:
    aof = AppendOnlyFile(server, fd)
    server.aof = aof
    server.propagator.feeds.append(aof.feed)
    return aof


def _uninstall(server: Any) -> None:
    aof = server.aof
    if aof is None:
        return
    feeds = server.propagator.feeds
    for i, f in enumerate(feeds):
        if getattr(f, "__self__", None) is aof:
            del feeds[i]
            break
    aof.close()
    server.aof = None
    server.aof_write_error = ""
    state_of(server).last_write_ok = True


# ---- Files ----

def _fsync_dir(path: str) -> None:
    from redkeep.persistence.snapshot import _fsync_dir as fsync_dir
    fsync_dir(path)


def persist_manifest(server: Any, am: Manifest) -> bool:
    """writeAofManifestFile: temp-<appendfilename>.manifest, fsync, rename, fsync dir."""
    name = server.config.appendfilename + ".manifest"
    tmp_name = "temp-" + name
    tmp = _path(server, tmp_name)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o644)
    except OSError as e:
        _note(server, "warning", f"Can't open the AOF manifest file {tmp_name}: {e.strerror}")
        return False
    try:
        view = memoryview(am.format())
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except OSError as e:
        _note(server, "warning", "Error trying to write the temporary AOF manifest file "
              f"{tmp_name}: {e.strerror}")
        return False
    finally:
        os.close(fd)
    try:
        os.replace(tmp, _path(server, name))
        _fsync_dir(aof_dir(server))
    except OSError as e:
        _note(server, "warning", "Error trying to rename the temporary AOF manifest file "
              f"{tmp_name} into {name}: {e.strerror}")
        return False
    return True


def _mkdir(server: Any) -> bool:
    try:
        os.makedirs(aof_dir(server), exist_ok=True)
        return True
    except OSError as e:
        _note(server, "warning", f"Can't open or create append-only dir "
              f"{server.config.appenddirname}: {e.strerror}")
        return False


def _file_size(server: Any, name: str) -> int | None:
    try:
        return os.stat(_path(server, name)).st_size
    except OSError as e:
        _note(server, "warning", f"Unable to obtain the AOF file {name} length. "
              f"stat: {e.strerror}")
        return None


def load_manifest(server: Any) -> bool:
    """aofLoadManifestFromDisk (done whatever appendonly says): False when the manifest
    is unreadable or invalid, after Redis's FATAL AOF MANIFEST FILE ERROR lines."""
    st = state_of(server)
    path = _path(server, server.config.appendfilename + ".manifest")
    if not os.path.isdir(aof_dir(server)) or not os.path.exists(path):
        st.manifest = Manifest()
        return True
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as e:
        _note(server, "warning", "Fatal error: can't open the AOF manifest file "
              f"{path} for reading: {e.strerror}")
        return False
    try:
        st.manifest = parse_manifest(data)
    except ManifestError as e:
        _note(server, "warning", "\n*** FATAL AOF MANIFEST FILE ERROR ***\n")
        if e.line is not None:
            _note(server, "warning", f"Reading the manifest file, at line {e.linenum}\n")
            _note(server, "warning", f">>> '{e.line}'\n")
        _note(server, "warning", f"{e.err}\n")
        return False
    return True


def delete_history_files(server: Any) -> None:
    """aofDelHistoryFiles."""
    st = state_of(server)
    am = st.manifest
    if server.config.aof_disable_auto_gc or not am.history:
        return
    for info in am.history:
        _note(server, "notice", f"Removing the history file {info.name} in the background")
        try:
            os.unlink(_path(server, info.name))
        except OSError:
            pass
    am.history = []
    persist_manifest(server, am)


def base_bytes(server: Any) -> bytes:
    """What a base file holds, as bytes (see emit_base)."""
    parts: list[bytes] = []
    emit_base(server, parts.append)
    return b"".join(parts)


def emit_base(server: Any, write: Callable[[bytes], object]) -> None:
    """What a base file holds, handed to `write` as it is built: an RDB with aof-base=1
    (IDLE/FREQ included under LRU/LFU, as Redis), or the rewrite commands."""
    ks = server.keyspace
    st = getattr(server, "scripting", None)
    functions = [lib.code for lib in st.libraries.values()] if st is not None else []
    cfg = server.config
    if cfg.aof_use_rdb_preamble:
        aux = {"ctime": server.clock.wall_ms() // 1000,
               "used-mem": getattr(ks, "used_memory", 0), "aof-base": 1}
        write_rdb(write, keyspace_view(ks), aux, bool(cfg.rdbcompression),
                  bool(cfg.rdbchecksum), functions)
        return
    if cfg.aof_timestamp_enabled:
        write(b"#TS:%d\r\n" % _now_s(server))
    parts: list[bytes] = []
    for piece in rewrite_commands(snapshot_keyspace(ks), functions):
        parts.append(piece)
        if len(parts) >= 8192:
            write(b"".join(parts))
            parts.clear()
    write(b"".join(parts))


def _write_base(server: Any, path: str) -> None:
    """The base file at `path`, streamed and fsynced; a failure removes what was written."""
    from redkeep.persistence.snapshot import write_all
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        try:
            emit_base(server, lambda data: write_all(fd, data))
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        _unlink(path)
        raise


def rewrite_foreground(server: Any, target: str) -> bool:
    """rewriteAppendOnlyFile: temp-rewriteaof-<pid>.aof in dir, fsync, rename to target."""
    tmp = os.path.join(server.config.dir, f"temp-rewriteaof-{os.getpid()}.aof")
    try:
        _write_base(server, tmp)
    except (OSError, RDBError) as e:
        _note(server, "warning", f"Write error writing append only file on disk: {e}")
        _unlink(tmp)
        return False
    try:
        os.replace(tmp, target)
    except OSError as e:
        _note(server, "warning", "Error moving temp append only file on the final "
              f"destination: {e.strerror}")
        _unlink(tmp)
        return False
    return True


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


# ---- Loading ----

class _NeverExpired:
    """The keyspace's clock while loading: wall time 0, so no key is expired (Redis
    does not expire keys while it loads); monotonic time is the real one."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def monotonic_ms(self) -> int:
        return self.real.monotonic_ms()

    def wall_ms(self) -> int:
        return 0

    def wall_us(self) -> int:
        return 0


class _Replay:
    """Runs an AOF command stream through the command table (createAOFClient +
    the command loop of loadSingleAppendOnlyFile): no replies, no propagation, MULTI
    blocks run at their EXEC only."""

    def __init__(self, server: Any) -> None:
        from redkeep.server.connection import Client
        self.server = server
        self.client = Client(server, 0, "", "")
        self.client.kind = "aof"
        self.client.in_exec = True          # CLIENT_DENY_BLOCKING: blocking commands don't block
        self.queue: list[tuple[Any, list[bytes]]] | None = None

    def lookup(self, argv: list[bytes]) -> Any:
        cmd = self.server.table.lookup(argv[0])
        if cmd is not None and cmd.subcommands is not None and len(argv) >= 2:
            cmd = cmd.subcommands.get(argv[1].lower())
        return cmd

    def run(self, cmd: Any, argv: list[bytes]) -> None:
        if cmd is None:                     # XSETID: written by rewrites, applied here
            _apply_xsetid(self.client, argv)
        elif cmd.check_arity(len(argv)):
            self.server.run_handler(cmd, self.client, argv)

    def step(self, cmd: Any, argv: list[bytes]) -> None:
        name = cmd.name if cmd is not None else "xsetid"
        if name == "multi":
            self.queue = []
        elif name == "exec":
            queue, self.queue = self.queue or [], None
            for q, qargv in queue:
                self.run(q, qargv)
        elif self.queue is not None:
            self.queue.append((cmd, argv))
        else:
            self.run(cmd, argv)


def _apply_xsetid(c: Any, argv: list[bytes]) -> None:
    """XSETID key id [ENTRIESADDED n] [MAXDELETEDID id] on an existing stream."""
    from redkeep.server.types.stream import Stream

    def sid(b: bytes) -> tuple[int, int]:
        ms, _, seq = b.partition(b"-")
        return int(ms), int(seq or b"0")
    if len(argv) < 3:
        return
    s = c.db.data.get(argv[1])
    if not isinstance(s, Stream):
        return
    try:
        s.last_id = sid(argv[2])
        opts = argv[3:]
        for opt, val in zip(opts[::2], opts[1::2], strict=False):
            if opt.lower() == b"entriesadded":
                s.entries_added = int(val)
            elif opt.lower() == b"maxdeletedid":
                s.max_deleted_id = sid(val)
    except ValueError:
        return


def _load_rdb_part(server: Any, name: str, data: bytes) -> int | None:
    """The RDB at the start of a base (or old-style preamble) file: where its commands
    start, or None after logging why it could not be loaded."""
    old_style = name == server.config.appendfilename
    _note(server, "notice", "Reading RDB preamble from AOF file..." if old_style
          else "Reading RDB base file on AOF loading...")
    end = rdb_end(data)
    try:
        loaded = load_rdb(data[:end], limits_of(server.config))
        aux = loaded.aux
        ver = aux.get("redis-ver")
        if ver is not None:
            _note(server, "notice", f"Loading RDB produced by version {ver.decode(errors='replace')}")
        ctime = aux.get("ctime")
        if ctime is not None and ctime.lstrip(b"-").isdigit():
            _note(server, "notice", f"RDB age {_now_s(server) - int(ctime)} seconds")
        used = aux.get("used-mem")
        if used is not None and used.isdigit():
            _note(server, "notice", f"RDB memory usage when created {int(used) / 1048576:.2f} Mb")
        if aux.get("aof-base", b"0") != b"0":
            _note(server, "notice", "RDB is base AOF")
        n, expired = load_into(server, loaded, -(1 << 63))    # nothing expires in an AOF
    except RDBError as e:
        _note(server, "warning", f"Internal error in RDB reading: {e}")
        _note(server, "warning", f"Error reading the RDB preamble of the AOF file {name}, AOF "
              "loading aborted" if old_style else
              f"Error reading the RDB base file {name}, AOF loading aborted")
        return None
    _note(server, "notice", f"Done loading RDB, keys loaded: {n}, keys expired: {expired}.")
    if old_style:
        _note(server, "notice", "Reading the remaining AOF tail...")
    return end


def _replay(server: Any, name: str, data: bytes, pos: int) -> LoadResult:
    """The command loop of loadSingleAppendOnlyFile, its MULTI revert and its endings."""
    truncate_ok = bool(server.config.aof_load_truncated)
    replay = _Replay(server)
    valid_up_to = valid_before_multi = pos
    try:
        for argv, end in read_commands(data, pos):
            cmd = replay.lookup(argv)
            if cmd is None and argv[0].lower() != b"xsetid":
                _note(server, "warning", f"Unknown command '{argv[0].decode(errors='replace')}'"
                      f" reading the append only file {name}")
                return LoadResult.AOF_FAILED
            if cmd is not None and cmd.name == "multi":
                valid_before_multi = valid_up_to
            replay.step(cmd, argv)
            valid_up_to = end
    except AOFTruncated:
        return _torn_tail(server, name, valid_up_to, truncate_ok)
    except AOFFormatError as e:
        _note(server, "warning", f"Bad file format reading the append only file {name}: "
              "make a backup of your AOF file, then use ./redis-check-aof --fix "
              "<filename.manifest>")
        _note(server, "warning", f"The AOF {name} is not valid from offset {e.offset} "
              f"(its commands are valid up to offset {valid_up_to})")
        return LoadResult.AOF_FAILED
    if replay.queue is not None:
        _note(server, "warning", f"Revert incomplete MULTI/EXEC transaction in AOF file {name}")
        return _torn_tail(server, name, valid_before_multi, truncate_ok)
    return LoadResult.AOF_OK


def _torn_tail(server: Any, name: str, valid_up_to: int, truncate_ok: bool) -> LoadResult:
    """The `uxeof` path: cut the file at the last complete command, or refuse."""
    if truncate_ok:
        _note(server, "warning", f"!!! Warning: short read while loading the AOF file {name}!!!")
        _note(server, "warning", f"!!! Truncating the AOF {name} at offset {valid_up_to} !!!")
        try:
            os.truncate(_path(server, name), valid_up_to)
        except OSError as e:
            _note(server, "warning", f"Error truncating the AOF file {name}: {e.strerror}")
        else:
            _note(server, "warning",
                  f"AOF {name} loaded anyway because aof-load-truncated is enabled")
            return LoadResult.AOF_TRUNCATED
    _note(server, "warning", f"Unexpected end of file reading the append only file {name}. "
          "You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix "
          "<filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' "
          "configuration option to yes and restart the server.")
    return LoadResult.AOF_FAILED


def load_single_file(server: Any, name: str) -> LoadResult:
    """loadSingleAppendOnlyFile."""
    path = _path(server, name)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError as e:
        _note(server, "warning", f"The append log file {name} doesn't exist: {e.strerror}")
        return LoadResult.AOF_NOT_EXIST
    except OSError as e:
        _note(server, "warning", "Fatal error: can't open the append log file "
              f"{name} for reading: {e.strerror}")
        return LoadResult.AOF_OPEN_ERR
    if not data:
        return LoadResult.AOF_EMPTY
    ks = server.keyspace
    saved = ks.clock, ks.is_replica
    ks.clock, ks.is_replica = _NeverExpired(saved[0]), True
    try:
        pos = 0
        if data[:5] == b"REDIS":
            pos = _load_rdb_part(server, name, data)
            if pos is None:
                return LoadResult.AOF_FAILED
        return _replay(server, name, data, pos)
    finally:
        ks.clock, ks.is_replica = saved


def _upgrade_old_style(server: Any, am: Manifest) -> bool:
    """aofUpgradePrepare: a pre-7.0 ``<dir>/<appendfilename>`` moves into the AOF
    directory as the base of a new manifest."""
    cfg = server.config
    old = os.path.join(cfg.dir, cfg.appendfilename)
    if not os.path.exists(old):
        return True
    single = am.base is not None and not am.incrs and am.base.name == cfg.appendfilename \
        and not os.path.exists(_path(server, cfg.appendfilename))
    if os.path.isdir(aof_dir(server)) and (am.base or am.incrs) and not single:
        return True
    if not _mkdir(server):
        return False
    am.base, am.base_seq = AOFInfo(cfg.appendfilename, 1, TYPE_BASE), 1
    if not persist_manifest(server, am):
        return False
    try:
        os.rename(old, _path(server, cfg.appendfilename))
    except OSError as e:
        _note(server, "warning", f"Error trying to move the old AOF file {cfg.appendfilename} "
              f"into dir {cfg.appenddirname}: {e.strerror}")
        return False
    _note(server, "notice", f"Successfully migrated an old-style AOF file ({cfg.appendfilename})"
          f" into the AOF directory ({cfg.appenddirname}).")
    return True


def load_files(server: Any) -> LoadResult:
    """loadAppendOnlyFiles: the base, then the incr files; a torn tail only in the last."""
    st = state_of(server)
    am = st.manifest
    if not _upgrade_old_style(server, am):
        return LoadResult.AOF_FAILED
    files = am.files()
    if not files:
        return LoadResult.AOF_NOT_EXIST
    sizes = [_file_size(server, f.name) for f in files]
    if any(s is None for s in sizes):
        return LoadResult.AOF_FAILED
    total = sum(sizes)
    if total == 0:
        return LoadResult.AOF_EMPTY
    server.loading = True
    try:
        for i, info in enumerate(files):
            last = i == len(files) - 1
            start = time.perf_counter()
            ret = load_single_file(server, info.name)
            kind = "base" if info.type == TYPE_BASE else "incr"
            if ret is LoadResult.AOF_OK or (ret is LoadResult.AOF_TRUNCATED and last):
                _note(server, "notice", f"DB loaded from {kind} file {info.name}: "
                      f"{time.perf_counter() - start:.3f} seconds")
            if ret is LoadResult.AOF_EMPTY:
                ret = LoadResult.AOF_OK
            if ret is LoadResult.AOF_TRUNCATED and not last:
                _note(server, "warning", "Fatal error: the truncated file is not the last file")
                return LoadResult.AOF_FAILED
            if ret in (LoadResult.AOF_OPEN_ERR, LoadResult.AOF_FAILED, LoadResult.AOF_NOT_EXIST):
                return LoadResult.AOF_FAILED
    finally:
        server.loading = False
    st.current_size = total
    st.base_size = sizes[0] if am.base is not None else 0
    st.fsync_offset = total
    return ret


def _open_incr(server: Any, name: str, mode: int) -> int | None:
    """An incr file opened for writing (`mode`: O_APPEND to go on, O_TRUNC for a new
    one); None after logging Redis's line when it can't be."""
    try:
        return os.open(_path(server, name), os.O_WRONLY | os.O_CREAT | mode, 0o644)
    except OSError as e:
        _note(server, "warning", f"Can't open the append-only file {name}: {e.strerror}")
        return None


def open_on_server_start(server: Any) -> bool:
    """aofOpenIfNeededOnServerStart: a base for an empty start, the last (or a new) incr
    file opened for appending, the manifest persisted; then the writer is installed."""
    cfg, st = server.config, state_of(server)
    am = st.manifest
    if not _mkdir(server):
        return False
    if am.base is None and not am.incrs:
        base = am.new_base(cfg.appendfilename, bool(cfg.aof_use_rdb_preamble))
        if not rewrite_foreground(server, _path(server, base)):
            return False
        _note(server, "notice", f"Creating AOF base file {base} on server start")
    had_incr = bool(am.incrs)
    name = am.last_incr(cfg.appendfilename)
    fd = _open_incr(server, name, os.O_APPEND)
    if fd is None:
        return False
    if not persist_manifest(server, am):
        os.close(fd)
        return False
    st.last_incr_size = os.fstat(fd).st_size
    st.status = AOFStatus.AOF_ON
    st.last_fsync_s = _now_s(server)
    _install(server, fd)
    verb = "Opening" if had_incr else "Creating"
    _note(server, "notice", f"{verb} AOF incr file {name} on server start")
    return True


def load_at_startup(server: Any) -> bool:
    """The AOF half of loadDataFromDisk + aofOpenIfNeededOnServerStart +
    aofDelHistoryFiles. False when the server must not start."""
    start = time.perf_counter()
    ret = load_files(server)
    if ret in (LoadResult.AOF_FAILED, LoadResult.AOF_OPEN_ERR):
        return False
    if ret is not LoadResult.AOF_NOT_EXIST:
        _note(server, "notice", "DB loaded from append only file: "
              f"{time.perf_counter() - start:.3f} seconds")
    if not open_on_server_start(server):
        return False
    delete_history_files(server)
    return True


# ---- BGREWRITEAOF ----

def _any_child(server: Any) -> bool:
    """hasActiveChildProcess: the rewrite, a BGSAVE, or a replication transfer child."""
    from redkeep.persistence.snapshot import state_of as rdb_state
    if state_of(server).child_pid is not None or rdb_state(server).child_pid is not None:
        return True
    busy = getattr(server, "child_busy", None)
    return bool(busy()) if callable(busy) else False


def _set_child(server: Any, pid: int | None) -> None:
    state_of(server).child_pid = pid
    server.aof_child_pid = pid      # what Server.child_busy looks at


def _temp_incr_name(server: Any) -> str:
    return f"temp-{server.config.appendfilename}.incr"


def open_new_incr(server: Any) -> bool:
    """openNewIncrAofForAppend: the writes from now on go to a new incr file (the temp
    one while waiting for the first rewrite), recorded in the manifest first."""
    st, cfg = state_of(server), server.config
    writer = server.aof
    if st.status is AOFStatus.AOF_OFF or writer is None:
        return True
    temp_am = None
    if st.status is AOFStatus.AOF_WAIT_REWRITE:
        name = _temp_incr_name(server)
    else:
        temp_am = st.manifest.copy()
        name = temp_am.new_incr(cfg.appendfilename)
    fd = _open_incr(server, name, os.O_TRUNC)
    if fd is None:
        return False
    if temp_am is not None and not persist_manifest(server, temp_am):
        os.close(fd)
        return False
    _note(server, "notice", f"Creating AOF incr file {name} on background rewrite")
    writer.switch_to(fd)
    st.last_fsync_s = _now_s(server)
    if temp_am is not None:
        st.manifest = temp_am
    return True


def rewrite_background(server: Any) -> bool:
    """rewriteAppendOnlyFileBackground: new incr file, then fork the base writer."""
    st = state_of(server)
    if _any_child(server):
        return False
    if not _mkdir(server):
        st.lastbgrewrite_ok = False
        return False
    writer = server.aof
    if writer is not None:
        writer.encoder.seldb = -1
        writer.write_pending()
    if not open_new_incr(server):
        st.lastbgrewrite_ok = False
        return False
    server.stat_aof_rewrites = getattr(server, "stat_aof_rewrites", 0) + 1
    started = time.perf_counter_ns()
    try:
        pid = os.fork()
    except OSError as e:
        st.lastbgrewrite_ok = False
        _note(server, "warning", f"Can't rewrite append only file in background: fork: "
              f"{e.strerror}")
        return False
    if pid == 0:
        _child_rewrite(server)          # never returns
    server.stats["total_forks"] = server.stats.get("total_forks", 0) + 1
    server.stats["latest_fork_usec"] = (time.perf_counter_ns() - started) // 1000
    _note(server, "notice", f"Background append only file rewriting started by pid {pid}")
    _set_child(server, pid)
    st.rewrite_scheduled = False
    st.rewrite_start_s = int(time.time())
    return True


def _child_rewrite(server: Any) -> None:
    status = 1
    try:
        from redkeep.persistence.snapshot import become_child
        become_child(server)
        tmp = f"temp-rewriteaof-bg-{os.getpid()}.aof"
        try:
            _write_base(server, os.path.join(server.config.dir, tmp))
        except (OSError, RDBError) as e:
            _note(server, "warning", f"Write error writing append only file on disk: {e}")
        else:
            _note(server, "notice", f"Successfully created the temporary AOF base file {tmp}")
            status = 0
    except BaseException:  # noqa: BLE001 - the child must always _exit
        pass
    finally:
        os._exit(status)


def reap_child(server: Any) -> None:
    """checkChildrenDone for the rewrite child, then backgroundRewriteDoneHandler."""
    st = state_of(server)
    pid = st.child_pid
    if pid is None:
        return
    try:
        got, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        got, status = pid, 1 << 8
    if got == 0:
        return
    _set_child(server, None)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig != signal.SIGUSR1:
            _rewrite_failed(st)
        _note(server, "warning", f"Background AOF rewrite terminated by signal {sig}")
    elif os.WEXITSTATUS(status) != 0:
        _rewrite_failed(st)
        _note(server, "warning", "Background AOF rewrite terminated with error")
    else:
        _note(server, "notice", "Background AOF rewrite terminated with success")
        rewrite_done(server, pid)
    _rewrite_cleanup(server, pid)


def _rewrite_failed(st: AOFState) -> None:
    st.lastbgrewrite_ok = False
    st.consecutive_failures += 1


def rewrite_done(server: Any, pid: int) -> bool:
    """The success half of backgroundRewriteDoneHandler: the temp file becomes the new
    base, the old files history, the manifest is persisted, the history deleted."""
    st, cfg = state_of(server), server.config
    tmp = f"temp-rewriteaof-bg-{pid}.aof"
    temp_am = st.manifest.copy()
    base = temp_am.new_base(cfg.appendfilename, bool(cfg.aof_use_rdb_preamble))
    base_path = _path(server, base)
    try:
        os.rename(os.path.join(cfg.dir, tmp), base_path)
    except OSError as e:
        _note(server, "warning", f"Error trying to rename the temporary AOF base file {tmp} "
              f"into {base_path}: {e.strerror}")
        _rewrite_failed(st)
        return False
    _note(server, "notice", f"Successfully renamed the temporary AOF base file {tmp} into {base}")
    incr_path = None
    if st.status is AOFStatus.AOF_WAIT_REWRITE:
        temp_incr = _temp_incr_name(server)
        incr = temp_am.new_incr(cfg.appendfilename)
        incr_path = _path(server, incr)
        try:
            os.rename(_path(server, temp_incr), incr_path)
        except OSError as e:
            _note(server, "warning", "Error trying to rename the temporary AOF incr file "
                  f"{_path(server, temp_incr)} into {incr_path}: {e.strerror}")
            _unlink(base_path)
            _rewrite_failed(st)
            return False
        _note(server, "notice",
              f"Successfully renamed the temporary AOF incr file {temp_incr} into {incr}")
    writer = server.aof
    temp_am.mark_rewritten_incrs_as_history(keep_last=writer is not None and writer.fd >= 0)
    if not persist_manifest(server, temp_am):
        _unlink(base_path)
        if incr_path is not None:
            _unlink(incr_path)
        _rewrite_failed(st)
        return False
    st.manifest = temp_am
    if writer is not None and writer.fd >= 0:
        writer.encoder.seldb = -1
        st.current_size = os.stat(base_path).st_size + st.last_incr_size
        st.base_size = st.current_size
        st.fsync_offset = st.current_size
        st.last_fsync_s = _now_s(server)
    delete_history_files(server)
    st.lastbgrewrite_ok = True
    st.consecutive_failures = 0
    _note(server, "notice", "Background AOF rewrite finished successfully")
    if st.status is AOFStatus.AOF_WAIT_REWRITE:
        st.status = AOFStatus.AOF_ON
    return True


def _rewrite_cleanup(server: Any, pid: int) -> None:
    st = state_of(server)
    _unlink(os.path.join(server.config.dir, f"temp-rewriteaof-bg-{pid}.aof"))
    _unlink(os.path.join(server.config.dir, f"temp-rewriteaof-{pid}.aof"))
    if st.status is AOFStatus.AOF_WAIT_REWRITE:
        if server.aof is not None:
            server.aof.pending.clear()
        name = _temp_incr_name(server)
        _note(server, "notice", f"Removing the temp incr aof file {name} in the background")
        _unlink(_path(server, name))
        st.rewrite_scheduled = True
    if st.rewrite_start_s >= 0:
        st.rewrite_time_last = int(time.time()) - st.rewrite_start_s
    st.rewrite_start_s = -1


def kill_child(server: Any) -> None:
    """killAppendOnlyChild."""
    st = state_of(server)
    pid = st.child_pid
    if pid is None:
        return
    _note(server, "notice", f"Killing running AOF rewrite child: {pid}")
    try:
        os.kill(pid, signal.SIGUSR1)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    _set_child(server, None)
    _unlink(os.path.join(server.config.dir, f"temp-rewriteaof-bg-{pid}.aof"))
    _unlink(os.path.join(server.config.dir, f"temp-rewriteaof-{pid}.aof"))
    st.rewrite_start_s = -1


def bgrewriteaof(server: Any, in_exec: bool) -> str:
    """bgrewriteaofCommand's decision: "started", "scheduled", "in_progress" or "error"."""
    st = state_of(server)
    if st.child_pid is not None:
        return "in_progress"
    if _any_child(server) or in_exec:
        st.rewrite_scheduled = True
        st.consecutive_failures = 0
        return "scheduled"
    return "started" if rewrite_background(server) else "error"


# ---- Cron, runtime on/off, shutdown ----

def cron(server: Any) -> None:
    """serverCron's AOF duties: reap the child, start a scheduled or automatic rewrite,
    write what was buffered without a reply, fsync once a second under everysec."""
    st, cfg = state_of(server), server.config
    if st.child_pid is not None:
        reap_child(server)
    if st.rewrite_scheduled and not _any_child(server) and not rewrite_limited(server):
        rewrite_background(server)
    elif st.status is AOFStatus.AOF_ON and not _any_child(server) \
            and cfg.auto_aof_rewrite_percentage and st.current_size > cfg.auto_aof_rewrite_min_size:
        growth = auto_rewrite_growth(st.current_size, st.base_size)
        if growth >= cfg.auto_aof_rewrite_percentage and not rewrite_limited(server):
            _note(server, "notice", f"Starting automatic rewriting of AOF on {growth}% growth")
            rewrite_background(server)
    writer = server.aof
    if writer is not None:
        if writer.pending:
            writer.write_pending()
        if cfg.appendfsync == "everysec":
            writer.everysec()


def rewrite_limited(server: Any) -> bool:
    """aofRewriteLimited: after 3 consecutive failed rewrites the automatic and
    scheduled ones wait 1, 2, 4 ... 60 minutes (BGREWRITEAOF itself is never limited)."""
    st = state_of(server)
    if st.consecutive_failures < 3:
        st.limit_delay_min = st.limit_until_s = 0
        return False
    now = _now_s(server)
    if st.limit_until_s:
        if now < st.limit_until_s:
            return True
        st.limit_until_s = 0
        return False
    st.limit_delay_min = min(60, st.limit_delay_min * 2 or 1)
    st.limit_until_s = now + st.limit_delay_min * 60
    _note(server, "warning", "Background AOF rewrite has repeatedly failed and triggered the "
          f"limit, will retry in {st.limit_delay_min} minutes")
    return True


def start_append_only(server: Any) -> bool:
    """startAppendOnly (CONFIG SET appendonly yes): wait for a rewrite to make the base."""
    from redkeep.persistence.snapshot import state_of as rdb_state
    st = state_of(server)
    st.status = AOFStatus.AOF_WAIT_REWRITE
    _install(server, -1)
    if rdb_state(server).child_pid is not None:
        st.rewrite_scheduled = True
        _note(server, "warning", "AOF was enabled but there is already another background "
              "operation. An AOF background was scheduled to start when possible.")
    else:
        if st.child_pid is not None:
            _note(server, "warning", "AOF was enabled but there is already an AOF rewriting "
                  "in background. Stopping background AOF and starting a rewrite now.")
            kill_child(server)
        if not rewrite_background(server):
            st.status = AOFStatus.AOF_OFF
            _uninstall(server)
            _note(server, "warning", "Redis needs to enable the AOF but can't trigger a "
                  "background AOF rewrite operation. Check the above logs for more info "
                  "about the error.")
            return False
    st.last_fsync_s = _now_s(server)
    if not st.last_write_ok:
        _note(server, "warning", "AOF reopen, just ignore the last error.")
        st.last_write_ok = True
    return True


def stop_append_only(server: Any) -> None:
    """stopAppendOnly (CONFIG SET appendonly no): flush, fsync, close, kill the child."""
    st = state_of(server)
    writer = server.aof
    if writer is not None:
        writer.write_pending()
        writer.fsync()
        _uninstall(server)
    st.status = AOFStatus.AOF_OFF
    st.rewrite_scheduled = False
    st.last_incr_size = 0
    kill_child(server)


def on_config_appendonly(server: Any) -> None:
    """The CONFIG SET appendonly hook (updateAppendonly)."""
    from redkeep.server.config import ConfigApplyError
    st = state_of(server)
    if not server.config.appendonly and st.status is not AOFStatus.AOF_OFF:
        stop_append_only(server)
    elif server.config.appendonly and st.status is AOFStatus.AOF_OFF:
        if not start_append_only(server):
            raise ConfigApplyError("Unable to turn on AOF. Check server logs.")


def shutdown(server: Any, force: bool) -> bool:
    """prepareForShutdown's AOF part: kill the rewrite child, write and fsync the AOF.
    False when the first AOF is still being written (unless forced)."""
    st = state_of(server)
    if st.child_pid is not None:
        if st.status is AOFStatus.AOF_WAIT_REWRITE:
            if not force:
                _note(server, "warning", "Writing initial AOF, can't exit.")
                return False
            _note(server, "warning", "Writing initial AOF. Exit anyway.")
        _note(server, "warning", "There is a child rewriting the AOF. Killing it!")
        kill_child(server)
    if st.status is not AOFStatus.AOF_OFF and server.aof is not None:
        _note(server, "notice", "Calling fsync() on the AOF file.")
        server.aof.write_pending()
        server.aof.fsync()
    return True


def info_fields(server: Any) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
    """INFO persistence: the aof_* fields (always) and those shown while the AOF is on."""
    st = state_of(server)
    on = st.status is not AOFStatus.AOF_OFF
    current = -1 if st.rewrite_start_s < 0 else int(time.time()) - st.rewrite_start_s
    always = [
        ("aof_enabled", int(on)),
        ("aof_rewrite_in_progress", int(st.child_pid is not None)),
        ("aof_rewrite_scheduled", int(st.rewrite_scheduled)),
        ("aof_last_rewrite_time_sec", st.rewrite_time_last),
        ("aof_current_rewrite_time_sec", current),
        ("aof_last_bgrewrite_status", "ok" if st.lastbgrewrite_ok else "err"),
        ("aof_rewrites", getattr(server, "stat_aof_rewrites", 0)),
        ("aof_rewrites_consecutive_failures", st.consecutive_failures),
        ("aof_last_write_status", "ok" if st.last_write_ok else "err"),
    ]
    writer = server.aof
    when_on = [
        ("aof_current_size", st.current_size), ("aof_base_size", st.base_size),
        ("aof_pending_rewrite", int(st.rewrite_scheduled)),
        ("aof_buffer_length", sum(map(len, writer.pending)) if writer is not None else 0),
        ("aof_pending_bio_fsync", 0), ("aof_delayed_fsync", 0),
    ]
    return always, when_on if on else []
