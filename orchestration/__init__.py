"""ELT orchestration on Prefect 3: Airbyte sync, dbt build, S3 sensor, freshness checks."""

import logging
import os

# Defaults for the processes that import us before Prefect (`elt`, `elt serve` and its runs,
# `python -m orchestration.flows...`): telemetry off; room for the ephemeral API's first start,
# which migrates its database and takes longer than Prefect's 20 s default on a small machine;
# a flow run heartbeat every 30 s (Prefect's default is 180 s), which
# automations/flow-run-lost.yaml relies on. A worker's flow runs import Prefect first: the
# work pools' base job templates (deploy/) and the image set the heartbeat for them.
for _name, _value in {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
}.items():
    os.environ.setdefault(_name, _value)

# A `.env` line python-dotenv cannot parse: it warns once per Prefect setting that reads the
# file (hundreds of lines); `orchestration.config.sources.read_environment` says it once, as
# an error naming the line.
logging.getLogger("dotenv.main").setLevel(logging.ERROR)

__version__ = "0.1.0"
