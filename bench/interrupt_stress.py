"""Benchmark: Ctrl-C at any moment of a dbt build ends `elt transform` within 5 s, Cancelled.

dbt cancels the queries open when it is interrupted, then waits for its node threads; a node
that opens its connection a moment later would run to its end. `elt` keeps cancelling the
adapter's open queries until dbt returns (`orchestration.dbt.runner`). This proves it the way
a user meets it: for each project, real `elt transform` processes, each sent SIGINT (to its
process group, as a terminal's Ctrl-C) at a random moment of its run, with `--busy` processes
keeping the cores busy meanwhile; each must end within `TARGET_SECONDS` of the signal, exit
130, and leave its flow run Cancelled on the Prefect server (or, for a signal that came as the
run ended, while Prefect set its final state, Completed and exit 0: never Crashed, never
Failed).

Projects: a generated 100-model tree with a test per model, and the shipped project on a
warehouse one embedded `elt sync` filled (the connector cached in ELT_HOME).

    .venv/bin/python bench/interrupt_stress.py [--moments 30] [--busy 2] [--seed N]

The last line is `slowest exit after SIGINT: S s, ended Cancelled (or Completed as the signal
came): C of N` (target: S at most 5, C = N); exit status 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.generate_dbt_project import generate
from tests.servers import bench_server

REPO = Path(__file__).resolve().parents[1]
ELT = Path(sys.executable).parent / "elt"
TARGET_SECONDS = 5.0
RUN_DEADLINE = 600.0  # one uninterrupted `elt transform`, at most


@dataclass
class Outcome:
    moment: float  # seconds after the start that the signal was sent
    took: float | None  # seconds from the signal to the exit; None: it ended before
    returncode: int
    states: list[str]
    output: str = ""  # the process's last lines


def flow_run_states(api: str, since: str) -> list[str]:
    """The states of the flow runs created since `since` (a run cancelled before it started
    has no start time, so the filter is on the expected one)."""
    body = {"flow_runs": {"expected_start_time": {"after_": since}}, "limit": 50}
    runs = httpx.post(f"{api}/flow_runs/filter", json=body, timeout=30).json()
    return [run["state"]["type"] for run in runs]


def now_minus_a_second() -> str:
    """A bound for the runs a process starts from now (the server shares this clock)."""
    return (datetime.now(UTC) - timedelta(seconds=1)).isoformat()


def ended_cancelled(outcome: Outcome) -> bool:
    """Exit 130 and every run it recorded Cancelled (none, when the signal came first)."""
    return outcome.returncode == 130 and set(outcome.states) <= {"CANCELLED"}


def ended_as_it_finished(outcome: Outcome) -> bool:
    """The signal came as the run ended (after its last step, while Prefect set its final
    state): it Completed, and the process says so."""
    return outcome.returncode == 0 and bool(outcome.states) and set(outcome.states) == {"COMPLETED"}


def ended_well(outcome: Outcome) -> bool:
    return ended_cancelled(outcome) or ended_as_it_finished(outcome)


def run_once(args: list[str], env: dict[str, str], cwd: Path, moment: float | None) -> Outcome:
    """One `elt` process; with `moment`, SIGINT to its group that many seconds after start."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [str(ELT), *args],
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: the signal reaches it as Ctrl-C would
        )
        took = None
        try:
            if moment is not None:
                try:
                    process.wait(timeout=moment)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGINT)
                    signalled = time.monotonic()
                    try:
                        process.wait(timeout=TARGET_SECONDS * 6)
                    finally:
                        took = time.monotonic() - signalled
            process.wait(timeout=RUN_DEADLINE)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.seek(0)
        output = log.read().decode(errors="replace")
    return Outcome(moment or time.monotonic() - started, took, process.returncode, [], output)


def measure(name: str, args: list[str], env: dict[str, str], cwd: Path, moments: int,
            rng: random.Random) -> list[Outcome]:  # fmt: skip
    api = env["PREFECT_API_URL"]
    run_once(args, env, cwd, None)  # warm-up: partial parsing, tables created
    began = time.monotonic()
    whole = run_once(args, env, cwd, None)
    if whole.returncode != 0:
        raise SystemExit(f"{name}: `elt {' '.join(args)}` failed ({whole.returncode})")
    length = time.monotonic() - began
    outcomes = []
    for _ in range(moments):
        since = now_minus_a_second()
        outcome = run_once(args, env, cwd, rng.uniform(0.0, length))
        if outcome.took is not None:
            deadline = time.monotonic() + 30  # the final state reaches the server
            while time.monotonic() < deadline:
                outcome.states = flow_run_states(api, since)
                if all(s not in ("RUNNING", "PENDING", "SCHEDULED") for s in outcome.states):
                    break
                time.sleep(0.5)
        outcomes.append(outcome)
    signalled = [o for o in outcomes if o.took is not None]
    cancelled = [o for o in signalled if ended_cancelled(o)]
    finished = [o for o in signalled if ended_as_it_finished(o)]
    slowest = max((o.took or 0.0 for o in signalled), default=0.0)
    print(
        f"{name}: {moments} signals at random moments of a {length:.1f} s `elt transform`:"
        f" {len(cancelled)} of {len(signalled)} ended Cancelled (exit 130), {len(finished)}"
        f" Completed as the signal came, slowest {slowest:.2f} s after the signal (target"
        f" {TARGET_SECONDS:.0f} s); {moments - len(signalled)} finished before their signal"
    )
    for o in signalled:
        if not ended_well(o) or (o.took or 0) > TARGET_SECONDS:
            said = f"exit {o.returncode} after {o.took:.2f} s, runs {o.states}"
            print(f"  signal at {o.moment:.2f} s: {said}; its last lines:")
            print("\n".join(f"    {line}" for line in o.output.splitlines()[-15:]))
    return outcomes


def burn() -> None:
    while True:
        pass


@contextmanager
def cores_busy(count: int) -> Iterator[None]:
    burners = [multiprocessing.Process(target=burn, daemon=True) for _ in range(count)]
    for b in burners:
        b.start()
    try:
        yield
    finally:
        for b in burners:
            b.kill()
            b.join()


def shipped_project(folder: Path, env: dict[str, str], records: int) -> dict[str, str]:
    """The shipped project's environment, on a warehouse one embedded sync filled."""
    shipped = {
        **env,
        "DUCKDB_PATH": str(folder / "warehouse.duckdb"),
        "DBT_PROJECT_DIR": str(REPO / "dbt_project"),
        "DBT_TARGET_PATH": str(folder / "dbt-target"),
        "FAKER_COUNT": str(records),
    }
    synced = subprocess.run([str(ELT), "sync"], cwd=folder, env=shipped, capture_output=True,
                            text=True, timeout=RUN_DEADLINE)  # fmt: skip
    if synced.returncode != 0:
        raise SystemExit(f"elt sync failed:\n{synced.stdout}{synced.stderr}")
    return shipped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moments", type=int, default=30, help="signals per project")
    parser.add_argument("--busy", type=int, default=2, help="processes keeping cores busy")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--faker-count", type=int, default=1000, help="records per stream")
    options = parser.parse_args()
    seed = options.seed if options.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"seed {seed}; {options.busy} processes keep the cores busy")
    outcomes: list[Outcome] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        bench_server(Path(tmp) / "prefect-home", os.environ) as server,
    ):
        env = {**os.environ, **server, "ELT_LOCAL_SERVER": "0"}
        folder = Path(tmp)
        tree = generate(folder / "tree", models=options.models)
        tree_env = {**env, "BENCH_DUCKDB_PATH": str(folder / "tree.duckdb")}
        args = ["transform", "--project-dir", str(tree), "--profiles-dir", str(tree)]
        shipped_env = shipped_project(folder, env, options.faker_count)
        with cores_busy(options.busy):
            outcomes += measure(f"{options.models}-model tree", args, tree_env, folder,
                                options.moments, rng)  # fmt: skip
            outcomes += measure("shipped project", ["transform"], shipped_env, folder,
                                options.moments, rng)  # fmt: skip
    signalled = [o for o in outcomes if o.took is not None]
    well = sum(ended_well(o) for o in signalled)
    slowest = max((o.took or 0.0 for o in signalled), default=0.0)
    print(
        f"slowest exit after SIGINT: {slowest:.2f} s, ended Cancelled (or Completed as the"
        f" signal came): {well} of {len(signalled)}"
    )
    return 0 if slowest <= TARGET_SECONDS and well == len(signalled) else 1


if __name__ == "__main__":
    raise SystemExit(main())
