"""The 212 real Sirene descriptions: the only real rows the course has, for evaluation only.

They come with the codes Insee's coding gave them and are never trained on:
every accuracy "on real descriptions" in the course is measured here, while
models are chosen on the synthetic held-out split.
"""

from __future__ import annotations

import pandas as pd

from course_lib.data.dataset import validate
from course_lib.resources import resource_path

REAL_SAMPLE_FILE = ("eval", "sirene_dev_sample.csv")


def dev_sample() -> pd.DataFrame:
    """The 212 real rows (``nace``, ``text``), checked against the data contract."""
    path = resource_path(*REAL_SAMPLE_FILE)
    frame, _ = validate(pd.read_csv(path, dtype=str, keep_default_na=False), str(path))
    return frame
