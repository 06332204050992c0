r"""Sustained load on a logging API: no errors, flat memory, and one log line per prediction.

Eight aiohttp clients (one thread: they compete with the server for the
cores no more than they must) send single ``GET``\ s and small ``POST``
batches for a minute while the server's memory is sampled every second.  The
server logs with a small rotation size, so the count crosses several files;
then it is stopped with SIGTERM, which drains its log queue, and the lines of
every file are counted against the predictions the clients saw in their 200
answers.  Its stdout (where a container's logs are collected) is counted too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from course_lib.bench.monitoring_api import logging_env, percentile, warm_up
from course_lib.bench.suites import LOG_MAX_BYTES, MONITORING_TARGETS
from course_lib.serving.log_records import SCHEMA
from course_lib.serving.prediction_log import LOG_FILE
from course_lib.serving.process import ApiProcess, running_api

CLIENTS = 8
GET_SHARE = 0.5
"""Share of single GETs in the sustained load; the rest are POSTs of 1 to 20 descriptions."""
LOG_BACKUPS = 1_000
"""Enough rotated files that none is deleted during the run (5 GB at 5 MB a file)."""
WARM_UP_TEXTS = 50
"""Descriptions the server sees before its memory is first sampled."""
_RECORD_START = '{"schema":"' + SCHEMA + '"'


@dataclass
class Tally:
    """What the clients saw: requests, predictions in the 200 answers, errors, latencies."""

    requests: int = 0
    gets: int = 0
    posts: int = 0
    predictions: int = 0
    errors: int = 0
    error_kinds: set[str] = field(default_factory=set)
    latencies: list[float] = field(default_factory=list)


async def _mixed_client(
    session: aiohttp.ClientSession, url: str, texts: Sequence[str], deadline: float,
    tally: Tally, seed: int,
) -> None:  # fmt: skip
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        k = rng.randint(1, 5)
        if rng.random() < GET_SHARE:
            params = {"description": rng.choice(texts), "nb_echoes_max": k}
            request = session.get(f"{url}/predict", params=params)
            tally.gets += 1
        else:
            batch = [rng.choice(texts) for _ in range(rng.randint(1, 20))]
            body = {"descriptions": batch, "nb_echoes_max": k}
            request = session.post(f"{url}/predict", json=body)
            tally.posts += 1
        started = time.perf_counter()
        try:
            async with request as response:
                raw = await response.read()
                if response.status != 200:
                    tally.errors += 1
                    tally.error_kinds.add(f"HTTP {response.status}")
                else:
                    answer = json.loads(raw)
                    tally.predictions += len(answer["results"]) if "results" in answer else 1
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as exc:
            tally.errors += 1  # no answer, or a 200 that is not the documented JSON
            tally.error_kinds.add(type(exc).__name__)
        tally.latencies.append(time.perf_counter() - started)
        tally.requests += 1


def apply_load(
    api: ApiProcess, texts: Sequence[str], seconds: float, clients: int = CLIENTS
) -> dict[str, Any]:
    """``clients`` concurrent clients for ``seconds``; the server's memory sampled every second."""
    server = psutil.Process(api.pid)
    samples: list[float] = []
    tally = Tally()
    deadline = time.monotonic() + seconds

    async def sample_memory() -> None:
        while time.monotonic() < deadline:
            with contextlib.suppress(psutil.Error):
                processes = [server, *server.children(recursive=True)]
                samples.append(sum(p.memory_info().rss for p in processes) / 2**20)
            await asyncio.sleep(1.0)

    async def run() -> float:
        started = time.perf_counter()
        connector = aiohttp.TCPConnector(limit=clients)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            loops = [
                _mixed_client(session, api.url, texts, deadline, tally, seed)
                for seed in range(clients)
            ]
            await asyncio.gather(sample_memory(), *loops)
        return time.perf_counter() - started

    elapsed = asyncio.run(run())
    tenth = max(1, len(samples) // 10)
    first = statistics.mean(samples[:tenth]) if samples else float("nan")
    last = statistics.mean(samples[-tenth:]) if samples else float("nan")
    return {
        "seconds": elapsed,
        "clients": clients,
        "requests": tally.requests,
        "gets": tally.gets,
        "posts": tally.posts,
        "predictions": tally.predictions,
        "errors": tally.errors,
        "error_kinds": sorted(tally.error_kinds),
        "requests_per_s": tally.requests / elapsed,
        "predictions_per_s": tally.predictions / elapsed,
        "p99_ms": 1000 * percentile(tally.latencies, 99) if tally.latencies else 0.0,
        "rss_first_mb": first,
        "rss_last_mb": last,
        "rss_growth": last / first - 1,
        "memory_samples": len(samples),
    }


@dataclass(frozen=True)
class LogCount:
    """The lines of a log folder (every rotated file), by event."""

    files: int
    lines: int
    predictions: int
    refused: int
    unreadable: int


def count_log_lines(folder: Path) -> LogCount:
    """Count the lines of ``predictions.jsonl`` and its rotated files; each must be our JSON."""
    files = sorted(folder.glob(f"{LOG_FILE}*"))
    lines = predictions = refused = unreadable = 0
    for path in files:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                lines += 1
                try:
                    event = json.loads(line).get("event")
                except (ValueError, AttributeError):
                    event = None
                if event == "prediction":
                    predictions += 1
                elif event == "refused":
                    refused += 1
                else:
                    unreadable += 1
    return LogCount(len(files), lines, predictions, refused, unreadable)


def count_stdout_records(log: Path) -> int:
    """Our JSON lines in a server's stdout (mixed with uvicorn's access log)."""
    if not log.exists():
        return 0
    with log.open(encoding="utf-8", errors="replace") as handle:
        return sum(1 for line in handle if line.startswith(_RECORD_START))


def endurance_verdict(
    load: dict[str, Any], count: LogCount, stdout_records: int, backups: int
) -> dict[str, Any]:
    """The sustained load's result with the log's count (pure: tested on made-up counts)."""
    lines_match = count.lines == load["predictions"] and count.predictions == load["predictions"]
    return {
        **load,
        "log_files": count.files,
        "log_lines": count.lines,
        "log_prediction_lines": count.predictions,
        "log_refused_lines": count.refused,
        "log_unreadable_lines": count.unreadable,
        "stdout_records": stdout_records,
        "log_backups": backups,
        "rotated": count.files > 1,
        "lines_equal_predictions": lines_match,
        "meets_target": (
            load["errors"] == 0
            and lines_match
            and count.files <= backups  # none deleted by rotation
            and load["rss_growth"] < MONITORING_TARGETS["rss_growth_max"]
        ),
    }


def bench_sustained_load(
    model: str, version: str, texts: Sequence[str], seconds: float,
    max_bytes: int = LOG_MAX_BYTES, backups: int = LOG_BACKUPS, clients: int = CLIENTS,
) -> dict[str, Any]:  # fmt: skip
    """A logging API under load, stopped with SIGTERM, then its log files counted."""
    with tempfile.TemporaryDirectory(prefix="course-bench-api-log-") as folder:
        env = logging_env(Path(folder), max_bytes, backups)
        with running_api(model=model, version=version, env=env) as api:
            warm = warm_up(api, texts[:WARM_UP_TEXTS])
            load = apply_load(api, texts, seconds, clients)
        # out of the with: the server got SIGTERM and drained its queue into the files
        load["predictions"] += warm
        count = count_log_lines(Path(folder))
        stdout = count_stdout_records(api.log)
    result = endurance_verdict(load, count, stdout, backups)
    result["warm_up_predictions"] = warm
    result["max_bytes"] = max_bytes
    if result["lines_equal_predictions"] and stdout == count.lines:
        api.log.unlink(missing_ok=True)  # its copy of every line: ~100 MB a run otherwise
    else:
        result["server_log"] = str(api.log)
    return result
