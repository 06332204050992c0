"""Loading a registered model: one checked local copy per version, reused.

``mlflow.pyfunc.load_model("models:/…")`` downloads the model into a new
temporary folder every time and never removes it (43 MB a load: 680 MB after
an afternoon of API restarts).  Here each version is downloaded once into the
state folder (a version's files never change), under a unique temporary name
renamed into place, so two processes loading at once do not trip on each
other; its fastText file is checked before fastText reads it; a copy found
damaged is removed, so the next attempt downloads it again.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import yaml

from course_lib import settings
from course_lib.model.artifact import DamagedModel, check_fingerprint, check_loads_in_a_child
from course_lib.model.pyfunc import MODEL_ARTIFACT
from course_lib.tracking.registry import resolve_version


@dataclass(frozen=True)
class Registered:
    """A registered model version, loaded."""

    name: str
    version: str
    uri: str
    """As asked: ``models:/name@alias`` follows the alias, ``models:/name/3`` does not."""
    model: Any


def local_copy(name: str, version: str) -> Path:
    """The version's files in ``<state>/models/<name>/<version>``, downloaded if missing."""
    target = settings.state_dir() / "models" / re.sub(r"[^\w.-]", "_", name) / str(version)
    if (target / "MLmodel").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=target.parent))
    try:
        mlflow.artifacts.download_artifacts(f"models:/{name}/{version}", dst_path=str(partial))
        partial.rename(target)
    except OSError:
        if not (target / "MLmodel").is_file():  # not another process's complete copy
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def check_copy(model_dir: Path) -> None:
    """Raise :class:`DamagedModel` if the copy's fastText file is not sound (other
    models, such as Application 1's scikit-learn baseline, have none to check)."""
    flavor = yaml.safe_load((model_dir / "MLmodel").read_text())["flavors"]["python_function"]
    fasttext_file = (flavor.get("artifacts") or {}).get(MODEL_ARTIFACT)
    if fasttext_file is None:
        return
    artifact = model_dir / fasttext_file["path"]
    logged = flavor.get("config") or {}  # the pyfunc's model_config, as MLmodel stores it
    if "fasttext_sha256" in logged:
        check_fingerprint(artifact, logged)
    else:
        check_loads_in_a_child(artifact)


def load_registered(name: str, version: str | None = None, alias: str | None = None) -> Registered:
    """Version ``version``, or the one ``alias`` names, or the newest: copied, checked, loaded."""
    number = resolve_version(name, version, alias)
    uri = f"models:/{name}@{alias}" if version is None and alias else f"models:/{name}/{number}"
    copy = local_copy(name, number)
    try:
        check_copy(copy)
    except DamagedModel as exc:
        shutil.rmtree(copy, ignore_errors=True)
        raise DamagedModel(f"{uri}: {exc}") from exc
    return Registered(name, number, uri, mlflow.pyfunc.load_model(str(copy)))
