"""Where a run came from: package versions, the package's git commit, start time (what a run directory records)."""

from __future__ import annotations

import platform
import subprocess
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .. import __version__

PACKAGES = ("numpy", "jax", "sax", "simphony", "gdsfactory", "optax")
PACKAGE_DIR = Path(__file__).resolve().parent.parent


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """This package's version and each distribution's installed version (None when it is not installed)."""
    out: dict[str, str | None] = {"ffzero-photonics": __version__}
    for name in packages:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def git_commit(path: Path = PACKAGE_DIR) -> str | None:
    """``git rev-parse HEAD`` of the checkout that tracks ``path``; None when there is none (never raises)."""
    try:
        tracked = subprocess.run(["git", "-C", str(path), "ls-files", "--error-unmatch", "__init__.py"],
                                 capture_output=True, timeout=10)
        if tracked.returncode != 0:  # not a checkout, or a foreign repository around an installed copy
            return None
        head = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = head.stdout.strip()
    return commit if head.returncode == 0 and commit else None


def utc_now() -> str:
    """The current time, ISO 8601 in UTC (seconds)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def provenance() -> dict[str, Any]:
    """Start time, package versions, Python version and git commit of this process's code."""
    return {"started_at": utc_now(), "versions": package_versions(), "python": platform.python_version(),
            "git_commit": git_commit()}
