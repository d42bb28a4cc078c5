"""Generate a DuckDB dbt project of N models and N tests for benchmarks/tests: a tree (model i
reads model (i-1)//2) or a fan-out (every model reads the first one)."""

from __future__ import annotations

import argparse
from pathlib import Path

PROFILE = """\
bench:
  target: local
  outputs:
    local:
      type: duckdb
      path: "{{ env_var('BENCH_DUCKDB_PATH', 'bench.duckdb') }}"
      schema: main
      threads: 4
"""


SHAPES = ("tree", "fanout")


def generate(root: Path, models: int = 100, shape: str = "tree") -> Path:
    """Write the project under `root`. `tree`: model i reads model (i-1)//2; `fanout`: every
    model reads model 0, so all but one can run at once."""
    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "dbt_project.yml").write_text(
        "name: bench\nversion: '1.0.0'\nconfig-version: 2\nprofile: bench\n"
        "model-paths: [models]\nflags:\n  send_anonymous_usage_stats: false\n"
        "models:\n  bench:\n    +materialized: table\n"
    )
    (root / "profiles.yml").write_text(PROFILE)
    schema = ["version: 2", "models:"]
    for i in range(models):
        if i == 0:
            sql = "select range as id, range * 2 as amount from range(1000)"
        else:
            parent = 0 if shape == "fanout" else (i - 1) // 2
            sql = f"select id, amount + {i} as amount from {{{{ ref('model_{parent:03d}') }}}}"
        (root / "models" / f"model_{i:03d}.sql").write_text(sql + "\n")
        schema += [
            f"  - name: model_{i:03d}",
            "    columns:",
            "      - name: id",
            "        data_tests: [not_null]",
        ]
    (root / "models" / "schema.yml").write_text("\n".join(schema) + "\n")
    return root


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--shape", choices=SHAPES, default="tree")
    args = parser.parse_args()
    print(generate(args.path, args.models, args.shape))
