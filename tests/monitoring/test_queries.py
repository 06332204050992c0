"""The monitoring queries answer the questions their names ask, on the ETL's layout."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from course_lib.cli import app
from course_lib.errors import CourseError
from course_lib.monitoring import queries
from course_lib.monitoring.datasets import PARTITION, PREDICTION_COLUMNS, RANKS
from tests.monitoring import synthetic

DAY = date(2026, 11, 2)


def rows(specs: list[dict], day: date = DAY) -> pd.DataFrame:
    """Prediction rows from a few explicit fields; the rest filled with plain values."""
    frame = []
    for index, spec in enumerate(specs):
        row = {
            "timestamp": datetime(day.year, day.month, day.day, 10, tzinfo=UTC),
            "request_id": f"r{index}",
            "position": 0,
            "batch_size": 1,
            "route": "GET /predict",
            "model_name": "fasttext",
            "model_version": "1",
            "text": "boulangerie",
            "text_policy": "raw",
            "text_chars": 11,
            "words": 1,
            "unknown_words": 0,
            **{f"prediction_{r}": None for r in range(1, RANKS + 1)},
            **{f"proba_{r}": None for r in range(1, RANKS + 1)},
            "latency_ms": 5.0,
            "simulated": False,
            PARTITION: day,
        }
        row.update(spec)
        frame.append(row)
    return pd.DataFrame(frame)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    """Two weeks of synthetic traffic written as the ETL writes it, and the frames written."""
    root = tmp_path_factory.mktemp("monitoring")
    predictions = synthetic.history(days=14, per_weekday=400, seed=1)
    refused = synthetic.refused_rows(days=14)
    synthetic.write_datasets(root, predictions, refused)
    return root, predictions, refused


@pytest.mark.parametrize("name", sorted(queries.QUERIES))
def test_every_query_has_a_plain_docstring_and_runs(name: str, history) -> None:
    query = queries.QUERIES[name]
    assert len(query.doc) > 40 and query.name == name
    result = queries.run(query, history[0])
    assert not result.empty


def test_counts_are_over_predictions_not_requests(history) -> None:
    root, predictions, _ = history
    assert queries.run("prediction_count", root).iloc[0, 0] == len(predictions)
    daily = queries.run(queries.DAILY_VOLUME, root)
    expected = predictions.groupby(PARTITION).agg(
        predictions=("request_id", "size"), requests=("request_id", "nunique")
    )
    assert daily["predictions"].tolist() == expected["predictions"].tolist()
    assert daily["requests"].tolist() == expected["requests"].tolist()
    assert (daily["predictions"] > daily["requests"]).all()  # batches are in the data


def test_high_confidence_share_is_over_predictions_on_the_top_rank(tmp_path: Path) -> None:
    """The published answer of the original course was wrong: here the three usual wrong
    answers (per request, on another rank, >= instead of >) each give another number."""
    frame = rows(
        [
            # one batch of three: two confident answers, one not
            {"request_id": "batch", "position": 0, "prediction_1": "5610A", "proba_1": 0.95,
             "prediction_2": "5610C", "proba_2": 0.85},
            {"request_id": "batch", "position": 1, "prediction_1": "5610A", "proba_1": 0.9},
            {"request_id": "batch", "position": 2, "prediction_1": "5610A", "proba_1": 0.3,
             "prediction_2": "4711D", "proba_2": 0.81},
            # two single requests, not confident; one exactly at the cut
            {"request_id": "single-1", "prediction_1": "9602A", "proba_1": 0.8},
            {"request_id": "single-2", "prediction_1": "9602A", "proba_1": 0.2},
        ]
    )  # fmt: skip
    synthetic.write_datasets(tmp_path, frame)
    share = queries.run(queries.HIGH_CONFIDENCE_SHARE, tmp_path).iloc[0, 0]
    assert share == pytest.approx(2 / 5)
    per_request = 1 / 3  # the batch's first row, over 3 requests
    on_any_rank = 3 / 5
    at_or_above = 3 / 5
    assert share not in (pytest.approx(per_request), pytest.approx(on_any_rank))
    assert share != pytest.approx(at_or_above)
    assert queries.run(queries.HIGH_CONFIDENCE_SHARE, tmp_path, high_confidence=0.5).iloc[
        0, 0
    ] == pytest.approx(3 / 5)


def test_latency_is_taken_once_per_request(tmp_path: Path) -> None:
    """A batch of 100 at 200 ms and three single requests at 10 ms: per request the median
    is 10 ms; counted per row it would be 200 ms."""
    batch = [
        {"request_id": "batch", "position": i, "batch_size": 100, "latency_ms": 200.0,
         "prediction_1": "5610A", "proba_1": 0.9}
        for i in range(100)
    ]  # fmt: skip
    singles = [
        {"request_id": f"s{i}", "latency_ms": 10.0, "prediction_1": "5610A", "proba_1": 0.9}
        for i in range(3)
    ]
    synthetic.write_datasets(tmp_path, rows(batch + singles))
    daily = queries.run(queries.DAILY_LATENCY, tmp_path).iloc[0]
    assert daily["requests"] == 4
    assert daily["p50_ms"] == pytest.approx(10.0)
    assert daily["p99_ms"] > 100
    overall = queries.run(queries.LATENCY_SUMMARY, tmp_path).iloc[0]
    assert overall["p50_ms"] == pytest.approx(10.0) and overall["requests"] == 4


def test_refused_requests_per_day_and_status(history) -> None:
    root, _, refused = history
    result = queries.run(queries.DAILY_REFUSED, root)
    expected = refused.groupby([PARTITION, "status"]).size()
    assert result["refused"].sum() == len(refused)
    assert result.set_index(["date", "status"])["refused"].tolist() == expected.tolist()
    assert set(result["status"]) == {413, 422}


def test_top_codes_carry_their_labels_and_unknown_codes_stay(tmp_path: Path) -> None:
    frame = rows(
        [{"request_id": f"a{i}", "prediction_1": "5610A", "proba_1": 0.9} for i in range(3)]
        + [{"request_id": f"b{i}", "prediction_1": "ZZZZ", "proba_1": 0.4} for i in range(2)]
        + [{"request_id": "c", "prediction_1": "1071C", "proba_1": 0.7}]
    )
    synthetic.write_datasets(tmp_path, frame)
    top = queries.run(queries.TOP_CODES, tmp_path)
    assert top["code"].tolist() == ["5610A", "ZZZZ", "1071C"]
    assert top["label"].iloc[0] == "Restauration traditionnelle"
    assert pd.isna(top["label"].iloc[1])
    assert "Boulangerie" in top["label"].iloc[2]
    assert top["share"].tolist() == pytest.approx([3 / 6, 2 / 6, 1 / 6])
    assert len(queries.run(queries.TOP_CODES, tmp_path, limit=1)) == 1


def test_confidence_histogram_bins_every_prediction_once(tmp_path: Path) -> None:
    probas = [0.0, 0.049, 0.05, 0.51, 0.8, 0.81, 0.999, 1.0]
    frame = rows([{"request_id": f"r{i}", "prediction_1": "5610A", "proba_1": p}
                  for i, p in enumerate(probas)])  # fmt: skip
    synthetic.write_datasets(tmp_path, frame)
    bins = queries.run(queries.CONFIDENCE_HISTOGRAM, tmp_path)
    got = dict(zip(bins["bin_start"].round(2), bins["predictions"], strict=True))
    assert got == {0.0: 2, 0.05: 1, 0.5: 1, 0.8: 2, 0.95: 2}  # 1.0 in the last band


def test_section_mix_and_indicators_per_day(tmp_path: Path) -> None:
    frame = rows(
        [
            {"request_id": "a", "prediction_1": "5610A", "proba_1": 0.9, "text_chars": 10,
             "words": 2, "unknown_words": 0},
            {"request_id": "b", "prediction_1": "4941A", "proba_1": 0.3, "text_chars": 30,
             "words": 6, "unknown_words": 3},
            {"request_id": "c", "prediction_1": "4932Z", "proba_1": 0.45, "text_chars": 20,
             "words": 2, "unknown_words": 1},
            {"request_id": "d", "prediction_1": "??", "proba_1": 0.6, "text_chars": 4,
             "words": 0, "unknown_words": 0},
        ]
    )  # fmt: skip
    synthetic.write_datasets(tmp_path, frame)
    mix = queries.run(queries.DAILY_SECTION_MIX, tmp_path).set_index("section")["predictions"]
    assert mix.to_dict() == {"?": 1, "H": 2, "I": 1}
    day = queries.run(queries.DAILY_INDICATORS, tmp_path).iloc[0]
    assert day["predictions"] == 4 and day["low_confidence"] == 2
    assert day["low_confidence_share"] == pytest.approx(0.5)
    assert day["mean_chars"] == pytest.approx(16.0)
    assert day["typical_chars"] == pytest.approx((10 * 30 * 20 * 4) ** (1 / 4))  # geometric
    assert day["unknown_share"] == pytest.approx(4 / 10)  # a ratio of sums, not a mean of ratios


@pytest.mark.parametrize("name", sorted(queries.QUERIES))
def test_no_files_yet_gives_empty_answers_not_an_error(name: str, tmp_path: Path) -> None:
    """DuckDB raises "No files found" on a glob that matches nothing; the queries do not."""
    for root in (tmp_path / "missing", tmp_path):
        (tmp_path / "predictions").mkdir(exist_ok=True)  # a folder with no file yet
        result = queries.run(name, root)
        if name in ("prediction_count", "overview"):
            assert result.iloc[0]["predictions"] == 0
        elif name == "high_confidence_share":
            assert np.isnan(result.iloc[0]["share"])
        elif name == "latency_summary":
            assert result.iloc[0]["requests"] == 0
        else:
            assert result.empty


def test_refused_alone_is_read_without_predictions(tmp_path: Path) -> None:
    synthetic.write_datasets(tmp_path, None, synthetic.refused_rows(days=2))
    assert queries.run(queries.DAILY_REFUSED, tmp_path)["refused"].sum() == 10
    assert queries.run(queries.PREDICTION_COUNT, tmp_path).iloc[0, 0] == 0


def test_a_damaged_parquet_file_is_named_with_the_way_out(history, tmp_path: Path) -> None:
    synthetic.write_datasets(tmp_path, synthetic.history(days=2, per_weekday=50))
    victim = next((tmp_path / "predictions").glob("*/*.parquet"))
    victim.write_bytes(b"this is not parquet")
    with pytest.raises(CourseError, match=r"damaged or not parquet.*course etl"):
        queries.run(queries.DAILY_VOLUME, tmp_path)


def test_bad_input_is_a_course_error(history, tmp_path: Path) -> None:
    root = history[0]
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("x")
    with pytest.raises(CourseError, match="is a file"):
        queries.run(queries.PREDICTION_COUNT, not_a_folder)
    with pytest.raises(CourseError, match=r"needs a value for \$threshold"):
        queries.run("SELECT count(*) FROM predictions WHERE proba_1 > $threshold", root)
    with pytest.raises(CourseError, match="failed"):
        queries.run("SELECT no_such_column FROM predictions", root)
    answer = queries.run("SELECT count(*) AS n FROM predictions WHERE proba_1 > $t", root, t=2)
    assert answer.iloc[0, 0] == 0


def test_queries_run_from_many_threads_at_once(history) -> None:
    """One connection per call: the dashboard and a lab may query from threads."""
    root = history[0]
    expected = queries.run(queries.DAILY_INDICATORS, root)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: queries.run(queries.DAILY_INDICATORS, root), range(16)))
    for result in results:
        pd.testing.assert_frame_equal(result, expected)


def test_the_empty_tables_have_the_datasets_columns(tmp_path: Path) -> None:
    columns = queries.run("SELECT * FROM predictions", tmp_path).columns
    assert list(columns) == [*PREDICTION_COLUMNS, PARTITION]


@pytest.mark.slow  # about 7 s: moto's server, and s3fs under DuckDB
def test_datasets_on_s3_answer_the_same_queries(s3_bucket, history) -> None:
    """On a platform the ETL writes to an s3:// prefix; the queries read it through s3fs
    (DuckDB's own httpfs would be downloaded at run time)."""
    root = history[0]
    for path in root.rglob("*.parquet"):
        key = f"monitoring/{path.relative_to(root).as_posix()}"
        s3_bucket.upload_file(str(path), "projet-formation", key)
    url = "s3://projet-formation/monitoring/"
    for query in (queries.DAILY_VOLUME, queries.DAILY_REFUSED, queries.DAILY_INDICATORS):
        pd.testing.assert_frame_equal(queries.run(query, url), queries.run(query, root))
    assert (
        queries.run(queries.PREDICTION_COUNT, "s3://projet-formation/nothing-yet").iloc[0, 0] == 0
    )
    result = CliRunner().invoke(app, ["monitor", "--data", url])  # the command keeps the URL
    assert result.exit_code == 0, result.output
    assert "data: s3://projet-formation/monitoring\n" in result.output
    assert result.output.strip().splitlines()[-1].startswith("OK 2026-11-15: ")


def test_an_unreachable_s3_endpoint_is_one_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    from course_lib.processes import free_port

    monkeypatch.setenv("AWS_S3_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "trainee")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    with pytest.raises(CourseError, match="cannot list s3://bucket/monitoring/predictions"):
        queries.run(queries.PREDICTION_COUNT, "s3://bucket/monitoring")
