"""Data shipped with the package (see CREDITS.md in this folder)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def resource_path(*parts: str) -> Path:
    """Path of a shipped file; package data is installed as real files."""
    return Path(str(files(__name__).joinpath(*parts)))
