"""dbt: which project, which profile and target, how many threads, what to build by default.

The target is any name from the project's profile. What it needs (e.g. the Snowflake
settings) follows from the target's adapter `type` in `profiles.yml`, never from its name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from prefect.blocks.core import Block
from pydantic import Field, field_validator

from orchestration.config.sources import EnvMap
from orchestration.errors import ConfigError, first_line

__all__ = ["DbtConfig", "DbtTarget"]

SHIPPED_PROJECT = "elt"  # the `name` in dbt_project/dbt_project.yml
NODE_COMMANDS = frozenset({"build", "run", "test", "seed", "snapshot", "retry"})
SELECTING_COMMANDS = NODE_COMMANDS - {"retry"} | {"ls"}
_ENV_VAR = re.compile(r"""env_var\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*(,)?""")


def split_words(value: object) -> object:
    """dbt selections are space-separated (a comma means intersection in dbt's syntax)."""
    return value.split() if isinstance(value, str) else value


@dataclass(frozen=True)
class DbtTarget:
    """A profile's output, as `profiles.yml` declares it."""

    profile: str
    name: str
    adapter_type: str
    required_env: tuple[str, ...]  # env_var('X') calls without a default

    def reads(self, prefix: str) -> bool:
        return any(name.startswith(prefix) for name in self.required_env)


class DbtConfig(Block):
    """Where the dbt project is and how dbt_transform runs it by default."""

    _block_type_name = "ELT dbt Config"
    _description = "dbt project and profiles folders, target, threads and default selection."

    project_dir: Path = Field(
        default=Path("./dbt_project"), description="Relative to the work dir."
    )
    profiles_dir: Path | None = Field(default=None, description="Empty = the project folder.")
    target: str = Field(default="", description="A target of the profile; empty = its default.")
    threads: int | None = Field(
        default=None, ge=1, description="Empty = the threads of the profile's target."
    )
    select: list[str] = Field(default_factory=list, description="Default --select.")
    exclude: list[str] = Field(default_factory=list, description="Default --exclude.")
    schema_drift: bool = Field(
        default=True,
        description="Before a pipeline's build, check the source tables' schemas (elt drift).",
    )

    env: ClassVar[EnvMap]

    _split = field_validator("select", "exclude", mode="before")(split_words)

    @field_validator("profiles_dir", "threads", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def project_path(self) -> Path:
        return self.project_dir.resolve()

    def target_path(self, env: Mapping[str, str]) -> Path:
        """Where dbt writes the manifest and run results: dbt's own DBT_TARGET_PATH (relative
        to the project, as dbt takes it), else `target/`."""
        return self.project_path / (env.get("DBT_TARGET_PATH") or "target")

    @property
    def is_shipped_project(self) -> bool:
        """This repository's own project (or one grown from it): its profile and sources read
        our variables (DUCKDB_PATH, AIRBYTE_RAW_SCHEMA...), which are exported for it only."""
        return _yaml(self.project_path / "dbt_project.yml").get("name") == SHIPPED_PROJECT

    @property
    def profiles_path(self) -> Path:
        return (self.profiles_dir or self.project_dir).resolve()

    def check_files(self) -> None:
        if not (self.project_path / "dbt_project.yml").is_file():
            raise ConfigError(
                f"DBT_PROJECT_DIR={self.project_path} has no dbt_project.yml: point "
                "DBT_PROJECT_DIR (or --project-dir) at your dbt project"
            )
        if not (self.profiles_path / "profiles.yml").is_file():
            raise ConfigError(
                f"DBT_PROFILES_DIR={self.profiles_path} has no profiles.yml: point "
                "DBT_PROFILES_DIR (or --profiles-dir) at the folder that holds it"
            )

    def resolve_target(self, env: Mapping[str, str]) -> DbtTarget:
        """The output this config runs on, read from `profiles.yml` as dbt would pick it."""
        self.check_files()
        project = _yaml(self.project_path / "dbt_project.yml")
        profile_name = str(project.get("profile") or "")
        profiles = _yaml(self.profiles_path / "profiles.yml")
        profile = profiles.get(profile_name)
        where = self.profiles_path / "profiles.yml"
        if not isinstance(profile, dict) or not isinstance(profile.get("outputs"), dict):
            raise ConfigError(
                f"{where} has no profile {profile_name!r} with outputs (dbt_project.yml names "
                "it): add it, or point DBT_PROFILES_DIR (or --profiles-dir) at the right folder"
            )
        name = self.target or _render(str(profile.get("target") or ""), env)
        outputs: dict[str, Any] = profile["outputs"]
        if name not in outputs:
            raise ConfigError(
                f"target {name!r} (DBT_TARGET or --target) is not in profile {profile_name!r} "
                f"of {where}: use one of {', '.join(sorted(outputs))}"
            )
        output = outputs[name]
        text = json.dumps(output)
        required = tuple(m.group(1) for m in _ENV_VAR.finditer(text) if not m.group(2))
        adapter = _render(str(output.get("type") or ""), env) if isinstance(output, dict) else ""
        return DbtTarget(profile_name, name, adapter, required)

    def args(
        self,
        command: str,
        *,
        select: Sequence[str] = (),
        exclude: Sequence[str] = (),
        full_refresh: bool = False,
        dbt_vars: Mapping[str, object] | str | None = None,
        event_time: tuple[str, str] | None = None,
        state: Path | None = None,
    ) -> list[str]:
        """The dbt command line for `command` (e.g. `build`, `source freshness`) against this
        project, profile and target. `event_time`: dbt's `--event-time-start` and (exclusive)
        `--event-time-end`, the batches a microbatch model builds. `state`: dbt's `--state`, the
        folder of the manifest that `state:` selectors compare with."""
        self.check_files()
        args = [*command.split(), "--project-dir", str(self.project_path)]
        args += ["--profiles-dir", str(self.profiles_path)]
        if command == "deps":
            return args
        if self.target:
            args += ["--target", self.target]
        if command in NODE_COMMANDS and self.threads:  # else the profile's, as dbt does
            args += ["--threads", str(self.threads)]
        if dbt_vars:
            args += ["--vars", vars_text(dbt_vars)]
        if command in SELECTING_COMMANDS:
            if select:
                args += ["--select", *select]
            if exclude:
                args += ["--exclude", *exclude]
            if full_refresh and command in {"build", "run", "seed"}:
                args.append("--full-refresh")
            if event_time and command in {"build", "run"}:
                args += ["--event-time-start", event_time[0], "--event-time-end", event_time[1]]
            if state is not None:
                args += ["--state", str(state)]
        return args


DbtConfig.env = EnvMap.derived(DbtConfig, "DBT_")


def vars_text(dbt_vars: Mapping[str, object] | str) -> str:
    """`--vars` as dbt reads it: text the user wrote is handed over as written (dbt parses it
    as YAML itself, dates and all); a mapping is written as YAML, which keeps what JSON cannot
    (a `date`) the type dbt would have read."""
    if isinstance(dbt_vars, str):
        return dbt_vars
    import yaml

    return yaml.safe_dump(dict(dbt_vars), default_flow_style=True, width=2**31).strip()


def _yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        value = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid YAML ({first_line(exc)}): fix it") from None
    return value if isinstance(value, dict) else {}


def _render(text: str, env: Mapping[str, str]) -> str:
    """A profile value with its `env_var()` calls resolved (what dbt does for `target` and
    `type`); other Jinja is left to dbt."""
    if "{{" not in text:
        return text
    from jinja2.sandbox import SandboxedEnvironment

    jinja = SandboxedEnvironment()
    jinja.filters.update({"as_text": str, "as_number": lambda v: v, "as_bool": lambda v: v})

    def env_var(name: str, default: str | None = None) -> str:
        if name in env:
            return env[name]
        if default is None:
            raise ConfigError(f"profiles.yml reads env_var('{name}'), which is not set: set it")
        return default

    return jinja.from_string(text).render(env_var=env_var).strip()
