#!/usr/bin/env bash
# `make deploy-local`: a Prefect server on loopback, the `elt-process` work pool, the blocks
# registered from .env, every deployment of prefect.yaml, and a process worker running them.
# `make deploy-local-stop` stops the server and the worker. State lives in .elt/deploy-local/.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PREFECT_PORT:-4200}
STATE=$PWD/.elt/deploy-local
BLOCK=${ELT_BLOCK:-local}
BIN=$PWD/.venv/bin
export PREFECT_HOME=${PREFECT_HOME:-$STATE/prefect-home}
export PREFECT_API_URL=http://127.0.0.1:$PORT/api
export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1 DBT_SEND_ANONYMOUS_USAGE_STATS=false
export ELT_WORKDIR=$PWD
mkdir -p "$STATE"

stop() {  # SIGINT (the worker shuts down on it, not on SIGTERM), then SIGKILL after 30 s
    for name in worker server; do
        [ -f "$STATE/$name.pid" ] || continue
        pid=$(cat "$STATE/$name.pid")
        kill -INT "$pid" 2>/dev/null || true
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$STATE/$name.pid"
        echo "stopped the $name"
    done
}
[ "${1:-}" = stop ] && { stop; exit 0; }

healthy() {  # the project's own Python (no curl needed)
    "$BIN/python" -c "import httpx; httpx.get('$PREFECT_API_URL/health', timeout=2).raise_for_status()" \
        >/dev/null 2>&1
}

if healthy; then
    echo "Prefect server already answering on $PREFECT_API_URL"
else
    echo "starting a Prefect server on 127.0.0.1:$PORT (log: $STATE/server.log)"
    nohup "$BIN/prefect" server start --host 127.0.0.1 --port "$PORT" >"$STATE/server.log" 2>&1 &
    echo $! >"$STATE/server.pid"
    for _ in $(seq 180); do healthy && break; sleep 1; done
    healthy || { echo "error: the Prefect server did not start; see $STATE/server.log" >&2; exit 1; }
fi

"$BIN/prefect" work-pool inspect elt-process >/dev/null 2>&1 \
    || "$BIN/prefect" work-pool create elt-process --type process
echo "registering the blocks from the environment and .env as '$BLOCK'"
"$BIN/elt" blocks register --name "$BLOCK"
"$BIN/prefect" --no-prompt deploy --all
echo "applying the global concurrency limits (ELT_LIMIT_*)"
"$BIN/elt" limits apply
echo "applying the automations of automations/ (alerts to ALERT_WEBHOOK_URL)"
if ! "$BIN/elt" automations apply; then
    echo "note: the automations were not applied; set ALERT_WEBHOOK_URL in .env and run" \
        "\`elt automations apply\`" >&2
fi

if [ -f "$STATE/worker.pid" ] && kill -0 "$(cat "$STATE/worker.pid")" 2>/dev/null; then
    echo "worker already running (pid $(cat "$STATE/worker.pid"))"
else
    echo "starting a process worker on elt-process (log: $STATE/worker.log)"
    ELT_BLOCK=$BLOCK nohup "$BIN/prefect" worker start --pool elt-process >"$STATE/worker.log" 2>&1 &
    echo $! >"$STATE/worker.pid"
fi

cat <<DONE

Prefect UI:  http://127.0.0.1:$PORT
Run now:     PREFECT_API_URL=$PREFECT_API_URL .venv/bin/prefect deployment run full-pipeline/daily-full-pipeline
Stop:        make deploy-local-stop
DONE
