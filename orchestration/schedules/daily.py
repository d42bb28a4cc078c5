"""The daily full pipeline: 06:00 UTC, after overnight loads and before the working day."""

DAILY_SCHEDULE = "0 6 * * *"
DAILY_TIMEZONE = "UTC"
