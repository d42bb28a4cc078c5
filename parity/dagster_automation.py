"""Dagster's Declarative Automation over the shipped dbt project: what it rebuilds after a sync.

`@dbt_assets` over the project, every model with `AutomationCondition.eager()` (Dagster's
documented condition for "rebuild when a dependency updated"), the Airbyte tables as the
external assets they read. Run as `python parity/dagster_automation.py first|after-sync`:

- `first`: records a materialization of each Airbyte table (a first sync), evaluates the
  conditions (what the automation sensor's tick would request: the missing assets) and
  materializes what they request;
- `after-sync`: records a materialization of `airbyte/purchases` (what dagster-airbyte's sync
  would record; the bench has written the new rows), evaluates the conditions from the last
  cursor, and materializes what they request.

Prints one JSON line: the assets requested and the runs the instance holds. The project is
DBT_PROJECT_DIR (parsed beforehand, its profiles.yml beside it); DAGSTER_HOME holds the
instance and the cursor between the two calls.
"""

import json
import os
import sys
from pathlib import Path

from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetSelection,
    AssetSpec,
    AutomationCondition,
    DagsterInstance,
    Definitions,
    deserialize_value,
    evaluate_automation_conditions,
    materialize,
    serialize_value,
)
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

project = DbtProject(
    project_dir=Path(os.environ["DBT_PROJECT_DIR"]),
    profiles_dir=Path(os.environ["DBT_PROJECT_DIR"]),
)
SOURCES = [AssetSpec(AssetKey(["airbyte", t])) for t in ("users", "products", "purchases")]
CURSOR = Path(os.environ["DAGSTER_HOME"]) / "automation-cursor"


class Eager(DagsterDbtTranslator):
    def get_automation_condition(self, dbt_resource_props):
        return AutomationCondition.eager()


@dbt_assets(manifest=project.manifest_path, dagster_dbt_translator=Eager())
def shipped_project(context, dbt: DbtCliResource):
    yield from dbt.cli(["build", "--vars", "{marts_whole: true}"], context=context).stream()


DBT = DbtCliResource(project_dir=project, dbt_executable=str(Path(sys.executable).with_name("dbt")))
defs = Definitions(assets=[shipped_project, *SOURCES], resources={"dbt": DBT})


def main(step: str) -> None:
    instance = DagsterInstance.get()
    cursor = deserialize_value(CURSOR.read_text()) if CURSOR.exists() else None
    if cursor is None:  # the sensor's first tick, before any sync: a condition reacts to change
        cursor = evaluate_automation_conditions(defs=defs, instance=instance).cursor
    synced = [s.key for s in SOURCES] if step == "first" else [AssetKey(["airbyte", "purchases"])]
    for key in synced:  # what dagster-airbyte's sync records of the tables it wrote
        instance.report_runless_asset_event(AssetMaterialization(key))
    result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    requested = sorted(
        key.to_user_string() for key in shipped_project.keys if result.get_num_requested(key) > 0
    )
    if requested:
        materialize(
            [shipped_project, *SOURCES],
            selection=AssetSelection.keys(*[AssetKey.from_user_string(k) for k in requested]),
            instance=instance,
            resources={"dbt": DBT},
        )
    # the sensor's next tick, after the run: the cursor the next sync is compared with
    after = evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
    CURSOR.write_text(serialize_value(after.cursor))
    print(json.dumps({"requested": requested, "runs": instance.get_runs_count()}))


if __name__ == "__main__":
    main(sys.argv[1])
