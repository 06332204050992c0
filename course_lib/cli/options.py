"""Options several commands share, so they read and behave the same everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from course_lib import settings

if TYPE_CHECKING:
    from course_lib.model.loading import Registered

ModelName = Annotated[
    str,
    typer.Option(
        "--model", help=f"Registered model name (default: {settings.DEFAULT_MODEL_NAME})."
    ),
]
Version = Annotated[
    str | None,
    typer.Option(
        "--version",
        help="Version number or alias, e.g. 3 or champion (default: the newest version).",
    ),
]
Alias = Annotated[
    str | None,
    typer.Option("--alias", help="Alias, e.g. champion: the same as --version champion."),
]
TrainingData = Annotated[
    str | None,
    typer.Option(help="Parquet/CSV path, https URL or s3:// URI (default: generated corpus)."),
]
ValuesFile = Annotated[Path | None, typer.Option(help="Values file (default: infra/values.yaml).")]
CheckOnly = Annotated[
    bool,
    typer.Option("--check", help="Validate, compare with the files in --out, write nothing."),
]
CorpusRows = Annotated[int, typer.Option(min=1, help="Size of the generated corpus.")]


def model_reference(version: str | None, alias: str | None) -> str | None:
    """One version-or-alias from ``--version`` and ``--alias`` (at most one of them)."""
    if version is not None and alias is not None:
        raise typer.BadParameter(
            f"give --version or --alias, not both (--version {version} --alias {alias})",
            param_hint="'--version' / '--alias'",
        )
    return alias if alias is not None else version


def load_model(model: str, reference: str | None) -> Registered:
    """The model ``--model`` and a version-or-alias name, loaded (it must exist)."""
    from course_lib.model.loading import load_registered
    from course_lib.tracking.registry import split_reference

    return load_registered(model, *split_reference(reference))
