#!/usr/bin/env bash
# bench/cpu_split.sh: where the CPU goes, per process, for profiling work
# (docs/performance.md, "Where the time goes"; not part of `make bench`).
#
# Serves bench/predictors/echo.py with glia (one replica, one process, one
# thread) and FastAPI + uvicorn, the C echo predictor with glia, and nginx's
# fixed 200; runs wrk at 1 and 8 connections against each in turn and
# prints, for every server process, the CPU it used (utime + stime from
# /proc/PID/stat) as a share of one CPU and per request, and its context
# switches per request (/proc/PID/status). A process that is not busy while
# the requests/s stay low is waiting on another one.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init cpu_split.sh

echo_py=$BENCH_DIR/predictors/echo.py
body=$BENCH_DIR/payloads/echo.json
hz=$(getconf CLK_TCK)
names=()   # contender label
targets=() # its URL
procs=()   # "pid:name pid:name" of its server processes
skipped=()

start_nginx
names+=("nginx, fixed 200"); targets+=("$NGINX_URL")
procs+=("$NGINX_PID:master $(nginx_worker_pid):worker")

glia_up
glia_deploy echo "$(glia_yaml echo python "path: $echo_py")" ||
	die "glia could not deploy the echo predictor: $GLIA_DEPLOY_ERR"
wait_ok "$GLIA_URL/echo" "$GLIA_PID" "$body" 30 || die "echo does not answer"
p="$GLIA_PID:gateway"
for w in $(glia_replica_pids echo); do p="$p $w:worker"; done
names+=("glia, Python echo"); targets+=("$GLIA_URL/echo"); procs+=("$p")

if so=$(c_echo_so 2>"$BENCH_TMP/c-echo.err") &&
	glia_deploy c-echo "$(glia_yaml c-echo c "path: $so")"; then
	wait_ok "$GLIA_URL/c-echo" "$GLIA_PID" "$body" 30 || die "c-echo does not answer"
	p="$GLIA_PID:gateway"
	for w in $(glia_replica_pids c-echo); do p="$p $w:worker"; done
	names+=("glia, C echo"); targets+=("$GLIA_URL/c-echo"); procs+=("$p")
else
	skipped+=("glia, C echo: ${GLIA_DEPLOY_ERR:-$(cat "$BENCH_TMP/c-echo.err")}")
fi

if py_has fastapi uvicorn; then
	start_uvicorn echo "$echo_py"
	wait_ok "$SRV_URL" "$SRV_PID" "$body" || die "uvicorn did not start"
	names+=("FastAPI + uvicorn"); targets+=("$SRV_URL"); procs+=("$SRV_PID:worker")
else
	skipped+=("FastAPI + uvicorn: not installed")
fi

# ticks PID: utime + stime of all its threads, in clock ticks.
# switches PID: context switches of all its threads.
ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
switches() { cat "/proc/$1"/task/*/status 2>/dev/null | awk '/ctxt_switches:/ { n += $2 } END { print n + 0 }'; }

table=$BENCH_TMP/table
: >"$table"
for c in 1 8; do
	for i in "${!names[@]}"; do
		declare -A t0=() s0=()
		for ps in ${procs[$i]}; do
			t0[$ps]=$(ticks "${ps%%:*}"); s0[$ps]=$(switches "${ps%%:*}")
		done
		start=$(date +%s%N)
		WRK_BODY_FILE=$body wrk -t"$(wrk_threads "$c")" -c"$c" -d"$BENCH_DURATION" \
			-s "$BENCH_DIR/post.lua" "${targets[$i]}" >"$BENCH_TMP/wrk.out" 2>&1
		wall_us=$((($(date +%s%N) - start) / 1000))
		n=$(awk '/requests in/ { print $1 }' "$BENCH_TMP/wrk.out")
		rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$BENCH_TMP/wrk.out")
		for ps in ${procs[$i]}; do
			pid=${ps%%:*}
			dt=$(($(ticks "$pid") - t0[$ps]))
			ds=$(($(switches "$pid") - s0[$ps]))
			awk -v l="${names[$i]}" -v c="$c" -v rps="$rps" -v proc="${ps#*:}" \
				-v dt="$dt" -v hz="$hz" -v wall="$wall_us" -v n="$n" -v ds="$ds" 'BEGIN {
				cpu_us = dt * 1e6 / hz
				printf "%s\t%d\t%s\t%s\t%.0f\t%.1f\t%.2f\n", l, c, rps, proc,
					100 * cpu_us / wall, cpu_us / n, ds / n }' >>"$table"
		done
	done
done

echo "== CPU split: echo, one worker each (wrk, $BENCH_DURATION per row, CPU from /proc/PID/stat at ${hz} Hz)"
print_table "$table" "server" "conns" "req/s" "process" "CPU %" "CPU us/req" "switches/req"
for s in "${skipped[@]}"; do note "skipped $s"; done
