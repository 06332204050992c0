"""Offline checks of what a trainee deploys: manifests, CI workflow, Dockerfile.

No cluster, no Docker engine, no network: each file is checked against a
schema shipped with a Python package or with the course, strictly, so that a
misspelled field (``imagePullPolice``, ``pth:``, ``run-on``) fails here rather
than being silently dropped by the cluster:

- core Kubernetes kinds: kubernetes-validate's bundled OpenAPI schemas, strict
  variant (its default variant accepts unknown fields), and a CronJob's
  schedule, which the schema leaves as any string;
- the ArgoCD ``Application``: the schema inside ArgoCD's CRD (a copy ships in
  ``resources/schemas/``), closed the way the API server's strict field
  validation closes it;
- Argo ``Workflow``, ``WorkflowTemplate``, ``CronWorkflow``: Argo Workflows'
  JSON schema (a copy ships in ``resources/schemas/``), every definition closed
  the same way; then the names that must point somewhere (entrypoint, called
  templates, dependencies, parameters) and every image pinned;
- GitHub Actions workflows: the schema check-jsonschema vendors;
- Dockerfiles: parsed by dockerfile-parse, then checked for the few rules a
  deployable image must follow (pinned base, non-root user, a port, a health
  check, a command).

Every check returns :class:`Problem` s; the ``validate_*``/``check_documents``
entry points raise one :class:`ManifestInvalid` listing all of them, so a
notebook or the CLI shows every mistake at once with its file and field.
"""

from __future__ import annotations

import copy
import difflib
import io
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from course_lib.deploy.manifests import cron_problem
from course_lib.errors import CourseError
from course_lib.resources import resource_path

KUBERNETES_VERSION = "1.30"
"""The Kubernetes release the core kinds are checked against (one kubernetes-validate bundles)."""
ARGOCD_CRD = "argocd-application-crd.yaml"
ARGOCD_API_VERSION = "argoproj.io/v1alpha1"
ARGO_WORKFLOWS_SCHEMA = "argo-workflows.schema.json"
ARGO_API_VERSION = "argoproj.io/v1alpha1"
"""Argo Workflows' group and version (the same as ArgoCD's)."""
ARGO_WORKFLOW_KINDS = ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow")
"""The Argo Workflows kinds checked offline (apiVersion argoproj.io/v1alpha1, like ArgoCD's)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong, where it is: file, object (``Deployment nace-api``), field path."""

    file: str
    field: str
    message: str
    subject: str = ""

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.file, self.subject, self.field) if part)
        return f"{where}: {self.message}" if where else self.message


class ManifestInvalid(CourseError):
    """Files that would not deploy as written; ``problems`` lists every one."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        listed = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} found:\n{listed}")


@dataclass
class ValidationSummary:
    """What was checked: documents per kind, and the files they came from."""

    counts: Counter[str] = field(default_factory=Counter)
    files: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(self.counts.items()))
        return (
            f"{len(self.files)} files valid offline (Kubernetes {KUBERNETES_VERSION}, strict): "
            f"{kinds}"
        )


# --- error messages a person can act on ----------------------------------------------


def _field_path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][\w-]*", str(part)):
            text += f".{part}" if text else str(part)
        else:
            text += f"[{json.dumps(str(part))}]"
    return text


def _explain(error: jsonschema.ValidationError) -> list[tuple[str, str]]:
    """(field path, message) pairs for one schema error, with the noise taken out.

    For ``oneOf``/``anyOf`` the alternative that came closest is explained
    (fewest problems, type mismatches last) instead of "not valid under any of
    the given schemas"; unknown fields get a "did you mean" from the schema.
    """
    path = _field_path(error.absolute_path)
    if error.validator in ("oneOf", "anyOf") and error.context:
        branches: dict[Any, list[jsonschema.ValidationError]] = defaultdict(list)
        for sub in error.context:
            branches[sub.relative_schema_path[0]].append(sub)

        def distance(errors: list[jsonschema.ValidationError]) -> tuple[int, int]:
            mismatched = sum(e.validator == "type" and e.path == error.path for e in errors)
            return mismatched, sum(len(_explain(e)) for e in errors)

        best = min(branches.values(), key=distance)
        return [pair for sub in best for pair in _explain(sub)]
    if error.validator == "additionalProperties" and error.validator_value is False:
        allowed = error.schema.get("properties", {})
        patterns = error.schema.get("patternProperties", {})
        unknown = [
            key
            for key in error.instance
            if key not in allowed and not any(re.search(p, str(key)) for p in patterns)
        ]
        pairs = []
        for key in unknown:
            close = difflib.get_close_matches(str(key), list(allowed), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else f"allowed: {', '.join(allowed)}"
            pairs.append((_field_path([*error.absolute_path, key]), f"unknown field ({hint})"))
        return pairs or [(path, error.message)]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [k for k in error.validator_value if k not in error.instance]
        where = list(error.absolute_path)
        return [(_field_path([*where, k]), "required field is missing") for k in missing]
    return [(path, error.message)]


def _schema_problems(
    validator: jsonschema.protocols.Validator, document: Any, file: str, subject: str
) -> list[Problem]:
    problems: dict[tuple[str, str], None] = {}  # ordered, without repeats
    errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.path)))
    for error in errors:
        for pair in _explain(error):
            problems[pair] = None
    return [Problem(file, path, message, subject) for path, message in problems]


def _subject(document: Mapping[str, Any]) -> str:
    metadata = document.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    name = metadata.get("name") or (
        f"{metadata['generateName']}..." if metadata.get("generateName") else None
    )
    return f"{document.get('kind', '?')} {name or '(no name)'}"


# --- Kubernetes core kinds --------------------------------------------------------------


@cache
def _kubernetes_schemas(version: str) -> tuple[str, Any]:
    from kubernetes_validate import utils

    bundled = [v for v in utils.all_versions() if utils.major_minor(v) == version]
    if not bundled:
        raise CourseError(
            f"kubernetes-validate has no schemas for Kubernetes {version}: "
            f"choose one of {', '.join(utils.major_minor(v) for v in utils.all_versions())}"
        )
    folder = f"kubernetes-json-schema/v{bundled[-1]}-local-strict"
    return folder, utils.schema_contents(f"{folder}/_definitions.json", version)


@cache
def _kubernetes_validator(
    kind: str, api_version: str, version: str
) -> jsonschema.protocols.Validator | None:
    """The strict validator of one kind, as kubernetes-validate builds it, or None if
    that kind/apiVersion does not exist in this Kubernetes release."""
    from kubernetes_validate import utils
    from referencing import Registry, Resource

    folder, definitions = _kubernetes_schemas(version)
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = utils.schema_contents(f"{folder}/{kind.lower()}-{group}.json", version)
    except FileNotFoundError:
        return None
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def check_kubernetes(
    document: Mapping[str, Any], file: str = "", version: str = KUBERNETES_VERSION
) -> list[Problem]:
    """Problems of a core Kubernetes object (Deployment, Service, Ingress, CronJob...)."""
    subject = _subject(document)
    kind, api_version = str(document.get("kind")), str(document.get("apiVersion"))
    validator = _kubernetes_validator(kind, api_version, version)
    if validator is None:
        message = (
            f"Kubernetes {version} has no kind {kind} in apiVersion {api_version}: "
            "check both (e.g. apps/v1 Deployment, v1 Service, networking.k8s.io/v1 Ingress)"
        )
        return [Problem(file, "", message, subject)]
    problems = _schema_problems(validator, dict(document), file, subject)
    spec = document.get("spec")
    schedule = spec.get("schedule") if kind == "CronJob" and isinstance(spec, dict) else None
    if isinstance(schedule, str) and (why := cron_problem(schedule)):
        problems.append(Problem(file, "spec.schedule", why, subject))
    return problems


# --- the ArgoCD Application -------------------------------------------------------------


def close_schema(schema: Any) -> Any:
    """A copy of an OpenAPI schema where every object that lists ``properties`` and
    says nothing about others (no ``additionalProperties``, no
    ``x-kubernetes-preserve-unknown-fields``) rejects unknown fields, as the API
    server's strict field validation does; as published, a typo passes."""
    if isinstance(schema, list):
        return [close_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = dict(schema)
    if isinstance(closed.get("properties"), dict):
        closed["properties"] = {k: close_schema(v) for k, v in closed["properties"].items()}
        preserve = closed.get("x-kubernetes-preserve-unknown-fields")
        if "additionalProperties" not in closed and not preserve:
            closed["additionalProperties"] = False
    for key in ("items", "additionalProperties", "not"):
        if isinstance(closed.get(key), dict):
            closed[key] = close_schema(closed[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if isinstance(closed.get(key), list):
            closed[key] = close_schema(closed[key])
    return closed


@cache
def _application_validator() -> jsonschema.protocols.Validator:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the CRD is 400 kB
    with resource_path("schemas", ARGOCD_CRD).open(encoding="utf-8") as handle:
        crd = yaml.load(handle, Loader=loader)  # a safe loader
    schema = close_schema(copy.deepcopy(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]))
    return jsonschema.Draft202012Validator(schema)


def check_application(document: Mapping[str, Any], file: str = "") -> list[Problem]:
    """Problems of an ArgoCD ``Application`` (schema of ArgoCD's CRD, closed)."""
    subject = _subject(document)
    problems = []
    if document.get("apiVersion") != ARGOCD_API_VERSION:
        message = f"{document.get('apiVersion')!r}: an Application is {ARGOCD_API_VERSION}"
        problems.append(Problem(file, "apiVersion", message, subject))
    if document.get("kind") != "Application":
        problems.append(Problem(file, "kind", "must be Application", subject))
    problems += _schema_problems(_application_validator(), dict(document), file, subject)
    return problems


# --- Argo Workflows ---------------------------------------------------------------------


ARGO_WIDENED = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": ["string", "integer"]},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": ["string", "number"]},
}
"""Definitions the published schema narrows to strings, as the API server reads them:
``limit: 3`` and ``cpu: 1`` are accepted by the cluster (and by kubernetes-validate's
schemas of the core kinds), so failing them offline would be a false alarm."""


@cache
def _argo_definitions() -> dict[str, Any]:
    """Every definition of Argo Workflows' schema, each closed by :func:`close_schema`.

    Closing the top level is not enough: a Workflow's fields are reached through
    ``$ref`` s (spec -> WorkflowSpec -> Template -> Container...), and each
    target is its own definition, so every one of them is closed.
    """
    with resource_path("schemas", ARGO_WORKFLOWS_SCHEMA).open(encoding="utf-8") as handle:
        schema = json.load(handle)
    definitions = {name: close_schema(d) for name, d in schema["definitions"].items()}
    return {**definitions, **ARGO_WIDENED}


@cache
def _argo_validator(kind: str) -> jsonschema.protocols.Validator:
    """The validator of one kind: its definition, with every other one to resolve ``$ref`` s.

    Against the top-level ``oneOf`` over every kind, a typo in a Workflow would be
    reported as "not valid under any of the given schemas"; against the kind's
    own definition, it is reported at its field.
    """
    schema = {
        "$ref": f"#/definitions/io.argoproj.workflow.v1alpha1.{kind}",
        "definitions": _argo_definitions(),
    }
    return jsonschema.Draft202012Validator(schema)


def _workflow_spec(document: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(field path, spec) of what runs: ``spec``, or a CronWorkflow's ``spec.workflowSpec``."""
    spec = document.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    if document.get("kind") == "CronWorkflow":
        inner = spec.get("workflowSpec")
        return "spec.workflowSpec", inner if isinstance(inner, dict) else {}
    return "spec", spec


def _templates(prefix: str, spec: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(field path, template) of every template of a workflow's spec."""
    templates = spec.get("templates")
    return [
        (f"{prefix}.templates[{index}]", template)
        for index, template in enumerate(templates if isinstance(templates, list) else [])
        if isinstance(template, dict)
    ]


def _images(template: Any) -> list[tuple[str, Any]]:
    """(field path relative to the template, image) of every container a template runs."""
    if not isinstance(template, dict):
        return []
    found = []
    for key in ("container", "script"):
        if isinstance(template.get(key), dict) and "image" in template[key]:
            found.append((f"{key}.image", template[key]["image"]))
    lists = {key: template.get(key) for key in ("initContainers", "sidecars")}
    container_set = template.get("containerSet")
    if isinstance(container_set, dict):
        lists["containerSet.containers"] = container_set.get("containers")
    for key, containers in lists.items():
        for index, container in enumerate(containers if isinstance(containers, list) else []):
            if isinstance(container, dict) and "image" in container:
                found.append((f"{key}[{index}].image", container["image"]))
    return found


_PARAMETER_REFERENCE = re.compile(r"\{\{\s*(inputs|workflow)\.parameters\.([\w-]+)\s*\}\}")


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _parameter_names(holder: Any) -> list[str]:
    """Names of ``holder.parameters`` (a template's ``inputs``, a spec's ``arguments``)."""
    parameters = holder.get("parameters") if isinstance(holder, dict) else None
    if not isinstance(parameters, list):
        return []
    return [str(p["name"]) for p in parameters if isinstance(p, dict) and "name" in p]


def _unknown(kind: str, name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(known) or 'none'}"
    return f"no {kind} named {name!r} ({hint})"


def _reference_problems(document: Mapping[str, Any], file: str, subject: str) -> list[Problem]:
    """Names that point nowhere, which no schema can see and Argo only reports when the
    workflow is submitted: the entrypoint, the template each step or task calls, a
    task's dependencies, and the ``{{inputs.parameters.X}}`` and
    ``{{workflow.parameters.X}}`` a template reads."""
    prefix, spec = _workflow_spec(document)
    templates = _templates(prefix, spec)
    problems: list[Problem] = []
    names: dict[str, str] = {}
    for where, template in templates:
        name = str(template.get("name"))
        if name in names:
            problems.append(
                Problem(file, f"{where}.name", f"template {name!r} is also {names[name]}", subject)
            )
        names.setdefault(name, where)
    known = list(names)
    entrypoint = spec.get("entrypoint")
    if isinstance(entrypoint, str) and entrypoint not in names:
        problems.append(
            Problem(file, f"{prefix}.entrypoint", _unknown("template", entrypoint, known), subject)
        )
    declared = _parameter_names(spec.get("arguments"))
    # A template (WorkflowTemplate...) may read parameters the Workflow using it declares;
    # a Workflow that takes its spec from one (workflowTemplateRef) gets them from there.
    complete = document.get("kind") in ("Workflow", "CronWorkflow")
    complete = complete and "workflowTemplateRef" not in spec
    for where, template in templates:
        calls: list[tuple[str, Any]] = []
        groups = template.get("steps")
        for i, group in enumerate(groups if isinstance(groups, list) else []):
            for j, step in enumerate(group if isinstance(group, list) else []):
                calls.append((f"{where}.steps[{i}][{j}]", step))
        dag = template.get("dag")
        tasks = dag.get("tasks") if isinstance(dag, dict) else None
        tasks = [t for t in tasks if isinstance(t, dict)] if isinstance(tasks, list) else []
        task_names = [str(t.get("name")) for t in tasks]
        for i, task in enumerate(tasks):
            calls.append((f"{where}.dag.tasks[{i}]", task))
            dependencies = task.get("dependencies")
            for k, dependency in enumerate(dependencies if isinstance(dependencies, list) else []):
                if str(dependency) not in task_names:
                    message = _unknown("task", str(dependency), task_names)
                    problems.append(
                        Problem(file, f"{where}.dag.tasks[{i}].dependencies[{k}]", message, subject)
                    )
        for call_where, call in calls:
            called = call.get("template") if isinstance(call, dict) else None
            if isinstance(called, str) and called not in names:
                message = _unknown("template", called, known)
                problems.append(Problem(file, f"{call_where}.template", message, subject))
        inputs = _parameter_names(template.get("inputs"))
        for scope, name in sorted(
            {m.groups() for text in _strings(template) for m in _PARAMETER_REFERENCE.finditer(text)}
        ):
            own = inputs if scope == "inputs" else declared
            if name not in own and (scope == "inputs" or complete):
                what = "input parameter" if scope == "inputs" else "workflow parameter"
                message = f"{{{{{scope}.parameters.{name}}}}}: {_unknown(what, name, own)}"
                problems.append(Problem(file, where, message, subject))
    return problems


def check_argo_workflow(document: Mapping[str, Any], file: str = "") -> list[Problem]:
    """Problems of an Argo ``Workflow``, ``WorkflowTemplate`` or ``CronWorkflow``.

    The schema is Argo Workflows' own (``resources/schemas/``), closed, and
    checked against the definition of the document's kind; then the names
    that must point somewhere (:func:`_reference_problems`); then every image
    a template runs must be pinned (a full version tag, a commit sha or a
    digest), never ``latest``: a retried step or a re-submitted workflow
    would silently run other code. An image written as a ``{{...}}``
    expression is only known at run time and is not judged here.
    """
    subject = _subject(document)
    kind = document.get("kind")
    if document.get("apiVersion") != ARGO_API_VERSION or kind not in ARGO_WORKFLOW_KINDS:
        message = (
            f"{document.get('apiVersion')} {kind} is not an Argo workflow: "
            f"expected {ARGO_API_VERSION} and one of {', '.join(ARGO_WORKFLOW_KINDS)}"
        )
        return [Problem(file, "kind", message, subject)]
    problems = _schema_problems(_argo_validator(str(kind)), dict(document), file, subject)
    problems += _reference_problems(document, file, subject)
    prefix, spec = _workflow_spec(document)
    templates = _templates(prefix, spec)
    if isinstance(spec.get("templateDefaults"), dict):
        templates.append((f"{prefix}.templateDefaults", spec["templateDefaults"]))
    for where, template in templates:
        for field_path, image in _images(template):
            if not isinstance(image, str) or "{{" in image:
                continue
            if why := _unpinned(image):
                problems.append(Problem(file, f"{where}.{field_path}", why, subject))
    return problems


# --- dispatch ----------------------------------------------------------------------------

CUSTOM_KINDS: dict[tuple[str, str], Callable[[Mapping[str, Any], str], list[Problem]]] = {
    (ARGOCD_API_VERSION, "Application"): check_application,
    **{(ARGO_API_VERSION, kind): check_argo_workflow for kind in ARGO_WORKFLOW_KINDS},
}
"""Checks of custom resources by (apiVersion, kind); everything else is a core kind."""


def check_document(document: Any, file: str = "") -> list[Problem]:
    """Problems of one manifest, whatever its kind."""
    if not isinstance(document, dict):
        message = f"expected a mapping (apiVersion, kind, metadata, ...), found {document!r:.60}"
        return [Problem(file, "", message)]
    subject = _subject(document)
    missing = [key for key in ("apiVersion", "kind") if not document.get(key)]
    if missing:
        return [Problem(file, key, "required field is missing", subject) for key in missing]
    metadata = document.get("metadata") if isinstance(document.get("metadata"), dict) else {}
    api_version, kind = str(document["apiVersion"]), str(document["kind"])
    # A Workflow is created (`argo submit`, `kubectl create`), not applied: a
    # generateName gives each submission its own name.
    generated = kind == "Workflow" and metadata.get("generateName")
    problems = []
    if not metadata.get("name") and not generated:
        problems.append(Problem(file, "metadata.name", "required field is missing", subject))
    custom = CUSTOM_KINDS.get((api_version, kind))
    if custom is None and api_version.split("/")[0] == "argoproj.io":
        known = ", ".join(f"{a} {k}" for a, k in CUSTOM_KINDS)
        message = f"no offline schema for {api_version} {kind} (known here: {known})"
        return [*problems, Problem(file, "", message, subject)]
    check = custom or check_kubernetes
    return problems + check(document, file)


def check_documents(documents: Mapping[str, Sequence[Any]]) -> Counter[str]:
    """Check every document of every file (file name -> documents, as
    :func:`course_lib.deploy.manifests.render` returns); counts per kind, or
    :class:`ManifestInvalid` listing every problem."""
    counts: Counter[str] = Counter()
    problems = []
    for file, docs in documents.items():
        for document in docs:
            problems += check_document(document, file)
            counts[str(document.get("kind")) if isinstance(document, dict) else "?"] += 1
    if problems:
        raise ManifestInvalid(problems)
    return counts


# --- GitHub Actions workflows -----------------------------------------------------------


class _Yaml12Loader(yaml.SafeLoader):
    """YAML as GitHub reads it: ``on:`` is a key, not the boolean true of YAML 1.1."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def load_workflow(text: str) -> Any:
    """A workflow file's content, read as GitHub reads it."""
    return yaml.load(text, Loader=_Yaml12Loader)  # a safe loader


@cache
def _workflow_validator() -> jsonschema.protocols.Validator:
    vendored = files("check_jsonschema.builtin_schemas.vendor").joinpath("github-workflows.json")
    return jsonschema.Draft7Validator(json.loads(vendored.read_text(encoding="utf-8")))


def check_workflow(workflow: Any, file: str = "") -> list[Problem]:
    """Problems of a GitHub Actions workflow (SchemaStore's schema, as check-jsonschema
    vendors it); ``workflow`` as :func:`load_workflow` reads it."""
    return _schema_problems(_workflow_validator(), workflow, file, "")


# --- Dockerfiles -------------------------------------------------------------------------

_FULL_VERSION = re.compile(r"\d+\.\d+\.\d+")
_COMMIT_SHA = re.compile(r"[0-9a-f]{40}")
"""A full git commit sha: the tag CI gives the course's image, one per commit, never moved."""


def _unpinned(image: str) -> str | None:
    """Why an image reference is not reproducible, or None when it is."""
    if "@sha256:" in image:
        return None
    _, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
    if not tag:
        return f"{image} has no tag, so Docker takes :latest, which moves: pin a full version"
    if tag == "latest":
        return f"{image}: latest moves under you; pin a full version (x.y.z) or a digest"
    if not _FULL_VERSION.search(tag) and not _COMMIT_SHA.fullmatch(tag):
        return (
            f"{image}: tag {tag!r} is not a full version (x.y.z) and is moved by each release; "
            "pin one such as 3.11.14-slim-bookworm, a full commit sha, or a digest (@sha256:...)"
        )
    return None


def _substitute(value: str, args: Mapping[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m[1], m[0]), value)


def check_dockerfile(text: str, file: str = "Dockerfile") -> list[Problem]:
    """Problems of a Dockerfile for a deployable image: every base image pinned (full
    version tag or digest), a numeric non-root ``USER``, ``EXPOSE``, a
    ``HEALTHCHECK`` and a ``CMD`` or ``ENTRYPOINT`` in the final stage."""
    from dockerfile_parse import DockerfileParser

    parsed = DockerfileParser(fileobj=io.BytesIO(text.encode("utf-8"))).structure
    instructions = [i for i in parsed if i["instruction"] != "COMMENT"]
    problems: list[Problem] = []

    def problem(instruction: dict[str, Any] | None, message: str) -> None:
        where = f"line {instruction['startline'] + 1}" if instruction else ""
        problems.append(Problem(file, where, message))

    froms = [i for i in instructions if i["instruction"] == "FROM"]
    if not froms:
        problem(None, "no FROM: a Dockerfile starts from a base image")
        return problems
    args = {}  # ARGs declared before the first FROM may name the base image
    for instruction in instructions[: instructions.index(froms[0])]:
        if instruction["instruction"] == "ARG" and "=" in instruction["value"]:
            key, _, default = instruction["value"].partition("=")
            args[key.strip()] = default.strip().strip("\"'")
    stages: set[str] = set()
    for instruction in instructions:
        words = [w for w in instruction["value"].split() if not w.startswith("--")]
        if instruction["instruction"] == "FROM" and words:
            image = _substitute(words[0], args)
            if image != "scratch" and image not in stages and (why := _unpinned(image)):
                problem(instruction, f"base image {why}")
            if len(words) >= 3 and words[1].lower() == "as":
                stages.add(words[2])
        elif instruction["instruction"] in ("COPY", "ADD"):
            source = re.search(r"--from=(\S+)", instruction["value"])
            image = source[1] if source else ""
            if image and image not in stages and not image.isdigit() and (why := _unpinned(image)):
                problem(instruction, f"COPY --from image {why}")
    final = instructions[instructions.index(froms[-1]) :]
    by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for instruction in final:
        by_name[instruction["instruction"]].append(instruction)
    if not by_name["USER"]:
        problem(None, "no USER: the image would run as root; add `USER 10001` (numeric, non-root)")
    else:
        user = by_name["USER"][-1]
        name = user["value"].split(":")[0].strip()
        if name in ("root", "0"):
            problem(user, f"USER {user['value']} runs as root: use a numeric non-root UID (10001)")
        elif not name.isdigit():
            problem(
                user,
                f"USER {name}: use a numeric UID (USER 10001) so that Kubernetes can check "
                "runAsNonRoot",
            )
    if not by_name["EXPOSE"]:
        problem(None, "no EXPOSE: say which port the API listens on (EXPOSE 8000)")
    healthchecks = by_name["HEALTHCHECK"]
    if not healthchecks or healthchecks[-1]["value"].strip().upper() == "NONE":
        problem(None, "no HEALTHCHECK: add one that calls /health (with python, not curl)")
    if not (by_name["CMD"] or by_name["ENTRYPOINT"]):
        problem(None, "no CMD or ENTRYPOINT: say what the container runs")
    return problems


# --- everything a trainee deploys -------------------------------------------------------


def _dockerfiles(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and (p.name == "Dockerfile" or p.name.startswith("Dockerfile."))
    )


def validate_all(root: Path | str) -> ValidationSummary:
    """Check ``infra/`` (values, manifests, Dockerfiles) and ``.github/workflows/`` of
    the course at ``root``; a summary to print, or :class:`ManifestInvalid`."""
    from course_lib.deploy.manifests import VALUES_FILE, load_values

    root = Path(root)
    infra = root / "infra"
    summary = ValidationSummary()
    problems: list[Problem] = []

    def checked(path: Path, kind: str, found: list[Problem]) -> None:
        summary.files.append(str(path.relative_to(root)))
        summary.counts[kind] += 1
        problems.extend(found)

    values = root / VALUES_FILE
    if values.is_file():
        try:
            load_values(values)
            checked(values, "values file", [])
        except CourseError as exc:
            checked(values, "values file", [Problem("", "", str(exc))])
    for path in sorted([*infra.rglob("*.yaml"), *infra.rglob("*.yml")]):
        if path == values:
            continue
        name = str(path.relative_to(root))
        try:
            documents = [d for d in yaml.safe_load_all(path.read_text("utf-8")) if d is not None]
        except yaml.YAMLError as exc:
            checked(path, "unreadable YAML", [Problem(name, "", f"not valid YAML: {exc}")])
            continue
        summary.files.append(name)
        for document in documents:
            kind = document.get("kind") if isinstance(document, dict) else None
            summary.counts[str(kind or "?")] += 1
            problems.extend(check_document(document, name))
    for path in _dockerfiles(infra):
        name = str(path.relative_to(root))
        checked(path, "Dockerfile", check_dockerfile(path.read_text("utf-8"), name))
    workflows = root / ".github" / "workflows"
    for path in sorted([*workflows.glob("*.yml"), *workflows.glob("*.yaml")]):
        name = str(path.relative_to(root))
        try:
            found = check_workflow(load_workflow(path.read_text("utf-8")), name)
        except yaml.YAMLError as exc:
            found = [Problem(name, "", f"not valid YAML: {exc}")]
        checked(path, "GitHub workflow", found)
    if problems:
        raise ManifestInvalid(problems)
    return summary
