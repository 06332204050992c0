"""What the dashboard shows, read once: the queries' results, the drift report, the alert.

Gathering is separate from drawing so that the page and its tests use the
same numbers as ``course monitor``: the alert state is computed here from the
very drift report the charts draw.  Every frame is an aggregate (a row per
day, per status, per code or per confidence band), never raw predictions, so
the page's size does not grow with the traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from course_lib.monitoring import queries
from course_lib.monitoring.alerts import AlertState, evaluate_alerts
from course_lib.monitoring.drift import DriftReport, drift_report
from course_lib.monitoring.thresholds import THRESHOLDS, Thresholds

TOP_CODES = 15
"""Codes in the "most predicted" chart: enough to see the usual ones and a newcomer."""


@dataclass(frozen=True)
class DashboardData:
    """Everything one page draws."""

    root: Path | str
    overview: pd.Series
    """predictions, requests, first_day, last_day, simulated."""
    models: pd.DataFrame
    high_confidence: float
    latency: pd.Series
    """requests, p50_ms, p99_ms over the whole history."""
    volume: pd.DataFrame
    daily_high_confidence: pd.DataFrame
    daily_latency: pd.DataFrame
    refused: pd.DataFrame
    top_codes: pd.DataFrame
    histogram: pd.DataFrame
    sections: pd.DataFrame
    drift: DriftReport
    alert: AlertState
    thresholds: Thresholds

    @property
    def empty(self) -> bool:
        """No prediction at all: the page says what to run instead of drawing empty axes."""
        return int(self.overview["predictions"]) == 0


def gather(data: Path | str, thresholds: Thresholds = THRESHOLDS) -> DashboardData:
    """Run every query the page needs on the datasets under ``data``."""
    root = queries.data_root(data)
    high = {"high_confidence": thresholds.high_confidence}
    report = drift_report(root, thresholds)
    return DashboardData(
        root=root,
        overview=queries.run(queries.OVERVIEW, root).iloc[0],
        models=queries.run(queries.MODEL_VERSIONS, root),
        high_confidence=float(queries.run(queries.HIGH_CONFIDENCE_SHARE, root, **high).iloc[0, 0]),
        latency=queries.run(queries.LATENCY_SUMMARY, root).iloc[0],
        volume=queries.run(queries.DAILY_VOLUME, root),
        daily_high_confidence=queries.run(queries.DAILY_HIGH_CONFIDENCE, root, **high),
        daily_latency=queries.run(queries.DAILY_LATENCY, root),
        refused=queries.run(queries.DAILY_REFUSED, root),
        top_codes=queries.run(queries.TOP_CODES, root, limit=TOP_CODES),
        histogram=queries.run(queries.CONFIDENCE_HISTOGRAM, root),
        sections=queries.run(queries.DAILY_SECTION_MIX, root),
        drift=report,
        alert=evaluate_alerts(root, thresholds=thresholds, report=report),
        thresholds=thresholds,
    )
