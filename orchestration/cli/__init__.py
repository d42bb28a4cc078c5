"""`elt`, the command line: `main.py` composes one module per command group; `_policy.py` is
the error policy they share, `_output.py` how they print, `_options.py` the options several
take."""

from orchestration.cli.main import app, main

__all__ = ["app", "main"]
