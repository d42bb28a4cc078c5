"""Prefect blocks holding the Airbyte, Snowflake, dbt and S3 configuration."""
