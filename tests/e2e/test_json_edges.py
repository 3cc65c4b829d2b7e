"""JSON at the edges of the Python runtime (issue 13, point 9): a request
body nested 100k levels deep gets 400 "nested too deep" (json.loads raised
RecursionError: 500), and a predictor answering NaN or an infinity gets 500
with a clear error instead of a 200 whose body is not JSON ("NaN" echoed).
Both paths are checked with and without server_side_batching."""
import json
import textwrap

import pytest

from conftest import write_project

PREDICTOR = textwrap.dedent("""\
    import numpy as np


    def answer(payload, mode):
        if mode == "nan":
            return {"score": float("nan")}
        if mode == "inf":
            return [1.0, {"low": float("-inf")}]
        if mode == "np_nan":
            return {"scores": np.array([0.5, np.nan])}
        return {"type": type(payload).__name__}


    def mode_of(query_params):
        return (query_params or {}).get("mode", "echo")


    class PythonPredictor:
        def __init__(self, config):
            pass

        def predict(self, payload, query_params):
            return answer(payload, mode_of(query_params))


    class BatchPredictor:
        def __init__(self, config):
            pass

        def predict(self, payload, query_params):
            return [answer(p, mode_of(q))
                    for p, q in zip(payload, query_params)]
    """)

APIS = textwrap.dedent("""\
    - name: json-edges
      kind: RealtimeAPI
      predictor:
        type: python
        path: predictor.py
    - name: json-edges-batch
      kind: RealtimeAPI
      predictor:
        type: python
        path: batch.py
        server_side_batching:
          max_batch_size: 2
          batch_interval: 5ms
    """)

APIS_NAMES = ["json-edges", "json-edges-batch"]
DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture(scope="module")
def d(module_daemon_factory, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("json-edges")
    batch = PREDICTOR.replace("class PythonPredictor", "class _Single") \
        .replace("class BatchPredictor", "class PythonPredictor")
    proj = write_project(tmp, APIS, {"predictor.py": PREDICTOR,
                                     "batch.py": batch})
    daemon = module_daemon_factory()
    daemon.cli("deploy", "glia.yaml", cwd=proj)
    for name in APIS_NAMES:
        daemon.wait_ready(name, timeout=120)
    return daemon


def strict_json(body):
    """json.loads that refuses NaN and Infinity, as JSON does."""
    def refuse(name):
        raise ValueError(f"not JSON: {name}")
    return json.loads(body, parse_constant=refuse)


@pytest.mark.parametrize("api", APIS_NAMES)
def test_deep_json_body_gets_400(d, api):
    r = d.post(f"/{api}", data=DEEP, headers={"Content-Type": "application/json"})
    assert r.status == 400, r
    assert r.content_type == "application/json"
    err = strict_json(r.body)["error"]
    assert err.startswith("invalid JSON payload") and "nested too deep" in err, err
    # the replica keeps serving
    r = d.post(f"/{api}", json={"a": [1, [2]]})
    assert r.status == 200 and r.json() == {"type": "dict"}, r


@pytest.mark.parametrize("api", APIS_NAMES)
def test_deep_json_as_form_data_is_not_a_500(d, api):
    """A form body that looks like JSON is parsed as JSON when it can be
    (curl -d): one too deep is handed over as form data, like any other
    body that is not JSON."""
    r = d.post(f"/{api}", data=DEEP,
               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200, r
    assert r.json() == {"type": "dict"}


@pytest.mark.parametrize("api", APIS_NAMES)
@pytest.mark.parametrize("mode,shown", [("nan", "NaN"), ("inf", "-Infinity"),
                                        ("np_nan", "NaN")])
def test_nan_or_infinity_answer_is_a_500_json_error(d, api, mode, shown):
    r = d.post(f"/{api}?mode={mode}", json={})
    assert r.status == 500, r
    assert r.content_type == "application/json"
    err = strict_json(r.body)["error"]
    assert err == f"predict returned a value JSON cannot represent: {shown}", err
    assert d.post(f"/{api}", json={}).status == 200
