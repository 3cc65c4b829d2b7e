#!/usr/bin/env bash
# bench/model.sh: section 3 of `make bench`, a real model.
#
# The scikit-learn iris classifier (examples/iris-classifier/predictor.py)
# and a small PyTorch MLP (bench/predictors/torch_mlp.py), each served by
# glia (one replica, one process, one thread) and by FastAPI + uvicorn (one
# worker) running the same class, at 1 and 8 connections. The MLP is skipped
# with a note when python3-torch is missing, FastAPI when python3-fastapi or
# python3-uvicorn is.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init model.sh

iris_py=$BENCH_REPO/examples/iris-classifier/predictor.py
mlp_py=$BENCH_DIR/predictors/torch_mlp.py
labels=()
urls=()
bodies=()
skipped=()
models=(iris)

py_has sklearn || die "python3-sklearn is not installed (scripts/install-deps.sh)"
if py_has torch; then
	models+=(mlp)
else
	skipped+=("the PyTorch MLP: python3-torch is not installed")
fi
fastapi=1
py_has fastapi uvicorn || { fastapi=0; skipped+=("FastAPI + uvicorn: python3-fastapi or python3-uvicorn is not installed"); }

glia_up
for m in "${models[@]}"; do
	case $m in
	iris) py=$iris_py; name=iris; config='{"model": "logistic_regression"}'; what="iris (sklearn)" ;;
	mlp) py=$mlp_py; name=torch-mlp; config='{}'; what="MLP (torch)" ;;
	esac
	body=$BENCH_DIR/payloads/$m.json
	glia_deploy "$name" "$(glia_yaml "$name" python "path: $py" "config: $config")" ||
		die "glia could not deploy $name: $GLIA_DEPLOY_ERR"
	labels+=("glia, $what"); urls+=("$GLIA_URL/$name"); bodies+=("$body")
	if [ $fastapi = 1 ]; then
		start_uvicorn "$m" "$py" "$config"
		wait_ok "$SRV_URL" "$SRV_PID" "$body" 120 ||
			{ cat "$BENCH_TMP/uvicorn-$m.out" >&2; die "uvicorn ($m) did not start"; }
		labels+=("FastAPI + uvicorn, $what"); urls+=("$SRV_URL"); bodies+=("$body")
	fi
done

table=$BENCH_TMP/table
: >"$table"
measure_all "$table" 1 8

echo "== 3. a real model: iris (scikit-learn) and an MLP (PyTorch), glia vs FastAPI + uvicorn (wrk --latency, $BENCH_DURATION per row$(rounds_note))"
print_table "$table" "server, model" "conns" "req/s" "p50 us" "p99 us" "errors"
for s in "${skipped[@]}"; do note "skipped $s"; done
for what in "iris (sklearn)" "MLP (torch)"; do
	for c in 1 8; do
		r=$(div "${RPS[glia, $what|$c]:-}" "${RPS[FastAPI + uvicorn, $what|$c]:-}")
		[ -z "$r" ] || echo "  glia / FastAPI + uvicorn req/s, $what, $c conns: ${r}x"
	done
done
