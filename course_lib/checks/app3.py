"""Checks of Application 3 (serving: the API, its clients, a new version deployed).

The checks ask the running API and the registry rather than trust the
notebook's variables: an answer is compared with a fresh request, a new
version is looked up in the registry with the run that trained it, and "which
version is deployed" is what ``GET /`` says, as after a real deployment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import requests

from course_lib.checks import CheckFailed, is_stub, passed, registered_version, require
from course_lib.settings import DEFAULT_MODEL_NAME as MODEL_NAME

TIMEOUT_S = 30.0
PREDICTION_KEYS = {"nace", "code", "label", "probability"}
DATA_SETTINGS = ("seed", "test_size")
"""Training params that change the rows a model learns from (logged by every training run)."""


def _get(url: str, **params: Any) -> requests.Response:
    """A GET that fails as a check (with what to do) when nothing answers."""
    try:
        return requests.get(url, params=params or None, timeout=TIMEOUT_S)
    except requests.RequestException as exc:
        raise CheckFailed(
            f"nothing answers at {url}: is the API running? Start it again with start_api(...) "
            "(the cells of 'Start the API')"
        ) from exc


def _version_of(value: Any, what: str = "new_version") -> str:
    """A version as the registry spells it: "3" from 3, "3" or a ModelVersion."""
    if not hasattr(value, "version") and hasattr(value, "model_version"):
        raise CheckFailed(  # run_training's TrainResult: its repr would not say what to keep
            f"{what} is the whole {type(value).__name__}, not a version: keep its version, "
            f"{what} = result.model_version"
        )
    return str(getattr(value, "version", value))


def check_single_prediction(answer: Any, api_url: str, description: str, k: int) -> None:
    """App 3, exercise 1: the decoded answer of ``GET /predict`` for one description."""
    require(answer, "answer")
    if isinstance(answer, requests.Response):
        raise CheckFailed(
            "answer is the HTTP response itself; store its decoded JSON body: response.json()"
        )
    if not isinstance(answer, Mapping):
        raise CheckFailed(
            f"answer should be the decoded JSON body (a dict), got {type(answer).__name__}"
        )
    if "predictions" not in answer:
        keys = ", ".join(map(str, answer)) or "none"
        raise CheckFailed(
            f"answer has no 'predictions' (its keys: {keys}): ask GET {api_url}/predict, not /"
        )
    if answer.get("description") != description:
        raise CheckFailed(
            f"the API classified {answer.get('description')!r}, not description={description!r}: "
            "pass params={'description': description, ...}"
        )
    predictions = answer["predictions"]
    if not isinstance(predictions, list) or len(predictions) != k:
        found = len(predictions) if isinstance(predictions, list) else type(predictions).__name__
        raise CheckFailed(
            f"answer holds {found} predictions, expected k={k}: pass 'nb_echoes_max': k"
        )
    for i, prediction in enumerate(predictions):
        if not isinstance(prediction, Mapping) or not set(prediction) >= PREDICTION_KEYS:
            raise CheckFailed(
                f"answer['predictions'][{i}] should have {sorted(PREDICTION_KEYS)}: {prediction}"
            )
    fresh = _get(f"{api_url}/predict", description=description, nb_echoes_max=k)
    if fresh.status_code != 200:
        raise CheckFailed(f"the API answers {fresh.status_code} now: {fresh.text[:300]}")
    now = fresh.json()
    codes = [p["nace"] for p in predictions]
    if codes != [p["nace"] for p in now["predictions"]] or answer.get("model_version") != now.get(
        "model_version"
    ):
        raise CheckFailed(
            f"answer holds {codes} from version {answer.get('model_version')}, but the API at "
            f"{api_url} answers {[p['nace'] for p in now['predictions']]} from version "
            f"{now.get('model_version')}: run your cell again"
        )
    passed(
        f"GET /predict: {k} ranked codes with labels for {description!r}, the same as the API "
        f"answers now (version {now['model_version']})"
    )


def _compact(code: Any) -> str:
    """``10.71C`` and ``1071C`` name the same subclass."""
    return str(code).replace(".", "").strip().upper()


def check_row_by_row(online: Any, batch: Any) -> None:
    """App 3, exercise 2: one GET per row gives what the batch POSTs give, row for row."""
    if is_stub(online):
        raise CheckFailed(
            "online is not set yet: classify_online still returns nothing; write its loop "
            "(one GET /predict per text) and return the list of best codes"
        )
    if (
        isinstance(online, str | bytes | Mapping)
        or hasattr(online, "columns")  # a table: one code per text is one column
        or not isinstance(online, Iterable)
        or not hasattr(online, "__len__")
    ):
        raise CheckFailed(
            "classify_online should return a list (or a Series, e.g. texts.apply(...)) of "
            f"one best code per text, got {type(online).__name__}"
        )
    online = list(online)  # a Series or an array too: its values, in the order of the texts
    expected = list(batch["prediction_1"])
    if len(online) != len(expected):
        raise CheckFailed(
            f"classify_online returned {len(online)} codes for {len(expected)} descriptions: "
            "one code per text, in order"
        )
    codes = [
        c.get("code", c.get("nace")) if isinstance(c, Mapping) else c for c in online
    ]  # a prediction dict is fine too
    wrong = [
        (text, got, want)
        for text, got, want in zip(batch["text"], codes, expected, strict=True)
        if _compact(got) != _compact(want)
    ]
    if wrong:
        text, got, want = wrong[0]
        raise CheckFailed(
            f"{len(wrong)} of {len(expected)} rows differ from the batch, e.g. {text!r}: "
            f"{got!r} one by one, {want!r} in the batch; keep the first prediction's 'code' "
            "(answer['predictions'][0]['code'])"
        )
    passed(
        f"{len(expected)} descriptions, one GET each: the same best code as the batch POSTs "
        "for every row"
    )


def check_new_version(new_version: Any, served_version: Any, rows: Any) -> None:
    """App 3, exercise 3: a new, retrained version of the model in the registry."""
    from mlflow import MlflowClient

    from course_lib.model.fasttext_model import Hyperparameters

    require(new_version, "new_version")
    version, served = _version_of(new_version), _version_of(served_version, "served_version")
    client = MlflowClient()
    registered = registered_version(
        MODEL_NAME,
        version,
        "new_version should be result.model_version, with "
        f"TrainConfig(model_name={MODEL_NAME!r}, ...)",
    )
    if not version.isdigit() or int(version) <= int(served):
        raise CheckFailed(
            f"version {version} is not newer than the version the API serves ({served}): "
            "train and register a new one"
        )
    run = client.get_run(registered.run_id)
    if run.info.status != "FINISHED":
        raise CheckFailed(f"the run of version {version} is {run.info.status}, not FINISHED")
    params = run.data.params
    if params.get("corpus_rows") != str(rows):
        raise CheckFailed(
            f"version {version} was trained on a corpus of {params.get('corpus_rows')} rows, "
            f"expected this notebook's rows={rows}: pass TrainConfig(rows=rows, ...)"
        )
    before = client.get_run(client.get_model_version(MODEL_NAME, served).run_id).data.params
    # What makes a different model: a hyperparameter, or other training rows (the
    # corpus seed draws another corpus and another split; test_size another split).
    settings = [*Hyperparameters().as_dict(), *DATA_SETTINGS]
    changed = [
        f"{name} {before.get(name)} → {params.get(name)}"
        for name in settings
        if before.get(name) != params.get(name)
    ]
    if not changed:
        raise CheckFailed(
            f"version {version} has the hyperparameters and the data of version {served}: "
            "fastText on one thread would train the same model again; change a "
            "hyperparameter, e.g. params=Hyperparameters(epoch=10), or the corpus, e.g. seed=1"
        )
    passed(
        f"{MODEL_NAME} version {version} is registered, newer than the served version "
        f"{served}; changed: {', '.join(changed)}"
    )


def _deployment_env(values: Any) -> dict[str, str]:
    from course_lib.deploy.manifests import render

    (deployment,) = render(values)["kubernetes/deployment.yaml"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {item["name"]: item.get("value") for item in container["env"]}


def check_bumped_manifests(bumped: Any, mine: Any, new_version: Any) -> None:
    """App 3, exercise 4: the trainee's values with the new version, and nothing else."""
    from dataclasses import fields

    from course_lib.deploy.manifests import TraineeValues, render
    from course_lib.deploy.validation import ManifestInvalid, check_documents

    require(bumped, "bumped")
    require(new_version, "new_version")
    if not isinstance(bumped, TraineeValues):
        raise CheckFailed(
            f"bumped should be values like mine (TraineeValues), got {type(bumped).__name__}: "
            "dataclasses.replace(mine, model_version=...)"
        )
    version = _version_of(new_version)
    if bumped.model_version != version:
        alias = (
            ": an alias is resolved when a pod starts, so moving it changes no manifest and "
            "nothing redeploys; write the number"
            if not bumped.model_version.isdigit()
            else ""
        )
        raise CheckFailed(
            f"bumped.model_version is {bumped.model_version!r}, expected the new version "
            f"{version!r}{alias}: dataclasses.replace(mine, model_version=new_version)"
        )
    others = [
        f.name
        for f in fields(bumped)
        if f.name != "model_version" and getattr(bumped, f.name) != getattr(mine, f.name)
    ]
    if others:
        raise CheckFailed(
            f"only the model version should change, but bumped also changes {', '.join(others)}"
        )
    try:
        kinds = check_documents(render(bumped))
    except ManifestInvalid as exc:
        raise CheckFailed(f"the manifests rendered from bumped are not valid: {exc}") from exc
    if _deployment_env(bumped).get("MLFLOW_MODEL_VERSION") != version:
        raise CheckFailed(f"the rendered Deployment does not ask for version {version}")
    passed(
        f"the Deployment rendered from bumped asks for {MODEL_NAME} version {version} "
        f"(MLFLOW_MODEL_VERSION), nothing else changes; "
        + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        + " valid offline"
    )


def check_deployed_version(api_url: str, expected_version: Any) -> None:
    """App 3, exercise 5: ``GET /`` of the running API names the new version."""
    require(expected_version, "new_version")
    version = _version_of(expected_version)
    response = _get(f"{api_url}/")
    if response.status_code != 200:
        raise CheckFailed(f"GET {api_url}/ answered {response.status_code}: {response.text[:300]}")
    info = response.json()
    if info.get("model_name") != MODEL_NAME:
        raise CheckFailed(
            f"the API at {api_url} serves {info.get('model_name')!r}, not {MODEL_NAME!r}: "
            f"start_api({MODEL_NAME!r}, version=...)"
        )
    if not info.get("ready"):
        raise CheckFailed(f"the API at {api_url} has not loaded its model yet: see {api_url}/ready")
    if info.get("model_version") != version:
        raise CheckFailed(
            f"the API at {api_url} serves version {info.get('model_version')}, not "
            f"{version}: stop it (stop_api(api)) and start it again with version=new_version"
        )
    passed(f"the API at {api_url} serves {info['model_uri']}, the version you registered")
