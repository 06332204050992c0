"""Choosing the best run of a search, registering it, and reporting it honestly.

The choice is made on the **synthetic held-out split** (``test_*`` metrics),
never on the 212 real descriptions (``dev_*``): those are the rows the course
reports, and a model chosen because it scored best on them would look better
there than it is (with a dozen configurations, the best of twelve noisy
scores on 212 rows is optimistic by a few points).  The real accuracy of the
chosen model is reported afterwards, once, with its 95 % interval.

This is the last step of both engines: ``course search`` calls it after its
workers finish, and the Argo workflow's last pod runs ``course search-best``.
Both find the runs of one search by its tag ``course.search``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Run

from course_lib.data.real_sample import dev_sample
from course_lib.errors import CourseError
from course_lib.model.evaluation import Interval, accuracy_interval
from course_lib.tracking import registry

SEARCH_TAG = "course.search"
CONFIG_TAG = "course.config"
ROLE_TAG = "course.role"
SELECTED_TAG = "course.selected"
SELECTION_METRIC = "test_accuracy_subclass"
"""What the search maximises: subclass accuracy on the synthetic held-out split."""
TIE_BREAKERS = ("test_top5_accuracy_subclass",)
REPORTED_METRIC = "dev_accuracy_subclass"
"""What the course reports: subclass accuracy on the real descriptions."""
MAX_RUNS = 1000
"""Runs of one search read back: the grid's 200 at most, with retried attempts."""


@dataclass(frozen=True)
class Candidate:
    """One training run of a search, as the tracking server has it."""

    run_id: str
    config: int | None
    status: str
    params: dict[str, str]
    metrics: dict[str, float]

    @property
    def succeeded(self) -> bool:
        return self.status == "FINISHED" and SELECTION_METRIC in self.metrics


@dataclass(frozen=True)
class Selection:
    """The chosen run, why, what it became in the registry, and its reported accuracy."""

    search_id: str
    chosen: Candidate
    candidates: list[Candidate]
    real: Interval
    model_name: str | None = None
    version: str | None = None
    alias: str | None = None
    selection_run_id: str = ""
    failed: list[Candidate] = field(default_factory=list)

    def summary(self) -> str:
        registered = f", registered {self.model_name} v{self.version}" if self.version else ""
        alias = f" @{self.alias}" if self.alias and self.version else ""
        return (
            f"search {self.search_id}: best of {len(self.candidates)} run(s) on the held-out "
            f"split is config {self.chosen.config} (run {self.chosen.run_id[:8]}, "
            f"{SELECTION_METRIC} {self.chosen.metrics[SELECTION_METRIC]:.3f}){registered}{alias}; "
            f"on the real descriptions: {self.real}"
        )


def tagged_runs(experiment: str, search_id: str) -> list[Run]:
    """Every run tagged with ``search_id`` in ``experiment`` (its selection run included),
    as MLflow returns them; a missing experiment is named."""
    client = MlflowClient()
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise CourseError(
            f"no experiment {experiment!r} on the tracking server {client.tracking_uri}: "
            "check the experiment's name (the search's runs are logged there)"
        )
    return client.search_runs(
        [found.experiment_id],
        filter_string=f"tags.`{SEARCH_TAG}` = '{_quoted(search_id)}'",
        max_results=MAX_RUNS,
    )


def search_runs(experiment: str, search_id: str) -> list[Candidate]:
    """Every training run of the search (not its selection run), by configuration."""
    candidates = [
        Candidate(
            run.info.run_id,
            int(run.data.tags[CONFIG_TAG]) if run.data.tags.get(CONFIG_TAG, "").isdigit() else None,
            run.info.status,
            dict(run.data.params),
            dict(run.data.metrics),
        )
        for run in tagged_runs(experiment, search_id)
        if run.data.tags.get(ROLE_TAG) != "selection"
    ]
    return sorted(candidates, key=lambda c: (c.config is None, c.config or 0, c.run_id))


def _quoted(text: str) -> str:
    """A tag value inside MLflow's single-quoted filter strings."""
    if "'" in text or "\\" in text:
        raise CourseError(f"search id {text!r}: quotes and backslashes are not allowed")
    return text


def choose(candidates: list[Candidate]) -> Candidate:
    """The best succeeded run on the held-out split; ties go to the better top-5, then to
    the earlier configuration (so the same runs always give the same choice)."""
    succeeded = [c for c in candidates if c.succeeded]
    if not succeeded:
        raise CourseError("no run of the search finished with metrics: nothing to choose from")

    def score(candidate: Candidate) -> tuple[float, ...]:
        keys = (SELECTION_METRIC, *TIE_BREAKERS)
        config = candidate.config if candidate.config is not None else 1 << 30
        return (*(candidate.metrics.get(k, float("-inf")) for k in keys), -config)

    return max(succeeded, key=score)


def _real_interval(chosen: Candidate) -> Interval:
    return accuracy_interval(chosen.metrics[REPORTED_METRIC], len(dev_sample()))


def _log_selection(search_id: str, chosen: Candidate, candidates: list[Candidate], real: Interval,
                   version: str | None) -> str:  # fmt: skip
    """A run of its own that records the decision, so the MLflow UI shows it next to the runs."""
    client = MlflowClient()
    client.set_tag(chosen.run_id, SELECTED_TAG, "true")
    with mlflow.start_run(run_name=f"{search_id} selection") as run:
        mlflow.set_tags({SEARCH_TAG: search_id, ROLE_TAG: "selection"})
        mlflow.log_params({
            "selection_metric": SELECTION_METRIC,
            "chosen_run_id": chosen.run_id,
            "chosen_config": chosen.config,
            "runs": len(candidates),
            "runs_failed": sum(not c.succeeded for c in candidates),
            "registered_version": version or "",
        })  # fmt: skip
        mlflow.log_metrics({
            f"chosen_{SELECTION_METRIC}": chosen.metrics[SELECTION_METRIC],
            "real_accuracy_subclass": real.accuracy,
            "real_accuracy_low": real.low,
            "real_accuracy_high": real.high,
            "real_rows": real.rows,
        })  # fmt: skip
    return run.info.run_id


def select_best(
    experiment: str, search_id: str, model_name: str | None = None, alias: str | None = None
) -> Selection:
    """Choose among the search's runs, register the choice (and move ``alias``), log why."""
    mlflow.set_experiment(experiment)
    candidates = search_runs(experiment, search_id)
    if not candidates:
        raise CourseError(
            f"no run tagged {SEARCH_TAG}={search_id} in experiment {experiment!r}: check the "
            "search id and the experiment (each training run of a search carries the tag)"
        )
    chosen = choose(candidates)
    real = _real_interval(chosen)
    version = None
    if model_name:
        version = str(registry.register_run_model(chosen.run_id, model_name, alias).version)
    selection_run = _log_selection(search_id, chosen, candidates, real, version)
    failed = [c for c in candidates if not c.succeeded]
    return Selection(
        search_id, chosen, candidates, real, model_name, version, alias if model_name else None,
        selection_run, failed,
    )  # fmt: skip
