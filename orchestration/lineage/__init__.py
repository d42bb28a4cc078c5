"""Lineage without Prefect Cloud: OpenLineage events for every sync, dbt node and freshness
check, sent where the standard OpenLineage configuration says, and a graph built from them.

- `naming`: one identity per dataset (OpenLineage's naming, shared with dbt's events);
- `events`: the events of a sync, a dbt invocation and a freshness check;
- `transport`: where they go (`OPENLINEAGE_URL`, `OPENLINEAGE_CONFIG`, `openlineage.yml`),
  never failing or slowing a run;
- `graph` and `page`: the graph of what ran, as text and as a self-contained HTML page.
"""
