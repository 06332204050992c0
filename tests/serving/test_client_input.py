"""What a trainee feeds `course classify`: every mistake is one message, every row is kept."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from course_lib.cli import app
from course_lib.errors import CourseError
from course_lib.serving import client
from course_lib.serving.client import classify_file, read_descriptions


@pytest.mark.parametrize(
    ("content", "name", "says"),
    [
        (b"", "empty.csv", "is empty"),
        ("siren,text\n1,boulangerie pâtisserie\n".encode("latin-1"), "latin1.csv",
         "is not UTF-8 (byte 0xe2 at position"),
        (b"PAR1 not really", "fake.parquet", "as parquet"),
        (b"siren,libelle\n1,taxi\n", "columns.csv", "has no 'text' column"),
    ],
)  # fmt: skip
def test_a_file_that_cannot_be_read_is_one_message(tmp_path, content, name, says):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CourseError, match=re.escape(says)):
        read_descriptions(path)


def test_blank_lines_stay_rows_and_identifiers_stay_text(tmp_path):
    path = tmp_path / "input.csv"
    path.write_text("siren,text\n012345678,boulangerie\n\n000000042,taxi\n")
    frame = read_descriptions(path)
    assert frame["siren"].tolist() == ["012345678", "", "000000042"]
    texts, problems = client._sendable(frame, "text")
    assert texts.tolist() == ["boulangerie", "taxi"]
    assert problems.tolist() == ["", "blank description: not sent", ""]


def test_an_output_folder_that_does_not_exist_is_refused_before_anything_is_sent(tmp_path):
    source = tmp_path / "input.csv"
    source.write_text("text\ntaxi\n")
    result = CliRunner().invoke(
        app,
        ["classify", str(source), "--api", "http://127.0.0.1:9", "--out",
         str(tmp_path / "missing" / "out.parquet")],
    )  # fmt: skip
    assert isinstance(result.exception, CourseError)
    assert "the folder" in str(result.exception) and "does not exist" in str(result.exception)


def test_an_api_that_never_answers_times_out_with_a_message(tmp_path, monkeypatch):
    source = tmp_path / "input.csv"
    source.write_text("text\ntaxi\n")
    monkeypatch.setattr(client, "CHECK_TIMEOUT_S", 0.5)
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(CourseError, match=r"did not answer within 0\.5 s"):
            classify_file(Path(source), url, progress=False)
    assert time.monotonic() - started < 10
    assert pd.read_csv(source)["text"].tolist() == ["taxi"]  # the input is untouched
