"""Where elt keeps its own state on this machine, and the local Prefect server it shares.

Read from the environment (then `.env`) like every setting. A relative ELT_HOME is taken from
the repository, not the working folder: `elt` run from `dbt_project/` finds the same connector
cache and the same local server as from the root."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, Field, field_validator

from orchestration.config.embedded_settings import REPO_ROOT
from orchestration.config.sources import EnvMap, Problems, read_environment, validate

__all__ = ["LocalSettings", "local_settings"]


class LocalSettings(BaseModel):
    elt_home: Path = Field(
        default=Path(".elt"),
        validate_default=True,  # the default too is the repository's, whatever the folder
        description="The embedded connector's install and logs; the local Prefect server's "
        "data, log and state.",
    )
    elt_local_server: bool = Field(
        default=True,
        description="Without PREFECT_API_URL, commands share a local Prefect server (off: "
        "Prefect's temporary server per command).",
    )
    elt_strict: bool = Field(
        default=False,
        description="A variable that looks like a setting but is none (a typo) is an error, "
        "not a warning.",
    )
    elt_serve_stop_seconds: float = Field(
        default=25,
        ge=1,
        allow_inf_nan=False,
        description="What a Ctrl-C or SIGTERM gives `elt serve` before it exits anyway: "
        "inside Kubernetes' 30 s grace period.",
    )
    elt_server_lost_seconds: float = Field(
        default=30,
        ge=5,
        allow_inf_nan=False,
        description="How long a command waits for a Prefect server that stopped answering "
        "(frozen, or unreachable) before it ends saying so.",
    )

    env: ClassVar[EnvMap]

    @field_validator("elt_home")
    @classmethod
    def _from_the_repository(cls, path: Path) -> Path:
        path = path.expanduser()
        return (path if path.is_absolute() else REPO_ROOT / path).resolve()


LocalSettings.env = EnvMap.derived(LocalSettings, "")


def local_settings(env: Mapping[str, str] | None = None) -> LocalSettings:
    """The local settings alone (the local server needs them before anything else loads)."""
    problems = Problems()
    values, named = LocalSettings.env.read(read_environment() if env is None else env)
    settings = validate(LocalSettings, values, named, problems, LocalSettings.env.variable)
    problems.raise_if_any("Fix them in the environment or .env (see .env.example).")
    return settings
