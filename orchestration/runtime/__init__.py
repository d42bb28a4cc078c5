"""The process an `elt` command or a flow run lives in: signals and cancellation
(`interrupts`), the garbage collector (`collector`), heartbeats, the ticker that keeps long
waits talking, logging, artifacts, and the milestones a run reaches.
Nothing here knows about Airbyte, dbt or the configuration."""
