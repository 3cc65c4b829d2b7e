"""Cortex's TensorFlow and ONNX predictor types (issue 14 item 8).

`type: tensorflow` and `type: onnx` run in the predictor's Python: the
models are loaded with tf.saved_model.load / onnxruntime.InferenceSession
by the same model store as the python type (versions, "latest",
model_name). Neither runtime can be installed here (Debian 12 packages
neither), so:
  - a deploy without the runtime is refused with one line saying what to
    install;
  - the loading and calling code is tested with stand-in `onnxruntime` and
    `tensorflow` packages that the test writes into the project: their
    "models" are JSON files computing something deterministic.
"""
import importlib.util
import json
import socket
import subprocess
import threading
import time
import textwrap

import pytest

from conftest import (GLIA_BIN, processes_mentioning, simple_spec, wait_for,
                      write_project)

# --- stand-in runtimes --------------------------------------------------

FAKE_ONNXRUNTIME = textwrap.dedent("""\
    # A stand-in for onnxruntime: a "model" is JSON {"weights", "bias"};
    # run() gives one output, the dot product of each row plus the bias.
    import json


    class NodeArg:
        def __init__(self, name, type, shape):
            self.name, self.type, self.shape = name, type, shape


    class InferenceSession:
        def __init__(self, path, *args, **kwargs):
            with open(path) as f:
                self.model = json.load(f)
            self.path = path

        def get_inputs(self):
            return [NodeArg("x", "tensor(float)",
                            [None, len(self.model["weights"])])]

        def run(self, output_names, input_feed):
            x = input_feed["x"]
            rows = x.tolist() if hasattr(x, "tolist") else x
            if rows and not isinstance(rows[0], list):
                rows = [rows]
            w, b = self.model["weights"], self.model["bias"]
            return [[sum(a * v for a, v in zip(w, row)) + b
                     for row in rows]]
    """)

FAKE_TF_INIT = textwrap.dedent("""\
    # A stand-in for tensorflow: tf.constant and tf.saved_model.load.
    from . import saved_model


    class Tensor:
        def __init__(self, value):
            self.value = value

        def numpy(self):
            return self


        def tolist(self):
            return self.value


    def constant(value):
        return Tensor(value)
    """)

FAKE_TF_SAVED_MODEL = textwrap.dedent("""\
    # A "SavedModel" is a directory with saved_model.json:
    # {"signatures": {name: factor}}; a signature multiplies input x.
    import json
    import os


    class Signature:
        def __init__(self, factor):
            self.factor = factor

        def __call__(self, **inputs):
            from tensorflow import Tensor
            return {"y": Tensor([v * self.factor
                                 for v in inputs["x"].value])}


    class Loaded:
        def __init__(self, spec):
            self.signatures = {k: Signature(v)
                               for k, v in spec["signatures"].items()}


    def load(path):
        with open(os.path.join(path, "saved_model.json")) as f:
            return Loaded(json.load(f))
    """)


def onnx_model(weights, bias):
    return json.dumps({"weights": weights, "bias": bias})


def saved_model(**signatures):
    return json.dumps({"signatures": signatures})


def runtime_installed(name):
    return importlib.util.find_spec(name) is not None


@pytest.fixture(scope="module")
def d(module_daemon_factory):
    return module_daemon_factory()


# --- ONNX ----------------------------------------------------------------

# Cortex 0.25-0.32: predictor.models with named, versioned models.
ONNX_YAML = textwrap.dedent("""\
    - name: onnx-api
      kind: RealtimeAPI
      predictor:
        type: onnx
        path: predictor.py
        models:
          paths:
            - name: linear
              path: models/linear
            - name: other
              path: models/other
        config:
          default_model: linear
    """)

ONNX_PREDICTOR = textwrap.dedent("""\
    class ONNXPredictor:
        def __init__(self, onnx_client, config):
            self.client = onnx_client
            self.default = config["default_model"]

        def predict(self, payload, query_params):
            name = query_params.get("model", self.default)
            version = query_params.get("version", "latest")
            out = self.client.predict(payload["x"], name, version)
            sig = self.client.get_model(name, version)["input_signatures"]
            return {"y": [float(v) for v in out[0]],
                    "input": sorted(sig)}
    """)

ONNX_FILES = {
    "predictor.py": ONNX_PREDICTOR,
    "onnxruntime/__init__.py": FAKE_ONNXRUNTIME,
    "models/linear/1/model.onnx": onnx_model([1, 0], 0),
    "models/linear/2/model.onnx": onnx_model([1, 1], 0.5),
    "models/other/model.onnx": onnx_model([0, 2], 1),
}


def test_onnx_versions_and_model_names(d, tmp_path):
    proj = write_project(tmp_path, ONNX_YAML, ONNX_FILES, dirname="onnx",
                         yaml_name="cortex.yaml")
    d.cli("deploy", "cortex.yaml", "--wait", cwd=proj)
    detail = d.wait_ready("onnx-api")
    assert detail["spec"]["predictor"]["type"] == "onnx"

    def y(query=""):
        r = d.post("/onnx-api" + query, json={"x": [[3, 4]]})
        assert r.status == 200, r
        return r.json()

    # latest of linear is version 2: 3 + 4 + 0.5
    assert y() == {"y": [7.5], "input": ["x"]}
    assert y("?version=1")["y"] == [3.0]
    assert y("?version=2")["y"] == [7.5]
    assert y("?model=other")["y"] == [9.0]
    # an unknown version or model is the model store's 404
    r = d.post("/onnx-api?version=7", json={"x": [[3, 4]]})
    assert r.status == 404, r
    r = d.post("/onnx-api?model=nope", json={"x": [[3, 4]]})
    assert r.status == 404, r


# Cortex 0.20: model_path names the .onnx file itself.
ONNX_V020_YAML = textwrap.dedent("""\
    - name: onnx-v020
      kind: RealtimeAPI
      predictor:
        type: onnx
        path: predictor.py
        model_path: models/other/model.onnx
        config:
          default_model: null
    """)


def test_onnx_v020_model_path_file(d, tmp_path):
    proj = write_project(tmp_path, ONNX_V020_YAML, ONNX_FILES,
                         dirname="onnx-v020", yaml_name="cortex.yaml")
    d.cli("deploy", "cortex.yaml", "--wait", cwd=proj)
    d.wait_ready("onnx-v020")
    r = d.post("/onnx-v020", json={"x": [3, 4]})
    assert r.status == 200, r
    assert r.json()["y"] == [9.0]


# --- TensorFlow ----------------------------------------------------------

# Cortex 0.25-0.33: TensorFlowPredictor, models.paths with signature_key.
TF_YAML = textwrap.dedent("""\
    - name: tf-api
      kind: RealtimeAPI
      predictor:
        type: tensorflow
        path: predictor.py
        models:
          paths:
            - name: scaler
              path: models/scaler
              signature_key: double
            - name: single
              path: models/single
    """)

TF_PREDICTOR = textwrap.dedent("""\
    class TensorFlowPredictor:
        def __init__(self, tensorflow_client, config):
            self.client = tensorflow_client

        def predict(self, payload, query_params):
            return self.client.predict(
                {"x": payload}, query_params.get("model", "scaler"),
                query_params.get("version", "latest"))
    """)

TF_FILES = {
    "predictor.py": TF_PREDICTOR,
    "tensorflow/__init__.py": FAKE_TF_INIT,
    "tensorflow/saved_model.py": FAKE_TF_SAVED_MODEL,
    "models/scaler/1/saved_model.json": saved_model(serving_default=1,
                                                    double=2),
    "models/scaler/2/saved_model.json": saved_model(serving_default=10,
                                                    double=20),
    "models/single/saved_model.json": saved_model(only=3),
}


def test_tensorflow_signature_versions_and_model_names(d, tmp_path):
    proj = write_project(tmp_path, TF_YAML, TF_FILES, dirname="tf",
                         yaml_name="cortex.yaml")
    d.cli("deploy", "cortex.yaml", "--wait", cwd=proj)
    d.wait_ready("tf-api")

    def y(query=""):
        r = d.post("/tf-api" + query, json=[1, 2])
        assert r.status == 200, r
        return r.json()

    # signature_key: double, latest version 2
    assert y() == {"y": [20, 40]}
    assert y("?version=1") == {"y": [2, 4]}
    # a model with one signature uses it
    assert y("?model=single") == {"y": [3, 6]}


# Cortex 0.34-0.35: a tensorflow Handler.
TF_HANDLER_YAML = textwrap.dedent("""\
    - name: tf-handler
      kind: RealtimeAPI
      handler:
        type: tensorflow
        path: handler.py
        models:
          path: models/scaler
          signature_key: serving_default
    """)

TF_HANDLER = textwrap.dedent("""\
    class Handler:
        def __init__(self, config, tensorflow_client):
            self.client = tensorflow_client

        def handle_post(self, payload):
            return self.client.predict({"x": payload})
    """)


def test_tensorflow_handler_v035(d, tmp_path):
    files = dict(TF_FILES)
    files["handler.py"] = TF_HANDLER
    proj = write_project(tmp_path, TF_HANDLER_YAML, files,
                         dirname="tf-handler", yaml_name="cortex.yaml")
    d.cli("deploy", "cortex.yaml", "--wait", cwd=proj)
    d.wait_ready("tf-handler")
    r = d.post("/tf-handler", json=[1, 2])
    assert r.status == 200, r
    assert r.json() == {"y": [10, 20]}
    assert d.http_get("/tf-handler").status == 405


# --- refused at deploy without the runtime ------------------------------

@pytest.mark.parametrize("kind,package,cls", [
    ("onnx", "onnxruntime", "ONNXPredictor"),
    ("tensorflow", "tensorflow", "TensorFlowPredictor")])
def test_deploy_refused_when_runtime_missing(d, tmp_path, kind, package,
                                             cls):
    if runtime_installed(package):
        pytest.skip(f"{package} is installed here")
    text = textwrap.dedent(f"""\
        - name: needs-{kind}
          kind: RealtimeAPI
          predictor:
            type: {kind}
            path: predictor.py
            models:
              path: models/m
        """)
    proj = write_project(tmp_path, text, {
        "predictor.py": f"class {cls}:\n    pass\n",
        "models/m/model.onnx": onnx_model([1], 0)},
        dirname=f"no-{kind}", yaml_name="cortex.yaml")
    res = d.cli("deploy", "cortex.yaml", cwd=proj, check=False)
    assert res.returncode != 0
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert f"type: {kind} needs the Python package {package}" in err
    assert f"pip install {package}" in err
    names = [a["name"] for a in json.loads(
        d.cli("get", "-o", "json").stdout).get("apis", [])]
    assert f"needs-{kind}" not in names


def test_runtime_found_through_python_path(d, tmp_path):
    """The check looks where the predictor imports from: a runtime under
    predictor.python_path is found."""
    text = ONNX_YAML.replace("name: onnx-api", "name: onnx-pypath").replace(
        "    path: predictor.py\n", "    path: predictor.py\n"
        "    python_path: lib\n")
    files = dict(ONNX_FILES)
    files["lib/onnxruntime/__init__.py"] = files.pop(
        "onnxruntime/__init__.py")
    proj = write_project(tmp_path, text, files, dirname="onnx-pypath",
                         yaml_name="cortex.yaml")
    d.cli("deploy", "cortex.yaml", "--wait", cwd=proj)
    d.wait_ready("onnx-pypath")
    r = d.post("/onnx-pypath", json={"x": [[1, 1]]})
    assert r.status == 200 and r.json()["y"] == [2.5], r


def test_tensorflow_and_onnx_need_models(d, tmp_path):
    text = textwrap.dedent("""\
        - name: no-models
          kind: RealtimeAPI
          predictor:
            type: tensorflow
            path: predictor.py
        """)
    proj = write_project(tmp_path, text, TF_FILES, dirname="no-models",
                         yaml_name="cortex.yaml")
    res = d.cli("deploy", "cortex.yaml", cwd=proj, check=False)
    assert res.returncode != 0
    assert "predictor.models: required for type tensorflow" in res.stderr, \
        res.stderr


# --- the check does not hold up serving ---------------------------------

# GLIA_PYRUNTIME_PYTHON (for tests only) names the interpreter the check
# runs: this one answers 3 s late.
SLOW_PYTHON = """#!/bin/sh
sleep 3
exec /usr/bin/python3 "$@"
"""

STEADY_PREDICTOR = textwrap.dedent("""\
    class PythonPredictor:
        def __init__(self, config):
            pass

        def predict(self, payload):
            return {"ok": True}
    """)


def slow_check_daemon(daemon_factory, tmp_path):
    """A daemon whose runtime checks run SLOW_PYTHON."""
    slow = tmp_path / "slow-python3"
    slow.write_text(SLOW_PYTHON)
    slow.chmod(0o755)
    d = daemon_factory(start=False)
    d.env["GLIA_PYRUNTIME_PYTHON"] = str(slow)
    return d.start()


def test_runtime_check_does_not_block_serving(daemon_factory, tmp_path):
    """The check's interpreter runs beside the daemon's loop (issue 13
    item 7): while a deploy waits for a slow one, another API keeps being
    answered; the deploy is answered when the check ends, and a client
    that left before then does not hurt the daemon."""
    d = slow_check_daemon(daemon_factory, tmp_path)
    steady = write_project(tmp_path, simple_spec("steady"),
                           {"predictor.py": STEADY_PREDICTOR},
                           dirname="steady")
    d.cli("deploy", cwd=steady)
    d.wait_ready("steady")

    answers = []  # (time.monotonic(), status)
    stop = threading.Event()

    def request_loop():
        s = d.session(timeout=10)
        try:
            while not stop.is_set():
                r = s.post("/steady", json={})
                answers.append((time.monotonic(), r.status))
        finally:
            s.close()

    loop = threading.Thread(target=request_loop, daemon=True)
    loop.start()
    time.sleep(0.5)
    text = ONNX_YAML.replace("name: onnx-api", "name: onnx-slow")
    proj = write_project(tmp_path, text, ONNX_FILES, dirname="onnx-slow",
                         yaml_name="cortex.yaml")
    t0 = time.monotonic()
    d.cli("deploy", "cortex.yaml", cwd=proj)
    t1 = time.monotonic()
    time.sleep(0.3)
    stop.set()
    loop.join(15)

    # the deploy was answered after the slow check, not before it
    assert t1 - t0 >= 3.0, t1 - t0
    assert answers and all(st == 200 for _, st in answers), answers[-5:]
    during = [t for t, _ in answers if t0 <= t <= t1]
    marks = [t0] + during + [t1]
    gap = max(b - a for a, b in zip(marks, marks[1:]))
    assert gap < 1.5, (gap, len(during))

    # a client that leaves while its deploy is checked: the answer is
    # dropped, the deploy is still made, the daemon keeps serving
    text = ONNX_YAML.replace("name: onnx-api", "name: onnx-left")
    proj = write_project(tmp_path, text, ONNX_FILES, dirname="onnx-left",
                         yaml_name="cortex.yaml")
    body = json.dumps({"path": str(proj / "cortex.yaml"),
                       "content": text}).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(str(d.sock_path))
        s.sendall(b"POST /v1/deploy HTTP/1.1\r\nHost: glia\r\n"
                  b"Content-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        time.sleep(0.5)
    deadline = time.monotonic() + 30
    while True:
        status, listing = d.mgmt("GET", "/v1/apis")
        assert status == 200, listing
        if "onnx-left" in [a["name"] for a in listing.get("apis", [])]:
            break
        assert time.monotonic() < deadline, listing
        time.sleep(0.2)
    assert d.alive()
    assert d.post("/steady", json={}).status == 200


def test_changes_wait_for_a_deploy_being_checked(daemon_factory, tmp_path):
    """Management changes apply in the order they came: a `glia delete` of
    an API whose deploy is still being checked (3 s) waits for that deploy
    and then deletes it (it used to find nothing, and the deploy came
    after); a deploy sent meanwhile is made after the first. Reads answer
    at once."""
    d = slow_check_daemon(daemon_factory, tmp_path)
    text = ONNX_YAML.replace("name: onnx-api", "name: onnx-order")
    proj = write_project(tmp_path, text, ONNX_FILES, dirname="onnx-order",
                         yaml_name="cortex.yaml")
    steady = write_project(tmp_path, simple_spec("after"),
                           {"predictor.py": STEADY_PREDICTOR},
                           dirname="after")
    first = subprocess.Popen(
        [str(GLIA_BIN), "deploy", "cortex.yaml"], cwd=proj, env=d.env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # the deploy is being checked once the slow interpreter runs
    wait_for(lambda: processes_mentioning("slow-python3"), timeout=30,
             message="the runtime check running")
    t0 = time.monotonic()
    status, listing = d.mgmt("GET", "/v1/apis")
    assert status == 200 and time.monotonic() - t0 < 2.5, listing
    assert "onnx-order" not in [a["name"] for a in listing["apis"]]
    second = subprocess.Popen(
        [str(GLIA_BIN), "deploy"], cwd=steady, env=d.env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    res = d.cli("delete", "onnx-order", check=False)
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert res.returncode == 0, res.stderr
    out2, err2 = second.communicate(timeout=60)
    assert second.returncode == 0, err2
    names = [a["name"] for a in d.mgmt("GET", "/v1/apis")[1]["apis"]]
    assert names == ["after"], names
    assert d.alive()
