"""``course serve`` and ``course classify``: the prediction API and a client of it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from course_lib.cli.app import app, console, say
from course_lib.cli.options import Alias, Version, model_reference
from course_lib.model.limits import MAX_K
from course_lib.serving.limits import DEFAULT_API_URL, DEFAULT_CHUNK_SIZE, DEFAULT_PORT


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface: 0.0.0.0 in a container.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = DEFAULT_PORT,
    root_path: Annotated[
        str, typer.Option(help="Path prefix of a proxy in front, e.g. /proxy/8000 on SSP Cloud.")
    ] = "",
    model: Annotated[
        str | None,
        typer.Option("--model", help="Registered model name (default: MLFLOW_MODEL_NAME)."),
    ] = None,
    version: Version = None,
    alias: Alias = None,
) -> None:
    """Serve the registered model as an HTTP API (uvicorn); /docs documents it.

    Without --version or --alias: MLFLOW_MODEL_VERSION, else the newest version.
    """
    from course_lib.serving.app import serve as run_api
    from course_lib.serving.model_service import ServingConfig

    config = ServingConfig.from_env().with_choice(model, model_reference(version, alias))
    run_api(config, host, port, root_path, status=say)


@app.command()
def classify(
    data: Annotated[
        Path | None,
        typer.Argument(help="Parquet/CSV of descriptions (default: 1,000 generated ones)."),
    ] = None,
    api: Annotated[str, typer.Option(help="Address of the API.")] = DEFAULT_API_URL,
    column: Annotated[str, typer.Option(help="Column holding the descriptions.")] = "text",
    k: Annotated[
        int, typer.Option("--k", "-k", min=1, max=MAX_K, help="Ranked codes per row.")
    ] = 1,
    chunk_size: Annotated[
        int, typer.Option(min=1, help="Descriptions per POST.")
    ] = DEFAULT_CHUNK_SIZE,
    row_by_row: Annotated[
        bool, typer.Option("--row-by-row", help="One GET per row (slow; for comparison).")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="Write the results here (parquet/CSV).")] = None,
) -> None:
    """Classify a file of descriptions through a running API (`course serve`)."""
    from course_lib.serving.client import classify_file

    if data is None:
        from course_lib.data.dataset import data_to_classify

        data = data_to_classify()
    classified = classify_file(data, api, column, k, chunk_size, row_by_row, out)
    console.print(classified.result.head(10).to_string(index=False), markup=False)
    say(classified.summary())
