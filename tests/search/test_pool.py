"""The worker pool under faults: failed tasks, killed workers, an interrupted or killed parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from course_lib.errors import CourseError
from course_lib.processes import alive
from course_lib.search.pool import Finished, Started, WorkerPool
from tests.conftest import ROOT
from tests.search import tasks


def finished(events) -> dict[int, Finished]:
    return {e.index: e for e in events if isinstance(e, Finished)}


def test_every_task_runs_once_and_reports_which_worker_took_it():
    pool = WorkerPool(tasks.square, workers=2)
    events = list(pool.run([1, 2, 3, 4, 5]))
    done = finished(events)
    assert {i: e.result for i, e in done.items()} == {0: 1, 1: 4, 2: 9, 3: 16, 4: 25}
    started = [e for e in events if isinstance(e, Started)]
    assert sorted(e.index for e in started) == [0, 1, 2, 3, 4]
    assert len({e.pid for e in started}) <= 2 and os.getpid() not in {e.pid for e in started}
    assert pool.pids() == []


def test_a_failing_or_dying_task_is_reported_and_the_others_finish():
    events = list(WorkerPool(tasks.square_or_fail, workers=2).run([1, 3, 4, 5, 6, 7]))
    done = finished(events)
    assert {i: e.result for i, e in done.items() if e.error is None} == {0: 1, 4: 36, 5: 49}
    assert done[1].error == "three is not allowed"  # a CourseError is the user's message
    assert done[2].error == "ZeroDivisionError: division by zero"  # a bug keeps its type
    assert "worker process died (signal SIGKILL)" in done[3].error


def test_one_worker_that_dies_on_its_only_task_does_not_hang_the_pool():
    done = finished(WorkerPool(tasks.square_or_fail, workers=1).run([5, 2]))
    assert "died" in done[0].error and done[1].result == 4


def test_stopping_early_stops_and_reaps_every_worker():
    pool = WorkerPool(tasks.sleep, workers=2)
    events = pool.run([30.0, 30.0, 30.0])
    pids = set()
    for event in events:
        pids.add(event.pid)
        if len(pids) == 2:
            break
    events.close()  # what a KeyboardInterrupt in the loop does to the generator
    assert pool.pids() == []
    assert not any(alive(pid) for pid in pids)


def test_zero_workers_is_refused():
    with pytest.raises(CourseError, match="at least 1 worker"):
        WorkerPool(tasks.square, workers=0)


PARENT = textwrap.dedent(
    """
    import sys
    from course_lib.search.pool import Started, WorkerPool
    from tests.search import tasks

    seen = set()
    for event in WorkerPool(tasks.sleep, workers=2).run([60.0, 60.0]):
        if isinstance(event, Started):
            seen.add(event.pid)
            print(event.pid, flush=True)
    """
)


def _parent_with_two_workers() -> tuple[subprocess.Popen, list[int]]:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    pids = [int(parent.stdout.readline()) for _ in range(2)]
    assert all(alive(pid) for pid in pids)
    return parent, pids


def _gone(pids: list[int], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(alive(pid) for pid in pids):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGHUP])
def test_workers_die_with_their_parent(signum):
    """kill -9 leaves the parent no chance to clean up: the kernel's death signal does it."""
    parent, pids = _parent_with_two_workers()
    parent.send_signal(signum)
    parent.wait(timeout=10)
    assert _gone(pids), f"workers {pids} outlived their parent ({signum.name})"


def test_ctrl_c_in_the_parent_stops_the_workers_it_ignores_in_them():
    parent, pids = _parent_with_two_workers()
    parent.send_signal(signal.SIGINT)
    assert parent.wait(timeout=15) != 0
    assert _gone(pids)
