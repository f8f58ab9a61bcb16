"""Server commands (INFO CONFIG COMMAND TIME ROLE LASTSAVE SHUTDOWN MONITOR SLOWLOG LATENCY
MEMORY DEBUG), DEBUG DIGEST and the INFO builders, driven through `Server.execute`.

Pure: a Server with a ManualClock and default ServerConfig, no sockets. Expected texts,
sizes and digests were taken from real redis-server 7.0.15
(tests/interop/test_differential_server.py compares the same commands live).
"""

from __future__ import annotations

from collections import deque

import pytest

from redkeep.clock import ManualClock
from redkeep.resp.encoder import encode
from redkeep.resp.types import OK, ErrorReply, Map, SetReply, Status, Verbatim
from redkeep.server import commanddocs, digest, info
from redkeep.server.commands.server import (
    keys_from_specs,
    latency_add_sample,
    malloc_size,
    strtod,
)
from redkeep.server.config import ServerConfig
from redkeep.server.keyspace import register_type
from redkeep.server.server import NO_REPLY, Server

START_WALL = 1_700_000_000_000


@pytest.fixture
def server() -> Server:
    return Server(ServerConfig(), ManualClock(wall_ms=START_WALL))


@pytest.fixture
def run(server):
    c = server.new_client("127.0.0.1:40001")

    def run(*args):
        return server.execute(c, [a if isinstance(a, bytes) else str(a).encode() for a in args])
    run.client = c
    return run


def as_dict(m: Map) -> dict:
    assert isinstance(m, Map)
    return dict(m.items)


def info_text(run, *sections) -> str:
    reply = run("INFO", *sections)
    assert isinstance(reply, Verbatim)
    return reply.data.decode()


def info_fields(run, *sections) -> dict[str, str]:
    out = {}
    for line in info_text(run, *sections).split("\r\n"):
        if line and not line.startswith("#"):
            k, _, v = line.partition(":")
            out[k] = v
    return out


def errmsg(reply) -> str:
    assert isinstance(reply, ErrorReply), reply
    return reply.message


# ---- INFO ----


def test_info_default_sections_in_redis_order(run):
    text = info_text(run)
    titles = [line for line in text.split("\r\n") if line.startswith("# ")]
    assert titles == ["# Server", "# Clients", "# Memory", "# Persistence", "# Stats",
                      "# Replication", "# CPU", "# Modules", "# Errorstats", "# Cluster",
                      "# Keyspace"]
    assert text.endswith("\r\n") and not text.endswith("\r\n\r\n")
    assert "\r\n\r\n# Clients\r\n" in text


def test_info_all_and_everything_add_commandstats_and_latencystats(run):
    for word in ("all", "everything", "ALL"):
        titles = [x for x in info_text(run, word).split("\r\n") if x.startswith("# ")]
        assert titles[7:11] == ["# Modules", "# Commandstats", "# Errorstats",
                                "# Latencystats"]
        assert len(titles) == 13


def test_info_sections_are_printed_in_canonical_order_and_unknown_is_empty(run):
    assert info_text(run, "cpu", "CLIENTS").startswith("# Clients\r\n")
    assert "# CPU\r\n" in info_text(run, "cpu", "CLIENTS")
    assert info_text(run, "nosuch") == ""
    assert info_text(run, "cluster") == "# Cluster\r\ncluster_enabled:0\r\n"
    assert info_text(run, "modules") == "# Modules\r\n"
    assert info_text(run, "module_list") == "# Modules\r\n"
    assert info.select_sections([b"default", b"commandstats"])[-5:] == [
        "modules", "commandstats", "errorstats", "cluster", "keyspace"]


def test_info_verbatim_encodes_as_bulk_in_resp2_and_txt_in_resp3(run):
    reply = run("INFO", "cluster")
    assert encode(reply, 2) == b"$30\r\n# Cluster\r\ncluster_enabled:0\r\n\r\n"
    assert encode(reply, 3) == b"=34\r\ntxt:# Cluster\r\ncluster_enabled:0\r\n\r\n"
    assert encode(run("INFO", "nosuch"), 3) == b"=4\r\ntxt:\r\n"


def test_info_server_fields(server, run):
    f = info_fields(run, "server")
    assert f["redis_version"] == "7.0.15"
    assert f["redis_mode"] == "standalone"
    assert f["run_id"] == server.run_id and len(f["run_id"]) == 40
    assert f["tcp_port"] == "6379"
    assert f["server_time_usec"] == str(START_WALL * 1000)
    assert f["uptime_in_seconds"] == "0"
    server.clock.advance(2 * 86400 * 1000 + 5000)
    f = info_fields(run, "server")
    assert f["uptime_in_seconds"] == str(2 * 86400 + 5)
    assert f["uptime_in_days"] == "2"
    assert f["hz"] == f["configured_hz"] == "10"
    assert int(f["lru_clock"]) < 1 << 24


def test_info_clients_and_stats_count(server, run):
    run("GET", "nokey")
    run("SET", "k", "v")
    run("GET", "k")
    run("NOSUCHCOMMAND")
    f = info_fields(run, "clients", "stats")
    assert f["connected_clients"] == "1"
    assert f["maxclients"] == "10000"
    assert f["keyspace_hits"] == "1"
    assert f["keyspace_misses"] == "1"
    assert f["total_error_replies"] == "1"
    assert int(f["total_commands_processed"]) == 3
    assert f["instantaneous_input_kbps"] == "0.00"


def test_info_memory_tracks_the_keyspace_and_maxmemory(run):
    before = int(info_fields(run, "memory")["used_memory"])
    for i in range(100):
        run("SET", f"key:{i}", "x" * 100)
    f = info_fields(run, "memory")
    assert int(f["used_memory"]) > before + 100 * 100
    assert f["maxmemory"] == "0" and f["maxmemory_human"] == "0B"
    assert f["maxmemory_policy"] == "noeviction"
    assert int(f["used_memory_peak"]) >= int(f["used_memory"])
    assert f["used_memory_peak_perc"].endswith("%")
    assert int(f["used_memory_rss"]) > 0
    assert f["mem_allocator"] == "libc"
    assert run("CONFIG", "SET", "maxmemory", "10mb", "maxmemory-policy", "allkeys-lru") == OK
    f = info_fields(run, "memory")
    assert f["maxmemory"] == str(10 * 1024 * 1024)
    assert f["maxmemory_human"] == "10.00M"
    assert f["maxmemory_policy"] == "allkeys-lru"


def test_info_persistence_and_replication_defaults(server, run):
    run("SET", "a", "1")
    f = info_fields(run, "persistence", "replication")
    assert f["rdb_changes_since_last_save"] == "1"
    assert f["rdb_last_save_time"] == str(START_WALL // 1000)
    assert f["rdb_last_bgsave_status"] == "ok"
    assert f["aof_enabled"] == "0"
    assert f["role"] == "master"
    assert f["connected_slaves"] == "0"
    assert f["master_failover_state"] == "no-failover"
    assert f["master_replid"] == server.replid and len(server.replid) == 40
    assert f["master_replid2"] == "0" * 40
    assert f["master_repl_offset"] == "0"
    assert f["second_repl_offset"] == "-1"
    assert f["repl_backlog_active"] == "0"
    assert f["repl_backlog_size"] == "1048576"


def test_info_cpu_format(run):
    f = info_fields(run, "cpu")
    assert list(f) == ["used_cpu_sys", "used_cpu_user", "used_cpu_sys_children",
                       "used_cpu_user_children", "used_cpu_sys_main_thread",
                       "used_cpu_user_main_thread"]
    for v in f.values():
        whole, _, frac = v.partition(".")
        assert whole.isdigit() and len(frac) == 6


def test_info_keyspace_lines(server, run):
    assert info_text(run, "keyspace") == "# Keyspace\r\n"
    run("SET", "a", "1")
    run("SET", "b", "2", "EX", "100")
    run("SELECT", "3")
    run("SET", "c", "3")
    text = info_text(run, "keyspace")
    assert text == ("# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=100000\r\n"
                    "db3:keys=1,expires=0,avg_ttl=0\r\n")


def test_info_commandstats_errorstats_latencystats(run):
    run("SET", "a", "b")
    run("GET", "a")
    run("GET", "a")
    run("INCR", "a")                       # fails: not an integer
    run("GET")                             # rejected: arity
    run("CONFIG", "GET", "hz")
    stats = info_text(run, "commandstats")
    lines = dict(line.split(":", 1) for line in stats.split("\r\n")[1:] if line)
    assert lines["cmdstat_get"].startswith("calls=2,usec=")
    assert lines["cmdstat_get"].endswith(",rejected_calls=1,failed_calls=0")
    assert lines["cmdstat_incr"].endswith("rejected_calls=0,failed_calls=1")
    assert "cmdstat_config|get" in lines
    assert "usec_per_call=" in lines["cmdstat_set"]
    per_call = lines["cmdstat_set"].split("usec_per_call=")[1].split(",")[0]
    assert len(per_call.split(".")[1]) == 2
    errs = info_text(run, "errorstats")
    assert errs == "# Errorstats\r\nerrorstat_ERR:count=2\r\n"
    lat = info_text(run, "latencystats")
    assert "latency_percentiles_usec_get:p50=" in lat
    assert ",p99=" in lat and ",p99.9=" in lat


def test_info_latencystats_off(run):
    run("CONFIG", "SET", "latency-tracking", "no")
    run("GET", "a")
    assert info_text(run, "latencystats") == "# Latencystats\r\n"


def test_info_helpers():
    assert info.bytes_to_human(0) == "0B"
    assert info.bytes_to_human(1023) == "1023B"
    assert info.bytes_to_human(941104) == "919.05K"
    assert info.bytes_to_human(6750208) == "6.44M"
    assert info.bytes_to_human(25276518400) == "23.54G"
    assert info.trim_double(50.0) == "50"
    assert info.trim_double(99.9) == "99.9"
    # Redis printed p50=12.031 for a single 12 us call: the top of its HDR bucket
    assert info.hdr_highest_equivalent(12000) == 12031
    assert info.hdr_highest_equivalent(200) == 200


def test_instantaneous_ops_per_sec_from_the_cron_sampler(server, run):
    for _ in range(20):                     # 20 samples, 100 ms apart, 50 commands each
        for _ in range(50):
            run("PING")
        server.clock.advance(100)
        server.cron()
    f = info_fields(run, "stats")
    assert f["instantaneous_ops_per_sec"] == "500"
    assert float(f["instantaneous_input_kbps"]) == 0.0


# ---- CONFIG ----


def test_config_get_and_set(run):
    assert as_dict(run("CONFIG", "GET", "hz")) == {b"hz": b"10"}
    assert as_dict(run("CONFIG", "GET", "nosuch")) == {}
    got = as_dict(run("CONFIG", "GET", "maxmemory*", "hz"))
    assert set(got) == {b"maxmemory", b"maxmemory-policy", b"maxmemory-samples",
                        b"maxmemory-eviction-tenacity", b"maxmemory-clients", b"hz"}
    assert run("CONFIG", "SET", "hz", "20", "timeout", "5") == OK
    assert as_dict(run("CONFIG", "GET", "hz", "timeout")) == {b"hz": b"20", b"timeout": b"5"}


@pytest.mark.parametrize("args, message", [
    (("CONFIG", "SET", "a", "b", "c"), "ERR syntax error"),
    (("CONFIG", "SET", "nosuch", "1"),
     "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"),
    (("CONFIG", "SET", "maxmemory", "abc"),
     "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a "
     "memory value"),
    (("CONFIG", "SET", "maxmemory", "1", "maxmemory", "2"),
     "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - duplicate parameter"),
    (("CONFIG", "SET"), "ERR wrong number of arguments for 'config|set' command"),
    (("CONFIG", "RESETSTAT", "x"), "ERR wrong number of arguments for 'config|resetstat' command"),
    (("CONFIG", "REWRITE"), "ERR The server is running without a config file"),
    (("CONFIG", "FOO"), "ERR unknown subcommand 'FOO'. Try CONFIG HELP."),
])
def test_config_errors(run, args, message):
    assert errmsg(run(*args)) == message


def test_config_set_is_atomic(run):
    reply = run("CONFIG", "SET", "hz", "30", "maxmemory", "abc")
    assert isinstance(reply, ErrorReply)
    assert as_dict(run("CONFIG", "GET", "hz")) == {b"hz": b"10"}


def test_config_set_takes_effect_at_once(server, run):
    run("CONFIG", "SET", "notify-keyspace-events", "KEA")
    assert server.keyspace.notify_flags == server.config.notify_flags != 0
    run("CONFIG", "SET", "slowlog-max-len", "3")
    assert server.slowlog.maxlen == 3
    run("CONFIG", "SET", "slowlog-max-len", "0")
    assert server.slowlog.maxlen == 0


def test_config_set_requirepass(server, run):
    assert run("CONFIG", "SET", "requirepass", "secret") == OK
    other = server.new_client("127.0.0.1:5")
    assert errmsg(server.execute(other, [b"GET", b"k"])).startswith("NOAUTH")
    assert run("GET", "k") is None          # the client that set it stays authenticated
    assert run("CONFIG", "SET", "requirepass", "") == OK
    assert server.execute(other, [b"GET", b"k"]) is None


def test_config_resetstat(server, run):
    run("SET", "a", "1")
    run("GET", "a")
    run("GET", "nokey")
    run("INCR", "a", "b")
    assert run("CONFIG", "RESETSTAT") == OK
    f = info_fields(run, "stats")
    assert f["keyspace_hits"] == f["keyspace_misses"] == f["total_error_replies"] == "0"
    assert f["total_commands_processed"] == "1"    # CONFIG RESETSTAT itself
    assert info_text(run, "errorstats") == "# Errorstats\r\n"
    assert server.table.lookup(b"get").calls == 0


def test_config_help(run):
    reply = run("CONFIG", "HELP")
    assert reply[0] == Status(b"CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
    assert reply[-2:] == [Status(b"HELP"), Status(b"    Prints this help.")]
    assert len(reply) == 11


# ---- COMMAND ----


def test_command_count_and_list(server, run):
    assert run("COMMAND", "COUNT") == len(server.table.commands)
    names = run("COMMAND", "LIST")
    assert b"get" in names and b"config|get" in names
    assert sorted(run("COMMAND", "LIST", "FILTERBY", "PATTERN", "conf*")) == [
        b"config", b"config|get", b"config|help", b"config|resetstat", b"config|rewrite",
        b"config|set"]
    admin = run("COMMAND", "LIST", "FILTERBY", "aclcat", "admin")
    assert b"config|get" in admin and b"config" not in admin and b"get" not in admin
    assert run("COMMAND", "LIST", "FILTERBY", "module", "x") == []
    assert errmsg(run("COMMAND", "LIST", "FILTERBY", "foo", "x")) == "ERR syntax error"
    assert errmsg(run("COMMAND", "LIST", "x")) == "ERR syntax error"


def test_command_info_shape(run):
    nosuch, get = run("COMMAND", "INFO", "nosuch", "get")
    assert nosuch is None
    name, arity, flags, first, last, step, cats, tips, specs, subs = get
    assert (name, arity, first, last, step) == (b"get", 2, 1, 1, 1)
    assert flags == [Status(b"readonly"), Status(b"fast")] and isinstance(flags, SetReply)
    assert cats == [Status(b"@read"), Status(b"@string"), Status(b"@fast")]
    assert tips == [] and subs == []
    assert encode(specs, 2) == (
        b"*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n*4\r\n"
        b"$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\n"
        b"find_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n"
        b":0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n")


def test_command_info_containers_and_subcommands(run):
    (config,) = run("COMMAND", "INFO", "config")
    assert config[:7] == [b"config", -2, [], 0, 0, 0, [Status(b"@slow")]]
    subs = {e[0]: e for e in config[9]}
    assert set(subs) == {b"config|get", b"config|set", b"config|resetstat", b"config|rewrite",
                         b"config|help"}
    assert subs[b"config|set"][2] == [Status(b"admin"), Status(b"noscript"),
                                      Status(b"loading"), Status(b"stale")]
    assert subs[b"config|set"][6] == [Status(b"@admin"), Status(b"@slow"),
                                      Status(b"@dangerous")]
    assert subs[b"config|set"][7] == [b"request_policy:all_nodes",
                                      b"response_policy:all_succeeded"]
    assert run("COMMAND", "INFO", "config|get")[0][0] == b"config|get"
    whole = run("COMMAND")
    assert len(whole) == run("COMMAND", "COUNT")


def test_command_docs(run):
    docs = as_dict(run("COMMAND", "DOCS", "get", "nosuch"))
    assert list(docs) == [b"get"]
    get = as_dict(docs[b"get"])
    assert get[b"summary"] == b"Get the value of a key"
    assert get[b"since"] == b"1.0.0" and get[b"group"] == b"string"
    assert get[b"complexity"] == b"O(1)"
    config = as_dict(as_dict(run("COMMAND", "DOCS", "config"))[b"config"])
    assert list(config)[-1] == b"subcommands"
    assert b"config|get" in as_dict(config[b"subcommands"])
    assert len(as_dict(run("COMMAND", "DOCS"))) == run("COMMAND", "COUNT")


def test_command_getkeys(run):
    assert run("COMMAND", "GETKEYS", "set", "a", "b") == [b"a"]
    assert run("COMMAND", "GETKEYS", "mset", "a", "b", "c", "d") == [b"a", b"c"]
    assert run("COMMAND", "GETKEYSANDFLAGS", "mset", "a", "b", "c", "d") == [
        [b"a", [Status(b"OW"), Status(b"update")]], [b"c", [Status(b"OW"), Status(b"update")]]]
    assert run("COMMAND", "GETKEYS", "memory", "usage", "k") == [b"k"]
    assert errmsg(run("COMMAND", "GETKEYS", "nosuch", "a")) == "ERR Invalid command specified"
    assert errmsg(run("COMMAND", "GETKEYS", "config", "get")) == \
        "ERR The command has no key arguments"
    assert errmsg(run("COMMAND", "GETKEYS", "get", "a", "b")) == \
        "ERR Invalid number of arguments specified for command"
    assert errmsg(run("COMMAND", "GETKEYS", "get")) == \
        "ERR wrong number of arguments for 'command|getkeys' command"


def test_key_specs_keynum_and_keyword():
    spec = commanddocs.KEY_SPECS["zunionstore"]
    argv = [b"zunionstore", b"d", b"2", b"a", b"b", b"WEIGHTS", b"1", b"2"]
    assert [i for i, _ in keys_from_specs(spec, -4, argv)] == [1, 3, 4]
    assert keys_from_specs(spec, -4, [b"zunionstore", b"d", b"x", b"a"]) is None
    xread = commanddocs.KEY_SPECS["xread"]
    argv = [b"xread", b"COUNT", b"2", b"STREAMS", b"s1", b"s2", b"0", b"0"]
    assert [i for i, _ in keys_from_specs(xread, -4, argv)] == [4, 5]


# ---- TIME ROLE LASTSAVE ----


def test_time_role_lastsave(server, run):
    server.clock.advance(1234)
    secs, usecs = run("TIME")
    assert (secs, usecs) == (b"%d" % (START_WALL // 1000 + 1), b"234000")
    assert run("ROLE") == [b"master", 0, []]
    assert run("LASTSAVE") == START_WALL // 1000
    assert errmsg(run("TIME", "x")) == "ERR wrong number of arguments for 'time' command"


# ---- SHUTDOWN ----


@pytest.mark.parametrize("args, message", [
    (("FOO",), "ERR syntax error"),
    (("NOSAVE", "SAVE"), "ERR syntax error"),
    (("ABORT", "NOW"), "ERR syntax error"),
    (("ABORT",), "ERR No shutdown in progress."),
])
def test_shutdown_errors(server, run, args, message):
    assert errmsg(run("SHUTDOWN", *args)) == message
    assert server.shutdown_requested is None


@pytest.mark.parametrize("args, mode", [
    ((), "default"), (("NOSAVE",), "nosave"), (("save", "now", "force"), "save"),
])
def test_shutdown_requests_a_stop_without_replying(server, run, args, mode):
    assert run("SHUTDOWN", *args) is NO_REPLY
    assert server.shutdown_requested == mode


def test_shutdown_not_allowed_in_multi(run):
    run("MULTI")
    assert errmsg(run("SHUTDOWN")) == "ERR Command not allowed inside a transaction"


# ---- MONITOR ----


def test_monitor_streams_other_clients_commands(server, run):
    lines: list[bytes] = []
    mon = server.new_client("127.0.0.1:7000", writer=lines.append)
    assert server.execute(mon, [b"MONITOR"]) == OK
    assert server.execute(mon, [b"MONITOR"]) is NO_REPLY     # already monitoring: silence
    run("SET", "k", "v\n")
    run("CONFIG", "GET", "hz")                                # admin commands are not shown
    run("DEBUG", "DIGEST")
    assert len(lines) == 1
    assert lines[0].startswith(b"+%d.000000 [0 127.0.0.1:40001] " % (START_WALL // 1000))
    assert lines[0].endswith(b'"SET" "k" "v\\n"\r\n')
    server.free_client(mon)
    assert server.monitors == []


# ---- SLOWLOG ----


def test_slowlog(server, run):
    run("CONFIG", "SET", "slowlog-log-slower-than", "0")
    run("SET", "a", "b")
    run.client.name = b"me"
    entries = run("SLOWLOG", "GET", "2")
    assert len(entries) == 2
    eid, ts, duration, args, addr, name = entries[0]
    assert (args, addr, name) == ([b"SET", b"a", b"b"], b"127.0.0.1:40001", b"")
    assert ts == START_WALL // 1000 and duration >= 0
    assert entries[1][3][:2] == [b"CONFIG", b"SET"] and entries[0][0] == entries[1][0] + 1
    assert run("SLOWLOG", "LEN") == 3
    assert len(run("SLOWLOG", "GET", "-1")) == 4
    assert run("SLOWLOG", "RESET") == OK
    assert run("SLOWLOG", "LEN") == 1                          # the RESET itself
    assert run("SLOWLOG", "GET")[0][5] == b"me"


@pytest.mark.parametrize("args, message", [
    (("GET", "-2"), "ERR count should be greater than or equal to -1"),
    (("GET", "x"), "ERR count should be greater than or equal to -1"),
    (("GET", "1", "2"),
     "ERR unknown subcommand or wrong number of arguments for 'GET'. Try SLOWLOG HELP."),
    (("LEN", "x"), "ERR wrong number of arguments for 'slowlog|len' command"),
])
def test_slowlog_errors(run, args, message):
    assert errmsg(run("SLOWLOG", *args)) == message


def test_slowlog_max_len_keeps_the_newest(server, run):
    run("CONFIG", "SET", "slowlog-log-slower-than", "0")
    for i in range(5):
        run("SET", "k", str(i))
    run("CONFIG", "SET", "slowlog-max-len", "2")
    # trimmed to the newest two, then the CONFIG SET itself was logged
    assert [e.argv[:3] for e in server.slowlog] == [
        [b"CONFIG", b"SET", b"slowlog-max-len"], [b"SET", b"k", b"4"]]
    assert isinstance(server.slowlog, deque) and server.slowlog.maxlen == 2


# ---- LATENCY ----


def test_latency_disabled_and_empty(run):
    assert run("LATENCY", "LATEST") == []
    assert run("LATENCY", "HISTORY", "command") == []
    assert run("LATENCY", "RESET") == 0
    assert run("LATENCY", "DOCTOR").data.startswith(b"I'm sorry, Dave, I can't do that.")
    run("CONFIG", "SET", "latency-monitor-threshold", "100")
    assert run("LATENCY", "DOCTOR").data.startswith(b"Dave, no latency spike was observed")
    assert errmsg(run("LATENCY", "GRAPH", "command")) == \
        "ERR No samples available for event 'command'"


def test_latency_samples(server, run):
    run("CONFIG", "SET", "latency-monitor-threshold", "100")
    latency_add_sample(server, "command", 50)            # below the threshold
    latency_add_sample(server, "command", 200)
    latency_add_sample(server, "command", 300)           # same second: the worst stays
    server.clock.advance(2000)
    latency_add_sample(server, "command", 150)
    t0 = START_WALL // 1000
    assert run("LATENCY", "HISTORY", "command") == [[t0, 300], [t0 + 2, 150]]
    assert run("LATENCY", "LATEST") == [[b"command", t0 + 2, 150, 300]]
    assert run("LATENCY", "DOCTOR").data.startswith(b"Dave, I have observed latency spikes")
    assert run("LATENCY", "GRAPH", "command").data.startswith(
        b"command - high 300 ms, low 150 ms")
    assert run("LATENCY", "RESET", "command", "other") == 1
    assert run("LATENCY", "LATEST") == []


def test_latency_histogram_shape(run):
    run("SET", "a", "b")
    hist = as_dict(run("LATENCY", "HISTOGRAM", "set", "nosuch"))
    assert list(hist) == [b"set"]
    entry = as_dict(hist[b"set"])
    assert entry[b"calls"] == 1
    ((bucket, count),) = as_dict(entry[b"histogram_usec"]).items()
    assert count == 1 and bucket >= 1


# ---- MEMORY ----


def test_memory_usage_matches_redis_for_strings(run):
    run("SET", "a", "b")
    run("SET", "i", "123")
    run("SET", "s", "x" * 76)
    assert run("MEMORY", "USAGE", "a") == 64
    assert run("MEMORY", "USAGE", "a", "SAMPLES", "0") == 64
    assert run("MEMORY", "USAGE", "i") == 48
    assert run("MEMORY", "USAGE", "s") == 128
    assert run("MEMORY", "USAGE", "nosuch") is None
    assert errmsg(run("MEMORY", "USAGE", "a", "SAMPLES", "x")) == \
        "ERR value is not an integer or out of range"
    assert errmsg(run("MEMORY", "USAGE", "a", "SAMPLES")) == "ERR syntax error"
    assert errmsg(run("MEMORY", "USAGE", "a", "FOO", "1")) == "ERR syntax error"


def test_malloc_size_classes():
    assert [malloc_size(n) for n in (1, 8, 9, 17, 21, 128, 129, 257, 292)] == \
        [8, 8, 16, 32, 32, 128, 160, 320, 320]


def test_memory_stats_doctor_purge(run):
    stats = as_dict(run("MEMORY", "STATS"))
    assert list(stats)[:3] == [b"peak.allocated", b"total.allocated", b"startup.allocated"]
    assert b"keys.count" in stats and b"fragmentation" in stats
    run("SET", "a", "b")
    stats = as_dict(run("MEMORY", "STATS"))
    assert as_dict(stats[b"db.0"]).keys() == {b"overhead.hashtable.main",
                                              b"overhead.hashtable.expires",
                                              b"overhead.hashtable.slot-to-keys"}
    assert stats[b"keys.count"] == 1
    assert run("MEMORY", "DOCTOR").data.startswith(b"Hi Sam, this instance is empty")
    assert run("MEMORY", "PURGE") == OK
    assert run("MEMORY", "HELP")[0].startswith(b"MEMORY <subcommand>")


# ---- DEBUG ----


def test_debug_populate_names_and_sizes(server, run):
    assert run("DEBUG", "POPULATE", "3") == OK
    db = server.keyspace.dbs[0]
    assert db.data == {b"key:0": b"value:0", b"key:1": b"value:1", b"key:2": b"value:2"}
    run("DEBUG", "POPULATE", "2", "pfx", "12")
    assert db.data[b"pfx:1"] == b"value:1\0\0\0\0\0"
    run("DEBUG", "POPULATE", "2", "short", "3")
    assert db.data[b"short:1"] == b"val"
    run("DEBUG", "POPULATE", "2", "", "0")
    assert db.data[b":1"] == b"value:1"
    run("SET", "key:0", "mine")
    run("DEBUG", "POPULATE", "1")
    assert db.data[b"key:0"] == b"mine"                  # existing keys are skipped
    assert server.dirty == 1                             # POPULATE is not counted, like Redis


@pytest.mark.parametrize("args, message", [
    (("POPULATE", "x"), "ERR value is out of range, must be positive"),
    (("POPULATE", "-1"), "ERR value is out of range, must be positive"),
    (("POPULATE", "1", "k", "-1"), "ERR value is out of range, must be positive"),
    (("POPULATE",), "ERR unknown subcommand or wrong number of arguments for 'POPULATE'. "
                    "Try DEBUG HELP."),
    (("POPULATE", "1", "a", "b", "c"), "ERR unknown subcommand or wrong number of arguments "
                                       "for 'POPULATE'. Try DEBUG HELP."),
    (("nosuch",), "ERR unknown subcommand or wrong number of arguments for 'nosuch'. "
                  "Try DEBUG HELP."),
    (("DIGEST", "x"), "ERR unknown subcommand or wrong number of arguments for 'DIGEST'. "
                      "Try DEBUG HELP."),
    (("OBJECT", "nosuch"), "ERR no such key"),
    (("PROTOCOL", "foo"), "ERR Wrong protocol type name. Please use one of the following: "
                          "string|integer|double|bignum|null|array|set|map|attrib|push|"
                          "verbatim|true|false"),
    (("PROTOCOL", "push"), "ERR RESP2 is not supported by this command"),
])
def test_debug_errors(run, args, message):
    assert errmsg(run("DEBUG", *args)) == message


def test_debug_digest_of_strings_matches_redis(run):
    assert run("DEBUG", "DIGEST") == Status(b"0" * 40)
    run("SET", "a", "b")
    # values printed by real redis-server 7.0.15 for the same data
    assert run("DEBUG", "DIGEST-VALUE", "a", "nosuch") == [
        Status(b"b78559cd22bce6e6df712eb99ce7f3b08e8f8f1f"), Status(b"0" * 40)]
    assert run("DEBUG", "DIGEST-VALUE") == []
    plain = run("DEBUG", "DIGEST")
    run("EXPIRE", "a", "1000")
    with_ttl = run("DEBUG", "DIGEST")
    assert with_ttl != plain
    run("EXPIRE", "a", "5000")                           # the TTL's value is not hashed
    assert run("DEBUG", "DIGEST") == with_ttl
    run("PERSIST", "a")
    assert run("DEBUG", "DIGEST") == plain


def test_debug_digest_is_order_independent_and_db_sensitive(server):
    a = Server(ServerConfig(), ManualClock())
    b = Server(ServerConfig(), ManualClock())
    for k in (b"x", b"y", b"z"):
        a.keyspace.dbs[0].set_key(k, k * 2)
    for k in (b"z", b"x", b"y"):
        b.keyspace.dbs[0].set_key(k, k * 2)
    assert digest.dataset_digest(a.keyspace) == digest.dataset_digest(b.keyspace)
    b.keyspace.swap(0, 1)
    assert digest.dataset_digest(a.keyspace) != digest.dataset_digest(b.keyspace)


class _L(list):
    pass


class _S(set):
    pass


class _Z(dict):
    pass


class _H(dict):
    pass


class _X(dict):
    pass


def test_digest_of_container_types_matches_redis(server):
    """Duck-typed containers, digests compared with DEBUG DIGEST-VALUE of redis 7.0.15 after
    RPUSH l a b 12345 "" / SADD s x y 1 -5 / ZADD z 1.5 m1 0.1 m2 3 12 -inf ni 1e300 big /
    HSET h f1 v1 f2 22 / XADD x 1-1 a b c d / XADD x 5-0 e f / SET str hello EX 100."""
    for t, name in ((_L, b"list"), (_S, b"set"), (_Z, b"zset"), (_H, b"hash"),
                    (_X, b"stream")):
        register_type(t, name)
    db = server.keyspace.dbs[0]
    db.data[b"l"] = _L([b"a", b"b", b"12345", b""])
    db.data[b"s"] = _S([b"x", b"y", b"1", b"-5"])
    db.data[b"z"] = _Z({b"m1": 1.5, b"m2": 0.1, b"12": 3.0, b"ni": float("-inf"),
                        b"big": 1e300})
    db.data[b"h"] = _H({b"f1": b"v1", b"f2": b"22"})
    db.data[b"x"] = _X({(1, 1): [b"a", b"b", b"c", b"d"], (5, 0): [(b"e", b"f")]})
    db.data[b"str"] = b"hello"
    db.expires[b"str"] = START_WALL + 100_000
    expected = {
        b"l": "872394e16a57b36ade2ed98ffee57259f6bd0fed",
        b"s": "77e12ee84e22909902cf7b4bf22a1bccbc76a1d7",
        b"z": "fe70f915f25e703e9f227ade94e0cc82508a52be",
        b"h": "ace09efefee43cefd37d4713a6e8cf46c6e14058",
        b"x": "cea901c3cbf88874971e9813d97b6165651bfd7d",
        b"str": "d037c4eb8a8b36b602fbced4000daeab0714c1e3",
    }
    for key, hexdigest in expected.items():
        assert digest.value_digest(db, key).hex() == hexdigest, key


def test_debug_object_sdslen_structsize(run):
    run("SET", "a", "b")
    run("SET", "i", "123")
    obj = run("DEBUG", "OBJECT", "a").decode()
    assert obj.startswith("Value at:0x") and " refcount:1 encoding:embstr " in obj
    assert " serializedlength:2 lru:" in obj and obj.endswith(" lru_seconds_idle:0")
    assert " refcount:2147483647 encoding:int serializedlength:2 " in \
        run("DEBUG", "OBJECT", "i").decode()
    run("SET", "r", "x" * 286)
    assert run("DEBUG", "SDSLEN", "r") == Status(
        b"key_sds_len:1, key_sds_avail:0, key_zmalloc: 8, val_sds_len:286, "
        b"val_sds_avail:28, val_zmalloc: 320")
    assert errmsg(run("DEBUG", "SDSLEN", "i")) == "ERR Not an sds encoded string."
    assert run("DEBUG", "STRUCTSIZE").startswith(b"bits:64 robj:16 dictentry:24 ")


def test_debug_misc(server, run):
    assert run("DEBUG", "SLEEP", "0") == OK
    assert run("DEBUG", "SLEEP", "x") == OK
    assert run("DEBUG", "SET-ACTIVE-EXPIRE", "0") == OK
    run("SET", "k", "v", "PX", "10")
    server.clock.advance(50)
    server.cron()
    assert b"k" in server.keyspace.dbs[0].data             # active expiry is off
    run("DEBUG", "SET-ACTIVE-EXPIRE", "1")
    server.cron()
    assert b"k" not in server.keyspace.dbs[0].data
    err = run("DEBUG", "ERROR", "FOO bar\nbaz")
    assert isinstance(err, ErrorReply) and err.message == "FOO bar\nbaz"
    assert run("DEBUG", "LOG", "hello") == OK
    old = server.replid
    assert run("DEBUG", "CHANGE-REPL-ID") == OK
    assert server.replid != old and len(server.replid) == 40
    help_lines = run("DEBUG", "HELP")
    assert len(help_lines) == 106 and help_lines[-1] == Status(b"    Prints this help.")


def test_debug_protocol_types(run):
    assert encode(run("DEBUG", "PROTOCOL", "double"), 2) == b"$5\r\n3.141\r\n"
    assert encode(run("DEBUG", "PROTOCOL", "map"), 3) == b"%3\r\n:0\r\n#f\r\n:1\r\n#t\r\n:2\r\n#f\r\n"
    run.client.resp = 3
    assert encode(run("DEBUG", "PROTOCOL", "bignum"), 3) == \
        b"(1234567999999999999999999999999999999\r\n"
    assert encode(run("DEBUG", "PROTOCOL", "verbatim"), 3) == \
        b"=29\r\ntxt:This is a verbatim\nstring\r\n"


def test_strtod_prefix():
    assert strtod(b"0.5") == 0.5
    assert strtod(b"2abc") == 2.0
    assert strtod(b"x") == 0.0
    assert strtod(b"1e-3") == 0.001
