"""An executed solution becomes a book page: answers folded, papermill's cell left out."""

from __future__ import annotations

import nbformat
import pytest

from course_lib.course.book import book_copy
from course_lib.errors import CourseError


def notebook(*cells) -> nbformat.NotebookNode:
    book = nbformat.v4.new_notebook()
    book.cells = list(cells)
    return book


def code(source: str, *tags: str, outputs=()) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": list(tags)})
    cell.outputs = list(outputs)
    return cell


def test_papermill_s_injected_parameters_are_removed_and_the_defaults_stay(tmp_path):
    executed = tmp_path / "run.ipynb"
    nbformat.write(notebook(code("rows = 200_000", "parameters"),
                            code("# Parameters\nrows = 3000\n", "injected-parameters"),
                            code("answer = 42\n# your answer", "solution")), executed)  # fmt: skip
    page = nbformat.read(book_copy(executed, tmp_path / "page.ipynb"), as_version=4)
    defaults, injected, answer = page.cells
    assert "remove-cell" not in defaults.metadata["tags"]
    assert "remove-cell" in injected.metadata["tags"]
    assert "hide-input" in answer.metadata["tags"] and "remove-cell" not in answer.metadata["tags"]


def test_a_notebook_with_an_error_is_not_built(tmp_path):
    error = nbformat.v4.new_output("error", ename="KeyError", evalue="'x'", traceback=[])
    executed = tmp_path / "run.ipynb"
    nbformat.write(notebook(code("d['x']", outputs=[error])), executed)
    with pytest.raises(CourseError, match="cell 0: KeyError"):
        book_copy(executed, tmp_path / "page.ipynb")
