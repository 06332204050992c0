"""The local search runner, next to the simple approach: one training after another.

Three questions, on a fresh state folder and tracking server:

- **speed-up**: the same grid with 1 worker and with 2 (on 2 cores each
  training is single-threaded, so 2 workers should approach 2x; the
  tracking server shares the cores);
- **growth**: time of grids of 4, 8 and 16 configurations with 2 workers,
  per configuration (it should stay flat: the runner adds no per-grid cost);
- **overhead**: the runner with 1 worker against a plain loop of
  ``run_training`` in this process (no worker to start, no pipe), per run.

The 1.6x target assumes two cores that each run a process at full speed.  A
shared virtual machine may not give that (on this project's machine, two
busy loops side by side each ran 1.3 to 1.7 times slower than one alone), so
the suite also measures the machine's own ceiling the same way, two plain
Python loops at once against one, and reports the runner's speed-up as a
share of it.

Every grid varies the learning rate only, which does not change how long a
training takes, so time differences come from the runner, not from the
hyperparameters.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from course_lib.bench.tracking import state_folder
from course_lib.model.fasttext_model import Hyperparameters
from course_lib.search.grid import Grid
from course_lib.search.local import SearchPlan, run_search

SPEEDUP_TARGET = 1.6
"""What 2 workers must reach against 1 on 2 cores (issue 11)."""
EFFICIENCY_TARGET = 0.85
"""What share of the machine's own 2-process ceiling the runner must reach."""
WORKERS = 2
BUSY_LOOP = "x = 0\nfor i in range(40_000_000):\n    x += i\n"
"""A CPU-bound Python process of about two seconds: what the ceiling is measured with."""


def _busy(processes: int) -> float:
    started = time.perf_counter()
    running = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(processes)]
    for process in running:
        process.wait()
    return time.perf_counter() - started


def machine_ceiling(rounds: int = 3) -> dict[str, float]:
    """How much faster 2 busy processes finish than 2 run one after the other (best of
    ``rounds``): 2.0 on two real cores, less when the cores are shared."""
    alone = min(_busy(1) for _ in range(rounds))
    together = min(_busy(2) for _ in range(rounds))
    return {"one_process_s": alone, "two_processes_s": together, "ceiling": 2 * alone / together}


def lr_grid(size: int) -> Grid:
    """``size`` configurations that differ by learning rate only (same cost each)."""
    rates = tuple(round(0.05 + 0.75 * i / max(size - 1, 1), 4) for i in range(size))
    return Grid({"lr": rates})


@contextlib.contextmanager
def _fresh_state() -> Iterator[None]:
    """A state folder and tracking server of the benchmark's own (a user's runs untouched)."""
    from course_lib.tracking.server import tracking_server

    with state_folder(), tracking_server():
        yield


def _timed_search(grid: Grid, rows: int, workers: int, experiment: str) -> dict[str, Any]:
    plan = SearchPlan(grid, experiment=experiment, rows=rows, workers=workers, model_name=None)
    result = run_search(plan, status=lambda line: None)
    inside = sum(o.seconds for o in result.outcomes)
    return {
        "configurations": len(result.outcomes),
        "workers": workers,
        "seconds": result.seconds,
        "seconds_per_configuration": result.seconds / len(result.outcomes),
        "training_seconds_in_workers": inside,
        "failed": len(result.failed),
    }


def _plain_loop(grid: Grid, rows: int, experiment: str) -> dict[str, Any]:
    """The simple approach: ``run_training`` on each configuration, in this process."""
    import mlflow

    from course_lib.data.dataset import ensure_generated
    from course_lib.model.training import TrainConfig, run_training

    ensure_generated(rows, 0)
    mlflow.set_experiment(experiment)
    started = time.perf_counter()
    for configuration in grid.configurations():
        config = TrainConfig(rows=rows, params=configuration.params, experiment=experiment,
                             model_name=None)  # fmt: skip
        run_training(config, status=lambda line: None)
    seconds = time.perf_counter() - started
    return {"configurations": grid.size, "seconds": seconds}


def run_search_benchmarks(
    rows: int, sizes: tuple[int, ...] = (4, 8, 16), status: Callable[[str], object] = print
) -> dict[str, Any]:
    """The three measurements above; the smallest size is the one compared 1 vs 2 workers."""
    base = min(sizes)
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "rows": rows,
        "hyperparameters": Hyperparameters(thread=1).as_dict() | {"lr": "varied"},
    }
    status("measuring the machine: one busy process, then two at once…")
    ceiling = machine_ceiling()
    with _fresh_state():
        status(f"warming up: corpus of {rows:,} rows and one training…")
        _plain_loop(lr_grid(1), rows, "bench-warm-up")
        status(f"{base} configurations, one after another in this process…")
        loop = _plain_loop(lr_grid(base), rows, "bench-loop")
        status(f"{base} configurations, 1 worker…")
        one = _timed_search(lr_grid(base), rows, 1, "bench-1-worker")
        growth = []
        for size in sorted(sizes):
            status(f"{size} configurations, {WORKERS} workers…")
            growth.append(_timed_search(lr_grid(size), rows, WORKERS, f"bench-{size}"))
    two = growth[0]
    speedup = one["seconds"] / two["seconds"]
    efficiency = speedup / ceiling["ceiling"]
    results |= {
        "machine_ceiling": ceiling,
        "efficiency": efficiency,
        "efficiency_target": EFFICIENCY_TARGET,
        "meets_efficiency_target": efficiency >= EFFICIENCY_TARGET,
        "plain_loop": loop,
        "one_worker": one,
        "two_workers": two,
        "speedup": speedup,
        "speedup_target": SPEEDUP_TARGET,
        "meets_target": speedup >= SPEEDUP_TARGET,
        "growth": growth,
        "runner_overhead_per_run_s": (one["seconds"] - loop["seconds"]) / base,
    }
    return results
