"""Cortex projects of every version, with the keys Cortex renamed between
versions and the semantics glia copies from Cortex (issue 14, items 2 and
5). Each project is written here in the style of its version:

  v0.20  models as a list of {name, model_path, signature_key};
         networking.local_port / api_gateway; a TensorFlowPredictor with
         model_path + signature_key (stand-in tensorflow)
  v0.23  predictor.model_path (one model) and python_client
  v0.25  predictor.multi_model_reloading (the python type's models)
  0.2x   cortex_internal.lib.log / cortex.lib.log in a predictor
  all    config: yes/no (YAML 1.1 booleans) and 0x10, 017, 1_000 (YAML
         1.1 integers), endpoint written iris or /iris/, a
         TrafficSplitter shadow with weight 100, a name held by another
         kind

One daemon for the module; each test deploys APIs of its own names.
"""
import json
import re
import textwrap

import pytest

from conftest import write_project

MODEL_PREDICTOR = textwrap.dedent("""\
    import json
    import os


    class PythonPredictor:
        def __init__(self, config, python_client):
            self.client = python_client

        def load_model(self, model_path):
            with open(os.path.join(model_path, "model.json")) as f:
                return json.load(f)

        def predict(self, payload, query_params):
            return self.client.get_model(query_params.get("model"))
    """)


def model_files(names):
    return {f"models/{n}/model.json": json.dumps({"model": n}) for n in names}


@pytest.fixture(scope="module")
def d(module_daemon_factory):
    return module_daemon_factory()


def deploy(d, tmp_path, yaml_text, files, dirname):
    proj = write_project(tmp_path, yaml_text, files, dirname=dirname,
                         yaml_name="cortex.yaml")
    return d.cli("deploy", "--wait", cwd=proj, check=False)


def refused(d, tmp_path, yaml_text, dirname, files=None):
    res = deploy(d, tmp_path, yaml_text,
                 files or {"predictor.py": MODEL_PREDICTOR}, dirname)
    assert res.returncode == 1, res.stdout + res.stderr
    return res.stderr


def test_v023_model_path_and_v020_networking(d, tmp_path):
    res = deploy(d, tmp_path, textwrap.dedent("""\
        - name: cx-single
          kind: RealtimeAPI
          predictor:
            type: python
            path: predictor.py
            model_path: models/iris
          compute:
            cpu: 1
            inf: 0
          networking:
            endpoint: iris-single/
            local_port: 8888
            api_gateway: none
        """), {"predictor.py": MODEL_PREDICTOR, **model_files(["iris"])},
        "v023")
    assert res.returncode == 0, res.stderr
    detail = d.wait_ready("cx-single")
    assert detail["spec"]["networking"]["endpoint"] == "/iris-single"
    assert detail["spec"]["predictor"]["models"]["path"] == "models/iris"
    r = d.post("/iris-single", json={})
    assert r.status == 200 and r.json() == {"model": "iris"}, r


def test_v020_models_list_with_signature_keys(d, tmp_path):
    res = deploy(d, tmp_path, textwrap.dedent("""\
        - name: cx-list
          kind: RealtimeAPI
          predictor:
            type: python
            path: predictor.py
            models:
              - name: first
                model_path: models/first
                signature_key: serving_default
              - name: second
                model_path: models/second
        """), {"predictor.py": MODEL_PREDICTOR,
               **model_files(["first", "second"])}, "v020")
    assert res.returncode == 0, res.stderr
    detail = d.wait_ready("cx-list")
    assert detail["spec"]["predictor"]["models"]["paths"] == [
        {"name": "first", "path": "models/first",
         "signature_key": "serving_default"},
        {"name": "second", "path": "models/second"}]
    for name in ("first", "second"):
        r = d.post(f"/cx-list?model={name}", json={})
        assert r.status == 200 and r.json() == {"model": name}, r


def test_v025_multi_model_reloading(d, tmp_path):
    res = deploy(d, tmp_path, textwrap.dedent("""\
        - name: cx-reloading
          kind: RealtimeAPI
          predictor:
            type: python
            path: predictor.py
            multi_model_reloading:
              paths:
                - {name: a, path: models/a}
                - {name: b, model_path: models/b}
              cache_size: 1
              disk_cache_size: 2
        """), {"predictor.py": MODEL_PREDICTOR, **model_files(["a", "b"])},
        "v025")
    assert res.returncode == 0, res.stderr
    detail = d.wait_ready("cx-reloading")
    assert detail["spec"]["predictor"]["models"]["cache_size"] == 1
    for name in ("a", "b", "a"):  # cache_size 1: b evicts a, a comes back
        r = d.post(f"/cx-reloading?model={name}", json={})
        assert r.status == 200 and r.json() == {"model": name}, r


def test_two_names_of_one_setting_and_inferentia_are_refused(d, tmp_path):
    head = ("- name: cx-bad\n  kind: RealtimeAPI\n  predictor:\n"
            "    type: python\n    path: predictor.py\n")
    err = refused(d, tmp_path, head + "    model_path: models/a\n"
                  "    models: {path: models/a}\n", "both")
    assert ("predictor.models and predictor.model_path both give the "
            "models") in err, err
    err = refused(d, tmp_path, head + "  compute: {inf: 1}\n", "inf")
    assert "compute.inf: no Inferentia devices on this host" in err, err
    assert d.cli("get", "cx-bad", check=False).returncode != 0


CONFIG_PREDICTOR = textwrap.dedent("""\
    class PythonPredictor:
        def __init__(self, config):
            self.config = config

        def predict(self, payload):
            return {k: [type(v).__name__, v] for k, v in self.config.items()}
    """)


def test_config_yes_no_on_off_arrive_as_booleans(d, tmp_path):
    res = deploy(d, tmp_path, textwrap.dedent("""\
        - name: cx-yesno
          kind: RealtimeAPI
          predictor:
            type: python
            path: predictor.py
            config:
              enabled: yes
              verbose: No
              cache: ON
              debug: off
              short: y
              quoted: "yes"
              word: yesterday
          networking:
            endpoint: /cx-flags/
            retries: no
        """), {"predictor.py": CONFIG_PREDICTOR}, "yesno")
    assert res.returncode == 0, res.stderr
    detail = d.wait_ready("cx-yesno")
    assert detail["spec"]["networking"]["endpoint"] == "/cx-flags"
    assert detail["spec"]["networking"]["retries"] is False
    r = d.post("/cx-flags", json={})
    assert r.status == 200, r
    assert r.json() == {
        "enabled": ["bool", True], "verbose": ["bool", False],
        "cache": ["bool", True], "debug": ["bool", False],
        "short": ["bool", True], "quoted": ["str", "yes"],
        "word": ["str", "yesterday"]}


def test_config_yaml11_numbers_arrive_as_cortex_read_them(d, tmp_path):
    """go-yaml v2's integer forms (hex, octal, binary, "_") are ints in
    predictor.config and in glia's integer fields; quoted they stay
    strings, 1:30 too."""
    res = deploy(d, tmp_path, textwrap.dedent("""\
        - name: cx-numbers
          kind: RealtimeAPI
          predictor:
            type: python
            path: predictor.py
            threads_per_process: 0x2
            config:
              hex: 0x10
              octal: 017
              binary: 0b101
              thousand: 1_000
              half: .5
              quoted: "0x10"
              clock: 1:30
          autoscaling:
            max_replicas: 0o12
        """), {"predictor.py": CONFIG_PREDICTOR}, "numbers")
    assert res.returncode == 0, res.stderr
    detail = d.wait_ready("cx-numbers")
    assert detail["spec"]["predictor"]["threads_per_process"] == 2
    assert detail["spec"]["autoscaling"]["max_replicas"] == 10
    r = d.post("/cx-numbers", json={})
    assert r.status == 200, r
    assert r.json() == {
        "hex": ["int", 16], "octal": ["int", 15], "binary": ["int", 5],
        "thousand": ["int", 1000], "half": ["float", 0.5],
        "quoted": ["str", "0x10"], "clock": ["str", "1:30"]}


NAMED_PREDICTOR = textwrap.dedent("""\
    class PythonPredictor:
        def __init__(self, config):
            self.name = config["name"]

        def predict(self, payload):
            print("seen", payload.get("i"))
            return {"api": self.name, "i": payload.get("i")}
    """)


def realtime(name):
    return textwrap.dedent(f"""\
        - name: {name}
          kind: RealtimeAPI
          predictor:
            type: python
            path: predictor.py
            config: {{name: {name}}}
        """)


def metric(d, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in d.http_get("/metrics").text.splitlines():
        if line.startswith(f"{name}{{{want}}} "):
            return float(line.split()[-1])
    return None


def test_shadow_weight_is_the_percentage_mirrored(d, tmp_path):
    # Cortex's example form: the shadow has weight 100 and gets a copy of
    # every request while the primary answers; weight 50 mirrors exactly
    # every other request
    splitters = textwrap.dedent("""\
        - name: cx-mirror-all
          kind: TrafficSplitter
          apis:
            - name: cx-primary
              weight: 100
            - name: cx-shadow
              weight: 100
              shadow: true
        - name: cx-mirror-half
          kind: TrafficSplitter
          apis:
            - {name: cx-primary, weight: 100}
            - {name: cx-shadow, weight: 50, shadow: true}
        """)
    res = deploy(d, tmp_path, realtime("cx-primary") + realtime("cx-shadow")
                 + splitters, {"predictor.py": NAMED_PREDICTOR}, "shadow")
    assert res.returncode == 0, res.stderr
    d.wait_ready("cx-primary")
    d.wait_ready("cx-shadow")
    s = d.session()
    try:
        for endpoint in ("/cx-mirror-all", "/cx-mirror-half"):
            for i in range(100):
                r = s.post(endpoint, json={"i": i})
                assert r.status == 200, r
                assert r.json() == {"api": "cx-primary", "i": i}, r
    finally:
        s.close()
    assert metric(d, "glia_split_requests_total", api="cx-mirror-all",
                  target="cx-shadow") == 100
    assert metric(d, "glia_split_requests_total", api="cx-mirror-half",
                  target="cx-shadow") == 50
    d.wait_for(lambda: metric(d, "glia_requests_total", api="cx-shadow",
                              code="200") == 150,
               timeout=60, message="150 shadow copies answered")
    shadows = [a for a in d.get("cx-mirror-all")["apis"] if a["shadow"]]
    assert shadows == [{"name": "cx-shadow", "weight": 100, "shadow": True,
                        "requests": 100}]


def test_a_name_held_by_another_kind_is_refused(d, tmp_path):
    res = deploy(d, tmp_path, realtime("cx-kind-a") + textwrap.dedent("""\
        - name: cx-kind-split
          kind: TrafficSplitter
          apis:
            - {name: cx-kind-a, weight: 100}
        """), {"predictor.py": NAMED_PREDICTOR}, "kinds")
    assert res.returncode == 0, res.stderr
    d.wait_ready("cx-kind-a")
    # a RealtimeAPI under the splitter's name
    err = refused(d, tmp_path, realtime("cx-kind-split"), "clash1",
                  {"predictor.py": NAMED_PREDICTOR})
    assert ("API cx-kind-split is a TrafficSplitter; it cannot be "
            "redeployed as a RealtimeAPI") in err, err
    # a TrafficSplitter under a RealtimeAPI's name
    err = refused(d, tmp_path, textwrap.dedent("""\
        - name: cx-kind-a
          kind: TrafficSplitter
          apis:
            - {name: cx-kind-split, weight: 100}
        """), "clash2", {})
    assert ("API cx-kind-a is a RealtimeAPI; it cannot be redeployed as a "
            "TrafficSplitter") in err, err
    assert d.get("cx-kind-split")["kind"] == "TrafficSplitter"
    assert d.get("cx-kind-a")["kind"] == "RealtimeAPI"
    r = d.post("/cx-kind-split", json={"i": 1})
    assert r.status == 200 and r.json() == {"api": "cx-kind-a", "i": 1}, r


LOG_PREDICTOR = textwrap.dedent("""\
    from cortex_internal.lib.log import logger as cortex_logger
    from cortex.lib.log import cx_logger


    class PythonPredictor:
        def __init__(self, config):
            cortex_logger.info("cx-log loaded")

        def predict(self, payload):
            cortex_logger.info("cx-log request", extra={"n": payload["n"]})
            cortex_logger.debug("cx-log hidden at info")
            cx_logger().warning("cx-log old-style warning")
            cx_logger.error("cx-log object-style error")
            return "ok"
    """)


def test_cortex_internal_log_lines_reach_glia_logs(d, tmp_path):
    res = deploy(d, tmp_path, textwrap.dedent("""\
        - name: cx-log
          kind: RealtimeAPI
          predictor:
            type: python
            path: predictor.py
            log_level: info
        """), {"predictor.py": LOG_PREDICTOR}, "logs")
    assert res.returncode == 0, res.stderr
    d.wait_ready("cx-log")
    r = d.post("/cx-log", json={"n": 7})
    assert r.status == 200, r
    rid = r.headers.get("x-request-id")

    want = [r"INFO \[-\] cx-log loaded$",
            rf'INFO \[{re.escape(rid)}\] cx-log request {{"n": 7}}$',
            rf"WARNING \[{re.escape(rid)}\] cx-log old-style warning$",
            rf"ERROR \[{re.escape(rid)}\] cx-log object-style error$"]

    def logged():
        out = d.cli("logs", "cx-log").stdout
        return out if all(re.search(w, out, re.M) for w in want) else None

    out = d.wait_for(logged, timeout=30, message="cortex log lines")
    assert "hidden at info" not in out


# Cortex 0.20-0.24 TensorFlow: predictor.model_path with the predictor's
# signature_key, and 0.20's models list with a signature_key per model.
# The stand-in tensorflow package is test_cortex_tf_onnx's (tensorflow
# cannot be installed here): a "SavedModel" multiplies x by its
# signature's factor.
TF_V020_PREDICTOR = textwrap.dedent("""\
    class TensorFlowPredictor:
        def __init__(self, tensorflow_client, config):
            self.client = tensorflow_client

        def predict(self, payload, query_params):
            return self.client.predict({"x": payload},
                                       query_params.get("model"))
    """)


def test_v020_tensorflow_model_path_and_signature_keys(d, tmp_path):
    from test_cortex_tf_onnx import (FAKE_TF_INIT, FAKE_TF_SAVED_MODEL,
                                     saved_model)
    files = {
        "predictor.py": TF_V020_PREDICTOR,
        "tensorflow/__init__.py": FAKE_TF_INIT,
        "tensorflow/saved_model.py": FAKE_TF_SAVED_MODEL,
        "models/scaler/1/saved_model.json": saved_model(serving_default=1,
                                                        double=2),
        "models/scaler/2/saved_model.json": saved_model(serving_default=10,
                                                        double=20),
        "models/triple/saved_model.json": saved_model(serving_default=3,
                                                      other=5),
    }
    res = deploy(d, tmp_path, textwrap.dedent("""\
        - name: cx-tf-path
          kind: RealtimeAPI
          predictor:
            type: tensorflow
            path: predictor.py
            model_path: models/scaler
            signature_key: double
        - name: cx-tf-list
          kind: RealtimeAPI
          predictor:
            type: tensorflow
            path: predictor.py
            models:
              - name: scaler
                model_path: models/scaler
              - name: triple
                model_path: models/triple
                signature_key: serving_default
        """), files, "tf-v020")
    assert res.returncode == 0, res.stderr
    d.wait_ready("cx-tf-path")
    d.wait_ready("cx-tf-list")
    # the predictor's signature_key (double), latest version 2
    r = d.post("/cx-tf-path", json=[1, 2])
    assert r.status == 200 and r.json() == {"y": [20, 40]}, r
    # per model: triple's own signature_key picks one of its two
    r = d.post("/cx-tf-list?model=triple", json=[1, 2])
    assert r.status == 200 and r.json() == {"y": [3, 6]}, r
