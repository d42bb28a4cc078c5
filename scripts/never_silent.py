"""never_silent.py [--max-silence S] -- COMMAND...: run COMMAND as a user would watch it and
fail when it says nothing for more than S seconds (5 by default), from its first moment to its
last, installs included. Its output passes through, each line with the seconds since the start.

CI runs `make run` on its fresh clone through it (.ci/run): the README promises that no step of
the first command is silent, and only a fresh clone has every step (uv, the environments, the
connector, the first server start)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-silence", type=float, default=5.0)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command: never_silent.py -- COMMAND...")
    start = last = time.monotonic()
    longest, before = 0.0, ""
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as process:
        assert process.stdout is not None
        for raw in process.stdout:
            now = time.monotonic()
            line = raw.decode(errors="replace").rstrip("\n")
            if now - last > longest:
                longest, before = now - last, line
            last = now
            print(f"[{now - start:7.1f}s] {line}", flush=True)
    end = time.monotonic()
    if end - last > longest:
        longest, before = end - last, "(the end)"
    print(f"never_silent: the longest silence was {longest:.1f} s, before {before!r}")
    if process.returncode:
        print(f"never_silent: {' '.join(command)} exited {process.returncode}", file=sys.stderr)
        return process.returncode
    if longest > args.max_silence:
        print(
            f"error: {' '.join(command)} said nothing for {longest:.1f} s (more than "
            f"{args.max_silence:g} s) before {before!r}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
