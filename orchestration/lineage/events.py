"""The OpenLineage events of each step, built with the OpenLineage client's own models.

- an Airbyte sync: per connection, START and COMPLETE (or FAIL), the connection's streams as
  inputs and the raw tables as outputs, with row and byte counts where known;
- a dbt invocation: OpenLineage's dbt integration reads the run's manifest and run results
  (inputs, outputs, schema, column lineage, test assertions);
- a freshness check: one run whose inputs carry a `freshness` assertion each;
- a change-driven dbt build's reused models: one run whose inputs carry an `eltReused` facet
  (when and by which flow run each was last built).

Every run names the Prefect flow run it belongs to in its `parent` facet.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import attr
from openlineage.client.facet_v2 import InputDatasetFacet

from orchestration.airbyte.sync_results import SyncResult
from orchestration.checks.freshness import SlaResult
from orchestration.config import Config, DbtTarget
from orchestration.dbt.runner import exported_env
from orchestration.lineage.naming import (
    PREFECT_NAMESPACE,
    PRODUCER,
    Warehouse,
    job_namespace,
    processor,
    stream_dataset,
)
from orchestration.runtime.logs import get_logger


@dataclass(frozen=True)
class PrefectRun:
    """The Prefect flow run an OpenLineage run belongs to."""

    flow_name: str
    run_id: str

    @classmethod
    def current(cls) -> PrefectRun | None:
        from prefect.context import FlowRunContext

        context = FlowRunContext.get()
        if context is None or context.flow_run is None or context.flow is None:
            return None
        return cls(context.flow.name, str(context.flow_run.id))

    def facet(self) -> Any:
        from openlineage.client.generated import parent_run

        return parent_run.ParentRunFacet(
            run=parent_run.Run(runId=self.run_id),
            job=parent_run.Job(namespace=PREFECT_NAMESPACE, name=self.flow_name),
        )


def _time(moment: datetime | None) -> str:
    return (moment or datetime.now(UTC)).isoformat()


def _run_facets(parent: PrefectRun | None, error: str = "") -> dict[str, Any]:
    from openlineage.client.generated import error_message_run

    facets: dict[str, Any] = {}
    if parent is not None:
        facets["parent"] = parent.facet()
    if error:
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=error[:2000], programmingLanguage="python"
        )
    return facets


def sync_events(
    result: SyncResult, streams: Iterable[str], raw_schema: str, where: Warehouse,
    parent: PrefectRun | None, columns: dict[str, list[tuple[str, str]]] | None = None,
) -> list[Any]:  # fmt: skip
    """START and COMPLETE/FAIL of one connection's sync, one OpenLineage run per stream (its
    stream in, its raw table out, rows and bytes where known): a run with every stream in and
    every table out would tell a lineage server that each table came from every stream.
    `columns`: each raw table's (column, type) as the warehouse holds them, for its schema."""
    from openlineage.client.event_v2 import (
        InputDataset,
        Job,
        OutputDataset,
        Run,
        RunEvent,
        RunState,
    )
    from openlineage.client.generated import output_statistics_output_dataset as stats
    from openlineage.client.generated import schema_dataset

    ended = RunState.COMPLETE if result.succeeded else RunState.FAIL
    out = []
    for stream in dict.fromkeys([*result.streams, *streams]):
        output_facets: dict[str, Any] = {}
        if stream in result.streams:
            output_facets["outputStatistics"] = stats.OutputStatisticsOutputDatasetFacet(
                rowCount=result.streams[stream], size=result.stream_bytes.get(stream)
            )
        inputs = [InputDataset(namespace=stream_dataset(result.connection_id), name=stream)]
        facets: dict[str, Any] = {}
        if fields := (columns or {}).get(stream.lower()):
            facets["schema"] = schema_dataset.SchemaDatasetFacet(
                fields=[schema_dataset.SchemaDatasetFacetFields(name=n, type=t) for n, t in fields]
            )
        outputs = [
            OutputDataset(
                namespace=where.namespace,
                name=where.table(raw_schema, stream),
                facets=facets,
                outputFacets=output_facets,
            )
        ]
        job = Job(namespace=job_namespace(), name=f"airbyte.{result.connection_id}.{stream}")
        run_id = str(uuid.uuid4())
        for state, moment, error in (
            (RunState.START, result.started_at, ""),
            (ended, result.ended_at, result.error),
        ):
            out.append(
                RunEvent(
                    eventType=state, eventTime=_time(moment),
                    run=Run(runId=run_id, facets=_run_facets(parent, error)), job=job,
                    inputs=inputs, outputs=outputs, producer=PRODUCER,
                )
            )  # fmt: skip
    return out


def dbt_events(config: Config, target: DbtTarget, parent: PrefectRun | None) -> list[Any]:
    """The events of the dbt invocation that just wrote its run results (build, run, test,
    seed, snapshot), from OpenLineage's dbt integration; none for other commands."""
    from openlineage.common.provider.dbt.facets import ParentRunMetadata

    ol = processor(config, target)
    ol.should_raise_on_unsupported_command = False  # `dbt retry`: its nodes are not described
    if parent is not None:
        ol.dbt_run_metadata = ParentRunMetadata(
            run_id=parent.run_id, job_name=parent.flow_name, job_namespace=PREFECT_NAMESPACE
        )
    try:
        with exported_env(config.dbt_env(target)):
            return list(ol.parse().events())
    except Exception as exc:  # lineage never fails a build
        get_logger().warning("No lineage for this dbt run: %s", str(exc)[:300])
        return []


def inputs_only_run(job_name: str, inputs: list[Any], parent: PrefectRun | None) -> list[Any]:
    """A run that reads `inputs` and writes nothing, as its START and COMPLETE events."""
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState

    run = Run(runId=str(uuid.uuid4()), facets=_run_facets(parent))
    job = Job(namespace=job_namespace(), name=job_name)
    now = _time(None)
    return [
        RunEvent(eventType=state, eventTime=now, run=run, job=job, inputs=inputs,
                 outputs=[], producer=PRODUCER)
        for state in (RunState.START, RunState.COMPLETE)
    ]  # fmt: skip


def freshness_events(
    results: list[SlaResult], datasets: dict[tuple[str, str], tuple[str, str]],
    parent: PrefectRun | None,
) -> list[Any]:  # fmt: skip
    """One COMPLETE run of the freshness check: each checked table an input with a
    `freshness` assertion. `datasets`: (kind, name) -> (namespace, name)."""
    from openlineage.client.event_v2 import InputDataset
    from openlineage.client.generated import data_quality_assertions_dataset as dq

    inputs = []
    for result in results:
        where = datasets.get((result.kind, result.name))
        if where is None:
            continue
        assertion = dq.Assertion(assertion="freshness", success=result.passed, name=result.name)
        facet = dq.DataQualityAssertionsDatasetFacet(assertions=[assertion])
        inputs.append(
            InputDataset(
                namespace=where[0], name=where[1], inputFacets={"dataQualityAssertions": facet}
            )
        )
    return inputs_only_run("elt.freshness", inputs, parent)


@attr.define
class EltReusedInputFacet(InputDatasetFacet):
    """A model a change-driven build did not rebuild: its code and inputs had not changed."""

    lastBuiltAt: str
    lastBuiltByFlowRun: str

    @staticmethod
    def _get_schema() -> str:
        return "https://github.com/elt-orchestration/facets/EltReusedInputFacet.json"


def reused_events(
    reused: Iterable[tuple[str, str, str]],
    datasets: dict[tuple[str, str], tuple[str, str]],
    parent: PrefectRun | None,
) -> list[Any]:
    """One COMPLETE run of `elt.dbt.reused`: each reused model (name, last built at, by flow
    run) an input with an `eltReused` facet. `datasets`: (kind, name) -> (namespace, name)."""
    from openlineage.client.event_v2 import InputDataset

    inputs = []
    for name, built_at, run_id in reused:
        where = datasets.get(("mart", name))
        if where is not None:
            facet = EltReusedInputFacet(lastBuiltAt=built_at, lastBuiltByFlowRun=run_id)
            inputs.append(
                InputDataset(namespace=where[0], name=where[1], inputFacets={"eltReused": facet})
            )
    if not inputs:
        return []
    return inputs_only_run("elt.dbt.reused", inputs, parent)


def landing_events(
    bucket: str, keys: list[str], job_name: str, parent: PrefectRun | None
) -> list[Any]:
    """A sensor's batch: the landing files (`s3://<bucket>` / `<key>`) as the inputs of a run
    whose parent is the flow run they were handed to."""
    from openlineage.client.event_v2 import InputDataset

    inputs = [InputDataset(namespace=f"s3://{bucket}", name=key) for key in keys]
    return inputs_only_run(job_name, inputs, parent)


__all__ = [
    "EltReusedInputFacet",
    "PrefectRun",
    "dbt_events",
    "freshness_events",
    "landing_events",
    "reused_events",
    "sync_events",
]
