"""The line rules, applied by DuckDB and by the plain-Python baseline, and the staging copy."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from course_lib.monitoring.etl_baseline import parse_lines_python, write_parquet_python
from course_lib.monitoring.log_lines import ParsedLogs
from course_lib.monitoring.log_parsing import (
    classify,
    connect,
    load_lines,
    parse_lines_duckdb,
    rejects_sql,
)
from course_lib.monitoring.log_staging import last_line_end, stage
from course_lib.serving.log_records import Refused, TextPolicy, json_line
from tests.monitoring.test_etl import DAY, day_lines, served

GOOD = json.loads(day_lines(DAY, 1, "good")[0])
REFUSAL = Refused("r-1", "/predict", 413, "too big", "fasttext", "3", 1.5).records(TextPolicy.RAW)[
    0
]


def record(**changes) -> str:
    """Our prediction record with some fields changed (None: removed)."""
    changed = {**GOOD, "request_id": f"id-{len(CASES)}", **changes}
    return json.dumps({k: v for k, v in changed.items() if v is not None}, ensure_ascii=False)


def refusal(**changes) -> str:
    changed = {**REFUSAL, "request_id": f"id-{len(CASES)}", **changes}
    return json.dumps({k: v for k, v in changed.items() if v is not None})


CASES: list[tuple[str, str | None]] = []
"""(line, kind it is rejected as, or None for a good record), in file order."""


def case(line: str, kind: str | None) -> None:
    CASES.append((line, kind))


case(json_line(GOOD).rstrip("\n"), None)
case(json.dumps(REFUSAL), None)
case(record(predictions=[]), None)  # no ranked code: a row with empty ranks
case(record(extra={"a": [1, 2]}, route=None, words=None), None)  # unknown keys, optional fields
case(record(text='caf\u00e9 \U0001f600 "quoted" back\\slash'), None)
case(record(timestamp="2026-11-02T23:30:00-05:00"), None)  # another UTC day
case(record(timestamp="2026-11-02T10:00:00.5Z", latency_ms=3), None)  # a whole latency
case(
    record(predictions=[{"nace": "1071C", "probability": 1}, {"nace": "x", "probability": 0}]), None
)
case(record()[:-1] + ', "position": "first key wins"}', None)
case(record() + "\r", None)  # CRLF
case("", "blank")
case(" \t\r", "blank")
case(record()[:80], "truncated")
case(record()[:-1] + ',"predictions":[{"nace":"1071C","probability":0.5}', "truncated")
case(record().replace('"route"', '"route" 1'), "malformed")
case("[1, 2", "malformed")
case(record()[:-1] + ', "note": "\\ud800"}', "malformed")  # a lone surrogate: not UTF-8
case('INFO:     127.0.0.1:5000 - "GET /predict?description=x HTTP/1.1" 200 OK', "foreign")
case("Traceback (most recent call last):", "foreign")
case('{"level": "info", "message": "model loaded"}', "foreign")
case("[1, 2]", "foreign")
case('"a string"', "foreign")
case("null", "foreign")
case(record(schema="nace-api-log/2"), "foreign")
case(record(schema=1), "foreign")
case(record(event="heartbeat"), "invalid")
case(record(event=None), "invalid")
case(record(predictions=[{"nace": "1071C", "probability": "0.9"}]), "invalid")
case(record(predictions=[{"nace": "1071C", "probability": 1.5}]), "invalid")
case(record(predictions=[{"nace": 1071, "probability": 0.5}]), "invalid")
case(record(predictions=[{"probability": 0.5}]), "invalid")
case(record(predictions=[0.5]), "invalid")
case(record(predictions={"nace": "1071C", "probability": 0.5}), "invalid")
case(record(predictions=None), "invalid")
case(record()[:-1] + ',"latency_ms":NaN}', None)  # "latency_ms" twice: the first wins
case(record(latency_ms=None)[:-1] + ',"latency_ms":NaN}', "invalid")
case(record(latency_ms=-1), "invalid")
case(record(latency_ms="fast"), "invalid")
case(record(position=1.5), "invalid")
case(record(position=-1), "invalid")
case(record(position=2**31), "invalid")
case(record(position="0"), "invalid")
case(record(batch_size=0), "invalid")
case(record(words="3"), "invalid")
case(record(text=5), "invalid")
case(record(simulated="yes"), "invalid")
case(record(simulated=1), "invalid")
case(record(request_id=""), "invalid")
case(record(timestamp="2026-11-02T10:00:00"), "invalid")  # no offset: no UTC day
case(record(timestamp="2026-11-02 10:00:00Z"), "invalid")
case(record(timestamp="2026-02-30T10:00:00Z"), "invalid")
case(record(timestamp="2026-11-02T24:00:00Z"), "invalid")
case(record(timestamp="2026-11-02T10:00:00.1234567Z"), "invalid")
case(refusal(status=99), "invalid")
case(refusal(status="413"), "invalid")
case(refusal(status=None), "invalid")
case("x" * 3_000, "too_long")


@pytest.fixture(scope="module")
def cases_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cases") / "cases.jsonl"
    path.write_text("\n".join(line for line, _ in CASES) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "parse", [parse_lines_duckdb, parse_lines_python], ids=["duckdb", "python"]
)
def test_every_kind_of_line(cases_file, parse):
    parsed: ParsedLogs = parse([cases_file], max_line_bytes=2_000)
    found = {row["line"]: row["kind"] for row in parsed.rejects.to_pylist()}
    expected = {number: kind for number, (_, kind) in enumerate(CASES, start=1) if kind}
    wrong = {
        number: (CASES[number - 1][0][:90], expected.get(number), found.get(number))
        for number in sorted(set(found) | set(expected))
        if found.get(number) != expected.get(number)
    }
    assert not wrong, wrong
    good = sum(kind is None for _, kind in CASES)
    assert parsed.predictions.num_rows + parsed.refused.num_rows == good


def _sorted(parsed: ParsedLogs) -> dict:
    return {
        "predictions": parsed.predictions.sort_by([("request_id", "ascending")]),
        "refused": parsed.refused.sort_by([("request_id", "ascending")]),
        "rejects": parsed.rejects.sort_by([("file", "ascending"), ("line", "ascending")]),
    }


def test_duckdb_and_the_baseline_give_identical_rows(cases_file, tmp_path):
    concatenated = tmp_path / "more.jsonl"
    first, second, third = day_lines(DAY, 3, "cat")
    concatenated.write_text(first + second[:50] + third + "  " + second, encoding="utf-8")
    paths = [cases_file, concatenated]
    duck, python = (
        _sorted(parse_lines_duckdb(paths, 2_000)),
        _sorted(parse_lines_python(paths, 2_000)),
    )
    for name in duck:
        assert duck[name].schema == python[name].schema, name
        assert duck[name].to_pylist() == python[name].to_pylist(), name
    assert duck["predictions"].num_rows > 10 and duck["refused"].num_rows == 1
    assert duck["predictions"].column("request_id").to_pylist().count("cat-1") == 1


def test_the_baseline_writes_the_same_layout(tmp_path, cases_file):
    write_parquet_python(parse_lines_python([cases_file], 2_000), tmp_path / "out")
    days = sorted(p.name for p in (tmp_path / "out" / "predictions").iterdir())
    assert days == ["date=2026-11-02", "date=2026-11-03"]


# --- staging ---------------------------------------------------------------------------------


def _staged_lines(pieces) -> list[bytes]:
    return [line for p in pieces for line in Path(p.path).read_bytes().split(b"\n")[:-1]]


def test_staging_cuts_long_lines_repairs_utf8_and_keeps_line_numbers(tmp_path):
    data = (
        b"short\n"
        + b"a" * 5_000 + b"\n"  # one long line
        + b"caf\xe9\n"  # Latin-1
        + b"b" * 1_000 + b"\xc3\xa9" + b"b" * 3_000 + b"\n"  # cut inside a character
        + b"end"  # no newline
    )  # fmt: skip
    staged = stage(io.BytesIO(data), tmp_path, 0, max_line_bytes=1_000, piece_bytes=10**6)
    out = b"".join(Path(p.path).read_bytes() for p in staged.pieces)
    lines = out.split(b"\n")
    assert [len(line) for line in lines] == [5, 1_001, 6, 1_003, 3]
    assert lines[2].decode() == "caf\ufffd" and lines[3].decode().endswith("b\ufffd")
    assert (staged.end, staged.lines, staged.cut_lines, staged.open_line) == (
        len(data), 4, 2, True,
    )  # fmt: skip


def test_staging_a_huge_line_holds_one_block(tmp_path):
    huge = io.BytesIO(b"{" + b"x" * 20_000_000 + b"}\nok\n")
    staged = stage(huge, tmp_path, 0, max_line_bytes=1_000)
    assert sum(Path(p.path).stat().st_size for p in staged.pieces) == 1_001 + 1 + 3


def test_pieces_end_on_line_boundaries_and_keep_numbering(tmp_path):
    lines = day_lines(DAY, 300, "piece")
    lines[123] = "oops\n"
    data = "".join(lines).encode()
    staged = stage(io.BytesIO(data), tmp_path, 7, start=0, lines=0, piece_bytes=20_000)
    assert len(staged.pieces) > 3
    assert all(Path(p.path).read_bytes().endswith(b"\n") for p in staged.pieces)
    assert _staged_lines(staged.pieces) == data.split(b"\n")[:-1]
    assert parse_lines_duckdb([p.path for p in staged.pieces]).predictions.num_rows == 299
    con = connect()
    load_lines(con, staged.pieces, ["?"] * 7 + ["the file"])  # file_index 7
    classify(con)
    assert con.sql(rejects_sql()).fetchall() == [("the file", 124, "foreign", "oops")]


def test_staging_resumes_mid_file(tmp_path):
    lines = day_lines(DAY, 10, "r")
    data = "".join(lines).encode()
    start = len("".join(lines[:4]).encode())
    staged = stage(io.BytesIO(data), tmp_path, 0, start=start, lines=4)
    assert staged.pieces[0].first_line == 5
    assert _staged_lines(staged.pieces) == [line.rstrip("\n").encode() for line in lines[4:]]


def test_last_line_end_stops_before_an_unfinished_line():
    data = b"one\ntwo\nthr"
    assert last_line_end(io.BytesIO(data), 0, len(data)) == 8
    assert last_line_end(io.BytesIO(b"no newline"), 0, 10) == 0
    assert last_line_end(io.BytesIO(b"a\n" + b"x" * 3_000_000), 0, 3_000_002) == 2


def test_a_served_batch_is_one_row_per_description(tmp_path):
    path = tmp_path / "batch.jsonl"
    event = served("batch", datetime(2026, 11, 2, tzinfo=UTC), texts=["a", "b", "c"])
    path.write_text("".join(json_line(r) for r in event.records(TextPolicy.RAW)))
    rows = parse_lines_duckdb([path]).predictions
    assert rows.column("position").to_pylist() == [0, 1, 2]
    assert set(rows.column("batch_size").to_pylist()) == {3}
