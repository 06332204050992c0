"""Checks of Application 5 (the hyperparameter search: workflows, a grid, runs, the choice).

The truth is derived, never written down: which steps run together and
which tasks wait for which are read from the workflow document itself; a
grid is judged by the course's own parser and by the shape of its product;
the search's runs and the registered version are asked of the tracking
server. The choice of the best run is tested twice: on the search's real
runs, and on a copy of the trainee's table where the held-out split and the
real rows disagree, so a rule that follows the reported rows fails even
when, on this search, both happen to pick the same run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd
import yaml

from course_lib.checks import CheckFailed, is_stub, passed, require
from course_lib.errors import CourseError
from course_lib.search.selection import (
    CONFIG_TAG,
    REPORTED_METRIC,
    ROLE_TAG,
    SEARCH_TAG,
    SELECTION_METRIC,
    tagged_runs,
)
from course_lib.settings import DEFAULT_ALIAS, DEFAULT_MODEL_NAME, SEARCH_EXPERIMENT

MODEL_NAME = DEFAULT_MODEL_NAME
SEARCH_ALIAS = "search-best"
"""The alias the lab's search moves: not ``champion``, which the API of Applications 3
and 4 serves (the solution says why)."""
LAB_MAX_CONFIGURATIONS = 8
"""The lab trains every configuration of the trainee's grid, about a minute each on
the full corpus: a larger grid belongs to ``course search`` or to Argo."""
HELD_OUT = f"metrics.{SELECTION_METRIC}"
REAL = f"metrics.{REPORTED_METRIC}"


# --- workflows ---------------------------------------------------------------------------


def _document(workflow: Any, what: str) -> dict[str, Any]:
    """A workflow as a dict, from its YAML text or the dict itself."""
    if isinstance(workflow, str):
        try:
            workflow = yaml.safe_load(workflow)
        except yaml.YAMLError as exc:
            raise CheckFailed(f"{what} is not valid YAML: {exc}") from exc
    if not isinstance(workflow, Mapping):
        raise CheckFailed(
            f"{what} should be a workflow (its YAML text, or the dict yaml.safe_load gives), "
            f"got {type(workflow).__name__}"
        )
    return dict(workflow)


def _templates(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    spec = document.get("spec") or {}
    return {t["name"]: t for t in spec.get("templates") or [] if isinstance(t, dict)}


def _entry(document: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The entrypoint's template, which must be a ``steps`` or ``dag`` one."""
    entry = _templates(document).get((document.get("spec") or {}).get("entrypoint"))
    if entry is None or kind not in entry:
        raise CheckFailed(
            f"this workflow's entrypoint is not a {kind} template: is it the right file?"
        )
    return entry


def _names(answer: Any, what: str) -> set[str]:
    """A step or task name, or several, as a set of strings."""
    if isinstance(answer, str):
        return {answer}
    if isinstance(answer, pd.Series):
        answer = answer.tolist()
    if isinstance(answer, Iterable) and not isinstance(answer, Mapping):
        items = list(answer)
        if all(isinstance(item, str) for item in items):
            return set(items)
    raise CheckFailed(f"{what} should be names, e.g. {{'x', 'y'}} or ['x', 'y'], got {answer!r}")


def check_parallel_steps(together: Any, workflow: Any) -> None:
    """App 5, exercise 1: the steps of ``steps.yaml`` that run at the same time."""
    require(together, "together")
    names = _names(together, "together")
    document = _document(workflow, "the steps workflow")
    groups = [[step["name"] for step in group] for group in _entry(document, "steps")["steps"]]
    group_of = {name: number for number, group in enumerate(groups, 1) for name in group}
    parallel = [set(group) for group in groups if len(group) > 1]
    if len(parallel) != 1:
        raise CheckFailed("this workflow should have exactly one group of several steps")
    expected = parallel[0]
    if names == expected:
        number = group_of[next(iter(expected))]
        passed(
            f"{' and '.join(sorted(expected))} run together: they are group {number} of "
            f"{len(groups)}, and the groups run one after the other"
        )
        return
    for name in sorted(names - expected):
        if name in _templates(document) and name not in group_of:
            raise CheckFailed(
                f"{name!r} is a template, what a step runs; name the steps (their name: field)"
            )
        if name not in group_of:
            raise CheckFailed(f"there is no step {name!r}; the steps are {', '.join(group_of)}")
        group = group_of[name]
        alone = len(groups[group - 1]) == 1
        raise CheckFailed(
            f"{name!r} is in group {group}{', alone' if alone else ''}: each group starts when "
            "the one before it has ended; steps run together only inside one group (one - - list)"
        )
    missing = sorted(expected - names)
    raise CheckFailed(
        f"{', '.join(map(repr, missing))} is in the same group as {', '.join(sorted(names))}: "
        "every step of that group runs at the same time"
    )


def check_dag_order(after_a: Any, waits_for_two: Any, workflow: Any) -> None:
    """App 5, exercise 2: in ``dag.yaml``, what starts once the first task is done, and
    what waits for two tasks."""
    require(after_a, "after_a")
    require(waits_for_two, "waits_for_two")
    document = _document(workflow, "the DAG workflow")
    tasks = {
        t["name"]: list(t.get("dependencies") or [])
        for t in _entry(document, "dag")["dag"]["tasks"]
    }
    roots = [name for name, deps in tasks.items() if not deps]
    if len(roots) != 1:
        raise CheckFailed("this DAG should have exactly one task without dependencies")
    root = roots[0]
    after = {name for name, deps in tasks.items() if deps == [root]}
    joins = {name for name, deps in tasks.items() if len(deps) == 2}
    got_after, got_join = _names(after_a, "after_a"), _names(waits_for_two, "waits_for_two")
    for name in sorted((got_after | got_join) - set(tasks)):
        raise CheckFailed(f"there is no task {name!r}; the tasks are {', '.join(tasks)}")
    if root in got_after:
        raise CheckFailed(f"{root} is the task everything waits for: it cannot start after itself")
    for name in sorted(got_after - after):
        raise CheckFailed(
            f"{name} waits for {' and '.join(tasks[name])} (its dependencies), not only for {root}"
        )
    for name in sorted(after - got_after):
        raise CheckFailed(
            f"{name} depends on {root} only, so it starts as soon as {root} is done, too"
        )
    if got_join != joins:
        wrong = sorted(got_join - joins) or sorted(joins - got_join)
        name = wrong[0]
        deps = tasks[name]
        said = f"waits for {' and '.join(deps)}" if deps else "waits for nothing"
        raise CheckFailed(
            f"{name} {said}: read each task's dependencies for the one that lists two"
        )
    (join,) = joins
    passed(
        f"{' and '.join(sorted(after))} start once {root} is done, side by side; {join} waits "
        f"for both {' and '.join(tasks[join])}"
    )


def _first_difference(expected: Any, got: Any, path: str = "") -> str | None:
    """Where ``got`` first departs from ``expected``, as a field path and what changed."""
    here = path or "the document"
    if isinstance(expected, Mapping) and isinstance(got, Mapping):
        for key in expected:
            where = f"{path}.{key}" if path else str(key)
            if key not in got:
                return f"{where} is missing"
            found = _first_difference(expected[key], got[key], where)
            if found:
                return found
        for key in got:
            if key not in expected:
                return f"{path}.{key} was added" if path else f"{key} was added"
        return None
    if isinstance(expected, list) and isinstance(got, list):
        if len(expected) != len(got):
            return f"{here} has {len(got)} items instead of {len(expected)}"
        for index, (a, b) in enumerate(zip(expected, got, strict=True)):
            found = _first_difference(a, b, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if expected == got else f"{here} is {got!r} instead of {expected!r}"


def check_fixed_workflow(fixed: Any, intended: Any) -> None:
    """App 5, exercise 3: the broken DAG repaired: valid against Argo's schema, and the
    workflow it was meant to be (deleting the misspelled field would validate too)."""
    from course_lib.deploy.validation import check_argo_workflow

    require(fixed, "fixed")
    document = _document(fixed, "fixed")
    problems = check_argo_workflow(document, "fixed")
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise CheckFailed(f"fixed still has {len(problems)} problem(s):\n{listed}")
    difference = _first_difference(_document(intended, "the intended workflow"), document)
    if difference:
        raise CheckFailed(
            f"fixed is valid, but it is not the workflow it was meant to be: {difference}; "
            "correct the misspelled field rather than remove it"
        )
    passed("fixed is valid offline (Argo's schema, closed to unknown fields) and, field for "
           "field, the workflow it was meant to be")  # fmt: skip


# --- the grid ----------------------------------------------------------------------------


def _zipped(data: Any) -> bool:
    """A list of configurations (each a dict of values), as the original course wrote them."""
    listed = data.get("hyperparameters") if isinstance(data, Mapping) else data
    return isinstance(listed, list) and all(isinstance(item, Mapping) for item in listed)


def check_grid(grid_data: Any) -> None:
    """App 5, exercise 4: a grid file's content, the cross product of two options with at
    least two values each, small enough for the lab to train."""
    from course_lib.search.grid import Grid, GridInvalid, parse_grid

    require(grid_data, "grid_data")
    if isinstance(grid_data, Grid):
        raise CheckFailed("grid_data is a Grid; write the grid file's content, a dict "
                          "{'hyperparameters': {...}} (grid.as_data() gives it back)")  # fmt: skip
    if isinstance(grid_data, str):
        raise CheckFailed("grid_data is text; write the dict, or yaml.safe_load(text)")
    if _zipped(grid_data):
        raise CheckFailed(
            "grid_data lists whole configurations, as pairs zipped together: then no two "
            "configurations differ by one option only, and the effect of one cannot be told "
            "from the effect of the other. List the values of each option instead, "
            "{'hyperparameters': {'dim': [...], 'wordNgrams': [...]}}: every combination is tried"
        )
    try:
        grid = parse_grid(grid_data, "grid_data")
    except GridInvalid as exc:
        entries = grid_data.get("hyperparameters") if isinstance(grid_data, Mapping) else None
        tuples = isinstance(entries, Mapping) and any(
            isinstance(v, tuple) for v in entries.values()
        )
        hint = " (write the values as a list, [25, 50], as in a YAML file)" if tuples else ""
        raise CheckFailed(f"{exc}{hint}") from None
    if grid.sample is not None:
        raise CheckFailed(
            f"grid_data trains a random sample of {grid.sample}: here every combination is "
            "wanted; leave sample out (the stretch exercise uses it)"
        )
    varied = {name: values for name, values in grid.values.items() if len(values) > 1}
    if grid.size == 1:
        raise CheckFailed(
            "grid_data is a single configuration: there is nothing to compare; give at least "
            "two values to each of two options"
        )
    if len(varied) < 2:
        (name,) = varied
        raise CheckFailed(
            f"only {name} varies: give two values (or more) to a second option as well, so "
            "the search shows how the two interact"
        )
    if grid.size > LAB_MAX_CONFIGURATIONS:
        raise CheckFailed(
            f"grid_data has {grid.size} combinations: the next cell trains each one, about a "
            f"minute apiece on the full corpus; keep it to {LAB_MAX_CONFIGURATIONS} at most "
            "here (`uv run course search --grid FILE` and Argo take larger grids)"
        )
    product = " × ".join(f"{name} {list(values)}" for name, values in varied.items())
    passed(f"{grid.size} configurations, every combination of {product}")


# --- the search's runs -------------------------------------------------------------------


def search_table(search_id: str, experiment: str) -> tuple[pd.DataFrame, set[str]]:
    """The search's training runs as the tracking server has them (run_id, status, config,
    params.*, metrics.*), and the ids of its selection run(s)."""
    try:
        runs = tagged_runs(experiment, search_id)
    except CourseError as exc:
        raise CheckFailed(f"{exc}; run the search cell first") from exc
    selection = {r.info.run_id for r in runs if r.data.tags.get(ROLE_TAG) == "selection"}
    rows = [
        {
            "run_id": r.info.run_id,
            "status": r.info.status,
            "config": r.data.tags.get(CONFIG_TAG),
            **{f"params.{k}": v for k, v in r.data.params.items()},
            **{f"metrics.{k}": v for k, v in r.data.metrics.items()},
        }
        for r in runs
        if r.info.run_id not in selection
    ]
    if not rows:
        raise CheckFailed(
            f"no training run of search {search_id} in experiment {experiment!r}: run the "
            "search cell first"
        )
    return pd.DataFrame(rows), selection


def _varied_params(table: pd.DataFrame) -> list[str]:
    """The ``params.*`` columns of the hyperparameters the search varied."""
    from course_lib.search.grid import SEARCHABLE

    columns = [f"params.{name}" for name in SEARCHABLE if f"params.{name}" in table.columns]
    return [c for c in columns if table[c].nunique(dropna=False) > 1]


def check_search_runs(runs: Any, search_id: str, experiment: str = SEARCH_EXPERIMENT) -> None:
    """App 5, exercise 5: the search's training runs in a DataFrame (any index), not the
    selection run, not the runs of another search."""
    require(runs, "runs")
    if isinstance(runs, list):
        raise CheckFailed(
            "runs is a list: mlflow.search_runs gives a DataFrame unless you ask for "
            "output_format='list'"
        )
    if not isinstance(runs, pd.DataFrame):
        raise CheckFailed(f"runs should be a DataFrame (mlflow.search_runs), got "
                          f"{type(runs).__name__}")  # fmt: skip
    if "run_id" not in runs.columns:
        raise CheckFailed("runs has no run_id column: keep the columns mlflow.search_runs gives")
    truth, selection = search_table(search_id, experiment)
    if runs.empty:
        raise CheckFailed(
            "runs is empty. If you filtered with tags.`course.role` != 'selection': MLflow "
            "compares a tag only on the runs that have it, and the training runs have no "
            "course.role, so none is kept. Filter in pandas, or with tags.`course.role` "
            "IS NULL"
        )
    ids = runs["run_id"].tolist()
    if len(set(ids)) != len(ids):
        raise CheckFailed("runs lists a run twice: one row per run")
    expected = set(truth["run_id"])
    extra, missing = set(ids) - expected, expected - set(ids)
    if extra & selection:
        raise CheckFailed(
            "runs holds the search's selection run (tag course.role = selection): it records "
            "which run was chosen and trained nothing; keep the training runs only"
        )
    if extra:
        raise CheckFailed(
            f"runs holds {len(extra)} run(s) of other searches or experiments: filter on "
            f"tags.`{SEARCH_TAG}` = '<this search id>' (search_id)"
        )
    if missing:
        raise CheckFailed(
            f"runs lacks {len(missing)} of the search's {len(expected)} training runs: keep "
            "every run of this search, whatever its score"
        )
    needed = [HELD_OUT, REAL, *_varied_params(truth)]
    absent = [c for c in needed if c not in runs.columns]
    if absent:
        raise CheckFailed(f"runs has no column {', '.join(absent)}: keep the params and "
                          "metrics columns")  # fmt: skip
    varied = ", ".join(c.removeprefix("params.") for c in _varied_params(truth))
    passed(
        f"the search's {len(expected)} training runs, varying {varied}, with their held-out "
        "and real accuracies; the selection run left out"
    )


# --- the choice --------------------------------------------------------------------------


def _run_id_of(answer: Any, what: str) -> str:
    """A run id from what a trainee's function returns: the id, a row, or a one-row table."""
    if isinstance(answer, pd.DataFrame):
        if len(answer) != 1:
            raise CheckFailed(f"{what} returned {len(answer)} rows: return one run's id")
        answer = answer.iloc[0]
    if isinstance(answer, pd.Series | Mapping) and "run_id" in answer:
        answer = answer["run_id"]
    if not isinstance(answer, str):
        raise CheckFailed(f"{what} should return a run id (a string), got "
                          f"{type(answer).__name__} {answer!r}")  # fmt: skip
    return answer


def _call(pick_best: Callable[[Any], Any], table: Any) -> Any:
    try:
        return pick_best(table)
    except CheckFailed:
        raise
    except Exception as exc:
        hint = ""
        if isinstance(exc, KeyError) and isinstance(table, pd.DataFrame):
            hint = (
                "; after filtering, a table keeps its old index: .loc[0] may not exist. "
                "Use .iloc[0], idxmax() with .loc, or reset_index(drop=True)"
            )
        raise CheckFailed(f"pick_best raised {type(exc).__name__}: {exc}{hint}") from exc


def _disagreeing(runs: pd.DataFrame, avoid: set[int]) -> tuple[pd.DataFrame, int, int]:
    """A copy of ``runs`` whose held-out and real metrics point at different rows.

    Both rows are taken outside ``avoid`` (the first row, the rows best held out on
    the real search) when there are enough rows, so that each wrong rule lands on a
    row of its own: following the real rows, taking the first row, or returning the
    same run whatever the table. Returns (table, held-out best, real-rows best), as
    positions.
    """
    n = len(runs)
    free = [i for i in range(n) if i not in avoid]
    held = free[0] if free else n - 1
    others = [i for i in free if i != held] or [i for i in range(n) if i not in (held, 0)]
    real = others[0] if others else next(i for i in range(n) if i != held)
    test, dev = [0.5] * n, [0.4] * n
    test[held], test[real] = 0.9, 0.6
    dev[held], dev[real] = 0.3, 0.95
    table = runs.copy()
    for column in table.columns:
        if column.startswith("metrics.test_"):
            table[column] = test
        elif column.startswith("metrics.dev_"):
            table[column] = dev
    return table, held, real


def check_pick_best(
    pick_best: Any, runs: Any, search_id: str, experiment: str = SEARCH_EXPERIMENT
) -> None:
    """App 5, exercise 6: ``pick_best(runs)`` returns the run best on the held-out split,
    on this search and on a copy of its table where the real rows would choose another."""
    require(pick_best, "pick_best")
    if not callable(pick_best):
        raise CheckFailed("pick_best should be a function: def pick_best(runs): ...")
    answer = _call(pick_best, runs.copy() if isinstance(runs, pd.DataFrame) else runs)
    if is_stub(answer):
        raise CheckFailed(
            "pick_best is not set yet: it still returns nothing; return the run_id of the "
            "best run of the table it is given"
        )
    if not isinstance(runs, pd.DataFrame) or HELD_OUT not in runs.columns or len(runs) < 2:
        raise CheckFailed("runs is not the table of exercise 5 yet: answer it first")
    chosen = _run_id_of(answer, "pick_best")
    truth, _ = search_table(search_id, experiment)
    truth = truth.set_index("run_id")
    if chosen not in truth.index:
        raise CheckFailed(f"pick_best returned {chosen!r}, which is not a run of this search")
    held, real = truth[HELD_OUT], truth[REAL]
    position = {run_id: i for i, run_id in enumerate(runs["run_id"])}
    avoid = {0, *(position[r] for r in held.index[held == held.max()] if r in position)}
    table, held_pos, real_pos = _disagreeing(runs, avoid)
    picked = _run_id_of(_call(pick_best, table), "pick_best")
    follows_real_rows = picked == table["run_id"].iloc[real_pos]
    if held[chosen] < held.max() or picked != table["run_id"].iloc[held_pos]:
        if follows_real_rows:
            raise CheckFailed(
                "pick_best follows the real rows (metrics.dev_accuracy_subclass): on a copy of "
                "runs where the two accuracies disagree, it chose the run best on the real "
                "rows. Those are the rows the course reports, and a model chosen on them looks "
                "better there than it is: choose on the held-out split, "
                "metrics.test_accuracy_subclass"
            )
        if held[chosen] < held.max():
            worst = " (the worst one: highest first)" if held[chosen] == held.min() else ""
            raise CheckFailed(
                f"pick_best did not return the run with the highest {SELECTION_METRIC}{worst}"
            )
        if picked == chosen:
            raise CheckFailed(
                "pick_best returned the same run for another table: it must choose from the "
                "table it is given, not from a fixed id or a query of its own"
            )
        raise CheckFailed(
            "on a copy of runs with other accuracies, pick_best did not return the run with "
            f"the highest {SELECTION_METRIC}"
        )
    row = truth.loc[chosen]
    described = " ".join(
        f"{c.removeprefix('params.')}={row[c]}" for c in _varied_params(truth.reset_index())
    )
    also = (
        "here the real rows happen to rank it first too; on a table where they do not, "
        "pick_best still follows the held-out split"
        if real[chosen] == real.max()
        else "the real rows would have picked another run, and pick_best did not follow them"
    )
    passed(f"pick_best chooses on the held-out split: config {row['config']} ({described}); {also}")


def _version_of(value: Any) -> str:
    return str(getattr(value, "version", value))


def check_registered_best(
    registered: Any, best_run_id: Any, model_name: str | None = None, alias: str | None = None
) -> None:
    """App 5, exercise 7: the version ``model_name@alias`` (default: the lab's
    ``fasttext@search-best``) names, registered from the run the trainee chose (or from a
    run tied with it on the held-out split)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    model_name, alias = model_name or MODEL_NAME, alias or SEARCH_ALIAS

    require(registered, "registered")
    if is_stub(best_run_id) or not isinstance(best_run_id, str):
        raise CheckFailed("best_run_id is not a run id yet: answer exercise 6 first")
    client = MlflowClient()
    try:
        target = client.get_model_version_by_alias(model_name, alias)
    except MlflowException as exc:
        raise CheckFailed(
            f"{model_name!r} has no alias {alias!r}: run the search cell (SearchPlan(..., "
            f"model_name={model_name!r}, alias={alias!r}))"
        ) from exc
    version = _version_of(registered)
    if version != str(target.version):
        try:
            champion = client.get_model_version_by_alias(model_name, DEFAULT_ALIAS)
        except MlflowException:
            champion = None
        if champion is not None and version == str(champion.version):
            raise CheckFailed(
                f"that is {model_name}@{DEFAULT_ALIAS}, the version the API serves: ask for "
                f"the alias {alias!r}"
            )
        raise CheckFailed(
            f"version {version} is not the one {model_name}@{alias} points at; ask the "
            "registry: MlflowClient().get_model_version_by_alias(name, alias)"
        )
    if target.run_id != best_run_id:
        metric = {
            run_id: client.get_run(run_id).data.metrics.get(SELECTION_METRIC, math.nan)
            for run_id in (target.run_id, best_run_id)
        }
        if metric[target.run_id] != metric[best_run_id]:
            raise CheckFailed(
                f"{model_name}@{alias} was registered from another run than the one you chose, "
                "with a different held-out accuracy: is best_run_id from this search?"
            )
        passed(
            f"{model_name}@{alias} is version {target.version}, from a run tied with yours on "
            "the held-out split (the search breaks ties with top-5 accuracy)"
        )
        return
    passed(f"{model_name}@{alias} is version {target.version}, registered from the run you chose")
