#!/usr/bin/env bash
# bench/batching.sh: server-side batching, a PyTorch MLP at 16 connections
# with and without predictor.server_side_batching.
#
# The model (bench/predictors/torch_mlp_batch.py): 256 -> 1024 -> 1024 -> 10
# with ReLU, about 1.3M multiply-adds per row, fixed random weights, its
# Linear layers run by oneDNN (Debian's torch has only a reference BLAS),
# torch.set_num_threads(1). Each request (bench/payloads/mlp256.json) is one
# row of 256 numbers; the answer is its 10 scores.
#
# One daemon, two APIs serving the same predictor, each one replica with
# one process and threads_per_process 1:
#   unbatched  predict per request, one at a time
#   batched    server_side_batching {max_batch_size: 16, batch_interval: 5ms}:
#              the process takes up to 32 requests at once and one batch
#              thread stacks each batch's rows into one tensor for one
#              forward pass under torch.no_grad()
# Both are driven by wrk --latency at 16 connections for BENCH_DURATION
# (after BENCH_WARMUP). Output: the table, the batched / unbatched ratios
# and the mean batch size the gateway's glia_batch_size histogram saw.
# Standalone: GLIA_BIN selects the binary (default build/glia).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init batching.sh

py_has torch || die "python3-torch is not installed (scripts/install-deps.sh)"
py=$BENCH_DIR/predictors/torch_mlp_batch.py
body=$BENCH_DIR/payloads/mlp256.json
conns=16
max_batch=16
interval=5ms

glia_up
glia_deploy mlp-unbatched "$(glia_yaml mlp-unbatched python "path: $py" \
	'config: {"batched": false}')" ||
	die "glia could not deploy mlp-unbatched: $GLIA_DEPLOY_ERR"
glia_deploy mlp-batched "$(glia_yaml mlp-batched python "path: $py" \
	'config: {"batched": true}' \
	"server_side_batching: {max_batch_size: $max_batch, batch_interval: $interval}")" ||
	die "glia could not deploy mlp-batched: $GLIA_DEPLOY_ERR"

unbatched="glia, MLP unbatched"
batched="glia, MLP batched ($max_batch, $interval)"
labels=("$unbatched" "$batched")
urls=("$GLIA_URL/mlp-unbatched" "$GLIA_URL/mlp-batched")
bodies=("$body" "$body")

table=$BENCH_TMP/table
: >"$table"
measure_all "$table" "$conns"

# the mean batch size over the whole run (warm-up included)
batches=$(curl -sf "$GLIA_URL/metrics" | awk '
	/^glia_batch_size_sum\{.*api="mlp-batched"/ { sum = $NF }
	/^glia_batch_size_count\{.*api="mlp-batched"/ { n = $NF }
	END { if (n > 0) printf "%.1f %d", sum / n, n }')

echo "== server-side batching: PyTorch MLP 256-1024-1024-10, one replica, one process, one thread, torch 1 thread (wrk --latency, $BENCH_DURATION per row$(rounds_note))"
print_table "$table" "server, model" "conns" "req/s" "p50 us" "p99 us" "errors"
k1="$unbatched|$conns"
k2="$batched|$conns"
echo "  batched / unbatched req/s, $conns conns: $(div "${RPS[$k2]:-}" "${RPS[$k1]:-}")x"
echo "  batched / unbatched p50, $conns conns: $(div "${P50[$k2]:-}" "${P50[$k1]:-}")x"
echo "  batched / unbatched p99, $conns conns: $(div "${P99[$k2]:-}" "${P99[$k1]:-}")x"
if [ -n "$batches" ]; then
	echo "  mean batch size: ${batches% *} requests (${batches#* } batches, glia_batch_size)"
else
	echo "  mean batch size: not measured (no glia_batch_size for mlp-batched)"
fi
