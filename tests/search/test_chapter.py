"""What chapter 5 quotes from the code is what the code gives (grid files, items, errors)."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from course_lib.search.grid import GridInvalid, load_grid, parse_grid, parse_grid_text
from course_lib.settings import SEARCH_EXPERIMENT
from tests.book_text import table_row
from tests.conftest import ROOT

CHAPTER = (ROOT / "book" / "ch5_distributed_search.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", CHAPTER, flags=re.S)


def test_the_default_grid_shown_is_the_shipped_one():
    shown = [b for b in blocks("yaml") if b.startswith("hyperparameters:")]
    assert parse_grid(yaml.safe_load(shown[0])) == load_grid()


def test_every_grid_file_shown_is_valid_and_the_sample_gives_its_size():
    for block in blocks("yaml"):
        if block.startswith("hyperparameters:"):
            grid = parse_grid(yaml.safe_load(block), "chapter")
            if grid.sample is not None:
                assert f"{grid.sample} of the {grid.product_size} combinations" in block


def test_the_items_shown_are_what_search_grid_prints_for_the_default_grid():
    (shown,) = [b for b in blocks("json") if '"config":0' in b]
    items = [json.loads(line) for line in shown.strip().splitlines()]
    assert items == [c.item() for c in load_grid().configurations()][: len(items)]


def test_the_error_shown_is_the_one_a_misspelt_option_gets():
    (shown,) = [b for b in blocks("text") if "is not a fastText option" in b]
    source = shown.strip().partition(": ")[0]
    with pytest.raises(GridInvalid) as refused:
        parse_grid_text("hyperparameters:\n  wordNgram: [1, 2]\n", source)
    assert str(refused.value) == shown.strip()


def test_the_retry_strategy_shown_is_every_course_pod_s():
    (shown,) = [b for b in blocks("yaml") if b.startswith("retryStrategy:")]
    workflow = yaml.safe_load((ROOT / "infra" / "argo-workflows" / "search.yaml").read_text())
    pods = [t for t in workflow["spec"]["templates"] if "container" in t]
    assert len(pods) == 3
    assert all(t["retryStrategy"] == yaml.safe_load(shown)["retryStrategy"] for t in pods)


FLAT = " ".join(CHAPTER.split())  # the prose, whatever its line breaks and indents


def _row(first_cell: str) -> list[str]:
    return table_row(CHAPTER, first_cell)


def test_the_interval_shown_is_what_accuracy_interval_prints() -> None:
    import math

    from course_lib.model.evaluation import accuracy_interval

    (shown,) = [b for b in blocks("python") if "accuracy_interval(0.73, 212)" in b]
    assert f"# {math.sqrt(0.73 * 0.27 / 212):.4f}: a standard error of 3 points" in shown
    assert f"# {accuracy_interval(0.73, 212)}\n" in shown


def test_the_winner_s_curse_figures_are_the_expected_maximum_of_normals() -> None:
    import math

    from scipy import integrate, stats

    def expected_max(k: int) -> float:
        density = lambda x: x * k * stats.norm.pdf(x) * stats.norm.cdf(x) ** (k - 1)  # noqa: E731
        return integrate.quad(density, -math.inf, math.inf)[0]

    se = math.sqrt(0.73 * 0.27 / 212) * 100
    four, twelve = expected_max(4), expected_max(12)
    assert f"on average {four:.2f} standard deviations" in FLAT
    assert f"{four:.2f} × {se:.2f} ≈ {four * se:.0f} points too high" in FLAT
    assert (
        f"with twelve configurations, {twelve:.2f} standard errors, about {twelve * se:.0f} points"
        in FLAT
    )


def test_the_model_benchmark_figures_are_benchmarks_results_json() -> None:
    results = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    assert f"({results['training']['train_s']:.0f} s in `benchmarks/results.json`" in FLAT
    memory = _row("memory")[3]
    assert f"measured {results['training']['peak_rss_mb']:.0f} MB at the peak" in memory
    assert f"and {results['parent_peak_rss_mb']:.0f} MB for its whole process" in memory
    seeds = results["real_accuracy_over_seeds"]["per_seed"]
    shown = ", ".join(f"{seeds[s]['accuracy_subclass']:.3f}" for s in ("0", "1")) + " and "
    assert f"({shown}{seeds['2']['accuracy_subclass']:.3f} for seeds 0, 1 and 2" in FLAT
    held, real = (
        results["accuracy"][k]["accuracy_subclass"]
        for k in ("held_out_synthetic", "real_sirene_212")
    )
    assert f"({held:.2f} against {real:.2f} for the default model in" in FLAT


def test_the_search_benchmark_table_is_benchmarks_search_json() -> None:
    bench = json.loads((ROOT / "benchmarks" / "search.json").read_text())
    assert (
        f"`uv run course bench --suite search` measures the local runner on a {bench['rows']:,}-row"
        in FLAT
    )
    assert _row("4 configurations, 1 worker")[1] == f"{bench['one_worker']['seconds']:.1f} s"
    two = _row("4 configurations, 2 workers")[1]
    assert two.startswith(
        f"{bench['two_workers']['seconds']:.1f} s: **{bench['speedup']:.2f}× faster**"
    )
    assert f"(target: {bench['speedup_target']:g}×)" in two
    ceiling = _row("two busy Python processes side by side, against one after the other")[1]
    assert ceiling.startswith(f"{bench['machine_ceiling']['ceiling']:.2f}×")
    assert _row("2 workers as a share of that ceiling")[1] == f"{bench['efficiency'] * 100:.0f} %"
    loop = _row("4 configurations as a plain loop of `run_training` in one process")[1]
    assert loop.startswith(
        f"{bench['plain_loop']['seconds']:.1f} s: the runner costs "
        f"{bench['runner_overhead_per_run_s']:.1f} s more per configuration"
    )
    growth = {g["configurations"]: g for g in bench["growth"]}
    row = _row("8 and 16 configurations, 2 workers")[1]
    assert row == (
        f"{growth[8]['seconds']:.1f} s and {growth[16]['seconds']:.1f} s: "
        f"{growth[8]['seconds_per_configuration']:.1f} and "
        f"{growth[16]['seconds_per_configuration']:.1f} s per configuration, against "
        f"{growth[4]['seconds_per_configuration']:.1f} s for 4"
    )


def test_the_search_s_output_lines_are_the_runner_s() -> None:
    from course_lib.search import local, selection

    (shown,) = [b for b in blocks("text") if b.startswith("search search-")]
    lines = shown.strip().splitlines()
    assert lines[0].endswith(f"experiment {SEARCH_EXPERIMENT}")
    assert "on the held-out split is config" in lines[-1]
    assert f"(run …, {selection.SELECTION_METRIC} …), registered fasttext v…" in lines[-1]
    assert "held-out …, real … in … s" in lines[3]
    assert local.SELECTION_METRIC == selection.SELECTION_METRIC


def test_the_limits_quoted_are_the_code_s() -> None:
    from course_lib.errors import ServerUnavailable
    from course_lib.search.grid import MAX_CONFIGURATIONS
    from course_lib.search.pool import STOP_GRACE_S

    assert f"more than {MAX_CONFIGURATIONS} combinations without a `sample`" in FLAT
    assert f"SIGKILL to any still there {STOP_GRACE_S:g} seconds later" in FLAT
    assert _row("75")[1].startswith("the tracking server did not answer (`ServerUnavailable`")
    assert ServerUnavailable.exit_code == 75
    spec = yaml.safe_load((ROOT / "infra" / "argo-workflows" / "search.yaml").read_text())["spec"]
    assert spec["parallelism"] == 4 and "`parallelism: 4`" in CHAPTER
    assert spec["activeDeadlineSeconds"] == 6 * 3600 and "the whole workflow after 6 hours" in FLAT
    train = next(t for t in spec["templates"] if t["name"] == "train")
    assert int(train["activeDeadlineSeconds"]) == 30 * 60 and "stopped after 30 minutes" in FLAT
    assert spec["podGC"] == {"strategy": "OnPodSuccess", "deleteDelayDuration": "10m"}
    assert spec["ttlStrategy"] == {"secondsAfterSuccess": 86400, "secondsAfterFailure": 3 * 86400}
    assert "deleted a day after it succeeds, three days after it fails" in FLAT
