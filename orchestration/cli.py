"""`elt`: run the pipeline and its pieces from a terminal.

Every command prints a short summary and exits 0 only on success; a failure prints one line
(`error: ...`) unless `--debug` asks for the traceback.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn, TypeVar, cast

import httpx
import typer
from rich.console import Console
from rich.table import Table

from orchestration import collector, interrupts
from orchestration.errors import ConfigError, StepFailed, UserError

if TYPE_CHECKING:
    from orchestration.config import Config
    from orchestration.limits import WantedLimit

T = TypeVar("T")

app = typer.Typer(
    help="ELT orchestration: Airbyte sync -> dbt build -> freshness SLA, on Prefect.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
status_console = Console(stderr=True)  # summaries of commands whose stdout is data
error_console = Console(stderr=True)  # `error:` lines never mix with a command's output
state = {"debug": False}

Select = Annotated[
    list[str] | None,
    typer.Option("--select", "-s", help="dbt selection (repeatable), e.g. -s marts"),
]
Exclude = Annotated[list[str] | None, typer.Option("--exclude", help="dbt exclusion (repeatable)")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Show what would change, change nothing.")]
BlockName = Annotated[
    str | None,
    typer.Option(
        "--block",
        help="Take the configuration from the blocks saved under this name "
        "(`elt blocks register --name NAME`) instead of the environment.",
    ),
]


# Which flag sets which setting: configuration errors name the flag the user typed.
FLAGS = {
    "embedded.faker_count": "--count",
    "embedded.faker_seed": "--seed",
    "airbyte.max_concurrent_syncs": "--max-concurrent",
    "dbt.target": "--target",
    "dbt.threads": "--threads",
    "dbt.project_dir": "--project-dir",
    "dbt.profiles_dir": "--profiles-dir",
    "s3.bucket.bucket_name": "--bucket",
    "s3.bucket.bucket_folder": "--prefix",
    "s3.poll_interval_seconds": "--poll-interval",
    "s3.sensor_deployment": "--deployment",
    "s3.key_layout": "--layout",
    "s3.full_scan_every_seconds": "--full-scan-every",
    "s3.events_queue_url": "--events-queue",
    "options.freshness_threshold_hours": "--threshold-hours",
}


@app.callback()
def main_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on failure.")] = False,
) -> None:
    state["debug"] = debug
    if debug:
        os.environ["ELT_DEBUG"] = "1"  # dbt's whole output too (see dbt/runner.py)


def _run(action: Callable[[], T]) -> T:
    """Run a flow, turning any failure into one line on stderr and exit code 1; Ctrl-C or
    SIGTERM (its run ended Cancelled) into one line and 128 + the signal's number."""
    try:
        return _report_failures(action)
    except BaseException as exc:
        if not interrupts.is_interruption(exc):
            raise
        error_console.print(
            f"[red]error:[/red] interrupted ({interrupts.signal_name()}): the run was cancelled",
            highlight=False,
        )
        raise typer.Exit(interrupts.exit_code()) from None


def _report_failures(action: Callable[[], T]) -> T:
    try:
        return action()
    except (UserError, StepFailed) as exc:
        if state["debug"]:
            raise
        for line in str(exc).splitlines() or [type(exc).__name__]:
            error_console.print(f"[red]error:[/red] {line}", highlight=False, soft_wrap=True)
        raise typer.Exit(getattr(exc, "exit_code", 1)) from None
    except Exception as exc:
        if state["debug"] or interrupts.is_interruption(exc):  # a run cancelled by a signal
            raise
        if isinstance(exc, httpx.TransportError):  # the Prefect API, not reachable
            from orchestration.config.blocks import api_unreachable

            error_console.print(f"[red]error:[/red] {api_unreachable(exc)}", highlight=False)
            raise typer.Exit(1) from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        error_console.print(
            f"[red]error:[/red] {type(exc).__name__}: {first} (rerun with --debug for details)",
            highlight=False,
            soft_wrap=True,
        )
    raise typer.Exit(1)


def _fail(message: str) -> NoReturn:
    error_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _configure(
    block: str | None,
    overrides: Mapping[str, object] | None = None,
    origins: Mapping[str, str] | None = None,
    *,
    warehouse: bool = False,
    airbyte: bool = False,
    connection_ids: list[str] | None = None,
    uses_server: bool = False,
) -> Config:
    """Load and check the configuration before any work; flag errors name the flag. A command
    that `uses_server` gets the local Prefect server when no Prefect API is configured."""
    from orchestration.config import load_config

    if uses_server:
        _run(_use_local_server)

    def check() -> Config:
        config = load_config(block, overrides, origins)
        checks: list[Callable[[], object]] = []
        if airbyte:
            checks.append(lambda: config.require_airbyte(connection_ids))
        if warehouse:
            checks.append(config.require_warehouse)
        problems = []
        for requirement in checks:
            try:
                requirement()
            except ConfigError as exc:
                problems.append(str(exc))
        if problems:
            raise ConfigError("; ".join(problems))
        return config

    return _run(check)


def _use_local_server() -> None:
    from orchestration.local_server import use_local_server

    use_local_server(lambda line: status_console.print(line, highlight=False, soft_wrap=True))


def _run_flow(config: Config, action: Callable[[], T]) -> T:
    """Run a flow on the configuration already loaded (blocks are not loaded again)."""
    from orchestration.config import config_scope

    collector.resume()
    with config_scope(config):
        return _run(action)


def _table(title: str, rows: list[dict[str, object]]) -> None:
    if not rows:
        return
    table = Table(title=title, title_justify="left")
    for column in rows[0]:
        table.add_column(str(column))
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)


@app.command()
def run(
    count: Annotated[int | None, typer.Option(help="Embedded faker: records per stream.")] = None,
    seed: Annotated[
        int | None, typer.Option(help="Embedded faker: seed for repeatable data.")
    ] = None,
    select: Select = None,
    block: BlockName = None,
) -> None:
    """Run the full pipeline: sync, dbt build, freshness check."""
    config = _configure(
        block,
        {"embedded.faker_count": count, "embedded.faker_seed": seed},
        FLAGS,
        warehouse=True,
        airbyte=True,
        uses_server=True,
    )
    from orchestration.flows.airbyte_sync import AirbyteSyncFailed
    from orchestration.flows.full_pipeline import PipelineSummary, full_pipeline

    def run_pipeline() -> PipelineSummary:
        try:
            return full_pipeline(
                faker_count=count, faker_seed=seed, select=select, block_name=block
            )
        except AirbyteSyncFailed as failed:  # every connection's row, then the failures
            _show_syncs(failed.results)
            raise

    summary = _run_flow(config, run_pipeline)
    console.rule("full pipeline")
    for line in summary.lines():
        console.print(f"  {line}", highlight=False, soft_wrap=True)


@app.command()
def sync(
    connection: Annotated[
        list[str] | None,
        typer.Option("--connection", "-c", help="Airbyte connection id (repeatable)."),
    ] = None,
    max_concurrent: Annotated[
        int | None,
        typer.Option(min=1, help="Syncs running at once (AIRBYTE_MAX_CONCURRENT_SYNCS)."),
    ] = None,
    count: Annotated[int | None, typer.Option(help="Embedded faker: records per stream.")] = None,
    seed: Annotated[
        int | None, typer.Option(help="Embedded faker: seed for repeatable data.")
    ] = None,
    block: BlockName = None,
) -> None:
    """Run the Airbyte sync(s) and print rows per stream."""
    overrides = {
        "embedded.faker_count": count,
        "embedded.faker_seed": seed,
        "airbyte.max_concurrent_syncs": max_concurrent,
    }
    config = _configure(
        block, overrides, FLAGS, airbyte=True, connection_ids=connection, uses_server=True
    )
    from orchestration.flows.airbyte_sync import AirbyteSyncFailed, airbyte_sync

    def sync_and_show() -> list:
        try:
            results = airbyte_sync(
                connection_ids=connection or None,
                max_concurrent=max_concurrent,
                faker_count=count,
                faker_seed=seed,
                block_name=block,
            )
        except AirbyteSyncFailed as failed:  # show every connection, then the failures
            _show_syncs(failed.results)
            raise
        _show_syncs(results)
        return results

    _run_flow(config, sync_and_show)


def _show_syncs(results: list) -> None:
    _table(
        "Airbyte syncs", [{k: v for k, v in r.as_row().items() if k != "streams"} for r in results]
    )
    for r in results:
        for stream, rows in r.streams.items():
            console.print(f"  {stream}: {rows} rows", highlight=False)


@app.command()
def transform(
    select: Select = None,
    exclude: Exclude = None,
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Rebuild incremental models from scratch.")
    ] = False,
    dbt_vars: Annotated[
        str | None,
        typer.Option("--vars", help='dbt vars as YAML/JSON, e.g. \'{"day": "2026-11-01"}\''),
    ] = None,
    target: Annotated[str | None, typer.Option(help="dbt target (DBT_TARGET).")] = None,
    threads: Annotated[int | None, typer.Option(help="dbt threads (DBT_THREADS).")] = None,
    project_dir: Annotated[
        str | None, typer.Option(help="dbt project folder (DBT_PROJECT_DIR).")
    ] = None,
    profiles_dir: Annotated[
        str | None, typer.Option(help="Folder of profiles.yml (DBT_PROFILES_DIR).")
    ] = None,
    retry: Annotated[
        bool, typer.Option("--retry", help="`dbt retry`: rebuild only what failed last time.")
    ] = False,
    node_tasks: Annotated[
        bool, typer.Option("--node-tasks", help="One Prefect task per dbt node (slow).")
    ] = False,
    allow_empty: Annotated[
        bool,
        typer.Option("--allow-empty", help="Succeed when the selection matches no node."),
    ] = False,
    block: BlockName = None,
) -> None:
    """Run `dbt deps` (when packages changed) and `dbt build` on any dbt project."""
    _run(lambda: _check_vars(dbt_vars))  # before any work; dbt reads the text itself
    overrides = {
        "dbt.target": target,
        "dbt.threads": threads,
        "dbt.project_dir": project_dir,
        "dbt.profiles_dir": profiles_dir,
    }
    config = _configure(block, overrides, FLAGS, warehouse=True, uses_server=True)
    from orchestration.flows.dbt_transform import dbt_transform

    result = _run_flow(
        config,
        lambda: dbt_transform(
            select=select,
            exclude=exclude,
            full_refresh=full_refresh,
            vars=dbt_vars or None,
            target=target,
            threads=threads,
            project_dir=project_dir,
            profiles_dir=profiles_dir,
            retry=retry,
            node_tasks=node_tasks,
            allow_empty=allow_empty,
            block_name=block,
        ),
    )
    counts = ", ".join(f"{k}={v}" for k, v in sorted(result.status_counts().items()))
    console.print(
        f"dbt {result.command} OK: {result.summary()}"
        + (f" ({counts})" if counts else "")
        + f" in {result.elapsed_s:.1f}s",
        highlight=False,
    )


sensor_app = typer.Typer(
    help="Watch an S3 prefix; print (or hand to a deployment) each batch of new objects.",
    invoke_without_command=True,
)
app.add_typer(sensor_app, name="sensor")


@sensor_app.callback()
def sensor(
    ctx: typer.Context,
    bucket: Annotated[str | None, typer.Option(help="Bucket (S3_BUCKET).")] = None,
    prefix: Annotated[str | None, typer.Option(help="Key prefix (S3_PREFIX).")] = None,
    poll_interval: Annotated[
        float | None,
        typer.Option(
            help="Seconds between polls; event mode: longest wait for a message "
            "(S3_POLL_INTERVAL_SECONDS)."
        ),
    ] = None,
    max_polls: Annotated[
        int | None,
        typer.Option(min=0, help="Stop after this many polls (exit 1 if one failed)."),
    ] = None,
    max_runtime: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (a new run continues).")
    ] = None,
    start: Annotated[
        str, typer.Option(help="Where a new cursor starts: beginning or now.")
    ] = "beginning",
    deployment: Annotated[
        str | None,
        typer.Option(help="Deployment started per batch (S3_SENSOR_DEPLOYMENT), e.g. flow/name."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Objects per batch.")] = 100,
    layout: Annotated[
        str | None,
        typer.Option(
            help="Key layout (S3_KEY_LAYOUT): 'any' lists the whole prefix every poll; "
            "'arrival-day' lists recent day partitions, with a full listing every "
            "--full-scan-every."
        ),
    ] = None,
    full_scan_every: Annotated[
        float | None,
        typer.Option(
            help="Seconds between full listings in arrival-day and event modes "
            "(S3_FULL_SCAN_EVERY_SECONDS)."
        ),
    ] = None,
    events_queue: Annotated[
        str | None,
        typer.Option(help="SQS queue URL of the bucket's S3 notifications (S3_EVENTS_QUEUE_URL)."),
    ] = None,
    block: BlockName = None,
) -> None:
    """Watch an S3 prefix; print (or hand to a deployment) each batch of new objects.

    Keys go to stdout, one per line; progress and errors go to stderr."""
    if ctx.invoked_subcommand:
        return
    if start not in ("beginning", "now"):
        _fail("--start must be 'beginning' or 'now'")
    if layout is not None and layout not in ("any", "arrival-day"):
        _fail("--layout must be 'any' or 'arrival-day'")
    from orchestration.flows.sensors.s3_sensor import s3_sensor, sensor_overrides

    options: dict[str, Any] = {
        "bucket": bucket,
        "prefix": prefix,
        "poll_interval": poll_interval,
        "deployment": deployment,
        "layout": layout,
        "full_scan_every": full_scan_every,
        "events_queue": events_queue,
    }
    config = _configure(block, sensor_overrides(**options), FLAGS, uses_server=True)
    stats = _run_flow(
        config,
        lambda: s3_sensor(
            **options,
            max_polls=max_polls,
            max_runtime=max_runtime,
            start=cast(Literal["beginning", "now"], start),
            batch_size=batch_size,
            block_name=block,
        ),
    )
    status_console.print(
        f"s3 sensor: {stats.polls} polls, {stats.objects} new objects in {stats.batches} "
        f"batches, {stats.list_requests} list requests, {stats.receives} queue receives, "
        f"{stats.errors} errors",
        highlight=False,
    )


@sensor_app.command("setup-events")
def sensor_setup_events(
    queue: Annotated[str, typer.Option(help="SQS queue name or URL.")],
    bucket: Annotated[str | None, typer.Option(help="Bucket (S3_BUCKET).")] = None,
    prefix: Annotated[str | None, typer.Option(help="Key prefix (S3_PREFIX).")] = None,
    block: BlockName = None,
) -> None:
    """Send the bucket's s3:ObjectCreated:* events under the prefix to an SQS queue
    (idempotent: run it again, nothing changes)."""
    from orchestration.sensors.events import setup_events

    overrides = {"s3.bucket.bucket_name": bucket, "s3.bucket.bucket_folder": prefix}
    s3_config = _configure(block, overrides, FLAGS).s3

    def apply() -> list[str]:
        s3, sqs = s3_config.client("s3"), s3_config.client("sqs")
        return setup_events(s3, sqs, s3_config.bucket_name, s3_config.prefix, queue)

    for line in _run(apply):
        console.print(line, highlight=False, soft_wrap=True)


VARS_EXAMPLE = """e.g. --vars '{"day": "2026-11-01"}'"""


def _check_vars(text: str | None) -> None:
    """--vars is parsed by dbt, as YAML; a typo is caught here, before the sync or build."""
    if not text:
        return
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise UserError(
            f"--vars is not valid YAML/JSON ({problem}{where}): {VARS_EXAMPLE}"
        ) from None
    if not isinstance(value, dict):
        raise UserError(f"--vars must be a mapping: {VARS_EXAMPLE}")


@app.command()
def freshness(
    threshold_hours: Annotated[
        float | None, typer.Option(help="Override FRESHNESS_THRESHOLD_HOURS.")
    ] = None,
    block: BlockName = None,
) -> None:
    """Check every freshness SLA of the dbt project: source tables (dbt source freshness) and
    mart deadlines (meta.sla.deadline_cron); warn shows, error fails."""
    overrides = {"options.freshness_threshold_hours": threshold_hours}
    config = _configure(block, overrides, FLAGS, warehouse=True, uses_server=True)
    from orchestration.flows.freshness import FreshnessBreached, freshness_check

    def check_and_show() -> list:
        try:
            results = freshness_check(threshold_hours=threshold_hours, block_name=block)
        except FreshnessBreached as breached:  # every verdict, then the breaches
            _table("Freshness", [r.as_row() for r in breached.results])
            raise
        _table("Freshness", [r.as_row() for r in results])
        return results

    _run_flow(config, check_and_show)


blocks_app = typer.Typer(
    help="Prefect blocks holding the Airbyte, Snowflake, dbt and S3 configuration.",
    no_args_is_help=True,
)
app.add_typer(blocks_app, name="blocks")
BlocksName = Annotated[str, typer.Option("--name", help="Name the blocks are saved under.")]


@blocks_app.command("register")
def blocks_register(name: BlocksName = "default") -> None:
    """Validate the environment/.env, then save every block (unchanged ones are left alone)."""
    from orchestration.blocks.register import describe, register_blocks, validated_blocks

    blocks = _run(validated_blocks)
    _run(_use_local_server)
    for saved in _run(lambda: register_blocks(blocks, name)):
        console.print(
            f"{saved.status:<9} {describe(saved.ref, saved.block)}", highlight=False, soft_wrap=True
        )


@blocks_app.command("show")
def blocks_show(
    name: Annotated[
        str | None, typer.Option("--name", help="Only the blocks of this name.")
    ] = None,
) -> None:
    """List the saved blocks, secrets masked."""
    from orchestration.blocks.register import describe, saved_blocks

    _run(_use_local_server)
    found = _run(lambda: saved_blocks(name))
    if not found:
        console.print(
            "no blocks saved"
            + (f" under the name {name!r}" if name else "")
            + ": register them with `elt blocks register"
            + (f" --name {name}`" if name else "`"),
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    for ref, block in found:
        console.print(describe(ref, block), highlight=False, soft_wrap=True)


automations_app = typer.Typer(
    help="Alerting as code: the automations of automations/*.yaml on the Prefect server.",
    no_args_is_help=True,
)
app.add_typer(automations_app, name="automations")


@automations_app.command("apply")
def automations_apply(
    dry_run: DryRun = False,
) -> None:
    """Create or update every automation by name (applying twice changes nothing). The alert
    webhook comes from ALERT_WEBHOOK_URL, saved as the Webhook block `elt-alerts`."""
    from orchestration.automations import apply
    from orchestration.config.blocks import require_api_url

    config = _configure(None, uses_server=True)
    _run(lambda: require_api_url("elt automations apply"))
    url = config.options.alert_webhook_url
    for applied in _run(lambda: apply(url, dry_run=dry_run)):
        console.print(f"{applied.status:<9} {applied.name}", highlight=False)
        if applied.diff and dry_run:
            console.print(applied.diff, highlight=False, markup=False)


@automations_app.command("show")
def automations_show() -> None:
    """List the automations on the Prefect server."""
    from orchestration.automations import show

    _run(_use_local_server)
    _table("Automations", _run(show))


limits_app = typer.Typer(
    help="Bounds across all workers: global concurrency limits on the Prefect server.",
    no_args_is_help=True,
)
app.add_typer(limits_app, name="limits")


@limits_app.command("apply")
def limits_apply(
    dry_run: DryRun = False,
    block: BlockName = None,
) -> None:
    """Create or resize the limits runs take slots of (applying twice changes nothing):
    airbyte-api (ELT_LIMIT_AIRBYTE_SYNCS) and, with Snowflake settings, the warehouse's
    (ELT_LIMIT_WAREHOUSE_BUILDS)."""
    from orchestration.config.blocks import require_api_url
    from orchestration.limits import apply, wanted_limits

    config = _configure(block, uses_server=True)
    _run(lambda: require_api_url("elt limits apply"))
    wanted = wanted_limits(config)
    for applied in _run(lambda: apply(wanted, dry_run=dry_run)):
        limit = applied.limit
        detail = applied.change or f"{limit.size} ({limit.setting})"
        _line(f"{applied.status:<9} {limit.name}: {detail}; {limit.bounds}")
    _print_repairs(wanted, dry_run, quiet=True)


@limits_app.command("repair")
def limits_repair(dry_run: DryRun = False, block: BlockName = None) -> None:
    """Free the slots no live run holds: those left by a Prefect server restart that lost its
    leases, or by a run that ended without giving its slot back. A live run's slot is never
    freed."""
    from orchestration.config.blocks import require_api_url
    from orchestration.limits import wanted_limits

    config = _configure(block, uses_server=True)
    _run(lambda: require_api_url("elt limits repair"))
    _print_repairs(wanted_limits(config), dry_run, quiet=False)


def _print_repairs(wanted: list[WantedLimit], dry_run: bool, *, quiet: bool) -> None:
    """One line per limit repaired (with `quiet`, none for a limit with nothing to free)."""
    from orchestration.limits import limits_to_repair, repair

    names = _run(lambda: limits_to_repair(wanted))
    for repaired in _run(lambda: repair(names, dry_run=dry_run, say=_line)):
        if not quiet or repaired.status != "ok":
            _line(f"{repaired.status:<9} {repaired.summary()}")


def _line(text: str) -> None:
    console.print(text, highlight=False, soft_wrap=True)


@limits_app.command("show")
def limits_show() -> None:
    """List the global concurrency limits on the Prefect server, with the slots in use and
    the runs holding them."""
    from orchestration.config.blocks import require_api_url
    from orchestration.limits import show

    _run(_use_local_server)
    _run(lambda: require_api_url("elt limits show"))
    _table("Global concurrency limits", _run(show))


server_app = typer.Typer(
    help="The local Prefect server elt commands share when no PREFECT_API_URL is set.",
    no_args_is_help=True,
)
app.add_typer(server_app, name="server")


@server_app.command("status")
def server_status() -> None:
    """Where the local Prefect server runs, and whether its services are failing."""
    from orchestration.local_server import running, service_failures

    server = _run(running)
    if server is None:
        console.print("no local Prefect server is running", highlight=False)
        raise typer.Exit(1)
    console.print(f"local Prefect server at {server.ui_url} (pid {server.pid})", highlight=False)
    failures = service_failures(server)
    if failures:
        from orchestration.local_server import home

        _fail(
            f"its log has errors since it started (the last {len(failures)} below; all in "
            f"{home() / 'prefect-server.log'}):\n" + "\n".join(failures)
        )


@server_app.command("stop")
def server_stop() -> None:
    """Stop the local Prefect server (the next elt command starts a new one on its port)."""
    from orchestration.local_server import processes_left, stop

    stopped = _run(stop)
    if stopped is None:
        console.print("no local Prefect server was running", highlight=False)
    elif processes_left(stopped):  # killed, yet not ended (stuck in a system call): said as it is
        _fail(
            f"the local Prefect server (pid {stopped.pid}) was killed but has not ended yet: "
            f"its port {stopped.port} is free once it has; check with `ps -p {stopped.pid}`"
        )
    else:
        console.print(
            f"stopped the local Prefect server at {stopped.ui_url} (pid {stopped.pid})",
            highlight=False,
        )


@app.command()
def ui() -> None:
    """Print (and open, where a browser is at hand) the Prefect UI the elt commands use."""
    from prefect.settings import get_current_settings

    _run(_use_local_server)
    settings = get_current_settings()
    url = settings.ui_url
    if not settings.api.url:
        _fail(
            "no Prefect server to show: ELT_LOCAL_SERVER is off and PREFECT_API_URL is not set; "
            "set either"
        )
    if not url:
        _fail("no Prefect UI address: set PREFECT_UI_URL (the UI of PREFECT_API_URL)")
    console.print(url, highlight=False)
    if sys.stdout.isatty():
        import webbrowser

        webbrowser.open(url)


@app.command()
def serve(
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Serve only this deployment of prefect.yaml (repeatable)."),
    ] = None,
    stop_within: Annotated[
        float | None,
        typer.Option(
            "--stop-within",
            min=1,
            help="Seconds a Ctrl-C or SIGTERM gives the runs and the schedule pausing before "
            "the process exits anyway [default: ELT_SERVE_STOP_SECONDS, else 25: inside "
            "Kubernetes' 30 s grace period].",
        ),
    ] = None,
) -> None:
    """Serve the deployments of prefect.yaml (same schedules) from this process, no work pool."""
    from orchestration.schedules.serve import serve as serve_deployments
    from orchestration.schedules.serve import serve_stop_seconds

    within = stop_within or _run(serve_stop_seconds)
    _run(_use_local_server)
    collector.resume()
    say = functools.partial(status_console.print, highlight=False, soft_wrap=True)
    received = _report_failures(lambda: serve_deployments(only, say, within))
    status_console.print(f"stopped serving ({received})", highlight=False)


@app.command()
def prepare(
    embedded: Annotated[
        bool,
        typer.Option(help="Also build the embedded PyAirbyte environment and its connector."),
    ] = False,
) -> None:
    """Install dbt packages and parse the project (and the embedded Airbyte) ahead of runs."""
    from orchestration.prepare import prepare_dbt, prepare_embedded

    console.print(_run(prepare_dbt), highlight=False)
    if embedded:
        console.print(_run(prepare_embedded), highlight=False)


def main() -> None:
    """The `elt` entry point. The garbage collector waits until the imports are done (commands
    that run work resume it first: `_run_flow`, `serve`) and skips its exit pass (see
    `orchestration.collector`)."""
    collector.pause_for_imports()
    interrupts.install()
    try:
        sys.exit(app())
    finally:
        collector.skip_at_exit()


if __name__ == "__main__":
    main()
