"""A flow run holding one slot of a global concurrency limit until a file appears: a holder
process that the restart tests release, or kill.

    python -m tests.slot_holder LIMIT WHAT RELEASE_FILE RENEW_SECONDS
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from prefect import flow, task

import orchestration.limits.renewal as lease
from orchestration.limits import fleet_slot


@task(task_run_name="hold {what}")
def hold(limit: str, what: str, release: Path) -> None:
    with fleet_slot(limit, f"hold {what}"):
        print("holding", flush=True)
        while not release.exists():
            time.sleep(0.1)


@flow(name="slot-holder")
def slot_holder(limit: str, what: str, release: str) -> None:
    hold(limit, what, Path(release))


if __name__ == "__main__":
    limit, what, release, renew = sys.argv[1:5]
    lease.RENEW_SECONDS = float(renew)  # quicker than a minute: a lost lease replaced in time
    slot_holder(limit, what, release)
