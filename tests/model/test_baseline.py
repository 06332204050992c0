"""Application 1's baseline: TF-IDF and a linear SVM on raw descriptions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse

from course_lib.data.nomenclature import load_nomenclature
from course_lib.model import baseline


@pytest.fixture(scope="module")
def fitted(corpus_split):
    train, _ = corpus_split
    return baseline.make_pipeline(alpha=1e-5, max_features=2_000).fit(train["text"], train["nace"])


def test_pipeline_trains_on_raw_descriptions_and_predicts_subclasses(fitted):
    predictions = fitted.predict(baseline.EXAMPLES)
    assert len(predictions) == len(baseline.EXAMPLES)
    assert set(predictions) <= set(load_nomenclature().codes)
    assert predictions[0] == "1071C"  # BOULANGERIE PATISSERIE


def test_pipeline_takes_every_input_shape_mlflow_may_pass(fitted):
    texts = ["COIFFEUR", "boulangerie", "conseil en informatique"]
    expected = list(fitted.predict(texts))
    shapes = [
        pd.Series(texts),
        pd.DataFrame({"text": texts, "other": [1, 2, 3]}),
        pd.DataFrame({0: texts}),
        np.array(texts, dtype=object).reshape(-1, 1),
    ]
    for shape in shapes:
        assert list(fitted.predict(shape)) == expected
    assert fitted.predict("coiffeur, & 98789")[0] == fitted.predict(["COIFFEUR"])[0]


def test_weights_are_stored_sparse_and_predict_the_same_as_dense(fitted, corpus_split):
    _, test = corpus_split
    classifier = fitted.named_steps["classifier"]
    assert scipy.sparse.issparse(classifier.coef_)
    assert classifier.coef_.nnz < 0.2 * np.prod(classifier.coef_.shape)
    sparse_scores = fitted.decision_function(test["text"])
    classifier.densify()
    try:
        np.testing.assert_allclose(fitted.decision_function(test["text"]), sparse_scores)
    finally:
        classifier.sparsify()


def test_rank_codes_orders_codes_by_score(fitted, corpus_split):
    _, test = corpus_split
    texts = test["text"].head(50).tolist()
    ranked = baseline.rank_codes(fitted, texts, k=5)
    scores = fitted.decision_function(texts)
    column = {code: i for i, code in enumerate(fitted.classes_)}
    for row, row_scores in zip(ranked, scores, strict=True):
        assert len(row) == len(set(row)) == 5
        values = [row_scores[column[code]] for code in row]
        assert values == sorted(values, reverse=True)
        assert values[0] == row_scores.max()
    assert [row[0] for row in ranked] == list(fitted.predict(texts))


def test_evaluate_returns_every_metric_name_with_its_prefix(fitted, corpus_split):
    _, test = corpus_split
    metrics = baseline.evaluate(fitted, test, prefix="test_")
    assert list(metrics) == baseline.metric_names(["test_"])
    assert all(0 <= value <= 1 for value in metrics.values())
    assert metrics["test_accuracy_section"] >= metrics["test_accuracy_subclass"]
    assert metrics["test_top5_accuracy_subclass"] >= metrics["test_accuracy_subclass"]


def test_top5_counts_a_true_code_ranked_second(fitted, corpus_split):
    _, test = corpus_split
    texts = test["text"].head(20).tolist()
    second = [row[1] for row in baseline.rank_codes(fitted, texts, k=5)]
    metrics = baseline.evaluate(fitted, pd.DataFrame({"text": texts, "nace": second}))
    assert metrics["accuracy_subclass"] == 0.0
    assert metrics["top5_accuracy_subclass"] == 1.0


def test_metric_names_match_the_fasttext_runs():
    names = baseline.metric_names()
    assert "test_accuracy_subclass" in names and "dev_top5_accuracy_subclass" in names
    assert len(names) == len(set(names)) == 12


def test_predictions_table_labels_each_ranked_code(fitted):
    table = baseline.predictions_table(fitted, ["BOULANGERIE PATISSERIE"], k=3)
    assert list(table["rank"]) == [1, 2, 3]
    assert table.loc[0, "label"] == "Boulangerie et boulangerie-pâtisserie"
