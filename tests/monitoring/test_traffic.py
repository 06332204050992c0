"""``course traffic``: simulated history in the API's log format, with a planted change.

Most tests read one fortnight simulated once per module with the session's
small registered model (``fasttext-small``): eight ordinary days, then the
change.  Volumes are small (a few thousand predictions), so the statistical
checks compare periods with margins far wider than their noise.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from course_lib.cli import app
from course_lib.data.nomenclature import load_nomenclature
from course_lib.errors import CourseError
from course_lib.model.loading import Registered, load_registered
from course_lib.model.training import TrainResult
from course_lib.model.vocabulary import word_counter
from course_lib.monitoring import traffic_files
from course_lib.monitoring.traffic import TrafficPlan, TrafficReport, simulate_traffic
from course_lib.monitoring.traffic_scenario import change_strength
from course_lib.monitoring.traffic_schedule import OFFICE_TIMEZONE, REFUSALS
from course_lib.serving.log_records import SCHEMA
from tests.cli.test_cli import COURSE
from tests.conftest import SMALL
from tests.polling import wait_until

TODAY = datetime.now(UTC).date()
END = TODAY - timedelta(days=2)
PLAN = TrafficPlan(days=14, change_day=8, per_day=500, seed=5, end=END)
FULL_CHANGE = PLAN.change_day + 2
"""First day at full strength (the change grows over three days)."""


def quiet(_: str) -> None:
    pass


def read_log(folder: Path) -> pd.DataFrame:
    """Every line of the folder's day files, with the file it came from."""
    rows = []
    for path in sorted(folder.glob("traffic-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            rows.append({**json.loads(line), "file": path.name})
    return pd.DataFrame(rows)


def predictions(log: pd.DataFrame) -> pd.DataFrame:
    """Prediction lines with the top answer, its section and the day index."""
    frame = log[log["event"] == "prediction"].copy()
    frame["top"] = frame["predictions"].map(lambda p: p[0]["probability"] if p else 0.0)
    section = load_nomenclature().subclasses["section"]
    frame["section"] = frame["predictions"].map(lambda p: section[p[0]["nace"]] if p else None)
    stamps = pd.to_datetime(frame["timestamp"], utc=True)
    frame["day"] = [(d - PLAN.dates()[0]).days for d in stamps.dt.date]
    return frame


def indicators(frame: pd.DataFrame) -> dict[str, float]:
    return {
        "low_confidence": float((frame["top"] < 0.5).mean()),
        "section_h": float((frame["section"] == "H").mean()),
        "section_g": float((frame["section"] == "G").mean()),
        "words": float(frame["words"].mean()),
        "chars": float(frame["text_chars"].mean()),
        "unknown_words": float(frame["unknown_words"].sum() / frame["words"].sum()),
    }


@pytest.fixture(scope="module")
def model(small_model: TrainResult) -> Registered:
    return load_registered(SMALL.model_name, small_model.model_version)


@pytest.fixture(scope="module")
def history(
    small_model: TrainResult, tmp_path_factory: pytest.TempPathFactory
) -> tuple[TrafficReport, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("simulated")
    report = simulate_traffic(PLAN, SMALL.model_name, "champion", out_dir=folder, status=quiet)
    return report, read_log(folder)


def test_every_line_is_a_simulated_api_log_record(history, small_model: TrainResult) -> None:
    report, log = history
    assert set(log["schema"]) == {SCHEMA}
    assert set(log["event"]) == {"prediction", "refused"}
    assert log["simulated"].map(lambda v: v is True).all()
    assert set(log["model_name"]) == {SMALL.model_name}
    assert set(log["model_version"]) == {small_model.model_version}
    served = log[log["event"] == "prediction"]
    assert set(served["text_policy"]) == {"raw"} and served["text"].map(bool).all()
    assert set(served["route"]) == {"GET /predict", "POST /predict"}
    assert (served["route"] == "GET /predict").equals(served["batch_size"] == 1)
    for _, request in served.groupby("request_id"):  # positions 0…n-1 of one batch
        size = int(request["batch_size"].iloc[0])
        assert sorted(request["position"].astype(int)) == list(range(size))
        assert request["timestamp"].nunique() == 1 and request["latency_ms"].nunique() == 1
    refused = log[log["event"] == "refused"]
    assert refused["status"].isin([404, 413, 422]).all() and refused["reason"].map(bool).all()
    assert not set(refused["request_id"]) & set(served["request_id"])
    # the report counts what the files hold
    assert report.files == [traffic_files.day_file(report.folder, d) for d in PLAN.dates()]
    lines = log.groupby(["file", "event"]).size()
    for day in report.days:
        assert lines.get((day.file.name, "prediction"), 0) == day.predictions
        assert lines.get((day.file.name, "refused"), 0) == day.refused
        assert day.requests == log[log["file"] == day.file.name]["request_id"].nunique()
    assert report.predictions == len(served) and report.refused == len(refused)
    assert 0.005 < report.refused / report.requests < 0.05


def test_predictions_and_word_counts_are_the_models_own(history, model: Registered) -> None:
    _, log = history
    sample = log[log["event"] == "prediction"].sample(300, random_state=0)
    again = model.model.predict(list(sample["text"]), params={"k": 5})
    count = word_counter(model.model)
    for logged, fresh, text, words, unknown in zip(
        sample["predictions"],
        again,
        sample["text"],
        sample["words"],
        sample["unknown_words"],
        strict=True,
    ):
        assert [p["nace"] for p in logged] == [p["nace"] for p in fresh]
        assert [p["probability"] for p in logged] == pytest.approx(
            [p["probability"] for p in fresh], abs=1e-6
        )
        assert (words, unknown) == count(text)


def test_timestamps_fall_in_the_plans_days_with_a_daily_and_weekly_rhythm(history) -> None:
    _, log = history
    stamps = pd.to_datetime(log["timestamp"], utc=True)
    assert (stamps.dt.date.astype(str) == log["file"].str[8:18]).all()  # the file's UTC day
    assert stamps.min().date() == PLAN.dates()[0] and stamps.max().date() == END
    assert log["timestamp"].tolist() == sorted(log["timestamp"])  # in time order, file by file
    per_day = stamps.dt.date.value_counts()
    weekend = [n for d, n in per_day.items() if d.weekday() >= 5]
    weekday = [n for d, n in per_day.items() if d.weekday() < 5]
    assert sum(weekday) / len(weekday) > 2.5 * sum(weekend) / len(weekend)
    paris_hour = stamps.dt.tz_convert(OFFICE_TIMEZONE).dt.hour
    office = paris_hour.between(9, 17).sum() / 9
    night = paris_hour.between(0, 5).sum() / 6
    assert office > 10 * night


def test_latency_grows_with_the_batch_with_rare_slow_answers(history) -> None:
    _, log = history
    served = log[log["event"] == "prediction"].drop_duplicates("request_id")
    single = served[served["batch_size"] == 1]["latency_ms"]
    big = served[served["batch_size"] >= 50]["latency_ms"]
    assert 1 < single.median() < 10 and big.median() > 1.5 * single.median()
    assert 0 < (served["latency_ms"] > 50).mean() < 0.02


def test_the_same_plan_writes_the_same_bytes_and_another_seed_other_traffic(
    history, tmp_path: Path
) -> None:
    report, _ = history
    again = simulate_traffic(PLAN, SMALL.model_name, "champion", tmp_path / "a", status=quiet)
    assert [p.read_bytes() for p in again.files] == [p.read_bytes() for p in report.files]
    other = TrafficPlan(days=2, per_day=500, seed=6, end=END)
    same_days = TrafficPlan(days=2, per_day=500, seed=5, end=END)
    seed_6 = simulate_traffic(other, SMALL.model_name, None, tmp_path / "b", status=quiet)
    seed_5 = simulate_traffic(same_days, SMALL.model_name, None, tmp_path / "c", status=quiet)
    texts_6, texts_5 = (set(read_log(r.folder)["text"].dropna()) for r in (seed_6, seed_5))
    assert len(texts_6 & texts_5) < 0.5 * len(texts_5)  # common wordings recur, not the traffic
    assert set(read_log(seed_6.folder)["request_id"]).isdisjoint(
        read_log(seed_5.folder)["request_id"]
    )


def test_after_the_change_the_traffic_differs_and_before_it_days_look_alike(history) -> None:
    report, log = history
    frame = predictions(log)
    first, second = (
        indicators(frame[frame["day"].isin(days)]) for days in ([0, 2, 4, 6], [1, 3, 5, 7])
    )
    before = indicators(frame[frame["day"] < PLAN.change_day])
    after = indicators(frame[frame["day"] >= FULL_CHANGE])
    assert abs(first["low_confidence"] - second["low_confidence"]) < 0.03
    assert abs(first["section_h"] - second["section_h"]) < 0.03
    assert abs(first["words"] - second["words"]) < 0.5
    # measured on the small model: 0.37 before, 0.47 after, 0.365 and 0.377 on alternate days
    assert after["low_confidence"] > before["low_confidence"] + 0.05
    assert after["unknown_words"] > 1.4 * before["unknown_words"]
    assert after["section_h"] > before["section_h"] + 0.04
    assert after["section_g"] < before["section_g"] - 0.02
    assert after["words"] < before["words"] - 0.6 and after["chars"] < 0.85 * before["chars"]
    scooters = frame["text"].str.contains("trott|juicer", case=False)
    assert scooters[frame["day"] < PLAN.change_day].mean() < 0.01
    assert 0.06 < scooters[frame["day"] >= FULL_CHANGE].mean() < 0.25  # a surge, not a takeover
    assert report.change_date == PLAN.dates()[PLAN.change_day]
    assert [d.change for d in report.days[7:11]] == pytest.approx([0, 1 / 3, 2 / 3, 1])


def test_a_change_day_past_the_end_leaves_the_history_unchanged(history, tmp_path: Path) -> None:
    report, _ = history
    plan = TrafficPlan(days=14, change_day=14, per_day=500, seed=5, end=END)
    calm = simulate_traffic(plan, SMALL.model_name, None, tmp_path, status=quiet)
    assert calm.change_date is None and "no change" in calm.summary()
    assert all(d.change == 0 for d in calm.days)
    changed_from = PLAN.change_day  # the days before it are the very same traffic
    assert [p.read_bytes() for p in calm.files[:changed_from]] == [
        p.read_bytes() for p in report.files[:changed_from]
    ]
    assert calm.files[-1].read_bytes() != report.files[-1].read_bytes()
    frame = predictions(read_log(tmp_path))
    early, late = indicators(frame[frame["day"] < 7]), indicators(frame[frame["day"] >= 7])
    assert abs(early["low_confidence"] - late["low_confidence"]) < 0.03
    assert abs(early["words"] - late["words"]) < 0.5


def test_the_plans_defaults_end_yesterday_with_a_last_week_of_change() -> None:
    plan = TrafficPlan()
    assert plan.dates()[-1] == TODAY - timedelta(days=1) and len(plan.dates()) == 28
    assert plan.change_index == 21
    assert [change_strength(i, 21) for i in (20, 21, 22, 23, 27)] == pytest.approx(
        [0, 1 / 3, 2 / 3, 1, 1]
    )
    assert TrafficPlan(days=3).change_index < 0  # the change began before a short history


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"days": 0}, "days=0"),
        ({"days": 400}, "days=400"),
        ({"per_day": 0}, "per_day=0"),
        ({"per_day": 10**9}, "per_day=1000000000"),
        ({"days": 366, "per_day": 50_000}, "more than the 2,000,000 predictions"),
        ({"seed": -1}, "seed=-1"),
        ({"change_day": -1}, "change_day=-1"),
        ({"end": TODAY}, "is not in the past"),
        ({"end": TODAY + timedelta(days=30)}, "is not in the past"),
        ({"end": datetime(2026, 1, 1, tzinfo=UTC)}, "give a day"),
        ({"end": "2026-01-01"}, "give a day"),
    ],
)
def test_a_bad_plan_is_one_clear_error(fields, named) -> None:
    with pytest.raises(CourseError, match="traffic plan: ") as error:
        TrafficPlan(**fields)
    assert named in str(error.value)


def test_a_rerun_replaces_the_previous_scenario(small_model: TrainResult, tmp_path: Path) -> None:
    older = TrafficPlan(days=4, per_day=20, end=END - timedelta(days=5))
    simulate_traffic(older, SMALL.model_name, None, tmp_path, status=quiet)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / ".traffic-traffic-2026-01-01-abc.tmp").write_text("left by a killed run")
    newer = simulate_traffic(
        TrafficPlan(days=2, per_day=20, end=END), SMALL.model_name, None, tmp_path, status=quiet
    )
    assert sorted(p.name for p in tmp_path.glob("traffic-*")) == sorted(p.name for p in newer.files)
    assert len(newer.removed) == 5 and (tmp_path / "notes.txt").read_text() == "mine"
    assert all(oct(p.stat().st_mode)[-3:] == "644" for p in newer.files)


def test_a_day_file_is_replaced_whole_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "traffic-2026-11-02.jsonl"
    path.write_text("the previous run's day\n")

    def lines_then_crash() -> Iterator[str]:
        yield "{}\n"
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        traffic_files.write_whole(path, lines_then_crash())
    assert path.read_text() == "the previous run's day\n"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_two_runs_on_one_folder_take_turns(small_model: TrainResult, tmp_path: Path) -> None:
    said: list[str] = []
    done = threading.Event()
    plan = TrafficPlan(days=1, per_day=20, end=END)

    def run() -> None:
        simulate_traffic(plan, SMALL.model_name, None, tmp_path, status=said.append)
        done.set()

    with (tmp_path / traffic_files.LOCK_FILE).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run holds the folder
        worker = threading.Thread(target=run)
        worker.start()
        wait_until(lambda: done.is_set() or said[1:], 60, "the run to reach the lock")
        assert "waiting for it to finish" in said[1]
        assert not done.is_set() and not list(tmp_path.glob("traffic-*.jsonl"))
        fcntl.flock(lock, fcntl.LOCK_UN)
    worker.join(60)
    assert done.is_set() and len(list(tmp_path.glob("traffic-*.jsonl"))) == 1


@pytest.mark.parametrize("refusal", REFUSALS, ids=lambda r: r.name)
def test_refusals_read_as_the_api_answers_them(refusal, monkeypatch) -> None:
    """Each simulated refusal's status and message, against the real API's answer."""
    from course_lib.serving.app import create_app
    from course_lib.serving.model_service import ModelService, ServingConfig

    class Stub:
        def predict(self, texts, params):
            return [[{"nace": "5610A", "probability": 0.9}] for _ in texts]

    requests = {
        "blank": ("GET", "/predict", {"params": {"description": "  "}}),
        "missing": ("GET", "/predict", {}),
        "too_many_echoes": (
            "GET",
            "/predict",
            {"params": {"description": "x", "nb_echoes_max": 99}},
        ),
        "misspelt_field": ("GET", "/predict", {"params": {"desc": "boulangerie"}}),
        "too_long": ("GET", "/predict", {"params": {"description": "x" * 5_001}}),
        "batch_too_big": ("POST", "/predict", {"json": {"descriptions": ["taxi"] * 1_001}}),
        "blank_in_batch": ("POST", "/predict", {"json": {"descriptions": ["taxi", " "]}}),
        "wrong_path": ("GET", "/predictions", {}),
    }
    monkeypatch.setenv("API_LOG", "off")
    config = ServingConfig(model_name="stub", model_version="1", max_batch=1_000)
    service = ModelService(config, loader=lambda _: ("models:/stub/1", "1", Stub()))
    service.start().join(timeout=10)
    method, path, options = requests[refusal.name]
    with TestClient(create_app(service, load=False)) as client:
        answer = client.request(method, path, **options)
    assert f"{method} {path}" == refusal.route and answer.status_code == refusal.status
    template = refusal.reason.replace("{n}", "1001").replace("{i}", "1")
    assert answer.json()["message"] == template


def test_course_traffic_writes_to_the_state_folder_and_says_what_it_did(
    small_model: TrainResult, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("COURSE_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(
        app, ["traffic", "--days", "3", "--per-day", "200", "--model", SMALL.model_name]
    )
    assert result.exit_code == 0, result.output
    folder = tmp_path / "logs" / "simulated"
    files = sorted(folder.glob("traffic-*.jsonl"))
    assert [f.name[8:18] for f in files] == [
        (TODAY - timedelta(days=n)).isoformat() for n in (3, 2, 1)
    ]
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("3 days of simulated traffic (") and last.endswith(f"→ {folder}")
    assert "change from" in last and " predictions in " in last and " refused" in last


def test_a_model_that_does_not_exist_is_one_clear_message(mlflow_server: str) -> None:
    out = subprocess.run(
        [COURSE, "traffic", "--days", "1", "--per-day", "10", "--model", "no-such-model"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1
    assert "no registered model 'no-such-model'" in out.stderr and "course train" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout
