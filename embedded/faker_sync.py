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
    parser.add_argument("--always-updated", action="store_true")
    args = parser.parse_args()

    # Keep stdout for our JSON protocol; PyAirbyte's console output goes to stderr.
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr

    def emit(event: str, **fields: object) -> None:
        protocol.write(json.dumps({"event": event, **fields}) + "\n")

    emit("loading")
    import airbyte as ab  # imported after the redirect: it prints on import

    config: dict[str, object] = {
        "count": args.count,
        "parallelism": 1,
        "always_updated": args.always_updated,
    }
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
    settings = Settings(args)
    result = source.read(cache=cache, write_strategy="auto", force_full_refresh=settings.changed)
    settings.save()
    counts, stream_bytes, total_bytes = read_counts(result)  # read in this sync
    emit(
        "result",
        streams={name: counts.get(name, 0) for name in streams},
        stream_bytes={name: stream_bytes.get(name, 0) for name in streams},
        bytes=total_bytes,
        seconds=round(time.monotonic() - started, 3),
    )
    return 0


class Settings:
    """What the connector generates (count, seed, streams), as of the last sync into this file.

    Incremental (`always_updated` false), source-faker emits nothing once a stream has a
    state, whatever its count (its `read_records` returns early when the state has an
    `updated_at`). So a sync whose settings differ from the last one's is a full refresh: the
    tables are replaced with what the new settings generate.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.path = args.duckdb.with_name(args.duckdb.name + ".faker.json")
        self.wanted = {"count": args.count, "seed": args.seed, "streams": args.streams}
        try:
            last = json.loads(self.path.read_text())
        except (OSError, ValueError):
            last = None
        self.changed = last is not None and last != self.wanted

    def save(self) -> None:
        self.path.write_text(json.dumps(self.wanted))


if __name__ == "__main__":
    sys.exit(main())
