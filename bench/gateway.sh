#!/usr/bin/env bash
# bench/gateway.sh: section 2 of `make bench`, the gateway alone.
#
# glia in front of predictors that involve no Python: the C echo predictor
# (examples/c-echo, built with make -C) and a command predictor (nginx itself,
# started by glia with $GLIA_PORT, answering the same fixed 200 as the nginx
# measured directly). Each is skipped with a note when glia refuses its
# predictor type. Prints the table, glia + C echo / nginx requests/s
# against the target (>= 50%) and the p50 latency the gateway hop adds at
# one connection against the target (<= 50 us).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init gateway.sh

body=$BENCH_DIR/payloads/echo.json
labels=()
urls=()
skipped=()
nginx=$(nginx_bin) || die "nginx not installed (scripts/install-deps.sh)"

start_nginx
labels+=("nginx, direct"); urls+=("$NGINX_URL")

glia_up

# C echo: the example's shared library
c_label="glia, C echo"
if ! so=$(c_echo_so 2>"$BENCH_TMP/c-echo.err"); then
	skipped+=("$c_label: $(cat "$BENCH_TMP/c-echo.err")")
elif glia_deploy c-echo "$(glia_yaml c-echo c "path: $so")"; then
	labels+=("$c_label"); urls+=("$GLIA_URL/c-echo")
else
	skipped+=("$c_label: glia refused it: $GLIA_DEPLOY_ERR")
fi

# command predictor: nginx with the same configuration, on $GLIA_PORT
cmd_label="glia, command (nginx)"
cmd_prefix=$BENCH_TMP/nginx-cmd
mkdir -p "$cmd_prefix"
nginx_conf "$cmd_prefix" @PORT@ >"$cmd_prefix/nginx.conf.in"
script="sed \"s/@PORT@/\$GLIA_PORT/\" $cmd_prefix/nginx.conf.in >$cmd_prefix/nginx.conf && exec $nginx -p $cmd_prefix -c $cmd_prefix/nginx.conf -e $cmd_prefix/error.log"
command=$("$PY" -c 'import json, sys; print(json.dumps(["/bin/sh", "-c", sys.argv[1]]))' "$script")
if glia_deploy nginx-cmd "$(glia_yaml nginx-cmd command "command: $command" "readiness_path: /")"; then
	labels+=("$cmd_label"); urls+=("$GLIA_URL/nginx-cmd")
else
	skipped+=("$cmd_label: glia refused it: $GLIA_DEPLOY_ERR")
fi

for i in "${!urls[@]}"; do
	wait_ok "${urls[$i]}" "$GLIA_PID" "$body" 30 || die "${labels[$i]} does not answer 2xx at ${urls[$i]}"
done

table=$BENCH_TMP/table
: >"$table"
measure_all "$table" 1 8 64

echo "== 2. the gateway alone: glia in front of C and command predictors vs nginx (wrk --latency, $BENCH_DURATION per row$(rounds_note))"
print_table "$table" "server" "conns" "req/s" "p50 us" "p99 us" "errors"
for s in "${skipped[@]}"; do note "skipped $s"; done
for c in 1 8 64; do
	ratio_line "glia C echo / nginx req/s, $c conns" \
		"$(pct "${RPS[$c_label|$c]:-}" "${RPS[nginx, direct|$c]:-}")" ">=" 50 %
done
for c in 1 8 64; do
	p=$(pct "${RPS[$cmd_label|$c]:-}" "${RPS[nginx, direct|$c]:-}")
	[ -z "$p" ] || echo "  glia command (nginx) / nginx req/s, $c conns: $p%"
done
# hop LABEL: p50 of LABEL minus p50 of nginx direct, one connection (us)
hop() {
	local a=${P50[$1|1]:-} b=${P50[nginx, direct|1]:-}
	[ -n "$a" ] && [ -n "$b" ] || return 0
	echo $((a - b))
}
ratio_line "p50 added by the gateway hop, 1 conn = p50(glia, C echo) - p50(nginx, direct)" \
	"$(hop "$c_label")" "<=" 50 " us"
ratio_line "p50 added by the gateway hop, 1 conn = p50(glia, command (nginx)) - p50(nginx, direct)" \
	"$(hop "$cmd_label")" "<=" 50 " us"
