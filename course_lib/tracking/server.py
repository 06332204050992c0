"""The tracking server: the platform's when configured, the course's own otherwise.

``MLFLOW_TRACKING_URI`` set (SSP Cloud, a shared server): every command uses
it, after checking it answers.  Not set: the course runs a real ``mlflow
server`` on 127.0.0.1 with a sqlite database and an artifact folder in the
state folder.  ``course mlflow`` keeps one up until stopped; any other command
that needs a server while none is up starts one for its own duration, so the
runs and the registry persist in the state folder between commands either way.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import requests

from course_lib import settings
from course_lib.errors import CourseError, ServerUnavailable
from course_lib.processes import (
    alive,
    free_port,
    require_free_port,
    stop_process_group,
    tied_to_parent,
)

DEFAULT_PORT = 5000
START_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class LocalServer:
    """A running local ``mlflow server`` (as recorded in its pid file)."""

    pid: int
    port: int
    log: Path

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _pid_file() -> Path:
    return settings.mlflow_dir() / "server.json"


def is_healthy(uri: str, timeout: float = 2.0) -> bool:
    """True when ``uri`` answers MLflow's ``/health`` (or is not an HTTP store)."""
    if not uri.startswith(("http://", "https://")):
        return True
    try:
        return requests.get(f"{uri.rstrip('/')}/health", timeout=timeout).ok
    except requests.RequestException:
        return False


def running_server() -> LocalServer | None:
    """The local server started by ``course mlflow``, if it is still up."""
    path = _pid_file()
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
        server = LocalServer(
            pid=int(record["pid"]), port=int(record["port"]), log=Path(record["log"])
        )
    except (ValueError, TypeError, KeyError):
        path.unlink(missing_ok=True)
        return None
    if alive(server.pid) and is_healthy(server.uri):
        return server
    if not alive(server.pid):
        path.unlink(missing_ok=True)
    return None


def server_command(port: int, state: Path) -> list[str]:
    """``mlflow server`` on loopback, one worker, sqlite + served artifacts."""
    return [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{state / 'mlflow.db'}",
        "--artifacts-destination", str(state / "artifacts"),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", "1",
    ]  # fmt: skip


SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
"""The course's own server runs no server-side jobs: MLflow 3 would otherwise start a job
runner and seven huey consumers the course never uses (10 processes, about 1.9 GB,
21 s to healthy; without them 2 processes, about 560 MB: ``course bench --suite
tracking``).  A platform's server is not the course's to configure."""
LOGS_KEPT = 10


@contextlib.contextmanager
def _start_lock(state: Path) -> Iterator[None]:
    """One server start at a time per state folder, until it answers.

    Two commands started together on a fresh folder each started a server,
    and both ran MLflow's database migrations: one failed ("duplicate column
    name").  The second now waits for the first server to be up (database
    migrated), then starts on the ready database.
    """
    with (state / "start.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _new_log(state: Path, port: int) -> Path:
    """A log per start (``logs/server-<port>.log``); only the newest few are kept."""
    folder = state / "logs"
    folder.mkdir(exist_ok=True)
    old = sorted(folder.glob("server-*.log"), key=lambda p: p.stat().st_mtime)[:-LOGS_KEPT]
    for path in old:
        path.unlink(missing_ok=True)
    return folder / f"server-{port}.log"


def _why_it_stopped(log: Path, database: Path) -> str:
    """The one line of the server's log that says why it stopped, and what to do."""
    lines = log.read_text(errors="replace").splitlines()
    errors = [ln for ln in lines if re.match(r"^[\w.]+(Error|Exception)\b.*:", ln)]
    reason = (errors or lines or ["no output"])[-1].strip()[:300]
    if "not a database" in reason or "malformed" in reason:
        return (
            f"the MLflow database {database} is damaged ({reason}). Move it aside "
            f"(mv {database} {database}.damaged) to start with an empty registry (its runs "
            f"and models are lost), or put back a copy; the server's log is {log}"
        )
    return f"{reason}; the server's log is {log}"


def start_server(
    port: int | None = None, record: bool = True, env: dict[str, str] | None = None
) -> LocalServer:
    """Start the local server, tied to this process's life, and wait until it answers.

    ``env`` replaces :data:`SERVER_ENV` (the tracking benchmark starts MLflow's
    default server next to the course's).
    """
    state = settings.mlflow_dir()
    with _start_lock(state):
        port = port or free_port()
        require_free_port(
            port, "stop what listens there or choose another port (course mlflow --port …)"
        )
        log = _new_log(state, port)
        with log.open("w") as handle:
            process = subprocess.Popen(
                tied_to_parent(server_command(port, state)), stdout=handle,
                stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, **(SERVER_ENV if env is None else env)},
            )  # fmt: skip
        server = LocalServer(pid=process.pid, port=port, log=log)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise CourseError(
                    f"the MLflow server stopped while starting (exit {process.returncode}): "
                    + _why_it_stopped(log, state / "mlflow.db")
                )
            if is_healthy(server.uri, timeout=1.0):
                if record:
                    _write_pid_file(server)
                return server
            time.sleep(0.3)
    stop_server(server)
    raise CourseError(f"the MLflow server did not answer within {START_TIMEOUT_S:.0f} s; see {log}")


def _write_pid_file(server: LocalServer) -> None:
    """Written whole under a unique name, then renamed: a reader never sees half of it."""
    record = json.dumps({"pid": server.pid, "port": server.port, "log": str(server.log)})
    partial = _pid_file().with_name(f".server-{os.getpid()}.json")
    partial.write_text(record)
    partial.replace(_pid_file())


def stop_server(server: LocalServer, timeout: float = 20.0) -> None:
    """Stop the server's process group (uvicorn worker, job runner) and forget it."""
    stop_process_group(server.pid, timeout)
    path = _pid_file()
    if path.exists() and json.loads(path.read_text()).get("pid") == server.pid:
        path.unlink()


def servers_of_this_folder() -> list[int]:
    """Process groups of every MLflow server running on this state folder's database.

    Found by their command line, not by a record: a server whose recording
    process was killed is found too.
    """
    database = f"sqlite:///{settings.mlflow_dir() / 'mlflow.db'}"
    own = os.getpgid(0)
    groups = set()
    for process in psutil.process_iter(["pid", "cmdline"]):
        command = process.info["cmdline"] or []
        if database in command and "server" in command:
            with contextlib.suppress(ProcessLookupError):
                groups.add(os.getpgid(process.info["pid"]))
    return sorted(groups - {own})


def stop_servers(timeout: float = 20.0) -> int:
    """``course mlflow --stop``: stop every server of this state folder; how many there were."""
    groups = servers_of_this_folder()
    for group in groups:
        stop_process_group(group, timeout)
    _pid_file().unlink(missing_ok=True)
    return len(groups)


def check_reachable(uri: str) -> None:
    """Raise a message naming the URI and the way out when it does not answer."""
    if not is_healthy(uri, timeout=5.0):
        raise ServerUnavailable(
            f"the MLflow tracking server at {uri} (from MLFLOW_TRACKING_URI) does not answer. "
            "Check the address and that the service is running (on SSP Cloud: your MLflow "
            "service's page), or unset MLFLOW_TRACKING_URI to use the course's local server."
        )


@contextlib.contextmanager
def tracking_server(check: bool = True) -> Iterator[str]:
    """Yield a tracking URI that answers, starting a local server if needed.

    The URI is also set in ``MLFLOW_TRACKING_URI`` for the duration, so MLflow
    calls and subprocesses (``mlflow run``, papermill kernels) use it.
    ``check=False`` trusts a configured URI without asking it first: the API
    in a pod must start (and say why it is not ready) even while the registry
    is down, rather than exit and crash-loop.
    """
    import mlflow

    configured = os.environ.get("MLFLOW_TRACKING_URI")
    if configured:
        if check:
            check_reachable(configured)
        mlflow.set_tracking_uri(configured)
        yield configured
        return
    server = running_server()
    temporary = None
    if server is None:
        temporary = server = start_server(record=False)
    os.environ["MLFLOW_TRACKING_URI"] = server.uri
    mlflow.set_tracking_uri(server.uri)
    try:
        yield server.uri
    finally:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        mlflow.set_tracking_uri(None)
        if temporary is not None:
            stop_server(temporary)


def connect() -> str:
    """For notebooks: point MLflow at the configured or running server and return its URI.

    A lab cannot start a server for its own duration the way a command does
    (the server must outlive the cell), so it uses ``MLFLOW_TRACKING_URI`` or
    the server ``course mlflow`` keeps up, and says how to start one if none.
    """
    import mlflow

    # One bar per artifact file drowns a notebook cell that loads a model.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        check_reachable(uri)
    else:
        server = running_server()
        if server is None:
            raise CourseError(
                "no MLflow tracking server: start one in a terminal with `uv run course mlflow` "
                "(on SSP Cloud, launch an MLflow service: MLFLOW_TRACKING_URI is then set)."
            )
        uri = server.uri
    mlflow.set_tracking_uri(uri)
    return uri


def keep_server_up(port: int = DEFAULT_PORT, status: Callable[[str], object] = print) -> None:
    """``course mlflow``: start the local server and keep it up until Ctrl-C or SIGTERM.

    An already running local server is left as it is (one per state folder).
    ``status`` receives one line per step.
    """
    running = running_server()
    if running:
        status(
            f"an MLflow server is already running at {running.uri} (pid {running.pid}); "
            "`course mlflow --stop` stops it"
        )
        return
    status(f"starting MLflow on 127.0.0.1:{port} (state in {settings.mlflow_dir()})…")
    server = start_server(port)
    status(f"MLflow tracking server: {server.uri}  (log: {server.log})")
    status(f"in another shell: export MLFLOW_TRACKING_URI={server.uri}")
    status("Ctrl-C stops it.")
    try:
        while running_server():
            time.sleep(1)
        status("the MLflow server stopped.")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        stop_server(server)
        status("MLflow server stopped.")
