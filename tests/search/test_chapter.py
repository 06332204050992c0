"""What chapter 5 quotes from the code is what the code gives (grid files, items, errors)."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from course_lib.search.grid import GridInvalid, load_grid, parse_grid, parse_grid_text
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
