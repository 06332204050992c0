"""``course train``, ``course predict``, ``course evaluate``: a model in the registry."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from course_lib import settings
from course_lib.cli.app import app, console, say
from course_lib.cli.options import (
    Alias,
    CorpusRows,
    ModelName,
    TrainingData,
    Version,
    load_model,
    model_reference,
)
from course_lib.data.examples import EXAMPLES
from course_lib.model.fasttext_model import Hyperparameters, Loss
from course_lib.model.limits import MAX_K
from course_lib.tracking.server import DEFAULT_PORT

if TYPE_CHECKING:
    from course_lib.model.loading import Registered

_FT = Hyperparameters()  # the command's defaults are the library's
_LOSS = Loss(_FT.loss)


@app.command()
def train(
    data: TrainingData = None,
    rows: CorpusRows = settings.DEFAULT_ROWS,
    seed: Annotated[
        int, typer.Option(help="Seed of the corpus and of the split.")
    ] = settings.DEFAULT_SEED,
    test_size: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Share held out (synthetic) to choose models on."),
    ] = settings.DEFAULT_TEST_SIZE,
    dim: Annotated[int, typer.Option(min=1, help="Size of the word vectors.")] = _FT.dim,
    lr: Annotated[float, typer.Option(min=0.0, help="Learning rate.")] = _FT.lr,
    epoch: Annotated[int, typer.Option(min=1, help="Passes over the training data.")] = _FT.epoch,
    word_ngrams: Annotated[
        int, typer.Option("--wordNgrams", min=1, help="Longest word n-gram used as a feature.")
    ] = _FT.wordNgrams,
    minn: Annotated[
        int, typer.Option(min=0, help="Shortest character n-gram (0: none).")
    ] = _FT.minn,
    maxn: Annotated[
        int, typer.Option(min=0, help="Longest character n-gram (0: none).")
    ] = _FT.maxn,
    min_count: Annotated[
        int, typer.Option("--minCount", min=1, help="Words seen fewer times are ignored.")
    ] = _FT.minCount,
    bucket: Annotated[
        int, typer.Option(min=0, help="Hash buckets for n-grams (memory vs collisions).")
    ] = _FT.bucket,
    thread: Annotated[
        int, typer.Option(min=1, help="Training threads; 1 = reproducible runs.")
    ] = _FT.thread,
    loss: Annotated[
        Loss, typer.Option(help="ova: one probability per code; softmax, hs or ns.")
    ] = _LOSS,
    experiment: Annotated[
        str, typer.Option(help="MLflow experiment of the run.")
    ] = settings.DEFAULT_EXPERIMENT,
    register: Annotated[
        str, typer.Option("--register", help="Registered model name ('' to skip).")
    ] = settings.DEFAULT_MODEL_NAME,
    alias: Annotated[
        str | None, typer.Option(help="Alias to point at the new version, e.g. champion.")
    ] = None,
    force_register: Annotated[
        bool,
        typer.Option(
            "--force-register",
            help="Register the model even if trained on too little data to be useful.",
        ),
    ] = False,
    examples: Annotated[
        bool, typer.Option(help="Predict a few examples from the registry at the end.")
    ] = True,
    tag: Annotated[
        list[str] | None,
        typer.Option(help="KEY=VALUE tag set on the run (repeatable), e.g. course.search=s1."),
    ] = None,
) -> None:
    """Train fastText, log the run to MLflow and register the model."""
    from course_lib.model.training import TrainConfig, run_training
    from course_lib.tracking.server import running_server, tracking_server

    params = Hyperparameters(
        dim=dim, lr=lr, epoch=epoch, wordNgrams=word_ngrams, minn=minn, maxn=maxn,
        minCount=min_count, bucket=bucket, thread=thread, loss=loss.value,
    )  # fmt: skip
    config = TrainConfig(
        data or None,  # --data '' (a workflow's empty parameter): the generated corpus
        rows, seed, test_size, params, experiment, register or None, alias, force_register,
        run_tags(tag or []),
    )  # fmt: skip
    with tracking_server() as uri:
        say(f"tracking server: {uri}")
        result = run_training(config, status=say, progress=sys.stderr.isatty())
        console.print(_metrics_table(result.metrics))
        if examples and result.model_version:
            _print_predictions(load_model(register, result.model_version), EXAMPLES, k=1)
    registered = f", registered {register} v{result.model_version}" if result.model_version else ""
    if running_server() or os.environ.get("MLFLOW_TRACKING_URI"):
        say(f"run page: {uri}/#/experiments/{result.experiment_id}/runs/{result.run_id}")
    else:
        say(
            "to browse runs and models: uv run course mlflow, "
            f"then open http://127.0.0.1:{DEFAULT_PORT}"
        )
    console.print(
        f"[bold green]run {result.run_id}[/bold green]: subclass accuracy "
        f"{result.metrics['test_accuracy_subclass']:.3f} held out, "
        f"{result.metrics['dev_accuracy_subclass']:.3f} on real descriptions{registered}"
    )


def run_tags(pairs: list[str]) -> dict[str, str]:
    """``--tag KEY=VALUE`` options as a mapping; a pair without ``=`` is a user's mistake."""
    tags = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--tag")
        tags[key.strip()] = value
    return tags


def _metrics_table(metrics: dict[str, float]) -> Table:
    table = Table(title="accuracy by NAF level")
    table.add_column("metric")
    for column in ("held-out (synthetic)", "real (212 Sirene rows)"):
        table.add_column(column, justify="right")
    for key in sorted(k.removeprefix("test_") for k in metrics if k.startswith("test_")):
        table.add_row(
            key, f"{metrics['test_' + key]:.3f}", f"{metrics.get('dev_' + key, math.nan):.3f}"
        )
    return table


def _print_predictions(registered: Registered, texts: list[str], k: int) -> None:
    from course_lib.model.registered import predictions_table

    rows = predictions_table(registered.model, texts, k)
    table = Table(title=f"predictions of {registered.uri}")
    for column in rows.columns:
        table.add_column(column)
    for row in rows.itertuples(index=False):
        table.add_row(
            row.description if row.rank <= 1 else "",  # rank 0: no readable word
            str(row.rank) if row.rank else "-",
            row.code or "-",
            row.label,
            "-" if math.isnan(row.probability) else f"{row.probability:.3f}",
        )
    console.print(table)


@app.command()
def predict(
    texts: Annotated[list[str], typer.Argument(help="Descriptions to classify.")],
    k: Annotated[
        int, typer.Option("--k", "-k", min=1, max=MAX_K, help="Ranked codes per description.")
    ] = 3,
    model: ModelName = settings.DEFAULT_MODEL_NAME,
    version: Version = None,
    alias: Alias = None,
) -> None:
    """Classify descriptions with a registered model: ranked codes with labels."""
    from course_lib.tracking.server import tracking_server

    reference = model_reference(version, alias)
    with tracking_server():
        registered = load_model(model, reference)
        _print_predictions(registered, texts, k)
    say(f"{len(texts)} description(s) classified by {registered.uri}")


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
    from course_lib.model.registered import evaluate_registered
    from course_lib.tracking.server import tracking_server

    reference = model_reference(version, alias)
    with tracking_server():
        result = evaluate_registered(load_model(model, reference), data)
    uri = result.model_uri
    if result.report:
        say(result.report.summary())
    table = Table(title=f"{uri} on {result.source}")
    table.add_column("metric")
    table.add_column("accuracy", justify="right")
    for key, value in result.metrics.items():
        table.add_row(key, f"{value:.3f}")
    console.print(table)
    m = result.metrics
    say(
        f"{result.rows:,} descriptions: subclass {m['accuracy_subclass']:.3f}, "
        f"section {m['accuracy_section']:.3f}, top-5 {m['top5_accuracy_subclass']:.3f}"
    )


@app.command("log-saved")
def log_saved(
    folder: Annotated[
        Path,
        typer.Argument(help="A folder `course train` kept when the tracking server went away."),
    ],
) -> None:
    """Log and register a trained model kept when the tracking server went away."""
    from course_lib.model.training import log_saved as relog
    from course_lib.tracking.server import tracking_server

    with tracking_server() as uri:
        logged = relog(folder)
    registered = (
        f", registered {logged.model_name} v{logged.model_version}" if logged.model_version else ""
    )
    say(f"the model kept in {folder} is logged in run {logged.run_id} on {uri}{registered}")
