"""`elt` on inputs nobody here wrote: every way they can fail ends the process with exit code 1,
no traceback and one `error:` line that names what to fix; a selection typo fails; any target
of a foreign dbt project builds, and the summary says everything that ran."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.generate_dbt_project import generate
from tests.conftest import REPO, run_elt
from tests.fakes.airbyte_server import FakeAirbyte
from tests.fakes.s3 import free_port


def one_error_line(proc, exit_code: int = 1) -> str:
    """The process failed the way the README promises: one `error:` line, last, no traceback."""
    output = proc.stdout + proc.stderr
    assert proc.returncode == exit_code, output
    assert "Traceback" not in output, output
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    # Prefect's own line at exit when its events are still being sent (a loaded server)
    ours = [line for line in proc.stderr.splitlines() if "Still processing items" not in line]
    assert ours[-1] == errors[0], output
    # Said once: no log record repeats it (the run's logs on the server keep the engine's).
    said = errors[0].removeprefix("error: ")[:60]
    assert [line for line in output.splitlines() if said in line] == [errors[0]], output
    assert "NoneType: None" not in output, output
    return errors[0]


def foreign_project(root: Path) -> Path:
    """A DuckDB project nobody here wrote: its own profile, targets named `duck` and `ci`."""
    project = generate(root, models=3)
    profile = yaml.safe_load((project / "profiles.yml").read_text())
    outputs = profile["bench"]["outputs"]
    outputs["duck"] = outputs.pop("local")
    outputs["ci"] = {**outputs["duck"], "path": str(root / "ci.duckdb")}
    profile["bench"]["target"] = "ci"
    (project / "profiles.yml").write_text(yaml.safe_dump(profile))
    return project


@pytest.fixture
def project(tmp_path) -> Path:
    return foreign_project(tmp_path / "foreign")


def transform(project: Path, *args: str, cwd: Path, api: str, **env: str):
    return run_elt(
        "transform",
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        *args,
        cwd=cwd,
        PREFECT_API_URL=api,
        BENCH_DUCKDB_PATH=str(cwd / "bench.duckdb"),
        **env,
    )


def test_any_target_of_a_foreign_profile_builds(project, tmp_path, prefect_api):
    proc = transform(project, "--target", "duck", cwd=tmp_path, api=prefect_api)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "dbt build OK: 3 models, 3 tests" in proc.stdout
    assert (tmp_path / "bench.duckdb").exists()

    unknown = transform(project, "--target", "prod", cwd=tmp_path, api=prefect_api)
    assert one_error_line(unknown) == (
        f"error: target 'prod' (DBT_TARGET or --target) is not in profile 'bench' of "
        f"{project / 'profiles.yml'}: use one of ci, duck"
    )


def test_a_selection_that_matches_nothing_fails_unless_allowed(project, tmp_path, prefect_api):
    typo = transform(project, "-s", "does_not_exist", cwd=tmp_path, api=prefect_api)
    line = one_error_line(typo)
    assert line.startswith("error: the selection 'does_not_exist' matches no node in ")
    assert "--allow-empty" in line

    allowed = transform(
        project, "-s", "does_not_exist", "--allow-empty", cwd=tmp_path, api=prefect_api
    )
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "dbt build OK: no nodes" in allowed.stdout


def test_bad_vars_are_one_line(project, tmp_path, prefect_api):
    proc = transform(project, "--vars", "{a: [1, 2", cwd=tmp_path, api=prefect_api)
    line = one_error_line(proc)
    assert line.startswith("error: --vars is not valid YAML/JSON (")
    assert "line 1" in line


def test_a_missing_project_is_one_line(tmp_path, prefect_api):
    proc = transform(tmp_path / "nowhere", cwd=tmp_path, api=prefect_api)
    assert one_error_line(proc).startswith(
        f"error: DBT_PROJECT_DIR={tmp_path / 'nowhere'} has no dbt_project.yml"
    )


def test_an_unreachable_package_hub_is_one_line(project, tmp_path, prefect_api):
    (project / "packages.yml").write_text(
        "packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.3.0\n"
    )
    closed = f"http://127.0.0.1:{free_port()}/"  # nothing listens there
    proc = transform(project, cwd=tmp_path, api=prefect_api, DBT_PACKAGE_HUB_URL=closed)
    # dbt's own status when it cannot run (plain `dbt deps` exits 2 here too)
    assert one_error_line(proc, exit_code=2).startswith("error: dbt deps failed: ")


def test_a_flag_value_is_named_by_its_flag(tmp_path, prefect_api):
    proc = run_elt("sensor", "--poll-interval", "0", cwd=tmp_path, PREFECT_API_URL=prefect_api)
    line = one_error_line(proc)
    assert "--poll-interval: Input should be greater than 0" in line
    assert "S3_POLL_INTERVAL_SECONDS" not in line and "s3_poll_interval" not in line


@pytest.mark.parametrize("case", ["bad credentials", "unknown connection"])
def test_airbyte_refusals_are_one_line(case, tmp_path, prefect_api):
    with FakeAirbyte(auth="bearer") as fake:
        fake.add_connection("conn-1")
        env = {
            "AIRBYTE_SERVER_URL": fake.url,
            "AIRBYTE_API_TOKEN": "wrong" if case == "bad credentials" else fake.static_token,
            "AIRBYTE_CONNECTION_ID": "conn-1" if case == "bad credentials" else "no-such",
        }
        proc = run_elt("sync", cwd=tmp_path, PREFECT_API_URL=prefect_api, **env)
    line = one_error_line(proc)
    expected = "rejected the credentials" if case == "bad credentials" else "HTTP 404"
    assert expected in line, line


def test_an_unreachable_prefect_api_is_named_with_its_url(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/api"
    proc = run_elt("blocks", "show", cwd=tmp_path, PREFECT_API_URL=url)
    assert one_error_line(proc) == (
        f"error: cannot reach the Prefect API at {url} (ConnectError): start it with "
        "`prefect server start`, or set PREFECT_API_URL to a running server"
    )
    run = run_elt("sync", cwd=tmp_path, PREFECT_API_URL=url)  # a flow run: Prefect's own check
    assert one_error_line(run).startswith(f"error: cannot reach the Prefect API at {url} (")


def test_the_summary_counts_every_kind_of_node_and_a_retry_with_nothing_to_do(
    project, tmp_path, prefect_api
):
    (project / "seeds").mkdir()
    (project / "seeds" / "countries.csv").write_text("code,name\nfr,France\nde,Germany\n")
    (project / "snapshots").mkdir()
    (project / "snapshots" / "amounts.yml").write_text(
        "snapshots:\n  - name: amounts_snapshot\n    relation: ref('model_000')\n"
        "    config: {unique_key: id, strategy: check, check_cols: all}\n"
    )
    (project / "models" / "unit_tests.yml").write_text(
        "unit_tests:\n  - name: adds_one\n    model: model_001\n    given:\n"
        "      - input: ref('model_000')\n        rows: [{id: 1, amount: 2}]\n"
        "    expect:\n      rows: [{id: 1, amount: 3}]\n"
    )
    build = transform(project, cwd=tmp_path, api=prefect_api)
    assert build.returncode == 0, build.stdout + build.stderr
    assert "dbt build OK: 1 seed, 3 models, 1 snapshot, 3 tests, 1 unit test (" in build.stdout

    retry = transform(project, "--retry", cwd=tmp_path, api=prefect_api)
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert "dbt retry OK: nothing to retry in " in retry.stdout


def test_limits_need_a_real_prefect_server_and_a_valid_size(tmp_path, prefect_api):
    """A temporary server would take the limits away with it; a size of 0 would block every
    run forever."""
    no_server = run_elt("limits", "apply", cwd=tmp_path, PREFECT_API_URL="")
    assert one_error_line(no_server).startswith(
        "error: `elt limits apply` changes a Prefect server, and PREFECT_API_URL is not set"
    )
    zero = run_elt(
        "limits", "apply", cwd=tmp_path, PREFECT_API_URL=prefect_api, ELT_LIMIT_AIRBYTE_SYNCS="0"
    )
    assert "ELT_LIMIT_AIRBYTE_SYNCS: Input should be greater than or equal to 1" in (
        one_error_line(zero)
    )


# Bad inputs a new user typed, in-process (typer's runner, the session's Prefect API): each is
# one `error:` line naming the flag or variable, never a traceback, and never echoes a secret.
BAD_INPUTS = {
    "a bucket name S3 refuses": (
        ["sensor", "--bucket", "Bad_Bucket!", "--max-polls", "1"],
        {},
        "Bad_Bucket!",
    ),
    "a max runtime that is not a number": (
        ["sensor", "--max-runtime", "nan", "--max-polls", "1"],
        {},
        "max_runtime must be a number of seconds above 0, not nan: pass, e.g., --max-runtime",
    ),
    "an alert webhook that is not a URL": (
        ["automations", "apply"],
        {"ALERT_WEBHOOK_URL": "not-a-url-but-a-t0ken"},
        "ALERT_WEBHOOK_URL: not an http(s) URL (the value is not shown",
    ),
    "a dry run of automations that would fail": (
        ["automations", "apply", "--dry-run"],
        {},
        "the automations call the webhook block 'elt-alerts', which is not saved: set "
        "ALERT_WEBHOOK_URL",
    ),
    "a dbt selection typo, before the sync": (  # the Airbyte server is never asked
        ["run", "-s", "dim_user"],
        {
            "AIRBYTE_SERVER_URL": "http://127.0.0.1:9/api/public/v1",
            "AIRBYTE_CONNECTION_ID": "c",
            "DBT_PROJECT_DIR": str(REPO / "dbt_project"),
        },
        "matches no node in {project} (dim_user: did you mean dim_users?): check its spelling "
        "(`dbt ls --project-dir {project} --profiles-dir {project} --select ...` lists what "
        "exists)".format(project=REPO / "dbt_project"),
    ),
    "a zero concurrency": (
        ["sync", "--max-concurrent", "0"],
        {"AIRBYTE_SERVER_URL": "http://127.0.0.1:9/api/public/v1", "AIRBYTE_CONNECTION_ID": "c"},
        "--max-concurrent: Input should be greater than or equal to 1",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_naming_it(case, cli, tmp_path):
    args, env, expected = BAD_INPUTS[case]
    ran = cli(*args, cwd=tmp_path, **env)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    errors = [line for line in ran.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expected in errors[0], ran.stderr
    assert "--allow-empty" not in ran.stderr or "transform" in args  # no such flag elsewhere
    assert "Traceback" not in ran.stdout + ran.stderr
    assert "t0ken" not in ran.stdout + ran.stderr


def test_a_mistyped_setting_is_named_with_the_one_it_meant(cli, tmp_path):
    """`DBT_TARGT=prod` would leave the target at its default without a word."""
    (tmp_path / ".env").write_text("DBT_TARGT=prod\nDBT_TARGET_PATH=target\n")  # dbt's own: fine
    server = {"AIRBYTE_SERVER_URL": "http://127.0.0.1:9/api/public/v1"}  # no connection: stops
    warned = cli("sync", cwd=tmp_path, **server)
    assert (
        "warning: DBT_TARGT is not a setting: did you mean DBT_TARGET? (ELT_STRICT=1 makes "
        "this an error)"
    ) in warned.stderr.splitlines()
    assert "DBT_TARGET_PATH" not in warned.stderr
    strict = cli("sync", cwd=tmp_path, ELT_STRICT="1", **server)
    assert strict.returncode == 1
    assert strict.stderr.splitlines() == [
        "error: DBT_TARGT is not a setting: did you mean DBT_TARGET?"
    ]


def test_a_dotenv_line_that_is_not_name_value_is_one_line(cli, tmp_path):
    (tmp_path / ".env").write_text("DBT_TARGET=local\nthis is not a setting\n")
    ran = cli("sync", cwd=tmp_path)
    assert ran.returncode == 1
    assert ran.stderr.splitlines() == [
        f"error: {tmp_path / '.env'}: line 2 is not NAME=value: fix or comment out (#)"
    ]
