"""The Prefect tasks (and the plain steps around them) that more than one flow runs: dbt
commands with live progress, `dbt deps` when packages changed, dbt's parse and `ls`, and the
steps of the drift check and of a backfill. A flow module imports from here, never from
another flow module."""
