"""Chapter 4 end to end: ``course traffic`` → ``course etl`` → drift, alert, dashboard.

Two histories of the default plan (four weeks ending yesterday, 2,000
predictions an average weekday) predicted by the session's small model: one
with the planted change of :mod:`course_lib.monitoring.traffic_scenario`
from a week before the end, one with the same seed and no change.  The
days before the change are the same in both (the traffic module guarantees
it), so the only difference the checks can react to is the change.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from course_lib.cli import app
from course_lib.model.training import TrainResult
from course_lib.monitoring.alerts import Status, evaluate_alerts
from course_lib.monitoring.dashboard import write_dashboard
from course_lib.monitoring.drift import DayStatus, drift_report
from course_lib.monitoring.etl import run_etl
from course_lib.monitoring.traffic import TrafficPlan, simulate_traffic
from tests.conftest import SMALL

pytestmark = pytest.mark.slow

DAYS = 28
DETECTION_DAYS = 3
"""The change builds up over three days (a third, two thirds, all): it must be flagged
by then."""


def quiet(_: str) -> None:
    pass


def pipeline(plan: TrafficPlan, folder: Path) -> Path:
    simulate_traffic(plan, SMALL.model_name, "champion", out_dir=folder / "logs", status=quiet)
    run_etl(folder / "logs", folder / "monitoring", status=quiet)
    return folder / "monitoring"


@pytest.fixture(scope="module")
def changed(small_model: TrainResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pipeline(TrafficPlan(days=DAYS), tmp_path_factory.mktemp("changed"))


@pytest.fixture(scope="module")
def stable(small_model: TrainResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pipeline(TrafficPlan(days=DAYS, change_day=DAYS), tmp_path_factory.mktemp("stable"))


def test_the_planted_change_is_flagged_within_days_and_stable_weeks_are_not(
    changed: Path,
) -> None:
    table = drift_report(changed).table
    assert len(table) == DAYS
    change = TrafficPlan(days=DAYS).change_index
    before, after = table.iloc[:change], table.iloc[change:]
    assert not before["alert"].any(), before[before["alert"]]
    assert (before.iloc[7:]["status"] == DayStatus.OK.value).all()  # every stable day judged
    first = int(after.index[after["alert"]].min())
    assert first - change < DETECTION_DAYS
    assert after.loc[first:, "alert"].all()  # and every day after that
    print(f"\nchange on day {change}, first flagged on day {first} ({first - change} days later)")


def test_a_history_without_change_raises_no_flag(stable: Path) -> None:
    table = drift_report(stable).table
    judged = table[table["status"].isin([DayStatus.OK.value, DayStatus.DRIFT.value])]
    assert len(judged) == DAYS - 7
    assert not judged["alert"].any(), judged[judged["alert"]]


def test_the_alert_exits_1_on_the_change_and_0_without(changed: Path, stable: Path) -> None:
    """``course monitor --check`` on the latest complete day (yesterday, the plan's end)."""
    runner = CliRunner()
    alert = runner.invoke(app, ["monitor", "--check", "--data", str(changed)])
    assert alert.exit_code == 1, alert.output
    assert alert.output.startswith("ALERT ")
    calm = runner.invoke(app, ["monitor", "--check", "--data", str(stable)])
    assert calm.exit_code == 0, calm.output
    assert calm.output.startswith("OK ")
    assert evaluate_alerts(changed).status is Status.ALERT


def test_the_dashboard_of_the_pipeline_shows_the_alert(changed: Path) -> None:
    page = write_dashboard(changed)
    text = page.read_text(encoding="utf-8")
    assert '<span class="badge">simulated traffic</span>' in text
    assert f"{SMALL.model_name} v" in text
    assert ">ALERT</div>" in text
    assert "<table" not in text  # charts, not tables of numbers
