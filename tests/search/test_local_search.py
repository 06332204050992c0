"""The search on one machine against a real tracking server: runs, failures, the best
registered, Ctrl-C."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
import time

import psutil
import pytest
from mlflow import MlflowClient

from course_lib.search.grid import parse_grid
from course_lib.search.local import SearchPlan, _mark_killed, run_search
from course_lib.search.selection import ROLE_TAG, SEARCH_TAG, SELECTION_METRIC
from tests.search.training_tasks import train_unless_dim_7

pytestmark = pytest.mark.slow
ROWS = 1_500


def search_runs(experiment: str, search_id: str):
    client = MlflowClient()
    found = client.get_experiment_by_name(experiment)
    return client.search_runs(
        [found.experiment_id], filter_string=f"tags.`{SEARCH_TAG}` = '{search_id}'"
    )


def test_two_workers_log_one_run_per_configuration_and_register_the_best(mlflow_server):
    grid = parse_grid({"hyperparameters": {"dim": [7, 10, 12], "epoch": [5, 10]}})
    plan = SearchPlan(grid, experiment="tests-search", rows=ROWS, workers=2,
                      model_name="search-best", alias="champion")  # fmt: skip
    lines: list[str] = []
    result = run_search(plan, status=lines.append, task=train_unless_dim_7)

    failed = {o.configuration.index for o in result.failed}
    errors = {o.configuration.index: o.error for o in result.failed}
    assert failed == {0, 1}, errors  # dim 7, both epochs: reported, and the others went on
    assert all("dim 7 is refused by this test" in o.error for o in result.failed)
    assert sum("FAILED" in line for line in lines) == 2 and "[6/6]" in " ".join(lines)

    runs = search_runs("tests-search", plan.search_id)
    training = [r for r in runs if r.data.tags.get(ROLE_TAG) != "selection"]
    by_config = {int(r.data.tags["course.config"]): r for r in training}
    assert sorted(by_config) == [2, 3, 4, 5]  # one run per configuration that trained
    for outcome in result.outcomes:
        if outcome.error is None:
            logged = by_config[outcome.configuration.index]
            assert logged.info.status == "FINISHED"
            assert int(logged.data.params["dim"]) == outcome.configuration.params.dim
            assert int(logged.data.params["epoch"]) == outcome.configuration.params.epoch
            assert logged.data.params["thread"] == "1" and logged.data.params["seed"] == "0"
            assert logged.data.params["corpus_rows"] == str(ROWS)
            assert {SELECTION_METRIC, "dev_accuracy_subclass"} <= set(logged.data.metrics)

    best = max(training, key=lambda r: r.data.metrics[SELECTION_METRIC])
    selection = result.selection
    assert selection.chosen.run_id == best.info.run_id
    client = MlflowClient()
    version = client.get_model_version_by_alias("search-best", "champion")
    assert version.version == selection.version and version.run_id == best.info.run_id
    assert [r.data.tags.get("course.selected") for r in training].count("true") == 1
    assert best.data.tags["course.selected"] == "true"

    (record,) = [r for r in runs if r.data.tags.get(ROLE_TAG) == "selection"]
    real = best.data.metrics["dev_accuracy_subclass"]
    assert record.data.params["chosen_run_id"] == best.info.run_id
    assert record.data.metrics["real_accuracy_subclass"] == pytest.approx(real)
    assert (
        record.data.metrics["real_accuracy_low"] < real < record.data.metrics["real_accuracy_high"]
    )
    assert record.data.params["runs_failed"] == "0"  # the failed two never reached MLflow


def test_the_command_searches_a_grid_file_and_prints_the_table(mlflow_server, tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text("hyperparameters:\n  dim: [8, 16]\n")
    out = subprocess.run(
        [shutil.which("course"), "search", "--grid", str(grid), "--rows", str(ROWS),
         "--workers", "2", "--register", "search-cli"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "chosen on the held-out split" in out.stdout
    assert "registered search-cli v1" in out.stdout and "95 % interval" in out.stdout
    assert "Traceback" not in out.stderr, out.stderr


def test_an_invalid_grid_is_refused_before_any_run(mlflow_server, tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(json.dumps({"hyperparameters": {"dim": [8], "wordNgram": [1, 2]}}))
    started = time.monotonic()
    out = subprocess.run(
        [shutil.which("course"), "search", "--grid", str(grid), "--experiment", "tests-refused"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "hyperparameters.wordNgram is not a fastText option (did you mean wordNgrams?)" in (
        " ".join(out.stderr.split())
    )
    assert MlflowClient().get_experiment_by_name("tests-refused") is None
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupting_the_search_leaves_no_worker_and_no_running_run(
    mlflow_server, tmp_path, signum
):
    """Ctrl-C (SIGINT) and a stop from outside (SIGTERM) stop every worker; their runs
    end KILLED rather than RUNNING forever."""
    grid = tmp_path / "grid.yaml"
    grid.write_text("hyperparameters:\n  epoch: [90, 100]\n  dim: [100]\n")  # minutes each
    experiment = f"tests-interrupted-{signum.name}"
    search = subprocess.Popen(
        [shutil.which("course"), "search", "--grid", str(grid), "--rows", "20000",
         "--workers", "2", "--experiment", experiment],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    started = 0
    for line in search.stdout:
        started += " started" in line
        if started == 2:
            break
    workers = [p.pid for p in psutil.Process(search.pid).children(recursive=True)]
    assert len(workers) >= 2
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(_running_runs(experiment)) < 2:
        time.sleep(0.5)  # both workers have started their MLflow runs (a run still being
        # created when the signal comes is the race the next two tests inject, reliably)
    search.send_signal(signum)
    assert search.wait(timeout=60) != 0
    gone = psutil.wait_procs([psutil.Process(p) for p in workers if psutil.pid_exists(p)], 15)[1]
    assert gone == [], f"workers left behind: {gone}"
    assert _running_runs(experiment) == []
    statuses = [r.info.status for r in _all_runs(experiment)]
    assert statuses and set(statuses) == {"KILLED"}


def _all_runs(experiment: str):
    found = MlflowClient().get_experiment_by_name(experiment)
    return MlflowClient().search_runs([found.experiment_id]) if found else []


def _running_runs(experiment: str):
    return [r for r in _all_runs(experiment) if r.info.status == "RUNNING"]


def test_a_run_the_server_creates_after_the_workers_are_gone_is_marked_killed_too(mlflow_server):
    """The race behind a RUNNING run left after an interrupt: a worker stopped with its
    create-run request in flight, so the server adds the run after the parent's first
    look.  The run is injected here 0.6 s after the sweep starts."""
    grid = parse_grid({"hyperparameters": {"dim": [10]}})
    plan = SearchPlan(grid, experiment="tests-late-run", rows=ROWS, workers=1)
    client = MlflowClient()
    experiment_id = client.create_experiment("tests-late-run")
    early = client.create_run(experiment_id, tags={SEARCH_TAG: plan.search_id})
    late: list[str] = []

    def create_late() -> None:
        time.sleep(0.6)
        late.append(client.create_run(experiment_id, tags={SEARCH_TAG: plan.search_id}).info.run_id)

    creator = threading.Thread(target=create_late)
    creator.start()
    _mark_killed(plan, settle=1.5)
    creator.join()
    for run_id in [early.info.run_id, *late]:
        assert client.get_run(run_id).info.status == "KILLED"


class _FakeRun:
    def __init__(self, run_id: str, status: str = "RUNNING") -> None:
        self.info = type("Info", (), {"run_id": run_id, "status": status})()


def test_a_slow_server_gets_a_longer_wait_and_a_gone_server_none(monkeypatch):
    """Each look at the runs takes 0.3 s: a run that appears 1.2 s after the sweep began
    (past the 0.5 s settle, within 5 looks' time) is still marked; with the server gone,
    the first failed look ends the sweep."""
    import course_lib.search.local as local

    began = time.monotonic()
    killed: list[str] = []

    def slow_runs(experiment, search_id):
        time.sleep(0.3)
        late = time.monotonic() - began > 1.2
        return [_FakeRun("early"), *([_FakeRun("late")] if late else [])]

    class Client:
        def set_terminated(self, run_id, status):
            killed.append(run_id)

    monkeypatch.setattr(local, "MlflowClient", Client)
    monkeypatch.setattr(local, "tagged_runs", slow_runs)
    plan = SearchPlan(parse_grid({"hyperparameters": {"dim": [10]}}), experiment="x", rows=ROWS)
    _mark_killed(plan, settle=0.5)
    assert "late" in killed and "early" in killed
    assert time.monotonic() - began < 3  # 5 looks' time, not until the 30 s limit

    def gone(experiment, search_id):
        raise ConnectionError("connection refused")

    monkeypatch.setattr(local, "tagged_runs", gone)
    started = time.monotonic()
    _mark_killed(plan, settle=5)
    assert time.monotonic() - started < 1
