"""Application 0's checks: a plausible wrong answer fails, every right answer passes.

The nomenclature checks compare with Insee's table of all levels, so a
hard-coded wrong number or letter fails even though it is not recomputed
from the trainee's own call; the tracking URI check compares with the URI
MLflow uses, so another server that answers is not enough.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import mlflow
import numpy as np
import pandas as pd
import pytest

from course_lib.checks import CheckFailed
from course_lib.checks import app0 as checks
from course_lib.data.nomenclature import load_nomenclature
from course_lib.processes import free_port


def _passes(capsys, check, *args) -> str:
    check(*args)
    out = capsys.readouterr().out
    assert out.startswith("✔"), out
    return out


def test_every_check_says_not_set_yet_on_a_stub():
    for call in (
        lambda: checks.check_tracking_uri(...),
        lambda: checks.check_subclass_count(...),
        lambda: checks.check_section_of("10.71C", ...),
    ):
        with pytest.raises(CheckFailed, match="not set yet"):
            call()


@pytest.mark.parametrize("wrong", [615, 733, 88, 21, True])  # classes, off by one, divisions…
def test_subclass_count_refuses_a_hard_coded_wrong_number(wrong):
    with pytest.raises(CheckFailed, match=r"NAF rév\. 2 has 732 subclasses"):
        checks.check_subclass_count(wrong)


def test_subclass_count_does_not_trust_the_nomenclature_object(monkeypatch, capsys):
    """The truth comes from Insee's table: a broken ``codes`` would not fool the check."""
    nomenclature = load_nomenclature()
    monkeypatch.setattr(type(nomenclature), "codes", property(lambda self: ["0111Z"]))
    with pytest.raises(CheckFailed, match="732"):
        checks.check_subclass_count(len(nomenclature.codes))
    _passes(capsys, checks.check_subclass_count, 732)


@pytest.mark.parametrize(
    "right",
    [
        732,
        np.int64(732),
        len(load_nomenclature().subclasses),  # the table's rows, not the list of codes
        load_nomenclature().subclasses.shape[0],
        float(len(set(load_nomenclature().codes))),  # 732.0, e.g. from a sum
    ],
)
def test_subclass_count_accepts_a_right_answer_however_computed(right, capsys):
    _passes(capsys, checks.check_subclass_count, right)


def test_subclass_count_says_a_count_is_a_number():
    """``"732"`` (typed, or read from a printed table) would break arithmetic later."""
    with pytest.raises(CheckFailed, match=r"the text '732', not a number.*len\(nomenclature"):
        checks.check_subclass_count("732")


@pytest.mark.parametrize(
    "wrong",
    [
        "10",  # the division
        "10.7",  # the group
        "B",  # the neighbouring section
        "INDUSTRIE MANUFACTURIÈRE",  # the label, not the letter
        ("C", "INDUSTRIE MANUFACTURIÈRE"),  # the cell's displayed pair
        3,  # the section's position
    ],
)
def test_section_of_refuses_another_level_or_letter(wrong):
    with pytest.raises(CheckFailed, match="belongs to section 'C'"):
        checks.check_section_of("10.71C", wrong)


@pytest.mark.parametrize(
    "right",
    [
        "C",
        "c",
        " C\n",  # copied from a printed cell
        load_nomenclature().parent("1071C", "section"),  # the compact code
        load_nomenclature().subclasses.at["1071C", "section"],  # read from the table
        load_nomenclature().at_level(pd.Series(["1071C"]), "section").iloc[0],
        np.str_("C"),
    ],
)
def test_section_of_accepts_the_letter(right, capsys):
    out = _passes(capsys, checks.check_section_of, "10.71C", right)
    assert "INDUSTRIE MANUFACTURIÈRE" in out


def test_section_of_does_not_trust_the_nomenclature_object(monkeypatch):
    nomenclature = load_nomenclature()
    monkeypatch.setattr(type(nomenclature), "parent", lambda self, code, level: "B")
    with pytest.raises(CheckFailed, match="belongs to section 'C', not 'B'"):
        checks.check_section_of("10.71C", nomenclature.parent("10.71C", "section"))


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # the name http.server calls
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def other_server() -> Iterator[str]:
    """Something else on loopback that answers ``/health``: not the server MLflow uses."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


@pytest.fixture
def tracking_uri(monkeypatch) -> Iterator[None]:
    """Restore MLflow's tracking URI after a test sets it."""
    before = mlflow.get_tracking_uri()
    yield
    mlflow.set_tracking_uri(before)


def test_tracking_uri_refuses_a_healthy_server_mlflow_does_not_use(
    tracking_uri, other_server, capsys
):
    mlflow.set_tracking_uri(other_server)
    _passes(capsys, checks.check_tracking_uri, other_server)
    _passes(capsys, checks.check_tracking_uri, other_server + "/")  # the same address
    with pytest.raises(CheckFailed, match="MLflow sends runs to"):
        checks.check_tracking_uri("http://127.0.0.1:5000")  # the default port, copied
    mlflow.set_tracking_uri(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(CheckFailed, match=r"MLflow sends runs to .*get_tracking_uri\(\)"):
        checks.check_tracking_uri(other_server)  # it answers, but MLflow talks to another


def test_tracking_uri_says_what_to_do_when_nothing_answers(tracking_uri):
    dead = f"http://127.0.0.1:{free_port()}"
    mlflow.set_tracking_uri(dead)
    with pytest.raises(CheckFailed, match=r"nothing answers.*MLFLOW_TRACKING_URI.*course mlflow"):
        checks.check_tracking_uri(dead)


def test_tracking_uri_refuses_a_local_store(tracking_uri, tmp_path):
    mlflow.set_tracking_uri(tmp_path.as_uri())
    with pytest.raises(CheckFailed, match=r"call connect\(\)"):
        checks.check_tracking_uri(mlflow.get_tracking_uri())
