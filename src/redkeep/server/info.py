"""INFO: the sections, fields and number formats of Redis 7.0.15's genRedisInfoString.

Theory of operation
-------------------
`generate_info(server, args)` picks sections the way Redis 7.0 does (no argument =
"default"; "all" = every section; "everything" = all plus module sections, which
redkeep doesn't have; any other word names one section, case-insensitively; unknown
names print nothing) and always prints them in Redis's order, each as "# Title"
followed by "field:value" lines, sections separated by an empty line, every line
ending in CRLF.

Each section is a pure function of the Server (`section_server(server)` …) that
returns its lines. Values that Redis takes from the allocator or the process are
approximated honestly: used_memory is the keyspace's estimate plus a fixed startup
baseline and a per-client cost, RSS comes from /proc/self/statm, CPU from getrusage.
Fields Redis prints for features redkeep doesn't model (Lua memory, defrag, tracking,
modules, cluster) keep Redis's names and idle values, so tools that parse INFO find
every field they expect. Persistence and replication fields are read with getattr
from the Server under Redis's field names, so the subsystems that own them only need
to keep those attributes current.

`InstantaneousMetrics` is Redis's trackInstantaneousMetric: every 100 ms the cron
samples the command and network counters; the instantaneous values are the mean of
the last 16 per-second rates.
"""

from __future__ import annotations

import hashlib
import os
import resource
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from redkeep import __version__

if TYPE_CHECKING:
    from redkeep.server.server import Server
    from redkeep.server.table import Command

Lines = list[str]

STARTUP_MEMORY = 876_096        # what an empty redis-server 7.0 reports as used_memory_startup
CLIENT_MEMORY = 22_272          # per normal client (struct, 16k reply buffer, query buffer)
LRU_CLOCK_MAX = (1 << 24) - 1
METRIC_SAMPLES = 16
METRIC_PERIOD_MS = 100
_METRICS = ("command", "net_input", "net_output", "net_repl_input", "net_repl_output")

DEFAULT_SECTIONS = ("server", "clients", "memory", "persistence", "stats", "replication",
                    "cpu", "modules", "errorstats", "cluster", "keyspace")
ALL_SECTIONS = ("server", "clients", "memory", "persistence", "stats", "replication", "cpu",
                "modules", "commandstats", "errorstats", "latencystats", "cluster", "keyspace")
_TITLES = {"cpu": "CPU"}
_ALIASES = {"module_list": "modules"}


# ---- Selection and layout ----

def select_sections(args: list[bytes]) -> list[str]:
    """INFO's arguments -> the section names to print, in Redis's order."""
    if not args:
        wanted = set(DEFAULT_SECTIONS)
    else:
        wanted = set()
        for a in args:
            name = a.decode("utf-8", "replace").lower()
            if name in ("all", "everything"):
                wanted.update(ALL_SECTIONS)
            elif name == "default":
                wanted.update(DEFAULT_SECTIONS)
            else:
                wanted.add(_ALIASES.get(name, name))
    return [s for s in ALL_SECTIONS if s in wanted]


def generate_info(server: Server, args: list[bytes]) -> bytes:
    parts = []
    for name in select_sections(args):
        lines = SECTIONS[name](server)
        title = _TITLES.get(name, name.capitalize())
        parts.append("".join([f"# {title}\r\n"] + [line + "\r\n" for line in lines]))
    return "\r\n".join(parts).encode("utf-8", "surrogateescape")


def fields(pairs: list[tuple[str, Any]]) -> Lines:
    return [f"{k}:{v}" for k, v in pairs]


# ---- Formatting helpers (Redis's printf formats) ----

def bytes_to_human(n: int) -> str:
    """bytesToHuman: B, K, M, G, T, P with two decimals."""
    if n < 1024:
        return f"{n}B"
    for unit, power in (("K", 1), ("M", 2), ("G", 3), ("T", 4), ("P", 5)):
        if n < 1024 ** (power + 1) or unit == "P":
            return f"{n / 1024 ** power:.2f}{unit}"
    return f"{n}B"  # pragma: no cover


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "0.00"


def trim_double(x: float) -> str:
    """'%f' then trimDoubleString: 50.000000 -> 50, 99.900000 -> 99.9."""
    s = f"{x:f}"
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


# ---- Process facts (the only OS reads; tests may replace these) ----

def process_rss() -> int:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def total_system_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0


def cpu_usage() -> list[tuple[str, str]]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    thread = resource.getrusage(getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF))
    return [("used_cpu_sys", f"{me.ru_stime:.6f}"), ("used_cpu_user", f"{me.ru_utime:.6f}"),
            ("used_cpu_sys_children", f"{kids.ru_stime:.6f}"),
            ("used_cpu_user_children", f"{kids.ru_utime:.6f}"),
            ("used_cpu_sys_main_thread", f"{thread.ru_stime:.6f}"),
            ("used_cpu_user_main_thread", f"{thread.ru_utime:.6f}")]


def executable_path(server: Server) -> str:
    exe = getattr(server, "executable", None)
    return exe or os.path.abspath(sys.argv[0] if sys.argv and sys.argv[0] else sys.executable)


BUILD_ID = hashlib.sha1(f"redkeep {__version__}".encode()).hexdigest()[:16]


# ---- Instantaneous metrics (ticked by Server.cron) ----

class InstantaneousMetrics:
    """trackInstantaneousMetric / getInstantaneousMetric for the five Redis metrics."""

    def __init__(self) -> None:
        self.last_time: dict[str, int | None] = dict.fromkeys(_METRICS)
        self.last_count: dict[str, int] = dict.fromkeys(_METRICS, 0)
        self.samples: dict[str, list[int]] = {m: [0] * METRIC_SAMPLES for m in _METRICS}
        self.idx: dict[str, int] = dict.fromkeys(_METRICS, 0)
        self.next_sample_ms = 0
        self.peak_memory = 0

    def track(self, metric: str, now_ms: int, reading: int) -> None:
        last = self.last_time[metric]
        if last is not None:
            t = now_ms - last
            ops = reading - self.last_count[metric]
            i = self.idx[metric]
            self.samples[metric][i] = ops * 1000 // t if t > 0 else 0
            self.idx[metric] = (i + 1) % METRIC_SAMPLES
        self.last_time[metric] = now_ms
        self.last_count[metric] = reading

    def value(self, metric: str) -> int:
        return sum(self.samples[metric]) // METRIC_SAMPLES

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]


def metrics_of(server: Server) -> InstantaneousMetrics:
    m = getattr(server, "inst_metrics", None)
    if m is None:
        m = server.inst_metrics = InstantaneousMetrics()  # type: ignore[attr-defined]
    return m


def track_instantaneous_metrics(server: Server) -> None:
    """Called from Server.cron; samples at most every 100 ms, like serverCron."""
    m = metrics_of(server)
    now = server.clock.monotonic_ms()
    if now < m.next_sample_ms:
        return
    m.next_sample_ms = now + METRIC_PERIOD_MS
    st = server.stats
    m.track("command", now, st["total_commands_processed"])
    m.track("net_input", now, st["total_net_input_bytes"])
    m.track("net_output", now, st["total_net_output_bytes"])
    m.track("net_repl_input", now, st.get("total_net_repl_input_bytes", 0))
    m.track("net_repl_output", now, st.get("total_net_repl_output_bytes", 0))
    memory_numbers(server, with_rss=False)  # keeps the peak current


# ---- Memory accounting (shared with MEMORY STATS / DOCTOR) ----

def clients_memory(server: Server) -> int:
    return CLIENT_MEMORY * sum(1 for c in server.clients.values() if c.kind != "replica")


def memory_numbers(server: Server, with_rss: bool = True) -> dict[str, int]:
    """used_memory and its parts (an estimate: see the module docstring); keeps the peak."""
    ks = server.keyspace
    clients = clients_memory(server)
    nkeys = sum(len(db.data) + len(db.expires) for db in ks.dbs)
    hashtables = 8 * nkeys + 48 * sum(1 for db in ks.dbs if db.data)
    overhead = STARTUP_MEMORY + clients + hashtables
    used = max(STARTUP_MEMORY + max(ks.used_memory, 0) + clients, overhead)
    m = metrics_of(server)
    if used > m.peak_memory:
        m.peak_memory = used
    return {"used": used, "peak": m.peak_memory, "startup": STARTUP_MEMORY,
            "overhead": overhead, "clients": clients, "hashtables": hashtables,
            "dataset": used - overhead, "rss": process_rss() if with_rss else 0}


def connected_clients(server: Server) -> int:
    return sum(1 for c in server.clients.values() if c.kind != "replica")


# ---- Sections ----

def section_server(server: Server) -> Lines:
    uname = os.uname()
    cfg = server.config
    uptime = server.uptime_seconds()
    return fields([
        ("redis_version", server.version), ("redis_git_sha1", "00000000"),
        ("redis_git_dirty", 0), ("redis_build_id", BUILD_ID), ("redis_mode", "standalone"),
        ("os", f"{uname.sysname} {uname.release} {uname.machine}"), ("arch_bits", 64),
        ("monotonic_clock", "POSIX clock_gettime"), ("multiplexing_api", "epoll"),
        ("atomicvar_api", "c11-builtin"), ("gcc_version", "0.0.0"),
        ("process_id", os.getpid()), ("process_supervised", cfg.supervised),
        ("run_id", server.run_id), ("tcp_port", cfg.port),
        ("server_time_usec", server.clock.wall_us()), ("uptime_in_seconds", uptime),
        ("uptime_in_days", uptime // 86400), ("hz", cfg.hz), ("configured_hz", cfg.hz),
        ("lru_clock", (server.clock.wall_ms() // 1000) & LRU_CLOCK_MAX),
        ("executable", executable_path(server)), ("config_file", cfg.config_file or ""),
        ("io_threads_active", 0),
    ])


def section_clients(server: Server) -> Lines:
    clients = server.clients.values()
    return fields([
        ("connected_clients", connected_clients(server)), ("cluster_connections", 0),
        ("maxclients", server.config.maxclients),
        ("client_recent_max_input_buffer", max((c.qbuf_peak for c in clients), default=0)),
        ("client_recent_max_output_buffer", 0),
        ("blocked_clients", sum(1 for c in clients if getattr(c, "blocked", None))),
        ("tracking_clients", 0), ("clients_in_timeout_table", 0),
    ])


def section_memory(server: Server) -> Lines:
    mem = memory_numbers(server)
    cfg = server.config
    used, peak, rss, startup = mem["used"], mem["peak"], mem["rss"], mem["startup"]
    net = used - startup or 1
    system = total_system_memory()
    from redkeep.server.scripting import scripting_info  # scripting imports the server
    scripts = scripting_info(server)
    return fields([
        ("used_memory", used), ("used_memory_human", bytes_to_human(used)),
        ("used_memory_rss", rss), ("used_memory_rss_human", bytes_to_human(rss)),
        ("used_memory_peak", peak), ("used_memory_peak_human", bytes_to_human(peak)),
        ("used_memory_peak_perc", f"{used * 100 / peak:.2f}%"),
        ("used_memory_overhead", mem["overhead"]), ("used_memory_startup", startup),
        ("used_memory_dataset", mem["dataset"]),
        ("used_memory_dataset_perc", f"{mem['dataset'] * 100 / net:.2f}%"),
        ("allocator_allocated", used), ("allocator_active", used), ("allocator_resident", rss),
        ("total_system_memory", system), ("total_system_memory_human", bytes_to_human(system)),
        ("used_memory_lua", 32768), ("used_memory_vm_eval", 32768),
        ("used_memory_lua_human", "32.00K"),
        ("used_memory_scripts_eval", scripts["used_memory_scripts_eval"]),
        ("number_of_cached_scripts", scripts["number_of_cached_scripts"]),
        ("number_of_functions", scripts["number_of_functions"]),
        ("number_of_libraries", scripts["number_of_libraries"]),
        ("used_memory_vm_functions", 33792),
        ("used_memory_vm_total", 66560), ("used_memory_vm_total_human", "65.00K"),
        ("used_memory_functions", 200), ("used_memory_scripts", 200),
        ("used_memory_scripts_human", "200B"),
        ("maxmemory", cfg.maxmemory), ("maxmemory_human", bytes_to_human(cfg.maxmemory)),
        ("maxmemory_policy", cfg.maxmemory_policy),
        ("allocator_frag_ratio", "1.00"), ("allocator_frag_bytes", 0),
        ("allocator_rss_ratio", ratio(rss, used)), ("allocator_rss_bytes", rss - used),
        ("rss_overhead_ratio", "1.00"), ("rss_overhead_bytes", 0),
        ("mem_fragmentation_ratio", ratio(rss, used)),
        ("mem_fragmentation_bytes", rss - used),
        ("mem_not_counted_for_evict", 0), ("mem_replication_backlog", 0),
        ("mem_total_replication_buffers", 0), ("mem_clients_slaves", 0),
        ("mem_clients_normal", mem["clients"]), ("mem_cluster_links", 0),
        ("mem_aof_buffer", 0), ("mem_allocator", "libc"), ("active_defrag_running", 0),
        ("lazyfree_pending_objects", 0), ("lazyfreed_objects", 0),
    ])


def last_save_time(server: Server) -> int:
    from redkeep.persistence.snapshot import state_of
    return state_of(server).lastsave


def section_persistence(server: Server) -> Lines:
    from redkeep.persistence.aof import info_fields
    from redkeep.persistence.snapshot import bgsave_elapsed_s, changes_since_save, state_of
    g = getattr
    st = state_of(server)
    aof_always, aof_on = info_fields(server)
    lines = fields([
        ("loading", int(bool(g(server, "loading", False)))), ("async_loading", 0),
        ("current_cow_peak", 0), ("current_cow_size", 0), ("current_cow_size_age", 0),
        ("current_fork_perc", "0.00"), ("current_save_keys_processed", 0),
        ("current_save_keys_total", 0),
        ("rdb_changes_since_last_save", changes_since_save(server)),
        ("rdb_bgsave_in_progress", int(st.child_pid is not None)),
        ("rdb_last_save_time", st.lastsave),
        ("rdb_last_bgsave_status", "ok" if st.lastbgsave_ok else "err"),
        ("rdb_last_bgsave_time_sec", st.save_time_last),
        ("rdb_current_bgsave_time_sec", bgsave_elapsed_s(server)), ("rdb_saves", st.saves),
        ("rdb_last_cow_size", 0),
        ("rdb_last_load_keys_expired", st.last_load_keys_expired),
        ("rdb_last_load_keys_loaded", st.last_load_keys_loaded),
        *aof_always,
        ("aof_last_cow_size", 0), ("module_fork_in_progress", 0),
        ("module_fork_last_cow_size", 0),
    ])
    if aof_on:
        lines += fields(aof_on)
    return lines


_STAT_FIELDS = (
    "total_connections_received", "total_commands_processed", "instantaneous_ops_per_sec",
    "total_net_input_bytes", "total_net_output_bytes", "total_net_repl_input_bytes",
    "total_net_repl_output_bytes", "instantaneous_input_kbps", "instantaneous_output_kbps",
    "instantaneous_input_repl_kbps", "instantaneous_output_repl_kbps",
    "rejected_connections", "sync_full", "sync_partial_ok", "sync_partial_err",
    "expired_keys", "expired_stale_perc", "expired_time_cap_reached_count",
    "expire_cycle_cpu_milliseconds", "evicted_keys", "evicted_clients",
    "total_eviction_exceeded_time", "current_eviction_exceeded_time", "keyspace_hits",
    "keyspace_misses", "pubsub_channels", "pubsub_patterns", "pubsubshard_channels",
    "latest_fork_usec", "total_forks", "migrate_cached_sockets",
    "slave_expires_tracked_keys", "active_defrag_hits", "active_defrag_misses",
    "active_defrag_key_hits", "active_defrag_key_misses", "total_active_defrag_time",
    "current_active_defrag_time", "tracking_total_keys", "tracking_total_items",
    "tracking_total_prefixes", "unexpected_error_replies", "total_error_replies",
    "dump_payload_sanitizations", "total_reads_processed", "total_writes_processed",
    "io_threaded_reads_processed", "io_threaded_writes_processed", "reply_buffer_shrinks",
    "reply_buffer_expands",
)


def section_stats(server: Server) -> Lines:
    m = metrics_of(server)
    ks = server.keyspace
    computed: dict[str, Any] = {
        "instantaneous_ops_per_sec": m.value("command"),
        "instantaneous_input_kbps": f"{m.value('net_input') / 1024:.2f}",
        "instantaneous_output_kbps": f"{m.value('net_output') / 1024:.2f}",
        "instantaneous_input_repl_kbps": f"{m.value('net_repl_input') / 1024:.2f}",
        "instantaneous_output_repl_kbps": f"{m.value('net_repl_output') / 1024:.2f}",
        "expired_keys": ks.expired_keys, "expired_stale_perc": "0.00",
        "evicted_keys": ks.evicted_keys, "keyspace_hits": ks.keyspace_hits,
        "keyspace_misses": ks.keyspace_misses,
        "pubsub_channels": len(server.pubsub.channels),
        "pubsub_patterns": len(server.pubsub.patterns),
    }
    st = server.stats
    return fields([(name, computed[name] if name in computed else st.get(name, 0))
                   for name in _STAT_FIELDS])


def section_replication(server: Server) -> Lines:
    from redkeep.replication.info import replication_fields
    return fields(replication_fields(server))


def section_cpu(server: Server) -> Lines:
    return fields(cpu_usage())


def section_modules(server: Server) -> Lines:
    return []


def all_commands(server: Server) -> list[Command]:
    """Every command then its subcommands, in table order (genRedisInfoStringCommandStats)."""
    out = []
    for cmd in server.table.all_commands():
        out.append(cmd)
        out.extend((cmd.subcommands or {}).values())
    return out


def section_commandstats(server: Server) -> Lines:
    lines = []
    for cmd in all_commands(server):
        if not (cmd.calls or cmd.failed_calls or cmd.rejected_calls):
            continue
        per_call = cmd.usec / cmd.calls if cmd.calls else 0.0
        lines.append(f"cmdstat_{safe_info_string(cmd.fullname)}:calls={cmd.calls},"
                     f"usec={cmd.usec},usec_per_call={per_call:.2f},"
                     f"rejected_calls={cmd.rejected_calls},failed_calls={cmd.failed_calls}")
    return lines


def safe_info_string(s: str) -> str:
    return s.replace(":", "_").replace("\r", "_").replace("\n", "_")


def section_errorstats(server: Server) -> Lines:
    return [f"errorstat_{code}:count={n}" for code, n in sorted(server.errorstats.items())]


def section_latencystats(server: Server) -> Lines:
    """Per-command latency percentiles. redkeep keeps no per-call histogram: every
    percentile is the mean latency, rounded up to its HDR histogram bucket as Redis's
    2-significant-digit histogram would report a single value."""
    cfg = server.config
    if not cfg.latency_tracking:
        return []
    lines = []
    for cmd in all_commands(server):
        if not cmd.calls:
            continue
        value = hdr_highest_equivalent(max(1, cmd.usec * 1000 // cmd.calls)) / 1000
        pct = ",".join(f"p{trim_double(p)}={value:.3f}"
                       for p in cfg.latency_tracking_info_percentiles)
        lines.append(f"latency_percentiles_usec_{safe_info_string(cmd.fullname)}:{pct}")
    return lines


def hdr_highest_equivalent(value_ns: int) -> int:
    """The top of value's bucket in an HDR histogram with 2 significant digits."""
    bucket = max((value_ns | 255).bit_length() - 8, 0)
    return ((value_ns >> bucket) << bucket) + (1 << bucket) - 1


def section_cluster(server: Server) -> Lines:
    return ["cluster_enabled:0"]


def section_keyspace(server: Server) -> Lines:
    lines = []
    now = server.clock.wall_ms()
    for db in server.keyspace.dbs:
        if db.data:
            lines.append(f"db{db.id}:keys={len(db.data)},expires={len(db.expires)},"
                         f"avg_ttl={db.avg_ttl or estimate_avg_ttl(db.expires, now)}")
    return lines


def estimate_avg_ttl(expires: dict[bytes, int], now_ms: int, sample: int = 64) -> int:
    """Mean remaining TTL in ms over a sample of volatile keys (Redis estimates it the
    same way, by sampling, in its active expire cycle)."""
    total = n = 0
    for when in expires.values():
        if when > now_ms:
            total += when - now_ms
            n += 1
        if n >= sample:
            break
    return total // n if n else 0


SECTIONS: dict[str, Callable[[Server], Lines]] = {
    "server": section_server, "clients": section_clients, "memory": section_memory,
    "persistence": section_persistence, "stats": section_stats,
    "replication": section_replication, "cpu": section_cpu, "modules": section_modules,
    "commandstats": section_commandstats, "errorstats": section_errorstats,
    "latencystats": section_latencystats, "cluster": section_cluster,
    "keyspace": section_keyspace,
}
