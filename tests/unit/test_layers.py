"""The package's shape, as the import contracts of pyproject.toml and a newcomer see it:

- every folder (and top-level module) sits in a layer: `lint-imports` checks only what the
  layers name, so one left out would be free to import upward unnoticed;
- every flow module is in the flows' independence contract, and the one exception,
  `full_pipeline`, takes nothing from the flows it composes but the flows themselves;
- every module name is unique in the package: one name, one meaning;
- no module imports through its own package's `__init__` (a cycle).
"""

from __future__ import annotations

import ast
import tomllib
from collections import Counter
from pathlib import Path

from prefect import Flow

from tests.conftest import REPO

PACKAGE = REPO / "orchestration"


def contracts() -> list[dict]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_folder_and_top_level_module_is_in_a_layer():
    (layers,) = [c for c in contracts() if c["type"] == "layers"]
    named = {
        name.strip().removeprefix("orchestration.")
        for layer in layers["layers"]
        for name in layer.split("|")
    }
    top = {
        p.stem if p.is_file() else p.name
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" or (p / "__init__.py").exists()) and not p.name.startswith("__")
    }
    assert top - named == set(), "add them to a layer of [tool.importlinter]"
    assert all("." not in name for name in named), "the layers name folders, not modules"


def test_every_flow_module_is_independent_of_the_others():
    (independence,) = [c for c in contracts() if c["type"] == "independence"]
    flows = {
        f"orchestration.flows.{p.stem}"
        for p in (PACKAGE / "flows").glob("*.py")
        if p.name != "__init__.py"
    }
    assert flows == set(independence["modules"])


def test_full_pipeline_takes_only_flows_from_the_flows_it_composes():
    import orchestration.flows.full_pipeline as pipeline

    tree = ast.parse(Path(pipeline.__file__).read_text())
    taken = [
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith("orchestration.flows.")
        for alias in node.names
    ]
    assert len(taken) == 4
    assert all(isinstance(getattr(pipeline, name), Flow) for name in taken), taken


def test_every_module_name_is_unique():
    names = Counter(p.stem for p in modules() if not p.name.startswith("__"))
    names.update(p.name for p in PACKAGE.rglob("*") if (p / "__init__.py").exists())
    assert [name for name, count in names.items() if count > 1] == []


def test_no_module_imports_through_its_own_package_init():
    """A module that takes names from its own package's `__init__` while that `__init__`
    imports the module makes a cycle (`orchestration.limits` <-> `orchestration.limits.slots`
    and `orchestration.cli` <-> `orchestration.cli.main` were two): a module imports its
    siblings by their own names."""
    offenders = []
    for path in modules():
        if path.name == "__init__.py":
            continue
        package = ".".join(path.parent.relative_to(REPO).parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == package:
                offenders.append(f"{path.relative_to(REPO)}: from {node.module} import ...")
    assert offenders == []
