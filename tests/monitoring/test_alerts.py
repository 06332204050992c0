"""The alert: ``evaluate_alerts`` and ``course monitor [--check]`` on synthetic datasets."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from course_lib.cli import app
from course_lib.monitoring.alerts import Status, evaluate_alerts
from course_lib.monitoring.thresholds import THRESHOLDS
from tests.monitoring import synthetic

LAST = synthetic.START + timedelta(days=27)
CHANGED = replace(synthetic.stable().shifted("H", 0.32), low_share=0.42)


def write(root: Path, **history: object) -> Path:
    synthetic.write_datasets(root, synthetic.history(per_weekday=1_500, **history))
    return root


@pytest.fixture(scope="module")
def stable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(tmp_path_factory.mktemp("stable"), days=28, seed=1)


@pytest.fixture(scope="module")
def drifted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(
        tmp_path_factory.mktemp("drifted"), days=28, seed=2, change_day=21, changed=CHANGED
    )


def monitor(*args: str):
    return CliRunner().invoke(app, ["monitor", *args], env={"COLUMNS": "200"})


def test_a_stable_day_is_ok_with_every_indicator_in_one_line(stable: Path) -> None:
    state = evaluate_alerts(stable, today=LAST + timedelta(days=1))
    assert state.status is Status.OK and not state.alerting and state.exit_code == 0
    assert state.day == LAST
    summary = state.summary()
    assert summary.startswith(f"OK {LAST}: section-mix drift PSI 0.")
    for part in ("≤ 0.", "low-confidence share", "typical length", "unknown-word share"):
        assert part in summary
    assert "reference 2026-11-02 → 2026-11-08" in summary and "\n" not in summary


def test_a_drifted_day_alerts_and_names_what_crossed(drifted: Path) -> None:
    state = evaluate_alerts(drifted, today=LAST + timedelta(days=1))
    assert state.status is Status.ALERT and state.alerting and state.exit_code == 1
    summary = state.summary()
    assert summary.startswith(f"ALERT {LAST}: section-mix drift PSI ")
    assert re.search(r"PSI 0\.\d+ > 0\.\d+ \(reference 2026-11-02 → 2026-11-08\)", summary)
    assert (
        "low-confidence share" in summary and "typical length" not in summary
    )  # only what crossed
    details = state.details()
    assert sum(line.strip().startswith("ALERT") for line in details) == 2
    assert any(line.startswith("reference: 2026-11-02 → 2026-11-08") for line in details)
    assert "model: fasttext v1" in details


def test_today_is_never_judged_while_an_earlier_day_exists(drifted: Path) -> None:
    """Today's logs are still being written: the latest complete day is yesterday."""
    assert evaluate_alerts(drifted, today=LAST).day == LAST - timedelta(days=1)
    assert evaluate_alerts(drifted, today=date(2030, 1, 1)).day == LAST


def test_no_data_says_what_to_run_and_fails_the_check(tmp_path: Path) -> None:
    state = evaluate_alerts(tmp_path)
    assert state.status is Status.NO_DATA and not state.alerting
    assert state.exit_code == 1  # a monitoring job with nothing to read is an incident
    assert "course traffic then course etl" in state.summary()
    result = monitor("--data", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "NO DATA" in result.output
    result = monitor("--check", "--data", str(tmp_path / "never-created"))
    assert result.exit_code == 1
    assert result.output.strip().startswith("NO DATA: no predictions under")


def test_the_first_week_is_not_enough_history_and_passes_the_check(tmp_path: Path) -> None:
    write(tmp_path, days=1)
    state = evaluate_alerts(tmp_path, today=date(2030, 1, 1))
    assert state.status is Status.NOT_ENOUGH_HISTORY and state.exit_code == 0
    assert "1 day(s) of history" in state.summary()
    only_today = evaluate_alerts(tmp_path, today=synthetic.START)
    assert only_today.status is Status.NOT_ENOUGH_HISTORY
    assert "still being written" in only_today.summary()


def test_a_quiet_last_day_is_not_enough_data(tmp_path: Path) -> None:
    frame = synthetic.history(days=14, per_weekday=1_500, seed=4)
    last = frame["date"] == frame["date"].max()
    keep = frame[~last | (frame.groupby("date").cumcount() < THRESHOLDS.min_daily_volume - 1)]
    synthetic.write_datasets(tmp_path, keep)
    state = evaluate_alerts(tmp_path, today=date(2030, 1, 1))
    assert state.status is Status.NOT_ENOUGH_DATA and state.exit_code == 0
    assert "99 predictions, fewer than 100" in state.summary()


def test_course_monitor_prints_details_then_the_summary(drifted: Path) -> None:
    result = monitor("--data", str(drifted))
    assert result.exit_code == 0, result.output  # without --check it never fails
    lines = result.output.strip().splitlines()
    assert lines[0] == f"data: {drifted}"
    assert lines[-1].startswith("ALERT ")
    assert sum("section-mix drift PSI" in line for line in lines) == 2  # a detail, the summary


def test_course_monitor_check_exits_1_with_one_line_on_alert(drifted: Path, stable: Path) -> None:
    result = monitor("--check", "--data", str(drifted))
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("ALERT ")
    result = monitor("--check", "--data", str(stable))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK ")


def test_a_damaged_dataset_is_one_message_from_the_command(tmp_path: Path) -> None:
    write(tmp_path, days=8)
    victim = next((tmp_path / "predictions").glob("*/*.parquet"))
    victim.write_bytes(b"PAR1 and then garbage")
    out = subprocess.run(
        [shutil.which("course"), "monitor", "--check", "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1
    assert "damaged or not parquet" in out.stderr and "course etl" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_logs_without_word_counts_leave_that_indicator_out(tmp_path: Path) -> None:
    """A log written without the model's vocabulary has no word counts: the other
    indicators are still judged, that one is "not available", never a false alarm."""
    frame = synthetic.history(days=14, per_weekday=1_500, seed=6)
    frame[["words", "unknown_words"]] = None
    synthetic.write_datasets(tmp_path, frame)
    state = evaluate_alerts(tmp_path, today=date(2030, 1, 1))
    assert state.status is Status.OK
    assert "unknown-word share not available" in state.summary()
    assert any("unknown words n/a" in line for line in state.details())
