"""The benchmark command runs and reports (figures are not asserted: machines vary).

What is asserted is what must hold on any machine: identical outputs where the
fast path claims them, the batch faster than a request per row, no errors.
The server-less parts of the monitoring suite (its generated logs, the ETL
comparison, every verdict, the table and the command's dispatch) run in the
quick loop; each comparison is shown failing on an injected fault.
"""

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console
from typer.testing import CliRunner

from course_lib.bench import monitoring, monitoring_api, monitoring_etl, monitoring_load, suites
from course_lib.cli import app
from course_lib.errors import CourseError
from course_lib.serving.log_records import SCHEMA
from tests.conftest import SMALL


@pytest.mark.slow  # trains models
def test_bench_prints_a_table_and_writes_json(tmp_path):
    output = tmp_path / "bench.json"
    env = {**os.environ, "COURSE_STATE_DIR": str(tmp_path / "state"), "COLUMNS": "160"}
    out = subprocess.run(
        [shutil.which("course"), "bench", "--rows", "3000", "--preprocess-rows", "500",
         "--seeds", "2", "--output", str(output)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert "apply + nltk" in out.stdout and "raw fastText" in out.stdout
    results = json.loads(output.read_text())
    assert results["preprocessing"]["identical_output"] is True
    assert results["preprocessing"]["descriptions"] == 500
    assert results["wrapper"]["overhead"] > 0 and results["training"]["peak_rss_mb"] > 0
    scores = results["accuracy"]
    assert set(scores["real_sirene_212"]) == set(scores["held_out_synthetic"])
    assert scores["real_rows"] == 212
    assert 0 < scores["real_rows_in_lexicon_verbatim"] < scores["real_rows"]
    assert scores["baseline_labels_and_notes_on_real"]["training_rows"] > 4_000
    spread = results["real_accuracy_over_seeds"]
    assert set(spread["per_seed"]) == {"0", "1"}
    for key, low in spread["min"].items():
        assert low <= spread["mean"][key] <= spread["max"][key]
    assert "real accuracy over corpus seeds 0–1" in out.stdout


@pytest.mark.slow  # a real API
def test_serving_bench_compares_get_per_row_with_batch_post(small_model, tmp_path):
    """A short run of `course bench --suite serving` against the session's registry."""
    output = tmp_path / "serving.json"
    env = {**os.environ, "COLUMNS": "160"}
    out = subprocess.run(
        [shutil.which("course"), "bench", "--suite", "serving", "--model", SMALL.model_name,
         "--endurance-seconds", "3", "--requests", "40", "--output", str(output)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert "GET per row" in out.stdout and "1 POST" in out.stdout
    results = json.loads(output.read_text())
    flow = results["throughput"]
    assert flow["descriptions"] == 1_000 and flow["same_predictions"] is True
    # one POST of 1,000 rows against 1,000 GETs: the batch must win on any machine
    assert flow["batch_post_s"] < flow["get_per_row_s"] and flow["speedup"] > 1
    assert [p["clients"] for p in results["latency"]] == [1, 8]
    assert all(p["errors"] == 0 and p["p50_ms"] <= p["p99_ms"] for p in results["latency"])
    endurance = results["endurance"]
    assert endurance["errors"] == 0 and endurance["requests"] > 0
    assert endurance["memory_samples"] >= 2 and endurance["rss_first_mb"] > 50


# -- the monitoring suite -------------------------------------------------------------------------


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[│┃┡━┩└┘┌┐─┏┓┗┛╇╈╋┼├┤┬┴╭╮╰╯]", " ", text).split())


def test_generated_lines_are_the_api_s_records_in_rotated_files(tmp_path):
    lines = list(monitoring_etl.log_lines(3_000, ["BOULANGERIE", "TAXI"], ["1071C", "4932Z"]))
    assert len(lines) == 3_000 and all(line.endswith("\n") for line in lines)
    records = [json.loads(line) for line in lines]
    assert {r["schema"] for r in records} == {SCHEMA}
    events = [r["event"] for r in records]
    assert events.count("refused") > 0 and events.count("prediction") > 2_900
    predictions = [r for r in records if r["event"] == "prediction"]
    assert {len(r["predictions"]) for r in predictions} == {1, 2}  # k capped by the two codes
    assert max(r["batch_size"] for r in predictions) > 20  # batches of mixed sizes
    days = {r["timestamp"][:10] for r in records}
    assert 3 < len(days) <= monitoring_etl.DAYS  # a week (a big batch may span a day)
    assert lines == list(
        monitoring_etl.log_lines(3_000, ["BOULANGERIE", "TAXI"], ["1071C", "4932Z"])
    )

    paths = monitoring_etl.write_log_files(tmp_path, iter(lines), lines_per_file=1_000)
    assert [p.name for p in paths] == ["predictions.jsonl.2", "predictions.jsonl.1",
                                       "predictions.jsonl"]  # fmt: skip
    assert b"".join(p.read_bytes() for p in paths) == "".join(lines).encode()
    assert not list(tmp_path.glob(".part-*"))


@pytest.fixture
def small_logs(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    texts = ["BOULANGERIE PATISSERIE", "TAXI", "conseil en informatique", "Coiffure à domicile"]
    codes = ["1071C", "4932Z", "6202A", "9602A", "5610A"]
    lines = monitoring_etl.log_lines(2_000, texts, codes, refused_share=0.2)
    monitoring_etl.write_log_files(folder, lines, lines_per_file=700)
    return folder


def _python_etl_altered(change):
    """The plain path with ``change`` applied to its parsed rows before they are written."""

    def etl(folder: Path, out: Path) -> None:
        from course_lib.monitoring.etl_baseline import parse_lines_python, write_parquet_python

        parsed = parse_lines_python(monitoring_etl.log_files(folder))
        write_parquet_python(change(parsed), out)

    return etl


def test_etl_comparison_finds_the_same_rows_on_both_paths(small_logs):
    result = monitoring_etl.bench_etl(small_logs, repeat=1)
    assert result["lines"] == 2_000 and result["files"] == 3
    assert result["same_rows"] is True and result["difference"] is None
    assert 1_500 < result["prediction_rows"] < 2_000  # the rest are refusals
    assert result["speedup"] == pytest.approx(result["python_s"] / result["duckdb_s"])


def _drop_a_row(parsed):
    return replace(parsed, predictions=parsed.predictions.slice(1))


def _change_a_probability(parsed):
    table = parsed.predictions
    probabilities = table.column("proba_1").to_pylist()
    probabilities[0] = 0.5 if probabilities[0] != 0.5 else 0.25
    index = table.schema.get_field_index("proba_1")
    return replace(parsed, predictions=table.set_column(index, "proba_1", [probabilities]))


def _lose_the_refusals(parsed):
    return replace(parsed, refused=parsed.refused.slice(0, 0))


@pytest.mark.parametrize("change", [_drop_a_row, _change_a_probability, _lose_the_refusals])
def test_etl_comparison_reports_rows_that_differ(small_logs, change):
    result = monitoring_etl.bench_etl(small_logs, simple=_python_etl_altered(change), repeat=1)
    assert result["same_rows"] is False and result["difference"]
    table = _render(suites.monitoring_table(_results(etl=result)))
    assert "ROWS DIFFER" in table and "same rows: MISSED" in table


def test_latency_verdict():
    def rounds(p50: float, p99: float, errors: int = 0) -> list[dict]:
        return [{"requests": 100, "errors": errors, "p50_ms": p50, "p99_ms": p99}] * 3

    fine = monitoring_api.latency_comparison(rounds(1.30, 4.0), rounds(1.36, 4.4))
    assert fine["p50_overhead"] == pytest.approx(1.36 / 1.30 - 1)
    assert fine["meets_target"] is True
    assert (
        monitoring_api.latency_comparison(rounds(1.3, 4), rounds(1.5, 4))["meets_target"] is False
    )
    slow_both = monitoring_api.latency_comparison(rounds(2.5, 6), rounds(2.5, 6))
    assert slow_both["p50_overhead"] == 0 and slow_both["meets_target"] is False  # > 2 ms
    failing = monitoring_api.latency_comparison(rounds(1.3, 4), rounds(1.3, 4, errors=1))
    assert failing["meets_target"] is False


def test_latency_takes_the_median_of_rounds():
    off = [{"requests": 9, "errors": 0, "p50_ms": v, "p99_ms": 2 * v} for v in (1.0, 9.0, 1.2)]
    on = [{"requests": 9, "errors": 0, "p50_ms": v, "p99_ms": 2 * v} for v in (1.1, 1.0, 7.0)]
    result = monitoring_api.latency_comparison(off, on)
    assert result["off"]["p50_ms"] == 1.2 and result["on"]["p50_ms"] == 1.1
    assert result["rounds"] == 3 and result["requests"] == 9


def test_batch_verdict():
    result = monitoring_api.batch_comparison(0.050, 0.030, 0.032, 0.036, 1_000, True)
    assert result["ratio"] == pytest.approx(0.6) and result["meets_target"] is True
    assert result["api_rows_per_s"] == pytest.approx(20_000)
    assert monitoring_api.batch_comparison(0.050, 0.020, 0.022, 0.03, 1_000, True)[
        "meets_target"
    ] is False  # 0.4x  # fmt: skip
    differ = monitoring_api.batch_comparison(0.050, 0.030, 0.032, 0.036, 1_000, False)
    assert differ["meets_target"] is False
    assert "PREDICTIONS DIFFER" in _render(suites.monitoring_table(_results(batch=differ)))


def _write_log(folder: Path, lines: list[str], per_file: int) -> None:
    folder.mkdir(exist_ok=True)
    monitoring_etl.write_log_files(folder, lines, lines_per_file=per_file)


def _served_lines(n: int) -> list[str]:
    return list(monitoring_etl.log_lines(n, ["TAXI"], ["4932Z"], seed=1))


def _load(predictions: int, errors: int = 0, growth: float = 0.01) -> dict:
    return {"predictions": predictions, "errors": errors, "rss_growth": growth}


def test_log_lines_counted_across_rotated_files_match_the_predictions(tmp_path):
    lines = [line for line in _served_lines(2_500) if '"event":"prediction"' in line]
    _write_log(tmp_path, lines, per_file=400)
    count = monitoring_load.count_log_lines(tmp_path)
    assert count.files == -(-len(lines) // 400) and count.lines == len(lines)
    assert count.predictions == len(lines) and count.unreadable == 0
    verdict = monitoring_load.endurance_verdict(_load(len(lines)), count, len(lines), backups=100)
    assert verdict["lines_equal_predictions"] is True and verdict["rotated"] is True
    assert verdict["meets_target"] is True


def test_a_lost_or_foreign_line_breaks_lines_equal_predictions(tmp_path):
    lines = [line for line in _served_lines(1_000) if '"event":"prediction"' in line]
    _write_log(tmp_path / "lost", lines[1:], per_file=300)
    lost = monitoring_load.count_log_lines(tmp_path / "lost")
    verdict = monitoring_load.endurance_verdict(_load(len(lines)), lost, len(lines), backups=100)
    assert verdict["lines_equal_predictions"] is False and verdict["meets_target"] is False

    _write_log(tmp_path / "foreign", [*lines[1:], "INFO: Shutting down\n"], per_file=300)
    foreign = monitoring_load.count_log_lines(tmp_path / "foreign")
    assert foreign.lines == len(lines) and foreign.unreadable == 1
    verdict = monitoring_load.endurance_verdict(_load(len(lines)), foreign, len(lines), backups=100)
    assert verdict["lines_equal_predictions"] is False


def test_endurance_verdict_fails_on_errors_memory_growth_or_files_deleted(tmp_path):
    lines = [line for line in _served_lines(500) if '"event":"prediction"' in line]
    _write_log(tmp_path, lines, per_file=100)
    count = monitoring_load.count_log_lines(tmp_path)
    n, verdict = len(lines), monitoring_load.endurance_verdict
    assert verdict(_load(n), count, n, backups=10)["meets_target"] is True
    assert verdict(_load(n, errors=1), count, n, backups=10)["meets_target"] is False
    assert verdict(_load(n, growth=0.5), count, n, backups=10)["meets_target"] is False
    # as many files as backups + 1 means rotation may have deleted the oldest
    assert verdict(_load(n), count, n, backups=2)["meets_target"] is False


def test_stdout_records_are_counted_among_uvicorn_lines(tmp_path):
    lines = _served_lines(50)
    log = tmp_path / "api.log"
    log.write_text("INFO:     Started server process [1]\n" + "".join(lines) + "INFO: done\n")
    assert monitoring_load.count_stdout_records(log) == 50
    assert monitoring_load.count_stdout_records(tmp_path / "missing.log") == 0


def test_best_of_each_takes_turns_and_keeps_the_fastest():
    calls: list[str] = []
    timings = iter([0.02, 0.0, 0.0, 0.01])

    def sleeper(name: str):
        def run() -> str:
            calls.append(name)
            time.sleep(next(timings))
            return name

        return run

    best = monitoring_api.best_of_each(2, {"a": sleeper("a"), "b": sleeper("b")})
    assert calls == ["a", "b", "a", "b"]
    assert best["a"][1] == "a" and best["a"][0] < 0.015 and best["b"][0] < 0.015


class _Pyfunc:
    def __init__(self, inner=None, fails: bool = False) -> None:
        self.inner, self.fails = inner, fails

    def unwrap_python_model(self):
        if self.fails:
            raise ValueError("not a python_model flavour")
        return SimpleNamespace(model=self.inner)


@pytest.mark.parametrize(
    "pyfunc", [_Pyfunc(fails=True), _Pyfunc(inner=None), _Pyfunc(inner=SimpleNamespace(predict=1))]
)
def test_a_model_that_is_not_fasttext_is_named(pyfunc):
    with pytest.raises(CourseError, match="models:/baseline/1 is not a fastText model"):
        monitoring_api.fasttext_of(pyfunc, "models:/baseline/1")


def test_the_fasttext_model_inside_the_pyfunc_is_returned():
    inner = SimpleNamespace(predict=lambda texts, k: None, get_labels=lambda: [])
    assert monitoring_api.fasttext_of(_Pyfunc(inner=inner), "models:/fasttext/1") is inner


def _results(**parts) -> dict:
    """Results of the suite as the JSON holds them, every target met unless a part is given."""
    rounds = [{"requests": 1_000, "errors": 0, "p50_ms": 1.3, "p99_ms": 4.0}] * 3
    on = [{"requests": 1_000, "errors": 0, "p50_ms": 1.35, "p99_ms": 4.1}] * 3
    load = {
        "seconds": 60.0, "clients": 8, "requests": 30_000, "gets": 15_000, "posts": 15_000,
        "predictions": 170_000, "errors": 0, "error_kinds": [], "requests_per_s": 500.0,
        "predictions_per_s": 2_833.0, "p99_ms": 40.0, "rss_first_mb": 350.0,
        "rss_last_mb": 352.0, "rss_growth": 0.006, "memory_samples": 60,
    }  # fmt: skip
    count = monitoring_load.LogCount(files=17, lines=170_000, predictions=170_000, refused=0,
                                unreadable=0)  # fmt: skip
    results = {
        "machine": monitoring.machine(),
        "targets": suites.MONITORING_TARGETS,
        "model_uri": "models:/fasttext/3",
        "etl": {
            "lines": 1_000_000,
            "files": 10,
            "prediction_rows": 995_000,
            "python_s": 100.0,
            "duckdb_s": 5.0,
            "python_lines_per_s": 10_000.0,
            "duckdb_lines_per_s": 200_000.0,
            "speedup": 20.0,
            "same_rows": True,
            "difference": None,
            "meets_target": True,
        },
        "logging_latency": monitoring_api.latency_comparison(rounds, on),
        "batch": monitoring_api.batch_comparison(0.045, 0.029, 0.031, 0.036, 1_000, True),
        "endurance": monitoring_load.endurance_verdict(load, count, 170_000, backups=1_000),
    }
    results.update(parts)
    return results


def _render(table) -> str:
    console = Console(width=250, record=True)
    console.print(table)
    return _plain(console.export_text())


def test_monitoring_table_and_summary():
    results = _results()
    table = _render(suites.monitoring_table(results))
    for text in ("json.loads + json_normalize", "DuckDB", "20.0x faster", "logging off",
                 "logging on", "+3.8%", "raw fastText", "0.64x", "1 POST",
                 "170,000 log lines in 17 files", "350 → 352 MB"):  # fmt: skip
        assert text in table, text
    assert "MISSED" not in table and table.count(": met") == 4
    summary = suites.monitoring_summary(results, Path("benchmarks/monitoring.json"))
    assert "ETL 20.0x faster" in summary and "+3.8% to GET p50" in summary
    assert "170,000 log lines for 170,000 predictions" in summary
    assert "4 of 4 targets met" in summary and summary.endswith("benchmarks/monitoring.json")


def test_monitoring_command_prints_the_table_and_writes_the_json(monkeypatch, tmp_path):
    asked = {}

    def fake(model, version, etl_lines, latency_requests, endurance_s, log_max_bytes, status):
        asked.update(model=model, version=version, etl_lines=etl_lines,
                     latency_requests=latency_requests, endurance_s=endurance_s,
                     log_max_bytes=log_max_bytes)  # fmt: skip
        status("benchmarking…")
        return _results()

    monkeypatch.setattr(monitoring, "benchmark_registered", fake)
    output = tmp_path / "monitoring.json"
    result = CliRunner().invoke(
        app,
        ["bench", "--suite", "monitoring", "--model", "m", "--version", "2", "--etl-lines", "500",
         "--requests", "40", "--endurance-seconds", "3", "--log-max-bytes", "20000",
         "--output", str(output)],
        env={"COLUMNS": "250"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert asked == {"model": "m", "version": "2", "etl_lines": 500, "latency_requests": 40,
                     "endurance_s": 3.0, "log_max_bytes": 20_000}  # fmt: skip
    assert json.loads(output.read_text()) == json.loads(json.dumps(_results()))
    text = _plain(result.output)
    assert "monitoring benchmarks" in text and "raw fastText" in text
    assert f"4 of 4 targets met; JSON in {output}" in text


def test_only_the_monitoring_suite_takes_a_version():
    result = CliRunner().invoke(app, ["bench", "--suite", "serving", "--version", "2"])
    assert result.exit_code == 2
    assert "only --suite monitoring takes a version" in _plain(result.output)


@pytest.mark.slow  # three real APIs
def test_monitoring_bench_runs_end_to_end(small_model, tmp_path):
    """A short `course bench --suite monitoring` against the session's registry."""
    output = tmp_path / "monitoring.json"
    env = {**os.environ, "COLUMNS": "250"}
    out = subprocess.run(
        [shutil.which("course"), "bench", "--suite", "monitoring", "--model", SMALL.model_name,
         "--etl-lines", "3000", "--requests", "40", "--endurance-seconds", "3",
         "--log-max-bytes", "20000", "--output", str(output)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:] + out.stdout[-3000:]
    text = _plain(out.stdout)
    assert "json.loads + json_normalize" in text and "logging on" in text
    assert f"JSON in {output}" in text
    results = json.loads(output.read_text())
    etl = results["etl"]
    assert etl["lines"] == 3_000 and etl["same_rows"] is True and etl["prediction_rows"] > 2_900
    latency = results["logging_latency"]
    assert latency["rounds"] == 3 and latency["requests"] == 40
    for side in ("off", "on"):
        assert latency[side]["errors"] == 0 and latency[side]["p50_ms"] <= latency[side]["p99_ms"]
    batch = results["batch"]
    assert batch["descriptions"] == 1_000 and batch["same_predictions"] is True
    load = results["endurance"]
    assert load["errors"] == 0 and load["predictions"] > load["requests"] > 0
    assert load["gets"] > 0 and load["posts"] > 0
    # every prediction answered is one line, across rotated files, after SIGTERM drained the log
    assert load["lines_equal_predictions"] is True and load["log_lines"] == load["predictions"]
    assert load["rotated"] is True and load["log_files"] > 2
    assert load["stdout_records"] == load["log_lines"] and "server_log" not in load
    assert load["memory_samples"] >= 2 and load["rss_first_mb"] > 50
    assert results["model_uri"].startswith(f"models:/{SMALL.model_name}/")


@pytest.mark.slow  # trains 11 small models in worker processes
def test_search_bench_compares_one_worker_with_two_and_a_plain_loop(tmp_path):
    output = tmp_path / "search.json"
    env = {**os.environ, "COLUMNS": "160"}
    env.pop("MLFLOW_TRACKING_URI", None)  # the suite starts its own server on its own folder
    out = subprocess.run(
        [shutil.which("course"), "bench", "--suite", "search", "--rows", "3000",
         "--grid-sizes", "2,3", "--output", str(output)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    results = json.loads(output.read_text())
    one, two = results["one_worker"], results["two_workers"]
    assert one["configurations"] == two["configurations"] == 2 and two["workers"] == 2
    assert results["speedup"] == pytest.approx(one["seconds"] / two["seconds"])
    assert [g["configurations"] for g in results["growth"]] == [2, 3]
    assert all(g["failed"] == 0 for g in [one, *results["growth"]])
    loop = results["plain_loop"]
    overhead = (one["seconds"] - loop["seconds"]) / 2
    assert results["runner_overhead_per_run_s"] == pytest.approx(overhead)
    ceiling = results["machine_ceiling"]
    assert ceiling["ceiling"] == pytest.approx(
        2 * ceiling["one_process_s"] / ceiling["two_processes_s"]
    )
    assert results["efficiency"] == pytest.approx(results["speedup"] / ceiling["ceiling"])
    assert "1 worker vs 2" in out.stdout and "View run" not in out.stdout


def test_search_table_and_summary_show_the_verdict():
    growth = [
        {"configurations": 4, "workers": 2, "seconds": 50.0, "seconds_per_configuration": 12.5}
    ]
    results = {
        "rows": 50_000, "plain_loop": {"seconds": 80.0, "configurations": 4},
        "one_worker": {"seconds": 90.0, "configurations": 4, "workers": 1},
        "two_workers": growth[0], "growth": growth, "speedup": 1.8, "speedup_target": 1.6,
        "meets_target": True, "runner_overhead_per_run_s": 2.5,
        "machine_ceiling": {"one_process_s": 2.0, "two_processes_s": 2.1, "ceiling": 1.9},
        "efficiency": 1.8 / 1.9, "efficiency_target": 0.85, "meets_efficiency_target": True,
    }  # fmt: skip
    console = Console(width=200, record=True)
    console.print(suites.search_table(results))
    text = console.export_text()
    assert "1.80x faster" in text and ">= 1.6x: met" in text and "+2.5 s per run" in text
    assert "1.90x: the ceiling" in text and "95% of it" in text and ">= 85%: met" in text
    summary = suites.search_summary(results | {"meets_target": False}, Path("x.json"))
    assert "MISSED" in summary and "4: 12.5 s" in summary


@pytest.mark.parametrize("sizes", ["", "4,x", "0,4", "4,500"])
def test_search_bench_refuses_grid_sizes_it_cannot_run(sizes):
    result = CliRunner().invoke(app, ["bench", "--suite", "search", "--grid-sizes", sizes])
    assert result.exit_code == 2 and "--grid-sizes" in result.output
