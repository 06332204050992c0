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
    name = metadata.get("name") if isinstance(metadata, dict) else None
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


# --- dispatch ----------------------------------------------------------------------------

CUSTOM_KINDS: dict[tuple[str, str], Callable[[Mapping[str, Any], str], list[Problem]]] = {
    (ARGOCD_API_VERSION, "Application"): check_application,
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
    name = (document.get("metadata") or {}).get("name")
    problems = []
    if not name:
        problems.append(Problem(file, "metadata.name", "required field is missing", subject))
    api_version, kind = str(document["apiVersion"]), str(document["kind"])
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


def _unpinned(image: str) -> str | None:
    """Why an image reference is not reproducible, or None when it is."""
    if "@sha256:" in image:
        return None
    _, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
    if not tag:
        return f"{image} has no tag, so Docker takes :latest, which moves: pin a full version"
    if tag == "latest":
        return f"{image}: latest moves under you; pin a full version (x.y.z) or a digest"
    if not _FULL_VERSION.search(tag):
        return (
            f"{image}: tag {tag!r} is not a full version (x.y.z) and is moved by each release; "
            "pin one such as 3.11.14-slim-bookworm, or a digest (@sha256:...)"
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
