"""notification-script and client-reconfig-script execution, as Redis's sentinel.c does it.

Theory of operation
-------------------
A :class:`ScriptQueue` is the pure part (sentinelScheduleScriptExecution,
sentinelRunPendingScripts, sentinelCollectTerminatedScripts, sentinelKillTimedoutScripts):

1) ``schedule`` appends a job (path + arguments). The queue holds at most 256 jobs; past
   that the oldest job that is *not running* is dropped.
2) ``due(now)`` picks, oldest first, the jobs to start now: not running, past their retry
   time, while fewer than 16 run. Each start counts as an attempt (``retry_num``).
3) ``finished(job, returncode, now)``: exit code 1 or death by a signal means "retry" (up
   to 10 attempts in all), after 30 s, then 60 s, 2 min ... (doubling); exit 0 removes the
   job; any other exit code (or the last failed attempt) removes it with a
   ``-script-error <path> <signal> <exit code>`` event. A job killed on timeout died by a
   signal, so it is retried too (as in Redis).
4) ``timed_out(now)``: running jobs older than 60 s, with a ``-script-timeout <path> <pid>``
   event each; the runner sends them SIGKILL (again at every tick until reaped).

Events are (level, type, text) triples shaped like sentinelEvent(ri=NULL) output (log line
``# -script-error /path 0 2``, published on the ``-script-error`` channel); the caller
logs and publishes them. :class:`ScriptRunner` is the thin shell: ``subprocess.Popen``
(non-blocking), polled from the sentinel cron ``tick(now)`` in Redis's order (run pending,
collect terminated, kill timed out). Arguments are Redis's: a notification script gets
``<event type> <event description>``, a client-reconfig script gets ``<master-name>
<role> <state> <from-ip> <from-port> <to-ip> <to-port>`` (see
sentinel.config.client_reconfig_args); the environment is the sentinel's own.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "SCRIPT_MAX_QUEUE",
    "SCRIPT_MAX_RETRY",
    "SCRIPT_MAX_RUNNING",
    "SCRIPT_MAX_RUNTIME",
    "SCRIPT_RETRY_DELAY",
    "ScriptEvent",
    "ScriptJob",
    "ScriptQueue",
    "ScriptRunner",
    "retry_delay",
]

SCRIPT_MAX_QUEUE = 256
SCRIPT_MAX_RUNNING = 16
SCRIPT_MAX_RUNTIME = 60000          # ms
SCRIPT_MAX_RETRY = 10
SCRIPT_RETRY_DELAY = 30000          # ms, doubled for every further retry


class ScriptEvent(NamedTuple):
    level: str                      # "warning" / "debug"
    type: str                       # "-script-error", "-script-timeout", "+script-child" ...
    text: str


@dataclass(eq=False)
class ScriptJob:
    argv: list[str]                 # the script path, then its arguments
    retry_num: int = 0              # attempts started so far
    running: bool = False
    start_time: int = 0             # running: when started; else: not before (0 = any time)
    pid: int = 0

    @property
    def path(self) -> str:
        return self.argv[0]


def retry_delay(retry_num: int) -> int:
    """sentinelScriptRetryDelay: 30 s after the first attempt, doubling after each one."""
    return SCRIPT_RETRY_DELAY * (1 << max(retry_num - 1, 0))


@dataclass
class ScriptQueue:
    jobs: list[ScriptJob] = field(default_factory=list)
    running: int = 0

    def schedule(self, path: str, args: list[str], now: int = 0) -> ScriptJob | None:
        """Queue a run; returns the job dropped to make room (the oldest not running)."""
        self.jobs.append(ScriptJob([path, *args]))
        if len(self.jobs) <= SCRIPT_MAX_QUEUE:
            return None
        for job in self.jobs:
            if not job.running:
                self.jobs.remove(job)
                return job
        return None

    def due(self, now: int) -> list[ScriptJob]:
        """The jobs to start now, oldest first; they are marked running (an attempt)."""
        out = []
        for job in self.jobs:
            if self.running >= SCRIPT_MAX_RUNNING:
                break
            if job.running or (job.start_time and job.start_time > now):
                continue
            job.running, job.start_time = True, now
            job.retry_num += 1
            self.running += 1
            out.append(job)
        return out

    def started(self, job: ScriptJob, pid: int) -> ScriptEvent:
        job.pid = pid
        return ScriptEvent("debug", "+script-child", str(pid))

    def start_failed(self, job: ScriptJob) -> ScriptEvent:
        """fork() failed: reported as signal 99; the job stays queued for a later tick."""
        job.running, job.pid = False, 0
        self.running -= 1
        return ScriptEvent("warning", "-script-error", f"{job.path} 99 0")

    def finished(self, job: ScriptJob, returncode: int, now: int) -> list[ScriptEvent]:
        """A child ended (Popen returncode: negative = killed by that signal)."""
        bysignal = -returncode if returncode < 0 else 0
        exitcode = returncode if returncode > 0 else 0
        events = [ScriptEvent("debug", "-script-child", f"{job.pid} {exitcode} {bysignal}")]
        self.running -= 1
        if (bysignal or exitcode == 1) and job.retry_num != SCRIPT_MAX_RETRY:
            job.running, job.pid = False, 0
            job.start_time = now + retry_delay(job.retry_num)
            return events
        if bysignal or exitcode != 0:
            events.append(ScriptEvent("warning", "-script-error",
                                      f"{job.path} {bysignal} {exitcode}"))
        self.jobs.remove(job)
        return events

    def timed_out(self, now: int) -> list[tuple[ScriptJob, ScriptEvent]]:
        """Running jobs past the 60 s limit, each with its -script-timeout event."""
        return [(job, ScriptEvent("warning", "-script-timeout", f"{job.path} {job.pid}"))
                for job in self.jobs
                if job.running and now - job.start_time > SCRIPT_MAX_RUNTIME]

    def pending(self) -> int:
        return len(self.jobs)


# ---- The shell: subprocess.Popen, polled from the cron ----

_EXEC_ERRORS = (errno.ENOENT, errno.EACCES, errno.ENOEXEC, errno.ENOTDIR, errno.ELOOP,
                errno.ENAMETOOLONG, errno.EISDIR, errno.ETXTBSY)

Emit = Callable[[ScriptEvent], None]


class ScriptRunner:
    """Runs the queue's jobs as child processes; ``tick(now)`` from the sentinel cron."""

    def __init__(self, emit: Emit, queue: ScriptQueue | None = None,
                 popen: Callable[..., Any] = subprocess.Popen) -> None:
        self.emit = emit
        self.queue = queue if queue is not None else ScriptQueue()
        self.popen = popen
        self.procs: dict[int, tuple[ScriptJob, Any]] = {}   # by id(job)

    def schedule(self, path: str, args: list[str], now: int = 0) -> None:
        self.queue.schedule(path, args, now)

    def tick(self, now: int) -> None:
        """sentinelTimer's order: run pending, collect terminated, kill timed out."""
        self.run_pending(now)
        self.collect_terminated(now)
        self.kill_timed_out(now)

    def run_pending(self, now: int) -> None:
        for job in self.queue.due(now):
            try:
                proc = self.popen(job.argv, stdin=subprocess.DEVNULL, close_fds=True)
            except OSError as exc:
                if exc.errno in _EXEC_ERRORS:   # Redis: execve failed, child _exit(2)
                    self.emit(self.queue.started(job, 0))
                    for ev in self.queue.finished(job, 2, now):
                        self.emit(ev)
                else:
                    self.emit(self.queue.start_failed(job))
                continue
            self.procs[id(job)] = (job, proc)
            self.emit(self.queue.started(job, proc.pid))

    def collect_terminated(self, now: int) -> None:
        for key, (job, proc) in list(self.procs.items()):
            rc = proc.poll()
            if rc is None:
                continue
            del self.procs[key]
            for ev in self.queue.finished(job, rc, now):
                self.emit(ev)

    def kill_timed_out(self, now: int) -> None:
        for job, ev in self.queue.timed_out(now):
            self.emit(ev)
            entry = self.procs.get(id(job))
            if entry is not None:
                try:
                    os.kill(entry[1].pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def running(self) -> int:
        return len(self.procs)

    def kill_all(self) -> None:
        """At shutdown: SIGKILL and reap every running script (our own children only)."""
        for _job, proc in self.procs.values():
            try:
                proc.kill()
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.procs.clear()
