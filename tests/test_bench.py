"""The benchmark command runs and reports (figures are not asserted: machines vary)."""

import json
import os
import shutil
import subprocess


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
    assert 0 < scores["real_rows_in_lexicon_verbatim"] < 212
    assert scores["baseline_labels_and_notes_on_real"]["training_rows"] > 4_000
    spread = results["real_accuracy_over_seeds"]
    assert set(spread["per_seed"]) == {"0", "1"}
    for key, low in spread["min"].items():
        assert low <= spread["mean"][key] <= spread["max"][key]
    assert "real accuracy over corpus seeds 0–1" in out.stdout
