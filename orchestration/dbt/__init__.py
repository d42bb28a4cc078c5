"""dbt invocation and result summaries."""
