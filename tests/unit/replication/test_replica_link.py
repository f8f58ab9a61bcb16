"""ReplicaLink, the sans-IO replica side: every reply fed byte by byte and in random
chunks must give the same actions (handshake, PSYNC replies, both payload framings,
the command stream with exact byte counts)."""

from __future__ import annotations

import random

import pytest

from redkeep.replication.replica import (
    Apply,
    Continue,
    Fail,
    FullResync,
    HandshakeParams,
    LoadRDB,
    Log,
    ReplicaLink,
    ReplState,
    Send,
    command_size,
)
from redkeep.server.propagation import encode_command

REPLID = "f" * 40
NEWID = "e" * 40
MARK = b"0123456789abcdefghijklmnopqrstuvwxyz0123"
HANDSHAKE_OK = b"+PONG\r\n+OK\r\n+OK\r\n"     # PING, REPLCONF listening-port, capa


def cmd(*args: bytes) -> bytes:
    return encode_command(list(args))


def chunkings(data: bytes) -> list[list[bytes]]:
    """The same bytes: whole, byte by byte, and in seeded random chunks."""
    out = [[data], [data[i:i + 1] for i in range(len(data))]]
    for seed in range(5):
        rnd = random.Random(seed)
        parts, i = [], 0
        while i < len(data):
            n = rnd.randint(1, 17)
            parts.append(data[i:i + n])
            i += n
        out.append(parts)
    return out


def feed(link: ReplicaLink, parts: list[bytes]) -> list:
    actions: list = []
    for p in parts:
        actions.extend(link.receive(p))
    return actions


def no_logs(actions: list) -> list:
    return [a for a in actions if not isinstance(a, Log)]


def each_chunking(params: HandshakeParams, data: bytes):
    """Yield (link, non-log actions after connected()) for every chunking of `data`."""
    for parts in chunkings(data):
        link = ReplicaLink(params)
        first = link.connected()
        assert first == [Send(cmd(b"PING"))]
        yield link, no_logs(feed(link, parts))


def sent(actions: list) -> list[bytes]:
    return [a.data for a in actions if isinstance(a, Send)]


# ---- Handshake ----


def test_handshake_without_auth_sends_redis_sequence() -> None:
    params = HandshakeParams(listening_port=6380)
    for link, actions in each_chunking(params, HANDSHAKE_OK):
        assert sent(actions) == [
            cmd(b"REPLCONF", b"listening-port", b"6380"),
            cmd(b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"),
            cmd(b"PSYNC", b"?", b"-1"),
        ]
        assert link.state is ReplState.RECEIVE_PSYNC_REPLY


def test_handshake_with_masterauth_and_user_and_announce_ip() -> None:
    params = HandshakeParams(listening_port=7001, masterauth="123456", masteruser="repl",
                             announce_ip="10.0.0.9", cached_replid=REPLID, cached_offset=576)
    data = b"-NOAUTH Authentication required.\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n"
    for link, actions in each_chunking(params, data):
        assert sent(actions) == [
            cmd(b"AUTH", b"repl", b"123456"),
            cmd(b"REPLCONF", b"listening-port", b"7001"),
            cmd(b"REPLCONF", b"ip-address", b"10.0.0.9"),
            cmd(b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"),
            cmd(b"PSYNC", REPLID.encode(), b"577"),      # cached offset + 1
        ]
        assert link.state is ReplState.RECEIVE_PSYNC_REPLY


def test_masterauth_without_user() -> None:
    params = HandshakeParams(listening_port=1, masterauth="pw")
    link = ReplicaLink(params)
    link.connected()
    assert sent(link.receive(b"+PONG\r\n")) == [cmd(b"AUTH", b"pw")]


def test_error_reply_to_ping_fails() -> None:
    for _, actions in each_chunking(HandshakeParams(1), b"-ERR weird\r\n"):
        assert actions == [Fail("Error reply to PING from master: '-ERR weird'")]


def test_wrong_password_fails() -> None:
    params = HandshakeParams(1, masterauth="bad")
    data = b"+PONG\r\n-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    for link, actions in each_chunking(params, data):
        assert actions[-1] == Fail("Unable to AUTH to MASTER: -WRONGPASS invalid "
                                   "username-password pair or user is disabled.")
        assert link.state is ReplState.FAILED


def test_replconf_errors_are_not_critical() -> None:
    data = b"+PONG\r\n-ERR no port\r\n-ERR no capa\r\n"
    for parts in chunkings(data):
        link = ReplicaLink(HandshakeParams(1))
        link.connected()
        actions = feed(link, parts)
        logs = [a.message for a in actions if isinstance(a, Log)]
        assert any("Master does not understand REPLCONF listening-port" in m for m in logs)
        assert any("Master does not understand REPLCONF capa" in m for m in logs)
        assert sent(actions)[-1] == cmd(b"PSYNC", b"?", b"-1")
        assert not any(isinstance(a, Fail) for a in actions)


@pytest.mark.parametrize("reply,reason", [
    (b"-NOMASTERLINK Can't SYNC while not connected with my master",
     "Master is currently unable to PSYNC but should be in the future: "
     "-NOMASTERLINK Can't SYNC while not connected with my master"),
    (b"-LOADING Redis is loading the dataset in memory",
     "Master is currently unable to PSYNC but should be in the future: "
     "-LOADING Redis is loading the dataset in memory"),
    (b"-ERR unknown command 'PSYNC'", "Unexpected reply to PSYNC from master: "
     "-ERR unknown command 'PSYNC'"),
    (b"+FULLRESYNC", "Bad FULLRESYNC reply from master: '+FULLRESYNC'"),
])
def test_psync_error_replies_fail(reply: bytes, reason: str) -> None:
    for link, actions in each_chunking(HandshakeParams(1), HANDSHAKE_OK + reply + b"\r\n"):
        assert actions[-1] == Fail(reason)
        assert link.state is ReplState.FAILED


# ---- Full resync ----

STREAM_CMDS = [
    [b"SELECT", b"0"],
    [b"SET", b"k", b"v" * 300],
    [b"PING"],
    [b"HSET", b"h", b"", b"\r\n\x00binary"],
    [b"REPLCONF", b"GETACK", b"*"],
]
STREAM = b"".join(encode_command(c) for c in STREAM_CMDS)


def applies(actions: list) -> list[Apply]:
    return [a for a in actions if isinstance(a, Apply)]


def test_command_size_is_exact() -> None:
    for c in STREAM_CMDS + [[b"x" * 10], [b"a"] * 12, [b""]]:
        assert command_size(c) == len(encode_command(c))


def test_fullresync_with_length_payload_then_stream() -> None:
    payload = b"REDIS0009" + bytes(range(256)) * 3 + b"\r\n$5\r\n"   # binary, CRLFs inside
    data = (HANDSHAKE_OK + b"\n\n+FULLRESYNC " + REPLID.encode() + b" 1234\r\n"
            + b"\n\n\n$%d\r\n" % len(payload) + payload + STREAM)
    for link, actions in each_chunking(HandshakeParams(1), data):
        kinds = [a for a in actions if not isinstance(a, Send)]
        assert kinds[0] == FullResync(REPLID, 1234)
        assert kinds[1] == LoadRDB(payload)
        assert applies(actions) == [Apply(c, len(encode_command(c))) for c in STREAM_CMDS]
        assert sum(a.nbytes for a in applies(actions)) == len(STREAM)
        assert link.state is ReplState.CONNECTED
        assert link.transfer_progress() == (len(payload), len(payload))


def test_fullresync_with_eof_mark_and_keepalives() -> None:
    payload = b"REDIS0009" + b"x" * 5000 + MARK[:39] + b"\n" + MARK[:20]   # near-misses
    head = HANDSHAKE_OK + b"+FULLRESYNC " + REPLID.encode() + b" 0\r\n"
    data = head + b"\n" * 7 + b"$EOF:" + MARK + b"\r\n" + payload + MARK
    for link, actions in each_chunking(HandshakeParams(1), data):
        kinds = [a for a in actions if not isinstance(a, Send)]
        assert kinds == [FullResync(REPLID, 0), LoadRDB(payload)]
        assert link.state is ReplState.CONNECTED
        # the master streams only after our first ACK: feed it separately
        out = feed(link, chunkings(STREAM)[1])
        assert applies(out) == [Apply(c, command_size(c)) for c in STREAM_CMDS]


def test_payload_progress_while_transferring() -> None:
    link = ReplicaLink(HandshakeParams(1))
    link.connected()
    link.receive(HANDSHAKE_OK + b"+FULLRESYNC " + REPLID.encode() + b" 5\r\n$100\r\n")
    link.receive(b"a" * 40)
    assert link.state is ReplState.TRANSFER
    assert link.transfer_progress() == (40, 100)
    out = link.receive(b"b" * 60)
    assert out == [LoadRDB(b"a" * 40 + b"b" * 60)]


def test_bad_payload_header_fails() -> None:
    data = HANDSHAKE_OK + b"+FULLRESYNC " + REPLID.encode() + b" 5\r\n-ERR oops\r\n"
    for link, actions in each_chunking(HandshakeParams(1), data):
        assert isinstance(actions[-1], Fail)
        assert "the first byte is not '$'" in actions[-1].reason
        assert link.state is ReplState.FAILED


# ---- Partial resync ----


def test_continue_without_id_keeps_cached_id() -> None:
    params = HandshakeParams(1, cached_replid=REPLID, cached_offset=99)
    for link, actions in each_chunking(params, HANDSHAKE_OK + b"+CONTINUE\r\n" + STREAM):
        assert sent(actions)[-1] == cmd(b"PSYNC", REPLID.encode(), b"100")
        rest = [a for a in actions if not isinstance(a, Send)]
        assert rest[0] == Continue(REPLID)
        assert applies(rest) == [Apply(c, command_size(c)) for c in STREAM_CMDS]
        assert link.state is ReplState.CONNECTED


def test_continue_with_new_id() -> None:
    params = HandshakeParams(1, cached_replid=REPLID, cached_offset=99)
    data = HANDSHAKE_OK + b"\n+CONTINUE " + NEWID.encode() + b"\r\n" + STREAM
    for _, actions in each_chunking(params, data):
        rest = [a for a in actions if not isinstance(a, Send)]
        assert rest[0] == Continue(NEWID)
        assert len(applies(rest)) == len(STREAM_CMDS)


def test_garbage_in_stream_fails() -> None:
    params = HandshakeParams(1, cached_replid=REPLID, cached_offset=1)
    link = ReplicaLink(params)
    link.connected()
    link.receive(HANDSHAKE_OK + b"+CONTINUE\r\n")
    out = link.receive(b":12\r\n")
    assert isinstance(out[-1], Fail)
