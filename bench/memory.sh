#!/usr/bin/env bash
# bench/memory.sh: section 4 of `make bench`, memory.
#
# Resident set size (VmRSS from /proc/PID/status) of the glia daemon with no
# API, then idle and under load (the largest value sampled every 50 ms while
# wrk runs 64 connections for BENCH_DURATION) with one echo API, and of that
# API's replica (its worker processes, summed): for the Python echo
# predictor, and for the C echo one when glia runs it. For comparison, the
# same for uvicorn's worker (FastAPI) and gunicorn's master and worker
# (Flask) serving bench/predictors/echo.py, and nginx's master and worker.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init memory.sh

echo_py=$BENCH_DIR/predictors/echo.py
body=$BENCH_DIR/payloads/echo.json
table=$BENCH_TMP/table
: >"$table"
skipped=()
conc=64

# row NAME IDLE_KIB LOAD_KIB
row() { local l; l=$(mib "${3:-}"); printf '%s\t%s\t%s\n' "$1" "$(mib "$2")" "${l:--}" >>"$table"; }

# sum_rss PID...: the summed VmRSS of live PIDs, KiB.
sum_rss() {
	local t=0 p v
	for p in "$@"; do v=$(rss_kb "$p"); t=$((t + ${v:-0})); done
	echo "$t"
}

# load URL PID...: runs wrk -c64 against URL while sampling the PIDs; sets
# LOAD_MAX[pid] to each one's largest VmRSS.
declare -A LOAD_MAX
load() {
	local url=$1 s=$BENCH_TMP/rss.samples line sampler
	shift
	rm -f "$s" "$s.stop"
	sample_rss_max "$s" "$@" &
	sampler=$!
	WRK_BODY_FILE=$body wrk -t2 -c$conc -d"$BENCH_DURATION" -s "$BENCH_DIR/post.lua" "$url" \
		>"$BENCH_TMP/wrk.out" 2>&1 || { cat "$BENCH_TMP/wrk.out" >&2; die "wrk failed against $url"; }
	touch "$s.stop"
	wait "$sampler"
	while read -r line; do LOAD_MAX[${line% *}]=${line#* }; done <"$s"
}

# glia_api LABEL NAME YAML: deploys NAME on a fresh daemon and adds the rows
# of the daemon and the replica, idle and under load.
glia_api() {
	local label=$1 name=$2 yaml=$3 idle_d idle_r pids p load_r
	glia_up
	if ! glia_deploy "$name" "$yaml"; then
		skipped+=("$label: glia refused it: $GLIA_DEPLOY_ERR")
		return 0
	fi
	wait_ok "$GLIA_URL/$name" "$GLIA_PID" "$body" 30 || die "$name does not answer"
	sleep 0.5
	mapfile -t pids < <(glia_replica_pids "$name")
	[ ${#pids[@]} -gt 0 ] || die "no replica pid for $name"
	idle_d=$(rss_kb "$GLIA_PID")
	idle_r=$(sum_rss "${pids[@]}")
	load "$GLIA_URL/$name" "$GLIA_PID" "${pids[@]}"
	load_r=0
	for p in "${pids[@]}"; do load_r=$((load_r + ${LOAD_MAX[$p]:-0})); done
	row "glia daemon, $label API" "$idle_d" "${LOAD_MAX[$GLIA_PID]}"
	row "glia replica, $label (${#pids[@]} process)" "$idle_r" "$load_r"
}

# the daemon alone
glia_up
sleep 0.5
row "glia daemon, no API" "$(rss_kb "$GLIA_PID")" ""

glia_api "Python echo" echo "$(glia_yaml echo python "path: $echo_py")"

if so=$(c_echo_so 2>"$BENCH_TMP/c-echo.err"); then
	glia_api "C echo" c-echo "$(glia_yaml c-echo c "path: $so")"
else
	skipped+=("C echo: $(cat "$BENCH_TMP/c-echo.err")")
fi

if py_has fastapi uvicorn; then
	start_uvicorn echo "$echo_py"
	wait_ok "$SRV_URL" "$SRV_PID" "$body" || die "uvicorn did not start"
	sleep 0.5
	idle=$(rss_kb "$SRV_PID")
	load "$SRV_URL" "$SRV_PID"
	row "uvicorn worker, FastAPI echo" "$idle" "${LOAD_MAX[$SRV_PID]}"
else
	skipped+=("FastAPI + uvicorn: not installed")
fi

if py_has flask gunicorn; then
	start_gunicorn echo "$echo_py"
	wait_ok "$SRV_URL" "$SRV_PID" "$body" || die "gunicorn did not start"
	sleep 0.5
	worker=$(pgrep -P "$SRV_PID" | head -n 1)
	idle_m=$(rss_kb "$SRV_PID")
	idle_w=$(rss_kb "$worker")
	load "$SRV_URL" "$SRV_PID" "$worker"
	row "gunicorn master, Flask echo" "$idle_m" "${LOAD_MAX[$SRV_PID]}"
	row "gunicorn worker, Flask echo" "$idle_w" "${LOAD_MAX[$worker]}"
else
	skipped+=("Flask + gunicorn: not installed")
fi

start_nginx
worker=$(nginx_worker_pid)
idle_m=$(rss_kb "$NGINX_PID")
idle_w=$(rss_kb "$worker")
load "$NGINX_URL" "$NGINX_PID" "$worker"
row "nginx master, fixed 200" "$idle_m" "${LOAD_MAX[$NGINX_PID]}"
row "nginx worker, fixed 200" "$idle_w" "${LOAD_MAX[$worker]}"

echo "== 4. memory: resident set size (VmRSS), idle and under load ($conc conns, $BENCH_DURATION, largest of samples every 50 ms)"
print_table "$table" "process" "idle MiB" "under load MiB"
for s in "${skipped[@]}"; do note "skipped $s"; done
