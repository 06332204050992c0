"""What a logged model needs to load elsewhere, pinned to the versions installed here.

MLflow can infer a model's requirements, but in a uv project that lists every
locked package (about 180) and loads the model once more to find out; the
course names the few each model imports and pins them as ``uv.lock`` did.
"""

from __future__ import annotations

from importlib.metadata import version


def pinned(packages: tuple[str, ...]) -> list[str]:
    """``name==version`` as installed (from uv.lock): a logged model's requirements."""
    return [f"{name}=={version(name)}" for name in packages]
