"""``course manifests``: keep a fork's rendered manifests in step with its values file.

A trainee changes a value (their user name, the model version to serve, the
image tag CI built), the manifests are rendered again, validated offline, and
written next to the values, which are updated too, so that what is committed
always agrees with itself.  ``check`` only validates and compares (CI's job).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from course_lib.deploy import manifests as m
from course_lib.deploy.validation import check_documents
from course_lib.errors import CourseError


@dataclass(frozen=True)
class Synced:
    """What ``sync_manifests`` did, for one summary line."""

    values: m.TraineeValues
    files: int
    kinds: str
    """Validated documents by kind, e.g. ``1 Deployment, 1 Service``."""
    shown: Path
    """The output folder, relative to the course's folder when inside it."""
    values_updated: bool
    checked_only: bool

    def summary(self, values_name: str) -> str:
        v = self.values
        if self.checked_only:
            return f"manifests valid ({self.kinds}) and up to date in {self.shown}"
        reference = f"{'/' if v.model_version.isdigit() else '@'}{v.model_version}"
        note = f"; {values_name} updated" if self.values_updated else ""
        return (
            f"{self.files} manifests ({self.kinds}) for {v.namespace} written to {self.shown}: "
            f"{v.image}, models:/{v.model_name}{reference}, https://{v.host}{note}"
        )


def with_overrides(
    values: m.TraineeValues,
    user: str | None = None,
    model_version: str | None = None,
    image_tag: str | None = None,
) -> m.TraineeValues:
    """The values with what a person chose on the command line (None: keep)."""
    if user is not None:
        values = m.for_user(values, user)
    chosen = {"model_version": model_version, "image_tag": image_tag}
    return replace(values, **{k: v for k, v in chosen.items() if v is not None})


def sync_manifests(
    root: Path,
    values_path: Path | None = None,
    out_dir: Path | None = None,
    user: str | None = None,
    model_version: str | None = None,
    image_tag: str | None = None,
    check: bool = False,
) -> Synced:
    """Render, validate, then write (or with ``check``, compare) the manifests.

    With the default output folder, changed values are saved back to the
    values file, so that a fork's values and manifests agree.
    """
    values_file = values_path or root / m.VALUES_FILE
    out = out_dir or root / m.OUT_DIR
    chosen = with_overrides(m.load_values(values_file), user, model_version, image_tag)
    files = m.render_files(chosen)
    shown = out.relative_to(root) if out.is_relative_to(root) else out
    counts = check_documents({f"{shown}/{name}": docs for name, docs in m.render(chosen).items()})
    kinds = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    if check:
        stale = m.stale_files(files, out)
        if stale:
            raise CourseError(
                f"{', '.join(stale)} in {shown} differ from the values: run `course manifests`"
            )
        return Synced(chosen, len(files), kinds, shown, values_updated=False, checked_only=True)
    m.write(files, out)
    updated = out_dir is None and chosen != m.load_values(values_file)
    if updated:
        m.save_values(chosen, values_file)
    return Synced(chosen, len(files), kinds, shown, values_updated=updated, checked_only=False)
