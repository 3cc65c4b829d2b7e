"""Prediction monitoring end to end (issue 5): a real Prometheus server
scraping the gateway's /metrics reads back exactly the requests sent, by
status code; `promtool check metrics` accepts the live output; predicted
classes and values are counted; `glia get` shows last-minute figures, a
per-replica breakdown and recent errors with their request ids; `glia logs
--json` gives one JSON object per line carrying request ids, including for
what a predictor prints during a request.

Worker-level checks (the X-Glia-Prediction header, request-tagged stdout)
start `glia worker` directly, as tests/e2e/test_worker.py does.
"""
import collections
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

from worker_harness import launch, stop, worker_spec
from worker_harness import sockdir  # noqa: F401 (a fixture)
from conftest import (GLIA_BIN, PREDICTORS, REPO, free_port, wait_for,
                      write_project)

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
PROM_DEADLINE = 60.0


def _api(name, predictor, config=None, monitoring=None):
    lines = [f"- name: {name}",
             "  kind: RealtimeAPI",
             "  predictor:",
             "    type: python",
             f"    path: {predictor}/predictor.py",
             "    threads_per_process: 4"]
    if config:
        lines.append(f"    config: {json.dumps(config)}")
    if monitoring:
        lines.append("  monitoring:")
        for key, value in monitoring.items():
            lines.append(f"    {key}: {value}")
    return "\n".join(lines) + "\n"


# One project, one API per test that counts requests, so that no test sees
# another's traffic.
PROJECT_YAML = "".join([
    _api("prom", "classifier"),
    _api("lint-a", "classifier"),
    _api("lint-b", "regressor", monitoring={"model_type": "regression"}),
    _api("lint-c", "classifier", config={"answer": "object"},
         monitoring={"model_type": "classification", "key": "label"}),
    _api("cls", "classifier", config={"answer": "object"},
         monitoring={"model_type": "classification", "key": "label"}),
    _api("reg", "regressor",
         monitoring={"model_type": "regression"}),
    _api("tabled", "classifier"),
    _api("watched", "classifier"),
    _api("logged", "classifier"),
])
APIS = ["prom", "lint-a", "lint-b", "lint-c", "cls", "reg", "tabled",
        "watched", "logged"]


@pytest.fixture(scope="module")
def d(module_daemon_factory, tmp_path_factory):
    daemon = module_daemon_factory()
    proj = write_project(tmp_path_factory.mktemp("monitoring"), PROJECT_YAML,
                         {"classifier": PREDICTORS / "classifier",
                          "regressor": PREDICTORS / "regressor"})
    daemon.deploy(proj / "glia.yaml", "--timeout", "5m")
    for api in APIS:
        daemon.wait_ready(api)
    return daemon


# ---------------------------------------------------------------------------
# helpers

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """[(name, {label: value}, float)] of a Prometheus text exposition."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"unparsable metrics line: {line!r}"
        labels = {k: bytes(v, "utf-8").decode("unicode_escape")
                  for k, v in LABEL.findall(m.group(2) or "")}
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def samples(text, name, **match):
    return [(labels, value) for n, labels, value in parse_metrics(text)
            if n == name and all(labels.get(k) == v for k, v in match.items())]


def metrics_text(d):
    r = d.http_get("/metrics")
    assert r.status == 200, r
    return r.text


def send(d, api, ok=0, bad_json=0, fail=0, rid_prefix=None):
    """Sends requests to api; returns the statuses in order."""
    statuses = []
    s = d.session()
    try:
        for i in range(ok):
            statuses.append(s.post(f"/{api}", json={"n": i}).status)
        for _ in range(bad_json):
            statuses.append(s.post(f"/{api}", data=b"{not json",
                                   headers={"Content-Type":
                                            "application/json"}).status)
        for i in range(fail):
            headers = {}
            if rid_prefix:
                headers["X-Request-ID"] = f"{rid_prefix}-{i}"
            statuses.append(s.post(f"/{api}", json={"fail": True, "n": i},
                                   headers=headers).status)
    finally:
        s.close()
    return statuses


class Prometheus:
    """/usr/bin/prometheus in a temporary directory, scraping one target
    every second; stopped by pid."""

    def __init__(self, workdir, target):
        self.dir = Path(workdir)
        self.port = free_port()
        self.target = target
        self.proc = None
        self.log = self.dir / "prometheus.log"

    def start(self):
        cfg = self.dir / "prometheus.yml"
        cfg.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: glia\n"
            "    scrape_interval: 1s\n"
            "    scrape_timeout: 1s\n"
            "    static_configs:\n"
            f"      - targets: ['{self.target}']\n")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [PROMETHEUS, f"--config.file={cfg}",
                 f"--storage.tsdb.path={self.dir / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=str(self.dir), start_new_session=True)
        wait_for(self._ready, timeout=30, message=f"prometheus ready "
                 f"(log: {self.log})")
        return self

    def _ready(self):
        assert self.proc.poll() is None, self.log.read_text(errors="replace")
        with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
            return r.status == 200

    def query(self, promql):
        url = (f"http://127.0.0.1:{self.port}/api/v1/query?"
               + urllib.parse.urlencode({"query": promql}))
        with urllib.request.urlopen(url, timeout=5) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]["result"]

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)


# ---------------------------------------------------------------------------
# Prometheus and promtool

@pytest.fixture(scope="module")
def prom(d, tmp_path_factory):
    """A Prometheus server scraping d's gateway every second."""
    if not os.access(PROMETHEUS, os.X_OK):
        pytest.skip("prometheus not installed (scripts/install-deps.sh "
                    "installs Debian's prometheus)")
    server = Prometheus(tmp_path_factory.mktemp("prometheus"),
                        f"127.0.0.1:{d.port}")
    try:
        yield server.start()
    finally:
        server.stop()
    assert server.proc.poll() is not None


def test_prometheus_reads_back_exactly_the_requests_sent_by_code(d, prom):
    statuses = send(d, "prom", ok=7, bad_json=3, fail=2)
    sent = dict(collections.Counter(str(s) for s in statuses))
    assert sent == {"200": 7, "400": 3, "500": 2}, statuses

    last = {}

    def by_code():
        result = prom.query(
            'sum by (code) (glia_requests_total{api="prom"})')
        got = {r["metric"]["code"]: int(float(r["value"][1]))
               for r in result}
        last["got"] = got
        return got == sent

    deadline = time.monotonic() + PROM_DEADLINE
    while not by_code():
        assert time.monotonic() < deadline, (
            f"Prometheus never read back {sent}; last answer "
            f"{last.get('got')}; prometheus log:\n"
            + prom.log.read_text(errors="replace")[-3000:])
        time.sleep(0.5)

    # the latency histogram counted the same requests
    result = prom.query(
        'sum(glia_request_duration_seconds_count{api="prom"})')
    assert int(float(result[0]["value"][1])) == 12, result
    up = prom.query('up{job="glia"}')
    assert up and up[0]["value"][1] == "1", up


def dashboard_queries():
    """(panel title, PromQL) of every query in docs/grafana-dashboard.json."""
    dash = json.loads((REPO / "docs" / "grafana-dashboard.json").read_text())
    out = []
    for panel in dash["panels"]:
        for t in panel.get("targets", []):
            out.append((panel["title"], t["expr"]))
    return dash, out


def test_dashboard_is_importable_and_its_queries_run(d, prom):
    dash, queries = dashboard_queries()
    assert dash["schemaVersion"] >= 36
    assert [i["name"] for i in dash["__inputs"]] == ["DS_PROMETHEUS"]
    var = dash["templating"]["list"][0]
    assert var["name"] == "api"
    assert var["query"]["query"] == "label_values(glia_requests_total, api)"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dash["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel
    titles = {p["title"] for p in dash["panels"]}
    for want in ("Request rate by status code", "Latency p50 / p90 / p99",
                 "Predict time p50 / p99", "In flight and queued",
                 "Replicas by state, and desired", "Replica restarts",
                 "Rejected requests by reason", "Predicted classes"):
        assert want in titles, titles

    send(d, "lint-a", ok=3)
    for title, expr in queries:
        q = (expr.replace("$api", "lint-a|cls|reg")
             .replace("$__rate_interval", "1m").replace("$__range", "5m"))
        prom.query(q)  # asserts the query is valid PromQL
    rate = next(e for t, e in queries if t == "Request rate by status code")
    q = rate.replace("$api", "lint-a").replace("$__rate_interval", "1m")
    wait_for(lambda: prom.query(q), timeout=PROM_DEADLINE,
             message=f"data for {q}")


def test_promtool_accepts_the_live_metrics(d, tmp_path):
    """Several APIs, errors, and predictions of both model types."""
    if not os.access(PROMTOOL, os.X_OK):
        pytest.skip("promtool not installed (Debian package prometheus)")
    send(d, "lint-a", ok=5, bad_json=1, fail=2)
    send(d, "lint-c", ok=4, fail=1)
    s = d.session()
    try:
        for x in (1, 2.5, -3):
            assert s.post("/lint-b", json={"x": x}).status == 200
        assert s.post("/lint-b", json={"nope": 1}).status == 500
    finally:
        s.close()
    text = metrics_text(d)
    for api in ("lint-a", "lint-b", "lint-c"):
        assert samples(text, "glia_requests_total", api=api), text
    res = subprocess.run([PROMTOOL, "check", "metrics"], input=text,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, (
        f"promtool check metrics failed:\n{res.stdout}{res.stderr}\n"
        f"--- metrics ---\n{text}")


# ---------------------------------------------------------------------------
# prediction monitoring

def test_classification_counts_match_the_predictions_returned(d):
    returned = collections.Counter()
    s = d.session()
    try:
        for i in range(23):
            r = s.post("/cls", json={"n": i * 7 + 1})
            assert r.status == 200, r
            returned[r.json()["label"]] += 1
        # answers that are no prediction are not counted
        assert s.post("/cls", json={"fail": True}).status == 500
    finally:
        s.close()
    assert len(returned) == 3

    text = metrics_text(d)
    if not any(n == "glia_prediction_class_total"
               for n, _, _ in parse_metrics(text)):
        pytest.xfail("gateway prediction counters not in yet")
    counted = {labels["class"]: int(value) for labels, value in
               samples(text, "glia_prediction_class_total", api="cls")}
    assert counted == dict(returned), text


def test_regression_values_are_summarised(d):
    xs = [0.5, 4, -1.25, 10]
    s = d.session()
    try:
        for x in xs:
            r = s.post("/reg", json={"x": x})
            assert r.status == 200, r
            assert r.json() == 2 * x
    finally:
        s.close()
    values = [2 * x for x in xs]
    text = metrics_text(d)
    if not any(n.startswith("glia_prediction_value")
               for n, _, _ in parse_metrics(text)):
        pytest.xfail("gateway prediction counters not in yet")

    def one(name):
        found = samples(text, name, api="reg")
        assert len(found) == 1, (name, text)
        return found[0][1]

    assert one("glia_prediction_value_count") == len(values)
    assert one("glia_prediction_value_sum") == pytest.approx(sum(values))
    assert one("glia_prediction_value_min") == pytest.approx(min(values))
    assert one("glia_prediction_value_max") == pytest.approx(max(values))


def test_get_api_shows_prediction_counts(d):
    for i in range(3):
        assert d.post("/cls", json={"n": i}).status == 200
    detail = d.get("cls")
    if "predictions" not in detail:
        pytest.xfail("gateway prediction counters not in yet")
    preds = detail["predictions"]
    assert preds["model_type"] == "classification"
    assert set(preds["classes"]) == {"setosa", "versicolor", "virginica"}
    out = d.cli("get", "cls").stdout
    assert re.search(r"^predictions: .*setosa: \d+", out, re.M), out


# ---------------------------------------------------------------------------
# glia get

def test_get_table_shows_last_minute_and_status_columns(d):
    send(d, "tabled", ok=6, bad_json=1, fail=1)
    out = d.cli("get").stdout
    lines = out.splitlines()
    head = lines[0].split()
    for col in ("NAME", "KIND", "STATUS", "REPLICAS", "UP-TO-DATE", "RPS",
                "AVG", "P99", "2XX", "4XX", "5XX", "UPDATED"):
        assert col in head, out
    row = next(line for line in lines if line.startswith("tabled "))
    cells = dict(zip(head, row.split()))
    assert cells["2XX"] == "6" and cells["4XX"] == "1" and cells["5XX"] == "1"
    assert float(cells["RPS"]) > 0, row
    assert cells["AVG"].endswith(("ms", "s")) and cells["P99"] != "-", row
    assert all(len(line) <= 120 for line in lines), out
    summary = next(a for a in d.list_apis() if a["name"] == "tabled")
    assert summary["last_minute"]["requests"] == 8


def test_get_api_shows_replicas_and_recent_errors_with_request_ids(d):
    rid = "get-err-" + uuid.uuid4().hex[:8]
    send(d, "watched", ok=2, fail=1, rid_prefix=rid)
    out = d.cli("get", "watched").stdout
    assert re.search(r"^last minute: \S+ req/s, avg \S+, p99 \S+ "
                     r"\(\d+ requests\)$", out, re.M), out
    rep = d.replicas("watched")[0]
    head = next(line for line in out.splitlines() if line.startswith("ID "))
    assert head.split() == ["ID", "STATE", "PIDS", "REQUESTS", "5XX",
                            "IN-FLIGHT", "RESTARTS", "AGE"], out
    row = next(line for line in out.splitlines()
               if line.startswith(rep["id"]))
    cells = row.split()
    assert cells[1] == "ready" and cells[2] == str(rep["pids"][0]), row
    assert int(cells[3]) >= 3 and int(cells[4]) >= 1, row
    assert "recent errors (newest first):" in out, out
    err = next(line for line in out.splitlines() if f"{rid}-0" in line)
    assert " 500 " in err and "ValueError: asked to fail" in err, err
    # the JSON detail the table is made from
    errors = d.get("watched")["recent_errors"]
    assert errors[0]["request_id"] == f"{rid}-0"
    assert errors[0]["status"] == 500


# ---------------------------------------------------------------------------
# glia logs --json and request ids

def json_lines(text):
    out = []
    for line in text.splitlines():
        obj = json.loads(line)
        assert set(obj) == {"time", "replica", "request_id", "message"}, obj
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",
                            obj["time"]), obj
        out.append(obj)
    return out


def test_logs_json_lines_carry_request_ids(d):
    rid = "say-" + uuid.uuid4().hex[:10]
    mark = "hello-" + uuid.uuid4().hex[:10]
    r = d.post("/logged", json={"say": mark, "warn": "warned " + mark},
               headers={"X-Request-ID": rid})
    assert r.status == 200, r
    fail_rid = "boom-" + uuid.uuid4().hex[:10]
    assert d.post("/logged", json={"fail": True},
                  headers={"X-Request-ID": fail_rid}).status == 500
    rep = d.replicas("logged")[0]["id"]

    def logged():
        objs = json_lines(d.cli("logs", "logged", "--json").stdout)
        have = {o["message"] for o in objs}
        if (f"[{rid}] {mark}" in have
                and any("Traceback" in m and fail_rid in m for m in have)
                and any(o["replica"] == "gateway"
                        and o["request_id"] == fail_rid for o in objs)):
            return objs
        return None

    objs = wait_for(logged, timeout=20, message="the request's lines in "
                    "glia logs --json")
    said = next(o for o in objs if o["message"] == f"[{rid}] {mark}")
    assert said["request_id"] == rid and said["replica"] == rep
    warned = next(o for o in objs if o["message"] == f"[{rid}] warned {mark}")
    assert warned["request_id"] == rid
    access = [o for o in objs if o["replica"] == "gateway"
              and o["request_id"] == rid]
    assert len(access) == 1 and '"POST /logged" 200' in access[0]["message"]
    trace = [o for o in objs if o["request_id"] == fail_rid
             and o["replica"] == rep]
    assert any("Traceback (most recent call last)" in o["message"]
               for o in trace), trace
    assert any("ValueError: asked to fail" in o["message"] for o in trace)
    # outside requests: no id
    ready = next(o for o in objs if "classifier ready" in o["message"])
    assert ready["request_id"] is None
    # times are in order
    times = [o["time"] for o in objs]
    assert times == sorted(times)

    # the text format is unchanged: "<replica> <line>"
    text = d.cli("logs", "logged").stdout
    assert f"{rep} [{rid}] {mark}" in text.splitlines()
    # --tail applies to the JSON lines too
    tail = json_lines(d.cli("logs", "logged", "--json", "--tail", "2").stdout)
    assert len(tail) == 2


def test_logs_json_follow_streams_new_lines_with_request_ids(d):
    p = subprocess.Popen([str(GLIA_BIN), "logs", "logged", "--json", "-f",
                          "--tail", "0"],
                         env=d.env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in p.stdout],
                     daemon=True).start()
    try:
        deadline = time.monotonic() + 30
        found = None
        while found is None and time.monotonic() < deadline:
            rid = "follow-" + uuid.uuid4().hex[:8]
            assert d.post("/logged", json={"say": "followed"},
                          headers={"X-Request-ID": rid}).status == 200
            end = time.monotonic() + 2
            while time.monotonic() < end:
                try:
                    obj = json.loads(lines.get(timeout=0.2))
                except queue.Empty:
                    continue
                if obj["request_id"] == rid and obj["replica"] != "gateway":
                    found = obj
                    break
        assert found, "no followed JSON line with the request id"
        assert found["message"] == f"[{found['request_id']}] followed"
    finally:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def test_logs_rotate_at_the_size_cap(daemon_factory, tmp_path):
    help_text = subprocess.run([str(GLIA_BIN), "up", "--help"],
                               capture_output=True, text=True).stdout
    help_text += subprocess.run([str(GLIA_BIN), "up", "--help"],
                                capture_output=True, text=True).stderr
    if "--log-max-size" not in help_text:
        pytest.skip("no `glia up --log-max-size` yet; rotation is covered by "
                    "tests/unit/test_logs.c")
    d = daemon_factory("--log-max-size", "64Ki")
    proj = write_project(tmp_path, _api("chatty", "classifier"),
                         {"classifier": PREDICTORS / "classifier"})
    d.deploy(proj / "glia.yaml")
    d.wait_ready("chatty")
    rep = d.replicas("chatty")[0]["id"]
    for _ in range(4):  # 4 x 300 lines of ~250 bytes: 300 KB
        assert d.post("/chatty", json={"spam": 300}).status == 200
    logdir = d.home / "logs" / "chatty"

    def rotated():
        return ((logdir / f"{rep}.log.2").exists()
                and "spam 000299" in (logdir / f"{rep}.log").read_text())

    wait_for(rotated, timeout=20, message="rotated replica logs")
    for name in (f"{rep}.log", f"{rep}.log.1", f"{rep}.log.2"):
        assert (logdir / name).stat().st_size <= 64 * 1024, name
    assert not (logdir / f"{rep}.log.3").exists()
    # --tail reaches into .log.1 when .log alone is too short
    cur = (logdir / f"{rep}.log").read_text().splitlines()
    old = (logdir / f"{rep}.log.1").read_text().splitlines()
    n = len(cur) + 5
    tail = d.cli("logs", "chatty", "--replica", rep, "--tail", str(n)).stdout
    tail = tail.splitlines()
    assert len(tail) == n
    assert tail[0] == f"{rep} {old[-5].split(' ', 1)[1]}"
    assert tail[-1] == f"{rep} {cur[-1].split(' ', 1)[1]}"


# ---------------------------------------------------------------------------
# the worker: X-Glia-Prediction and request-tagged output

def start_worker(tmp_path, sockdir, source, monitoring=None, config=None):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "predictor.py").write_text(source)
    spec = worker_spec({"config": config or {}, "threads_per_process": 2},
                       monitoring=monitoring)
    return launch(tmp_path, os.path.join(sockdir, "w.sock"), proj, spec)


@pytest.fixture
def worker(tmp_path, sockdir):
    started = []

    def _start(*args, **kw):
        started.append(start_worker(tmp_path, sockdir, *args, **kw))
        return started[-1]

    yield _start
    stop(started)


MONITORED = """
import glia

class PythonPredictor:
    def __init__(self, config):
        pass

    def predict(self, payload):
        kind = payload["kind"]
        if kind == "object":
            return {"label": payload["value"], "p": 0.5}
        if kind == "response":
            return glia.Response({"label": payload["value"]},
                                 status=payload.get("status", 200))
        if kind == "list":
            return [payload["value"]]
        return payload["value"]
"""


def test_classification_prediction_header(worker):
    w = worker(MONITORED, monitoring={"model_type": "classification",
                                      "key": "label"})

    def header(payload):
        r = w.post_json(payload)
        return r.status, r.headers.get("x-glia-prediction")

    assert header({"kind": "object", "value": "setosa"}) == (200, "setosa")
    assert header({"kind": "object", "value": 2}) == (200, "2")
    assert header({"kind": "object", "value": "a b/é"}) == \
        (200, "a%20b%2F%C3%A9")
    assert header({"kind": "object", "value": "x" * 500}) == (200, "x" * 200)
    assert header({"kind": "response", "value": "cat"}) == (200, "cat")
    # no prediction: a non-2xx answer, a missing key, a non-object answer
    assert header({"kind": "response", "value": "cat", "status": 404}) == \
        (404, None)
    assert header({"kind": "object", "value": None}) == (200, None)
    assert header({"kind": "scalar", "value": "setosa"}) == (200, None)
    assert header({"wrong": 1})[1] is None


def test_regression_prediction_header(worker):
    w = worker(MONITORED, monitoring={"model_type": "regression",
                                      "key": None})

    def header(value):
        r = w.post_json({"kind": "scalar", "value": value})
        return r.headers.get("x-glia-prediction")

    assert header(1.5) == "1.5"
    assert header(3) == "3.0"
    assert header("2.25") == "2.25"
    assert header(1e-7) == "1e-07"
    assert header("not a number") is None
    r = w.post_json({"kind": "list", "value": 1})
    assert r.status == 200 and "x-glia-prediction" not in r.headers


def test_no_prediction_header_without_monitoring(worker):
    w = worker(MONITORED)
    r = w.post_json({"kind": "scalar", "value": "setosa"})
    assert r.status == 200 and "x-glia-prediction" not in r.headers


TALKER = """
import sys, threading
import glia

print("init line")

class PythonPredictor:
    def __init__(self, config):
        print("constructed", flush=True)

    def predict(self, payload):
        print("one", "two")
        print("multi\\nline")
        sys.stdout.write("partial ")
        sys.stdout.write("done\\n")
        sys.stderr.write("to stderr\\n")
        sys.stdout.flush()
        t = threading.Thread(target=lambda: print("from a thread", flush=True))
        t.start()
        t.join()
        return {"isatty": sys.stdout.isatty(),
                "encoding": sys.stdout.encoding,
                "fileno": sys.stdout.fileno(),
                "errors": sys.stderr.errors,
                "rid": glia.request_id()}
"""


def test_predictor_output_during_a_request_carries_its_id(worker):
    w = worker(TALKER)
    r = w.post_json({}, headers={"X-Request-ID": "rid-9"})
    assert r.status == 200
    got = r.json()
    assert got["isatty"] is False and got["fileno"] == 1
    assert got["encoding"].lower().replace("-", "") == "utf8"
    assert got["rid"] == "rid-9"
    end = time.monotonic() + 10
    while "from a thread" not in Path(w.out_path).read_text():
        assert time.monotonic() < end, Path(w.out_path).read_text()
        time.sleep(0.05)
    out = Path(w.out_path).read_text().splitlines()
    assert out[:2] == ["init line", "constructed"]
    assert "[rid-9] one two" in out
    assert "[rid-9] multi" in out and "[rid-9] line" in out
    assert "[rid-9] partial done" in out
    # a thread the predictor starts is outside the request
    assert "from a thread" in out
    assert "[rid-9] to stderr" in w.stderr().splitlines()
    # after the request, output is plain again
    r = w.post_json({}, headers={"X-Request-ID": "rid-10"})
    assert r.json()["rid"] == "rid-10"
