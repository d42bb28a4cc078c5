"""Where `elt` writes: the command's own output on stdout, summaries of commands whose stdout
is data and every `error:` line on stderr. One table and one line shape for every command."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

__all__ = ["console", "error", "fail", "line", "status", "status_console", "table"]

console = Console()
status_console = Console(stderr=True)  # summaries of commands whose stdout is data
error_console = Console(stderr=True)  # `error:` lines never mix with a command's output


def line(text: str) -> None:
    """One line of a command's output, as written: no markup (a bucket named `[x]` is text), no
    highlighting, no wrapping."""
    console.print(text, highlight=False, soft_wrap=True, markup=False)


def status(text: str) -> None:
    """One line on stderr: progress or a summary beside data on stdout (as written, as `line`)."""
    status_console.print(text, highlight=False, soft_wrap=True, markup=False)


def error(text: str) -> None:
    error_console.print(f"[red]error:[/red] {escape(text)}", highlight=False, soft_wrap=True)


def fail(message: str) -> NoReturn:
    """One `error:` line, exit 1."""
    error(message)
    raise typer.Exit(1)


def table(title: str, rows: list[dict[str, object]]) -> None:
    """Rows (dicts of the same keys) as a table; nothing for no rows. Cells are text (never
    markup). On a terminal the table fits its width; piped or redirected, it keeps its whole
    width, so no value is cut ("succeed…") where nobody can widen the window."""
    if not rows:
        return
    shown = Table(title=title, title_justify="left")
    for column in rows[0]:
        shown.add_column(Text(str(column)))
    for row in rows:
        shown.add_row(*(Text(str(v)) for v in row.values()))
    if console.is_terminal:
        console.print(shown)
        return
    natural = console.measure(shown, options=console.options.update(width=10_000)).maximum
    Console(file=console.file, width=max(natural, console.width)).print(shown)
