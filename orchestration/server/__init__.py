"""The Prefect server as this project uses it: the local server `elt` commands share when no
PREFECT_API_URL is set (`local_server`), watching it while a run depends on it (`watch`),
ending the runs of processes that died (`lost_runs`), and what the repository declares made
true on a server (`applying`, `automations`)."""
