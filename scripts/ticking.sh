#!/usr/bin/env bash
# ticking.sh WHAT COMMAND...: run COMMAND; every 3 s it runs, one line "... still WHAT (Ns)".
# uv prints nothing while it compiles the bytecode of a fresh environment (half a minute on a
# small machine): `make run` and `make test` are never silent that long.
set -u
what=$1
shift
start=$SECONDS
(while sleep 3; do echo "... still $what ($((SECONDS - start))s)"; done) &
ticker=$!
trap 'kill "$ticker" 2>/dev/null' EXIT
"$@"
