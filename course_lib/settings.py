"""Where the course keeps its state, resolved when asked, never at import.

Importing ``course_lib`` must not create folders or touch MLflow's global
configuration (a lab imports it long before it decides where to track), so
every location here is a function reading the environment at call time.
"""

from __future__ import annotations

import os
from pathlib import Path

STATE_DIR_ENV = "COURSE_STATE_DIR"
DEFAULT_STATE_DIR = ".course"
DEFAULT_MODEL_NAME = "fasttext"
DEFAULT_EXPERIMENT = "nace-fasttext"


def state_dir(create: bool = True) -> Path:
    """The course's state folder: data cache, MLflow database and artifacts.

    ``$COURSE_STATE_DIR`` when set, otherwise ``.course`` in the current
    folder (the project root for ``uv run course …``; git-ignored).
    """
    path = Path(os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR).expanduser().resolve()
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Cache of generated training corpora."""
    path = state_dir() / "data"
    path.mkdir(parents=True, exist_ok=True)
    return path


def mlflow_dir() -> Path:
    """The local tracking server's sqlite database, artifacts and pid file."""
    path = state_dir() / "mlflow"
    path.mkdir(parents=True, exist_ok=True)
    return path
