"""Options more than one command takes, and the flags of settings (declared once, in
`orchestration.flags`)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer

from orchestration.flags import FLAG_ORIGINS, SETTINGS, from_parameters

__all__ = [
    "FLAG_ORIGINS",
    "BlockName",
    "DryRun",
    "Exclude",
    "Select",
    "Settings",
    "overrides",
    "setting_flags",
]

Select = Annotated[
    list[str] | None,
    typer.Option("--select", "-s", help="dbt selection (repeatable), e.g. -s marts"),
]
Exclude = Annotated[list[str] | None, typer.Option("--exclude", help="dbt exclusion (repeatable)")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Show what would change, change nothing.")]
BlockName = Annotated[
    str | None,
    typer.Option(
        "--block",
        help="Take the configuration from the blocks saved under this name "
        "(`elt blocks register --name NAME`) instead of the environment.",
    ),
]

Settings = dict[str, Any]  # a command's setting flags, by flow parameter name (see setting_flags)


def setting_flags(*keys: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command the flags of these settings, as `orchestration.flags` declares
    them (flag, type, help). The command receives their values as `settings`, by flow parameter
    name (None when not given): what it hands to the flow, and `overrides(settings)` to the
    configuration."""

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(command, eval_str=True)
        kept = [p for p in signature.parameters.values() if p.name != "settings"]
        added = [
            inspect.Parameter(
                s.parameter_name,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[s.type | None, typer.Option(s.flag, help=s.help)],
            )
            for s in (SETTINGS[key] for key in keys)
        ]
        names = [p.name for p in added]

        @functools.wraps(command)
        def with_settings(**given: Any) -> None:
            settings = {name: given.pop(name) for name in names}
            command(**given, settings=settings)

        with_settings.__signature__ = signature.replace(parameters=[*kept, *added])  # type: ignore[attr-defined]
        with_settings.__annotations__ = {}  # the signature above is the whole truth
        return with_settings

    return decorate


def overrides(settings: Settings) -> dict[str, object]:
    """Values by flow parameter name (see `setting_flags`) as configuration overrides."""
    return from_parameters(settings)
