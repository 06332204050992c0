"""The search on one machine: the grid's configurations trained by N worker processes.

What Argo Workflows does with pods, this does with processes, against the same
tracking server and with the same tags, so the selection step and the MLflow
UI cannot tell the two apart.  Each worker trains one configuration at a time
with one fastText thread, on the same data, split and seed: runs differ by
their hyperparameters only, so their scores can be compared.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import mlflow
from mlflow import MlflowClient

from course_lib import settings
from course_lib.data.dataset import ensure_generated
from course_lib.errors import CourseError
from course_lib.search.grid import Configuration, Grid
from course_lib.search.pool import Finished, Started, WorkerPool
from course_lib.search.selection import (
    REPORTED_METRIC,
    SEARCH_TAG,
    SELECTION_METRIC,
    Selection,
    select_best,
    tagged_runs,
)


def new_search_id() -> str:
    """``search-20261130-101500-3fa2``: sortable by time, unique across machines."""
    return f"search-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class SearchPlan:
    """What to search, on which data, with how many workers, and what to do with the best."""

    grid: Grid
    experiment: str = settings.SEARCH_EXPERIMENT
    data: str | None = None
    rows: int = settings.DEFAULT_ROWS
    seed: int = settings.DEFAULT_SEED
    test_size: float = settings.DEFAULT_TEST_SIZE
    workers: int = 2
    model_name: str | None = settings.DEFAULT_MODEL_NAME
    alias: str | None = None
    search_id: str = field(default_factory=new_search_id)


@dataclass(frozen=True)
class TrainTask:
    """What one worker needs to train one configuration (sent to it, so picklable)."""

    plan: SearchPlan
    configuration: Configuration


@dataclass(frozen=True)
class Trained:
    run_id: str
    metrics: dict[str, float]


KILL_SETTLE_SECONDS = 3.0  # how long a run created by a stopped worker may take to appear
SLOW_SERVER_FACTOR = 5.0  # ... or this many times the slowest look at the runs
KILL_WAIT_LIMIT_SECONDS = 30.0  # never longer than this


def train_configuration(task: TrainTask) -> Trained:
    """Train and log one configuration (in a worker): never registered, tagged with the
    search and the configuration, exactly as the workflow's training pod does it."""
    from course_lib.model.training import TrainConfig, run_training

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # a fresh process: as `course` sets it
    logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)
    plan = task.plan
    config = TrainConfig(
        data=plan.data, rows=plan.rows, seed=plan.seed, test_size=plan.test_size,
        params=task.configuration.params, experiment=plan.experiment, model_name=None,
        tags={SEARCH_TAG: plan.search_id, "course.config": str(task.configuration.index)},
    )  # fmt: skip
    result = run_training(config, status=lambda line: None)
    return Trained(result.run_id, result.metrics)


@dataclass(frozen=True)
class Outcome:
    """One configuration's end: its run and metrics, or its error."""

    configuration: Configuration
    run_id: str | None
    metrics: dict[str, float]
    seconds: float
    error: str | None = None


@dataclass(frozen=True)
class SearchResult:
    plan: SearchPlan
    outcomes: list[Outcome]
    selection: Selection
    seconds: float

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error is not None]


def _outcome(event: Finished, configuration: Configuration) -> Outcome:
    if event.error is not None or event.result is None:
        return Outcome(configuration, None, {}, event.seconds, event.error or "no result")
    return Outcome(configuration, event.result.run_id, event.result.metrics, event.seconds)


def _progress(outcome: Outcome, done: int, total: int, grid: Grid) -> str:
    what = f"[{done}/{total}] config {outcome.configuration.index} "
    what += f"({outcome.configuration.describe(grid)})"
    if outcome.error is not None:
        return f"{what} FAILED after {outcome.seconds:.0f} s: {outcome.error}"
    m = outcome.metrics
    return (
        f"{what}: held-out {m[SELECTION_METRIC]:.3f}, real {m[REPORTED_METRIC]:.3f} "
        f"in {outcome.seconds:.0f} s"
    )


def _mark_killed(plan: SearchPlan, settle: float = KILL_SETTLE_SECONDS) -> None:
    """Runs a stopped worker left RUNNING become KILLED (the server may be gone: quietly).

    A worker stopped while its request to create a run was in flight is gone
    before the server has finished creating that run, so one look right after
    the workers are reaped can miss it and leave it RUNNING for ever (three
    interrupts in twenty-two, in the test that sends them).  So the runs are
    looked at again until ``settle`` seconds have passed, or longer when the
    server is slow: a look that took a second means a late request may take
    several, so the wait (counted from the workers' end) grows to
    :data:`SLOW_SERVER_FACTOR` times the slowest look, up to
    :data:`KILL_WAIT_LIMIT_SECONDS`.  An interrupt costs those
    seconds, nothing else does.  A look that fails (the server is gone) ends it.
    """
    client = MlflowClient()
    started = time.monotonic()
    slowest = 0.0
    while True:
        looked = time.monotonic()
        try:
            runs = tagged_runs(plan.experiment, plan.search_id)
            slowest = max(slowest, time.monotonic() - looked)
            for run in runs:
                if run.info.status == "RUNNING":
                    client.set_terminated(run.info.run_id, "KILLED")
        except Exception:  # the server went away: nothing more can be marked
            return
        now = time.monotonic()
        wait = min(max(settle, SLOW_SERVER_FACTOR * slowest), KILL_WAIT_LIMIT_SECONDS)
        if now - started >= wait:
            return
        time.sleep(0.25)


def run_search(
    plan: SearchPlan,
    status: Callable[[str], object] = print,
    task: Callable[[TrainTask], Trained] = train_configuration,
) -> SearchResult:
    """Train every configuration of ``plan.grid`` in ``plan.workers`` processes, then choose,
    register and report the best (:func:`~course_lib.search.selection.select_best`).

    A configuration that fails is reported with its error and the others go
    on; Ctrl-C (or SIGTERM/SIGHUP) stops every worker and marks their runs
    KILLED before the interrupt goes on up.  Needs a tracking URI set
    (``course search`` starts one).  Workers are spawned, and a spawned
    process imports the main module again: from a script of your own, call
    this under ``if __name__ == "__main__":`` (a notebook or ``course search``
    needs nothing).
    """
    configurations = plan.grid.configurations()
    started = time.perf_counter()
    if plan.data is None:  # generated once here rather than by every worker at once
        ensure_generated(plan.rows, plan.seed)
    mlflow.set_experiment(plan.experiment)
    workers = min(plan.workers, len(configurations))
    status(
        f"search {plan.search_id}: {len(configurations)} configuration(s) on {workers} "
        f"worker(s), experiment {plan.experiment}"
    )
    outcomes: list[Outcome] = []
    pool = WorkerPool(task, workers)
    try:
        for event in pool.run([TrainTask(plan, c) for c in configurations]):
            configuration = configurations[event.index]
            if isinstance(event, Started):
                status(f"config {event.index} ({configuration.describe(plan.grid)}) started")
                continue
            outcomes.append(_outcome(event, configuration))
            status(_progress(outcomes[-1], len(outcomes), len(configurations), plan.grid))
    except BaseException:
        pool.stop()
        _mark_killed(plan)
        raise
    outcomes.sort(key=lambda o: o.configuration.index)
    if all(o.error is not None for o in outcomes):
        errors = "; ".join(f"config {o.configuration.index}: {o.error}" for o in outcomes[:3])
        raise CourseError(f"every configuration of search {plan.search_id} failed ({errors})")
    selection = select_best(plan.experiment, plan.search_id, plan.model_name, plan.alias)
    return SearchResult(plan, outcomes, selection, time.perf_counter() - started)
