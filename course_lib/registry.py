"""Finding a registered model: by version, by alias, or the newest one."""

from __future__ import annotations

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from course_lib.errors import CourseError


def resolve_model_uri(name: str, version: str | None = None, alias: str | None = None) -> str:
    """``models:/name/version`` or ``models:/name@alias``; newest version by default.

    Checks the model exists first, so a trainee who has not trained yet gets
    "run `course train`" instead of MLflow's RESOURCE_DOES_NOT_EXIST.
    """
    client = MlflowClient()
    try:
        if version is not None:
            client.get_model_version(name, str(version))
            return f"models:/{name}/{version}"
        if alias is not None:
            client.get_model_version_by_alias(name, alias)
            return f"models:/{name}@{alias}"
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException as exc:
        raise CourseError(
            f"no registered model {name!r}"
            + (f" version {version}" if version else f" with alias {alias!r}" if alias else "")
            + f" on the tracking server {client.tracking_uri}: train one with `course train` "
            "(or check the name, version and alias)."
        ) from exc
    if not versions:
        raise CourseError(
            f"no registered model {name!r} on the tracking server {client.tracking_uri}: "
            "train one with `course train` (or check the name)."
        )
    newest = max(versions, key=lambda v: int(v.version))
    return f"models:/{name}/{newest.version}"


def set_alias(name: str, alias: str, version: str) -> None:
    """Point ``alias`` (e.g. ``champion``) at a version; aliases replace the old stages."""
    MlflowClient().set_registered_model_alias(name, alias, version)
