"""The MLflow model as every consumer sees it: loaded back from the registry.

The contract (shapes, ``k``, input forms, invariances, errors) is tested on the
session's small model; what trainees get, the right codes for everyday
descriptions, on the default model (slow).
"""

import json
import subprocess
import sys

import mlflow
import pandas as pd
import pytest

from course_lib.model.pyfunc import InvalidInput, as_text_list, parse_k
from tests.conftest import SMALL


@pytest.fixture(scope="module")
def champion(small_model):
    return mlflow.pyfunc.load_model(f"models:/{SMALL.model_name}@champion")


@pytest.fixture(scope="module")
def default_model(trained):
    return mlflow.pyfunc.load_model("models:/fasttext-test@champion")


def test_predict_ranks_k_codes_with_probabilities(champion):
    [ranked] = champion.predict(["BOULANGERIE PATISSERIE"], params={"k": 3})
    assert len(ranked) == 3
    assert [set(p) for p in ranked] == [{"nace", "probability"}] * 3
    probabilities = [p["probability"] for p in ranked]
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(0 <= p <= 1 for p in probabilities)


def test_default_k_is_one_and_dataframe_input_works(champion):
    from_list = champion.predict(["coiffure mixte", "taxi"])
    from_frame = champion.predict(pd.DataFrame({"text": ["coiffure mixte", "taxi"]}))
    assert from_list == from_frame
    assert [len(r) for r in from_list] == [1, 1]


def test_invariance_to_case_punctuation_and_digits(champion):
    a, b = champion.predict(["COIFFEUR", "coiffeur, & 98789"], params={"k": 5})
    assert a == b


@pytest.mark.parametrize(
    ("text", "expected"),
    [("boulanger", "1071C"), ("BOULANGERIE PATISSERIE", "1071C"), ("coiffure", "9602A"),
     ("restaurant traditionnel", "5610A"), ("chauffeur VTC", "4932Z"),
     ("vendeur d'huîtres sur les marchés", "4781Z"), ("maçonnerie générale", "4399C"),
     ("LOUEUR EN MEUBLE NON PROFESSIONNEL", "5520Z"), ("infirmière libérale", "8690D")],
)  # fmt: skip
@pytest.mark.slow
def test_minimum_functionality(default_model, text, expected):
    [[best]] = default_model.predict([text])
    assert best["nace"] == expected


def test_text_without_any_word_gets_an_empty_ranking(champion):
    assert champion.predict(["123 & 456", "taxi"], params={"k": 2})[0] == []


def test_huge_description_is_read_up_to_the_limit(champion):
    huge = "boulangerie " * 20_000
    assert champion.predict([huge]) == champion.predict([huge[:1_000]])


@pytest.mark.parametrize(
    ("bad", "message"),
    [([""], "#0 is empty"), (["taxi", "   "], "#1 is empty"), ([None], "not a string"),
     (pd.DataFrame({"a": [1], "b": [2]}), "'text' column"), (42, "expected a list")],
)  # fmt: skip
def test_bad_descriptions_raise_a_clear_error(bad, message):
    with pytest.raises(InvalidInput, match=message):
        as_text_list(bad)


@pytest.mark.parametrize("k", [0, -1, 51, 2.5, "3", True])
def test_bad_k_raises_a_clear_error(k):
    with pytest.raises(InvalidInput, match="between 1 and 50"):
        parse_k({"k": k})


def test_registry_model_in_a_fresh_process_keeps_the_k_param(small_model, mlflow_server, tmp_path):
    """MLflow 3.17's signature rules must not drop ``k`` (DESIGN.md §5)."""
    uri = f"models:/{SMALL.model_name}/{small_model.model_version}"
    code = (
        "import json, mlflow\n"
        f"m = mlflow.pyfunc.load_model('{uri}')\n"
        "print(json.dumps(m.predict(['boulanger', 'coiffeur'], params={'k': 3})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120,
        env={"MLFLOW_TRACKING_URI": mlflow_server, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        cwd=tmp_path,
    )  # fmt: skip
    predictions = json.loads(out.stdout.strip().splitlines()[-1])
    assert [len(r) for r in predictions] == [3, 3]
    assert predictions[0][0]["nace"] == "1071C"
    info = mlflow.models.get_model_info(uri)
    assert info.signature.params.to_dict() == [
        {"name": "k", "type": "long", "default": 1, "shape": None}
    ]
