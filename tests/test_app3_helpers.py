"""Application 3's helpers: kubectl from a lab, and the lab's checks against a real API.

The cluster tests need no cluster: a fake ``kubectl`` script first on PATH
answers the way the real one does (its stdout, stderr and exit codes), so the
decision "deploy or only render" and the error messages are tested for real.
The checks run against a real API process serving a private model name, so
they never touch the ``fasttext`` model of the notebooks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from course_lib import cluster
from course_lib.api_process import ApiProcess, running_api
from course_lib.checks import CheckFailed
from course_lib.checks import app3 as checks
from course_lib.client import classify_in_batches, data_to_classify, read_descriptions
from course_lib.errors import CourseError
from course_lib.manifests import TraineeValues, for_user, load_values
from course_lib.model import Hyperparameters
from course_lib.registry import register_run_model
from course_lib.train import TrainConfig, run_training
from tests.conftest import ROOT

MODEL = "fasttext-app3-checks"
ROWS = 3000

# --- kubectl and the "can I deploy from here?" decision --------------------------------


def fake_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    """Put a ``kubectl`` shell script first on PATH; ``$1``, ``$2``... are its arguments."""
    path = tmp_path / "kubectl"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}/usr/bin{os.pathsep}/bin")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)


ALLOWED = """case "$1 $2" in
  "config current-context") echo my-cluster ;;
  "auth can-i") echo yes ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac"""


@pytest.fixture
def values() -> TraineeValues:
    return load_values(ROOT / "infra" / "values.yaml")


def test_without_kubectl_there_is_no_cluster_and_the_lab_says_why(tmp_path, monkeypatch, values):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no kubectl
    assert cluster.cluster_available("user-alice") is False
    assert cluster.cluster_problem() == "kubectl is not installed"
    assert cluster.deploy_problem(values) == (
        "no Kubernetes cluster configured here (kubectl is not installed)"
    )
    with pytest.raises(CourseError, match="`kubectl get pods`: kubectl is not installed here"):
        cluster.kubectl("get", "pods")
    assert cluster.argocd_installed() is False


def test_kubectl_returns_what_it_prints(tmp_path, monkeypatch):
    fake_kubectl(tmp_path, monkeypatch, 'echo "applied: $*"')
    assert cluster.kubectl("apply", "-f", tmp_path / "k8s") == f"applied: apply -f {tmp_path}/k8s\n"


def test_kubectl_failure_names_the_command_and_kubectl_s_message(tmp_path, monkeypatch):
    script = (
        "echo 'Error from server (Forbidden): deployments.apps is forbidden: "
        'User "x" cannot create resource\' >&2; exit 1'
    )
    fake_kubectl(tmp_path, monkeypatch, script)
    with pytest.raises(CourseError) as failed:
        cluster.kubectl("apply", "-f", "infra/kubernetes/")
    message = str(failed.value)
    assert message.startswith("`kubectl apply -f infra/kubernetes/` failed (exit 1): ")
    assert "Error from server (Forbidden): deployments.apps is forbidden" in message


def test_kubectl_that_hangs_is_stopped_with_a_message(tmp_path, monkeypatch):
    fake_kubectl(tmp_path, monkeypatch, "exec sleep 5")
    with pytest.raises(CourseError, match=r"`kubectl get pods` did not finish within 0.3 s"):
        cluster.kubectl("get", "pods", timeout=0.3)


def test_a_cluster_where_kubectl_may_create_deployments_is_available(tmp_path, monkeypatch):
    fake_kubectl(tmp_path, monkeypatch, ALLOWED)
    assert cluster.cluster_problem("user-alice") is None
    assert cluster.cluster_available("user-alice") is True


def test_inside_a_pod_the_service_account_counts_as_configured(tmp_path, monkeypatch):
    script = 'case "$1" in config) exit 1 ;; auth) echo yes ;; esac'
    fake_kubectl(tmp_path, monkeypatch, script)
    assert cluster.cluster_available() is False  # no context, not in a pod
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    assert cluster.cluster_available() is True


def test_a_forbidden_namespace_or_an_unreachable_cluster_is_explained(tmp_path, monkeypatch):
    script = 'case "$1" in config) echo c ;; auth) echo no; exit 1 ;; esac'
    fake_kubectl(tmp_path, monkeypatch, script)
    assert cluster.cluster_problem("user-bob") == (
        "kubectl reaches a cluster but may not create Deployments in the namespace user-bob: "
        "is it your namespace (user-<your user name> on SSP Cloud)?"
    )
    refused = "The connection to the server localhost:8080 was refused"
    script = (
        f'case "$1" in config) echo c ;; auth) echo E1126 >&2; echo "{refused}" >&2; exit 1;; esac'
    )
    fake_kubectl(tmp_path, monkeypatch, script)
    assert cluster.cluster_problem("user-bob") == f"kubectl reaches no cluster: {refused}"


def test_the_example_values_are_not_deployed_even_with_a_cluster(tmp_path, monkeypatch, values):
    fake_kubectl(tmp_path, monkeypatch, ALLOWED)
    # The committed values.yaml is the example EXAMPLE_VALUES describes.
    assert cluster.example_values_left(values) == list(cluster.EXAMPLE_VALUES)
    problem = cluster.deploy_problem(for_user(values, "alice"))
    assert "still holds the course's example for image_repository" in (problem or "")
    real = replace(
        for_user(values, "alice"),
        image_repository="ghcr.io/alice/mlops-course",
        image_tag="a" * 40,
        tracking_uri="https://user-alice-mlflow.user.lab.sspcloud.fr",
        git_repo_url="https://github.com/alice/mlops-course.git",
    )
    assert cluster.deploy_problem(real) is None


def test_argocd_is_installed_when_the_cluster_knows_applications(tmp_path, monkeypatch):
    fake_kubectl(tmp_path, monkeypatch, "echo applications.argoproj.io appprojects.argoproj.io")
    assert cluster.argocd_installed() is True
    fake_kubectl(tmp_path, monkeypatch, "echo appprojects.argoproj.io")
    assert cluster.argocd_installed() is False


# --- the lab's checks, against a real API ------------------------------------------------


@pytest.fixture(scope="module")
def versions(mlflow_server) -> dict[str, str]:
    """Three versions of a private model: v1 and v2 differ by epoch; v3 re-registers v1."""
    tiny = Hyperparameters(epoch=2, bucket=5000)
    registered = {}
    for key, params in (("served", tiny), ("new", replace(tiny, epoch=3))):
        config = TrainConfig(rows=ROWS, experiment="app3-checks", model_name=MODEL, params=params)
        result = run_training(config, status=lambda _: None)
        registered[key] = result.model_version
        registered[f"{key}_run"] = result.run_id
    registered["same"] = register_run_model(registered["served_run"], MODEL).version
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


def test_new_version(private, versions, capsys):
    served, new, same = versions["served"], versions["new"], versions["same"]
    checks.check_new_version(new, served, ROWS)
    assert capsys.readouterr().out.strip().endswith("changed: epoch 2 → 3")
    with pytest.raises(CheckFailed, match=f"has the hyperparameters of version {served}"):
        checks.check_new_version(same, served, ROWS)
    with pytest.raises(CheckFailed, match=f"version {served} is not newer than"):
        checks.check_new_version(served, served, ROWS)
    with pytest.raises(CheckFailed, match="expected this notebook's rows=200000"):
        checks.check_new_version(new, served, 200_000)
    with pytest.raises(CheckFailed, match=f"no version '999' of a registered model '{MODEL}'"):
        checks.check_new_version("999", served, ROWS)


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
