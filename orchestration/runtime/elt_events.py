"""Every Prefect event this project emits, named once (`EltEvent`), and the one function that
emits them (`emit_elt_event`), so that each has the same shape: the resource id is
`elt.<kind>.<...>` (stable across runs: automations act per resource with
`for_each: [prefect.resource.id]`), the resource name is what a person calls the thing, labels
are the strings automations match on, the payload is what the event says. The README's events
table lists them all (`tests/unit/test_elt_events.py` holds the two together).

Prefect's own asset events (`prefect.asset.*`) are emitted by Prefect's code
(`orchestration.lineage.assets`), not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class EltEvent(StrEnum):
    AIRBYTE_CANCEL_FAILED = "elt.airbyte.cancel_failed"
    DBT_NODE_FAILED = "elt.dbt.node.failed"
    BACKFILL_DAY_FAILED = "elt.backfill.day.failed"
    SCHEMA_DRIFT = "elt.schema.drift"
    FRESHNESS_OK = "elt.freshness.ok"
    FRESHNESS_WARN = "elt.freshness.warn"
    FRESHNESS_BREACHED = "elt.freshness.breached"


MESSAGE_CHARS = 2000  # a message or an error in a payload, at most


def emit_elt_event(
    event: EltEvent,
    resource: tuple[str, ...],
    name: str,
    payload: Mapping[str, Any],
    labels: Mapping[str, str] | None = None,
) -> None:
    """Emit `event` about the resource `elt.<resource...>` named `name`. Text values of the
    payload are cut to `MESSAGE_CHARS`: an event is a notice, the run's logs keep the rest."""
    from prefect.events import emit_event

    emit_event(
        event=event.value,
        resource={
            "prefect.resource.id": ".".join(("elt", *resource)),
            "prefect.resource.name": name,
            **(labels or {}),
        },
        payload={
            key: value[:MESSAGE_CHARS] if isinstance(value, str) else value
            for key, value in payload.items()
        },
    )


__all__ = ["MESSAGE_CHARS", "EltEvent", "emit_elt_event"]
