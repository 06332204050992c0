"""``course etl`` on local folders: the rows it writes, what it skips, what it sets aside.

Logs are built with the API's own record functions (``Served(...).records``
and ``json_line``), so the tests read what the API writes.  The helpers here
are shared by the other ``test_etl_*`` modules.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from course_lib.errors import CourseError
from course_lib.monitoring.datasets import (
    PREDICTION_COLUMNS,
    PREDICTIONS,
    REFUSED,
    REFUSED_COLUMNS,
    REJECTS,
    dataset_glob,
)
from course_lib.monitoring.etl import run_etl
from course_lib.monitoring.etl_state import STATE_FILE
from course_lib.monitoring.etl_store import LOCK_FILE
from course_lib.serving.log_records import Refused, Served, TextPolicy, json_line

CODES = ("1071C", "5610A", "4322A", "6202A", "9602A", "4791A", "1071D")
DAY = date(2026, 11, 2)


# --- helpers shared by the test_etl_* modules ----------------------------------------------


def served(
    request_id: str,
    when: datetime,
    texts: Sequence[str] = ("boulangerie artisanale",),
    k: int = 3,
    simulated: bool = False,
) -> Served:
    """A request the model answered, with ``k`` ranked codes per description."""
    predictions = [
        [
            {"nace": CODES[(i + r) % len(CODES)], "probability": round(0.9 / (r + 1), 6)}
            for r in range(k)
        ]
        for i in range(len(texts))
    ]
    return Served(
        request_id, "/predict", "fasttext", "3", list(texts), predictions, 12.5, when,
        simulated=simulated,
    )  # fmt: skip


def lines_of(*events: Served | Refused) -> list[str]:
    return [json_line(r) for e in events for r in e.records(TextPolicy.RAW)]


def day_lines(day: date, n: int, tag: str) -> list[str]:
    """``n`` one-description requests spread over ``day`` (UTC), ids ``<tag>-<i>``."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    step = timedelta(seconds=86_000 / max(n, 1))
    return lines_of(*(served(f"{tag}-{i}", start + i * step) for i in range(n)))


def write(path: Path, lines: Iterable[str], mode: str = "w") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open(mode, encoding="utf-8", newline="") as out:
        out.writelines(lines)
    return path


def dataset(root: Path | str, name: str = PREDICTIONS) -> pd.DataFrame:
    """Every row of a dataset as the dashboard reads it (hive layout), sorted by key."""
    order = "request_id, position" if name == PREDICTIONS else "request_id"
    try:
        return duckdb.sql(
            f"SELECT * REPLACE (CAST(date AS VARCHAR) AS date) "
            f"FROM read_parquet('{dataset_glob(root, name)}', hive_partitioning = true) "
            f"ORDER BY {order}"
        ).df()
    except duckdb.IOException:  # no file yet
        columns = PREDICTION_COLUMNS if name == PREDICTIONS else REFUSED_COLUMNS
        return pd.DataFrame(columns=[*columns, "date"])


def keys(frame: pd.DataFrame) -> list[tuple[str, int]]:
    return list(zip(frame["request_id"], frame["position"], strict=True))


def parquet_files(root: Path) -> set[Path]:
    return {p for name in (PREDICTIONS, REFUSED) for p in (root / name).glob("*/*.parquet")}


def run(source: Path | str, dest: Path | str, **options) -> tuple:
    messages: list[str] = []
    report = run_etl(source, dest, status=messages.append, **options)
    return report, messages


# --- rows and columns ---------------------------------------------------------------------


def test_rows_and_columns_match_the_records(tmp_path):
    late = datetime(2026, 11, 30, 23, 30, 15, 123_000, tzinfo=UTC)
    batch = Served(
        "req-batch", "/predict/batch", "fasttext", "7",
        ["BOULANGERIE pâtisserie", 'plombier "chauffagiste"\nà domicile'],
        [
            [{"nace": "1071C", "probability": 0.912345}, {"nace": "1071D", "probability": 0.05}],
            [{"nace": c, "probability": 0.9 - i / 10} for i, c in enumerate(CODES[:6])],
        ],
        31.25, late,
    )  # fmt: skip
    records = batch.records(TextPolicy.RAW, count_words=lambda text: (len(text.split()), 1))
    offset = dict(records[0], request_id="req-offset", timestamp="2026-12-01T01:15:00.25+02:00")
    hashed = served("req-hash", datetime(2026, 11, 29, 6, tzinfo=UTC), simulated=True).records(
        TextPolicy.HASH
    )
    refused = Refused("req-413", "/predict", 413, "batch too large", "fasttext", "7", 2.5, late)
    logs = tmp_path / "logs"
    write(
        logs / "api" / "predictions.jsonl.1",
        [*map(json_line, [*records, offset, *hashed]), *lines_of(refused)],
    )
    report, messages = run(logs, tmp_path / "out")

    assert report.new_rows == {PREDICTIONS: 4, REFUSED: 1}
    assert report.days == ("2026-11-29", "2026-11-30")
    assert report.rejects == {} and report.duplicates == 0
    assert any("api/predictions.jsonl.1" in m for m in messages), messages
    for name, columns in ((PREDICTIONS, PREDICTION_COLUMNS), (REFUSED, REFUSED_COLUMNS)):
        for path in (tmp_path / "out" / name).glob("*/*.parquet"):
            assert pq.read_schema(path).names == list(columns), path

    rows = dataset(tmp_path / "out").set_index(["request_id", "position"])
    first, second = rows.loc[("req-batch", 0)], rows.loc[("req-batch", 1)]
    assert first["timestamp"] == pd.Timestamp("2026-11-30T23:30:15.123Z")
    assert str(first["date"]) == "2026-11-30"
    assert first["text"] == "BOULANGERIE pâtisserie"
    assert second["text"] == 'plombier "chauffagiste"\nà domicile'
    assert (first["batch_size"], first["route"], first["model_version"]) == (
        2,
        "/predict/batch",
        "7",
    )
    assert (first["text_chars"], first["words"], first["unknown_words"]) == (22, 2, 1)
    assert (first["prediction_1"], first["proba_1"]) == ("1071C", 0.912345)
    assert (first["prediction_2"], first["proba_2"]) == ("1071D", 0.05)
    assert pd.isna(first["prediction_3"]) and pd.isna(first["proba_3"])
    assert [second[f"prediction_{k}"] for k in range(1, 6)] == list(CODES[:5])  # 6th dropped
    assert second["proba_5"] == pytest.approx(0.5)
    assert (first["latency_ms"], bool(first["simulated"])) == (31.25, False)
    moved = rows.loc[("req-offset", 0)]
    assert moved["timestamp"] == pd.Timestamp("2026-11-30T23:15:00.25Z")
    assert str(moved["date"]) == "2026-11-30", "the day is the UTC day, not the writer's"
    pseudonym = rows.loc[("req-hash", 0)]
    assert pseudonym["text"].startswith("sha256:") and pseudonym["text_policy"] == "hash"
    assert bool(pseudonym["simulated"]) and str(pseudonym["date"]) == "2026-11-29"
    refusal = dataset(tmp_path / "out", REFUSED).iloc[0]
    assert (refusal["request_id"], refusal["status"], refusal["reason"]) == (
        "req-413", 413, "batch too large",
    )  # fmt: skip
    assert refusal["timestamp"] == pd.Timestamp("2026-11-30T23:30:15.123Z")


def test_default_locations_are_the_state_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_STATE_DIR", str(tmp_path / "state"))
    write(
        tmp_path / "state" / "logs" / "simulated" / "traffic-2026-11-02.jsonl",
        day_lines(DAY, 5, "s"),
    )
    report = run_etl(status=lambda _: None)
    assert report.new_predictions == 5
    assert len(dataset(tmp_path / "state" / "monitoring")) == 5


# --- incremental and idempotent ----------------------------------------------------------------


def test_running_twice_adds_nothing(tmp_path):
    logs, out = tmp_path / "logs", tmp_path / "out"
    write(logs / "simulated" / "traffic-2026-11-02.jsonl", day_lines(DAY, 40, "a"))
    write(logs / "api" / "predictions.jsonl.1", day_lines(DAY, 10, "b"))
    first, _ = run(logs, out)
    assert first.new_predictions == 50 and first.files_read == 2
    files, rows = parquet_files(out), dataset(out)

    again, _ = run(logs, out)
    assert again.new_rows == {PREDICTIONS: 0, REFUSED: 0}
    assert (again.files_read, again.files_unchanged) == (0, 2)
    assert again.summary().startswith("nothing new: 2 log files")
    assert parquet_files(out) == files
    pd.testing.assert_frame_equal(dataset(out), rows)


def test_without_its_state_the_etl_skips_rows_already_there(tmp_path):
    logs, out = tmp_path / "logs", tmp_path / "out"
    write(logs / "api" / "predictions.jsonl.1", day_lines(DAY, 30, "a"))
    run(logs, out)
    (out / STATE_FILE).unlink()
    report, _ = run(logs, out)
    assert (report.files_read, report.new_predictions, report.duplicates) == (1, 0, 30)
    assert len(dataset(out)) == 30


def test_a_damaged_state_file_costs_a_full_read_not_duplicates(tmp_path):
    logs, out = tmp_path / "logs", tmp_path / "out"
    write(logs / "api" / "predictions.jsonl.1", day_lines(DAY, 20, "a"))
    run(logs, out)
    (out / STATE_FILE).write_text('{"version": 1, "files": [{"head": 3')
    report, messages = run(logs, out)
    assert any("state file" in m and "damaged" in m for m in messages), messages
    assert (report.new_predictions, report.duplicates) == (0, 20)


def test_emptied_datasets_are_filled_again(tmp_path):
    logs, out = tmp_path / "logs", tmp_path / "out"
    write(logs / "api" / "predictions.jsonl.1", day_lines(DAY, 20, "a"))
    run(logs, out)
    for path in parquet_files(out):
        path.unlink()
    report, messages = run(logs, out)
    assert report.new_predictions == 20, messages


def test_a_new_days_file_adds_only_that_day(tmp_path):
    logs, out = tmp_path / "logs", tmp_path / "out"
    write(logs / "simulated" / "traffic-2026-11-02.jsonl", day_lines(DAY, 30, "d1"))
    run(logs, out)
    before = parquet_files(out)
    next_day = DAY + timedelta(days=1)
    write(logs / "simulated" / "traffic-2026-11-03.jsonl", day_lines(next_day, 12, "d2"))
    report, _ = run(logs, out)
    assert (report.new_predictions, report.days, report.files_read) == (12, ("2026-11-03",), 1)
    added = parquet_files(out) - before
    assert before <= parquet_files(out), "earlier files are left as they are"
    assert {p.parent.name for p in added} == {"date=2026-11-03"}
    rows = dataset(out)
    assert rows.groupby("date").size().to_dict() == {
        "2026-11-02": 30, "2026-11-03": 12,
    }  # fmt: skip


def test_the_same_records_in_two_files_are_written_once(tmp_path):
    logs, out = tmp_path / "logs", tmp_path / "out"
    lines = day_lines(DAY, 25, "x")
    write(logs / "api" / "predictions.jsonl.1", lines)
    write(logs / "copy" / "predictions.jsonl.1", lines[5:15])
    report, _ = run(logs, out)
    assert (report.new_predictions, report.duplicates) == (25, 10)
    assert sorted(keys(dataset(out))) == sorted({(f"x-{i}", 0) for i in range(25)})


def test_gzip_files_are_read(tmp_path):
    logs, out = tmp_path / "logs", tmp_path / "out"
    (logs / "api").mkdir(parents=True)
    with gzip.open(logs / "api" / "predictions.jsonl.3.gz", "wt", encoding="utf-8") as handle:
        handle.writelines(day_lines(DAY, 15, "z"))
    (logs / "api" / "predictions.jsonl.4.gz").write_bytes(
        gzip.compress("".join(day_lines(DAY, 5, "w")).encode())[:-30]
    )
    report, messages = run(logs, out)
    assert report.new_predictions == 15
    assert report.unreadable == (str(logs / "api" / "predictions.jsonl.4.gz"),)
    assert any("damaged gzip" in m for m in messages), messages
    assert "1 file unreadable" in report.summary()


def test_files_that_are_not_logs_are_ignored(tmp_path):
    logs, out = tmp_path / "logs", tmp_path / "out"
    write(logs / "simulated" / "traffic-2026-11-02.jsonl", day_lines(DAY, 5, "a"))
    write(logs / "simulated" / ".traffic-2026-11-03-x.tmp", day_lines(DAY, 5, "tmp"))
    write(logs / "simulated" / ".hidden.jsonl", day_lines(DAY, 5, "hidden"))
    write(logs / "notes.txt", ["not a log\n"])
    write(logs / "api" / "predictions.jsonl.bak", day_lines(DAY, 5, "bak"))
    report, _ = run(logs, out)
    assert (report.files_listed, report.new_predictions) == (1, 5)


# --- lines in progress ---------------------------------------------------------------------


def test_an_unfinished_line_of_the_current_file_waits_for_the_next_run(tmp_path):
    logs, out = tmp_path / "logs", tmp_path / "out"
    current = logs / "api" / "predictions.jsonl"
    lines = day_lines(DAY, 6, "p")
    write(current, [*lines[:5], lines[5][:70]])  # the writer is in the middle of line 6
    report, _ = run(logs, out)
    assert (report.new_predictions, report.pending_lines, report.rejects) == (5, 1, {})
    assert "1 unfinished line left for the next run" in report.summary()

    write(current, [lines[5][70:], *day_lines(DAY, 2, "q")], mode="a")
    report, _ = run(logs, out)
    assert (report.new_predictions, report.pending_lines, report.rejects) == (3, 0, {})
    assert report.duplicates == 0, "the run resumed where the last one stopped"
    assert len(dataset(out)) == 8


def test_an_unfinished_last_line_of_a_finished_file_is_truncated(tmp_path):
    logs, out = tmp_path / "logs", tmp_path / "out"
    lines = day_lines(DAY, 4, "t")
    write(logs / "api" / "predictions.jsonl.1", [*lines[:3], lines[3][:90]])
    report, _ = run(logs, out)
    assert (report.new_predictions, report.rejects, report.pending_lines) == (
        3, {"truncated": 1}, 0,
    )  # fmt: skip
    (rejected,) = _rejects(out)
    assert (rejected["line"], rejected["kind"]) == (4, "truncated")
    assert rejected["text"] == lines[3][:90]


# --- bad lines -------------------------------------------------------------------------------


def _rejects(out: Path) -> list[dict]:
    return [json.loads(line) for p in sorted((out / REJECTS).glob("*.jsonl")) for line in p.open()]


def test_bad_lines_are_counted_set_aside_and_never_cost_a_good_line(tmp_path):
    logs, out = tmp_path / "logs", tmp_path / "out"
    good = day_lines(DAY, 10, "g")
    record = json.loads(good[0])
    wrong_probability = dict(record, request_id="bad-p")
    wrong_probability["predictions"] = [{"nace": "1071C", "probability": "0.9"}]
    bad = {
        "\n": "blank",
        "  \t\r\n": "blank",
        good[1][:-40] + "\n": "truncated",
        good[2][:-3].replace('"route"', '"route" "x"') + "}\n": "malformed",
        'INFO:     127.0.0.1:53122 - "POST /predict HTTP/1.1" 200 OK\n': "foreign",
        '{"level": "info", "message": "model loaded"}\n': "foreign",
        json.dumps(wrong_probability) + "\n": "invalid",
        json.dumps(dict(record, request_id="bad-pos", position="1")) + "\n": "invalid",
        json.dumps(dict(record, request_id="bad-ts", timestamp="30/11/2026")) + "\n": "invalid",
    }
    lines = []
    for good_line, bad_line in zip(good, bad, strict=False):  # good, bad, good, bad...
        lines += [good_line, bad_line]
    path = write(logs / "api" / "predictions.jsonl.1", lines + good[len(bad) :])
    report, _ = run(logs, out)

    assert report.rejects == {
        "blank": 2,
        "truncated": 1,
        "malformed": 1,
        "foreign": 2,
        "invalid": 3,
    }
    assert report.new_predictions == 10, "every good line of the same file is kept"
    assert sorted(keys(dataset(out))) == sorted((f"g-{i}", 0) for i in range(10))
    rejected = _rejects(out)
    assert [(r["file"], r["line"], r["kind"]) for r in rejected] == [
        (str(path), 2 * i + 2, kind) for i, kind in enumerate(bad.values())
    ]
    assert rejected[4]["text"] == next(iter(k for k, v in bad.items() if v == "foreign")).rstrip(
        "\n"
    )
    assert "9 lines rejected (2 blank, 1 truncated, 1 malformed, 2 foreign, 3 invalid)" in (
        report.summary()
    )
    assert report.rejects_file and report.rejects_file.startswith(str(out / REJECTS / "rejects-"))


def test_a_line_holding_a_cut_record_and_a_whole_one_keeps_the_whole_one(tmp_path):
    logs, out = tmp_path / "logs", tmp_path / "out"
    first, second, third = day_lines(DAY, 3, "c")
    write(logs / "api" / "predictions.jsonl.1", [first, second[:60] + third])
    report, _ = run(logs, out)
    assert report.rejects == {"truncated": 1}
    assert sorted(keys(dataset(out))) == [("c-0", 0), ("c-2", 0)]
    (rejected,) = _rejects(out)
    assert (rejected["line"], rejected["text"]) == (2, second[:60])


def test_bytes_that_are_not_utf8_are_replaced_not_fatal(tmp_path):
    logs, out = tmp_path / "logs", tmp_path / "out"
    good = day_lines(DAY, 3, "u")
    latin1 = json_line(dict(json.loads(good[1]), text="café")).replace("café", "caf\udce9")
    data = (
        good[0].encode()
        + latin1.encode("utf-8", "surrogateescape")
        + b"\xff\xfe\x00garbage\n"
        + good[2].encode()
    )
    (logs / "api").mkdir(parents=True)
    (logs / "api" / "predictions.jsonl.1").write_bytes(data)
    report, _ = run(logs, out)
    assert report.rejects == {"foreign": 1}
    rows = dataset(out)
    assert len(rows) == 3
    assert rows.set_index("request_id").loc["u-1", "text"] == "caf\ufffd"


def test_a_line_longer_than_the_limit_is_rejected_as_too_long(tmp_path):
    logs, out = tmp_path / "logs", tmp_path / "out"
    good = day_lines(DAY, 2, "l")
    huge = json_line(dict(json.loads(good[0]), request_id="huge", text="x" * 50_000))
    write(logs / "api" / "predictions.jsonl.1", [good[0], huge, good[1]])
    report, _ = run(logs, out, max_line_bytes=2_000)
    assert (report.new_predictions, report.rejects) == (2, {"too_long": 1})
    (rejected,) = _rejects(out)
    assert rejected["line"] == 2 and len(rejected["text"]) == 1_000


def test_the_rejects_kept_are_capped_and_all_are_counted(tmp_path):
    logs, out = tmp_path / "logs", tmp_path / "out"
    write(logs / "api" / "predictions.jsonl.1", [*day_lines(DAY, 2, "k"), *(["oops\n"] * 10)])
    report, _ = run(logs, out, max_rejects_kept=3)
    assert (report.rejected, report.rejects_kept, len(_rejects(out))) == (10, 3, 3)
    assert "10 lines rejected (10 foreign)" in report.summary()
    assert "(the first 3)" in report.summary()


def test_bad_lines_are_reported_once(tmp_path):
    logs, out = tmp_path / "logs", tmp_path / "out"
    write(logs / "api" / "predictions.jsonl.1", [*day_lines(DAY, 2, "o"), "oops\n"])
    run(logs, out)
    report, _ = run(logs, out)
    assert report.rejects == {} and len(list((out / REJECTS).iterdir())) == 1


# --- nothing to read ----------------------------------------------------------------------


def test_an_empty_folder_is_a_clear_report(tmp_path):
    (tmp_path / "logs").mkdir()
    report, _ = run(tmp_path / "logs", tmp_path / "out")
    assert report.summary() == (
        f"no log files in {tmp_path / 'logs'}: start `course serve` and send requests, "
        "or run `course traffic`"
    )
    assert report.new_rows == {PREDICTIONS: 0, REFUSED: 0}
    missing, _ = run(tmp_path / "nowhere", tmp_path / "out")
    assert "(no such folder)" in missing.summary()


def test_a_file_as_destination_is_one_clear_error(tmp_path):
    write(tmp_path / "logs" / "api" / "predictions.jsonl.1", day_lines(DAY, 2, "f"))
    (tmp_path / "out").write_text("not a folder")
    with pytest.raises(CourseError, match="is a file: --dest must be a folder"):
        run(tmp_path / "logs", tmp_path / "out")
    with pytest.raises(CourseError, match="give a local folder or an s3://bucket/prefix"):
        run("https://example.org/logs", tmp_path / "out2")


def test_the_destination_inside_the_source_is_not_read_as_logs(tmp_path):
    logs = tmp_path / "logs"
    write(logs / "api" / "predictions.jsonl.1", [*day_lines(DAY, 3, "i"), "oops\n"])
    run(logs, logs / "monitoring")
    report, _ = run(logs, logs / "monitoring")
    assert report.files_listed == 1, "the rejects file (.jsonl) is not a log"


def test_a_busy_destination_waits_then_says_so(tmp_path):
    import fcntl

    write(tmp_path / "logs" / "api" / "predictions.jsonl.1", day_lines(DAY, 2, "b"))
    (tmp_path / "out").mkdir()
    with (tmp_path / "out" / LOCK_FILE).open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(CourseError, match=r"another `course etl` has been writing to .* for"):
            run_etl(tmp_path / "logs", tmp_path / "out", status=lambda _: None, lock_timeout=0.3)
    report, _ = run(tmp_path / "logs", tmp_path / "out")
    assert report.new_predictions == 2
