"""Scripting commands: EVAL EVALSHA EVAL_RO EVALSHA_RO SCRIPT FCALL FCALL_RO FUNCTION.

Handlers only parse arguments; the Lua engine, the sandbox, the script cache, the
function libraries and the busy-script machinery live in `redkeep.server.scripting`.
Replies and error texts are Redis 7.0.15's.
"""

from __future__ import annotations

from redkeep.resp.types import OK, Map, SetReply, Status
from redkeep.server import errors
from redkeep.server.arguments import parse_int
from redkeep.server.connection import Client
from redkeep.server.errors import CommandError
from redkeep.server.glob import stringmatch
from redkeep.server.scripting import (
    BUSY_EVAL,
    KEYS_GT_ARGS,
    KEYS_NEGATIVE,
    NOSCRIPT,
    scripting_of,
)
from redkeep.server.table import CommandTable

# ---- EVAL family ----


def _numkeys(argv: list[bytes]) -> int:
    numkeys = parse_int(argv[2])
    if numkeys > len(argv) - 3:
        raise CommandError(KEYS_GT_ARGS)
    if numkeys < 0:
        raise CommandError(KEYS_NEGATIVE)
    return numkeys


def _feed_monitors(c: Client, argv: list[bytes]) -> None:
    """EVAL/FCALL are skip_monitor commands that MONITOR shows first thing, errors or not."""
    if c.server.monitors:
        c.server.feed_monitors(c, argv)


def _eval(c: Client, argv: list[bytes], by_sha: bool, ro: bool) -> object:
    _feed_monitors(c, argv)
    st = scripting_of(c.server)
    if by_sha:
        script = st.lookup_sha(argv[1])
        if script is None:
            raise CommandError(NOSCRIPT)
        numkeys = _numkeys(argv)
    else:
        numkeys = _numkeys(argv)
        script = st.script_for(argv[1])
    keys, args = argv[3:3 + numkeys], argv[3 + numkeys:]
    return st.eval(c, script, keys, args, ro, argv)


def cmd_eval(c: Client, argv: list[bytes]) -> object:
    return _eval(c, argv, False, False)


def cmd_evalsha(c: Client, argv: list[bytes]) -> object:
    return _eval(c, argv, True, False)


def cmd_eval_ro(c: Client, argv: list[bytes]) -> object:
    return _eval(c, argv, False, True)


def cmd_evalsha_ro(c: Client, argv: list[bytes]) -> object:
    return _eval(c, argv, True, True)


# ---- SCRIPT ----


def cmd_script_load(c: Client, argv: list[bytes]) -> object:
    return scripting_of(c.server).script_for(argv[2]).sha


def cmd_script_exists(c: Client, argv: list[bytes]) -> object:
    st = scripting_of(c.server)
    return [1 if st.lookup_sha(sha) is not None else 0 for sha in argv[2:]]


def _flush_mode(argv: list[bytes], error: str) -> None:
    if len(argv) > 3 or (len(argv) == 3 and argv[2].lower() not in (b"sync", b"async")):
        raise CommandError(error)


def cmd_script_flush(c: Client, argv: list[bytes]) -> object:
    _flush_mode(argv, "ERR SCRIPT FLUSH only support SYNC|ASYNC option")
    scripting_of(c.server).flush_scripts()
    return OK


def cmd_script_kill(c: Client, argv: list[bytes]) -> object:
    scripting_of(c.server).kill(is_eval=True)
    return OK


def cmd_script_debug(c: Client, argv: list[bytes]) -> object:
    mode = argv[2].lower()
    if mode == b"no":
        return OK
    if mode in (b"yes", b"sync"):
        raise CommandError("ERR SCRIPT DEBUG YES/SYNC (the Lua debugger) is not supported by "
                           "this server")
    raise CommandError("ERR Use SCRIPT DEBUG YES/SYNC/NO")


SCRIPT_HELP = (
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Prints this help.",
)


def cmd_script_help(c: Client, argv: list[bytes]) -> object:
    return [Status(line.encode()) for line in SCRIPT_HELP]


# ---- FCALL / FUNCTION ----


def cmd_fcall(c: Client, argv: list[bytes]) -> object:
    _feed_monitors(c, argv)
    return scripting_of(c.server).fcall(c, argv, ro=False)


def cmd_fcall_ro(c: Client, argv: list[bytes]) -> object:
    _feed_monitors(c, argv)
    return scripting_of(c.server).fcall(c, argv, ro=True)


def cmd_function_load(c: Client, argv: list[bytes]) -> object:
    replace = False
    for opt in argv[2:-1]:
        if opt.lower() != b"replace":
            raise CommandError(f"ERR Unknown option given: {opt.decode('utf-8', 'replace')}")
        replace = True
    name = scripting_of(c.server).function_load(argv[-1], replace)
    c.server.dirty += 1
    return name


def cmd_function_delete(c: Client, argv: list[bytes]) -> object:
    scripting_of(c.server).function_delete(argv[2])
    c.server.dirty += 1
    return OK


def cmd_function_flush(c: Client, argv: list[bytes]) -> object:
    if len(argv) > 3:
        raise CommandError(errors.subcommand_syntax(argv[1], "function"))
    _flush_mode(argv, "ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
    scripting_of(c.server).function_flush()
    c.server.dirty += 1
    return OK


def cmd_function_list(c: Client, argv: list[bytes]) -> object:
    with_code, pattern, i = False, None, 2
    while i < len(argv):
        arg = argv[i].lower()
        if not with_code and arg == b"withcode":
            with_code = True
        elif pattern is None and arg == b"libraryname":
            if i >= len(argv) - 1:
                raise CommandError("ERR library name argument was not given")
            i += 1
            pattern = argv[i]
        else:
            raise CommandError(f"ERR Unknown argument {argv[i].decode('utf-8', 'replace')}")
        i += 1
    st = scripting_of(c.server)
    return [_library_reply(lib, with_code) for lib in st.libraries.values()
            if pattern is None or stringmatch(pattern, lib.name, nocase=True)]


def _library_reply(lib: object, with_code: bool) -> Map:
    functions = [Map([(b"name", fi.name), (b"description", fi.description),
                      (b"flags", SetReply(Status(f.encode()) for f in fi.flags))])
                 for fi in lib.functions.values()]
    items = [(b"library_name", lib.name), (b"engine", b"LUA"), (b"functions", functions)]
    if with_code:
        items.append((b"library_code", lib.code))
    return Map(items)


def cmd_function_stats(c: Client, argv: list[bytes]) -> object:
    st = scripting_of(c.server)
    run = c.server.busy_script
    if run is not None and run.is_eval:
        raise CommandError(BUSY_EVAL)
    running = None
    if run is not None:
        running = Map([(b"name", run.name.encode()), (b"command", list(run.argv)),
                       (b"duration_ms", run.elapsed_ms())])
    engine = Map([(b"libraries_count", len(st.libraries)),
                  (b"functions_count", len(st.functions))])
    return Map([(b"running_script", running), (b"engines", Map([(b"LUA", engine)]))])


def cmd_function_kill(c: Client, argv: list[bytes]) -> object:
    scripting_of(c.server).kill(is_eval=False)
    return OK


def cmd_function_dump(c: Client, argv: list[bytes]) -> object:
    return scripting_of(c.server).function_dump()


def cmd_function_restore(c: Client, argv: list[bytes]) -> object:
    policy = "append"
    if len(argv) > 4:
        raise CommandError(errors.subcommand_syntax(argv[1], "function"))
    if len(argv) == 4:
        policy = argv[3].lower().decode("latin-1")
        if policy not in ("append", "replace", "flush"):
            raise CommandError("ERR Wrong restore policy given, value should be either FLUSH, "
                               "APPEND or REPLACE.")
    scripting_of(c.server).function_restore(argv[2], policy)
    c.server.dirty += 1
    return OK


FUNCTION_HELP = (
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using "
    "FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a "
    "restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, "
    "abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, "
    "replace the old",
    "      libraries with the new libraries (notice that even on this option there is a "
    "chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
)


def cmd_function_help(c: Client, argv: list[bytes]) -> object:
    return [Status(line.encode()) for line in FUNCTION_HELP]


# ---- Registration ----


def register(table: CommandTable) -> None:
    g, cats = "scripting", "@slow @scripting"
    script_flags = "noscript stale skip_monitor no_mandatory_keys movablekeys"
    for name, handler, ro in (("eval", cmd_eval, False), ("evalsha", cmd_evalsha, False),
                              ("eval_ro", cmd_eval_ro, True),
                              ("evalsha_ro", cmd_evalsha_ro, True),
                              ("fcall", cmd_fcall, False), ("fcall_ro", cmd_fcall_ro, True)):
        table.add(name, handler, -3, ("readonly " if ro else "") + script_flags, group=g,
                  categories=cats)

    script = table.add("script", None, -2, "", group=g, categories="@slow")
    for name, handler, arity, flags in (
            ("flush", cmd_script_flush, -2, "noscript"),
            ("exists", cmd_script_exists, -3, "noscript"),
            ("load", cmd_script_load, 3, "noscript stale"),
            ("debug", cmd_script_debug, 3, "noscript"),
            ("help", cmd_script_help, 2, "loading stale"),
            ("kill", cmd_script_kill, 2, "noscript allow_busy")):
        table.add_subcommand(script, name, handler, arity, flags, categories=cats)

    function = table.add("function", None, -2, "", group=g, categories="@slow")
    wcats = "@write @slow @scripting"
    for name, handler, arity, flags, c in (
            ("load", cmd_function_load, -3, "write denyoom noscript", wcats),
            ("delete", cmd_function_delete, 3, "write noscript", wcats),
            ("flush", cmd_function_flush, -2, "write noscript", wcats),
            ("restore", cmd_function_restore, -3, "write denyoom noscript", wcats),
            ("list", cmd_function_list, -2, "noscript", cats),
            ("help", cmd_function_help, 2, "loading stale", cats),
            ("dump", cmd_function_dump, 2, "noscript", cats),
            ("kill", cmd_function_kill, 2, "noscript allow_busy", cats),
            ("stats", cmd_function_stats, 2, "noscript allow_busy", cats)):
        table.add_subcommand(function, name, handler, arity, flags, categories=c)

