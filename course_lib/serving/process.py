"""The API as a real server process: started on a free port, waited for, stopped.

A notebook cannot block on ``uvicorn.run``, and the tests and benchmarks must
measure the API as trainees run it (a separate process speaking HTTP), not an
in-process test client.  The server runs in its own process group, under a
supervisor that stops it if the notebook's kernel dies (see
:func:`course_lib.processes.tied_to_parent`); ``course serve`` stops the
temporary MLflow server it may have started.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from course_lib import settings
from course_lib.errors import CourseError
from course_lib.processes import (
    free_port,
    require_free_port,
    stop_process_group,
    tied_to_parent,
)

READY_TIMEOUT_S = 180.0

_STARTED: dict[int, ApiProcess] = {}
"""Every API this Python process started and has not stopped: stopped at exit, so a
notebook cell run twice or a failed cell never leaves a server holding a model."""


@dataclass(frozen=True)
class ApiProcess:
    pid: int
    port: int
    log: Path
    root_path: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 3_000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def serve_command(port: int, model: str | None, version: str | None, root_path: str) -> list[str]:
    command = [sys.executable, "-m", "course_lib", "serve", "--port", str(port)]
    if model:
        command += ["--model", model]
    if version:
        command += ["--version", str(version)]
    if root_path:
        command += ["--root-path", root_path]
    return command


def start_api(
    model: str | None = None,
    version: str | None = None,
    port: int | None = None,
    root_path: str = "",
    env: dict[str, str] | None = None,
    wait: bool = True,
) -> ApiProcess:
    """``course serve`` in the background; by default, return once ``/ready`` says 200."""
    port = port or free_port()
    require_free_port(port, "another API still running? Stop it, or leave the port out")
    log = settings.state_dir() / f"api-{port}.log"
    with log.open("w") as handle:
        process = subprocess.Popen(
            tied_to_parent(serve_command(port, model, version, root_path)),
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {}), "NO_COLOR": "1"},
        )
    api = ApiProcess(pid=process.pid, port=port, log=log, root_path=root_path)
    _STARTED[api.pid] = api
    if wait:
        try:
            wait_until_ready(api, process)
        except BaseException:
            stop_api(api)
            raise
    return api


def wait_until_ready(
    api: ApiProcess, process: subprocess.Popen | None = None, timeout: float = READY_TIMEOUT_S
) -> None:
    """Poll ``/ready``; on failure, raise with the reason and the end of the server's log."""
    deadline = time.monotonic() + timeout
    detail = "no answer yet"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise CourseError(
                f"the API stopped while starting (exit {process.returncode}); its log "
                f"({api.log}) ends with:\n{api.log_tail()}"
            )
        with contextlib.suppress(requests.RequestException):
            response = requests.get(f"{api.url}/ready", timeout=2)
            if response.status_code == 200:
                return
            detail = response.json().get("detail", response.text)
        time.sleep(0.3)
    raise CourseError(f"the API at {api.url} was not ready after {timeout:.0f} s: {detail}")


def stop_api(api: ApiProcess, timeout: float = 30.0) -> None:
    """SIGTERM the process group (uvicorn shuts down gracefully), SIGKILL if it lingers."""
    _STARTED.pop(api.pid, None)
    stop_process_group(api.pid, timeout)


@atexit.register
def stop_all() -> None:
    """Stop every API still running that this process started."""
    for api in list(_STARTED.values()):
        stop_api(api)


@contextlib.contextmanager
def running_api(**kwargs) -> Iterator[ApiProcess]:
    """``with running_api(model="fasttext", version="1") as api: requests.get(api.url)``."""
    api = start_api(**kwargs)
    try:
        yield api
    finally:
        stop_api(api)
