"""The API image's build and start replayed without Docker (no engine runs here or in CI).

The Dockerfile is read with dockerfile-parse and its steps are replayed in a
scratch folder standing in for the image's file system: the ``COPY`` of the
build context, the ``uv sync`` steps (against the same lock), the ``ENV``, and
the ``CMD`` run as the ``USER`` it names (with setpriv when the tests run as
root, as in CI). Then the API must become ready on a registered model and the
``HEALTHCHECK`` command must pass. What cannot be replayed is the base image
itself: the CI workflow's image job builds the real thing.

Two settings are relaxed for speed, and only they: ``UV_LINK_MODE=copy`` and
``UV_COMPILE_BYTECODE=1`` (a gigabyte copied and compiled) are dropped.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from course_lib.model.training import TrainResult
from course_lib.processes import free_port
from course_lib.serving.process import ApiProcess, stop_api, wait_until_ready
from tests.conftest import ROOT, SMALL

pytestmark = pytest.mark.slow  # uv sync into a scratch root, then a real API process

DOCKERFILE = ROOT / "infra" / "Dockerfile"
SLOW_ONLY = {"UV_LINK_MODE", "UV_COMPILE_BYTECODE"}


@dataclass
class Replay:
    """The image's file system in a scratch folder: absolute paths are mapped under it."""

    root: Path
    workdir: str = "/"
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)
    exposed: list[str] = field(default_factory=list)

    def path(self, image_path: str) -> Path:
        absolute = image_path if image_path.startswith("/") else f"{self.workdir}/{image_path}"
        return self.root / absolute.lstrip("/")

    def mapped(self, value: str) -> str:
        """An env value with the image's /app and /tmp moved into the scratch folder."""
        for prefix in ("/app", "/tmp"):
            value = value.replace(f"{prefix}/", f"{self.root}{prefix}/")
            if value == prefix:
                value = f"{self.root}{prefix}"
        return value


def _env_pairs(value: str) -> dict[str, str]:
    pairs = {}
    for token in shlex.split(value):
        key, _, val = token.partition("=")
        pairs[key] = val
    return pairs


def replay(dockerfile: Path, context: Path, root: Path) -> Replay:
    """Run the steps that make the image's /app; record ENV, USER, CMD and HEALTHCHECK."""
    image = Replay(root)
    (root / "tmp").mkdir(parents=True)
    (root / "tmp").chmod(0o1777)
    for step in DockerfileParser(path=str(dockerfile)).structure:
        instruction, value = step["instruction"], step["value"]
        if instruction == "WORKDIR":
            image.workdir = value
            image.path(".").mkdir(parents=True, exist_ok=True)
        elif instruction == "COPY" and not value.startswith("--from="):
            *sources, target = shlex.split(value)
            for source in sources:
                src, dst = context / source, image.path(target)
                if src.is_dir():
                    shutil.copytree(src, dst / Path(source).name if target.endswith("/") else dst)
                else:
                    shutil.copy(src, dst / src.name if target.endswith("/") else dst)
        elif instruction == "ENV":
            for key, val in _env_pairs(value).items():
                if key not in SLOW_ONLY:
                    image.env[key] = image.mapped(val.replace("$PATH", os.environ["PATH"]))
        elif instruction == "RUN":
            command = [t for t in shlex.split(value) if not t.startswith("--mount=")]
            if command[0] == "uv":  # groupadd/useradd: the USER's uid is used directly
                subprocess.run(command, cwd=image.path("."), env={**os.environ, **image.env},
                               check=True, capture_output=True)  # fmt: skip
        elif instruction == "USER":
            image.user = value
        elif instruction == "EXPOSE":
            image.exposed += value.split()
        elif instruction == "CMD":
            image.cmd = json.loads(value)
        elif instruction == "HEALTHCHECK":
            image.healthcheck = json.loads(value.split("CMD", 1)[1])
    return image


def as_user(image: Replay, command: list[str]) -> list[str]:
    """Run as the image's USER when we may (root, as in CI); else as ourselves."""
    if image.user and os.geteuid() == 0 and shutil.which("setpriv"):
        uid, _, gid = image.user.partition(":")
        return ["setpriv", f"--reuid={uid}", f"--regid={gid or uid}", "--clear-groups", *command]
    return command


@pytest.fixture(scope="module")
def image() -> Iterator[Replay]:
    scratch = Path(tempfile.mkdtemp(prefix="image-", dir="/tmp"))
    scratch.chmod(0o755)  # the USER must be able to reach /app
    try:
        yield replay(DOCKERFILE, ROOT, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_the_replayed_image_has_the_api_installed(image: Replay) -> None:
    venv = image.path("/app/.venv")
    assert (venv / "bin" / "course").exists(), "the image's `course` command is missing"
    installed = list((venv / "lib").glob("python3.11/site-packages/course_lib/resources/naf"))
    assert installed, "course_lib (with its data) is installed in the image's environment"
    assert image.cmd[:2] == ["course", "serve"] and "0.0.0.0" in image.cmd
    assert image.exposed == ["8000"] and image.cmd[image.cmd.index("--port") + 1] == "8000"
    assert image.user and not image.user.startswith(("0", "root"))


def test_the_image_serves_a_registered_model_as_its_user(
    image: Replay, small_model: TrainResult, mlflow_server: str
) -> None:
    port = free_port()
    command = [
        arg if arg != "8000" else str(port)  # the image's port, moved to a free one
        for arg in image.cmd
    ]
    command[0] = str(image.path("/app/.venv/bin") / command[0])
    env = {
        **image.env,
        "TMPDIR": str(image.root / "tmp"),
        # what the Deployment sets
        "MLFLOW_TRACKING_URI": mlflow_server,
        "MLFLOW_MODEL_NAME": SMALL.model_name,
        "MLFLOW_MODEL_VERSION": "champion",
    }
    log = image.root / "tmp" / "api.log"
    with log.open("w") as handle:
        process = subprocess.Popen(
            as_user(image, command), env=env, stdout=handle, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    api = ApiProcess(pid=process.pid, port=port, log=log)
    try:
        wait_until_ready(api, process, timeout=120)
        probe = [arg.replace(":8000/", f":{port}/") for arg in image.healthcheck]
        probe[0] = str(image.path("/app/.venv/bin") / probe[0])
        health = subprocess.run(as_user(image, probe), env=env, capture_output=True, timeout=30)
        assert health.returncode == 0, health.stderr.decode()[-500:]
        if os.geteuid() == 0 and image.user:
            status = Path(f"/proc/{process.pid}/status").read_text()
            uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
            assert uid_line.split()[1] == image.user.split(":")[0], "the API runs as USER"
    finally:
        stop_api(api)


def test_the_image_runs_the_search_workflow_s_three_pods(
    image: Replay, mlflow_server: str, tmp_path: Path
) -> None:
    """The search workflow's pods run the API's image (runtime dependencies only, no
    hera): its three commands, as rendered, run there as its user, end to end."""
    import yaml

    from course_lib.deploy.manifests import VALUES_FILE, load_values
    from course_lib.search import workflows
    from course_lib.search.grid import parse_grid_text
    from tests.deploy.test_argo_workflows import pod_command, substitute, template

    grid = parse_grid_text('{"hyperparameters": {"dim": [8, 12]}}', "test")
    document = yaml.safe_load(workflows.render_search(load_values(ROOT / VALUES_FILE), grid))
    parameters = {p["name"]: p["value"] for p in document["spec"]["arguments"]["parameters"]}
    parameters |= {"rows": "1500", "model-name": "image-search", "alias": "",
                   "experiment": "tests-image-search", "tracking-uri": mlflow_server}  # fmt: skip
    variables = {f"workflow.parameters.{k}": v for k, v in parameters.items()}
    variables["workflow.name"] = "search-image1"
    env = {**image.env, "TMPDIR": str(image.root / "tmp"), "MLFLOW_TRACKING_URI": mlflow_server,
           "COURSE_STATE_DIR": str(image.root / "tmp" / "course")}  # fmt: skip
    course = str(image.path("/app/.venv/bin") / "course")

    def run(name: str, extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
        args = pod_command(document, name, {**variables, **extra})
        return subprocess.run(as_user(image, [course, *args]), env=env, capture_output=True,
                              text=True, timeout=300)  # fmt: skip

    expanded = run("expand-grid", {})
    assert expanded.returncode == 0, expanded.stderr[-1000:]
    items = json.loads(expanded.stdout)
    (train_step,) = template(document, "search")["steps"][1]
    for item in items:
        inputs = {
            f"inputs.parameters.{a['name']}": substitute(
                a["value"], {f"item.{k}": str(v) for k, v in item.items()}
            )
            for a in train_step["arguments"]["parameters"]
        }
        trained = run("train", inputs)
        assert trained.returncode == 0, trained.stderr[-1000:]
    selected = run("select-best", {})
    assert selected.returncode == 0, selected.stderr[-1000:]
    assert "best of 2 run(s)" in selected.stdout and "registered image-search v1" in selected.stdout
