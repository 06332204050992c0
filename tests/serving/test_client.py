"""The client that classifies a file through the API: both ways agree, nothing is lost."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from course_lib.cli import app
from course_lib.data.dataset import data_to_classify
from course_lib.errors import CourseError
from course_lib.processes import free_port
from course_lib.serving import client
from course_lib.serving.process import ApiProcess
from tests.conftest import SMALL

pytestmark = pytest.mark.slow  # a real API process


@pytest.fixture(scope="module")
def descriptions(state_dir: Path) -> pd.DataFrame:
    frame = pd.read_parquet(data_to_classify(rows=40))
    frame.loc[[3, 17], "text"] = ["   ", None]  # kept back, not lost
    frame.loc[5, "text"] = "!!!"  # sent; no word the model can read
    frame["batch"] = "2026-11"
    return frame.set_index(frame["id"] + 1000)


def test_row_by_row_and_batches_agree_and_keep_every_row(
    served_api: ApiProcess, descriptions: pd.DataFrame
) -> None:
    slow = client.classify_row_by_row(descriptions, served_api.url, k=2, progress=False)
    fast = client.classify_in_batches(
        descriptions, served_api.url, k=2, chunk_size=7, progress=False
    )
    pd.testing.assert_frame_equal(slow, fast)
    assert fast.index.equals(descriptions.index)
    assert fast[["id", "text", "batch"]].equals(descriptions[["id", "text", "batch"]])
    assert fast.loc[1003, "problem"] == "blank description: not sent"
    assert fast.loc[1017, "problem"] == "blank description: not sent"
    assert fast.loc[1005, "problem"] == "no word the model can read"
    assert fast["problem"].notna().sum() == 3
    good = fast["problem"].isna()
    assert fast.loc[good, "prediction_1"].str.match(r"^\d\d\.\d\d[A-Z]$").all()
    assert (fast.loc[good, "proba_1"] >= fast.loc[good, "proba_2"]).all()
    assert fast.loc[~good, "prediction_1"].isna().all()


def test_long_descriptions_are_trimmed_not_refused(served_api: ApiProcess) -> None:
    frame = pd.DataFrame({"text": ["boulangerie " * 9_000, "coiffure"]})
    result = client.classify_in_batches(frame, served_api.url, progress=False)
    assert result["prediction_1"].tolist() == ["10.71C", "96.02A"]


def test_api_down_or_bad_file_is_a_clear_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    frame = pd.DataFrame({"text": ["taxi"]})
    with pytest.raises(CourseError, match="does not answer: start it with `uv run course serve`"):
        client.classify_in_batches(frame, url, progress=False)
    with pytest.raises(CourseError, match="no file"):
        client.read_descriptions(tmp_path / "missing.parquet")
    csv = tmp_path / "companies.csv"
    pd.DataFrame({"libelle": ["taxi"]}).to_csv(csv, index=False)
    with pytest.raises(CourseError, match=r"no 'text' column .*libelle.*--column"):
        client.read_descriptions(csv)
    with pytest.raises(CourseError, match="chunk size 0"):
        client.classify_in_batches(frame, url, chunk_size=0)


def test_cli_classifies_a_csv_through_the_api(served_api: ApiProcess, tmp_path: Path) -> None:
    source = tmp_path / "companies.csv"
    pd.DataFrame({"siren": ["1", "2", "3"], "libelle": ["taxi", "coiffure", np.nan]}).to_csv(
        source, index=False
    )
    out = tmp_path / "classified.parquet"
    result = CliRunner().invoke(
        app,
        [
            "classify",
            str(source),
            "--api",
            served_api.url,
            "--column",
            "libelle",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"3 descriptions classified by models:/{SMALL.model_name}/" in result.output
    assert "1 with a problem" in result.output
    classified = pd.read_parquet(out)
    assert classified["prediction_1"].tolist()[:2] == ["49.32Z", "96.02A"]
