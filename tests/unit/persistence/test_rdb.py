"""redkeep.persistence.rdb: primitives, blobs, every type and encoding, errors (pure)."""

from __future__ import annotations

import struct

import pytest

from redkeep.persistence import rdb
from redkeep.persistence.rdb import (
    Limits,
    RDBError,
    Reader,
    crc64,
    dump_rdb,
    dump_value,
    encode_intset,
    encode_length,
    encode_listpack,
    encode_string,
    intset_items,
    listpack_items,
    load_rdb,
    load_value,
    snapshot_keyspace,
    ziplist_items,
    zipmap_pairs,
)
from redkeep.server.types.hash import Hash
from redkeep.server.types.list import List
from redkeep.server.types.set import Set
from redkeep.server.types.stream import Stream
from redkeep.server.types.zset import ZSet

# ---- Primitives ----


def test_crc64_is_redis_jones_crc():
    assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA


@pytest.mark.parametrize("n", [0, 1, 63, 64, 16383, 16384, 0xFFFFFFFF, 0x100000000, 1 << 62])
def test_length_round_trip(n):
    r = Reader(encode_length(n) + b"!")
    assert r.length() == n and r.take(1) == b"!"


def test_length_sizes():
    assert encode_length(63) == b"\x3f"
    assert encode_length(64) == b"\x40\x40"
    assert encode_length(16384) == b"\x80\x00\x00\x40\x00"
    assert encode_length(1 << 32)[0] == 0x81


@pytest.mark.parametrize("s, encoded", [
    (b"5", b"\xc0\x05"),
    (b"-128", b"\xc0\x80"),
    (b"128", b"\xc1\x80\x00"),
    (b"-32768", b"\xc1\x00\x80"),
    (b"32768", b"\xc2\x00\x80\x00\x00"),
    (b"2147483647", b"\xc2\xff\xff\xff\x7f"),
    (b"2147483648", b"\x0a2147483648"),
    (b"007", b"\x03007"),
    (b"-0", b"\x02-0"),
    (b"", b"\x00"),
])
def test_string_int_encodings(s, encoded):
    assert encode_string(s) == encoded
    assert Reader(encoded).string() == s


def test_string_lzf_when_it_saves_space():
    s = b"abc" * 100
    enc = encode_string(s)
    assert enc[0] == 0xC3 and len(enc) < len(s)
    assert Reader(enc).string() == s
    assert encode_string(s, compress=False) == encode_length(300) + s
    short = b"a" * 20                       # Redis compresses only above 20 bytes
    assert encode_string(short) == encode_length(20) + short
    noise = bytes(range(256))
    assert encode_string(noise) == encode_length(256) + noise


def test_bad_lzf_is_refused():
    enc = bytearray(encode_string(b"xyz" * 50))
    assert enc[2:4] == b"\x40\x96"            # plain length 150 (14-bit length)
    enc[3] += 1                             # claim a longer plain length
    with pytest.raises(RDBError, match="LZF"):
        Reader(bytes(enc)).string()


# ---- Blobs ----


def test_listpack_bytes_match_redis_layout():
    assert encode_listpack([b"a", b"1"]) == \
        b"\x0c\x00\x00\x00\x02\x00" + b"\x81a\x02" + b"\x01\x01" + b"\xff"


INTS = [0, 127, 128, -1, -4096, 4095, 4096, -4097, 32767, -32768, 32768, -(1 << 23),
        (1 << 23) - 1, 1 << 23, -(1 << 31), (1 << 31) - 1, 1 << 31, -(1 << 63), (1 << 63) - 1]


def test_listpack_round_trip_every_encoding():
    strings = [b"", b"x" * 63, b"y" * 64, b"z" * 126, b"w" * 4095, b"v" * 4096,
               b"u" * 20000, b"007", b"-0", b"99999999999999999999", b"1.5"]
    elements = [b"%d" % i for i in INTS] + strings
    items = listpack_items(encode_listpack(elements))
    assert items[:len(INTS)] == INTS
    assert items[len(INTS):] == strings


def test_listpack_texts_equal_items_for_every_encoding():
    strings = [b"", b"x" * 63, b"y" * 64, b"w" * 4096, b"007", b"1.5"]
    for elements in ([b"%d" % i for i in INTS] + strings, strings + [b"%d" % i for i in INTS]):
        blob = encode_listpack(elements)
        assert rdb.listpack_texts(blob) == [x if isinstance(x, bytes) else b"%d" % x
                                            for x in listpack_items(blob)] == elements
    with pytest.raises(RDBError, match="missing end marker"):
        rdb.listpack_texts(encode_listpack([b"1", b"300", b"70000"])[:-1])


def test_key_listed_twice_is_refused():
    """rdbLoad panics on "RDB has duplicated key"; redkeep refuses the file."""
    def record(key: bytes, value: bytes, expire: int | None = None) -> bytes:
        head = b"\xfc" + struct.pack("<q", expire) if expire is not None else b""
        return head + b"\x00" + encode_string(key) + encode_string(value)
    hash_k = b"\x04" + encode_string(b"k") + b"\x01" + encode_string(b"f") + encode_string(b"v")
    for body in (record(b"k", b"1", 5000) + record(b"k", b"2"),
                 record(b"k", b"1") + record(b"j", b"x" * 100) + record(b"k", b"2", 7000),
                 record(b"k", b"1", 5000) + hash_k,
                 b"\xfe\x03" + hash_k + record(b"a", b"1") + hash_k):
        data = b"REDIS0010" + body + b"\xff"
        data += struct.pack("<Q", rdb.crc64(data))
        with pytest.raises(RDBError, match="duplicated keys in DB"):
            load_rdb(data)
    ok = b"REDIS0010" + record(b"k", b"1", 5000) + b"\xfe\x01" + record(b"k", b"2") + b"\xff"
    ok += struct.pack("<Q", rdb.crc64(ok))
    assert load_rdb(ok).dbs == {0: {b"k": (b"1", 5000)}, 1: {b"k": (b"2", None)}}


def test_hash_and_zset_blob_with_a_missing_value_are_refused():
    for rtype in (rdb.TYPE_HASH_LISTPACK, rdb.TYPE_ZSET_LISTPACK):
        data = b"REDIS0010" + bytes((rtype,)) + encode_string(b"k") + \
            encode_string(encode_listpack([b"a", b"1", b"b"]), compress=False) + b"\xff"
        data += struct.pack("<Q", rdb.crc64(data))
        with pytest.raises(RDBError, match="without its value"):
            load_rdb(data)


def test_zset_loaded_in_bulk_is_the_same_as_built_one_by_one():
    members, scores = [b"b", b"a", b"c", b"z"], [2.0, 2.0, -0.0, float("inf")]
    for skiplist in (False, True):
        bulk = ZSet.loaded(members, scores, skiplist)
        slow = ZSet(zip(members, scores, strict=True), skiplist)
        assert list(bulk.order) == list(slow.order) and dict(bulk) == dict(slow)
        assert [str(s) for s in bulk.values()] == [str(s) for s in slow.values()]
    twice = ZSet.loaded([b"a", b"b", b"a"], [1.0, 2.0, 3.0], False)
    assert dict(twice) == {b"a": 3.0, b"b": 2.0} and list(twice.order) == [(2.0, b"b"),
                                                                          (3.0, b"a")]


def _ziplist(entries: list[bytes]) -> bytes:
    """A ziplist (pre-7.0 encoding) of the given raw entry bodies (encoding + data)."""
    body, prev = b"", 0
    for e in entries:
        pre = bytes((prev,)) if prev < 254 else b"\xfe" + struct.pack("<I", prev)
        body += pre + e
        prev = len(pre) + len(e)
    return struct.pack("<IIH", 11 + len(body), 0, len(entries)) + body + b"\xff"


def _zl_str(s: bytes) -> bytes:
    n = len(s)
    if n < 64:
        return bytes((n,)) + s
    if n < 16384:
        return bytes((0x40 | (n >> 8), n & 0xFF)) + s
    return b"\x80" + struct.pack(">I", n) + s


ZL_INTS = [
    (b"\xf1", 0), (b"\xfd", 12), (b"\xfe\x85", -123), (b"\xc0" + struct.pack("<h", -300), -300),
    (b"\xf0" + (70000).to_bytes(3, "little"), 70000),
    (b"\xd0" + struct.pack("<i", -(1 << 30)), -(1 << 30)),
    (b"\xe0" + struct.pack("<q", 1 << 40), 1 << 40),
]


def test_ziplist_every_encoding():
    strings = [b"a", b"b" * 100, b"c" * 300, b"d" * 17000]
    blob = _ziplist([e for e, _ in ZL_INTS] + [_zl_str(s) for s in strings])
    assert ziplist_items(blob) == [v for _, v in ZL_INTS] + strings


def test_intset_widths():
    for values in ([1, -2, 3], [70000, -5], [1 << 40, -1]):
        blob = encode_intset(values)
        assert intset_items(blob) == sorted(values)
    assert encode_intset([1, 2])[:4] == b"\x02\x00\x00\x00"
    assert encode_intset([1, 1 << 20])[:4] == b"\x04\x00\x00\x00"
    assert encode_intset([1, 1 << 40])[:4] == b"\x08\x00\x00\x00"


def _zipmap(pairs: list[tuple[bytes, bytes]]) -> bytes:
    def ln(n: int) -> bytes:
        return bytes((n,)) if n < 254 else b"\xfe" + struct.pack("<I", n)
    out = bytes((len(pairs),))
    for f, v in pairs:
        out += ln(len(f)) + f + ln(len(v)) + b"\x02" + v + b".."
    return out + b"\xff"


def test_zipmap_pairs():
    pairs = [(b"f", b"v"), (b"long", b"x" * 300)]
    assert zipmap_pairs(_zipmap(pairs)) == pairs


# ---- Whole values: every type and encoding ----


def _dataset():
    return {
        b"str": (b"hello", None),
        b"int": (b"-42", 1700000000123),
        b"big": (b"xyz" * 1000, None),
        b"list": (List([b"a", b"1", b"-70000", b"x" * 100]), None),
        b"biglist": (List(b"e%d" % i for i in range(5000)), None),
        b"hugeelement": (List([b"a", b"q" * 20000, b"b"]), 5),
        b"hash": (Hash([(b"f", b"v"), (b"n", b"12")]), None),
        b"bighash": (Hash([(b"f%d" % i, b"v") for i in range(1000)], listpack=False), None),
        b"intset": (Set([b"1", b"-5", b"100000"], intset=True), None),
        b"set": (Set([b"a", b"1"]), None),
        b"zset": (ZSet([(b"a", 1.0), (b"b", -2.5), (b"c", float("inf")), (b"d", 0.1)]), None),
        b"bigzset": (ZSet([(b"m%d" % i, i * 1.5) for i in range(300)], skiplist=True), None),
        b"empty": (b"", None),
    }


def _plain(value):
    if isinstance(value, ZSet):
        return ("zset", list(value.ordered_items()), value.encoding())
    if isinstance(value, bytes):
        return value
    return (type(value).__name__, sorted(value.items()) if isinstance(value, dict)
            else sorted(value) if isinstance(value, Set) else list(value), value.encoding())


def _plain_dbs(dbs):
    return {d: {k: (_plain(v), e) for k, (v, e) in keys.items()} for d, keys in dbs.items()}


@pytest.mark.parametrize("compress", [True, False])
def test_rdb_round_trip_every_type(compress):
    dbs = {0: _dataset(), 3: {b"k": (b"v", None)}, 15: {b"h": (Hash([(b"a", b"b")]), 9)}}
    data = dump_rdb(dbs, {"ctime": 1700000000, "used-mem": 12345}, compress=compress)
    assert data.startswith(b"REDIS0010")
    loaded = load_rdb(data)
    assert loaded.version == 10
    assert loaded.aux == {"redis-ver": b"7.0.15", "redis-bits": b"64", "ctime": b"1700000000",
                          "used-mem": b"12345", "aof-base": b"0"}
    assert _plain_dbs(loaded.dbs) == _plain_dbs(dbs)


def test_rdb_written_types_and_order():
    data = dump_rdb({0: {b"l": (List([b"a"]), None), b"z": (ZSet([(b"a", 1.0)]), None),
                         b"zs": (ZSet([(b"a", 1.0)], skiplist=True), None),
                         b"h": (Hash([(b"a", b"b")]), None),
                         b"hs": (Hash([(b"a", b"b")], listpack=False), None),
                         b"si": (Set([b"1"], intset=True), None), b"s": (Set([b"a"]), None)}},
                    {})
    for rtype, key in [(rdb.TYPE_LIST_QUICKLIST_2, b"l"), (rdb.TYPE_ZSET_LISTPACK, b"z"),
                       (rdb.TYPE_ZSET_2, b"zs"), (rdb.TYPE_HASH_LISTPACK, b"h"),
                       (rdb.TYPE_HASH, b"hs"), (rdb.TYPE_SET_INTSET, b"si"),
                       (rdb.TYPE_SET, b"s")]:
        assert bytes((rtype, len(key))) + key in data
    assert data.index(b"redis-ver") < data.index(b"ctime") < data.index(b"aof-base")
    assert data[-9] == rdb.OP_EOF
    assert struct.unpack("<Q", data[-8:])[0] == crc64(data[:-8])


def test_functions_and_resizedb():
    data = dump_rdb({2: {b"a": (b"1", 10), b"b": (b"2", None)}}, {},
                    functions=[b"#!lua name=lib\nredis.register_function('f', function() end)"])
    assert bytes((rdb.OP_SELECTDB, 2, rdb.OP_RESIZEDB, 2, 1)) in data
    loaded = load_rdb(data)
    assert loaded.functions == [b"#!lua name=lib\nredis.register_function('f', function() end)"]
    assert loaded.dbs == {2: {b"a": (b"1", 10), b"b": (b"2", None)}}


def test_encodings_follow_limits_on_load():
    dbs = {0: {b"h": (Hash([(b"f%d" % i, b"v") for i in range(10)]), None),
               b"s": (Set([b"%d" % i for i in range(10)], intset=True), None),
               b"z": (ZSet([(b"m%d" % i, i) for i in range(10)]), None),
               b"zsmall": (ZSet([(b"m", -0.0)], skiplist=True), None),
               b"hbig": (Hash([(b"f", b"v" * 10)], listpack=False), None)}}
    data = dump_rdb(dbs, {})
    tight = Limits(hash_max_listpack_entries=5, zset_max_listpack_entries=5,
                   set_max_intset_entries=5)
    got = load_rdb(data, tight).dbs[0]
    assert got[b"h"][0].encoding() == "hashtable"
    assert got[b"s"][0].encoding() == "hashtable"
    assert got[b"z"][0].encoding() == "skiplist"
    default = load_rdb(data).dbs[0]
    assert default[b"zsmall"][0].encoding() == "listpack"      # ZSET_2 converted back
    assert default[b"hbig"][0].encoding() == "listpack"        # HASH small enough
    assert load_rdb(data, Limits(hash_max_listpack_value=5)).dbs[0][b"hbig"][0].encoding() \
        == "hashtable"


def test_snapshot_keyspace():
    from redkeep.clock import ManualClock
    from redkeep.server.keyspace import Keyspace
    ks = Keyspace(ManualClock())
    ks.dbs[1].data[b"k"] = b"v"
    ks.dbs[1].expires[b"k"] = 99
    assert snapshot_keyspace(ks) == {1: {b"k": (b"v", 99)}}


# ---- Older files: every opcode and legacy encoding ----


def _old_file(version: int, records: bytes, checksum: bool = True) -> bytes:
    data = b"REDIS%04d" % version + records + b"\xff"
    return data + struct.pack("<Q", crc64(data) if checksum else 0)


def test_legacy_encodings_and_opcodes():
    s = encode_string
    zl_list = _ziplist([_zl_str(b"a"), b"\xf2"])
    zl_hash = _ziplist([_zl_str(b"f"), _zl_str(b"v")])
    zl_zset = _ziplist([_zl_str(b"m"), _zl_str(b"1.5"), _zl_str(b"n"), b"\xf3"])
    module_aux = (bytes((rdb.OP_MODULE_AUX,)) + encode_length(12345) + encode_length(2)
                  + encode_length(1) + encode_length(2) + encode_length(7)
                  + encode_length(4) + struct.pack("<d", 1.0) + encode_length(5) + s(b"x")
                  + encode_length(3) + b"\0\0\0\0" + encode_length(0))
    records = b"".join([
        bytes((rdb.OP_AUX,)) + s(b"redis-ver") + s(b"6.2.6"),
        module_aux,
        bytes((rdb.OP_SELECTDB,)) + encode_length(0),
        bytes((rdb.OP_RESIZEDB,)) + encode_length(9) + encode_length(1),
        bytes((rdb.OP_EXPIRETIME,)) + struct.pack("<i", 1000) + bytes((rdb.TYPE_STRING,))
        + s(b"old-expire") + s(b"v"),
        bytes((rdb.OP_IDLE,)) + encode_length(100) + bytes((rdb.TYPE_LIST_ZIPLIST,))
        + s(b"zl") + s(zl_list),
        bytes((rdb.OP_FREQ, 5, rdb.TYPE_HASH_ZIPMAP)) + s(b"zm") + s(_zipmap([(b"a", b"b")])),
        bytes((rdb.TYPE_HASH_ZIPLIST,)) + s(b"hz") + s(zl_hash),
        bytes((rdb.TYPE_ZSET_ZIPLIST,)) + s(b"zz") + s(zl_zset),
        bytes((rdb.TYPE_LIST_QUICKLIST,)) + s(b"ql") + encode_length(2) + s(zl_list)
        + s(_ziplist([_zl_str(b"c")])),
        bytes((rdb.TYPE_ZSET,)) + s(b"z1") + encode_length(3) + s(b"a") + b"\x031.5"
        + s(b"b") + b"\xfe" + s(b"c") + b"\xff",
        bytes((rdb.TYPE_LIST,)) + s(b"l1") + encode_length(2) + s(b"x") + s(b"12"),
        bytes((rdb.TYPE_SET,)) + s(b"s1") + encode_length(2) + s(b"1") + s(b"2"),
    ])
    loaded = load_rdb(_old_file(9, records))
    db = loaded.dbs[0]
    assert loaded.aux["redis-ver"] == b"6.2.6"
    assert db[b"old-expire"] == (b"v", 1000000)
    assert list(db[b"zl"][0]) == [b"a", b"1"] and db[b"zl"][1] is None
    assert dict(db[b"zm"][0]) == {b"a": b"b"}
    assert dict(db[b"hz"][0]) == {b"f": b"v"} and db[b"hz"][0].encoding() == "listpack"
    assert list(db[b"zz"][0].ordered_items()) == [(b"m", 1.5), (b"n", 2.0)]
    assert list(db[b"ql"][0]) == [b"a", b"1", b"c"]
    assert list(db[b"z1"][0].ordered_items()) == [(b"c", float("-inf")), (b"a", 1.5),
                                                  (b"b", float("inf"))]
    assert list(db[b"l1"][0]) == [b"x", b"12"]
    assert db[b"s1"][0].encoding() == "intset"


def test_quicklist2_plain_node():
    payload = (encode_length(2) + encode_length(rdb.QUICKLIST_NODE_PLAIN) + encode_string(b"P")
               + encode_length(rdb.QUICKLIST_NODE_PACKED)
               + encode_string(encode_listpack([b"x", b"7"])))
    data = _old_file(10, bytes((rdb.TYPE_LIST_QUICKLIST_2,)) + encode_string(b"k") + payload)
    assert list(load_rdb(data).dbs[0][b"k"][0]) == [b"P", b"x", b"7"]


# ---- Errors ----


def test_checksum_mismatch_names_both():
    data = bytearray(dump_rdb({0: {b"k": (b"v", None)}}, {}))
    data[-20] ^= 0x55
    with pytest.raises(RDBError, match=r"Wrong RDB checksum expected: \([0-9a-f]+\) got"):
        load_rdb(bytes(data))


def test_checksum_zero_means_not_computed():
    data = dump_rdb({0: {b"k": (b"v", None)}}, {}, checksum=False)
    assert data[-8:] == bytes(8)
    assert load_rdb(data).dbs == {0: {b"k": (b"v", None)}}


@pytest.mark.parametrize("data, text", [
    (b"RUBBISH00", "Wrong signature"),
    (b"REDIS0011", "Can't handle RDB format version 11"),
    (b"REDIS0010\xfa", "Unexpected EOF"),
])
def test_bad_files(data, text):
    with pytest.raises(RDBError, match=text):
        load_rdb(data)


def test_module_value_refused_naming_the_key():
    data = _old_file(10, bytes((rdb.TYPE_MODULE_2,)) + encode_string(b"mykey")
                     + encode_length(1234))
    with pytest.raises(RDBError, match="module data for the key 'mykey'"):
        load_rdb(data)


def test_pre_ga_functions_refused():
    with pytest.raises(RDBError, match="functions"):
        load_rdb(_old_file(10, bytes((rdb.OP_FUNCTION_PRE_GA,)) + encode_string(b"x")))


def _stream(n: int) -> Stream:
    s = Stream()
    for i in range(n):
        fields = [(b"a", b"%d" % i), (b"b", b"x" * (i % 50))] if i % 3 else [(b"other", b"-7")]
        ms = 1000 + i // 4
        s.add((ms, (ms % 3) * 10 + i % 4), fields)      # seq diffs go negative too
    return s


def _stream_plain(s: Stream):
    return [(sid, list(s[sid])) for sid in s.ids], s.last_id, s.entries_added, \
        s.max_deleted_id


@pytest.mark.parametrize("n", [0, 1, 5, 350])
def test_stream_round_trip(n):
    s = _stream(n)
    if n > 2:
        s.delete_ids([s.ids[1]])
    data = dump_rdb({0: {b"st": (s, None)}}, {})
    got = load_rdb(data).dbs[0][b"st"][0]
    assert isinstance(got, Stream)
    assert _stream_plain(got) == _stream_plain(s)
    assert _stream_plain(load_value(dump_value(s))) == _stream_plain(s)


# ---- DUMP / RESTORE payloads ----


@pytest.mark.parametrize("key", list(_dataset()))
def test_dump_value_round_trip(key):
    value = _dataset()[key][0]
    payload = dump_value(value)
    assert payload[-10:-8] == b"\x0a\x00"
    assert _plain(load_value(payload)) == _plain(value)


def test_dump_value_known_bytes():
    # what redis-server 7.0 answers to SET k hello; DUMP k
    assert dump_value(b"hello") == b"\x00\x05hello\x0a\x00" + struct.pack(
        "<Q", crc64(b"\x00\x05hello\x0a\x00"))


def test_load_value_checks_version_and_crc():
    payload = bytearray(dump_value(b"hello"))
    payload[3] ^= 1
    with pytest.raises(RDBError, match="DUMP payload version or checksum are wrong"):
        load_value(bytes(payload))
    body = b"\x00\x05hello\x0b\x00"
    with pytest.raises(RDBError, match="DUMP payload version or checksum are wrong"):
        load_value(body + struct.pack("<Q", crc64(body)))


@pytest.mark.parametrize("checksum", [True, False])
def test_write_rdb_streams_the_same_file_in_pieces(checksum):
    dbs = {0: {b"k%d" % i: (b"v%d" % i, None if i % 3 else 10**12 + i) for i in range(30000)},
           2: {b"h": (Hash([(b"f", b"v")]), None)}}
    pieces: list[bytes] = []
    rdb.write_rdb(pieces.append, dbs, {"ctime": 1}, checksum=checksum)
    assert len(pieces) > 3 and max(map(len, pieces)) < len(b"".join(pieces))
    whole = b"".join(pieces)
    assert whole == dump_rdb(dbs, {"ctime": 1}, checksum=checksum)
    assert whole[-8:] == (struct.pack("<Q", crc64(whole[:-8])) if checksum else b"\0" * 8)
    assert _plain_dbs(load_rdb(whole).dbs) == _plain_dbs(dbs)
