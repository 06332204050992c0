"""The code stays ruff-clean (lint and format), checked with the pinned ruff."""

import shutil
import subprocess

from tests.conftest import ROOT


def test_ruff_lint_and_format():
    ruff = shutil.which("ruff")
    lint = subprocess.run(
        [ruff, "check", "course_lib", "tests"], cwd=ROOT, capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout
    fmt = subprocess.run(
        [ruff, "format", "--check", "course_lib", "tests"], cwd=ROOT, capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout
