"""Alerting as code: the automations in `automations/*.yaml` (Prefect's own automation
schema), applied to the Prefect server by name, idempotently.

An action's `block_document_id: block:webhook/NAME` names a Webhook block instead of its id;
`apply` saves that block from ALERT_WEBHOOK_URL (or uses the one already saved) and puts its
id in. Applying twice changes nothing.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlparse

import yaml
from prefect.automations import Automation
from prefect.blocks.webhook import Webhook
from prefect.client.orchestration import get_client
from prefect.events.schemas.automations import AutomationCore
from pydantic import SecretStr, ValidationError

from orchestration.config import REPO_ROOT
from orchestration.errors import ConfigError, first_line
from orchestration.server.applying import Applied, apply_each

AUTOMATIONS_DIR = REPO_ROOT / "automations"
BLOCK_REF = "block:webhook/"
# What a saved automation has that a definition does not.
SERVER_FIELDS = {"id", "created", "updated", "tags", "owner_resource"}


def definitions(folder: Path = AUTOMATIONS_DIR) -> list[tuple[Path, dict[str, Any]]]:
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    if not files:
        raise ConfigError(f"no automation definitions (*.yaml) in {folder}")
    out = []
    for path in files:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {first_line(exc)}") from None
        if not isinstance(data, dict) or not data.get("name"):
            raise ConfigError(f"{path}: an automation needs a `name` (Prefect's schema)")
        out.append((path, data))
    return out


def webhook_block_id(name: str, url: SecretStr | None, *, dry_run: bool = False) -> str:
    """The Webhook block `name`, saved from `url` when one is given (unchanged if equal);
    with `dry_run`, nothing is saved (a block it would save shows as the zero id), and it
    fails as the apply would: without a URL and without the block."""
    saved_id = _saved_webhook_id(name)
    if url is None or not url.get_secret_value():
        if saved_id is None:
            raise _no_webhook(name)
        return saved_id
    if dry_run:
        return saved_id or "00000000-0000-0000-0000-000000000000"
    block = Webhook(
        url=url,
        headers={"Content-Type": "application/json"},  # type: ignore[arg-type]
        allow_private_urls=_is_private(url.get_secret_value()),
    )
    if saved_id is not None:
        saved = cast(Webhook, Webhook.load(name))
        if _webhook_fields(saved) == _webhook_fields(block):
            return saved_id
    return str(block.save(name, overwrite=True))


def _saved_webhook_id(name: str) -> str | None:
    """The id of the Webhook block document `name`, or None when none is saved (Prefect's
    client reads the document by name; a loaded block keeps its id only privately)."""
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            document = client.read_block_document_by_name(
                name=name, block_type_slug="webhook", include_secrets=False
            )
        except ObjectNotFound:
            return None
    return str(document.id)


def _no_webhook(name: str) -> ConfigError:
    return ConfigError(
        f"the automations call the webhook block {name!r}, which is not saved: set "
        "ALERT_WEBHOOK_URL (e.g. a Slack incoming webhook) and apply again"
    )


def resolve(data: dict[str, Any], block_id: Callable[[str], str], path: Path) -> AutomationCore:
    """The definition with block references replaced by ids, validated by Prefect's model."""
    data = json.loads(json.dumps(data))
    for action in data.get("actions") or []:
        ref = str(action.get("block_document_id") or "")
        if ref.startswith(BLOCK_REF):
            action["block_document_id"] = block_id(ref.removeprefix(BLOCK_REF))
    try:
        return AutomationCore.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None


def apply(
    url: SecretStr | None,
    *,
    dry_run: bool = False,
    folder: Path = AUTOMATIONS_DIR,
    only: set[str] | None = None,
) -> list[Applied[AutomationCore]]:
    """Create or update every automation of `folder` (those named in `only`, when given) by
    name (`change`: a diff)."""
    block_ids: dict[str, str] = {}  # each webhook block saved (or read) once per apply

    def block_id(name: str) -> str:
        if name not in block_ids:
            block_ids[name] = webhook_block_id(name, url, dry_run=dry_run)
        return block_ids[name]

    def read(wanted: AutomationCore) -> Any:
        with get_client(sync_client=True) as client:
            existing = client.read_automations_by_name(name=wanted.name)
        return existing[0] if existing else None

    def change(current: Any, wanted: AutomationCore) -> str:
        before = _comparable(current.model_dump(mode="json"))
        after = _comparable(wanted.model_dump(mode="json"))
        return "" if before == after else _diff(before, after)

    def create(wanted: AutomationCore) -> None:
        Automation(**wanted.model_dump()).create()

    def update(wanted: AutomationCore, current: Any) -> None:
        Automation(**{**wanted.model_dump(), "id": current.id}).update()

    chosen = [(p, d) for p, d in definitions(folder) if only is None or d["name"] in only]
    wanted = [resolve(data, block_id, path) for path, data in chosen]
    return apply_each(
        wanted, read=read, change=change, create=create, update=update, dry_run=dry_run
    )


def show() -> list[dict[str, object]]:
    with get_client(sync_client=True) as client:
        automations = client.read_automations()
    return [
        {
            "name": a.name,
            "enabled": a.enabled,
            "expects": ", ".join(sorted(getattr(a.trigger, "expect", set()) or [])),
            "actions": ", ".join(action.type for action in a.actions),
        }
        for a in sorted(automations, key=lambda a: a.name)
    ]


def _comparable(dump: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in dump.items() if k not in SERVER_FIELDS}
    trigger = dict(out.get("trigger") or {})
    trigger.pop("id", None)
    for field in ("expect", "after", "for_each"):  # sets: their dump's order is arbitrary
        if isinstance(trigger.get(field), list):
            trigger[field] = sorted(trigger[field])
    out["trigger"] = trigger
    return json.loads(json.dumps(out, sort_keys=True, default=str))


def _diff(current: dict[str, Any], target: dict[str, Any]) -> str:
    before = json.dumps(current, indent=2, sort_keys=True).splitlines()
    after = json.dumps(target, indent=2, sort_keys=True).splitlines()
    return "\n".join(
        difflib.unified_diff(before, after, "on the server", "in the file", n=1, lineterm="")
    )


def _webhook_fields(block: Webhook) -> tuple[object, ...]:
    return (
        block.url.get_secret_value(),
        block.method,
        block.headers.get_secret_value(),
        block.allow_private_urls,
    )


def _is_private(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_private or address.is_loopback
