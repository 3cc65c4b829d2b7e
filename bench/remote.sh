#!/usr/bin/env bash
# bench/remote.sh: what the split into programs costs (docs/containers.md).
#
# The same Python echo predictor (bench/predictors/echo.py; one process,
# one thread) served three ways, all at once, each measured by wrk at 1, 8
# and 64 connections:
#   - glia up: the gateway and the worker process in one daemon (one hop
#     to the worker's Unix socket) — the peer;
#   - glia worker --api, hit directly: its relay front, then the worker;
#   - glia gateway -> glia worker --api: the layout across hosts (two
#     hops: gateway to the replica's front over TCP, front to the worker).
# 64 connections are more than the replica's capacity (1 running + 1
# waiting in its front): hitting the replica directly then gets 503s by
# design, and through the gateway the extra requests wait in its queue.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init remote.sh

echo_py=$BENCH_DIR/predictors/echo.py
labels=()
urls=()
glia_up
yaml=$(glia_yaml echo python "path: $echo_py")
glia_deploy echo "$yaml" || die "glia could not deploy the echo predictor: $GLIA_DEPLOY_ERR"
labels+=("glia up (one daemon)"); urls+=("$GLIA_URL/echo")

proj=$BENCH_TMP/project-echo
w_port=$(free_port)
"$GLIA" worker --api echo --listen "127.0.0.1:$w_port" --no-access-log \
	--home "$BENCH_TMP/replica" "$proj/glia.yaml" >"$BENCH_TMP/worker.out" 2>&1 &
track $!
g_port=$(free_port)
"$GLIA" gateway "$proj/glia.yaml" --listen "127.0.0.1:$g_port" --no-access-log \
	--discover "static:echo=127.0.0.1:$w_port" >"$BENCH_TMP/gateway.out" 2>&1 &
track $!
wait_ok "http://127.0.0.1:$w_port/" "$!" || { cat "$BENCH_TMP/worker.out" >&2; die "glia worker --api did not start"; }
wait_ok "http://127.0.0.1:$g_port/echo" "$!" || { cat "$BENCH_TMP/gateway.out" >&2; die "glia gateway did not start"; }
labels+=("glia worker --api, direct"); urls+=("http://127.0.0.1:$w_port/")
labels+=("glia gateway -> worker --api"); urls+=("http://127.0.0.1:$g_port/echo")

table=$BENCH_TMP/table
: >"$table"
measure_all "$table" 1 8 64
echo "== remote: Python echo, one process one thread (wrk --latency, $BENCH_DURATION per row$(rounds_note))"
print_table "$table" "layout" "conns" "req/s" "p50 us" "p99 us" "errors"
for c in 1 8; do
	echo "  gateway -> worker --api / glia up req/s, $c conns: $(div "${RPS[glia gateway -> worker --api|$c]:-}" "${RPS[glia up (one daemon)|$c]:-}")x"
done
note "errors at 64 conns on the direct row are the replica's 503s beyond its capacity (by design)"
