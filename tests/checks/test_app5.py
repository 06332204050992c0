"""Application 5's checks: each fails on a plausible wrong answer and passes on every right one.

The workflows are the ones the lab renders; the runs of a search are tables built here (the
check's view of the tracking server is replaced by the same table), so these tests take
seconds. One slow test runs a real search against a real server and feeds the three checks
that ask it what the lab's answers give.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from types import SimpleNamespace

import mlflow
import mlflow.exceptions
import pandas as pd
import pytest
import yaml

from course_lib.checks import CheckFailed
from course_lib.checks import app5 as checks
from course_lib.deploy.manifests import load_values
from course_lib.search.grid import load_grid
from course_lib.search.workflows import render_workflows
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return render_workflows(load_values(ROOT / "infra" / "values.yaml"), load_grid())


def test_every_check_says_not_set_yet_on_the_lab_s_stubs(files) -> None:
    stubs = [
        lambda: checks.check_parallel_steps(..., files["steps.yaml"]),
        lambda: checks.check_dag_order(..., ..., files["dag.yaml"]),
        lambda: checks.check_dag_order({"B", "C"}, ..., files["dag.yaml"]),
        lambda: checks.check_fixed_workflow(..., files["dag.yaml"]),
        lambda: checks.check_grid(...),
        lambda: checks.check_search_runs(..., None),
        lambda: checks.check_pick_best(lambda runs: None, ..., None),  # the stub's function
        lambda: checks.check_pick_best(..., ..., None),
        lambda: checks.check_registered_best(..., None),
    ]
    for stub in stubs:
        with pytest.raises(CheckFailed, match="not set yet"):
            stub()


# --- exercise 1: steps that run together ---------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [{"train-a", "train-b"}, ["train-b", "train-a"], ("train-a", "train-b"),
     pd.Series(["train-a", "train-b"])],
)  # fmt: skip
def test_parallel_steps_accept_the_names_in_any_collection(files, answer, capsys) -> None:
    checks.check_parallel_steps(answer, files["steps.yaml"])
    assert capsys.readouterr().out.startswith(
        "✔ train-a and train-b run together: they are group 2 of 3"
    )


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        ({"prepare", "train-a"}, "'prepare' is in group 1, alone"),
        ({"train-a", "train-b", "compare"}, "'compare' is in group 3, alone"),
        ({"train-a"}, "'train-b' is in the same group as train-a"),
        ("train-a", "'train-b' is in the same group"),
        ({"say"}, "'say' is a template"),
        ({"train-a", "train-c"}, "there is no step 'train-c'"),
        (42, "should be names"),
    ],
)
def test_parallel_steps_fail_on_plausible_mistakes(files, answer, hint) -> None:
    with pytest.raises(CheckFailed, match=hint):
        checks.check_parallel_steps(answer, files["steps.yaml"])


def test_parallel_steps_are_read_from_the_document_not_written_in_the_check(files) -> None:
    """Another workflow, another answer: the right answer for steps.yaml fails on it."""
    document = yaml.safe_load(files["steps.yaml"])
    groups = document["spec"]["templates"][0]["steps"]
    groups[0].append(copy.deepcopy(groups[0][0]) | {"name": "fetch"})  # prepare and fetch
    groups[1] = groups[1][:1]  # train-a alone
    with pytest.raises(CheckFailed, match="'train-a' is in group 2, alone"):
        checks.check_parallel_steps({"train-a", "train-b"}, document)
    checks.check_parallel_steps({"prepare", "fetch"}, yaml.safe_dump(document))


# --- exercise 2: the DAG's order -----------------------------------------------------------


@pytest.mark.parametrize(
    ("after_a", "waits"),
    [({"B", "C"}, "D"), (["C", "B"], ["D"]), (pd.Series(["B", "C"]), {"D"})],
)
def test_dag_order_accepts_the_names_in_any_collection(files, after_a, waits, capsys) -> None:
    checks.check_dag_order(after_a, waits, files["dag.yaml"])
    assert capsys.readouterr().out.startswith("✔ B and C start once A is done, side by side; D")


@pytest.mark.parametrize(
    ("after_a", "waits", "hint"),
    [
        ({"B"}, "D", "C depends on A only"),
        ({"B", "C", "D"}, "D", "D waits for B and C"),
        ({"A", "B", "C"}, "D", "cannot start after itself"),
        ({"B", "C"}, "B", "B waits for A: read each task's dependencies"),
        ({"B", "C"}, "A", "A waits for nothing"),
        ({"B", "C"}, {"C", "D"}, "C waits for A"),
        ({"B", "E"}, "D", "there is no task 'E'"),
    ],
)
def test_dag_order_fails_on_plausible_mistakes(files, after_a, waits, hint) -> None:
    with pytest.raises(CheckFailed, match=hint):
        checks.check_dag_order(after_a, waits, files["dag.yaml"])


def test_dag_order_is_read_from_the_document(files) -> None:
    """A chain A -> B -> C with D after A and C: the diamond's answer fails."""
    document = yaml.safe_load(files["dag.yaml"])
    tasks = {t["name"]: t for t in document["spec"]["templates"][0]["dag"]["tasks"]}
    tasks["C"]["dependencies"] = ["B"]
    tasks["D"]["dependencies"] = ["A", "C"]
    with pytest.raises(CheckFailed, match="C waits for B"):
        checks.check_dag_order({"B", "C"}, "D", document)
    checks.check_dag_order({"B"}, "D", document)


# --- exercise 3: the repaired workflow -----------------------------------------------------


@pytest.fixture
def broken(files) -> str:
    return files["dag.yaml"].replace("dependencies:\n        - B", "dependecies:\n        - B")


def test_the_broken_workflow_has_one_misspelled_field(files, broken) -> None:
    assert broken.count("dependecies:") == 1 and broken != files["dag.yaml"]


def test_a_repaired_workflow_passes_as_text_dict_or_another_layout(files, broken, capsys) -> None:
    fixed = broken.replace("dependecies:", "dependencies:")
    checks.check_fixed_workflow(fixed, files["dag.yaml"])
    checks.check_fixed_workflow(yaml.safe_load(fixed), files["dag.yaml"])
    flow_style = yaml.safe_dump(yaml.safe_load(fixed), default_flow_style=True)  # same content
    checks.check_fixed_workflow(flow_style, files["dag.yaml"])
    assert capsys.readouterr().out.count("✔ fixed is valid offline") == 3


def test_an_unrepaired_or_gutted_workflow_fails(files, broken) -> None:
    with pytest.raises(CheckFailed, match="dependecies: unknown field"):
        checks.check_fixed_workflow(broken, files["dag.yaml"])
    gutted = yaml.safe_load(broken)
    del gutted["spec"]["templates"][0]["dag"]["tasks"][3]["dependecies"]  # valid, D runs at once
    with pytest.raises(CheckFailed, match=r"tasks\[3\]\.dependencies is missing; correct"):
        checks.check_fixed_workflow(gutted, files["dag.yaml"])
    half = broken.replace("dependecies:\n        - B\n", "dependencies:\n")  # D waits for C only
    with pytest.raises(CheckFailed, match=r"dependencies has 1 items instead of 2"):
        checks.check_fixed_workflow(half, files["dag.yaml"])
    with pytest.raises(CheckFailed, match="generateName is 'hello-world-' instead of 'dag-'"):
        checks.check_fixed_workflow(files["hello-world.yaml"], files["dag.yaml"])
    with pytest.raises(CheckFailed, match="not valid YAML"):
        checks.check_fixed_workflow("spec: [unclosed", files["dag.yaml"])


# --- exercise 4: the grid ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grid_data", "shown"),
    [
        ({"hyperparameters": {"dim": [25, 50], "wordNgrams": [1, 2]}},
         "4 configurations, every combination of dim [25, 50] × wordNgrams [1, 2]"),
        (yaml.safe_load("hyperparameters:\n  wordNgrams: [1, 2]\n  dim: [25, 50]\n"),
         "4 configurations, every combination of dim [25, 50] × wordNgrams [1, 2]"),
        ({"hyperparameters": {"lr": [0.2, 0.4, 0.8], "epoch": [5, 10]}},
         "6 configurations, every combination of lr [0.2, 0.4, 0.8] × epoch [5, 10]"),
        ({"hyperparameters": {"dim": [25, 50], "minn": [2, 3], "epoch": [5]}},
         "4 configurations, every combination of dim [25, 50] × minn [2, 3]"),
    ],
)  # fmt: skip
def test_a_cross_product_of_two_options_passes(grid_data, shown, capsys) -> None:
    checks.check_grid(grid_data)
    assert capsys.readouterr().out.strip() == f"✔ {shown}"


@pytest.mark.parametrize(
    ("grid_data", "hint"),
    [
        ({"hyperparameters": [{"dim": 25, "lr": 0.1}, {"dim": 50, "lr": 0.5}]}, "zipped"),
        ([{"dim": 25, "lr": 0.1}, {"dim": 50, "lr": 0.5}], "zipped"),
        ({"hyperparameters": {"dim": [25, 50], "wordNgram": [1, 2]}},
         "wordNgram is not a fastText option \\(did you mean wordNgrams\\?\\)"),
        ({"hyperparameters": {"dim": 50, "wordNgrams": 2}}, "single configuration"),
        ({"hyperparameters": {"dim": [25, 50, 75, 100]}}, "only dim varies"),
        ({"hyperparameters": {"dim": (25, 50), "wordNgrams": (1, 2)}}, "as a list"),
        ({"hyperparameters": {"dim": [25, 50], "wordNgrams": [1, 2]}, "sample": {"size": 2}},
         "random sample of 2"),
        ({"hyperparameters": {"dim": [10, 25, 50], "wordNgrams": [1, 2, 3]}},
         "9 combinations"),
        ("hyperparameters:\n  dim: [25, 50]\n", "is text"),
        (load_grid(), "is a Grid"),
    ],
)  # fmt: skip
def test_a_grid_that_is_no_cross_product_of_two_options_fails(grid_data, hint) -> None:
    with pytest.raises(CheckFailed, match=hint):
        checks.check_grid(grid_data)


# --- exercises 5 and 6: the runs and the choice (the server replaced by a table) ------------

SEARCH = "search-20261130-101500-3fa2"


def search_table(test: list[float], dev: list[float]) -> pd.DataFrame:
    """mlflow.search_runs's table of a 2 x 2 search: four training runs and the selection."""
    rows = [
        {
            "run_id": f"{config:032x}", "status": "FINISHED",
            "params.dim": str(dim), "params.wordNgrams": str(ngrams), "params.epoch": "5",
            "metrics.test_accuracy_subclass": test[config],
            "metrics.test_top5_accuracy_subclass": test[config] + 0.03,
            "metrics.dev_accuracy_subclass": dev[config],
            "tags.course.search": SEARCH, "tags.course.config": str(config),
            "tags.course.role": None,
        }
        for config, (dim, ngrams) in enumerate([(25, 1), (25, 2), (50, 1), (50, 2)])
    ]  # fmt: skip
    selection = {"run_id": "f" * 32, "status": "FINISHED", "tags.course.search": SEARCH,
                 "tags.course.role": "selection", "metrics.real_accuracy_low": 0.6}  # fmt: skip
    return pd.DataFrame([selection, *reversed(rows)])  # newest first, as MLflow returns them


DISAGREE = search_table(test=[0.927, 0.928, 0.944, 0.943], dev=[0.712, 0.703, 0.731, 0.745])
"""The full corpus's figures: best held out is config 2, best on the real rows config 3."""
AGREE = search_table(test=[0.150, 0.136, 0.117, 0.131], dev=[0.179, 0.146, 0.142, 0.146])
"""The CI corpus's: config 0 is best on both."""


def training(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["tags.course.role"] != "selection"]


@pytest.fixture
def server(monkeypatch):
    """Make the check see ``table`` as the tracking server's runs of :data:`SEARCH`."""

    def serve(table: pd.DataFrame) -> None:
        runs = training(table).rename(columns={"tags.course.config": "config"})
        truth = runs[[c for c in runs.columns if not c.startswith("tags.")]]
        selection = set(table.loc[table["tags.course.role"] == "selection", "run_id"])

        def fake(search_id: str, experiment: str):
            assert search_id == SEARCH
            return truth.reset_index(drop=True), selection

        monkeypatch.setattr(checks, "search_table", fake)

    return serve


@pytest.mark.parametrize(
    "runs",
    [
        training(DISAGREE),  # filtered in pandas, index with gaps
        training(DISAGREE).reset_index(drop=True),
        training(DISAGREE).sample(frac=1, random_state=1),  # another order
        training(DISAGREE)[["run_id", "params.dim", "params.wordNgrams",
                            "metrics.test_accuracy_subclass", "metrics.dev_accuracy_subclass"]],
    ],
)  # fmt: skip
def test_the_search_s_training_runs_pass_whatever_their_index(server, runs, capsys) -> None:
    server(DISAGREE)
    checks.check_search_runs(runs, SEARCH)
    assert capsys.readouterr().out.startswith(
        "✔ the search's 4 training runs, varying dim, wordNgrams, with their held-out"
    )


OTHER_SEARCH = search_table([0.5] * 4, [0.5] * 4).assign(
    run_id=lambda t: t["run_id"].str.replace("0", "a"), **{"tags.course.search": "other"}
)


@pytest.mark.parametrize(
    ("runs", "hint"),
    [
        (DISAGREE, "holds the search's selection run"),
        (pd.concat([training(DISAGREE), training(OTHER_SEARCH)]), "4 run\\(s\\) of other searches"),
        (DISAGREE.iloc[0:0], "compares a tag only on the runs that have it"),
        (training(DISAGREE).iloc[1:], "lacks 1 of the search's 4 training runs"),
        (pd.concat([training(DISAGREE)] * 2), "lists a run twice"),
        (training(DISAGREE).drop(columns="metrics.dev_accuracy_subclass"),
         "no column metrics.dev_accuracy_subclass"),
        (training(DISAGREE).drop(columns="params.dim"), "no column params.dim"),
        (training(DISAGREE).drop(columns="run_id"), "no run_id column"),
        ([SimpleNamespace(info=None)], "is a list"),
        ({"run_id": []}, "should be a DataFrame"),
    ],
)  # fmt: skip
def test_runs_that_are_not_exactly_the_search_s_training_runs_fail(server, runs, hint) -> None:
    server(DISAGREE)
    with pytest.raises(CheckFailed, match=hint):
        checks.check_search_runs(runs, SEARCH)


def held_out_idxmax(runs):
    return runs.loc[runs["metrics.test_accuracy_subclass"].idxmax(), "run_id"]


RIGHT_CHOICES = {
    "idxmax": held_out_idxmax,
    "sorted": lambda r: r.sort_values("metrics.test_accuracy_subclass", ascending=False).iloc[0][
        "run_id"
    ],
    "the row": lambda r: r.loc[r["metrics.test_accuracy_subclass"].idxmax()],
    "a one-row table": lambda r: r.nlargest(1, "metrics.test_accuracy_subclass"),
}


@pytest.mark.parametrize("table", [DISAGREE, AGREE], ids=["disagree", "agree"])
@pytest.mark.parametrize("pick_best", list(RIGHT_CHOICES.values()), ids=list(RIGHT_CHOICES))
def test_choosing_on_the_held_out_split_passes(server, table, pick_best, capsys) -> None:
    server(table)
    for runs in (training(table), training(table).reset_index(drop=True)):
        checks.check_pick_best(pick_best, runs, SEARCH)
    out = capsys.readouterr().out
    if table is DISAGREE:
        assert "config 2 (dim=50 wordNgrams=1); the real rows would have picked another" in out
    else:
        assert "config 0 (dim=25 wordNgrams=1); here the real rows happen to rank it first" in out


def real_rows_idxmax(runs):
    return runs.loc[runs["metrics.dev_accuracy_subclass"].idxmax(), "run_id"]


def test_choosing_on_the_real_rows_fails_even_when_they_agree_on_this_search(server) -> None:
    server(DISAGREE)
    with pytest.raises(CheckFailed, match="pick_best follows the real rows"):
        checks.check_pick_best(real_rows_idxmax, training(DISAGREE), SEARCH)
    server(AGREE)  # the same run either way: only the copy where they disagree tells
    with pytest.raises(CheckFailed, match="pick_best follows the real rows"):
        checks.check_pick_best(real_rows_idxmax, training(AGREE), SEARCH)


def test_a_choice_that_ignores_the_table_it_is_given_fails(server) -> None:
    server(AGREE)
    best = held_out_idxmax(training(AGREE))
    with pytest.raises(CheckFailed, match="returned the same run for another table"):
        checks.check_pick_best(lambda runs: best, training(AGREE), SEARCH)


@pytest.mark.parametrize(
    ("pick_best", "hint"),
    [
        (lambda r: r.iloc[0]["run_id"], "did not return the run with the highest"),
        (lambda r: r.sort_values("metrics.test_accuracy_subclass").iloc[0]["run_id"],
         "the worst one: highest first"),
        (lambda r: r.sort_values("metrics.test_accuracy_subclass").loc[0, "run_id"],
         "KeyError.*reset_index"),
        (lambda r: "0" * 32 + "x", "not a run of this search"),
        (lambda r: 3, "should return a run id"),
        (lambda r: r, "returned 4 rows"),
        ("idxmax", "should be a function"),
    ],
)  # fmt: skip
def test_other_wrong_choices_fail(server, pick_best, hint) -> None:
    server(DISAGREE)
    runs = training(DISAGREE)  # the index keeps its gaps: 0 is the selection run's
    with pytest.raises(CheckFailed, match=hint):
        checks.check_pick_best(pick_best, runs, SEARCH)


def test_a_tie_on_the_held_out_split_accepts_either_run(server) -> None:
    tied = search_table(test=[0.9, 0.95, 0.95, 0.8], dev=[0.7, 0.6, 0.7, 0.9])
    server(tied)
    checks.check_pick_best(held_out_idxmax, training(tied), SEARCH)
    last = lambda r: r.sort_values("metrics.test_accuracy_subclass", kind="stable").iloc[-1]  # noqa: E731
    checks.check_pick_best(lambda r: last(r)["run_id"], training(tied), SEARCH)


# --- exercise 7: the registered version (the registry replaced by a fake) -------------------


@dataclass
class Version:
    version: str
    run_id: str


class FakeRegistry:
    def __init__(self, aliases: dict[str, Version], metrics: dict[str, float]) -> None:
        self.aliases, self.metrics = aliases, metrics

    def __call__(self) -> FakeRegistry:  # stands for MlflowClient()
        return self

    def get_model_version_by_alias(self, name: str, alias: str) -> Version:
        if name != checks.MODEL_NAME or alias not in self.aliases:
            raise mlflow.exceptions.MlflowException(f"no alias {alias}")
        return self.aliases[alias]

    def get_run(self, run_id: str):
        metrics = {"test_accuracy_subclass": self.metrics[run_id]}
        return SimpleNamespace(data=SimpleNamespace(metrics=metrics))


@pytest.fixture
def registry(monkeypatch) -> FakeRegistry:
    fake = FakeRegistry(
        {"search-best": Version("7", "run-best"), "champion": Version("3", "run-old")},
        {"run-best": 0.94, "run-tied": 0.94, "run-worse": 0.90, "run-old": 0.93},
    )
    monkeypatch.setattr(mlflow, "MlflowClient", fake)
    return fake


@pytest.mark.parametrize("registered", [Version("7", "run-best"), "7", 7])
def test_the_version_search_best_names_passes(registry, registered, capsys) -> None:
    checks.check_registered_best(registered, "run-best")
    assert capsys.readouterr().out.strip() == (
        "✔ fasttext@search-best is version 7, registered from the run you chose"
    )


def test_a_run_tied_with_the_choice_passes(registry, capsys) -> None:
    checks.check_registered_best("7", "run-tied")
    assert "tied with yours on the held-out split" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("registered", "best_run_id", "hint"),
    [
        (Version("3", "run-old"), "run-best", "that is fasttext@champion"),
        ("6", "run-best", "version 6 is not the one fasttext@search-best points at"),
        ("7", "run-worse", "registered from another run than the one you chose"),
        ("7", None, "answer exercise 6 first"),
    ],
)
def test_another_version_or_another_run_fails(registry, registered, best_run_id, hint) -> None:
    with pytest.raises(CheckFailed, match=hint):
        checks.check_registered_best(registered, best_run_id)


def test_no_alias_yet_says_to_run_the_search(registry) -> None:
    del registry.aliases["search-best"]
    with pytest.raises(CheckFailed, match="has no alias 'search-best': run the search cell"):
        checks.check_registered_best("7", "run-best")


# --- the three server checks against a real search -----------------------------------------


@pytest.mark.slow
def test_the_checks_agree_with_a_real_search(mlflow_server, monkeypatch, capsys) -> None:
    """A real 2 x 2 search (small corpus, private model name), then the lab's answers."""
    from course_lib.search.grid import parse_grid
    from course_lib.search.local import SearchPlan, run_search

    monkeypatch.setattr(checks, "MODEL_NAME", "fasttext-app5-checks")
    monkeypatch.setenv("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # as the lab sets it
    grid = parse_grid({"hyperparameters": {"dim": [8, 16], "epoch": [1, 10]}})  # epoch 1 is worse
    plan = SearchPlan(grid, experiment="app5-checks", rows=2_000, workers=2,
                      model_name="fasttext-app5-checks", alias=checks.SEARCH_ALIAS)  # fmt: skip
    result = run_search(plan, status=lambda _: None)
    search = f"tags.`course.search` = '{plan.search_id}'"
    everything = mlflow.search_runs(experiment_names=["app5-checks"], filter_string=search)
    assert len(everything) == 5
    runs = everything[everything["tags.course.role"] != "selection"]
    checks.check_search_runs(runs, plan.search_id, "app5-checks")
    with pytest.raises(CheckFailed, match="selection run"):
        checks.check_search_runs(everything, plan.search_id, "app5-checks")
    none = mlflow.search_runs(
        experiment_names=["app5-checks"],
        filter_string=f"{search} and tags.`course.role` != 'selection'",
    )  # what the check's hint says about this filter holds
    assert none.empty
    with pytest.raises(CheckFailed, match="compares a tag only on the runs that have it"):
        checks.check_search_runs(none, plan.search_id, "app5-checks")
    is_null = mlflow.search_runs(
        experiment_names=["app5-checks"], filter_string=f"{search} and tags.`course.role` IS NULL"
    )
    checks.check_search_runs(is_null, plan.search_id, "app5-checks")

    checks.check_pick_best(held_out_idxmax, runs, plan.search_id, "app5-checks")
    best_run_id = held_out_idxmax(runs)
    assert result.selection.chosen.metrics["test_accuracy_subclass"] == pytest.approx(
        runs.set_index("run_id").loc[best_run_id, "metrics.test_accuracy_subclass"]
    )
    registered = mlflow.MlflowClient().get_model_version_by_alias(
        "fasttext-app5-checks", checks.SEARCH_ALIAS
    )
    checks.check_registered_best(registered, best_run_id)
    out = capsys.readouterr().out
    assert out.count("✔") == 4 and "fasttext-app5-checks@search-best is version 1" in out
    held_out = runs["metrics.test_accuracy_subclass"]
    assert held_out.min() < held_out.max()
    worst = runs.loc[held_out.idxmin(), "run_id"]
    with pytest.raises(CheckFailed, match="another run than the one you chose"):
        checks.check_registered_best(registered, worst)
