"""The servers the course starts: tied to their parent, findable, one start at a time.

Faults injected: the parent killed by SIGTERM, SIGHUP or SIGKILL; a stray
server nothing recorded; two commands started together on a fresh state
folder; a damaged database; the server killed while a model trains.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from course_lib.processes import alive, free_port
from course_lib.tracking import server as tracking
from tests.polling import wait_until
from tests.servers import mlflow_servers_under, run_statuses

COURSE = shutil.which("course")
SMALL = ["--rows", "3000", "--dim", "10", "--epoch", "2", "--bucket", "5000", "--no-examples"]


def course(state: Path, *args: str) -> subprocess.Popen:
    """``course ARGS`` on its own state folder and its own temporary server."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["COURSE_STATE_DIR"] = str(state)
    return subprocess.Popen(
        [COURSE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def read_until(process: subprocess.Popen, marker: str) -> str:
    """The command's output up to the line holding ``marker`` (it must come)."""
    lines = []
    for line in process.stdout:
        lines.append(line)
        if marker in line:
            return "".join(lines)
    raise AssertionError(f"no {marker!r} in:\n{''.join(lines)}\n{process.stderr.read()}")


SLEEPER = textwrap.dedent(
    """
    import subprocess, sys, time
    from course_lib.processes import tied_to_parent
    child = subprocess.Popen(tied_to_parent(["sleep", "300"]), start_new_session=True)
    print(child.pid, flush=True)
    time.sleep(300)
    """
)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_a_supervised_process_dies_with_its_parent(signum):
    parent = subprocess.Popen([sys.executable, "-c", SLEEPER], stdout=subprocess.PIPE, text=True)
    supervisor = int(parent.stdout.readline())
    [sleeper] = wait_until(lambda: psutil.Process(supervisor).children(), 10, "the child")
    parent.send_signal(signum)
    parent.wait(timeout=10)
    wait_until(lambda: _gone(sleeper), 5, "the child")
    wait_until(lambda: not alive(supervisor), 5, "the supervisor")


def _gone(process: psutil.Process) -> bool:
    """Exited or a zombie; it may vanish between two questions (seen under load)."""
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_an_interrupted_command_leaves_no_server_and_no_running_run(tmp_path, signum):
    """The 2.7 GB orphan of the report, and its run RUNNING for ever."""
    command = course(tmp_path, "train", "--rows", "20000", "--epoch", "20", "--no-examples")
    read_until(command, "training fastText")
    assert len(mlflow_servers_under(tmp_path)) == 1
    command.send_signal(signum)
    command.wait(timeout=120)
    wait_until(lambda: not mlflow_servers_under(tmp_path), 10, "the temporary server to stop")
    if signum != signal.SIGKILL:  # a process killed outright cannot end its run
        assert run_statuses(tmp_path) == ["KILLED"]
        assert "Traceback" not in command.stderr.read()


@pytest.mark.slow
def test_course_mlflow_killed_outright_takes_its_server_with_it(tmp_path):
    port = free_port()
    command = course(tmp_path, "mlflow", "--port", str(port))
    read_until(command, "Ctrl-C stops it")
    command.kill()
    command.wait(timeout=10)
    wait_until(lambda: not mlflow_servers_under(tmp_path), 10, "the server to stop")
    assert not tracking.is_healthy(f"http://127.0.0.1:{port}")


@pytest.mark.slow
def test_course_mlflow_stop_finds_a_server_nothing_recorded(tmp_path):
    """A server started by hand (or left by a killed supervisor) is found by its command."""
    state = tmp_path / "mlflow"
    state.mkdir()
    port = free_port()
    stray = subprocess.Popen(
        tracking.server_command(port, state), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, **tracking.SERVER_ENV},
    )  # fmt: skip
    try:
        wait_until(lambda: tracking.is_healthy(f"http://127.0.0.1:{port}"), 90, "the stray")
        stop = course(tmp_path, "mlflow", "--stop")
        out, err = stop.communicate(timeout=60)
        assert stop.returncode == 0, err
        assert "1 MLflow server(s) stopped" in out
        wait_until(lambda: stray.poll() is not None, 10, "the stray server to stop")
    finally:
        if stray.poll() is None:
            os.killpg(stray.pid, signal.SIGKILL)


@pytest.mark.slow
def test_two_commands_at_once_on_a_fresh_folder_both_succeed(tmp_path):
    """Both used to start a server that migrated the new database: one failed."""
    trains = [course(tmp_path, "train", *SMALL) for _ in range(2)]
    datas = [course(tmp_path, "data", "--rows", "1600", "--seed", "9") for _ in range(2)]
    for process in trains + datas:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-2000:]
    assert sorted(run_statuses(tmp_path)) == ["FINISHED", "FINISHED"]
    assert not list((tmp_path / "data").glob("*.tmp")), "a partial cache was left behind"


def test_a_damaged_database_is_named_with_the_way_out(tmp_path):
    (tmp_path / "mlflow").mkdir()
    database = tmp_path / "mlflow" / "mlflow.db"
    database.write_bytes(b"this is not sqlite" * 100)
    _, err = course(tmp_path, "predict", "taxi").communicate(timeout=120)
    message = " ".join(err.split())
    assert f"the MLflow database {database} is damaged" in message
    assert f"mv {database} {database}.damaged" in message
    assert "Traceback" not in err and len(err) < 1_500


def test_the_course_s_server_runs_without_mlflow_s_job_runner(mlflow_server):
    """MLflow 3 would start a job runner and seven huey consumers (about 1.9 GB)."""
    [server] = [s for s in tracking.servers_of_this_folder() if alive(s)] or pytest.fail(
        "no server found for the session's state folder"
    )
    processes = [psutil.Process(server), *psutil.Process(server).children(recursive=True)]
    commands = [" ".join(p.cmdline()) for p in processes]
    assert not any("huey" in c or "job" in c for c in commands), commands
    assert len(processes) <= 3, commands  # supervisor, mlflow server, its one worker


@pytest.mark.slow
def test_a_server_that_dies_mid_training_costs_one_line_and_no_model(tmp_path):
    """Silent for 514 s, ten tracebacks and the model lost: now a sentence and a folder."""
    command = course(tmp_path, "train", "--rows", "20000", "--epoch", "20", "--no-examples")
    read_until(command, "training fastText")
    for pid in mlflow_servers_under(tmp_path):
        os.killpg(os.getpgid(pid), signal.SIGKILL)
    out, err = command.communicate(timeout=180)
    assert command.returncode == 1
    assert "Traceback" not in err
    message = " ".join(err.split())
    assert "stopped answering while the run was logged" in message
    [kept] = list((tmp_path / "unlogged").iterdir())
    assert (kept / "model.bin").stat().st_size > 0
    assert f"course log-saved {kept}" in message

    relog = course(tmp_path, "log-saved", str(kept))
    out, err = relog.communicate(timeout=300)
    assert relog.returncode == 0, err
    assert "registered fasttext v1" in out
    assert not kept.exists()
    assert sorted(run_statuses(tmp_path)) == ["FAILED", "FINISHED"]
