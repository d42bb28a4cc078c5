"""Schedules of the deployments (prefect.yaml must agree: a test compares them)."""
