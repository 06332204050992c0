"""``course manifests``: a trainee's Kubernetes and ArgoCD manifests, checked offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from course_lib.cli.app import app, say
from course_lib.cli.options import CheckOnly, ValuesFile


@app.command()
def manifests(
    values: ValuesFile = None,
    user: Annotated[
        str | None,
        typer.Option(help="SSP Cloud user name: sets the namespace (user-NAME) and the host."),
    ] = None,
    model_version: Annotated[
        str | None, typer.Option(help="Model version (a number) or alias to serve.")
    ] = None,
    image_tag: Annotated[
        str | None, typer.Option(help="Image tag to deploy (the commit sha CI built).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Output folder (default: infra/, which holds kubernetes/ and argocd/)."),
    ] = None,
    check: CheckOnly = False,
) -> None:
    """Render the Kubernetes and ArgoCD manifests from infra/values.yaml, checked offline.

    With --user, --model-version or --image-tag and the default --out, the
    values file is updated too, so that a fork's values and manifests agree.
    """
    from course_lib.course.labs import course_folder
    from course_lib.deploy.manifests import VALUES_FILE
    from course_lib.deploy.sync import sync_manifests

    root = course_folder() if values is None or out is None else Path.cwd()
    synced = sync_manifests(root, values, out, user, model_version, image_tag, check)
    values_name = (values or VALUES_FILE).name
    if user is not None and not check:
        say(
            "namespace and host follow the user; check tracking_uri, image_repository "
            f"and git_repo_url in {values_name} yourself"
        )
    say(synced.summary(values_name))
