"""Where configuration values come from, and errors that name that place.

A value comes from an environment variable (the process environment over the `.env` file in
the working directory), a saved block, or a flag / flow parameter. Each domain model declares
the environment variable of each of its fields once (`EnvMap`); the same map names the
variable in error messages, lists every variable for the tests' isolation, and reads values.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from orchestration.errors import ConfigError

ENV_FILE = Path(".env")
SECRET_WORDS = ("PASSWORD", "PASSPHRASE", "SECRET", "TOKEN", "PRIVATE_KEY")


def read_environment(env_file: Path = ENV_FILE) -> dict[str, str]:
    """The process environment over the values of `env_file` (when there is one).

    A `.env` file that cannot be read as a dotenv file is an error naming it: a dangling
    symlink or a file that is not UTF-8 would otherwise be ignored and the run would silently
    use other values. A `.env` directory (often a virtualenv) is not one: it is ignored, as
    dbt ignores it, with a note under `elt --debug`.
    """
    values: dict[str, str] = {}
    if env_file.is_dir():
        if os.environ.get("ELT_DEBUG") == "1":
            where = env_file.resolve()
            print(f"note: {where} is a directory, not a .env file: ignored", file=sys.stderr)
    elif env_file.is_symlink() or env_file.exists():
        where = env_file.resolve() if env_file.exists() else env_file.absolute()
        if not env_file.exists():
            raise ConfigError(
                f"{where} is a symlink to nothing ({os.readlink(env_file)}): point it at your "
                ".env file or remove it"
            )
        if not env_file.is_file():
            raise ConfigError(f"{where} is not a file: remove it or make it a .env file")
        try:
            text = env_file.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{where} is not UTF-8 text (invalid byte at offset {exc.start}): save it as UTF-8"
            ) from None
        except OSError as exc:
            raise ConfigError(f"cannot read {where}: {exc.strerror}") from None
        from dotenv import dotenv_values
        from dotenv.parser import parse_stream

        # python-dotenv skips a line it cannot parse with a warning, on every read: said once
        bad = [b.original.line for b in parse_stream(io.StringIO(text)) if b.error]
        if bad:
            lines = ", ".join(str(n) for n in bad)
            which = f"lines {lines} are" if len(bad) > 1 else f"line {lines} is"
            raise ConfigError(f"{where}: {which} not NAME=value: fix or comment out (#)")
        values = {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v is not None}
    values.update(os.environ)
    return values


@dataclass(frozen=True)
class EnvMap:
    """Which environment variable sets which field of `model` (nested models have their own)."""

    model: type[BaseModel]
    names: Mapping[str, str | tuple[str, ...] | EnvMap]
    defaults: Mapping[str, object] = field(default_factory=dict)  # where the model has none

    @classmethod
    def derived(
        cls,
        model: type[BaseModel],
        prefix: str,
        *,
        renames: Mapping[str, str | tuple[str, ...] | EnvMap] | None = None,
        skip: Iterable[str] = (),
        defaults: Mapping[str, object] | None = None,
    ) -> EnvMap:
        """PREFIX + FIELD for every field of `model`: a new field gets its variable for free."""
        renames = dict(renames or {})
        names: dict[str, str | tuple[str, ...] | EnvMap] = {}
        for name in model.model_fields:
            if name in skip:
                continue
            names[name] = renames.pop(name, prefix + name.rstrip("_").upper())
        names.update(renames)
        return cls(model, names, dict(defaults or {}))

    def variables(self) -> list[str]:
        """Every variable this map reads (nested maps included)."""
        out: list[str] = []
        for name in self.names.values():
            if isinstance(name, EnvMap):
                out += name.variables()
            else:
                out += [name] if isinstance(name, str) else list(name)
        return out

    def set_in(self, env: Mapping[str, str]) -> list[str]:
        """The variables `env` sets to something other than empty or their field's default:
        what makes a domain "configured" (`.env.example` spells defaults out, such as
        SNOWFLAKE_PORT=443, and a copied example configures nothing)."""
        out: list[str] = []
        for field_name, name in self.names.items():
            if isinstance(name, EnvMap):
                out += name.set_in(env)
                continue
            info = self.model.model_fields.get(field_name)
            default = self.defaults.get(field_name, info.default if info is not None else None)
            for variable in (name,) if isinstance(name, str) else name:
                value = env.get(variable, "").strip()
                if value and value != str(default):
                    out.append(variable)
        return out

    def read(self, env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
        """`(values, origins)`: the fields the environment sets (nested as dicts) and, per
        dotted field path, the variable it came from. An empty variable sets a field whose
        default is None to None (unset), and any other field to the empty string."""
        values: dict[str, Any] = dict(self.defaults)
        origins: dict[str, str] = {}
        for field_name, name in self.names.items():
            if isinstance(name, EnvMap):
                inner, inner_origins = name.read(env)
                values[field_name] = inner
                origins.update({f"{field_name}.{k}": v for k, v in inner_origins.items()})
                continue
            for variable in (name,) if isinstance(name, str) else name:
                if variable in env:
                    value: str | None = env[variable]
                    info = self.model.model_fields.get(field_name)
                    if value == "" and info is not None and info.default is None:
                        value = None
                    values[field_name] = value
                    origins[field_name] = variable
                    break
        return values, origins

    def variable(self, path: str) -> str:
        """The (first) variable of a dotted field path."""
        head, _, rest = path.partition(".")
        name = self.names.get(head)
        if isinstance(name, EnvMap):
            return name.variable(rest) if rest else head
        if name is None:
            return head
        return name if isinstance(name, str) else name[0]


@dataclass
class Problems:
    """Every problem found while loading the configuration, reported at once in one line."""

    items: list[str] = field(default_factory=list)

    def add(self, where: str, what: str) -> None:
        self.items.append(f"{where}: {what}")

    def from_validation(
        self,
        exc: ValidationError,
        origin_of: Mapping[str, str],
        default_origin: Callable[[str], str] = str,
    ) -> None:
        for err in exc.errors():
            path = ".".join(str(p) for p in err["loc"])
            where = origin_of.get(path) or default_origin(path or "value")
            message = str(err["msg"]).removeprefix("Value error, ").splitlines()[0].strip()
            self.add(where, message + _shown_input(err, where))

    def raise_if_any(self, hint: str, lead: str = "invalid configuration") -> None:
        if self.items:
            raise ConfigError(f"{lead}: {'; '.join(self.items)}. {hint}")


def _shown_input(err: Any, where: str) -> str:
    """` (got 'x')` for a value of the wrong type or range; nothing for a secret, for a
    whole model's input, or after our own validators (their message names what is wrong,
    redacted where needed)."""
    given = err.get("input")
    if err["type"] == "value_error" or isinstance(given, dict):
        return ""
    if any(word in where.upper() for word in SECRET_WORDS):
        return ""
    return f" (got {given!r})"


def validate(
    model: type[BaseModel],
    values: Mapping[str, Any],
    origins: Mapping[str, str],
    problems: Problems,
    default_origin: Callable[[str], str] = str,
) -> Any:
    """`model(**values)`, or None with every error added to `problems`, named by origin
    (or, for a field nobody set, by `default_origin(path)`)."""
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        problems.from_validation(exc, origins, default_origin)
        return None
