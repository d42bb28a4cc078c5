"""`elt blocks`: the Prefect blocks holding the Airbyte, Snowflake, dbt and S3 configuration."""

from __future__ import annotations

from typing import Annotated

import typer

from orchestration.cli._output import line
from orchestration.cli._policy import guarded, use_local_server

__all__ = ["app"]

app = typer.Typer(
    help="Prefect blocks holding the Airbyte, Snowflake, dbt and S3 configuration.",
    no_args_is_help=True,
)


@app.command("register")
def register(
    name: Annotated[
        str, typer.Option("--name", help="Name the blocks are saved under.")
    ] = "default",
) -> None:
    """Validate the environment/.env, then save every block (unchanged ones are left alone)."""
    from orchestration.blocks.register import register_blocks, validated_blocks
    from orchestration.blocks.saved import describe

    blocks = guarded(validated_blocks)
    use_local_server()
    for saved in guarded(lambda: register_blocks(blocks, name)):
        line(f"{saved.status:<9} {describe(saved.ref, saved.block)}")


@app.command("show")
def show(
    name: Annotated[
        str | None, typer.Option("--name", help="Only the blocks of this name.")
    ] = None,
) -> None:
    """List the saved blocks, secrets masked."""
    from orchestration.blocks.saved import describe, saved_blocks

    use_local_server()
    found = guarded(lambda: saved_blocks(name))
    if not found:
        line(
            "no blocks saved"
            + (f" under the name {name!r}" if name else "")
            + ": register them with `elt blocks register"
            + (f" --name {name}`" if name else "`")
        )
        raise typer.Exit(1)
    for ref, block in found:
        line(describe(ref, block))
