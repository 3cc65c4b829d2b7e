#!/usr/bin/env bash
# bench/oip.sh: Open Inference Protocol V2, JSON tensors vs the binary
# tensor extension, for one 1M-element FP32 tensor (4 MB) sent to an
# identity predictor and answered back in the same encoding.
#
# One glia daemon in a temporary home on a free port, one API (one replica,
# one process, one thread) whose predictor returns its inputs. A Python
# client (Debian's python3 with numpy) builds each request body once, then
# sends it BENCH_OIP_REQUESTS times (default 20, after 2 untimed) on one
# keep-alive connection and reads every answer whole; the first answer of
# each encoding is decoded and compared with the tensor sent. Timed: send,
# glia (gateway + worker decode / predict / encode) and receive; not timed:
# the client's own encoding and decoding.
#
# Output: a table of requests/s, mean latency, tensor MB/s (4 MB of tensor
# data per request each way) and bytes on the wire per request, then the
# binary / JSON ratio. Standalone: GLIA_BIN selects the binary (default
# build/glia).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init oip.sh

py_has numpy || die "python3-numpy is not installed"
requests=${BENCH_OIP_REQUESTS:-20}
elements=${BENCH_OIP_ELEMENTS:-1000000}

proj=$BENCH_TMP/oip-identity
mkdir -p "$proj"
cat >"$proj/predictor.py" <<'EOF'
class PythonPredictor:
    def __init__(self, config):
        pass

    def predict(self, payload):
        return payload
EOF

glia_up
glia_deploy oip-identity "$(glia_yaml oip-identity python "path: $proj/predictor.py")" ||
	die "glia could not deploy the identity predictor: $GLIA_DEPLOY_ERR"

url=$GLIA_URL/v2/models/oip-identity/infer
echo "== Open Inference Protocol V2: JSON vs binary tensors, one FP32 tensor of $elements elements ($requests requests each, one connection)"
"$PY" - "$url" "$requests" "$elements" <<'EOF'
import http.client
import json
import sys
import time
import urllib.parse

import numpy as np

url, n, elements = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
u = urllib.parse.urlsplit(url)
x = np.random.default_rng(0).random(elements, dtype=np.float32)
tensor_mb = x.nbytes / 1e6


def json_body():
    req = {"inputs": [{"name": "x", "shape": [elements], "datatype": "FP32",
                       "data": x.tolist()}]}
    return json.dumps(req).encode(), {"Content-Type": "application/json"}


def binary_body():
    req = {"inputs": [{"name": "x", "shape": [elements], "datatype": "FP32",
                       "parameters": {"binary_data_size": x.nbytes}}],
           "outputs": [{"name": "x", "parameters": {"binary_data": True}}]}
    head = json.dumps(req).encode()
    return head + x.astype("<f4").tobytes(), {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(head))}


def decode(headers, body):
    n_json = headers.get("Inference-Header-Content-Length")
    if n_json is None:
        out = json.loads(body)["outputs"][0]
        return np.asarray(out["data"], dtype=np.float32)
    head = json.loads(body[:int(n_json)])
    assert head["outputs"][0]["parameters"]["binary_data_size"] == x.nbytes
    return np.frombuffer(body[int(n_json):], dtype="<f4")


def run(body, headers):
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    path = u.path
    times, got = [], 0
    for i in range(n + 2):
        t0 = time.perf_counter()
        conn.request("POST", path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        took = time.perf_counter() - t0
        if r.status != 200:
            sys.exit("oip.sh: HTTP %d: %s" % (r.status, data[:300]))
        if i == 0:
            if not np.array_equal(decode(r.headers, data), x):
                sys.exit("oip.sh: the answer differs from the tensor sent")
            got = len(data)
        if i >= 2:
            times.append(took)
    conn.close()
    total = sum(times)
    return {"rps": n / total, "mean_ms": 1000 * total / n,
            "tensor_mbs": tensor_mb * n / total,
            "wire_mb": (len(body) + got) / 1e6}


rows = []
for label, make in (("JSON", json_body), ("binary", binary_body)):
    body, headers = make()
    rows.append((label, run(body, headers)))

print("  %-8s %10s %14s %14s %18s" % ("encoding", "req/s", "mean ms",
                                     "tensor MB/s", "wire MB/request"))
for label, r in rows:
    print("  %-8s %10.2f %14.1f %14.1f %18.1f" % (
        label, r["rps"], r["mean_ms"], r["tensor_mbs"], r["wire_mb"]))
js, bi = rows[0][1], rows[1][1]
print("  binary / JSON req/s: %.1fx (tensor MB/s counts the %.0f MB tensor "
      "once per request)" % (bi["rps"] / js["rps"], tensor_mb))
EOF
