"""The lowest versions pyproject.toml allows are the ones `make test-lowest` tests: each direct
dependency's floor is the version in .ci/lowest-direct.txt (uv's lowest-direct resolution)."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO


def floors() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    declared = project["project"]["dependencies"] + project["dependency-groups"]["dev"]
    out = {}
    for text in declared:
        requirement = Requirement(text)
        lower = [s.version for s in requirement.specifier if s.operator == ">="]
        assert lower, f"{text}: give it a floor (>=), the lowest version tested"
        out[canonicalize_name(requirement.name)] = lower[0]
    return out


def lowest_pins() -> dict[str, set[str]]:
    pinned: dict[str, set[str]] = {}
    for line in (REPO / ".ci" / "lowest-direct.txt").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;]+)", line)
        if match:
            pinned.setdefault(canonicalize_name(match.group(1)), set()).add(match.group(2))
    return pinned


def release(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in re.findall(r"\d+", version)]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def test_every_floor_is_the_version_the_lowest_run_tests():
    pinned = lowest_pins()
    wrong = {
        name: (floor, sorted(pinned.get(name, set())))
        for name, floor in floors().items()
        if {release(v) for v in pinned.get(name, set())} != {release(floor)}
    }
    assert not wrong, (
        f"floor in pyproject.toml vs version tested by make test-lowest: {wrong}; raise the "
        "floor to the tested version (or run make lock-lowest after changing pyproject.toml)"
    )
