"""Chapter 4's benchmarks: what the prediction log costs the API, and what the ETL saves.

Four measurements, each next to the simple approach it replaces:

- **ETL** (:mod:`.monitoring_etl`): the course's DuckDB ETL against
  ``json.loads`` + ``pandas.json_normalize`` on a million log lines, end to
  end, same rows checked; target 10× or more;
- **latency with logging on and off** (:mod:`.monitoring_api`): single
  ``GET /predict`` from one keep-alive client to two real servers taking
  turns; targets: less than 10 % on p50, p50 under 2 ms;
- **batch throughput** (:mod:`.monitoring_api`): one ``POST /predict`` of
  1,000 descriptions to the logging server against raw fastText in this
  process; target at least half its throughput;
- **sustained load** (:mod:`.monitoring_load`): 8 clients for 60 s, GETs and
  small batches, logging on with a small rotation size; zero errors, flat
  server memory, and after SIGTERM (which drains the log) as many log lines as
  predictions answered.

The machine may be shared: every figure is a ratio of runs made side by side,
and the JSON keeps the per-round figures to show the noise.  The model is
loaded and checked first, then the ETL runs (no server), then the APIs.
"""

from __future__ import annotations

import contextlib
import os
import platform
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import requests

from course_lib.bench.monitoring_api import (
    BATCH_ROWS,
    NO_LOGGING_ENV,
    ROUNDS,
    bench_batch,
    bench_logging_latency,
    fasttext_of,
    logging_env,
    warm_up,
)
from course_lib.bench.monitoring_etl import bench_etl, generate_logs
from course_lib.bench.monitoring_load import CLIENTS, bench_sustained_load
from course_lib.bench.suites import (
    ENDURANCE_S,
    ETL_LINES,
    LATENCY_REQUESTS,
    LOG_MAX_BYTES,
    MONITORING_TARGETS,
)
from course_lib.serving.process import ApiProcess, running_api


def machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "cpus": len(os.sched_getaffinity(0))}


def run_etl_benchmark(lines: int, status: Callable[[str], object] = print) -> dict[str, Any]:
    """Generate ``lines`` log lines once in a temporary folder and time both ETL paths on them."""
    with tempfile.TemporaryDirectory(prefix="course-bench-logs-") as folder:
        status(f"writing {lines:,} log lines with the API's record functions…")
        generate_logs(Path(folder), lines)
        status(f"ETL of {lines:,} lines: DuckDB (best of 3), then json.loads + pandas (once)…")
        return bench_etl(Path(folder))


@contextlib.contextmanager
def _two_servers(model: str, version: str, log_folder: Path) -> Iterator[dict[str, ApiProcess]]:
    with (
        running_api(model=model, version=version, env=NO_LOGGING_ENV) as off,
        running_api(model=model, version=version, env=logging_env(log_folder)) as on,
    ):
        yield {"off": off, "on": on}


def run_api_benchmarks(
    model: str, version: str, pyfunc: Any, latency_requests: int = LATENCY_REQUESTS,
    endurance_s: float = ENDURANCE_S, log_max_bytes: int = LOG_MAX_BYTES,
    status: Callable[[str], object] = print,
) -> dict[str, Any]:  # fmt: skip
    """Latency on/off and batch throughput on two servers, then the sustained load on a third.

    ``pyfunc`` is ``model`` version ``version`` loaded in this process (for raw fastText).
    """
    from course_lib.data.dataset import data_to_classify

    texts = pd.read_parquet(data_to_classify(BATCH_ROWS))["text"].tolist()
    status("starting two APIs, logging off and on…")
    with (
        tempfile.TemporaryDirectory(prefix="course-bench-api-log-") as folder,
        _two_servers(model, version, Path(folder)) as servers,
    ):
        model_uri = requests.get(servers["on"].url, timeout=10).json()["model_uri"]
        for api in servers.values():
            warm_up(api, texts)
        status(f"latency: {ROUNDS} alternating rounds of {latency_requests:,} GETs each…")
        latency = bench_logging_latency(servers["off"], servers["on"], texts, latency_requests)
        status(f"batch: POST of {len(texts):,} descriptions vs fastText in this process…")
        batch = bench_batch(servers["on"], pyfunc, texts)
    status(f"sustained load: {CLIENTS} clients for {endurance_s:.0f} s, logging on…")
    endurance = bench_sustained_load(model, version, texts, endurance_s, log_max_bytes)
    return {
        "model_uri": model_uri,
        "logging_latency": latency,
        "batch": batch,
        "endurance": endurance,
    }


def run_monitoring_benchmarks(
    model: str, version: str, etl_lines: int = ETL_LINES,
    latency_requests: int = LATENCY_REQUESTS, endurance_s: float = ENDURANCE_S,
    log_max_bytes: int = LOG_MAX_BYTES, status: Callable[[str], object] = print,
) -> dict[str, Any]:  # fmt: skip
    """The four measurements; the model must be reachable in the configured registry.

    The model is loaded (and checked to be fastText) before anything else, so a
    wrong ``--model`` is said at once rather than after the ETL's minutes.
    """
    from course_lib.model.loading import load_registered

    registered = load_registered(model, version)
    fasttext_of(registered.model, registered.uri)
    etl = run_etl_benchmark(etl_lines, status)
    api = run_api_benchmarks(
        model, version, registered.model, latency_requests, endurance_s, log_max_bytes, status
    )
    return {"machine": machine(), "targets": MONITORING_TARGETS, "etl": etl, **api}


def benchmark_registered(
    model: str, version: str | None = None, etl_lines: int = ETL_LINES,
    latency_requests: int = LATENCY_REQUESTS, endurance_s: float = ENDURANCE_S,
    log_max_bytes: int = LOG_MAX_BYTES, status: Callable[[str], object] = print,
) -> dict[str, Any]:  # fmt: skip
    """The suite on ``version`` (default: the newest) of ``model`` from the configured registry."""
    from course_lib.tracking.registry import resolve_version
    from course_lib.tracking.server import tracking_server

    with tracking_server() as uri:
        number = resolve_version(model, version)
        status(
            f"benchmarking the prediction log and the ETL with models:/{model}/{number} from "
            f"{uri} (about {endurance_s + etl_lines / 4_000 + 90:.0f} s)…"
        )
        return run_monitoring_benchmarks(
            model, number, etl_lines, latency_requests, endurance_s, log_max_bytes, status
        )
