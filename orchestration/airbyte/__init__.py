"""Airbyte backends: the embedded PyAirbyte runner and (production) the Airbyte HTTP API."""
