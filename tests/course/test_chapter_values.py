"""Chapter 2 quotes model outputs that the book's build computes and glues, never typed ones.

Application 2's ``book-only`` cell glues them (``course_lib.course.chapter_values``);
the chapter pastes them with ``{glue:text}``. These tests hold the two ends together
with a fake model: every key the chapter pastes is glued, the cell is in the solution
but not in the lab nor on the page, and a missing key fails the strict build.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import nbformat
import pytest

from course_lib.course import chapter_values as cv
from course_lib.course.book import REMOVE_TAG, book_copy
from course_lib.course.labs import BOOK_TAG, make_lab
from course_lib.course.repository import write_clone_snippet
from course_lib.errors import CourseError
from course_lib.model.evaluation import accuracy_interval
from tests.conftest import ROOT

CH2 = ROOT / "book" / "ch2_nace_fasttext.md"
APP2 = ROOT / "solutions" / "app2_fasttext_mlflow.md"
PASTE = re.compile(r"\{glue:text\}`apps/app2_fasttext_mlflow\.ipynb::(\w+):[^`]*`")
GLUE_PREFIX = "application/papermill.record/"  # myst_nb.ext.glue.GLUE_PREFIX

RANKINGS = {
    cv.OYSTERS: [("4781Z", 0.93), ("4789Z", 0.55)],
    **{text: [("9602A", 1.0), ("2349Z", 1e-05)] for text in cv.HAIRDRESSERS},
    cv.BAKER: [("1071C", 0.999), ("0321Z", 0.003), ("2594Z", 0.002), ("1072Z", 0.001),
               ("1071D", 0.0008)],
}  # fmt: skip


class FakeModel:
    """Answers like the logged pyfunc: ranked ``{"nace", "probability"}`` per description."""

    def __init__(self, rankings: dict[str, list[tuple[str, float]]] = RANKINGS):
        self.rankings = rankings

    def predict(self, texts, params):
        return [
            [{"nace": c, "probability": p} for c, p in self.rankings[t][: params["k"]]]
            for t in texts
        ]


def metrics(**overrides: float) -> dict[str, float]:
    values = {f"{part}_{m}": 0.5 for m in cv.METRICS for part in ("test", "dev")}
    values |= {"dev_accuracy_subclass": 155 / 212, "train_seconds": 21.4} | overrides
    return values


LABELS_ONLY = {"training_rows": 5820, "accuracy_subclass": 0.325}


def fake_values(model=None, run_metrics=None) -> dict:
    run = cv.TrainedRun(model or FakeModel(), run_metrics or metrics(), 159_978, 212)
    return cv.chapter2_values(run, LABELS_ONLY)


def test_every_value_chapter_2_pastes_is_glued_and_every_glued_value_is_pasted():
    pasted = set(PASTE.findall(CH2.read_text()))
    assert len(pasted) > 20  # the pattern found the chapter's pastes
    glued = {cv.PREFIX + key for key in fake_values()}
    assert pasted == glued


def test_chapter_2_pastes_with_a_format_so_that_the_path_is_not_read_as_one():
    # myst-nb 1.4 splits "path::key:format" at the last ":", so without a format
    # "apps/x.ipynb::key" would be read as the key "apps/x.ipynb:" with format "key".
    pastes = re.findall(r"\{glue:text\}`([^`]*)`", CH2.read_text())
    assert pastes and all(re.fullmatch(r"[\w/.]+::\w+:[^:`]+", p) for p in pastes)


def test_the_values_are_the_model_s_answers_and_the_run_s_metrics():
    values = fake_values()
    assert values["oysters_code_1"] == "47.81Z" and values["oysters_probability_2"] == 0.55
    assert values["oysters_label_1"].startswith("Commerce de détail alimentaire")
    assert values["oysters_probability_sum"] == pytest.approx(1.48)
    assert values["baker_code_1"] == "10.71C" and values["baker_probability_1"] == 0.999
    assert values["dev_accuracy_subclass"] == pytest.approx(0.731, abs=1e-3)
    assert 0.66 < values["dev_subclass_low"] < 0.67 and 0.78 < values["dev_subclass_high"] < 0.79
    assert values["training_rows"] == 159_978 and values["train_seconds"] == 21.4
    assert values["labels_only_subclass"] == 0.325 and values["labels_only_rows"] == 5820


def test_the_look_alike_is_found_below_the_first_code_in_another_division():
    sentence = fake_values()["baker_look_alike"]
    assert sentence.startswith("Its third guess, with a probability of 0.002, is 25.94Z, ")
    assert "Fabrication de vis et de boulons: the cleaned input boulang and boulon" in sentence
    assert sentence.endswith("share the character n-grams <bo, <bou, <boul, bou, boul, oul.")


def test_without_a_look_alike_the_chapter_says_there_is_none():
    rankings = RANKINGS | {cv.BAKER: [("1071C", 0.9), ("1071D", 0.1), ("1072Z", 0.05),
                                      ("4724Z", 0.01), ("0321Z", 0.001)]}  # fmt: skip
    sentence = fake_values(FakeModel(rankings))["baker_look_alike"]
    assert sentence.startswith("In this build's model, none of the 4 codes after the first")


def test_a_look_alike_in_the_same_division_does_not_count():
    # Second here, 10.71C's label holds "boulangerie" (cleaned: boulanger), but a code of
    # the first one's division is a plausible answer, not an odd-looking one.
    rankings = RANKINGS | {cv.BAKER: [("1071D", 0.9), ("1071C", 0.5), ("1072Z", 0.05),
                                      ("4724Z", 0.01), ("0321Z", 0.001)]}  # fmt: skip
    sentence = fake_values(FakeModel(rankings))["baker_look_alike"]
    assert sentence.startswith("In this build's model, none of the 4 codes")


def test_the_chapter_names_as_many_codes_as_are_searched():
    assert "the five best codes of this book's model" in CH2.read_text()
    assert cv.NEIGHBOUR_CODES == 5


def test_shared_ngrams_are_fasttext_s_boundary_marked_ngrams():
    assert cv.char_ngrams("bou", 3, 5) == ["<bo", "<bou", "<bou>", "bou", "bou>", "ou>"]
    assert cv.shared_ngrams("chat", "chien") == ["<ch"]
    assert cv.shared_ngrams("boulang", "boulon")[:3] == ["<bo", "<bou", "<boul"]


def test_a_run_without_the_metrics_is_refused_by_name():
    broken = metrics()
    del broken["dev_accuracy_group"]
    with pytest.raises(CourseError, match="lack dev_accuracy_group"):
        fake_values(run_metrics=broken)


def test_the_hairdressers_answer_is_glued_once_and_must_be_the_same_for_both_spellings():
    values = fake_values()
    assert (values["hairdresser_nace_1"], values["hairdresser_probability_2"]) == ("9602A", 1e-05)
    rankings = RANKINGS | {cv.HAIRDRESSERS[1]: [("9602A", 0.9), ("2349Z", 1e-05)]}
    with pytest.raises(CourseError, match="differently"):
        fake_values(FakeModel(rankings))


def test_a_model_that_gives_fewer_codes_is_refused():
    rankings = RANKINGS | {cv.OYSTERS: [("4781Z", 0.9)]}
    with pytest.raises(CourseError, match="1 code"):
        fake_values(FakeModel(rankings))


def test_values_are_glued_under_the_chapter_prefix_without_being_shown():
    calls = []
    keys = cv.glue_values({"a": 1.5, "b": "x"}, glue=lambda *a, **k: calls.append((a, k)))
    assert keys == ["ch2_a", "ch2_b"]
    assert calls == [(("ch2_a", 1.5), {"display": False}), (("ch2_b", "x"), {"display": False})]


def test_app_2_glues_after_the_default_run_in_a_cell_the_lab_and_the_page_leave_out(tmp_path):
    source = APP2.read_text()
    cell = re.search(r"```\{code-cell\} ipython3\n:tags: \[book-only\]\n(.*?)```", source, re.S)
    assert cell and "glue_chapter2(default_run_id" in cell.group(1)
    assert source.index("default_run_id = submitted.run_id") < cell.start()
    lab = make_lab(APP2)
    assert not [c for c in lab.cells if "glue_chapter2" in c.source]
    assert not [c for c in lab.cells if BOOK_TAG in c.metadata.get("tags", [])]

    executed = tmp_path / "run.ipynb"
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("glue_chapter2(...)", metadata={"tags": [BOOK_TAG]})
    ]
    nbformat.write(notebook, executed)
    page = nbformat.read(book_copy(executed, tmp_path / "page.ipynb"), as_version=4)
    assert REMOVE_TAG in page.cells[0].metadata["tags"]


def glued_output(key: str, value) -> nbformat.NotebookNode:
    """What ``myst_nb.glue(key, value, display=False)`` leaves in a cell's outputs."""
    return nbformat.v4.new_output(
        "display_data",
        data={GLUE_PREFIX + "text/plain": repr(value)},
        metadata={"scrapbook": {"name": key, "mime_prefix": GLUE_PREFIX}},
    )


def glue_cell(values: dict) -> nbformat.NotebookNode:
    """Application 2's book-only cell as papermill leaves it, with ``values`` glued."""
    cell = nbformat.v4.new_code_cell("glue_chapter2(...)", metadata={"tags": [BOOK_TAG]})
    cell.outputs = [glued_output(cv.PREFIX + k, v) for k, v in values.items()]
    return cell


def stub_book(root, app2_cell: nbformat.NotebookNode) -> None:
    """The project's book with stub applications; Application 2 holds ``app2_cell``."""
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "book", root / "book", ignore=shutil.ignore_patterns("apps"))
    shutil.copytree(ROOT / "infra", root / "infra")
    (root / "book" / "apps" / "extra").mkdir(parents=True)
    write_clone_snippet(root)  # book/index.md includes it, as course build writes it
    for solution in sorted((ROOT / "solutions").glob("app*.md")):
        notebook = nbformat.v4.new_notebook()
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
        notebook.metadata["language_info"] = {"name": "python"}
        notebook.cells = [nbformat.v4.new_markdown_cell(f"# {solution.stem}")]
        if solution.stem == "app2_fasttext_mlflow":
            notebook.cells.append(app2_cell)
        executed = root / "executed" / f"{solution.stem}.ipynb"
        executed.parent.mkdir(exist_ok=True)
        nbformat.write(notebook, executed)
        book_copy(executed, root / "book" / "apps" / executed.name)  # as course build does


def jupyter_book(root) -> subprocess.CompletedProcess:
    executable = shutil.which("jupyter-book", path=str(ROOT / ".venv" / "bin")) or "jupyter-book"
    command = [executable, "build", str(root), "-W", "-n", "--keep-going"]
    return subprocess.run(command, capture_output=True, text=True, cwd=root)


@pytest.mark.slow
def test_chapter_2_shows_the_glued_values_and_a_missing_one_fails_the_build(tmp_path):
    values = fake_values()
    whole = tmp_path / "whole"
    whole.mkdir()
    stub_book(whole, glue_cell(values))
    built = jupyter_book(whole)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    page = (whole / "_build" / "html" / "book" / "ch2_nace_fasttext.html").read_text()
    assert "47.81Z" in page and "0.930" in page and "159,978" in page
    assert "Fabrication de vis et de boulons: the cleaned input boulang" in page
    assert (
        "glue_chapter2"
        not in (whole / "_build/html/book/apps/app2_fasttext_mlflow.html").read_text()
    )

    missing = tmp_path / "missing"
    missing.mkdir()
    stub_book(missing, glue_cell({k: v for k, v in values.items() if k != "dev_subclass_low"}))
    failed = jupyter_book(missing)
    assert failed.returncode != 0
    assert "Glue reference 'ch2_dev_subclass_low' not found" in failed.stdout + failed.stderr


@pytest.mark.slow
def test_the_book_only_cell_glues_in_a_kernel_what_chapter_2_pastes(small_model, tmp_path):
    """The real path: a kernel runs the cell on a logged run, myst-nb reads its glue."""
    from nbclient import NotebookClient

    source = (
        "from course_lib.course.chapter_values import glue_chapter2\n"
        f"glue_chapter2({small_model.run_id!r}, labels_only={LABELS_ONLY!r});"
    )
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source, metadata={"tags": [BOOK_TAG]})]
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    built_root = tmp_path / "book"
    built_root.mkdir()
    stub_book(built_root, notebook.cells[0])
    built = jupyter_book(built_root)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    page = (built_root / "_build" / "html" / "book" / "ch2_nace_fasttext.html").read_text()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page))
    quoted = re.search(
        r"the subclass accuracy of ([\d.]+) has a 95 % interval from ([\d.]+) to ([\d.]+)", text
    )
    assert quoted, text[:2000]
    interval = accuracy_interval(small_model.metrics["dev_accuracy_subclass"], 212)
    assert quoted.groups() == tuple(
        f"{v:.3f}" for v in (interval.accuracy, interval.low, interval.high)
    )
    assert "trained only on the 5,820 official labels and note items" in text
