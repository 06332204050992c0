"""Chapter 5's Argo Workflows, built in Python with hera and committed as YAML.

Five workflows, each a function returning a hera ``Workflow``:

- :func:`hello_world`, :func:`parameters`, :func:`steps` and :func:`dag` teach
  the engine with a small pinned image (busybox; ``docker/whalesay``, the
  classic, no longer pulls and has no arm64 build);
- :func:`search` is the hyperparameter search: ``course search-grid`` expands
  the grid, one pod per configuration runs ``course train`` (``withParam``),
  and ``course search-best`` picks the best run on the synthetic held-out
  split, registers it and moves an alias.

Why generate rather than write YAML by hand: the image, namespace, tracking
URI and grid come from ``infra/values.yaml`` and the grid file, so the
committed files cannot drift from them (a test renders them again), and the
search's one training command is written once. Why hera: it is the
maintained Python builder of Argo's own model; it drops unknown fields
silently when it *reads* YAML, so every file is also checked against Argo's
schema, closed (:func:`course_lib.deploy.validation.check_argo_workflow`).

Only this module imports hera (a ``course`` dependency group, not in the API's
image): the commands that pods run never import it. Importing hera registers
a representer for ``str`` on PyYAML's dumpers, process-wide (multi-line
strings as blocks; ``y``/``n`` quoted, which YAML 1.1 readers such as kubectl
would take for booleans): a change of style only, which the YAML here relies on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hera.workflows import (
    DAG,
    Container,
    EmptyDirVolume,
    Env,
    Parameter,
    Resources,
    RetryStrategy,
    SecretEnvFrom,
    Step,
    Steps,
    Task,
    Workflow,
)
from hera.workflows.models import (
    Backoff,
    Capabilities,
    ContinueOn,
    PodGC,
    PodSecurityContext,
    SeccompProfile,
    SecurityContext,
    TTLStrategy,
)

from course_lib import settings
from course_lib.deploy import manifests
from course_lib.deploy.validation import check_documents
from course_lib.errors import CourseError
from course_lib.search.grid import SEARCHABLE, Grid, load_grid

OUT_DIR = Path("infra") / "argo-workflows"
"""Where the rendered workflows are committed, relative to the course's folder."""
BUSYBOX = "busybox:1.37.0"
"""The teaching examples' image: a few MB, multi-architecture, pinned (never latest)."""
BUSYBOX_UID = 65534
"""busybox's ``nobody``: the examples run as a non-root user like the course's pods."""
COURSE_UID = 10001
"""The course image's user (infra/Dockerfile)."""
DEFAULT_PARALLELISM = 4
BUSYBOX_RESOURCES = Resources(
    cpu_request="10m", cpu_limit="100m", memory_request="16Mi", memory_limit="32Mi"
)
"""An ``echo``: requests and limits still given, as every pod on a shared cluster should."""
LABELS = {"app.kubernetes.io/part-of": "mlops-course"}
"""On every workflow, so that ``argo list -l app.kubernetes.io/part-of=mlops-course`` finds them."""

# --- the search's pods -----------------------------------------------------------------

TRAIN_RESOURCES = Resources(
    cpu_request="1", cpu_limit="1", memory_request="1Gi", memory_limit="2Gi"
)
"""One training pod. fastText trains with ``thread=1`` (reproducible runs), so one core
is all it uses: requesting one lets the scheduler pack pods, and the limit stops
nothing it needs. Memory: training on the default corpus peaks at 0.56 GB and the
benchmark's whole process (corpus and MLflow included) at 0.93 GB
(benchmarks/results.json, dim 50, 200,000 buckets); 1 GiB requested, 2 GiB allowed
for larger dims. The n-gram matrix alone is 4 x bucket x dim bytes (0.8 GB for
1,000,000 buckets of dim 200): a grid beyond that needs a larger limit."""
LIGHT_RESOURCES = Resources(
    cpu_request="250m", cpu_limit="1", memory_request="512Mi", memory_limit="1Gi"
)
"""Expanding the grid and choosing the best run: MLflow queries, one small evaluation."""
TRANSIENT_EXIT_CODE = 75
"""What every ``course`` command exits with when the tracking server did not answer
(:class:`course_lib.errors.ServerUnavailable`); 1 is a permanent failure."""
RETRY_LIMIT = "3"
RETRY_EXPRESSION = (
    f'lastRetry.status == "Error" || asInt(lastRetry.exitCode) == {TRANSIENT_EXIT_CODE}'
)
"""Retry only what a retry can fix. Checked against Argo's "Retries" page: with
``retryPolicy: Always`` the ``expression`` decides (both must hold), and it sees
``lastRetry.status`` ("Error": Argo or the cluster failed the step - pod deleted or
evicted, node lost, its init or wait container failed; "Failed": our container
exited non-zero) and ``lastRetry.exitCode`` (a string, hence ``asInt``). So: every
Argo-level error, and exit 75 (the tracking server did not answer); never exit 1
(bad input or a bug: a retry would fail the same way and hide it)."""
RETRY_BACKOFF = Backoff(duration="30s", factor="2", max_duration="10m")
"""30 s, then 60 s, then 120 s: time for a restarting tracking server to come back."""
TRAIN_DEADLINE_S = "1800"
"""A training pod is stopped after 30 minutes (about 1 minute on the default corpus)."""
WORKFLOW_DEADLINE_S = 6 * 3600
TTL = TTLStrategy(seconds_after_success=24 * 3600, seconds_after_failure=3 * 24 * 3600)
"""A finished workflow (and its pods) is deleted after a day, or three when it failed."""
SEARCH_POD_GC = PodGC(strategy="OnPodSuccess", delete_delay_duration="10m")
"""A search's pods that succeeded are deleted 10 minutes later (their results are in
MLflow); failed ones stay for ``argo logs`` until the workflow's TTL."""


# --- pieces every workflow shares ------------------------------------------------------


def _pod_security(uid: int) -> PodSecurityContext:
    return PodSecurityContext(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        fs_group=uid,
        seccomp_profile=SeccompProfile(type="RuntimeDefault"),
    )


def _locked_down() -> SecurityContext:
    """The container's rights, as in the API's Deployment: no privilege, nothing written
    outside the ``/tmp`` volume, no Linux capability."""
    return SecurityContext(
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        capabilities=Capabilities(drop=["ALL"]),
    )


def _workflow(values: manifests.TraineeValues, name: str, uid: int, **spec: Any) -> Workflow:
    """A workflow with a generated name (``argo submit`` twice gives two workflows),
    the trainee's namespace, a non-root pod and a TTL."""
    return Workflow(
        generate_name=f"{name}-",
        namespace=values.namespace,
        labels=dict(LABELS),
        security_context=_pod_security(uid),
        ttl_strategy=TTL,
        **spec,
    )


def _busybox(name: str, script: str, inputs: list[str] | tuple[str, ...] = ()) -> Container:
    """A busybox container running one shell line, reading ``inputs`` parameters."""
    return Container(
        name=name,
        image=BUSYBOX,
        command=["sh", "-c"],
        args=[script],
        inputs=[Parameter(name=i) for i in inputs] or None,
        resources=BUSYBOX_RESOURCES,
        security_context=_locked_down(),
    )


# --- the teaching examples -------------------------------------------------------------


def hello_world(values: manifests.TraineeValues) -> Workflow:
    """One pod that prints a message: the smallest workflow."""
    hello = Container(
        name="hello",
        image=BUSYBOX,
        command=["echo"],
        args=["hello from Argo Workflows"],
        resources=BUSYBOX_RESOURCES,
        security_context=_locked_down(),
    )
    workflow = _workflow(values, "hello-world", BUSYBOX_UID, entrypoint=hello.name)
    workflow.templates.append(hello)
    return workflow


def parameters(values: manifests.TraineeValues) -> Workflow:
    """A workflow parameter with a default (``spec.arguments``) that the entry
    template reads as its input (``inputs.parameters``); ``argo submit -p
    message=...`` replaces the default."""
    say = _busybox("say", 'echo "{{inputs.parameters.message}}"', inputs=["message"])
    workflow = _workflow(
        values,
        "parameters",
        BUSYBOX_UID,
        entrypoint=say.name,
        arguments=[Parameter(name="message", value="hello from a parameter")],
    )
    workflow.templates.append(say)
    return workflow


def steps(values: manifests.TraineeValues) -> Workflow:
    """``steps`` is a list of groups: the groups run one after the other, the
    steps inside one group run together. Here ``prepare`` runs alone, then
    ``train-a`` and ``train-b`` at the same time, and ``compare`` waits for both."""
    say = _busybox("say", 'echo "{{inputs.parameters.message}}"; sleep 5', inputs=["message"])
    workflow = _workflow(values, "steps", BUSYBOX_UID, entrypoint="main")
    with workflow, Steps(name="main") as main:
        Step(name="prepare", template=say, arguments={"message": "group 1: prepare, alone"})
        with main.parallel():
            Step(name="train-a", template=say, arguments={"message": "group 2: train a"})
            Step(name="train-b", template=say, arguments={"message": "group 2: train b"})
        Step(name="compare", template=say, arguments={"message": "group 3: after a and b"})
    return workflow  # hera adds the templates the steps call


def dag(values: manifests.TraineeValues) -> Workflow:
    """A diamond: B and C both depend on A and run together, D waits for both.

    Each task prints a line (its ``outputs.result``) that the next ones read,
    so the dependencies are visible in the logs, not just declared.
    """
    first = _busybox("first", 'echo "A"')
    after = _busybox(
        "after",
        'echo "{{inputs.parameters.name}} (after {{inputs.parameters.input}})"',
        inputs=["name", "input"],
    )
    join = _busybox(
        "join",
        'echo "D (after {{inputs.parameters.left}} and {{inputs.parameters.right}})"',
        inputs=["left", "right"],
    )
    workflow = _workflow(values, "dag", BUSYBOX_UID, entrypoint="diamond")
    with workflow, DAG(name="diamond"):
        Task(name="A", template=first)
        for name in ("B", "C"):
            Task(
                name=name,
                template=after,
                dependencies=["A"],
                arguments={"name": name, "input": "{{tasks.A.outputs.result}}"},
            )
        Task(
            name="D",
            template=join,
            dependencies=["B", "C"],
            arguments={"left": "{{tasks.B.outputs.result}}", "right": "{{tasks.C.outputs.result}}"},
        )
    return workflow


# --- the search -------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchDefaults:
    """The search's workflow parameters that do not come from the values file
    (``argo submit -p rows=50000`` overrides any of them)."""

    experiment: str = settings.SEARCH_EXPERIMENT
    data: str = ""
    """'' trains on the generated corpus; a path, https URL or s3:// URI otherwise."""
    rows: int = settings.DEFAULT_ROWS
    seed: int = settings.DEFAULT_SEED
    alias: str = ""
    """'' (the default) registers the best model without moving an alias, as ``course
    search`` does: the API serves ``champion``, so promoting a search's winner stays a
    decision of its own (``-p alias=search-best`` gives it an alias of the search's)."""


def _course_container(
    values: manifests.TraineeValues, name: str, args: list[str], resources: Resources, **kw: Any
) -> Container:
    """A pod running one ``course`` command in the course's image, as the API's pods run:
    same user, read-only root with ``/tmp`` writable, S3 credentials if the Secret exists."""
    return Container(
        name=name,
        image=values.image,
        image_pull_policy="IfNotPresent",  # tags are commit shas: never rebuilt
        command=["course"],
        args=args,
        env=[
            Env(name="MLFLOW_TRACKING_URI", value="{{workflow.parameters.tracking-uri}}"),
            Env(name="COURSE_STATE_DIR", value="/tmp/course"),  # the root is read-only
            Env(name="AWS_S3_ENDPOINT", value=values.s3_endpoint),  # for --data s3://...
        ],
        env_from=[SecretEnvFrom(name=values.s3_secret, optional=True)],
        volumes=[EmptyDirVolume(name="tmp", mount_path="/tmp", size_limit="2Gi")],
        resources=resources,
        security_context=_locked_down(),
        retry_strategy=RetryStrategy(
            limit=RETRY_LIMIT,
            retry_policy="Always",
            expression=RETRY_EXPRESSION,
            backoff=RETRY_BACKOFF,
        ),
        **kw,
    )


def search(
    values: manifests.TraineeValues,
    grid: Grid,
    parallelism: int = DEFAULT_PARALLELISM,
    defaults: SearchDefaults | None = None,
) -> Workflow:
    """The hyperparameter search: expand the grid, train each configuration in its
    own pod (at most ``parallelism`` at once), then register the best run.

    Every pod trains on the same data with the same seed and one thread, so the
    runs differ only by their hyperparameters and can be compared.
    """
    if parallelism < 1:
        raise CourseError(f"parallelism = {parallelism}: run at least 1 pod at a time")
    d = defaults or SearchDefaults()
    names = ("config", *SEARCHABLE)  # the keys of each item search-grid prints
    expand = _course_container(
        values, "expand-grid", ["search-grid", "--grid", "{{workflow.parameters.grid}}"],
        LIGHT_RESOURCES,
    )  # fmt: skip
    train_args = [
        "train",
        "--data", "{{workflow.parameters.data}}",
        "--rows", "{{workflow.parameters.rows}}",
        "--seed", "{{workflow.parameters.seed}}",
        "--experiment", "{{workflow.parameters.experiment}}",
        "--register", "",  # the best run is registered at the end, not each one
        "--no-examples",
        "--thread", "1",
        "--tag", "course.search={{workflow.name}}",
        "--tag", "course.config={{inputs.parameters.config}}",
    ]  # fmt: skip
    for name in SEARCHABLE:
        train_args += [f"--{name}", f"{{{{inputs.parameters.{name}}}}}"]
    train = _course_container(
        values,
        "train",
        train_args,
        TRAIN_RESOURCES,
        inputs=[Parameter(name=n) for n in names],
        active_deadline_seconds=TRAIN_DEADLINE_S,
    )
    select = _course_container(
        values, "select-best",
        [
            "search-best",
            "--experiment", "{{workflow.parameters.experiment}}",
            "--search", "{{workflow.name}}",
            "--register", "{{workflow.parameters.model-name}}",
            "--alias", "{{workflow.parameters.alias}}",
        ],
        LIGHT_RESOURCES,
    )  # fmt: skip
    arguments = {
        "tracking-uri": values.tracking_uri,
        "experiment": d.experiment,
        "data": d.data,
        "rows": str(d.rows),
        "seed": str(d.seed),
        "grid": grid.to_json(),
        "model-name": values.model_name,
        "alias": d.alias,
    }
    workflow = _workflow(
        values,
        "search",
        COURSE_UID,
        entrypoint="search",
        arguments=[Parameter(name=k, value=v) for k, v in arguments.items()],
        parallelism=parallelism,  # pods of this workflow running at once
        active_deadline_seconds=WORKFLOW_DEADLINE_S,
        pod_gc=SEARCH_POD_GC,
    )
    with workflow, Steps(name="search"):  # three groups, one after the other
        Step(name="expand", template=expand)
        Step(
            name="train",
            template=train,
            # One step per item of the JSON list search-grid printed, all in this group.
            with_param="{{steps.expand.outputs.result}}",
            arguments={n: f"{{{{item.{n}}}}}" for n in names},
            # A configuration that fails for good (its retries spent) must not stop the
            # selection: the best is chosen among the runs that finished, as locally.
            continue_on=ContinueOn(failed=True),
        )
        Step(name="select", template=select)
    return workflow


# --- YAML --------------------------------------------------------------------------------

_FIRST = (
    "apiVersion", "kind", "metadata", "name", "generateName", "namespace", "entrypoint",
    "template", "dependencies", "withParam", "arguments", "inputs", "image", "command", "args",
)  # fmt: skip
_LAST = ("templates",)


def _reading_order(value: Any) -> Any:
    """Keys in the order a person reads a workflow: what it is and takes first, the
    templates last; otherwise the order of Argo's model."""

    def rank(key: str) -> tuple[int, int]:
        if key in _FIRST:
            return 0, _FIRST.index(key)
        return (2, 0) if key in _LAST else (1, 0)

    if isinstance(value, dict):
        return {k: _reading_order(value[k]) for k in sorted(value, key=rank)}
    if isinstance(value, list):
        return [_reading_order(item) for item in value]
    return value


def to_yaml(workflow: Workflow, header: str) -> str:
    """The workflow as YAML, after a comment block (``header``, one line or several)."""
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header.strip().splitlines())
    document = _reading_order(workflow.to_dict())
    body = yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=10_000)
    return comment + body


HEADERS = {
    "hello-world.yaml": "One pod that prints a line. argo submit --watch; argo logs @latest",
    "parameters.yaml": (
        "A parameter with a default, read by the template as an input.\n"
        "argo submit -p message='something else' replaces the default."
    ),
    "steps.yaml": ("Steps: groups run one after the other; the steps of one group run together."),
    "dag.yaml": "A DAG: B and C run together after A; D waits for both.",
    "search.yaml": (
        "The hyperparameter search: expand the grid, train each configuration in its pod\n"
        "(withParam), register the best run. Override a parameter with argo submit -p, e.g.\n"
        "-p rows=50000 -p alias=search-best. Exit code 75 (tracking server unreachable) and\n"
        "Argo-level errors are retried with backoff; exit 1 never is."
    ),
}


def _generated(command: str) -> str:
    return (
        f"generated by `{command}` (course_lib/search/workflows.py) from infra/values.yaml;\n"
        "edit those, not this file."
    )


def render_search(
    values: manifests.TraineeValues,
    grid: Grid,
    parallelism: int = DEFAULT_PARALLELISM,
    defaults: SearchDefaults | None = None,
    command: str = "course search --render",
) -> str:
    """The search workflow as YAML, for ``argo submit``; ``command`` is named in its header."""
    header = f"{_generated(command)}\n\n{HEADERS['search.yaml']}"
    return to_yaml(search(values, grid, parallelism, defaults), header)


def render_workflows(
    values: manifests.TraineeValues, grid: Grid, parallelism: int = DEFAULT_PARALLELISM
) -> dict[str, str]:
    """Every workflow as committed in ``infra/argo-workflows/``: file name -> YAML text."""
    command = "course workflows"
    examples = {
        "hello-world.yaml": hello_world,
        "parameters.yaml": parameters,
        "steps.yaml": steps,
        "dag.yaml": dag,
    }
    files = {
        name: to_yaml(build(values), f"{_generated(command)}\n\n{HEADERS[name]}")
        for name, build in examples.items()
    }
    files["search.yaml"] = render_search(values, grid, parallelism, command=command)
    return files


# --- course workflows -------------------------------------------------------------------


@dataclass(frozen=True)
class WorkflowsSynced:
    """What :func:`sync_workflows` did, for one summary line."""

    files: int
    shown: Path
    checked_only: bool

    def summary(self) -> str:
        valid = f"{self.files} workflows valid offline (Argo's schema, strict)"
        if self.checked_only:
            return f"{valid} and up to date in {self.shown}"
        return f"{valid}, written to {self.shown}"


def sync_workflows(
    root: Path,
    values_path: Path | None = None,
    out_dir: Path | None = None,
    check: bool = False,
) -> WorkflowsSynced:
    """Render every workflow from the values and the default grid, validate them, then
    write them (or with ``check``, compare them with what is there and write nothing)."""
    values = manifests.load_values(values_path or root / manifests.VALUES_FILE)
    out = out_dir or root / OUT_DIR
    shown = out.relative_to(root) if out.is_relative_to(root) else out
    files = render_workflows(values, load_grid(None))
    check_documents({f"{shown}/{name}": _documents(text) for name, text in files.items()})
    if check:
        stale = manifests.stale_files(files, out)
        if stale:
            raise CourseError(
                f"{', '.join(stale)} in {shown} differ from what the code and the values give: "
                "run `course workflows`"
            )
        return WorkflowsSynced(len(files), shown, checked_only=True)
    manifests.write(files, out)
    return WorkflowsSynced(len(files), shown, checked_only=False)


def _documents(text: str) -> list[Mapping[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]
