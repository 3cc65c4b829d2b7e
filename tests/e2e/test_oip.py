"""The standard inference protocols end to end (issue 7, docs/protocols.md):
Open Inference Protocol V2 over REST, JSON and binary tensors, and TF
Serving / KServe V1 predict, through a real daemon's gateway.

The conformance cases follow the protocol's documented examples: the V2
infer request with "id" 42 (UINT32 and BOOL inputs), the binary tensor
extension's request with one binary and one JSON input, every datatype in
both encodings, nested and flat data, the error cases (malformed JSON,
unknown datatype, wrong shape, unknown input, wrong datatype, binary size
mismatch), model metadata with and without a signature, and V1 row and
columnar requests. tests/e2e/predictors/oip_echo answers its inputs back
(or another shape, picked by ?mode=); oip_mlp is a numpy MLP classifier.

A few checks start `glia worker` directly (as tests/e2e/test_worker.py
does) to see the worker side of the contract without the gateway.
"""
import concurrent.futures
import importlib.util
import json
import math
import struct

import numpy as np
import pytest

import test_worker as tw
from conftest import PREDICTORS, write_project


def _load_mlp():
    """The MLP predictor's module, for its weights and forward pass."""
    spec = importlib.util.spec_from_file_location(
        "oip_mlp_predictor", PREDICTORS / "oip_mlp" / "predictor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mlp = _load_mlp()

MLP_SIGNATURE = """\
    signature:
      inputs:
        - {name: x, datatype: FP32, shape: [-1, 4]}
      outputs:
        - {name: probabilities, datatype: FP32, shape: [-1, 3]}
        - {name: label, datatype: INT64, shape: [-1]}
"""

PROJECT_YAML = f"""\
- name: oip-echo
  kind: RealtimeAPI
  predictor:
    type: python
    path: oip_echo/predictor.py
    threads_per_process: 4
- name: oip-mlp
  kind: RealtimeAPI
  predictor:
    type: python
    path: oip_mlp/predictor.py
    config: {{seed: 7}}
{MLP_SIGNATURE}- name: oip-mlp-own
  kind: RealtimeAPI
  predictor:
    type: python
    path: oip_mlp/predictor.py
    config: {{seed: 7}}
"""
APIS = ("oip-echo", "oip-mlp", "oip-mlp-own")


@pytest.fixture(scope="module")
def d(module_daemon_factory, tmp_path_factory):
    daemon = module_daemon_factory()
    proj = write_project(tmp_path_factory.mktemp("oip"), PROJECT_YAML,
                         {"oip_echo": PREDICTORS / "oip_echo",
                          "oip_mlp": PREDICTORS / "oip_mlp"})
    daemon.deploy(proj / "glia.yaml", "--timeout", "5m")
    for api in APIS:
        daemon.wait_ready(api)
    return daemon


# --- helpers -------------------------------------------------------------

def infer(d, model, request, query="", headers=None):
    """POST a JSON V2 infer request; Resp."""
    path = f"/v2/models/{model}/infer" + (f"?{query}" if query else "")
    return d.post(path, json=request, headers=headers)


def binary_request(request, blobs):
    """(body, headers) of a request with binary tensors after the JSON."""
    head = json.dumps(request).encode()
    return head + b"".join(blobs), {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(head))}


def infer_binary(d, model, request, blobs, query=""):
    body, headers = binary_request(request, blobs)
    path = f"/v2/models/{model}/infer" + (f"?{query}" if query else "")
    return d.post(path, data=body, headers=headers)


def split_answer(r):
    """(JSON header, {output name: its binary bytes}) of a V2 answer."""
    n = r.headers.get("Inference-Header-Content-Length")
    if n is None:
        assert r.content_type == "application/json", r
        return r.json(), {}
    assert r.content_type == "application/octet-stream", r
    head = json.loads(r.body[:int(n)])
    blobs, pos = {}, int(n)
    for out in head["outputs"]:
        size = (out.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            blobs[out["name"]] = r.body[pos:pos + size]
            pos += size
    assert pos == len(r.body), "binary sizes do not add up to the body"
    return head, blobs


def outputs(answer):
    return {o["name"]: o for o in answer["outputs"]}


def error_of(r, status=400):
    assert r.status == status, r
    assert r.content_type == "application/json", r
    message = r.json()["error"]
    assert isinstance(message, str) and message
    return message


# --- what the gateway answers itself ------------------------------------

def test_server_metadata_health_and_model_readiness(d):
    meta = d.http_get("/v2")
    assert meta.status == 200, meta
    assert meta.json()["name"] == "glia"
    assert "binary_tensor_data" in meta.json()["extensions"]
    assert d.http_get("/v2/health/live").json() == {"live": True}
    assert d.http_get("/v2/health/ready").status == 200
    ready = d.http_get("/v2/models/oip-echo/ready")
    assert ready.status == 200 and ready.json()["ready"] is True, ready
    assert d.http_get("/v2/models/nope/ready").status == 404
    assert d.post("/v2/models/nope/infer", json={"inputs": []}).status == 404


def test_v1_model_status(d):
    r = d.http_get("/v1/models/oip-echo")
    assert r.status == 200, r
    status = r.json()["model_version_status"][0]
    assert status["state"] == "AVAILABLE"


# --- V2 infer: the documented examples ----------------------------------

def test_v2_documented_json_example_echoes_id_and_requested_output(d):
    request = {
        "id": "42",
        "inputs": [
            {"name": "input0", "shape": [2, 2], "datatype": "UINT32",
             "data": [1, 2, 3, 4]},
            {"name": "input1", "shape": [3], "datatype": "BOOL",
             "data": [True, False, True]},
        ],
        "outputs": [{"name": "input0"}],
    }
    r = infer(d, "oip-echo", request)
    assert r.status == 200, r
    assert r.content_type == "application/json"
    assert "Inference-Header-Content-Length" not in r.headers
    assert r.headers.get("X-Request-ID")
    answer = r.json()
    assert answer["model_name"] == "oip-echo"
    assert answer["id"] == "42"
    assert answer["outputs"] == [{"name": "input0", "datatype": "UINT32",
                                  "shape": [2, 2], "data": [1, 2, 3, 4]}]


def test_v2_without_outputs_answers_every_output_and_no_id(d):
    request = {"inputs": [
        {"name": "a", "shape": [2], "datatype": "FP32", "data": [1.5, 2]},
        {"name": "b", "shape": [1], "datatype": "INT8", "data": [-3]}]}
    r = infer(d, "oip-echo", request, query="mode=double")
    assert r.status == 200, r
    answer = r.json()
    assert "id" not in answer
    assert outputs(answer) == {
        "a": {"name": "a", "datatype": "FP32", "shape": [2],
              "data": [3.0, 4.0]},
        "b": {"name": "b", "datatype": "INT8", "shape": [1], "data": [-6]}}


def test_v2_documented_binary_example(d):
    # The binary tensor extension's example: input0 as 16 raw bytes,
    # input1 as JSON; output0 asked for in binary, output1 in JSON.
    request = {
        "model_name": "oip-echo",
        "inputs": [
            {"name": "input0", "shape": [2, 2], "datatype": "UINT32",
             "parameters": {"binary_data_size": 16}},
            {"name": "input1", "shape": [3], "datatype": "BOOL",
             "data": [True, False, True]},
        ],
        "outputs": [
            {"name": "input0", "parameters": {"binary_data": True}},
            {"name": "input1"},
        ],
    }
    raw = struct.pack("<4I", 1, 2, 3, 0xFFFFFFFF)
    r = infer_binary(d, "oip-echo", request, [raw])
    assert r.status == 200, r
    answer, blobs = split_answer(r)
    out = outputs(answer)
    assert out["input0"] == {"name": "input0", "datatype": "UINT32",
                             "shape": [2, 2],
                             "parameters": {"binary_data_size": 16}}
    assert blobs["input0"] == raw
    assert out["input1"]["data"] == [True, False, True]
    assert [o["name"] for o in answer["outputs"]] == ["input0", "input1"]


def test_v2_binary_data_output_parameter_makes_every_output_binary(d):
    request = {"parameters": {"binary_data_output": True},
               "inputs": [{"name": "x", "shape": [3], "datatype": "FP64",
                           "data": [0.25, -1, 1e300]}]}
    r = infer(d, "oip-echo", request)
    answer, blobs = split_answer(r)
    assert outputs(answer)["x"]["parameters"] == {"binary_data_size": 24}
    assert "data" not in outputs(answer)["x"]
    assert blobs["x"] == np.array([0.25, -1, 1e300], "<f8").tobytes()

    # ...unless an output says binary_data: false
    request["outputs"] = [{"name": "x",
                           "parameters": {"binary_data": False}}]
    r = infer(d, "oip-echo", request)
    assert r.content_type == "application/json", r
    assert outputs(r.json())["x"]["data"] == [0.25, -1.0, 1e300]


# --- V2 infer: datatypes ------------------------------------------------

ROUND_TRIP = {
    "BOOL": [True, False, False, True],
    "UINT8": [0, 1, 254, 255],
    "UINT16": [0, 1, 7, 65535],
    "UINT32": [0, 5, 6, 2**32 - 1],
    "UINT64": [0, 9, 2**63, 2**64 - 1],
    "INT8": [-128, -1, 0, 127],
    "INT16": [-32768, -1, 0, 32767],
    "INT32": [-2**31, -1, 0, 2**31 - 1],
    "INT64": [-2**63, -1, 0, 2**63 - 1],
    "FP16": [0.5, -2.0, 65504.0, 0.0009765625],
    "FP32": [0.5, -1.25, 3.4028234663852886e38, 1.401298464324817e-45],
    "FP64": [0.1, -1e300, 5e-324, 2.5],
    "BYTES": ["a", "", "h\u00e9llo w\u00f6rld", "\u2603"],
}
NUMPY = {"BOOL": "?", "UINT8": "u1", "UINT16": "<u2", "UINT32": "<u4",
         "UINT64": "<u8", "INT8": "i1", "INT16": "<i2", "INT32": "<i4",
         "INT64": "<i8", "FP16": "<f2", "FP32": "<f4", "FP64": "<f8"}


def bytes_tensor(items):
    return b"".join(struct.pack("<I", len(b)) + b for b in items)


def raw_tensor(datatype, values):
    if datatype == "BYTES":
        return bytes_tensor([v.encode() if isinstance(v, str) else v
                             for v in values])
    return np.array(values, dtype=NUMPY[datatype]).tobytes()


@pytest.mark.parametrize("datatype", list(ROUND_TRIP))
def test_v2_json_round_trip_of_every_datatype(d, datatype):
    values = ROUND_TRIP[datatype]
    request = {"inputs": [{"name": "t", "shape": [2, 2],
                           "datatype": datatype, "data": values}]}
    r = infer(d, "oip-echo", request)
    assert r.status == 200, r
    out = outputs(r.json())["t"]
    assert out["datatype"] == datatype and out["shape"] == [2, 2]
    if datatype in ("FP16", "FP32"):  # the fewest digits of that type
        np.testing.assert_array_equal(np.array(out["data"], NUMPY[datatype]),
                                      np.array(values, NUMPY[datatype]))
    else:
        assert out["data"] == values


def test_v2_fp32_json_output_has_the_digits_of_fp32(d):
    request = {"inputs": [
        {"name": "a", "shape": [3], "datatype": "FP32",
         "data": [0.1, 1e-45, 16777217]},
        {"name": "h", "shape": [2], "datatype": "FP16", "data": [0.1, 1e5]},
        {"name": "n", "shape": [3], "datatype": "FP32",
         "data": [float("nan"), float("inf"), -1.5]}]}
    r = infer(d, "oip-echo", request)
    assert r.status == 200, r
    out = outputs(r.json())
    assert out["a"]["data"] == [0.1, 1e-45, 16777216.0]
    assert out["h"]["data"] == [0.1, float("inf")]
    n = out["n"]["data"]  # NaN and Infinity, as Python's json writes them
    assert math.isnan(n[0]) and n[1:] == [float("inf"), -1.5]


@pytest.mark.parametrize("datatype", list(ROUND_TRIP))
def test_v2_binary_round_trip_of_every_datatype(d, datatype):
    raw = raw_tensor(datatype, ROUND_TRIP[datatype])
    request = {"inputs": [{"name": "t", "shape": [2, 2],
                           "datatype": datatype,
                           "parameters": {"binary_data_size": len(raw)}}],
               "outputs": [{"name": "t",
                            "parameters": {"binary_data": True}}]}
    r = infer_binary(d, "oip-echo", request, [raw])
    assert r.status == 200, r
    answer, blobs = split_answer(r)
    assert outputs(answer)["t"]["datatype"] == datatype
    assert outputs(answer)["t"]["shape"] == [2, 2]
    assert blobs["t"] == raw


@pytest.mark.parametrize("datatype", ["FP32", "INT16", "BOOL", "BYTES"])
def test_v2_binary_input_json_output_and_back(d, datatype):
    values = ROUND_TRIP[datatype]
    raw = raw_tensor(datatype, values)
    request = {"inputs": [{"name": "t", "shape": [4], "datatype": datatype,
                           "parameters": {"binary_data_size": len(raw)}}]}
    r = infer_binary(d, "oip-echo", request, [raw])
    assert r.status == 200, r
    data = outputs(r.json())["t"]["data"]
    if datatype == "FP32":
        np.testing.assert_array_equal(np.array(data, "<f4"),
                                      np.array(values, "<f4"))
    else:
        assert data == values


def test_v2_predictor_gets_numpy_arrays_of_the_right_dtype(d):
    inputs = [{"name": dt.lower(), "shape": [4], "datatype": dt,
               "data": values} for dt, values in ROUND_TRIP.items()]
    r = infer(d, "oip-echo", {"inputs": inputs}, query="mode=describe")
    assert r.status == 200, r
    got = r.json()
    assert got["payload"] == "dict"
    for dt in ROUND_TRIP:
        seen = got["inputs"][dt.lower()]
        assert seen["shape"] == [4]
        if dt == "BYTES":
            assert seen["dtype"] == "object"
            assert seen["elements"] == ["bytes"]
        else:
            assert np.dtype(seen["dtype"]) == np.dtype(NUMPY[dt]), dt

    raw = np.arange(6, dtype="<f4").tobytes()
    request = {"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32",
                           "parameters": {"binary_data_size": 24}}]}
    r = infer_binary(d, "oip-echo", request, [raw], query="mode=describe")
    assert r.json()["inputs"]["x"] == {
        "dtype": "float32", "shape": [2, 3], "writable": True,
        "elements": ["float"]}


def test_v2_nested_and_flat_data_are_the_same_tensor(d):
    flat = {"inputs": [{"name": "m", "shape": [2, 3], "datatype": "INT32",
                        "data": [1, 2, 3, 4, 5, 6]}]}
    nested = {"inputs": [{"name": "m", "shape": [2, 3], "datatype": "INT32",
                          "data": [[1, 2, 3], [4, 5, 6]]}]}
    a, b = infer(d, "oip-echo", flat), infer(d, "oip-echo", nested)
    assert a.status == b.status == 200, (a, b)
    assert a.json() == b.json()
    assert outputs(a.json())["m"]["data"] == [1, 2, 3, 4, 5, 6]

    strings = {"inputs": [{"name": "s", "shape": [2, 1], "datatype": "BYTES",
                           "data": [["x"], ["y"]]}]}
    r = infer(d, "oip-echo", strings)
    assert outputs(r.json())["s"]["data"] == ["x", "y"]


def test_v2_bytes_that_are_not_utf8_travel_in_binary(d):
    items = [b"\xff\x00\xfe", b"", b"plain"]
    raw = bytes_tensor(items)
    request = {"inputs": [{"name": "b", "shape": [3], "datatype": "BYTES",
                           "parameters": {"binary_data_size": len(raw)}}],
               "outputs": [{"name": "b",
                            "parameters": {"binary_data": True}}]}
    r = infer_binary(d, "oip-echo", request, [raw])
    answer, blobs = split_answer(r)
    assert blobs["b"] == raw
    # asked for as JSON they cannot be written: a clear 500
    del request["outputs"]
    r = infer_binary(d, "oip-echo", request, [raw])
    assert "UTF-8" in error_of(r, 500)


def test_v2_answer_shapes_tuple_list_single_and_scalar(d):
    request = {"inputs": [
        {"name": "a", "shape": [2], "datatype": "INT64", "data": [1, 2]},
        {"name": "b", "shape": [1], "datatype": "FP64", "data": [0.5]}]}
    for mode in ("tuple", "list"):
        r = infer(d, "oip-echo", request, query=f"mode={mode}")
        assert r.status == 200, r
        assert [(o["name"], o["data"]) for o in r.json()["outputs"]] == [
            ("output_0", [1, 2]), ("output_1", [0.5])]
    r = infer(d, "oip-echo", request, query="mode=single")
    assert r.json()["outputs"] == [{"name": "output_0", "datatype": "INT64",
                                    "shape": [2], "data": [1, 2]}]
    r = infer(d, "oip-echo", request, query="mode=scalar")
    assert r.json()["outputs"] == [{"name": "output_0", "datatype": "FP64",
                                    "shape": [], "data": [3.5]}]


def test_v2_glia_response_is_sent_as_is(d):
    request = {"inputs": [{"name": "a", "shape": [1], "datatype": "INT64",
                           "data": [1]}]}
    r = infer(d, "oip-echo", request, query="mode=response")
    assert r.status == 201, r
    assert r.content_type == "text/plain"
    assert r.body == b"made by hand"


def test_v2_predictor_exception_is_500_with_traceback_in_logs(d):
    request = {"inputs": [{"name": "a", "shape": [1], "datatype": "INT64",
                           "data": [1]}]}
    r = infer(d, "oip-echo", request, query="mode=fail",
              headers={"X-Request-ID": "oip-fail-1"})
    assert error_of(r, 500) == "ValueError: asked to fail"

    def traceback_logged():
        out = d.cli("logs", "oip-echo").stdout
        return "Traceback" in out and "oip-fail-1" in out \
            and "asked to fail" in out
    d.wait_for(traceback_logged, message="the traceback in glia logs")


def test_v2_model_name_version_and_submodel_reach_the_predictor(d):
    request = {"id": "v", "inputs": [{"name": "a", "shape": [1],
                                      "datatype": "INT64", "data": [1]}]}
    r = d.post("/v2/models/oip-echo.iris/versions/3/infer?mode=describe",
               json=request, headers={"X-Request-ID": "rid-oip-7"})
    assert r.status == 200, r
    got = r.json()
    assert got["model"] == "oip-echo.iris"
    assert got["version"] == "3"
    assert got["query"] == {"mode": "describe", "model": "iris",
                            "version": "3"}
    assert got["request_id"] == "rid-oip-7"

    r = d.post("/v2/models/oip-echo/versions/3/infer", json=request)
    answer = r.json()
    assert answer["model_name"] == "oip-echo"
    assert answer["model_version"] == "3"
    assert answer["id"] == "v"


def test_v2_concurrent_binary_requests_each_get_their_own_tensor(d):
    def one(i):
        x = np.full((256, 4), i, dtype="<f4")
        request = {"id": str(i), "inputs": [
            {"name": "x", "shape": [256, 4], "datatype": "FP32",
             "parameters": {"binary_data_size": x.nbytes}}],
            "parameters": {"binary_data_output": True}}
        r = infer_binary(d, "oip-echo", request, [x.tobytes()],
                         query="mode=double")
        answer, blobs = split_answer(r)
        return answer["id"], np.frombuffer(blobs["x"], "<f4")

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(32)))
    for i, (rid, got) in enumerate(results):
        assert rid == str(i)
        assert got.shape == (1024,) and (got == 2 * i).all()


# --- V2 infer: errors ---------------------------------------------------

def _tensor(**fields):
    t = {"name": "t", "shape": [2], "datatype": "FP32", "data": [1, 2]}
    t.update(fields)
    return t


V2_ERRORS = [
    ("not-an-object", [1, 2], "JSON object"),
    ("inputs-missing", {"id": "1"}, "'inputs' must be a list"),
    ("input-not-object", {"inputs": [3]}, "inputs[0] must be an object"),
    ("unknown-datatype", {"inputs": [_tensor(datatype="FP8")]},
     "unknown datatype 'FP8'"),
    ("datatype-missing", {"inputs": [_tensor(datatype=None)]},
     "unknown datatype"),
    ("shape-too-big", {"inputs": [_tensor(shape=[3])]},
     "shape [3] has 3 elements but data has 2"),
    ("shape-2d-mismatch", {"inputs": [_tensor(shape=[2, 2])]},
     "shape [2, 2] has 4 elements but data has 2"),
    ("negative-shape", {"inputs": [_tensor(shape=[-1])]},
     "shape must be a list of integers >= 0"),
    ("shape-not-list", {"inputs": [_tensor(shape="2")]},
     "shape must be a list"),
    ("ragged-data", {"inputs": [_tensor(shape=[3], data=[[1, 2], [3]])]},
     "rows of equal length"),
    ("strings-for-fp32", {"inputs": [_tensor(data=["1", "2"])]},
     "FP32 data must be numbers"),
    ("fraction-for-int", {"inputs": [_tensor(datatype="INT32",
                                             data=[1, 2.5])]},
     "INT32 data must be integers"),
    ("out-of-range", {"inputs": [_tensor(datatype="UINT8",
                                         data=[1, 256])]},
     "out of range for UINT8"),
    ("negative-unsigned", {"inputs": [_tensor(datatype="UINT64",
                                              data=[-1, 2**64 - 1])]},
     "out of range for UINT64"),
    ("numbers-for-bool", {"inputs": [_tensor(datatype="BOOL",
                                             data=[1, 0])]},
     "BOOL data must be true or false"),
    ("numbers-for-bytes", {"inputs": [_tensor(datatype="BYTES",
                                              data=[1, 2])]},
     "BYTES data must be strings"),
    ("null-data", {"inputs": [_tensor(data=None)]},
     "data must be a list, got null"),
    ("object-data", {"inputs": [_tensor(data={"a": 1})]},
     "data must be a list"),
    ("data-absent", {"inputs": [{"name": "t", "shape": [1],
                                 "datatype": "FP32"}]},
     "neither data nor parameters.binary_data_size"),
    ("duplicate-input", {"inputs": [_tensor(), _tensor()]},
     "input 't' is given twice"),
    ("id-not-string", {"id": 42, "inputs": [_tensor()]},
     "'id' must be a string"),
    ("output-requested-twice", {"inputs": [_tensor()],
                                "outputs": [{"name": "t"}, {"name": "t"}]},
     "requested twice"),
    ("classification", {"inputs": [_tensor()], "outputs": [
        {"name": "t", "parameters": {"classification": 2}}]},
     "classification is not supported"),
    ("unknown-output", {"inputs": [_tensor()], "outputs": [{"name": "z"}]},
     "unknown output 'z'"),
    ("binary-output-not-bool", {"inputs": [_tensor()], "outputs": [
        {"name": "t", "parameters": {"binary_data": "yes"}}]},
     "binary_data must be true or false"),
]


@pytest.mark.parametrize("request_body,message",
                         [c[1:] for c in V2_ERRORS],
                         ids=[c[0] for c in V2_ERRORS])
def test_v2_bad_requests_get_400_with_a_message(d, request_body, message):
    r = infer(d, "oip-echo", request_body)
    assert message in error_of(r), r


def test_v2_malformed_json_is_400(d):
    r = d.post("/v2/models/oip-echo/infer", data=b'{"inputs": [',
               headers={"Content-Type": "application/json"})
    assert error_of(r).startswith("invalid JSON")


V2_BINARY_ERRORS = [
    # (request, blobs, extra headers, message)
    ("size-not-matching-shape",
     {"inputs": [{"name": "x", "shape": [2], "datatype": "FP32",
                  "parameters": {"binary_data_size": 12}}]},
     [b"\0" * 12], "binary_data_size is 12 but shape [2] of FP32 needs 8"),
    ("size-past-the-end",
     {"inputs": [{"name": "x", "shape": [4], "datatype": "FP32",
                  "parameters": {"binary_data_size": 16}}]},
     [b"\0" * 8], "goes past the end of the body"),
    ("bytes-left-over",
     {"inputs": [{"name": "x", "shape": [2], "datatype": "FP32",
                  "parameters": {"binary_data_size": 8}}]},
     [b"\0" * 12], "binary_data_size add up to 8"),
    ("size-negative",
     {"inputs": [{"name": "x", "shape": [2], "datatype": "FP32",
                  "parameters": {"binary_data_size": -8}}]},
     [b"\0" * 8], "binary_data_size must be an integer >= 0"),
    ("bytes-count-mismatch",
     {"inputs": [{"name": "x", "shape": [3], "datatype": "BYTES",
                  "parameters": {"binary_data_size": 12}}]},
     [bytes_tensor([b"ab", b"cd"])],
     "shape has 3 elements but the binary data holds 2"),
    ("bytes-truncated",
     {"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES",
                  "parameters": {"binary_data_size": 6}}]},
     [struct.pack("<I", 10) + b"ab"], "goes past binary_data_size"),
]


@pytest.mark.parametrize("request_body,blobs,message",
                         [c[1:] for c in V2_BINARY_ERRORS],
                         ids=[c[0] for c in V2_BINARY_ERRORS])
def test_v2_bad_binary_requests_get_400(d, request_body, blobs, message):
    r = infer_binary(d, "oip-echo", request_body, blobs)
    assert message in error_of(r), r


def test_v2_bad_inference_header_content_length_is_400(d):
    body = b'{"inputs": []}'
    for value, message in (("100", "the body has 14 bytes"),
                           ("ten", "must be an integer")):
        r = d.post("/v2/models/oip-echo/infer", data=body,
                   headers={"Inference-Header-Content-Length": value,
                            "Content-Type": "application/octet-stream"})
        assert message in error_of(r), (value, r)


# --- a realistic model with a signature ---------------------------------

FEATURES = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]


def expected_mlp(x):
    return mlp.forward(mlp.weights(7), np.asarray(x, dtype=np.float32))


def test_mlp_json_infer_matches_numpy(d):
    request = {"id": "iris-1", "inputs": [
        {"name": "x", "shape": [3, 4], "datatype": "FP32",
         "data": FEATURES}]}
    r = infer(d, "oip-mlp", request)
    assert r.status == 200, r
    answer = r.json()
    assert answer["id"] == "iris-1"
    out = outputs(answer)
    probs, label = expected_mlp(FEATURES)
    assert out["probabilities"]["datatype"] == "FP32"
    assert out["probabilities"]["shape"] == [3, 3]
    np.testing.assert_allclose(
        np.array(out["probabilities"]["data"]).reshape(3, 3), probs,
        rtol=1e-6)
    assert out["label"] == {"name": "label", "datatype": "INT64",
                            "shape": [3], "data": label.tolist()}


def test_mlp_binary_infer_matches_numpy(d):
    x = np.random.default_rng(1).standard_normal((64, 4)).astype("<f4")
    request = {"inputs": [{"name": "x", "shape": [64, 4], "datatype": "FP32",
                           "parameters": {"binary_data_size": x.nbytes}}],
               "outputs": [{"name": "probabilities",
                            "parameters": {"binary_data": True}},
                           {"name": "label"}]}
    r = infer_binary(d, "oip-mlp", request, [x.tobytes()])
    answer, blobs = split_answer(r)
    probs, label = expected_mlp(x)
    got = np.frombuffer(blobs["probabilities"], "<f4").reshape(64, 3)
    np.testing.assert_allclose(got, probs, rtol=1e-6)
    assert outputs(answer)["label"]["data"] == label.tolist()
    assert [o["name"] for o in answer["outputs"]] == ["probabilities",
                                                      "label"]


MLP_ERRORS = [
    ("unknown-input",
     {"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32",
                  "data": [1, 2, 3, 4]}]},
     "unknown input 'features' (the model's inputs: x)"),
    ("wrong-datatype",
     {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64",
                  "data": [1, 2, 3, 4]}]},
     "input 'x': datatype FP64 does not match the model's FP32"),
    ("wrong-shape",
     {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32",
                  "data": [1, 2, 3, 4]}]},
     "input 'x': shape [2, 2] does not match the model's [-1, 4]"),
    ("wrong-rank",
     {"inputs": [{"name": "x", "shape": [4], "datatype": "FP32",
                  "data": [1, 2, 3, 4]}]},
     "input 'x': shape [4] does not match the model's [-1, 4]"),
    ("missing-input", {"inputs": []}, "missing input 'x'"),
    ("unknown-output",
     {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32",
                  "data": [1, 2, 3, 4]}], "outputs": [{"name": "logits"}]},
     "unknown output 'logits' (the model's outputs: probabilities, label)"),
]


@pytest.mark.parametrize("request_body,message",
                         [c[1:] for c in MLP_ERRORS],
                         ids=[c[0] for c in MLP_ERRORS])
def test_mlp_signature_refuses_requests_that_do_not_fit(d, request_body,
                                                         message):
    r = infer(d, "oip-mlp", request_body)
    assert error_of(r) == message


def test_mlp_predictor_signature_applies_without_a_spec_signature(d):
    # oip-mlp-own has no predictor.signature: the predictor's signature()
    # names the input "features"
    request = {"inputs": [{"name": "features", "shape": [3, 4],
                           "datatype": "FP32", "data": FEATURES}]}
    r = infer(d, "oip-mlp-own", request)
    assert r.status == 200, r
    assert outputs(r.json())["label"]["data"] == \
        expected_mlp(FEATURES)[1].tolist()
    request["inputs"][0]["name"] = "x"
    assert "unknown input 'x'" in error_of(infer(d, "oip-mlp-own", request))


def test_deploy_refuses_a_malformed_signature(d, tmp_path):
    yaml = """\
- name: oip-bad
  kind: RealtimeAPI
  predictor:
    type: python
    path: oip_mlp/predictor.py
    signature:
      inputs:
        - {name: x, datatype: FP32, shape: [-1, 4]}
      outputs:
        - {name: label, datatype: LONG, shape: [-1]}
"""
    proj = write_project(tmp_path, yaml, {"oip_mlp": PREDICTORS / "oip_mlp"})
    res = d.deploy(proj / "glia.yaml", check=False)
    assert res.returncode != 0
    assert ('glia.yaml:10:35: predictor.signature.outputs[0].datatype: must '
            'be one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, '
            'INT32, INT64, FP16, FP32, FP64, BYTES, got "LONG"'
            in res.stderr), res


# --- V2 model metadata --------------------------------------------------

def test_metadata_from_the_spec_signature(d):
    r = d.http_get("/v2/models/oip-mlp")
    assert r.status == 200, r
    assert r.json() == {
        "name": "oip-mlp", "platform": "glia-python",
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
        "outputs": [
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]},
            {"name": "label", "datatype": "INT64", "shape": [-1]}]}
    r = d.http_get("/v2/models/oip-mlp/versions/2")
    assert r.json()["versions"] == ["2"]


def test_metadata_from_the_predictor_signature(d):
    r = d.http_get("/v2/models/oip-mlp-own")
    assert r.status == 200, r
    meta = r.json()
    assert meta["name"] == "oip-mlp-own"
    assert meta["inputs"] == [{"name": "features", "datatype": "FP32",
                               "shape": [-1, 4]}]
    assert [o["name"] for o in meta["outputs"]] == ["probabilities", "label"]


def test_metadata_without_any_signature_has_empty_lists(d):
    r = d.http_get("/v2/models/oip-echo")
    assert r.status == 200, r
    assert r.json() == {"name": "oip-echo", "platform": "glia-python",
                        "inputs": [], "outputs": []}


# --- V1 (TF Serving / KServe V1) ----------------------------------------

def predict_v1(d, model, body, query=""):
    path = f"/v1/models/{model}:predict" + (f"?{query}" if query else "")
    return d.post(path, json=body)


def test_v1_row_format_unnamed_input(d):
    r = predict_v1(d, "oip-echo", {"instances": [[1, 2], [3, 4]]},
                   query="mode=describe")
    assert r.status == 200, r
    assert r.json()["payload"] == "ndarray"
    assert r.json()["inputs"]["shape"] == [2, 2]
    r = predict_v1(d, "oip-echo", {"instances": [[1, 2], [3, 4]]})
    assert r.json() == {"predictions": [[1, 2], [3, 4]]}


def test_v1_row_format_named_inputs(d):
    body = {"signature_name": "serving_default",
            "instances": [{"tag": "a", "x": [1.0, 2.0]},
                          {"tag": "b", "x": [3.0, 4.0]}]}
    r = predict_v1(d, "oip-echo", body, query="mode=describe")
    got = r.json()
    assert got["payload"] == "dict"
    assert got["inputs"]["x"]["shape"] == [2, 2]
    assert got["inputs"]["tag"]["shape"] == [2]
    r = predict_v1(d, "oip-echo", body)
    assert r.json() == {"predictions": [{"tag": "a", "x": [1.0, 2.0]},
                                        {"tag": "b", "x": [3.0, 4.0]}]}


def test_v1_columnar_format(d):
    r = predict_v1(d, "oip-echo", {"inputs": [[1, 2], [3, 4]]})
    assert r.status == 200, r
    assert r.json() == {"outputs": [[1, 2], [3, 4]]}
    body = {"inputs": {"x": [[1, 2], [3, 4]], "k": [7]}}
    r = predict_v1(d, "oip-echo", body, query="mode=describe")
    assert r.json()["inputs"]["x"]["shape"] == [2, 2]
    assert r.json()["inputs"]["k"]["shape"] == [1]
    r = predict_v1(d, "oip-echo", body)
    assert r.json() == {"outputs": {"x": [[1, 2], [3, 4]], "k": [7]}}


def test_v1_b64_values_are_bytes_both_ways(d):
    body = {"instances": [{"b64": "aGVsbG8="}, {"b64": "/wA="}]}
    r = predict_v1(d, "oip-echo", body, query="mode=describe")
    assert r.json()["inputs"]["elements"] == ["bytes"]
    r = predict_v1(d, "oip-echo", body)
    assert r.json() == {"predictions": [{"b64": "aGVsbG8="},
                                        {"b64": "/wA="}]}


def test_v1_mlp_rows_and_columns(d):
    r = predict_v1(d, "oip-mlp", {"instances": FEATURES})
    assert r.status == 200, r
    probs, label = expected_mlp(FEATURES)
    rows = r.json()["predictions"]
    assert [row["label"] for row in rows] == label.tolist()
    np.testing.assert_allclose([row["probabilities"] for row in rows],
                               probs, rtol=1e-6)
    r = predict_v1(d, "oip-mlp", {"inputs": {"x": FEATURES}})
    assert r.json()["outputs"]["label"] == label.tolist()


V1_ERRORS = [
    ("neither", {"signature_name": "x"}, "exactly one of 'instances'"),
    ("both", {"instances": [1], "inputs": [1]}, "exactly one of"),
    ("instances-not-list", {"instances": 3}, "'instances' must be a list"),
    ("ragged", {"instances": [[1, 2], [3]]}, "not a regular array"),
    ("mixed-named", {"instances": [{"a": 1}, 2]},
     "all named (objects) or all unnamed"),
    ("different-names", {"instances": [{"a": 1}, {"b": 2}]},
     "instances[1] has inputs b but instances[0] has a"),
    ("bad-b64", {"instances": [{"b64": "%%%"}]}, "invalid base64"),
]


@pytest.mark.parametrize("request_body,message",
                         [c[1:] for c in V1_ERRORS],
                         ids=[c[0] for c in V1_ERRORS])
def test_v1_bad_requests_get_400(d, request_body, message):
    r = predict_v1(d, "oip-echo", request_body)
    assert message in error_of(r), r


def test_v1_signature_checks_inputs(d):
    r = predict_v1(d, "oip-mlp", {"instances": [[1, 2, 3]]})
    assert "shape [1, 3] does not match the model's [-1, 4]" in error_of(r)
    r = predict_v1(d, "oip-mlp", {"inputs": {"features": FEATURES}})
    assert "unknown input 'features'" in error_of(r)
    r = predict_v1(d, "oip-mlp", {"instances": [["a", "b", "c", "d"]]})
    assert "FP32 data must be numbers" in error_of(r)
    r = d.post("/v1/models/oip-mlp:predict", data=b"{nope",
               headers={"Content-Type": "application/json"})
    assert error_of(r).startswith("invalid JSON")


# --- the normal path stays as it was ------------------------------------

def test_normal_path_is_untouched_and_client_cannot_forge_the_protocol(d):
    body = {"inputs": [{"name": "a", "shape": [1], "datatype": "INT64",
                        "data": [1]}]}
    for headers in (None, {"X-Glia-Protocol": "v2-infer",
                           "X-Glia-Model": "evil"}):
        r = d.post("/oip-echo?mode=describe", json=body, headers=headers)
        assert r.status == 200, r
        got = r.json()
        assert got["payload"] == "dict"  # the JSON value, not tensors
        assert got["inputs"] == {"inputs": {"type": "list"}}
        assert got["model"] is None


# --- the worker alone ---------------------------------------------------

def test_worker_answers_protocol_requests_named_by_the_header(start):
    w = start((PREDICTORS / "oip_echo" / "predictor.py").read_text())
    request = {"id": "w", "inputs": [{"name": "a", "shape": [2],
                                      "datatype": "FP32", "data": [1, 2]}]}
    r = w.post_json(request, headers={"X-Glia-Protocol": "v2-infer",
                                      "X-Glia-Model": "t"})
    assert r.status == 200, r.body
    assert r.json() == {"model_name": "t", "id": "w", "outputs": [
        {"name": "a", "datatype": "FP32", "shape": [2], "data": [1.0, 2.0]}]}

    r = w.request(b"", method="GET", headers={
        "X-Glia-Protocol": "v2-metadata", "X-Glia-Model": "t",
        "X-Glia-Model-Version": "4"})
    assert r.json() == {"name": "t", "versions": ["4"],
                        "platform": "glia-python", "inputs": [],
                        "outputs": []}

    r = w.post_json(request, headers={"X-Glia-Protocol": "v9-nothing"})
    assert r.status == 400 and "unknown X-Glia-Protocol" in r.json()["error"]

    # without the header: the usual decode / predict / encode
    r = w.post_json({"k": 1})
    assert r.status == 200 and r.json() == {"k": 1}


def test_worker_reports_a_broken_predictor_signature(start):
    source = (PREDICTORS / "oip_echo" / "predictor.py").read_text() + """
PythonPredictor.signature = {"inputs": [{"name": "a", "datatype": "FP99",
                                          "shape": [1]}]}
"""
    w = start(source)
    r = w.request(b"", method="GET", headers={
        "X-Glia-Protocol": "v2-metadata", "X-Glia-Model": "t"})
    assert r.status == 500
    assert "datatype must be one of" in r.json()["error"]


# `glia worker` fixtures of tests/e2e/test_worker.py
start = tw.start
sockdir = tw.sockdir
