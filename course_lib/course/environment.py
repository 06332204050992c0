"""Application 0's diagnosis: is everything the course needs here and working?

Each line of :func:`diagnose` is one requirement, whether it is met, and what
to do when it is not, so a trainee can fix their set-up without an
instructor.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version

import pandas as pd

PACKAGES = ("mlflow", "fasttext-community", "nltk", "pandas", "pyarrow", "papermill", "jupytext")


def versions() -> pd.DataFrame:
    """Python and the course's main packages, with their installed versions."""
    rows = [("python", sys.version.split()[0])]
    for name in PACKAGES:
        try:
            rows.append((name, version(name)))
        except PackageNotFoundError:
            rows.append((name, "missing"))
    return pd.DataFrame(rows, columns=["package", "version"])


def _python() -> str:
    return f"{sys.version.split()[0]} (the project requires 3.11; uv installs into it)"


def _packages() -> str:
    missing = versions().query("version == 'missing'")["package"].tolist()
    if missing:
        raise RuntimeError(f"missing {', '.join(missing)}: run `uv sync` in the project folder")
    return f"{len(PACKAGES)} packages installed"


def _tracking() -> str:
    from course_lib.tracking.server import connect

    return f"tracking server at {connect()} answers"


def _nomenclature() -> str:
    from course_lib.data.nomenclature import load_nomenclature

    return f"NAF rév. 2: {len(load_nomenclature().codes)} subclasses"


def _evaluation_data() -> str:
    from course_lib.data.real_sample import dev_sample

    return f"{len(dev_sample())} real descriptions for evaluation"


def _s3() -> str:
    endpoint = os.environ.get("AWS_S3_ENDPOINT")
    return f"S3 endpoint {endpoint}" if endpoint else "no S3 endpoint (fine on a laptop)"


CHECKS: dict[str, Callable[[], str]] = {
    "Python": _python,
    "packages": _packages,
    "MLflow tracking server": _tracking,
    "nomenclature": _nomenclature,
    "evaluation data": _evaluation_data,
    "S3 storage (SSP Cloud)": _s3,
}


def diagnose() -> pd.DataFrame:
    """One row per requirement: ok or not, and what was found or what to do."""
    rows = []
    for name, check in CHECKS.items():
        try:
            rows.append((name, "ok", check()))
        except Exception as exc:  # every failure is reported as a row, none is raised
            rows.append((name, "PROBLEM", str(exc)))
    return pd.DataFrame(rows, columns=["requirement", "status", "details"])
