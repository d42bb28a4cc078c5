"""Every setting that is also a flag and a flow parameter is declared once
(`orchestration/flags.py`): the declaration must hold against the models, the flows and the CLI
built from it."""

from __future__ import annotations

import inspect
import typing

import pytest
from pydantic import TypeAdapter
from typer.testing import CliRunner

from orchestration.config.load import BLOCK_DOMAINS, ENV_DOMAINS, LAZY_BLOCK_DOMAINS
from orchestration.flags import SETTINGS, from_parameters
from orchestration.flows.airbyte_sync import airbyte_sync
from orchestration.flows.dbt_transform import dbt_transform
from orchestration.flows.freshness_check import freshness_check
from orchestration.flows.s3_sensor import s3_sensor

MODELS = {
    **BLOCK_DOMAINS,
    **ENV_DOMAINS,
    **{domain: model() for domain, model in LAZY_BLOCK_DOMAINS.items()},
}
FLOWS = {  # domain -> the flow whose parameters set its settings
    "embedded": airbyte_sync,
    "airbyte": airbyte_sync,
    "dbt": dbt_transform,
    "s3": s3_sensor,
    "options": freshness_check,
}


def field_of(key: str):
    domain, *path = key.split(".")
    model = MODELS[domain]
    for name in path[:-1]:
        model = (
            typing.get_args(model.model_fields[name].annotation)
            or model.model_fields[name].annotation
        )
    return MODELS[domain], model.model_fields[path[-1]]


@pytest.mark.parametrize("key", sorted(SETTINGS))
def test_a_setting_flag_names_its_variable_and_fits_its_field(key):
    setting = SETTINGS[key]
    model, field = field_of(key)
    variable = model.env.variable(key.split(".", 1)[1])
    assert f"({variable}" in setting.help, f"{setting.flag}'s help must name {variable}"
    literal = typing.get_args(setting.type)
    sample = literal[0] if literal else {int: 3, float: 2.5, str: "x"}[setting.type]
    kept = TypeAdapter(field.annotation).validate_python(sample)  # the field takes the flag's value
    assert kept == sample or str(kept) == sample, f"{setting.flag}: {field.annotation} changed it"


@pytest.mark.parametrize("key", sorted(SETTINGS))
def test_a_setting_flag_is_a_parameter_of_its_flow(key):
    setting = SETTINGS[key]
    flow = FLOWS[key.split(".", 1)[0]]
    parameters = inspect.signature(flow.fn).parameters
    assert setting.parameter_name in parameters, f"{flow.name} has no {setting.parameter_name}"
    annotation = parameters[setting.parameter_name].annotation
    assert str(setting.type).replace("typing.", "") in str(annotation) or (
        setting.type.__name__ in str(annotation)
    )


def test_a_name_that_sets_no_setting_is_refused():
    assert from_parameters({"target": "prod", "threads": 3}) == {
        "dbt.target": "prod",
        "dbt.threads": 3,
    }
    with pytest.raises(TypeError, match="targte"):
        from_parameters({"targte": "prod"})


def test_the_cli_takes_each_flag_with_its_declared_help():
    from orchestration.cli.main import app

    runner = CliRunner()
    for command, keys in {
        "transform": ["dbt.target", "dbt.threads", "dbt.project_dir", "dbt.profiles_dir"],
        "sync": ["airbyte.max_concurrent_syncs", "embedded.faker_count"],
        "sensor": ["s3.key_layout", "s3.events_queue_url"],
        "freshness": ["options.freshness_threshold_hours"],
    }.items():
        shown = runner.invoke(app, [command, "--help"], env={"COLUMNS": "300"})
        assert shown.exit_code == 0, shown.output
        for key in keys:
            assert SETTINGS[key].flag in shown.output and SETTINGS[key].help[:30] in shown.output
