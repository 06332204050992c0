"""Labs are generated from the solutions, run end to end, and their checks can fail."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from course_lib.course.labs import make_lab, solution_files, stale_labs, stub_source
from tests.conftest import CI_PARAMETERS, ROOT


def test_stub_keeps_set_up_and_replaces_the_answer():
    source = "import x\n# SOLUTION\n# stub: y = ...  # TODO\ny = x.answer()\ny"
    assert stub_source(source) == "import x\ny = ...  # TODO"
    assert stub_source("z = 42") == "..."


def test_committed_labs_match_their_solutions():
    assert solution_files(ROOT), "no solutions found"
    assert stale_labs(ROOT) == [], "labs/ is stale: run `uv run course labs`"


@pytest.mark.parametrize("solution", solution_files(ROOT), ids=lambda p: p.stem)
def test_lab_has_no_answer_output_or_id(solution):
    lab = make_lab(solution)
    exercises = [c for c in lab.cells if "exercise" in c.metadata.get("tags", [])]
    assert exercises, "a lab without exercises"
    for cell in lab.cells:
        assert "id" not in cell
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
            assert "# SOLUTION" not in cell.source and "# stub:" not in cell.source


@pytest.mark.notebook
@pytest.mark.parametrize("solution", solution_files(ROOT), ids=lambda p: p.stem)
def test_solution_runs_end_to_end_and_every_check_passes(executed_solutions, solution):
    notebook = nbformat.read(executed_solutions[solution.stem], as_version=4)
    checks = [c for c in notebook.cells if c.cell_type == "code" and "check_" in c.source]
    assert checks
    for cell in checks:
        text = "".join(o.get("text", "") for o in cell.outputs)
        assert text.startswith("✔"), f"check did not pass: {cell.source}\n{cell.outputs}"


@pytest.mark.notebook
@pytest.mark.parametrize("solution", solution_files(ROOT), ids=lambda p: p.stem)
def test_every_check_fails_on_the_lab_as_given_to_trainees(
    mlflow_server, executed_solutions, solution
):
    """The labs as trainees get them, after the solutions ran (as a trainee's labs run after
    the earlier applications): Applications 3 and 4 start an API on the champion model that
    Application 2 registered, so without it their checks would fail on a missing API."""
    lab = make_lab(solution)
    for cell in lab.cells:
        if "parameters" in cell.metadata.get("tags", []):  # as papermill does: override after
            cell.source += "\n" + "\n".join(f"{k} = {v!r}" for k, v in CI_PARAMETERS.items())
    NotebookClient(
        lab, allow_errors=True, timeout=600, kernel_name="python3",
        resources={"metadata": {"path": str(ROOT)}},
    ).execute()  # fmt: skip
    checks = [c for c in lab.cells if c.cell_type == "code" and "check_" in c.source]
    for cell in checks:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert errors and errors[0].ename == "CheckFailed", (cell.source, cell.outputs)
        assert "not set yet" in errors[0].evalue


def test_labs_command_reports_stale_labs(tmp_path):
    import shutil
    import subprocess

    shutil.copytree(ROOT / "solutions", tmp_path / "solutions")
    shutil.copytree(ROOT / "labs", tmp_path / "labs")
    course = shutil.which("course")
    ok = subprocess.run([course, "labs", "--check"], cwd=tmp_path, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    solution = sorted((tmp_path / "solutions").glob("app*.md"))[0]
    solution.write_text(solution.read_text() + "\nOne more line.\n")
    stale = subprocess.run(
        [course, "labs", "--check"], cwd=tmp_path, capture_output=True, text=True
    )
    assert stale.returncode == 1 and f"stale labs: {solution.stem}.ipynb" in stale.stderr
    subprocess.run([course, "labs"], cwd=tmp_path, check=True, capture_output=True)
    again = subprocess.run(
        [course, "labs", "--check"], cwd=tmp_path, capture_output=True, text=True
    )
    assert again.returncode == 0
