"""kubectl from a lab: is there a cluster to deploy to, and what does it say?

The tests need no cluster: a fake ``kubectl`` script first on PATH answers the
way the real one does (its stdout, stderr and exit codes), so the decision
"deploy or only render" and the error messages are tested for real.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from course_lib.deploy import cluster
from course_lib.deploy.manifests import TraineeValues, for_user, load_values
from course_lib.errors import CourseError
from tests.conftest import ROOT


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


# --- argo: submitting Application 5's workflows ---------------------------------------------


def fake_argo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> Path:
    """Put an ``argo`` shell script first on PATH; it also writes its arguments to a file."""
    calls = tmp_path / "argo-calls"
    path = tmp_path / "argo"
    path.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n{script}\n')
    path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}/usr/bin{os.pathsep}/bin")
    return calls


def test_without_argo_workflows_are_not_submitted_and_the_lab_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no argo
    assert cluster.argo_available() is False
    assert cluster.argo_problem() == "the argo command is not installed"
    with pytest.raises(CourseError, match=r"`argo submit --output name w.yaml`: the argo command"):
        cluster.submit_workflow("w.yaml")


def test_argo_is_available_when_it_lists_workflows_in_the_namespace(tmp_path, monkeypatch):
    calls = fake_argo(tmp_path, monkeypatch, "exit 0")
    assert cluster.argo_available("user-alice") is True
    assert calls.read_text().split() == [
        "list", "--output", "name", f"--request-timeout={cluster.PROBE_TIMEOUT_S}s",
        "--namespace", "user-alice",
    ]  # fmt: skip


def test_a_cluster_without_argo_workflows_is_explained(tmp_path, monkeypatch):
    refused = "the server could not find the requested resource (get workflows.argoproj.io)"
    fake_argo(tmp_path, monkeypatch, f'echo "time=x level=fatal msg={refused}" >&2; exit 1')
    assert cluster.argo_available() is False
    assert (
        cluster.argo_problem()
        == f"argo reaches no Argo Workflows: time=x level=fatal msg={refused}"
    )


def test_an_argo_that_hangs_counts_as_no_cluster(tmp_path, monkeypatch):
    fake_argo(tmp_path, monkeypatch, "exec sleep 5")
    monkeypatch.setattr(cluster, "PROBE_TIMEOUT_S", 0.1)
    problem = cluster.argo_problem()
    assert problem is not None and "did not finish within 0.3 s" in problem


def test_submit_returns_the_new_workflow_s_name(tmp_path, monkeypatch):
    calls = fake_argo(tmp_path, monkeypatch, 'echo "search-x7k2p"')
    name = cluster.submit_workflow(
        tmp_path / "search.yaml", {"rows": 50_000, "alias": ""}, namespace="user-alice"
    )
    assert name == "search-x7k2p"
    assert calls.read_text() == (
        f"submit --output name --namespace user-alice --parameter rows=50000 --parameter alias= "
        f"{tmp_path}/search.yaml\n"
    )


def test_submit_failure_names_the_command_and_argo_s_message(tmp_path, monkeypatch):
    message = (
        'Failed to submit workflow: workflows.argoproj.io is forbidden: User "x" cannot create'
    )
    fake_argo(tmp_path, monkeypatch, f"echo '{message}' >&2; exit 1")
    with pytest.raises(CourseError) as failed:
        cluster.submit_workflow("infra/argo-workflows/hello-world.yaml")
    assert str(failed.value) == (
        "`argo submit --output name infra/argo-workflows/hello-world.yaml` failed (exit 1): "
        f"{message}"
    )
    fake_argo(tmp_path, monkeypatch, "exec sleep 5")
    with pytest.raises(CourseError, match=r"did not finish within 0\.2 s"):
        cluster.submit_workflow("w.yaml", timeout=0.2)
