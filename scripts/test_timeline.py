"""Where a test run's wall time went, from the timeline `ELT_TEST_TIMELINE=FILE make test`
writes: each worker's busy time and how long it sat idle before the run ended, and the
longest tests of each worker (the critical path is the busiest worker's list), and the tests
that used the most CPU (their own process's and that of the processes they started and saw
end: a session's servers count at the end of the session).

    ELT_TEST_TIMELINE=/tmp/timeline.jsonl make test
    .venv/bin/python scripts/test_timeline.py /tmp/timeline.jsonl [--top 10]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path


def summary(lines: list[dict], top: int = 10) -> str:
    if not lines:
        return "no tests in the timeline"
    first = min(line["start"] for line in lines)
    last = max(line["end"] for line in lines)
    by_worker: dict[str, list[dict]] = defaultdict(list)
    for line in lines:
        by_worker[line["worker"]].append(line)
    out = [f"wall {last - first:.0f} s, {len(lines)} tests, {len(by_worker)} workers"]
    for worker, tests in sorted(by_worker.items()):
        busy = sum(t["end"] - t["start"] for t in tests)
        idle_at_end = last - max(t["end"] for t in tests)
        out.append(
            f"{worker}: {len(tests)} tests, busy {busy:.0f} s, idle {idle_at_end:.0f} s at the end"
        )
        longest = sorted(tests, key=lambda t: t["start"] - t["end"])[:top]
        out += [f"  {t['end'] - t['start']:6.1f} s  {t['test']}" for t in longest]
    if all("cpu" in line for line in lines):
        cpu = sum(line["cpu"] for line in lines)
        busy = sum(line["end"] - line["start"] for line in lines)
        out.append(f"cpu {cpu:.0f} s in {busy:.0f} s of tests ({cpu / busy:.0%} of a core each)")
        hungriest = sorted(lines, key=lambda t: -t["cpu"])[:top]
        out += [f"  {t['cpu']:6.1f} s  {t['test']}" for t in hungriest]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("timeline", type=Path)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    text = args.timeline.read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    print(summary(lines, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
