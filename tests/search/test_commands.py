"""The search's commands as a workflow's pods and a trainee run them (no server needed)."""

from __future__ import annotations

import json
import shutil
import subprocess

import yaml

from course_lib.deploy.validation import check_argo_workflow

COURSE = shutil.which("course")


def run(*args: str, cwd=None):
    return subprocess.run([COURSE, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_search_grid_prints_only_the_json_list_argo_fans_out():
    grid = json.dumps({"hyperparameters": {"dim": [8, 16], "loss": ["ova", "softmax"]}})
    out = run("search-grid", "--grid", grid)
    assert out.returncode == 0, out.stderr
    items = json.loads(out.stdout)  # the whole stdout: a stray line would break withParam
    assert [(i["config"], i["dim"], i["loss"]) for i in items] == [
        (0, 8, "ova"), (1, 8, "softmax"), (2, 16, "ova"), (3, 16, "softmax")
    ]  # fmt: skip


def test_search_grid_refuses_a_wrong_grid_with_exit_1_not_75():
    """Exit 1 is never retried by the workflow: the same grid would fail again."""
    out = run("search-grid", "--grid", '{"hyperparameters": {"dim": []}}')
    assert out.returncode == 1 and out.stdout == ""
    assert "hyperparameters.dim is an empty list" in out.stderr and "Traceback" not in out.stderr


def test_render_writes_a_valid_workflow_for_the_grid_given(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text("hyperparameters:\n  epoch: [5, 10, 20]\n")
    target = tmp_path / "mine.yaml"
    out = run("search", "--grid", str(grid), "--workers", "3", "--render", "--out", str(target))
    assert out.returncode == 0, out.stderr
    assert "3 configuration(s), at most 3 pod(s) at once" in out.stdout
    document = yaml.safe_load(target.read_text())
    assert check_argo_workflow(document, str(target)) == []
    assert document["spec"]["parallelism"] == 3
    parameters = {p["name"]: p["value"] for p in document["spec"]["arguments"]["parameters"]}
    assert json.loads(parameters["grid"]) == {"hyperparameters": {"epoch": [5, 10, 20]}}
