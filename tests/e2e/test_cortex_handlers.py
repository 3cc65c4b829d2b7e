"""Cortex v0.34-v0.35 handlers (issue 14 item 3): projects written as those
versions documented them deploy unchanged. `handler:` takes the place of
`predictor:`, the file defines class Handler, and each HTTP method on the
endpoint calls handle_<method>, with payload / query_params / headers given
by parameter name. A method the Handler lacks answers 405 JSON; a handler
method may return (result, callback) and the callback runs after the
response, also when an inference protocol request (V2 infer, V1 predict)
calls handle_post. `handler` and `predictor` together are refused."""
import json
import textwrap

import pytest

from conftest import wait_for, write_project

# A Cortex 0.34 project: cortex.yaml with every handler key those docs
# listed, and a Handler with several HTTP methods.
V034_YAML = textwrap.dedent("""\
    # cortex.yaml (Cortex 0.34)
    - name: text-handler
      kind: RealtimeAPI
      handler:
        type: python
        path: handler.py
        config:
          greeting: hello
          enabled: yes
        env:
          HANDLER_SUFFIX: "!"
        processes_per_replica: 1
        threads_per_process: 2
        log_level: info
        shm_size: 64Mi
        dependencies:
          pip: requirements.txt
          conda: conda-packages.txt
          shell: dependencies.sh
      compute:
        cpu: 200m
        mem: 200Mi
    """)

V034_HANDLER = textwrap.dedent("""\
    import os


    class Handler:
        def __init__(self, config):
            self.greeting = config["greeting"]
            self.enabled = config["enabled"]
            self.suffix = os.environ.get("HANDLER_SUFFIX", "")
            self.store = {}

        def handle_post(self, payload):
            return {"greeting": self.greeting + self.suffix,
                    "echo": payload, "enabled": self.enabled}

        def handle_get(self, query_params):
            return "%s %s" % (self.greeting, query_params.get("name", "?"))

        def handle_put(self, payload, headers):
            key = headers["X-Key"]
            self.store[key] = payload
            return bytes(payload, "utf-8") if isinstance(payload, str) \\
                else b"stored"

        def handle_delete(self, query_params, headers, payload):
            return {"deleted": query_params.get("key"),
                    "had": self.store.pop(query_params.get("key"), None)}
    """)


@pytest.fixture(scope="module")
def d(module_daemon_factory):
    return module_daemon_factory()


def _deploy_v034(d, tmp_path):
    proj = write_project(tmp_path, V034_YAML, {
        "handler.py": V034_HANDLER, "requirements.txt": "",
        "conda-packages.txt": "", "dependencies.sh": "true\n"},
        dirname="v034", yaml_name="cortex.yaml")
    res = d.cli("deploy", "--wait", cwd=proj)
    assert "text-handler" in res.stdout, res.stdout
    return d.wait_ready("text-handler")


def test_v034_handler_methods_by_http_method(d, tmp_path):
    detail = _deploy_v034(d, tmp_path)
    assert detail["spec"]["predictor"]["handler"] is True

    r = d.post("/text-handler", json={"x": 1})
    assert r.status == 200, r
    assert r.content_type == "application/json"
    assert r.json() == {"greeting": "hello!", "echo": {"x": 1},
                        "enabled": True}

    # GET goes to handle_get (not the gateway's API description)
    r = d.http_get("/text-handler?name=ada")
    assert r.status == 200, r
    assert r.content_type == "text/plain" and r.body == b"hello ada"

    r = d.request("PUT", "/text-handler", data=b"v1",
                  headers={"Content-Type": "text/plain", "X-Key": "k"})
    assert r.status == 200, r
    assert r.content_type == "application/octet-stream" and r.body == b"v1"

    r = d.request("DELETE", "/text-handler?key=k")
    assert r.status == 200, r
    assert r.json() == {"deleted": "k", "had": "v1"}


def test_v034_method_without_handler_is_405_json(d, tmp_path):
    _deploy_v034(d, tmp_path)
    r = d.request("PATCH", "/text-handler", json={"x": 1})
    assert r.status == 405, r
    assert r.content_type == "application/json"
    assert "handle_patch" in r.json()["error"]
    allowed = [m.strip() for m in r.headers["Allow"].split(",")]
    assert allowed == ["POST", "GET", "PUT", "DELETE"]
    # the API still serves
    assert d.post("/text-handler", json=1).status == 200


V035_CALLBACK_YAML = textwrap.dedent("""\
    - name: callback-handler
      kind: RealtimeAPI
      handler:
        type: python
        path: handler.py
        config:
          marker_dir: {marker_dir}
    """)

V035_CALLBACK_HANDLER = textwrap.dedent("""\
    import os
    import threading


    class Handler:
        def __init__(self, config, metrics_client):
            self.dir = config["marker_dir"]
            self.metrics = metrics_client
            self.answered = threading.Event()

        def handle_post(self, payload, query_params, headers):
            self.metrics.increment("requests", tags=["a:b"])
            name = payload["name"]

            def _callback():
                # runs after the answer went out: the marker names it
                with open(os.path.join(self.dir, name), "w") as f:
                    f.write("after")
            return {"accepted": name}, _callback

        def handle_get(self):
            return ["plain", "list"]
    """)


def test_v035_callback_runs_after_the_response(d, tmp_path):
    marker_dir = tmp_path / "markers"
    marker_dir.mkdir()
    proj = write_project(tmp_path, V035_CALLBACK_YAML.format(
        marker_dir=marker_dir), {"handler.py": V035_CALLBACK_HANDLER},
        dirname="v035", yaml_name="cortex.yaml")
    d.cli("deploy", "cortex.yaml", "--wait", cwd=proj)
    d.wait_ready("callback-handler")

    r = d.post("/callback-handler", json={"name": "first"})
    assert r.status == 200, r
    # the answer is the first element only, the callback is not serialized
    assert r.json() == {"accepted": "first"}
    wait_for(lambda: (marker_dir / "first").exists(), timeout=30,
             message="the callback wrote its marker")
    assert (marker_dir / "first").read_text() == "after"

    # a list is an answer, not a (result, callback) pair
    r = d.http_get("/callback-handler")
    assert r.status == 200 and r.json() == ["plain", "list"], r


# The inference protocols call handle_post too: its (result, callback)
# answers result there and runs the callback after, as on the endpoint,
# also for a Handler with server_side_batching (a protocol request is a
# batch of one).
PROTOCOL_CALLBACK_YAML = textwrap.dedent("""\
    - name: oip-callback
      kind: RealtimeAPI
      handler:
        type: python
        path: handler.py
        config:
          marker_dir: {marker_dir}
    - name: oip-callback-batch
      kind: RealtimeAPI
      handler:
        type: python
        path: handler.py
        config:
          marker_dir: {marker_dir}
          batched: true
        threads_per_process: 2
        server_side_batching:
          max_batch_size: 2
          batch_interval: 10ms
    """)

PROTOCOL_CALLBACK_HANDLER = textwrap.dedent("""\
    import os
    import time


    class Handler:
        def __init__(self, config):
            self.dir = config["marker_dir"]
            self.batched = config.get("batched", False)

        def _double(self, payload):
            if isinstance(payload, dict):  # V2: {input name: array}
                return {"y": payload["x"] * 2}
            return (payload * 2).tolist()  # V1 "instances": one array

        def handle_post(self, payload, headers):
            if self.batched:  # lists, one element per request
                headers = headers[0]
            marker = os.path.join(self.dir, headers["X-Marker"])

            def _callback():
                # well after the answer went out, so a callback run before
                # answering would hold the answer back past the marker
                time.sleep(1)
                with open(marker, "w") as f:
                    f.write("after")
            if self.batched:
                return [self._double(p) for p in payload], _callback
            return self._double(payload), _callback
    """)


def test_v035_callback_on_the_inference_protocols(d, tmp_path):
    marker_dir = tmp_path / "markers"
    marker_dir.mkdir()
    proj = write_project(tmp_path, PROTOCOL_CALLBACK_YAML.format(
        marker_dir=marker_dir), {"handler.py": PROTOCOL_CALLBACK_HANDLER},
        dirname="oip-callback", yaml_name="cortex.yaml")
    d.cli("deploy", "cortex.yaml", "--wait", cwd=proj)
    v2 = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2],
                      "data": [1.5, 2.0]}]}
    for api in ("oip-callback", "oip-callback-batch"):
        d.wait_ready(api)
        r = d.post(f"/v2/models/{api}/infer", json=v2,
                   headers={"X-Marker": api + "-v2"})
        # the answer is the result alone, sent before the callback ran
        assert not (marker_dir / (api + "-v2")).exists()
        assert r.status == 200, r
        assert r.json() == {"model_name": api, "outputs": [
            {"name": "y", "datatype": "FP32", "shape": [2],
             "data": [3.0, 4.0]}]}, r.json()

        r = d.post(f"/v1/models/{api}:predict",
                   json={"instances": [[1, 2], [3, 4]]},
                   headers={"X-Marker": api + "-v1"})
        assert not (marker_dir / (api + "-v1")).exists()
        assert r.status == 200, r
        assert r.json() == {"predictions": [[2, 4], [6, 8]]}, r.json()

        for name in (api + "-v2", api + "-v1"):
            wait_for(lambda: (marker_dir / name).exists(), timeout=30,
                     message="the callback of %s wrote its marker" % name)
            assert (marker_dir / name).read_text() == "after"


def test_handler_and_predictor_together_are_refused(d, tmp_path):
    text = textwrap.dedent("""\
        - name: both
          kind: RealtimeAPI
          predictor:
            type: python
            path: handler.py
          handler:
            type: python
            path: handler.py
        """)
    proj = write_project(tmp_path, text, {"handler.py": V034_HANDLER},
                         dirname="both", yaml_name="cortex.yaml")
    res = d.cli("deploy", "cortex.yaml", cwd=proj, check=False)
    assert res.returncode != 0
    assert "cortex.yaml:6:3: handler:" in res.stderr, res.stderr
    assert "not both" in res.stderr
    names = [a["name"] for a in json.loads(
        d.cli("get", "-o", "json").stdout).get("apis", [])]
    assert "both" not in names


def test_handler_errors_name_the_handler_keys(d, tmp_path):
    text = textwrap.dedent("""\
        - name: bad-handler
          kind: RealtimeAPI
          handler:
            type: python
            path: handler.py
            threads_per_process: 0
        """)
    proj = write_project(tmp_path, text, {"handler.py": V034_HANDLER},
                         dirname="bad", yaml_name="cortex.yaml")
    res = d.cli("deploy", "cortex.yaml", cwd=proj, check=False)
    assert res.returncode != 0
    assert "handler.threads_per_process" in res.stderr, res.stderr
    assert "predictor." not in res.stderr

    text = text.replace("type: python", "type: command").replace(
        "    threads_per_process: 0\n", "")
    (proj / "cortex.yaml").write_text(text)
    res = d.cli("deploy", "cortex.yaml", cwd=proj, check=False)
    assert res.returncode != 0
    assert "handler.type" in res.stderr, res.stderr


def test_handler_file_without_handler_class_fails_to_start(d, tmp_path):
    text = textwrap.dedent("""\
        - name: no-handler-class
          kind: RealtimeAPI
          handler:
            type: python
            path: handler.py
        """)
    source = "class PythonPredictor:\n    def __init__(self, config):\n" \
             "        pass\n\n    def predict(self, payload):\n" \
             "        return 1\n"
    proj = write_project(tmp_path, text, {"handler.py": source},
                         dirname="noclass", yaml_name="cortex.yaml")
    d.cli("deploy", "cortex.yaml", cwd=proj)

    def error_shown():
        out = d.cli("get", "no-handler-class", "-o", "json").stdout
        return "no class Handler" in out and out
    wait_for(error_shown, timeout=60,
             message="glia get shows the missing Handler class")
    d.cli("delete", "no-handler-class", "-f")


# Cortex 0.35: a python Handler with multi_model_reloading gets
# model_client (0.34's name for python_client) and defines load_model.
MMR_YAML = textwrap.dedent("""\
    - name: mmr-handler
      kind: RealtimeAPI
      handler:
        type: python
        path: handler.py
        multi_model_reloading:
          paths:
            - name: a
              path: models/a
            - name: b
              path: models/b
    """)

MMR_HANDLER = textwrap.dedent("""\
    import os


    class Handler:
        def __init__(self, config, model_client):
            self.client = model_client

        def load_model(self, model_path):
            with open(os.path.join(model_path, "value.txt")) as f:
                return f.read().strip()

        def handle_post(self, query_params):
            return self.client.get_model(
                query_params["model"], query_params.get("version", "latest"))
    """)


def test_v035_handler_model_client_with_multi_model_reloading(d, tmp_path):
    proj = write_project(tmp_path, MMR_YAML, {
        "handler.py": MMR_HANDLER, "models/a/1/value.txt": "a1",
        "models/a/2/value.txt": "a2", "models/b/value.txt": "b"},
        dirname="mmr", yaml_name="cortex.yaml")
    d.cli("deploy", "cortex.yaml", "--wait", cwd=proj)
    d.wait_ready("mmr-handler")
    for query, want in (("?model=a", b"a2"), ("?model=a&version=1", b"a1"),
                        ("?model=b", b"b")):
        r = d.post("/mmr-handler" + query, json=None)
        assert r.status == 200 and r.body == want, (query, r)
    assert d.post("/mmr-handler?model=c").status == 404


BATCH_YAML = textwrap.dedent("""\
    - name: batch-handler
      kind: RealtimeAPI
      handler:
        type: python
        path: handler.py
        threads_per_process: 4
        server_side_batching:
          max_batch_size: 4
          batch_interval: 50ms
    """)

BATCH_HANDLER = textwrap.dedent("""\
    class Handler:
        def __init__(self, config):
            pass

        def handle_post(self, payload):
            # with server_side_batching, a list of payloads
            assert isinstance(payload, list)
            return [{"double": p * 2, "batch": len(payload)}
                    for p in payload]

        def handle_get(self, payload):
            # one request at a time, never batched
            return {"single": payload}
    """)


def test_handler_server_side_batching_batches_posts_only(d, tmp_path):
    import concurrent.futures
    proj = write_project(tmp_path, BATCH_YAML, {"handler.py": BATCH_HANDLER},
                         dirname="batch", yaml_name="cortex.yaml")
    d.cli("deploy", "cortex.yaml", "--wait", cwd=proj)
    d.wait_ready("batch-handler")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(
            lambda i: d.post("/batch-handler", json=i), range(8)))
    for i, r in enumerate(answers):
        assert r.status == 200, r
        body = r.json()
        assert body["double"] == 2 * i and 1 <= body["batch"] <= 4, body
    r = d.request("GET", "/batch-handler", json=5)
    assert r.status == 200 and r.json() == {"single": 5}, r
