"""Lua scripting: EVAL scripts and Redis 7 functions on lupa's Lua 5.1.

Theory of operation
-------------------
`Scripting` (one per Server, `scripting_of(server)`) owns two `LuaEngine`s, like Redis:
one for EVAL scripts (the script cache: sha1 -> compiled function) and one for the
function libraries (FUNCTION LOAD / FCALL). An engine is a lupa `LuaRuntime` prepared
by the Lua prelude below before anything user-written runs:

* the sandbox: scripts run with an environment that is a *readonly view* of an allowed
  set of globals (Redis 7.0.15's list: no os, io, package, require, loadfile, dofile,
  print, debug, getfenv, setfenv, newproxy). A view is an empty proxy table whose reads
  go to a shadow copy (nested tables are views as well) and whose writes raise
  "Attempt to modify a readonly table" -- the effect of Redis's patched-Lua readonly
  tables. Reading a missing global raises "Script attempted to access nonexistent global
  variable". rawset/setmetatable/table.insert... refuse views, pairs/next/rawget see
  through them, loadstring/load refuse bytecode and give loaded chunks the same
  environment. So no script can leave anything behind for another script.
* the API: `redis.*` (call, pcall, error_reply, status_reply, sha1hex, log, setresp,
  set_repl...), Redis's pcall (errors raised as tables come back as their text), the
  error handler that adds "script: <name>, on @user_script:<line>." and math.random on
  Redis's rand48 (not reseeded per script, as in 7.0); cjson, cmsgpack, bit and struct
  are Python (`CJson`, `CMsgpack`, `BitOp`, `StructLib`) wrapped in Lua closures, so
  scripts only ever see Lua functions and no Python object is reachable.

Python callbacks answer with a value, or with `(ERRMARK, error)` which the Lua wrapper
raises at the caller's level (so messages get "user_script:1: " exactly where a C
function of Redis would put it). Because those wrappers are Lua functions, a script's
`return redis.call(...)` would be a tail call that erases the script's frame (and the
line in error messages); compiled user code is therefore reloaded with OP_TAILCALL
turned into OP_CALL (`untail`). The one visible cost: tail recursion deeper than Lua's
20000-call limit fails with "stack overflow" where Redis would loop.

Conversions follow script_lua.c: a command's reply becomes Lua values according to the
script client's protocol (RESP2: nil bulk -> false, status -> {ok=...}, error ->
{err=...}; RESP3 after redis.setresp(3): maps, sets, doubles, booleans, nil), and the
script's return value becomes the reply (numbers truncate to integers, a table stops at
its first nil, {ok=}/{err=}/{double=}/{map=}/{set=}/{big_number=}/{verbatim_string=}).

Running: `ScriptRun` is Redis's scriptRunCtx (caller, fake "lua" client, read-only /
allow-oom flags, whether a write happened, SCRIPT KILL). Commands from a script go
through `Server.call` on the fake client after Redis's checks (scriptCall). Scripts run
in a worker thread (`ScriptRunner`) while the event loop thread waits; past
busy-reply-threshold the loop stops waiting: the caller is parked like a blocked
client, `server.busy_script` makes every other command answer BUSY (Server.execute),
and the script's remaining commands are handed to the loop thread, so all keyspace
changes still happen on one thread. SCRIPT KILL sets a flag that the count hook (every
100000 instructions) turns into an error. Without a node (unit tests), inside EXEC or
with the threshold at 0 the script runs inline. While a script runs, key expiry uses
the time it started (Redis's scriptTimeSnapshot).

FUNCTION DUMP produces Redis's own payload (RDB_OPCODE_FUNCTION2 records, LZF as
liblzf compresses, RDB version 10, CRC64), byte-identical to Redis 7.0.15's, and
FUNCTION RESTORE reads Redis's payloads.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import math
import re
import struct as pystruct
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import lupa.lua51 as lua51

from redkeep.resp.splitargs import split_args
from redkeep.resp.types import (
    Bool,
    Double,
    ErrorReply,
    Map,
    NullArray,
    Push,
    Raw,
    SetReply,
    Status,
    Verbatim,
)
from redkeep.server.errors import CommandError

if TYPE_CHECKING:
    from redkeep.server.connection import Client
    from redkeep.server.server import Server

LLONG_MIN = -(1 << 63)
LLONG_MAX = (1 << 63) - 1
HOOK_INSTRUCTIONS = 100000
LOAD_TIMEOUT_MS = 500

# ---- Error texts (Redis 7.0.15) ----

NOSCRIPT = "NOSCRIPT No matching script. Please use EVAL."
BUSY_EVAL = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
BUSY_FUNCTION = ("BUSY Redis is busy running a script. You can only call FUNCTION KILL or "
                 "SHUTDOWN NOSAVE.")
NOTBUSY = "NOTBUSY No scripts in execution right now."
UNKILLABLE = ("UNKILLABLE Sorry the script already executed write commands against the dataset. "
              "You can either wait the script termination or kill the server in a hard way "
              "using the SHUTDOWN NOSAVE command.")
KEYS_GT_ARGS = "ERR Number of keys can't be greater than number of args"
KEYS_NEGATIVE = "ERR Number of keys can't be negative"
RO_SCRIPT_WRITE = "Can not execute a script with write flag using *_ro command."
KILLED = "ERR Script killed by user with SCRIPT KILL..."
NAME_RULE = ("Library names can only contain letters, numbers, or underscores(_) and must be at "
             "least one character long")

SCRIPT_FLAGS = ("no-writes", "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys")


# ---- The Lua prelude ----
#
# Runs once per engine with the full standard library, captures what it needs in
# locals and returns the internal entry points. Arguments: the table of Python
# callbacks, the error marker, the engine kind ("eval"/"function"), the version.

PRELUDE = r"""
local P, ERRMARK, KIND, VERSION, VERSION_NUM = ...
local rawget, rawset, rawequal, next, type, tostring, tonumber, error, select, unpack =
      rawget, rawset, rawequal, next, type, tostring, tonumber, error, select, unpack
local setmetatable, getmetatable, pcall, xpcall, loadstring, setfenv, pairs, ipairs =
      setmetatable, getmetatable, pcall, xpcall, loadstring, setfenv, pairs, ipairs
local getinfo, sethook, newproxy = debug.getinfo, debug.sethook, newproxy
local co_create, co_resume = coroutine.create, coroutine.resume
local sbyte, ssub, sfind, smatch = string.byte, string.sub, string.find, string.match
local sformat, sdump = string.format, string.dump
local tconcat, floor = table.concat, math.floor
local SELF = getinfo(1, "S").source
local RO = "Attempt to modify a readonly table"

local function pack(...) return {n = select("#", ...), ...} end
local function copy(t) local c = {} for k, v in next, t do c[k] = v end return c end
local function toint(x) if x >= 0 then return floor(x) end return -floor(-x) end
local function argtype(n, i, v) if i > n then return "no value" end return type(v) end
local function argerror(i, fname, msg)
  local info = getinfo(2, "n")
  if info then
    fname = info.name or "?"
    if info.namewhat == "method" then
      i = i - 1
      if i == 0 then error("calling '" .. fname .. "' on bad self (" .. msg .. ")", 3) end
    end
  end
  error("bad argument #" .. i .. " to '" .. fname .. "' (" .. msg .. ")", 3)
end

-- ---- Readonly views ----
local shadow_of = setmetatable({}, {__mode = "k"})
local meta_view = setmetatable({}, {__mode = "k"})
local views = {}
local function ro_newindex() error(RO, 2) end
local function strict_index(shadow)
  return function(_, k)
    local v = shadow[k]
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    return v
  end
end
local function readonly(t, strict)
  local p = views[t]
  if p then return p, shadow_of[p] end
  p = {}
  views[t] = p
  local shadow = {}
  shadow_of[p] = shadow
  for k, v in next, t do
    if type(v) == "table" and not shadow_of[v] then v = readonly(v) end
    shadow[k] = v
  end
  local index = shadow
  if strict then index = strict_index(shadow) end
  setmetatable(p, {__index = index, __newindex = ro_newindex, __metatable = false})
  if strict then meta_view[p] = readonly({__index = index}) end
  return p, shadow
end

-- ---- Python callback results: a value, or ERRMARK and the error to raise ----
local function wrap1(f)
  return function(...)
    local r, e = f(...)
    if rawequal(r, ERRMARK) then error(e, 2) end
    return r
  end
end
local function wrapn(f)
  return function(...)
    local r = pack(f(...))
    if rawequal(r[1], ERRMARK) then error(r[2], 2) end
    return unpack(r, 1, r.n)
  end
end

-- ---- Count hook: SCRIPT KILL and the FUNCTION LOAD timeout ----
local hook_mask, hook_count, hook_fn
local armed = false   -- true only while user code runs inside our protected call
hook_fn = function()
  if not armed then return end
  local where = getinfo(2, "S")
  if where and where.source == SELF then return end   -- raise in user code, not ours
  local e = P.hook()
  if e ~= nil then
    if hook_mask ~= "l" then hook_mask, hook_count = "l", 0; sethook(hook_fn, "l") end
    error(e)
  end
end
local function hook_on(count) hook_mask, hook_count = "", count; sethook(hook_fn, "", count) end
local function hook_off() hook_mask = nil; sethook() end

-- ---- Error handler: {err=..., source=..., line=...} about the innermost user frame ----
local function err_handler(err)
  local level = 2
  local info = getinfo(level, "Sl")
  while info and (info.what == "C" or info.what == "tail" or info.source == SELF) do
    level = level + 1
    info = getinfo(level, "Sl")
  end
  if type(err) ~= "table" or shadow_of[err] then err = {err = "ERR " .. tostring(err)} end
  if info then err.source = info.source; err.line = info.currentline end
  return err
end

-- ---- Builtins as scripts see them ----
local function chunkid(source)
  source = smatch(source, "^[^%z]*")
  local c = ssub(source, 1, 1)
  if c == "=" then return ssub(source, 2, 60) end
  if c == "@" then
    source = ssub(source, 2)
    if #source > 52 then return "..." .. ssub(source, -52) end
    return source
  end
  local line = smatch(source, "^[^\n\r]*")
  if #line > 44 then line = ssub(line, 1, 44) end
  if #line < #source then return '[string "' .. line .. '..."]' end
  return '[string "' .. line .. '"]'
end
local function binary_chunk_error(name)
  return chunkid(name) .. ":1: unexpected symbol near 'char(27)'"
end

local u = {}
local USER_ENV
u.rawset = function(...)
  local t, k, v = ...
  if type(t) ~= "table" then
    argerror(1, "rawset", "table expected, got " .. argtype(select("#", ...), 1, t))
  end
  if shadow_of[t] then error(RO, 0) end
  return rawset(t, k, v)
end
u.rawget = function(...)
  local t, k = ...
  if type(t) ~= "table" then
    argerror(1, "rawget", "table expected, got " .. argtype(select("#", ...), 1, t))
  end
  return (rawget(shadow_of[t] or t, k))
end
u.next = function(...)
  local t, k = ...
  if type(t) ~= "table" then
    argerror(1, "next", "table expected, got " .. argtype(select("#", ...), 1, t))
  end
  return next(shadow_of[t] or t, k)
end
u.pairs = function(...)
  local t = ...
  if type(t) ~= "table" then
    argerror(1, "pairs", "table expected, got " .. argtype(select("#", ...), 1, t))
  end
  return next, shadow_of[t] or t, nil
end
u.ipairs = function(...)
  local t = ...
  if type(t) ~= "table" then
    argerror(1, "ipairs", "table expected, got " .. argtype(select("#", ...), 1, t))
  end
  return ipairs(shadow_of[t] or t)
end
local string_mt = getmetatable("")
u.getmetatable = function(...)
  local v = ...
  if select("#", ...) == 0 then argerror(1, "getmetatable", "value expected") end
  if shadow_of[v] then return meta_view[v] end
  local mt = getmetatable(v)
  if rawequal(mt, string_mt) then return (readonly(string_mt)) end
  return mt
end
u.setmetatable = function(...)
  local t, mt = ...
  if type(t) == "table" and shadow_of[t] then error(RO, 0) end
  return setmetatable(t, mt)
end
u.unpack = function(t, ...) return unpack(shadow_of[t] or t, ...) end
local function fix_pcall(ok, ...)
  if ok then return true, ... end
  local e = ...
  if type(e) == "table" and not shadow_of[e] then
    local m = e.err
    if type(m) == "string" or type(m) == "number" then e = m end
  end
  return false, e
end
u.pcall = function(...)
  if select("#", ...) == 0 then argerror(1, "pcall", "value expected") end
  return fix_pcall(pcall(...))
end
u.loadstring = function(s, name)
  if type(s) == "string" and sbyte(s, 1) == 27 then
    return nil, binary_chunk_error(type(name) == "string" and name or s)
  end
  local f, e = loadstring(s, name)
  if not f then return f, e end
  f = loadstring(P.untail(sdump(f)))
  setfenv(f, USER_ENV)
  return f
end
u.load = function(...)
  local reader, name = ...
  if type(reader) ~= "function" then
    argerror(1, "load", "function expected, got " .. argtype(select("#", ...), 1, reader))
  end
  local parts, n = {}, 0
  while true do
    local piece = reader()
    if piece == nil or piece == "" then break end
    if type(piece) ~= "string" then return nil, "reader function must return a string" end
    n = n + 1
    parts[n] = piece
  end
  return u.loadstring(tconcat(parts), name or "=(load)")
end

local utable = copy(table)
for _, fname in next, {"insert", "remove", "sort", "setn"} do
  local f = table[fname]
  utable[fname] = function(t, ...)
    if type(t) == "table" and shadow_of[t] then error(RO, 0) end
    return f(t, ...)
  end
end
for _, fname in next, {"foreach", "foreachi", "concat", "getn", "maxn"} do
  local f = table[fname]
  utable[fname] = function(t, ...) return f(shadow_of[t] or t, ...) end
end

local ucoroutine = copy(coroutine)
ucoroutine.create = function(...)
  local f = ...
  if type(f) ~= "function" then argerror(1, "create", "Lua function expected") end
  local co = co_create(f)
  if hook_mask then sethook(co, hook_fn, hook_mask, hook_count) end
  return co
end
ucoroutine.wrap = function(...)
  local f = ...
  if type(f) ~= "function" then argerror(1, "wrap", "Lua function expected") end
  local co = ucoroutine.create(f)
  return function(...)
    local r = pack(co_resume(co, ...))
    if r[1] then return unpack(r, 2, r.n) end
    error(r[2], 2)
  end
end

local umath = copy(math)
local rand, srand = P.rand, P.srand
umath.random = function(...)
  local n = select("#", ...)
  local r = rand()
  if n == 0 then return r end
  local a, b = ...
  if tonumber(a) == nil then argerror(1, "random", "number expected, got " .. argtype(n, 1, a)) end
  if n == 1 then
    local up = toint(tonumber(a))
    if up < 1 then argerror(1, "random", "interval is empty") end
    return floor(r * up) + 1
  elseif n == 2 then
    if tonumber(b) == nil then argerror(2, "random", "number expected, got " .. argtype(n, 2, b)) end
    local lo, up = toint(tonumber(a)), toint(tonumber(b))
    if lo > up then argerror(2, "random", "interval is empty") end
    return floor(r * (up - lo + 1)) + lo
  end
  error("wrong number of arguments", 2)
end
umath.randomseed = function(...)
  local a = ...
  if tonumber(a) == nil then
    argerror(1, "randomseed", "number expected, got " .. argtype(select("#", ...), 1, a))
  end
  srand(toint(tonumber(a)))
end

local NULL = newproxy(false)
local function library(fns, single, multi)
  local t = {}
  for _, name in next, single do t[name] = wrap1(fns[name]) end
  for _, name in next, multi or {} do t[name] = wrapn(fns[name]) end
  return t
end
local ucjson = library(P.cjson, {"encode", "decode"})
ucjson.null = NULL
ucjson.decode_invalid_numbers = function() return true end
ucjson.encode_invalid_numbers = function() return false end
ucjson.decode_max_depth = function() return 1000 end
ucjson.encode_max_depth = function() return 1000 end
ucjson.encode_number_precision = function() return 14 end
ucjson.encode_keep_buffer = function() return true end
ucjson.encode_sparse_array = function() return false, 2, 10 end
ucjson.new = function() return ucjson end
ucjson._NAME, ucjson._VERSION = "cjson", "2.1.0"
local ucmsgpack = library(P.cmsgpack, {"pack"}, {"unpack", "unpack_one", "unpack_limit"})
ucmsgpack._NAME, ucmsgpack._VERSION = "cmsgpack", "lua-cmsgpack 0.4.0"
ucmsgpack._COPYRIGHT = "Copyright (C) 2012, Salvatore Sanfilippo"
ucmsgpack._DESCRIPTION = "MessagePack C implementation for Lua"
local ubit = library(P.bit, {"tobit", "bnot", "band", "bor", "bxor", "lshift", "rshift",
                             "arshift", "rol", "ror", "bswap", "tohex"})
local ustruct = library(P.struct, {"pack", "size"}, {"unpack"})

-- ---- The redis API ----
local function error_text(buf)
  local sp = sfind(buf, " ", 1, true)
  local code, msg = "ERR", ssub(buf, 2)
  if sp then code, msg = ssub(buf, 2, sp - 1), ssub(buf, sp + 1) end
  msg = smatch(msg, "^[\r\n]*(.-)[\r\n]*$")
  return code .. " " .. msg
end
local function bad_args() return {err = "ERR wrong number or type of arguments"} end

local function api_constants(r)
  r.LOG_DEBUG, r.LOG_VERBOSE, r.LOG_NOTICE, r.LOG_WARNING = 0, 1, 2, 3
  r.REDIS_VERSION, r.REDIS_VERSION_NUM = VERSION, VERSION_NUM
end
local function api_log(...)
  local n = select("#", ...)
  if n < 2 then error({err = "ERR redis.log() requires two arguments or more."}) end
  local level = tonumber((...))
  if level == nil then error({err = "ERR First argument must be a number (log level)."}) end
  level = toint(level)
  if level < 0 or level > 3 then error({err = "ERR Invalid debug level."}) end
  local out = {}
  for j = 2, n do
    local s = select(j, ...)
    local t = type(s)
    if t == "string" or t == "number" then
      if j ~= 2 then out[#out + 1] = " " end
      out[#out + 1] = tostring(s)
    end
  end
  P.log(level, tconcat(out))
end

-- Numbers reach Python as integers when integral, which would lose the sign of -0
-- ("%.17g" gives "-0" in Redis): such arguments are passed as the string "-0".
local function call_args(...)
  local n = select("#", ...)
  for i = 1, n do
    local v = select(i, ...)
    if v == 0 and 1 / v < 0 then
      local t = {...}
      for j = i, n do
        if t[j] == 0 and 1 / t[j] < 0 then t[j] = "-0" end
      end
      return unpack(t, 1, n)
    end
  end
  return ...
end

local function runtime_api(debugging)
  local call, acl = P.call, P.acl
  local r = {}
  r.call = function(...)
    local v, e = call(true, call_args(...))
    if rawequal(v, ERRMARK) then error(e, 2) end
    return v
  end
  r.pcall = function(...) return (call(false, call_args(...))) end
  r.error_reply = function(...)
    local x = ...
    if select("#", ...) ~= 1 or type(x) ~= "string" then return bad_args() end
    if sbyte(x, 1) ~= 45 then x = "-" .. x end
    return {err = error_text(x)}
  end
  r.status_reply = function(...)
    local x = ...
    if select("#", ...) ~= 1 or type(x) ~= "string" then return bad_args() end
    return {ok = x}
  end
  r.sha1hex = function(...)
    if select("#", ...) ~= 1 then error({err = "ERR wrong number of arguments"}) end
    local x = ...
    local t = type(x)
    return P.sha1((t == "string" or t == "number") and tostring(x) or "")
  end
  r.log = api_log
  r.setresp = function(...)
    if select("#", ...) ~= 1 then error({err = "ERR redis.setresp() requires one argument."}) end
    local v = toint(tonumber((...)) or 0)
    if v ~= 2 and v ~= 3 then error({err = "ERR RESP version must be 2 or 3."}) end
    P.setresp(v)
  end
  r.set_repl = function(...)
    if select("#", ...) ~= 1 then error({err = "ERR redis.set_repl() requires two arguments."}) end
    local v = toint(tonumber((...)) or 0)
    if v < 0 or v > 3 then
      error({err = "ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE."})
    end
  end
  r.acl_check_cmd = function(...)
    local v, e = acl(...)
    if rawequal(v, ERRMARK) then error(e, 2) end
    return v
  end
  r.REPL_NONE, r.REPL_AOF, r.REPL_SLAVE, r.REPL_REPLICA, r.REPL_ALL = 0, 1, 2, 2, 3
  api_constants(r)
  if debugging then
    r.replicate_commands = function() return true end
    r.breakpoint = function() return false end
    r.debug = function() end
  end
  return r
end

local function register_function(...)
  local n = select("#", ...)
  local name, callback, flags, desc
  local function fail(msg) error({err = "ERR " .. msg}, 3) end
  local function isstring(v) local t = type(v) return t == "string" or t == "number" end
  if n == 1 then
    local t = ...
    if type(t) ~= "table" then
      fail("calling redis.register_function with a single argument is only applicable to Lua " ..
           "table (representing named arguments).")
    end
    for k, v in next, t do
      if not isstring(k) then fail("named argument key given to redis.register_function is not a string") end
      k = tostring(k)
      if k == "function_name" then
        if not isstring(v) then fail("function_name argument given to redis.register_function must be a string") end
        name = v
      elseif k == "description" then
        if not isstring(v) then fail("description argument given to redis.register_function must be a string") end
        desc = v
      elseif k == "callback" then
        if type(v) ~= "function" then fail("callback argument given to redis.register_function must be a function") end
        callback = v
      elseif k == "flags" then
        if type(v) ~= "table" then fail("flags argument to redis.register_function must be a table representing function flags") end
        flags = v
      else
        fail("unknown argument given to redis.register_function")
      end
    end
    if name == nil then fail("redis.register_function must get a function name argument") end
    if callback == nil then fail("redis.register_function must get a callback argument") end
  elseif n == 2 then
    name, callback = ...
    if not isstring(name) then fail("first argument to redis.register_function must be a string") end
    if type(callback) ~= "function" then fail("second argument to redis.register_function must be a function") end
  else
    fail("wrong number of arguments to redis.register_function")
  end
  local flag_list = {}
  if flags then
    local j = 1
    while true do
      local f = flags[j]
      if f == nil then break end
      if not isstring(f) then fail("unknown flag given") end
      flag_list[j] = tostring(f)
      j = j + 1
    end
  end
  local e = P.register(tostring(name), callback, flag_list, desc ~= nil and tostring(desc) or nil)
  if e ~= nil then error(e, 2) end
end

-- ---- Environments ----
local function user_globals(api, with_handler)
  local g = {
    _VERSION = _VERSION, assert = assert, collectgarbage = collectgarbage, error = error,
    gcinfo = gcinfo, getmetatable = u.getmetatable, ipairs = u.ipairs, load = u.load,
    loadstring = u.loadstring, next = u.next, pairs = u.pairs, pcall = u.pcall,
    rawequal = rawequal, rawget = u.rawget, rawset = u.rawset, select = select,
    setmetatable = u.setmetatable, tonumber = tonumber, tostring = tostring, type = type,
    unpack = u.unpack, xpcall = xpcall,
    string = string, table = utable, math = umath, coroutine = ucoroutine,
    cjson = ucjson, cmsgpack = ucmsgpack, bit = ubit, struct = ustruct, redis = api,
  }
  if with_handler then g.__redis__err__handler = err_handler end
  return g
end

local E = {}
if KIND == "eval" then
  local env, shadow = readonly(user_globals(runtime_api(true), true), true)
  shadow._G = env
  USER_ENV = env
  E.run = function(fn, keys, argv, count)
    shadow.KEYS, shadow.ARGV = keys, argv
    if count then hook_on(count) end
    armed = true; local ok, res = xpcall(fn, err_handler); armed = false; if count then hook_off() end
    return ok, res
  end
else
  local run_env, run_shadow = readonly(user_globals(runtime_api(false), false), true)
  local load_api = {register_function = register_function, log = api_log}
  api_constants(load_api)
  local _, load_shadow = readonly({redis = readonly(load_api, true)}, true)
  local current = run_shadow
  local env = {}
  shadow_of[env] = run_shadow
  local index = function(_, k)
    local v = current[k]
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    return v
  end
  setmetatable(env, {__index = index, __newindex = ro_newindex, __metatable = false})
  meta_view[env] = readonly({__index = index})
  run_shadow._G = env
  USER_ENV = env
  E.load = function(fn, count)
    current = load_shadow
    if count then hook_on(count) end
    armed = true; local ok, err = pcall(fn); armed = false; if count then hook_off() end
    current = run_shadow
    if ok then return nil end
    return err
  end
  E.run = function(fn, keys, argv, count)
    if count then hook_on(count) end
    local call = function() return fn(keys, argv) end
    armed = true; local ok, res = xpcall(call, err_handler); armed = false; if count then hook_off() end
    return ok, res
  end
end

E.compile = function(code, chunkname)
  if sbyte(code, 1) == 27 then return nil, binary_chunk_error(chunkname) end
  local f, e = loadstring(code, chunkname)
  if not f then return nil, e end
  f = loadstring(P.untail(sdump(f)))
  setfenv(f, USER_ENV)
  return f, nil
end

-- Classify a returned table the way luaReplyToRedisReply does (raw field reads).
E.classify = function(t)
  local v = rawget(t, "err")
  if type(v) == "string" then return "err", v, t.ignore_error_stats_update == true end
  v = rawget(t, "ok")
  if type(v) == "string" then return "ok", v, nil end
  v = rawget(t, "double")
  if type(v) == "number" then return "double", v, sformat("%.17g", v) end
  v = rawget(t, "big_number")
  if type(v) == "string" then return "big_number", v, nil end
  v = rawget(t, "verbatim_string")
  if type(v) == "table" then
    local f, s = rawget(v, "format"), rawget(v, "string")
    if type(f) == "string" and type(s) == "string" then return "verbatim", s, f end
  end
  v = rawget(t, "map")
  if type(v) == "table" then
    local out, n = {}, 0
    for k, x in next, v do out[n + 1] = k; out[n + 2] = x; n = n + 2 end
    return "map", out, n
  end
  v = rawget(t, "set")
  if type(v) == "table" then
    local out, n = {}, 0
    for k in next, v do n = n + 1; out[n] = k end
    return "set", out, n
  end
  local n = 0
  while rawget(t, n + 1) ~= nil do n = n + 1 end
  return "array", t, n
end
E.is_null = function(v) return rawequal(v, NULL) end
-- luaExtractErrorInformation: err, source, line as strings (numbers converted), and the
-- ignore_error_stats_update flag.
local function field_text(v)
  local t = type(v)
  if t == "string" or t == "number" then return tostring(v) end
  return nil
end
E.errinfo = function(e)
  local ok, msg, source, line, ignore = pcall(function()
    return e.err, e.source, e.line, e.ignore_error_stats_update
  end)
  if not ok then return nil, nil, nil, false end
  return field_text(msg), field_text(source), field_text(line), ignore == true
end
E.null = NULL
return E
"""


# ---- Small Lua/C emulations ----

def double_to_ll(d: float) -> int:
    """(long long)lua_Number on x86-64: truncation, INT64_MIN when out of range or NaN."""
    if d != d or d >= 9.223372036854775807e18 or d < -9.223372036854775808e18:
        return LLONG_MIN
    return int(d)


def format_g17(d: float) -> bytes:
    """snprintf("%.17g") as Redis formats Lua numbers given to redis.call."""
    if d != d:
        return b"-nan" if math.copysign(1.0, d) < 0 else b"nan"
    if math.isinf(d):
        return b"inf" if d > 0 else b"-inf"
    return b"%.17g" % d


def format_g14(d: float) -> bytes:
    """Lua's number-to-string (LUA_NUMBER_FMT "%.14g")."""
    if d != d:
        return b"-nan" if math.copysign(1.0, d) < 0 else b"nan"
    if math.isinf(d):
        return b"inf" if d > 0 else b"-inf"
    if d == int(d) and abs(d) < 1e15:
        return b"%d" % int(d)
    return b"%.14g" % d


_STRTOD = re.compile(
    rb"[ \t\n\v\f\r]*[+-]?(?:0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?"
    rb"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    rb"|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?|[nN][aA][nN](?:\([0-9A-Za-z_]*\))?)")


def strtod(s: bytes, pos: int = 0) -> tuple[float, int] | None:
    """C strtod on s[pos:]: (value, end position) or None when nothing was parsed."""
    m = _STRTOD.match(s, pos)
    if m is None:
        return None
    text = m.group().strip().lower()
    neg = text.startswith(b"-")
    body = text.lstrip(b"+-")
    if body.startswith(b"0x"):
        hexpart = body.decode()
        if "p" not in hexpart:
            hexpart += "p0"
        if hexpart.startswith("0x.") or hexpart.endswith(".p0"):
            hexpart = hexpart.replace("0x.", "0x0.").replace(".p", ".0p")
        v = float.fromhex(hexpart)
    elif body.startswith(b"inf"):
        v = math.inf
    elif body.startswith(b"nan"):
        v = math.nan
    else:
        v = float(body)
    return (-v if neg else v), m.end()


def lua_tonumber(v: Any) -> float | None:
    """lua_tonumber: numbers, and strings that are entirely a number (hex allowed)."""
    t = type(v)
    if t is int or t is float:
        return float(v)
    if t is not bytes:
        return None
    parsed = strtod(v)
    if parsed is None:
        return None
    value, end = parsed
    if end < len(v) and v[end:end + 1] in (b"x", b"X"):
        m = re.match(rb"[ \t\n\v\f\r]*(-?)0[xX]([0-9a-fA-F]+)", v)
        if m is None:
            return None
        value, end = float(int(m.group(2), 16)), m.end()
    if v[end:].strip(b" \t\n\v\f\r"):
        return None
    return value


def lua_typename(v: Any) -> str:
    if v is None:
        return "nil"
    t = type(v)
    if t is bool:
        return "boolean"
    if t is int or t is float:
        return "number"
    if t is bytes:
        return "string"
    return lua51.lua_type(v) or "userdata"


class Rand48:
    """redisLrand48 / redisSrand48 (POSIX rand48), the generator behind math.random."""

    def __init__(self, seed: int = 0) -> None:
        self.seed(seed)

    def seed(self, value: int) -> None:
        self.x = ((value & 0xFFFFFFFF) << 16) | 0x330E

    def random(self) -> float:
        self.x = (self.x * 0x5DEECE66D + 0xB) & 0xFFFFFFFFFFFF
        return ((self.x >> 17) % 2147483647) / 2147483647


def sha1hex(data: bytes) -> bytes:
    return hashlib.sha1(data).hexdigest().encode()


class LuaLibError(Exception):
    """Raised by a library function: becomes a Lua error at the caller's level."""


def _bad_arg(n: int, fname: str, msg: str) -> LuaLibError:
    return LuaLibError(f"bad argument #{n} to '{fname}' ({msg})")


def _expected(args: tuple, i: int, fname: str, what: str) -> LuaLibError:
    got = "no value" if i >= len(args) else lua_typename(args[i])
    return _bad_arg(i + 1, fname, f"{what} expected, got {got}")


# ---- cjson ----

@contextlib.contextmanager
def _deep_recursion(limit: int = 5000) -> Any:
    """cjson nests up to 1000 levels; Python's default recursion limit is 1000."""
    old = sys.getrecursionlimit()
    if old < limit:
        sys.setrecursionlimit(limit)
    try:
        yield
    finally:
        if old < limit:
            sys.setrecursionlimit(old)


_JSON_ESCAPES = {0x22: b'\\"', 0x5C: b"\\\\", 0x2F: b"\\/", 0x08: b"\\b", 0x0C: b"\\f",
                 0x0A: b"\\n", 0x0D: b"\\r", 0x09: b"\\t"}
_JSON_ESCAPE_TABLE = [(_JSON_ESCAPES.get(i) or (b"\\u%04x" % i if i < 0x20 or i == 0x7F
                                                  else bytes([i]))) for i in range(256)]
_TOKEN_NAMES = ("T_OBJ_BEGIN", "T_OBJ_END", "T_ARR_BEGIN", "T_ARR_END", "T_STRING", "T_NUMBER",
                "T_BOOLEAN", "T_NULL", "T_COLON", "T_COMMA", "T_END")
(T_OBJ_BEGIN, T_OBJ_END, T_ARR_BEGIN, T_ARR_END, T_STRING, T_NUMBER, T_BOOLEAN, T_NULL, T_COLON,
 T_COMMA, T_END, T_ERROR) = range(12)
_SINGLE_TOKENS = {0x7B: T_OBJ_BEGIN, 0x7D: T_OBJ_END, 0x5B: T_ARR_BEGIN, 0x5D: T_ARR_END,
                  0x3A: T_COLON, 0x2C: T_COMMA}
_JSON_UNESCAPE = {0x22: 0x22, 0x5C: 0x5C, 0x2F: 0x2F, 0x62: 8, 0x66: 12, 0x6E: 10, 0x72: 13,
                  0x74: 9}


class CJson:
    """lua-cjson 2.1 (encode/decode) with Redis's default configuration."""

    MAX_DEPTH = 1000

    def __init__(self, engine: LuaEngine) -> None:
        self.engine = engine

    # -- encode --

    def encode(self, *args: Any) -> Any:
        if len(args) != 1:
            raise _bad_arg(1, "encode", "expected 1 argument")
        out: list[bytes] = []
        with _deep_recursion():
            self._append(args[0], out, 0)
        return b"".join(out)

    def _append(self, v: Any, out: list[bytes], depth: int) -> None:
        t = type(v)
        if t is bytes:
            out.append(b'"' + b"".join(_JSON_ESCAPE_TABLE[c] for c in v) + b'"')
        elif t is bool:
            out.append(b"true" if v else b"false")
        elif t is int or t is float:
            out.append(self._number(float(v)))
        elif v is None or self.engine.is_null(v):
            out.append(b"null")
        elif lua51.lua_type(v) == "table":
            depth += 1
            if depth > self.MAX_DEPTH:
                raise LuaLibError(f"Cannot serialise, excessive nesting ({depth})")
            items = list(v.items())
            length = self._array_length(items)
            if length > 0:
                out.append(b"[")
                for i in range(1, length + 1):
                    if i > 1:
                        out.append(b",")
                    self._append(v[i], out, depth)
                out.append(b"]")
            else:
                self._append_object(items, out, depth)
        else:
            raise LuaLibError(f"Cannot serialise {lua_typename(v)}: type not supported")

    def _number(self, d: float) -> bytes:
        if d != d or math.isinf(d):
            raise LuaLibError("Cannot serialise number: must not be NaN or Inf")
        return b"%.14g" % d

    @staticmethod
    def _array_length(items: list[tuple[Any, Any]]) -> int:
        top = count = 0
        for k, _ in items:
            if type(k) in (int, float) and type(k) is not bool and k == math.floor(k) and k >= 1:
                top = max(top, int(k))
                count += 1
                continue
            return -1
        if top > count * 2 and top > 10:
            raise LuaLibError("Cannot serialise table: excessively sparse array")
        return top

    def _append_object(self, items: list[tuple[Any, Any]], out: list[bytes], depth: int) -> None:
        out.append(b"{")
        first = True
        for k, x in items:
            if not first:
                out.append(b",")
            first = False
            tk = type(k)
            if tk is bytes:
                self._append(k, out, depth)
            elif tk in (int, float) and tk is not bool:
                out.append(b'"' + self._number(float(k)) + b'"')
            else:
                raise LuaLibError(f"Cannot serialise {lua_typename(k)}: table key must be a "
                                  "number or string")
            out.append(b":")
            self._append(x, out, depth)
        out.append(b"}")

    # -- decode --

    def decode(self, *args: Any) -> Any:
        if len(args) != 1:
            raise _bad_arg(1, "decode", "expected 1 argument")
        s = args[0]
        if type(s) is not bytes:
            if type(s) in (int, float) and type(s) is not bool:
                s = format_g14(float(s))
            else:
                raise _expected(args, 0, "decode", "string")
        if len(s) >= 2 and (s[0] == 0 or s[1] == 0):
            raise LuaLibError("JSON parser does not support UTF-16 or UTF-32")
        nul = s.find(b"\0")
        if nul >= 0:
            s = s[:nul]
        parser = _JsonParser(s, self.engine)
        with _deep_recursion():
            value = parser.value(parser.token())
        tok = parser.token()
        if tok[0] != T_END:
            parser.fail("the end", tok)
        return value


class _JsonParser:
    def __init__(self, data: bytes, engine: LuaEngine) -> None:
        self.data, self.i, self.engine, self.depth = data, 0, engine, 0

    def fail(self, expected: str, tok: tuple) -> None:
        found = tok[1] if tok[0] == T_ERROR else _TOKEN_NAMES[tok[0]]
        raise LuaLibError(f"Expected {expected} but found {found} at character {tok[2] + 1}")

    def token(self) -> tuple:
        d, n = self.data, len(self.data)
        while self.i < n and d[self.i] in b" \t\r\n":
            self.i += 1
        start = self.i
        if start >= n:
            return (T_END, None, start)
        ch = d[start]
        kind = _SINGLE_TOKENS.get(ch)
        if kind is not None:
            self.i += 1
            return (kind, None, start)
        if ch == 0x22:
            return self._string(start)
        if ch == 0x2D or 0x30 <= ch <= 0x39:
            return self._number(start)
        for word, kind, value in ((b"true", T_BOOLEAN, True), (b"false", T_BOOLEAN, False),
                                  (b"null", T_NULL, None)):
            if d.startswith(word, start):
                self.i += len(word)
                return (kind, value, start)
        if ch in b"+iInN" and self._invalid_number(start):
            return self._number(start)
        return (T_ERROR, "invalid token", start)

    def _invalid_number(self, i: int) -> bool:
        d = self.data
        if d[i:i + 1] == b"+":
            return True
        if d[i:i + 1] == b"-":
            i += 1
        return d[i:i + 3].lower() in (b"inf", b"nan")

    def _number(self, start: int) -> tuple:
        parsed = strtod(self.data, start)
        if parsed is None:
            return (T_ERROR, "invalid number", start)
        value, end = parsed
        self.i = end
        return (T_NUMBER, value, start)

    def _string(self, start: int) -> tuple:
        d, n = self.data, len(self.data)
        i = start + 1
        out = bytearray()
        while True:
            if i >= n:
                self.i = i
                return (T_ERROR, "unexpected end of string", i)
            ch = d[i]
            if ch == 0x22:
                break
            if ch == 0x5C:
                esc = d[i + 1] if i + 1 < n else 0
                if esc == 0x75:
                    used = self._unicode(i, out)
                    if used < 0:
                        self.i = i
                        return (T_ERROR, "invalid unicode escape code", i)
                    i += used
                    continue
                real = _JSON_UNESCAPE.get(esc)
                if real is None:
                    self.i = i
                    return (T_ERROR, "invalid escape code", i)
                out.append(real)
                i += 2
                continue
            out.append(ch)
            i += 1
        self.i = i + 1
        return (T_STRING, bytes(out), start)

    def _unicode(self, i: int, out: bytearray) -> int:
        d = self.data

        def hex4(at: int) -> int:
            chunk = d[at:at + 4]
            if len(chunk) < 4 or any(c not in b"0123456789abcdefABCDEF" for c in chunk):
                return -1
            return int(chunk, 16)

        cp = hex4(i + 2)
        if cp < 0:
            return -1
        used = 6
        if cp & 0xF800 == 0xD800:
            if cp & 0x400 or d[i + 6:i + 8] != b"\\u":
                return -1
            low = hex4(i + 8)
            if low < 0 or low & 0xFC00 != 0xDC00:
                return -1
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000
            used = 12
        out.extend(chr(cp).encode("utf-8", "surrogatepass"))
        return used

    def value(self, tok: tuple) -> Any:
        kind = tok[0]
        if kind in (T_STRING, T_NUMBER, T_BOOLEAN):
            return tok[1]
        if kind == T_NULL:
            return self.engine.null
        if kind == T_OBJ_BEGIN:
            return self._object()
        if kind == T_ARR_BEGIN:
            return self._array()
        self.fail("value", tok)

    def _descend(self) -> None:
        self.depth += 1
        if self.depth > CJson.MAX_DEPTH:
            raise LuaLibError(f"Found too many nested data structures ({self.depth}) at "
                              f"character {self.i}")

    def _object(self) -> Any:
        self._descend()
        result: dict[Any, Any] = {}
        tok = self.token()
        if tok[0] != T_OBJ_END:
            while True:
                if tok[0] != T_STRING:
                    self.fail("object key string", tok)
                key = tok[1]
                tok = self.token()
                if tok[0] != T_COLON:
                    self.fail("colon", tok)
                result[key] = self.value(self.token())
                tok = self.token()
                if tok[0] == T_OBJ_END:
                    break
                if tok[0] != T_COMMA:
                    self.fail("comma or object end", tok)
                tok = self.token()
        self.depth -= 1
        return self.engine.table(result)

    def _array(self) -> Any:
        self._descend()
        items: list[Any] = []
        tok = self.token()
        if tok[0] != T_ARR_END:
            while True:
                items.append(self.value(tok))
                tok = self.token()
                if tok[0] == T_ARR_END:
                    break
                if tok[0] != T_COMMA:
                    self.fail("comma or array end", tok)
                tok = self.token()
        self.depth -= 1
        return self.engine.table(items)


# ---- cmsgpack ----

class CMsgpack:
    """lua-cmsgpack 0.4.0 as shipped with Redis."""

    MAX_NESTING = 16

    def __init__(self, engine: LuaEngine) -> None:
        self.engine = engine

    def pack(self, *args: Any) -> bytes:
        if not args:
            raise _bad_arg(0, "pack", "MessagePack pack needs input.")
        out = bytearray()
        for v in args:
            self._encode(v, out, 0)
        return bytes(out)

    def _encode(self, v: Any, out: bytearray, level: int) -> None:
        t = type(v)
        if t is bytes:
            self._bytes(v, out)
        elif t is bool:
            out.append(0xC3 if v else 0xC2)
        elif t is int or t is float:
            self._number(float(v), out)
        elif lua51.lua_type(v) == "table" and level < self.MAX_NESTING:
            self._table(v, out, level)
        else:
            out.append(0xC0)

    @staticmethod
    def _bytes(v: bytes, out: bytearray) -> None:
        n = len(v)
        if n < 32:
            out.append(0xA0 | n)
        elif n <= 0xFF:
            out += b"\xd9" + bytes([n])
        elif n <= 0xFFFF:
            out += b"\xda" + n.to_bytes(2, "big")
        else:
            out += b"\xdb" + n.to_bytes(4, "big")
        out += v

    @staticmethod
    def _number(d: float, out: bytearray) -> None:
        if not math.isinf(d) and d == d and double_to_ll(d) == d:
            CMsgpack._int(double_to_ll(d), out)
            return
        try:
            as_float = pystruct.unpack(">f", pystruct.pack(">f", d))[0]
        except OverflowError:
            as_float = None
        if as_float == d:
            out += b"\xca" + pystruct.pack(">f", d)
        else:
            out += b"\xcb" + pystruct.pack(">d", d)

    @staticmethod
    def _int(n: int, out: bytearray) -> None:
        if n >= 0:
            if n <= 127:
                out.append(n)
            elif n <= 0xFF:
                out += b"\xcc" + bytes([n])
            elif n <= 0xFFFF:
                out += b"\xcd" + n.to_bytes(2, "big")
            elif n <= 0xFFFFFFFF:
                out += b"\xce" + n.to_bytes(4, "big")
            else:
                out += b"\xcf" + n.to_bytes(8, "big")
        elif n >= -32:
            out.append(n & 0xFF)
        elif n >= -128:
            out += b"\xd0" + n.to_bytes(1, "big", signed=True)
        elif n >= -32768:
            out += b"\xd1" + n.to_bytes(2, "big", signed=True)
        elif n >= -2147483648:
            out += b"\xd2" + n.to_bytes(4, "big", signed=True)
        else:
            out += b"\xd3" + n.to_bytes(8, "big", signed=True)

    def _table(self, t: Any, out: bytearray, level: int) -> None:
        items = list(t.items())
        top = 0
        is_array = True
        for k, _ in items:
            if type(k) not in (int, float) or type(k) is bool or k != math.floor(k) or k <= 0:
                is_array = False
                break
            top = max(top, int(k))
        if is_array and top == len(items):
            n = len(items)
            if n < 16:
                out.append(0x90 | n)
            elif n <= 0xFFFF:
                out += b"\xdc" + n.to_bytes(2, "big")
            else:
                out += b"\xdd" + n.to_bytes(4, "big")
            for i in range(1, n + 1):
                self._encode(t[i], out, level + 1)
            return
        n = len(items)
        if n < 16:
            out.append(0x80 | n)
        elif n <= 0xFFFF:
            out += b"\xde" + n.to_bytes(2, "big")
        else:
            out += b"\xdf" + n.to_bytes(4, "big")
        for k, v in items:
            self._encode(k, out, level + 1)
            self._encode(v, out, level + 1)

    # -- decode --

    def unpack(self, *args: Any) -> tuple:
        data = self._data_arg(args, "unpack")
        values, _ = self._decode_many(data, 0, 0)
        return tuple(values)

    def unpack_one(self, *args: Any) -> tuple:
        data = self._data_arg(args, "unpack_one")
        offset = int(lua_tonumber(args[1]) or 0) if len(args) > 1 else 0
        return self._limited(data, 1, offset)

    def unpack_limit(self, *args: Any) -> tuple:
        data = self._data_arg(args, "unpack_limit")
        limit = int(lua_tonumber(args[1]) or 0) if len(args) > 1 else 0
        offset = int(lua_tonumber(args[2]) or 0) if len(args) > 2 else 0
        return self._limited(data, limit, offset)

    def _limited(self, data: bytes, limit: int, offset: int) -> tuple:
        if offset < 0 or offset > len(data):
            raise LuaLibError("Start offset %d greater than input length %d." % (offset, len(data)))
        values, pos = self._decode_many(data, offset, limit)
        return (-1 if pos >= len(data) else pos, *values)

    @staticmethod
    def _data_arg(args: tuple, fname: str) -> bytes:
        if not args or type(args[0]) not in (bytes, int, float) or type(args[0]) is bool:
            raise _expected(args, 0, fname, "string")
        v = args[0]
        return v if type(v) is bytes else format_g14(float(v))

    def _decode_many(self, data: bytes, pos: int, limit: int) -> tuple[list[Any], int]:
        values = []
        while pos < len(data) and (limit <= 0 or len(values) < limit):
            v, pos = self._decode(data, pos)
            values.append(v)
        return values, pos

    def _need(self, data: bytes, pos: int, n: int) -> None:
        if pos + n > len(data):
            raise LuaLibError("Missing bytes in input.")

    def _decode(self, data: bytes, pos: int) -> tuple[Any, int]:
        self._need(data, pos, 1)
        b = data[pos]
        pos += 1
        if b <= 0x7F:
            return b, pos
        if b >= 0xE0:
            return b - 256, pos
        if 0xA0 <= b <= 0xBF:
            return self._raw(data, pos, b & 0x1F)
        if 0x90 <= b <= 0x9F:
            return self._array(data, pos, b & 0x0F)
        if 0x80 <= b <= 0x8F:
            return self._map(data, pos, b & 0x0F)
        simple = {0xC0: None, 0xC2: False, 0xC3: True}
        if b in simple:
            return simple[b], pos
        fixed = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q", 0xD0: ">b", 0xD1: ">h",
                 0xD2: ">i", 0xD3: ">q", 0xCA: ">f", 0xCB: ">d"}
        fmt = fixed.get(b)
        if fmt is not None:
            size = pystruct.calcsize(fmt)
            self._need(data, pos, size)
            return pystruct.unpack_from(fmt, data, pos)[0], pos + size
        sized = {0xD9: (1, self._raw), 0xDA: (2, self._raw), 0xDB: (4, self._raw),
                 0xC4: (1, self._raw), 0xC5: (2, self._raw), 0xC6: (4, self._raw),
                 0xDC: (2, self._array), 0xDD: (4, self._array),
                 0xDE: (2, self._map), 0xDF: (4, self._map)}
        if b in sized:
            width, reader = sized[b]
            self._need(data, pos, width)
            n = int.from_bytes(data[pos:pos + width], "big")
            return reader(data, pos + width, n)
        raise LuaLibError("Bad data format in input.")

    def _raw(self, data: bytes, pos: int, n: int) -> tuple[Any, int]:
        self._need(data, pos, n)
        return data[pos:pos + n], pos + n

    def _array(self, data: bytes, pos: int, n: int) -> tuple[Any, int]:
        items = []
        for _ in range(n):
            v, pos = self._decode(data, pos)
            items.append(v)
        return self.engine.table(items), pos

    def _map(self, data: bytes, pos: int, n: int) -> tuple[Any, int]:
        pairs = []
        for _ in range(n):
            k, pos = self._decode(data, pos)
            v, pos = self._decode(data, pos)
            pairs.append((k, v))
        return self.engine.table_from_pairs(pairs), pos


# ---- bit (LuaBitOp) ----

class BitOp:
    """LuaBitOp 1.0.2: 32-bit operations on Lua numbers."""

    @staticmethod
    def _arg(args: tuple, i: int, fname: str) -> int:
        v = args[i] if i < len(args) else None
        d = lua_tonumber(v)
        if d is None:
            d = 0.0
        bits = pystruct.unpack("<Q", pystruct.pack("<d", d + 6755399441055744.0))[0] & 0xFFFFFFFF
        if bits == 0 and (type(v) not in (int, float) or type(v) is bool):
            raise _expected(args, i, fname, "number")
        return bits

    @staticmethod
    def _ret(b: int) -> int:
        b &= 0xFFFFFFFF
        return b - (1 << 32) if b & 0x80000000 else b

    def tobit(self, *a: Any) -> int:
        return self._ret(self._arg(a, 0, "tobit"))

    def bnot(self, *a: Any) -> int:
        return self._ret(~self._arg(a, 0, "bnot"))

    def _fold(self, a: tuple, fname: str, op: Callable[[int, int], int]) -> int:
        b = self._arg(a, 0, fname)
        for i in range(len(a) - 1, 0, -1):
            b = op(b, self._arg(a, i, fname))
        return self._ret(b)

    def band(self, *a: Any) -> int:
        return self._fold(a, "band", lambda x, y: x & y)

    def bor(self, *a: Any) -> int:
        return self._fold(a, "bor", lambda x, y: x | y)

    def bxor(self, *a: Any) -> int:
        return self._fold(a, "bxor", lambda x, y: x ^ y)

    def _shift(self, a: tuple, fname: str) -> tuple[int, int]:
        return self._arg(a, 0, fname), self._arg(a, 1, fname) & 31

    def lshift(self, *a: Any) -> int:
        b, n = self._shift(a, "lshift")
        return self._ret(b << n)

    def rshift(self, *a: Any) -> int:
        b, n = self._shift(a, "rshift")
        return self._ret(b >> n)

    def arshift(self, *a: Any) -> int:
        b, n = self._shift(a, "arshift")
        return self._ret(self._ret(b) >> n)

    def rol(self, *a: Any) -> int:
        b, n = self._shift(a, "rol")
        return self._ret((b << n) | (b >> (32 - n)))

    def ror(self, *a: Any) -> int:
        b, n = self._shift(a, "ror")
        return self._ret((b >> n) | (b << (32 - n)))

    def bswap(self, *a: Any) -> int:
        b = self._arg(a, 0, "bswap")
        return self._ret(int.from_bytes(b.to_bytes(4, "little"), "big"))

    def tohex(self, *a: Any) -> bytes:
        b = self._arg(a, 0, "tohex")
        n = 8 if len(a) < 2 else self._ret(self._arg(a, 1, "tohex"))
        digits = "0123456789abcdef"
        if n < 0:
            n, digits = -n, "0123456789ABCDEF"
        n = min(n, 8)
        out = []
        for _ in range(n):
            out.append(digits[b & 15])
            b >>= 4
        return "".join(reversed(out)).encode()


# ---- struct (Roberto Ierusalimschy's struct library) ----

class StructLib:
    """struct.pack / unpack / size for the formats the Redis-shipped library knows."""

    _SIZES = {"b": 1, "B": 1, "h": 2, "H": 2, "l": 8, "L": 8, "T": 8, "i": 4, "I": 4, "f": 4,
              "d": 8}

    def _parse(self, fmt: bytes, fname: str) -> list[tuple[str, int, str]]:
        out, endian, i, s = [], "<", 0, fmt.decode("latin-1")
        while i < len(s):
            ch = s[i]
            i += 1
            if ch in " !":
                if ch == "!":
                    while i < len(s) and s[i].isdigit():
                        i += 1
                continue
            if ch in "<>=":
                endian = {"<": "<", ">": ">", "=": "<"}[ch]
                continue
            size = 0
            start = i
            while i < len(s) and s[i].isdigit():
                i += 1
            if i > start:
                size = int(s[start:i])
            if ch in "iIc":
                if ch in "iI" and size == 0:
                    size = 4
                if ch in "iI" and not 1 <= size <= 8:
                    raise _bad_arg(1, fname, f"integral size {size} is larger than limit of 8")
            elif ch in self._SIZES:
                size = self._SIZES[ch]
            elif ch not in "xs":
                raise _bad_arg(1, fname, f"invalid format option '{ch}'")
            out.append((ch, size, endian))
        return out

    def size(self, *a: Any) -> int:
        fmt = a[0] if a and type(a[0]) is bytes else b""
        total = 0
        for ch, size, _ in self._parse(fmt, "size"):
            if ch == "s":
                raise _bad_arg(1, "size", "options 'c0' - 's' have undefined sizes")
            total += 1 if ch == "x" else size
        return total

    def pack(self, *a: Any) -> bytes:
        if not a or type(a[0]) is not bytes:
            raise _expected(a, 0, "pack", "string")
        out = bytearray()
        arg = 1
        for ch, size, endian in self._parse(a[0], "pack"):
            if ch == "x":
                out.append(0)
                continue
            v = a[arg] if arg < len(a) else None
            arg += 1
            if ch in "fd":
                d = lua_tonumber(v)
                if d is None:
                    raise _expected(a, arg - 1, "pack", "number")
                out += pystruct.pack(endian + ch, d)
            elif ch in "cs":
                if type(v) is not bytes:
                    raise _expected(a, arg - 1, "pack", "string")
                if ch == "c":
                    data = v if size == 0 else v[:size].ljust(size, b"\0")
                    out += data
                else:
                    out += v + b"\0"
            else:
                d = lua_tonumber(v)
                if d is None:
                    raise _expected(a, arg - 1, "pack", "number")
                n = double_to_ll(d) & ((1 << (8 * size)) - 1)
                out += n.to_bytes(size, "little" if endian == "<" else "big")
        return bytes(out)

    def unpack(self, *a: Any) -> tuple:
        if len(a) < 2 or type(a[0]) is not bytes or type(a[1]) is not bytes:
            raise _expected(a, 0 if not a or type(a[0]) is not bytes else 1, "unpack", "string")
        data = a[1]
        pos = int(lua_tonumber(a[2]) or 1) - 1 if len(a) > 2 else 0
        out: list[Any] = []
        for ch, size, endian in self._parse(a[0], "unpack"):
            if ch == "x":
                pos += 1
                continue
            if ch == "s":
                end = data.find(b"\0", pos)
                if end < 0:
                    raise _bad_arg(2, "unpack", "unfinished string in data")
                out.append(data[pos:end])
                pos = end + 1
                continue
            if ch == "c" and size == 0:
                size = int(out.pop()) if out else 0
            if pos + size > len(data):
                raise _bad_arg(2, "unpack", "data string too short")
            chunk = data[pos:pos + size]
            pos += size
            if ch == "c":
                out.append(chunk)
            elif ch in "fd":
                out.append(pystruct.unpack(endian + ch, chunk)[0])
            else:
                n = int.from_bytes(chunk, "little" if endian == "<" else "big",
                                   signed=ch in "bhli")
                out.append(n)
        out.append(pos + 1)
        return tuple(out)


# ---- Bytecode: tail calls become plain calls ----
#
# Redis's redis.call is a C function, so `return redis.call(...)` keeps the script's frame
# and errors name the script's line. Our wrappers are Lua functions, which a tail call
# would replace; compiled user code is therefore reloaded with every OP_TAILCALL turned
# into OP_CALL (the RETURN that follows already returns all results).

OP_CALL, OP_TAILCALL = 28, 29


def untail(dump: bytes) -> bytes:
    """Rewrite a Lua 5.1 binary chunk (x86-64 layout) replacing TAILCALL with CALL."""
    out = bytearray(dump)
    if dump[:12] != b"\x1bLua\x51\x00\x01\x04\x08\x04\x08\x00":
        raise ValueError("unexpected Lua bytecode header")
    _untail_function(out, 12)
    return bytes(out)


def _untail_function(b: bytearray, pos: int) -> int:
    def u32(p: int) -> int:
        return int.from_bytes(b[p:p + 4], "little")

    def skip_string(p: int) -> int:
        return p + 8 + int.from_bytes(b[p:p + 8], "little")

    pos = skip_string(pos) + 8 + 4            # source, linedefined, lastlinedefined, 4 bytes
    n = u32(pos)
    pos += 4
    for i in range(n):
        at = pos + 4 * i
        if b[at] & 0x3F == OP_TAILCALL:
            b[at] = (b[at] & 0xC0) | OP_CALL
    pos += 4 * n
    n, pos = u32(pos), pos + 4                 # constants
    for _ in range(n):
        kind, pos = b[pos], pos + 1
        pos = pos + 1 if kind == 1 else pos + 8 if kind == 3 else skip_string(pos) \
            if kind == 4 else pos
    n, pos = u32(pos), pos + 4                 # nested functions
    for _ in range(n):
        pos = _untail_function(b, pos)
    n, pos = u32(pos), pos + 4                 # line info
    pos += 4 * n
    n, pos = u32(pos), pos + 4                 # local variables
    for _ in range(n):
        pos = skip_string(pos) + 8
    n, pos = u32(pos), pos + 4                 # upvalue names
    for _ in range(n):
        pos = skip_string(pos)
    return pos


# ---- The engine ----

def _deny_attributes(obj: Any, name: Any, is_setting: bool) -> Any:
    raise AttributeError("access to Python attributes is not allowed from scripts")


def error_text(buf: bytes) -> bytes:
    """luaPushErrorBuff: "-CODE msg" -> "CODE msg", "msg" -> "ERR msg", \\r\\n trimmed."""
    if buf.startswith(b"-"):
        sp = buf.find(b" ")
        code, msg = (b"ERR", buf[1:]) if sp < 0 else (buf[1:sp], buf[sp + 1:])
    else:
        code, msg = b"ERR", buf
    return code + b" " + msg.strip(b"\r\n")


def _cstr(b: bytes) -> bytes:
    """Redis builds these texts with C string functions: they end at the first NUL."""
    nul = b.find(b"\0")
    return b if nul < 0 else b[:nul]


def _text(value: Any) -> bytes:
    return value if type(value) is bytes else str(value).encode("utf-8", "surrogateescape")


class LuaEngine:
    """One sandboxed Lua interpreter ("eval" scripts or "function" libraries)."""

    def __init__(self, scripting: Scripting, kind: str) -> None:
        self.scripting = scripting
        self.kind = kind
        rt = lua51.LuaRuntime(encoding=None, register_eval=False, register_builtins=False,
                              unpack_returned_tuples=True, attribute_filter=_deny_attributes)
        self.runtime = rt
        self.err_mark = rt.table()
        self.cjson, self.cmsgpack = CJson(self), CMsgpack(self)
        bit, st = BitOp(), StructLib()
        lib = self._library
        callbacks = rt.table_from({
            b"call": self._call, b"acl": self._acl, b"log": scripting.lua_log,
            b"setresp": self._setresp, b"sha1": sha1hex, b"rand": scripting.rand.random,
            b"srand": scripting.rand.seed, b"hook": self._hook, b"register": self._register,
            b"untail": untail,
            b"cjson": lib(self.cjson, ("encode", "decode")),
            b"cmsgpack": lib(self.cmsgpack, ("pack", "unpack", "unpack_one", "unpack_limit")),
            b"bit": lib(bit, ("tobit", "bnot", "band", "bor", "bxor", "lshift", "rshift",
                              "arshift", "rol", "ror", "bswap", "tohex")),
            b"struct": lib(st, ("pack", "unpack", "size")),
        })
        version = scripting.server.version
        major, minor, patch = (int(x) for x in version.split(".")[:3])
        entry = rt.execute(PRELUDE, callbacks, self.err_mark, kind.encode(), version.encode(),
                           (major << 16) | (minor << 8) | patch)
        self._run = entry[b"run"]
        self._load = entry[b"load"]
        self._compile = entry[b"compile"]
        self._classify = entry[b"classify"]
        self._is_null = entry[b"is_null"]
        self._errinfo = entry[b"errinfo"]
        self.null = entry[b"null"]
        for name in (b"python", b"os", b"io", b"package", b"require", b"dofile", b"loadfile"):
            rt.globals()[name] = None

    def _library(self, obj: Any, names: tuple[str, ...]) -> Any:
        mark = self.err_mark

        def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
            def call(*args: Any) -> Any:
                try:
                    return fn(*args)
                except LuaLibError as e:
                    return mark, str(e).encode("utf-8", "surrogateescape")
            return call

        return self.runtime.table_from({n.encode(): wrap(getattr(obj, n)) for n in names})

    # -- helpers for the libraries --

    def table(self, items: Any) -> Any:
        return self.runtime.table_from(items)

    def table_from_pairs(self, pairs: list[tuple[Any, Any]]) -> Any:
        t = self.runtime.table()
        for k, v in pairs:
            if k is not None:
                t[k] = v
        return t

    def is_null(self, v: Any) -> bool:
        return lua51.lua_type(v) == "userdata" and self._is_null(v)

    # -- compiling and running --

    def compile(self, code: bytes, chunkname: bytes) -> tuple[Any, bytes | None]:
        """(function, None) or (None, Lua's error message)."""
        fn, err = self._compile(code, chunkname)
        return fn, (None if fn is not None else _text(err))

    def run(self, run: ScriptRun, fn: Any, keys: list[bytes], args: list[bytes]) -> Any:
        """Call a script/function; returns the reply (an ErrorReply when it failed)."""
        rt = self.runtime
        ok, res = self._run(fn, rt.table_from(keys), rt.table_from(args), run.hook_count)
        if ok:
            with _deep_recursion():
                return self.to_reply(res, run)
        return self.failure(res, run)

    def load(self, fn: Any, count: int | None) -> Any:
        return self._load(fn, count)

    def failure(self, err: Any, run: ScriptRun) -> ErrorReply:
        """The reply for a script that raised: "<err> script: <name>, on <source>:<line>."."""
        if lua51.lua_type(err) != "table":
            msg = _text(err)[:100].decode("utf-8", "surrogateescape")
            reply = ErrorReply(f"ERR Error running script {run.name}, {msg}")
            run.error_replies.append((reply.message, False))
            return reply
        msg, source, line, ignore = self._errinfo(err)
        text = _cstr(msg) if msg is not None else b"ERR unknown error"
        if source is not None and line is not None:
            text += b" script: %s, on %s:%s." % (run.name.encode(), source, line)
        reply = ErrorReply(text.decode("utf-8", "surrogateescape"))
        run.error_replies.append((reply.message, ignore))
        return reply

    # -- Lua value -> reply (luaReplyToRedisReply) --

    def to_reply(self, v: Any, run: ScriptRun, depth: int = 0) -> Any:
        t = type(v)
        if t is bytes:
            return v
        if t is bool:
            if run.lua_client.resp == 2:
                return 1 if v else None
            return Bool(v)
        if t is int:
            return v if LLONG_MIN <= v <= LLONG_MAX else LLONG_MIN
        if t is float:
            return double_to_ll(v)
        if v is None or lua51.lua_type(v) != "table":
            return None
        if depth > 1000:
            return ErrorReply("ERR reached lua stack limit")
        kind, a, b = self._classify(v)
        if kind == b"array":
            return [self.to_reply(a[i], run, depth + 1) for i in range(1, b + 1)]
        if kind == b"err":
            reply = ErrorReply(_cstr(a).decode("utf-8", "surrogateescape"))
            run.error_replies.append((reply.message, bool(b)))
            return reply
        if kind == b"ok":
            return Status(_cstr(a).replace(b"\r", b" ").replace(b"\n", b" "))
        if kind == b"double":
            return Raw(b",%s\r\n" % b) if run.caller.resp == 3 else b
        if kind == b"big_number":
            text = a.replace(b"\r", b" ").replace(b"\n", b" ")
            return Raw(b"(%s\r\n" % text) if run.caller.resp == 3 else text
        if kind == b"verbatim":
            return Verbatim(a, (b[:3] + b"\0\0\0")[:3] if len(b) < 3 else b[:3])
        if kind == b"map":
            return Map([(self.to_reply(a[i], run, depth + 1), self.to_reply(a[i + 1], run, depth + 1))
                        for i in range(1, b + 1, 2)])
        return SetReply(self.to_reply(a[i], run, depth + 1) for i in range(1, b + 1))

    # -- reply -> Lua value (redisProtocolToLuaType) --

    def to_lua(self, r: Any, resp: int) -> Any:
        t = type(r)
        if t is bytes or t is int:
            return r
        if r is None or r is NullArray:
            return False if resp == 2 else None
        rt = self.runtime
        if t is list or t is tuple or t is Push:
            return rt.table_from([self.to_lua(x, resp) for x in r])
        if t is Status:
            return rt.table_from({b"ok": bytes(r)})
        if t is ErrorReply:
            return self.error_table(b"-" + _text(r.message))
        if t is SetReply:
            if resp == 2:
                return rt.table_from([self.to_lua(x, resp) for x in r])
            return rt.table_from({b"set": self.table_from_pairs(
                [(self.to_lua(x, resp), True) for x in r])})
        if isinstance(r, Map):
            if resp == 2:
                return rt.table_from([self.to_lua(x, resp) for kv in r.items for x in kv])
            return rt.table_from({b"map": self.table_from_pairs(
                [(self.to_lua(k, resp), self.to_lua(x, resp)) for k, x in r.items])})
        if t is Double or t is float:
            d = r.value if t is Double else r
            if resp == 2:
                return format_g17(d)
            return rt.table_from({b"double": d})
        if t is Bool:
            return (1 if r.value else 0) if resp == 2 else r.value
        if t is Verbatim:
            if resp == 2:
                return r.data
            return rt.table_from({b"verbatim_string": rt.table_from(
                {b"format": r.fmt[:3], b"string": r.data})})
        if t is Raw:
            return self.to_lua(parse_reply(bytes(r)), resp)
        if t is str:
            return r.encode("utf-8", "surrogateescape")
        return None

    def error_table(self, buf: bytes, ignore_stats: bool = True) -> Any:
        items: dict[bytes, Any] = {b"err": error_text(buf)}
        if ignore_stats:
            items[b"ignore_error_stats_update"] = True
        return self.runtime.table_from(items)

    # -- callbacks from the prelude --

    def _argv(self, args: tuple) -> tuple[list[bytes] | None, bytes | None]:
        if not args:
            return None, b"Please specify at least one argument for this redis lib call"
        out = []
        for a in args:
            t = type(a)
            if t is bytes:
                out.append(a)
            elif t is int or t is float:
                out.append(format_g17(float(a)))
            else:
                return None, b"Lua redis lib command arguments must be strings or integers"
        return out, None

    def _call(self, raise_error: bool, *args: Any) -> Any:
        run = self.scripting.current
        argv, err = self._argv(args)
        if argv is None:
            tbl = self.error_table(err, ignore_stats=False)
            return (self.err_mark, tbl) if raise_error else tbl
        reply, failure = run.call_command(argv)
        if failure is not None:
            tbl = self.error_table(failure.encode("utf-8", "surrogateescape"))
            return (self.err_mark, tbl) if raise_error else tbl
        value = self.to_lua(reply, run.lua_client.resp)
        if raise_error and type(reply) is ErrorReply:
            return self.err_mark, value
        return value

    def _acl(self, *args: Any) -> Any:
        argv, err = self._argv(args)
        if argv is None:
            return self.err_mark, self.error_table(err, ignore_stats=False)
        if self.scripting.lookup_command(argv) is None:
            return self.err_mark, self.error_table(b"Invalid command passed to "
                                                   b"redis.acl_check_cmd()", ignore_stats=False)
        return True

    def _setresp(self, resp: int) -> None:
        run = self.scripting.current
        if run is not None:
            run.lua_client.resp = resp

    def _hook(self) -> Any:
        return self.scripting.hook_check()

    def _register(self, name: bytes, fn: Any, flags: Any, desc: bytes | None) -> Any:
        builder = self.scripting.loading
        if builder is None:
            return self.error_table(b"redis.register_function can only be called on FUNCTION "
                                    b"LOAD command", ignore_stats=False)
        problem = builder.add(name, fn, [flags[i] for i in range(1, len(flags) + 1)], desc)
        if problem is not None:
            return self.error_table(problem.encode(), ignore_stats=False)
        return None


def parse_reply(data: bytes) -> Any:
    """Parse one RESP2/RESP3 reply (for `Raw` replies given to scripts)."""
    value, _ = _parse_at(data, 0)
    return value


def _parse_at(data: bytes, pos: int) -> tuple[Any, int]:
    end = data.index(b"\r\n", pos)
    kind, line, pos = data[pos:pos + 1], data[pos + 1:end], end + 2
    if kind in (b"$", b"=", b"!"):
        n = int(line)
        if n < 0:
            return None, pos
        body = data[pos:pos + n]
        if kind == b"=":
            return Verbatim(body[4:], body[:3]), pos + n + 2
        if kind == b"!":
            return ErrorReply(body.decode("utf-8", "surrogateescape")), pos + n + 2
        return body, pos + n + 2
    if kind == b"+":
        return Status(line), pos
    if kind == b"-":
        return ErrorReply(line.decode("utf-8", "surrogateescape")), pos
    if kind == b":":
        return int(line), pos
    if kind == b"_":
        return None, pos
    if kind == b"#":
        return Bool(line == b"t"), pos
    if kind == b",":
        return Double(float(line.replace(b"inf", b"Infinity") if b"inf" in line else line)), pos
    if kind == b"(":
        return line, pos
    if kind in (b"*", b"~", b">", b"%", b"|"):
        n = int(line)
        if n < 0:
            return NullArray, pos
        count = n * 2 if kind in (b"%", b"|") else n
        items = []
        for _ in range(count):
            item, pos = _parse_at(data, pos)
            items.append(item)
        if kind == b"|":
            return _parse_at(data, pos)
        if kind == b"%":
            return Map(list(zip(items[0::2], items[1::2], strict=True))), pos
        return (SetReply(items) if kind == b"~" else Push(items) if kind == b">" else items), pos
    raise ValueError(f"bad RESP type {kind!r}")


# ---- Scripts, functions and libraries ----

# A script whose text has none of these words cannot loop or recurse: it runs a bounded
# number of Lua instructions (each redis.call is one command, each library call is bounded
# by its data), so it never reaches a count hook where Redis would answer BUSY or notice
# SCRIPT KILL. Such scripts run inline on the event loop, without the worker thread's two
# hand-offs (~55 µs). Any match, even in a comment or a string, means "may be long".
_MAY_LOOP = re.compile(rb"\b(?:while|for|repeat|function|goto|load|loadstring|dofile)\b")


def is_bounded(body: bytes) -> bool:
    return _MAY_LOOP.search(body) is None


class Script:
    """A cached EVAL script. `flags` is None for scripts without a shebang (compat mode)."""

    __slots__ = ("sha", "body", "flags", "fn", "bounded")

    def __init__(self, sha: bytes, body: bytes, flags: frozenset[str] | None, fn: Any) -> None:
        self.sha, self.body, self.flags, self.fn = sha, body, flags, fn
        self.bounded = is_bounded(body)


class FunctionInfo:
    __slots__ = ("name", "fn", "flags", "description", "library")

    def __init__(self, name: bytes, fn: Any, flags: tuple[str, ...], description: bytes | None,
                 library: Library) -> None:
        self.name, self.fn, self.flags = name, fn, flags
        self.description, self.library = description, library


class Library:
    __slots__ = ("name", "code", "functions")

    def __init__(self, name: bytes, code: bytes) -> None:
        self.name, self.code = name, code
        self.functions: dict[bytes, FunctionInfo] = {}


def valid_name(name: bytes) -> bool:
    """functionsVerifyName: letters, digits and underscores, at least one."""
    return bool(name) and all(c == 0x5F or 0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or
                              0x61 <= c <= 0x7A for c in name)


class LibraryBuilder:
    """Collects redis.register_function calls while a library's code runs."""

    def __init__(self, library: Library) -> None:
        self.library = library

    def add(self, name: bytes, fn: Any, flags: list[bytes], desc: bytes | None) -> str | None:
        if not valid_name(name):
            return NAME_RULE
        key = name.lower()
        if key in self.library.functions:
            return "Function already exists in the library"
        chosen = set()
        for f in flags:
            flag = f.decode("latin-1").lower()
            if flag not in SCRIPT_FLAGS:
                return "unknown flag given"
            chosen.add(flag)
        ordered = tuple(f for f in SCRIPT_FLAGS if f in chosen)
        self.library.functions[key] = FunctionInfo(name, fn, ordered, desc, self.library)
        return None


def parse_eval_shebang(body: bytes) -> tuple[frozenset[str] | None, int]:
    """evalExtractShebangFlags: (flags or None without a shebang, shebang length)."""
    if not body.startswith(b"#!"):
        return None, 0
    nl = body.find(b"\n")
    if nl < 0:
        raise CommandError("ERR Invalid script shebang")
    parts = split_args(body[:nl])
    if not parts:
        raise CommandError("ERR Invalid engine in script shebang")
    if parts[0] != b"#!lua":
        raise CommandError(f"ERR Unexpected engine in script shebang: {_str(parts[0])}")
    flags: set[str] = set()
    for part in parts[1:]:
        if not part.startswith(b"flags="):
            raise CommandError(f"ERR Unknown lua shebang option: {_str(part)}")
        spec = part[6:]
        for f in (spec.split(b",") if spec else []):
            name = _str(f)
            if name not in SCRIPT_FLAGS:
                raise CommandError(f"ERR Unexpected flag in script shebang: {name}")
            flags.add(name)
    return frozenset(flags), nl


def parse_library_metadata(code: bytes) -> tuple[bytes, bytes, int]:
    """functionExtractLibMetaData: (engine, library name, offset of the code after it)."""
    if not code.startswith(b"#!"):
        raise CommandError("ERR Missing library metadata")
    nl = code.find(b"\n")
    if nl < 0:
        raise CommandError("ERR Invalid library metadata")
    parts = split_args(code[:nl])
    if not parts:
        raise CommandError("ERR Invalid library metadata")
    engine, name = parts[0][2:], None
    for part in parts[1:]:
        if part[:5].lower() == b"name=":
            if name is not None:
                raise CommandError("ERR Invalid metadata value, name argument was given "
                                   "multiple times")
            name = part[5:]
            continue
        raise CommandError(f"ERR Invalid metadata value given: {_str(part)}")
    if name is None:
        raise CommandError("ERR Library name was not given")
    return engine, name, nl


def _str(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


# ---- A running script ----

class _FrozenClock:
    """Key expiry inside a script uses the time the script started (scriptTimeSnapshot)."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.snapshot = clock.wall_ms()

    def wall_ms(self) -> int:
        return self.snapshot

    def monotonic_ms(self) -> int:
        return self.clock.monotonic_ms()

    def wall_us(self) -> int:
        return self.clock.wall_us()


class ScriptRun:
    """Redis's scriptRunCtx: one EVAL/FCALL execution."""

    def __init__(self, scripting: Scripting, caller: Client, name: str, is_eval: bool,
                 read_only: bool, allow_oom: bool, oom: bool, argv: list[bytes]) -> None:
        self.scripting = scripting
        self.caller = caller
        self.name = name
        self.is_eval = is_eval
        self.read_only = read_only
        self.allow_oom = allow_oom
        self.oom = oom
        self.argv = argv
        self.lua_client = scripting.lua_client_for(caller)
        self.write_dirty = False
        self.bounded = False          # True: cannot loop (see is_bounded), runs inline
        self.killed = False
        self.kill_logged = False
        self.error_replies: list[tuple[str, bool]] = []   # (text, ignore stats) in the reply
        self.hook_count: int | None = None
        self.start_ms = scripting.server.clock.monotonic_ms()
        self.lock = threading.Lock()
        self.done: threading.Event | None = None
        self.detached = False
        self.finished = False
        self.result: Any = None
        self._saved_clock: Any = None

    def begin(self) -> None:
        ks = self.scripting.server.keyspace
        self._saved_clock = ks.clock
        ks.clock = _FrozenClock(ks.clock)
        self.scripting.current = self

    def end(self) -> None:
        self.scripting.server.keyspace.clock = self._saved_clock
        self.scripting.current = None

    def call_command(self, argv: list[bytes]) -> tuple[Any, str | None]:
        """A redis.call from the script: directly, or on the loop thread once detached."""
        with self.lock:
            if not self.detached:
                return self.scripting.script_call(self, argv)
        return self.scripting.runner.on_loop(lambda: self.scripting.script_call(self, argv))

    def elapsed_ms(self) -> int:
        return self.scripting.server.clock.monotonic_ms() - self.start_ms

    def busy_error(self) -> str:
        return BUSY_EVAL if self.is_eval else BUSY_FUNCTION

    def admit(self, cmd: Any, argv: list[bytes]) -> str | None:
        """While this script is busy: None lets `cmd` run, else the BUSY error text."""
        if "allow_busy" not in cmd.flags:
            return self.busy_error()
        if cmd.name == "shutdown" and not any(a.lower() == b"nosave" for a in argv[1:]):
            return self.busy_error()
        return None


# ---- FUNCTION DUMP / RESTORE payloads (Redis's format: RDB_OPCODE_FUNCTION2 records) ----

RDB_VERSION = 10
RDB_OPCODE_FUNCTION2 = 245
RDB_OPCODE_FUNCTION_PRE_GA = 246


def _crc64_table() -> list[int]:
    poly = int(f"{0xAD93D23594C935A9:064b}"[::-1], 2)   # Jones polynomial, reflected
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC64 = _crc64_table()


def crc64(data: bytes, crc: int = 0) -> int:
    """Redis's crc64 (Jones polynomial, reflected, no final xor)."""
    table = _CRC64
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


def lzf_compress(data: bytes, out_len: int) -> bytes | None:
    """liblzf's lzf_compress as built in Redis (HLOG 16, VERY_FAST); None when it doesn't fit."""
    n = len(data)
    if n < 3 or not out_len:
        return None
    htab = [0] * 65536
    out = bytearray(out_len + 8)
    ip, op, lit = 0, 1, 0
    hval = (data[0] << 8) | data[1]
    while ip < n - 2:
        hval = ((hval << 8) | data[ip + 2]) & 0xFFFFFFFF
        slot = ((hval >> 8) - hval * 5) & 0xFFFF
        ref = htab[slot] - 1
        htab[slot] = ip + 1
        if 0 < ref < ip and ip - ref - 1 < 8192 and ip + 4 < n and \
                data[ref:ref + 3] == data[ip:ip + 3]:
            off = ip - ref - 1
            length, maxlen = 2, min(n - ip - 2, 264)
            out[op - lit - 1] = (lit - 1) & 0xFF
            op -= lit == 0
            if op + 4 >= out_len:
                return None
            length = _lzf_match_length(data, ref, ip, length, maxlen)
            length -= 2
            ip += 1
            if length < 7:
                out[op] = (off >> 8) + (length << 5)
                op += 1
            else:
                out[op], out[op + 1] = (off >> 8) + (7 << 5), length - 7
                op += 2
            out[op] = off & 0xFF
            op += 2
            lit = 0
            ip += length + 1
            if ip >= n - 2:
                break
            ip -= 2
            hval = (data[ip] << 8) | data[ip + 1]
            for _ in range(2):
                hval = ((hval << 8) | data[ip + 2]) & 0xFFFFFFFF
                htab[((hval >> 8) - hval * 5) & 0xFFFF] = ip + 1
                ip += 1
        else:
            if op >= out_len:
                return None
            out[op] = data[ip]
            op, ip, lit = op + 1, ip + 1, lit + 1
            if lit == 32:
                out[op - lit - 1] = lit - 1
                lit, op = 0, op + 1
    if op + 3 > out_len:
        return None
    while ip < n:
        out[op] = data[ip]
        op, ip, lit = op + 1, ip + 1, lit + 1
        if lit == 32:
            out[op - lit - 1] = lit - 1
            lit, op = 0, op + 1
    out[op - lit - 1] = (lit - 1) & 0xFF
    op -= lit == 0
    return bytes(out[:op])


def _lzf_match_length(data: bytes, ref: int, ip: int, length: int, maxlen: int) -> int:
    if maxlen > 16:
        for _ in range(16):
            length += 1
            if data[ref + length] != data[ip + length]:
                return length
    while True:
        length += 1
        if not (length < maxlen and data[ref + length] == data[ip + length]):
            return length


def lzf_decompress(data: bytes, out_len: int) -> bytes:
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        ctrl = data[i]
        i += 1
        if ctrl < 32:
            if i + ctrl + 1 > n:
                raise ValueError("lzf: truncated literal")
            out += data[i:i + ctrl + 1]
            i += ctrl + 1
            continue
        length = ctrl >> 5
        ref = len(out) - ((ctrl & 0x1F) << 8) - 1
        if length == 7:
            length += data[i]
            i += 1
        ref -= data[i]
        i += 1
        if ref < 0:
            raise ValueError("lzf: bad back reference")
        for _ in range(length + 2):
            out.append(out[ref])
            ref += 1
    if len(out) != out_len:
        raise ValueError("lzf: wrong length")
    return bytes(out)


def _rdb_len(n: int) -> bytes:
    if n < 64:
        return bytes([n])
    if n < 16384:
        return bytes([0x40 | (n >> 8), n & 0xFF])
    if n <= 0xFFFFFFFF:
        return b"\x80" + n.to_bytes(4, "big")
    return b"\x81" + n.to_bytes(8, "big")


def rdb_string(s: bytes, compress: bool) -> bytes:
    """rdbSaveRawString for a library's code (never an integer: it starts with "#!")."""
    if compress and len(s) > 20:
        packed = lzf_compress(s, len(s) - 4)
        if packed:
            return b"\xc3" + _rdb_len(len(packed)) + _rdb_len(len(s)) + packed
    return _rdb_len(len(s)) + s


class _Reader:
    def __init__(self, data: bytes, end: int) -> None:
        self.data, self.pos, self.end = data, 0, end

    def take(self, n: int) -> bytes:
        if self.pos + n > self.end:
            raise ValueError("short read")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def length(self) -> tuple[int, bool]:
        b = self.take(1)[0]
        kind = b >> 6
        if kind == 0:
            return b & 0x3F, False
        if kind == 1:
            return ((b & 0x3F) << 8) | self.take(1)[0], False
        if kind == 3:
            return b & 0x3F, True
        if b == 0x80:
            return int.from_bytes(self.take(4), "big"), False
        if b == 0x81:
            return int.from_bytes(self.take(8), "big"), False
        raise ValueError("bad length")

    def string(self) -> bytes:
        n, encoded = self.length()
        if not encoded:
            return self.take(n)
        if n in (0, 1, 2):
            size = 1 << n
            return str(int.from_bytes(self.take(size), "little", signed=True)).encode()
        if n == 3:
            clen, _ = self.length()
            olen, _ = self.length()
            return lzf_decompress(self.take(clen), olen)
        raise ValueError("bad string encoding")


def dump_payload(codes: list[bytes], compress: bool) -> bytes:
    body = b"".join(bytes([RDB_OPCODE_FUNCTION2]) + rdb_string(code, compress) for code in codes)
    body += RDB_VERSION.to_bytes(2, "little")
    return body + crc64(body).to_bytes(8, "little")


def parse_payload(payload: bytes) -> list[bytes]:
    """The library codes in a FUNCTION DUMP payload; raises CommandError like Redis."""
    if len(payload) < 10 or int.from_bytes(payload[-10:-8], "little") > RDB_VERSION or \
            crc64(payload[:-8]) != int.from_bytes(payload[-8:], "little"):
        raise CommandError("ERR DUMP payload version or checksum are wrong")
    reader = _Reader(payload, len(payload) - 10)
    codes = []
    try:
        while reader.pos < reader.end:
            kind = reader.take(1)[0]
            if kind == RDB_OPCODE_FUNCTION_PRE_GA:
                raise CommandError("ERR Pre-GA function format not supported")
            if kind != RDB_OPCODE_FUNCTION2:
                raise CommandError("ERR given type is not a function")
            codes.append(reader.string())
    except ValueError:
        raise CommandError("ERR failed loading the given functions payload") from None
    return codes


# ---- The per-server scripting state ----

def scripting_of(server: Server) -> Scripting:
    st = getattr(server, "scripting", None)
    if st is None:
        st = Scripting(server)
        server.scripting = st
    return st


def scripting_info(server: Server) -> dict[str, int]:
    """INFO memory's scripting counters (number_of_cached_scripts, ...)."""
    st = getattr(server, "scripting", None)
    scripts = st.scripts if st is not None else {}
    return {
        "number_of_cached_scripts": len(scripts),
        "used_memory_scripts_eval": sum(len(s.body) + 96 for s in scripts.values()),
        "number_of_functions": len(st.functions) if st is not None else 0,
        "number_of_libraries": len(st.libraries) if st is not None else 0,
    }


class Scripting:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.scripts: dict[bytes, Script] = {}
        self.libraries: dict[bytes, Library] = {}
        self.functions: dict[bytes, FunctionInfo] = {}
        self.rand = Rand48(int(server.run_id[:8], 16))
        self.current: ScriptRun | None = None
        self.loading: LibraryBuilder | None = None
        self.load_deadline = 0.0
        self.runner = ScriptRunner(self)
        self._eval_engine: LuaEngine | None = None
        self._fn_engine: LuaEngine | None = None
        self._lua_client: Client | None = None

    @property
    def eval_engine(self) -> LuaEngine:
        if self._eval_engine is None:
            self._eval_engine = LuaEngine(self, "eval")
        return self._eval_engine

    @property
    def fn_engine(self) -> LuaEngine:
        if self._fn_engine is None:
            self._fn_engine = LuaEngine(self, "function")
        return self._fn_engine

    def lua_client_for(self, caller: Client) -> Client:
        lc = self._lua_client
        if lc is None:
            from redkeep.server.connection import Client
            lc = Client(self.server, 0)
            lc.kind = "lua"
            lc.in_script = True
            lc.authenticated = True
            lc.name = None
            self._lua_client = lc
        lc.db = caller.db
        lc.resp = 2
        lc.user = caller.user
        return lc

    # -- logging and hooks (called from the Lua side) --

    def lua_log(self, level: int, message: bytes) -> None:
        log = getattr(self.server, "log", None)
        if log is not None:
            log.log(level, message.decode("utf-8", "replace"))

    def _warn(self, message: str) -> None:
        log = getattr(self.server, "log", None)
        if log is not None:
            log.warning(message)

    def hook_check(self) -> Any:
        """Count hook: an error table aborts the running Lua code."""
        import time
        if self.loading is not None:
            if time.monotonic() > self.load_deadline:
                return self.fn_engine.error_table(b"FUNCTION LOAD timeout", False)
            return None
        run = self.current
        if run is None:
            return None
        if self.server.shutdown_requested is not None and run.detached:
            run.killed = True   # SHUTDOWN NOSAVE while busy: the process is going away
        if not run.killed:
            return None
        if not run.kill_logged:
            run.kill_logged = True
            self._warn("Lua script killed by user with SCRIPT KILL.")
        engine = self.eval_engine if run.is_eval else self.fn_engine
        return engine.error_table(b"Script killed by user with SCRIPT KILL...", False)

    # -- error statistics (afterErrorReply) --

    def count_error(self, reply: str) -> None:
        """errorstats as afterErrorReply counts an error reply "-<text>": the code before
        the first space within its first 32 characters, else ERR."""
        srv = self.server
        reply = reply.replace("\r", " ").replace("\n", " ")
        space = reply.find(" ", 0, 32)
        code = reply[1:space] if reply.startswith("-") and space >= 0 else "ERR"
        srv.errorstats[code] = srv.errorstats.get(code, 0) + 1
        srv.stats["total_error_replies"] += 1

    def account_errors(self, run: ScriptRun) -> None:
        """Error replies inside a script's reply: counted in errorstats (and then the
        command failed), or -- when they came from redis.call, already counted --
        only the command's failed_calls."""
        cmd = run.caller.cur_cmd
        counted = False
        for text, ignore in run.error_replies:
            if ignore:
                if cmd is not None:
                    cmd.failed_calls += 1
            else:
                self.count_error("-" + text)
                counted = True
        if counted and cmd is not None:
            cmd.failed_calls += 1
        run.error_replies.clear()

    # -- commands called by scripts (scriptCall) --

    def lookup_command(self, argv: list[bytes]) -> Any:
        cmd = self.server.table.lookup(argv[0])
        if cmd is not None and cmd.subcommands is not None and len(argv) > 1:
            cmd = cmd.subcommands.get(argv[1].lower())
        return cmd

    def script_call(self, run: ScriptRun, argv: list[bytes]) -> tuple[Any, str | None]:
        """Run one redis.call: (reply, None) or (None, the error scriptCall reports, which
        is counted in errorstats and as a rejected call of the command)."""
        cmd = self.lookup_command(argv)
        failure = self._refuse_call(run, cmd, argv)
        if failure is not None:
            self.count_error(failure)
            if cmd is not None:
                cmd.rejected_calls += 1
            return None, failure
        if cmd.is_write:
            run.write_dirty = True
        return self.server.call(run.lua_client, cmd, argv), None

    def _refuse_call(self, run: ScriptRun, cmd: Any, argv: list[bytes]) -> str | None:
        """scriptCall's checks, in its order."""
        from redkeep.server import errors
        srv = self.server
        if cmd is None:
            return "Unknown Redis command called from script"
        if not cmd.check_arity(len(argv)):
            return "Wrong number of args calling Redis command from script"
        if "noscript" in cmd.flags:
            return "This Redis command is not allowed from script"
        cfg = srv.config
        if cmd.is_write:
            if run.read_only:
                return "Write commands are not allowed from read-only scripts."
            if cfg.replicaof is not None and cfg.replica_read_only and run.caller.kind != "master":
                return "-" + errors.READONLY
        if cmd.denyoom and run.oom and not run.allow_oom and not run.write_dirty \
                and cfg.maxmemory and cfg.replicaof is None:
            return "-" + errors.OOM
        return None

    # -- EVAL --

    def script_for(self, body: bytes) -> Script:
        """luaCreateFunction: the cached script for `body`, compiled on first sight."""
        sha = sha1hex(body)
        script = self.scripts.get(sha)
        if script is not None:
            return script
        flags, shebang_len = parse_eval_shebang(body)
        fn, err = self.eval_engine.compile(body[shebang_len:], b"@user_script")
        if fn is None:
            raise CommandError("ERR Error compiling script (new function): "
                               + _str(err).rstrip("\r\n"))
        script = Script(sha, body, flags, fn)
        self.scripts[sha] = script
        return script

    def lookup_sha(self, sha: bytes) -> Script | None:
        return self.scripts.get(sha.lower())

    def flush_scripts(self) -> None:
        self.scripts.clear()
        self._eval_engine = None

    def eval(self, c: Client, script: Script, keys: list[bytes], args: list[bytes], ro: bool,
             argv: list[bytes]) -> Any:
        flags = script.flags
        oom = self._out_of_memory(c)
        if flags is not None:
            self._check_flags(c, flags, ro, oom)
        compat = flags is None
        run = ScriptRun(self, c, script.sha.decode(), True,
                        ro or (not compat and "no-writes" in flags),
                        not compat and "allow-oom" in flags, oom, argv)
        engine = self.eval_engine
        run.bounded = script.bounded
        return self.runner.execute(run, lambda: engine.run(run, script.fn, keys, args))

    def _out_of_memory(self, c: Client) -> bool:
        srv = self.server
        if not srv.config.maxmemory or srv.evictor is None:
            return False
        return not srv.evictor.make_room(c)

    def _check_flags(self, c: Client, flags: frozenset[str], ro: bool, oom: bool) -> None:
        """scriptPrepareForRun for scripts that declare flags (and functions)."""
        from redkeep.server import errors
        cfg = self.server.config
        if "no-cluster" in flags and getattr(cfg, "cluster_enabled", False):
            raise CommandError("ERR Can not run script on cluster, 'no-cluster' flag is set.")
        if oom and "allow-oom" not in flags and "no-writes" not in flags:
            raise CommandError(errors.OOM)   # processCommand: such scripts are denyoom
        if "no-writes" not in flags:
            if cfg.replicaof is not None and cfg.replica_read_only and c.kind != "master":
                raise CommandError("ERR Can not run script with write flag on readonly replica")
            if ro:
                raise CommandError("ERR " + RO_SCRIPT_WRITE)

    # -- FCALL --

    def fcall(self, c: Client, argv: list[bytes], ro: bool) -> Any:
        from redkeep.resp.parser import parse_ll
        fi = self.functions.get(argv[1].lower())
        if fi is None:
            raise CommandError("ERR Function not found")
        numkeys = parse_ll(argv[2])
        if numkeys is None:
            raise CommandError("ERR Bad number of keys provided")
        if numkeys > len(argv) - 3:
            raise CommandError(KEYS_GT_ARGS)
        if numkeys < 0:
            raise CommandError(KEYS_NEGATIVE)
        flags = frozenset(fi.flags)
        oom = self._out_of_memory(c)
        self._check_flags(c, flags, ro, oom)
        run = ScriptRun(self, c, _str(fi.name), False, ro or "no-writes" in flags,
                        "allow-oom" in flags, oom, argv)
        keys, args = argv[3:3 + numkeys], argv[3 + numkeys:]
        engine = self.fn_engine
        return self.runner.execute(run, lambda: engine.run(run, fi.fn, keys, args))

    # -- FUNCTION LOAD / DELETE / FLUSH / RESTORE --

    def create_library(self, code: bytes) -> Library:
        """functionsCreateWithLibraryCtx minus the linking: parse, compile, run the code."""
        name, offset = self._parse_library(code)
        return self._run_library(name, code, offset)

    @staticmethod
    def _parse_library(code: bytes) -> tuple[bytes, int]:
        engine_name, name, offset = parse_library_metadata(code)
        if not valid_name(name):
            raise CommandError("ERR " + NAME_RULE)
        if engine_name.lower() != b"lua":
            raise CommandError(f"ERR Engine '{_str(engine_name)}' not found")
        return name, offset

    def _run_library(self, name: bytes, code: bytes, offset: int) -> Library:
        import time
        engine = self.fn_engine
        fn, err = engine.compile(code[offset:], b"@user_function")
        if fn is None:
            raise CommandError("ERR Error compiling function: " + _str(err))
        lib = Library(name, code)
        self.loading = LibraryBuilder(lib)
        self.load_deadline = time.monotonic() + LOAD_TIMEOUT_MS / 1000
        try:
            failure = engine.load(fn, HOOK_INSTRUCTIONS)
        finally:
            self.loading = None
        if failure is not None:
            raise CommandError("ERR Error registering functions: " + self._load_error(failure))
        if not lib.functions:
            raise CommandError("ERR No functions registered")
        return lib

    @staticmethod
    def _load_error(err: Any) -> str:
        """luaExtractErrorInformation on an error raised while a library loads."""
        t = type(err)
        if t is bytes or t is int or t is float:
            return "ERR " + _str(_text(err) if t is bytes else format_g14(float(err)))
        if lua51.lua_type(err) == "table":
            try:
                msg = err[b"err"]
            except lua51.LuaError:
                msg = None
            if type(msg) in (bytes, int, float):
                return _str(msg if type(msg) is bytes else format_g14(float(msg)))
        return "(null)"

    def function_load(self, code: bytes, replace: bool) -> bytes:
        name, offset = self._parse_library(code)
        old = self.libraries.get(name)
        if old is not None and not replace:
            raise CommandError(f"ERR Library '{_str(name)}' already exists")
        lib = self._run_library(name, code, offset)
        for key, fi in lib.functions.items():
            other = self.functions.get(key)
            if other is not None and other.library is not old:
                raise CommandError(f"ERR Function {_str(fi.name)} already exists")
        if old is not None:
            self._unlink(old)
        self._link(lib)
        return lib.name

    def _link(self, lib: Library) -> None:
        self.libraries[lib.name] = lib
        self.functions.update(lib.functions)

    def _unlink(self, lib: Library) -> None:
        self.libraries.pop(lib.name, None)
        for key in lib.functions:
            self.functions.pop(key, None)

    def function_delete(self, name: bytes) -> None:
        lib = self.libraries.get(name)
        if lib is None:
            raise CommandError("ERR Library not found")
        self._unlink(lib)

    def function_flush(self) -> None:
        self.libraries.clear()
        self.functions.clear()

    def function_dump(self) -> bytes:
        compress = bool(getattr(self.server.config, "rdbcompression", True))
        return dump_payload([lib.code for lib in self.libraries.values()], compress)

    def function_restore(self, payload: bytes, policy: str) -> None:
        codes = parse_payload(payload)
        restored: dict[bytes, Library] = {}
        for code in codes:
            lib = self.create_library(code)
            if lib.name in restored:
                raise CommandError(f"ERR Library '{_str(lib.name)}' already exists")
            restored[lib.name] = lib
        if policy == "flush":
            self.function_flush()
        self._join(restored, policy == "replace")

    def _join(self, restored: dict[bytes, Library], replace: bool) -> None:
        """libraryJoin: all or nothing."""
        replaced = []
        for name in restored:
            old = self.libraries.get(name)
            if old is not None:
                if not replace:
                    raise CommandError(f"ERR Library {_str(name)} already exists")
                replaced.append(old)
        for old in replaced:
            self._unlink(old)
        for lib in restored.values():
            for key, fi in lib.functions.items():
                if key in self.functions:
                    for old in replaced:
                        self._link(old)
                    raise CommandError(f"ERR Function {_str(fi.name)} already exists")
        for lib in restored.values():
            self._link(lib)

    # -- SCRIPT KILL / FUNCTION KILL --

    def kill(self, is_eval: bool) -> None:
        run = self.server.busy_script
        if run is None:
            raise CommandError(NOTBUSY)
        if run.caller.kind == "master":
            raise CommandError("UNKILLABLE The busy script was sent by a master instance in the "
                               "context of replication and cannot be killed.")
        if run.write_dirty:
            raise CommandError(UNKILLABLE)
        if is_eval and not run.is_eval:
            raise CommandError(BUSY_FUNCTION)
        if not is_eval and run.is_eval:
            raise CommandError(BUSY_EVAL)
        run.killed = True


# ---- Where scripts run ----

class ScriptRunner:
    """Runs scripts on a worker thread; past busy-reply-threshold the caller is parked."""

    def __init__(self, scripting: Scripting) -> None:
        self.scripting = scripting
        self._jobs: Any = None
        self._thread: threading.Thread | None = None

    def execute(self, run: ScriptRun, job: Callable[[], Any]) -> Any:
        srv = self.scripting.server
        threshold = srv.config.busy_reply_threshold
        node = getattr(srv, "node", None)
        c = run.caller
        if threshold > 0:
            run.hook_count = HOOK_INSTRUCTIONS
        run.begin()
        if threshold <= 0 or node is None or c.on_unblock is None or c.in_exec or run.bounded:
            try:
                return self._finish(run, self._protected(job))
            finally:
                run.end()
        run.done = threading.Event()
        try:
            self._submit(run, job)
        except BaseException:
            run.end()
            raise
        if run.done.wait(threshold / 1000.0):
            run.end()
            return self._finish(run, run.result)
        with run.lock:
            if run.finished:
                run.end()
                return self._finish(run, run.result)
            run.detached = True
        return self._detach(run)

    def _protected(self, job: Callable[[], Any]) -> Any:
        try:
            return job()
        except Exception as e:   # a bug must not take the server down
            self.scripting._warn(f"Error running script: {e!r}")
            return ErrorReply(f"ERR Error running script: {e}")

    def _finish(self, run: ScriptRun, reply: Any) -> Any:
        self.scripting.account_errors(run)
        return reply

    def _submit(self, run: ScriptRun, job: Callable[[], Any]) -> None:
        import queue
        if self._thread is None:
            self._jobs = queue.SimpleQueue()
            self._thread = threading.Thread(target=self._work, name="redkeep-lua", daemon=True)
            self._thread.start()
        self._jobs.put((run, job))

    def _work(self) -> None:
        while True:
            run, job = self._jobs.get()
            result = self._protected(job)
            with run.lock:
                run.result = result
                run.finished = True
                detached = run.detached
            if not detached:
                run.done.set()
                continue
            try:
                self.scripting.server.node.loop.call_soon_threadsafe(self._deliver, run)
            except RuntimeError:   # the loop is gone (SHUTDOWN NOSAVE)
                pass

    def _detach(self, run: ScriptRun) -> Any:
        from redkeep.server.blocking import BLOCKED, BlockState
        srv = self.scripting.server
        srv.busy_script = run
        c = run.caller
        c.blocked = BlockState(None, run.argv, c.db, [], 0, None, srv.clock.monotonic_ms())
        what = "SCRIPT KILL" if run.is_eval else "FUNCTION KILL"
        self.scripting._warn(
            f"Slow script detected: still in execution after {run.elapsed_ms()} milliseconds. "
            f"You can try killing the script using the {what} command. Script name is: "
            f"{run.name}.")
        return BLOCKED

    def _deliver(self, run: ScriptRun) -> None:
        """On the loop thread: the detached script finished."""
        srv = self.scripting.server
        srv.busy_script = None
        run.end()
        reply = self._finish(run, run.result)
        srv.blocking.unblock(run.caller, reply)
        if srv.blocking.ready:
            srv.blocking.serve_ready_keys()

    def on_loop(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on the event loop thread and wait for its result."""
        loop = self.scripting.server.node.loop
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def task() -> None:
            try:
                fut.set_result(fn())
            except BaseException as e:  # noqa: B036 - handed back to the worker
                fut.set_exception(e)

        loop.call_soon_threadsafe(task)
        while True:
            try:
                return fut.result(timeout=0.5)
            except concurrent.futures.TimeoutError:
                if loop.is_closed():
                    raise RuntimeError("the server is shutting down") from None
