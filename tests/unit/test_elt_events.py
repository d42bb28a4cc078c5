"""Every event the project emits is in the README's events table, and every row of the table
is an event the code emits: the table is the contract automations are written against."""

from __future__ import annotations

import re

from orchestration.runtime.elt_events import EltEvent
from tests.conftest import REPO


def readme_events() -> dict[str, str]:
    text = (REPO / "README.md").read_text()
    section = text.split("### Events", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| `(elt\.[^`]+)` \| (.+?) \|", section, re.M)
    return dict(rows)


def test_the_readme_lists_every_event_and_nothing_else():
    assert set(readme_events()) == {event.value for event in EltEvent}


def test_every_event_is_emitted_somewhere_through_emit_elt_event():
    code = "\n".join(
        p.read_text() for p in (REPO / "orchestration").rglob("*.py") if p.name != "elt_events.py"
    )
    for event in EltEvent:
        assert f"EltEvent.{event.name}" in code, f"{event.value} is never emitted"
    assert "emit_event(" not in code, "emit through orchestration.runtime.elt_events"


def test_the_resource_ids_the_readme_gives_are_under_elt():
    for event, resource in readme_events().items():
        assert resource == "same" or resource.startswith("`elt."), (event, resource)
