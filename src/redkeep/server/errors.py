"""Every error text the server sends lives here, spelled exactly as Redis 7.0 spells it.

Handlers raise `CommandError(text)`; the dispatcher turns it into an error reply and
counts it in INFO errorstats under its first word.
"""

from __future__ import annotations


class CommandError(Exception):
    """Raised by a handler to send an error reply."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


SYNTAX = "ERR syntax error"
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
OVERFLOW = "ERR increment or decrement would overflow"
NO_SUCH_KEY = "ERR no such key"
DB_INDEX = "ERR DB index is out of range"
INVALID_EXPIRE = "ERR invalid expire time in '{}' command"
NOAUTH = "NOAUTH Authentication required."
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
AUTH_NOT_CONFIGURED = (
    "ERR AUTH <password> called without any password configured for the default user. "
    "Are you sure your configuration is correct?"
)
OOM = "OOM command not allowed when used memory > 'maxmemory'."
EXECABORT = "EXECABORT Transaction discarded because of previous errors."
MULTI_NESTED = "ERR MULTI calls can not be nested"
EXEC_WITHOUT_MULTI = "ERR EXEC without MULTI"
DISCARD_WITHOUT_MULTI = "ERR DISCARD without MULTI"
WATCH_IN_MULTI = "ERR WATCH inside MULTI is not allowed"
BIT_OFFSET = "ERR bit offset is not an integer or out of range"
BIT_VALUE = "ERR bit is not an integer or out of range"
STRING_TOO_LONG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
OFFSET_RANGE = "ERR offset is out of range"
SELECT_NOT_ALLOWED = "ERR SELECT is not allowed in cluster mode"
UNKNOWN_PROTO = "NOPROTO unsupported protocol version"
READONLY = "READONLY You can't write against a read only replica."
INVALID_CURSOR = "ERR invalid cursor"
SAME_OBJECT = "ERR source and destination objects are the same"


def int_out_of_range(low: int, high: int) -> str:
    """getRangeLongFromObjectOrReply's text (sic: "must between")."""
    return f"ERR value is out of range, value must between {low} and {high}"


def wrong_arity(fullname: str) -> str:
    return f"ERR wrong number of arguments for '{fullname}' command"


def unknown_command(argv: list[bytes]) -> str:
    name = argv[0].decode("latin-1")[:128]  # bytes as they came, like Redis's %.128s
    args = ""
    for a in argv[1:]:  # Redis stops previewing once 128 characters are shown
        if len(args) >= 128:
            break
        args += f"'{a.decode('latin-1')[:128 - len(args)]}' "
    return f"ERR unknown command '{name}', with args beginning with: {args}"


def unknown_subcommand(sub: bytes, container: str) -> str:
    s = sub.decode("latin-1")[:128]
    return f"ERR unknown subcommand '{s}'. Try {container.upper()} HELP."


def subcommand_syntax(sub: bytes, container: str) -> str:
    """addReplySubcommandSyntaxError: a known container, a bad subcommand or arity."""
    s = sub.decode("latin-1")[:128]
    return (f"ERR unknown subcommand or wrong number of arguments for '{s}'. "
            f"Try {container.upper()} HELP.")


def pubsub_context(name: str) -> str:
    return (
        f"ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
        "RESET are allowed in this context"
    )

MISCONF = (
    "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist "
    "to disk. Commands that may modify the data set are disabled, because this instance is "
    "configured to report errors during writes if RDB snapshotting fails "
    "(stop-writes-on-bgsave-error option). Please check the Redis logs for details about the "
    "RDB error.")

# ---- Replication ----
READONLY = "READONLY You can't write against a read only replica."
MASTERDOWN = "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
NOREPLICAS = "NOREPLICAS Not enough good replicas to write."
NOMASTERLINK = "NOMASTERLINK Can't SYNC while not connected with my master"
LOADING = "LOADING Redis is loading the dataset in memory"
