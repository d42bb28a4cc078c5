"""The garbage collector of an `elt` process: off while it imports, frozen before the work, not
run at exit. `elt` pauses it at start (`orchestration.cli.main`); the first action a command
runs under the error policy resumes it (`orchestration.cli._policy.guarded`), so no command
works with it off; commands import what they need before that first action.

Importing Prefect and dbt leaves about 200,000 objects in the collector's care, nearly all of
them living as long as the process. With the collector on, collections during the imports
rescan them (0.25 s), every full collection during the dbt build does again (0.4 s), and the
interpreter's final collection walks them and dbt's manifest at exit (0.6 s): 1.2 s of a 7 s
`elt transform` that plain `dbt build` does not pay in full. Freezing them (`gc.freeze`) moves
them out of the collector's reach; everything created after is collected as usual, so a
long-running command (the sensor, `serve`) keeps its memory in check. Exit still runs atexit
handlers (Prefect's log and event flushes), closes files and stops threads; it only skips the
last cycle hunt.
"""

from __future__ import annotations

import gc

__all__ = ["pause_for_imports", "resume", "skip_at_exit"]


def pause_for_imports() -> None:
    """At process start: no collection while the modules load (see `resume`)."""
    gc.disable()


def resume() -> None:
    """Before the work: what exists now lives as long as the process; collect the rest."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def skip_at_exit() -> None:
    """After the work: leave the process without its final full collection."""
    gc.freeze()
