"""Checks of Application 4 (monitoring: the API's log, the ETL's parquet, queries, drift).

The expected figures are computed here independently of the course's own
queries (:mod:`course_lib.monitoring.queries`): the parquet files are read
with pyarrow and the arithmetic done in pandas, so a check cannot pass
because the trainee and the check share one mistake.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from course_lib.checks import CheckFailed, passed, require
from course_lib.serving.prediction_log import log_records

HIGH_CONFIDENCE = 0.8
"""The dashboard's threshold, written out again on purpose (see the module docstring)."""
DETECTION_DAYS = 3
"""How soon after the planted change the alert must fire: the change reaches full
strength over a couple of days, and a week-late alert is no alert."""


def predictions_table(data: Path | str) -> pd.DataFrame:
    """Every row of the ``predictions`` dataset, read without DuckDB."""
    import pyarrow.dataset as ds

    folder = Path(data) / "predictions"
    if not any(folder.glob("*/*.parquet")):
        raise CheckFailed(f"no parquet files under {folder}: run the ETL cell first")
    table = ds.dataset(folder, format="parquet", partitioning="hive").to_table()
    frame = table.to_pandas()
    frame["date"] = pd.to_datetime(frame["date"].astype(str)).dt.date
    return frame


def check_my_request(mine: Any, request_id: str, log_file: Path | str) -> None:
    """App 4, exercise 1: the log's record of the request sent with ``X-Request-ID``."""
    require(mine, "mine")
    if isinstance(mine, pd.DataFrame):
        if len(mine) != 1:
            raise CheckFailed(
                f"mine has {len(mine)} rows: keep the one line whose request_id is {request_id!r}"
            )
        mine = mine.iloc[0]
    if isinstance(mine, str):
        try:
            mine = json.loads(mine)
        except ValueError as exc:
            raise CheckFailed("mine is a string that is not one JSON line of the log") from exc
    if isinstance(mine, pd.Series):
        mine = mine.to_dict()
    if not isinstance(mine, Mapping):
        raise CheckFailed(
            f"mine should be one record of the log (a dict), got {type(mine).__name__}"
        )
    if "request_id" not in mine or "latency_ms" not in mine:
        raise CheckFailed(
            "mine has no request_id or latency_ms: that is the API's answer, not its log; "
            f"read the lines of {log_file}"
        )
    if mine["request_id"] != request_id:
        raise CheckFailed(
            f"mine is the line of request {mine['request_id']!r}, not of yours ({request_id!r}): "
            "filter on the request_id column"
        )
    logged = _log_lines(log_file)
    ours = [line for line in logged if line.get("request_id") == request_id]
    if not ours:
        raise CheckFailed(f"no line of {log_file} has request_id {request_id!r}")
    if not _same_record(mine, ours[0]):
        raise CheckFailed("mine differs from the log's line for your request: read it, don't edit")
    passed(
        f"the line of your request: a {mine.get('event')} by {mine.get('model_name')} "
        f"version {mine.get('model_version')}, with its latency and ranked codes"
    )


def _log_lines(log_file: Path | str) -> list[dict[str, Any]]:
    path = Path(log_file)
    if not path.is_file():
        raise CheckFailed(f"{path} does not exist: is the API logging (API_LOG_DIR)?")
    return log_records(path)


def _same_record(mine: Mapping[str, Any], line: Mapping[str, Any]) -> bool:
    """Same request, same position, same answer (a DataFrame row may have extra columns,
    and numbers that pandas turned into floats: 0.0 for position 0)."""
    keys = ("request_id", "position", "model_version", "text", "latency_ms")
    return all(_same_value(mine[key], line.get(key)) for key in keys if key in mine)


def _same_value(a: Any, b: Any) -> bool:
    try:
        return math.isclose(float(a), float(b), abs_tol=1e-6)
    except (TypeError, ValueError):
        return str(a) == str(b)


def _as_number(value: Any, what: str) -> float:
    if isinstance(value, pd.DataFrame):
        if value.shape != (1, 1):
            raise CheckFailed(
                f"{what} is a table of shape {value.shape}: the query should return one value"
            )
        value = value.iat[0, 0]
    if isinstance(value, pd.Series) and len(value) == 1:
        value = value.iloc[0]
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise CheckFailed(f"{what} should be a number, got {type(value).__name__}") from exc


def check_high_confidence_share(share: Any, data: Path | str) -> None:
    """App 4, exercise 2: share of predictions whose top probability is above 0.8."""
    require(share, "share")
    value = _as_number(share, "share")
    frame = predictions_table(data)
    expected = float((frame["proba_1"] > HIGH_CONFIDENCE).mean())
    per_request = float((frame.groupby("request_id")["proba_1"].first() > HIGH_CONFIDENCE).mean())
    mean_high = float(frame.loc[frame["proba_1"] > HIGH_CONFIDENCE, "proba_1"].mean())
    if math.isclose(value, expected * 100, abs_tol=1e-6) and expected > 0:
        raise CheckFailed(
            f"{value:.4f} is a percentage: give the share as a fraction, {expected:.4f}"
        )
    if math.isclose(value, expected, abs_tol=1e-6):
        passed("that is the share of all predictions whose top probability is above 0.8")
        return
    if math.isclose(value, mean_high, abs_tol=1e-6):
        hint = "that is the mean probability of the confident answers, not their share"
    elif math.isclose(value, per_request, abs_tol=1e-6):
        hint = "that counts requests (a batch is one), not predictions"
    elif math.isclose(value, float((frame["proba_1"] >= HIGH_CONFIDENCE).mean()), abs_tol=1e-9):
        hint = "above 0.8 means > 0.8, not >= 0.8"
    else:
        hint = "count the predictions with proba_1 > 0.8 and divide by all predictions"
    raise CheckFailed(f"share is {value:.4f}, expected {expected:.4f}: {hint}")


def check_daily_statistics(table: Any, data: Path | str) -> None:
    """App 4, exercise 3: per day, the number of predictions and the high-confidence share."""
    require(table, "daily")
    if not isinstance(table, pd.DataFrame):
        raise CheckFailed(f"daily should be a DataFrame (query(...)), got {type(table).__name__}")
    if "date" not in table.columns and table.index.name == "date":
        table = table.reset_index()  # pandas' groupby("date") keeps the day as the index
    missing = {"date", "predictions", "high_confidence_share"} - set(table.columns)
    if missing:
        raise CheckFailed(
            f"daily has no column {sorted(missing)} (its columns: {list(table.columns)}): "
            "name them with AS"
        )
    frame = predictions_table(data)
    expected = (
        frame.assign(high=frame["proba_1"] > HIGH_CONFIDENCE)
        .groupby("date")
        .agg(predictions=("high", "size"), high_confidence_share=("high", "mean"))
    )
    got = table.assign(date=pd.to_datetime(table["date"].astype(str)).dt.date)
    if got["date"].duplicated().any():
        raise CheckFailed("daily has several rows for one day: GROUP BY date")
    got = got.set_index("date").reindex(expected.index)
    if got["predictions"].isna().any():
        absent = [str(d) for d in got.index[got["predictions"].isna()][:3]]
        raise CheckFailed(f"daily has no row for {', '.join(absent)}")
    requests = frame.groupby("date")["request_id"].nunique()
    if np.array_equal(got["predictions"].to_numpy(), requests.to_numpy()) and not np.array_equal(
        requests.to_numpy(), expected["predictions"].to_numpy()
    ):
        raise CheckFailed("predictions counts requests (a batch is one): count(*) counts rows")
    if not np.array_equal(got["predictions"].astype(int).to_numpy(), expected["predictions"]):
        raise CheckFailed("predictions per day differ from the rows of each day: use count(*)")
    share = got["high_confidence_share"].astype(float).to_numpy()
    if not np.allclose(share, expected["high_confidence_share"].to_numpy(), atol=1e-6):
        hint = (
            "that is the mean probability, not the share above 0.8"
            if np.allclose(share, frame.groupby("date")["proba_1"].mean().to_numpy(), atol=1e-6)
            else "the share is count(*) FILTER (WHERE proba_1 > 0.8) / count(*), per day"
        )
        raise CheckFailed(f"high_confidence_share differs: {hint}")
    passed(
        f"{len(expected)} days from {expected.index[0]} to {expected.index[-1]}: the volume and "
        "the share above 0.8 of each"
    )


def _as_day(value: Any) -> date:
    if value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        raise CheckFailed("changed_on is empty (NaT): no day matched your filter")
    if isinstance(value, datetime | pd.Timestamp):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise CheckFailed(f"{value!r} is not a day: write it like '2026-11-23'") from exc


def check_change_day(answer: Any, change_date: date | None, drift: pd.DataFrame) -> None:
    """App 4, exercise 4: the day the traffic changed, read from the drift panel.

    ``change_date`` is the day the simulation planted its change (from
    ``course traffic``); the change grows over a couple of days, so any day
    from it to the first day an indicator crosses its limit is right.
    """
    require(answer, "changed_on")
    day = _as_day(answer)
    if change_date is None:
        raise CheckFailed("this history has no planted change: generate it with the lab's plan")
    flagged = drift.loc[drift["alert"].astype(bool), "date"]
    first_flag = pd.Timestamp(flagged.min()).date() if not flagged.empty else change_date
    latest = max(first_flag, change_date)
    if change_date - timedelta(days=1) <= day <= latest:
        passed(f"the traffic changed on {change_date}; you read {day} from the drift panel")
        return
    first, last = pd.Timestamp(drift["date"].min()).date(), pd.Timestamp(drift["date"].max()).date()
    if day <= first + timedelta(days=6):
        hint = "that is inside the reference week, which every later day is compared with"
    elif day > latest:
        hint = "the drift had already started: look for the first day past a threshold line"
    else:
        hint = "the days before were like the reference: look where the indicators start to move"
    raise CheckFailed(f"{day} is not when the traffic changed ({first} → {last}): {hint}")


def check_alert_threshold(threshold: Any, drift: pd.DataFrame, change_date: date | None) -> None:
    """App 4, exercise 5: a PSI threshold quiet on the stable weeks that catches the change.

    Stable days are those after the reference week and before the change;
    the alert must fire within :data:`DETECTION_DAYS` days of the change.
    """
    require(threshold, "psi_threshold")
    value = _as_number(threshold, "psi_threshold")
    if change_date is None:
        raise CheckFailed("this history has no planted change: generate it with the lab's plan")
    table = drift.assign(day=pd.to_datetime(drift["date"]).dt.date)
    judged = table[table["status"] != "reference"].dropna(subset=["psi"])
    stable = judged[judged["day"] < change_date]
    window = judged[
        (judged["day"] >= change_date)
        & (judged["day"] < change_date + timedelta(days=DETECTION_DAYS))
    ]
    false_alarms = stable[stable["psi"] > value]
    if not false_alarms.empty:
        worst = false_alarms.sort_values("psi").iloc[-1]
        raise CheckFailed(
            f"{len(false_alarms)} stable day(s) would alert, e.g. {worst['day']} (PSI "
            f"{worst['psi']:.3f} > {value:g}): raise the threshold above the stable weeks' PSI"
        )
    if window.empty or not (window["psi"] > value).any():
        peak = window["psi"].max() if not window.empty else float("nan")
        raise CheckFailed(
            f"with {value:g}, no alert in the {DETECTION_DAYS} days after the change "
            f"(their highest PSI is {peak:.3f}): lower the threshold"
        )
    caught = window[window["psi"] > value]["day"].min()
    passed(f"PSI threshold {value:g}: quiet on the {len(stable)} stable days, alert on {caught}")
