"""scripts/test_timeline.py on a timeline as the tests' hook writes it (tests/conftest.py,
`ELT_TEST_TIMELINE`): what each worker did, how long it waited for the other at the end, and
the CPU the tests used."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def summary_of(tmp_path: Path, tests: list[dict]) -> list[str]:
    """The script's lines (`--top 1`) on a timeline of `tests`."""
    timeline = tmp_path / "timeline.jsonl"
    timeline.write_text("".join(json.dumps(test) + "\n" for test in tests))
    said = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "test_timeline.py"), str(timeline), "--top", "1"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert said.returncode == 0, said.stderr
    return said.stdout.splitlines()


def test_the_timeline_says_each_workers_busy_time_idle_tail_and_longest_tests(tmp_path):
    tests = [  # gw0 works 0..100 s; gw1 ends at 40 s and waits 60 s for it
        ("gw0", "tests/a.py::test_long", 0.0, 90.0),
        ("gw0", "tests/a.py::test_short", 90.0, 100.0),
        ("gw1", "tests/b.py::test_one", 0.0, 40.0),
    ]
    lines = [{"worker": w, "test": t, "start": 1e9 + s, "end": 1e9 + e} for w, t, s, e in tests]
    assert summary_of(tmp_path, lines) == [
        "wall 100 s, 3 tests, 2 workers",
        "gw0: 2 tests, busy 100 s, idle 0 s at the end",
        "    90.0 s  tests/a.py::test_long",
        "gw1: 1 tests, busy 40 s, idle 60 s at the end",
        "    40.0 s  tests/b.py::test_one",
    ]


def test_with_cpu_times_it_says_the_share_of_a_core_and_the_hungriest_tests(tmp_path):
    tests = [("gw0", "tests/a.py::test_waits", 0.0, 80.0, 8.0),
             ("gw1", "tests/b.py::test_computes", 0.0, 20.0, 20.0)]  # fmt: skip
    lines = [{"worker": w, "test": t, "start": s, "end": e, "cpu": c} for w, t, s, e, c in tests]
    assert summary_of(tmp_path, lines)[-2:] == [
        "cpu 28 s in 100 s of tests (28% of a core each)",
        "    20.0 s  tests/b.py::test_computes",
    ]
