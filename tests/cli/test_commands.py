"""The shape of the command line: every option explained, choices listed, one way to name a
version, and every command documented where people look (no process started here)."""

from __future__ import annotations

import re

import click
import pytest
import typer
from typer.testing import CliRunner

import course_lib.cli
from course_lib.cli import app
from tests.conftest import ROOT

COMMAND = typer.main.get_command(app)
assert isinstance(COMMAND, click.Group)
COMMANDS = dict(COMMAND.commands)


def _plain(output: str) -> str:
    """The words of a message, without rich's box and line breaks."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", output).split())


def _params(name: str) -> list[click.Parameter]:
    return [p for p in COMMANDS[name].params if p.name != "help"]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_and_argument_says_what_it_is(name):
    assert COMMANDS[name].help, f"course {name} has no description"
    unexplained = [p.name for p in _params(name) if not getattr(p, "help", None)]
    assert unexplained == [], f"course {name}: no help text for {unexplained}"


@pytest.mark.parametrize(
    ("args", "valid"),
    [
        (["train", "--loss", "magic"], ["ova", "softmax", "hs", "ns"]),
        (["bench", "--suite", "fast"], ["model", "serving", "tracking", "monitoring", "search"]),
    ],
)
def test_a_bad_choice_is_a_usage_error_listing_the_valid_values(args, valid):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    listed = re.findall(r"'(\w+)'", _plain(result.output).split("is not one of", 1)[1])
    assert listed == valid, result.output


@pytest.mark.parametrize("name", ["predict", "evaluate", "serve"])
def test_version_or_alias_is_the_same_pair_of_options_everywhere(name):
    options = {p.name: p for p in _params(name)}
    reference = {p.name: p for p in _params("predict")}
    for option in ("version", "alias"):
        assert options[option].opts == reference[option].opts
        assert options[option].help == reference[option].help


def test_both_version_and_alias_is_a_usage_error():
    result = CliRunner().invoke(app, ["predict", "taxi", "--version", "2", "--alias", "champion"])
    assert result.exit_code == 2 and "give --version or --alias, not both" in _plain(result.output)


def test_the_package_docstring_and_the_readme_list_every_command():
    documented = set(re.findall(r"``course ([\w-]+)``", course_lib.cli.__doc__ or ""))
    assert documented == set(COMMANDS)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    in_readme = set(re.findall(r"^\| `(?:uv run )?course ([\w-]+)", readme, flags=re.M))
    assert set(COMMANDS) <= in_readme, f"missing from README: {set(COMMANDS) - in_readme}"
