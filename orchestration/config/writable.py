"""What a command will write, checked writable before any work: a read-only warehouse file,
ELT_HOME or dbt target folder is a configuration error said in one line naming the path,
not a DuckDB traceback after a whole sync.

Each place is tried the way the work will use it: the warehouse file opened for writing (an
immutable file, a read-only mount, a file of another user all refuse that) and a file created
and removed beside it (DuckDB writes its journal there), a folder by a file created and removed
in it. Nothing is written or changed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from orchestration.errors import ConfigError

if TYPE_CHECKING:
    from orchestration.config.dbt_settings import DbtTarget
    from orchestration.config.load import Config

__all__ = ["check_writable"]


def check_writable(config: Config, target: DbtTarget | None = None) -> None:
    """Raise ConfigError for the first place this command writes that cannot be written:
    ELT_HOME, the DuckDB file (the embedded sync's, a duckdb target's) and, for a command that
    runs dbt on `target`, dbt's target folder."""
    home = config.local.elt_home
    _folder(home, "ELT_HOME", "set ELT_HOME to a writable folder")
    if config.airbyte.embedded or (target is not None and target.adapter_type == "duckdb"):
        warehouse = config.embedded.duckdb_path.resolve()
        _file(warehouse, "the warehouse file", "set DUCKDB_PATH to a writable place")
    if target is None:
        return
    _folder(
        config.dbt.target_path(config.env),
        "dbt's target folder",
        "set DBT_TARGET_PATH (or the project's target-path) to a writable folder",
    )


def _file(path: Path, what: str, fix: str) -> None:
    _folder(path.parent, f"the folder of {what}", fix)
    if path.exists():
        try:
            with path.open("r+b"):
                pass
        except OSError as exc:
            raise _unwritable(what, path, exc, fix) from None


def _folder(path: Path, what: str, fix: str) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".elt-write-check-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise _unwritable(what, path, exc, fix) from None


def _unwritable(what: str, path: Path, exc: OSError, fix: str) -> ConfigError:
    why = exc.strerror or type(exc).__name__
    return ConfigError(
        f"cannot write {what} {path} ({why}): make it writable (a read-only mount, `chattr +i`"
        f" or another owner prevent it), or {fix}"
    )
