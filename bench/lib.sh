# shellcheck shell=bash disable=SC2034
# bench/lib.sh: what the bench scripts share. Sourced, never run.
#
# bench_init gives a script one temporary directory and an EXIT trap that
# stops everything the script started (by pid: glia daemons with `glia down`
# then SIGKILL, their workers by the GLIA_HOME on their command line, every
# other server with SIGTERM then SIGKILL) and removes the directory. Servers
# listen on free loopback ports. Every contender is measured by the same
# client, wrk with --latency, parsed by measure().
#
# Environment: GLIA_BIN (default build/glia), BENCH_DURATION (wrk -d, default
# 10s), BENCH_WARMUP (a wrk run before each measurement, default 2s when
# BENCH_DURATION is 5s or more, else none; 0 for none), BENCH_ROUNDS (how
# many times measure_all sweeps every contender, reporting for each row the
# round with the median requests/s; default 1).

BENCH_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=$BENCH_REPO/bench
GLIA=${GLIA_BIN:-$BENCH_REPO/build/glia}
PY=/usr/bin/python3
BENCH_DURATION=${BENCH_DURATION:-10s}
BENCH_ROUNDS=${BENCH_ROUNDS:-1}
BENCH_TMP=
BENCH_NAME=bench

_bench_pids=()   # servers other than glia, stopped in reverse order
_bench_homes=()  # GLIA_HOMEs of the daemons started, "home pid"

# secs DURATION: a wrk duration (10s, 2m, 1h) in seconds.
secs() {
	awk -v d="$1" 'BEGIN {
		n = d + 0; u = d; sub(/^[0-9.]+/, "", u)
		if (u == "m") n *= 60; else if (u == "h") n *= 3600
		print n }'
}

if [ -z "${BENCH_WARMUP:-}" ]; then
	if [ "$(secs "$BENCH_DURATION" | awk '{print ($1 >= 5)}')" = 1 ]; then
		BENCH_WARMUP=2s
	else
		BENCH_WARMUP=0
	fi
fi

note() { echo "  note: $*"; }
die() { echo "$BENCH_NAME: $*" >&2; exit 1; }

# have CMD...: true when every command exists.
have() {
	local c
	for c in "$@"; do command -v "$c" >/dev/null 2>&1 || return 1; done
}

# py_has MODULE...: true when Debian's python3 imports every module.
py_has() {
	local m
	for m in "$@"; do "$PY" -c "import $m" >/dev/null 2>&1 || return 1; done
}

bench_cleanup() {
	local i pid entry home
	for ((i = ${#_bench_homes[@]} - 1; i >= 0; i--)); do
		entry=${_bench_homes[$i]}
		home=${entry% *}
		pid=${entry##* }
		if kill -0 "$pid" 2>/dev/null; then
			GLIA_HOME=$home timeout 30 "$GLIA" down --timeout 20s >/dev/null 2>&1 || true
			for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			kill -9 "$pid" 2>/dev/null || true
		fi
	done
	for ((i = ${#_bench_pids[@]} - 1; i >= 0; i--)); do
		pid=${_bench_pids[$i]}
		kill -0 "$pid" 2>/dev/null || continue
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	done
	# glia workers, and anything else left, name the temp dir on their
	# command line: SIGTERM (an nginx master takes its workers with it),
	# then SIGKILL
	if [ -n "$BENCH_TMP" ]; then
		local left
		left=$(leftover_pids)
		if [ -n "$left" ]; then
			# shellcheck disable=SC2086
			kill -TERM $left 2>/dev/null || true
			for _ in $(seq 30); do [ -z "$(leftover_pids)" ] && break; sleep 0.1; done
			left=$(leftover_pids)
			# shellcheck disable=SC2086
			[ -z "$left" ] || kill -9 $left 2>/dev/null || true
		fi
		rm -rf "$BENCH_TMP"
	fi
}

# leftover_pids: live processes other than this shell whose command line
# names BENCH_TMP.
leftover_pids() {
	local d
	for d in /proc/[0-9]*; do
		[ "${d#/proc/}" = "$$" ] && continue
		if tr '\0' ' ' 2>/dev/null <"$d/cmdline" | grep -qF -- "$BENCH_TMP"; then
			echo "${d#/proc/}"
		fi
	done
}

# bench_init NAME: checks the tools every script needs, makes BENCH_TMP and
# sets the EXIT trap.
bench_init() {
	BENCH_NAME=$1
	[ -x "$GLIA" ] || die "$GLIA not found (run make, or set GLIA_BIN)"
	have wrk curl || die "wrk and curl are needed (scripts/install-deps.sh)"
	BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/glia-bench-XXXXXX")
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

# track PID: stop PID at exit.
track() { _bench_pids+=("$1"); }

free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_ok URL PID [BODY_FILE] [TIMEOUT_S]: waits until a POST of BODY_FILE
# to URL answers 2xx, failing when PID dies or after TIMEOUT_S (60).
wait_ok() {
	local url=$1 pid=$2 body=${3:-$BENCH_DIR/payloads/echo.json} t=${4:-60} i
	for ((i = 0; i < t * 10; i++)); do
		if curl -sf -o /dev/null -H 'Content-Type: application/json' \
			--data-binary @"$body" "$url" 2>/dev/null; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# rss_kb PID: VmRSS in KiB, or empty when PID is gone.
rss_kb() {
	awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || true
}

# ---------------------------------------------------------------------------
# glia

GLIA_HOME=
GLIA_URL=
GLIA_PID=

# glia_up: starts a daemon in a fresh home under BENCH_TMP on a free port;
# sets GLIA_HOME, GLIA_URL, GLIA_PID.
glia_up() {
	local port
	GLIA_HOME=$BENCH_TMP/glia$((${#_bench_homes[@]} + 1))
	port=$(free_port)
	GLIA_URL=http://127.0.0.1:$port
	mkdir -p "$GLIA_HOME"
	"$GLIA" up --listen "127.0.0.1:$port" --home "$GLIA_HOME" \
		--log-level warning >"$GLIA_HOME.out" 2>&1 &
	GLIA_PID=$!
	_bench_homes+=("$GLIA_HOME $GLIA_PID")
	export GLIA_HOME
	for _ in $(seq 300); do
		curl -sf "$GLIA_URL/healthz" >/dev/null 2>&1 && [ -S "$GLIA_HOME/glia.sock" ] && return 0
		kill -0 "$GLIA_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$GLIA_HOME.out" >&2
	die "glia up did not start"
}

# glia_yaml NAME TYPE [KEY: VALUE lines for predictor...]: a RealtimeAPI
# with one replica (min = max = 1), one process, one thread.
glia_yaml() {
	local name=$1 type=$2 line
	shift 2
	printf -- '- name: %s\n  kind: RealtimeAPI\n  predictor:\n    type: %s\n' "$name" "$type"
	printf '    processes_per_replica: 1\n    threads_per_process: 1\n'
	for line in "$@"; do printf '    %s\n' "$line"; done
	printf '  autoscaling:\n    min_replicas: 1\n    max_replicas: 1\n'
}

# glia_deploy NAME YAML: deploys YAML (text) with --wait. On failure returns
# 1 with the reason in GLIA_DEPLOY_ERR (one line).
GLIA_DEPLOY_ERR=
glia_deploy() {
	local name=$1 yaml=$2 dir=$BENCH_TMP/project-$1
	mkdir -p "$dir"
	printf '%s' "$yaml" >"$dir/glia.yaml"
	if timeout 180 "$GLIA" deploy --wait --timeout 150s "$dir/glia.yaml" \
		>"$dir/deploy.out" 2>&1; then
		GLIA_DEPLOY_ERR=
		return 0
	fi
	GLIA_DEPLOY_ERR=$(grep -v '^\s*$' "$dir/deploy.out" | tail -n 1)
	"$GLIA" delete -f "$name" >/dev/null 2>&1 || true
	return 1
}

# glia_replica_pids API: the pids of the API's replica processes.
glia_replica_pids() {
	"$GLIA" get "$1" -o json | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
for r in d.get("replica_list") or []:
    for p in r.get("pids") or ([r["pid"]] if r.get("pid") else []):
        print(p)'
}

# c_echo_so: builds examples/c-echo and prints the path of its shared
# library (the path its glia.yaml names, else its one .so). Fails with the
# reason on stderr.
c_echo_so() {
	local dir=$BENCH_REPO/examples/c-echo so f
	[ -d "$dir" ] || { echo "examples/c-echo does not exist yet" >&2; return 1; }
	make -s -C "$dir" >"$BENCH_TMP/c-echo-make.out" 2>&1 ||
		{ echo "make -C examples/c-echo failed: $(tail -n 1 "$BENCH_TMP/c-echo-make.out")" >&2; return 1; }
	so=$(awk '$1 == "path:" {print $2; exit}' "$dir/glia.yaml" 2>/dev/null || true)
	if [ -z "$so" ]; then
		for f in "$dir"/*.so; do [ -f "$f" ] && so=$f && break; done
	fi
	case $so in /*) ;; ?*) so=$dir/${so#./} ;; esac
	if [ -z "$so" ] || [ ! -f "$so" ]; then
		echo "no shared library found in examples/c-echo" >&2
		return 1
	fi
	echo "$so"
}

# ---------------------------------------------------------------------------
# other servers

NGINX_BODY='{"hello": "world", "n": 1}'

# nginx_conf PREFIX LISTEN: an nginx.conf answering every request with a
# fixed 200 JSON body: one worker, no access log, everything under PREFIX.
# LISTEN is a port, or @PORT@ to be filled in later.
nginx_conf() {
	local prefix=$1 listen=$2 user=""
	# a master run as root would switch its worker to nobody
	[ "$(id -u)" = 0 ] && user="user $(id -un);"
	cat <<EOF
$user
worker_processes 1;
daemon off;
pid $prefix/nginx.pid;
error_log $prefix/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $prefix/client_body;
    proxy_temp_path $prefix/proxy;
    fastcgi_temp_path $prefix/fastcgi;
    uwsgi_temp_path $prefix/uwsgi;
    scgi_temp_path $prefix/scgi;
    server {
        listen 127.0.0.1:$listen;
        location / {
            default_type application/json;
            return 200 '$NGINX_BODY';
        }
    }
}
EOF
}

nginx_bin() {
	local b
	for b in "$(command -v nginx 2>/dev/null)" /usr/sbin/nginx; do
		[ -n "$b" ] && [ -x "$b" ] && { echo "$b"; return 0; }
	done
	return 1
}

# start_nginx: sets NGINX_URL, NGINX_PID (the master).
start_nginx() {
	local prefix=$BENCH_TMP/nginx port bin
	bin=$(nginx_bin) || die "nginx not installed"
	port=$(free_port)
	mkdir -p "$prefix"
	nginx_conf "$prefix" "$port" >"$prefix/nginx.conf"
	"$bin" -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/error.log" \
		>"$prefix/out" 2>&1 &
	NGINX_PID=$!
	track "$NGINX_PID"
	NGINX_URL=http://127.0.0.1:$port/
	wait_ok "$NGINX_URL" "$NGINX_PID" "" 20 ||
		{ cat "$prefix/out" "$prefix/error.log" >&2; die "nginx did not start"; }
}

# nginx_worker_pid: the pid of nginx's one worker process.
nginx_worker_pid() { pgrep -P "$NGINX_PID" | head -n 1; }

# uvicorn's fastest event loop and HTTP parser among those installed
uvicorn_opts() {
	local o=""
	py_has uvloop && o="--loop uvloop"
	py_has httptools && o="$o --http httptools"
	echo "$o"
}

# start_uvicorn TAG PREDICTOR [CONFIG_JSON]: FastAPI + uvicorn, one worker,
# serving bench/servers/fastapi_app.py; sets SRV_URL and SRV_PID.
start_uvicorn() {
	local tag=$1 pred=$2 config=${3:-} port
	[ -n "$config" ] || config='{}'
	port=$(free_port)
	# shellcheck disable=SC2046
	BENCH_PREDICTOR=$pred BENCH_CONFIG=$config "$PY" -m uvicorn fastapi_app:app \
		--app-dir "$BENCH_DIR/servers" --host 127.0.0.1 --port "$port" \
		--workers 1 --no-access-log --log-level warning $(uvicorn_opts) \
		>"$BENCH_TMP/uvicorn-$tag.out" 2>&1 &
	SRV_PID=$!
	track "$SRV_PID"
	SRV_URL=http://127.0.0.1:$port/predict
}

# start_gunicorn TAG PREDICTOR [CONFIG_JSON]: Flask + gunicorn, one sync
# worker, serving bench/servers/flask_app.py; sets SRV_URL and SRV_PID (the
# master; its one child is the worker).
start_gunicorn() {
	local tag=$1 pred=$2 config=${3:-} port
	[ -n "$config" ] || config='{}'
	port=$(free_port)
	BENCH_PREDICTOR=$pred BENCH_CONFIG=$config "$PY" -m gunicorn \
		--chdir "$BENCH_DIR/servers" --bind "127.0.0.1:$port" \
		--workers 1 --worker-class sync --log-level warning flask_app:app \
		>"$BENCH_TMP/gunicorn-$tag.out" 2>&1 &
	SRV_PID=$!
	track "$SRV_PID"
	SRV_URL=http://127.0.0.1:$port/predict
}

# ---------------------------------------------------------------------------
# measuring

declare -A RPS P50 P99
# the contenders measure_all runs, filled in by each script: a label, the
# URL to POST to and the body file (empty: the echo payload)
labels=()
urls=()
bodies=()

# wrk_threads CONC: 1 thread for one connection, 2 otherwise.
wrk_threads() { if [ "$1" -le 1 ]; then echo 1; else echo 2; fi; }

# measure TABLE LABEL URL CONC [BODY_FILE]: runs wrk --latency against URL
# with CONC connections for BENCH_DURATION (after a BENCH_WARMUP run), then
# appends "LABEL CONC req/s p50 p99 errors" to the table file TABLE and
# stores the figures in RPS, P50, P99 (microseconds) under "LABEL|CONC".
measure() {
	local table=$1 label=$2 url=$3 conc=$4 body=${5:-} out t
	t=$(wrk_threads "$conc")
	out=$BENCH_TMP/wrk.out
	if [ "$BENCH_WARMUP" != 0 ]; then
		WRK_BODY_FILE=$body wrk -t"$t" -c"$conc" -d"$BENCH_WARMUP" \
			-s "$BENCH_DIR/post.lua" "$url" >/dev/null 2>&1 || true
	fi
	WRK_BODY_FILE=$body wrk -t"$t" -c"$conc" -d"$BENCH_DURATION" --latency \
		-s "$BENCH_DIR/post.lua" "$url" >"$out" 2>&1 ||
		{ cat "$out" >&2; die "wrk failed against $url"; }
	local row
	row=$(awk -v label="$label" -v conc="$conc" '
		function us(v) {
			if (v ~ /us$/) return v + 0
			if (v ~ /ms$/) return (v + 0) * 1000
			if (v ~ /m$/) return (v + 0) * 60e6
			if (v ~ /s$/) return (v + 0) * 1e6
			return v + 0
		}
		/^ +50%/ { p50 = us($2) }
		/^ +99%/ { p99 = us($2) }
		/^Requests\/sec:/ { rps = $2 }
		/Non-2xx or 3xx responses:/ { err += $NF }
		/Socket errors:/ {
			for (i = 3; i <= NF; i++) { v = $i; gsub(/,/, "", v); if (v ~ /^[0-9]+$/) err += v }
		}
		END {
			if (rps == "") exit 1
			printf "%s\t%d\t%.0f\t%.0f\t%.0f\t%d\n", label, conc, rps, p50, p99, err
		}' "$out") || { cat "$out" >&2; die "could not parse wrk's output for $url"; }
	printf '%s\n' "$row" >>"$table"
	local key="$label|$conc"
	RPS[$key]=$(cut -f3 <<<"$row")
	P50[$key]=$(cut -f4 <<<"$row")
	P99[$key]=$(cut -f5 <<<"$row")
}

# measure_all TABLE CONC...: measures every contender of the caller's
# arrays labels, urls and bodies (a body file, or empty for the echo
# payload) at each CONC, contenders interleaved, BENCH_ROUNDS times over.
# TABLE gets one row per contender and CONC (CONC-major): the round with the
# median requests/s; RPS, P50, P99 hold its figures.
measure_all() {
	local table=$1 r c i k n line key
	shift
	for ((r = 1; r <= BENCH_ROUNDS; r++)); do
		: >"$table.$r"
		for c in "$@"; do
			for i in "${!labels[@]}"; do
				measure "$table.$r" "${labels[$i]}" "${urls[$i]}" "$c" \
					"${bodies[$i]:-$BENCH_DIR/payloads/echo.json}"
			done
		done
	done
	n=$(wc -l <"$table.1")
	for ((k = 1; k <= n; k++)); do
		line=$(for ((r = 1; r <= BENCH_ROUNDS; r++)); do sed -n "${k}p" "$table.$r"; done |
			sort -t$'\t' -k3,3n | sed -n "$(((BENCH_ROUNDS + 1) / 2))p")
		printf '%s\n' "$line" >>"$table"
		key="$(cut -f1 <<<"$line")|$(cut -f2 <<<"$line")"
		RPS[$key]=$(cut -f3 <<<"$line")
		P50[$key]=$(cut -f4 <<<"$line")
		P99[$key]=$(cut -f5 <<<"$line")
	done
}

# rounds_note: " (median of N rounds)" when BENCH_ROUNDS > 1.
rounds_note() { [ "$BENCH_ROUNDS" -le 1 ] || printf ', median of %d rounds' "$BENCH_ROUNDS"; return 0; }

# print_table FILE HEADER...: prints the tab-separated FILE under HEADER as
# aligned columns, the first left-aligned, the others right-aligned.
print_table() {
	local file=$1
	shift
	{ (IFS=$'\t'; echo "$*"); cat "$file"; } | awk -F'\t' '
		{ for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) }
		  if (NF > nf) nf = NF; rows = NR }
		END {
			for (r = 1; r <= rows; r++) {
				line = "  "
				for (i = 1; i <= nf; i++) {
					if (i == 1) line = line sprintf("%-" w[i] "s", cell[r, i])
					else line = line sprintf("  %" w[i] "s", cell[r, i])
				}
				print line
				if (r == 1) {
					line = "  "
					for (i = 1; i <= nf; i++) {
						dash = sprintf("%" w[i] "s", ""); gsub(/ /, "-", dash)
						line = line (i == 1 ? "" : "  ") dash
					}
					print line
				}
			}
		}'
}

# ratio_line TEXT VALUE OP TARGET UNIT: prints "TEXT: VALUE UNIT (target OP
# TARGET UNIT: target met|target NOT met)". VALUE empty: not measured.
ratio_line() {
	local text=$1 value=$2 op=$3 target=$4 unit=$5 verdict
	if [ -z "$value" ]; then
		printf '  %s: not measured\n' "$text"
		return
	fi
	verdict=$(awk -v v="$value" -v t="$target" -v op="$op" 'BEGIN {
		ok = (op == ">=") ? (v >= t) : (v <= t)
		print ok ? "target met" : "target NOT met" }')
	printf '  %s: %s%s (target %s %s%s: %s)\n' "$text" "$value" "$unit" "$op" "$target" "$unit" "$verdict"
}

# div A B [FORMAT]: A / B, empty when either is missing or B is 0.
div() {
	[ -n "${1:-}" ] && [ -n "${2:-}" ] || return 0
	awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" 'BEGIN { if (b != 0) printf f, a / b }'
}

# pct A B: A / B as a whole percentage, empty when either is missing.
pct() {
	[ -n "${1:-}" ] && [ -n "${2:-}" ] || return 0
	awk -v a="$1" -v b="$2" 'BEGIN { if (b != 0) printf "%.0f", a * 100 / b }'
}

# sample_rss_max OUTFILE PID...: while the caller's load runs, records the
# largest VmRSS of each PID every 50 ms into OUTFILE ("pid kib" lines) until
# OUTFILE.stop exists. Run in the background.
sample_rss_max() {
	local out=$1 pid v
	shift
	declare -A max
	for pid in "$@"; do max[$pid]=0; done
	while [ ! -e "$out.stop" ]; do
		for pid in "$@"; do
			v=$(rss_kb "$pid")
			[ -n "$v" ] && [ "$v" -gt "${max[$pid]}" ] && max[$pid]=$v
		done
		sleep 0.05
	done
	for pid in "$@"; do echo "$pid ${max[$pid]}"; done >"$out"
}

# mib KIB: KiB as MiB with one decimal.
mib() { [ -z "${1:-}" ] || awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
