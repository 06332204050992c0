"""The benchmark command runs and reports (figures are not asserted: machines vary).

What is asserted is what must hold on any machine: identical outputs where the
fast path claims them, the batch faster than a request per row, no errors.
"""

import json
import os
import shutil
import subprocess

import pytest

from tests.conftest import SMALL

pytestmark = pytest.mark.slow  # trains models, then loads a real API


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
