"""Synthetic parsed logs for the monitoring tests, written as the ETL writes them.

The queries, drift indicators, alert and dashboard are tested on datasets
this module writes itself (DuckDB ``COPY … PARTITION_BY (date)`` of a frame
with exactly the columns of :mod:`course_lib.monitoring.datasets`), so they
do not wait for the ETL nor need a model.

A day's traffic follows a :class:`Profile`: the predicted-section mix, the
share of low-confidence answers, the descriptions' length and the share of
unknown words.  Days come at a weekday volume, weekends at a fraction of it
(Poisson around those), as an administration's API sees them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from course_lib.data.corpus import class_mix
from course_lib.data.nomenclature import load_nomenclature
from course_lib.monitoring.datasets import (
    PARTITION,
    PREDICTION_COLUMNS,
    PREDICTIONS,
    RANKS,
    REFUSED,
    REFUSED_COLUMNS,
)

START = date(2026, 11, 2)
"""A Monday: the reference week is Monday to Sunday."""


@cache
def section_mix() -> pd.Series:
    """The sections' shares in the training corpus: a realistic predicted mix."""
    naf = load_nomenclature()
    return class_mix().groupby(naf.subclasses["section"]).sum()


@cache
def _codes_by_section() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    naf = load_nomenclature()
    mix = class_mix()
    out = {}
    for section, codes in mix.groupby(naf.subclasses["section"]):
        out[str(section)] = (codes.index.to_numpy(), (codes / codes.sum()).to_numpy())
    return out


@dataclass(frozen=True)
class Profile:
    """What a day's traffic looks like."""

    sections: pd.Series
    """Share of each section among the predicted codes (sums to 1)."""
    low_share: float = 0.25
    """Share of predictions with a top probability under 0.5."""
    chars_median: float = 40.0
    """Median description length (lognormal, sigma 0.6)."""
    unknown_rate: float = 0.05
    """Mean share of unknown words (per description, beta-distributed around it)."""

    def blend(self, other: Profile, strength: float) -> Profile:
        """``strength`` of the way from this profile to ``other`` (0: this one, 1: other)."""
        if strength <= 0:
            return self
        mix = self.sections.mul(1 - strength).add(other.sections.mul(strength), fill_value=0)
        return Profile(
            sections=mix / mix.sum(),
            low_share=self.low_share + strength * (other.low_share - self.low_share),
            chars_median=self.chars_median + strength * (other.chars_median - self.chars_median),
            unknown_rate=self.unknown_rate + strength * (other.unknown_rate - self.unknown_rate),
        )

    def shifted(self, section: str, to: float) -> Profile:
        """The same profile with ``section`` at share ``to``, the others scaled down."""
        mix = self.sections.copy()
        others = mix.drop(section)
        mix[others.index] = others / others.sum() * (1 - to)
        mix[section] = to
        return replace(self, sections=mix)


def stable() -> Profile:
    return Profile(sections=section_mix())


def day_volumes(days: int, per_weekday: int, weekend: float, rng: np.random.Generator) -> list[int]:
    """Poisson volumes around ``per_weekday``, ``weekend`` times it on Saturdays and Sundays."""
    out = []
    for offset in range(days):
        day = START + timedelta(days=offset)
        mean = per_weekday * (weekend if day.weekday() >= 5 else 1.0)
        out.append(int(rng.poisson(mean)))
    return out


def day_rows(
    day: date, n: int, profile: Profile, rng: np.random.Generator, model_version: str = "1"
) -> pd.DataFrame:
    """``n`` prediction rows of one day, in requests of 1 to 20 descriptions."""
    if n == 0:
        return pd.DataFrame(columns=[*PREDICTION_COLUMNS, PARTITION])
    sections = rng.choice(profile.sections.index.to_numpy(), size=n, p=profile.sections.to_numpy())
    codes = np.empty(n, dtype=object)
    table = _codes_by_section()
    for section in np.unique(sections):
        where = sections == section
        pool, weights = table[str(section)]
        codes[where] = rng.choice(pool, size=int(where.sum()), p=weights)
    low = rng.random(n) < profile.low_share
    proba = np.where(low, rng.uniform(0.1, 0.5, n), rng.beta(6, 1.2, n) * 0.5 + 0.5)
    chars = np.maximum(3, rng.lognormal(np.log(profile.chars_median), 0.6, n)).astype(int)
    words = np.maximum(1, chars // 7)
    rate = rng.beta(2, 2 / max(profile.unknown_rate, 1e-6) - 2, n)
    unknown = rng.binomial(words, rate)
    sizes = []
    while sum(sizes) < n:
        sizes.append(1 if rng.random() < 0.7 else int(rng.integers(2, 21)))
    sizes[-1] -= sum(sizes) - n
    request = np.repeat(np.arange(len(sizes)), sizes)
    position = np.concatenate([np.arange(size) for size in sizes])
    seconds = np.sort(rng.uniform(0, 86_399, len(sizes)))[request]
    latency = rng.lognormal(np.log(12), 0.5, len(sizes))[request]
    midnight = datetime.combine(day, time(), tzinfo=UTC)
    frame = pd.DataFrame(
        {
            "timestamp": [midnight + timedelta(seconds=float(s)) for s in seconds],
            "request_id": [f"{day:%Y%m%d}-{r:06d}" for r in request],
            "position": position.astype(int),
            "batch_size": np.asarray(sizes, dtype=int)[request],
            "route": np.where(np.asarray(sizes)[request] > 1, "POST /predict", "GET /predict"),
            "model_name": "fasttext",
            "model_version": model_version,
            "text": [f"description {i}" for i in range(n)],
            "text_policy": "raw",
            "text_chars": chars,
            "words": words,
            "unknown_words": unknown,
            "prediction_1": codes,
            "proba_1": np.round(proba, 6),
            "latency_ms": latency,
            "simulated": True,
        }
    )
    for rank in range(2, RANKS + 1):
        frame[f"prediction_{rank}"] = "0111Z"
        frame[f"proba_{rank}"] = np.round((1 - proba) / rank, 6)
    frame[PARTITION] = day
    return frame


def history(
    days: int = 28,
    per_weekday: int = 2_000,
    weekend: float = 0.3,
    seed: int = 0,
    change_day: int | None = None,
    changed: Profile | None = None,
    base: Profile | None = None,
) -> pd.DataFrame:
    """``days`` days from :data:`START`; from ``change_day`` on, the ``changed`` profile."""
    rng = np.random.default_rng(seed)
    base = base or stable()
    frames = []
    for offset, n in enumerate(day_volumes(days, per_weekday, weekend, rng)):
        profile = changed if changed and change_day is not None and offset >= change_day else base
        frames.append(day_rows(START + timedelta(days=offset), n, profile, rng))
    return pd.concat(frames, ignore_index=True)


def refused_rows(days: int = 28, per_day: int = 5, seed: int = 0) -> pd.DataFrame:
    """A few refusals a day: mostly 422, some 413."""
    rng = np.random.default_rng(seed)
    rows = []
    for offset in range(days):
        day = START + timedelta(days=offset)
        for i in range(per_day):
            status = 413 if i % 4 == 3 else 422
            rows.append(
                {
                    "timestamp": datetime.combine(day, time(12), tzinfo=UTC),
                    "request_id": f"r{day:%Y%m%d}-{i}",
                    "route": "POST /predict",
                    "model_name": "fasttext",
                    "model_version": "1",
                    "status": status,
                    "reason": "invalid body",
                    "latency_ms": float(rng.uniform(1, 3)),
                    "simulated": True,
                    PARTITION: day,
                }
            )
    return pd.DataFrame(rows)


def write_datasets(
    root: Path, predictions: pd.DataFrame | None, refused: pd.DataFrame | None = None
) -> Path:
    """Write the frames under ``root`` as the ETL does: hive-partitioned by date, typed."""
    root.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect()
    try:
        for name, frame, columns in (
            (PREDICTIONS, predictions, PREDICTION_COLUMNS),
            (REFUSED, refused, REFUSED_COLUMNS),
        ):
            if frame is None or frame.empty:
                continue
            connection.register("frame", frame)
            typed = ", ".join(f'CAST("{c}" AS {kind}) AS "{c}"' for c, kind in columns.items())
            target = str(root / name).replace("'", "''")
            connection.execute(
                f'COPY (SELECT {typed}, CAST("{PARTITION}" AS DATE) AS "{PARTITION}" FROM frame) '
                f"TO '{target}' (FORMAT parquet, PARTITION_BY ({PARTITION}), OVERWRITE_OR_IGNORE)"
            )
            connection.unregister("frame")
    finally:
        connection.close()
    return root


WEEKDAY = (1.0, 1.05, 1.0, 1.0, 0.95, 0.3, 0.15)
"""Relative volume Monday … Sunday (as ``course traffic`` draws it): Sundays are quiet."""


def aggregates(
    days: int,
    per_weekday: int = 2_000,
    seed: int = 0,
    change_day: int | None = None,
    changed: Profile | None = None,
    base: Profile | None = None,
    weekday: tuple[float, ...] = WEEKDAY,
    ramp: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Many days at once, already aggregated as the ``daily_indicators`` and
    ``daily_section_mix`` queries return them: thousands of days in a second, for
    the false-alarm measurement.  Volumes are Poisson around ``per_weekday`` times
    the day's factor, with day-to-day noise of about 8 %.  From ``change_day`` the
    traffic moves to ``changed`` over ``ramp`` days (a third, two thirds, all for 3),
    as ``course traffic``'s planted change does."""
    rng = np.random.default_rng(seed)
    base = base or stable()
    daily, mix = [], []
    for offset in range(days):
        day = START + timedelta(days=offset)
        strength = 0.0
        if changed is not None and change_day is not None and offset >= change_day:
            strength = min(1.0, (offset - change_day + 1) / ramp)
        profile = base.blend(changed, strength) if changed is not None else base
        n = int(rng.poisson(per_weekday * weekday[day.weekday()] * rng.lognormal(0, 0.08)))
        counts = rng.multinomial(n, profile.sections.to_numpy())
        chars = np.maximum(3, rng.lognormal(np.log(profile.chars_median), 0.6, n)).astype(int)
        words = np.maximum(1, chars // 7)
        rate = rng.beta(2, 2 / max(profile.unknown_rate, 1e-6) - 2, n)
        unknown = rng.binomial(words, rate).astype(float)
        chars, words = chars.astype(float), words.astype(float)
        daily.append(
            {
                "date": pd.Timestamp(day),
                "predictions": n,
                "low_confidence": int(rng.binomial(n, profile.low_share)),
                "log_chars": np.log(chars).sum(),
                "log_chars_sq": (np.log(chars) ** 2).sum(),
                "words": words.sum(),
                "unknown_words": unknown.sum(),
                "words_sq": (words**2).sum(),
                "unknown_words_sq": (unknown**2).sum(),
                "unknown_x_words": (unknown * words).sum(),
            }
        )
        mix.extend(
            {"date": pd.Timestamp(day), "section": section, "predictions": int(count)}
            for section, count in zip(profile.sections.index, counts, strict=True)
            if count
        )
    return pd.DataFrame(daily), pd.DataFrame(mix, columns=["date", "section", "predictions"])
