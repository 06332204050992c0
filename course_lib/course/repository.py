"""The course repository's address, written into the book's "Getting the labs" section.

The book is built from the repository it describes, so its address is known
at build time and is never typed by hand: GitHub Actions names the repository
in ``GITHUB_SERVER_URL`` and ``GITHUB_REPOSITORY`` (the published book, and a
trainee's fork that builds its own), and a local clone names it in its
``origin`` remote.  ``COURSE_REPOSITORY_URL`` overrides both, for a mirror on
another forge.  With none of them (a copy without a remote) the page says that
the instructor gives the address, rather than inventing one.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

OVERRIDE_VARIABLE = "COURSE_REPOSITORY_URL"
SNIPPET = Path("book") / "_generated" / "clone.md"
"""Included by ``book/index.md``; git-ignored, written by every build."""
GIT_TIMEOUT_SECONDS = 10

_SCP_LIKE = re.compile(r"^(?:[\w.-]+@)?(?P<host>[\w.-]+):(?P<path>[\w./~-]+)$")


def https_address(remote: str) -> str | None:
    """``git@github.com:o/r.git`` or ``https://user:token@github.com/o/r`` → the address a
    browser opens, ``https://github.com/o/r``; a local path or another scheme → None.

    Credentials in a remote (``https://user:token@…``) are dropped: the address
    is printed on a public page.
    """
    remote = remote.strip()
    if remote.startswith(("https://", "http://", "ssh://")):
        parts = urlsplit(remote)  # its hostname and port leave any user:token@ out
        if not parts.hostname:
            return None
        if parts.scheme == "ssh":  # the forge's web pages are https, on the default port
            address = f"https://{parts.hostname}{parts.path}"
        else:
            port = f":{parts.port}" if parts.port else ""
            address = f"{parts.scheme}://{parts.hostname}{port}{parts.path}"
    elif "://" not in remote and (match := _SCP_LIKE.match(remote)) and "/" in match["path"]:
        address = f"https://{match['host']}/{match['path']}"
    else:
        return None
    address = address.rstrip("/")
    return address[: -len(".git")] if address.endswith(".git") else address


def _origin(root: Path) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(root), "remote", "get-url", "origin"],
            capture_output=True, text=True, timeout=GIT_TIMEOUT_SECONDS,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def repository_address(root: Path, environ: Mapping[str, str] = os.environ) -> str | None:
    """The course repository's https address, from the override, GitHub Actions or
    ``origin``, in that order; None when none of them names one."""
    if environ.get(OVERRIDE_VARIABLE):
        return https_address(environ[OVERRIDE_VARIABLE])
    if environ.get("GITHUB_REPOSITORY"):
        server = environ.get("GITHUB_SERVER_URL") or "https://github.com"
        return https_address(f"{server}/{environ['GITHUB_REPOSITORY']}")
    origin = _origin(root)
    return https_address(origin) if origin else None


def clone_snippet(address: str | None) -> str:
    """The MyST text of the clone instructions: the course's clone and a fork's."""
    if address is None:
        return (
            "Your instructor gives you the address of the course's repository. "
            "Clone it:\n\n```bash\ngit clone <address of the course repository> mlops-course\n```\n"
        )
    name = address.rsplit("/", 1)[-1]
    host = address.split("/")[2]
    return (
        f"The course's repository is <{address}>. To follow the course on your "
        "laptop, clone it:\n\n"
        f"```bash\ngit clone {address}.git mlops-course\n```\n\n"
        "To deploy your own API in Application 3, clone your fork instead "
        "({ref}`own-copy-on-github` below says why and how):\n\n"
        f"```bash\ngit clone https://{host}/<your account>/{name}.git mlops-course\n```\n"
    )


def write_clone_snippet(root: Path, environ: Mapping[str, str] = os.environ) -> Path:
    """Write the snippet ``book/index.md`` includes; returns its path."""
    target = root / SNIPPET
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(clone_snippet(repository_address(root, environ)), encoding="utf-8")
    return target
