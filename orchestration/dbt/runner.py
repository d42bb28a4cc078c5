"""Run dbt in-process through its programmatic API (`dbtRunner`) and collect node results.

In-process avoids a second Python start-up and gives structured events, which `progress`
turns into live progress without a Prefect task per node (the cost that makes per-node task
runs several times slower than dbt itself).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

from dbt.cli.main import dbtRunner

from orchestration.dbt.run_results import DbtRunResult, NodeResult, declares_sla
from orchestration.runtime import interrupts

LOST_AFTER = 1.0  # seconds after a stop: a node dbt starts then never saw the interruption


def run_dbt(
    args: list[str],
    env: Mapping[str, str],
    *,
    callbacks: Sequence[Callable[[Any], None]] = (),
    runner: Any = None,
) -> DbtRunResult:
    """Invoke dbt with `args`; never raises for dbt failures, the result says what failed.

    `env` is exported for the profile's `env_var()` calls while dbt runs.
    `callbacks` receive dbt's structured events as they happen (see `progress.NodeProgress`).
    `runner` replaces dbt's own `dbtRunner` (e.g. prefect-dbt's, which logs for itself).
    """
    command = "source freshness" if args[:2] == ["source", "freshness"] else args[0]
    started = time.monotonic()
    unmatched: list[str] = []

    def note_unmatched(event: Any) -> None:  # a warning dbt's --quiet would hide
        if event.info.name == "NoNodesForSelectionCriteria":
            unmatched.append(str(event.data.spec_raw))

    with (
        exported_env(env),
        interrupts.signals_as_keyboard_interrupt(),
        cancelling_late_queries_once_stopped() as note_late_start,
    ):
        try:
            if runner is None:
                all_callbacks = [note_unmatched, note_late_start, *callbacks]
                res = dbtRunner(callbacks=all_callbacks).invoke([*args, *terminal_log_args()])
            else:
                res = runner.invoke(args)
        finally:
            release_duckdb()
    if isinstance(res.exception, KeyboardInterrupt):  # dbt cancelled its queries, wrote results
        raise res.exception
    if not res.success and interrupts.STOP.is_set():  # its failure is the cancel's doing (a
        raise interrupts.Interrupted(interrupts.stop_signal())  # query cancelled, a closed
        # connection) when the interrupt landed where dbt does not take it as one
    elapsed = time.monotonic() - started
    nodes = node_results(res.result)
    error = None
    if not res.success and not any(n.failed for n in nodes):
        error = str(res.exception) if res.exception else _result_error(res.result)
    # dbt's command line: 2 when it raised (could not parse, compile or start), 1 otherwise
    exit_code = 0 if res.success else 2 if res.exception is not None else 1
    return DbtRunResult(
        command=command,
        success=bool(res.success),
        nodes=nodes,
        error=error,
        elapsed_s=elapsed,
        unmatched=unmatched,
        exit_code=exit_code,
        raw=res.result,
    )


@contextmanager
def cancelling_late_queries_once_stopped(every: float = 0.5) -> Iterator[Callable[[Any], None]]:
    """On Ctrl-C dbt cancels the queries open at that moment, then waits for its node threads
    (`_cancel_connections`). A thread that opens its connection a moment later (dbt opens them
    lazily) runs its query to the end, minutes, while dbt waits and the user sees nothing. So,
    once the process is told to stop, the open queries are cancelled again every `every`
    seconds until dbt returns (a cancel of an idle connection does nothing).

    And a signal whose exception dbt never saw (it landed in a finalizer while dbt parsed)
    would leave dbt starting node after node, each cancelled under it: a node that starts
    `LOST_AFTER` seconds after the stop (dbt, interrupted, starts none) has the interruption
    raised in the main thread again. Yields the dbt callback that watches for such a start."""
    from dbt.adapters.factory import FACTORY

    returned = threading.Event()
    started_late = threading.Event()
    stopped_at: list[float] = []

    def note_start(event: Any) -> None:  # a dbt callback, in whichever thread fires it
        late = stopped_at and time.monotonic() - stopped_at[0] >= LOST_AFTER
        if late and event.info.name == "NodeStart":
            started_late.set()

    def watch() -> None:
        while not returned.wait(every):
            if not interrupts.STOP.is_set():
                continue
            if not stopped_at:
                stopped_at.append(time.monotonic())
            if started_late.is_set():
                started_late.clear()
                interrupts.redeliver()
            for adapter in list(FACTORY.adapters.values()):
                try:
                    cast(Any, adapter).cancel_open_connections()  # BaseAdapter's, public
                except Exception:  # a cancel that fails is dbt's to report, not ours
                    logging.getLogger("elt").debug("cancelling dbt's queries", exc_info=True)

    watcher = threading.Thread(target=watch, name="dbt-late-cancel", daemon=True)
    watcher.start()
    try:
        yield note_start
    finally:
        returned.set()
        watcher.join(timeout=5)


def terminal_log_args() -> list[str]:
    """dbt prints nothing to the terminal: progress comes from its events, and a failure is
    reported once, in one line, from its result (with its traceback, if any, in dbt's own log
    file). `elt --debug` (ELT_DEBUG=1) gives dbt's whole output back.

    dbt's log file stays as dbt would write it: `--log-level` also sets the file's level
    unless that is given, so it is given, as the user set it or at dbt's default (debug)."""
    if os.environ.get("ELT_DEBUG") == "1":
        return []
    file_level = os.environ.get("DBT_LOG_LEVEL_FILE") or os.environ.get("DBT_LOG_LEVEL")
    return ["--log-level", "none", "--log-level-file", file_level or "debug"]


@contextmanager
def exported_env(values: Mapping[str, str]) -> Iterator[None]:
    """Export `values` to the process environment for dbt's `env_var()`, then restore it."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def release_duckdb() -> None:
    """Close the DuckDB database dbt-duckdb keeps open in this process after a command.

    DuckDB lets one process write a file: left open, it would lock out the embedded Airbyte
    (a subprocess) and clash with our own read-only connection for the freshness check.
    dbt-duckdb keeps its environment (and the database) open across invocations on purpose
    (dbt-duckdb #616); its public `close_all_connections()` only drops the reference, which
    leaves the file open until a garbage collection, so the environment is closed here.
    `tests/unit/test_dbt_runner.py` fails if the file stays open after a build.
    """
    from dbt.adapters.factory import reset_adapters

    reset_adapters()  # drops the adapters' cached connections (and their DuckDB cursors)
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:
        return
    try:
        environment = DuckDBConnectionManager.env()  # raises when none was created
    except Exception:
        environment = None
    DuckDBConnectionManager.close_all_connections()  # drops the manager's reference only
    if environment is not None:
        environment.close()


def node_results(result: object) -> list[NodeResult]:
    nodes = []
    for r in getattr(result, "results", None) or []:
        node = getattr(r, "node", None)
        if node is None:
            continue
        adapter_response = getattr(r, "adapter_response", None) or {}
        rows = adapter_response.get("rows_affected") if isinstance(adapter_response, dict) else None
        status = getattr(r.status, "value", r.status)
        nodes.append(
            NodeResult(
                unique_id=node.unique_id,
                name=node.name,
                resource_type=str(getattr(node.resource_type, "value", node.resource_type)),
                status=str(status),
                duration_s=float(getattr(r, "execution_time", 0.0) or 0.0),
                rows_affected=rows if isinstance(rows, int) and rows >= 0 else None,
                message=str(getattr(r, "message", "") or ""),
                has_sla=declares_sla(getattr(node, "meta", None), _config_meta(node)),
            )
        )
    return nodes


def _config_meta(node: Any) -> Any:
    return getattr(getattr(node, "config", None), "meta", None)


def _result_error(result: object) -> str:
    return str(result) if result is not None else "dbt did not start (see the dbt log above)"
