"""Application 3's checks, against a real API process and the registry.

The checks run against a real API process serving a private model name, so
they never touch the ``fasttext`` model of the notebooks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pandas as pd
import pytest
import requests

from course_lib.checks import CheckFailed
from course_lib.checks import app3 as checks
from course_lib.data.dataset import data_to_classify
from course_lib.deploy.manifests import TraineeValues, for_user, load_values
from course_lib.model.fasttext_model import Hyperparameters
from course_lib.model.training import TrainConfig, TrainResult, run_training
from course_lib.serving.client import classify_in_batches, read_descriptions
from course_lib.serving.process import ApiProcess, running_api
from course_lib.tracking.registry import register_run_model
from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # trains two versions and serves one as a real API

MODEL = "fasttext-app3-checks"
ROWS = 3000


@pytest.fixture
def values() -> TraineeValues:
    return load_values(ROOT / "infra" / "values.yaml")


# --- the lab's checks, against a real API ------------------------------------------------


@pytest.fixture(scope="module")
def versions(mlflow_server) -> dict[str, str]:
    """Four versions of a private model: v1 and v2 differ by epoch; v3 re-registers v1;
    v4 has v1's hyperparameters, trained on a corpus drawn with another seed."""
    tiny = Hyperparameters(epoch=2, bucket=5000)
    registered = {}
    for key, params in (("served", tiny), ("new", replace(tiny, epoch=3))):
        config = TrainConfig(rows=ROWS, experiment="app3-checks", model_name=MODEL, params=params)
        result = run_training(config, status=lambda _: None)
        registered[key] = result.model_version
        registered[f"{key}_run"] = result.run_id
    registered["same"] = register_run_model(registered["served_run"], MODEL).version
    reseeded = TrainConfig(
        rows=ROWS, seed=1, experiment="app3-checks", model_name=MODEL, params=tiny
    )
    registered["reseeded"] = run_training(reseeded, status=lambda _: None).model_version
    return registered


@pytest.fixture(scope="module")
def api(versions, mlflow_server) -> Iterator[ApiProcess]:
    with running_api(model=MODEL, version=versions["served"]) as process:
        yield process


@pytest.fixture
def private(monkeypatch) -> None:
    monkeypatch.setattr(checks, "MODEL_NAME", MODEL)


def test_every_check_says_not_set_yet_on_the_lab_s_stubs(private, values):
    stubs = [
        lambda: checks.check_single_prediction(..., "http://127.0.0.1:9", "taxi", 3),
        lambda: checks.check_row_by_row(None, None),  # classify_online's stub returns None
        lambda: checks.check_new_version(..., "1", ROWS),
        lambda: checks.check_bumped_manifests(..., values, ...),
        lambda: checks.check_deployed_version("http://127.0.0.1:9", ...),
    ]
    for stub in stubs:
        with pytest.raises(CheckFailed, match="not set yet"):
            stub()


def test_single_prediction(private, api, capsys):
    response = requests.get(
        f"{api.url}/predict", params={"description": "taxi", "nb_echoes_max": 3}, timeout=10
    )
    checks.check_single_prediction(response.json(), api.url, "taxi", 3)
    assert capsys.readouterr().out.startswith("✔ GET /predict: 3 ranked codes")
    with pytest.raises(CheckFailed, match=r"store its decoded JSON body: response.json\(\)"):
        checks.check_single_prediction(response, api.url, "taxi", 3)
    with pytest.raises(CheckFailed, match="expected k=5: pass 'nb_echoes_max': k"):
        checks.check_single_prediction(response.json(), api.url, "taxi", 5)
    with pytest.raises(CheckFailed, match="the API classified 'taxi', not description='bus'"):
        checks.check_single_prediction(response.json(), api.url, "bus", 3)
    root = requests.get(f"{api.url}/", timeout=10).json()
    with pytest.raises(CheckFailed, match=r"has no 'predictions'.*not /"):
        checks.check_single_prediction(root, api.url, "taxi", 3)
    stale = response.json()
    stale["predictions"] = stale["predictions"][::-1]
    with pytest.raises(CheckFailed, match="run your cell again"):
        checks.check_single_prediction(stale, api.url, "taxi", 3)


def test_row_by_row_must_match_the_batch(private, api, capsys):
    frame = read_descriptions(data_to_classify()).head(20)
    batch = classify_in_batches(frame, api.url, progress=False)
    online = [
        requests.get(f"{api.url}/predict", params={"description": t}, timeout=10).json()[
            "predictions"
        ][0]["nace"]  # the compact code is as good as the dotted one
        for t in frame["text"]
    ]
    checks.check_row_by_row(online, batch)
    assert capsys.readouterr().out.startswith("✔ 20 descriptions, one GET each")
    with pytest.raises(CheckFailed, match="returned 19 codes for 20 descriptions"):
        checks.check_row_by_row(online[:-1], batch)
    wrong = ["00.00Z", *online[1:]]
    with pytest.raises(CheckFailed, match="1 of 20 rows differ from the batch"):
        checks.check_row_by_row(wrong, batch)
    with pytest.raises(CheckFailed, match="should return a list"):
        checks.check_row_by_row("70.22Z", batch)
    with pytest.raises(CheckFailed, match="should return a list"):
        checks.check_row_by_row(batch, batch)  # the batch table itself is not one code per text


def test_row_by_row_accepts_a_series_from_apply(private, api, capsys):
    """The natural pandas answer, ``texts.apply(...)``, is a Series with the texts' index."""
    frame = read_descriptions(data_to_classify()).iloc[20:40]  # an index that is not 0..19
    batch = classify_in_batches(frame, api.url, progress=False)

    def best_code(text: str) -> str:
        answer = requests.get(f"{api.url}/predict", params={"description": text}, timeout=10)
        return answer.json()["predictions"][0]["code"]

    online = frame["text"].apply(best_code)
    assert list(online.index) != list(range(20))
    checks.check_row_by_row(online, batch)
    assert capsys.readouterr().out.startswith("✔ 20 descriptions")
    checks.check_row_by_row(online.to_numpy(), batch)
    assert capsys.readouterr().out.startswith("✔ 20 descriptions")
    shifted = pd.Series(["00.00Z", *online.iloc[1:]], index=online.index)
    with pytest.raises(CheckFailed, match="1 of 20 rows differ from the batch"):
        checks.check_row_by_row(shifted, batch)


def test_new_version(private, versions, capsys):
    served, new, same = versions["served"], versions["new"], versions["same"]
    checks.check_new_version(new, served, ROWS)
    assert capsys.readouterr().out.strip().endswith("changed: epoch 2 → 3")
    with pytest.raises(
        CheckFailed, match=f"has the hyperparameters and the data of version {served}"
    ):
        checks.check_new_version(same, served, ROWS)
    with pytest.raises(CheckFailed, match=f"version {served} is not newer than"):
        checks.check_new_version(served, served, ROWS)
    with pytest.raises(CheckFailed, match="expected this notebook's rows=200000"):
        checks.check_new_version(new, served, 200_000)
    with pytest.raises(CheckFailed, match=f"no version '999' of a registered model '{MODEL}'"):
        checks.check_new_version("999", served, ROWS)


def test_new_version_accepts_a_retrain_on_another_corpus_seed(private, versions, capsys):
    """Same hyperparameters, another corpus: a different model, so a right answer."""
    checks.check_new_version(versions["reseeded"], versions["served"], ROWS)
    assert capsys.readouterr().out.strip().endswith("changed: seed 0 → 1")


def test_bumped_manifests(private, values, capsys):
    mine = replace(for_user(values, "alice"), model_version="1")
    checks.check_bumped_manifests(replace(mine, model_version="2"), mine, "2")
    assert "asks for fasttext-app3-checks version 2" in capsys.readouterr().out
    with pytest.raises(
        CheckFailed, match=r"bumped\.model_version is '1', expected the new version"
    ):
        checks.check_bumped_manifests(mine, mine, "2")
    moved = replace(mine, model_version="2", replicas=3)
    with pytest.raises(CheckFailed, match="bumped also changes replicas"):
        checks.check_bumped_manifests(moved, mine, "2")
    with pytest.raises(CheckFailed, match=r"dataclasses.replace\(mine, model_version=...\)"):
        checks.check_bumped_manifests({"model_version": "2"}, mine, "2")


def test_deployed_version(private, api, versions, capsys):
    served, new = versions["served"], versions["new"]
    checks.check_deployed_version(api.url, served)
    assert f"serves models:/{MODEL}/{served}" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match=f"serves version {served}, not {new}: stop it"):
        checks.check_deployed_version(api.url, new)
    with pytest.raises(CheckFailed, match=r"nothing answers at http://127\.0\.0\.1:9/"):
        checks.check_deployed_version("http://127.0.0.1:9", new)


# --- more wrong answers a trainee could give, and right answers the lab does not write ----


def _get_predict(api_url: str, description: str, **params) -> dict:
    params = {"description": description, **params}
    return requests.get(f"{api_url}/predict", params=params, timeout=10).json()


def test_single_prediction_refuses_the_default_k_and_the_codes_alone(private, api):
    with pytest.raises(
        CheckFailed, match="holds 1 predictions, expected k=3: pass 'nb_echoes_max'"
    ):
        checks.check_single_prediction(_get_predict(api.url, "taxi"), api.url, "taxi", 3)
    codes = _get_predict(api.url, "taxi", nb_echoes_max=3)["predictions"]
    with pytest.raises(CheckFailed, match=r"the decoded JSON body \(a dict\), got list"):
        checks.check_single_prediction(codes, api.url, "taxi", 3)


def test_single_prediction_accepts_another_way_to_ask(private, api, capsys):
    """A URL written by hand (percent-encoded, k as text) and the body decoded with json:
    the same answer as requests' params and response.json()."""
    import json
    from urllib.parse import urlencode

    description = "vendeur d'huîtres sur les marchés"
    query = urlencode({"description": description, "nb_echoes_max": "3"})
    with requests.Session() as session:
        response = session.get(f"{api.url}/predict?{query}", timeout=10)
    checks.check_single_prediction(json.loads(response.text), api.url, description, 3)
    assert capsys.readouterr().out.startswith("✔ GET /predict: 3 ranked codes")


def test_row_by_row_refuses_labels_and_a_generator(private, api):
    frame = read_descriptions(data_to_classify()).head(5)
    batch = classify_in_batches(frame, api.url, progress=False)
    answers = [_get_predict(api.url, t)["predictions"][0] for t in frame["text"]]
    labels = [p["label"] for p in answers]  # the label, not the code
    with pytest.raises(
        CheckFailed, match=r"5 of 5 rows differ .*keep the first prediction's 'code'"
    ):
        checks.check_row_by_row(labels, batch)
    # `return (code for ...)`: nothing runs until the check reads it, so the timing is empty
    with pytest.raises(CheckFailed, match=r"should return a list .* got generator"):
        checks.check_row_by_row((p["code"] for p in answers), batch)


def test_row_by_row_accepts_prediction_dicts_and_a_tuple(private, api, capsys):
    frame = read_descriptions(data_to_classify()).head(5)
    batch = classify_in_batches(frame, api.url, progress=False)
    answers = [_get_predict(api.url, t)["predictions"][0] for t in frame["text"]]
    checks.check_row_by_row(answers, batch)  # the whole first prediction of each answer
    assert capsys.readouterr().out.startswith("✔ 5 descriptions")
    checks.check_row_by_row(tuple(p["code"] for p in answers), batch)
    assert capsys.readouterr().out.startswith("✔ 5 descriptions")


def test_new_version_refuses_the_result_and_the_alias(private, versions):
    result = TrainResult(
        run_id=versions["new_run"], experiment_id="0", metrics={}, model_uri="",
        model_version=versions["new"], report=None,
    )  # fmt: skip
    with pytest.raises(
        CheckFailed, match=r"whole TrainResult, not a version.*result\.model_version"
    ):
        checks.check_new_version(result, versions["served"], ROWS)
    with pytest.raises(CheckFailed, match=r"no version 'champion'.*result\.model_version"):
        checks.check_new_version("champion", versions["served"], ROWS)


def test_new_version_accepts_an_int_or_a_model_version(private, versions, capsys):
    from mlflow import MlflowClient

    served, new = versions["served"], versions["new"]
    checks.check_new_version(int(new), int(served), ROWS)
    assert capsys.readouterr().out.strip().endswith("changed: epoch 2 → 3")
    record = MlflowClient().get_model_version(MODEL, new)
    checks.check_new_version(record, served, ROWS)
    assert capsys.readouterr().out.startswith(f"✔ {MODEL} version {new} is registered")


def test_bumped_manifests_refuses_the_alias(private, values):
    mine = replace(for_user(values, "alice"), model_version="1")
    with pytest.raises(CheckFailed, match=r"is 'champion', expected .*an alias .*write the number"):
        checks.check_bumped_manifests(replace(mine, model_version="champion"), mine, "2")


def test_bumped_manifests_accepts_other_spellings_of_the_version(private, values, capsys):
    from dataclasses import asdict

    mine = replace(for_user(values, "alice"), model_version="1")
    checks.check_bumped_manifests(replace(mine, model_version=2), mine, 2)  # ints throughout
    assert "version 2 (MLFLOW_MODEL_VERSION)" in capsys.readouterr().out
    rebuilt = TraineeValues(**(asdict(mine) | {"model_version": "2"}))
    checks.check_bumped_manifests(rebuilt, mine, "2")
    assert capsys.readouterr().out.startswith("✔ the Deployment rendered from bumped")


def test_deployed_version_refuses_another_model_and_accepts_any_spelling(
    private, monkeypatch, api, versions, capsys
):
    from mlflow import MlflowClient

    served = versions["served"]
    checks.check_deployed_version(api.url, int(served))
    checks.check_deployed_version(api.url, MlflowClient().get_model_version(MODEL, served))
    assert capsys.readouterr().out.count("✔") == 2
    monkeypatch.setattr(checks, "MODEL_NAME", "fasttext")  # the lab's model, not this one
    with pytest.raises(CheckFailed, match=f"serves '{MODEL}', not 'fasttext': start_api"):
        checks.check_deployed_version(api.url, served)
