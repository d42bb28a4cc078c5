"""`make lint`: no private name of an upstream package outside its one home.

A private name (one that starts with `_`, not a dunder) of Prefect, dbt, an adapter or any
other installed package is no promise across releases, so the project reaches each one
through `orchestration/upstream.py` (the application's environment) or `embedded/upstream.py`
(PyAirbyte's isolated environment), where a test guards it. This check reads every Python
file of the repository (tests, benches and scripts included) and reports, one line each:

- an import of a private module or name from a package that is not the project's own
  (`from prefect._internal import x`, `from prefect.context import _x`);
- an attribute `obj._name`, or `getattr`/`setattr`/`hasattr`/`delattr` (and pytest's
  `monkeypatch.setattr`) with the string "_name", when the project defines no `_name` of
  its own (as a function, class, module or class attribute, or `self._name = ...`). The
  type of `obj` is not known without running the code: a name the project defines counts
  as its own wherever it is read.

Standard-library names documented with an underscore (`os._exit`, a namedtuple's `_replace`)
are allowed. Exit 1 with the list when anything is found.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOMES = {REPO / "orchestration" / "upstream.py", REPO / "embedded" / "upstream.py"}
# Public despite the underscore: documented standard-library API.
DOCUMENTED = {"_exit", "_getframe", "_replace", "_asdict", "_fields", "_make", "_field_defaults"}
ATTRIBUTE_CALLS = {"getattr", "setattr", "hasattr", "delattr"}


def python_files() -> Iterator[Path]:
    """The repository's Python files: tracked, or new and not ignored (no environments)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", "*.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in sorted(set(listed)):
        path = REPO / name
        if path.exists():  # a tracked file deleted in the work tree
            yield path


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name != "_"


def own_modules(files: list[Path]) -> set[str]:
    """Top-level names that import the project's own code: its packages and the sibling
    scripts that benches and tests import by file name."""
    names = {"orchestration", "tests", "bench", "parity", "scripts", "embedded"}
    return names | {p.stem for p in files} | {p.parent.name for p in files}


def own_private_names(trees: dict[Path, ast.Module]) -> set[str]:
    """Every private name the project itself defines."""
    names: set[str] = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
                body = node.body
                for stmt in body:  # class and module attributes
                    names.update(_assigned_names(stmt))
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name)
                and node.value.id in ("self", "cls")
            ):
                names.add(node.attr)
        for stmt in tree.body:
            names.update(_assigned_names(stmt))
    return {n for n in names if is_private(n)}


def _assigned_names(stmt: ast.stmt) -> Iterator[str]:
    targets: list[ast.expr] = []
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, ast.AnnAssign | ast.AugAssign):
        targets = [stmt.target]
    for target in targets:
        for node in ast.walk(target):
            if isinstance(node, ast.Name):
                yield node.id


def problems(path: Path, tree: ast.Module, own: set[str], ours: set[str]) -> Iterator[str]:
    where: Path | str = path.relative_to(REPO) if path.is_relative_to(REPO) else path
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _module_problem(where, node, alias.name, ours)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield from _module_problem(where, node, node.module, ours)
            if node.module.split(".")[0] not in ours:
                for alias in node.names:
                    if is_private(alias.name):
                        yield f"{where}:{node.lineno}: imports {alias.name} from {node.module}"
        elif isinstance(node, ast.Attribute):
            name = node.attr
            if is_private(name) and name not in own and name not in DOCUMENTED:
                yield f"{where}:{node.lineno}: uses the private attribute {name}"
        elif (
            isinstance(node, ast.Call)
            and _names_an_attribute(node.func)
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
        ):
            name = node.args[1].value
            if isinstance(name, str) and is_private(name) and name not in own:
                yield f"{where}:{node.lineno}: reaches the private attribute {name!r}"


def _names_an_attribute(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in ATTRIBUTE_CALLS
    return isinstance(func, ast.Attribute) and func.attr in ("setattr", "delattr")


def _module_problem(
    where: Path | str, node: ast.stmt, module: str, ours: set[str]
) -> Iterator[str]:
    parts = module.split(".")
    if parts[0] in ours or parts[0] in sys.stdlib_module_names:
        return
    if any(is_private(part) for part in parts):
        yield f"{where}:{node.lineno}: imports the private module {module}"


def main(extra: list[str]) -> int:
    """Checks the repository, and the files named on the command line besides."""
    files = list(python_files()) + [Path(name).resolve() for name in extra]
    trees = {path: ast.parse(path.read_text(encoding="utf-8"), str(path)) for path in files}
    own = own_private_names(trees)
    ours = own_modules(files)
    found = [
        line
        for path, tree in trees.items()
        if path not in HOMES
        for line in problems(path, tree, own, ours)
    ]
    for line in found:
        print(line)
    if found:
        print(
            f"error: {len(found)} private upstream name(s) outside orchestration/upstream.py: "
            "add a function there (with its entry in PRIVATE and a test) and call it instead",
            file=sys.stderr,
        )
        return 1
    print(f"ok: no private upstream name outside its home ({len(files)} files read)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
