"""``course etl`` as a trainee types it: progress, one summary line, one message on a mistake."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from course_lib.cli import app, main
from tests.conftest import ROOT
from tests.monitoring.test_etl import DAY, dataset, day_lines, write

cli_app = importlib.import_module("course_lib.cli.app")  # the module; `app` is the Typer app


def test_course_etl_prints_progress_and_the_summary_line(tmp_path):
    logs, out = tmp_path / "logs", tmp_path / "out"
    write(logs / "api" / "predictions.jsonl.1", [*day_lines(DAY, 30, "cli"), "oops\n"])
    result = CliRunner().invoke(app, ["etl", str(logs), "--dest", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert "read api/predictions.jsonl.1: 31 lines" in lines
    assert lines[-1].startswith(
        "30 new predictions and 0 refusals in 1 day from 1 file; 1 line rejected (1 foreign) → "
    )
    assert lines[-1].endswith("; 0 duplicates skipped")
    assert len(dataset(out)) == 30

    again = CliRunner().invoke(app, ["etl", str(logs), "--dest", str(out)])
    assert again.output.strip() == f"nothing new: 1 log file in {logs} unchanged since the last run"


def _course(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    course = shutil.which("course")
    assert course, "the `course` console script is not installed (uv sync)"
    return subprocess.run(
        [course, *args], capture_output=True, text=True, cwd=cwd, env=os.environ, timeout=120
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["etl", "ftp://example.org/logs"],
            "error: cannot read logs from ftp://example.org/logs: "
            "give a local folder or an s3://bucket/prefix",
        ),
        (
            ["etl", "--dest", "http://example.org/monitoring"],
            "error: cannot write the datasets "
            "to 'http://example.org/monitoring': give a local folder or an s3://bucket/prefix",
        ),
        (
            ["etl", "--dest", "s3://"],
            "error: s3:// names no valid bucket: write s3://bucket/prefix (bucket names are "
            "3 to 63 lowercase letters, digits, '.' and '-')",
        ),
    ],
    ids=["ftp source", "http dest", "no bucket"],
)
def test_a_bad_argument_is_one_message_without_traceback(args, message, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["course", *args])
    monkeypatch.setattr(cli_app, "interrupt_on_termination", lambda: None)  # keep pytest's signals
    for name, value in cli_app.MLFLOW_CLIENT_ENV.items():
        monkeypatch.setenv(name, value)  # main() sets them: restored after the test
    with pytest.raises(SystemExit) as exited:
        main()  # what the console script runs: CourseError -> one line, exit 1
    out = capsys.readouterr()
    assert exited.value.code == 1
    assert out.err.strip() == message
    assert "Traceback" not in out.err + out.out


@pytest.mark.slow
def test_a_file_as_destination_is_one_message_from_the_console_script(tmp_path):
    (tmp_path / "file").write_text("x")
    out = _course("etl", str(tmp_path), "--dest", str(tmp_path / "file"))
    assert out.returncode == 1
    assert f"{tmp_path / 'file'} is a file: --dest must be a folder" in out.stderr
    assert "Traceback" not in out.stderr
