"""The Kubernetes pool, offline: the Job a flow run becomes, rendered from the repository's base
job template and a deployment's job variables by prefect-kubernetes' own code (its own
validation included), then checked against the official Kubernetes client models and, strictly,
against the Kubernetes schemas of every version from 1.27 to 1.37. Also the Helm values the
worker is installed with: the same pool, and Prefect's credentials kept out of every Job
manifest."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import uuid
from importlib.metadata import version
from typing import Any

import httpx
import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes.client import ApiClient, V1Job
from kubernetes.utils import parse_quantity
from prefect.client.schemas.objects import Flow, FlowRun
from prefect.client.schemas.responses import DeploymentResponse
from prefect.settings import PREFECT_API_KEY, PREFECT_API_URL, temporary_settings
from prefect_kubernetes.worker import KubernetesWorker, KubernetesWorkerJobConfiguration

from orchestration.upstream import replace_api_key_with_secret
from tests.conftest import REPO
from tests.integration.test_deployments import prefect

# slow: deploys to a Kubernetes pool and validates the manifests against five Kubernetes versions
pytestmark = pytest.mark.slow

KUBERNETES = REPO / "deploy" / "kubernetes"
API_URL = "http://prefect-server.prefect.svc.cluster.local:4200/api"
# What a worker's environment may hold; none of it may reach a Job manifest.
SECRETS = {
    "PREFECT_API_KEY": f"pnu_{uuid.uuid4().hex}",
    "SNOWFLAKE_PASSWORD": f"snowflake-{uuid.uuid4().hex}",
    "AIRBYTE_CLIENT_SECRET": f"airbyte-{uuid.uuid4().hex}",
    "AWS_SECRET_ACCESS_KEY": f"aws-{uuid.uuid4().hex}",
}


def helm_values() -> dict[str, Any]:
    return yaml.safe_load((KUBERNETES / "worker-values.yaml").read_text())


def base_job_template() -> dict[str, Any]:
    return json.loads((KUBERNETES / "base-job-template.json").read_text())


def job_variables(deployment: str) -> dict[str, Any]:
    deployments = yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]
    (found,) = [d for d in deployments if d["name"] == deployment]
    return found["work_pool"].get("job_variables") or {}


def render(
    deployment: str,
    monkeypatch: pytest.MonkeyPatch,
    template: dict[str, Any] | None = None,
    variables: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The Job manifest the Kubernetes worker would create for a run of `deployment`, built
    as the worker builds it: template + job variables (checked against the template's schema,
    as the server checks them), prepared for the flow run, then the API key swapped for the
    secret the Helm values name."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)  # in the worker's environment, as on a careless node
    template = template or base_job_template()
    values = {**job_variables(deployment), **(variables or {})}
    jsonschema.validate(values, template["variables"])
    configuration = asyncio.run(
        KubernetesWorkerJobConfiguration.from_template_and_values(template, values)
    )
    flow = Flow(id=uuid.uuid4(), name=deployment)
    response = DeploymentResponse(id=uuid.uuid4(), name=deployment, flow_id=flow.id)
    run = FlowRun(id=uuid.uuid4(), name="vivid-otter", flow_id=flow.id, deployment_id=response.id)
    settings = {PREFECT_API_URL: API_URL, PREFECT_API_KEY: SECRETS["PREFECT_API_KEY"]}
    with temporary_settings(settings):
        configuration.prepare_for_flow_run(run, response, flow)
    worker_env = {e["name"]: e.get("value") for e in helm_values()["worker"]["extraEnvVars"]}
    worker = KubernetesWorker(work_pool_name=helm_values()["worker"]["config"]["workPool"])
    asyncio.run(
        replace_api_key_with_secret(  # what the worker does before creating the Job
            worker,
            configuration,
            secret_name=worker_env["PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_KEY_SECRET_NAME"],
            secret_key=worker_env["PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_KEY_SECRET_KEY"],
        )
    )
    return configuration.job_manifest


class Reply:  # what ApiClient.deserialize reads: an HTTP reply's body
    def __init__(self, body: dict[str, Any]) -> None:
        self.data = json.dumps(body)


# Demanded in the pod spec by prefect-kubernetes' own validation of a Job manifest (0.8), yet
# no fields of a Kubernetes pod: the API server drops them (with a warning) as it creates the
# Job. Kubernetes reads the Job spec's own `parallelism`/`completions`.
WORKER_ONLY_POD_FIELDS = {"parallelism": 1, "completions": 1}


def as_created(manifest: dict[str, Any]) -> dict[str, Any]:
    """The Job as the API server keeps it: no nulls (unset), no fields Kubernetes lacks."""
    job = _without_nulls(copy.deepcopy(manifest))
    pod = job["spec"]["template"]["spec"]
    assert {k: pod.pop(k) for k in WORKER_ONLY_POD_FIELDS} == WORKER_ONLY_POD_FIELDS
    return job


def as_v1_job(manifest: dict[str, Any]) -> V1Job:
    """The manifest as the official `V1Job` model; a field the model does not know (a typo)
    would be dropped, so the round trip must give the Job back unchanged."""
    created = as_created(manifest)
    client = ApiClient()
    job = client.deserialize(Reply(created), "V1Job")
    assert client.sanitize_for_serialization(job) == created
    return job


def strictly_valid(manifest: dict[str, Any]) -> None:
    """Valid against the Kubernetes schemas of 1.27 to 1.37, unknown fields refused."""
    created = as_created(manifest)
    created["metadata"].setdefault("name", "vivid-otter-x1y2z")  # generateName's result
    for minor in range(27, 38):
        kubernetes_validate.validate(created, f"1.{minor}", strict=True)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


DEPLOYMENTS = [
    "daily-full-pipeline",
    "s3-sensor",
    "freshness-check",
    "airbyte-sync",
    "dbt-transform",
    "backfill",
]


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_a_flow_run_becomes_a_valid_job_with_no_secret_in_it(deployment, monkeypatch):
    manifest = render(deployment, monkeypatch)
    job = as_v1_job(manifest)
    strictly_valid(manifest)

    pod = job.spec.template.spec
    (container,) = pod.containers
    template = base_job_template()["variables"]["properties"]
    assert container.image == template["image"]["default"]
    assert container.args == ["prefect", "flow-run", "execute"]
    env = {e.name: e for e in container.env}
    assert env["ELT_BLOCK"].value == "production"
    assert env["PREFECT_API_URL"].value == API_URL
    key = env["PREFECT_API_KEY"]
    assert key.value is None and key.value_from.secret_key_ref.name == "prefect-api-key"
    (settings,) = container.env_from
    assert settings.secret_ref.name == "elt-settings"

    wanted = job_variables(deployment)
    assert container.resources.requests == {
        "cpu": wanted["cpu_request"],
        "memory": wanted["memory_request"],
    }
    assert container.resources.limits == {"memory": wanted["memory_limit"]}
    for quantity in [*container.resources.requests.values(), *container.resources.limits.values()]:
        parse_quantity(quantity)  # a valid Kubernetes quantity, or ValueError

    assert pod.security_context.run_as_non_root is True
    assert pod.security_context.run_as_user == 10001  # the image's `elt` user
    assert container.security_context.allow_privilege_escalation is False
    assert container.security_context.capabilities.drop == ["ALL"]
    assert job.spec.ttl_seconds_after_finished == 3600
    assert job.spec.backoff_limit == 0
    assert job.metadata.namespace == "elt"
    assert job.metadata.labels["prefect.io/deployment-name"] == deployment

    text = json.dumps(manifest)
    for name, secret in SECRETS.items():
        assert secret not in text, f"{name}'s value is in the Job manifest"


def test_pull_secrets_node_selector_tolerations_and_service_account_reach_the_pod(monkeypatch):
    variables = {
        "image_pull_secrets": [{"name": "registry-credentials"}],
        "node_selector": {"workload": "batch"},
        "tolerations": [{"key": "batch", "operator": "Exists", "effect": "NoSchedule"}],
        "service_account_name": "elt-runs",
    }
    manifest = render("dbt-transform", monkeypatch, variables=variables)
    strictly_valid(manifest)
    pod = as_v1_job(manifest).spec.template.spec
    assert [s.name for s in pod.image_pull_secrets] == ["registry-credentials"]
    assert pod.node_selector == {"workload": "batch"}
    (toleration,) = pod.tolerations
    assert (toleration.key, toleration.operator, toleration.effect) == (
        "batch",
        "Exists",
        "NoSchedule",
    )
    assert pod.service_account_name == "elt-runs"

    with pytest.raises(jsonschema.ValidationError):  # refused before any Job is made
        render("dbt-transform", monkeypatch, variables={"image_pull_secrets": ["no-name-key"]})


@pytest.mark.parametrize(
    "job_spec", [{"parallelism": 2, "completions": 2}, {}], ids=["parallelism 2", "no fields"]
)
def test_the_template_passes_the_workers_validation_on_its_own_terms(job_spec, monkeypatch):
    """The worker's check diffs a manifest against its own base: a template that satisfied it
    only because the diff turned "remove from the Job spec, add to the pod spec" into a move
    broke as soon as the Job spec said anything else."""
    template = base_job_template()
    spec = template["job_configuration"]["job_manifest"]["spec"]
    for field in ("parallelism", "completions"):
        spec.pop(field)
    spec.update(job_spec)
    manifest = render("airbyte-sync", monkeypatch, template=template)
    job = as_v1_job(manifest)
    strictly_valid(manifest)
    assert (job.spec.parallelism, job.spec.completions) == (
        job_spec.get("parallelism"),
        job_spec.get("completions"),
    )


def test_the_helm_values_run_kubernetes_workers_on_the_pool_prefect_yaml_targets():
    worker = helm_values()["worker"]
    assert worker["config"]["type"] == "kubernetes"
    assert worker["config"]["workPool"] == "elt-kubernetes"
    # The worker's image runs the same Prefect as the flow runs' image.
    assert worker["image"]["prefectTag"].startswith(f"{version('prefect')}-")
    # The base job template comes from the repository file (helm --set-file), never a copy.
    assert worker["config"]["baseJobTemplate"]["configuration"] is None
    for name in ("requests", "limits"):
        for quantity in worker["resources"][name].values():
            parse_quantity(quantity)
    # No Linux capability, no root, no privilege escalation: the worker and its init container.
    for context in (
        worker["containerSecurityContext"],
        worker["initContainer"]["containerSecurityContext"],
    ):
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["runAsNonRoot"] is True and context["allowPrivilegeEscalation"] is False
    # The install command pins the chart version the values were rendered with.
    text = (KUBERNETES / "worker-values.yaml").read_text()
    assert re.search(r"prefect/prefect-worker --version \d{4}\.\d+\.\d+", text)


def test_prefect_deploy_targets_the_kubernetes_pool_with_one_variable(prefect_server):
    """The same prefect.yaml, deployed to a Kubernetes pool made from the repository's template:
    the server accepts every deployment's job variables against the template's schema."""
    env = {**prefect_server, "ELT_WORKDIR": "/app"}
    pool = "elt-kubernetes"
    template = str(KUBERNETES / "base-job-template.json")
    prefect("work-pool", "create", pool, "--type", "kubernetes", "--base-job-template", template,
            env=env)  # fmt: skip
    prefect("--no-prompt", "deploy", "--all", env={**env, "PREFECT_DEFAULT_WORK_POOL_NAME": pool})

    api = env["PREFECT_API_URL"]
    saved = httpx.get(f"{api}/work_pools/{pool}").json()
    assert saved["type"] == "kubernetes"
    assert saved["base_job_template"] == base_job_template()
    deployed = {
        d["name"]: d
        for d in httpx.post(f"{api}/deployments/filter", json={}).json()
        if d["work_pool_name"] == pool
    }
    assert set(deployed) == {
        "daily-full-pipeline",
        "s3-sensor",
        "freshness-check",
        "airbyte-sync",
        "dbt-transform",
        "backfill",
    }
    for name, deployment in deployed.items():
        assert deployment["job_variables"] == job_variables(name), name
