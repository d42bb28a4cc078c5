"""dagster-airbyte's way to sync Airbyte connections: `AirbyteWorkspace` (self-managed
Airbyte), whose assets call its client's `sync_and_poll` once per connection. For `make parity`
(bench/parity_airbyte.py), against the same fake Airbyte server as this project's client.

    parity/.venv/bin/python parity/dagster_airbyte_sync.py REQUEST_JSON

REQUEST_JSON: {"rest": URL, "configuration": URL, "client_id": ..., "client_secret": ...,
"connections": [...], "workspace_id": ..., "poll_interval": s, "poll_timeout": s,
"concurrency": n}. With no connections, the workspace's are synced, as its assets would be:
found by `fetch_airbyte_workspace_data` (the listing, then each connection's details and
destination).
Prints {connection: "succeeded" | "failed: <message>"} as JSON. Every other setting is the
resource's default (request retries, retry delay, cancel on termination)."""

import json
import sys
from concurrent.futures import ThreadPoolExecutor

from dagster_airbyte import AirbyteWorkspace


def workspace_from(request: dict, **options: object) -> AirbyteWorkspace:
    """The self-managed workspace a request names (its URLs, id and client credentials)."""
    return AirbyteWorkspace(
        rest_api_base_url=request["rest"],
        configuration_api_base_url=request["configuration"],
        workspace_id=request["workspace_id"],
        client_id=request["client_id"],
        client_secret=request["client_secret"],
        **options,
    )


def main() -> None:
    request = json.loads(sys.argv[1])
    workspace = workspace_from(
        request, poll_interval=request["poll_interval"], poll_timeout=request["poll_timeout"]
    )

    def sync(connection_id: str) -> str:
        client = workspace.get_client()  # one per asset run, as each op builds its own
        try:
            client.sync_and_poll(connection_id)
        except Exception as exc:
            return f"failed: {str(exc).splitlines()[0][:200]}"
        return "succeeded"

    connections = request["connections"]
    if not connections:
        try:
            data = workspace.fetch_airbyte_workspace_data()
        except Exception as exc:
            print(json.dumps({"*": f"failed: {str(exc).splitlines()[0][:200]}"}))
            return
        connections = list(data.connections_by_id)
    with ThreadPoolExecutor(request["concurrency"]) as pool:
        outcomes = dict(zip(connections, pool.map(sync, connections), strict=True))
    print(json.dumps(outcomes))


if __name__ == "__main__":
    main()
