"""Server-side batching of Python predictors end to end
(predictor.server_side_batching): a real daemon gathers concurrent requests
into one predict call with lists, hands each request its own element of the
answer, fails a whole batch together when predict raises or answers the
wrong number of elements, answers a bad JSON body 400 on its own, answers a
lone request once the interval has passed, exports the batch sizes as the
histogram glia_batch_size on /metrics, and predicts inference protocol (V2)
requests as batches of one.

The predictors are written here: BATCH_PREDICTOR answers, for element i,
the id it found in payload[i] with what it saw of the batch (its length, the
ids of every request in it, its own query parameters and headers), so a
client receiving its own id shows both that the order was kept and what the
batch looked like. Nothing here asserts on timings.
"""
import json
import re
import threading

import pytest

from conftest import wait_for, write_project

BATCH_PREDICTOR = '''\
"""server_side_batching test predictor (tests/e2e/test_batching.py)."""
import threading
import time

import numpy as np

import glia


class PythonPredictor:
    def __init__(self, config):
        self.sleep = float(config.get("sleep", 0.05))
        self.lock = threading.Lock()
        self.batches = 0
        self.post_calls = []

    def predict(self, payload, query_params, headers):
        assert isinstance(payload, list), type(payload)
        assert isinstance(query_params, list), type(query_params)
        assert isinstance(headers, list), type(headers)
        assert len(payload) == len(query_params) == len(headers)
        n = len(payload)
        with self.lock:
            self.batches += 1
            seq = self.batches
        ids = [p.get("id") if isinstance(p, dict) else None for p in payload]
        if any(isinstance(p, dict) and p.get("fail") for p in payload):
            raise ValueError("marker in batch "
                             + ",".join(str(i) for i in ids))
        if any(isinstance(p, dict) and p.get("report") for p in payload):
            with self.lock:
                calls = list(self.post_calls)
            return [{"post_calls": calls} for _ in payload]
        time.sleep(self.sleep)
        if any(q.get("shape") == "numpy" for q in query_params):
            return np.array([[p["id"], n] for p in payload], dtype=np.int64)
        answers = []
        for i, p in enumerate(payload):
            kind = p.get("kind")
            if kind == "text":
                answers.append("text for %s" % p["id"])
            elif kind == "response":
                answers.append(glia.Response(
                    {"made": p["id"]}, status=201,
                    headers={"X-Batch-Id": str(p["id"])}))
            else:
                answers.append({"id": p.get("id"), "index": i, "batch": n,
                                "seq": seq, "ids": ids,
                                "query": dict(query_params[i]),
                                "client": headers[i].get("X-Client-Id")})
        if any(q.get("shape") == "extra" for q in query_params):
            answers.append({"extra": True})
        if any(q.get("shape") == "dict" for q in query_params):
            return {"not": "a list"}
        return answers

    def post_predict(self, response, payload):
        with self.lock:
            self.post_calls.append({
                "responses": len(response) if isinstance(response, list) else -1,
                "payloads": len(payload) if isinstance(payload, list) else -1,
                "ids": [p.get("id") for p in payload],
            })
'''

OIP_PREDICTOR = '''\
"""server_side_batching + Open Inference Protocol V2 (test_batching.py)."""
import numpy as np


class PythonPredictor:
    def __init__(self, config):
        pass

    def predict(self, payload):
        if not isinstance(payload, list):
            raise TypeError("payload is %s, not a list" % type(payload).__name__)
        out = []
        for p in payload:
            if not isinstance(p, dict):
                raise TypeError("element is %s, not a dict" % type(p).__name__)
            if "x" in p and isinstance(p["x"], np.ndarray):
                out.append({"doubled": p["x"] * 2,
                             "batch": np.array([len(payload)], dtype=np.int64)})
            else:
                out.append({"plain": p, "batch": len(payload)})
        return out
'''


def _api(name, path, max_batch_size, batch_interval, config=None):
    lines = [f"- name: {name}",
             "  kind: RealtimeAPI",
             "  predictor:",
             "    type: python",
             f"    path: {path}",
             "    server_side_batching:",
             f"      max_batch_size: {max_batch_size}",
             f"      batch_interval: {batch_interval}"]
    if config:
        lines.append(f"    config: {json.dumps(config)}")
    return "\n".join(lines) + "\n"


MAX_BATCH = 8

# one API per test that reads glia_batch_size, so that no test sees
# another's batches
PROJECT_YAML = "".join([
    _api("bat-conc", "predictor.py", MAX_BATCH, "20ms"),
    _api("bat-mix", "predictor.py", MAX_BATCH, "20ms"),
    _api("bat-lone", "predictor.py", 64, "200ms", config={"sleep": 0}),
    _api("bat-oip", "oip.py", 4, "10ms"),
])
APIS = ("bat-conc", "bat-mix", "bat-lone", "bat-oip")


@pytest.fixture(scope="module")
def d(module_daemon_factory, tmp_path_factory):
    daemon = module_daemon_factory()
    proj = write_project(tmp_path_factory.mktemp("batching"), PROJECT_YAML,
                         {"predictor.py": BATCH_PREDICTOR,
                          "oip.py": OIP_PREDICTOR})
    daemon.deploy(proj / "glia.yaml", "--timeout", "5m")
    for api in APIS:
        daemon.wait_ready(api, timeout=180)
    return daemon


# ---------------------------------------------------------------------------
# helpers

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def batch_histogram(d, api):
    """glia_batch_size of api on the gateway's /metrics: {"buckets": {le:
    count}, "sum": float, "count": float}, empty dicts/None when absent."""
    r = d.http_get("/metrics")
    assert r.status == 200, r
    out = {"buckets": {}, "sum": None, "count": None}
    for line in r.text.splitlines():
        if not line.startswith("glia_batch_size"):
            continue
        m = SAMPLE.match(line)
        assert m, f"unparsable metrics line: {line!r}"
        labels = dict(LABEL.findall(m.group(2) or ""))
        if labels.get("api") != api:
            continue
        name, value = m.group(1), float(m.group(3))
        if name == "glia_batch_size_bucket":
            out["buckets"][labels["le"]] = value
        elif name == "glia_batch_size_sum":
            out["sum"] = value
        elif name == "glia_batch_size_count":
            out["count"] = value
    return out


def run_clients(d, clients, make_requests, timeout=120.0):
    """clients threads, released together, each sending its list of
    requests (dicts: path, and json or data, headers) one after the other on
    its own keep-alive connection. Returns, per client, the list of (request,
    Resp) pairs; fails the test when a thread raised."""
    results = [[] for _ in range(clients)]
    errors = []
    barrier = threading.Barrier(clients)

    def one(c):
        s = d.session(timeout=timeout)
        try:
            barrier.wait(60)
            for req in make_requests(c):
                r = s.post(req["path"], json=req.get("json"),
                           data=req.get("data"), headers=req.get("headers"))
                results[c].append((req, r))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"client {c}: {e!r}")
        finally:
            s.close()

    threads = [threading.Thread(target=one, args=(c,), daemon=True)
               for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 60)
    assert not any(t.is_alive() for t in threads), "a client thread hung"
    assert not errors, errors
    return results


def good_request(api, rid, **extra):
    payload = {"id": rid}
    payload.update(extra)
    return {"path": f"/{api}?client={rid}", "json": payload,
            "headers": {"X-Client-Id": rid}}


# ---------------------------------------------------------------------------
# concurrency: each request its own element, batch sizes, the metric


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(d):
    clients, per_client = 16, 6
    results = run_clients(
        d, clients, lambda c: [good_request("bat-conc", f"c{c}-r{k}")
                               for k in range(per_client)])
    answers = [r for rs in results for r in rs]
    assert len(answers) == clients * per_client

    batches = {}  # seq -> (batch length, ids of the batch)
    for req, r in answers:
        rid = req["json"]["id"]
        assert r.status == 200, (rid, r)
        # the worker's batch-size header is the gateway's, not the client's
        assert r.headers.get("X-Glia-Batch-Size") is None, r
        a = r.json()
        # its own answer: the element that was its own payload (order kept
        # within the batch for payload, query_params and headers alike)
        assert a["id"] == rid, (rid, a)
        assert a["query"] == {"client": rid}, (rid, a)
        assert a["client"] == rid, (rid, a)
        assert a["ids"][a["index"]] == rid, (rid, a)
        assert 1 <= a["batch"] <= MAX_BATCH, a
        assert len(a["ids"]) == a["batch"], a
        seen = batches.setdefault(a["seq"], (a["batch"], a["ids"]))
        assert seen == (a["batch"], a["ids"]), \
            f"two answers of batch {a['seq']} disagree: {seen} vs {a}"

    # every request was in exactly one batch, and every batch was answered
    in_batches = sorted(i for _, ids in batches.values() for i in ids)
    assert in_batches == sorted(req["json"]["id"] for req, _ in answers)
    sizes = [n for n, _ in batches.values()]
    assert max(sizes) > 1, f"no batch of more than one request: {sizes}"
    assert max(sizes) <= MAX_BATCH, sizes
    assert len(batches) < len(answers), sizes

    # the gateway's histogram counts the same batches
    total = clients * per_client

    def counted():
        h = batch_histogram(d, "bat-conc")
        return h if h["count"] == len(batches) else None

    h = wait_for(counted, timeout=30,
                 message=f"glia_batch_size_count of bat-conc = {len(batches)} "
                         f"(last: {batch_histogram(d, 'bat-conc')})")
    assert h["sum"] == total, h
    b = h["buckets"]
    assert b["+Inf"] == len(batches), h
    expected_les = ["1", "2", "4", "8", "16", "32", "64", "128", "256", "512",
                    "1024", "+Inf"]
    assert [le for le in expected_les if le in b] == expected_les, h
    # cumulative counts: batches of one under le=1, none above max_batch_size
    assert b["1"] == sizes.count(1), (h, sizes)
    assert b["2"] == sum(1 for n in sizes if n <= 2), (h, sizes)
    assert b["4"] == sum(1 for n in sizes if n <= 4), (h, sizes)
    assert b["8"] == len(batches), (h, sizes)
    assert b["1"] < b["+Inf"], f"every batch had one request: {h}"


def test_post_predict_runs_once_per_batch_with_lists(d):
    clients, per_client = 8, 3
    results = run_clients(
        d, clients, lambda c: [good_request("bat-mix", f"pp{c}-{k}")
                               for k in range(per_client)])
    ids = set()
    for rs in results:
        for req, r in rs:
            assert r.status == 200, r
            ids.add(req["json"]["id"])

    def post_calls():
        r = d.post("/bat-mix", json={"report": True})
        assert r.status == 200, r
        calls = [c for c in r.json()["post_calls"]
                 if any(str(i).startswith("pp") for i in c["ids"])]
        got = {i for c in calls for i in c["ids"]}
        return calls if got == ids else None

    calls = wait_for(post_calls, timeout=30,
                     message="post_predict to have seen every request")
    for c in calls:
        assert c["responses"] == c["payloads"] == len(c["ids"]), c
    # once per batch: every request in exactly one call
    flat = [i for c in calls for i in c["ids"]]
    assert len(flat) == len(set(flat)) == len(ids), calls


def test_answers_are_encoded_per_element(d):
    kinds = ["json", "text", "response"]

    def requests(c):
        return [good_request("bat-mix", f"k{c}-{k}", kind=kinds[(c + k) % 3])
                for k in range(4)]

    for rs in run_clients(d, 9, requests):
        for req, r in rs:
            rid, kind = req["json"]["id"], req["json"]["kind"]
            if kind == "text":
                assert r.status == 200, r
                assert r.content_type == "text/plain", r
                assert r.text == f"text for {rid}", r
            elif kind == "response":
                assert r.status == 201, r
                assert r.json() == {"made": rid}, r
                assert r.headers.get("X-Batch-Id") == rid, r
            else:
                assert r.status == 200, r
                assert r.content_type == "application/json", r
                assert r.json()["id"] == rid, r


def test_a_numpy_array_answer_gives_each_request_its_row(d):
    results = run_clients(
        d, 8, lambda c: [{"path": "/bat-mix?shape=numpy",
                          "json": {"id": 1000 + 10 * c + k}}
                         for k in range(3)])
    for rs in results:
        for req, r in rs:
            assert r.status == 200, r
            rid, n = r.json()
            assert rid == req["json"]["id"], r
            assert 1 <= n <= MAX_BATCH, r


# ---------------------------------------------------------------------------
# failures


def test_a_raising_predict_fails_its_batch_only(d):
    marker = "m0-0"

    def requests(c):
        reqs = [good_request("bat-mix", f"m{c}-{k}") for k in range(4)]
        if c == 0:
            reqs[0]["json"]["fail"] = True
        return reqs

    results = run_clients(d, 12, requests)
    failed_batches, ok = [], 0
    for rs in results:
        for req, r in rs:
            rid = req["json"]["id"]
            if r.status == 500:
                err = r.json()["error"]
                m = re.fullmatch(r"ValueError: marker in batch (.*)", err)
                assert m, r
                batch = m.group(1).split(",")
                assert rid in batch and marker in batch, (rid, err)
                failed_batches.append(tuple(batch))
            else:
                assert r.status == 200, r
                a = r.json()
                assert a["id"] == rid, r
                assert marker not in a["ids"], a
                ok += 1
    # the marker's request failed, with exactly the requests of its batch
    assert failed_batches, "no request failed"
    assert len(set(failed_batches)) == 1, failed_batches
    batch = failed_batches[0]
    assert len(failed_batches) == len(batch), (failed_batches, batch)
    assert ok == 12 * 4 - len(batch) > 0

    # the process serves on
    r = d.post("/bat-mix", json={"id": "after-failure"})
    assert r.status == 200 and r.json()["id"] == "after-failure", r


def test_wrong_number_of_answers_is_500_with_a_clear_message(d):
    # alone: a batch of one answered with two elements
    r = d.post("/bat-mix?shape=extra", json={"id": "x-alone"})
    assert r.status == 500, r
    assert r.json()["error"] == (
        "with server_side_batching, predict must return one answer per "
        "request: got 2 answers for a batch of 1"), r

    # concurrently: every request of every batch gets the message
    results = run_clients(
        d, 10, lambda c: [{"path": "/bat-mix?shape=extra",
                           "json": {"id": f"x{c}-{k}"}} for k in range(3)])
    for rs in results:
        for _, r in rs:
            assert r.status == 500, r
            err = r.json()["error"]
            m = re.fullmatch(r"with server_side_batching, predict must return "
                             r"one answer per request: got (\d+) answers for a "
                             r"batch of (\d+)", err)
            assert m, err
            assert int(m.group(1)) == int(m.group(2)) + 1, err
            assert 1 <= int(m.group(2)) <= MAX_BATCH, err

    # not a list at all
    r = d.post("/bat-mix?shape=dict", json={"id": "x-dict"})
    assert r.status == 500, r
    err = r.json()["error"]
    assert err.startswith("with server_side_batching, predict must return a "
                          "list with one answer per request"), err
    assert "dict" in err and "batch of 1" in err, err

    r = d.post("/bat-mix", json={"id": "after-wrong-length"})
    assert r.status == 200 and r.json()["id"] == "after-wrong-length", r


def test_bad_json_is_400_alone_while_its_batch_mates_succeed(d):
    bad = {"path": "/bat-mix", "data": b'{"id": "broken",',
           "headers": {"Content-Type": "application/json"}}

    def requests(c):
        # client 0 sends a bad body in the middle of the others' traffic
        if c == 0:
            return [good_request("bat-mix", "j0-0"), bad,
                    good_request("bat-mix", "j0-2"), bad]
        return [good_request("bat-mix", f"j{c}-{k}") for k in range(4)]

    results = run_clients(d, 10, requests)
    bad_count = 0
    for rs in results:
        for req, r in rs:
            if req is bad:
                bad_count += 1
                assert r.status == 400, r
                assert "invalid JSON" in r.json()["error"], r
            else:
                assert r.status == 200, r
                a = r.json()
                assert a["id"] == req["json"]["id"], r
                assert "broken" not in a["ids"] and None not in a["ids"], a
    assert bad_count == 2


# ---------------------------------------------------------------------------
# the interval, the protocols


def test_a_lone_request_is_answered_after_the_interval(d):
    # max_batch_size 64, batch_interval 200ms: the batch never fills
    for k in range(3):
        r = d.post("/bat-lone?client=alone", json={"id": f"alone-{k}"},
                   headers={"X-Client-Id": "me"})
        assert r.status == 200, r
        a = r.json()
        assert a["id"] == f"alone-{k}" and a["batch"] == 1, a
        assert a["ids"] == [f"alone-{k}"] and a["index"] == 0, a
        assert a["query"] == {"client": "alone"} and a["client"] == "me", a

    def counted():
        h = batch_histogram(d, "bat-lone")
        return h if h["count"] == 3 else None

    h = wait_for(counted, timeout=30, message="three batches of bat-lone")
    assert h["sum"] == 3, h
    assert h["buckets"]["1"] == 3 and h["buckets"]["+Inf"] == 3, h


def test_v2_infer_to_a_batching_api_is_a_batch_of_one(d):
    request = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32",
                           "data": [1.0]}]}
    r = d.post("/v2/models/bat-oip/infer", json=request)
    assert r.status == 200, r
    outputs = {o["name"]: o for o in r.json()["outputs"]}
    assert outputs["doubled"]["data"] == [2.0], r
    assert outputs["doubled"]["datatype"] == "FP32", r
    assert outputs["doubled"]["shape"] == [1], r
    assert outputs["batch"]["data"] == [1], r
    # counted as a batch of one
    h = wait_for(lambda: (lambda h: h if h["count"] else None)(
        batch_histogram(d, "bat-oip")), timeout=30,
        message="the V2 request's batch in glia_batch_size")
    assert h["count"] == 1 and h["sum"] == 1 and h["buckets"]["1"] == 1, h

    # several at once: each is still its own batch of one, and the plain
    # endpoint of the same API batches as usual
    def requests(c):
        if c % 2:
            return [{"path": "/v2/models/bat-oip/infer",
                     "json": {"inputs": [{"name": "x", "shape": [1],
                                          "datatype": "FP32",
                                          "data": [float(c * 10 + k)]}]}}
                    for k in range(3)]
        return [{"path": "/bat-oip", "json": {"id": f"o{c}-{k}"}}
                for k in range(3)]

    for rs in run_clients(d, 8, requests):
        for req, r in rs:
            assert r.status == 200, r
            if req["path"].startswith("/v2/"):
                outputs = {o["name"]: o for o in r.json()["outputs"]}
                x = req["json"]["inputs"][0]["data"][0]
                assert outputs["doubled"]["data"] == [2 * x], r
                assert outputs["batch"]["data"] == [1], r
            else:
                a = r.json()
                assert a["plain"] == req["json"], r
                assert 1 <= a["batch"] <= 4, r
