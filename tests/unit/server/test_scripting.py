"""Unit tests for Lua scripting (server/scripting.py, commands/scripting.py): a Server with
a ManualClock, commands through `Server.execute`, replies encoded to raw RESP.

The expected replies were taken from real redis-server 7.0.15 (the differential tests in
tests/interop/test_differential_scripting.py check the same ground against it live).
Without a node the scripts run inline, so nothing here needs threads or sockets.
"""

from __future__ import annotations

import pytest

from redkeep.clock import ManualClock
from redkeep.resp.encoder import encode
from redkeep.server import scripting as sc
from redkeep.server.config import ServerConfig
from redkeep.server.server import Server

NOW = 1_700_000_000_000


class Harness:
    def __init__(self, **config) -> None:
        cfg = ServerConfig()
        for k, v in config.items():
            setattr(cfg, k, v)
        self.clock = ManualClock(wall_ms=NOW)
        self.server = Server(cfg, self.clock)
        self.client = self.server.new_client()

    def raw(self, *args, resp: int | None = None, client=None) -> bytes:
        c = client or self.client
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        return encode(self.server.execute(c, argv), resp or c.resp)

    def eval(self, script: str | bytes, *args, resp: int | None = None) -> bytes:
        body = script if isinstance(script, bytes) else script.encode()
        nkeys = args[0] if args else 0
        return self.raw("EVAL", body, nkeys, *args[1:], resp=resp)


@pytest.fixture
def h() -> Harness:
    return Harness()


def sha(body: str) -> str:
    return sc.sha1hex(body.encode()).decode()


# ---- Lua -> RESP conversion ----

CONVERSIONS = [
    ("return 1", b":1\r\n"),
    ("return 3.99", b":3\r\n"),
    ("return -0.5", b":0\r\n"),
    ("return 9007199254740993", b":9007199254740992\r\n"),
    ("return 1e20", b":-9223372036854775808\r\n"),
    ("return 0/0", b":-9223372036854775808\r\n"),
    ("return 'x'", b"$1\r\nx\r\n"),
    ("return ''", b"$0\r\n\r\n"),
    ("return nil", b"$-1\r\n"),
    ("return true", b":1\r\n"),
    ("return false", b"$-1\r\n"),
    ("return {1,2,3,nil,4}", b"*3\r\n:1\r\n:2\r\n:3\r\n"),
    ("return {1.5, -2.7, 'x', true, false}", b"*5\r\n:1\r\n:-2\r\n$1\r\nx\r\n:1\r\n$-1\r\n"),
    ("return {a=1}", b"*0\r\n"),
    ("return {[1]='a', [2]='b', x='y'}", b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"),
    ("local t = {} t[1] = 1 t[3] = 3 return t", b"*1\r\n:1\r\n"),
    ("return {1, function() end, 3}", b"*3\r\n:1\r\n$-1\r\n:3\r\n"),
    ("return function() end", b"$-1\r\n"),
    ("return {1, {2, {3, 'x'}}, {ok='S'}, {err='E'}}",
     b"*4\r\n:1\r\n*2\r\n:2\r\n*2\r\n:3\r\n$1\r\nx\r\n+S\r\n-E\r\n"),
    ("return {err='BAD thing'}", b"-BAD thing\r\n"),
    ("return {err='x\\r\\ny'}", b"-x  y\r\n"),
    ("return {ok='x\\r\\ny'}", b"+x  y\r\n"),
    ("return {err=''}", b"-\r\n"),
    ("return {err=12}", b"*0\r\n"),
    ("return {err='x', ok='y'}", b"-x\r\n"),
    ("return redis.error_reply('BAD x')", b"-BAD x\r\n"),
    ("return redis.error_reply('noprefix')", b"-ERR noprefix\r\n"),
    ("return redis.error_reply('-')", b"-ERR \r\n"),
    ("return redis.error_reply(' x')", b"- x\r\n"),
    ("return redis.error_reply('-FOO')", b"-ERR FOO\r\n"),
    ("return redis.error_reply(12)", b"-ERR wrong number or type of arguments\r\n"),
    ("return redis.status_reply('FINE')", b"+FINE\r\n"),
    ("return redis.status_reply()", b"-ERR wrong number or type of arguments\r\n"),
    ("return {double=1.5}", b"$3\r\n1.5\r\n"),
    ("return {map={a=1}}", b"*2\r\n$1\r\na\r\n:1\r\n"),
    ("return {set={a=true}}", b"*1\r\n$1\r\na\r\n"),
    ("return {big_number='123'}", b"$3\r\n123\r\n"),
]


@pytest.mark.parametrize("script,expected", CONVERSIONS)
def test_lua_to_resp2(h, script, expected):
    assert h.eval(script) == expected


RESP3_CONVERSIONS = [
    ("return true", b":1\r\n"),
    ("return false", b"_\r\n"),
    ("redis.setresp(3) return true", b"#t\r\n"),
    ("redis.setresp(3) return false", b"#f\r\n"),
    ("return {double=1.5}", b",1.5\r\n"),
    ("return {double=1/0}", b",inf\r\n"),
    ("return {double=0/0}", b",-nan\r\n"),
    ("return {double=1e300}", b",1.0000000000000001e+300\r\n"),
    ("return {big_number='12\\r\\n3'}", b"(12  3\r\n"),
    ("return {verbatim_string={format='txt', string='hello'}}", b"=9\r\ntxt:hello\r\n"),
    ("return {verbatim_string={format='markdown', string='hello'}}", b"=9\r\nmar:hello\r\n"),
    ("return {map={a=1}}", b"%1\r\n$1\r\na\r\n:1\r\n"),
    ("return {set={a=true, b=false}}", b"~2\r\n$1\r\na\r\n$1\r\nb\r\n"),
    ("return {1, {map={a=true}}, {set={x=1}}, {double=0.1}}",
     b"*4\r\n:1\r\n%1\r\n$1\r\na\r\n:1\r\n~1\r\n$1\r\nx\r\n,0.10000000000000001\r\n"),
]


@pytest.mark.parametrize("script,expected", RESP3_CONVERSIONS)
def test_lua_to_resp3(h, script, expected):
    h.client.resp = 3
    assert h.eval(script) == expected


# ---- RESP -> Lua conversion (redis.call results) ----

def test_call_results_resp2(h):
    assert h.eval("return redis.call('set', 'k', 'v')") == b"+OK\r\n"
    assert h.eval("return type(redis.call('get', 'nokey'))") == b"$7\r\nboolean\r\n"
    assert h.eval("return redis.call('set', 'a', 1.5)") == b"+OK\r\n"
    assert h.raw("GET", "a") == b"$3\r\n1.5\r\n"
    assert h.eval("return redis.call('echo', 0.1)") == b"$19\r\n0.10000000000000001\r\n"
    assert h.eval("return redis.call('echo', 1e100)") == b"$6\r\n1e+100\r\n"
    assert h.eval("return redis.call('echo', 0/0)") == b"$4\r\n-nan\r\n"
    assert h.eval("return redis.call('echo', -1/0)") == b"$4\r\n-inf\r\n"
    h.raw("HSET", "h", "f", "1")
    assert h.eval("return redis.call('hgetall', 'h')") == b"*2\r\n$1\r\nf\r\n$1\r\n1\r\n"
    assert h.eval("return redis.pcall('lpush', 'h', 1)['err']") == \
        b"$65\r\nWRONGTYPE Operation against a key holding the wrong kind of value\r\n"


def test_call_results_resp3(h):
    h.raw("HSET", "h", "f", "1")
    assert h.eval("redis.setresp(3) return redis.call('hgetall', 'h').map.f") == b"$1\r\n1\r\n"
    assert h.eval("redis.setresp(3) return redis.call('get', 'nokey')") == b"$-1\r\n"
    assert h.eval("redis.setresp(3) return {1, redis.call('get', 'nokey'), 2}") == b"*1\r\n:1\r\n"
    h.client.resp = 3
    assert h.eval("redis.setresp(3) return redis.call('hgetall', 'h')") == \
        b"%1\r\n$1\r\nf\r\n$1\r\n1\r\n"


# ---- Errors ----

def test_error_texts(h):
    s = "return redis.call('nosuch')"
    assert h.eval(s) == (b"-ERR Unknown Redis command called from script script: %s, on "
                         b"@user_script:1.\r\n" % sha(s).encode())
    s = "return redis.call('set','a')"
    assert h.eval(s) == (b"-ERR Wrong number of args calling Redis command from script script: "
                         b"%s, on @user_script:1.\r\n" % sha(s).encode())
    s = "\n\nlocal t = nil; return t.x"
    assert h.eval(s) == (b"-ERR user_script:3: attempt to index local 't' (a nil value) script: "
                         b"%s, on @user_script:3.\r\n" % sha(s).encode())
    s = "error({err='MY boom'})"
    assert h.eval(s) == b"-MY boom script: %s, on @user_script:1.\r\n" % sha(s).encode()
    s = "error()"
    assert h.eval(s) == b"-ERR nil script: %s, on @user_script:1.\r\n" % sha(s).encode()
    s = "error(12)"
    assert h.eval(s) == b"-ERR user_script:1: 12 script: %s, on @user_script:1.\r\n" % \
        sha(s).encode()
    s = "redis.call('incr', 'nokeyx') return redis.call('lpush', 'nokeyx', 1)"
    assert h.eval(s) == (b"-WRONGTYPE Operation against a key holding the wrong kind of value "
                         b"script: %s, on @user_script:1.\r\n" % sha(s).encode())
    assert h.eval("return redis.pcall('nosuch')") == \
        b"-ERR Unknown Redis command called from script\r\n"
    assert h.eval("return 'a' .. ") == (b"-ERR Error compiling script (new function): "
                                        b"user_script:1: unexpected symbol near '<eof>'\r\n")


def test_pcall_returns_error_text(h):
    assert h.eval("local ok, e = pcall(redis.call, 'nosuch') return e") == \
        b"$44\r\nERR Unknown Redis command called from script\r\n"
    assert h.eval("local ok, e = pcall(function() error({err='x'}) end) return e") == \
        b"$1\r\nx\r\n"
    assert h.eval("local ok, e = pcall(function() error('x') end) return e") == \
        b"$16\r\nuser_script:1: x\r\n"


def test_noscript_and_readonly(h):
    s = "return redis.call('eval', 'return 1', 0)"
    assert h.eval(s).startswith(b"-ERR This Redis command is not allowed from script script:")
    s = "return redis.call('set', 'a', 'b')"
    assert h.raw("EVAL_RO", s, 0) == (b"-ERR Write commands are not allowed from read-only "
                                      b"scripts. script: %s, on @user_script:1.\r\n"
                                      % sha(s).encode())
    assert h.raw("EVAL_RO", "return redis.call('get', 'a')", 0) == b"$-1\r\n"
    assert h.raw("EVAL_RO", "#!lua\nreturn 1", 0) == \
        b"-ERR Can not execute a script with write flag using *_ro command.\r\n"
    s = '#!lua flags=no-writes\nreturn redis.call("set","a","b")'
    assert h.eval(s) == (b"-ERR Write commands are not allowed from read-only scripts. script: "
                         b"%s, on @user_script:2.\r\n" % sha(s).encode())


def test_numkeys(h):
    assert h.raw("EVAL", "return 1", -1) == b"-ERR Number of keys can't be negative\r\n"
    assert h.raw("EVAL", "return 1", 2, "a") == \
        b"-ERR Number of keys can't be greater than number of args\r\n"
    assert h.raw("EVAL", "return 1", "x") == b"-ERR value is not an integer or out of range\r\n"
    assert h.raw("EVAL", "return {KEYS[1], ARGV[1], ARGV[2]}", 1, "k", "a1", "a2") == \
        b"*3\r\n$1\r\nk\r\n$2\r\na1\r\n$2\r\na2\r\n"
    assert h.raw("EVALSHA", "fff", "x") == b"-NOSCRIPT No matching script. Please use EVAL.\r\n"


SHEBANGS = [
    ("#!lua\nreturn 1", b":1\r\n"),
    ("#!lua", b"-ERR Invalid script shebang\r\n"),
    ("#!\nreturn 1", b"-ERR Unexpected engine in script shebang: #!\r\n"),
    ("#!python\nreturn 1", b"-ERR Unexpected engine in script shebang: #!python\r\n"),
    ("#!lua flags=bad\nreturn 1", b"-ERR Unexpected flag in script shebang: bad\r\n"),
    ("#!lua flags=\nreturn 1", b":1\r\n"),
    ("#!lua name=x\nreturn 1", b"-ERR Unknown lua shebang option: name=x\r\n"),
    ('#!lua "flags=no-writes"\nreturn 1', b":1\r\n"),
    ("#!lua flags=no-writes,allow-oom,allow-stale,no-cluster,allow-cross-slot-keys\nreturn 1",
     b":1\r\n"),
]


@pytest.mark.parametrize("script,expected", SHEBANGS)
def test_shebang(h, script, expected):
    assert h.eval(script) == expected


# ---- Sandbox ----

def test_sandbox_no_os_io_or_loaders(h):
    for name in ("os", "io", "loadfile", "dofile", "require", "package", "debug", "print",
                 "getfenv", "setfenv", "newproxy", "module", "python"):
        s = f"return {name}"
        assert h.eval(s) == (
            b"-ERR user_script:1: Script attempted to access nonexistent global variable '%s' "
            b"script: %s, on @user_script:1.\r\n" % (name.encode(), sha(s).encode())), name


def test_sandbox_refuses_bytecode(h):
    assert h.eval("return loadstring(string.dump(function() return 1 end))") == b"$-1\r\n"
    assert h.eval("local f, e = loadstring(string.dump(function() return 1 end)) return e") == \
        b"$53\r\n[string \"\x1bLuaQ\"]:1: unexpected symbol near 'char(27)'\r\n"
    s = "local d = string.dump(function() return 1 end) return load(function() " \
        "local x = d d = nil return x end)"
    assert h.eval(s) == b"$-1\r\n"
    assert h.raw("EVAL", b"\x1bLuaQ", 0).startswith(b"-ERR Error compiling script")
    assert h.eval("return loadstring('return 1')()") == b":1\r\n"


def test_sandbox_globals_do_not_leak(h):
    s = "x = 1"
    assert h.eval(s) == (b"-ERR user_script:1: Attempt to modify a readonly table script: "
                         b"%s, on @user_script:1.\r\n" % sha(s).encode())
    s = "rawset(_G, 'gg', 5) return 1"
    assert h.eval(s) == (b"-ERR Attempt to modify a readonly table script: %s, on "
                         b"@user_script:1.\r\n" % sha(s).encode())
    for s in ("string.x = 1", "redis.call = nil", "getmetatable('').__index.upper = nil",
              "KEYS = {}", "_G.x = 1", "getmetatable(_G).__index = nil"):
        assert b"Attempt to modify a readonly table" in h.eval(s), s
    for s in ("table.insert(string, 1)", "setmetatable(_G, {})", "rawset(cjson, 'x', 1)",
              "table.sort(redis)", "return loadstring('y = 1')()",
              "local co = coroutine.create(function() z = 1 end) "
              "local ok, e = coroutine.resume(co) error(e)"):
        assert b"Attempt to modify a readonly table" in h.eval(s), s
    # nothing of the above is visible to another script
    for name in ("x", "gg", "y", "z"):
        assert b"nonexistent global variable" in h.eval(f"return {name}")
    assert h.eval("return string.x") == b"$-1\r\n"
    assert h.eval("return type(string.upper)") == b"$8\r\nfunction\r\n"
    assert h.eval("return type(redis.call)") == b"$8\r\nfunction\r\n"
    assert h.eval("return rawget(string, 1)") == b"$-1\r\n"
    # what scripts may do: local state, their own tables, KEYS/ARGV contents
    assert h.eval("local t = {} t.x = 1 setmetatable(t, {}) rawset(t, 'y', 2) return t.x + t.y") \
        == b":3\r\n"
    assert h.eval("KEYS[1] = 'x' return KEYS[1]") == b"$1\r\nx\r\n"


def test_sandbox_global_table_shape(h):
    h.eval("return 1")
    assert h.eval("local n = 0 for k in pairs(_G) do n = n + 1 end return n") == b":35\r\n"
    assert h.eval("return rawequal(_G, _G._G)") == b":1\r\n"
    assert h.eval("return rawget(_G, 'string') == string") == b":1\r\n"
    assert h.eval("return getmetatable('').__index == string") == b":1\r\n"
    assert h.eval("return type(getmetatable(_G).__index)") == b"$8\r\nfunction\r\n"
    assert h.eval("return getmetatable(string)") == b"$-1\r\n"
    assert h.eval("return _VERSION") == b"$7\r\nLua 5.1\r\n"


def test_python_objects_are_not_reachable(h):
    # every library function is a Lua closure: no Python attributes to walk
    assert h.eval("return type(cjson.encode)") == b"$8\r\nfunction\r\n"
    assert h.eval("return type(bit.band)") == b"$8\r\nfunction\r\n"
    assert b"nonexistent global" in h.eval("return python.eval('1')")


# ---- redis.* API ----

def test_redis_api(h):
    assert h.eval("return redis.sha1hex('')") == b"$40\r\nda39a3ee5e6b4b0d3255bfef95601890afd80709\r\n"
    assert h.eval("return redis.sha1hex(1)") == b"$40\r\n356a192b7913b04c54574d18c28d46e6395428ab\r\n"
    assert h.eval("return redis.sha1hex({})") == b"$40\r\nda39a3ee5e6b4b0d3255bfef95601890afd80709\r\n"
    assert h.eval("return redis.REDIS_VERSION") == b"$6\r\n7.0.15\r\n"
    assert h.eval("return redis.REDIS_VERSION_NUM") == b":458767\r\n"
    assert h.eval("return {redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, "
                  "redis.REPL_ALL, redis.LOG_DEBUG, redis.LOG_WARNING}") == \
        b"*7\r\n:0\r\n:1\r\n:2\r\n:2\r\n:3\r\n:0\r\n:3\r\n"
    assert h.eval("return redis.set_repl(redis.REPL_ALL)") == b"$-1\r\n"
    assert h.eval("return redis.replicate_commands()") == b":1\r\n"
    assert h.eval("return redis.breakpoint()") == b"$-1\r\n"
    assert h.eval("return redis.acl_check_cmd('get', 'x')") == b":1\r\n"
    assert h.eval("return redis.log(redis.LOG_WARNING, 'hi')") == b"$-1\r\n"
    for s, text in (("return redis.log(10, 'hi')", b"Invalid debug level."),
                    ("return redis.log(1)", b"redis.log() requires two arguments or more."),
                    ("return redis.log('x', 'y')", b"First argument must be a number (log level)."),
                    ("return redis.setresp(4)", b"RESP version must be 2 or 3."),
                    ("return redis.setresp()", b"redis.setresp() requires one argument."),
                    ("return redis.set_repl(99)", b"Invalid replication flags. Use REPL_AOF, "
                     b"REPL_REPLICA, REPL_ALL or REPL_NONE."),
                    ("return redis.sha1hex()", b"wrong number of arguments"),
                    ("return redis.call()",
                     b"Please specify at least one argument for this redis lib call"),
                    ("return redis.call('get', {})",
                     b"Lua redis lib command arguments must be strings or integers"),
                    ("return redis.acl_check_cmd('nosuch')",
                     b"Invalid command passed to redis.acl_check_cmd()")):
        assert h.eval(s) == b"-ERR %s script: %s, on @user_script:1.\r\n" % (text, sha(s).encode())


def test_redis_log_goes_to_the_log(h):
    lines = []

    class Log:
        def log(self, level, msg):
            lines.append((level, msg))

        def warning(self, msg):
            lines.append((3, msg))

    h.server.log = Log()
    h.eval("redis.log(redis.LOG_NOTICE, 'a', 1, {}, 'b')")
    h.eval("redis.log(redis.LOG_WARNING, {}, 'c')")
    assert lines == [(2, "a 1 b"), (3, " c")]


def test_math_random_is_rand48(h):
    assert h.eval("math.randomseed(0) return {math.random(100), math.random(100), "
                  "tostring(math.random())}") == \
        b"*3\r\n:18\r\n:75\r\n$16\r\n0.09637165539729\r\n"
    s = "return math.random(0)"
    assert h.eval(s) == (b"-ERR user_script:1: bad argument #1 to 'random' (interval is empty) "
                         b"script: %s, on @user_script:1.\r\n" % sha(s).encode())


def test_select_in_script_does_not_change_caller_db(h):
    assert h.eval("redis.call('select', 5) return redis.call('set', 'k', 'v')") == b"+OK\r\n"
    assert h.raw("EXISTS", "k") == b":0\r\n"
    assert h.raw("SELECT", 5) == b"+OK\r\n"
    assert h.raw("GET", "k") == b"$1\r\nv\r\n"


def test_expiry_frozen_at_script_start(h):
    h.raw("SET", "k", "v", "PX", 10)
    # the script sees the key although time moves on while it runs
    h.server.scripting = sc.scripting_of(h.server)
    real_call = h.server.call

    def slow_call(c, cmd, argv):
        if c.kind == "lua":
            h.clock.advance(50)
        return real_call(c, cmd, argv)

    h.server.call = slow_call
    try:
        assert h.eval("redis.call('ping') return redis.call('get', 'k')") == b"$1\r\nv\r\n"
    finally:
        h.server.call = real_call
    assert h.raw("GET", "k") == b"$-1\r\n"


# ---- Libraries ----

LIBS = [
    ("return cjson.encode({1,2,{a=1}})", b'$13\r\n[1,2,{"a":1}]\r\n'),
    ("return cjson.encode({[1]=1, [3]=3})", b"$10\r\n[1,null,3]\r\n"),
    ("return cjson.encode({1, a=2})", b'$13\r\n{"1":1,"a":2}\r\n'),
    ("return cjson.encode({})", b"$2\r\n{}\r\n"),
    ("return cjson.encode('a/b\"\\n\\1\\127\\200')", b'$23\r\n"a\\/b\\"\\n\\u0001\\u007f\xc8"\r\n'),
    ("return cjson.encode(0.1)", b"$3\r\n0.1\r\n"),
    ("return cjson.encode(123456789012)", b"$12\r\n123456789012\r\n"),
    ("return cjson.encode({true, false, cjson.null})", b"$17\r\n[true,false,null]\r\n"),
    ("return cjson.decode('null') == cjson.null", b":1\r\n"),
    ("return type(cjson.decode('null'))", b"$8\r\nuserdata\r\n"),
    ("return cjson.decode('\"\\\\u00e9\\\\ud83d\\\\ude00\"')", b"$6\r\n\xc3\xa9\xf0\x9f\x98\x80\r\n"),
    ("return cjson.decode('[1.5e3, -0, 12345678901234567890]')",
     b"*3\r\n:1500\r\n:0\r\n:-9223372036854775808\r\n"),
    ("return cjson.decode(' {\"a\" : [1, {\"b\": true}]} ').a[2].b", b":1\r\n"),
    ("return cjson.decode('0x10')", b":16\r\n"),
    ("return cmsgpack.pack(1, -1, 200, -200, 70000, -70000, 5000000000, -5000000000, 1.5, 0.1, "
     "'abc', true, false, nil)",
     b"$56\r\n\x01\xff\xcc\xc8\xd1\xff8\xce\x00\x01\x11p\xd2\xff\xfe\xee\x90\xcf\x00\x00\x00"
     b"\x01*\x05\xf2\x00\xd3\xff\xff\xff\xfe\xd5\xfa\x0e\x00\xca?\xc0\x00\x00\xcb?\xb9\x99\x99"
     b"\x99\x99\x99\x9a\xa3abc\xc3\xc2\xc0\r\n"),
    ("return cmsgpack.pack(1/0, -1/0, 2^53, -2^63, 2^64)",
     b"$33\r\n\xca\x7f\x80\x00\x00\xca\xff\x80\x00\x00\xcf\x00 \x00\x00\x00\x00\x00\x00\xd3\x80"
     b"\x00\x00\x00\x00\x00\x00\x00\xca_\x80\x00\x00\r\n"),
    ("return {cmsgpack.unpack(cmsgpack.pack(1, 'a', {1,2}, {a=1}, 1.5))}",
     b"*5\r\n:1\r\n$1\r\na\r\n*2\r\n:1\r\n:2\r\n*0\r\n:1\r\n"),
    ("return cmsgpack.unpack('')", b"$-1\r\n"),
    ("return {bit.tobit(2^32+1), bit.tobit(-1), bit.tobit(1.5), bit.tobit(2.5), bit.tobit(-1.5)}",
     b"*5\r\n:1\r\n:-1\r\n:2\r\n:2\r\n:-2\r\n"),
    ("return {bit.band(0xff, 0x0f, 0x3), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.bnot(0), "
     "bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.rol(0x12345678, 8), "
     "bit.ror(0x12345678, 8), bit.bswap(0x12345678)}",
     b"*10\r\n:3\r\n:7\r\n:6\r\n:-1\r\n:-2147483648\r\n:15\r\n:-16\r\n:878082066\r\n"
     b":2014458966\r\n:2018915346\r\n"),
    ("return {bit.tohex(255), bit.tohex(-1), bit.tohex(255, 2), bit.tohex(255, -4)}",
     b"*4\r\n$8\r\n000000ff\r\n$8\r\nffffffff\r\n$2\r\nff\r\n$4\r\n00FF\r\n"),
    ("return bit.band('12')", b":12\r\n"),
    ("return bit.lshift(1, 33)", b":2\r\n"),
    ("return struct.pack('>I2', 258)", b"$2\r\n\x01\x02\r\n"),
    ("return {struct.unpack('<i4', struct.pack('<i4', -5))}", b"*2\r\n:-5\r\n:5\r\n"),
    ("return struct.size('>iI2b')", b":7\r\n"),
    ("return {struct.unpack('s', 'abc\\0def')}", b"*2\r\n$3\r\nabc\r\n:5\r\n"),
]


@pytest.mark.parametrize("script,expected", LIBS)
def test_libraries(h, script, expected):
    assert h.eval(script) == expected


LIB_ERRORS = [
    ("return cjson.decode('x')", b"user_script:1: Expected value but found invalid token at "
                                 b"character 1"),
    ("return cjson.decode('[1,')", b"user_script:1: Expected value but found T_END at character 4"),
    ("return cjson.decode('{\"a\":}')", b"user_script:1: Expected value but found T_OBJ_END at "
                                        b"character 6"),
    ("return cjson.decode('[1] x')", b"user_script:1: Expected the end but found invalid token "
                                     b"at character 5"),
    ("return cjson.decode('\"abc')", b"user_script:1: Expected value but found unexpected end of "
                                     b"string at character 5"),
    ("return cjson.decode()", b"user_script:1: bad argument #1 to 'decode' (expected 1 argument)"),
    ("return cjson.encode(function() end)", b"user_script:1: Cannot serialise function: type "
                                            b"not supported"),
    ("return cjson.encode({[true]=1})", b"user_script:1: Cannot serialise boolean: table key "
                                        b"must be a number or string"),
    ("return cjson.encode({[1]=1, [30]=3})", b"user_script:1: Cannot serialise table: "
                                             b"excessively sparse array"),
    ("return cjson.encode(1/0)", b"user_script:1: Cannot serialise number: must not be NaN or "
                                 b"Inf"),
    ("local t = {} t[1] = t return cjson.encode(t)", b"user_script:1: Cannot serialise, "
                                                     b"excessive nesting (1001)"),
    ("return cmsgpack.unpack('\\193')", b"user_script:1: Bad data format in input."),
    ("return cmsgpack.unpack('\\146\\1')", b"user_script:1: Missing bytes in input."),
    ("return cmsgpack.pack()", b"user_script:1: bad argument #0 to 'pack' (MessagePack pack "
                               b"needs input.)"),
    ("return bit.band()", b"user_script:1: bad argument #1 to 'band' (number expected, got no "
                          b"value)"),
    ("return bit.band('x')", b"user_script:1: bad argument #1 to 'band' (number expected, got "
                             b"string)"),
    ("return struct.pack('z', 'abc')", b"user_script:1: bad argument #1 to 'pack' (invalid "
                                       b"format option 'z')"),
]


@pytest.mark.parametrize("script,text", LIB_ERRORS)
def test_library_errors(h, script, text):
    assert h.eval(script) == b"-ERR %s script: %s, on @user_script:1.\r\n" % (
        text, sha(script).encode())


# ---- SCRIPT ----

def test_script_cache(h):
    one = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
    assert h.raw("EVALSHA", one, 0) == b"-NOSCRIPT No matching script. Please use EVAL.\r\n"
    assert h.raw("SCRIPT", "LOAD", "return 1") == b"$40\r\n%s\r\n" % one.encode()
    assert h.raw("SCRIPT", "EXISTS", one, "abc", one.upper()) == b"*3\r\n:1\r\n:0\r\n:1\r\n"
    assert h.raw("EVALSHA", one.upper(), 0) == b":1\r\n"
    assert h.raw("EVALSHA_RO", one, 0) == b":1\r\n"
    assert h.raw("SCRIPT", "FLUSH", "ASYNC") == b"+OK\r\n"
    assert h.raw("SCRIPT", "EXISTS", one) == b"*1\r\n:0\r\n"
    assert h.raw("EVAL", "return 1", 0) == b":1\r\n"     # EVAL caches too
    assert h.raw("SCRIPT", "EXISTS", one) == b"*1\r\n:1\r\n"
    assert h.raw("SCRIPT", "FLUSH", "foo") == b"-ERR SCRIPT FLUSH only support SYNC|ASYNC option\r\n"
    assert h.raw("SCRIPT", "KILL") == b"-NOTBUSY No scripts in execution right now.\r\n"
    assert h.raw("SCRIPT", "LOAD", "return 1 +") == (b"-ERR Error compiling script (new function): "
                                                     b"user_script:1: unexpected symbol near "
                                                     b"'<eof>'\r\n")
    assert h.raw("SCRIPT", "DEBUG", "no") == b"+OK\r\n"
    assert h.raw("SCRIPT", "DEBUG", "foo") == b"-ERR Use SCRIPT DEBUG YES/SYNC/NO\r\n"
    assert h.raw("SCRIPT", "HELP").startswith(b"*17\r\n+SCRIPT <subcommand>")


def test_script_kill_states(h):
    st = sc.scripting_of(h.server)
    other = h.server.new_client()
    run = sc.ScriptRun(st, other, "abc", True, False, False, False, [b"EVAL", b"x", b"0"])
    h.server.busy_script = run
    busy = b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"
    assert h.raw("PING") == busy
    assert h.raw("SHUTDOWN") == busy
    assert h.raw("FUNCTION", "KILL") == busy
    assert h.raw("FUNCTION", "STATS") == busy
    run.write_dirty = True
    assert h.raw("SCRIPT", "KILL").startswith(b"-UNKILLABLE Sorry the script already executed")
    run.write_dirty = False
    assert h.raw("SCRIPT", "KILL") == b"+OK\r\n"
    assert run.killed
    run.is_eval = False
    assert h.raw("SCRIPT", "KILL") == (b"-BUSY Redis is busy running a script. You can only call "
                                       b"FUNCTION KILL or SHUTDOWN NOSAVE.\r\n")
    h.server.busy_script = None
    assert h.raw("PING") == b"+PONG\r\n"


def test_killed_flag_stops_a_running_script():
    h = Harness()
    st = sc.scripting_of(h.server)
    calls = {"n": 0}
    real = st.hook_check

    def hook():
        calls["n"] += 1
        if calls["n"] == 3 and st.current is not None:
            st.current.killed = True
        return real()

    st.hook_check = hook
    s = "local ok = pcall(function() while true do end end) while true do end"
    assert h.eval(s) == (b"-ERR Script killed by user with SCRIPT KILL... script: %s, on "
                         b"@user_script:1.\r\n" % sha(s).encode())
    assert h.raw("PING") == b"+PONG\r\n"


# ---- Functions ----

LIB = "#!lua name=mylib\nredis.register_function('f1', function(k, a) return {k[1], a[1]} end)"


def test_function_load_call_list_delete(h):
    assert h.raw("FUNCTION", "LOAD", LIB) == b"$5\r\nmylib\r\n"
    assert h.raw("FCALL", "f1", 1, "kk", "aa") == b"*2\r\n$2\r\nkk\r\n$2\r\naa\r\n"
    assert h.raw("FCALL", "F1", 0) == b"*0\r\n"
    assert h.raw("FCALL", "nof", 0) == b"-ERR Function not found\r\n"
    assert h.raw("FCALL", "f1", "x") == b"-ERR Bad number of keys provided\r\n"
    assert h.raw("FCALL", "f1", -1) == b"-ERR Number of keys can't be negative\r\n"
    assert h.raw("FCALL_RO", "f1", 0) == \
        b"-ERR Can not execute a script with write flag using *_ro command.\r\n"
    assert h.raw("FUNCTION", "LOAD", LIB) == b"-ERR Library 'mylib' already exists\r\n"
    assert h.raw("FUNCTION", "LIST") == (
        b"*1\r\n*6\r\n$12\r\nlibrary_name\r\n$5\r\nmylib\r\n$6\r\nengine\r\n$3\r\nLUA\r\n"
        b"$9\r\nfunctions\r\n*1\r\n*6\r\n$4\r\nname\r\n$2\r\nf1\r\n$11\r\ndescription\r\n"
        b"$-1\r\n$5\r\nflags\r\n*0\r\n")
    assert h.raw("FUNCTION", "LIST", "LIBRARYNAME", "x*") == b"*0\r\n"
    assert h.raw("FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "MY*").endswith(
        b"$12\r\nlibrary_code\r\n$86\r\n" + LIB.encode() + b"\r\n")
    assert h.raw("FUNCTION", "LIST", "LIBRARYNAME") == \
        b"-ERR library name argument was not given\r\n"
    assert h.raw("FUNCTION", "LIST", "foo") == b"-ERR Unknown argument foo\r\n"
    assert h.raw("FUNCTION", "STATS") == (
        b"*4\r\n$14\r\nrunning_script\r\n$-1\r\n$7\r\nengines\r\n*2\r\n$3\r\nLUA\r\n*4\r\n"
        b"$15\r\nlibraries_count\r\n:1\r\n$15\r\nfunctions_count\r\n:1\r\n")
    assert h.raw("FUNCTION", "DELETE", "nosuch") == b"-ERR Library not found\r\n"
    assert h.raw("FUNCTION", "DELETE", "mylib") == b"+OK\r\n"
    assert h.raw("FCALL", "f1", 0) == b"-ERR Function not found\r\n"


def test_function_flags_and_errors(h):
    code = ("#!lua name=lib1\nredis.register_function{function_name='g', callback=function(k,a) "
            "return redis.call('set','x','y') end, flags={'no-writes', 'ALLOW-OOM'}, "
            "description='desc'}")
    assert h.raw("FUNCTION", "LOAD", code) == b"$4\r\nlib1\r\n"
    assert h.raw("FCALL", "g", 0) == (b"-ERR Write commands are not allowed from read-only "
                                      b"scripts. script: g, on @user_function:2.\r\n")
    h.client.resp = 3
    assert h.raw("FUNCTION", "LIST") == (
        b"*1\r\n%3\r\n$12\r\nlibrary_name\r\n$4\r\nlib1\r\n$6\r\nengine\r\n$3\r\nLUA\r\n"
        b"$9\r\nfunctions\r\n*1\r\n%3\r\n$4\r\nname\r\n$1\r\ng\r\n$11\r\ndescription\r\n"
        b"$4\r\ndesc\r\n$5\r\nflags\r\n~2\r\n+no-writes\r\n+allow-oom\r\n")


FUNCTION_LOAD_ERRORS = [
    ("return 1", b"ERR Missing library metadata"),
    ("#!lua\nreturn 1", b"ERR Library name was not given"),
    ("#!lua name=\nreturn 1", b"ERR " + sc.NAME_RULE.encode()),
    ("#!lua name=ok foo=bar\nreturn 1", b"ERR Invalid metadata value given: foo=bar"),
    ("#!lua name=ok name=ok2\nreturn 1", b"ERR Invalid metadata value, name argument was given "
                                        b"multiple times"),
    ("#!python name=ok\nreturn 1", b"ERR Engine 'python' not found"),
    ("#!lua name=ok", b"ERR Invalid library metadata"),
    ("#!lua name=ok\nreturn 1", b"ERR No functions registered"),
    ("#!lua name=ok\nreturn 1 +", b"ERR Error compiling function: user_function:2: unexpected "
                                  b"symbol near '<eof>'"),
    ("#!lua name=ok\nredis.register_function('a-b', function() end)",
     b"ERR Error registering functions: ERR " + sc.NAME_RULE.encode()),
    ("#!lua name=ok\nredis.register_function('f', 1)", b"ERR Error registering functions: ERR "
                                                       b"second argument to "
                                                       b"redis.register_function must be a "
                                                       b"function"),
    ("#!lua name=ok\nredis.register_function()", b"ERR Error registering functions: ERR wrong "
                                                 b"number of arguments to "
                                                 b"redis.register_function"),
    ("#!lua name=ok\nredis.register_function{function_name='f', callback=function() end, "
     "flags={'bad'}}", b"ERR Error registering functions: ERR unknown flag given"),
    ("#!lua name=ok\nredis.register_function{function_name='f'}",
     b"ERR Error registering functions: ERR redis.register_function must get a callback "
     b"argument"),
    ("#!lua name=ok\nredis.register_function('g', function() end) "
     "redis.register_function('g', function() end)",
     b"ERR Error registering functions: ERR Function already exists in the library"),
    ("#!lua name=ok\nredis.call('ping')", b"ERR Error registering functions: ERR "
                                          b"user_function:2: Script attempted to access "
                                          b"nonexistent global variable 'call'"),
    ("#!lua name=ok\nx = 1", b"ERR Error registering functions: ERR user_function:2: Attempt to "
                             b"modify a readonly table"),
    ("#!lua name=ok\nreturn math.random()", b"ERR Error registering functions: ERR "
                                            b"user_function:2: Script attempted to access "
                                            b"nonexistent global variable 'math'"),
    ("#!lua name=ok\nwhile true do end", b"ERR Error registering functions: ERR FUNCTION LOAD "
                                         b"timeout"),
]


@pytest.mark.parametrize("code,error", FUNCTION_LOAD_ERRORS)
def test_function_load_errors(h, code, error):
    assert h.raw("FUNCTION", "LOAD", code) == b"-" + error + b"\r\n"


def test_function_runtime_environment(h):
    code = ("#!lua name=env\n"
            "local function helper() return 5 end\n"
            "redis.register_function('a', function(k, a) return helper() + #a end)\n"
            "redis.register_function('b', function(k, a) return KEYS end)\n"
            "redis.register_function('c', function(k, a) return redis.register_function end)\n"
            "redis.register_function('d', function(k, a) return redis.call('incr', k[1]) end)\n")
    assert h.raw("FUNCTION", "LOAD", code) == b"$3\r\nenv\r\n"
    assert h.raw("FCALL", "a", 0, "x") == b":6\r\n"
    assert h.raw("FCALL", "b", 0) == (b"-ERR user_function:4: Script attempted to access "
                                      b"nonexistent global variable 'KEYS' script: b, on "
                                      b"@user_function:4.\r\n")
    assert h.raw("FCALL", "c", 0) == b"$-1\r\n"
    assert h.raw("FCALL", "d", 1, "n") == b":1\r\n"
    other = "#!lua name=other\nredis.register_function('a', function() end)"
    assert h.raw("FUNCTION", "LOAD", other) == b"-ERR Function a already exists\r\n"
    replaced = "#!lua name=env\nredis.register_function('a', function() return 2 end)"
    assert h.raw("FUNCTION", "LOAD", "REPLACE", replaced) == b"$3\r\nenv\r\n"
    assert h.raw("FCALL", "a", 0) == b":2\r\n"
    assert h.raw("FCALL", "b", 0) == b"-ERR Function not found\r\n"
    assert h.raw("FUNCTION", "LOAD", "FOO", replaced) == b"-ERR Unknown option given: FOO\r\n"


def test_function_dump_restore(h):
    h.raw("FUNCTION", "LOAD", LIB)
    dump = h.server.execute(h.client, [b"FUNCTION", b"DUMP"])
    # byte-for-byte what Redis 7.0.15 dumps for this library
    assert dump == b"\xf5@V" + LIB.encode() + b"\n\x00A92O\x92om\x0f"
    assert h.raw("FUNCTION", "RESTORE", dump) == b"-ERR Library mylib already exists\r\n"
    assert h.raw("FUNCTION", "RESTORE", dump, "REPLACE") == b"+OK\r\n"
    assert h.raw("FUNCTION", "FLUSH") == b"+OK\r\n"
    assert h.raw("FUNCTION", "RESTORE", dump) == b"+OK\r\n"
    assert h.raw("FCALL", "f1", 1, "k", "a") == b"*2\r\n$1\r\nk\r\n$1\r\na\r\n"
    assert h.raw("FUNCTION", "RESTORE", b"garbage") == \
        b"-ERR DUMP payload version or checksum are wrong\r\n"
    assert h.raw("FUNCTION", "RESTORE", dump, "FOO") == (
        b"-ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.\r\n")
    assert h.raw("FUNCTION", "RESTORE", dump, "FLUSH") == b"+OK\r\n"
    assert h.raw("FUNCTION", "FLUSH", "BAD") == \
        b"-ERR FUNCTION FLUSH only supports SYNC|ASYNC option\r\n"


def test_dump_payload_lzf_matches_redis():
    code = (b"#!lua name=aaa\nredis.register_function('fff', function(k, a) return '"
            + b"a" * 93 + b"' end)")
    expected = (b"\xf5\xc3@N@\xa8\x1f#!lua name=aaa\nredis.register_fu\rnction('fff', \xe0\x00"
                b"\x0f\rk, a) return ' 9\xe0Q\x00\x05' end)\n\x00\xecy\xf3q\x7f,\xb5b")
    assert sc.dump_payload([code], True) == expected
    assert sc.parse_payload(expected) == [code]
    assert sc.crc64(b"123456789") == 0xE9C6D914C4B8D9CA


@pytest.mark.parametrize("data", [b"", b"a" * 100, bytes(range(256)) * 3,
                                  b"abcabcabcabcabcxyzxyzxyzabc" * 20])
def test_lzf_roundtrip(data):
    packed = sc.lzf_compress(data, max(len(data) - 4, 1))
    if packed is not None:
        assert sc.lzf_decompress(packed, len(data)) == data


# ---- Conversions of numbers and strings ----

def test_number_helpers():
    assert sc.double_to_ll(2.0 ** 63) == sc.LLONG_MIN
    assert sc.double_to_ll(-(2.0 ** 63)) == sc.LLONG_MIN
    assert sc.double_to_ll(-1.9) == -1
    assert sc.format_g17(float("nan")) == b"nan"
    assert sc.format_g17(-float("nan")) == b"-nan"
    assert sc.lua_tonumber(b" 0x10 ") == 16.0
    assert sc.lua_tonumber(b"1e2") == 100.0
    assert sc.lua_tonumber(b"12x") is None


def test_only_scripts_that_cannot_loop_run_inline() -> None:
    from redkeep.server.scripting import is_bounded

    assert is_bounded(b"return redis.call('incr', KEYS[1])")
    assert is_bounded(b"local t = redis.call('get', KEYS[1]) if t == ARGV[1] then "
                      b"return redis.call('del', KEYS[1]) end return 0")
    for looping in (b"while true do end", b"for i=1,10 do end", b"repeat until false",
                    b"local function f() return f() end return f()",
                    b"return loadstring('while true do end')()", b"-- for later\nreturn 1"):
        assert not is_bounded(looping), looping
