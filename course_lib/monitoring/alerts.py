"""The alert: the latest complete day's indicators against their thresholds.

``course monitor`` prints one line per indicator and a summary;
``course monitor --check`` prints the summary only and exits 1 when someone
must look, the shape a cron job or a CI step wants (a failing job is what
sends the e-mail).  Someone must look when:

- a drift indicator of the latest complete day is past its threshold
  (:attr:`Status.ALERT`), or
- there is no data at all (:attr:`Status.NO_DATA`): a monitoring job with
  nothing to read means the logs or the ETL stopped, which is itself an
  incident, and passing silently would hide it.

It exits 0 when the day is judged OK, and also when it cannot be judged for
an expected reason: the first week, while the reference builds up
(:attr:`Status.NOT_ENOUGH_HISTORY`), or a day too quiet to tell a change from
noise (:attr:`Status.NOT_ENOUGH_DATA`, a Sunday); the summary says so.

"Complete" day: the API writes today's logs as the day goes, so today (UTC)
is never judged while an earlier day exists; the latest day before it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path

import pandas as pd

from course_lib.monitoring import queries
from course_lib.monitoring.drift import DayStatus, DriftReport, Reference, drift_report
from course_lib.monitoring.thresholds import THRESHOLDS, Thresholds


class Status(StrEnum):
    OK = "OK"
    ALERT = "ALERT"
    NO_DATA = "NO DATA"
    NOT_ENOUGH_HISTORY = "NOT ENOUGH HISTORY"
    NOT_ENOUGH_DATA = "NOT ENOUGH DATA"


NEXT_STEP = "run course traffic then course etl (or course serve, send requests, then course etl)"


@dataclass(frozen=True)
class Check:
    """One indicator of the day against its limit."""

    name: str
    value: float
    limit: str
    """The limit as people read it: ``≤ 0.20``, ``within 30–50``."""
    flagged: bool
    shown: str
    """The value as people read it: ``0.31``, ``41%``, ``38 chars``."""

    def line(self) -> str:
        """``low-confidence share 41% > 31%`` or ``… 12% ≤ 31%``."""
        if pd.isna(self.value):
            return f"{self.name} not available"
        if self.flagged:
            return f"{self.name} {self.shown} {_negate(self.limit)}"
        return f"{self.name} {self.shown} {self.limit}"


@dataclass(frozen=True)
class AlertState:
    """The verdict on the latest complete day, and what it was based on."""

    status: Status
    data: Path | str
    day: date | None = None
    predictions: int = 0
    checks: tuple[Check, ...] = ()
    reference: Reference | None = None
    note: str = ""
    """Why the day was not judged (no data, not enough history or volume)."""
    models: tuple[str, ...] = field(default=())
    """Model versions that answered on the day (``fasttext v3``)."""

    @property
    def alerting(self) -> bool:
        """True when an indicator of the day is past its threshold."""
        return self.status is Status.ALERT

    @property
    def exit_code(self) -> int:
        """What ``course monitor --check`` exits with: 1 on an alert or on no data at all."""
        return 1 if self.status in (Status.ALERT, Status.NO_DATA) else 0

    def summary(self) -> str:
        """One line: status, day, then the flagged indicators (alert) or all of them (OK)."""
        head = f"{self.status.value} {self.day}" if self.day else self.status.value
        if self.status is Status.ALERT:
            flagged = [check for check in self.checks if check.flagged]
            parts = [_alert_part(check, self.reference) for check in flagged]
            return f"{head}: {'; '.join(parts)} (n={self.predictions:,})"
        if self.status is Status.OK:
            parts = ", ".join(check.line() for check in self.checks)
            ref = self.reference.describe() if self.reference else "?"
            return f"{head}: {parts} (n={self.predictions:,}; reference {ref})"
        return f"{head}: {self.note}"

    def details(self) -> list[str]:
        """One line per indicator, then the reference and the models."""
        lines = [f"data: {self.data}"]
        if self.day is None:
            return lines
        lines.append(f"day checked: {self.day} ({self.predictions:,} predictions)")
        if self.models:
            lines.append(f"model: {', '.join(self.models)}")
        if self.reference is not None:
            ref = self.reference
            lines.append(
                f"reference: {ref.describe()} ({ref.predictions:,} predictions, "
                f"low-confidence {ref.low_confidence_share:.0%}, "
                f"typical length {ref.typical_chars:.0f} chars, "
                f"unknown words {_pct(ref.unknown_share)})"
            )
        for check in self.checks:
            verdict = "ALERT" if check.flagged else "ok"
            lines.append(f"  {verdict:<5} {check.line()}")
        return lines


def evaluate_alerts(
    data: Path | str | None = None,
    *,
    thresholds: Thresholds = THRESHOLDS,
    today: date | None = None,
    report: DriftReport | None = None,
) -> AlertState:
    """Judge the latest complete day of the datasets under ``data`` (default: the state's
    monitoring folder; a folder or an ``s3://bucket/prefix``).

    ``today`` (UTC by default) is the day still being written, never judged
    while an earlier day exists.  ``report`` reuses a drift report already
    computed on the same data (the dashboard does).
    """
    root = queries.data_root(data)
    report = report if report is not None else drift_report(root, thresholds)
    table = report.table
    if table.empty:
        return AlertState(Status.NO_DATA, root, note=f"no predictions under {root}: {NEXT_STEP}")
    today = today or datetime.now(UTC).date()
    complete = table[table["date"] != pd.Timestamp(today)]
    if complete.empty:
        return AlertState(
            Status.NOT_ENOUGH_HISTORY,
            root,
            note=f"the only day in the data is today ({today}), still being written",
        )
    row = complete.iloc[-1]
    day = row["date"].date()
    models = _models(root, day)
    base = {"data": root, "day": day, "predictions": int(row["predictions"]), "models": models}
    status = DayStatus(row["status"])
    if status is DayStatus.NO_REFERENCE:
        return AlertState(Status.NOT_ENOUGH_HISTORY, note=report.reason, **base)
    checks = _checks(row)
    if status is DayStatus.REFERENCE:  # only with an explicit window ending on the last day
        note = f"{day} is part of the reference {report.reference.describe()}"
        return AlertState(Status.NOT_ENOUGH_HISTORY, note=note, reference=report.reference, **base)
    if status is DayStatus.LOW_VOLUME:
        note = (
            f"{int(row['predictions']):,} predictions, fewer than "
            f"{thresholds.min_daily_volume:,}: too few to tell a change from noise"
        )
        return AlertState(
            Status.NOT_ENOUGH_DATA, note=note, checks=checks, reference=report.reference, **base
        )
    verdict = Status.ALERT if status is DayStatus.DRIFT else Status.OK
    return AlertState(verdict, checks=checks, reference=report.reference, **base)


def _checks(row: pd.Series) -> tuple[Check, ...]:
    """The day's four indicators against that day's limits (see :mod:`.drift`)."""
    psi, psi_limit = _shown(row["psi"], row["psi_limit"], "{:.%df}", 2)
    low_share, low_limit = _shown(
        row["low_confidence_share"], row["low_confidence_limit"], "{:.%d%%}", 0
    )
    unknown, unknown_limit = _shown(row["unknown_share"], row["unknown_limit"], "{:.%d%%}", 0)
    band = f"within {row['length_low']:.0f}–{row['length_high']:.0f} chars"
    return (
        Check("section-mix drift PSI", float(row["psi"]), f"≤ {psi_limit}",
              bool(row["psi_flag"]), psi),
        Check("low-confidence share", float(row["low_confidence_share"]), f"≤ {low_limit}",
              bool(row["low_confidence_flag"]), low_share),
        Check("typical length", float(row["typical_chars"]), band, bool(row["length_flag"]),
              f"{row['typical_chars']:.0f} chars"),
        Check("unknown-word share", float(row["unknown_share"]), f"≤ {unknown_limit}",
              bool(row["unknown_flag"]), unknown),
    )  # fmt: skip


def _shown(value: float, limit: float, pattern: str, digits: int) -> tuple[str, str]:
    """Value and limit with enough digits to tell them apart (0.2004 > 0.2000, not 0.20 > 0.20)."""
    if pd.isna(value) or pd.isna(limit):
        return _na(value, pattern, digits), _na(limit, pattern, digits)
    for extra in range(4):
        shown, bound = (
            (pattern % (digits + extra)).format(value),
            (pattern % (digits + extra)).format(limit),
        )
        if shown != bound or value == limit:
            break
    return shown, bound


def _na(value: float, pattern: str, digits: int) -> str:
    return "n/a" if pd.isna(value) else (pattern % digits).format(value)


def _alert_part(check: Check, reference: Reference | None) -> str:
    text = check.line()
    if check.name.startswith("section-mix") and reference is not None:
        text += f" (reference {reference.describe()})"
    return text


def _negate(limit: str) -> str:
    """The limit as crossed: ``≤ 0.20`` → ``> 0.20``, ``within 30–50`` → ``outside 30–50``."""
    if limit.startswith("≤"):
        return ">" + limit[1:]
    if limit.startswith("within"):
        return "outside" + limit[len("within") :]
    return limit


def _pct(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{value:.0%}"


def _models(root: Path | str, day: date) -> tuple[str, ...]:
    """The model versions that answered on ``day``."""
    versions = queries.run(queries.DAILY_MODELS, root)
    on_day = versions[pd.to_datetime(versions["date"]) == pd.Timestamp(day)]
    return tuple(f"{r.model_name} v{r.model_version}" for r in on_day.itertuples())
