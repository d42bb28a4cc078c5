"""Programs from the system's (Debian's) packages that some tests need: found where installed,
installed when missing and the tests run as root (as CI does), else None."""

from __future__ import annotations

import fcntl
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path


def debian_program(name: str, package: str, *, pattern: str | None = None) -> str | None:
    """The path of program `name` (on PATH, or the last match of the glob `pattern`),
    installing `package` with apt-get first when it is missing and we may."""
    found = _find(name, pattern)
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        # one install at a time across the test workers (dpkg takes one lock anyway)
        with open(Path(tempfile.gettempdir()) / "elt-tests-apt.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            found = _find(name, pattern)
            if found is None:
                for command in (
                    ["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", package],
                ):
                    subprocess.run(command, check=True, capture_output=True, timeout=900)
                found = _find(name, pattern)
    return found


def _find(name: str, pattern: str | None) -> str | None:
    if pattern:
        matches = sorted(glob.glob(pattern))
        if matches:
            return matches[-1]
    return shutil.which(name)
