"""The search grid: which fastText settings to try, checked before anything starts.

One grid file drives both engines of chapter 5, the local process pool
(``course search``) and the Argo workflow (its ``grid`` parameter, expanded in
the cluster by ``course search-grid``), so the file is parsed and checked in
one place.  Every mistake is refused with the entry it is in, before a single
model trains: a typo in a hyperparameter's name found after an hour of
training is an hour lost, on each of the pods.

The grid is a **cross product**: every value of every entry is tried with
every value of the others.  The original course zipped (dim, lr) pairs, so
the effect of one could not be told from the effect of the other.  A seeded
random sample of the product is the option for larger grids (Bergstra and
Bengio, 2012: for the same budget, random points cover each dimension better
than a grid does).

Limits keep a hostile or mistaken file from asking for unbounded work: at
most :data:`MAX_CONFIGURATIONS` trainings, and each value within the range
the course can train in the memory of one pod (:data:`RANGES`).
"""

from __future__ import annotations

import difflib
import itertools
import json
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from course_lib.errors import CourseError
from course_lib.model.fasttext_model import Hyperparameters, Loss
from course_lib.resources import resource_path

DEFAULT_GRID = resource_path("search", "grid.yaml")
MAX_CONFIGURATIONS = 200
"""Trainings one search may ask for (a sample can be drawn from a larger product)."""
MAX_GRID_BYTES = 64 * 1024
"""A grid file is a few lines; anything larger is not one."""
NOT_SEARCHED = {
    "thread": "each training uses one thread, so that runs are reproducible and the "
    "workers, not the threads, share the cores"
}
RANGES: dict[str, tuple[float, float]] = {
    "dim": (1, 300),
    "lr": (1e-6, 5.0),
    "epoch": (1, 100),
    "wordNgrams": (1, 5),
    "minn": (0, 10),
    "maxn": (0, 10),
    "minCount": (1, 1000),
    "bucket": (0, 1_000_000),
}
"""Inclusive bounds per option: fastText refuses values outside them, or (``dim``,
``bucket``, ``epoch``) would need more memory or time than a pod of the course has."""
_TYPES: dict[str, type] = get_type_hints(Hyperparameters)
SEARCHABLE = tuple(name for name in _TYPES if name not in NOT_SEARCHED)
"""The options a grid may list, in the order fastText's documentation gives them."""


class GridInvalid(CourseError):
    """A grid that cannot be searched; the message names the entry and how to fix it."""


@dataclass(frozen=True)
class Configuration:
    """One point of the grid: the settings of one training run."""

    index: int
    params: Hyperparameters

    def item(self) -> dict[str, Any]:
        """The configuration as one item of Argo's ``withParam`` list: every option but
        ``thread``, so the training step's command line can name each one."""
        values = self.params.as_dict()
        return {"config": self.index} | {name: values[name] for name in SEARCHABLE}

    def describe(self, grid: Grid) -> str:
        """``dim=25 wordNgrams=2``: only the options the grid varies."""
        values = self.params.as_dict()
        varied = [name for name, options in grid.values.items() if len(options) > 1]
        return " ".join(f"{name}={values[name]}" for name in varied or grid.values) or "defaults"


@dataclass(frozen=True)
class Grid:
    """Candidate values per option (in :data:`SEARCHABLE` order) and an optional sample."""

    values: dict[str, tuple[Any, ...]]
    sample: int | None = None
    sample_seed: int = 0

    @property
    def product_size(self) -> int:
        return math.prod(len(options) for options in self.values.values())

    @property
    def size(self) -> int:
        """How many trainings the search runs."""
        total = self.product_size
        return total if self.sample is None else min(self.sample, total)

    def configurations(self) -> list[Configuration]:
        """Every configuration of the cross product, or the seeded sample of it, in order."""
        names = list(self.values)
        if self.sample is None or self.sample >= self.product_size:
            points = itertools.product(*self.values.values())
        else:  # indices into the product: no need to build a product of a million points
            picked = random.Random(self.sample_seed).sample(range(self.product_size), self.sample)
            points = (self._point(index) for index in sorted(picked))
        base = Hyperparameters(thread=1)
        return [
            Configuration(i, replace(base, **dict(zip(names, point, strict=True))))
            for i, point in enumerate(points)
        ]

    def _point(self, index: int) -> tuple[Any, ...]:
        """The ``index``-th point of the product (the last option varies fastest)."""
        point = []
        for options in reversed(list(self.values.values())):
            index, position = divmod(index, len(options))
            point.append(options[position])
        return tuple(reversed(point))

    def as_data(self) -> dict[str, Any]:
        """The grid file's content (what :func:`parse_grid` reads back)."""
        data: dict[str, Any] = {"hyperparameters": {k: list(v) for k, v in self.values.items()}}
        if self.sample is not None:
            data["sample"] = {"size": self.sample, "seed": self.sample_seed}
        return data

    def to_json(self) -> str:
        """One line of JSON: the grid as a workflow parameter carries it."""
        return json.dumps(self.as_data(), separators=(",", ":"))


# --- checking one entry ------------------------------------------------------------------


def _candidate(name: str, value: Any, source: str) -> Any:
    """``value`` as option ``name`` takes it, or a message naming the entry."""
    kind = _TYPES[name]
    where = f"{source}: hyperparameters.{name}"
    if name == "loss":
        if value not in {loss.value for loss in Loss}:
            allowed = ", ".join(loss.value for loss in Loss)
            raise GridInvalid(f"{where}: {value!r} is not a loss fastText knows ({allowed})")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GridInvalid(f"{where}: {value!r} is not a number")
    if kind is int:
        if not float(value).is_integer():
            raise GridInvalid(f"{where}: {value!r} is not a whole number")
        value = int(value)
    else:
        value = float(value)
    low, high = RANGES[name]
    if not low <= value <= high:
        raise GridInvalid(f"{where}: {value!r} is outside {low:g}–{high:g}")
    return value


def _candidates(name: str, raw: Any, source: str) -> tuple[Any, ...]:
    where = f"{source}: hyperparameters.{name}"
    options = raw if isinstance(raw, list) else [raw]
    if not options:
        raise GridInvalid(f"{where} is an empty list: give at least one value to try")
    values = tuple(_candidate(name, value, source) for value in options)
    repeated = [v for v in dict.fromkeys(values) if values.count(v) > 1]
    if repeated:
        raise GridInvalid(f"{where} lists {repeated[0]!r} twice: each value once")
    return values


def _option_name(name: Any, source: str) -> str:
    if name in NOT_SEARCHED:
        raise GridInvalid(
            f"{source}: hyperparameters.{name} cannot be searched: {NOT_SEARCHED[name]}"
        )
    if name not in SEARCHABLE:
        close = difflib.get_close_matches(str(name), SEARCHABLE, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(SEARCHABLE)}"
        raise GridInvalid(f"{source}: hyperparameters.{name} is not a fastText option ({hint})")
    return name


def _sample(raw: Any, source: str) -> tuple[int | None, int]:
    if raw is None:
        return None, 0
    if not isinstance(raw, Mapping) or set(raw) - {"size", "seed"} or "size" not in raw:
        raise GridInvalid(f"{source}: sample must be a mapping with size (and optionally seed)")
    size, seed = raw["size"], raw.get("seed", 0)
    for key, value in (("size", size), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise GridInvalid(f"{source}: sample.{key}: {value!r} is not a whole number")
    if not 1 <= size <= MAX_CONFIGURATIONS:
        raise GridInvalid(f"{source}: sample.size must be 1–{MAX_CONFIGURATIONS}, not {size}")
    return size, seed


def _check_char_ngrams(values: Mapping[str, tuple[Any, ...]], source: str) -> None:
    """``minn`` above a non-zero ``maxn`` is a mistake in every configuration it appears in."""
    defaults = Hyperparameters()
    minns, maxns = values.get("minn", (defaults.minn,)), values.get("maxn", (defaults.maxn,))
    bad = [(a, b) for a in minns for b in maxns if b and a > b]
    if bad:
        raise GridInvalid(
            f"{source}: hyperparameters.minn {bad[0][0]} is above maxn {bad[0][1]} in some "
            "configurations: character n-grams run from minn to maxn (maxn 0 turns them off)"
        )


# --- reading a grid ----------------------------------------------------------------------


def parse_grid(data: Any, source: str = "grid") -> Grid:
    """A :class:`Grid` from a grid file's content, or :class:`GridInvalid` naming the entry."""
    if not isinstance(data, Mapping) or "hyperparameters" not in data:
        raise GridInvalid(
            f"{source}: a grid is a mapping with a 'hyperparameters' entry, e.g. "
            "{hyperparameters: {dim: [25, 50]}}"
        )
    unknown = sorted(set(data) - {"hyperparameters", "sample"}, key=str)
    if unknown:
        raise GridInvalid(f"{source}: unknown entry {unknown[0]!r} (a grid has hyperparameters "
                          "and optionally sample)")  # fmt: skip
    entries = data["hyperparameters"]
    if not isinstance(entries, Mapping) or not entries:
        raise GridInvalid(f"{source}: hyperparameters must list at least one option to search")
    for name in entries:
        _option_name(name, source)
    values = {
        name: _candidates(name, entries[name], source) for name in SEARCHABLE if name in entries
    }
    _check_char_ngrams(values, source)
    sample, seed = _sample(data.get("sample"), source)
    grid = Grid(values, sample, seed)
    if sample is None and grid.product_size > MAX_CONFIGURATIONS:
        raise GridInvalid(
            f"{source}: the grid has {grid.product_size:,} combinations, more than the "
            f"{MAX_CONFIGURATIONS} one search may train: list fewer values, or add "
            "sample: {size: N} to train N of them drawn at random"
        )
    return grid


def parse_grid_text(text: str, source: str = "grid") -> Grid:
    """A grid from YAML or JSON text (JSON is YAML), as a file or a workflow parameter holds it."""
    if len(text.encode()) > MAX_GRID_BYTES:
        raise GridInvalid(f"{source}: {len(text.encode()):,} bytes is not a grid (at most "
                          f"{MAX_GRID_BYTES:,})")  # fmt: skip
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise GridInvalid(f"{source} is not valid YAML or JSON: {exc}") from exc
    return parse_grid(data, source)


def load_grid(path: Path | str | None = None) -> Grid:
    """The grid in ``path`` (the course's default grid when None)."""
    path = Path(path) if path is not None else DEFAULT_GRID
    if not path.is_file():
        raise GridInvalid(f"no grid file at {path}: give the path of a YAML grid file")
    with path.open("rb") as handle:
        raw = handle.read(MAX_GRID_BYTES + 1)
    return parse_grid_text(raw.decode("utf-8", errors="replace"), str(path))


def grid_argument(value: str | None) -> Grid:
    """What ``--grid`` names: a file, or (in a workflow, where there is no file) the grid's
    JSON itself; None is the default grid."""
    if value is None:
        return load_grid()
    if value.lstrip().startswith("{"):
        return parse_grid_text(value, "--grid")
    return load_grid(value)
