"""redkeep.server.config: redis.conf parsing, CONFIG GET / SET / REWRITE.

Pure and fast: files only under pytest's tmp_path, no sockets. Expected texts and values
were taken from real redis-server 7.0.15 (tests/interop/test_config_interop.py checks the
same behaviour against it directly).
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redkeep.server.config import (
    DIRECTIVES,
    NOTIFY_ALL,
    NOTIFY_EXPIRED,
    NOTIFY_KEYEVENT,
    NOTIFY_KEYSPACE,
    NOTIFY_NEW,
    ConfigApplyError,
    ConfigFatalLogError,
    ConfigFileError,
    ConfigSetError,
    ServerConfig,
    keyspace_events_from_string,
    keyspace_events_to_string,
    quote_arg,
    split_args,
)


def load(text: str, **kwargs) -> ServerConfig:
    cfg = ServerConfig(**kwargs)
    cfg.load_text(text, "test.conf")
    return cfg


def fatal(text: str, **kwargs) -> str:
    with pytest.raises(ConfigFileError) as info:
        load(text, **kwargs)
    return str(info.value)


def get1(cfg: ServerConfig, name: str) -> str:
    [(_, value)] = cfg.get([name.encode()])
    return value


def set_error(cfg: ServerConfig, *args: str, **kwargs) -> str:
    pairs = [(args[i].encode(), args[i + 1].encode()) for i in range(0, len(args), 2)]
    with pytest.raises(ConfigSetError) as info:
        cfg.set(pairs, **kwargs)
    return str(info.value)


def cset(cfg: ServerConfig, *args: str, **kwargs) -> None:
    cfg.set([(args[i].encode(), args[i + 1].encode()) for i in range(0, len(args), 2)], **kwargs)


# ---- Line splitting and quoting (sdssplitargs / sdscatrepr) ----


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("port 6379", ["port", "6379"]),
        ("  port\t 6379  ", ["port", "6379"]),
        ('requirepass "a b"', ["requirepass", "a b"]),
        (r'x "a\x41\n\t\r\b\a\\\"\z\x4g"', ["x", 'aA\n\t\r\b\a\\"zx4g']),
        (r"x 'it\'s\n'", ["x", "it's\\n"]),
        ('x a"b c"', ["x", "ab c"]),  # a quote may open mid-token
        ("x ab'cd'", ["x", "abcd"]),
        ('x ""', ["x", ""]),
        ("x\ta\vb", ["x", "a\vb"]),  # \v does not end a token
        ("", []),
        ("   ", []),
        ('x "abc', None),
        ("x 'abc", None),
        ('x "abc"def', None),
        ('x """"', None),
        ("x 'a'b", None),
    ],
)
def test_split_args(line: str, expected: list[str] | None) -> None:
    assert split_args(line) == expected


def test_split_args_hex_escapes_give_bytes() -> None:
    [value] = split_args(r'"\xc3\xa9\xff"')
    assert value.encode("utf-8", "surrogateescape") == b"\xc3\xa9\xff"
    assert value.startswith("é")


def test_quote_arg_like_sdscatrepr() -> None:
    assert quote_arg('sec ret"\n') == '"sec ret\\"\\n"'
    assert quote_arg("a\x01\\") == '"a\\x01\\\\"'
    assert quote_arg("") == '""'


@given(st.text())
def test_quote_arg_round_trips(value: str) -> None:
    assert split_args(quote_arg(value)) == [value]


# ---- Keyspace notification flags ----


def test_keyspace_event_flags() -> None:
    assert keyspace_events_from_string("KEA") == NOTIFY_KEYSPACE | NOTIFY_KEYEVENT | NOTIFY_ALL
    assert keyspace_events_to_string(keyspace_events_from_string("KEA")) == "AKE"
    assert keyspace_events_to_string(keyspace_events_from_string("g$lshzxetdKE")) == "AKE"
    assert keyspace_events_to_string(keyspace_events_from_string("AKEnm")) == "AKEm"
    assert keyspace_events_to_string(keyspace_events_from_string("nKE")) == "nKE"
    assert keyspace_events_to_string(NOTIFY_EXPIRED | NOTIFY_KEYEVENT) == "xE"
    assert keyspace_events_from_string("n") == NOTIFY_NEW
    assert keyspace_events_from_string("") == 0
    with pytest.raises(ValueError):
        keyspace_events_from_string("KEQ")


# ---- Defaults ----


def test_defaults_are_redis_7_0() -> None:
    cfg = ServerConfig()
    assert cfg.config_file is None
    assert cfg.port == 6379
    assert cfg.bind == ["*", "-::*"]
    assert cfg.protected_mode is True
    assert cfg.requirepass == ""
    assert cfg.daemonize is False
    assert (cfg.pidfile, cfg.logfile, cfg.loglevel) == ("", "", "notice")
    assert cfg.dir == os.getcwd()
    assert (cfg.databases, cfg.timeout, cfg.tcp_keepalive, cfg.maxclients) == (16, 0, 300, 10000)
    assert (cfg.maxmemory, cfg.maxmemory_policy, cfg.maxmemory_samples) == (0, "noeviction", 5)
    assert cfg.hz == 10
    assert cfg.proto_max_bulk_len == 512 * 1024 * 1024
    assert cfg.client_query_buffer_limit == 1024 * 1024 * 1024
    assert (cfg.notify_keyspace_events, cfg.notify_flags) == ("", 0)
    assert cfg.rename_commands == []
    assert cfg.replicaof is None
    assert (cfg.masterauth, cfg.masteruser, cfg.replica_read_only) == ("", "", True)
    assert cfg.save == [(3600, 1), (300, 100), (60, 10000)]
    assert (cfg.dbfilename, cfg.appendonly, cfg.appendfsync) == ("dump.rdb", False, "everysec")
    assert cfg.appendfilename == "appendonly.aof"
    assert (cfg.slowlog_log_slower_than, cfg.slowlog_max_len) == (10000, 128)
    assert (cfg.latency_monitor_threshold, cfg.busy_reply_threshold) == (0, 5000)
    assert (cfg.unixsocket, cfg.lfu_log_factor, cfg.lfu_decay_time) == ("", 10, 1)
    assert (cfg.hash_max_listpack_entries, cfg.hash_max_listpack_value) == (512, 64)
    assert (cfg.zset_max_listpack_entries, cfg.zset_max_listpack_value) == (128, 64)
    assert (cfg.set_max_intset_entries, cfg.set_max_listpack_entries) == (512, 128)
    assert (cfg.list_max_listpack_size, cfg.list_compress_depth) == (-2, 0)
    assert cfg.client_output_buffer_limit == {
        "normal": (0, 0, 0),
        "replica": (268435456, 67108864, 60),
        "pubsub": (33554432, 8388608, 60),
    }


def test_alias_attributes_read_the_primary() -> None:
    cfg = load("slave-read-only no\nlua-time-limit 100\nhash-max-ziplist-entries 7\n")
    assert (cfg.replica_read_only, cfg.slave_read_only) == (False, False)
    assert (cfg.busy_reply_threshold, cfg.lua_time_limit) == (100, 100)
    assert cfg.hash_max_ziplist_entries == cfg.hash_max_listpack_entries == 7
    with pytest.raises(AttributeError):
        _ = cfg.no_such_directive


def test_default_redis_conf_directives_are_all_known() -> None:
    # Every directive of Debian's /etc/redis/redis.conf (Redis 7.0 defaults).
    cfg = load(DEBIAN_DEFAULT_CONF.replace("daemonize yes", "daemonize no"))
    names = [line.split()[0] for line in DEBIAN_DEFAULT_CONF.splitlines() if line.strip()]
    assert all(cfg.get([n.encode()]) for n in names)
    assert cfg.bind == ["127.0.0.1", "-::1"]
    assert cfg.proc_title_template == "{title} {listen-addr} {server-mode}"
    assert cfg.notify_keyspace_events == ""
    assert cfg.auto_aof_rewrite_min_size == 64 * 1024 * 1024


DEBIAN_DEFAULT_CONF = """bind 127.0.0.1 -::1
protected-mode yes
port 6379
tcp-backlog 511
timeout 0
tcp-keepalive 300
daemonize yes
pidfile /run/redis/redis-server.pid
loglevel notice
logfile /var/log/redis/redis-server.log
databases 16
always-show-logo no
set-proc-title yes
proc-title-template "{title} {listen-addr} {server-mode}"
stop-writes-on-bgsave-error yes
rdbcompression yes
rdbchecksum yes
dbfilename dump.rdb
rdb-del-sync-files no
dir /
replica-serve-stale-data yes
replica-read-only yes
repl-diskless-sync yes
repl-diskless-sync-delay 5
repl-diskless-sync-max-replicas 0
repl-diskless-load disabled
repl-disable-tcp-nodelay no
replica-priority 100
acllog-max-len 128
lazyfree-lazy-eviction no
lazyfree-lazy-expire no
lazyfree-lazy-server-del no
replica-lazy-flush no
lazyfree-lazy-user-del no
lazyfree-lazy-user-flush no
oom-score-adj no
oom-score-adj-values 0 200 800
disable-thp yes
appendonly no
appendfilename "appendonly.aof"
appenddirname "appendonlydir"
appendfsync everysec
no-appendfsync-on-rewrite no
auto-aof-rewrite-percentage 100
auto-aof-rewrite-min-size 64mb
aof-load-truncated yes
aof-use-rdb-preamble yes
aof-timestamp-enabled no
slowlog-log-slower-than 10000
slowlog-max-len 128
latency-monitor-threshold 0
notify-keyspace-events ""
hash-max-listpack-entries 512
hash-max-listpack-value 64
list-max-listpack-size -2
list-compress-depth 0
set-max-intset-entries 512
zset-max-listpack-entries 128
zset-max-listpack-value 64
hll-sparse-max-bytes 3000
stream-node-max-bytes 4096
stream-node-max-entries 100
activerehashing yes
client-output-buffer-limit normal 0 0 0
client-output-buffer-limit replica 256mb 64mb 60
client-output-buffer-limit pubsub 32mb 8mb 60
hz 10
dynamic-hz yes
aof-rewrite-incremental-fsync yes
rdb-save-incremental-fsync yes
jemalloc-bg-thread yes
"""

# The redis.conf lines shown in the seed tutorials (Redis 3.0 names, aliases, deprecated).
SEED_CONF = """daemonize yes
pidfile /data/redis/redis6379.pid
port 6379
tcp-backlog 511
timeout 0
tcp-keepalive 0
loglevel notice
logfile "/data/redis/redis6379.log"
databases 16
save 900 1
save 300 10
save 60 10000
stop-writes-on-bgsave-error yes
rdbcompression yes
rdbchecksum yes
dbfilename dump6379.rdb
slave-serve-stale-data yes
slave-read-only yes
repl-diskless-sync no
repl-diskless-sync-delay 5
repl-disable-tcp-nodelay no
slave-priority 100
appendonly no
appendfilename "appendonly6379.aof"
appendfsync everysec
no-appendfsync-on-rewrite no
auto-aof-rewrite-percentage 100
auto-aof-rewrite-min-size 64mb
aof-load-truncated yes
lua-time-limit 5000
slowlog-log-slower-than 10000
slowlog-max-len 128
latency-monitor-threshold 0
notify-keyspace-events ""
hash-max-ziplist-entries 512
hash-max-ziplist-value 64
list-max-ziplist-entries 512
list-max-ziplist-value 64
set-max-intset-entries 512
zset-max-ziplist-entries 128
zset-max-ziplist-value 64
hll-sparse-max-bytes 3000
activerehashing yes
client-output-buffer-limit normal 0 0 0
client-output-buffer-limit slave 256mb 64mb 60
client-output-buffer-limit pubsub 32mb 8mb 60
hz 10
aof-rewrite-incremental-fsync yes
replicaof 192.168.11.123 6379
masterauth shk9Hjwe
requirepass shk9Hjwe
replica-read-only yes
maxmemory 1g
maxmemory-policy volatile-lru
protected-mode no
"""


def test_seed_config_loads() -> None:
    cfg = load(SEED_CONF)
    assert cfg.daemonize is True
    assert cfg.pidfile == "/data/redis/redis6379.pid"
    assert cfg.logfile == "/data/redis/redis6379.log"
    assert cfg.save == [(900, 1), (300, 10), (60, 10000)]
    assert get1(cfg, "save") == "900 1 300 10 60 10000"
    assert (cfg.dbfilename, cfg.appendfilename) == ("dump6379.rdb", "appendonly6379.aof")
    assert cfg.replicaof == ("192.168.11.123", 6379)
    assert get1(cfg, "slaveof") == "192.168.11.123 6379"
    assert cfg.masterauth == cfg.requirepass == "shk9Hjwe"
    assert (cfg.replica_priority, cfg.repl_diskless_sync, cfg.tcp_keepalive) == (100, False, 0)
    assert cfg.maxmemory == 1_000_000_000  # "g" is 10**9, "gb" would be 2**30
    assert get1(cfg, "maxmemory") == "1000000000"
    assert cfg.maxmemory_policy == "volatile-lru"
    assert cfg.protected_mode is False


# ---- Parsing rules ----


def test_comments_blank_lines_case_and_last_one_wins() -> None:
    cfg = load("# port 1\n\n   \nPORT 7000\r\n\t port 7001  \nMaxMemory-Policy ALLKEYS-LRU\n")
    assert cfg.port == 7001
    assert cfg.maxmemory_policy == "allkeys-lru"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        ("1b", 1),
        ("1k", 1000),
        ("1kb", 1024),
        ("1KB", 1024),
        ("2m", 2_000_000),
        ("2mb", 2 * 1024**2),
        ("5G", 5_000_000_000),
        ("1gb", 1024**3),
        ("007", 7),
        ("", 0),
        ("kb", 0),
        ("18446744073709551615", 2**64 - 1),
        ("99999999999999999999999", 2**64 - 1),  # strtoull saturates silently
    ],
)
def test_memory_values(text: str, expected: int) -> None:
    assert load(f'maxmemory "{text}"\n').maxmemory == expected


@pytest.mark.parametrize("text", ["-1", "1x", "0x10", " 1", "+1", "1bb", "1.5mb"])
def test_bad_memory_values(text: str) -> None:
    assert fatal(f'maxmemory "{text}"\n').endswith("argument must be a memory value")


def test_fatal_block_shape() -> None:
    assert fatal("port 7000\nfoo bar\n") == (
        "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n"
        "Reading the configuration file, at line 2\n"
        ">>> 'foo bar'\n"
        "Bad directive or wrong number of arguments"
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("port abc", "argument couldn't be parsed into an integer"),
        ("timeout +5", "argument couldn't be parsed into an integer"),
        ("tcp-keepalive 007", "argument couldn't be parsed into an integer"),
        ("daemonize maybe", "argument must be 'yes' or 'no'"),
        (
            "loglevel loud",
            "argument(s) must be one of the following: debug, verbose, notice, warning",
        ),
        ("port 1 2", "wrong number of arguments"),
        ("port 70000", "argument must be between 0 and 65535 inclusive"),
        ("maxclients -1", "argument must be between 1 and 4294967295 inclusive"),
        ("slowlog-max-len -1", "argument must be between 0 and 9223372036854775807 inclusive"),
        ("maxmemory-clients 200%", "percentage argument must be less or equal to 100"),
        ("maxmemory-clients -5%", "argument must be a memory or percent value"),
        ("unixsocketperm 999", "argument couldn't be parsed as an octal number"),
        ("unixsocketperm -1", "argument must be between 0 and 777 inclusive"),
        ("save 0 1", "Invalid save parameters"),
        ("save 1", "Invalid save parameters"),
        ("notify-keyspace-events Q", "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."),
        ("replicaof 1.2.3.4 99999", "Invalid master port"),
        ("replicaof a", "wrong number of arguments"),
        ("dbfilename a/b", "dbfilename can't be a path, just a filename"),
        ('appendfilename ""', "appendfilename can't be empty"),
        ('requirepass "abc', "Unbalanced quotes in configuration line"),
        ("sentinel monitor m 1.2.3.4 6379 2", "sentinel directive while not in sentinel mode"),
        ("foo.bar", "Module config specified without value"),
        ("list-max-ziplist-entries 1 2", "Bad directive or wrong number of arguments"),
        ("include", "Bad directive or wrong number of arguments"),
        ("client-output-buffer-limit master 1 2 3",
         "Invalid client class specified in buffer limit configuration."),
        ("client-output-buffer-limit normal 1 2",
         "Wrong number of arguments in buffer limit configuration."),
        ("client-output-buffer-limit normal 1 2 -1",
         "Error in hard, soft or soft_seconds setting in buffer limit configuration."),
        ("oom-score-adj-values 0 200 3000",
         "Invalid oom-score-adj-values, elements must be between -2000 and 2000."),
        ("shutdown-on-sigint save nosave",
         "shutdown options SAVE and NOSAVE can't be used simultaneously"),
        ('proc-title-template "{foo}"', "template format is invalid or contains unknown variables"),
        ("cluster-announce-hostname a_b",
         "Hostnames may only contain alphanumeric characters, hyphens or dots"),
        ("bind " + " ".join(["1.2.3.4"] * 17), "Too many bind addresses specified."),
        ("latency-tracking-info-percentiles 101",
         "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"),
        ("dir /nonexistent-redkeep-dir", "No such file or directory"),
    ],
)  # fmt: skip
def test_bad_lines(line: str, message: str) -> None:
    text = fatal(f"# first\n{line}\n")
    assert text.endswith(f"at line 2\n>>> '{line}'\n{message}")


def test_errors_after_the_last_line_have_no_line_part() -> None:
    text = fatal("cluster-enabled yes\nreplicaof 1.2.3.4 5\n")
    assert text == (
        "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n"
        "replicaof directive not allowed in cluster mode"
    )


def test_error_carries_file_and_line_for_people() -> None:
    with pytest.raises(ConfigFileError) as info:
        load("port 1\nhz x\n")
    assert (info.value.filename, info.value.lineno, info.value.line) == ("test.conf", 2, "hz x")


def test_nul_ends_the_text() -> None:
    assert load("databases 3\0port abc\n").databases == 3


def test_deprecated_directives_are_ignored() -> None:
    cfg = load("list-max-ziplist-entries 5\nlist-max-ziplist-value 6\nlua-replicate-commands yes\n")
    assert cfg.get([b"list-max-ziplist-entries"]) == []


def test_numbers_clamps_and_formats() -> None:
    cfg = load(
        "hz 1000\nmaxmemory-clients 10%\nunixsocketperm 0755\nslowlog-log-slower-than -1\n"
        "list-max-ziplist-size 5\nlatency-tracking-info-percentiles 0.123456789 1e2 50.0\n"
        "oom-score-adj-values -100 +200 0800\nshutdown-on-sigterm force now\noom-score-adj relative\n"
    )
    assert cfg.hz == 500
    assert load("hz 0\n").hz == 1
    assert (cfg.maxmemory_clients, get1(cfg, "maxmemory-clients")) == (-10, "10%")
    assert (cfg.unixsocketperm, get1(cfg, "unixsocketperm")) == (0o755, "755")
    assert cfg.slowlog_log_slower_than == -1
    assert get1(cfg, "list-max-listpack-size") == "5"
    assert get1(cfg, "latency-tracking-info-percentiles") == "0.123457 100 50"
    assert get1(cfg, "oom-score-adj-values") == "-100 200 800"
    assert get1(cfg, "shutdown-on-sigterm") == "now force"
    assert get1(cfg, "oom-score-adj") == "yes"  # relative is an alias of yes


def test_special_directives() -> None:
    cfg = load(
        "save 900 1 300 10\nsave 60 5\nbind 127.0.0.1 ::1\nreplicaof 10.0.0.1 +6380\n"
        "client-output-buffer-limit normal 1k 2kb 3 REPLICA 1 2 3\nnotify-keyspace-events Ex\n"
    )
    assert cfg.save == [(900, 1), (300, 10), (60, 5)]
    assert get1(cfg, "bind") == "127.0.0.1 ::1"
    assert cfg.replicaof == ("10.0.0.1", 6380)
    assert get1(cfg, "client-output-buffer-limit") == (
        "normal 1000 2048 3 slave 1 2 3 pubsub 33554432 8388608 60"
    )
    assert (cfg.notify_flags, cfg.notify_keyspace_events) == (
        NOTIFY_EXPIRED | NOTIFY_KEYEVENT,
        "xE",
    )
    assert load("replicaof 1.2.3.4 5\nslaveof no one\n").replicaof is None
    assert load('bind ""\n').bind == [] == load("bind\n").bind


def test_save_lines_accumulate_within_a_file_and_save_empty_clears() -> None:
    assert load('save 900 1\nsave ""\n').save == []
    assert load('save ""\nsave 900 1\n').save == [(900, 1)]
    assert load("save\n").save == []
    assert load("save 10 99999999999\n").save == [(10, 1215752191)]  # changes is a C int


def test_include_ends_reading_mode_so_later_save_lines_replace(tmp_path: Path) -> None:
    # Real Redis 7.0.15: loading an include resets its "reading the config file" flag.
    (tmp_path / "inc.conf").write_text("hz 11\n")
    cfg = load(f"save 900 1\ninclude {tmp_path}/inc.conf\nsave 300 10\nsave 60 5\n")
    assert cfg.hz == 11
    assert cfg.save == [(60, 5)]


def test_include_is_relative_to_dir_and_supports_globs(tmp_path: Path) -> None:
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (conf_d / "a.conf").write_text("maxmemory 1mb\n")
    (conf_d / "b.conf").write_text("maxmemory 2mb\nport 7005")
    (tmp_path / "rel.conf").write_text("hz 12\n")
    cfg = load(f"dir {tmp_path}\ninclude rel.conf\ninclude conf.d/*.conf\ninclude none/*.conf\n")
    assert cfg.dir == os.path.realpath(tmp_path)
    assert (cfg.hz, cfg.maxmemory, cfg.port) == (12, 2 * 1024**2, 7005)


def test_missing_include_is_a_logged_fatal_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigFatalLogError) as info:
        load(f"include {tmp_path}/missing.conf\n")
    assert str(info.value) == (
        f"Fatal error, can't open config file '{tmp_path}/missing.conf': No such file or directory"
    )


def test_rename_command() -> None:
    cfg = load(
        'rename-command CONFIG ""\nrename-command keys mykeys\n',
        known_commands=["keys", "config", "get", "set"],
    )
    assert cfg.rename_commands == [("CONFIG", ""), ("keys", "mykeys")]
    msg = fatal("rename-command nosuch x\n", known_commands=["get"])
    assert msg.endswith("No such command in rename-command")
    msg = fatal("rename-command get set\n", known_commands=["get", "set"])
    assert msg.endswith("Target command name already exists")
    assert load("rename-command whatever x\n").rename_commands == [("whatever", "x")]


def test_users_modules_and_bare_sentinel_are_recorded() -> None:
    cfg = load("user bob on >pw ~* +@all\nloadmodule /x.so a b\nfoo.bar 1\nsentinel\n")
    assert cfg.users == [["bob", "on", ">pw", "~*", "+@all"]]
    assert cfg.loadmodules == [["/x.so", "a", "b"]]
    assert cfg.module_configs == {"foo.bar": "1"}


def test_dir_resolves_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    cfg = load(f"dir {tmp_path}\ndir a\ndir b\ndir ..\n")
    assert cfg.dir == os.path.realpath(tmp_path / "a")
    assert fatal(f"dir {tmp_path}/a/nope\n").endswith("No such file or directory")


# ---- Command line ----


def test_from_argv_file_then_options(tmp_path: Path) -> None:
    conf = tmp_path / "r.conf"
    conf.write_text("port 7000\nsave 900 1\n")
    cfg = ServerConfig.from_argv([str(conf), "--port", "7001", "--save", "60", "1", "--hz 20"])
    assert cfg.config_file == str(conf)
    assert (cfg.port, cfg.hz) == (7001, 20)
    assert cfg.save == [(900, 1), (60, 1)]  # --save appends to the file's save lines


def test_from_argv_relative_file_becomes_absolute(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "r.conf").write_text("port 7002\n")
    monkeypatch.chdir(tmp_path / "sub")
    cfg = ServerConfig.from_argv(["../r.conf"])
    assert cfg.config_file == f"{tmp_path}/r.conf"
    assert cfg.port == 7002


@pytest.mark.parametrize(
    ("argv", "save"),
    [
        (["--save", "", "--appendonly", "no"], []),
        (["--save", "--appendonly", "no"], []),
        (["--appendonly", "no", "--save"], []),
        (["--save", "30", "2"], [(30, 2)]),  # the first save line replaces the defaults
    ],
)
def test_from_argv_save_special_cases(argv: list[str], save: list) -> None:
    cfg = ServerConfig.from_argv(argv)
    assert cfg.config_file is None
    assert cfg.save == save
    assert cfg.appendonly is False


def test_from_argv_errors_name_the_synthesized_line(tmp_path: Path) -> None:
    conf = tmp_path / "r.conf"
    conf.write_text("port 7000\n# c\n")
    with pytest.raises(ConfigFileError) as info:
        ServerConfig.from_argv([str(conf), "--port", "1", "--maxmemory", "1x"])
    assert (info.value.lineno, info.value.line) == (5, 'maxmemory "1x"')
    with pytest.raises(ConfigFileError) as info:
        ServerConfig.from_argv(["--requirepass", "--port", "x"])
    assert (info.value.lineno, info.value.line) == (2, 'requirepass "--port" "x"')
    with pytest.raises(ConfigFileError) as info:
        ServerConfig.from_argv([str(conf), "--port", "a'b\"c"])
    assert info.value.line == 'port "a\'b\\"c"'


def test_from_argv_reads_stdin(tmp_path: Path) -> None:
    cfg = ServerConfig.from_argv(["-", "--hz", "30"], stdin=io.StringIO("port 7003\n"))
    assert (cfg.config_file, cfg.port, cfg.hz) == (None, 7003, 30)
    conf = tmp_path / "r.conf"
    conf.write_text("port 7000\n")
    cfg = ServerConfig.from_argv([str(conf), "--hz", "9", "-"], stdin=io.StringIO("port 7004\n"))
    assert (cfg.port, cfg.hz) == (7004, 9)


def test_from_argv_missing_file_and_log_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigFatalLogError, match="can't open config file"):
        ServerConfig.from_argv([str(tmp_path / "nope.conf")])
    with pytest.raises(ConfigFileError) as info:
        ServerConfig.from_argv(["--logfile", str(tmp_path / "no" / "x.log")])
    assert str(info.value).endswith("\nCan't open the log file: No such file or directory")
    cfg = ServerConfig.from_argv(["--logfile", str(tmp_path / "x.log")])
    assert cfg.logfile == str(tmp_path / "x.log")


# ---- CONFIG GET ----


def test_get_exact_names_keep_their_spelling_and_appear_once() -> None:
    cfg = ServerConfig()
    assert cfg.get([b"PORT", b"port", b"po*"]) == [("PORT", "6379")]
    assert cfg.get([b"nope"]) == []
    assert cfg.get([b"use-exit-on-panic"]) == [("use-exit-on-panic", "no")]


def test_get_patterns() -> None:
    cfg = ServerConfig()
    names = {name for name, _ in cfg.get([b"*"])}
    assert len(names) == 192  # exactly what Redis 7.0.15 lists for CONFIG GET *
    assert {"replicaof", "slaveof", "lua-time-limit", "busy-reply-threshold"} <= names
    assert "use-exit-on-panic" not in names  # hidden configs need their exact name
    assert "set-max-listpack-entries" not in names
    assert dict(cfg.get([b"SLAVE*"])) == {
        "slave-read-only": "yes", "slave-serve-stale-data": "yes", "slaveof": "",
        "slave-ignore-maxmemory": "yes", "slave-lazy-flush": "no", "slave-announce-port": "0",
        "slave-announce-ip": "", "slave-priority": "100",
    }  # fmt: skip
    assert {n for n, _ in cfg.get([b"*port", b"port"])} == {
        "port", "tls-port", "cluster-port", "cluster-announce-port", "cluster-announce-bus-port",
        "cluster-announce-tls-port", "replica-announce-port", "slave-announce-port",
    }  # fmt: skip


def test_every_directive_has_an_attribute_and_a_value() -> None:
    cfg = ServerConfig()
    for d in DIRECTIVES:
        assert hasattr(cfg, d.attr)
        assert isinstance(get1(cfg, d.name), str)


# ---- CONFIG SET ----


def test_set_errors_like_redis() -> None:
    cfg = ServerConfig()
    unknown = "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
    assert set_error(cfg, "foo", "1") == unknown
    assert set_error(cfg, "maxmemory", "1mb", "foo", "2", "daemonize", "no") == unknown
    failed = "ERR CONFIG SET failed (possibly related to argument '{}') - {}"
    assert set_error(cfg, "daemonize", "no", "foo", "2") == failed.format(
        "daemonize", "can't set immutable config"
    )
    assert set_error(cfg, "SLAVEOF", "no one") == failed.format(
        "SLAVEOF", "can't set immutable config"
    )
    assert set_error(cfg, "dir", "/tmp") == failed.format("dir", "can't set protected config")
    assert set_error(cfg, "MAXMEMORY", "abc") == failed.format(
        "maxmemory", "argument must be a memory value"
    )
    assert set_error(cfg, "maxmemory", "1mb", "MAXMEMORY", "2mb") == failed.format(
        "MAXMEMORY", "duplicate parameter"
    )
    assert set_error(cfg, "hash-max-ziplist-entries", "x") == failed.format(
        "hash-max-ziplist-entries", "argument couldn't be parsed into an integer"
    )
    assert set_error(cfg, "save", "10 1 ") == failed.format("save", "Invalid save parameters")
    assert set_error(cfg, "loglevel", "notice warning").endswith(
        "argument(s) must be one of the following: debug, verbose, notice, warning"
    )


def test_set_is_all_or_nothing() -> None:
    cfg = ServerConfig()
    with pytest.raises(ConfigSetError):
        cset(cfg, "maxmemory", "1mb", "save", "1 2", "hz", "abc")
    assert (cfg.maxmemory, cfg.hz) == (0, 10)
    assert cfg.save == [(3600, 1), (300, 100), (60, 10000)]


def test_set_values() -> None:
    cfg = ServerConfig()
    cset(
        cfg,
        "maxmemory",
        "1mb",
        "SAVE",
        "10 1 20 2",
        "hz",
        "100000",
        "notify-keyspace-events",
        "KEA",
    )
    assert (cfg.maxmemory, cfg.save, cfg.hz) == (1024**2, [(10, 1), (20, 2)], 500)
    assert (cfg.notify_keyspace_events, cfg.notify_flags & NOTIFY_ALL) == ("AKE", NOTIFY_ALL)
    cset(cfg, "save", "", "bind", "", "client-output-buffer-limit", "pubsub 1 2 3")
    assert (cfg.save, cfg.bind) == ([], [])
    assert cfg.client_output_buffer_limit["pubsub"] == (1, 2, 3)
    assert cfg.client_output_buffer_limit["replica"] == (268435456, 67108864, 60)
    cset(cfg, "hash-max-ziplist-entries", "7", "hash-max-listpack-entries", "8")  # not duplicates
    assert cfg.hash_max_listpack_entries == 8
    cset(cfg, "requirepass", "s3cret", "masterauth", "")
    assert (cfg.requirepass, cfg.masterauth) == ("s3cret", "")


def test_protected_configs_follow_enable_protected_configs(tmp_path: Path) -> None:
    cfg = load("enable-protected-configs local\n")
    with pytest.raises(ConfigSetError, match="can't set protected config"):
        cset(cfg, "dbfilename", "x.rdb")
    cset(cfg, "dbfilename", "x.rdb", "dir", str(tmp_path), client_is_local=True)
    assert (cfg.dbfilename, cfg.dir) == ("x.rdb", os.path.realpath(tmp_path))
    cfg = load("enable-protected-configs yes\n")
    cset(cfg, "dir", str(tmp_path))


def test_on_change_hooks_run_once_per_set_and_only_on_change() -> None:
    cfg = ServerConfig()
    calls: list[str] = []
    cfg.on_change("maxmemory", calls.append)
    cfg.on_change("lua-time-limit", calls.append)
    shared = calls.append
    cfg.on_change("min-replicas-to-write", shared)
    cfg.on_change("min-slaves-max-lag", shared)
    cset(cfg, "maxmemory", "0", "busy-reply-threshold", "10")
    cset(cfg, "min-replicas-to-write", "1", "min-replicas-max-lag", "3")
    assert calls == ["busy-reply-threshold", "min-replicas-to-write"]
    with pytest.raises(ValueError):
        cfg.on_change("nope", calls.append)


def test_on_change_hook_can_veto_and_everything_is_rolled_back() -> None:
    cfg = ServerConfig()
    seen: list[tuple[str, int, int]] = []

    def port_hook(name: str) -> None:
        seen.append((name, cfg.port, cfg.hz))
        if cfg.port == 7777:
            raise ConfigApplyError("Unable to listen on this port. Check server logs.")

    cfg.on_change("port", port_hook)
    assert set_error(cfg, "hz", "20", "port", "7777") == (
        "ERR CONFIG SET failed (possibly related to argument 'port') - "
        "Unable to listen on this port. Check server logs."
    )
    assert (cfg.port, cfg.hz) == (6379, 10)
    assert seen == [("port", 7777, 20), ("port", 6379, 10)]  # re-applied after the restore


# ---- CONFIG REWRITE ----

OLD_FILE = """# top comment
port 1234
include /etc/redis/extra.conf
rename-command KEYS ""
slave-read-only yes
slaveof 127.0.0.1 1


hash-max-ziplist-entries 100
list-max-ziplist-entries 512
save 900 1
save 300 10
bind * -::*
Maxmemory 1mb
maxmemory 2mb
timeout "0"
dbfilename dump.rdb
client-output-buffer-limit normal 0 0 0
client-output-buffer-limit slave 256mb 64mb 60
unbalanced "x
foo bar
   \t
  # indented comment
sentinel monitor x 1 2 3
user bob on >pw ~* +@all
loadmodule /x.so
"""


def test_rewritten_text_keeps_structure_like_redis(tmp_path: Path) -> None:
    cfg = ServerConfig()
    cfg.load_text(f"dir {tmp_path}\nport 1234\nreplicaof 127.0.0.1 1\nrequirepass foo\n", "x")
    cset(cfg, "maxmemory", "3mb", "hash-max-listpack-entries", "100", "save", "10 1")
    cset(cfg, "client-output-buffer-limit", "pubsub 1k 2kb 3", "maxmemory-clients", "10%")
    text = cfg.rewritten_text(OLD_FILE)
    assert text == (
        "# top comment\n"
        "port 1234\n"
        "include /etc/redis/extra.conf\n"
        'rename-command KEYS ""\n'
        "replica-read-only yes\n"
        "replicaof 127.0.0.1 1\n"
        "\n"
        "hash-max-listpack-entries 100\n"
        "# ??? list-max-ziplist-entries 512\n"
        "save 10 1\n"
        "\n"
        "maxmemory 3mb\n"
        "\n"
        "timeout 0\n"
        'dbfilename "dump.rdb"\n'
        "client-output-buffer-limit normal 0 0 0\n"
        "client-output-buffer-limit replica 256mb 64mb 60\n"
        '# ??? unbalanced "x\n'
        "# ??? foo bar\n"
        "\n"
        "# indented comment\n"
        "sentinel monitor x 1 2 3\n"
        # users are rewritten from the ACL state, which here knows only "default"
        "user default on #2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
        " ~* &* +@all\n"
        "\n"
        "# Generated by CONFIG REWRITE\n"
        'requirepass "foo"\n'
        "maxmemory-clients 10%\n"
        f'dir "{os.path.realpath(tmp_path)}"\n'
        "client-output-buffer-limit pubsub 1000 2kb 3\n"
        "latency-tracking-info-percentiles 50 99 99.9\n"
    )


def test_rewrite_of_an_empty_file_writes_forced_options(tmp_path: Path) -> None:
    cfg = ServerConfig.from_argv(["--dir", str(tmp_path)])
    assert cfg.rewritten_text("") == (
        "# Generated by CONFIG REWRITE\n"
        f'dir "{os.path.realpath(tmp_path)}"\n'
        "save 3600 1\nsave 300 100\nsave 60 10000\n"
        "latency-tracking-info-percentiles 50 99 99.9\n"
        "user default on nopass ~* &* +@all\n"
    )


def test_rewrite_without_config_file() -> None:
    with pytest.raises(ConfigSetError) as info:
        ServerConfig().rewrite()
    assert str(info.value) == "ERR The server is running without a config file"


def test_rewrite_replaces_the_file_atomically_and_round_trips(tmp_path: Path) -> None:
    conf = tmp_path / "redis.conf"
    conf.write_text("# mine\nport 7000\nsave 900 1\nbind 127.0.0.1\n")
    cfg = ServerConfig.from_argv([str(conf), "--dir", str(tmp_path)])
    cset(cfg, "maxmemory", "1gb", "notify-keyspace-events", "Ex", "masterauth", 'a "b"\n')
    cset(cfg, "ignore-warnings", "\x01\xff")
    cfg.rewrite()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["redis.conf"]  # no temp file left
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(conf.stat().st_mode) == 0o644 & ~umask
    text = conf.read_text()
    assert text.startswith("# mine\nport 7000\nsave 900 1\nbind 127.0.0.1\n")
    assert "maxmemory 1gb\n" in text and 'notify-keyspace-events "xE"\n' in text
    again = ServerConfig.from_argv([str(conf)])
    assert again.get([b"*"]) == cfg.get([b"*"])


def test_rewrite_creates_a_missing_file(tmp_path: Path) -> None:
    cfg = ServerConfig.from_argv(["--port", "7000"])
    cfg.config_file = str(tmp_path / "new.conf")
    cfg.rewrite()
    assert "port 7000\n" in (tmp_path / "new.conf").read_text()
    cfg.config_file = str(tmp_path / "no-such-dir" / "x.conf")
    with pytest.raises(ConfigSetError, match="^ERR Rewriting config file: No such file"):
        cfg.rewrite()


def test_repl_backlog_size_floor_applies_only_to_config_set() -> None:
    cfg = load("repl-backlog-size 1000\n")
    assert cfg.repl_backlog_size == 1000  # the file value is kept as is
    cset(cfg, "repl-backlog-size", "2000")
    assert cfg.repl_backlog_size == 16384  # resizeReplicationBacklog's minimum


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("0x10", "16"),
        ("0X1P3", "8"),
        ("0x.8", "0.5"),
        ("1.", "1"),
        (".5", "0.5"),
        ("+5", "5"),
        ("1e-310", "0"),  # subnormal: accepted
        ("-0", "-0"),
        ("99.99999999", "100"),
    ],
)
def test_percentiles_parse_like_strtod(value: str, shown: str) -> None:
    cfg = ServerConfig()
    cset(cfg, "latency-tracking-info-percentiles", value)
    assert get1(cfg, "latency-tracking-info-percentiles") == shown


@pytest.mark.parametrize(
    "value", ["0x", "1e400", "1e-400", "nan", "NaN(1)", ".", "1e", " 5", "5 ", "1_0", "inf"]
)
def test_percentiles_rejected_like_redis(value: str) -> None:
    assert "latency-tracking-info-percentiles" in set_error(
        ServerConfig(), "latency-tracking-info-percentiles", value
    )
