"""The servers the course starts (MLflow, the API): free ports, process groups, parents.

Both servers run in a process group of their own (``start_new_session``), so
stopping the group stops every worker they forked, and both must refuse a
taken port before starting rather than fail to bind in a log nobody reads.

A process group of its own also means a server outlives its parent when the
parent dies without cleaning up (SIGKILL, a closed terminal, a crashed
kernel): a 2.7 GB MLflow server nobody could find.  So every server runs
under a small supervisor (:func:`tied_to_parent`, ``python -m
course_lib.processes``) that stops it within a second of its parent's death,
on Linux and macOS alike.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

from course_lib.errors import CourseError


def free_port() -> int:
    """A port nobody listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_free_port(port: int, what_to_do: str) -> None:
    """Refuse a taken port up front: a server that fails to bind says so only in its log."""
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise CourseError(f"port {port} is already in use on 127.0.0.1: {what_to_do}")


def alive(pid: int) -> bool:
    """True while ``pid`` exists (a zombie counts: reap your children)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_process_group(pid: int, timeout: float) -> None:
    """SIGTERM a process group started with ``start_new_session``; SIGKILL it if it lingers.

    The leader is reaped when it is our child: unreaped, it would stay a zombie
    and look alive until the timeout.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    if alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def interrupt_on_termination() -> None:
    """Make SIGTERM and SIGHUP interrupt like Ctrl-C (call from the main thread).

    Their default action ends Python at once: no ``finally``, so a temporary
    server outlived the command and the MLflow run stayed RUNNING.  As an
    interrupt, cleanup runs: the run is marked KILLED, the server stopped.
    """
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)


WATCH_PERIOD_S = 0.25
"""How often a supervisor checks that its parent is still there."""
STOP_TIMEOUT_S = 20.0


def tied_to_parent(command: list[str]) -> list[str]:
    """``command`` run under a supervisor that stops it when this process dies.

    Start the result with ``start_new_session=True``: the supervisor leads
    the new group, so :func:`stop_process_group` on its pid stops everything.
    """
    return [sys.executable, "-m", "course_lib.processes", str(os.getpid()), "--", *command]


def _supervise(parent: int, command: list[str]) -> int:
    """Run ``command`` until it exits, this process is told to stop, or ``parent`` dies."""
    stop_requested = False

    def request_stop(*_: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, request_stop)
    child = subprocess.Popen(command)
    while child.poll() is None:
        if stop_requested or os.getppid() != parent:  # orphans are adopted by another pid
            break
        time.sleep(WATCH_PERIOD_S)
    else:
        return child.returncode
    child.terminate()  # an MLflow server or uvicorn stops its own workers on SIGTERM
    try:
        return child.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(0, signal.SIGKILL)  # whatever is left of our group, ourselves included
        raise


if __name__ == "__main__":
    _parent, _separator, *_command = sys.argv[1:]
    sys.exit(_supervise(int(_parent), _command))
