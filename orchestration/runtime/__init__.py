"""The process an `elt` command or a flow run lives in: signals and cancellation
(`interrupts`), the garbage collector (`collector`), the settings our processes run with
(`process_defaults`), heartbeats, the ticker that keeps long waits talking, logging, artifacts,
the events the project emits (`elt_events`) and the milestones a run reaches.
Nothing here knows about Airbyte, dbt or the configuration."""
