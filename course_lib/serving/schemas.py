"""What the prediction API accepts and answers, as pydantic models.

Declaring every request and response as a model does three jobs at once:
FastAPI rejects malformed input with a 422 that names the field before any
of our code runs, ``/docs`` shows the exact shapes with examples, and the
OpenAPI schema is precise enough for a fuzzer (schemathesis) to test the API
against it.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches
from itertools import islice
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from course_lib.data.examples import EXAMPLES
from course_lib.serving.limits import MAX_DESCRIPTION_CHARS, MAX_K

NOT_BLANK = r"[^\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
r"""At least one character that is not white space, by Python's ``str.isspace``.

Written as an explicit class, not ``\S``: the schema's regex is run by
pydantic (Rust), by clients and by the fuzzer (Python), whose ``\s`` differ on
a few control characters; an explicit class means the same thing to all.
"""
BLANK_MESSAGE = "the description is blank: give the activity in words"


Description = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_DESCRIPTION_CHARS,
        pattern=NOT_BLANK,
        description="Free-text activity of the company, as written at registration.",
        examples=[EXAMPLES[0]],
    ),
]


def _not_a_boolean(value: object) -> object:
    """JSON ``true`` is not a number, though pydantic's lax mode would read it as 1.

    ``2.0`` (or "2.0" in a query string) is accepted as 2: JSON Schema's
    ``integer``, which the API publishes, includes numbers whose fraction is
    zero, and clients that write every number as a float (JavaScript, pandas)
    send them.  ``2.5`` is refused (pydantic: "a number with a fractional part").
    """
    if isinstance(value, bool):
        raise ValueError(f"{str(value).lower()} is not a number of predictions: give 1 to {MAX_K}")
    return value


Echoes = Annotated[
    int,
    Field(
        ge=1,
        le=MAX_K,
        description=f"How many ranked codes to return (1 to {MAX_K}).",
        examples=[3],
    ),
    BeforeValidator(_not_a_boolean),
]


SHOWN_NAMES = 3
"""Unknown fields named in an error, at most (each cut to 30 characters)."""


def unknown_fields(first: list[str], count: int, known: Iterable[str] = ()) -> str:
    """One message for any number of unknown fields, that never echoes a request back.

    With ``extra="forbid"`` alone, pydantic reports one error per unknown key,
    each naming it: a body of a million keys became a million errors and an
    88 MB answer.  They are counted here instead, before any field is
    validated, and only the first few are named, cut and quoted; a name close
    to a real field gets the real one suggested (a typo is the usual cause).
    """
    shown = ", ".join(repr(name[:30]) + ("…" if len(name) > 30 else "") for name in first)
    more = f" and {count - len(first):,} more" if count > len(first) else ""
    guesses = [m[0] for name in first if (m := get_close_matches(name[:30], list(known), n=1))]
    hint = f"; did you mean {', '.join(map(repr, dict.fromkeys(guesses)))}?" if guesses else ""
    return f"unknown field(s): {count:,} ({shown}{more}){hint}"


class _KnownFieldsOnly(BaseModel):
    """A request model that refuses unknown fields with one error, whatever their number."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = data.keys() - cls.model_fields.keys()
            if unknown:
                first = islice((str(key) for key in data if key in unknown), SHOWN_NAMES)
                raise ValueError(unknown_fields(list(first), len(unknown), cls.model_fields))
        return data


class PredictQuery(_KnownFieldsOnly):
    """Query string of ``GET /predict`` (names kept from the original course's API)."""

    description: Description
    nb_echoes_max: Echoes = 1


class Prediction(BaseModel):
    """One ranked code: compact and dotted forms, official label, probability."""

    nace: str = Field(
        description="Compact subclass code, as in the training data.", examples=["1071C"]
    )
    code: str = Field(description="Dotted code, as printed by Insee.", examples=["10.71C"])
    label: str = Field(examples=["Boulangerie et boulangerie-pâtisserie"])
    probability: float = Field(ge=0.0, le=1.0, examples=[0.93])


class PredictResponse(BaseModel):
    """Answer of ``GET /predict``; empty predictions when no word can be read."""

    model_version: str = Field(examples=["3"])
    description: str
    predictions: list[Prediction]


class BatchRequest(_KnownFieldsOnly):
    """Body of ``POST /predict``: many descriptions, one model call."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"descriptions": EXAMPLES, "nb_echoes_max": 2}]},
    )

    descriptions: list[Description] = Field(min_length=1)
    nb_echoes_max: Echoes = 1


class BatchItem(BaseModel):
    description: str
    predictions: list[Prediction]


class BatchResponse(BaseModel):
    """One result per description, in the order they were sent."""

    model_version: str
    results: list[BatchItem]


class ServiceInfo(BaseModel):
    """Answer of ``GET /``: which model this process serves (or is loading)."""

    model_name: str = Field(examples=["fasttext"])
    model_version: str | None = Field(description="Null until the model is loaded.", examples=["3"])
    model_uri: str | None = Field(examples=["models:/fasttext/3"])
    ready: bool


class Health(BaseModel):
    status: str = Field(examples=["alive"])


class Readiness(BaseModel):
    """Answer of ``GET /ready``: 200 once the model is loaded, else 503 with why."""

    ready: bool
    status: str = Field(examples=["ready", "loading", "failed"])
    detail: str = Field(examples=["models:/fasttext/3 is loaded"])


class ErrorItem(BaseModel):
    location: str = Field(examples=["body.descriptions.0"])
    message: str


class ErrorResponse(BaseModel):
    """Every 4xx and 503: a sentence for people and, for 422, the faulty fields."""

    message: str
    errors: list[ErrorItem] = []
