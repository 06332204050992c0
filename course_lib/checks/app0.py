"""Checks of Application 0 (environment).

The truth each check compares with is found another way than the lab's
solution finds it: the nomenclature answers are read from Insee's table of
all levels (walking its ``parent_code`` column), not from
:class:`~course_lib.data.nomenclature.Nomenclature`, whose ``codes`` and
``parent`` the trainee calls; the tracking URI is the one MLflow itself
reports, not any server that happens to answer.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pandas as pd

from course_lib.checks import CheckFailed, passed, require
from course_lib.resources import resource_path

SSP_CLOUD_HINT = (
    "on SSP Cloud, MLFLOW_TRACKING_URI holds the address of your MLflow service: check in "
    "My services that it is running, or launch one and then launch the VSCode service again "
    "so that it receives the address; on a laptop, start the course's server with "
    "`uv run course mlflow` in a terminal kept open"
)


@cache
def _all_levels() -> pd.DataFrame:
    """Insee's table of every NAF code (one row per code of every level), by dotted code."""
    return pd.read_csv(resource_path("naf", "naf2008_all_levels.csv"), dtype=str).set_index("code")


def _section_in_table(code: str) -> str:
    """Walk ``parent_code`` up from a dotted subclass code to its section letter."""
    table = _all_levels()
    while table.at[code, "level"] != "section":
        code = table.at[code, "parent_code"]
    return code


def _dotted(code: str) -> str:
    compact = code.replace(".", "").strip().upper()
    return f"{compact[:2]}.{compact[2:]}"


def check_tracking_uri(uri: Any) -> None:
    """App 0: the URI MLflow sends runs to (``mlflow.get_tracking_uri()``), and it answers."""
    import mlflow

    from course_lib.tracking.server import is_healthy

    require(uri, "tracking_uri")
    in_use = mlflow.get_tracking_uri()
    if not isinstance(uri, str) or uri.rstrip("/") != in_use.rstrip("/"):
        raise CheckFailed(
            f"tracking_uri is {uri!r}, but MLflow sends runs to {in_use!r}: ask MLflow, "
            "tracking_uri = mlflow.get_tracking_uri() (after connect())"
        )
    if not uri.startswith(("http://", "https://")):
        raise CheckFailed(
            f"MLflow writes to {uri!r}, not to a tracking server: call connect() from "
            "course_lib.tracking.server first, then mlflow.get_tracking_uri()"
        )
    if not is_healthy(uri):
        raise CheckFailed(f"nothing answers at {uri}: {SSP_CLOUD_HINT}")
    passed(f"MLflow uses the tracking server at {uri}, and it answers")


def check_subclass_count(count: Any) -> None:
    """App 0: how many subclasses the nomenclature has."""
    require(count, "n_subclasses")
    expected = int((_all_levels()["level"] == "subclass").sum())
    if isinstance(count, str):
        raise CheckFailed(
            f"n_subclasses is the text {count!r}, not a number: a count is what len(...) "
            "returns, len(nomenclature.codes)"
        )
    if isinstance(count, bool) or count != expected:
        raise CheckFailed(
            f"NAF rév. 2 has {expected} subclasses, not {count!r}: count the codes of the "
            "most detailed level, len(nomenclature.codes)"
        )
    passed(f"{expected} subclasses in NAF rév. 2")


def check_section_of(code: str, section: Any) -> None:
    """App 0: the section a subclass belongs to."""
    require(section, "section")
    expected = _section_in_table(_dotted(code))
    if not isinstance(section, str) or section.strip().upper() != expected:
        raise CheckFailed(
            f"{code} belongs to section {expected!r}, not {section!r}: a section is one "
            "letter, nomenclature.parent(code, 'section')"
        )
    label = _all_levels().at[expected, "label"]
    passed(f"{code} is in section {expected}: {label}")
