"""Variables that look like ours but that no setting reads: most often a typo (`DBT_TARGT`),
which would otherwise leave the setting at its default without a word.

A variable with one of our prefixes that no setting reads, and that is close to one that does,
is named with the one it most likely meant: a warning, or an error with ELT_STRICT=1. Variables
the tools themselves read (dbt's `DBT_*` flags, PyAirbyte's and Snowflake's own) are left
alone, and so is a variable close to none of ours: nothing can be said of it for sure."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable, Mapping

__all__ = ["PREFIXES", "likely_typos"]

PREFIXES = ("AIRBYTE_", "DBT_", "SNOWFLAKE_", "S3_", "ELT_", "FRESHNESS_", "FAKER_")
# read by elt outside the settings, or by the tools we run
OTHERS = {
    "ELT_DEBUG",
    "ELT_WORKDIR",
    "SNOWFLAKE_HOME",
    "SNOWFLAKE_DEFAULT_CONNECTION_NAME",
    "DBT_PROFILES_DIR",
    "DBT_PROJECT_DIR",
}
OTHER_PREFIXES = ("DBT_ENV_", "DBT_ENGINE_", "DBT_CLOUD_", "SNOWFLAKE_CONNECTIONS_")


def likely_typos(env: Mapping[str, str], known: Iterable[str]) -> list[tuple[str, str]]:
    """`(variable, the setting it most likely meant)` for each variable of `env` with our
    prefixes that no setting in `known` reads and that is close to one that does."""
    known = set(known)
    found = []
    for name in sorted(env):
        if not name.startswith(PREFIXES) or name in known or name in OTHERS:
            continue
        if name.startswith(OTHER_PREFIXES):
            continue
        prefix = name.split("_", 1)[0] + "_"
        same_kind = [k for k in known if k.startswith(prefix)]
        close = difflib.get_close_matches(name, same_kind, n=1, cutoff=0.8)
        if close and not (name.startswith("DBT_") and name in _dbt_variables()):
            found.append((name, close[0]))
    return found


@functools.cache
def _dbt_variables() -> frozenset[str]:
    """Every `DBT_*` variable dbt reads for its own flags (`DBT_TARGET_PATH`, ...): its CLI
    options, each also read from DBT_ + its name. Imported only when a DBT_ variable is
    close to one of ours."""
    from dbt.cli.main import cli

    names: set[str] = set()

    def walk(command: object) -> None:
        for param in getattr(command, "params", []):
            if param.name:
                names.add(f"DBT_{param.name.upper()}")
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(cli)
    return frozenset(names)
