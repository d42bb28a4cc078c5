"""Run `dbt deps` only when the package files changed or the packages are missing."""

from __future__ import annotations

import hashlib
from pathlib import Path

PACKAGE_FILES = ("packages.yml", "dependencies.yml", "package-lock.yml")
STAMP = ".elt-deps.sha256"


def packages_fingerprint(project_dir: Path) -> str | None:
    """A hash of the package files, or None when the project declares no packages file."""
    digest = hashlib.sha256()
    found = False
    for name in PACKAGE_FILES:
        path = project_dir / name
        if path.exists():
            found = True
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest() if found else None


def packages_dir(project_dir: Path) -> Path:
    return project_dir / "dbt_packages"


def deps_needed(project_dir: Path) -> bool:
    fingerprint = packages_fingerprint(project_dir)
    if fingerprint is None:
        return False
    stamp = packages_dir(project_dir) / STAMP
    return not stamp.exists() or stamp.read_text().strip() != fingerprint


def record_deps(project_dir: Path) -> None:
    """Remember the package files `dbt deps` just installed (after a successful run)."""
    fingerprint = packages_fingerprint(project_dir)
    if fingerprint is None:
        return
    directory = packages_dir(project_dir)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / STAMP).write_text(fingerprint + "\n")
