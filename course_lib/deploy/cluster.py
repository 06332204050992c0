"""Kubernetes from a lab: can this machine deploy, and ``kubectl`` with readable errors.

Application 3 deploys the API with ``kubectl`` only where that can work: a
cluster is configured (SSP Cloud's VSCode service runs with a service account
of the trainee's namespace; a laptop may have a kubeconfig), kubectl may
create Deployments in the trainee's namespace, and the values are the
trainee's rather than the course's example.  Everywhere else (a laptop
without a cluster, CI) the lab renders and validates the manifests, says why
it stops there, and never fails for lack of a cluster: :func:`deploy_problem`
is that decision, with the reason to print.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from typing import Any

from course_lib.errors import CourseError

PROBE_TIMEOUT_S = 5
"""How long the "can I deploy?" probe waits for the cluster's answer."""
KUBECTL_TIMEOUT_S = 120.0

EXAMPLE_VALUES = {
    "image_repository": "ghcr.io/jdupont/mlops-course",
    "image_tag": "0123456789abcdef0123456789abcdef01234567",
    "tracking_uri": "https://user-jdupont-mlflow.user.lab.sspcloud.fr",
    "git_repo_url": "https://github.com/jdupont/mlops-course.git",
}
"""The example values of ``infra/values.yaml`` that a real deployment must replace:
pods would pull an image that does not exist and ask another user's MLflow."""


def _run(words: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """kubectl with ``words``; CourseError when it is missing or does not finish in time."""
    executable = shutil.which("kubectl")
    shown = shlex.join(["kubectl", *words])
    if executable is None:
        raise CourseError(
            f"`{shown}`: kubectl is not installed here; on SSP Cloud, run it in the VSCode "
            "service's terminal, where kubectl is configured for your namespace"
        )
    try:
        return subprocess.run(
            [executable, *words], capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise CourseError(
            f"`{shown}` did not finish within {timeout:g} s: is the cluster reachable? "
            "(`kubectl cluster-info` says where kubectl connects)"
        ) from None


def kubectl(*args: Any, timeout: float = KUBECTL_TIMEOUT_S) -> str:
    """Run ``kubectl args...`` and return what it prints.

    On failure, raise :class:`CourseError` with the command and kubectl's own
    message (its stderr), which usually says exactly what is wrong: a missing
    namespace, a forbidden verb, an unknown kind.
    """
    words = [str(arg) for arg in args]
    result = _run(words, timeout)
    if result.returncode != 0:
        message = (result.stderr.strip() or result.stdout.strip())[-2_000:]
        raise CourseError(
            f"`{shlex.join(['kubectl', *words])}` failed (exit {result.returncode}): "
            f"{message or 'no message from kubectl'}"
        )
    return result.stdout


def _configured() -> bool:
    """A kubeconfig context, or a pod's in-cluster service account (kubectl uses either)."""
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return True
    return _run(["config", "current-context"], PROBE_TIMEOUT_S + 5).returncode == 0


def cluster_problem(namespace: str | None = None) -> str | None:
    """Why kubectl cannot create Deployments in ``namespace`` from here; None when it can."""
    if shutil.which("kubectl") is None:
        return "kubectl is not installed"
    if not _configured():
        return "kubectl has no kubeconfig context and this is not a pod in a cluster"
    where = f"in the namespace {namespace}" if namespace else "in its default namespace"
    words = ["auth", "can-i", "create", "deployments", f"--request-timeout={PROBE_TIMEOUT_S}s"]
    words += ["--namespace", namespace] if namespace else []
    try:
        result = _run(words, 3 * PROBE_TIMEOUT_S)
    except CourseError as exc:
        return str(exc)
    answer = result.stdout.strip()
    if answer == "yes" and result.returncode == 0:
        return None
    if answer.startswith("no"):  # the cluster answered no (kubectl exits 1)
        return (
            f"kubectl reaches a cluster but may not create Deployments {where}: "
            "is it your namespace (user-<your user name> on SSP Cloud)?"
        )
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    return f"kubectl reaches no cluster: {errors[-1] if errors else f'exit {result.returncode}'}"


def cluster_available(namespace: str | None = None) -> bool:
    """True when kubectl is installed, configured and may create Deployments in ``namespace``."""
    return cluster_problem(namespace) is None


def example_values_left(values: Any) -> list[str]:
    """The fields of ``values`` (a :class:`~course_lib.deploy.manifests.TraineeValues`) that still
    hold the course's example (see :data:`EXAMPLE_VALUES`)."""
    return [name for name, example in EXAMPLE_VALUES.items() if getattr(values, name) == example]


def deploy_problem(values: Any) -> str | None:
    """Why the lab should not apply these values' manifests from here; None when it can."""
    problem = cluster_problem(values.namespace)
    if problem is not None:
        return f"no Kubernetes cluster configured here ({problem})"
    left = example_values_left(values)
    if left:
        return (
            f"infra/values.yaml still holds the course's example for {', '.join(left)}: "
            "set them to your image, MLflow and fork before deploying"
        )
    return None


def argocd_installed() -> bool:
    """True when the cluster knows ArgoCD's ``Application`` kind (ArgoCD is installed)."""
    try:
        names = kubectl("api-resources", "--api-group=argoproj.io", "-o", "name")
    except CourseError:
        return False
    return "applications.argoproj.io" in names.split()
