"""The `course` command as a person runs it: real processes, real output."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from course_lib.cli import app
from course_lib.data.corpus import GENERATOR_VERSION
from course_lib.processes import alive, free_port
from course_lib.tracking import server as tracking
from tests.conftest import SMALL

COURSE = shutil.which("course")


def run(*args: str, env: dict[str, str] | None = None, timeout: int = 300):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [COURSE, *args], capture_output=True, text=True, env=full_env, timeout=timeout
    )


def test_predict_answers_from_the_registry_with_labels(small_model):
    out = run("predict", "boulanger", "coiffeur, & 98789", "-k", "2", "--model", SMALL.model_name)
    assert out.returncode == 0, out.stderr
    assert "10.71C" in out.stdout and "Boulangerie" in out.stdout
    assert f"2 description(s) classified by models:/{SMALL.model_name}/" in out.stdout


def invoke(*args: str) -> Result:
    """The command in this process (no start-up cost); errors stay exceptions."""
    return CliRunner().invoke(app, ["--help"] if not args else list(args), env={"COLUMNS": "200"})


def test_evaluate_prints_a_table_of_levels(small_model):
    result = invoke("evaluate", "--model", SMALL.model_name, "--alias", "champion")
    assert result.exit_code == 0, result.output
    for level in ("accuracy_section", "accuracy_subclass", "top5_accuracy_subclass"):
        assert level in result.output
    assert "212 descriptions: subclass" in result.output


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_version_and_alias_name_the_same_model_in_every_command(small_model, command):
    """--version takes a number or an alias, --alias an alias: the same model either way."""
    texts = ["taxi"] if command == "predict" else []
    name, version = SMALL.model_name, small_model.model_version
    by_alias = invoke(command, *texts, "--model", name, "--alias", "champion")
    by_version = invoke(command, *texts, "--model", name, "--version", "champion")
    by_number = invoke(command, *texts, "--model", name, "--version", version)
    assert by_alias.exit_code == by_version.exit_code == by_number.exit_code == 0
    assert f"models:/{name}@champion" in by_alias.output
    assert f"models:/{name}/{version}" in by_number.output
    assert _table_rows(by_alias.output) == _table_rows(by_version.output)
    assert _table_rows(by_alias.output) == _table_rows(by_number.output)


def _table_rows(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("│")]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["predict", "taxi", "--model", "no-such-model"], "no registered model 'no-such-model'"),
        (["predict", "taxi", "--model", SMALL.model_name, "--version", "999"], "version 999"),
        (["predict", "taxi", "--model", SMALL.model_name, "--alias", "gold"], "alias 'gold'"),
        (["predict", "   ", "--model", SMALL.model_name], "is empty"),
        (
            ["evaluate", "--data", "/nonexistent/file.csv", "--model", SMALL.model_name],
            "no such file",
        ),
    ],
)
def test_user_mistakes_get_a_message_not_a_traceback(small_model, args, message):
    out = run(*args)
    assert out.returncode == 1
    assert message in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_unreachable_server_names_the_uri_and_the_way_out():
    """Exit 75 (worth retrying), not 1: Argo's search workflow retries a pod on 75 only."""
    uri = f"http://127.0.0.1:{free_port()}"
    out = run("predict", "taxi", env={"MLFLOW_TRACKING_URI": uri})
    assert out.returncode == 75
    assert uri in out.stderr and "unset MLFLOW_TRACKING_URI" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_data_command_generates_and_describes(tmp_path):
    out = run("data", "--rows", "2000", "--seed", "3", env={"COURSE_STATE_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert "2,000 descriptions, 732 subclasses" in out.stdout
    assert (tmp_path / "data" / f"corpus-v{GENERATOR_VERSION}-n2000-seed3.parquet").exists()


@pytest.mark.slow
def test_commands_start_a_local_server_when_none_is_configured(tmp_path: Path):
    """Nothing started by hand: train starts a server, stops it, and the registry persists."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["COURSE_STATE_DIR"] = str(tmp_path)
    small = ["--rows", "3000", "--dim", "10", "--epoch", "2", "--bucket", "5000"]
    out = subprocess.run(
        [COURSE, "train", *small, "--alias", "champion"], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    assert "registered fasttext v1" in out.stdout
    [uri] = re.findall(r"tracking server: (http://127\.0\.0\.1:\d+)", out.stdout)
    assert not tracking.is_healthy(uri), "the temporary server was left running"
    out = subprocess.run(
        [COURSE, "predict", "boulanger", "--alias", "champion"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "models:/fasttext@champion" in out.stdout
    assert (tmp_path / "mlflow" / "mlflow.db").exists()


@pytest.mark.slow
def test_course_mlflow_serves_until_stopped(tmp_path: Path):
    port = free_port()
    env = {**os.environ, "COURSE_STATE_DIR": str(tmp_path)}
    process = subprocess.Popen(
        [COURSE, "mlflow", "--port", str(port)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "Ctrl-C stops it" in line:
                break
        assert f"http://127.0.0.1:{port}" in "".join(lines)
        assert tracking.is_healthy(f"http://127.0.0.1:{port}")
        os.environ["COURSE_STATE_DIR"], previous = str(tmp_path), os.environ["COURSE_STATE_DIR"]
        try:
            server = tracking.running_server()
        finally:
            os.environ["COURSE_STATE_DIR"] = previous
        assert server is not None and server.port == port
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert not tracking.is_healthy(f"http://127.0.0.1:{port}")
    assert not alive(server.pid)


@pytest.mark.parametrize(
    ("rows", "says"),
    [
        ("5610A,restaurant\n1071C,boulangerie\n", "has one row per code (2 rows, 2 code(s))"),
        ("5610A,restaurant\n5610A,bistrot\n", "with --test-size 0.2, a code needs 3 rows"),
    ],
)
def test_training_on_too_little_data_says_what_it_lacks(tmp_path, mlflow_server, rows, says):
    path = tmp_path / "tiny.csv"
    path.write_text("nace,text\n" + rows)
    out = run("train", "--data", str(path), "--register", "")
    assert out.returncode == 1
    assert says in " ".join(out.stderr.split()) and "Traceback" not in out.stderr
    assert "larger --test-size" not in out.stderr
