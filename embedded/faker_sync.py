"""Embedded Airbyte: run the real source-faker connector through PyAirbyte into DuckDB.

Runs inside the isolated environment of this folder (PyAirbyte pins packages the production
environment must not inherit). It is driven by `orchestration.airbyte.pyairbyte`, which reads the
JSON lines this script prints on stdout; everything PyAirbyte prints goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from upstream import read_counts  # this folder's own home of private PyAirbyte names

CONNECTOR = "source-faker"
CONNECTOR_PACKAGE = "airbyte-source-faker"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duckdb", required=True, type=Path)
    parser.add_argument("--schema", default="raw")
    parser.add_argument("--streams", default="users,products,purchases")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()

    # Keep stdout for our JSON protocol; PyAirbyte's console output goes to stderr.
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr

    def emit(event: str, **fields: object) -> None:
        protocol.write(json.dumps({"event": event, **fields}) + "\n")

    emit("loading")
    import airbyte as ab  # imported after the redirect: it prints on import

    config: dict[str, object] = {"count": args.count, "parallelism": 1}
    if args.seed is not None:
        config["seed"] = args.seed
    install_root = Path(os.environ["AIRBYTE_PROJECT_DIR"])
    if not (install_root / f".venv-{CONNECTOR}" / "bin" / CONNECTOR).exists():
        emit("installing_connector", connector=CONNECTOR, package=CONNECTOR_PACKAGE)
    source = ab.get_source(
        CONNECTOR,
        config=config,
        pip_url=CONNECTOR_PACKAGE,
        install_if_missing=True,
        install_root=install_root,
    )
    streams = [s for s in args.streams.split(",") if s]
    emit("discovering")
    source.select_streams(streams)
    args.duckdb.parent.mkdir(parents=True, exist_ok=True)
    cache = ab.DuckDBCache(
        db_path=args.duckdb,
        schema_name=args.schema,
        cache_dir=install_root / ".cache",
    )
    emit("reading", connector=CONNECTOR, streams=streams, count=args.count)
    started = time.monotonic()
    result = source.read(cache=cache, write_strategy="auto")
    counts, stream_bytes, total_bytes = read_counts(result)  # read in this sync
    emit(
        "result",
        streams={name: counts.get(name, 0) for name in streams},
        stream_bytes={name: stream_bytes.get(name, 0) for name in streams},
        bytes=total_bytes,
        seconds=round(time.monotonic() - started, 3),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
