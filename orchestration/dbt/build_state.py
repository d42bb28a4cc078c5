"""The last complete build of each dbt target, kept on the Prefect server (one block per target),
so that a change-driven build on any worker knows what it builds on.

It holds what dbt needs to tell what changed since then (the build's `manifest.json`, for
dbt's own `state:modified`), the newest row of each source table as the build saw it before it
started (`max_loaded_at`, from dbt's `source freshness`), a fingerprint of what changes SQL
without changing a node (vars, dbt's version), and when and by which flow run each node was
last built (what a reused node is reported with). A Variable holds at most 5,000 characters;
a manifest is far larger, so the state is a block, its manifest compressed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import zlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, cast

from prefect.blocks.core import Block


class DbtBuildState(Block):
    """The last complete dbt build of one target (see `orchestration.dbt.build_state`)."""

    _block_type_name = "dbt Build State"
    state: str


@dataclass(frozen=True)
class LastBuilt:
    at: str  # ISO time the build finished
    run: str = ""  # the Prefect flow run that built it ("" outside a flow run)


@dataclass
class BuildState:
    fingerprint: str
    sources: dict[str, str | None]  # source unique_id -> newest row (ISO), None: not known
    nodes: dict[str, LastBuilt] = field(default_factory=dict)  # unique_id -> its last build
    manifest: str = ""  # the build's manifest.json

    @cached_property
    def manifest_json(self) -> dict[str, Any]:
        """The manifest parsed, once: the plan and the days both read it."""
        try:
            manifest = json.loads(self.manifest)
        except ValueError:
            return {}
        return manifest if isinstance(manifest, dict) else {}

    def manifest_nodes(self) -> dict[str, Any]:
        nodes = self.manifest_json.get("nodes")
        return nodes if isinstance(nodes, dict) else {}

    def to_json(self) -> str:
        return json.dumps(
            {
                "fingerprint": self.fingerprint,
                "sources": self.sources,
                "nodes": {k: [v.at, v.run] for k, v in self.nodes.items()},
                "manifest": base64.b64encode(zlib.compress(self.manifest.encode(), 6)).decode(),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> BuildState:
        data = json.loads(text)
        return cls(
            fingerprint=str(data["fingerprint"]),
            sources=dict(data["sources"]),
            nodes={k: LastBuilt(at, run) for k, (at, run) in data["nodes"].items()},
            manifest=zlib.decompress(base64.b64decode(data["manifest"])).decode(),
        )


def block_name(target_name: str, location: str) -> str:
    """A block name per target and warehouse (`location`: a target pointed at another DuckDB
    file or account starts afresh), in lowercase letters, digits and dashes."""
    slug = re.sub(r"[^a-z0-9]+", "-", target_name.lower()).strip("-")[:80]
    return f"elt-build-state-{slug}-{hashlib.sha256(location.encode()).hexdigest()[:10]}"


def load_state(target_name: str, location: str) -> BuildState | None:
    """The target's last complete build; None when none was recorded (or it is unreadable,
    which only makes the next build a whole one)."""
    try:
        block = cast(DbtBuildState, DbtBuildState.load(block_name(target_name, location)))
    except ValueError:  # no such block yet
        return None
    try:
        return BuildState.from_json(block.state)
    except (ValueError, KeyError, TypeError, zlib.error):
        return None


def save_state(target_name: str, location: str, state: BuildState) -> None:
    DbtBuildState(state=state.to_json()).save(block_name(target_name, location), overwrite=True)


__all__ = ["BuildState", "DbtBuildState", "LastBuilt", "block_name", "load_state", "save_state"]
