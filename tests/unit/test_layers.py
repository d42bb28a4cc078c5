"""Every module of the package sits in a layer of the import contract (pyproject.toml):
`lint-imports` checks only the modules the layers name, so a module left out would be free to
import upward unnoticed."""

from __future__ import annotations

import tomllib

from tests.conftest import REPO


def test_every_top_level_module_is_in_a_layer():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    (contract,) = config["tool"]["importlinter"]["contracts"]
    named = {
        name.strip().removeprefix("orchestration.")
        for layer in contract["layers"]
        for name in layer.split("|")
    }
    package = REPO / "orchestration"
    modules = {
        p.stem if p.is_file() else p.name
        for p in package.iterdir()
        if (p.suffix == ".py" or (p / "__init__.py").exists()) and not p.name.startswith("__")
    }
    assert modules - named == set(), "add them to a layer of [tool.importlinter]"
