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
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
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


def _work(task: Callable[[Any], Any], conn: Connection, parent: int) -> None:
    """A worker's life: receive (index, argument) pairs until ``None``; answer each with
    a :class:`Finished` on the same pipe (a direct write: nothing is left in a buffer
    if the worker is killed right after)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _die_with_parent(parent)
    for index, argument in iter(conn.recv, None):
        started = time.perf_counter()
        try:
            result, error = task(argument), None
        except Exception as exc:  # a failed configuration is reported, the worker goes on
            result, error = None, _error_line(exc)
            if not isinstance(exc, CourseError):  # a bug: its traceback, for the log
                traceback.print_exc()
        conn.send(Finished(index, result, error, time.perf_counter() - started))


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    task: int | None = None  # the index it is working on


class WorkerPool:
    """Run ``task`` on each argument in ``workers`` processes; see :meth:`run`.

    The parent hands each task to an idle worker over that worker's own pipe,
    so it always knows who holds what: a worker that dies is that task's
    failure, and no shared queue is left locked by a process killed mid-read.
    """

    def __init__(self, task: Callable[[T], R], workers: int) -> None:
        if workers < 1:
            raise CourseError(f"--workers {workers}: give at least 1 worker")
        self.task, self.workers = task, workers
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._stopped = False

    def _start_worker(self) -> _Worker:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=_work,
            args=(self.task, theirs, os.getpid()),
            name="search-worker",
            daemon=True,  # multiprocessing terminates daemons when the parent exits normally
        )
        process.start()
        theirs.close()  # the worker's end lives in the worker: EOF here when it dies
        worker = _Worker(process, ours)
        self._workers.append(worker)
        return worker

    def run(self, arguments: Sequence[T]) -> Iterator[Started | Finished[R]]:
        """Events as they happen: a :class:`Started` when a worker is given a task, a
        :class:`Finished` when it ends (in completion order).  Stopping the
        iteration early (an exception, Ctrl-C, ``close()``) stops every worker."""
        pending = list(enumerate(arguments))[::-1]  # popped from the end: first task first
        done = 0
        try:
            for _ in range(min(self.workers, len(arguments))):
                self._start_worker()
            for worker in self._workers:
                yield from self._dispatch(worker, pending)
            while done < len(arguments):
                ready = wait([w.conn for w in self._workers if w.task is not None], POLL_S)
                for worker in [w for w in self._workers if w.conn in ready]:
                    event = self._receive(worker)
                    done += 1
                    yield event
                    if worker in self._workers:
                        yield from self._dispatch(worker, pending)
                    elif pending:
                        yield from self._dispatch(self._start_worker(), pending)
        finally:
            self.stop()

    def _dispatch(self, worker: _Worker, pending: list[tuple[int, Any]]) -> Iterator[Started]:
        if not pending:
            worker.task = None
            return
        index, argument = pending.pop()
        worker.task = index
        worker.conn.send((index, argument))
        yield Started(index, worker.process.pid or 0)

    def _receive(self, worker: _Worker) -> Finished:
        """The worker's answer, or (it died: EOF on its pipe) its task's failure."""
        try:
            event = worker.conn.recv()
        except (EOFError, OSError):
            worker.process.join(STOP_GRACE_S)
            self._workers.remove(worker)
            worker.conn.close()
            code = worker.process.exitcode
            if code is None:
                how = "its pipe closed"
            elif code < 0:
                how = f"signal {signal.Signals(-code).name}"
            else:
                how = f"exit code {code}"
            error = f"the worker process died ({how}): out of memory, or killed"
            return Finished(worker.task if worker.task is not None else -1, None, error, 0.0)
        return event

    def stop(self) -> None:
        """Tell idle workers to finish, SIGTERM the busy ones, SIGKILL any still there after
        the grace period, and reap them all."""
        if self._stopped:
            return
        self._stopped = True
        for worker in self._workers:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
            if worker.task is not None and worker.process.is_alive():
                worker.process.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for worker in self._workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self._workers.clear()

    def pids(self) -> list[int]:
        """Process ids of the live workers (for tests that prove none is left)."""
        return [w.process.pid for w in self._workers if w.process.is_alive() and w.process.pid]
