"""Application 4's checks: each fails on a plausible wrong answer and passes on every right one.

The data is a synthetic history written as the ETL writes it (tests/monitoring/synthetic.py),
with a shift of the section mix from day 21; the answers are computed here with DuckDB, the
way a trainee computes them, while the checks compute theirs with pyarrow and pandas.
"""

from __future__ import annotations

import io
import json
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from course_lib.checks import CheckFailed
from course_lib.checks.app4 import (
    check_alert_threshold,
    check_change_day,
    check_daily_statistics,
    check_high_confidence_share,
    check_my_request,
)
from course_lib.monitoring.drift import drift_report
from tests.monitoring import synthetic

CHANGE_DAY = 21
CHANGE = synthetic.START + timedelta(days=CHANGE_DAY)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = synthetic.history(
        days=28,
        per_weekday=1_500,
        change_day=CHANGE_DAY,
        changed=synthetic.stable().shifted("H", 0.25),
    )
    # batches: a few requests carry several descriptions, so requests != predictions
    frame.loc[frame.index % 5 != 0, "request_id"] = frame["request_id"].shift(1)
    frame["request_id"] = frame["request_id"].ffill().bfill()
    frame["position"] = frame.groupby("request_id").cumcount()
    return synthetic.write_datasets(tmp_path_factory.mktemp("monitoring"), frame)


def sql(data: Path, query: str) -> pd.DataFrame:
    connection = duckdb.connect()
    connection.execute(
        f"CREATE VIEW predictions AS SELECT * FROM read_parquet("
        f"'{data}/predictions/*/*.parquet', hive_partitioning = true)"
    )
    return connection.execute(query).df()


RIGHT_SHARE = "SELECT count(*) FILTER (WHERE proba_1 > 0.8) / count(*) AS share FROM predictions"


@pytest.mark.parametrize(
    "query",
    [
        RIGHT_SHARE,
        "SELECT avg(CASE WHEN proba_1 > 0.8 THEN 1 ELSE 0 END) FROM predictions",
        "SELECT avg((proba_1 > 0.8)::INT) AS s FROM predictions",
    ],
)
def test_share_passes_every_correct_query(data, query) -> None:
    answer = sql(data, query)
    check_high_confidence_share(answer, data)  # a 1x1 table
    check_high_confidence_share(float(answer.iat[0, 0]), data)  # or the number


@pytest.mark.parametrize(
    ("query", "hint"),
    [
        ("SELECT avg(proba_1) FROM predictions WHERE proba_1 > 0.8", "mean probability"),
        (
            "SELECT count(DISTINCT request_id) FILTER (WHERE proba_1 > 0.8) "
            "/ count(DISTINCT request_id) FROM predictions WHERE position = 0",
            "requests",
        ),
        ("SELECT avg((proba_1 >= 0.8)::INT) FROM predictions", "not >= 0.8"),
        ("SELECT avg((proba_2 > 0.8)::INT) FROM predictions", "divide by all predictions"),
        ("SELECT 100 * avg((proba_1 > 0.8)::INT) FROM predictions", "percentage"),
        ("SELECT count(*) FILTER (WHERE proba_1 > 0.8) FROM predictions", "divide by all"),
    ],
)
def test_share_fails_on_plausible_mistakes(data, query, hint) -> None:
    with pytest.raises(CheckFailed, match=hint):
        check_high_confidence_share(sql(data, query), data)


def test_share_is_not_set_yet() -> None:
    with pytest.raises(CheckFailed, match="not set yet"):
        check_high_confidence_share(..., Path("."))


RIGHT_DAILY = """
    SELECT date, count(*) AS predictions,
           count(*) FILTER (WHERE proba_1 > 0.8) / count(*) AS high_confidence_share
    FROM predictions GROUP BY date ORDER BY date
"""


@pytest.mark.parametrize(
    "query",
    [
        RIGHT_DAILY,
        # unordered, dates as text, another way to write the share
        """SELECT strftime(date, '%Y-%m-%d') AS date, count(*) AS predictions,
                  avg(CASE WHEN proba_1 > 0.8 THEN 1.0 ELSE 0.0 END) AS high_confidence_share
           FROM predictions GROUP BY 1 ORDER BY predictions""",
        # from the timestamp rather than the partition column
        """SELECT CAST(timezone('UTC', timestamp) AS DATE) AS date, count(*) AS predictions,
                  avg((proba_1 > 0.8)::INT) AS high_confidence_share
           FROM predictions GROUP BY 1""",
    ],
)
def test_daily_statistics_pass_every_correct_query(data, query) -> None:
    check_daily_statistics(sql(data, query), data)


def test_daily_statistics_pass_a_pandas_groupby_with_the_day_as_index(data) -> None:
    rows = sql(data, "SELECT date, proba_1 FROM predictions")
    daily = (
        rows.assign(high=rows["proba_1"] > 0.8)
        .groupby("date")
        .agg(predictions=("high", "size"), high_confidence_share=("high", "mean"))
    )
    assert daily.index.name == "date" and "date" not in daily.columns
    check_daily_statistics(daily, data)


def test_daily_statistics_fail_on_a_pandas_groupby_of_the_mean_probability(data) -> None:
    rows = sql(data, "SELECT date, proba_1 FROM predictions")
    daily = rows.groupby("date").agg(
        predictions=("proba_1", "size"), high_confidence_share=("proba_1", "mean")
    )
    with pytest.raises(CheckFailed, match="mean probability"):
        check_daily_statistics(daily, data)


@pytest.mark.parametrize(
    ("query", "hint"),
    [
        (
            """SELECT date, count(DISTINCT request_id) AS predictions,
                      avg(proba_1) AS high_confidence_share FROM predictions GROUP BY date""",
            "counts requests",
        ),
        (
            """SELECT date, count(*) AS predictions, avg(proba_1) AS high_confidence_share
               FROM predictions GROUP BY date""",
            "mean probability",
        ),
        (
            """SELECT date, count(*) AS n,
                      avg((proba_1 > 0.8)::INT) AS high_confidence_share
               FROM predictions GROUP BY date""",
            "no column",
        ),
        (
            """SELECT date, count(*) AS predictions,
                      avg((proba_1 > 0.8)::INT) AS high_confidence_share
               FROM predictions WHERE date < DATE '2026-11-20' GROUP BY date""",
            "no row for",
        ),
        (
            """SELECT date, model_version, count(*) AS predictions,
                      avg((proba_1 > 0.8)::INT) AS high_confidence_share
               FROM predictions GROUP BY date, model_version, position > 0""",
            "several rows",
        ),
    ],
)
def test_daily_statistics_fail_on_plausible_mistakes(data, query, hint) -> None:
    with pytest.raises(CheckFailed, match=hint):
        check_daily_statistics(sql(data, query), data)


@pytest.fixture(scope="module")
def drift(data: Path) -> pd.DataFrame:
    return drift_report(data).table


@pytest.mark.parametrize(
    "answer", [CHANGE, CHANGE.isoformat(), pd.Timestamp(CHANGE), CHANGE - timedelta(days=1)]
)
def test_change_day_accepts_the_day_in_any_form(drift, answer) -> None:
    check_change_day(answer, CHANGE, drift)


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (synthetic.START, "reference week"),
        (synthetic.START + timedelta(days=27), "already started"),
        (CHANGE - timedelta(days=5), "like the reference"),
        ("23/11/2026", "not a day"),
        (pd.NaT, "empty"),
    ],
)
def test_change_day_fails_on_the_wrong_day(drift, answer, hint) -> None:
    with pytest.raises(CheckFailed, match=hint):
        check_change_day(answer, CHANGE, drift)


def test_the_planted_change_is_flagged_in_the_synthetic_history(drift) -> None:
    flagged = drift.loc[drift["alert"], "date"].dt.date
    assert CHANGE <= flagged.min() <= CHANGE + timedelta(days=2)


def test_a_threshold_between_stable_and_changed_psi_passes(drift) -> None:
    stable = drift[(drift["status"] != "reference") & (drift["date"].dt.date < CHANGE)]
    changed = drift[drift["date"].dt.date >= CHANGE].head(3)
    check_alert_threshold(stable["psi"].max() * 1.01, drift, CHANGE)
    check_alert_threshold(changed["psi"].max() * 0.99, drift, CHANGE)
    check_alert_threshold(pd.DataFrame({"t": [stable["psi"].max() * 1.5]}), drift, CHANGE)


@pytest.mark.parametrize(("value", "hint"), [(0.0, "raise the threshold"), (5.0, "lower")])
def test_a_threshold_too_low_or_too_high_fails(drift, value, hint) -> None:
    with pytest.raises(CheckFailed, match=hint):
        check_alert_threshold(value, drift, CHANGE)


def test_the_threshold_needs_a_planted_change(drift) -> None:
    with pytest.raises(CheckFailed, match="no planted change"):
        check_alert_threshold(0.1, drift, None)


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    lines = [
        {"schema": "nace-api-log/1", "event": "prediction", "request_id": rid, "position": 0,
         "model_version": "3", "text": text, "latency_ms": latency}
        for rid, text, latency in [("mine-1", "taxi", 1.25), ("other", "coiffure", 2.5)]
    ]  # fmt: skip
    path = tmp_path / "predictions.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"cut', encoding="utf-8")
    return path


def test_my_request_accepts_a_row_a_one_row_table_a_dict_or_the_line(log_file) -> None:
    table = pd.read_json(io.StringIO(log_file.read_text().rsplit("\n", 1)[0]), lines=True)
    row = table[table["request_id"] == "mine-1"]
    for answer in (row, row.iloc[0], row.iloc[0].to_dict(), log_file.read_text().splitlines()[0]):
        check_my_request(answer, "mine-1", log_file)


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        ({"request_id": "other", "latency_ms": 2.5}, "not of yours"),
        ({"model_version": "3", "predictions": []}, "API's answer, not its log"),
        ({"request_id": "mine-1", "latency_ms": 9.0, "text": "taxi"}, "read it, don't edit"),
        ("not json", "not one JSON line"),
        (42, "a dict"),
    ],
)
def test_my_request_fails_on_another_line_or_the_api_answer(log_file, answer, hint) -> None:
    with pytest.raises(CheckFailed, match=hint):
        check_my_request(answer, "mine-1", log_file)


def test_two_rows_is_not_one_request(log_file) -> None:
    table = pd.read_json(io.StringIO(log_file.read_text().rsplit("\n", 1)[0]), lines=True)
    with pytest.raises(CheckFailed, match="2 rows"):
        check_my_request(table, "mine-1", log_file)


def test_dates_in_the_synthetic_history_are_what_the_tests_assume() -> None:
    assert date(2026, 11, 2) == synthetic.START and date(2026, 11, 23) == CHANGE
