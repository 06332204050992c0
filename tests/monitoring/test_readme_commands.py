"""The README's four monitoring commands, in order, as a trainee types them.

Real ``course`` processes on a fresh state folder, each with its defaults
(only the model is named: the session registers ``fasttext-small``, not
``fasttext``).  The default history ends after the planted change, so the
last command is an alert: exit status 1 and one line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib.model.training import TrainResult
from tests.conftest import SMALL

pytestmark = pytest.mark.slow


def course(*args: str, state: Path, tracking: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COURSE_STATE_DIR": str(state), "MLFLOW_TRACKING_URI": tracking}
    return subprocess.run(
        [sys.executable, "-m", "course_lib", *args],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip


def test_traffic_etl_dashboard_monitor_in_order_with_their_defaults(
    small_model: TrainResult, mlflow_server: str, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    traffic = course("traffic", "--model", SMALL.model_name, state=state, tracking=mlflow_server)
    assert traffic.returncode == 0, traffic.stderr
    assert "28 days of simulated traffic" in traffic.stdout
    etl = course("etl", state=state, tracking=mlflow_server)
    assert etl.returncode == 0 and "new predictions" in etl.stdout, etl.stderr
    dashboard = course("dashboard", state=state, tracking=mlflow_server)
    assert dashboard.returncode == 0, dashboard.stderr
    assert (state / "monitoring" / "dashboard.html").stat().st_size > 1_000_000
    check = course("monitor", "--check", state=state, tracking=mlflow_server)
    assert check.returncode == 1, check.stdout + check.stderr
    (line,) = check.stdout.strip().splitlines()
    assert line.startswith("ALERT ")
    assert "Traceback" not in check.stderr
