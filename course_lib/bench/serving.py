"""Serving benchmarks: a real uvicorn process on loopback and a load generator.

Three questions a trainee or an operator asks of the API, each answered
against the simple approach it replaces:

- throughput: 1,000 descriptions by one ``GET`` per row (the course's first
  client) versus one batch ``POST``; the target is at least 20× the rows/s;
- latency: single ``GET /predict`` requests, p50 and p99, with 1 and 8 clients
  at once;
- endurance: a sustained load (60 s by default) must give zero errors and flat
  server memory (last tenth of the run versus the first).

The load generator is aiohttp (already pinned for fsspec's http backend), so
8 concurrent clients cost one thread here, not 8, and the client does not
compete with the server for the two cores more than it must.
"""

from __future__ import annotations

import asyncio
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pandas as pd
import psutil
import requests

from course_lib.bench.timing import best_of
from course_lib.data.dataset import data_to_classify
from course_lib.serving import client
from course_lib.serving.process import ApiProcess, running_api


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def bench_throughput(api: ApiProcess, texts: list[str], repeat: int = 3) -> dict[str, Any]:
    """GET per row (``classify_row_by_row``) versus one batch POST of the same rows."""
    frame = pd.DataFrame({"text": texts})
    row_s, slow = best_of(
        repeat, lambda: client.classify_row_by_row(frame, api.url, progress=False)
    )
    batch_s, fast = best_of(
        repeat,
        lambda: client.classify_in_batches(frame, api.url, chunk_size=len(texts), progress=False),
    )
    return {
        "descriptions": len(texts),
        "get_per_row_s": row_s,
        "batch_post_s": batch_s,
        "get_per_row_rows_per_s": len(texts) / row_s,
        "batch_post_rows_per_s": len(texts) / batch_s,
        "speedup": row_s / batch_s,
        "same_predictions": bool(slow.equals(fast)),
    }


async def _client_loop(
    session: aiohttp.ClientSession,
    url: str,
    texts: list[str],
    stop: Callable[[int], bool],
    latencies: list[float],
    errors: list[str],
    seed: int,
) -> None:
    rng = random.Random(seed)
    sent = 0
    while not stop(sent):
        params = {"description": rng.choice(texts), "nb_echoes_max": 3}
        started = time.perf_counter()
        try:
            async with session.get(f"{url}/predict", params=params) as response:
                await response.read()
                if response.status != 200:
                    errors.append(f"HTTP {response.status}")
        except aiohttp.ClientError as exc:
            errors.append(type(exc).__name__)
        latencies.append(time.perf_counter() - started)
        sent += 1


async def _load(
    url: str, texts: list[str], clients: int, stop: Callable[[int], bool]
) -> tuple[list[float], list[str], float]:
    latencies: list[float] = []
    errors: list[str] = []
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=30)
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(
            *(
                _client_loop(session, url, texts, stop, latencies, errors, seed)
                for seed in range(clients)
            )
        )
    return latencies, errors, time.perf_counter() - started


def bench_latency(api: ApiProcess, texts: list[str], clients: int, requests_each: int) -> dict:
    """p50/p99 of single GETs with ``clients`` concurrent clients."""
    latencies, errors, seconds = asyncio.run(
        _load(api.url, texts, clients, lambda sent: sent >= requests_each)
    )
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": len(errors),
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * _percentile(latencies, 99),
        "requests_per_s": len(latencies) / seconds,
    }


def bench_endurance(
    api: ApiProcess, texts: list[str], seconds: float, clients: int = 8
) -> dict[str, Any]:
    """Sustained load: every error counted, the server's memory sampled each second."""
    server = psutil.Process(api.pid)
    samples: list[tuple[float, float]] = []
    deadline = time.monotonic() + seconds

    async def sample_memory() -> None:
        while time.monotonic() < deadline:
            rss = sum(p.memory_info().rss for p in [server, *server.children(recursive=True)])
            samples.append((time.monotonic(), rss / 2**20))
            await asyncio.sleep(1.0)

    async def run() -> tuple[list[float], list[str], float]:
        sampler = asyncio.create_task(sample_memory())
        result = await _load(api.url, texts, clients, lambda _: time.monotonic() >= deadline)
        await sampler
        return result

    latencies, errors, elapsed = asyncio.run(run())
    tenth = max(1, len(samples) // 10)
    first = statistics.mean(rss for _, rss in samples[:tenth])
    last = statistics.mean(rss for _, rss in samples[-tenth:])
    return {
        "seconds": elapsed,
        "clients": clients,
        "requests": len(latencies),
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "requests_per_s": len(latencies) / elapsed,
        "p99_ms": 1000 * _percentile(latencies, 99),
        "rss_first_mb": first,
        "rss_last_mb": last,
        "rss_growth": last / first - 1,
        "memory_samples": len(samples),
    }


def run_serving_benchmarks(
    model: str, version: str | None, rows: int = 1_000, latency_requests: int = 500,
    endurance_s: float = 60.0,
) -> dict[str, Any]:  # fmt: skip
    """Start the API on a free port, run the three benchmarks, stop it."""
    texts = pd.read_parquet(data_to_classify(rows))["text"].tolist()
    with running_api(model=model, version=version) as api:
        info = requests.get(api.url, timeout=10).json()
        # one warm-up pass so the first measured request does not pay for lazy imports
        client.classify_in_batches(pd.DataFrame({"text": texts[:50]}), api.url, progress=False)
        return {
            "machine": {"python": platform.python_version(), "cpus": len(os.sched_getaffinity(0))},
            "model_uri": info["model_uri"],
            "throughput": bench_throughput(api, texts),
            "latency": [
                bench_latency(api, texts, clients, max(10, latency_requests // clients))
                for clients in (1, 8)
            ],
            "endurance": bench_endurance(api, texts, endurance_s),
        }


def benchmark_registered(
    model: str,
    latency_requests: int = 1_000,
    endurance_s: float = 60.0,
    status: Callable[[str], object] = print,
) -> dict[str, Any]:
    """The serving suite on the newest version of ``model``, from the configured registry."""
    from course_lib.tracking.registry import resolve_version
    from course_lib.tracking.server import tracking_server

    with tracking_server() as uri:
        version = resolve_version(model)
        status(
            f"benchmarking the API serving models:/{model}/{version} from {uri} "
            f"(about {endurance_s + 60:.0f} s)…"
        )
        return run_serving_benchmarks(model, version, 1_000, latency_requests, endurance_s)
