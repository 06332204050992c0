"""Comparing the runs of an experiment: one table, one plot.

Applications 1, 2 and 5 all ask the same questions of MLflow — which runs
exist, with which parameters, and which is best — so the answer lives here
instead of being rewritten in each lab.
"""

from __future__ import annotations

import mlflow
import pandas as pd

from course_lib.errors import CourseError


def runs_table(experiment: str, metric: str | None = None) -> pd.DataFrame:
    """Finished runs of ``experiment``: run id, ``params.*`` and ``metrics.*`` columns.

    Sorted by ``metric`` (best first) when given.
    """
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        raise CourseError(f"no experiment named {experiment!r} on {mlflow.get_tracking_uri()}")
    runs = mlflow.search_runs(
        experiment_ids=[found.experiment_id], filter_string="attributes.status = 'FINISHED'"
    )
    if metric is not None and not runs.empty:
        column = f"metrics.{metric}"
        if column not in runs:
            raise CourseError(f"no metric {metric!r} in experiment {experiment!r}")
        runs = runs.sort_values(column, ascending=False, ignore_index=True)
    return runs


def best_run(experiment: str, metric: str) -> pd.Series:
    """The finished run with the highest ``metric``."""
    runs = runs_table(experiment, metric)
    if runs.empty:
        raise CourseError(f"experiment {experiment!r} has no finished run yet")
    return runs.iloc[0]


def plot_metric(runs: pd.DataFrame, param: str, metric: str, ax=None):
    """``metric`` against a numeric ``param`` across runs (one point per run)."""
    import matplotlib.pyplot as plt

    data = pd.DataFrame(
        {
            param: pd.to_numeric(runs[f"params.{param}"], errors="coerce"),
            metric: runs[f"metrics.{metric}"],
        }
    ).sort_values(param)
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    ax.plot(data[param], data[metric], marker="o")
    ax.set_xlabel(param)
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    return ax
