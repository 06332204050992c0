"""The servers the course starts (MLflow, the API): free ports and process groups.

Both servers run in a process group of their own (``start_new_session``), so
stopping the group stops every worker they forked, and both must refuse a
taken port before starting rather than fail to bind in a log nobody reads.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
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
