"""decide_psync: Redis's masterTryPartialResynchronization conditions, in order."""

from __future__ import annotations

from redkeep.replication.backlog import Backlog
from redkeep.replication.master import decide_psync

ID1 = "a" * 40
ID2 = "b" * 40
NOID = "0" * 40


def backlog(first: int, end: int) -> Backlog:
    """A backlog holding offsets first..end."""
    b = Backlog(1 << 20, start_offset=first - 1)
    b.append(b"x" * (end - first + 1))
    assert (b.first_offset, b.end_offset) == (first, end)
    return b


def test_same_replid_inside_backlog_continues() -> None:
    b = backlog(1, 1000)
    for off in (1, 500, 1000, 1001):
        assert decide_psync(ID1, off, ID1, NOID, -1, b) == (True, "")


def test_offset_outside_backlog_is_a_full_sync() -> None:
    b = backlog(101, 1000)
    for off in (100, 1002, 0):
        ok, why = decide_psync(ID1, off, ID1, NOID, -1, b)
        assert not ok
        assert why == "Unable to partial resync with replica: lack of backlog"


def test_no_backlog_is_a_full_sync() -> None:
    ok, why = decide_psync(ID1, 1, ID1, NOID, -1, None)
    assert not ok and "lack of backlog" in why


def test_question_mark_asks_for_full_sync_silently() -> None:
    assert decide_psync("?", -1, ID1, NOID, -1, backlog(1, 10)) == (False, "")


def test_unknown_replid_is_a_mismatch() -> None:
    ok, why = decide_psync("c" * 40, 5, ID1, ID2, 7, backlog(1, 10))
    assert not ok
    assert why == (f"Replication ID mismatch (Replica asked for '{'c' * 40}', my "
                   f"replication IDs are '{ID1}' and '{ID2}')")


def test_replid2_up_to_second_repl_offset() -> None:
    """After a promotion: replid2 = old id, valid for offsets <= second_repl_offset."""
    b = backlog(1, 2000)
    second = 1501            # promoted at offset 1500: the next byte of the old history
    assert decide_psync(ID2, 1501, ID1, ID2, second, b) == (True, "")
    assert decide_psync(ID2, 1200, ID1, ID2, second, b) == (True, "")
    ok, why = decide_psync(ID2, 1502, ID1, ID2, second, b)
    assert not ok
    assert why == "Requested offset for second ID was 1502, but I can reply up to 1501"
    # the new id is valid beyond the promotion point
    assert decide_psync(ID1, 1800, ID1, ID2, second, b) == (True, "")


def test_replid2_still_needs_the_backlog() -> None:
    b = backlog(1001, 2000)
    ok, why = decide_psync(ID2, 900, ID1, ID2, 1501, b)
    assert not ok and "lack of backlog" in why


def test_zero_replid2_never_matches_by_accident() -> None:
    """replid2 is 40 zeros with second_repl_offset -1 on a node never promoted."""
    ok, _ = decide_psync(NOID, 1, ID1, NOID, -1, backlog(1, 10))
    assert not ok


def test_slave_states_are_distinct_and_print_as_redis() -> None:
    """Equal enum values would make WAIT_BGSAVE_END an alias of WAIT_BGSAVE_START."""
    from redkeep.replication.master import SlaveState

    assert len(SlaveState) == 4
    assert SlaveState.WAIT_BGSAVE_END is not SlaveState.WAIT_BGSAVE_START
    assert [s.info_name for s in SlaveState] == ["wait_bgsave", "wait_bgsave", "send_bulk",
                                                  "online"]
