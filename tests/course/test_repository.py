"""The clone instructions name the repository the book was built from, never a
placeholder when the address is known, and never a credential."""

from __future__ import annotations

import subprocess

import pytest

from course_lib.course.repository import (
    OVERRIDE_VARIABLE,
    SNIPPET,
    https_address,
    repository_address,
    write_clone_snippet,
)
from tests.conftest import ROOT


@pytest.mark.parametrize(
    ("remote", "address"),
    [
        ("git@github.com:jdupont/mlops-course.git", "https://github.com/jdupont/mlops-course"),
        ("https://github.com/jdupont/mlops-course.git", "https://github.com/jdupont/mlops-course"),
        ("https://github.com/jdupont/mlops-course/", "https://github.com/jdupont/mlops-course"),
        ("https://jdupont:ghp_secret@github.com/jdupont/mlops-course",
         "https://github.com/jdupont/mlops-course"),
        ("ssh://git@gitlab.example.org:2222/team/course.git", "https://gitlab.example.org/team/course"),
        ("/home/jdupont/mlops-course", None),
        ("file:///srv/git/course.git", None),
        ("../course", None),
    ],
)  # fmt: skip
def test_a_remote_becomes_the_address_a_browser_opens(remote, address):
    assert https_address(remote) == address


def _repository(tmp_path, origin: str | None):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    if origin:
        subprocess.run(["git", "-C", str(tmp_path), "remote", "add", "origin", origin], check=True)
    return tmp_path


def test_the_address_comes_from_the_override_then_github_actions_then_origin(tmp_path):
    root = _repository(tmp_path, "git@github.com:jdupont/mlops-course.git")
    actions = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "insee/course"}
    assert repository_address(root, {}) == "https://github.com/jdupont/mlops-course"
    assert repository_address(root, actions) == "https://github.com/insee/course"
    override = {**actions, OVERRIDE_VARIABLE: "https://forge.example.org/a/b.git"}
    assert repository_address(root, override) == "https://forge.example.org/a/b"


def test_without_any_address_the_page_says_the_instructor_gives_it(tmp_path):
    root = _repository(tmp_path, None)
    snippet = write_clone_snippet(root, {}).read_text()
    assert "Your instructor gives you the address" in snippet
    assert "git clone <address of the course repository> mlops-course" in snippet


def test_the_snippet_clones_the_course_and_shows_how_to_clone_a_fork(tmp_path):
    root = _repository(tmp_path, "https://jdupont:ghp_secret@github.com/insee/course.git")
    snippet = write_clone_snippet(root, {}).read_text()
    assert snippet == (root / SNIPPET).read_text()
    assert "git clone https://github.com/insee/course.git mlops-course" in snippet
    assert "git clone https://github.com/<your account>/course.git mlops-course" in snippet
    assert "ghp_secret" not in snippet and "<address of" not in snippet


def test_the_start_page_includes_the_generated_snippet_and_types_no_address():
    index = (ROOT / "book" / "index.md").read_text()
    assert "```{include} _generated/clone.md" in index
    assert "git clone <address" not in index
    assert (ROOT / ".gitignore").read_text().count("book/_generated/") >= 1
