"""``course traffic``: weeks of simulated API traffic, written as the API's own prediction log.

The trainee's few requests through the API make a thin log.  To show a
dashboard with weeks of history, daily and weekly rhythm, and a change that
an alert should catch, chapter 4 simulates the history: real predictions of
the real registered model, on realistic descriptions
(:mod:`~course_lib.monitoring.traffic_scenario`), at simulated times
(:mod:`~course_lib.monitoring.traffic_schedule`), written line by line with the
API's record functions (:mod:`course_lib.serving.log_records`, ``simulated:
true``), so the ETL reads them exactly as it reads the API's.

One file per UTC day, ``traffic-YYYY-MM-DD.jsonl`` in ``<state>/logs/simulated``
(:mod:`~course_lib.monitoring.traffic_files` says how they are written).

Reproducible: everything a day holds is drawn from a generator seeded by the
plan's seed, the day's date, its volume and the strength of the change on
that day, so the same plan gives byte-identical files, and a day before the
change is the same whether or not a change follows.  Request ids are drawn
from that seed and the model's name and version: an id always names the same
lines, and a re-run with another model does not reuse the ids of the first.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from course_lib import settings
from course_lib.data.corpus import GENERATOR_VERSION
from course_lib.errors import CourseError
from course_lib.monitoring.traffic_files import (
    day_file,
    one_run_at_a_time,
    remove_stale,
    write_whole,
)
from course_lib.monitoring.traffic_scenario import Descriptions, change_strength
from course_lib.monitoring.traffic_schedule import Request, daily_volume, day_requests
from course_lib.serving.log_records import Refused, Served, TextPolicy, WordCounter, json_line

SIMULATED_FOLDER = "simulated"
"""Under :func:`course_lib.settings.logs_dir`, beside the API's ``api/``."""
TRAFFIC_VERSION = 1
"""Bump when the traffic for a given plan changes: it is part of every day's seed, so
request ids of the old and the new traffic never collide."""
CHANGE_BEFORE_END = 7
"""By default the change starts this many days before the end: the last week changes."""
TOP_K = 5
"""Ranked codes logged per description, as many as the parsed dataset keeps."""
MAX_DAYS = 366
MAX_PER_DAY = 50_000
MAX_PREDICTIONS = 2_000_000
"""At most this many simulated predictions per run: about 1.2 GB of logs and three minutes
(the default plan, 41,000 predictions, writes 25 MB in about 4 s)."""


@dataclass(frozen=True)
class TrafficPlan:
    """What to simulate: how many days, how busy, when the change starts, which seed."""

    days: int = 28
    change_day: int | None = None
    """Index of the first changed day (0 = the first day); None: a week before the end;
    ``days`` or more: no change in the history."""
    per_day: int = 2_000
    """Descriptions classified on an average weekday (weekends get far fewer)."""
    seed: int = 0
    end: date | None = None
    """Last day (UTC); None: yesterday."""

    def __post_init__(self) -> None:
        problems = [
            message
            for wrong, message in (
                (
                    not _whole(self.days) or not 1 <= self.days <= MAX_DAYS,
                    f"days={self.days!r}: give a number of days from 1 to {MAX_DAYS}",
                ),
                (
                    not _whole(self.per_day) or not 1 <= self.per_day <= MAX_PER_DAY,
                    f"per_day={self.per_day!r}: give a number of predictions a weekday from 1 "
                    f"to {MAX_PER_DAY:,}",
                ),
                (
                    not _whole(self.seed) or self.seed < 0,
                    f"seed={self.seed!r}: give a whole number, 0 or more",
                ),
                (
                    self.change_day is not None
                    and (not _whole(self.change_day) or self.change_day < 0),
                    f"change_day={self.change_day!r}: give the index of a day, 0 (the first) or "
                    f"more (a number past days={self.days} means no change), or None for a week "
                    "before the end",
                ),
            )
            if wrong
        ]
        problems += self._end_problems()
        if not problems and self.days * self.per_day > MAX_PREDICTIONS:
            problems.append(
                f"{self.days} days × {self.per_day:,} a day is more than the {MAX_PREDICTIONS:,} "
                "predictions a run writes (about 1.2 GB of logs): ask for fewer days or fewer a day"
            )
        if problems:
            raise CourseError("traffic plan: " + "; ".join(problems))

    def _end_problems(self) -> list[str]:
        if self.end is None:
            return []
        if isinstance(self.end, datetime) or not isinstance(self.end, date):
            return [f"end={self.end!r}: give a day (a datetime.date such as 2026-11-29)"]
        if self.end >= _today():
            return [
                f"end={self.end.isoformat()} is not in the past: a simulated day is a whole day, "
                f"so the history ends by yesterday ({(_today() - timedelta(days=1)).isoformat()})"
            ]
        return []

    @property
    def change_index(self) -> int:
        """The first changed day's index; negative when the change began before the history."""
        return self.days - CHANGE_BEFORE_END if self.change_day is None else self.change_day

    def dates(self) -> list[date]:
        """The plan's days, oldest first (``end`` None means yesterday, UTC)."""
        last = self.end or _today() - timedelta(days=1)
        return [last - timedelta(days=self.days - 1 - i) for i in range(self.days)]


@dataclass(frozen=True)
class DayTraffic:
    """What one simulated day holds."""

    day: date
    file: Path
    predictions: int
    requests: int
    """Every request, refused ones included."""
    refused: int
    change: float
    """Strength of the change that day, 0 (none) to 1 (full)."""


@dataclass(frozen=True)
class TrafficReport:
    """What a run wrote: per day, and in total."""

    plan: TrafficPlan
    model_name: str
    model_version: str
    folder: Path
    days: tuple[DayTraffic, ...]
    change_date: date | None
    """First day of the change (it may precede the history when ``days`` < 7); None when
    the history has no change."""
    removed: tuple[Path, ...] = ()
    """Files of an earlier run removed because this run did not cover their days."""

    @property
    def files(self) -> list[Path]:
        return [day.file for day in self.days]

    @property
    def per_day(self) -> dict[date, int]:
        """Predictions per day."""
        return {day.day: day.predictions for day in self.days}

    @property
    def predictions(self) -> int:
        return sum(day.predictions for day in self.days)

    @property
    def requests(self) -> int:
        return sum(day.requests for day in self.days)

    @property
    def refused(self) -> int:
        return sum(day.refused for day in self.days)

    def summary(self) -> str:
        first, last = self.days[0].day, self.days[-1].day
        change = f"change from {self.change_date}" if self.change_date else "no change"
        if self.change_date and self.change_date < first:
            change += ", before the first day"
        return (
            f"{_days(len(self.days))} of simulated traffic ({first} → {last}, {change}): "
            f"{self.predictions:,} predictions in {self.requests:,} requests, "
            f"{self.refused:,} refused → {_shown(self.folder)}"
        )


def simulate_traffic(
    plan: TrafficPlan,
    model_name: str,
    reference: str | None,
    out_dir: Path | None = None,
    status: Callable[[str], object] = print,
) -> TrafficReport:
    """Simulate ``plan`` with the registered model ``model_name`` (version or alias
    ``reference``, None for the newest) and write one log file per day."""
    from course_lib.model.loading import load_registered
    from course_lib.tracking.registry import split_reference

    dates = plan.dates()
    folder = Path(out_dir) if out_dir is not None else settings.logs_dir() / SIMULATED_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    registered = load_registered(model_name, *split_reference(reference))
    status(
        f"simulating {_days(plan.days)} of traffic with {registered.uri} (v{registered.version})…"
    )
    simulator = _DaySimulator(
        plan,
        registered.name,
        registered.version,
        registered.model,
        Descriptions.generate(plan.seed),
    )
    written: list[DayTraffic] = []
    with one_run_at_a_time(folder, status):
        for index, day in enumerate(dates):
            written.append(simulator.write(day, change_strength(index, plan.change_index), folder))
            if (index + 1) % 7 == 0 or index + 1 == len(dates):
                week = written[-((index % 7) + 1) :]
                status(
                    f"  {week[0].day} → {week[-1].day}: "
                    f"{sum(d.predictions for d in week):,} predictions"
                )
        removed = remove_stale(folder, keep=[d.file for d in written])
    has_change = plan.change_index < plan.days
    return TrafficReport(
        plan=plan,
        model_name=registered.name,
        model_version=registered.version,
        folder=folder,
        days=tuple(written),
        change_date=dates[0] + timedelta(days=plan.change_index) if has_change else None,
        removed=tuple(removed),
    )


class _DaySimulator:
    """Turns a day and the change's strength that day into the day's log file."""

    def __init__(
        self, plan: TrafficPlan, name: str, version: str, model: Any, pool: Descriptions
    ) -> None:
        self.plan, self.name, self.version, self.model, self.pool = plan, name, version, model, pool
        self.count_words = _word_counter(model)
        self.model_key = int.from_bytes(hashlib.sha256(f"{name}\0{version}".encode()).digest()[:8])

    def write(self, day: date, strength: float, folder: Path) -> DayTraffic:
        events = self.events(day, strength)
        path = day_file(folder, day)
        counter = _memo(self.count_words)
        write_whole(
            path,
            (json_line(r) for event in events for r in event.records(TextPolicy.RAW, counter)),
        )
        served = [e for e in events if isinstance(e, Served)]
        return DayTraffic(
            day=day,
            file=path,
            predictions=sum(len(e.texts) for e in served),
            requests=len(events),
            refused=len(events) - len(served),
            change=strength,
        )

    def events(self, day: date, strength: float) -> list[Served | Refused]:
        """The day's requests, each with its descriptions and the model's real answers."""
        key = [TRAFFIC_VERSION, GENERATOR_VERSION, self.plan.seed, self.plan.per_day]
        key += [day.toordinal(), round(strength * 1000)]
        rng = np.random.default_rng(key)
        requests = day_requests(day, daily_volume(day, self.plan.per_day, rng), rng)
        texts = self.pool.draw(sum(r.size for r in requests), strength, rng)
        answers = self._predict(texts)
        ids = _request_ids(np.random.default_rng([*key, self.model_key]), len(requests))
        events: list[Served | Refused] = []
        start = 0
        for request, request_id in zip(requests, ids, strict=True):
            batch = texts[start : start + request.size]
            events.append(self._event(request, request_id, batch, [answers[t] for t in batch]))
            start += request.size
        return events

    def _event(
        self, request: Request, request_id: str, texts: list[str], predictions: list[Any]
    ) -> Served | Refused:
        if request.refused:
            return Refused(
                request_id=request_id,
                route=request.route,
                status=request.status,
                reason=request.reason,
                model_name=self.name,
                model_version=self.version,
                latency_ms=request.latency_ms,
                timestamp=request.timestamp,
                simulated=True,
            )
        return Served(
            request_id=request_id,
            route=request.route,
            model_name=self.name,
            model_version=self.version,
            texts=texts,
            predictions=predictions,
            latency_ms=request.latency_ms,
            timestamp=request.timestamp,
            simulated=True,
        )

    def _predict(self, texts: list[str]) -> dict[str, Any]:
        """The model's answer for each distinct text, in one call."""
        distinct = list(dict.fromkeys(texts))
        if not distinct:
            return {}
        return dict(zip(distinct, self.model.predict(distinct, params={"k": TOP_K}), strict=True))


def _request_ids(rng: np.random.Generator, count: int) -> list[str]:
    """Random-looking ids like the API's (``uuid4().hex``), drawn from ``rng``."""
    return [uuid.UUID(bytes=rng.bytes(16), version=4).hex for _ in range(count)]


def _word_counter(model: Any) -> WordCounter | None:
    """The model's own word counter; None for a model without a fastText vocabulary."""
    from course_lib.model.vocabulary import word_counter

    try:
        return word_counter(model)
    except AttributeError:
        return None


def _memo(count: WordCounter | None) -> WordCounter | None:
    """Count each distinct text once (a day repeats its usual descriptions)."""
    if count is None:
        return None
    seen: dict[str, tuple[int, int]] = {}

    def counted(text: str) -> tuple[int, int]:
        if text not in seen:
            seen[text] = count(text)
        return seen[text]

    return counted


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _today() -> date:
    return datetime.now(UTC).date()


def _shown(folder: Path) -> str:
    """The folder relative to the current one when inside it (as the example paths read)."""
    try:
        return str(folder.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(folder)


__all__ = ["DayTraffic", "TrafficPlan", "TrafficReport", "simulate_traffic"]
