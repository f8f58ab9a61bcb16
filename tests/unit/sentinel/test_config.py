"""sentinel.conf loading, errors, the state rewrite, SENTINEL CONFIG and SENTINEL SET.

Expected texts come from real redis-sentinel 7.0.15 (see tests/interop/
test_sentinel_config_interop.py for the same table run against it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from redkeep.sentinel.config import (
    DENY_SCRIPTS,
    SentinelConfig,
    check_config_file,
    client_reconfig_args,
    config_get,
    config_set,
    current_master_addr,
    flush_config,
    new_myid,
    rewrite,
    rewritten_text,
    sentinel_set,
)
from redkeep.sentinel.instance import FailoverState, Flag, Replica, SentinelPeer
from redkeep.server.config import ConfigFileError, ServerConfig

SEEDS = Path("/work/shared/seeds")
MYID = "fd435b0317150e21d34f520915f69fa254a7c253"


def write(tmp_path: Path, text: str, name: str = "sentinel.conf") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def load(tmp_path: Path, text: str, **kw) -> SentinelConfig:
    return SentinelConfig.load(write(tmp_path, text), **kw)


def load_error(tmp_path: Path, text: str) -> ConfigFileError:
    with pytest.raises(ConfigFileError) as info:
        load(tmp_path, text)
    return info.value


# ---- Loading ----


def test_defaults_and_full_file(tmp_path: Path) -> None:
    script = tmp_path / "notify.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    cfg = load(tmp_path, f"""
protected-mode yes
daemonize no
requirepass secret
sentinel known-replica m1 10.0.0.2 6379
sentinel monitor m1 10.0.0.1 6379 2
sentinel down-after-milliseconds m1 5000
sentinel failover-timeout m1 30000
sentinel parallel-syncs m1 3
sentinel auth-pass m1 pw
sentinel auth-user m1 bob
sentinel notification-script m1 {script}
sentinel client-reconfig-script m1 {script}
sentinel config-epoch m1 7
sentinel leader-epoch m1 6
sentinel known-sentinel m1 10.0.0.9 26379 {MYID}
sentinel known-sentinel m1 10.0.0.8 26379
sentinel rename-command m1 CONFIG myconfig
sentinel master-reboot-down-after-period m1 100
sentinel monitor m2 ::1 6380 1
sentinel myid {MYID}
sentinel current-epoch 3
sentinel announce-ip 1.2.3.4
sentinel announce-port 26000
sentinel deny-scripts-reconfig no
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel sentinel-user su
sentinel sentinel-pass sp
""")
    assert cfg.server.port == 26379 and cfg.server.protected_mode is True
    assert cfg.server.requirepass == "secret"
    assert list(cfg.masters) == ["m1", "m2"]
    m = cfg.masters["m1"]
    assert (m.addr, m.quorum, m.down_after_ms, m.failover_timeout) == (("10.0.0.1", 6379), 2, 5000, 30000)
    assert (m.parallel_syncs, m.auth_pass, m.auth_user) == (3, "pw", "bob")
    assert m.notification_script == m.client_reconfig_script == str(script)
    assert (m.config_epoch, m.leader_epoch, m.master_reboot_down_after_period) == (7, 6, 100)
    assert list(m.replicas) == [("10.0.0.2", 6379)]
    assert list(m.sentinels) == [MYID]   # the old form without run id is ignored
    assert m.replicas[("10.0.0.2", 6379)].live.down_after_ms == 5000
    assert m.live.down_after_ms == 5000
    assert cfg.renamed_commands == {"m1": {"CONFIG": "myconfig"}}
    assert cfg.masters["m2"].addr == ("::1", 6380)
    assert cfg.myid == MYID and cfg.current_epoch == 7   # config-epoch raises it
    assert (cfg.announce_ip, cfg.announce_port) == ("1.2.3.4", 26000)
    assert (cfg.deny_scripts_reconfig, cfg.resolve_hostnames, cfg.announce_hostnames) == (False, True, True)
    assert (cfg.sentinel_user, cfg.sentinel_pass) == ("su", "sp")


def test_sentinel_defaults(tmp_path: Path) -> None:
    cfg = load(tmp_path, "sentinel monitor m 127.0.0.1 6379 2\n")
    m = cfg.masters["m"]
    assert (m.down_after_ms, m.failover_timeout, m.parallel_syncs) == (30000, 180000, 1)
    assert cfg.myid == "" and cfg.deny_scripts_reconfig is True
    assert cfg.server.protected_mode is False and cfg.server.port == 26379
    assert cfg.path == str(tmp_path / "sentinel.conf")


def test_command_line_options_and_case(tmp_path: Path) -> None:
    p = write(tmp_path, "SENTINEL MONITOR m 127.0.0.1 6379 2\nsentinel Down-After-Milliseconds m 10\n")
    cfg = SentinelConfig.from_argv([p, "--port", "26999", "--sentinel"])
    assert cfg.server.port == 26999 and cfg.masters["m"].down_after_ms == 10


def test_hostnames_need_resolve_hostnames(tmp_path: Path) -> None:
    text = "sentinel monitor m db.example 6379 2\n"
    err = load_error(tmp_path, text)
    assert err.message == "Can't resolve instance hostname."
    cfg = load(tmp_path, text + "sentinel resolve-hostnames yes\n",
               resolver=lambda host: "10.1.1.1" if host == "db.example" else None)
    assert cfg.masters["m"].addr == ("10.1.1.1", 6379)


def test_server_part_rejects_sentinel_lines_outside_sentinel_mode(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError) as info:
        ServerConfig.from_argv([write(tmp_path, "sentinel monitor m 127.0.0.1 6379 2\n")])
    assert info.value.message == "sentinel directive while not in sentinel mode"


M = "sentinel monitor m1 127.0.0.1 6379 2"

# (lines, failing line number, Redis's text) — all checked against redis-sentinel 7.0.15.
BAD = [
    (["sentinel monitor m 127.0.0.1 6379 0"], 1, "Quorum must be 1 or greater."),
    (["sentinel monitor m 127.0.0.1 6379 x"], 1, "Quorum must be 1 or greater."),
    (["sentinel monitor m nosuchhost.invalid 6379 2"], 1, "Can't resolve instance hostname."),
    (["sentinel monitor m localhost 6379 2"], 1, "Can't resolve instance hostname."),
    (["sentinel monitor m 127.0.0.1 70000 2"], 1, "Invalid port number."),
    (["sentinel monitor m 127.0.0.1 -1 2"], 1, "Invalid port number."),
    ([M, "sentinel monitor m1 127.0.0.1 6380 2"], 2, "Duplicate master name."),
    (["sentinel monitor m 127.0.0.1 6379"], 1, "Unrecognized sentinel configuration statement."),
    ([M, "sentinel down-after-milliseconds m1 0"], 2, "negative or zero time parameter."),
    ([M, "sentinel down-after-milliseconds m1 abc"], 2, "negative or zero time parameter."),
    ([M, "sentinel failover-timeout m1 -5"], 2, "negative or zero time parameter."),
    ([M, "sentinel notification-script m1 /nonexistent-script"], 2,
     "Notification script seems non existing or non executable."),
    ([M, "sentinel client-reconfig-script m1 /nonexistent-script"], 2,
     "Client reconfiguration script seems non existing or non executable."),
    ([M, "sentinel myid abc"], 2, "Malformed Sentinel id in myid option."),
    ([M, "sentinel known-replica m1 127.0.0.1 6380", "sentinel known-replica m1 127.0.0.1 6380"],
     3, "Duplicate hostname and port for replica."),
    ([M, "sentinel known-replica m1 nosuch.invalid 6380"], 2, "Can't resolve instance hostname."),
    ([M, "sentinel known-replica m1 127.0.0.1 99999"], 2, "Invalid port number."),
    ([M, "sentinel known-sentinel m1 127.0.0.1 26380 aaaa",
      "sentinel known-sentinel m1 127.0.0.1 26381 aaaa"], 3, "Duplicate runid for sentinel."),
    ([M, "sentinel rename-command m1 config c1", "sentinel rename-command m1 CONFIG c2"], 3,
     "Same command renamed multiple times with rename-command."),
    ([M, "sentinel master-reboot-down-after-period m1 -1"], 2, "negative time parameter."),
    (["sentinel deny-scripts-reconfig maybe"], 1,
     "Please specify yes or no for the deny-scripts-reconfig options."),
    (["sentinel resolve-hostnames maybe"], 1,
     "Please specify yes or no for the resolve-hostnames option."),
    (["sentinel announce-hostnames maybe"], 1,
     "Please specify yes or no for the announce-hostnames option."),
    (["sentinel foo bar"], 1, "Unrecognized sentinel configuration statement."),
    ([M, "sentinel auth-pass m1"], 2, "Unrecognized sentinel configuration statement."),
    ([M, "sentinel myid"], 2, "Unrecognized sentinel configuration statement."),
    # pre-monitor options are read first, whatever their place in the file
    (["sentinel monitor m 127.0.0.1 6379 2", "sentinel monitor m 127.0.0.1 6379 2",
      "sentinel foo", "sentinel myid abc"], 4, "Malformed Sentinel id in myid option."),
]


@pytest.mark.parametrize(("lines", "lineno", "message"), BAD, ids=[b[2][:30] + str(i) for i, b in enumerate(BAD)])
def test_bad_lines(tmp_path: Path, lines: list[str], lineno: int, message: str) -> None:
    err = load_error(tmp_path, "\n".join(lines) + "\n")
    assert err.message == message
    assert err.lineno == lineno and err.line == lines[lineno - 1]
    assert str(err) == (f"\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n"
                        f"Reading the configuration file, at line {lineno}\n"
                        f">>> '{lines[lineno - 1]}'\n{message}")
    assert err.filename == str(tmp_path / "sentinel.conf")


def test_accepted_oddities(tmp_path: Path) -> None:
    """Things redis-sentinel 7.0.15 accepts (checked): atoi/strtoull parsing, any 40-char id."""
    cfg = load(tmp_path, "\n".join([
        "sentinel monitor m 127.0.0.1 0 2x",
        "sentinel parallel-syncs m 0",
        "sentinel current-epoch x",
        "sentinel config-epoch m x",
        "sentinel myid 012345678901234567890123456789012345678g",
        "sentinel known-replica m 127.0.0.1 0",
        "sentinel",
    ]) + "\n")
    m = cfg.masters["m"]
    assert (m.addr, m.quorum, m.parallel_syncs, m.config_epoch) == (("127.0.0.1", 0), 2, 0, 0)
    assert cfg.myid.endswith("g")


def test_seed_003_typo_names_the_monitored_masters(tmp_path: Path) -> None:
    seed = next(SEEDS.glob("003_*.txt")).read_text()
    start = seed.index("[root@web01 conf]# vi sentinel.conf") + len("[root@web01 conf]# vi sentinel.conf")
    block = seed[start:seed.index("[root@web01 redis]#", start)].strip("\n")
    # the seed's client-reconfig-script path does not exist here: point it to a real one
    script = tmp_path / "reconfig_master.sh"
    script.write_text("#!/bin/bash\nexit 0\n")
    script.chmod(0o755)
    text = block.replace("/etc/redis/reconfig_master.sh", str(script))
    text = text.replace('logfile "/var/log/sentinel.log"', "").replace("daemonize yes", "")
    err = load_error(tmp_path, text + "\n")
    lines = text.split("\n")
    bad = "sentinel down-after-milliseconds mymaster 5000"
    assert err.line == bad and lines[err.lineno - 1] == bad
    assert err.message == ("No such master with specified name. 'mymaster' is not monitored "
                           f"here (in {tmp_path / 'sentinel.conf'}); monitored masters: master1.")
    assert "monitored masters: master1." in str(err) and ">>> 'sentinel down-after-milliseconds mymaster 5000'" in str(err)
    fixed = load(tmp_path, text.replace("mymaster", "master1") + "\n")
    assert fixed.masters["master1"].down_after_ms == 5000
    assert fixed.masters["master1"].client_reconfig_script == str(script)


def test_unknown_master_without_any_monitor(tmp_path: Path) -> None:
    err = load_error(tmp_path, "sentinel down-after-milliseconds mymaster 5000\n")
    assert err.message.startswith("No such master with specified name. 'mymaster' is not "
                                  "monitored here; no master is monitored")


def test_master_names_are_case_sensitive(tmp_path: Path) -> None:
    err = load_error(tmp_path, "sentinel monitor m 127.0.0.1 6379 2\nsentinel down-after-milliseconds M 100\n")
    assert err.lineno == 2 and "monitored masters: m." in err.message


def test_server_line_errors_come_first(tmp_path: Path) -> None:
    err = load_error(tmp_path, "sentinel foo\nport abc\n")
    assert err.lineno == 2 and err.message == "argument couldn't be parsed into an integer"


def test_check_config_file(tmp_path: Path) -> None:
    assert check_config_file(None) == "Sentinel needs config file on disk to save state. Exiting..."
    p = write(tmp_path, "")
    assert check_config_file(p) is None
    assert check_config_file(p, access=lambda path, mode: False) == (
        f"Sentinel config file {p} is not writable: Permission denied. Exiting...")
    missing = str(tmp_path / "nope.conf")
    assert check_config_file(missing) == (
        f"Sentinel config file {missing} is not writable: No such file or directory. Exiting...")


def test_new_myid() -> None:
    assert new_myid(lambda n: bytes(range(n))) == bytes(range(20)).hex()
    assert len(new_myid(os.urandom)) == 40


# ---- Rewrite ----

# What redis-sentinel 7.0.15 wrote (after startup, +slave and three +sentinel flushes,
# then a failover to the replica); the appended server lines come in Redis's hash order,
# so that block is compared as a set.
ORIG = """port 26391
sentinel monitor mymaster 127.0.0.1 16390 2
sentinel down-after-milliseconds mymaster 1000
sentinel failover-timeout mymaster 5000
"""

REAL_AFTER_FAILOVER_SENTINEL_PART = """sentinel myid fd435b0317150e21d34f520915f69fa254a7c253
sentinel config-epoch mymaster 1
sentinel leader-epoch mymaster 1
sentinel current-epoch 1

sentinel known-replica mymaster 127.0.0.1 16390

sentinel known-sentinel mymaster 127.0.0.1 26393 c90f4eb4810fc5518c5be3fec6999b15529843f0

sentinel known-sentinel mymaster 127.0.0.1 26392 2d5135056f4e03d14c01b94a5b6bfe7279ed5ca8

sentinel known-sentinel mymaster 1.2.3.4 26390 ec67fb44b64b1507539d3a7282a645eca392db34

"""


def split_generated(text: str) -> tuple[str, set[str], str]:
    """(user part, appended server lines as a set, sentinel part)."""
    head, _, tail = text.partition("# Generated by CONFIG REWRITE\n")
    lines = tail.split("\n")
    k = next(i for i, line in enumerate(lines) if line.startswith("sentinel "))
    return head, set(lines[:k]), "\n".join(lines[k:])


def test_rewrite_sequence_matches_real_sentinel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = write(tmp_path, ORIG)
    cfg = SentinelConfig.from_argv([p, "--daemonize", "yes", "--logfile", str(tmp_path / "s.log")])
    cfg.myid = MYID
    m = cfg.masters["mymaster"]
    text = ORIG
    text = rewritten_text(text, cfg)                  # startup: the new id
    m.replicas[("127.0.0.1", 16391)] = Replica(("127.0.0.1", 16391))
    text = rewritten_text(text, cfg)                  # +slave
    for host, port, runid in (("127.0.0.1", 26393, "c90f4eb4810fc5518c5be3fec6999b15529843f0"),
                              ("127.0.0.1", 26392, "2d5135056f4e03d14c01b94a5b6bfe7279ed5ca8"),
                              ("1.2.3.4", 26390, "ec67fb44b64b1507539d3a7282a645eca392db34")):
        m.sentinels[runid] = SentinelPeer((host, port), runid)
        text = rewritten_text(text, cfg)              # +sentinel
    # the failover: epoch 1, vote, promotion, then the switch to the new master
    cfg.current_epoch = m.leader_epoch = 1
    text = rewritten_text(text, cfg)
    m.flags |= Flag.FAILOVER_IN_PROGRESS
    m.failover_state, m.promoted, m.config_epoch = FailoverState.RECONF_SLAVES, ("127.0.0.1", 16391), 1
    mid = rewritten_text(text, cfg)
    assert "sentinel monitor mymaster 127.0.0.1 16391 2" in mid
    assert "sentinel known-replica mymaster 127.0.0.1 16390" in mid   # the promoted one: old addr
    m.flags &= ~Flag.FAILOVER_IN_PROGRESS
    m.failover_state, m.promoted = FailoverState.NONE, None
    m.addr = ("127.0.0.1", 16391)
    m.replicas = {("127.0.0.1", 16390): Replica(("127.0.0.1", 16390))}
    text = rewritten_text(mid, cfg)
    head, server_lines, sentinel_part = split_generated(text)
    assert head == ORIG.replace("16390 2", "16391 2") + "\n"
    assert server_lines == {"daemonize yes", f'logfile "{tmp_path}/s.log"', f'dir "{os.getcwd()}"',
                            "protected-mode no", "latency-tracking-info-percentiles 50 99 99.9",
                            "user default on nopass ~* &* +@all"}
    # same lines as the real file, sentinels in discovery order
    assert sentinel_part == REAL_AFTER_FAILOVER_SENTINEL_PART


def test_rewrite_blanks_defaults_and_save_and_keeps_user_lines(tmp_path: Path) -> None:
    old = ("# my sentinel\nport 26390\nsave 60 1\nsentinel monitor m 127.0.0.1 16390 2\n"
           "SENTINEL parallel-syncs m 1\nsentinel failover-timeout m 30000\n")
    cfg = load(tmp_path, old)
    cfg.myid = MYID
    text = rewritten_text(old, cfg)
    assert text.startswith("# my sentinel\nport 26390\n\nsentinel monitor m 127.0.0.1 16390 2\n"
                           "\nsentinel failover-timeout m 30000\n\n# Generated by CONFIG REWRITE\n")
    assert "save" not in text and "parallel-syncs" not in text
    assert text.endswith(f"sentinel myid {MYID}\nsentinel config-epoch m 0\n"
                         "sentinel leader-epoch m 0\nsentinel current-epoch 0\n")


def test_rewrite_global_options_and_quoting(tmp_path: Path) -> None:
    old = "sentinel monitor m 127.0.0.1 16390 2\nsentinel announce-port 5\n"
    cfg = load(tmp_path, old)
    cfg.myid = MYID
    for option, value in (("announce-ip", "1.2.3.4"), ("sentinel-user", "bob"),
                          ("sentinel-pass", "a b"), ("resolve-hostnames", "yes"),
                          ("announce-port", "0")):
        assert config_set(cfg, option, value)[0] is None
    m = cfg.masters["m"]
    assert sentinel_set(cfg, m, ["auth-pass", "secret", "rename-command", "config", "myconfig"]).error is None
    text = rewritten_text(old, cfg)
    assert "announce-port" not in text
    for line in ('sentinel announce-ip "1.2.3.4"', "sentinel sentinel-user bob",
                 'sentinel sentinel-pass "a b"', "sentinel resolve-hostnames yes",
                 "sentinel auth-pass m secret", "sentinel rename-command m config myconfig"):
        assert line + "\n" in text
    again = SentinelConfig.load(write(tmp_path, text, "again.conf"))   # reads back
    assert again.sentinel_pass == "a b" and again.announce_ip == "1.2.3.4"
    assert again.renamed_commands == {"m": {"config": "myconfig"}}


def test_rewrite_reuses_known_slave_lines(tmp_path: Path) -> None:
    """Redis 7.0.15 keeps a `known-slave` line and appends a duplicate `known-replica`, so
    its own file no longer loads; like later Redis versions we replace the old spelling."""
    old = "sentinel monitor m 127.0.0.1 16399 2\nsentinel known-slave m 127.0.0.1 16398\n"
    cfg = load(tmp_path, old)
    cfg.myid = MYID
    text = rewritten_text(old, cfg)
    assert "sentinel known-replica m 127.0.0.1 16398\n" in text and "known-slave" not in text
    assert text.count("16398") == 1
    assert list(SentinelConfig.load(write(tmp_path, text, "b.conf")).masters["m"].replicas) == [("127.0.0.1", 16398)]


def test_rewrite_round_trip_on_disk(tmp_path: Path) -> None:
    p = write(tmp_path, "port 26400\nsentinel monitor m 127.0.0.1 16390 2\n")
    cfg = SentinelConfig.load(p)
    m = cfg.masters["m"]
    m.replicas[("127.0.0.1", 16391)] = Replica(("127.0.0.1", 16391))
    m.sentinels["b" * 40] = SentinelPeer(("127.0.0.1", 26401), "b" * 40)
    rewrite(p, cfg, myid=MYID, current_epoch=4)
    assert oct(os.stat(p).st_mode & 0o777) != "0o0"
    assert [f for f in os.listdir(tmp_path) if f != "sentinel.conf"] == []   # no temp left
    back = SentinelConfig.load(p)
    assert back.myid == MYID and back.current_epoch == 4 and back.server.port == 26400
    bm = back.masters["m"]
    assert list(bm.replicas) == [("127.0.0.1", 16391)] and list(bm.sentinels) == ["b" * 40]
    before = Path(p).read_text()
    rewrite(p, back)
    after = Path(p).read_text()
    assert after == before + "\n"   # like Redis: the old final newline becomes a blank line
    rewrite(p, back)
    assert Path(p).read_text() == after   # ... and runs of blank lines are squeezed


def test_flush_config_messages(tmp_path: Path) -> None:
    p = write(tmp_path, "sentinel monitor m 127.0.0.1 16390 2\n")
    cfg = SentinelConfig.load(p)
    assert flush_config(cfg, myid=MYID) == ("notice", "Sentinel new configuration saved on disk")
    cfg.server.config_file = str(tmp_path / "missing-dir" / "s.conf")
    level, msg = flush_config(cfg)
    assert level == "warning" and msg == ("WARNING: Sentinel was not able to save the new "
                                          "configuration on disk!!!: No such file or directory")


def test_current_master_addr() -> None:
    from redkeep.sentinel.instance import Master
    m = Master("m", ("10.0.0.1", 6379), 2)
    m.promoted = ("10.0.0.2", 6379)
    m.flags |= Flag.FAILOVER_IN_PROGRESS
    m.failover_state = FailoverState.WAIT_PROMOTION
    assert current_master_addr(m) == ("10.0.0.1", 6379)
    m.failover_state = FailoverState.UPDATE_CONFIG
    assert current_master_addr(m) == ("10.0.0.2", 6379)


# ---- SENTINEL CONFIG GET / SET ----


def test_config_get_set(tmp_path: Path) -> None:
    cfg = load(tmp_path, "sentinel monitor m 127.0.0.1 16390 2\n")
    assert config_get(cfg, "*") == [
        ("resolve-hostnames", "no"), ("announce-hostnames", "no"), ("announce-ip", ""),
        ("announce-port", 0), ("sentinel-user", ""), ("sentinel-pass", "")]
    assert config_get(cfg, "ANNOUNCE-IP") == [("announce-ip", "")]
    assert config_get(cfg, "nope") == []
    assert config_set(cfg, "foo", "bar") == ("ERR Invalid argument 'foo' to SENTINEL CONFIG SET", False)
    assert config_set(cfg, "loglevel", "debug")[0] == "ERR Invalid argument 'loglevel' to SENTINEL CONFIG SET"
    for bad in ("abc", "-1", "70000", "", " 7", "+7", "7a"):
        assert config_set(cfg, "announce-port", bad)[0] == (
            f"ERR Invalid value '{bad}' to SENTINEL CONFIG SET 'announce-port'")
    assert config_set(cfg, "resolve-hostnames", "maybe")[0] == (
        "ERR Invalid value 'maybe' to SENTINEL CONFIG SET 'resolve-hostnames'")
    assert config_set(cfg, "resolve-hostnames", "YES") == (None, False)
    assert config_set(cfg, "sentinel-pass", "x") == (None, True)
    assert config_set(cfg, "announce-port", "5") == (None, False)
    assert dict(config_get(cfg, "*"))["announce-port"] == 5
    assert dict(config_get(cfg, "*"))["resolve-hostnames"] == "yes"


# ---- SENTINEL SET ----


def test_sentinel_set_errors_like_redis(tmp_path: Path) -> None:
    cfg = load(tmp_path, "sentinel monitor m 127.0.0.1 16390 2\n")
    m = cfg.masters["m"]
    cases = {
        ("down-after-milliseconds", "0"): "ERR Invalid argument '0' for SENTINEL SET 'down-after-milliseconds'",
        ("down-after-milliseconds", "x"): "ERR Invalid argument 'x' for SENTINEL SET 'down-after-milliseconds'",
        ("failover-timeout", "-1"): "ERR Invalid argument '-1' for SENTINEL SET 'failover-timeout'",
        ("parallel-syncs", "0"): "ERR Invalid argument '0' for SENTINEL SET 'parallel-syncs'",
        ("quorum", "2x"): "ERR Invalid argument '2x' for SENTINEL SET 'quorum'",
        ("master-reboot-down-after-period", "-1"):
            "ERR Invalid argument '-1' for SENTINEL SET 'master-reboot-down-after-period'",
        ("notification-script", "/nonexist"): DENY_SCRIPTS,
        ("client-reconfig-script", ""): DENY_SCRIPTS,
        ("rename-command", "CONFIG", ""): "ERR Invalid argument '' for SENTINEL SET 'rename-command'",
        ("rename-command", "", "X"): "ERR Invalid argument '' for SENTINEL SET 'rename-command'",
        ("foo", "bar"): "ERR Unknown option or number of arguments for SENTINEL SET 'foo'",
        ("quorum", "3", "parallel-syncs"):
            "ERR Unknown option or number of arguments for SENTINEL SET 'parallel-syncs'",
    }
    for args, error in cases.items():
        assert sentinel_set(cfg, m, list(args)).error == error, args
    assert DENY_SCRIPTS == ("ERR Reconfiguration of scripts path is denied for security reasons. "
                            "Check the deny-scripts-reconfig configuration directive in your "
                            "Sentinel configuration")


def test_sentinel_set_applies_until_the_first_error(tmp_path: Path) -> None:
    cfg = load(tmp_path, "sentinel monitor m 127.0.0.1 16390 2\nsentinel known-replica m 127.0.0.1 16391\n")
    m = cfg.masters["m"]
    out = sentinel_set(cfg, m, ["quorum", "3", "auth-pass", "pw", "parallel-syncs", "x"])
    assert (out.changes, out.drop_links, m.quorum, m.auth_pass) == (2, True, 3, "pw")
    assert out.events == ["quorum 3", "auth-pass ******"]
    assert out.error == "ERR Invalid argument 'x' for SENTINEL SET 'parallel-syncs'"
    out = sentinel_set(cfg, m, ["down-after-milliseconds", "99999999999999",
                                "master-reboot-down-after-period", "0",
                                "rename-command", "config", "myconfig"])
    assert out.error is None and out.changes == 3
    assert out.events[-1] == "rename-command config myconfig"
    assert m.live.down_after_ms == m.replicas[("127.0.0.1", 16391)].live.down_after_ms == 99999999999999
    sentinel_set(cfg, m, ["rename-command", "CONFIG", "config"])   # renamed back: forgotten
    assert cfg.renamed_commands["m"] == {}


def test_sentinel_set_scripts_when_allowed(tmp_path: Path) -> None:
    cfg = load(tmp_path, "sentinel monitor m 127.0.0.1 16390 2\nsentinel deny-scripts-reconfig no\n")
    m = cfg.masters["m"]
    assert sentinel_set(cfg, m, ["notification-script", "/nonexist"]).error == (
        "ERR Notification script seems non existing or non executable")
    assert sentinel_set(cfg, m, ["client-reconfig-script", "/nonexist"]).error == (
        "ERR Client reconfiguration script seems non existing or non executable")
    assert sentinel_set(cfg, m, ["client-reconfig-script", "/bin/true"]).error is None
    assert m.client_reconfig_script == "/bin/true"
    assert sentinel_set(cfg, m, ["client-reconfig-script", ""]).error is None
    assert m.client_reconfig_script == ""


def test_client_reconfig_args() -> None:
    from redkeep.sentinel.instance import Master
    m = Master("master1", ("192.168.11.123", 6379), 2)
    assert client_reconfig_args(m, "leader", "start", ("192.168.11.123", 6379),
                                ("192.168.11.125", 6379)) == [
        "master1", "leader", "start", "192.168.11.123", "6379", "192.168.11.125", "6379"]
