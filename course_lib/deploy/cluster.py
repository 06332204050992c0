"""Kubernetes from a lab: can this machine deploy, and ``kubectl`` with readable errors.

Application 3 deploys the API with ``kubectl`` only where that can work: a
cluster is configured (SSP Cloud's VSCode service runs with a service account
of the trainee's namespace; a laptop may have a kubeconfig), kubectl may
create Deployments in the trainee's namespace, and the values are the
trainee's rather than the course's example.  Everywhere else (a laptop
without a cluster, CI) the lab renders and validates the manifests, says why
it stops there, and never fails for lack of a cluster: :func:`deploy_problem`
is that decision, with the reason to print.

Application 5 does the same with Argo Workflows' ``argo`` command:
:func:`argo_problem` says whether workflows can be submitted from here, and
:func:`submit_workflow` submits one.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from course_lib.errors import CourseError

PROBE_TIMEOUT_S = 5
"""How long the "can I deploy?" probe waits for the cluster's answer."""
KUBECTL_TIMEOUT_S = 120.0
ARGO_TIMEOUT_S = 60.0
"""How long ``argo submit`` may take: it only creates the Workflow object, it does not wait."""

EXAMPLE_VALUES = {
    "image_repository": "ghcr.io/jdupont/mlops-course",
    "image_tag": "0123456789abcdef0123456789abcdef01234567",
    "tracking_uri": "https://user-jdupont-mlflow.user.lab.sspcloud.fr",
    "git_repo_url": "https://github.com/jdupont/mlops-course.git",
}
"""The example values of ``infra/values.yaml`` that a real deployment must replace:
pods would pull an image that does not exist and ask another user's MLflow."""


def _execute(
    tool: str, words: list[str], timeout: float, missing: str, where: str
) -> subprocess.CompletedProcess[str]:
    """``tool words...``; CourseError when it is missing (``missing`` says what to do) or
    does not finish in time (``where`` says how to see where it connects)."""
    executable = shutil.which(tool)
    shown = shlex.join([tool, *words])
    if executable is None:
        raise CourseError(f"`{shown}`: {missing}")
    try:
        return subprocess.run(
            [executable, *words], capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise CourseError(
            f"`{shown}` did not finish within {timeout:g} s: is the cluster reachable? ({where})"
        ) from None


def _failed(
    tool: str, words: list[str], result: subprocess.CompletedProcess[str], silent: str
) -> CourseError:
    """The command and the tool's own message (its stderr), which usually says exactly
    what is wrong; ``silent`` when it said nothing."""
    message = (result.stderr.strip() or result.stdout.strip())[-2_000:]
    shown = shlex.join([tool, *words])
    return CourseError(f"`{shown}` failed (exit {result.returncode}): {message or silent}")


def _run(words: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """kubectl with ``words``; CourseError when it is missing or does not finish in time."""
    missing = (
        "kubectl is not installed here; on SSP Cloud, run it in the VSCode "
        "service's terminal, where kubectl is configured for your namespace"
    )
    return _execute(
        "kubectl", words, timeout, missing, "`kubectl cluster-info` says where kubectl connects"
    )


def kubectl(*args: Any, timeout: float = KUBECTL_TIMEOUT_S) -> str:
    """Run ``kubectl args...`` and return what it prints.

    On failure, raise :class:`CourseError` with the command and kubectl's own
    message (its stderr), which usually says exactly what is wrong: a missing
    namespace, a forbidden verb, an unknown kind.
    """
    words = [str(arg) for arg in args]
    result = _run(words, timeout)
    if result.returncode != 0:
        raise _failed("kubectl", words, result, "no message from kubectl")
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


# --- Argo Workflows ----------------------------------------------------------------------


def _argo(words: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    missing = (
        "the argo command is not installed here; install the Argo Workflows CLI "
        "(github.com/argoproj/argo-workflows/releases) or run the workflow from the Argo UI"
    )
    where = "argo uses kubectl's configuration: `kubectl config current-context`"
    return _execute("argo", words, timeout, missing, where)


def argo_problem(namespace: str | None = None) -> str | None:
    """Why workflows cannot be submitted from here with ``argo``; None when they can.

    ``argo list`` in the namespace is the probe: it answers only when the
    command is installed, a cluster is configured and reachable, Argo
    Workflows is installed on it, and we may read workflows there.
    """
    if shutil.which("argo") is None:
        return "the argo command is not installed"
    words = ["list", "--output", "name", f"--request-timeout={PROBE_TIMEOUT_S}s"]
    words += ["--namespace", namespace] if namespace else []
    try:
        result = _argo(words, 3 * PROBE_TIMEOUT_S)
    except CourseError as exc:
        return str(exc)
    if result.returncode == 0:
        return None
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    return (
        f"argo reaches no Argo Workflows: {errors[-1] if errors else f'exit {result.returncode}'}"
    )


def argo_available(namespace: str | None = None) -> bool:
    """True when ``argo`` is installed and a cluster with Argo Workflows answers it."""
    return argo_problem(namespace) is None


def submit_workflow(
    path: Path | str,
    parameters: Mapping[str, Any] | None = None,
    namespace: str | None = None,
    timeout: float = ARGO_TIMEOUT_S,
) -> str:
    """``argo submit`` a workflow file (``-p name=value`` for each of ``parameters``) and
    return the new workflow's name (``argo get NAME``, ``argo logs NAME``).

    It returns once the workflow is created, not when it finishes. On failure,
    :class:`CourseError` with argo's own message (a forbidden namespace, a
    missing parameter, a workflow the controller refuses).
    """
    words = ["submit", "--output", "name"]
    words += ["--namespace", namespace] if namespace else []
    for name, value in (parameters or {}).items():
        words += ["--parameter", f"{name}={value}"]
    words.append(str(path))
    result = _argo(words, timeout)
    names = result.stdout.split()
    if result.returncode != 0 or not names:
        raise _failed("argo", words, result, "no workflow name in its output")
    return names[-1]
