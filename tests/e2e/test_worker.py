"""End-to-end tests of `glia worker`: start the binary directly with a spec
file, a predictor and a status pipe on fd 3, and speak HTTP to its socket.

Run: GLIA_BIN=build/glia /usr/bin/python3 -m pytest -q tests/e2e/test_worker.py
"""

import json
import os
import signal
import socket
import textwrap
import threading
import time

import pytest

from worker_harness import DEADLINE, GLIA_BIN, launch, stop, worker_spec
from worker_harness import sockdir  # noqa: F401 (a fixture)

pytestmark = pytest.mark.skipif(
    not os.access(GLIA_BIN, os.X_OK),
    reason="glia binary not found at %s (run make, or set GLIA_BIN)" % GLIA_BIN)


ECHO = """
import glia

def plain(v):
    if isinstance(v, bytes):
        return {"__bytes__": v.hex()}
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v

class PythonPredictor:
    def __init__(self, config):
        self.config = config

    def predict(self, payload, query_params, headers):
        return {"type": type(payload).__name__, "payload": plain(payload),
                "query": query_params, "headers": dict(headers),
                "rid": headers.get("X-REQUEST-ID"),
                "rid_var": glia.request_id()}
"""


@pytest.fixture
def start(tmp_path, sockdir):
    started = []

    def _start(source, config=None, threads=1, env=None, python_path=None,
               files=None, proc_env=None, wait_ready=True, name="predictor.py",
               cls=None):
        n = len(started)
        proj = tmp_path / ("proj%d" % n)
        proj.mkdir()
        (proj / name).write_text(textwrap.dedent(source))
        for rel, text in (files or {}).items():
            (proj / rel).parent.mkdir(parents=True, exist_ok=True)
            (proj / rel).write_text(textwrap.dedent(text))
        spec = worker_spec({"path": name, "config": config or {},
                            "python_path": python_path, "env": env or {},
                            "threads_per_process": threads})
        worker = launch(tmp_path, os.path.join(sockdir, "w%d.sock" % n),
                        proj, spec, n=n, proc_env=proc_env,
                        wait_ready=False)
        started.append(worker)
        if wait_ready:
            line = worker.status_line()
            assert line == "ready", "status %r; stderr:\n%s" % (
                line, worker.stderr())
        return worker

    yield _start
    stop(started)


# --- start-up ------------------------------------------------------------

def test_ready_line_on_fd3_then_serves(start):
    w = start(ECHO)
    assert os.stat(w.sock_path).st_mode & 0o777 == 0o600
    r = w.request(b"", method="GET")
    assert r.status == 200
    assert r.headers["content-type"] == "application/json"
    assert int(r.headers["content-length"]) == len(r.body)


def test_init_exception_reports_error_line_and_exit_3(start):
    w = start("""
        class PythonPredictor:
            def __init__(self, config):
                raise ValueError("no model\\nhere")
            def predict(self, payload):
                return 1
    """, wait_ready=False)
    assert w.status_line() == "error ValueError: no model here"
    assert w.wait_exit() == 3
    err = w.stderr()
    assert "Traceback (most recent call last)" in err
    assert 'raise ValueError("no model' in err


def test_missing_predictor_class_is_an_error(start):
    w = start("class Other:\n    pass\n", wait_ready=False)
    assert w.status_line() == \
        "error predictor.py defines neither PythonPredictor nor Predictor"
    assert w.wait_exit() == 3


def test_syntax_error_in_predictor_is_an_error(start):
    w = start("class PythonPredictor(:\n", wait_ready=False)
    assert w.status_line().startswith("error SyntaxError:")
    assert w.wait_exit() == 3


def test_class_named_predictor_is_accepted(start):
    w = start("""
        class Predictor:
            def __init__(self, config):
                pass
            def predict(self, payload):
                return "hi"
    """)
    assert w.request(b"").body == b"hi"


# --- payloads ------------------------------------------------------------

def test_json_payload_is_parsed(start):
    w = start(ECHO)
    r = w.post_json({"a": [1, 2, {"b": None}]})
    assert r.status == 200
    assert r.json()["payload"] == {"a": [1, 2, {"b": None}]}


def test_empty_json_body_is_none(start):
    w = start(ECHO)
    r = w.request(b"", headers={"Content-Type": "application/json"})
    assert r.json()["type"] == "NoneType"


def test_text_payload_is_str(start):
    w = start(ECHO)
    r = w.request("héllo".encode("latin-1"),
                  headers={"Content-Type": "text/plain; charset=latin-1"})
    assert r.json()["type"] == "str"
    assert r.json()["payload"] == "héllo"


def test_other_and_missing_content_types_give_bytes(start):
    w = start(ECHO)
    r = w.request(b"\x00\x01\xff", headers={"Content-Type": "image/png"})
    assert r.json()["payload"] == {"__bytes__": "0001ff"}
    r = w.request(b"abc")
    assert r.json()["payload"] == {"__bytes__": "616263"}


def test_urlencoded_form_payload_is_a_dict(start):
    w = start(ECHO)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    r = w.request(b"a=1&b=x%20y&c=2&c=3", headers=form)
    assert r.json()["payload"] == {"a": "1", "b": "x y", "c": ["2", "3"]}
    # curl -d '{"a": 1}' sends JSON as a form: parsed as JSON (Cortex habit)
    r = w.request(b'{"a": 1}', headers=form)
    assert r.json()["payload"] == {"a": 1}


def test_multipart_form_payload(start):
    w = start(ECHO)
    boundary = "XyZ123"
    body = (
        "--XyZ123\r\n"
        'Content-Disposition: form-data; name="field"\r\n\r\n'
        "value one\r\n"
        "--XyZ123\r\n"
        'Content-Disposition: form-data; name="file"; filename="a.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + b"\x00\r\n\xff" + b"\r\n--XyZ123--\r\n"
    r = w.request(body, headers={
        "Content-Type": "multipart/form-data; boundary=" + boundary})
    assert r.status == 200, r.body
    assert r.json()["payload"] == {"field": "value one",
                                   "file": {"__bytes__": "000d0aff"}}


def test_bad_json_answers_400(start):
    w = start(ECHO)
    r = w.request(b'{"a": ', headers={"Content-Type": "application/json"})
    assert r.status == 400
    assert r.json()["error"].startswith("invalid JSON payload: ")


def test_body_over_limit_answers_413(start):
    w = start(ECHO, proc_env={"GLIA_MAX_BODY_BYTES": "100"})
    r = w.request(b"x" * 1000)
    assert r.status == 413
    assert "error" in r.json()


# --- query, headers, request id -----------------------------------------

def test_query_params_and_headers_reach_the_predictor(start):
    w = start(ECHO)
    r = w.post_json({}, path="/sub/path?a=1&b=two&a=3&e=",
                    headers={"X-Request-ID": "req-42", "X-Custom": "Yes"})
    got = r.json()
    assert got["query"] == {"a": "3", "b": "two", "e": ""}
    assert got["headers"]["x-custom"] == "Yes"
    assert got["rid"] == "req-42"
    assert got["rid_var"] == "req-42"
    assert r.headers["x-request-id"] == "req-42"


def test_headers_lookup_ignores_case(start):
    w = start("""
        class PythonPredictor:
            def __init__(self, config):
                pass
            def predict(self, headers):
                return [headers["x-thing"], headers["X-THING"],
                        "X-Thing" in headers, headers.get("Nope", "dflt")]
    """)
    r = w.request(b"", headers={"X-Thing": "v"})
    assert r.json() == ["v", "v", True, "dflt"]


def test_keep_alive_serves_many_requests_on_one_connection(start):
    w = start(ECHO)
    conn = w.connect()
    try:
        for i in range(20):
            r = w.post_json({"i": i}, conn=conn)
            assert r.json()["payload"] == {"i": i}
    finally:
        conn.close()


# --- arguments by name ---------------------------------------------------

def test_predict_taking_only_payload(start):
    w = start("""
        class PythonPredictor:
            def __init__(self):
                pass
            def predict(self, payload):
                return {"got": payload}
    """)
    assert w.post_json([1]).json() == {"got": [1]}


def test_predict_arguments_in_any_order(start):
    w = start("""
        class PythonPredictor:
            def __init__(self, config):
                pass
            def predict(self, headers, payload):
                return {"p": payload, "h": headers["x-a"]}
    """)
    r = w.post_json({"k": 1}, headers={"X-A": "b"})
    assert r.json() == {"p": {"k": 1}, "h": "b"}


def test_predict_with_kwargs_gets_everything(start):
    w = start("""
        class PythonPredictor:
            def __init__(self, **kwargs):
                self.keys = sorted(kwargs)
            def predict(self, **kw):
                return {"init": self.keys, "predict": sorted(kw)}
    """)
    assert w.request(b"").json() == {
        "init": ["config", "job_spec", "metrics_client", "python_client"],
        "predict": ["headers", "payload", "query_params"]}


# --- return values --------------------------------------------------------

def test_numpy_values_are_returned_as_json(start):
    w = start("""
        import numpy as np
        class PythonPredictor:
            def __init__(self, config):
                pass
            def predict(self, payload):
                return {"arr": np.arange(4).reshape(2, 2), "f": np.float32(1.5),
                        "i": np.int64(7), "b": np.bool_(True), "s": {3}}
    """)
    r = w.request(b"")
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"arr": [[0, 1], [2, 3]], "f": 1.5, "i": 7, "b": True,
                        "s": [3]}


def test_str_and_bytes_and_none_returns(start):
    w = start("""
        class PythonPredictor:
            def __init__(self, config):
                pass
            def predict(self, query_params):
                kind = query_params["k"]
                if kind == "str":
                    return "héllo"
                if kind == "bytes":
                    return b"\\x00\\x01"
                return None
    """)
    r = w.request(path="/?k=str")
    assert r.headers["content-type"].startswith("text/plain")
    assert r.body.decode() == "héllo"
    r = w.request(path="/?k=bytes")
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.body == b"\x00\x01"
    r = w.request(path="/?k=none")
    assert r.headers["content-type"] == "application/json"
    assert r.body == b"null"


def test_glia_response_sets_status_headers_and_media_type(start):
    w = start("""
        import glia
        class PythonPredictor:
            def __init__(self, config):
                pass
            def predict(self, query_params):
                if "csv" in query_params:
                    return glia.Response("a,b\\n", media_type="text/csv")
                return glia.Response({"created": True}, status=201,
                                     headers={"X-Model": "v2",
                                              "Content-Length": "999"})
    """)
    r = w.request(b"")
    assert r.status == 201
    assert r.headers["x-model"] == "v2"
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"created": True}
    r = w.request(path="/?csv=1")
    assert r.status == 200
    assert r.headers["content-type"] == "text/csv"
    assert r.body == b"a,b\n"


def test_unencodable_return_answers_500(start):
    w = start("""
        class PythonPredictor:
            def __init__(self, config):
                pass
            def predict(self, payload):
                return {"x": object()}
    """)
    r = w.request(b"")
    assert r.status == 500
    assert r.json() == {"error": "predictor returned a value that cannot be "
                                 "encoded as JSON: object"}


# --- errors and logs ------------------------------------------------------

def test_predict_exception_answers_500_and_logs_traceback_with_request_id(start):
    w = start("""
        import logging
        class PythonPredictor:
            def __init__(self, config):
                pass
            def predict(self, payload):
                logging.info("predicting now")
                raise KeyError("missing")
    """)
    r = w.request(b"", headers={"X-Request-ID": "rid-77"})
    assert r.status == 500
    assert r.json() == {"error": "KeyError: 'missing'"}
    assert r.headers["x-request-id"] == "rid-77"
    err = w.wait_stderr("[rid-77] KeyError: 'missing'")
    assert "[rid-77] Traceback (most recent call last):" in err
    assert "INFO [rid-77] predicting now" in err
    # the worker keeps serving
    assert w.request(b"", headers={"X-Request-ID": "rid-78"}).status == 500


def test_post_predict_runs_after_the_response_is_sent(start, tmp_path):
    marker = tmp_path / "post.json"
    w = start("""
        import json, time
        class PythonPredictor:
            def __init__(self, config):
                self.marker = config["marker"]
            def predict(self, payload):
                return {"answer": payload["q"] * 2}
            def post_predict(self, response, payload):
                time.sleep(0.5)
                with open(self.marker, "w") as f:
                    json.dump({"response": response, "payload": payload}, f)
    """, config={"marker": str(marker)})
    r = w.post_json({"q": 21})
    assert r.json() == {"answer": 42}
    assert not marker.exists()
    end = time.monotonic() + DEADLINE
    while not marker.exists() and time.monotonic() < end:
        time.sleep(0.05)
    time.sleep(0.1)  # let the write finish
    assert json.loads(marker.read_text()) == {"response": {"answer": 42},
                                              "payload": {"q": 21}}


# --- concurrency and shutdown -------------------------------------------

SLOW = """
    import os, time
    class PythonPredictor:
        def __init__(self, config):
            self.config = config
        def predict(self, payload):
            started = self.config.get("started")
            if started:
                open(started, "w").close()
            time.sleep(payload["sleep"])
            return {"slept": payload["sleep"]}
"""


def test_threads_serve_concurrent_requests(start):
    w = start(SLOW, threads=4)
    results = []

    def call():
        results.append(w.post_json({"sleep": 0.5}).status)

    t0 = time.monotonic()
    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
    elapsed = time.monotonic() - t0
    assert results == [200] * 4
    assert elapsed < 1.5, "4 requests of 0.5 s took %.2f s" % elapsed


def test_sigterm_lets_the_request_in_flight_finish_then_exits_0(start, tmp_path):
    started = tmp_path / "started"
    w = start(SLOW, config={"started": str(started)})
    result = {}

    def call():
        result["reply"] = w.post_json({"sleep": 1.0})

    t = threading.Thread(target=call)
    t.start()
    end = time.monotonic() + DEADLINE
    while not started.exists() and time.monotonic() < end:
        time.sleep(0.02)
    assert started.exists()
    w.proc.send_signal(signal.SIGTERM)
    t.join(DEADLINE)
    assert result["reply"].status == 200
    assert result["reply"].json() == {"slept": 1.0}
    assert result["reply"].headers.get("connection") == "close"
    assert w.wait_exit() == 0
    assert not os.path.exists(w.sock_path)


def test_sigterm_when_idle_with_open_connection_exits_0(start):
    w = start(ECHO, threads=2)
    conn = w.connect()
    try:
        assert w.post_json({}, conn=conn).status == 200
        w.proc.send_signal(signal.SIGTERM)
        assert w.wait_exit() == 0
    finally:
        conn.close()


# --- project settings -----------------------------------------------------

def test_config_env_and_python_path_are_honoured(start):
    w = start("""
        import os
        import helper
        class PythonPredictor:
            def __init__(self, config):
                self.config = config
            def predict(self):
                return {"config": self.config, "env": os.environ.get("MY_VAR"),
                        "helper": helper.VALUE, "cwd": os.getcwd()}
    """, config={"k": [1, "v"]}, env={"MY_VAR": "hello"}, python_path="lib",
        files={"lib/helper.py": "VALUE = 'from lib'\n"})
    got = w.request(b"").json()
    assert got["config"] == {"k": [1, "v"]}
    assert got["env"] == "hello"
    assert got["helper"] == "from lib"
    assert os.path.basename(got["cwd"]) == "proj0"


def test_sklearn_iris_model(start):
    w = start("""
        from sklearn.datasets import load_iris
        from sklearn.linear_model import LogisticRegression

        LABELS = ["setosa", "versicolor", "virginica"]

        class PythonPredictor:
            def __init__(self, config):
                x, y = load_iris(return_X_y=True)
                self.model = LogisticRegression(max_iter=1000).fit(x, y)

            def predict(self, payload):
                row = [payload["sepal_length"], payload["sepal_width"],
                       payload["petal_length"], payload["petal_width"]]
                return LABELS[self.model.predict([row])[0]]
    """)
    r = w.post_json({"sepal_length": 5.2, "sepal_width": 3.6,
                     "petal_length": 1.4, "petal_width": 0.3})
    assert r.status == 200
    assert r.body == b"setosa"
    r = w.post_json({"sepal_length": 7.7, "sepal_width": 3.0,
                     "petal_length": 6.1, "petal_width": 2.3})
    assert r.body == b"virginica"


# --- HTTP framing ---------------------------------------------------------

def _raw_exchange(path, data, timeout=DEADLINE):
    """Sends raw bytes, returns everything read until the worker closes."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    try:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk
    finally:
        s.close()


def test_pipelined_requests_are_answered_in_order(start):
    w = start(ECHO)
    req = ("POST / HTTP/1.1\r\nContent-Type: application/json\r\n"
           "X-Request-ID: r%d\r\nContent-Length: %d\r\n%s\r\n%s")
    data = b""
    for i in range(3):
        body = json.dumps({"i": i})
        last = "Connection: close\r\n" if i == 2 else ""
        data += (req % (i, len(body), last, body)).encode()
    out = _raw_exchange(w.sock_path, data)
    assert out.count(b"HTTP/1.1 200 OK") == 3
    assert out.index(b"X-Request-ID: r0") < out.index(b"X-Request-ID: r1") \
        < out.index(b"X-Request-ID: r2")


def test_malformed_request_answers_400_and_closes(start):
    w = start(ECHO)
    out = _raw_exchange(w.sock_path, b"THIS IS NOT HTTP\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 ")
    assert b'"error"' in out
    # still serving
    assert w.post_json({}).status == 200


def test_http10_request_closes_after_answer(start):
    w = start(ECHO)
    out = _raw_exchange(w.sock_path,
                        b"POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi")
    assert out.startswith(b"HTTP/1.1 200 OK")
    assert b"Connection: close" in out


def test_starlette_style_response_is_honoured(start):
    # Cortex predictors may return starlette.responses.Response; glia takes
    # any object with status_code, body and raw_headers.
    w = start("""
        class FakeStarletteResponse:
            def __init__(self):
                self.status_code = 202
                self.body = b"<b>hi</b>"
                self.raw_headers = [(b"content-type", b"text/html"),
                                    (b"content-length", b"9"),
                                    (b"x-extra", b"1")]

        class PythonPredictor:
            def __init__(self, config):
                pass
            def predict(self, payload):
                return FakeStarletteResponse()
    """)
    r = w.request(b"")
    assert r.status == 202
    assert r.headers["content-type"] == "text/html"
    assert r.headers["x-extra"] == "1"
    assert r.body == b"<b>hi</b>"
