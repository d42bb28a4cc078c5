"""ELT orchestration on Prefect 3: Airbyte sync, dbt build, S3 sensor, freshness checks.

Importing the package changes nothing in the process: the settings our own processes run with
are applied when one starts (`orchestration.runtime.process_defaults`).
"""

import logging

# A `.env` line python-dotenv cannot parse: it warns once per Prefect setting that reads the
# file (hundreds of lines); `orchestration.config.sources.read_environment` says it once, as
# an error naming the line. (A logger's level, not the environment.)
logging.getLogger("dotenv.main").setLevel(logging.ERROR)

__version__ = "0.1.0"
