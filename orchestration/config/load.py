"""Load the whole configuration once: from the environment/.env, or from the blocks saved
under a name, with flags or flow parameters on top. Every problem is reported at once, in one
line, each named by where it came from (variable, flag, parameter or block).

S3 and Snowflake are loaded on first use: their models stand on prefect-aws and
prefect-snowflake, whose imports take seconds that a sync or a DuckDB build should not pay."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, Field, SecretStr, field_validator

from orchestration.airbyte.pyairbyte import FakerSync
from orchestration.config.airbyte_settings import AirbyteConnection
from orchestration.config.block_loading import load_block
from orchestration.config.dbt_settings import DbtConfig, DbtTarget
from orchestration.config.embedded_settings import EmbeddedConfig
from orchestration.config.fleet_limits import FleetLimits
from orchestration.config.local_settings import LocalSettings
from orchestration.config.sources import EnvMap, Problems, read_environment, validate
from orchestration.errors import ConfigError

if TYPE_CHECKING:
    from orchestration.config.s3_settings import S3SensorConfig
    from orchestration.config.snowflake_settings import SnowflakeConnection

__all__ = ["Config", "PipelineOptions", "config_scope", "load_config", "setting_variables"]


class PipelineOptions(BaseModel):
    """Settings of the run itself."""

    elt_block: str = Field(default="", description="Blocks to take the configuration from.")
    freshness_threshold_hours: float = Field(default=25, gt=0, allow_inf_nan=False)
    alert_webhook_url: SecretStr = Field(
        default=SecretStr(""), description="Where the shipped automations send alerts."
    )

    @field_validator("alert_webhook_url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        """A webhook's URL holds its token: never echoed, only checked."""
        url = value.get_secret_value().strip()
        if url and not (url.startswith(("http://", "https://")) and len(url.split("/", 3)[2]) > 0):
            raise ValueError(
                "not an http(s) URL (the value is not shown: a webhook URL holds its token), "
                "e.g. https://hooks.slack.com/services/T0/B0/xyz"
            )
        return SecretStr(url)

    env: ClassVar[EnvMap]


PipelineOptions.env = EnvMap.derived(PipelineOptions, "")


def s3_model() -> type[S3SensorConfig]:
    from orchestration.config.s3_settings import S3SensorConfig

    return S3SensorConfig


def snowflake_model() -> type[SnowflakeConnection]:
    from orchestration.config.snowflake_settings import SnowflakeConnection

    return SnowflakeConnection


# Domain name -> model. Blocks are saved by `elt blocks register`; the others are env only.
BLOCK_DOMAINS: dict[str, type[Any]] = {"airbyte": AirbyteConnection, "dbt": DbtConfig}
LAZY_BLOCK_DOMAINS = {"s3": s3_model, "snowflake": snowflake_model}
ENV_DOMAINS: dict[str, type[Any]] = {
    "embedded": EmbeddedConfig,
    "options": PipelineOptions,
    "limits": FleetLimits,
    "local": LocalSettings,
}


def setting_variables() -> list[str]:
    """Every environment variable any setting is read from."""
    lazy = [model() for model in LAZY_BLOCK_DOMAINS.values()]
    models = [*BLOCK_DOMAINS.values(), *lazy, *ENV_DOMAINS.values()]
    return sorted({name for model in models for name in model.env.variables()})


@dataclass(frozen=True)
class Config:
    airbyte: AirbyteConnection
    dbt: DbtConfig
    embedded: EmbeddedConfig
    options: PipelineOptions
    limits: FleetLimits = field(default_factory=FleetLimits)
    local: LocalSettings = field(default_factory=LocalSettings)
    block_name: str = ""
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    # S3 and Snowflake once loaded (see `s3`, `snowflake`), by domain name.
    loaded: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def s3(self) -> S3SensorConfig:
        if "s3" not in self.loaded:
            self.loaded["s3"] = _load_s3(self.env, self.block_name)
        return self.loaded["s3"]

    @property
    def snowflake(self) -> SnowflakeConnection | None:
        """None when not configured (see `snowflake_problems` for why, if something was set)."""
        return self._snowflake()[0]

    @property
    def snowflake_problems(self) -> tuple[str, ...]:
        return self._snowflake()[1]

    def _snowflake(self) -> tuple[SnowflakeConnection | None, tuple[str, ...]]:
        if "snowflake" not in self.loaded:
            self.loaded["snowflake"] = _load_snowflake(self.env, self.block_name)
        return self.loaded["snowflake"]

    def dbt_target(self) -> DbtTarget:
        return self.dbt.resolve_target(self.env)

    def needs_snowflake(self, target: DbtTarget | None = None) -> bool:
        """The target is a Snowflake output that reads our SNOWFLAKE_* variables."""
        target = target or self.dbt_target()
        return target.adapter_type == "snowflake" and target.reads("SNOWFLAKE_")

    def require_warehouse(self) -> DbtTarget:
        """Fail before any work when the dbt target cannot run; returns the target."""
        target = self.dbt_target()
        if self.needs_snowflake(target) and self.snowflake is None:
            where = (
                f"register them with `elt blocks register --name {self.block_name}`"
                if self.block_name
                else "set them in the environment or .env (see .env.example)"
            )
            missing = "; ".join(self.snowflake_problems) or "no Snowflake settings"
            raise ConfigError(
                f"dbt target {target.name!r} is a Snowflake output and needs Snowflake settings; "
                f"{missing}: {where}"
            )
        return target

    def require_airbyte(self, connection_ids: list[str] | None = None) -> None:
        """Fail before any work when the sync cannot run."""
        if self.airbyte.embedded:
            self.embedded.require_project()
            return
        if not (connection_ids or self.airbyte.connection_ids or self.airbyte.workspace_id):
            raise ConfigError(
                "AIRBYTE_SERVER_URL is set but no connection is: set AIRBYTE_CONNECTION_ID "
                "(one id or a comma-separated list), pass --connection, or set "
                "AIRBYTE_WORKSPACE_ID to sync every active connection of a workspace"
            )

    def dbt_env(self, target: DbtTarget | None = None) -> dict[str, str]:
        """Variables exported for the `env_var()` calls of the project's profile and models
        (dbt reads them from the process environment, which keeps secrets out of any file).

        Our own project reads our settings, defaults included. Any other project gets only
        what the user set (in the environment, `.env` or the blocks): its own `env_var()`
        defaults stand, as under plain dbt, so elt never moves its data or changes its
        threads."""
        env = {
            "DUCKDB_PATH": str(self.embedded.duckdb_path.resolve()),
            "AIRBYTE_RAW_SCHEMA": self.airbyte.raw_schema,
            "FRESHNESS_THRESHOLD_HOURS": f"{self.options.freshness_threshold_hours:g}",
        }
        snowflake = self.needs_snowflake(target) and self.snowflake is not None
        if snowflake:
            env.update(self.snowflake.dbt_env())  # type: ignore[union-attr]
        if self.dbt.is_shipped_project:
            return env
        from_blocks = snowflake and bool(self.block_name)  # the block holds what was set
        return {
            name: value
            for name, value in env.items()
            if name in self.env or (from_blocks and name.startswith("SNOWFLAKE_"))
        }

    @contextmanager
    def warehouse(self, target: DbtTarget | None = None) -> Iterator[Any]:
        """A read-only DB-API connection to the warehouse of the dbt target."""
        target = target or self.require_warehouse()
        if target.adapter_type == "snowflake" and self.snowflake is not None:
            conn = self.snowflake.get_connection()
        elif target.adapter_type == "duckdb":
            import duckdb

            path = self.embedded.duckdb_path.resolve()
            if not path.exists():
                raise ConfigError(
                    f"DUCKDB_PATH={path} does not exist yet: run `elt sync` (or `elt run`) first"
                )
            conn = duckdb.connect(str(path), read_only=True)
        else:
            raise ConfigError(
                f"the raw-table check reads DuckDB, or Snowflake through the SNOWFLAKE_* "
                f"settings; dbt target {target.name!r} is {target.adapter_type!r} without them: "
                "set them, or run against a duckdb or snowflake target"
            )
        try:
            yield conn
        finally:
            conn.close()

    def faker_sync(self) -> FakerSync:
        """The embedded sync: source-faker into the local DuckDB file."""
        return FakerSync(
            project_dir=self.embedded.require_project(),
            duckdb_path=self.embedded.duckdb_path,
            schema=self.airbyte.raw_schema,
            streams=self.airbyte.streams,
            count=self.embedded.faker_count,
            seed=self.embedded.faker_seed,
            always_updated=self.embedded.faker_always_updated,
            home=self.local.elt_home,
        )

    def with_overrides(
        self, overrides: Mapping[str, object], origins: Mapping[str, str] | None = None
    ) -> Config:
        """This config with `{"domain.field": value}` on top (None values are ignored),
        validated again; errors name `origins[key]` (a flag, a parameter) or the key."""
        # a value the configuration already has (the flow re-applying the overrides the CLI
        # loaded it with) changes nothing: nothing is validated again
        given = {k: v for k, v in overrides.items() if v is not None and self._value(k) != v}
        if not given:
            return self
        problems = Problems()
        changes: dict[str, Any] = {}
        for domain in {key.split(".", 1)[0] for key in given}:
            current = getattr(self, domain)
            if current is None:
                continue
            # Without Prefect's dispatch key: re-validating with `block_type_slug` makes Prefect
            # look the class up, which imports every installed Prefect integration (seconds).
            values = _strip_block_type_slugs(current.model_dump(by_alias=True))
            named: dict[str, str] = {}
            for key, value in given.items():
                head, path = key.split(".", 1)
                if head == domain:
                    _set_path(values, path, value)
                    named[path] = (origins or {}).get(key, key)
            model = type(current)
            changes[domain] = validate(model, values, named, problems, model.env.variable)
        problems.raise_if_any("Fix the values given.")
        loaded = dict(self.loaded)
        if "s3" in changes:
            loaded["s3"] = changes.pop("s3")
        if "snowflake" in changes:
            loaded["snowflake"] = (changes.pop("snowflake"), self.snowflake_problems)
        return replace(self, loaded=loaded, **changes)

    def known_variables(self) -> list[str]:
        """The variables the settings loaded so far read (S3 and Snowflake once loaded)."""
        models = [*BLOCK_DOMAINS.values(), *ENV_DOMAINS.values()]
        models += [type(self.loaded["s3"])] if "s3" in self.loaded else []
        models += [snowflake_model()] if "snowflake" in self.loaded else []
        return sorted({name for model in models for name in model.env.variables()})

    def likely_typos(self) -> list[str]:
        """One line per variable that looks like a mistyped setting (see `config.typos`)."""
        from orchestration.config.typos import likely_typos

        return [
            f"{name} is not a setting: did you mean {meant}?"
            for name, meant in likely_typos(self.env, self.known_variables())
        ]

    def _value(self, key: str) -> object:
        """The value of a setting by key (`dbt.target`); None when a domain is not configured."""
        value: object = self
        for part in key.split("."):
            value = getattr(value, part, None)
        return value


def _strip_block_type_slugs(values: dict[str, Any]) -> dict[str, Any]:
    return {
        key: _strip_block_type_slugs(value) if isinstance(value, dict) else value
        for key, value in values.items()
        if key != "block_type_slug"
    }


def _set_path(values: dict[str, Any], path: str, value: object) -> None:
    head, _, rest = path.partition(".")
    if rest:
        _set_path(values.setdefault(head, {}), rest, value)
    else:
        values[head] = value


_scoped: ContextVar[Config | None] = ContextVar("elt_config", default=None)


@contextmanager
def config_scope(config: Config) -> Iterator[Config]:
    """Flows called inside this block (in this thread) reuse `config` instead of loading it
    again: a pipeline loads the environment and its blocks once."""
    token = _scoped.set(config)
    try:
        yield config
    finally:
        _scoped.reset(token)


def load_config(
    block_name: str | None = None,
    overrides: Mapping[str, object] | None = None,
    origins: Mapping[str, str] | None = None,
) -> Config:
    """The configuration: the scoped one (see `config_scope`) or a fresh load, with
    `overrides` (`{"dbt.target": "prod"}`) on top."""
    scoped = _scoped.get()
    if scoped is not None and block_name in (None, "", scoped.block_name):
        base = scoped
    else:
        base = _load(block_name)
    return base.with_overrides(overrides or {}, origins)


def _load(block_name: str | None) -> Config:
    env = read_environment()
    problems = Problems()
    loaded = {domain: _from_env(model, env, problems) for domain, model in ENV_DOMAINS.items()}
    options: PipelineOptions | None = loaded["options"]
    name = (block_name or (options.elt_block if options else "")).strip()
    if name:
        for domain, model in BLOCK_DOMAINS.items():
            loaded[domain] = load_block(model, name)
    else:
        for domain, model in BLOCK_DOMAINS.items():
            loaded[domain] = _from_env(model, env, problems)
    problems.raise_if_any("Fix them in the environment or .env (see .env.example).")
    return Config(**loaded, block_name=name, env=env)


def _load_s3(env: Mapping[str, str], block_name: str) -> S3SensorConfig:
    model = s3_model()
    if block_name:
        return load_block(model, block_name)
    problems = Problems()
    s3 = _from_env(model, env, problems)
    problems.raise_if_any("Fix them in the environment or .env (see .env.example).")
    return s3


def _load_snowflake(
    env: Mapping[str, str], block_name: str
) -> tuple[SnowflakeConnection | None, tuple[str, ...]]:
    """The connection, or None with why (nothing when no SNOWFLAKE_* is set at all)."""
    model = snowflake_model()
    if block_name:
        found = load_block(model, block_name, required=False)
        if found is None:
            return None, (f"no elt-snowflake-connection block named {block_name!r}",)
        return found, ()
    missing = snowflake_missing(env)
    if missing:
        return None, tuple(missing)
    problems = Problems()
    snowflake = _from_env(model, env, problems)
    problems.raise_if_any("Fix them in the environment or .env (see .env.example).")
    return snowflake, ()


def _from_env(model: type[Any], env: Mapping[str, str], problems: Problems) -> Any:
    values, named = model.env.read(env)
    return validate(model, values, named, problems, model.env.variable)


def load_env_domains(env: Mapping[str, str], problems: Problems) -> dict[str, Any]:
    """The block domains from the environment; an invalid one is None, its errors added to
    `problems`. Snowflake is None unless the environment describes a complete connection."""
    loaded = {d: _from_env(model, env, problems) for d, model in BLOCK_DOMAINS.items()}
    loaded["s3"] = _from_env(s3_model(), env, problems)
    loaded["snowflake"] = None
    if not snowflake_missing(env):
        loaded["snowflake"] = _from_env(snowflake_model(), env, problems)
    return loaded


def snowflake_missing(env: Mapping[str, str]) -> list[str]:
    model = snowflake_model()
    values, _ = model.env.read(env)
    missing = model.missing(values)
    return [f"missing {', '.join(missing)}"] if missing else []
