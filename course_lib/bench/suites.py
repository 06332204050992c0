"""The benchmark suites as ``course bench`` runs them: names, defaults, tables, JSON.

The suites (:mod:`course_lib.bench.model`, :mod:`course_lib.bench.serving`,
:mod:`course_lib.bench.tracking`, :mod:`course_lib.bench.monitoring`) return
plain dictionaries, which is what the JSON holds; this module turns them
into the tables the command prints, so the command only prints and the figures
quoted in the README come from one place.  It imports no suite, so the command
line loads fast.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

from rich.table import Table


class Suite(StrEnum):
    """The benchmark suites and the JSON file each writes by default."""

    model = "model"
    serving = "serving"
    tracking = "tracking"
    monitoring = "monitoring"
    search = "search"

    @property
    def default_output(self) -> Path:
        return Path("benchmarks") / ("results.json" if self is Suite.model else f"{self}.json")


PREPROCESS_ROWS = 100_000
"""Descriptions cleaned by both paths in the preprocessing benchmark."""
SEEDS = 3
"""Corpus seeds for the spread of real-row accuracy."""
ENDURANCE_S = 60.0
LATENCY_REQUESTS = 1_000
"""GETs per latency measurement (shared among the clients)."""

ETL_LINES = 1_000_000
"""Log lines parsed by both ETL paths in the monitoring benchmark."""
LOG_MAX_BYTES = 5_000_000
"""Size at which the API's log file rotates during the monitoring suite's sustained load."""
MONITORING_TARGETS: dict[str, float] = {
    "etl_speedup_min": 10.0,
    "logging_p50_overhead_max": 0.10,
    "logging_p50_max_ms": 2.0,
    "batch_ratio_min": 0.5,
    "rss_growth_max": 0.10,
}
"""What each monitoring comparison must reach (the table's last column, ``meets_target``)."""

SEARCH_ROWS = 50_000
"""Corpus of the search suite: each training takes seconds, not the minute of the default."""
SEARCH_SIZES = (4, 8, 16)
"""Grid sizes the search suite times with 2 workers (the first is also run with 1)."""

COMPARISON_COLUMNS = ("what", "simple approach", "course_lib", "ratio", "target")


def save(results: dict[str, Any], output: Path) -> Path:
    """Write the results as indented JSON (the file the README's figures come from)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    return output


def _comparison(title: str) -> Table:
    table = Table(title=title)
    for column in COMPARISON_COLUMNS:
        table.add_column(column)
    return table


def model_tables(results: dict[str, Any]) -> list[Table]:
    """Speed next to the simple approach, then accuracy: synthetic vs real rows."""
    pre, wrap, fit = results["preprocessing"], results["wrapper"], results["training"]
    speed = _comparison("benchmarks (best of repeated runs; ratios matter, not seconds)")
    speed.add_row(
        f"clean {pre['descriptions']:,} descriptions", f"{pre['reference_s']:.2f} s (apply + nltk)",
        f"{pre['fast_s']:.2f} s", f"{pre['speedup']:.1f}x faster"
        + ("" if pre["identical_output"] else " (OUTPUT DIFFERS)"), ">= 10x, identical",
    )  # fmt: skip
    speed.add_row(
        f"predict {wrap['descriptions']:,} descriptions",
        f"{wrap['raw_fasttext_s']:.3f} s (raw fastText)",
        f"{wrap['wrapper_s']:.3f} s (wrapper)", f"{wrap['overhead']:.2f}x", "<= 1.3x",
    )  # fmt: skip
    speed.add_row(
        f"train on {fit['rows']:,} rows ({fit['loss']})", "",
        f"{fit['train_s']:.1f} s + {fit['clean_s']:.1f} s cleaning",
        f"peak {fit['peak_rss_mb']:.0f} MB", "< 60 s",
    )  # fmt: skip
    scores = results["accuracy"]
    real_rows = scores["real_rows"]
    unseen = real_rows - scores["real_rows_in_lexicon_verbatim"]
    accuracy = Table(title=f"accuracy: synthetic held-out split vs {real_rows} real Sirene rows")
    columns = ("metric", "held-out", "real", f"real, not in lexicon ({unseen})", "baseline, real")
    for column in columns:
        accuracy.add_column(column, justify="right")
    synthetic, real = scores["held_out_synthetic"], scores["real_sirene_212"]
    for key in synthetic:
        accuracy.add_row(
            key, f"{synthetic[key]:.3f}", f"{real[key]:.3f}",
            f"{scores['real_not_in_lexicon'][key]:.3f}",
            f"{scores['baseline_labels_and_notes_on_real'][key]:.3f}",
        )  # fmt: skip
    return [speed, accuracy]


def model_notes(results: dict[str, Any]) -> list[str]:
    """What the accuracy columns are, and the spread over corpus seeds."""
    spread = results["real_accuracy_over_seeds"]
    seeds = sorted(spread["per_seed"], key=int)
    return [
        "held-out: synthetic test split; real: the 212 Sirene rows; baseline: fastText "
        "trained on official labels and note items only, scored on the real rows.",
        f"real accuracy over corpus seeds {seeds[0]}–{seeds[-1]}: "
        + ", ".join(
            f"{key} {spread['mean'][key]:.3f} ({spread['min'][key]:.3f}–{spread['max'][key]:.3f})"
            for key in ("accuracy_subclass", "accuracy_section", "top5_accuracy_subclass")
        ),
    ]


def model_summary(results: dict[str, Any], output: Path) -> str:
    pre, wrap, fit = results["preprocessing"], results["wrapper"], results["training"]
    real = results["accuracy"]["real_sirene_212"]
    return (
        f"preprocessing {pre['speedup']:.1f}x faster, wrapper overhead {wrap['overhead']:.2f}x, "
        f"training {fit['train_s']:.1f} s; real subclass accuracy {real['accuracy_subclass']:.3f}; "
        f"JSON in {output}"
    )


def serving_table(results: dict[str, Any]) -> Table:
    """Batch POST vs GET per row, latency at 1 and 8 clients, sustained load."""
    flow, endurance = results["throughput"], results["endurance"]
    table = _comparison("serving benchmarks (uvicorn on loopback; ratios matter, not seconds)")
    table.add_row(
        f"classify {flow['descriptions']:,} descriptions",
        f"{flow['get_per_row_s']:.2f} s (GET per row, {flow['get_per_row_rows_per_s']:,.0f}/s)",
        f"{flow['batch_post_s']:.3f} s (1 POST, {flow['batch_post_rows_per_s']:,.0f}/s)",
        f"{flow['speedup']:.0f}x faster"
        + ("" if flow["same_predictions"] else " (PREDICTIONS DIFFER)"),
        ">= 20x",
    )
    for point in results["latency"]:
        table.add_row(
            f"GET /predict, {point['clients']} client(s)", f"{point['requests']} requests",
            f"p50 {point['p50_ms']:.1f} ms, p99 {point['p99_ms']:.1f} ms",
            f"{point['requests_per_s']:,.0f} req/s", f"{point['errors']} errors",
        )  # fmt: skip
    table.add_row(
        f"sustained load, {endurance['seconds']:.0f} s, {endurance['clients']} clients",
        f"{endurance['requests']:,} requests",
        f"{endurance['errors']} errors, p99 {endurance['p99_ms']:.1f} ms",
        f"memory {endurance['rss_first_mb']:.0f} → {endurance['rss_last_mb']:.0f} MB "
        f"({endurance['rss_growth']:+.1%})",
        "0 errors, flat memory",
    )
    return table


def serving_summary(results: dict[str, Any], output: Path) -> str:
    flow, endurance = results["throughput"], results["endurance"]
    return (
        f"batch POST {flow['speedup']:.0f}x the throughput of GET per row; "
        f"{endurance['errors']} errors in {endurance['requests']:,} requests under load; "
        f"JSON in {output}"
    )


def tracking_table(results: dict[str, Any]) -> Table:
    """MLflow's default server vs the course's: start-up, processes, memory."""
    default, course = results["mlflow_default"], results["course"]
    table = _comparison("tracking server (fresh state folder; ratios matter, not seconds)")
    table.add_row(
        "time until /health answers",
        f"{default['healthy_s']:.1f} s (first start {default['first_start_healthy_s']:.1f} s)",
        f"{course['healthy_s']:.1f} s (first start {course['first_start_healthy_s']:.1f} s)",
        f"{results['startup_ratio']:.1f}x faster",
        "",
    )
    table.add_row(
        "memory of the server's processes",
        f"{default['rss_mb']:,.0f} MB ({default['processes']} processes)",
        f"{course['rss_mb']:,.0f} MB ({course['processes']} processes)",
        f"{results['memory_ratio']:.1f}x less",
        "< 600 MB",
    )
    return table


def tracking_summary(results: dict[str, Any], output: Path) -> str:
    course = results["course"]
    return (
        f"the course's server: {course['rss_mb']:,.0f} MB in {course['processes']} processes, "
        f"{results['memory_ratio']:.1f}x less than MLflow's default, healthy in "
        f"{course['healthy_s']:.1f} s; JSON in {output}"
    )


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def monitoring_table(results: dict[str, Any]) -> Table:
    """The ETL against plain Python; the API with its prediction log against without it."""
    etl, latency = results["etl"], results["logging_latency"]
    batch, load = results["batch"], results["endurance"]
    targets = results["targets"]
    off, on = latency["off"], latency["on"]
    table = _comparison("monitoring benchmarks (ratios matter, not seconds)")
    table.add_row(
        f"ETL of {etl['lines']:,} log lines in {etl['files']} file"
        + ("s" if etl["files"] != 1 else ""),
        f"{etl['python_s']:.1f} s (json.loads + json_normalize, "
        f"{etl['python_lines_per_s']:,.0f} lines/s)",
        f"{etl['duckdb_s']:.1f} s (DuckDB, {etl['duckdb_lines_per_s']:,.0f} lines/s)",
        f"{etl['speedup']:.1f}x faster" + ("" if etl["same_rows"] else " (ROWS DIFFER)"),
        f">= {targets['etl_speedup_min']:.0f}x, same rows: {_verdict(etl['meets_target'])}",
    )
    table.add_row(
        f"GET /predict, 1 client, {latency['rounds']} x {latency['requests']:,} requests",
        f"logging off: p50 {off['p50_ms']:.2f} ms, p99 {off['p99_ms']:.1f} ms",
        f"logging on: p50 {on['p50_ms']:.2f} ms, p99 {on['p99_ms']:.1f} ms",
        f"p50 {latency['p50_overhead']:+.1%}, p99 {latency['p99_overhead']:+.1%}",
        f"p50 < +{targets['logging_p50_overhead_max']:.0%} and "
        f"< {targets['logging_p50_max_ms']:.0f} ms: {_verdict(latency['meets_target'])}",
    )
    table.add_row(
        f"classify {batch['descriptions']:,} descriptions, logging on",
        f"{batch['raw_fasttext_s'] * 1000:.0f} ms raw fastText "
        f"({batch['raw_fasttext_rows_per_s']:,.0f}/s; with cleaning "
        f"{batch['clean_and_fasttext_s'] * 1000:.0f} ms)",
        f"{batch['api_post_s'] * 1000:.0f} ms (1 POST, {batch['api_rows_per_s']:,.0f}/s)",
        f"{batch['ratio']:.2f}x raw fastText"
        + ("" if batch["same_predictions"] else " (PREDICTIONS DIFFER)"),
        f">= {targets['batch_ratio_min']}x: {_verdict(batch['meets_target'])}",
    )
    table.add_row(
        f"sustained load, {load['seconds']:.0f} s, {load['clients']} clients, logging on",
        f"{load['requests']:,} requests (GET + POST of 1-20), "
        f"{load['predictions']:,} predictions answered",
        f"{load['errors']} errors; {load['log_lines']:,} log lines in {load['log_files']} files",
        f"memory {load['rss_first_mb']:.0f} → {load['rss_last_mb']:.0f} MB "
        f"({load['rss_growth']:+.1%})",
        f"0 errors, flat memory, lines = predictions: {_verdict(load['meets_target'])}",
    )
    return table


def monitoring_summary(results: dict[str, Any], output: Path) -> str:
    etl, latency = results["etl"], results["logging_latency"]
    batch, load = results["batch"], results["endurance"]
    met = sum(part["meets_target"] for part in (etl, latency, batch, load))
    return (
        f"ETL {etl['speedup']:.1f}x faster with DuckDB"
        + ("" if etl["same_rows"] else " (ROWS DIFFER)")
        + f"; logging adds {latency['p50_overhead']:+.1%} to GET p50 "
        f"({latency['on']['p50_ms']:.2f} ms); batch POST {batch['ratio']:.2f}x raw fastText; "
        f"{load['log_lines']:,} log lines for {load['predictions']:,} predictions and "
        f"{load['errors']} errors under load; {met} of 4 targets met; JSON in {output}"
    )


def search_table(results: dict[str, Any]) -> Table:
    """1 worker against 2 on the same grid; then growth with the grid; the runner's cost."""
    one, two, loop = results["one_worker"], results["two_workers"], results["plain_loop"]
    n = two["configurations"]
    table = _comparison(
        f"local search, {results['rows']:,}-row corpus (ratios matter, not seconds)"
    )
    table.add_row(
        f"grid of {n}: 1 worker vs {two['workers']}",
        f"{one['seconds']:.1f} s (1 worker)",
        f"{two['seconds']:.1f} s ({two['workers']} workers)",
        f"{results['speedup']:.2f}x faster",
        f">= {results['speedup_target']}x: {_verdict(results['meets_target'])}",
    )
    ceiling = results["machine_ceiling"]
    table.add_row(
        "2 processes at once on this machine",
        f"{2 * ceiling['one_process_s']:.1f} s (2 busy loops in turn)",
        f"{ceiling['two_processes_s']:.1f} s (side by side)",
        f"{ceiling['ceiling']:.2f}x: the ceiling",
        "2.0x on two free cores",
    )
    table.add_row(
        f"grid of {n}: {two['workers']} workers against the ceiling",
        "",
        "",
        f"{results['efficiency']:.0%} of it",
        f">= {results['efficiency_target']:.0%}: {_verdict(results['meets_efficiency_target'])}",
    )
    table.add_row(
        f"grid of {n}: the runner's own cost",
        f"{loop['seconds']:.1f} s (run_training in a loop)",
        f"{one['seconds']:.1f} s (1 worker)",
        f"{results['runner_overhead_per_run_s']:+.1f} s per run",
        "",
    )
    for step in results["growth"]:
        table.add_row(
            f"grid of {step['configurations']}, {step['workers']} workers",
            "",
            f"{step['seconds']:.1f} s",
            f"{step['seconds_per_configuration']:.1f} s per configuration",
            "",
        )
    return table


def search_summary(results: dict[str, Any], output: Path) -> str:
    growth = ", ".join(
        f"{g['configurations']}: {g['seconds_per_configuration']:.1f} s" for g in results["growth"]
    )
    return (
        f"2 workers {results['speedup']:.2f}x faster than 1 "
        f"(target {results['speedup_target']}x: {_verdict(results['meets_target'])}), "
        f"{results['efficiency']:.0%} of the machine's "
        f"{results['machine_ceiling']['ceiling']:.2f}x ceiling "
        f"(target {results['efficiency_target']:.0%}: "
        f"{_verdict(results['meets_efficiency_target'])}); "
        f"seconds per configuration by grid size {growth}; runner overhead "
        f"{results['runner_overhead_per_run_s']:+.1f} s per run; JSON in {output}"
    )
