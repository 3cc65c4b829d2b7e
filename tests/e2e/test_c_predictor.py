"""C predictors (SPEC section 4, "C"; issue 4 point 1): shared libraries
implementing include/glia/predictor.h, loaded by `glia worker` with dlopen.

Two tiers: the worker started directly (a spec file, fd 3 as the status
pipe, HTTP on its Unix socket, like test_worker.py), and the same predictors
deployed through the daemon. The libraries are built once per session with
`make -C`: examples/c-echo, examples/c-iris and
tests/e2e/predictors/c_contract (a predictor whose behaviour each request
picks; see contract.c).

Run: GLIA_BIN=build/glia /usr/bin/python3 -m pytest -q tests/e2e/test_c_predictor.py
"""
import http.client
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import (EXAMPLES, PREDICTORS, concurrent_posts,
                      wait_for, write_project)
from worker_harness import (UnixHTTPConnection, Worker, launch, stop,
                            worker_spec)
from worker_harness import sockdir  # noqa: F401 (a fixture)

DEADLINE = 30.0
C_ECHO = EXAMPLES / "c-echo"
C_IRIS = EXAMPLES / "c-iris"
CONTRACT = PREDICTORS / "c_contract"
C_BATCH = PREDICTORS / "c_batch"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
REFUSED = "is not supported yet"


# --- building ---------------------------------------------------------------

def make(*args):
    res = subprocess.run(["make", "-s", *map(str, args)], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, f"make {args}:\n{res.stdout}\n{res.stderr}"


@pytest.fixture(scope="session")
def libs(tmp_path_factory):
    """Paths of every C predictor library, built once."""
    out = tmp_path_factory.mktemp("c-predictors")
    make("-C", CONTRACT, f"OUT={out}")
    make("-C", C_BATCH, f"OUT={out}")
    make("-C", C_ECHO)
    make("-C", C_IRIS)
    return {
        "contract": out / "contract.so",
        "wrong_abi": out / "wrong_abi.so",
        "no_free_response": out / "no_free_response.so",
        "batch": out / "batch.so",
        "echo": C_ECHO / "echo.so",
        "iris": C_IRIS / "iris.so",
        "iris_weights": C_IRIS / "weights.json",
    }


# --- the worker, started directly -------------------------------------------

class CWorker(Worker):
    """A worker serving tests/e2e/predictors/c_contract: do() picks what
    the contract predictor does."""

    def do(self, what, headers=None, conn=None, **fields):
        """POSTs {"do": what, **fields} as JSON."""
        body = json.dumps({"do": what, **fields}).encode()
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        return self.request(body, headers=h, conn=conn)


@pytest.fixture
def start(tmp_path, sockdir):
    """start(lib, config=None, threads=1, files=None, wait_ready=True):
    a `glia worker` serving the C library lib (copied into a fresh project
    directory under its own name)."""
    started = []

    def _start(lib, config=None, threads=1, files=None, wait_ready=True,
               name=None):
        n = len(started)
        proj = tmp_path / f"proj{n}"
        proj.mkdir()
        name = name or Path(lib).name
        if Path(lib).exists():
            shutil.copyfile(lib, proj / name)
        for rel, src in (files or {}).items():
            shutil.copyfile(src, proj / rel)
        spec = worker_spec({"type": "c", "path": name,
                            "config": config or {},
                            "threads_per_process": threads})
        worker = launch(tmp_path, os.path.join(sockdir, f"w{n}.sock"), proj,
                        spec, n=n, merge_output=True, cls=CWorker,
                        wait_ready=wait_ready)
        started.append(worker)
        return worker

    yield _start
    stop(started)


# --- happy path ----------------------------------------------------------------

def test_echo_example_returns_body_content_type_and_request_id(start, libs):
    w = start(libs["echo"])
    r = w.request(b"hello \x00 there", path="/anything?x=1",
                  headers={"Content-Type": "text/x-foo; charset=latin-1",
                           "X-Request-ID": "rid-echo"})
    assert r.status == 200, r
    assert r.body == b"hello \x00 there"
    assert r.headers["content-type"] == "text/x-foo; charset=latin-1"
    assert r.headers["x-request-id"] == "rid-echo"
    assert int(r.headers["content-length"]) == len(r.body)


def test_echo_without_content_type_answers_application_json(start, libs):
    w = start(libs["echo"])
    r = w.request(b'{"a": 1}')
    assert r.status == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"a": 1}


def test_echo_serves_many_requests_on_one_keep_alive_connection(start, libs):
    w = start(libs["echo"])
    conn = UnixHTTPConnection(w.sock_path)
    try:
        for i in range(50):
            body = json.dumps({"i": i, "pad": "x" * (i * 1000)}).encode()
            r = w.request(body, conn=conn)
            assert r.status == 200 and r.body == body
    finally:
        conn.close()


def test_request_fields_reach_the_predictor(start, libs):
    w = start(libs["contract"])
    r = w.request(b'{"k": "v"}', method="PUT", path="/sub/path?a=1&b=two",
                  headers={"Content-Type": "application/json",
                           "X-Request-ID": "rid-42", "X-Custom": "Yes"})
    assert r.status == 200, r
    got = r.json()
    assert got["method"] == "PUT"
    assert got["path"] == "/sub/path"
    assert got["query"] == "a=1&b=two"
    assert got["content_type"] == "application/json"
    assert got["request_id"] == "rid-42"
    assert got["body"] == '{"k": "v"}'
    headers = {k.lower(): v for k, v in got["headers"]}
    assert headers["x-custom"] == "Yes"
    assert headers["x-request-id"] == "rid-42"
    assert headers["content-length"] == "10"


def test_request_without_query_content_type_or_id(start, libs):
    w = start(libs["contract"])
    r = w.request(b"", method="GET")
    got = r.json()
    assert got["query"] == ""
    assert got["content_type"] is None
    assert got["request_id"] == ""
    assert got["body"] == ""
    assert "x-request-id" not in r.headers


def test_config_is_given_to_init_as_compact_json(start, libs):
    config = {"a": [1, 2.5], "b": {"c": "d"}, "e": None}
    w = start(libs["contract"], config=config)
    r = w.do("config")
    assert r.status == 200
    assert r.body == b'{"a":[1,2.5],"b":{"c":"d"},"e":null}'


def test_status_and_extra_headers_are_sent_reserved_ones_dropped(start, libs):
    w = start(libs["contract"])
    r = w.do("status", status=201)
    assert r.status == 201 and r.body == b"s"
    r = w.do("headers", headers={"X-Request-ID": "rid-h"},
             lines="X-Model: v2\r\nContent-Length: 999\r\n"
                   "X-Request-ID: spoofed\r\nConnection: close\r\n"
                   "Content-Type: text/evil\r\nCache-Control: no-store\r\n")
    assert r.status == 200, r
    assert r.headers["x-model"] == "v2"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-length"] == "0"
    assert r.headers["x-request-id"] == "rid-h"
    assert r.headers["content-type"] == "text/x-contract"
    assert r.headers["connection"] == "keep-alive"


# --- a failing predict ---------------------------------------------------------

def test_predict_failure_answers_500_json_and_logs_the_request_id(start, libs):
    w = start(libs["contract"])
    r = w.do("fail", message='bad "input"\nsecond line',
             headers={"X-Request-ID": "rid-77"})
    assert r.status == 500
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-request-id"] == "rid-77"
    assert r.json() == {"error": 'bad "input"\nsecond line'}
    w.wait_stderr('[rid-77] predictor failed: bad "input" second line\n')
    # the worker keeps serving
    assert w.do("describe").status == 200


def test_predict_failure_without_text_says_predictor_failed(start, libs):
    w = start(libs["contract"])
    r = w.do("fail_empty")
    assert r.status == 500
    assert r.json() == {"error": "predictor failed"}
    w.wait_stderr("[-] predictor failed: predictor failed")


def test_long_failure_text_is_truncated(start, libs):
    w = start(libs["contract"])
    r = w.do("fail", message="é" * 3000)
    assert r.status == 500
    msg = r.json()["error"]
    assert msg.endswith("...")
    assert set(msg[:-3]) == {"é"}
    assert len(msg[:-3].encode()) <= 1024


@pytest.mark.parametrize("status", [0, 99, 600, -1])
def test_status_outside_100_599_answers_500(start, libs, status):
    w = start(libs["contract"])
    r = w.do("status", status=status, headers={"X-Request-ID": "rid-st"})
    assert r.status == 500
    assert r.json() == {"error": f"predictor returned HTTP status {status} "
                                 "(must be 100..599)"}
    w.wait_stderr(f"[rid-st] predictor failed: predictor returned HTTP "
                  f"status {status}")


@pytest.mark.parametrize("headers", ["X-A: b", "X-A b\r\n", "X-A: b\nX: y\r\n",
                                     ": v\r\n", "\r\n"])
def test_malformed_extra_headers_answer_500(start, libs, headers):
    w = start(libs["contract"])
    r = w.do("headers", lines=headers)
    assert r.status == 500, r
    assert "malformed headers" in r.json()["error"]


def test_null_body_with_a_length_answers_500(start, libs):
    w = start(libs["contract"])
    r = w.do("null_body")
    assert r.status == 500
    assert r.json() == {"error": "predictor returned a NULL body with "
                                 "body_len 5"}


def test_free_response_is_called_once_per_predict(start, libs):
    w = start(libs["contract"])
    for what in ("describe", "fail", "fail_empty", "status", "null_body",
                 "headers"):
        w.do(what, status=700, lines="bad")
    stats = w.do("stats").json()
    # the stats call's own response is freed after it was written
    assert stats == {"predicts": 7, "frees": 6}
    assert w.do("stats").json() == {"predicts": 8, "frees": 7}


# --- loading errors ------------------------------------------------------------

def test_init_failure_reports_error_line_and_exit_3(start, libs):
    w = start(libs["contract"], config={"fail_init": "no weights\nin /x"},
              wait_ready=False)
    assert w.status_line() == "error no weights in /x"
    assert w.proc.wait(timeout=DEADLINE) == 3
    assert "no weights" in w.stderr()


def test_wrong_abi_version_is_refused_naming_both_versions(start, libs):
    w = start(libs["wrong_abi"], wait_ready=False)
    line = w.status_line()
    assert line.startswith("error wrong_abi.so: ABI version 99, glia expects 1"), line
    assert w.proc.wait(timeout=DEADLINE) == 3
    assert "contract: init" not in w.stderr(), "init ran despite the ABI check"


def test_missing_symbol_is_refused_naming_it(start, libs):
    w = start(libs["no_free_response"], wait_ready=False)
    line = w.status_line()
    assert line.startswith("error no_free_response.so does not define "
                           "glia_predictor_free_response"), line
    assert w.proc.wait(timeout=DEADLINE) == 3


def test_missing_library_is_refused(start, libs):
    w = start(Path("/nonexistent/nope.so"), wait_ready=False)
    line = w.status_line()
    assert line.startswith("error cannot load nope.so: "), line
    assert "No such file" in line
    assert w.proc.wait(timeout=DEADLINE) == 3


# --- threads, shutdown, crash --------------------------------------------------

def test_threads_per_process_runs_predict_calls_in_parallel(start, libs):
    w = start(libs["contract"], threads=4)
    results = [None] * 4
    barrier = threading.Barrier(5)

    def one(i):
        barrier.wait(10)
        results[i] = w.do("sleep", seconds=0.3)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    barrier.wait(10)
    t0 = time.monotonic()
    for t in threads:
        t.join(30)
    elapsed = time.monotonic() - t0
    assert [r.body for r in results] == [b"slept"] * 4
    assert elapsed < 1.0, f"4 x 0.3 s predicts on 4 threads took {elapsed:.2f}s"


def test_sigterm_frees_the_predictor_and_exits_0(start, libs):
    w = start(libs["contract"])
    w.do("describe")
    w.proc.send_signal(signal.SIGTERM)
    assert w.proc.wait(timeout=DEADLINE) == 0
    assert "contract: free after 1 predicts" in w.stderr()


def test_crash_in_predict_kills_the_worker_and_names_the_request(start, libs):
    w = start(libs["contract"])
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        w.do("crash", headers={"X-Request-ID": "rid-crash"})
    # SIGABRT under AddressSanitizer (abort_on_error), whose handler glia's
    # crash report hands the fault on to
    assert w.proc.wait(timeout=DEADLINE) in (-signal.SIGSEGV, -signal.SIGABRT)
    assert ("glia worker: SIGSEGV in the C predictor's predict, request "
            "[rid-crash]") in w.stderr()


# --- c-iris ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def sklearn_iris():
    """(samples, sklearn's predicted class names) for the model train.py
    trains."""
    datasets = pytest.importorskip("sklearn.datasets")
    linear = pytest.importorskip("sklearn.linear_model")
    import numpy as np
    iris = datasets.load_iris()
    model = linear.LogisticRegression(max_iter=1000).fit(iris.data, iris.target)
    rng = np.random.default_rng(7)
    lo, hi = iris.data.min(axis=0), iris.data.max(axis=0)
    samples = np.vstack([iris.data, rng.uniform(lo, hi, size=(50, 4))])
    names = [str(iris.target_names[k]) for k in model.predict(samples)]
    return [dict(zip(FEATURES, map(float, s))) for s in samples], names


def test_c_iris_predicts_like_sklearn(start, libs, sklearn_iris):
    w = start(libs["iris"], config={"weights": "model.json"},
              files={"model.json": libs["iris_weights"]})
    samples, expected = sklearn_iris
    conn = UnixHTTPConnection(w.sock_path)
    try:
        got = []
        for s in samples:
            r = w.request(json.dumps(s).encode(), conn=conn,
                          headers={"Content-Type": "application/json"})
            assert r.status == 200, r
            assert r.headers["content-type"] == "text/plain; charset=utf-8"
            got.append(r.body.decode())
    finally:
        conn.close()
    assert got == expected
    assert set(got) == {"setosa", "versicolor", "virginica"}


def test_c_iris_bad_payload_answers_400(start, libs):
    w = start(libs["iris"], files={"weights.json": libs["iris_weights"]})
    r = w.request(b'{"sepal_length": "x"}')
    assert r.status == 400
    assert r.json() == {"error": '"sepal_length" must be a number'}
    r = w.request(b"not json")
    assert r.status == 400 and "JSON object" in r.json()["error"]


def test_c_iris_without_weights_fails_to_start(start, libs):
    w = start(libs["iris"], config={"weights": "missing.json"},
              wait_ready=False)
    line = w.status_line()
    assert line.startswith("error cannot load the weights: "), line
    assert "missing.json" in line
    assert w.proc.wait(timeout=DEADLINE) == 3


# --- through the daemon ----------------------------------------------------------
#
# These need a daemon that deploys predictor.type c. Until src/mgmt.c stops
# refusing it, they are expected failures (xfail on the refusal's message).

def c_yaml(name, lib, config=None, threads=1, networking=None, batching=None):
    lines = [f"- name: {name}", "  kind: RealtimeAPI", "  predictor:",
             "    type: c", f"    path: {Path(lib).name}",
             f"    threads_per_process: {threads}"]
    if batching:
        lines.append(f"    server_side_batching: {json.dumps(batching)}")
    if config is not None:
        lines.append(f"    config: {json.dumps(config)}")
    if networking:
        lines.append("  networking:")
        lines += [f"    {k}: {json.dumps(v)}" for k, v in networking.items()]
    return "\n".join(lines) + "\n"


def deploy_c(d, proj, wait=True):
    args = ["deploy", "glia.yaml"] + (["--wait"] if wait else [])
    res = d.cli(*args, cwd=proj, check=False, timeout=180)
    if res.returncode != 0 and REFUSED in res.stderr:
        pytest.xfail("the daemon refuses predictor.type c: " + res.stderr.strip())
    return res


def test_daemon_serves_the_c_echo_example(daemon, tmp_path, libs):
    proj = write_project(tmp_path, (C_ECHO / "glia.yaml").read_text(),
                         {"echo.so": libs["echo"]})
    res = deploy_c(daemon, proj)
    assert res.returncode == 0, (res.stdout, res.stderr)
    daemon.wait_ready("c-echo")
    r = daemon.post("/c-echo/any/path?q=1", data=b"ping \xff",
                    headers={"Content-Type": "application/x-thing",
                             "X-Request-ID": "rid-gw"})
    assert r.status == 200, r
    assert r.body == b"ping \xff"
    assert r.headers["Content-Type"] == "application/x-thing"
    assert r.headers["X-Request-ID"] == "rid-gw"
    r = daemon.post("/c-echo", json={"hello": "world"})
    assert r.json() == {"hello": "world"}
    assert r.headers["X-Request-ID"], "the gateway's request id is echoed"


def test_daemon_serves_the_c_iris_example(daemon, tmp_path, libs):
    proj = write_project(tmp_path, (C_IRIS / "glia.yaml").read_text(),
                         {"iris.so": libs["iris"],
                          "weights.json": libs["iris_weights"]})
    res = deploy_c(daemon, proj)
    assert res.returncode == 0, (res.stdout, res.stderr)
    daemon.wait_ready("c-iris")
    out = daemon.cli("predict", "c-iris", "@" + str(C_IRIS / "sample.json"))
    assert out.stdout.strip() == "setosa"
    r = daemon.post("/c-iris", json={"sepal_length": 6.3, "sepal_width": 3.3,
                                     "petal_length": 6.0, "petal_width": 2.5})
    assert r.status == 200 and r.text == "virginica"
    logs = daemon.cli("logs", "c-iris").stdout
    assert "c-iris: loaded 3 classes over 4 features" in logs, logs


def test_daemon_init_failure_shows_failed_with_the_error(daemon, tmp_path, libs):
    yaml = c_yaml("c-broken", libs["contract"],
                  config={"fail_init": "c-init-failure-marker"})
    proj = write_project(tmp_path, yaml, {"contract.so": libs["contract"]})
    res = deploy_c(daemon, proj)
    assert res.returncode == 1, (res.stdout, res.stderr)
    detail = wait_for(lambda: (lambda x: x if x["status"] == "failed" else None)(
        daemon.get("c-broken")), timeout=60, message="status failed")
    assert detail.get("error") == "c-init-failure-marker", detail
    assert detail["replicas"]["ready"] == 0


def test_daemon_reports_a_wrong_abi_version_as_failed(daemon, tmp_path, libs):
    yaml = c_yaml("c-abi", libs["wrong_abi"])
    proj = write_project(tmp_path, yaml, {"wrong_abi.so": libs["wrong_abi"]})
    deploy_c(daemon, proj, wait=False)
    detail = wait_for(lambda: (lambda x: x if x["status"] == "failed" else None)(
        daemon.get("c-abi")), timeout=60, message="status failed")
    assert "ABI version 99, glia expects 1" in (detail.get("error") or ""), detail


def test_daemon_restarts_a_crashed_c_replica_and_serves_again(daemon, tmp_path,
                                                              libs):
    yaml = c_yaml("c-crash", libs["contract"], networking={"timeout": "20s"})
    proj = write_project(tmp_path, yaml, {"contract.so": libs["contract"]})
    res = deploy_c(daemon, proj)
    assert res.returncode == 0, (res.stdout, res.stderr)
    daemon.wait_ready("c-crash")
    (old_pid,) = daemon.replica_pids("c-crash")
    assert daemon.post("/c-crash", json={"do": "describe"}).status == 200

    r = daemon.post("/c-crash", json={"do": "crash"},
                    headers={"X-Request-ID": "rid-boom"}, timeout=60)
    assert r.status >= 500, r
    assert r.json()["error"], r

    def serving_again():
        detail = daemon.get("c-crash")
        pids = daemon.replica_pids("c-crash", state="ready")
        if detail["status"] != "live" or not pids or old_pid in pids:
            return None
        r = daemon.post("/c-crash", json={"do": "describe"})
        return detail if r.status == 200 else None

    detail = wait_for(serving_again, timeout=90, interval=0.3,
                      message="a restarted replica serving")
    restarts = max([detail.get("restarts") or 0] +
                   [x.get("restarts") or 0 for x in detail["replica_list"]])
    assert restarts >= 1, detail
    logs = wait_for(lambda: (lambda out: out if "[rid-boom]" in out else None)(
        daemon.cli("logs", "c-crash").stdout), timeout=30,
        message="the crash report in glia logs")
    assert "SIGSEGV in the C predictor's predict, request [rid-boom]" in logs


def test_daemon_c_replica_serves_threads_per_process_at_once(daemon, tmp_path,
                                                             libs):
    yaml = c_yaml("c-threads", libs["contract"], threads=4)
    proj = write_project(tmp_path, yaml, {"contract.so": libs["contract"]})
    res = deploy_c(daemon, proj)
    assert res.returncode == 0, (res.stdout, res.stderr)
    daemon.wait_ready("c-threads")
    results, elapsed = concurrent_posts(daemon, "/c-threads", 4,
                                        payload={"do": "sleep", "seconds": 0.3})
    assert [getattr(r, "body", r) for r in results] == [b"slept"] * 4, results
    assert elapsed < 1.0, f"4 x 0.3 s on 4 threads took {elapsed:.2f}s"


# --- server-side batching ----------------------------------------------------

BATCHING = {"max_batch_size": 4, "batch_interval": "200ms"}


def test_daemon_batches_a_c_predictor_with_predict_batch(daemon, tmp_path,
                                                         libs):
    """glia_predictor_predict_batch gets up to max_batch_size requests; each
    request gets its own answer; a failing batch fails its requests only;
    batch sizes reach glia_batch_size."""
    yaml = c_yaml("c-batch", libs["batch"], batching=BATCHING)
    proj = write_project(tmp_path, yaml, {"batch.so": libs["batch"]})
    res = deploy_c(daemon, proj)
    assert res.returncode == 0, (res.stdout, res.stderr)

    def many(n, prefix):
        out = [None] * n

        def one(i):
            s = daemon.session()
            try:
                out[i] = s.post("/c-batch", data=f"{prefix}-{i}".encode())
            finally:
                s.close()
        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        return out

    answers = many(8, "req")
    for i, r in enumerate(answers):
        assert r.status == 200, r
        a = r.json()
        assert a["echo"] == f"req-{i}" and 1 <= a["n"] <= 4, a
        assert 0 <= a["i"] < a["n"], a
        assert "X-Glia-Batch-Size" not in r.headers
    assert max(r.json()["n"] for r in answers) > 1  # 8 at once, 200ms window

    def batch_count():
        for line in daemon.http_get("/metrics").text.splitlines():
            if line.startswith('glia_batch_size_sum{api="c-batch"} '):
                return float(line.split()[-1])
        return None
    wait_for(lambda: batch_count() == 8, message="8 requests batched")

    r = daemon.post("/c-batch", data=b"please-fail")
    assert r.status == 500, r
    assert r.json() == {"error": "batch refused: a request asked to fail"}
    assert "batch refused" in daemon.cli("logs", "c-batch").stdout


def test_daemon_refuses_batching_without_predict_batch(daemon, tmp_path,
                                                       libs):
    yaml = c_yaml("c-nobatch", libs["echo"], batching=BATCHING)
    proj = write_project(tmp_path, yaml, {"echo.so": libs["echo"]})
    deploy_c(daemon, proj, wait=False)
    detail = wait_for(lambda: (lambda x: x if x["status"] == "failed" else None)(
        daemon.get("c-nobatch")), timeout=60, message="status failed")
    assert "does not define glia_predictor_predict_batch" in \
        (detail.get("error") or ""), detail
