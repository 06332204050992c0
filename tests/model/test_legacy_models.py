"""Models registered before the package was split still load, predict and serve.

A trainee's registry outlives an upgrade of the course: the fastText and
baseline models it holds were logged by course_lib 0.1 (one flat package),
whose logged code imports ``course_lib.wrapper`` and whose skops file names
``course_lib.baseline``.  The fixture logs such models with that very code
(``tests/fixtures/course_lib_0_1.tar.gz``, run in a subprocess), then the
tests load them the ways the course does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import requests

from course_lib.serving.process import running_api
from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # subprocesses that load MLflow, and a real API

LEGACY_CODE = ROOT / "tests" / "fixtures" / "course_lib_0_1.tar.gz"
FASTTEXT = "legacy-fasttext"
BASELINE = "legacy-baseline"
ROWS = {
    "1071C": ["boulangerie", "boulangerie patisserie", "boulanger artisan", "pain viennoiserie"],
    "9602A": ["coiffure", "salon de coiffure", "coiffeur mixte", "coiffure a domicile"],
    "4932Z": ["taxi", "chauffeur de taxi", "vtc transport de personnes", "taxi conventionne"],
    "5610A": ["restaurant", "restauration traditionnelle", "restaurant brasserie", "bistrot"],
}

LOG_WITH_THE_OLD_CODE = """
import json, sys
from pathlib import Path
import mlflow
import course_lib
assert course_lib.__file__.startswith(sys.argv[1]), course_lib.__file__
from course_lib import baseline
from course_lib import model as ft
from course_lib.preprocessing import clean_texts
from course_lib.wrapper import log_model

rows = json.loads(sys.argv[2])
texts = [t for code, ts in rows.items() for t in ts] * 10
labels = [code for code, ts in rows.items() for _ in ts] * 10
model = ft.train(clean_texts(texts), labels, ft.Hyperparameters(dim=8, epoch=25, bucket=1000))
path = Path(sys.argv[3]) / "model.bin"
model.save_model(str(path))
mlflow.set_experiment("legacy-layout")
with mlflow.start_run():
    fasttext = log_model(path, ["boulangerie"], registered_model_name=sys.argv[4])
    pipeline = baseline.make_pipeline(alpha=1e-4, max_features=200).fit(texts, labels)
    logged = baseline.log_pipeline(pipeline)
registered = mlflow.register_model(logged.model_uri, sys.argv[5])
print(json.dumps({"fasttext": fasttext.registered_model_version, "baseline": registered.version}))
"""


def python(code: str, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300,
        env={**os.environ, **(env or {})}, cwd=cwd,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def legacy(mlflow_server: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Version numbers of a fastText and a baseline model logged by course_lib 0.1."""
    old = tmp_path_factory.mktemp("course_lib_0_1")
    with tarfile.open(LEGACY_CODE) as archive:
        archive.extractall(old, filter="data")
    return python(
        LOG_WITH_THE_OLD_CODE, str(old), json.dumps(ROWS), str(old), FASTTEXT, BASELINE,
        env={"PYTHONPATH": str(old)}, cwd=old,
    )  # fmt: skip


LOAD = """
import json, sys
if sys.argv[2] == "course_lib imported":
    import course_lib.cli  # as in `course serve`, `course predict`, a lab
if sys.argv[3] == "without the shim":
    sys.modules["course_lib.wrapper"] = None
import mlflow
model = mlflow.pyfunc.load_model(sys.argv[1])
import course_lib
print(json.dumps({
    "predictions": model.predict(["boulangerie", "taxi"], params={"k": 2}),
    "class": type(model.unwrap_python_model()).__module__,
    "course_lib": course_lib.__file__,
}))
"""


def test_where_course_lib_is_imported_the_current_package_runs_the_old_model(legacy):
    answer = python(LOAD, f"models:/{FASTTEXT}/{legacy['fasttext']}", "course_lib imported", "-")
    assert answer["class"] == "course_lib.model.pyfunc"
    assert answer["course_lib"].startswith(str(ROOT))
    (first, second), (taxi, _) = answer["predictions"]
    assert first["nace"] == "1071C" and taxi["nace"] == "4932Z"
    assert first["probability"] >= second["probability"]


def test_in_a_fresh_process_the_old_model_runs_the_code_logged_with_it(legacy):
    answer = python(LOAD, f"models:/{FASTTEXT}/{legacy['fasttext']}", "-", "-")
    assert answer["class"] == "course_lib.wrapper"  # the logged copy's own module
    assert not answer["course_lib"].startswith(str(ROOT))
    assert [row[0]["nace"] for row in answer["predictions"]] == ["1071C", "4932Z"]


def test_without_the_legacy_import_path_the_old_model_would_not_load(legacy):
    """Why ``course_lib/wrapper.py`` exists: MLflow does not switch to the logged copy."""
    code = LOAD.replace("print(json.dumps({", "print(json.dumps({'loaded': True,") + "\n"
    out = subprocess.run(
        [sys.executable, "-c", code, f"models:/{FASTTEXT}/{legacy['fasttext']}",
         "course_lib imported", "without the shim"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode != 0
    assert "course_lib.wrapper" in out.stderr


def test_the_api_serves_a_model_logged_before_the_split(legacy):
    with running_api(model=FASTTEXT, version=legacy["fasttext"]) as api:
        answer = requests.get(
            f"{api.url}/predict", params={"description": "salon de coiffure"}, timeout=10
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["code"] == "96.02A"


def test_an_old_baseline_model_loads_with_its_skops_types(legacy):
    code = """
import json, sys
import course_lib.cli
import mlflow
pipeline = mlflow.sklearn.load_model(sys.argv[1])
print(json.dumps({"codes": list(pipeline.predict(["boulangerie", "coiffure"]))}))
"""
    answer = python(code, f"models:/{BASELINE}/{legacy['baseline']}")
    assert answer["codes"] == ["1071C", "9602A"]
