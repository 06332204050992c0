"""A small pool of worker processes that never outlives its parent.

``concurrent.futures.ProcessPoolExecutor`` would run the trainings, but not
the way a course can trust on the day: on Ctrl-C its workers receive the
terminal's SIGINT too and die with tracebacks mid-run; a worker killed by the
kernel (out of memory) breaks the whole pool, so one bad configuration loses
all the others; and nothing stops its workers when the parent is killed with
SIGKILL.  This pool:

- ignores SIGINT in the workers: Ctrl-C reaches the parent, which stops them
  (SIGTERM, then SIGKILL after a grace period) and reaps every one;
- ties each worker to its parent (``PR_SET_PDEATHSIG`` on Linux, and a
  watcher thread elsewhere), so ``kill -9`` of the parent leaves no orphan;
- reports a worker that died while training as that task's failure and starts
  a replacement, so the remaining tasks still run.

Workers are started with ``spawn``: a fresh interpreter, safe in a parent
that runs threads (MLflow's, Jupyter's), and the same on Linux and macOS.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any, Generic, TypeVar

from course_lib.errors import CourseError

T = TypeVar("T")
R = TypeVar("R")

STOP_GRACE_S = 3.0
"""How long a worker has to exit after SIGTERM before it is killed."""
POLL_S = 0.2
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Started:
    """A worker took task ``index``."""

    index: int
    pid: int


@dataclass(frozen=True)
class Finished(Generic[R]):
    """Task ``index`` ended: its result, or the error that stopped it (one line)."""

    index: int
    result: R | None
    error: str | None
    seconds: float


def _die_with_parent(parent: int) -> None:
    """Exit when ``parent`` dies: the kernel's death signal on Linux, a watcher thread
    otherwise (it cannot run while native code holds the GIL, hence the kernel first)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # died before the line above ran
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def _error_line(exc: BaseException) -> str:
    """What went wrong, in one line: a user-facing message as it is, a bug with its type."""
    text = " ".join(str(exc).split())
    if isinstance(exc, CourseError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _work(
    task: Callable[[Any], Any], tasks: multiprocessing.Queue, events: multiprocessing.Queue,
    parent: int,
) -> None:  # fmt: skip
    """A worker's life: take (index, argument) pairs until the ``None`` that ends it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _die_with_parent(parent)
    for index, argument in iter(tasks.get, None):
        events.put(Started(index, os.getpid()))
        started = time.perf_counter()
        try:
            result, error = task(argument), None
        except Exception as exc:  # a failed configuration is reported, the worker goes on
            result, error = None, _error_line(exc)
            traceback.print_exc()  # for the log: the one line above is for the summary
        events.put(Finished(index, result, error, time.perf_counter() - started))


class WorkerPool:
    """Run ``task`` on each argument in ``workers`` processes; see :meth:`run`."""

    def __init__(self, task: Callable[[T], R], workers: int) -> None:
        if workers < 1:
            raise CourseError(f"--workers {workers}: give at least 1 worker")
        self.task, self.workers = task, workers
        self._context = multiprocessing.get_context("spawn")
        self._tasks: multiprocessing.Queue = self._context.Queue()
        self._events: multiprocessing.Queue = self._context.Queue()
        self._processes: list[BaseProcess] = []
        self._late: list[Any] = []
        self._stopped = False

    def _start_worker(self) -> None:
        process = self._context.Process(
            target=_work,
            args=(self.task, self._tasks, self._events, os.getpid()),
            name=f"search-worker-{len(self._processes) + 1}",
            daemon=True,  # multiprocessing terminates daemons when the parent exits normally
        )
        process.start()
        self._processes.append(process)

    def run(self, arguments: Sequence[T]) -> Iterator[Started | Finished[R]]:
        """Events as they happen: a :class:`Started` when a worker takes a task, a
        :class:`Finished` when it ends (in completion order).  Stopping the
        iteration early (an exception, Ctrl-C, ``close()``) stops every worker."""
        for item in enumerate(arguments):
            self._tasks.put(item)
        for _ in range(min(self.workers, len(arguments))):
            self._tasks.put(None)
            self._start_worker()
        running: dict[int, int] = {}  # pid -> task index
        done = 0
        try:
            while done < len(arguments):
                try:
                    event = self._late.pop() if self._late else self._events.get(timeout=POLL_S)
                except queue.Empty:
                    for index, error in self._reap_dead(running):
                        done += 1
                        yield Finished(index, None, error, 0.0)
                    self._require_workers()
                    continue
                if isinstance(event, Started):
                    running[event.pid] = event.index
                else:
                    running = {p: i for p, i in running.items() if i != event.index}
                    done += 1
                yield event
        finally:
            self.stop()

    def _reap_dead(self, running: dict[int, int]) -> Iterator[tuple[int, str]]:
        """Tasks whose worker died mid-task, as failures; a replacement takes the rest."""
        for process in list(self._processes):
            if process.exitcode is None or process.pid not in running:
                continue
            index = running.pop(process.pid)
            self._processes.remove(process)
            code = process.exitcode
            how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
            self._tasks.put(None)  # the dead worker's end-of-work marker was never taken
            self._start_worker()
            yield index, f"the worker process died ({how}): out of memory, or killed"

    def _require_workers(self) -> None:
        """Workers that all exited without a task (a broken environment) would leave the
        parent waiting forever: say so instead."""
        if self._processes and all(p.exitcode is not None for p in self._processes):
            with contextlib.suppress(queue.Empty):  # the last events may still be in flight
                self._late.append(self._events.get(timeout=1.0))
                return
            codes = sorted({p.exitcode for p in self._processes})
            raise CourseError(
                f"every search worker exited before finishing (exit codes {codes}); "
                "the error each printed is above"
            )

    def stop(self) -> None:
        """SIGTERM every worker, SIGKILL those still there after the grace, reap all."""
        if self._stopped:
            return
        self._stopped = True
        for process in self._processes:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for process in self._processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        self._processes.clear()
        for channel in (self._tasks, self._events):
            channel.cancel_join_thread()  # undelivered tasks must not block the exit
            channel.close()

    def pids(self) -> list[int]:
        """Process ids of the live workers (for tests that prove none is left)."""
        return [p.pid for p in self._processes if p.pid is not None and p.is_alive()]
