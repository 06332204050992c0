"""``course``: the command line of the course (data, mlflow, train, predict, evaluate, bench).

Each command resolves its settings when it runs, prints progress on long
steps and ends with one summary line.  A :class:`CourseError` (bad input,
server down) is printed as a message with what to do, never as a traceback.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from course_lib import settings
from course_lib.errors import CourseError
from course_lib.model import Hyperparameters

app = typer.Typer(
    help="An introduction to MLOps with MLflow: the course's command line.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(soft_wrap=True)  # summary lines stay whole in logs; tables fit the width
err_console = Console(stderr=True, soft_wrap=True)

_FT = Hyperparameters()  # the command's defaults are the library's

ModelName = Annotated[str, typer.Option("--model", help="Registered model name.")]
Version = Annotated[str | None, typer.Option(help="Model version (default: newest).")]
Alias = Annotated[str | None, typer.Option(help="Model alias, e.g. champion.")]


@app.command()
def data(
    rows: Annotated[int, typer.Option(min=1, help="Number of descriptions to generate.")] = 200_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same corpus).")] = 0,
) -> None:
    """Generate the training corpus (cached in the state folder) and describe it."""
    from course_lib.calibration import compare_to_real
    from course_lib.dataset import ensure_generated, load_dataset
    from course_lib.train import dev_sample

    path = ensure_generated(rows, seed)
    frame, _ = load_dataset(str(path))
    sample = frame.sample(min(8, len(frame)), random_state=seed)
    console.print(sample.to_string(index=False), soft_wrap=True, markup=False)
    real = dev_sample()
    if len(frame) >= len(real):
        table = Table(title=f"generated ({len(real)}-row samples) vs {len(real)} real descriptions")
        comparison = compare_to_real(frame, real)
        for column in ("property", "generated", "real"):
            table.add_column(column, justify="right")
        for name, row in comparison.iterrows():
            table.add_row(str(name), f"{row['generated']:.3f}", f"{row['real']:.3f}")
        console.print(table)
    console.print(
        f"[bold]{len(frame):,} descriptions, {frame['nace'].nunique()} subclasses[/bold] in {path}"
    )


@app.command("mlflow")
def mlflow_server(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 5000,
) -> None:
    """Start the course's MLflow tracking server and keep it up until Ctrl-C."""
    from course_lib import tracking

    running = tracking.running_server()
    if running:
        console.print(f"an MLflow server is already running at {running.uri} (pid {running.pid})")
        return
    console.print(f"starting MLflow on 127.0.0.1:{port} (state in {settings.mlflow_dir()})…")
    server = tracking.start_server(port)
    console.print(f"MLflow tracking server: [bold]{server.uri}[/bold]  (log: {server.log})")
    console.print(f"in another shell: export MLFLOW_TRACKING_URI={server.uri}")
    console.print("Ctrl-C stops it.")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while tracking.running_server():
            time.sleep(1)
        console.print("the MLflow server stopped.")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        tracking.stop_server(server)
        console.print("MLflow server stopped.")


@app.command()
def train(
    data: Annotated[
        str | None,
        typer.Option(help="Parquet/CSV path, https URL or s3:// URI (default: generated corpus)."),
    ] = None,
    rows: Annotated[int, typer.Option(min=1, help="Size of the generated corpus.")] = 200_000,
    seed: Annotated[int, typer.Option(help="Seed of the corpus and of the split.")] = 0,
    test_size: Annotated[float, typer.Option(help="Held-out fraction.")] = 0.2,
    dim: Annotated[int, typer.Option(min=1)] = _FT.dim,
    lr: Annotated[float, typer.Option(min=0.0)] = _FT.lr,
    epoch: Annotated[int, typer.Option(min=1)] = _FT.epoch,
    word_ngrams: Annotated[int, typer.Option("--wordNgrams", min=1)] = _FT.wordNgrams,
    minn: Annotated[int, typer.Option(min=0)] = _FT.minn,
    maxn: Annotated[int, typer.Option(min=0)] = _FT.maxn,
    min_count: Annotated[int, typer.Option("--minCount", min=1)] = _FT.minCount,
    bucket: Annotated[int, typer.Option(min=0)] = _FT.bucket,
    thread: Annotated[int, typer.Option(min=1, help="1 = reproducible runs.")] = _FT.thread,
    loss: Annotated[str, typer.Option(help="ova, softmax, hs or ns.")] = _FT.loss,
    experiment: Annotated[str, typer.Option()] = settings.DEFAULT_EXPERIMENT,
    register: Annotated[
        str, typer.Option("--register", help="Registered model name ('' to skip).")
    ] = settings.DEFAULT_MODEL_NAME,
    alias: Annotated[
        str | None, typer.Option(help="Alias to point at the new version, e.g. champion.")
    ] = None,
    examples: Annotated[
        bool, typer.Option(help="Predict a few examples from the registry at the end.")
    ] = True,
) -> None:
    """Train fastText, log the run to MLflow and register the model."""
    from course_lib import tracking
    from course_lib.train import TrainConfig, run_training

    if loss not in {"ova", "softmax", "hs", "ns"}:
        raise CourseError(f"--loss {loss!r}: choose ova, softmax, hs or ns")
    params = Hyperparameters(
        dim=dim, lr=lr, epoch=epoch, wordNgrams=word_ngrams, minn=minn, maxn=maxn,
        minCount=min_count, bucket=bucket, thread=thread, loss=loss,
    )  # fmt: skip
    config = TrainConfig(data, rows, seed, test_size, params, experiment, register or None, alias)
    with tracking.tracking_server() as uri:
        console.print(f"tracking server: {uri}")
        result = run_training(config, status=console.print, progress=sys.stderr.isatty())
        _print_metrics(result.metrics)
        if examples and result.model_version:
            _print_predictions(f"models:/{register}/{result.model_version}", _EXAMPLES, k=1)
    registered = f", registered {register} v{result.model_version}" if result.model_version else ""
    if tracking.running_server() or os.environ.get("MLFLOW_TRACKING_URI"):
        console.print(f"run page: {uri}/#/experiments/{result.experiment_id}/runs/{result.run_id}")
    else:
        console.print(
            "to browse runs and models: uv run course mlflow, then open http://127.0.0.1:5000"
        )
    console.print(
        f"[bold green]run {result.run_id}[/bold green]: subclass accuracy "
        f"{result.metrics['test_accuracy_subclass']:.3f} held out, "
        f"{result.metrics['dev_accuracy_subclass']:.3f} on real descriptions{registered}"
    )


_EXAMPLES = [
    "boulanger",
    "COIFFURE MIXTE",
    "vendeur d'huîtres sur les marchés",
    "conseil en informatique",
]


def _print_metrics(metrics: dict[str, float]) -> None:
    table = Table(title="accuracy by NAF level")
    table.add_column("metric")
    for column in ("held-out (synthetic)", "real (212 Sirene rows)"):
        table.add_column(column, justify="right")
    for key in sorted(k.removeprefix("test_") for k in metrics if k.startswith("test_")):
        table.add_row(
            key, f"{metrics['test_' + key]:.3f}", f"{metrics.get('dev_' + key, float('nan')):.3f}"
        )
    console.print(table)


def _print_predictions(model_uri: str, texts: list[str], k: int) -> None:
    import mlflow

    from course_lib.nomenclature import dotted_code, load_nomenclature

    model = mlflow.pyfunc.load_model(model_uri)
    predictions = model.predict(texts, params={"k": k})
    nomenclature = load_nomenclature()
    table = Table(title=f"predictions of {model_uri}")
    for column in ("description", "rank", "code", "label", "probability"):
        table.add_column(column)
    for text, ranked in zip(texts, predictions, strict=True):
        if not ranked:
            table.add_row(text, "-", "-", "no word the model can read", "-")
        for rank, p in enumerate(ranked, start=1):
            table.add_row(
                text if rank == 1 else "", str(rank), dotted_code(p["nace"]),
                nomenclature.label(p["nace"]), f"{p['probability']:.3f}",
            )  # fmt: skip
    console.print(table)


@app.command()
def predict(
    texts: Annotated[list[str], typer.Argument(help="Descriptions to classify.")],
    k: Annotated[
        int, typer.Option("--k", "-k", min=1, max=50, help="Ranked codes per description.")
    ] = 3,
    model: ModelName = settings.DEFAULT_MODEL_NAME,
    version: Version = None,
    alias: Alias = None,
) -> None:
    """Classify descriptions with a registered model: ranked codes with labels."""
    from course_lib import registry, tracking
    from course_lib.wrapper import InvalidInput

    with tracking.tracking_server():
        uri = registry.resolve_model_uri(model, version, alias)
        try:
            _print_predictions(uri, texts, k)
        except InvalidInput as exc:
            raise CourseError(str(exc)) from exc
    console.print(f"{len(texts)} description(s) classified by {uri}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface: 0.0.0.0 in a container.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    root_path: Annotated[
        str, typer.Option(help="Path prefix of a proxy in front, e.g. /proxy/8000 on SSP Cloud.")
    ] = "",
    model: Annotated[
        str | None, typer.Option("--model", help="Registered model (default: MLFLOW_MODEL_NAME).")
    ] = None,
    version: Annotated[
        str | None,
        typer.Option(help="Version number or alias (default: MLFLOW_MODEL_VERSION, else newest)."),
    ] = None,
) -> None:
    """Serve the registered model as an HTTP API (uvicorn); /docs documents it."""
    import dataclasses

    import uvicorn

    from course_lib import tracking
    from course_lib.api import create_app
    from course_lib.model_service import ModelService, ServingConfig

    if root_path and not root_path.startswith("/"):
        raise CourseError(f"--root-path {root_path!r} must start with '/', e.g. /proxy/{port}")
    config = ServingConfig.from_env()
    overrides = {"model_name": model, "model_version": version}
    config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v})
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    logging.getLogger("course_lib.api").setLevel(logging.INFO)
    # uvicorn re-raises SIGTERM once it has shut down; exiting through Python
    # (not the default handler) lets the temporary MLflow server be stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with tracking.tracking_server(check=False) as uri:
        console.print(
            f"serving {config.wanted_uri()} from {uri} on http://{host}:{port}{root_path}"
        )
        application = create_app(ModelService(config))
        uvicorn.run(application, host=host, port=port, root_path=root_path, log_level="info")
    console.print("API stopped")


@app.command()
def classify(
    data: Annotated[
        Path | None,
        typer.Argument(help="Parquet/CSV of descriptions (default: 1,000 generated ones)."),
    ] = None,
    api: Annotated[str, typer.Option(help="Address of the API.")] = "http://127.0.0.1:8000",
    column: Annotated[str, typer.Option(help="Column holding the descriptions.")] = "text",
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=50, help="Ranked codes per row.")] = 1,
    chunk_size: Annotated[int, typer.Option(min=1, help="Descriptions per POST.")] = 500,
    row_by_row: Annotated[
        bool, typer.Option("--row-by-row", help="One GET per row (slow; for comparison).")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="Write the results here (parquet/CSV).")] = None,
) -> None:
    """Classify a file of descriptions through a running API (`course serve`)."""
    from course_lib import client

    source = data or client.data_to_classify()
    frame = client.read_descriptions(source, column)
    info = client.check_api(api)
    started = time.perf_counter()
    if row_by_row:
        result = client.classify_row_by_row(frame, api, column, k)
    else:
        result = client.classify_in_batches(frame, api, column, k, chunk_size)
    seconds = time.perf_counter() - started
    console.print(result.head(10).to_string(index=False), markup=False)
    if out is not None and out.suffix == ".parquet":
        result.to_parquet(out, index=False)
    elif out is not None:
        result.to_csv(out, index=False)
    problems = int(result["problem"].notna().sum())
    console.print(
        f"{len(result):,} descriptions classified by {info['model_uri']} in {seconds:.1f} s "
        f"({len(result) / seconds:,.0f}/s), {problems} with a problem"
        + (f"; results in {out}" if out else "")
    )


@app.command()
def evaluate(
    data: Annotated[
        str | None,
        typer.Option(help="Parquet/CSV with nace and text (default: the 212 real Sirene rows)."),
    ] = None,
    model: ModelName = settings.DEFAULT_MODEL_NAME,
    version: Version = None,
    alias: Alias = None,
) -> None:
    """Accuracy of a registered model at each NAF level on labelled descriptions."""
    import mlflow

    from course_lib import registry, tracking
    from course_lib.dataset import load_dataset
    from course_lib.evaluation import accuracy_by_level
    from course_lib.train import dev_sample

    frame, report = (dev_sample(), None) if data is None else load_dataset(data)
    if report:
        console.print(report.summary())
    with tracking.tracking_server():
        uri = registry.resolve_model_uri(model, version, alias)
        predictions = mlflow.pyfunc.load_model(uri).predict(frame["text"].tolist(), params={"k": 5})
    ranked = [[p["nace"] for p in row] for row in predictions]
    metrics = accuracy_by_level(frame["nace"], ranked)
    table = Table(title=f"{uri} on {data or 'the 212 real Sirene descriptions'}")
    table.add_column("metric")
    table.add_column("accuracy", justify="right")
    for key, value in metrics.items():
        table.add_row(key, f"{value:.3f}")
    console.print(table)
    console.print(
        f"{len(frame):,} descriptions: subclass {metrics['accuracy_subclass']:.3f}, "
        f"section {metrics['accuracy_section']:.3f}, top-5 {metrics['top5_accuracy_subclass']:.3f}"
    )


@app.command()
def bench(
    rows: Annotated[int, typer.Option(min=1000, help="Corpus size for training.")] = 200_000,
    preprocess_rows: Annotated[int, typer.Option(min=100)] = 100_000,
    seeds: Annotated[int, typer.Option(min=1, help="Corpus seeds for the accuracy spread.")] = 3,
    suite: Annotated[
        str, typer.Option(help="model (training, preprocessing, accuracy) or serving (the API).")
    ] = "model",
    model: Annotated[
        str, typer.Option("--model", help="Serving: the registered model to serve.")
    ] = settings.DEFAULT_MODEL_NAME,
    endurance_seconds: Annotated[
        float, typer.Option(min=1, help="Serving: length of the sustained load.")
    ] = 60.0,
    requests_: Annotated[
        int, typer.Option("--requests", min=10, help="Serving: GETs per latency measurement.")
    ] = 1_000,
    output: Annotated[
        Path | None,
        typer.Option(help="Where to write the JSON (default: benchmarks/<suite>.json)."),
    ] = None,
) -> None:
    """Benchmarks side by side with the simple approach; table + JSON."""
    import json

    from course_lib.bench import run_benchmarks

    if suite not in {"model", "serving"}:
        raise CourseError(f"--suite {suite!r}: choose model or serving")
    if suite == "serving":
        output = output or Path("benchmarks/serving.json")
        _bench_serving(model, endurance_seconds, requests_, output)
        return
    output = output or Path("benchmarks/results.json")

    console.print(f"benchmarking on a {rows:,}-row corpus (a few minutes)…")
    results = run_benchmarks(rows, preprocess_rows, tuple(range(seeds)))
    pre, wrap, fit = results["preprocessing"], results["wrapper"], results["training"]
    table = Table(title="benchmarks (best of repeated runs; ratios matter, not seconds)")
    for column in ("what", "simple approach", "course_lib", "ratio", "target"):
        table.add_column(column)
    table.add_row(
        f"clean {pre['descriptions']:,} descriptions", f"{pre['reference_s']:.2f} s (apply + nltk)",
        f"{pre['fast_s']:.2f} s", f"{pre['speedup']:.1f}x faster"
        + ("" if pre["identical_output"] else " (OUTPUT DIFFERS)"), ">= 10x, identical",
    )  # fmt: skip
    table.add_row(
        f"predict {wrap['descriptions']:,} descriptions",
        f"{wrap['raw_fasttext_s']:.3f} s (raw fastText)",
        f"{wrap['wrapper_s']:.3f} s (wrapper)", f"{wrap['overhead']:.2f}x", "<= 1.3x",
    )  # fmt: skip
    table.add_row(
        f"train on {fit['rows']:,} rows ({fit['loss']})", "",
        f"{fit['train_s']:.1f} s + {fit['clean_s']:.1f} s cleaning",
        f"peak {fit['peak_rss_mb']:.0f} MB", "< 60 s",
    )  # fmt: skip
    console.print(table)
    scores = results["accuracy"]
    unseen = 212 - scores["real_rows_in_lexicon_verbatim"]
    accuracy = Table(title="accuracy: synthetic held-out split vs 212 real Sirene descriptions")
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
    console.print(accuracy)
    console.print(
        "held-out: synthetic test split; real: the 212 Sirene rows; baseline: fastText "
        "trained on official labels and note items only, scored on the real rows."
    )
    spread = results["real_accuracy_over_seeds"]
    console.print(
        f"real accuracy over corpus seeds 0–{seeds - 1}: "
        + ", ".join(
            f"{key} {spread['mean'][key]:.3f} ({spread['min'][key]:.3f}–{spread['max'][key]:.3f})"
            for key in ("accuracy_subclass", "accuracy_section", "top5_accuracy_subclass")
        )
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    console.print(
        f"preprocessing {pre['speedup']:.1f}x faster, wrapper overhead {wrap['overhead']:.2f}x, "
        f"training {fit['train_s']:.1f} s; real subclass accuracy {real['accuracy_subclass']:.3f}; "
        f"JSON in {output}"
    )


def _bench_serving(model: str, endurance_s: float, latency_requests: int, output: Path) -> None:
    import json

    from course_lib import registry, tracking
    from course_lib.bench_serving import run_serving_benchmarks

    with tracking.tracking_server() as uri:
        version = registry.resolve_version(model)
        console.print(
            f"benchmarking the API serving models:/{model}/{version} from {uri} "
            f"(about {endurance_s + 60:.0f} s)…"
        )
        results = run_serving_benchmarks(model, version, 1_000, latency_requests, endurance_s)
    flow, endurance = results["throughput"], results["endurance"]
    table = Table(title="serving benchmarks (uvicorn on loopback; ratios matter, not seconds)")
    for column in ("what", "simple approach", "course_lib", "ratio", "target"):
        table.add_column(column)
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
    console.print(table)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    console.print(
        f"batch POST {flow['speedup']:.0f}x the throughput of GET per row; "
        f"{endurance['errors']} errors in {endurance['requests']:,} requests under load; "
        f"JSON in {output}"
    )


def _course_root() -> Path:
    root = Path.cwd()
    if not (root / "solutions").is_dir():
        raise CourseError(
            f"no solutions/ folder in {root}: run this command from the course's folder"
        )
    return root


@app.command()
def labs(
    check: Annotated[bool, typer.Option("--check", help="Only report stale labs.")] = False,
) -> None:
    """Generate the trainees' notebooks (labs/) from the solutions (solutions/)."""
    from course_lib.labs import stale_labs, write_labs

    root = _course_root()
    if check:
        stale = stale_labs(root)
        if stale:
            names = ", ".join(p.name for p in stale)
            raise CourseError(f"stale labs: {names}; regenerate them with `course labs`")
        console.print("labs/ matches solutions/")
        return
    written = write_labs(root)
    console.print(f"{len(written)} labs written: {', '.join(p.name for p in written)}")


@app.command("check")
def check_solutions(
    rows: Annotated[int, typer.Option(min=1500, help="Corpus size for the notebooks.")] = 200_000,
    output: Annotated[
        Path | None, typer.Option(help="Folder for executed notebooks (default: state folder).")
    ] = None,
) -> None:
    """Run every solution end to end with papermill (instructors, before a session)."""
    from course_lib import tracking
    from course_lib.notebooks import run_solutions

    root = _course_root()
    with tracking.tracking_server() as uri:
        console.print(f"running the solutions against {uri}, corpus of {rows:,} rows…")
        output = output or settings.state_dir() / "executed"
        executed = run_solutions(root, output, {"rows": rows}, report=_report_notebook)
    console.print(f"{len(executed)} notebooks ran end to end; executed copies in {output}")


def _report_notebook(path: Path, seconds: float) -> None:
    console.print(f"  {path.stem}: {seconds:.0f} s")


@app.command()
def build(
    rows: Annotated[int, typer.Option(min=1500, help="Corpus size for the notebooks.")] = 200_000,
) -> None:
    """Execute the solutions once and build the book from them, strictly."""
    from course_lib import tracking
    from course_lib.book import build_book
    from course_lib.notebooks import run_solutions

    root = _course_root()
    started = time.perf_counter()
    with tracking.tracking_server() as uri:
        console.print(f"executing the solutions against {uri}, corpus of {rows:,} rows…")
        out = settings.state_dir() / "executed"
        executed = run_solutions(root, out, {"rows": rows}, _report_notebook)
    console.print("building the book (strict: any warning fails)…")
    index = build_book(root, executed)
    console.print(f"book built in {time.perf_counter() - started:.0f} s: open {index}")


@app.command()
def manifests(
    values: Annotated[
        Path | None, typer.Option(help="Values file (default: infra/values.yaml).")
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(help="SSP Cloud user name: sets the namespace (user-NAME) and the host."),
    ] = None,
    model_version: Annotated[
        str | None, typer.Option(help="Model version (a number) or alias to serve.")
    ] = None,
    image_tag: Annotated[
        str | None, typer.Option(help="Image tag to deploy (the commit sha CI built).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Output folder (default: infra/, which holds kubernetes/ and argocd/)."),
    ] = None,
    check: Annotated[
        bool,
        typer.Option("--check", help="Validate, compare with the files in --out, write nothing."),
    ] = False,
) -> None:
    """Render the Kubernetes and ArgoCD manifests from infra/values.yaml, checked offline.

    With --user, --model-version or --image-tag and the default --out, the
    values file is updated too, so that a fork's values and manifests agree.
    """
    from dataclasses import replace

    from course_lib import manifests as m
    from course_lib.manifest_validation import check_documents

    root = _course_root() if values is None or out is None else Path.cwd()
    values_path = values or root / m.VALUES_FILE
    out_dir = out or root / m.OUT_DIR
    chosen = m.load_values(values_path)
    if user is not None:
        chosen = m.for_user(chosen, user)
    overrides = {"model_version": model_version, "image_tag": image_tag}
    chosen = replace(chosen, **{k: v for k, v in overrides.items() if v is not None})
    files = m.render_files(chosen)
    shown = out_dir.relative_to(root) if out_dir.is_relative_to(root) else out_dir
    counts = check_documents({f"{shown}/{name}": docs for name, docs in m.render(chosen).items()})
    kinds = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    if check:
        stale = m.stale_files(files, out_dir)
        if stale:
            raise CourseError(
                f"{', '.join(stale)} in {shown} differ from the values: run `course manifests`"
            )
        console.print(f"manifests valid ({kinds}) and up to date in {shown}")
        return
    m.write(files, out_dir)
    changed = chosen != m.load_values(values_path)
    note = ""
    if changed and out is None:
        m.save_values(chosen, values_path)
        note = f"; {values_path.name} updated"
    if user is not None:
        console.print(
            "namespace and host follow the user; check tracking_uri, image_repository "
            f"and git_repo_url in {values_path.name} yourself"
        )
    console.print(
        f"{len(files)} manifests ({kinds}) for {chosen.namespace} written to {shown}: "
        f"{chosen.image}, models:/{chosen.model_name}"
        f"{'/' if chosen.model_version.isdigit() else '@'}{chosen.model_version}, "
        f"https://{chosen.host}{note}",
        markup=False,
    )


def main() -> None:
    """Console-script entry point: user errors become one clear message and exit 1."""
    # One summary line per step is ours to print; MLflow's per-file download
    # bars would drown it.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)  # "no pip" under uv
    try:
        app()
    except CourseError as exc:
        err_console.print(f"[bold red]error:[/bold red] {exc}")
        sys.exit(1)
