"""Replication between redkeep processes: seed 001's master + two replicas, promotion
without a full resync, WAIT, min-replicas-to-write, replica-serve-stale-data, disk and
diskless full syncs (one BGSAVE for several replicas), expiry through the master's DEL,
MULTI/EXEC and script effects, several databases, and a long randomized run with
replica crashes and link drops. Every process is started and stopped by pid (Group)."""

from __future__ import annotations

import os
import random
import re
import socket
import time

import hiredis
import pytest

from redkeep.persistence.rdb import dump_rdb
from redkeep.server.propagation import encode_command
from support.procs import free_port
from support.replication import Group, Node, Writer, fill_every_type
from support.replstream import ReplicaTap, drop_pings
from support.resp import ReplyError

READONLY = ReplyError("READONLY You can't write against a read only replica.")
MASTERDOWN = ReplyError(
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.")
NOREPLICAS = ReplyError("NOREPLICAS Not enough good replicas to write.")
ZERO_ID = "0" * 40


@pytest.fixture
def group(tmp_path):
    g = Group(tmp_path)
    try:
        yield g
    finally:
        g.close()


def replica_of(group: Group, master: Node, *args: str, password: str = "") -> Node:
    return group.start("redkeep", "--replicaof", "127.0.0.1", str(master.port), *args,
                       password=password)


def slave_lines(info: dict[str, str]) -> dict[int, dict[str, str]]:
    """slaveN:ip=..,port=..,state=..,offset=..,lag=.. by port."""
    out = {}
    for key, value in info.items():
        if re.fullmatch(r"slave\d+", key):
            fields = dict(kv.split("=", 1) for kv in value.split(","))
            out[int(fields["port"])] = fields
    return out


# ---- Seed 001: master + two replicas with a password ----


def test_seed_001_master_and_two_replicas(group: Group) -> None:
    pw = "123456"
    m = group.start("redkeep", "--dbfilename", "dump-6379.rdb", password=pw)
    assert m("SET", "hello", "world") == "OK"
    assert m("GET", "hello") == b"world"
    replicas = [replica_of(group, m, "--replica-read-only", "yes", "--dbfilename",
                           f"dump-{i}.rdb", password=pw) for i in (6380, 6381)]
    group.wait_link_up(*replicas)
    for r in replicas:
        assert r("KEYS", "*") == [b"hello"]
        assert r("GET", "hello") == b"world"
        assert r.raw("SET", "hello", "spring") == READONLY
    assert m("SET", "hello", "tomcat") == "OK"
    group.wait(lambda: all(r("GET", "hello") == b"tomcat" for r in replicas), 20,
               "the new value on both replicas")
    offset = group.wait_in_sync(m, replicas)

    # INFO replication on the master: both replicas online with the acked offsets
    def acked() -> dict | None:
        info = m.info()
        lines = slave_lines(info)
        ok = len(lines) == 2 and all(f["offset"] == info["master_repl_offset"] for f in lines.values())
        return info if ok else None
    info = group.wait(acked, 20, "REPLCONF ACKs of both replicas")
    assert info["role"] == "master"
    assert info["connected_slaves"] == "2"
    lines = slave_lines(info)
    assert set(lines) == {r.port for r in replicas}
    for fields in lines.values():
        assert fields["ip"] == "127.0.0.1"
        assert fields["state"] == "online"
        assert int(fields["offset"]) >= offset
        assert fields["lag"].isdigit()
    assert list(info)[:2] == ["role", "connected_slaves"]
    assert info["master_failover_state"] == "no-failover"
    assert re.fullmatch(r"[0-9a-f]{40}", info["master_replid"])
    assert info["master_replid2"] == ZERO_ID
    assert info["second_repl_offset"] == "-1"
    assert info["repl_backlog_active"] == "1"
    assert info["repl_backlog_size"] == "1048576"
    assert info["repl_backlog_first_byte_offset"] == "1"
    assert info["repl_backlog_histlen"] == info["master_repl_offset"]

    for r in replicas:
        ri = r.info()
        assert (ri["role"], ri["master_host"], ri["master_port"]) == \
            ("slave", "127.0.0.1", str(m.port))
        assert ri["master_link_status"] == "up"
        assert ri["master_sync_in_progress"] == "0"
        assert ri["slave_read_only"] == "1"
        assert ri["master_replid"] == info["master_replid"]

    # ROLE on each node
    role = m("ROLE")
    assert role[0] == b"master" and isinstance(role[1], int)
    assert sorted(int(x[1]) for x in role[2]) == sorted(r.port for r in replicas)
    assert all(x[0] == b"127.0.0.1" for x in role[2])
    for r in replicas:
        rr = r("ROLE")
        assert rr[:4] == [b"slave", b"127.0.0.1", m.port, b"connected"]
        assert rr[4] >= offset
    group.assert_same_data(m, replicas)


# ---- Promotion ----


def test_promotion_continues_with_psync(group: Group) -> None:
    m = group.start("redkeep")
    r1, r2 = replica_of(group, m), replica_of(group, m)
    fill_every_type(m)
    old_offset = group.wait_in_sync(m, [r1, r2])
    old_id = m.info()["master_replid"]

    assert r1.replicaof(None) == "OK"
    i1 = r1.info()
    assert i1["role"] == "master"
    assert i1["master_replid2"] == old_id
    assert i1["master_replid"] != old_id
    assert i1["second_repl_offset"] == str(old_offset + 1)
    assert r1.raw("SET", "after", "promotion") == "OK"   # writable now
    full_before = r1.stat("sync_full")

    assert r2.replicaof(r1) == "OK"
    assert m.replicaof(r1) == "OK"       # the old master follows the new one
    group.wait(lambda: r1.stat("sync_partial_ok") == 2, 30, "two partial resyncs on r1")
    group.wait_in_sync(r1, [r2, m])
    assert r1.stat("sync_full") == full_before
    assert r1.stat("sync_partial_err") == 0
    assert r2.stat("sync_full") == 0
    for n in (r2, m):
        assert n.info()["master_replid"] == i1["master_replid"]
        assert n("GET", "after") == b"promotion"
    assert "Successful partial resynchronization with master" in r2.proc.log_text()
    # the new history flows on
    r1("HSET", "new", "a", "1")
    group.wait_in_sync(r1, [r2, m])
    group.assert_same_data(r1, [r2, m])
    assert m.raw("SET", "x", "y") == READONLY


# ---- WAIT, min-replicas-to-write, stale data ----


def test_wait(group: Group) -> None:
    m = group.start("redkeep")
    r = replica_of(group, m)
    group.wait_link_up(r)
    m("SET", "k", "v")
    assert m("WAIT", 1, 10000) == 1
    t0 = time.monotonic()
    assert m("WAIT", 2, 400) == 1           # times out with the current count
    assert time.monotonic() - t0 >= 0.35
    assert r.raw("WAIT", 1, 0) == ReplyError(
        "ERR WAIT cannot be used with replica instances. Please also note that since Redis "
        "4.0 if a replica is configured to be writable (which is not the default) writes to "
        "replicas are just local and are not propagated.")
    r.proc.stop(remove_dir=False)
    group.wait(lambda: m.info()["connected_slaves"] == "0", 20, "the replica to be gone")
    m("SET", "k", "v2")
    assert m("WAIT", 1, 300) == 0


def test_min_replicas_to_write(group: Group) -> None:
    m = group.start("redkeep", "--min-replicas-to-write", "1", "--min-replicas-max-lag", "10")
    assert m.raw("SET", "k", "v") == NOREPLICAS
    assert m.raw("GET", "k") is None                  # reads are fine
    assert m.info()["min_slaves_good_slaves"] == "0"
    r = replica_of(group, m)
    group.wait_link_up(r)
    group.wait(lambda: m.raw("SET", "k", "v") == "OK", 20, "writes accepted with a replica")
    assert m.info()["min_slaves_good_slaves"] == "1"
    group.wait(lambda: r("GET", "k") == b"v", 20, "the write on the replica")
    r.proc.stop(remove_dir=False)
    group.wait(lambda: m.raw("SET", "k", "w") == NOREPLICAS, 20, "NOREPLICAS again")


def test_replica_serve_stale_data_no(group: Group) -> None:
    dead = free_port()
    r = group.start("redkeep", "--replicaof", "127.0.0.1", str(dead))
    assert r("CONFIG", "SET", "replica-serve-stale-data", "no") == "OK"
    for cmd in (("GET", "k"), ("PING",), ("DBSIZE",), ("WAIT", 1, 0)):
        assert r.raw(*cmd) == MASTERDOWN, cmd
    assert r.info()["master_link_status"] == "down"    # stale-ok commands still run
    assert r("ROLE")[3:] in ([b"connect", -1], [b"connecting", -1])
    m = group.start("redkeep")
    m("SET", "k", "from-master")
    assert r.replicaof(m) == "OK"
    group.wait_link_up(r)
    assert r("GET", "k") == b"from-master"
    assert r("PING") == "PONG"


# ---- Full syncs ----


@pytest.mark.parametrize("diskless", ["no", "yes"])
def test_full_sync_while_writing(group: Group, diskless: str) -> None:
    """The stream produced while the RDB is made is buffered and sent after it."""
    m = group.start("redkeep", "--repl-diskless-sync", diskless,
                    "--repl-diskless-sync-delay", "0")
    fill_every_type(m)
    m("DEBUG", "POPULATE", "50000")
    writer = Writer(m, seed=7, short_ttl=False)
    writer.start()
    try:
        r = replica_of(group, m)
        group.wait_link_up(r)
        group.wait(lambda: writer.sent > 200, 30, "writes after the sync")
    finally:
        writer.finish()
    group.wait_in_sync(m, [r])
    group.assert_same_data(m, [r])
    target = "replicas sockets" if diskless == "yes" else "disk"
    assert f"Starting BGSAVE for SYNC with target: {target}" in m.proc.log_text()
    assert m.stat("sync_full") == 1


def test_two_replicas_share_one_disk_bgsave(group: Group) -> None:
    m = group.start("redkeep", "--repl-diskless-sync", "no")
    m("DEBUG", "POPULATE", "300000")       # a BGSAVE long enough for the second to join
    fill_every_type(m, prefix="c:")
    r1, r2 = group.start("redkeep"), group.start("redkeep")
    c1, c2 = r1.connect(), r2.connect()
    c1.send("REPLICAOF", "127.0.0.1", m.port)
    c2.send("REPLICAOF", "127.0.0.1", m.port)
    assert c1.read_reply() == c2.read_reply() == b"+OK\r\n"
    group.wait_in_sync(m, [r1, r2], timeout=60)
    log = m.proc.log_text()
    assert log.count("Starting BGSAVE for SYNC with target: disk") == 1, log
    assert log.count("Waiting for end of BGSAVE for SYNC") == 1, log
    assert m.stat("sync_full") == 2
    group.assert_same_data(m, [r1, r2])


def test_two_replicas_share_one_diskless_transfer(group: Group) -> None:
    m = group.start("redkeep", "--repl-diskless-sync", "yes",
                    "--repl-diskless-sync-delay", "2")
    fill_every_type(m)
    r1, r2 = replica_of(group, m), replica_of(group, m)
    group.wait_in_sync(m, [r1, r2], timeout=60)
    log = m.proc.log_text()
    assert log.count("Starting BGSAVE for SYNC with target: replicas sockets") == 1, log
    assert m.stat("sync_full") == 2
    group.assert_same_data(m, [r1, r2])


# ---- What the stream carries ----


def test_expiry_reaches_replica_only_as_del(group: Group) -> None:
    m = group.start("redkeep")
    r = replica_of(group, m)
    group.wait_link_up(r)
    tap = ReplicaTap(m.port)
    try:
        m("DEBUG", "SET-ACTIVE-EXPIRE", "0")
        m("SET", "lazy", "v", "PX", 200)
        group.wait_in_sync(m, [r])
        assert r("DBSIZE") == 1
        # logically expired: hidden from the replica's clients, but not deleted by it
        group.wait(lambda: r("GET", "lazy") is None, 20, "the key to look expired")
        time.sleep(1.2)                          # >= 10 active-expire cycles at hz 10
        assert r("DBSIZE") == 1
        assert r("EXISTS", "lazy") == 0
        assert m("GET", "lazy") is None          # lazy expiry on the master → DEL
        group.wait(lambda: r("DBSIZE") == 0, 20, "the master's DEL on the replica")

        m("DEBUG", "SET-ACTIVE-EXPIRE", "1")
        m("SET", "active", "v", "PX", 100)
        group.wait(lambda: r("DBSIZE") == 0 and m("DBSIZE") == 0, 20, "active expiry")
        cmds = tap.commands(lambda cs: [b"DEL", b"active"] in cs)
        stream = drop_pings(cmds)
        assert [b"DEL", b"lazy"] in stream
        assert stream.index([b"DEL", b"lazy"]) < stream.index([b"DEL", b"active"])
    finally:
        tap.close()
    group.assert_same_data(m, [r])


def test_multi_exec_and_script_effects(group: Group) -> None:
    m = group.start("redkeep")
    r = replica_of(group, m)
    group.wait_link_up(r)
    tap = ReplicaTap(m.port)
    try:
        m("SADD", "pool", *range(50))
        c = m.connect()
        c.send_many([("MULTI",), ("SET", "a", "1"), ("INCR", "a"), ("SELECT", 3),
                     ("LPUSH", "l", "x"), ("EXEC",)])
        assert c.read_replies(6)[-1] == b"*4\r\n+OK\r\n:2\r\n+OK\r\n:1\r\n"
        c.close()
        m("EVAL", "redis.call('set', KEYS[1], redis.call('spop', KEYS[2])); "
          "return redis.call('srandmember', KEYS[2])", 2, "picked", "pool")
        m("SPOP", "pool", 5)
        m("EVAL", "redis.call('set', 'now', redis.call('time')[1])", 0)
        m("SET", "end", "1")
        cmds = drop_pings(tap.commands(lambda cs: [b"SET", b"end", b"1"] in cs))
    finally:
        tap.close()
    names = [x[0].upper() for x in cmds]
    assert b"EVAL" not in names and b"SPOP" not in names    # effects, not the scripts
    first = names.index(b"MULTI")
    assert names[first:first + 6] == [b"MULTI", b"SET", b"INCR", b"SELECT", b"LPUSH", b"EXEC"]
    assert [b"SREM", b"pool"] == cmds[names.index(b"SREM")][:2]
    group.wait_in_sync(m, [r])
    group.assert_same_data(m, [r])
    assert r("GET", "picked") == m("GET", "picked")
    assert r("SCARD", "pool") == 44


def test_several_databases(group: Group) -> None:
    m = group.start("redkeep")
    r = replica_of(group, m)
    group.wait_link_up(r)
    a, b = m.connect(), m.connect()
    for i in range(30):
        a.call_py("SELECT", i % 16)
        a.call_py("SET", "k", f"a{i}")
        b.call_py("SELECT", (i * 7) % 16)
        b.call_py("RPUSH", "l", f"b{i}")
    a.call_py("SELECT", 2)
    a.call_py("MOVE", "k", 4)
    a.call_py("SELECT", 5)
    a.call_py("COPY", "l", "lcopy", "DB", "6")
    a.call_py("SWAPDB", 7, 8)
    a.call_py("SELECT", 9)
    a.call_py("FLUSHDB")
    a.close()
    b.close()
    group.wait_in_sync(m, [r])
    group.assert_same_data(m, [r])
    for db in range(16):
        r("SELECT", db)
        m("SELECT", db)
        assert r("DBSIZE") == m("DBSIZE"), db
        assert r("GET", "k") == m("GET", "k"), db


# ---- Randomized: writes, crashes, link drops ----


def test_randomized_writes_restarts_and_link_drops(group: Group) -> None:
    seed = int(os.environ.get("REDKEEP_REPL_SEED", time.time_ns() % 100000))
    rnd = random.Random(seed)
    m = group.start("redkeep", "--repl-backlog-size", "4mb")
    replicas = [replica_of(group, m), replica_of(group, m)]
    group.wait_link_up(*replicas)
    fill_every_type(m)
    writers = [Writer(m, seed=seed * 10 + i, nkeys=300, dbs=4) for i in range(3)]
    for w in writers:
        w.start()
    events = []
    try:
        deadline = time.monotonic() + 25
        while time.monotonic() < deadline:
            time.sleep(rnd.uniform(1.0, 3.0))
            victim = rnd.choice(replicas)
            if rnd.random() < 0.4:
                victim.kill9()
                victim.restart()
                events.append(f"kill -9 {victim.port}")
            else:
                killed = victim("CLIENT", "KILL", "TYPE", "master")
                events.append(f"CLIENT KILL TYPE master on {victim.port}: {killed}")
    finally:
        for w in writers:
            w.finish()
    m("DEBUG", "SET-ACTIVE-EXPIRE", "0")     # the data must stand still for the digests
    group.wait_in_sync(m, replicas, timeout=60)
    assert sum(w.sent for w in writers) > 500, "too few writes to mean anything"
    info = (f"seed={seed} events={events} sync_full={m.stat('sync_full')} "
            f"sync_partial_ok={m.stat('sync_partial_ok')}")
    group.assert_same_data(m, replicas, info)
    if any("CLIENT KILL" in e for e in events):
        assert m.stat("sync_partial_ok") >= 1, info


# ---- A scripted master: a link lost inside MULTI, the db across +CONTINUE ----


class ScriptedMaster:
    """A listening socket that plays the master's side of the protocol by hand."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(30)
        self.port = self.listener.getsockname()[1]
        self.conn: socket.socket | None = None
        self.reader = hiredis.Reader()

    def accept(self) -> None:
        self.conn, _ = self.listener.accept()
        self.conn.settimeout(30)
        self.reader = hiredis.Reader()

    def next_command(self) -> list[bytes]:
        """The replica's next command, REPLCONF ACKs skipped."""
        assert self.conn is not None
        while True:
            cmd = self.reader.gets()
            if cmd is False:
                data = self.conn.recv(65536)
                assert data, "the replica closed the link"
                self.reader.feed(data)
                continue
            if cmd[:2] != [b"REPLCONF", b"ACK"]:
                return cmd

    def handshake(self) -> list[bytes]:
        """Answer PING and REPLCONFs; returns the PSYNC command."""
        assert self.next_command() == [b"PING"]
        self.conn.sendall(b"+PONG\r\n")
        for _ in range(2):
            assert self.next_command()[0] == b"REPLCONF"
            self.conn.sendall(b"+OK\r\n")
        psync = self.next_command()
        assert psync[0] == b"PSYNC", psync
        return psync

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.listener.close()


def test_link_lost_inside_multi_and_selected_db(group: Group) -> None:
    """Like Redis's reploff, the offset passes a transaction only at its EXEC, and the
    stream continued after +CONTINUE runs in the db its last SELECT chose."""
    fake = ScriptedMaster()
    try:
        r = group.start("redkeep", "--replicaof", "127.0.0.1", str(fake.port))
        fake.accept()
        assert fake.handshake() == [b"PSYNC", b"?", b"-1"]
        replid = "a" * 40
        rdb = dump_rdb({}, {}, True, True, [])
        fake.conn.sendall(b"+FULLRESYNC %s 1000\r\n$%d\r\n%s" % (replid.encode(), len(rdb), rdb))
        done = encode_command([b"SELECT", b"3"]) + encode_command([b"SET", b"k1", b"v"])
        torn = encode_command([b"MULTI"]) + encode_command([b"SET", b"k2", b"v"])
        fake.conn.sendall(done + torn)
        group.wait(lambda: r.info()["slave_repl_offset"] == str(1000 + len(done)), 20,
                   "the commands before MULTI applied")
        fake.conn.close()                      # the link dies inside the transaction
        fake.accept()
        psync = fake.handshake()
        assert psync == [b"PSYNC", replid.encode(), b"%d" % (1000 + len(done) + 1)]
        rest = torn + encode_command([b"EXEC"]) + encode_command([b"SET", b"k3", b"v"])
        fake.conn.sendall(b"+CONTINUE\r\n" + rest)
        end = 1000 + len(done) + len(rest)
        group.wait(lambda: r.info()["slave_repl_offset"] == str(end), 20, "the continued stream")
        r("SELECT", 3)
        assert sorted(r("KEYS", "*")) == [b"k1", b"k2", b"k3"]
        r("SELECT", 0)
        assert r("DBSIZE") == 0
    finally:
        fake.close()
