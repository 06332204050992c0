from course_lib.data.corpus import generate_corpus
from course_lib.data.preprocessing import clean_texts
from course_lib.model import fasttext_model as ft


def _train(params: ft.Hyperparameters):
    corpus = generate_corpus(3_000, seed=2, progress=False)
    return ft.train(clean_texts(corpus["text"]), corpus["nace"].tolist(), params)


def test_default_training_is_reproducible():
    params = ft.Hyperparameters(dim=10, epoch=3, bucket=5_000)
    texts = clean_texts(["boulangerie", "coiffure mixte", "conseil en informatique"])
    first = ft.predict_top_k(_train(params), texts, k=3)
    second = ft.predict_top_k(_train(params), texts, k=3)
    assert first[0] == second[0]
    assert all((a == b).all() for a, b in zip(first[1], second[1], strict=True))


def test_top_k_codes_are_bare_codes_with_probabilities_in_order():
    model = _train(ft.Hyperparameters(dim=10, epoch=3, bucket=5_000))
    codes, probabilities = ft.predict_top_k(model, ["boulang", "line one\nline two"], k=4)
    assert [len(c) for c in codes] == [4, 4]
    assert all(len(c) == 5 and not c.startswith("__label__") for row in codes for c in row)
    for row in probabilities:
        assert ((row <= 1) & (row >= 0)).all() and list(row) == sorted(row, reverse=True)
