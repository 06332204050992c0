"""The grid file: a cross product or a seeded sample, every mistake refused with its entry."""

from __future__ import annotations

import json

import pytest

from course_lib.model.fasttext_model import Hyperparameters
from course_lib.search.grid import (
    MAX_CONFIGURATIONS,
    SEARCHABLE,
    GridInvalid,
    grid_argument,
    load_grid,
    parse_grid,
    parse_grid_text,
)


def grid(**hyperparameters):
    return parse_grid({"hyperparameters": hyperparameters})


def test_the_grid_is_a_cross_product_not_pairs():
    """The original course zipped (dim, lr): two lists of 3 gave 3 runs, confounded."""
    configurations = grid(dim=[25, 50, 100], lr=[0.1, 0.4, 0.8]).configurations()
    pairs = {(c.params.dim, c.params.lr) for c in configurations}
    assert len(configurations) == len(pairs) == 9
    assert [c.index for c in configurations] == list(range(9))


def test_options_left_out_keep_the_training_defaults_and_one_thread():
    (only,) = grid(dim=[30]).configurations()
    defaults = Hyperparameters()
    assert only.params.dim == 30 and only.params.thread == 1
    assert only.params.epoch == defaults.epoch and only.params.loss == defaults.loss


def test_an_item_names_every_option_the_training_command_takes():
    item = grid(dim=[30], loss="softmax").configurations()[0].item()
    assert list(item) == ["config", *SEARCHABLE] and "thread" not in item
    assert item["config"] == 0 and item["loss"] == "softmax" and item["dim"] == 30
    json.dumps(item)  # an Argo withParam item is JSON


def test_the_default_grid_is_the_shipped_file_and_round_trips_through_json():
    default = load_grid()
    assert default.size == 4 and set(default.values) == {"dim", "wordNgrams"}
    assert parse_grid_text(default.to_json()) == default
    assert grid_argument(None) == default
    assert grid_argument(default.to_json()) == default  # what a workflow parameter holds


def test_a_seeded_sample_is_reproducible_distinct_and_within_the_product():
    data = {"hyperparameters": {"dim": list(range(10, 110, 10)), "epoch": list(range(1, 21))},
            "sample": {"size": 7, "seed": 3}}  # fmt: skip
    first = parse_grid(data).configurations()
    again = parse_grid(data).configurations()
    other = parse_grid(data | {"sample": {"size": 7, "seed": 4}}).configurations()
    points = [(c.params.dim, c.params.epoch) for c in first]
    assert points == [(c.params.dim, c.params.epoch) for c in again]
    assert points != [(c.params.dim, c.params.epoch) for c in other]
    assert len(set(points)) == 7
    assert all(d in data["hyperparameters"]["dim"] for d, _ in points)
    assert all(e in data["hyperparameters"]["epoch"] for _, e in points)


def test_a_sample_larger_than_the_product_trains_the_product_once():
    data = {"hyperparameters": {"dim": [10, 20]}, "sample": {"size": 5}}
    assert [c.params.dim for c in parse_grid(data).configurations()] == [10, 20]


def test_a_sample_draws_from_a_product_too_large_to_list():
    six = {name: list(range(1, 7)) for name in ("dim", "epoch", "minCount", "bucket")}
    lr = {"lr": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}
    data = {"hyperparameters": six | lr, "sample": {"size": 5}}
    sampled = parse_grid(data)
    assert sampled.product_size == 6**5 > MAX_CONFIGURATIONS
    assert len(sampled.configurations()) == 5


@pytest.mark.parametrize(
    ("hyperparameters", "says"),
    [
        ({"dimm": [25]}, "hyperparameters.dimm is not a fastText option (did you mean dim?)"),
        ({"dim": []}, "hyperparameters.dim is an empty list"),
        ({"dim": ["big"]}, "hyperparameters.dim: 'big' is not a number"),
        ({"dim": [True]}, "hyperparameters.dim: True is not a number"),
        ({"dim": [2.5]}, "hyperparameters.dim: 2.5 is not a whole number"),
        ({"dim": [0]}, "hyperparameters.dim: 0 is outside 1–300"),
        ({"epoch": [10**9]}, "hyperparameters.epoch: 1000000000 is outside 1–100"),
        ({"lr": ["0.1"]}, "hyperparameters.lr: '0.1' is not a number"),
        ({"loss": ["hinge"]}, "hyperparameters.loss: 'hinge' is not a loss fastText knows"),
        ({"dim": [25, 25]}, "hyperparameters.dim lists 25 twice"),
        ({"thread": [1, 2]}, "hyperparameters.thread cannot be searched"),
        ({"minn": [2, 6]}, "hyperparameters.minn 6 is above maxn 5"),
    ],
)
def test_a_wrong_entry_is_refused_naming_it(hyperparameters, says):
    with pytest.raises(GridInvalid, match=r"^grid: ") as refused:
        parse_grid({"hyperparameters": hyperparameters})
    assert says in str(refused.value)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ([1, 2], "a grid is a mapping with a 'hyperparameters' entry"),
        ({"hyperparameters": {}}, "at least one option"),
        ({"hyperparameters": {"dim": [1]}, "samples": {"size": 2}}, "unknown entry 'samples'"),
        ({"hyperparameters": {"dim": [1]}, "sample": {"size": 0}}, "sample.size must be 1–200"),
        ({"hyperparameters": {"dim": [1]}, "sample": {"sise": 2}}, "sample must be a mapping"),
        ({"hyperparameters": {"dim": [1]}, "sample": {"size": 2, "seed": "x"}}, "sample.seed"),
        (
            {"hyperparameters": {"dim": list(range(1, 101)), "epoch": [1, 2, 3]}},
            "300 combinations, more than the 200",
        ),
    ],
)
def test_a_wrong_file_is_refused_with_what_to_write(data, says):
    with pytest.raises(GridInvalid) as refused:
        parse_grid(data)
    assert says in str(refused.value)


def test_a_scalar_is_one_value():
    assert grid(dim=40).values == {"dim": (40,)}


def test_files_name_themselves_in_errors_and_oversized_text_is_refused(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("hyperparameters:\n  dim: [25, oops]\n")
    with pytest.raises(GridInvalid, match=r"mine\.yaml: hyperparameters\.dim: 'oops'"):
        load_grid(path)
    path.write_text("hyperparameters: [\n")
    with pytest.raises(GridInvalid, match="not valid YAML or JSON"):
        load_grid(path)
    with pytest.raises(GridInvalid, match="no grid file at"):
        load_grid(tmp_path / "missing.yaml")
    with pytest.raises(GridInvalid, match="is not a grid"):
        parse_grid_text("#" * 100_000)
