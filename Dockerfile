# One image for every flow, the `elt` CLI and a Prefect worker.
#   docker build -t elt-orchestration .                                   lean: Airbyte API, Snowflake
#   docker build --build-arg EMBEDDED=true -t elt-orchestration:embedded . + PyAirbyte source-faker
#   docker run --rm elt-orchestration:embedded elt run                    no accounts needed
# Dependencies come from uv.lock only; no secret or .env is ever copied in (see .dockerignore).
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS base
# Shared by the build and the runtime: `elt prepare` at build time sees the run-time paths.
ENV LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/app/.venv/bin:$PATH \
    UV_PYTHON=/usr/bin/python3 \
    UV_PYTHON_DOWNLOADS=never \
    UV_NO_PROGRESS=1 \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    DO_NOT_TRACK=1 \
    ELT_HOME=/opt/elt \
    EMBEDDED_AIRBYTE_PROJECT_DIR=/opt/elt/embedded \
    DUCKDB_PATH=/data/warehouse.duckdb
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*


FROM base AS builder
ARG UV_VERSION=0.13.9
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/uv \
 && /opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
ENV PATH=$PATH:/opt/uv/bin \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1
WORKDIR /app
# Dependencies first (cached until the lock changes), then the project itself.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY orchestration/ orchestration/
COPY dbt_project/ dbt_project/
COPY prefect.yaml ./
COPY automations/ automations/
RUN uv sync --frozen --no-dev \
 && mkdir -p /opt/elt /data \
 && elt prepare
# Optional: the embedded Airbyte (PyAirbyte in its own locked environment + the source-faker
# connector), so `elt run` works with no accounts and no network at run time.
ARG EMBEDDED=false
COPY embedded/ /tmp/embedded/
RUN if [ "$EMBEDDED" = "true" ]; then \
        mv /tmp/embedded "$EMBEDDED_AIRBYTE_PROJECT_DIR" && elt prepare --embedded \
        && rm -rf /data/* /opt/elt/airbyte/logs; \
    else rm -rf /tmp/embedded; fi


FROM base AS runtime
# A container is one command: Prefect's temporary server per command, not a shared local one.
# a flow run heartbeat every 30 s: automations/flow-run-lost.yaml marks a run Crashed after 90 s
# without one (Prefect's default is one every 180 s)
ENV ELT_WORKDIR=/app \
    ELT_LOCAL_SERVER=0 \
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY=30
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin elt \
 && mkdir -p /data && chown elt:elt /data
WORKDIR /app
# Code and dependencies are root-owned (read-only to the runtime user); dbt's target/ and the
# embedded connector's home are the runtime user's, as is /data (the DuckDB warehouse).
COPY --from=builder /app /app
COPY --from=builder --chown=elt:elt /app/dbt_project /app/dbt_project
COPY --from=builder --chown=elt:elt /opt/elt /opt/elt
COPY --chmod=755 scripts/docker-entrypoint.sh /usr/local/bin/docker-entrypoint
USER elt
VOLUME ["/data"]
ENTRYPOINT ["docker-entrypoint"]
CMD ["elt", "--help"]
