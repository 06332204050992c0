"""What chapter 4 quotes is what the code gives: settings, thresholds, the benchmark's JSON,
and (slow) the default history of ``course traffic`` measured on the default model.

The slow test replays the chapter's recipe (``course train``, ``course traffic --end
2026-11-29``, ``course etl``, ``course monitor --check``) with the session's default model,
and compares every figure the chapter's tables and its alert line quote.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pandas as pd
import pytest

from course_lib.monitoring import queries, thresholds
from course_lib.monitoring.alerts import evaluate_alerts
from course_lib.monitoring.drift import drift_report
from course_lib.monitoring.etl import run_etl
from course_lib.monitoring.traffic import TrafficPlan, simulate_traffic
from tests.book_text import table_row
from tests.conftest import ROOT

CHAPTER = (ROOT / "book" / "ch4_monitoring.md").read_text(encoding="utf-8")
END = date(2026, 11, 29)


def table_rows(first_cell: str) -> list[str]:
    """The cells of the chapter's table row that starts with ``first_cell``."""
    return table_row(CHAPTER, first_cell)


def test_the_thresholds_table_is_the_code_s() -> None:
    t = thresholds.THRESHOLDS
    assert table_rows("PSI of the predicted-section mix")[1] == f"above {t.psi_alert:g}"
    low = table_rows("share of low-confidence answers (top probability under 0.5)")[1]
    assert low == f"{t.low_confidence_margin * 100:g} points above the reference"
    length = table_rows("typical length of the descriptions (geometric mean, in characters)")[1]
    assert length == (
        f"more than {t.length_change * 100:g} % longer or shorter (× or ÷ {1 + t.length_change:g})"
    )
    unknown = table_rows("share of unknown words")[1]
    assert unknown == f"{t.unknown_margin * 100:g} points above the reference"
    assert (t.low_confidence, t.high_confidence, t.noise_z) == (0.5, 0.8, 4.0)
    flat = CHAPTER.replace("\n", " ")
    assert f"under {t.min_daily_volume} predictions the day is" in flat
    assert "more than four standard errors" in flat


def test_the_noise_of_a_small_day_is_what_the_chapter_says() -> None:
    from course_lib.data.nomenclature import load_nomenclature

    k = load_nomenclature().subclasses["section"].nunique()
    assert "(k − 1) / n on average for k sections and n predictions, 0.07 on a day of 300" in (
        CHAPTER.replace("\n", " ")
    )
    assert round((k - 1) / 300, 2) == 0.07


def test_the_log_settings_table_is_the_api_s() -> None:
    from course_lib.serving.prediction_log import LogConfig, TextPolicy

    default = LogConfig()
    assert table_rows("`API_LOG`")[1] == ("`on`" if default.enabled else "`off`")
    assert table_rows("`API_LOG_TEXT`")[1] == f"`{TextPolicy(default.text_policy).value}`"
    assert table_rows("`API_LOG_STDOUT`")[1] == ("`on`" if default.stdout else "`off`")
    assert table_rows("`API_LOG_MAX_BYTES`")[1] == f"{default.max_bytes:,}"
    assert table_rows("`API_LOG_BACKUPS`")[1] == f"{default.backups}"


def test_the_benchmark_table_is_benchmarks_monitoring_json() -> None:
    bench = json.loads((ROOT / "benchmarks" / "monitoring.json").read_text())
    etl, log, batch, load = (
        bench["etl"], bench["logging_latency"], bench["batch"], bench["endurance"]
    )  # fmt: skip
    row = " | ".join(table_rows("ETL of 1,000,000 log lines (10 files) to parquet"))
    assert f"{etl['python_s']:.1f} s" in row and f"{etl['duckdb_s']:.1f} s" in row
    assert f"{etl['python_lines_per_s']:,.0f} lines/s" in row
    assert f"{etl['duckdb_lines_per_s']:,.0f} lines/s" in row
    assert f"**{etl['speedup']:.1f}× faster**, same {etl['prediction_rows']:,} rows" in row
    row = " | ".join(table_rows("`GET /predict`, 1 client, 3 × 1,000 requests"))
    assert f"p50 {log['off']['p50_ms']:.2f} ms, p99 {log['off']['p99_ms']:.2f} ms" in row
    assert f"p50 {log['on']['p50_ms']:.2f} ms, p99 {log['on']['p99_ms']:.2f} ms" in row
    assert f"**+{log['p50_overhead'] * 100:.1f} %** on p50" in row
    gap = log["on"]["p50_ms"] - log["off"]["p50_ms"]
    assert f"the median request is {gap:.3f} ms slower" in CHAPTER.replace("\n", " ")
    row = " | ".join(table_rows("classify 1,000 descriptions in one `POST`, logging on"))
    raw = f"{batch['raw_fasttext_s'] * 1000:.0f} ms ({batch['raw_fasttext_rows_per_s']:,.0f}/s)"
    assert raw in row
    assert f"{batch['api_post_s'] * 1000:.0f} ms ({batch['api_rows_per_s']:,.0f}/s)" in row
    assert f"**{batch['ratio']:.2f}× raw fastText**" in row
    row = " | ".join(table_rows("sustained load, 60 s, 8 clients, logging on"))
    assert f"{load['requests']:,} requests, {load['predictions']:,} predictions" in row
    assert f"**{load['errors']} errors**" in row
    assert f"{load['log_lines']:,} log lines in {load['log_files']} rotated files" in row
    assert f"memory {load['rss_first_mb']:.0f} → {load['rss_last_mb']:.0f} MB" in row


def _percent(value: float, digits: int = 0) -> str:
    return f"{value * 100:.{digits}f} %"


@pytest.fixture(scope="module")
def history(trained, tmp_path_factory: pytest.TempPathFactory) -> dict:  # fasttext-test@champion
    """The chapter's default history (and a stable one) on the default model, through the ETL."""
    root = tmp_path_factory.mktemp("chapter4")
    out = {}
    for name, plan in {
        "changed": TrafficPlan(end=END),
        "stable": TrafficPlan(end=END, change_day=40),
    }.items():
        logs = root / name / "logs"
        report = simulate_traffic(plan, "fasttext-test", "champion", logs, status=lambda _: None)
        data = root / name / "monitoring"
        run_etl(logs, data, status=lambda _: None)
        out[name] = (report, data)
    return out


@pytest.mark.slow
def test_the_default_history_gives_the_chapter_s_figures(history) -> None:
    """Every figure is compared, and every difference reported at once."""
    report, data = history["changed"]
    wrong: list[str] = []

    def same(what: str, shown: object, computed: object) -> None:
        if shown != computed:
            wrong.append(f"{what}: the chapter says {shown!r}, the code gives {computed!r}")

    frame = queries.run("SELECT * FROM predictions", data)
    frame["day"] = pd.to_datetime(frame["date"].astype(str)).dt.date
    change = report.change_date
    assert change == date(2026, 11, 23)
    stable = frame[frame["day"] < change]
    full = frame[frame["day"] >= change + timedelta(days=2)]
    assert len(stable["day"].unique()) == 21 and len(full["day"].unique()) == 5
    mix = queries.run("daily_section_mix", data)
    mix["day"] = pd.to_datetime(mix["date"].astype(str)).dt.date

    def section_share(part: pd.DataFrame, section: str) -> float:
        days = mix[mix["day"].isin(set(part["day"]))]
        return days.loc[days["section"] == section, "predictions"].sum() / days["predictions"].sum()

    for cells, measure, digits in [
        ("answers with a top probability above 0.8", lambda p: (p["proba_1"] > 0.8).mean(), 0),
        ("answers below 0.5", lambda p: (p["proba_1"] < 0.5).mean(), 0),
        ("predicted in section H, transport", lambda p: section_share(p, "H"), 1),
        ("predicted in section G, trade", lambda p: section_share(p, "G"), 1),
        ("unknown words", lambda p: p["unknown_words"].sum() / p["words"].sum(), 1),
    ]:
        computed = [_percent(measure(stable), digits), _percent(measure(full), digits)]
        same(cells, table_rows(cells)[1:], computed)
    same(
        "mean description length",
        table_rows("mean description length")[1:],
        [
            f"{stable['text_chars'].mean():.0f} characters",
            f"{full['text_chars'].mean():.0f} characters",
        ],
    )

    from course_lib.data.preprocessing import fold

    words = full["text"].map(fold)
    juicers = full[words.str.contains("trot|juic|hunter", regex=True)]
    juicer_text = (
        f"juicers are {_percent(len(juicers) / len(full))} of the traffic. The model has never "
        f"seen the activity, and {_percent((juicers['proba_1'] < 0.5).mean())} of their answers "
        f"are below 0.5 (median {juicers['proba_1'].median():.2f})"
    )
    flat = CHAPTER.replace("\n", " ")
    if juicer_text not in flat:
        wrong.append(f"juicers: the code gives {juicer_text!r}")

    # the chapter's run logged model_name "fasttext", five characters fewer on every line
    renamed = (len("fasttext-test") - len("fasttext")) * (report.predictions + report.refused)
    size = (sum(f.stat().st_size for f in report.files) - renamed) / 1e6
    flat = CHAPTER.replace("\n", " ")
    volume = (
        f"writes about {round(report.predictions, -3):,.0f} predictions in "
        f"{round(report.requests, -3):,.0f} requests, {size:.0f} MB of logs"
    )
    if volume not in flat:
        wrong.append(f"volume: the code gives {volume!r}")

    drift = drift_report(data)
    table = drift.table
    table["day"] = table["date"].dt.date
    quiet = table[(table["status"] != "reference") & (table["day"] < change)]
    same("stable days after the reference", (len(quiet), set(quiet["status"])), (14, {"ok"}))
    for day in [date(2026, 11, d) for d in (20, 21, 22, 23, 24, 25, 29)]:
        got = table.set_index("day").loc[day]
        shown = next(r for r in CHAPTER.splitlines() if r.startswith(f"| {day:%a} {day.day} Nov"))
        cells = [c.strip() for c in shown.strip().strip("|").split("|")]  # "Mon 23 Nov, the…"
        computed = [
            f"{int(got['predictions']):,}",
            f"{got['psi']:.3f}",
            _percent(got["low_confidence_share"]),
            got["status"],
        ]
        same(str(day), cells[1:], computed)
    reference = f"({_percent(drift.reference.low_confidence_share)} in the reference week)"
    if reference not in flat:
        wrong.append(f"reference week: the code gives {reference!r}")
    first_over = table[(table["day"] >= change) & (table["psi"] > 0.1)]["day"].min()
    same("day the PSI crosses 0.1", first_over, change + timedelta(days=2))

    alert = evaluate_alerts(data, today=END + timedelta(days=1))
    (shown,) = re.findall(r"```\n(ALERT .*?)\n```", CHAPTER, flags=re.S)
    same("exit status", alert.exit_code, 1)
    same("alert line", shown.replace("\n", " "), alert.summary())

    _, stable_data = history["stable"]
    calm = evaluate_alerts(stable_data, today=END + timedelta(days=1))
    same("stable history", (calm.exit_code, calm.summary()[:15]), (0, f"OK {END}: "))
    assert not wrong, "\n".join(wrong)


def test_the_log_line_shown_is_what_the_api_writes() -> None:
    from datetime import UTC, datetime

    from course_lib.serving.log_records import Refused, Served, TextPolicy, json_line

    (shown,) = re.findall(r"```json\n(.*?)```", CHAPTER, flags=re.S)
    record = json.loads(shown.replace("\n", "").replace("6f1c…", "6f1c"))
    served = Served(
        request_id="6f1c",
        route="POST /predict",
        model_name="fasttext",
        model_version="3",
        texts=["taxi", "coiffure à domicile", "BOULANGERIE"],
        predictions=[[{"nace": "4932Z", "probability": 0.97}]] * 3,
        latency_ms=2.41,
        timestamp=datetime(2026, 11, 30, 9, 14, 2, 123000, tzinfo=UTC),
    )
    line = served.records(TextPolicy.RAW, lambda text: (1, 0))[0]
    assert json_line(line) == json_line(record)
    refused = Refused("6f1c", "POST /predict", 422, "descriptions: empty", "fasttext", "3", 1.0)
    (line,) = refused.records(TextPolicy.RAW)
    assert line["event"] == "refused" and {"status", "reason"} <= set(line) and "text" not in line


def test_the_columns_listed_are_the_prediction_dataset_s() -> None:
    from course_lib.monitoring.datasets import PARTITION, PREDICTION_COLUMNS

    flat = CHAPTER.replace("\n", " ")
    (listed,) = re.findall(r"with the ranked codes spread out: `([^`]*)`", flat)
    names = [n.strip() for n in listed.split(",") if n.strip() != "…"]
    shown = set(names) | {f"{kind}_{k}" for kind in ("prediction", "proba") for k in (2, 3, 4)}
    assert shown == set(PREDICTION_COLUMNS)
    assert f"and the partition column `{PARTITION}`" in flat


def test_the_reject_kinds_table_is_the_etl_s() -> None:
    from course_lib.monitoring.log_lines import MAX_LINE_BYTES, Reject

    assert {kind.value for kind in Reject} == {
        kind.strip("`") for kind in (table_rows(f"`{k.value}`")[0] for k in Reject)
    }
    assert table_rows("`too_long`")[1].startswith(f"more than {MAX_LINE_BYTES // 1_000_000} MB")
    header = next(
        i for i, line in enumerate(CHAPTER.splitlines()) if line == "| kind | what it is |"
    )
    rows = CHAPTER.splitlines()[header + 2 : header + 2 + len(Reject) + 1]
    assert sum(1 for row in rows if row.startswith("| `")) == len(Reject)
