"""Script queue (pure, injected time) and one real run through ScriptRunner."""

from __future__ import annotations

import time
from pathlib import Path

from redkeep.sentinel.scripts import (
    SCRIPT_MAX_QUEUE,
    SCRIPT_MAX_RETRY,
    SCRIPT_MAX_RUNNING,
    SCRIPT_MAX_RUNTIME,
    ScriptEvent,
    ScriptQueue,
    ScriptRunner,
    retry_delay,
)


def test_retry_delays_double() -> None:
    assert [retry_delay(n) for n in range(1, 11)] == [30000 * 2**k for k in range(10)]


def test_at_most_16_running_oldest_first() -> None:
    q = ScriptQueue()
    for i in range(20):
        q.schedule("/s", [str(i)], 0)
    started = q.due(0)
    assert [j.argv[1] for j in started] == [str(i) for i in range(SCRIPT_MAX_RUNNING)]
    assert q.due(0) == []
    q.finished(started[0], 0, 5)
    assert [j.argv[1] for j in q.due(5)] == ["16"]
    assert q.pending() == 19 and q.running == 16


def test_queue_drops_the_oldest_not_running() -> None:
    q = ScriptQueue()
    q.schedule("/s", ["0"], 0)
    (first,) = q.due(0)
    for i in range(1, SCRIPT_MAX_QUEUE):
        assert q.schedule("/s", [str(i)], 0) is None
    dropped = q.schedule("/s", ["new"], 0)
    assert dropped is not None and dropped.argv == ["/s", "1"]   # job 0 runs: kept
    assert q.pending() == SCRIPT_MAX_QUEUE and q.jobs[0] is first and q.jobs[-1].argv[1] == "new"


def test_exit_1_and_signals_retry_with_backoff_up_to_10_attempts() -> None:
    q = ScriptQueue()
    q.schedule("/s", ["a"], 0)
    now = 0
    for attempt in range(1, SCRIPT_MAX_RETRY):
        (job,) = q.due(now)
        assert job.retry_num == attempt
        q.started(job, 100 + attempt)
        rc = 1 if attempt % 2 else -15          # exit 1 or SIGTERM: both mean "retry"
        events = q.finished(job, rc, now + 10)
        assert events == [ScriptEvent("debug", "-script-child",
                                      f"{100 + attempt} {1 if rc == 1 else 0} {0 if rc == 1 else 15}")]
        assert job.start_time == now + 10 + retry_delay(attempt)
        assert q.due(job.start_time - 1) == []
        now = job.start_time
    (job,) = q.due(now)
    assert job.retry_num == SCRIPT_MAX_RETRY
    q.started(job, 7)
    events = q.finished(job, 1, now)
    assert events[-1] == ScriptEvent("warning", "-script-error", "/s 0 1")
    assert q.pending() == 0 and q.running == 0


def test_exit_0_and_exit_2_end_the_job() -> None:
    q = ScriptQueue()
    q.schedule("/ok", [], 0)
    q.schedule("/bad", [], 0)
    ok, bad = q.due(0)
    assert q.finished(ok, 0, 1) == [ScriptEvent("debug", "-script-child", "0 0 0")]
    assert q.finished(bad, 3, 1)[-1] == ScriptEvent("warning", "-script-error", "/bad 0 3")
    assert q.pending() == 0


def test_timeout_then_killed_script_is_retried() -> None:
    q = ScriptQueue()
    q.schedule("/slow", ["x"], 1000)
    (job,) = q.due(1000)
    q.started(job, 4242)
    assert q.timed_out(1000 + SCRIPT_MAX_RUNTIME) == []
    ((tj, ev),) = q.timed_out(1001 + SCRIPT_MAX_RUNTIME)
    assert tj is job and ev == ScriptEvent("warning", "-script-timeout", "/slow 4242")
    q.finished(job, -9, 1002 + SCRIPT_MAX_RUNTIME)         # SIGKILL counts as a signal
    assert q.pending() == 1 and not job.running
    assert job.start_time == 1002 + SCRIPT_MAX_RUNTIME + 30000


def test_fork_failure_is_reported_as_signal_99() -> None:
    q = ScriptQueue()
    q.schedule("/s", [], 0)
    (job,) = q.due(0)
    assert q.start_failed(job) == ScriptEvent("warning", "-script-error", "/s 99 0")
    assert q.running == 0 and q.due(0) == [job]


# ---- The runner: real processes ----


def wait_for(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_runner_passes_redis_arguments_and_retries(tmp_path: Path) -> None:
    out = tmp_path / "calls.txt"
    script = tmp_path / "reconfig.sh"
    # first call exits 1 (please retry), the second one succeeds
    script.write_text(f"""#!/bin/sh
echo "$#|$*" >> {out}
[ "$(wc -l < {out})" -ge 2 ] && exit 0
exit 1
""")
    script.chmod(0o755)
    events: list[ScriptEvent] = []
    runner = ScriptRunner(events.append)
    args = ["master1", "leader", "start", "192.168.11.123", "6379", "192.168.11.125", "6379"]
    runner.schedule(str(script), args, 0)
    runner.tick(0)
    assert runner.running() == 1 and events[0].type == "+script-child"
    wait_for(lambda: runner.collect_terminated(10) or runner.running() == 0)
    job = runner.queue.jobs[0]
    assert job.retry_num == 1 and job.start_time == 10 + 30000
    runner.tick(30009)                       # not yet
    assert runner.running() == 0
    runner.tick(30010)
    assert runner.running() == 1
    wait_for(lambda: runner.collect_terminated(30020) or runner.running() == 0)
    assert runner.queue.pending() == 0
    assert out.read_text().splitlines() == [f"7|{' '.join(args)}"] * 2
    assert [e.type for e in events] == ["+script-child", "-script-child"] * 2
    assert events[1].text.endswith(" 1 0") and events[3].text.endswith(" 0 0")


def test_runner_missing_script_is_an_error_without_retry(tmp_path: Path) -> None:
    events: list[ScriptEvent] = []
    runner = ScriptRunner(events.append)
    runner.schedule(str(tmp_path / "missing.sh"), ["+sdown", "master m 127.0.0.1 6379"], 0)
    runner.tick(0)
    assert events[-1] == ScriptEvent("warning", "-script-error", f"{tmp_path}/missing.sh 0 2")
    assert runner.queue.pending() == 0


def test_runner_kills_a_script_past_the_timeout(tmp_path: Path) -> None:
    script = tmp_path / "hang.sh"
    script.write_text("#!/bin/sh\nexec sleep 30\n")
    script.chmod(0o755)
    events: list[ScriptEvent] = []
    runner = ScriptRunner(events.append)
    runner.schedule(str(script), [], 0)
    runner.tick(0)
    runner.tick(SCRIPT_MAX_RUNTIME + 1)      # injected time: it is now 60 s later
    assert ScriptEvent("warning", "-script-timeout", f"{script} {runner.queue.jobs[0].pid}") in events
    wait_for(lambda: runner.collect_terminated(SCRIPT_MAX_RUNTIME + 2) or runner.running() == 0)
    assert events[-1].text.endswith(" 0 9")   # -script-child pid 0 9: SIGKILL
    assert runner.queue.pending() == 1        # retried later, like Redis
    runner.kill_all()
