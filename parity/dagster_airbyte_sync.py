"""dagster-airbyte's way to sync Airbyte connections: `AirbyteWorkspace` (self-managed
Airbyte), whose assets call its client's `sync_and_poll` once per connection. For `make parity`
(bench/parity_airbyte.py), against the same fake Airbyte server as this project's client.

    parity/.venv/bin/python parity/dagster_airbyte_sync.py REQUEST_JSON

REQUEST_JSON: {"rest": URL, "configuration": URL, "client_id": ..., "client_secret": ...,
"connections": [...], "poll_interval": s, "poll_timeout": s, "concurrency": n}.
Prints {connection: "succeeded" | "failed: <message>"} as JSON. Every other setting is the
resource's default (request retries, retry delay, cancel on termination)."""

import json
import sys
from concurrent.futures import ThreadPoolExecutor

from dagster_airbyte import AirbyteWorkspace


def main() -> None:
    request = json.loads(sys.argv[1])
    workspace = AirbyteWorkspace(
        rest_api_base_url=request["rest"],
        configuration_api_base_url=request["configuration"],
        workspace_id="parity-workspace",
        client_id=request["client_id"],
        client_secret=request["client_secret"],
        poll_interval=request["poll_interval"],
        poll_timeout=request["poll_timeout"],
    )

    def sync(connection_id: str) -> str:
        client = workspace.get_client()  # one per asset run, as each op builds its own
        try:
            client.sync_and_poll(connection_id)
        except Exception as exc:
            return f"failed: {str(exc).splitlines()[0][:200]}"
        return "succeeded"

    with ThreadPoolExecutor(request["concurrency"]) as pool:
        connections = request["connections"]
        outcomes = dict(zip(connections, pool.map(sync, connections), strict=True))
    print(json.dumps(outcomes))


if __name__ == "__main__":
    main()
