#!/usr/bin/env bash
# bench/overhead.sh: section 1 of `make bench`, what serving costs.
#
# One Python class, bench/predictors/echo.py (predict returns its JSON
# payload), served with one worker each by glia (gateway + one replica, one
# process, one thread), FastAPI + uvicorn and Flask + gunicorn (one sync
# worker), next to nginx answering a fixed 200 JSON body: the most one HTTP
# hop can do here. All run at once; wrk measures each in turn at 1, 8 and 64
# connections. Prints the table and glia / FastAPI requests/s against the
# target (>= 5x).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init overhead.sh

echo_py=$BENCH_DIR/predictors/echo.py
body=$BENCH_DIR/payloads/echo.json
labels=()
urls=()
skipped=()

start_nginx
labels+=("nginx, fixed 200"); urls+=("$NGINX_URL")

glia_up
glia_deploy echo "$(glia_yaml echo python "path: $echo_py")" ||
	die "glia could not deploy the echo predictor: $GLIA_DEPLOY_ERR"
labels+=("glia, Python echo"); urls+=("$GLIA_URL/echo")

if py_has fastapi uvicorn; then
	start_uvicorn echo "$echo_py"
	wait_ok "$SRV_URL" "$SRV_PID" "$body" || { cat "$BENCH_TMP/uvicorn-echo.out" >&2; die "uvicorn did not start"; }
	labels+=("FastAPI + uvicorn"); urls+=("$SRV_URL")
else
	skipped+=("FastAPI + uvicorn: python3-fastapi or python3-uvicorn is not installed")
fi
if py_has flask gunicorn; then
	start_gunicorn echo "$echo_py"
	wait_ok "$SRV_URL" "$SRV_PID" "$body" || { cat "$BENCH_TMP/gunicorn-echo.out" >&2; die "gunicorn did not start"; }
	labels+=("Flask + gunicorn"); urls+=("$SRV_URL")
else
	skipped+=("Flask + gunicorn: python3-flask or gunicorn is not installed")
fi

table=$BENCH_TMP/table
: >"$table"
measure_all "$table" 1 8 64

echo "== 1. overhead: echo predictor, one worker each (wrk --latency, $BENCH_DURATION per row$(rounds_note))"
print_table "$table" "server" "conns" "req/s" "p50 us" "p99 us" "errors"
for s in "${skipped[@]}"; do note "skipped $s"; done
for c in 1 8 64; do
	ratio_line "glia Python echo / FastAPI + uvicorn req/s, $c conns" \
		"$(div "${RPS[glia, Python echo|$c]:-}" "${RPS[FastAPI + uvicorn|$c]:-}")" ">=" 5 x
done
for c in 1 8 64; do
	r=$(div "${RPS[glia, Python echo|$c]:-}" "${RPS[Flask + gunicorn|$c]:-}")
	[ -n "$r" ] && echo "  glia Python echo / Flask + gunicorn req/s, $c conns: ${r}x"
done
note "errors = non-2xx answers + socket errors seen by wrk; gunicorn's sync worker closes every connection, so wrk reconnects for each request"
