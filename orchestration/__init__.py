"""ELT orchestration on Prefect 3: Airbyte sync, dbt build, S3 sensor, freshness checks."""

import os

# Defaults for every entry point (`elt`, `python -m orchestration.flows...`, worker runs):
# telemetry off, and room for the ephemeral API's first start, which migrates its database
# and takes longer than Prefect's 20 s default on a small machine.
for _name, _value in {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}.items():
    os.environ.setdefault(_name, _value)

__version__ = "0.1.0"
