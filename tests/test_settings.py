"""Where the course keeps its state, and where the tests keep theirs."""

from __future__ import annotations

import os

from course_lib import settings
from tests.conftest import ROOT


def test_the_tests_never_use_the_course_s_own_state_folder():
    """Set before collection by conftest.py, so no test can forget it."""
    assert os.environ["COURSE_STATE_DIR"]
    assert not settings.state_dir(create=False).is_relative_to(ROOT)


def test_state_folder_is_found_from_a_subfolder_of_the_course(tmp_path, monkeypatch):
    (tmp_path / "MLproject").write_text("name: x\n")
    (tmp_path / "labs").mkdir()
    monkeypatch.delenv("COURSE_STATE_DIR", raising=False)
    monkeypatch.chdir(tmp_path / "labs")
    assert settings.state_dir(create=False) == tmp_path / ".course"
