#!/usr/bin/env bash
# `make deploy-local`: the Prefect server every `elt` command uses (the local one, started when
# needed, or PREFECT_API_URL), the `elt-process` work pool, the blocks registered from the
# environment and .env of the working folder, every deployment of prefect.yaml, the limits and
# automations, and a process worker running them; it ends by checking the server's services.
# `make deploy-local-stop` stops the worker and the local server. The worker's state lives in
# ELT_HOME/deploy-local/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/.venv/bin
BLOCK=${ELT_BLOCK:-local}
export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1 DBT_SEND_ANONYMOUS_USAGE_STATS=false
export ELT_WORKDIR=$ROOT

home=$("$BIN/python" -c "from orchestration.server.local_server import home; print(home())")
STATE=$home/deploy-local
mkdir -p "$STATE"

stop() {  # the worker: SIGTERM, SIGKILL after 10 s; then the local server
    if [ -f "$STATE/worker.pid" ]; then
        pid=$(cat "$STATE/worker.pid")
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$STATE/worker.pid"
        echo "stopped the worker"
    fi
    "$BIN/elt" server stop
}
[ "${1:-}" = stop ] && { stop; exit 0; }

# The server the elt commands use; every command below talks to it.
ui=$("$BIN/elt" ui)
export PREFECT_API_URL=$ui/api
echo "Prefect server: $ui"

# the pool's runs send a heartbeat every 30 s (its base job template's environment)
"$BIN/prefect" work-pool create elt-process --type process --overwrite \
    --base-job-template "$ROOT/deploy/process/base-job-template.json" >/dev/null
echo "work pool elt-process ready"
echo "registering the blocks from the environment and .env as '$BLOCK'"
"$BIN/elt" blocks register --name "$BLOCK"
# Prefect's output ends each deployment with a hint to start a worker: this script starts one
# below, so only the deployments are shown (everything, when the deploy fails).
if ! deployed=$(cd "$ROOT" && COLUMNS=250 "$BIN/prefect" --no-prompt deploy --all 2>&1); then
    echo "$deployed" >&2
    exit 1
fi
echo "$deployed" | grep -oE "Deployment '[^']+' successfully (created|updated)[^.]*" \
    || echo "$deployed"
# A sensor with no landing zone could only start failing runs: its schedule is paused, said once.
"$BIN/python" -c "
import sys
from orchestration.schedules.unworkable import pause_if_unworkable
note = pause_if_unworkable(sys.argv[1])
if note:
    print(note, file=sys.stderr)
" "$BLOCK"
echo "applying the global concurrency limits (ELT_LIMIT_*)"
"$BIN/elt" limits apply
echo "applying the automations of automations/ (alerts to ALERT_WEBHOOK_URL)"
# Alerts are optional: without a webhook (ALERT_WEBHOOK_URL) that is a note, not an error.
if applied=$("$BIN/elt" automations apply 2>&1); then
    echo "$applied"
elif grep -q "which is not saved" <<<"$applied"; then
    echo "note: the automations were not applied: no alert webhook; set ALERT_WEBHOOK_URL in" \
        ".env (e.g. a Slack incoming webhook) and run \`elt automations apply\`" >&2
else
    echo "$applied" >&2
    exit 1
fi

if [ -f "$STATE/worker.pid" ] && kill -0 "$(cat "$STATE/worker.pid")" 2>/dev/null; then
    echo "worker already running (pid $(cat "$STATE/worker.pid"))"
else
    echo "starting a process worker on elt-process (log: $STATE/worker.log)"
    # bash starts a background job with SIGINT ignored, and Python keeps it ignored: the
    # worker is started with SIGINT at its default (exec resets the handler), so it stops
    # on Ctrl-C's signal as on SIGTERM.
    ELT_BLOCK=$BLOCK nohup "$BIN/python" -c "
import os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
os.execv(sys.argv[1], sys.argv[1:])
" "$BIN/prefect" worker start --pool elt-process >"$STATE/worker.log" 2>&1 &
    echo $! >"$STATE/worker.pid"
fi

# A failing server service (the scheduler, say) is otherwise silent: check its log.
local=$("$BIN/python" -c "from orchestration.server.local_server import running as r; s = r(); print(s.ui_url if s else '')")
if [ "$local" = "$ui" ]; then
    "$BIN/elt" server status
fi

cat <<DONE

Prefect UI:  $ui
Run now:     PREFECT_API_URL=$PREFECT_API_URL $BIN/prefect deployment run full-pipeline/daily-full-pipeline
Stop:        make deploy-local-stop
DONE
