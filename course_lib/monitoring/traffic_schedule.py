"""When simulated requests arrive and what they look like: rhythm, batches, latency, refusals.

The shapes are those of an API used by people at work in France:

- **a daily rhythm** in Paris office hours (quiet at night, a morning and an
  afternoon peak, a dip at lunch), laid over UTC days, so every timestamp of
  a day's file falls on that UTC day, the day the ETL partitions it under;
- **a weekly rhythm**: weekends carry a fraction of a weekday's traffic;
- **day-to-day noise** of a few per cent;
- **requests**: mostly one description (``GET /predict``, a form being
  filled in), some batches (``POST /predict`` of 5 to 100, a back office
  classifying a file);
- **latency**: a few milliseconds, more for a bigger batch, and rare slow
  outliers (a pause, a cold cache);
- **refusals**: about 2 % of requests, with the API's own status and message
  (a blank description, a batch over the limit, a misspelt field…).

Everything is drawn from the ``numpy`` generator it is given, so a day is the
same for the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import numpy as np

from course_lib.serving.limits import DEFAULT_MAX_BATCH, MAX_DESCRIPTION_CHARS, MAX_K
from course_lib.serving.schemas import BLANK_MESSAGE

GET_ROUTE = "GET /predict"
POST_ROUTE = "POST /predict"
"""Routes as the API's request log writes them: method, space, path."""

OFFICE_TIMEZONE = ZoneInfo("Europe/Paris")
HOURLY = (
    0.5, 0.3, 0.2, 0.2, 0.2, 0.4, 1.0, 2.5, 5.5, 8.5, 10.0, 9.5,
    6.0, 5.5, 8.5, 9.5, 9.0, 7.5, 5.0, 3.5, 2.5, 2.0, 1.5, 1.0,
)  # fmt: skip
"""Relative requests per hour of the day in Paris (0 h … 23 h): office hours peak at
10 h and 15 h, lunch dips, the night is about fifty times quieter than the peak."""
WEEKDAY = (1.0, 1.05, 1.0, 1.0, 0.95, 0.3, 0.15)
"""Relative volume Monday … Sunday: a weekday averages 1, the weekend is much lower."""
DAY_NOISE = 0.08
"""Standard deviation of the day's volume on a log scale (about ±8 %)."""

GET_SHARE = 0.92
"""Share of requests that classify one description; the others are batches."""
BATCH_SIZES = (5, 100)
"""Batch sizes are log-uniform in this range: many small batches, some large."""

SLOW_SHARE = 0.004
SLOW_FACTOR = (15.0, 60.0)
"""Rare slow answers: this share of requests takes 15 to 60 times longer."""

REFUSED_SHARE = 0.02
"""Share of all requests the API refuses."""


@dataclass(frozen=True)
class Refusal:
    """A kind of request the API refuses, with the status and message it answers."""

    name: str
    weight: float
    route: str
    status: int
    reason: str
    """The API's message; ``{n}`` (an oversized batch) and ``{i}`` (a position) are filled in."""

    def message(self, rng: np.random.Generator) -> str:
        return self.reason.format(
            n=int(rng.integers(DEFAULT_MAX_BATCH + 1, 5 * DEFAULT_MAX_BATCH)),
            i=int(rng.integers(0, 50)),
        )


REFUSALS = (
    Refusal("blank", 0.34, GET_ROUTE, 422, f"invalid request: query.description: {BLANK_MESSAGE}"),
    Refusal("missing", 0.18, GET_ROUTE, 422, "invalid request: query.description: Field required"),
    Refusal(
        "too_many_echoes",
        0.10,
        GET_ROUTE,
        422,
        f"invalid request: query.nb_echoes_max: Input should be less than or equal to {MAX_K}",
    ),
    Refusal(
        "misspelt_field",
        0.08,
        GET_ROUTE,
        422,
        "invalid request: query: unknown field(s): 1 ('desc')",
    ),
    Refusal(
        "too_long",
        0.04,
        GET_ROUTE,
        422,
        "invalid request: query.description: String should have at most "
        f"{MAX_DESCRIPTION_CHARS} characters",
    ),
    Refusal(
        "batch_too_big",
        0.10,
        POST_ROUTE,
        413,
        f"{{n}} descriptions in one request; the limit is {DEFAULT_MAX_BATCH}: "
        f"send them in chunks of at most {DEFAULT_MAX_BATCH}",
    ),
    Refusal(
        "blank_in_batch",
        0.12,
        POST_ROUTE,
        422,
        f"invalid request: body.descriptions.{{i}}: {BLANK_MESSAGE}",
    ),
    Refusal("wrong_path", 0.04, "GET /predictions", 404, "Not Found"),
)
"""What gets refused, and how often relative to each other (the weights add up to 1)."""


@dataclass(frozen=True)
class Request:
    """One simulated request, before its descriptions are drawn."""

    timestamp: datetime
    route: str
    size: int
    """Descriptions it carries; 0 for a refused request."""
    latency_ms: float
    status: int = 200
    reason: str = ""

    @property
    def refused(self) -> bool:
        return self.status >= 400


def daily_volume(day: date, per_day: int, rng: np.random.Generator) -> int:
    """Descriptions classified on ``day``: ``per_day`` on an average weekday, at least one."""
    noise = float(rng.lognormal(0.0, DAY_NOISE))
    return max(1, round(per_day * WEEKDAY[day.weekday()] * noise))


@cache
def hour_weights(day: date) -> np.ndarray:
    """Probability of each UTC hour of ``day``, from the Paris office hour it falls in."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    local_hours = [
        (midnight + timedelta(hours=h)).astimezone(OFFICE_TIMEZONE).hour for h in range(24)
    ]
    weights = np.array([HOURLY[hour] for hour in local_hours], dtype=float)
    return weights / weights.sum()


def _batch_sizes(predictions: int, rng: np.random.Generator) -> list[int]:
    """Request sizes adding up to exactly ``predictions`` (the last one cut to fit)."""
    sizes: list[int] = []
    total = 0
    low, high = np.log(BATCH_SIZES[0]), np.log(BATCH_SIZES[1])
    while total < predictions:
        count = max(16, (predictions - total) // 2)  # in chunks: vectorised, bounded
        single = rng.random(count) < GET_SHARE
        batch = np.rint(np.exp(rng.uniform(low, high, count))).astype(int)
        for size in np.where(single, 1, batch).tolist():
            size = min(size, predictions - total)
            sizes.append(size)
            total += size
            if total == predictions:
                break
    return sizes


def _latencies(sizes: np.ndarray, refused: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Milliseconds: about 4 for one description, plus about 0.06 a description in a batch."""
    served = (3.0 + 0.06 * sizes) * rng.lognormal(0.0, 0.3, len(sizes))
    declined = rng.lognormal(np.log(1.5), 0.3, len(sizes))
    latency = np.where(refused, declined, served)
    slow = rng.random(len(sizes)) < SLOW_SHARE
    return np.where(slow, latency * rng.uniform(*SLOW_FACTOR, len(sizes)), latency)


def day_requests(day: date, predictions: int, rng: np.random.Generator) -> list[Request]:
    """The day's requests in time order: ``predictions`` descriptions, plus the refused ones."""
    sizes = _batch_sizes(predictions, rng)
    refused_count = int(rng.binomial(len(sizes), REFUSED_SHARE / (1 - REFUSED_SHARE)))
    kinds = rng.choice(len(REFUSALS), size=refused_count, p=[r.weight for r in REFUSALS])
    all_sizes = np.array(sizes + [0] * refused_count)
    refused = all_sizes == 0
    hours = rng.choice(24, size=len(all_sizes), p=hour_weights(day))
    offsets = hours * 3_600_000 + rng.integers(0, 3_600_000, len(all_sizes))
    latencies = _latencies(all_sizes, refused, rng)
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    requests = []
    for index in np.argsort(offsets, kind="stable").tolist():
        moment = midnight + timedelta(milliseconds=int(offsets[index]))
        latency = float(latencies[index])
        if refused[index]:
            kind = REFUSALS[kinds[index - len(sizes)]]
            requests.append(Request(moment, kind.route, 0, latency, kind.status, kind.message(rng)))
        else:
            size = int(all_sizes[index])
            requests.append(Request(moment, GET_ROUTE if size == 1 else POST_ROUTE, size, latency))
    return requests
