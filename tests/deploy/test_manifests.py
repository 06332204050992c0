"""What a trainee deploys, checked offline: values, manifests, Dockerfile, CI workflow.

No cluster, no Docker engine, no network.  The committed files must pass the
strict checks and equal a fresh render of ``infra/values.yaml``; the checks
must fail, with the file and field named, on the mistakes people make.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from course_lib.cli import app
from course_lib.deploy import manifests
from course_lib.deploy.validation import (
    ManifestInvalid,
    check_dockerfile,
    check_documents,
    check_workflow,
    load_workflow,
    validate_all,
)
from course_lib.errors import CourseError
from tests.conftest import ROOT

VALUES = ROOT / manifests.VALUES_FILE
DOCKERFILE = ROOT / "infra" / "Dockerfile"
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


@pytest.fixture(scope="module")
def values() -> manifests.TraineeValues:
    return manifests.load_values(VALUES)


# --- what is committed ---------------------------------------------------------------------


def test_committed_files_pass_every_check():
    summary = validate_all(ROOT)
    expected = {
        "Deployment", "Service", "Ingress", "CronJob", "Application", "Dockerfile",
        "GitHub workflow",
    }  # fmt: skip
    assert expected <= set(summary.counts), summary.counts
    assert summary.counts["values file"] == 1
    assert "files valid offline" in str(summary)


def test_committed_manifests_equal_a_fresh_render(values):
    files = manifests.render_files(values)
    assert manifests.stale_files(files, ROOT / manifests.OUT_DIR) == [], (
        "infra/kubernetes or infra/argocd drifted from infra/values.yaml: "
        "run `uv run course manifests`"
    )
    for text in files.values():
        assert text.startswith(manifests.HEADER)


def test_rendered_deployment_carries_the_values(values):
    deployment = manifests.render(values)["kubernetes/deployment.yaml"][0]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert container["image"] == f"{values.image_repository}:{values.image_tag}"
    assert env["MLFLOW_MODEL_VERSION"] == values.model_version  # a string, even "1"
    assert env["MLFLOW_TRACKING_URI"] == values.tracking_uri
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert container["envFrom"][0]["secretRef"]["optional"] is True


def test_rendered_etl_cronjob_runs_nightly_one_at_a_time_as_non_root(values):
    (cronjob,) = manifests.render(values)["kubernetes/etl-cronjob.yaml"]
    (deployment,) = manifests.render(values)["kubernetes/deployment.yaml"]
    spec, job = cronjob["spec"], cronjob["spec"]["jobTemplate"]["spec"]
    assert (cronjob["apiVersion"], cronjob["kind"]) == ("batch/v1", "CronJob")
    assert (spec["schedule"], spec["timeZone"]) == (values.etl_schedule, "Etc/UTC")
    assert spec["concurrencyPolicy"] == "Forbid", "no lock on S3: one run at a time"
    assert spec["startingDeadlineSeconds"] > 0
    assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1
    assert job["backoffLimit"] >= 1 and job["activeDeadlineSeconds"] > 0
    pod = job["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["restartPolicy"] == "Never"
    assert container["image"] == _container(deployment)["image"], "the API's image"
    assert container["command"] == [
        "course", "etl", f"s3://{values.s3_bucket}/{values.logs_prefix}",
        "--dest", f"s3://{values.s3_bucket}/{values.monitoring_prefix}",
    ]  # fmt: skip
    assert container["envFrom"] == _container(deployment)["envFrom"], "the API's S3 Secret"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["AWS_S3_ENDPOINT"] == values.s3_endpoint
    assert env["COURSE_STATE_DIR"].startswith("/tmp/")
    assert set(container["resources"]) == {"requests", "limits"}
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"][0]["name"] == "tmp" and "emptyDir" in pod["volumes"][0]


def test_argocd_syncs_the_folder_that_holds_the_cronjob(values):
    (application,) = manifests.render(values)["argocd/application.yaml"]
    folder = application["spec"]["source"]["path"]
    assert "kubernetes/etl-cronjob.yaml" in manifests.TEMPLATES
    assert (ROOT / folder / "etl-cronjob.yaml").is_file()
    assert folder == "infra/kubernetes"


def test_a_numeric_model_version_stays_a_string(values):
    env = manifests.render(dataclasses.replace(values, model_version="2"))
    container = env["kubernetes/deployment.yaml"][0]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "MLFLOW_MODEL_VERSION", "value": "2"} in container["env"]


def test_build_context_holds_what_the_dockerfile_copies():
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignore, ".dockerignore is an allow-list: everything out, then `!` lines"
    sources = re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE.read_text(), re.MULTILINE)
    for source in " ".join(sources).split():
        assert f"!{source}" in ignore or f"!{source}/" in ignore, source
        assert (ROOT / source).exists(), source


# --- the command ---------------------------------------------------------------------------


def test_manifests_for_a_user_into_another_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    before = VALUES.read_text()
    out = CliRunner().invoke(
        app, ["manifests", "--user", "alice", "--model-version", "3", "--out", str(tmp_path)]
    )
    assert out.exit_code == 0, out.output
    assert "for user-alice written to" in out.output
    assert VALUES.read_text() == before, "--out elsewhere must leave values.yaml alone"
    rendered = validate_all_under(tmp_path)
    ingress = rendered["kubernetes/ingress.yaml"][0]
    assert ingress["metadata"]["namespace"] == "user-alice"
    assert ingress["spec"]["rules"][0]["host"] == "alice-nace-api.lab.sspcloud.fr"
    application = rendered["argocd/application.yaml"][0]
    assert application["spec"]["destination"]["namespace"] == "user-alice"
    assert 'value: "3"' in (tmp_path / "kubernetes" / "deployment.yaml").read_text()


def validate_all_under(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """The files under ``folder`` as documents, after checking them strictly."""
    documents = {
        str(path.relative_to(folder)): list(yaml.safe_load_all(path.read_text()))
        for path in sorted(folder.rglob("*.yaml"))
    }
    assert set(documents) == set(manifests.TEMPLATES)
    check_documents(documents)
    return documents


def test_manifests_with_default_out_update_the_values_file(tmp_path, monkeypatch):
    (tmp_path / "solutions").mkdir()  # what makes a folder the course's root
    (tmp_path / "infra").mkdir()
    shutil.copy(VALUES, tmp_path / "infra" / "values.yaml")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    out = runner.invoke(app, ["manifests", "--user", "bob", "--image-tag", "abc1234"])
    assert out.exit_code == 0, out.output
    assert "values.yaml updated" in out.output
    text = (tmp_path / "infra" / "values.yaml").read_text()
    assert "namespace: user-bob\n" in text and "image_tag: abc1234\n" in text
    assert "# The Kubernetes namespace the API runs in." in text, "comments are kept"
    again = runner.invoke(app, ["manifests", "--check"])
    assert again.exit_code == 0, again.output
    assert "up to date" in again.output


def test_check_reports_drift(tmp_path, monkeypatch, values):
    manifests.write(manifests.render_files(values), tmp_path)
    (tmp_path / "kubernetes" / "service.yaml").write_text("# edited by hand\n")
    monkeypatch.chdir(ROOT)
    out = CliRunner().invoke(app, ["manifests", "--check", "--out", str(tmp_path)])
    assert out.exit_code == 1
    assert "kubernetes/service.yaml" in str(out.exception)


def test_a_user_mistake_is_one_message_and_exit_1(tmp_path):
    course = shutil.which("course")
    assert course, "the `course` console script is not installed (uv sync)"
    out = subprocess.run(
        [course, "manifests", "--user", "User_Alice", "--out", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, env=os.environ, timeout=120,
    )  # fmt: skip
    assert out.returncode == 1
    assert "user 'User_Alice' is not valid" in out.stderr
    assert "user-alice" in out.stderr, "the message suggests a valid spelling"
    assert "Traceback" not in out.stderr + out.stdout
    assert not any(tmp_path.iterdir()), "nothing is written when the values are wrong"


# --- mistakes the checks must catch --------------------------------------------------------


def _container(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["template"]["spec"]["containers"][0]


def _rename(mapping: dict[str, Any], old: str, new: str) -> None:
    mapping[new] = mapping.pop(old)


MANIFEST_MISTAKES: dict[str, tuple[str, Callable[[dict[str, Any]], None], list[str]]] = {
    "misspelled container field": (
        "kubernetes/deployment.yaml",
        lambda d: _rename(_container(d), "imagePullPolicy", "imagePullPolice"),
        ["spec.template.spec.containers[0].imagePullPolice", "did you mean imagePullPolicy"],
    ),
    "misspelled pod field": (
        "kubernetes/deployment.yaml",
        lambda d: _rename(d["spec"]["template"]["spec"], "containers", "contianers"),
        ["spec.template.spec.contianers: unknown field", "containers: required field"],
    ),
    "replicas as text": (
        "kubernetes/deployment.yaml",
        lambda d: d["spec"].update(replicas="two"),
        ["spec.replicas", "'two' is not of type 'integer'"],
    ),
    "replica for replicas": (
        "kubernetes/deployment.yaml",
        lambda d: _rename(d["spec"], "replicas", "replica"),
        ["spec.replica: unknown field (did you mean replicas?)"],
    ),
    "service port as text": (
        "kubernetes/service.yaml",
        lambda d: d["spec"]["ports"][0].update(port="eighty"),
        ["Service nace-api", "spec.ports[0].port"],
    ),
    "ingress path without pathType": (
        "kubernetes/ingress.yaml",
        lambda d: d["spec"]["rules"][0]["http"]["paths"][0].pop("pathType"),
        ["spec.rules[0].http.paths[0].pathType: required field is missing"],
    ),
    "unknown apiVersion": (
        "kubernetes/deployment.yaml",
        lambda d: d.update(apiVersion="apps/v2"),
        ["no kind Deployment in apiVersion apps/v2"],
    ),
    "pth for path in the Application": (
        "argocd/application.yaml",
        lambda d: _rename(d["spec"]["source"], "path", "pth"),
        ["Application nace-api", "spec.source.pth: unknown field (did you mean path?)"],
    ),
    "selfheal for selfHeal": (
        "argocd/application.yaml",
        lambda d: _rename(d["spec"]["syncPolicy"]["automated"], "selfHeal", "selfheal"),
        ["spec.syncPolicy.automated.selfheal", "did you mean selfHeal?"],
    ),
    "misspelled CronJob field": (
        "kubernetes/etl-cronjob.yaml",
        lambda d: _rename(d["spec"], "concurrencyPolicy", "concurrencyPolice"),
        ["CronJob nace-api-etl", "spec.concurrencyPolice", "did you mean concurrencyPolicy?"],
    ),
    "misspelled CronJob container field": (
        "kubernetes/etl-cronjob.yaml",
        lambda d: _rename(
            d["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0],
            "securityContext",
            "securitycontext",
        ),
        ["spec.jobTemplate.spec.template.spec.containers[0].securitycontext: unknown field"],
    ),
    "CronJob schedule out of range": (
        "kubernetes/etl-cronjob.yaml",
        lambda d: d["spec"].update(schedule="61 2 * * *"),
        ["spec.schedule: minute '61' is not from 0 to 59"],
    ),
    "CronJob schedule with six fields": (
        "kubernetes/etl-cronjob.yaml",
        lambda d: d["spec"].update(schedule="0 30 2 * * *"),
        ["spec.schedule", "has 6 fields, a schedule has 5"],
    ),
    "Application without destination": (
        "argocd/application.yaml",
        lambda d: d["spec"].pop("destination"),
        ["spec.destination: required field is missing"],
    ),
    "Application with an unknown apiVersion": (
        "argocd/application.yaml",
        lambda d: d.update(apiVersion="argoproj.io/v1beta1"),
        ["no offline schema for argoproj.io/v1beta1 Application"],
    ),
}


@pytest.mark.parametrize(
    ("file", "mistake", "expected"), MANIFEST_MISTAKES.values(), ids=list(MANIFEST_MISTAKES)
)
def test_broken_manifests_fail_with_file_and_field(values, file, mistake, expected):
    documents = copy.deepcopy(manifests.render(values))
    mistake(documents[file][0])
    with pytest.raises(ManifestInvalid) as caught:
        check_documents(documents)
    message = str(caught.value)
    assert file in message
    for part in expected:
        assert part in message
    assert len(caught.value.problems) <= 2, message  # the mistake, not a cascade


def test_a_broken_file_fails_validate_all(tmp_path):
    shutil.copytree(ROOT / "infra", tmp_path / "infra")
    deployment = tmp_path / "infra" / "kubernetes" / "deployment.yaml"
    deployment.write_text(deployment.read_text().replace("imagePullPolicy", "imagePullPolice"))
    with pytest.raises(ManifestInvalid, match=r"infra/kubernetes/deployment.yaml: Deployment"):
        validate_all(tmp_path)


DOCKERFILE_MISTAKES = {
    "latest base": ("FROM python:3.11.14-slim-bookworm", "FROM python:latest", "latest moves"),
    "untagged base": ("FROM python:3.11.14-slim-bookworm", "FROM python", "has no tag"),
    "minor-only tag": ("FROM python:3.11.14-slim-bookworm", "FROM python:3.11-slim", "not a full"),
    "latest uv": ("uv:0.13.9", "uv:latest", "COPY --from image ghcr.io/astral-sh/uv:latest"),
    "root user": ("USER 10001:10001", "USER root", "USER root runs as root"),
    "uid 0": ("USER 10001:10001", "USER 0", "runs as root"),
    "named user": ("USER 10001:10001", "USER course", "use a numeric UID"),
    "no user": ("USER 10001:10001\n", "", "no USER"),
    "no EXPOSE": ("EXPOSE 8000\n", "", "no EXPOSE"),
    "no HEALTHCHECK": ("HEALTHCHECK ", "# HEALTHCHECK ", "no HEALTHCHECK"),
    "no CMD": ('CMD ["course"', '# CMD ["course"', "no CMD or ENTRYPOINT"),
}


@pytest.mark.parametrize(
    ("old", "new", "expected"), DOCKERFILE_MISTAKES.values(), ids=list(DOCKERFILE_MISTAKES)
)
def test_broken_dockerfiles_fail(old, new, expected):
    text = DOCKERFILE.read_text()
    assert old in text
    problems = check_dockerfile(text.replace(old, new), "infra/Dockerfile")
    assert len(problems) == 1, problems
    assert expected in str(problems[0])
    assert str(problems[0]).startswith("infra/Dockerfile: ")


def test_the_committed_dockerfile_passes():
    assert check_dockerfile(DOCKERFILE.read_text()) == []


def test_a_digest_pins_an_image_too():
    text = DOCKERFILE.read_text().replace(
        "FROM python:3.11.14-slim-bookworm", "FROM python:3.11-slim@sha256:" + "0" * 64
    )
    assert check_dockerfile(text) == []


@pytest.mark.parametrize(
    ("mistake", "expected"),
    [
        (lambda w: _rename(w["jobs"]["test"], "runs-on", "run-on"), "jobs.test.run-on"),
        (lambda w: _rename(w["jobs"]["image"]["steps"][0], "uses", "use"), "steps[0].use"),
        (lambda w: _rename(w, "jobs", "job"), "job: unknown field (did you mean jobs?)"),
    ],
    ids=["run-on", "use", "job"],
)
def test_broken_workflows_fail(mistake, expected):
    workflow = load_workflow(WORKFLOW.read_text())
    assert "on" in workflow, "`on:` is a key, not YAML 1.1's true"
    assert check_workflow(workflow, "ci.yml") == []
    mistake(workflow)
    problems = [str(p) for p in check_workflow(workflow, "ci.yml")]
    assert any(expected in p for p in problems), problems


# --- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"namespace": "User_Alice"}, ["namespace = 'User_Alice'", "DNS-1123", "user-alice"]),
        ({"host": "nace api"}, ["host = 'nace api'", "a DNS name"]),
        ({"image_tag": "latest"}, ["image_tag = 'latest'", "not latest"]),
        ({"image_repository": "ghcr.io/Alice/x:1"}, ["image_repository", "without tag"]),
        ({"model_version": "champion!"}, ["model_version", "a version number such as 1"]),
        ({"replicas": "two"}, ["replicas = 'two'", "a whole number"]),
        ({"tracking_uri": "localhost:5000"}, ["tracking_uri", "http(s)"]),
        ({"cpu_request": "2", "cpu_limit": "500m"}, ["cpu_request = '2' is more than cpu_limit"]),
        ({"imagetag": "abc"}, ["unknown field 'imagetag': did you mean image_tag?"]),
        ({"s3_bucket": "My_Bucket"}, ["s3_bucket = 'My_Bucket'", "perhaps my-bucket"]),
        ({"logs_prefix": "/logs/"}, ["logs_prefix = '/logs/'", "without leading or trailing"]),
        ({"monitoring_prefix": "a/../b"}, ["monitoring_prefix = 'a/../b'"]),
        ({"etl_schedule": "every night"}, ["etl_schedule = 'every night'", '"30 2 * * *"']),
        ({"etl_schedule": 230}, ["etl_schedule = '230' is not valid"]),
        (
            {"logs_prefix": "course", "monitoring_prefix": "course/monitoring"},
            ["logs_prefix = 'course' and monitoring_prefix = 'course/monitoring' overlap"],
        ),
        ({"name": "n" * 50}, ["longer than 52 characters"]),
    ],
    ids=lambda v: "-".join(v) if isinstance(v, dict) else None,
)
def test_bad_values_name_the_field_and_what_to_write(tmp_path, change, expected):
    data = yaml.safe_load(VALUES.read_text())
    data.update(change)
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CourseError) as caught:
        manifests.load_values(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    for part in expected:
        assert part in message


def test_a_missing_value_is_named(tmp_path):
    data = yaml.safe_load(VALUES.read_text())
    del data["host"]
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CourseError, match=r"host is missing: add `host: \.\.\.`"):
        manifests.load_values(path)


def test_for_user_derives_namespace_host_and_argocd_namespace(values):
    bob = manifests.for_user(values, "bob")
    assert (bob.namespace, bob.host, bob.argocd_namespace) == (
        "user-bob",
        "bob-nace-api.lab.sspcloud.fr",
        "user-bob",
    )
    assert (bob.image, bob.tracking_uri) == (values.image, values.tracking_uri)
    assert bob.s3_bucket == "bob", "the bucket follows the user when it was the user's own"
    shared = manifests.for_user(dataclasses.replace(values, s3_bucket="team-bucket"), "bob")
    assert shared.s3_bucket == "team-bucket"


def test_the_api_ships_its_log_where_the_etl_cronjob_reads(values):
    """The Deployment's API_LOG_S3 and endpoint are the CronJob's source and endpoint."""
    rendered = manifests.render(manifests.for_user(values, "alice"))
    (deployment,) = [d for docs in rendered.values() for d in docs if d["kind"] == "Deployment"]
    (cronjob,) = rendered["kubernetes/etl-cronjob.yaml"]
    api = deployment["spec"]["template"]["spec"]["containers"][0]
    etl = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    api_env = {e["name"]: e.get("value") for e in api["env"]}
    etl_env = {e["name"]: e.get("value") for e in etl["env"]}
    assert api_env["API_LOG_S3"] == etl["command"][2] == "s3://alice/mlops-course/logs"
    assert api_env["AWS_S3_ENDPOINT"] == etl_env["AWS_S3_ENDPOINT"]


def test_the_alert_cronjob_judges_what_the_etl_writes_and_fails_once(values):
    """A failed alert Job is the alert: no retries, and it reads the ETL's output."""
    rendered = manifests.render(manifests.for_user(values, "alice"))
    (etl,) = rendered["kubernetes/etl-cronjob.yaml"]
    (alert,) = rendered["kubernetes/alert-cronjob.yaml"]
    job = alert["spec"]["jobTemplate"]["spec"]
    container = job["template"]["spec"]["containers"][0]
    etl_command = etl["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert container["command"] == ["course", "monitor", "--check", "--data", etl_command[4]]
    assert job["backoffLimit"] == 0 and alert["spec"]["concurrencyPolicy"] == "Forbid"
    assert alert["metadata"]["name"] == "nace-api-alert"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert alert["spec"]["schedule"] == values.alert_schedule != etl["spec"]["schedule"]


def test_a_bad_alert_schedule_is_named(values):
    with pytest.raises(manifests.ValuesInvalid, match="alert_schedule = 'daily'"):
        manifests.parse_values({**dataclasses.asdict(values), "alert_schedule": "daily"})


def test_the_image_builds_beside_the_tests_and_is_pushed_only_after_them():
    jobs = load_workflow(WORKFLOW.read_text())["jobs"]
    assert "needs" not in jobs["image"], "the build starts with the tests"
    assert all(s.get("with", {}).get("push") is not True for s in jobs["image"]["steps"])
    assert "packages" not in jobs["image"]["permissions"]
    assert set(jobs["publish"]["needs"]) == {"test", "image"}
    pushed = [s for s in jobs["publish"]["steps"] if s.get("with", {}).get("push") is True]
    assert len(pushed) == 1 and jobs["publish"]["permissions"]["packages"] == "write"


def test_the_book_is_built_by_the_main_command_and_deployed_from_main_only_not_in_forks():
    jobs = load_workflow(WORKFLOW.read_text())["jobs"]
    book, pages = jobs["book"], jobs["pages"]
    assert book["needs"] == "test" and pages["needs"] == "book"
    commands = " ".join(s.get("run", "") for s in book["steps"])
    assert "uv run course build" in commands and "--rows" not in commands  # the default corpus
    uploads = [s for s in book["steps"] if s.get("uses", "").startswith("actions/upload-pages")]
    assert uploads[0]["with"]["path"] == "_build/html"
    on_main = "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    for job in (jobs["publish"], jobs["image"]):  # a fork builds and pushes its own image
        assert job["if"] == on_main
    for job in (book, pages):  # a fork has no Pages site: its run would fail there
        assert job["if"] == on_main + " && !github.event.repository.fork"
    assert pages["permissions"] == {"pages": "write", "id-token": "write"}
