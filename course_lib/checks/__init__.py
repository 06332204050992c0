"""Automatic checks that end every exercise of the labs, one module per application.

Each check is a small function a lab calls on the trainee's answer.  It
prints one line starting with ✔ when the answer is right, and raises
:class:`CheckFailed` with what was expected and what was found otherwise, so
a trainee reads "expected 9 runs in experiment 'grid', found 3", not an
opaque ``AssertionError``.  The tests run every lab as generated (stubs in
place of the solutions) and require each check to raise ``CheckFailed``.
"""

from __future__ import annotations

from typing import Any


class CheckFailed(AssertionError):
    """The trainee's answer is not right yet; the message says why."""


def passed(message: str) -> None:
    print(f"✔ {message}")


def is_stub(value: Any) -> bool:
    return value is Ellipsis or value is None


def run_named(run_id: Any, what: str, example: str = "run.info.run_id"):
    """The MLflow run ``run_id`` names, or a message saying what ``what`` should hold."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    if not isinstance(run_id, str):
        raise CheckFailed(
            f"{what} should be a run id (a string, e.g. {example}), "
            f"got {type(run_id).__name__} {run_id!r}"
        )
    client = MlflowClient()
    try:
        return client.get_run(run_id)
    except MlflowException as exc:
        raise CheckFailed(
            f"{what}={run_id!r} is not a run on the tracking server {client.tracking_uri}"
        ) from exc


def registered_version(model_name: str, version: str, hint: str):
    """The registry's record of a version, or a CheckFailed that says what to set."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return MlflowClient().get_model_version(model_name, version)
    except MlflowException as exc:
        raise CheckFailed(
            f"no version {version!r} of a registered model {model_name!r}: {hint}"
        ) from exc


def require_registered_with_alias(model_name: str, version: str, run_id: str, alias: str) -> None:
    """Version ``version`` of ``model_name`` comes from ``run_id`` and ``alias`` points at it."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    registered = registered_version(
        model_name,
        version,
        f"model_version should be what mlflow.register_model(..., {model_name!r}) returns",
    )
    if registered.run_id != run_id:
        raise CheckFailed(
            f"version {version} of {model_name!r} comes from run {registered.run_id}, "
            f"not from the best run {run_id}: register logged_model_uri(best_run_id)"
        )
    try:
        target = MlflowClient().get_model_version_by_alias(model_name, alias)
    except MlflowException as exc:
        raise CheckFailed(
            f"{model_name!r} has no alias {alias!r} yet: set it with "
            "MlflowClient().set_registered_model_alias(name, alias, version)"
        ) from exc
    if str(target.version) != version:
        raise CheckFailed(
            f"the alias {alias!r} points at version {target.version}, not at the version "
            f"you registered ({version})"
        )


def require(value: Any, what: str) -> None:
    """Fail with "not set yet" while the trainee has left the stub's ``...``."""
    if is_stub(value):
        raise CheckFailed(f"{what} is not set yet: replace the ... with your answer")
