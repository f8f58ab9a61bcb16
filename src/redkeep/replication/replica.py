"""The replica side of a replication link: handshake, PSYNC, RDB transfer, command stream.

Theory of operation
-------------------
`ReplicaLink` is a sans-IO state machine for one connection to a master, shaped like
Redis's syncWithMaster/readSyncBulkPayload. The shell connects, calls `connected()`,
feeds every byte read to `receive(data)`, and carries out the returned actions:

  Send(bytes)                  write to the master
  FullResync(replid, offset)   the master starts a full sync (the replica keeps serving
                               its old data until the payload is complete)
  LoadRDB(payload)             the whole RDB arrived: flush, load, adopt replid/offset
  Continue(replid)             the master accepted PSYNC: keep the data, go on streaming
                               (a different replid means the master was promoted)
  Apply(argv, nbytes)          a command of the stream; after applying it the replica's
                               offset grows by `nbytes`, the exact size of its bytes
  Fail(reason)                 close the link and retry later

The handshake, in order (states named as Redis's REPL_STATE_*):
  1) PING (an -NOAUTH/-NOPERM reply is fine: the AUTH that follows fixes it; any other
     error aborts), 2) AUTH [masteruser] masterauth when set, 3) REPLCONF
     listening-port, 4) REPLCONF ip-address when replica-announce-ip is set, 5) REPLCONF
     capa eof capa psync2, 6) PSYNC <cached replid> <cached offset + 1>, or `PSYNC ? -1`
     without a cached master. Replies to 3)–5) that are errors are only logged, as Redis.

The payload comes as `$<len>\\r\\n<len bytes>` (disk-based sync) or as
`$EOF:<40-byte mark>\\r\\n<bytes…><mark>` (diskless); newlines before it are the master's
keepalives. Stream commands are RESP multibulks parsed with hiredis; their size is
computed from the arguments (a master writes the canonical encoding), so offsets match
the master's byte for byte.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import hiredis

from redkeep.server.propagation import encode_command


class ReplState(enum.Enum):
    CONNECTING = "connecting"
    RECEIVE_PING_REPLY = "receive_ping_reply"
    RECEIVE_AUTH_REPLY = "receive_auth_reply"
    RECEIVE_PORT_REPLY = "receive_port_reply"
    RECEIVE_IP_REPLY = "receive_ip_reply"
    RECEIVE_CAPA_REPLY = "receive_capa_reply"
    RECEIVE_PSYNC_REPLY = "receive_psync_reply"
    TRANSFER = "transfer"
    CONNECTED = "connected"
    FAILED = "failed"


@dataclass
class Send:
    data: bytes


@dataclass
class FullResync:
    replid: str
    offset: int


@dataclass
class LoadRDB:
    payload: bytes


@dataclass
class Continue:
    replid: str


@dataclass
class Apply:
    argv: list[bytes]
    nbytes: int


@dataclass
class Fail:
    reason: str


@dataclass
class Log:
    level: str
    message: str


Action = Send | FullResync | LoadRDB | Continue | Apply | Fail | Log

EOF_MARK_SIZE = 40


def command_size(argv: list[bytes]) -> int:
    """len(encode_command(argv)) without building it."""
    n = 3 + len(str(len(argv)))
    for a in argv:
        la = len(a)
        n += 5 + len(str(la)) + la
    return n


@dataclass
class HandshakeParams:
    listening_port: int
    masterauth: str = ""
    masteruser: str = ""
    announce_ip: str = ""
    cached_replid: str | None = None      # PSYNC continuation when known
    cached_offset: int = -1               # the last byte we processed
    failover: bool = False                # PSYNC ... FAILOVER: the target takes over


class ReplicaLink:
    def __init__(self, params: HandshakeParams) -> None:
        self.p = params
        self.state = ReplState.CONNECTING
        self.buf = b""
        self.transfer_size = -1         # -1: unknown (EOF mark form)
        self.transfer_read = 0
        self.eof_mark = b""
        self.payload: list[bytes] = []
        self.tail = b""                 # last EOF_MARK_SIZE bytes (EOF form)
        self.reader: hiredis.Reader | None = None
        self.psync_sent = False         # a failure from here on is PSYNC's or later

    # ---- Handshake ----

    def connected(self) -> list[Action]:
        self.state = ReplState.RECEIVE_PING_REPLY
        return [Send(encode_command([b"PING"]))]

    def receive(self, data: bytes) -> list[Action]:
        if self.state is ReplState.CONNECTED:
            return self._stream(data)
        self.buf += data
        out: list[Action] = []
        while self.state not in (ReplState.CONNECTED, ReplState.FAILED):
            if self.state is ReplState.TRANSFER:
                if not self._transfer(out):
                    break
                continue
            if self.state is ReplState.RECEIVE_PSYNC_REPLY:
                self.buf = self.buf.lstrip(b"\n")   # keepalives while the master prepares
            line = self._line()
            if line is None:
                break
            out.extend(self._on_reply(line))
        if self.state is ReplState.CONNECTED and self.buf:
            rest, self.buf = self.buf, b""
            out.extend(self._stream(rest))
        return out

    def _line(self) -> bytes | None:
        i = self.buf.find(b"\r\n")
        if i < 0:
            return None
        line, self.buf = self.buf[:i], self.buf[i + 2:]
        return line

    def _on_reply(self, line: bytes) -> list[Action]:
        st, p = self.state, self.p
        text = line.decode("utf-8", "replace")
        if st is ReplState.RECEIVE_PING_REPLY:
            if line.startswith(b"-") and not line.startswith((b"-NOAUTH", b"-NOPERM", b"-ERR operation not permitted")):
                return self._fail(f"Error reply to PING from master: '{text}'")
            out: list[Action] = [Log("notice", "Master replied to PING, replication can continue...")]
            if p.masterauth:
                args = [b"AUTH"] + ([p.masteruser.encode()] if p.masteruser else []) + [p.masterauth.encode()]
                self.state = ReplState.RECEIVE_AUTH_REPLY
                return out + [Send(encode_command(args))]
            return out + self._send_port()
        if st is ReplState.RECEIVE_AUTH_REPLY:
            if line.startswith(b"-"):
                return self._fail(f"Unable to AUTH to MASTER: {text}")
            return self._send_port()
        if st is ReplState.RECEIVE_PORT_REPLY:
            out = self._note_error(line, "REPLCONF listening-port")
            if p.announce_ip:
                self.state = ReplState.RECEIVE_IP_REPLY
                return out + [Send(encode_command([b"REPLCONF", b"ip-address", p.announce_ip.encode()]))]
            return out + self._send_capa()
        if st is ReplState.RECEIVE_IP_REPLY:
            return self._note_error(line, "REPLCONF ip-address") + self._send_capa()
        if st is ReplState.RECEIVE_CAPA_REPLY:
            return self._note_error(line, "REPLCONF capa") + self._send_psync()
        if st is ReplState.RECEIVE_PSYNC_REPLY:
            return self._on_psync_reply(line, text)
        raise AssertionError(f"no reply expected in state {st}")

    def _note_error(self, line: bytes, what: str) -> list[Action]:
        if line.startswith(b"-"):
            return [Log("notice", f"(Non critical) Master does not understand {what}: "
                        f"{line.decode('utf-8', 'replace')}")]
        return []

    def _send_port(self) -> list[Action]:
        self.state = ReplState.RECEIVE_PORT_REPLY
        return [Send(encode_command([b"REPLCONF", b"listening-port", b"%d" % self.p.listening_port]))]

    def _send_capa(self) -> list[Action]:
        self.state = ReplState.RECEIVE_CAPA_REPLY
        return [Send(encode_command([b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"]))]

    def _send_psync(self) -> list[Action]:
        self.state = ReplState.RECEIVE_PSYNC_REPLY
        self.psync_sent = True
        p = self.p
        if p.cached_replid:
            off = p.cached_offset + 1
            extra = [b"FAILOVER"] if p.failover else []
            return [Log("notice", f"Trying a partial resynchronization (request "
                        f"{p.cached_replid}:{off})."),
                    Send(encode_command([b"PSYNC", p.cached_replid.encode(), b"%d" % off,
                                         *extra]))]
        return [Log("notice", "Partial resynchronization not possible (no cached master)"),
                Send(encode_command([b"PSYNC", b"?", b"-1"]))]

    def _on_psync_reply(self, line: bytes, text: str) -> list[Action]:
        if line.startswith(b"+FULLRESYNC"):
            parts = text.split()
            if len(parts) < 3:
                return self._fail(f"Bad FULLRESYNC reply from master: '{text}'")
            replid, offset = parts[1], int(parts[2])
            self.state = ReplState.TRANSFER
            return [Log("notice", f"Full resync from master: {replid}:{offset}"),
                    FullResync(replid, offset)]
        if line.startswith(b"+CONTINUE"):
            parts = text.split()
            replid = parts[1] if len(parts) > 1 else (self.p.cached_replid or "")
            self._start_stream()
            return [Log("notice", "Successful partial resynchronization with master."),
                    Continue(replid)]
        if line.startswith((b"-NOMASTERLINK", b"-LOADING")):
            return self._fail(f"Master is currently unable to PSYNC but should be in the "
                              f"future: {text}")
        return self._fail(f"Unexpected reply to PSYNC from master: {text}")

    def _fail(self, reason: str) -> list[Action]:
        self.state = ReplState.FAILED
        return [Fail(reason)]

    # ---- RDB transfer ----

    def _transfer(self, out: list[Action]) -> bool:
        """Consume payload bytes; True when the state changed and parsing should go on."""
        if self.transfer_size == -1 and not self.eof_mark:
            # the master's keepalive newlines come before the '$' header
            stripped = self.buf.lstrip(b"\n")
            self.buf = stripped
            line = self._line()
            if line is None:
                return False
            if not line.startswith(b"$"):
                out.extend(self._fail(f"Bad protocol from MASTER, the first byte is not '$' "
                                      f"(we received '{line[:64].decode('utf-8', 'replace')}'), "
                                      "are you sure the host and port are right?"))
                return True
            if line.startswith(b"$EOF:") and len(line) == 5 + EOF_MARK_SIZE:
                self.eof_mark = line[5:]
                out.append(Log("notice", "MASTER <-> REPLICA sync: receiving streamed RDB from "
                               "master with EOF to disk"))
            else:
                try:
                    self.transfer_size = int(line[1:])
                except ValueError:
                    out.extend(self._fail("Bad RDB size from master"))
                    return True
                out.append(Log("notice", f"MASTER <-> REPLICA sync: receiving "
                               f"{self.transfer_size} bytes from master to disk"))
        if self.eof_mark:
            return self._transfer_eof(out)
        need = self.transfer_size - self.transfer_read
        chunk, self.buf = self.buf[:need], self.buf[need:]
        if chunk:
            self.payload.append(chunk)
            self.transfer_read += len(chunk)
        if self.transfer_read < self.transfer_size:
            return False
        self._finish_transfer(out)
        return True

    def _transfer_eof(self, out: list[Action]) -> bool:
        data, self.buf = self.buf, b""
        if not data:
            return False
        self.payload.append(data)
        self.transfer_read += len(data)
        self.tail = (self.tail + data)[-EOF_MARK_SIZE:]
        if self.tail != self.eof_mark:
            return False
        whole = b"".join(self.payload)
        self.payload = [whole[:-EOF_MARK_SIZE]]
        self.transfer_read -= EOF_MARK_SIZE
        self._finish_transfer(out)
        return True

    def _finish_transfer(self, out: list[Action]) -> None:
        payload = b"".join(self.payload)
        self.payload = []
        out.append(LoadRDB(payload))
        self._start_stream()

    def transfer_progress(self) -> tuple[int, int]:
        """(bytes read, total or -1) for INFO's master_sync_* fields."""
        return self.transfer_read, self.transfer_size

    # ---- Command stream ----

    def _start_stream(self) -> None:
        self.state = ReplState.CONNECTED
        self.reader = hiredis.Reader()

    def _stream(self, data: bytes) -> list[Action]:
        reader = self.reader
        assert reader is not None
        if data:
            reader.feed(data)
        out: list[Action] = []
        while True:
            try:
                item = reader.gets()
            except hiredis.ProtocolError as e:
                out.extend(self._fail(f"Protocol error from master: {e}"))
                return out
            if item is False:
                return out
            if not isinstance(item, list) or not item or \
                    not all(isinstance(a, bytes) for a in item):
                out.extend(self._fail(f"Unexpected data in the master's stream: {item!r:.60}"))
                return out
            out.append(Apply(item, command_size(item)))
