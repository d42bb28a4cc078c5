"""What the repository declares, made true on the Prefect server: the one shape of `elt limits
apply` and `elt automations apply`.

Each object is looked up by name; a missing one is created, a different one updated, an equal
one left alone, so applying twice changes nothing. With `dry_run`, nothing is changed and each
result says what would have been done."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

__all__ = ["Applied", "apply_each"]

W = TypeVar("W")  # what is wanted
C = TypeVar("C")  # what the server has

Status = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class Applied(Generic[W]):
    """What applying did to one object (or, with `dry_run`, would have done)."""

    wanted: W
    status: Status
    change: str = ""  # what changed: "limit 2 -> 4", or a diff
    dry_run: bool = False

    @property
    def said(self) -> str:
        """`created`, `updated`, `unchanged`; `would be created` under `--dry-run`."""
        return (
            f"would be {self.status}"
            if self.dry_run and self.status != "unchanged"
            else self.status
        )


def apply_each(
    wanted: Iterable[W],
    *,
    read: Callable[[W], C | None],
    change: Callable[[C, W], str],
    create: Callable[[W], None],
    update: Callable[[W, C], None],
    dry_run: bool = False,
) -> list[Applied[W]]:
    """For each wanted object: `read` what the server has (None: nothing), `change` says how it
    differs ("" for nothing), then `create` or `update` it unless `dry_run`."""
    results: list[Applied[W]] = []
    for item in wanted:
        current = read(item)
        if current is None:
            if not dry_run:
                create(item)
            results.append(Applied(item, "created", dry_run=dry_run))
            continue
        difference = change(current, item)
        if not difference:
            results.append(Applied(item, "unchanged", dry_run=dry_run))
            continue
        if not dry_run:
            update(item, current)
        results.append(Applied(item, "updated", difference, dry_run=dry_run))
    return results
