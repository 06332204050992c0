"""The model an API process serves: chosen by environment, loaded once, in the background.

Loading a model from the registry means downloading its artifacts, which can
take a minute on a platform.  Doing it in a background thread lets the process
answer ``/health`` at once (so Kubernetes does not kill it as dead) while
``/ready`` says 503 until the model is in memory (so no traffic reaches it
yet).  If the registry is down or the model is missing, the reason is logged
with the model URI, ``/ready`` repeats it, and loading is retried: the pod
stays up and explains itself instead of crash-looping.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from course_lib import settings
from course_lib.serving.limits import DEFAULT_MAX_BATCH

log = logging.getLogger("course_lib.serving")

DEFAULT_RETRY_SECONDS = 15.0


@dataclass(frozen=True)
class ServingConfig:
    """What to serve, read from the environment so one image fits every trainee."""

    model_name: str = settings.DEFAULT_MODEL_NAME
    model_version: str | None = None
    """A version number ("3"), an alias ("champion"), or None for the newest version."""
    max_batch: int = DEFAULT_MAX_BATCH
    retry_seconds: float = DEFAULT_RETRY_SECONDS

    @classmethod
    def from_env(cls) -> ServingConfig:
        """Read ``MLFLOW_MODEL_NAME``, ``MLFLOW_MODEL_VERSION``, ``API_MAX_BATCH``
        and ``API_LOAD_RETRY_SECONDS``; unset or blank means the default."""
        version = os.environ.get("MLFLOW_MODEL_VERSION", "").strip() or None
        return cls(
            model_name=os.environ.get("MLFLOW_MODEL_NAME", "").strip()
            or settings.DEFAULT_MODEL_NAME,
            model_version=version,
            max_batch=_positive_int("API_MAX_BATCH", DEFAULT_MAX_BATCH),
            retry_seconds=float(
                _positive_int("API_LOAD_RETRY_SECONDS", int(DEFAULT_RETRY_SECONDS))
            ),
        )

    def with_choice(self, model_name: str | None, model_version: str | None) -> ServingConfig:
        """The same configuration, with the model and version a person chose (None: keep)."""
        return replace(
            self,
            model_name=model_name or self.model_name,
            model_version=model_version or self.model_version,
        )

    def wanted_uri(self) -> str:
        """The URI as asked for, before the registry resolves it (for messages)."""
        if self.model_version is None:
            return f"models:/{self.model_name} (newest version)"
        if self.model_version.isdigit():
            return f"models:/{self.model_name}/{self.model_version}"
        return f"models:/{self.model_name}@{self.model_version}"


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        log.warning("%s=%r is not a positive whole number; using %d", name, raw, default)
        return default
    return int(raw)


def resolve_and_load(config: ServingConfig) -> tuple[str, str, Any]:
    """Ask the registry which version to serve, then load it: (uri, version, model).

    The version's files are downloaded once into the state folder and checked
    before fastText reads them (:func:`~course_lib.model.loading.load_registered`):
    a damaged copy is reported, removed and fetched again at the next attempt.
    """
    from course_lib.model.loading import load_registered
    from course_lib.tracking.registry import split_reference
    from course_lib.tracking.server import is_healthy

    tracking_uri = _tracking_uri()
    if tracking_uri.startswith(("http://", "https://")) and not is_healthy(tracking_uri, 5.0):
        # MLflow's client would retry for minutes before saying so.
        raise ConnectionError(f"the tracking server {tracking_uri} does not answer")
    loaded = load_registered(config.model_name, *split_reference(config.model_version))
    # an alias is pinned to the version it named at start-up: it may move later
    return f"models:/{config.model_name}/{loaded.version}", loaded.version, loaded.model


Loader = Callable[[ServingConfig], tuple[str, str, Any]]


@dataclass
class ModelService:
    """Holds the loaded model, or why it is not loaded yet."""

    config: ServingConfig
    loader: Loader = resolve_and_load
    model: Any = None
    uri: str | None = None
    version: str | None = None
    status: str = "loading"
    detail: str = ""
    attempts: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def ready(self) -> bool:
        return self.model is not None

    def start(self) -> threading.Thread:
        """Load in a daemon thread so the server answers /health meanwhile."""
        self.detail = f"loading {self.config.wanted_uri()}"
        thread = threading.Thread(target=self._load_until_done, name="model-loader", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def _load_until_done(self) -> None:
        while not self._stop.is_set():
            self.attempts += 1
            started = time.perf_counter()
            try:
                uri, version, model = self.loader(self.config)
            except Exception as exc:  # any failure: report it and try again later
                self.status = "failed"
                self.detail = (
                    f"could not load {self.config.wanted_uri()} from the tracking server "
                    f"{_tracking_uri()} (attempt {self.attempts}): {_one_line(exc)}; "
                    f"retrying in {self.config.retry_seconds:g} s"
                )
                log.error(self.detail)
                self._stop.wait(self.config.retry_seconds)
                continue
            self.model, self.uri, self.version = model, uri, version
            self.status = "ready"
            self.detail = f"{uri} is loaded"
            log.info("%s loaded in %.1f s", uri, time.perf_counter() - started)
            return


def _tracking_uri() -> str:
    import mlflow

    return os.environ.get("MLFLOW_TRACKING_URI") or mlflow.get_tracking_uri()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 400 else text[:400] + "…"
