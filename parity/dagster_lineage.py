"""Dagster's asset graph for the same project, as a user defines it with the default
translators: dagster-dbt's `@dbt_assets` from the project's manifest and dagster-airbyte's
`load_airbyte_asset_specs` of the same connection (the same fake Airbyte server). For
`make parity` (bench/parity_lineage.py).

    parity/.venv/bin/python parity/dagster_lineage.py REQUEST_JSON

REQUEST_JSON: {"project_dir": path (parsed: target/manifest.json), "rest": URL,
"configuration": URL, "workspace_id": ..., "client_id": ..., "client_secret": ...}.
Prints {"assets": {key: kinds}, "edges": [[upstream key, downstream key], ...]} as JSON, keys
as Dagster writes them (`a/b`)."""

import json
import sys
from pathlib import Path

from dagster import AssetExecutionContext, Definitions
from dagster_airbyte import load_airbyte_asset_specs
from dagster_airbyte_sync import workspace_from  # beside this file
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets


def main() -> None:
    request = json.loads(sys.argv[1])
    project = DbtProject(project_dir=Path(request["project_dir"]))

    @dbt_assets(manifest=project.manifest_path)
    def dbt_project_assets(context: AssetExecutionContext, dbt: DbtCliResource):
        yield from dbt.cli(["build"], context=context).stream()

    airbyte_specs = load_airbyte_asset_specs(workspace_from(request))
    defs = Definitions(
        assets=[dbt_project_assets, *airbyte_specs],
        resources={  # dbt from this environment, as parity/dagster_dbt_defs.py
            "dbt": DbtCliResource(
                project_dir=project, dbt_executable=str(Path(sys.executable).with_name("dbt"))
            )
        },
    )
    graph = defs.resolve_asset_graph()
    assets, edges = {}, []
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assets[key.to_user_string()] = sorted(node.kinds)
        edges += [[parent.to_user_string(), key.to_user_string()] for parent in node.parent_keys]
    print(json.dumps({"assets": assets, "edges": sorted(edges)}))


if __name__ == "__main__":
    main()
