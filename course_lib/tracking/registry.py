"""Finding a registered model: by version, by alias, or the newest one."""

from __future__ import annotations

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from course_lib.errors import CourseError


def split_reference(reference: str | None) -> tuple[str | None, str | None]:
    """``(version, alias)`` from what people type: ``"3"`` is a version, ``"champion"`` an alias.

    One rule for every place that takes "a version or an alias" (the commands,
    ``MLFLOW_MODEL_VERSION``); blank or None means the newest version.
    """
    text = (reference or "").strip()
    if not text:
        return None, None
    return (text, None) if text.isdigit() else (None, text)


def resolve_version(name: str, version: str | None = None, alias: str | None = None) -> str:
    """The version number ``version``, ``alias`` or (neither given) the newest one names.

    Checks the model exists first, so a trainee who has not trained yet gets
    "run `course train`" instead of MLflow's RESOURCE_DOES_NOT_EXIST.
    """
    client = MlflowClient()
    try:
        if version is not None:
            return str(client.get_model_version(name, str(version)).version)
        if alias is not None:
            return str(client.get_model_version_by_alias(name, alias).version)
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException as exc:
        if version is None and alias is not None:
            raise CourseError(
                f"no registered model {name!r} with alias {alias!r} on the tracking server "
                f"{client.tracking_uri}: train one with `course train --alias {alias}` "
                f"(or point the alias at a version; check the name and alias)."
            ) from exc
        raise CourseError(
            f"no registered model {name!r}"
            + (f" version {version}" if version else "")
            + f" on the tracking server {client.tracking_uri}: train one with `course train` "
            "(or check the name and version)."
        ) from exc
    if not versions:
        raise CourseError(
            f"no registered model {name!r} on the tracking server {client.tracking_uri}: "
            "train one with `course train` (or check the name)."
        )
    return str(max(int(v.version) for v in versions))


def resolve_model_uri(name: str, version: str | None = None, alias: str | None = None) -> str:
    """``models:/name/version`` or ``models:/name@alias``; newest version by default.

    The model must exist (see :func:`resolve_version`); an alias stays an alias
    in the URI, so loading it later follows the alias.
    """
    number = resolve_version(name, version, alias)
    if version is None and alias is not None:
        return f"models:/{name}@{alias}"
    return f"models:/{name}/{number}"


def set_alias(name: str, alias: str, version: str) -> None:
    """Point ``alias`` (e.g. ``champion``) at a version; aliases replace the old stages."""
    MlflowClient().set_registered_model_alias(name, alias, version)


def logged_model_uri(run_id: str, name: str = "model") -> str:
    """``models:/<model id>`` of the model a run logged as ``name``.

    Since MLflow 3 a logged model is an entity of its own (a *LoggedModel*
    with an id, linked to the run that logged it), not a folder of the run's
    artifacts.  ``runs:/<run id>/model`` still resolves, with a warning that
    it falls back to the logged model; asking the run for its model outputs
    gives the same model directly, and a clear message when there is none.
    """
    client = MlflowClient()
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        raise CourseError(
            f"no run with id {run_id!r} on the tracking server {client.tracking_uri}"
        ) from exc
    outputs = run.outputs.model_outputs if run.outputs else []
    logged = [client.get_logged_model(output.model_id) for output in outputs]
    named = [model for model in logged if model.name == name]
    if not named:
        found = ", ".join(repr(model.name) for model in logged) or "none"
        raise CourseError(
            f"run {run_id} logged no model named {name!r} (models it logged: {found}); "
            "did it finish? `course train` logs its model as 'model'."
        )
    return f"models:/{named[-1].model_id}"


def register_run_model(run_id: str, name: str, alias: str | None = None):
    """Register the model a run logged as a new version of ``name``; optionally alias it.

    Returns the new :class:`~mlflow.entities.model_registry.ModelVersion`.
    Registering twice gives two versions (the registry keeps history), so
    callers should use the version returned rather than assume "1".
    """
    import mlflow

    version = mlflow.register_model(logged_model_uri(run_id), name)
    if alias is not None:
        set_alias(name, alias, version.version)
    return version
