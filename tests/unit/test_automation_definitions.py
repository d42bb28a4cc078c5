"""The shipped automations as `elt automations apply` reads them, before any server: each file
is Prefect's own automation schema with its webhook named instead of numbered, and a file
that is not says which file and which field, in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.events.schemas.automations import AutomationCore

from orchestration.errors import ConfigError
from orchestration.server.automations import AUTOMATIONS_DIR, definitions, resolve

WEBHOOK_ID = "3c9f3a1e-0000-4000-8000-000000000001"


def test_every_shipped_automation_is_prefects_schema_with_its_webhook_block_filled_in():
    asked: list[str] = []

    def block_id(name: str) -> str:
        asked.append(name)
        return WEBHOOK_ID

    shipped = definitions()
    resolved = [resolve(data, block_id, path) for path, data in shipped]
    names = [a.name for a in resolved]
    assert len(names) == len(set(names)) == len(list(AUTOMATIONS_DIR.glob("*.yaml")))
    assert all(name.startswith("elt-") for name in names)
    webhooks = [action for a in resolved for action in a.actions if action.type == "call-webhook"]
    assert webhooks and {str(action.block_document_id) for action in webhooks} == {WEBHOOK_ID}
    assert set(asked) == {"elt-alerts"}


def write(folder: Path, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_definition_prefect_would_refuse_names_the_file_and_the_field(tmp_path):
    path = write(tmp_path, "name: elt-x\ntrigger: {type: event, posture: Sideways}\nactions: []\n")
    ((_, data),) = definitions(tmp_path)
    with pytest.raises(ConfigError) as refused:
        resolve(data, lambda name: WEBHOOK_ID, path)
    assert str(refused.value).startswith(f"{path}: trigger.")
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("name: [unclosed\n", "is not valid YAML"),
        ("description: no name\n", "an automation needs a `name`"),
    ],
)
def test_a_file_that_is_not_an_automation_is_one_line_naming_it(tmp_path, text, says):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=says) as refused:
        definitions(tmp_path)
    assert str(refused.value).startswith(str(path)) and "\n" not in str(refused.value)


def test_an_empty_folder_says_there_is_nothing_to_apply(tmp_path):
    with pytest.raises(ConfigError, match=r"no automation definitions \(\*\.yaml\) in "):
        definitions(tmp_path)


def shipped(name: str) -> AutomationCore:
    """The shipped automation `name`, as `elt automations apply` resolves it."""
    (found,) = [
        resolve(data, lambda _: WEBHOOK_ID, path)
        for path, data in definitions()
        if data["name"] == name
    ]
    return found


def test_a_run_is_taken_for_lost_after_three_missed_heartbeats_and_says_how_long():
    """The shipped window: the integration test proves the mechanism on a shorter one."""
    from orchestration.runtime.heartbeats import HEARTBEAT_SECONDS

    lost = shipped("elt-flow-run-lost")
    window = lost.trigger.within.total_seconds()
    assert window == 3 * HEARTBEAT_SECONDS == 90
    (crash,) = lost.actions
    assert crash.state.value == "CRASHED" and f"No heartbeat for {window:.0f} s" in crash.message


def test_a_crashed_first_attempt_is_retried_after_twenty_seconds():
    retry = shipped("elt-flow-run-crashed-retry")
    assert retry.trigger.within.total_seconds() == 20
    assert retry.model_dump(mode="json")["trigger"]["match"]["prefect.run-count"] == "1"
