"""ELT orchestration on Prefect 3: Airbyte sync, dbt build, S3 sensor, freshness checks."""

__version__ = "0.1.0"
