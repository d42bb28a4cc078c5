"""Publish results to Prefect as artifacts (visible on the flow run page)."""

from __future__ import annotations

from collections.abc import Sequence

from prefect.artifacts import create_markdown_artifact, create_table_artifact


def publish_table(key: str, rows: Sequence[dict[str, object]], description: str) -> None:
    create_table_artifact(key=key, table=list(rows), description=description)


def publish_markdown(key: str, markdown: str, description: str) -> None:
    create_markdown_artifact(key=key, markdown=markdown, description=description)
