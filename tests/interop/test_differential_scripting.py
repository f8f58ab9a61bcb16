"""Differential tests for Lua scripting: EVAL/EVALSHA/EVAL_RO, SCRIPT, FCALL/FUNCTION,
the sandbox, the bundled libraries and the busy-script behaviour, sent to redkeep and to
real redis-server 7.0.15 side by side with byte-for-byte reply comparison (error texts
included).

The only normalization is the order of FUNCTION LIST entries: Redis lists libraries in
the order of a hash table seeded at random on every start, so two Redis servers don't
agree with each other either.
"""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.differential import DiffPair
from support.resp import Frame, encode

pytestmark = pytest.mark.interop


@pytest.fixture
def sdiff(diff: DiffPair):
    """A DiffPair with empty script caches and function libraries on both servers."""
    diff.run("SCRIPT", "FLUSH")
    diff.run("FUNCTION", "FLUSH")
    diff.history.clear()
    yield diff
    diff.run("SCRIPT", "FLUSH")
    diff.run("FUNCTION", "FLUSH")


# ---- Conversions ----

CONVERSIONS = [
    "return 1", "return 3.99", "return -0.5", "return 9007199254740993", "return 1e20",
    "return -1e20", "return 0/0", "return 1/0", "return 2^53", "return math.huge",
    "return 'x'", "return ''", "return nil", "return true", "return false",
    "return {1,2,3,nil,4}", "return {1.5, -2.7, 'x', true, false}", "return {a=1}",
    "return {}", "return {[1]='a', [2]='b', x='y'}", "local t = {} t[1] = 1 t[3] = 3 return t",
    "return {1, function() end, 3}", "return function() end",
    "return coroutine.create(function() end)",
    "return {1, {2, {3, 'x'}}, {ok='S'}, {err='E'}}", "return {err='BAD thing'}",
    "return {err='x\\r\\ny'}", "return {ok='x\\r\\ny'}", "return {err=''}", "return {err='-'}",
    "return {err=12}", "return {ok=12}", "return {err='x', ok='y'}", "return {ok='y', double=2}",
    "return redis.error_reply('BAD x')", "return redis.error_reply('noprefix')",
    "return redis.error_reply('-')", "return redis.error_reply('')",
    "return redis.error_reply(' x')", "return redis.error_reply('-FOO')",
    "return redis.error_reply(12)", "return redis.status_reply(12)",
    "return redis.status_reply()", "return redis.status_reply('FINE')",
    "return {double=1.5}", "return {double=1/0}", "return {double=3}", "return {double=1e300}",
    "return {big_number='123456789012345678901234567890'}", "return {big_number='12\\r\\n3'}",
    "return {verbatim_string={format='txt', string='hello'}}",
    "return {verbatim_string={format='markdown', string='hello'}}",
    "return {map={a=1}}", "return {map={a={1,2}, [1]='x'}}", "return {set={a=true, b=false}}",
    "return {map={}}", "return {1, {map={a=true}}, {set={x=1}}, {double=0.1}}",
    "redis.setresp(3) return true", "redis.setresp(3) return false",
    "redis.setresp(3) return {true, false, 1}",
    "return tostring(1e20)", "return tostring(0.1)", "return string.format('%5.2f', 3.14159)",
    "return select('#', 1, 2)", "return unpack({1,2,3})", "return tonumber('0x10')",
    "return #KEYS + #ARGV", "return {KEYS[1], ARGV[1], ARGV[2]}",
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_eval_conversions(sdiff, protocol):
    if protocol == 3:
        sdiff.run("HELLO", "3")
    for script in CONVERSIONS:
        sdiff.run("EVAL", script, 1, "k1", "a1", "a2")


CALLS = [
    "return redis.call('set', 'k', 'v')", "return redis.call('get', 'k')",
    "return redis.call('get', 'nokey')", "return type(redis.call('get', 'nokey'))",
    "return tostring(redis.call('get','nokey'))", "return redis.call('set', 'a', 1.5)",
    "return redis.call('get', 'a')", "return redis.call('echo', 12.0)",
    "return redis.call('echo', 0.1)", "return redis.call('echo', 1e100)",
    "return redis.call('echo', 1/0)", "return redis.call('echo', -1/0)",
    "return redis.call('echo', 0/0)", "return redis.call('ping')", "return redis.call('ping', 'x')",
    "return redis.call('hset', 'h', 'a', '1', 'b', '2')", "return redis.call('hgetall', 'h')",
    "redis.setresp(3) return redis.call('hgetall', 'h')",
    "redis.setresp(3) return redis.call('hgetall', 'h').map.a",
    "return redis.call('hgetall', 'nokey')", "redis.setresp(3) return redis.call('get', 'nokey')",
    "redis.setresp(3) return {redis.call('get', 'nokey')}",
    "redis.setresp(3) return {1, redis.call('get', 'nokey'), 2}",
    "return redis.call('incr', 'n')", "return redis.call('incrbyfloat', 'f', '1.5')",
    "return redis.pcall('lpush', 'k', 'x')", "return redis.pcall('lpush', 'k', 'x')['err']",
    "local e = redis.pcall('lpush', 'k', 'x') return e",
    "redis.call('incr', 'k') return 1", "return redis.call('del', 'h', 'k', 'n', 'f', 'a')",
    "redis.call('select', 5) return redis.call('set', 'dbk', 'v')", "return redis.call('exists', 'dbk')",
    "return redis.call('time')[3]", "return redis.call('type', 'nokey')",
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_call_conversions(sdiff, protocol):
    if protocol == 3:
        sdiff.run("HELLO", "3")
    for script in CALLS:
        sdiff.run("EVAL", script, 0)
    sdiff.run("SELECT", 5)
    sdiff.run("GET", "dbk")


# ---- Errors ----

ERRORS = [
    "return x", "x = 1", "rawset(_G, 'gg', 5) return 1", "return gg",
    "return redis.call('nosuch')", "return redis.call('set','a')",
    "return redis.call('set','a','b','c')", "return redis.pcall('set','a','b','c')",
    "redis.call('lpush','a','b')", "error('boom')", "error({err='MY boom'})", "error()",
    "error(nil)", "error(12)", "error({err=12})", "error(redis.error_reply('FOO bar'))",
    "return redis.pcall('nosuch')", "local r = redis.pcall('nosuch') return r['err']",
    "return pcall(redis.call, 'nosuch')", "local ok, e = pcall(redis.call, 'nosuch') return e",
    "local ok, e = pcall(error, 'x') return e",
    "local ok, e = pcall(function() error('x') end) return e",
    "local ok, e = pcall(function() error({err='x'}) end) return e",
    "local ok, e = pcall(function() local t = nil; return t.x end) return e",
    "local t = nil; return t.x", "\n\nlocal t = nil; return t.x",
    "redis.call('incr', 'nokeyx') return redis.call('lpush', 'nokeyx', 1)",
    "return 'a' .. ", "return 1 +", "return redis.call('eval','return 1', 0)",
    "return redis.call('blpop', 'nolist', 0)", "return redis.call('subscribe', 'x')",
    "return redis.call('multi')", "return redis.call('script', 'load', 'return 1')",
    "return redis.call('config', 'foo')", "return redis.call('config')",
    "return redis.call()", "return redis.call({})", "return redis.call('get', {})",
    "return redis.call('echo', true)", "return redis.call('echo', nil)",
    "return redis.sha1hex()", "return redis.sha1hex(1)", "return redis.sha1hex({})",
    "return redis.sha1hex('a', 'b')", "return redis.setresp()", "return redis.setresp('3')",
    "return redis.setresp(2.5)", "return redis.setresp(4)", "return redis.log('x', 'y')",
    "return redis.log(0, 'y', 1, {}, 'z')", "return redis.log(10, 'hi')", "return redis.log(1)",
    "return redis.set_repl()", "return redis.set_repl('x')", "return redis.set_repl(99)",
    "return redis.breakpoint()", "return redis.debug('x')",
    "return redis.acl_check_cmd('get', 'x')", "return redis.acl_check_cmd('nosuch')",
    "return redis.acl_check_cmd()", "return redis.replicate_commands()",
    "return math.random(0)", "return math.random(1, 2, 3)", "return math.random(5, 1)",
    "return math.random('x')", "return string.rep()", "return ('x'):bad()",
    "return rawset(nil, 1, 2)", "return coroutine.wrap(function() error('in co') end)()",
    "return coroutine.wrap(function() return redis.call('ping') end)()",
    "local co = coroutine.create(function() x = 1 end) return {coroutine.resume(co)}",
    "return redis.call('set', 'str', 'v') and redis.call('hget', 'str', 'f')",
]


def test_eval_errors(sdiff):
    for script in ERRORS:
        sdiff.run("EVAL", script, 0)


def test_numkeys_and_noscript(sdiff):
    for args in (("EVAL", "return 1"), ("EVAL", "return 1", 1), ("EVAL", "return 1", -1),
                 ("EVAL", "return 1", "x"), ("EVAL", "return 1", "1.0"),
                 ("EVAL", "return 1", "99999999999999999999"), ("EVAL", "return 1 +", "x"),
                 ("EVAL", "return 1 +", 5), ("EVALSHA", "fff", 0), ("EVALSHA", "fff", "x"),
                 ("EVALSHA", "f" * 40, 0), ("EVALSHA_RO", "fff", 0), ("EVAL_RO", "return 1", 5),
                 ("EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", 0)):
        sdiff.run(*args)


# ---- Shebangs and read-only scripts ----

SHEBANG_CASES = [
    ("EVAL", "#!lua\nreturn 1"), ("EVAL", "#!lua"), ("EVAL", "#!"), ("EVAL", "#!\nreturn 1"),
    ("EVAL", "#! lua\nreturn 1"), ("EVAL", "#!python\nreturn 1"),
    ("EVAL", '#!lua flags=no-writes\nreturn redis.call("set","a","b")'),
    ("EVAL", "#!lua flags=no-writes,allow-oom\nreturn 1"), ("EVAL", "#!lua flags=bad\nreturn 1"),
    ("EVAL", "#!lua flags=\nreturn 1"), ("EVAL", "#!lua flags=no-writes,,allow-oom\nreturn 1"),
    ("EVAL", "#!lua flags=allow-cross-slot-keys\nreturn 1"), ("EVAL", "#!lua name=x\nreturn 1"),
    ("EVAL", "#!lua  flags=no-writes\nreturn 1"), ("EVAL", '#!lua "flags=no-writes"\nreturn 1'),
    ("EVAL", "#!lua flags=NO-WRITES\nreturn 1"), ("EVAL", '#!lua "unbalanced\nreturn 1'),
    ("EVAL", "#!lua\nreturn x"), ("EVAL", '#!lua\nreturn redis.call("set","a","b")'),
    ("EVAL_RO", 'return redis.call("set","a","b")'),
    ("EVAL_RO", '#!lua\nreturn redis.call("set","a","b")'),
    ("EVAL_RO", '#!lua flags=no-writes\nreturn redis.call("set","a","b")'),
    ("EVAL_RO", 'return redis.call("get","a")'), ("EVAL_RO", 'return redis.pcall("set","a","b")'),
]


def test_shebangs_and_read_only(sdiff):
    for cmd, script in SHEBANG_CASES:
        sdiff.run(cmd, script, 0)
    sdiff.run("SCRIPT", "LOAD", "#!lua flags=no-writes\nreturn redis.call('get', 'a')")
    sha = sdiff.run("SCRIPT", "LOAD", "#!lua\nreturn redis.call('get', 'a')").value
    sdiff.run("EVALSHA_RO", sha, 0)
    sdiff.run("EVALSHA", sha, 0)


# ---- Sandbox ----

SANDBOX = [
    "return os", "return io", "return loadfile", "return dofile", "return require",
    "return package", "return debug", "return print", "return getfenv", "return setfenv",
    "return newproxy", "return module", "return type(loadstring)",
    "return loadstring(string.dump(function() return 1 end))",
    "return {pcall(loadstring, string.dump(function() return 1 end))}",
    "local f, e = loadstring(string.dump(function() return 1 end)) return e",
    "return {load(function() return nil end)}",
    "local f, e = load(string.dump(function() return 1 end)) return e",
    "local d = string.dump(function() return 1 end) return {load(function() "
    "local x = d d = nil return x end)}",
    "return loadstring('return 1')()", "return loadstring('x = 1')()",
    "return loadstring('return KEYS')()", "return type(getmetatable(_G))",
    "setmetatable(_G, {})", "string.x = 1", "string.len = nil", "redis.call = nil",
    "local n = 0 for k in pairs(_G) do n = n + 1 end return n", "return next(_G) ~= nil",
    "return getmetatable('').__index == string", "getmetatable('').__index.upper = nil",
    "return rawget(_G, 'x')", "return rawget(_G, 'string') == string",
    "return rawequal(_G, _G._G)", "table.insert(string, 1)", "table.insert(KEYS, 1) return #KEYS",
    "KEYS[1] = 'x' return KEYS[1]", "KEYS = {}", "return type(getmetatable(string))",
    "local mt = getmetatable(_G); return type(mt.__index)",
    "return tostring(getmetatable(_G).__newindex)", "getmetatable(_G).__index = nil",
    "return collectgarbage('count') > 0", "return type(string.gfind)", "return _VERSION",
    "return type(__redis__err__handler)", "return type(coroutine)", "return type(string.dump)",
    "return type(load)", "return type(gcinfo)", "return type(table.getn)", "return type(math.pow)",
    "local t={} for k,v in pairs(_G) do t[#t+1]=k end table.sort(t) return t",
    "local t={} for k,v in pairs(string) do t[#t+1]=k end table.sort(t) return t",
    "local t={} for k,v in pairs(table) do t[#t+1]=k end table.sort(t) return t",
    "local t={} for k,v in pairs(math) do t[#t+1]=k end table.sort(t) return t",
    "local t={} for k,v in pairs(redis) do t[#t+1]=k end table.sort(t) return t",
    "local t={} for k,v in pairs(bit) do t[#t+1]=k end table.sort(t) return t",
    "local t={} for k,v in pairs(cmsgpack) do t[#t+1]=k end table.sort(t) return t",
    "local t={} for k,v in pairs(struct) do t[#t+1]=k end table.sort(t) return t",
]


def test_sandbox(sdiff):
    for script in SANDBOX:
        sdiff.run("EVAL", script, 0)
    # nothing a script tried to leave behind is visible afterwards
    for script in ("return x", "return gg", "return string.x", "return #KEYS"):
        sdiff.run("EVAL", script, 0)


# ---- Libraries ----

LIBRARIES = [
    "return cjson.decode('x')", "return cjson.decode('[1,')", "return cjson.decode('{\"a\":}')",
    "return cjson.decode()", "return cjson.encode(function() end)",
    "return cjson.encode({[true]=1})", "return cjson.encode({[1]=1, [3]=3})",
    "return cjson.encode({[1]=1, [30]=3})", "return cjson.encode({1, a=2})",
    "return cjson.encode({})", "return cjson.encode('a/b\"\\n\\1\\127\\200')",
    "return cjson.encode(0.1)", "return cjson.encode(1e100)", "return cjson.encode(1/0)",
    "return cjson.encode(123456789012)", "return cjson.encode({a={b={c=1}}})",
    "return cjson.encode(cjson.null)", "return cjson.encode({true, false, cjson.null})",
    "return type(cjson.decode('null'))", "return cjson.decode('null') == cjson.null",
    "return cjson.decode('\"\\\\u00e9\\\\ud83d\\\\ude00\"')",
    "return cjson.decode('[1.5e3, -0, 12345678901234567890]')",
    "return tostring(cjson.decode('12345678901234567890'))",
    "return cjson.decode(' {\"a\" : [1, {\"b\": true}]} ').a[2].b",
    "return cjson.decode('[1] x')", "return cjson.decode('\"abc')", "return cjson.decode('nan')",
    "return cjson.decode('0x10')", "return cjson.decode('[01]')", "return cjson.decode('')",
    "return cjson.decode('\"\\\\q\"')", "return cjson.decode('\"\\\\u12\"')",
    "local t = {} t[1] = t return cjson.encode(t)", "return cjson.encode({['1']=1, [2]=2})",
    "return cjson.encode(cjson.decode('{\"a\":[1,2,{\"b\":null}],\"c\":\"d\"}'))",
    "return cmsgpack.pack(1, -1, 200, -200, 70000, -70000, 5000000000, -5000000000, 1.5, 0.1, "
    "'abc', true, false, nil)",
    "return cmsgpack.pack({a=1}, {1,2}, {}, string.rep('x', 40), string.rep('x', 300))",
    "return {cmsgpack.unpack(cmsgpack.pack(1, 'a', {1,2}, {a=1}, 1.5))}",
    "return cmsgpack.unpack('\\193')", "return cmsgpack.unpack('\\146\\1')",
    "return cmsgpack.pack()", "return cmsgpack.unpack()", "return cmsgpack.unpack('')",
    "return cmsgpack.pack(1/0, -1/0, 2^53, -2^63, 2^64)", "return cmsgpack.pack(function() end)",
    "return {bit.tobit(2^32+1), bit.tobit(-1), bit.tobit(1.5), bit.tobit(2.5), bit.tobit(-1.5)}",
    "return {bit.band(0xff, 0x0f, 0x3), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.bnot(0), "
    "bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.rol(0x12345678, 8), "
    "bit.ror(0x12345678, 8), bit.bswap(0x12345678)}",
    "return {bit.tohex(255), bit.tohex(-1), bit.tohex(255, 2), bit.tohex(255, -4), "
    "bit.tohex(0x12345678, 20)}",
    "return bit.band()", "return bit.band('x')", "return bit.band('12')", "return bit.lshift(1, 33)",
    "return struct.pack('>I2', 258)", "return {struct.unpack('<i4', struct.pack('<i4', -5))}",
    "return struct.size('>iI2b')", "return struct.pack('z', 'abc')",
    "return {struct.unpack('s', 'abc\\0def')}", "return struct.pack('q', 1)",
    "return {struct.unpack('d', struct.pack('d', 1.5))}",
    "math.randomseed(0) return {math.random(100), math.random(100), tostring(math.random())}",
    "math.randomseed(42) return {math.random(), math.random(10, 20)}",
]


def test_libraries(sdiff):
    for script in LIBRARIES:
        sdiff.run("EVAL", script, 0)


# ---- SCRIPT ----

def test_script_subcommands(sdiff):
    one = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
    for args in (("SCRIPT", "LOAD", "return 1"), ("SCRIPT", "LOAD", "return 1 +"),
                 ("SCRIPT", "LOAD", "#!lua flags=bad\nreturn 1"),
                 ("SCRIPT", "EXISTS", one, "abc", one.upper()), ("EVALSHA", one.upper(), 0),
                 ("SCRIPT", "FLUSH", "ASYNC"), ("SCRIPT", "EXISTS", one), ("EVAL", "return 1", 0),
                 ("SCRIPT", "EXISTS", one), ("SCRIPT", "FLUSH", "SYNC"), ("SCRIPT", "FLUSH", "foo"),
                 ("SCRIPT", "FLUSH", "sync", "async"), ("SCRIPT", "FLUSH"), ("SCRIPT", "KILL"),
                 ("SCRIPT", "KILL", "x"), ("SCRIPT", "HELP"), ("SCRIPT", "foo"),
                 ("SCRIPT", "EXISTS"), ("SCRIPT", "DEBUG", "no"), ("SCRIPT", "DEBUG", "foo"),
                 ("SCRIPT",), ("EVAL",), ("FCALL", "f")):
        sdiff.run(*args)


def test_scripts_in_transactions(sdiff):
    sdiff.run("MULTI")
    sdiff.run("EVAL", "return redis.call('incr', 'c')", 0)
    sdiff.run("EVAL", "return redis.call('nosuch')", 0)
    sdiff.run("EVALSHA", "fff", 0)
    sdiff.run("EXEC")
    sdiff.run("WATCH", "w")
    sdiff.run("EVAL", "return redis.call('set', 'w', 1)", 0)
    sdiff.run("MULTI")
    sdiff.run("PING")
    sdiff.run("EXEC")


# ---- Functions ----

FUNCTION_CASES = [
    "return 1", "#!lua\nreturn 1", "#!lua name=\nreturn 1", "#!lua name=a-b\nreturn 1",
    "#!lua name=ok foo=bar\nreturn 1", "#!lua name=ok name=ok2\nreturn 1",
    "#!python name=ok\nreturn 1", "#!python name=\nreturn 1", "#!lua name=ok",
    "#!lua name=ok\nreturn 1", "#!\nreturn 1", "#!lua\n", "#!", "",
    "#!lua name=ok\nredis.register_function('a-b', function() end)",
    "#!lua name=ok\nredis.register_function('', function() end)",
    "#!lua name=ok\nredis.register_function('f', 1)",
    "#!lua name=ok\nredis.register_function('f')",
    "#!lua name=ok\nredis.register_function()",
    "#!lua name=ok\nredis.register_function('f', function() end, 'x')",
    "#!lua name=ok\nredis.register_function{function_name='f', callback=function() end, "
    "flags={'bad'}}",
    "#!lua name=ok\nredis.register_function{function_name='f', callback=function() end, "
    "flags='no-writes'}",
    "#!lua name=ok\nredis.register_function{function_name='f2', callback=function() end, foo=1}",
    "#!lua name=ok\nredis.register_function{function_name='f3'}",
    "#!lua name=ok\nredis.register_function{callback=function() end}",
    "#!lua name=ok\nredis.register_function{function_name='f4', callback=5}",
    "#!lua name=ok\nredis.register_function{function_name='f5', callback=function() end, "
    "flags={1}}",
    "#!lua name=ok\nredis.register_function{function_name='f5c', callback=function() end, "
    "description={}}",
    "#!lua name=ok\nredis.register_function{[1]='x', function_name='f5d', "
    "callback=function() end}",
    "#!lua name=ok\nredis.register_function('g', function() end) "
    "redis.register_function('g', function() end)",
    "#!lua name=ok\nredis.register_function({}, function() end)",
    "#!lua name=ok\nredis.call('ping')", "#!lua name=ok\nreturn redis.setresp(3)",
    "#!lua name=ok\nlocal x = redis.REDIS_VERSION redis.log(redis.LOG_WARNING, 'x')",
    "#!lua name=ok\nx = 1", "#!lua name=ok\nreturn y", "#!lua name=ok\nerror('boom')",
    "#!lua name=ok\nreturn 1 +", "#!lua name=ok\nreturn math.random()",
    "#!lua name=ok\nreturn cjson.encode({1})", "#!lua name=ok\nlocal x = _G",
    "#!lua name=ok\nlocal x = redis.call", "#!lua name=ok\nredis.foo = 1",
    "#!lua name=ok\nwhile true do end",
]


def test_function_load_errors(sdiff):
    for code in FUNCTION_CASES:
        sdiff.run("FUNCTION", "LOAD", code, timeout=5.0)
    sdiff.run("FUNCTION", "LOAD", "FOO", "#!lua name=ok\nredis.register_function('f', "
              "function() end)")


LIBRARY = """#!lua name=lib1
local function helper() return 5 end
redis.register_function{function_name='g', callback=function(k, a)
  return redis.call('set', 'x', 'y') end, flags={'no-writes', 'allow-oom'}, description='desc'}
redis.register_function('h', function(k, a) return {k[1], a[1], helper() + #a} end)
redis.register_function('e', function(k, a) error('inside') end)
redis.register_function('u', function(k, a) return redis.call('nosuch') end)
redis.register_function('v', function(k, a) return KEYS end)
redis.register_function('w', function(k, a) return type(redis.register_function) end)
redis.register_function('r', function(k, a) return redis.call('get', k[1]) end)
"""


def _sorted_function_list(args, rk: Frame, rd: Frame):
    """FUNCTION LIST: libraries and each library's functions in a canonical order."""
    def sort_functions(lib: Frame) -> Frame:
        if lib.kind == "%":
            return Frame("%", [(k, Frame(v.kind, sorted(v.value, key=encode)))
                               if k.value == b"functions" else (k, v) for k, v in lib.value])
        if lib.kind == "*" and lib.value:
            items = list(lib.value)
            for i in range(0, len(items) - 1, 2):
                if items[i].value == b"functions":
                    items[i + 1] = Frame("*", sorted(items[i + 1].value, key=encode))
            return Frame("*", items)
        return lib

    def shape(f: Frame) -> Frame:
        if f.kind == "*" and f.value:
            return Frame("*", sorted((sort_functions(x) for x in f.value), key=encode))
        return f
    return shape(rk), shape(rd)


def test_functions(sdiff):
    sdiff.normalizers[(b"FUNCTION", b"LIST")] = _sorted_function_list
    sdiff.run("FUNCTION", "LOAD", LIBRARY)
    for args in (("FCALL", "g", 0), ("FCALL_RO", "g", 0), ("FCALL", "h", 1, "kk", "aa", "bb"),
                 ("FCALL", "H", 0), ("FCALL_RO", "h", 0), ("FCALL", "e", 0), ("FCALL", "u", 0),
                 ("FCALL", "v", 0), ("FCALL", "w", 0), ("FCALL", "r", 1, "x"),
                 ("FCALL_RO", "r", 1, "x"), ("FCALL", "nof", 0), ("FCALL", "nof", "x"),
                 ("FCALL", "h", "x"), ("FCALL", "h", "99999999999999999999"), ("FCALL", "h", -1),
                 ("FCALL", "h", 5), ("FUNCTION", "STATS"),
                 ("FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "lib*"),
                 ("FUNCTION", "LIST", "LIBRARYNAME", "x*"), ("FUNCTION", "LIST", "LIBRARYNAME"),
                 ("FUNCTION", "LIST", "WITHCODE", "WITHCODE"), ("FUNCTION", "LIST", "foo"),
                 ("FUNCTION", "LOAD", LIBRARY), ("FUNCTION", "DUMP"), ("FUNCTION", "KILL"),
                 ("FUNCTION", "HELP"), ("FUNCTION", "DELETE", "nosuch"),
                 ("FUNCTION", "FLUSH", "BAD"), ("FUNCTION", "RESTORE", "garbage"),
                 ("FUNCTION", "RESTORE", "garbage", "FOO"),
                 ("FUNCTION", "LOAD", "#!lua name=other\nredis.register_function('h', "
                  "function() end)"),
                 ("FUNCTION", "LOAD", "REPLACE", "#!lua name=lib1\nredis.register_function("
                  "'h', function() return 2 end)"),
                 ("FCALL", "h", 0), ("FCALL", "g", 0), ("FUNCTION", "DELETE", "lib1"),
                 ("FCALL", "h", 0), ("FUNCTION", "STATS")):
        sdiff.run(*args)
    sdiff.run("HELLO", "3")
    sdiff.run("FUNCTION", "LOAD", LIBRARY)
    sdiff.run("FUNCTION", "LIST")
    sdiff.run("FUNCTION", "STATS")


def test_function_dump_restore(sdiff):
    sdiff.normalizers[(b"FUNCTION", b"LIST")] = _sorted_function_list
    long_code = ("#!lua name=long\nredis.register_function('fff', function(k, a) return '"
                 + "a" * 200 + "' .. 'b' .. '" + "ab" * 50 + "' end)")
    sdiff.run("FUNCTION", "LOAD", long_code)
    dump = sdiff.run("FUNCTION", "DUMP").value      # byte-identical (LZF included)
    sdiff.run("FUNCTION", "RESTORE", dump)
    sdiff.run("FUNCTION", "RESTORE", dump, "REPLACE")
    sdiff.run("FUNCTION", "LOAD", LIBRARY)
    sdiff.run("FUNCTION", "RESTORE", dump, "FLUSH")
    sdiff.run("FUNCTION", "LIST", )
    sdiff.run("FCALL", "fff", 0)
    sdiff.run("FUNCTION", "RESTORE", dump[:-1] + bytes([dump[-1] ^ 1]))
    sdiff.run("FUNCTION", "RESTORE", dump[:-10])
    sdiff.run("FUNCTION", "FLUSH")
    sdiff.run("FUNCTION", "LOAD", LIBRARY)
    sdiff.run("FUNCTION", "LOAD", "#!lua name=two\nredis.register_function('t', function() "
              "return 2 end)")
    sdiff.run("FUNCTION", "LIST", "WITHCODE", )
    sdiff.run("FUNCTION", "STATS")
    both = sdiff.run("FUNCTION", "DUMP", check=False)
    # both payloads restore on both servers (order of libraries may differ)
    for payload in both:
        sdiff.run("FUNCTION", "FLUSH")
        sdiff.run("FUNCTION", "RESTORE", _bulk_payload(payload))
        sdiff.run("FUNCTION", "LIST", )


def _bulk_payload(raw: bytes) -> bytes:
    header, _, rest = raw.partition(b"\r\n")
    return rest[:int(header[1:])]


# ---- Busy scripts ----

BUSY_PROBES = [("PING",), ("GET", "x"), ("SCRIPT", "LOAD", "return 1"), ("FUNCTION", "KILL"),
               ("FUNCTION", "STATS"), ("SHUTDOWN",), ("SHUTDOWN", "SAVE"), ("CLIENT", "LIST"),
               ("SCRIPT", "FLUSH"), ("INFO", "server"), ("NOSUCH",), ("GET",), ("MULTI",),
               ("SET", "a", "b"), ("EXEC",)]


@pytest.fixture
def fast_busy(sdiff):
    sdiff.run("CONFIG", "SET", "busy-reply-threshold", "200")
    yield sdiff
    sdiff.run("CONFIG", "SET", "busy-reply-threshold", "5000")


def _start(pair: DiffPair, *args) -> None:
    from support.resp import encode_command
    data = encode_command(*args)
    pair.rk.send_raw(data)
    pair.rd.send_raw(data)


def _wait_busy(pair: DiffPair) -> None:
    """Poll (with a deadline) until both servers answer BUSY."""
    deadline = time.monotonic() + 10
    states = {}
    while time.monotonic() < deadline:
        for name, conn in (("rk", pair.rk), ("rd", pair.rd)):
            if not states.get(name):
                states[name] = conn.call("PING").startswith(b"-BUSY")
        if all(states.get(n) for n in ("rk", "rd")):
            return
        time.sleep(0.05)
    raise AssertionError(f"servers did not become busy: {states}")


def test_endless_script_busy_and_kill(fast_busy):
    runner = fast_busy.other()
    try:
        _start(runner, "EVAL", "while true do end", 0)
        _wait_busy(fast_busy)
        for args in BUSY_PROBES:
            fast_busy.run(*args)
        fast_busy.run("DISCARD")
        fast_busy.run("SCRIPT", "KILL")
        runner.read("EVAL (killed)", timeout=10)
        fast_busy.run("SCRIPT", "KILL")
        fast_busy.run("PING")
        runner.run("PING")
    finally:
        runner.close()


def test_function_busy_and_kill(fast_busy):
    fast_busy.run("FUNCTION", "LOAD", "#!lua name=spin\nredis.register_function('spin', "
                  "function(k, a) while true do end end)")
    runner = fast_busy.other()
    try:
        _start(runner, "FCALL", "spin", 0)
        deadline = time.monotonic() + 10
        while not fast_busy.rk.call("PING").startswith(b"-BUSY") or \
                not fast_busy.rd.call("PING").startswith(b"-BUSY"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        fast_busy.run("PING")
        fast_busy.run("SCRIPT", "KILL")
        fast_busy.run("FUNCTION", "STATS", normalize=_stats_without_duration)
        fast_busy.run("FUNCTION", "KILL")
        runner.read("FCALL (killed)", timeout=10)
        fast_busy.run("FUNCTION", "KILL")
        fast_busy.run("PING")
    finally:
        runner.close()


def _stats_without_duration(args, rk: Frame, rd: Frame):
    def shape(f: Frame) -> Frame:
        if f.kind != "*" or not f.value or f.value[1].kind != "*":
            return f
        running = f.value[1]
        items = [Frame(":", 0) if i == 5 and x.kind == ":" else x
                 for i, x in enumerate(running.value)]
        return Frame("*", [f.value[0], Frame("*", items), *f.value[2:]])
    return shape(rk), shape(rd)


def test_unkillable_script_finishes(fast_busy):
    """A script that wrote can't be killed; it runs to its end (here ~1 s of TIME calls)."""
    script = ("redis.call('set', 'x', '1') local t = redis.call('time') local start = t[1] * 1000000 "
              "+ t[2] local now = start while now - start < 1000000 do t = redis.call('time') "
              "now = t[1] * 1000000 + t[2] end return redis.call('incr', 'x')")
    runner = fast_busy.other()
    try:
        _start(runner, "EVAL", script, 0)
        _wait_busy(fast_busy)
        fast_busy.run("SCRIPT", "KILL")
        fast_busy.run("FUNCTION", "KILL")
        fast_busy.run("GET", "x")
        runner.read("EVAL (finished)", timeout=10)
        fast_busy.run("GET", "x")
    finally:
        runner.close()


def test_pipeline_behind_a_busy_script_waits(fast_busy):
    runner = fast_busy.other()
    try:
        from support.resp import encode_command
        data = encode_command("EVAL", "while true do end", 0) + encode_command("SET", "after", "1")
        runner.rk.send_raw(data)
        runner.rd.send_raw(data)
        _wait_busy(fast_busy)
        fast_busy.run("GET", "after")
        fast_busy.run("SCRIPT", "KILL")
        runner.read("EVAL (killed)", timeout=10)
        runner.read("SET after", timeout=10)
        fast_busy.run("GET", "after")
    finally:
        runner.close()


def test_busy_threshold_zero_means_never_busy(sdiff):
    sdiff.run("CONFIG", "SET", "busy-reply-threshold", "0")
    try:
        sdiff.run("EVAL", "local i = 0 while i < 3000000 do i = i + 1 end return i", 0,
                  timeout=30)
    finally:
        sdiff.run("CONFIG", "SET", "busy-reply-threshold", "5000")


def test_many_clients_see_busy(fast_busy):
    runner = fast_busy.other()
    others = [fast_busy.other() for _ in range(5)]
    try:
        _start(runner, "EVAL", "while true do end", 0)
        _wait_busy(fast_busy)
        errors: list[BaseException] = []

        def probe(pair: DiffPair) -> None:
            try:
                for _ in range(5):
                    pair.run("GET", "k")
            except BaseException as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=probe, args=(p,)) for p in others]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors, errors[0]
        fast_busy.run("SCRIPT", "KILL")
        runner.read("EVAL (killed)", timeout=10)
    finally:
        runner.close()
        for p in others:
            p.close()


# ---- Odd texts, argument errors, MONITOR ----

def test_texts_with_newlines_and_nuls(sdiff):
    for script in ('error("a\\nb")', 'return {err="a\\nb"}', 'return redis.error_reply("a\\nb")',
                   'return redis.status_reply("a\\nb")', 'return redis.call("get", "a\\0b")',
                   'return "a\\0b"', 'error("a\\0b")', 'return redis.error_reply("a\\0b")',
                   'return {err="E\\0b"}', 'return redis.sha1hex("a\\0b")',
                   'return cjson.decode("[1]\\0 x")', 'return cjson.encode("a\\0b")'):
        sdiff.run("EVAL", script, 0)


def test_subcommand_argument_errors(sdiff):
    for args in (("FUNCTION", "FLUSH", "a", "b"), ("FUNCTION", "FLUSH", "async"),
                 ("FUNCTION", "RESTORE", "x", "y", "z"), ("SCRIPT", "FLUSH", "a", "b", "c"),
                 ("FUNCTION", "LIST", "LIBRARYNAME", "a", "LIBRARYNAME", "b"),
                 ("FUNCTION", "LIST", "withcode", "libraryname", "x", "withcode"),
                 ("FUNCTION", "LOAD", "REPLACE", "REPLACE",
                  '#!lua name=q\nredis.register_function("q", function() end)'),
                 ("FUNCTION", "LOAD", "REPLACE"), ("FUNCTION", "DELETE", "q"),
                 ("FUNCTION", "STATS", "x"), ("FUNCTION", "KILL", "x"), ("FUNCTION", "DUMP", "x"),
                 ("FUNCTION", "HELP", "x"), ("SCRIPT", "LOAD"), ("FUNCTION", "LOAD"),
                 ("FUNCTION", "DELETE")):
        sdiff.run(*args)


def _monitor_line(args, rk: Frame, rd: Frame):
    """+<time> [<db> <addr>] <command>: keep the db, the source kind and the command."""
    def shape(f: Frame) -> Frame:
        if f.kind != "+" or b"] " not in f.value:
            return f
        head, command = f.value.split(b"] ", 1)
        db, addr = head.split(b"[", 1)[1].split(b" ", 1)
        return Frame("+", b"[%s %s] %s" % (db, b"lua" if addr == b"lua" else b"client", command))
    return shape(rk), shape(rd)


def test_monitor_shows_scripts_and_their_commands(sdiff):
    watcher = sdiff.other()
    try:
        watcher.run("MONITOR")
        commands = [("EVAL", "return 1", "x"), ("EVALSHA", "fff", 0),
                    ("EVAL", "return redis.call('set', 'mk', 'v')", 0),
                    ("EVAL", "return redis.pcall('nosuch')", 0), ("FCALL", "nof", 0), ("PING",)]
        for args in commands:
            sdiff.run(*args)
        for i in range(len(commands) + 1):
            watcher.read(f"monitor line {i + 1}", normalize=_monitor_line)
    finally:
        watcher.close()


# ---- Random return values (Hypothesis) ----

_NAMES = st.text(alphabet="abcdefgh", min_size=1, max_size=3)
_STRINGS = st.text(alphabet="abcXYZ 019_-:.*", max_size=8).map(lambda t: "'" + t + "'")
_NUMBERS = st.one_of(st.integers(-2 ** 62, 2 ** 62).map(str),
                     st.floats(allow_nan=False, allow_infinity=False).map(lambda f: "%.17g" % f))
_LEAVES = st.one_of(_NUMBERS, _STRINGS,
                    st.sampled_from(["true", "false", "nil", "0/0", "1/0", "-1/0", "2^63"]))


def _tables(children):
    entries = st.dictionaries(_NAMES, children, max_size=4)
    return st.one_of(
        st.lists(children, max_size=5).map(lambda xs: "{" + ", ".join(xs) + "}"),
        _STRINGS.map(lambda x: "{ok=" + x + "}"),
        _STRINGS.map(lambda x: "{err=" + x + "}"),
        _LEAVES.map(lambda x: "{double=" + x + "}"),
        _STRINGS.map(lambda x: "{big_number=" + x + "}"),
        entries.map(lambda d: "{map={" + ", ".join(f"{k}={v}" for k, v in d.items()) + "}}"),
        st.lists(_NAMES, max_size=4).map(
            lambda ks: "{set={" + ", ".join(f"{k}=true" for k in ks) + "}}"),
        st.tuples(st.lists(children, max_size=3), entries).map(
            lambda t: "{" + ", ".join(t[0] + [f"{k}={v}" for k, v in t[1].items()]) + "}"),
    )


LUA_VALUES = st.recursive(_LEAVES, _tables, max_leaves=25)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=LUA_VALUES, protocol=st.sampled_from([2, 3]), setresp=st.booleans())
def test_random_return_values(server_pair, value, protocol, setresp):
    with DiffPair(server_pair.redkeep.port, server_pair.redis.port) as pair:
        if protocol == 3:
            pair.run("HELLO", "3")
        prefix = "redis.setresp(3) " if setresp else ""
        pair.run("EVAL", prefix + "return " + value, 0)


# ---- Error statistics ----

def _stats_lines(args, rk: Frame, rd: Frame):
    """INFO errorstats/commandstats: the counters, without timings and INFO/CONFIG."""
    import re

    def shape(f: Frame) -> Frame:
        if f.kind not in "$=" or f.value is None:
            return f
        lines = []
        for line in f.value.removeprefix(b"txt:").split(b"\r\n"):
            if line.startswith((b"cmdstat_info", b"cmdstat_config")) or not line \
                    or line.startswith(b"#"):
                continue
            lines.append(re.sub(rb"usec=\d+,usec_per_call=[\d.]+,", b"", line))
        return Frame("$", b"\n".join(sorted(lines)))
    return shape(rk), shape(rd)


def test_error_statistics(sdiff):
    for script in ("return redis.call('nosuch')", "return redis.call('set','a')",
                   "return redis.call('set','a','b','c')", "return redis.pcall('nosuch')",
                   "return {1, {err='E'}, {err='X y'}}", "return {err='x\\r\\ny'}",
                   "return redis.error_reply(' x')", "error('boom')", "error({err='MY boom'})",
                   "return redis.call('eval', 'return 1', 0)", "return redis.call('get', 'k')",
                   "local r = redis.pcall('incr', 'str') return 1"):
        sdiff.run("CONFIG", "RESETSTAT")
        sdiff.run("SET", "str", "abc")
        sdiff.run("EVAL", script, 0)
        sdiff.run("INFO", "errorstats", normalize=_stats_lines)
        sdiff.run("INFO", "commandstats", normalize=_stats_lines)
    sdiff.run("EVAL_RO", "return redis.call('set', 'a', 'b')", 0)
    sdiff.run("INFO", "errorstats", normalize=_stats_lines)
    sdiff.run("INFO", "commandstats", normalize=_stats_lines)


# ---- maxmemory ----

def test_scripts_under_oom(sdiff):
    sdiff.run("SET", "k", "v")
    sdiff.run("FUNCTION", "LOAD", "#!lua name=m\n"
              "redis.register_function{function_name='m', callback=function() "
              "return redis.call('set','q','1') end}\n"
              "redis.register_function{function_name='n', callback=function() return 1 end, "
              "flags={'no-writes'}}\n"
              "redis.register_function{function_name='o', callback=function() "
              "return redis.call('set','q','1') end, flags={'allow-oom'}}")
    sdiff.run("CONFIG", "SET", "maxmemory", "1")
    try:
        for args in (("EVAL", "return redis.call('set','a','b')", 0),
                     ("EVAL", "return redis.call('get','k')", 0),
                     ("EVAL", "redis.call('del','zz') return redis.call('set','a','b')", 0),
                     ("EVAL", "#!lua\nreturn redis.call('get','k')", 0),
                     ("EVAL", "#!lua flags=no-writes\nreturn redis.call('get','k')", 0),
                     ("EVAL", "#!lua flags=allow-oom\nreturn redis.call('set','a','b')", 0),
                     ("EVAL_RO", "return redis.call('get','k')", 0),
                     ("FUNCTION", "LOAD", "#!lua name=x\nredis.register_function('x', "
                      "function() return 1 end)"),
                     ("FCALL", "m", 0), ("FCALL", "n", 0), ("FCALL", "o", 0),
                     ("FCALL_RO", "n", 0)):
            sdiff.run(*args)
    finally:
        sdiff.run("CONFIG", "SET", "maxmemory", "0")


# ---- Random commands through redis.pcall (Hypothesis) ----

_KEYS = st.sampled_from(["s", "h", "l", "z", "n"])
_VALS = st.one_of(st.sampled_from(["1", "-2", "3.5", "abc", "", "1e3", "inf"]),
                  st.text(alphabet="ab12", max_size=3))
_COMMANDS = st.one_of(
    st.tuples(st.just("SET"), _KEYS, _VALS), st.tuples(st.just("GET"), _KEYS),
    st.tuples(st.just("INCR"), _KEYS), st.tuples(st.just("INCRBYFLOAT"), _KEYS, _VALS),
    st.tuples(st.just("APPEND"), _KEYS, _VALS), st.tuples(st.just("MGET"), _KEYS, _KEYS),
    st.tuples(st.just("HSET"), _KEYS, _VALS, _VALS), st.tuples(st.just("HGETALL"), _KEYS),
    st.tuples(st.just("HGET"), _KEYS, _VALS), st.tuples(st.just("HINCRBYFLOAT"), _KEYS, _VALS, _VALS),
    st.tuples(st.just("RPUSH"), _KEYS, _VALS, _VALS), st.tuples(st.just("LRANGE"), _KEYS,
                                                                st.just("0"), st.just("-1")),
    st.tuples(st.just("LPOP"), _KEYS), st.tuples(st.just("ZADD"), _KEYS, _VALS, _VALS),
    st.tuples(st.just("ZRANGE"), _KEYS, st.just("0"), st.just("-1"), st.just("WITHSCORES")),
    st.tuples(st.just("ZSCORE"), _KEYS, _VALS), st.tuples(st.just("ZINCRBY"), _KEYS, _VALS, _VALS),
    st.tuples(st.just("TYPE"), _KEYS), st.tuples(st.just("EXISTS"), _KEYS, _KEYS),
    st.tuples(st.just("DEL"), _KEYS), st.tuples(st.just("STRLEN"), _KEYS),
    st.tuples(st.just("PING"),), st.tuples(st.just("ECHO"), _VALS),
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(commands=st.lists(st.tuples(_COMMANDS, st.booleans()), min_size=1, max_size=12),
       protocol=st.sampled_from([2, 3]))
def test_random_commands_through_pcall(server_pair, commands, protocol):
    with DiffPair(server_pair.redkeep.port, server_pair.redis.port) as pair:
        pair.run("FLUSHALL")
        if protocol == 3:
            pair.run("HELLO", "3")
        for command, resp3 in commands:
            script = ("redis.setresp(3) " if resp3 else "") + "return redis.pcall(unpack(ARGV))"
            pair.run("EVAL", script, 0, *command)
