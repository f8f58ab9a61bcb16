"""What a sentinel knows: monitored masters, their replicas and the other sentinels.

Theory of operation
-------------------
The model of Redis's sentinelRedisInstance, split by kind. A `Master` is what
`sentinel monitor` names: its address, quorum, timeouts, auth, scripts, the epoch of
its configuration, the replicas discovered from its INFO and the sentinels discovered
from hello messages, plus the failover in progress (state, leader, epoch, promoted
replica). `Replica` and `SentinelPeer` carry what INFO / hello taught us and the
liveness timestamps every instance has (`Liveness`). Flags combine (`Flag`:
S_DOWN | O_DOWN | FAILOVER_IN_PROGRESS …); the failover state is exclusive
(`FailoverState`, Redis's SENTINEL_FAILOVER_STATE_* names).

Nothing here does I/O or reads the time: the core (sentinel.core) passes `now` in
milliseconds. Addresses are (host, port) tuples; names are what Redis prints
("slave 127.0.0.1:6380 127.0.0.1 6380 @ mymaster 127.0.0.1 6379").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Flag(enum.Flag):
    NONE = 0
    MASTER = enum.auto()
    SLAVE = enum.auto()
    SENTINEL = enum.auto()
    S_DOWN = enum.auto()
    O_DOWN = enum.auto()
    MASTER_DOWN = enum.auto()          # a sentinel peer voted the master down
    FAILOVER_IN_PROGRESS = enum.auto()
    PROMOTED = enum.auto()
    RECONF_SENT = enum.auto()
    RECONF_INPROG = enum.auto()
    RECONF_DONE = enum.auto()
    FORCE_FAILOVER = enum.auto()
    SCRIPT_KILL_SENT = enum.auto()
    MASTER_REBOOT = enum.auto()


# The names SENTINEL MASTER(S)/REPLICAS print in the flags field, in Redis's order.
FLAG_NAMES = (
    (Flag.S_DOWN, "s_down"), (Flag.O_DOWN, "o_down"), (Flag.MASTER_DOWN, "master_down"),
    (Flag.FAILOVER_IN_PROGRESS, "failover_in_progress"), (Flag.PROMOTED, "promoted"),
    (Flag.RECONF_SENT, "reconf_sent"), (Flag.RECONF_INPROG, "reconf_inprog"),
    (Flag.RECONF_DONE, "reconf_done"), (Flag.FORCE_FAILOVER, "force_failover"),
    (Flag.SCRIPT_KILL_SENT, "script_kill_sent"), (Flag.MASTER_REBOOT, "master_reboot"),
)


class FailoverState(enum.Enum):
    NONE = "none"
    WAIT_START = "wait_start"
    SELECT_SLAVE = "select_slave"
    SEND_SLAVEOF_NOONE = "send_slaveof_noone"
    WAIT_PROMOTION = "wait_promotion"
    RECONF_SLAVES = "reconf_slaves"
    UPDATE_CONFIG = "update_config"


Addr = tuple[str, int]


@dataclass
class Liveness:
    """Link and reply bookkeeping every monitored instance has (ms, 0 = never)."""
    link_connected: bool = False
    link_since: int = 0                 # when the link (re)connected or was lost
    act_ping_time: int = 0              # a PING is pending since (0: none pending)
    last_ping_time: int = 0             # when we last sent a PING
    last_avail_time: int = 0            # last valid PING reply (+PONG, -LOADING, -MASTERDOWN)
    last_pong_time: int = 0             # last reply of any kind to PING
    last_hello_time: int = 0            # pubsub: last hello heard / sentinel: last hello
    info_refresh: int = 0               # when INFO was last parsed
    s_down_since: int = 0
    o_down_since: int = 0
    down_after_ms: int = 30000
    runid: str = ""
    role_reported: str = ""
    role_reported_time: int = 0


@dataclass
class Replica:
    addr: Addr
    flags: Flag = Flag.SLAVE
    live: Liveness = field(default_factory=Liveness)
    master_link_down_since_ms: int = 0
    master_host: str = ""
    master_port: int = 0
    master_link_status_up: bool = False
    repl_offset: int = 0
    priority: int = 100
    replica_announced: bool = True
    slave_conf_change_time: int = 0     # when we sent SLAVEOF to it
    reconf_sent_time: int = 0

    @property
    def name(self) -> str:
        return f"{self.addr[0]}:{self.addr[1]}"


@dataclass
class SentinelPeer:
    addr: Addr
    runid: str
    flags: Flag = Flag.SENTINEL
    live: Liveness = field(default_factory=Liveness)
    leader: str = ""                    # whom it voted for (from is-master-down-by-addr)
    leader_epoch: int = 0
    last_master_down_reply_time: int = 0

    @property
    def name(self) -> str:
        return f"{self.addr[0]}:{self.addr[1]}"


@dataclass
class Master:
    name: str
    addr: Addr
    quorum: int
    flags: Flag = Flag.MASTER
    live: Liveness = field(default_factory=Liveness)
    down_after_ms: int = 30000
    failover_timeout: int = 180000
    parallel_syncs: int = 1
    auth_pass: str = ""
    auth_user: str = ""
    notification_script: str = ""
    client_reconfig_script: str = ""
    config_epoch: int = 0
    replicas: dict[Addr, Replica] = field(default_factory=dict)
    sentinels: dict[str, SentinelPeer] = field(default_factory=dict)   # by runid
    # failover
    leader: str = ""                    # the runid we voted for in leader_epoch
    leader_epoch: int = 0
    failover_epoch: int = 0
    failover_state: FailoverState = FailoverState.NONE
    failover_state_change_time: int = 0
    failover_start_time: int = 0
    failover_delay_logged: int = 0
    promoted: Addr | None = None
    # role change grace for a reported reboot
    master_reboot_down_after_period: int = 0
    master_reboot_since_time: int = 0

    def flag_names(self) -> str:
        return flags_text(self.flags)


def flags_text(flags: Flag) -> str:
    """'master,s_down,o_down' etc., in Redis's order."""
    parts = []
    for kind, name in ((Flag.MASTER, "master"), (Flag.SLAVE, "slave"), (Flag.SENTINEL, "sentinel")):
        if flags & kind:
            parts.append(name)
    for f, name in FLAG_NAMES:
        if flags & f:
            parts.append(name)
    return ",".join(parts)


def replica_event_name(r: Replica, m: Master) -> str:
    """`slave <ip:port> <ip> <port> @ <master> <ip> <port>` as Redis's event format."""
    return (f"slave {r.addr[0]}:{r.addr[1]} {r.addr[0]} {r.addr[1]} @ "
            f"{m.name} {m.addr[0]} {m.addr[1]}")


def master_event_name(m: Master) -> str:
    return f"master {m.name} {m.addr[0]} {m.addr[1]}"


def sentinel_event_name(s: SentinelPeer, m: Master) -> str:
    return (f"sentinel {s.runid} {s.addr[0]} {s.addr[1]} @ "
            f"{m.name} {m.addr[0]} {m.addr[1]}")
