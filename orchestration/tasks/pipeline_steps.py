"""The steps of the full pipeline between its subflows: the check that the raw tables Airbyte
wrote are typed (before dbt reads them), and the summary of a run (`PipelineSummary`), whose
lines `elt run` prints and the run's markdown artifact shows."""

from __future__ import annotations

from dataclasses import dataclass, field

from prefect import task
from prefect.cache_policies import NO_CACHE

from orchestration.airbyte.sync_results import SyncResult
from orchestration.checks.drift import DriftReport
from orchestration.checks.freshness import SlaResult
from orchestration.checks.warehouse import RAW_ONLY_FIX, raw_only_tables
from orchestration.config import load_config
from orchestration.dbt.run_results import DbtRunResult
from orchestration.errors import ConfigError
from orchestration.runtime import interrupts


@dataclass
class PipelineSummary:
    syncs: list[SyncResult] = field(default_factory=list)
    drift: DriftReport | None = None
    build: DbtRunResult | None = None
    freshness: list[SlaResult] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        for s in self.syncs:
            streams = ", ".join(f"{k} {v}" for k, v in s.streams.items())
            mode = "embedded PyAirbyte" if s.backend == "embedded" else "Airbyte API"
            out.append(
                f"synced {s.rows_synced} rows from {s.connection_id}"
                + (f" ({streams})" if streams else "")
                + f" with the {mode}"
            )
        if self.drift and self.drift.changes:
            out.append(self.drift.line())
        if self.build:
            b = self.build
            out.append(
                f"dbt {b.command}: {b.summary(ok_only=True)}{' OK' if b.nodes else ''}"
                f" in {b.elapsed_s:.1f}s"
                + (f" on target {b.target}" if b.target else "")
                + b.reuse_note()
            )
        if self.freshness:
            verdict = "PASS" if all(r.passed for r in self.freshness) else "FAIL"
            out.append(f"freshness {verdict}: " + ", ".join(r.describe() for r in self.freshness))
        return out


@task(name="check-typed-raw-tables", cache_policy=NO_CACHE)
@interrupts.cancel_on_interrupt
def check_typed_raw_tables(block_name: str | None = None) -> None:
    """Stop before dbt when the destination wrote raw JSON only: staging would otherwise fail
    deep inside dbt on columns that do not exist."""
    config = load_config(block_name)
    with config.warehouse() as conn:
        raw_only = raw_only_tables(conn, config.airbyte.raw_schema, config.airbyte.streams)
    if raw_only:
        raise ConfigError(f"{'; '.join(raw_only)}: {RAW_ONLY_FIX}")
