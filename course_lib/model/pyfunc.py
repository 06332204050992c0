"""The MLflow model: preprocessing and fastText in one pyfunc.

Whoever loads ``models:/fasttext/…`` (a notebook, the API, a batch job)
passes raw descriptions and gets codes back; nobody can forget the cleaning or
apply a different one, because it travels inside the model.

MLflow ≥ 2.20 infers a signature from ``predict``'s type hints and, for a
plain list of strings, drops the params schema (and with it ``k``).  So
``predict`` carries no type hints and :func:`model_signature` declares the
signature explicitly: a ``text`` string column and a ``k`` integer param.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import fasttext
import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

import course_lib
from course_lib.data.preprocessing import clean_texts
from course_lib.model.artifact import check_fingerprint, fingerprint
from course_lib.model.fasttext_model import predict_top_k
from course_lib.model.limits import MAX_K, MAX_TEXT_CHARS
from course_lib.model.requirements import pinned

MODEL_ARTIFACT = "fasttext_model"
"""The artifact key of the fastText file: models logged by every version use it."""


class InvalidInput(ValueError):
    """A description or a parameter the model cannot work with; the message says which."""


def as_text_list(model_input: Any) -> list[str]:
    """Accept a list of strings, a Series, or a DataFrame with a ``text`` column."""
    if isinstance(model_input, pd.DataFrame):
        if "text" in model_input.columns:
            values = model_input["text"].tolist()
        elif model_input.shape[1] == 1:
            values = model_input.iloc[:, 0].tolist()
        else:
            raise InvalidInput(
                f"a DataFrame input needs a 'text' column; got columns {list(model_input.columns)}"
            )
    elif isinstance(model_input, str):
        values = [model_input]
    elif isinstance(model_input, pd.Series | np.ndarray | Sequence):
        values = list(model_input)
    else:
        raise InvalidInput(
            f"expected a list of descriptions or a DataFrame with a 'text' column, "
            f"got {type(model_input).__name__}"
        )
    for position, value in enumerate(values):
        if not isinstance(value, str):
            raise InvalidInput(
                f"description #{position} is {type(value).__name__} {value!r}, not a string"
            )
        if not value.strip():
            raise InvalidInput(f"description #{position} is empty: give the activity in words")
    return [v[:MAX_TEXT_CHARS] for v in values]


def parse_k(params: dict[str, Any] | None) -> int:
    """The number of ranked predictions wanted (param ``k``, default 1)."""
    k = (params or {}).get("k", 1)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= MAX_K:
        raise InvalidInput(f"k={k!r}: give a whole number of predictions between 1 and {MAX_K}")
    return int(k)


class FastTextClassifier(mlflow.pyfunc.PythonModel):
    """Raw descriptions in; per description, the ``k`` best ``{nace, probability}`` out."""

    # MLflow wraps ``predict`` to validate inputs from its type hints and warns
    # when there are none; our signature is explicit and our checks are in
    # ``as_text_list``, so opt out as MLflow's own ChatModel does.
    _skip_type_hint_validation = True

    def load_context(self, context) -> None:
        path = Path(context.artifacts[MODEL_ARTIFACT])
        logged = getattr(context, "model_config", None) or {}
        if "fasttext_sha256" in logged:  # models logged before 0.2 carry no fingerprint
            check_fingerprint(path, logged)
        self.model = fasttext.load_model(str(path))

    def predict(self, context, model_input, params=None):  # no hints: see module docstring
        texts = as_text_list(model_input)
        k = parse_k(params)
        cleaned = clean_texts(texts)
        readable = [i for i, t in enumerate(cleaned) if t]
        results: list[list[dict[str, Any]]] = [[] for _ in texts]
        if readable:
            codes, probas = predict_top_k(self.model, [cleaned[i] for i in readable], k=k)
            for i, row_codes, row_probas in zip(readable, codes, probas, strict=True):
                results[i] = [
                    {"nace": c, "probability": round(float(p), 6)}
                    for c, p in zip(row_codes, row_probas, strict=True)
                ]
        return results


def model_signature() -> ModelSignature:
    """Input: a ``text`` column of strings; param ``k`` (int, default 1)."""
    return ModelSignature(
        inputs=Schema([ColSpec("string")]),
        params=ParamSchema([ParamSpec("k", "long", 1)]),
    )


def pip_requirements() -> list[str]:
    """What a fresh environment needs to load the model (pinned as in uv.lock)."""
    return pinned(("mlflow", "fasttext-community", "nltk", "pandas", "numpy"))


def log_model(model_path: Path, input_example: list[str], registered_model_name: str | None = None):
    """Log the wrapper with its fastText file, signature, example and code.

    The model is logged from code (``model_code.py``), and ``code_paths``
    ships the whole ``course_lib`` package with it, so any environment with
    the pinned requirements can load it, no checkout of the course needed.
    The fastText file's size and checksum go in ``model_config``, so that a
    damaged copy is refused before fastText reads it (see :mod:`.artifact`).
    """
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=str(Path(__file__).with_name("model_code.py")),
        artifacts={MODEL_ARTIFACT: str(model_path)},
        model_config=fingerprint(Path(model_path)),
        code_paths=[str(Path(course_lib.__file__).parent)],
        signature=model_signature(),
        input_example=pd.DataFrame({"text": input_example}),
        pip_requirements=pip_requirements(),
        registered_model_name=registered_model_name,
    )
