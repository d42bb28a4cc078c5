#!/bin/sh
# `docker run IMAGE`            -> elt --help
# `docker run IMAGE run ...`    -> elt run ...   (arguments that are not a program go to elt)
# `docker run IMAGE elt run`, `... python -m orchestration.flows.full_pipeline`,
# `... prefect worker start --pool elt-process`   -> run as given
set -e
if [ "$#" -eq 0 ]; then
    set -- elt --help
elif [ "${1#-}" != "$1" ] || ! command -v "$1" >/dev/null 2>&1; then
    set -- elt "$@"
fi
exec "$@"
