"""A python-rq queue and a separate rq worker process complete 100 jobs on redkeep."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import redis
import rq  # a test dependency (pyproject [test])


def test_rq_queue_and_worker_complete_100_jobs(redkeep_server) -> None:
    conn = redis.Redis(port=redkeep_server.port)
    conn.flushall()
    queue = rq.Queue("redkeep-test", connection=conn)
    from rqjobs import add

    jobs = [queue.enqueue(add, i, i) for i in range(100)]
    assert queue.count == 100
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent) + os.pathsep
               + os.environ.get("PYTHONPATH", ""))
    worker = subprocess.run(
        [sys.executable, "-m", "rq.cli", "worker", "--burst", "--url",
         f"redis://127.0.0.1:{redkeep_server.port}/0", "redkeep-test"],
        capture_output=True, text=True, timeout=240, env=env)
    assert worker.returncode == 0, worker.stdout[-3000:] + worker.stderr[-3000:]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for job in jobs:
            job.refresh()
        if all(job.is_finished for job in jobs):
            break
        time.sleep(0.1)
    assert [job.get_status() for job in jobs] == ["finished"] * 100
    assert [job.return_value() for job in jobs] == [2 * i for i in range(100)]
    assert queue.count == 0
