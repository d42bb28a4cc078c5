#!/usr/bin/env bash
# `make test-image`: build the lean and the embedded image, then run them as `docker run` would.
# With a Docker engine, docker does it; without one (this project's CI), buildah builds with
# chroot isolation and runs the image's entrypoint in a working container. The base image is
# pulled, or stood in for locally when no registry is reachable (scripts/image-base-standin.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-elt-orchestration}
LEAN=$IMAGE:test
EMBEDDED=$IMAGE:test-embedded
BASE_IMAGE=$(sed -n 's/^ARG BASE_IMAGE=//p' Dockerfile)

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    ENGINE=docker
else
    ENGINE=buildah
    if ! command -v buildah >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
        [ "$(id -u)" = 0 ] || { echo "error: no Docker engine; install buildah and debootstrap (as root)" >&2; exit 1; }
        echo "no Docker engine: installing buildah and debootstrap"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah debootstrap >/dev/null
    fi
    bash scripts/image-base-standin.sh "$BASE_IMAGE"
fi

disk_free() {  # what buildah writes to: its storage, and the temp dir a commit copies layers into
    local dir dirs=()
    for dir in /var/lib/containers "${TMPDIR:-/var/tmp}"; do [ -d "$dir" ] && dirs+=("$dir"); done
    df -h --output=target,avail "${dirs[@]:-/}"
}

build() {  # build TAG [BUILD ARGS...]; the build's output goes to a log, shown on failure
    local tag=$1; shift
    local log=${TMPDIR:-/tmp}/elt-image-build-${tag//[:\/]/-}.log
    echo "--- building $tag (log: $log)"
    local cmd=(buildah bud --isolation chroot --network host --layers)
    [ "$ENGINE" = docker ] && cmd=(docker build)
    "${cmd[@]}" -t "$tag" "$@" . >"$log" 2>&1 && return
    tail -n 40 "$log"
    echo "free space where the build writes:"; disk_free
    # buildah reports a commit that ran out of room in its temp dir as a lost pipe ("storing
    # layer ... io: read/write on closed pipe", containers/podman#22342): free the failed
    # step's working containers and try once more; the layers already built are reused.
    if [ "$ENGINE" = buildah ] && grep -qE "closed pipe|no space left" "$log"; then
        echo "--- building $tag again, after removing the failed build's working containers"
        buildah rm --all >/dev/null
        "${cmd[@]}" -t "$tag" "$@" . >"$log" 2>&1 && return
        tail -n 40 "$log"; disk_free
    fi
    exit 1
}

image_run() {  # image_run TAG [ENV=VALUE...] -- ARGS...   as `docker run --rm [-e ...] TAG ARGS`
    local tag=$1; shift
    local env=()
    while [ "$1" != "--" ]; do env+=(-e "$1"); shift; done
    shift
    if [ "$ENGINE" = docker ]; then
        docker run --rm "${env[@]}" "$tag" "$@"
    else
        local ctr rc errors deadline=$((SECONDS + 60))
        errors=$(mktemp)
        while :; do
            ctr=$(buildah from --quiet "$tag")
            # buildah run does not apply ENTRYPOINT: call it as docker run would
            rc=0
            buildah run --isolation chroot --network host "${env[@]}" "$ctr" -- \
                docker-entrypoint "$@" 2>"$errors" || rc=$?
            buildah rm "$ctr" >/dev/null
            cat "$errors" >&2
            # buildah's chroot isolation sometimes fails to seal its own copy in a memfd
            # (EBUSY) before the command starts: that start alone is retried, for a minute
            if [ "$rc" -eq 0 ] || ! grep -q "sealing memfd copy" "$errors" \
                || [ "$SECONDS" -ge "$deadline" ]; then break; fi
            echo "buildah could not start the container: retrying" >&2
            sleep 1
        done
        rm -f "$errors"
        return "$rc"
    fi
}

image_size() {
    if [ "$ENGINE" = docker ]; then
        docker image inspect --format '{{.Size}}' "$1" | awk '{printf "%.0f MB", $1/1e6}'
    else
        buildah images --format '{{.Size}}' "$1" | head -n1
    fi
}

check() {  # check DESCRIPTION PATTERN OUTPUT
    if grep -qE -- "$2" <<<"$3"; then
        echo "ok   $1"
    else
        echo "FAIL $1: expected /$2/ in:"; echo "$3" | tail -n 20; exit 1
    fi
}

build "$LEAN"
build "$EMBEDDED" --build-arg EMBEDDED=true

echo "--- lean image ($(image_size "$LEAN"))"
check "elt --help" "Run the full pipeline" "$(image_run "$LEAN" -- elt --help)"
check "no command: elt --help" "Commands" "$(image_run "$LEAN" --)"
check "runs as a non-root user" "^uid=10001\(elt\)" "$(image_run "$LEAN" -- id)"
check "no .env or secrets baked in" "^none$" \
    "$(image_run "$LEAN" -- sh -c 'ls -a /app /app/dbt_project | grep -E "^\.env$" || echo none')"
check "dbt parsed at build time" "partial_parse.msgpack" \
    "$(image_run "$LEAN" -- ls /app/dbt_project/target)"
check "a Prefect worker command" "--pool" "$(image_run "$LEAN" -- prefect worker start --help)"
check "lean: embedded Airbyte absent, said in one line" "^error: no embedded Airbyte here" \
    "$(image_run "$LEAN" -- elt run 2>&1 || true)"

echo "--- embedded image ($(image_size "$EMBEDDED"))"
out=$(image_run "$EMBEDDED" FAKER_COUNT=200 FAKER_SEED=1 -- elt run 2>&1) || { echo "$out" | tail -n 30; exit 1; }
check "elt run: synced" "synced [0-9]+ rows from embedded:source-faker \(users 200" "$out"
check "elt run: dbt build" "dbt build: 7 models, [0-9]+ tests" "$out"
check "elt run: freshness" "freshness PASS" "$out"
out=$(image_run "$EMBEDDED" FAKER_COUNT=50 -- python -m orchestration.flows.full_pipeline 2>&1) \
    || { echo "$out" | tail -n 30; exit 1; }
check "python -m orchestration.flows.full_pipeline" "freshness PASS" "$out"

echo "--- a Prefect worker in the image runs the daily deployment"
# A Prefect server on this machine's loopback (the container shares the host network), the
# deployments registered from this checkout with the image's work dir, then one worker run.
PY=$PWD/.venv/bin/python
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export PREFECT_API_URL=http://127.0.0.1:$PORT/api PREFECT_HOME=$(mktemp -d) \
    PREFECT_SERVER_ANALYTICS_ENABLED=false  # no "Failed to send telemetry" ERROR offline
server_log=$PREFECT_HOME/server.log
"$PWD/.venv/bin/prefect" server start --host 127.0.0.1 --port "$PORT" >"$server_log" 2>&1 &
server_pid=$!
trap 'kill -INT $server_pid 2>/dev/null; wait $server_pid 2>/dev/null; rm -rf "$PREFECT_HOME"' EXIT
deadline=$((SECONDS + 180))
until "$PY" -c "import httpx; httpx.get('$PREFECT_API_URL/health', timeout=2).raise_for_status()" \
        >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ] || ! kill -0 $server_pid 2>/dev/null; then
        echo "FAIL the Prefect server did not answer within 180 s:"; tail -n 30 "$server_log"; exit 1
    fi
    sleep 1
done
"$PWD/.venv/bin/prefect" work-pool create elt-process --type process \
    --base-job-template deploy/process/base-job-template.json >/dev/null
ELT_WORKDIR=/app "$PWD/.venv/bin/prefect" --no-prompt deploy --all >/dev/null
# Prefect's own client: it retries the 503 a busy SQLite server answers ("database is locked")
# while its scheduler fills the schedules that `deploy --all` just created.
run_id=$("$PY" -c "
from prefect.client.orchestration import get_client
with get_client(sync_client=True) as client:
    daily = client.read_deployment_by_name('full-pipeline/daily-full-pipeline')
    print(client.create_flow_run_from_deployment(daily.id, parameters={'faker_count': 50}).id)
")
worker_log=$PREFECT_HOME/worker.log
image_run "$EMBEDDED" "PREFECT_API_URL=$PREFECT_API_URL" -- \
    prefect worker start --pool elt-process --run-once >"$worker_log" 2>&1 || true
state=$("$PY" -c "
from prefect.client.orchestration import get_client
with get_client(sync_client=True) as client:
    print(client.read_flow_run('$run_id').state.type.value)
")
[ "$state" = COMPLETED ] || { echo "the worker's output:"; tail -n 40 "$worker_log"; }
check "prefect worker start --pool elt-process: daily-full-pipeline" "^COMPLETED$" "$state"

# read as elt reads its local server's log: ERROR records and tracebacks, not SQLite's 503s
check "the Prefect server logged no ERROR or traceback" "^none$" "$("$PY" -c "
import sys
from orchestration.server.local_server import SQLITE_CONTENTION, problem_lines
text = open(sys.argv[1], errors='replace').read()
print('\n'.join(problem_lines(text, [SQLITE_CONTENTION])) or 'none')
" "$server_log")"

echo "image sizes: lean $(image_size "$LEAN"), embedded $(image_size "$EMBEDDED")"
