"""The course's defaults, and where it keeps its state (resolved when asked, never at import).

Defaults that several layers and the command line share live here, in a module
that imports nothing heavy, so ``course --help`` does not load pandas or MLflow.

Importing ``course_lib`` must not create folders or touch MLflow's global
configuration (a lab imports it long before it decides where to track), so
every location here is a function reading the environment at call time.
"""

from __future__ import annotations

import os
from pathlib import Path

STATE_DIR_ENV = "COURSE_STATE_DIR"
DEFAULT_STATE_DIR = ".course"
DEFAULT_ROWS = 200_000
"""Size of the generated training corpus."""
DEFAULT_SEED = 0
"""Seed of the corpus and of the held-out split."""
DEFAULT_TEST_SIZE = 0.2
"""Share of the corpus held out (synthetic) to choose models on."""
MIN_NOTEBOOK_ROWS = 1_500
"""The smallest corpus the solutions run on: every subclass twice (1,464 rows), so
each code has rows on both sides of the held-out split."""
MIN_REGISTER_ROWS = 100
MIN_REGISTER_CODES = 2
"""Below either, ``course train`` logs the run but does not register the model unless
asked (``--force-register``): the newest version is what predict and serve use."""
DEFAULT_MODEL_NAME = "fasttext"
DEFAULT_EXPERIMENT = "nace-fasttext"
SEARCH_EXPERIMENT = "nace-fasttext-search"
"""Chapter 5's searches: one experiment for all of them, each run tagged with its search."""
DEFAULT_ALIAS = "champion"
"""The alias the labs point at the version to serve (aliases replaced registry stages)."""


def course_root(start: Path | None = None) -> Path:
    """The course's folder: the nearest one holding ``MLproject``, from ``start`` up.

    Notebooks run in ``labs/`` while commands run at the root; both must find
    the same state folder.  Outside a checkout, the current folder.
    """
    here = (start or Path.cwd()).resolve()
    return next((p for p in (here, *here.parents) if (p / "MLproject").is_file()), here)


def state_dir(create: bool = True) -> Path:
    """The course's state folder: data cache, MLflow database and artifacts.

    ``$COURSE_STATE_DIR`` when set, otherwise ``.course`` in the course's
    folder (see :func:`course_root`; git-ignored).
    """
    configured = os.environ.get(STATE_DIR_ENV)
    path = Path(configured).expanduser() if configured else course_root() / DEFAULT_STATE_DIR
    path = path.resolve()
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Cache of generated training corpora."""
    return _subfolder("data")


def mlflow_dir() -> Path:
    """The local tracking server's sqlite database, artifacts and pid file."""
    return _subfolder("mlflow")


def logs_dir() -> Path:
    """Prediction logs: ``api/`` from ``course serve``, ``simulated/`` from ``course traffic``."""
    return _subfolder("logs")


def monitoring_dir() -> Path:
    """What the ETL writes: the parquet datasets, the rejects, the dashboard page."""
    return _subfolder("monitoring")


def _subfolder(name: str) -> Path:
    path = state_dir() / name
    path.mkdir(parents=True, exist_ok=True)
    return path
