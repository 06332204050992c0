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
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from course_lib import settings
from course_lib.errors import CourseError
from course_lib.processes import alive, free_port, require_free_port, stop_process_group

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


def start_server(port: int | None = None, record: bool = True) -> LocalServer:
    """Start the local server and wait until it answers; raise with its log if not."""
    state = settings.mlflow_dir()
    port = port or free_port()
    require_free_port(
        port, "stop what listens there or choose another port (course mlflow --port …)"
    )
    log = state / "server.log"  # one file for every start; each start appends a header
    with log.open("a") as handle:
        handle.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} mlflow server on port {port}\n")
        handle.flush()
        process = subprocess.Popen(
            server_command(port, state), stdout=handle, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    server = LocalServer(pid=process.pid, port=port, log=log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CourseError(
                f"the MLflow server stopped while starting (exit {process.returncode}); "
                f"its log is {log}:\n{log.read_text()[-2000:]}"
            )
        if is_healthy(server.uri, timeout=1.0):
            if record:
                _pid_file().write_text(
                    json.dumps({"pid": server.pid, "port": port, "log": str(log)})
                )
            return server
        time.sleep(0.3)
    stop_server(server)
    raise CourseError(f"the MLflow server did not answer within {START_TIMEOUT_S:.0f} s; see {log}")


def stop_server(server: LocalServer, timeout: float = 20.0) -> None:
    """Stop the server's process group (uvicorn worker, job runner) and forget it."""
    stop_process_group(server.pid, timeout)
    path = _pid_file()
    if path.exists() and json.loads(path.read_text()).get("pid") == server.pid:
        path.unlink()


def check_reachable(uri: str) -> None:
    """Raise a message naming the URI and the way out when it does not answer."""
    if not is_healthy(uri, timeout=5.0):
        raise CourseError(
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
        status(f"an MLflow server is already running at {running.uri} (pid {running.pid})")
        return
    status(f"starting MLflow on 127.0.0.1:{port} (state in {settings.mlflow_dir()})…")
    server = start_server(port)
    status(f"MLflow tracking server: {server.uri}  (log: {server.log})")
    status(f"in another shell: export MLFLOW_TRACKING_URI={server.uri}")
    status("Ctrl-C stops it.")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while running_server():
            time.sleep(1)
        status("the MLflow server stopped.")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        stop_server(server)
        status("MLflow server stopped.")
