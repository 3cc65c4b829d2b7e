"""Replicas and gateways as separate programs (issue 11, points 2, 3 and 5):
`glia worker --api NAME --listen HOST:PORT FILE`, one replica behind its own
front, and `glia gateway FILE --listen ... --discover ...`, the gateway
without a local supervisor, here as plain processes on loopback (the same
programs in real containers: test_containers.py).

Every process a test starts is recorded and SIGKILLed by pid at the end,
with the worker processes its replicas started (found by the private home
each replica is given).

Run: GLIA_BIN=build/glia /usr/bin/python3 -m pytest -q tests/e2e/test_remote_replicas.py
"""
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from conftest import (GLIA_BIN, PREDICTORS, free_port, http_get as get,
                      http_post as post, kill_pids, processes_mentioning,
                      wait_for, write_project)
from loadgen import LoadGen

DEADLINE = 60.0
SLEEPY = PREDICTORS / "sleepy" / "predictor.py"
SERVER = PREDICTORS / "command_server" / "serve.py"


def sleepy_yaml(name="sleepy", threads=1, processes=1, sleep_s=0.05,
                init_s=0, timeout="60s", extra=""):
    return (f"- name: {name}\n"
            "  kind: RealtimeAPI\n"
            "  predictor:\n"
            "    type: python\n"
            "    path: predictor.py\n"
            f"    threads_per_process: {threads}\n"
            f"    processes_per_replica: {processes}\n"
            f"    config: {{sleep_s: {sleep_s}, init_s: {init_s}, "
            f"version: {name}}}\n"
            "  networking:\n"
            f"    timeout: {timeout}\n" + extra)


class Programs:
    """Starts glia programs and kills them (and their replicas' worker
    processes) by pid at the end."""

    def __init__(self, tmp_path):
        self.tmp = Path(tmp_path)
        self.procs = []
        self.homes = []

    def _start(self, args, name):
        log = open(self.tmp / f"{name}.log", "wb")
        p = subprocess.Popen([str(GLIA_BIN), *map(str, args)], stdout=log,
                             stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        p.log_path = self.tmp / f"{name}.log"
        self.procs.append(p)
        return p

    def worker(self, project, api, port=None, name=None):
        port = port or free_port()
        home = self.tmp / f"home-{name or api}-{port}"
        self.homes.append(home)
        p = self._start(["worker", "--api", api, "--listen",
                         f"127.0.0.1:{port}", "--home", home, project],
                        name or f"worker-{api}-{port}")
        p.port, p.home = port, home
        return p

    def gateway(self, project, discover, port=None, name="gateway"):
        port = port or free_port()
        p = self._start(["gateway", project, "--listen", f"127.0.0.1:{port}",
                         "--discover", discover], f"{name}-{port}")
        p.port = port
        return p

    def cleanup(self):
        pids = [p.pid for p in self.procs if p.poll() is None]
        for home in self.homes:
            pids += processes_mentioning(str(home))
        kill_pids(pids)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass


@pytest.fixture
def progs(tmp_path):
    p = Programs(tmp_path)
    yield p
    p.cleanup()


def healthy(p):
    try:
        return get(p.port, "/healthz", timeout=5).status == 200
    except OSError:
        return False


def wait_healthy(*procs):
    for p in procs:
        wait_for(lambda: healthy(p), DEADLINE,
                 message=f"/healthz of {p.args} (log: "
                         f"{p.log_path.read_text()[-2000:]})")


def discovered(gw, api):
    text = get(gw.port, "/metrics").text
    for line in text.splitlines():
        if line.startswith(f'glia_discovered_replicas{{api="{api}"}}'):
            return int(float(line.split()[-1]))
    return -1


def sleepy_project(tmp_path, yaml_text, name="proj"):
    return write_project(tmp_path, yaml_text, {"predictor.py": SLEEPY},
                         dirname=name)


# --- glia worker --api ---------------------------------------------------------


def test_worker_healthz_is_503_until_init_returned_then_200(progs, tmp_path):
    proj = sleepy_project(tmp_path, sleepy_yaml(init_s=2))
    w = progs.worker(proj, "sleepy")
    # the front is up long before the predictor's __init__ returns
    first = wait_for(lambda: get(w.port, "/healthz", timeout=5), DEADLINE,
                     message="the worker's front")
    assert first.status == 503, first
    assert first.json() == {"status": "starting"}
    wait_healthy(w)
    r = post(w.port, "/", {"sleep": 0})
    assert r.status == 200, r
    assert r.json()["version"] == "sleepy"
    assert get(w.port, "/livez").status == 200


def test_worker_logs_the_predictor_and_access_lines_to_stdout(progs, tmp_path):
    proj = sleepy_project(tmp_path, sleepy_yaml())
    w = progs.worker(proj, "sleepy")
    wait_healthy(w)
    assert post(w.port, "/", {"sleep": 0},
                headers={"X-Request-ID": "log-probe-1"}).status == 200
    wait_for(lambda: "rid=log-probe-1" in w.log_path.read_text(), DEADLINE,
             message="the access line on stdout")
    text = w.log_path.read_text()
    assert "sleepy predictor vsleepy" in text  # the predictor's print
    assert "ready after" in text


def test_worker_refuses_beyond_its_capacity_with_503_overloaded(progs,
                                                               tmp_path):
    """One slot and max_replica_concurrency 2: one request runs, one waits
    its turn, a third is refused at once with the marker a gateway takes
    as "send it elsewhere"."""
    proj = sleepy_project(tmp_path, sleepy_yaml(
        threads=1, extra="  autoscaling:\n    max_replica_concurrency: 2\n"))
    w = progs.worker(proj, "sleepy")
    wait_healthy(w)
    started = tmp_path / "started"
    results = {}

    def call(key, payload):
        results[key] = post(w.port, "/", payload)

    t1 = threading.Thread(target=call, args=(
        "running", {"sleep": 3, "started_file": str(started)}))
    t1.start()
    wait_for(started.exists, DEADLINE, message="the slow request to start")
    t2 = threading.Thread(target=call, args=("waiting", {"sleep": 0}))
    t2.start()
    wait_for(lambda: "glia_queued_requests{api=\"sleepy\"} 1"
             in get(w.port, "/metrics").text, DEADLINE,
             message="the second request to wait")
    r = post(w.port, "/", {"sleep": 0})
    assert r.status == 503, r
    assert r.headers["X-Glia-Overloaded"] == "1"
    assert r.json()["error"] == "overloaded: too many requests in flight"
    t1.join(60)
    t2.join(60)
    assert results["running"].status == 200
    assert results["waiting"].status == 200


def test_worker_drains_on_sigterm_then_exits_0(progs, tmp_path):
    proj = sleepy_project(tmp_path, sleepy_yaml(threads=2))
    w = progs.worker(proj, "sleepy")
    wait_healthy(w)
    started = tmp_path / "started"
    results = {}

    def slow():
        results["slow"] = post(w.port, "/", {"sleep": 3,
                                             "started_file": str(started)})

    t = threading.Thread(target=slow)
    t.start()
    wait_for(started.exists, DEADLINE, message="the slow request to start")
    w.send_signal(signal.SIGTERM)
    h = wait_for(lambda: (lambda r: r if r.status == 503 else None)(
        get(w.port, "/healthz", timeout=5)), DEADLINE,
        message="/healthz to fail once SIGTERM arrived")
    assert h.json() == {"status": "draining"}, h
    refused = post(w.port, "/", {"sleep": 0})
    assert refused.status == 503 and refused.headers["X-Glia-Overloaded"]
    t.join(60)
    assert results["slow"].status == 200, results["slow"]
    assert w.wait(60) == 0
    wait_for(lambda: not processes_mentioning(str(w.home)), DEADLINE,
             message="the replica's worker processes to exit")


def test_worker_runs_processes_and_command_predictors(progs, tmp_path):
    proj = sleepy_project(tmp_path, sleepy_yaml(processes=2, sleep_s=0.3))
    w = progs.worker(proj, "sleepy")
    wait_healthy(w)
    pids = set()
    barrier = threading.Barrier(2)

    def one():
        barrier.wait(30)
        pids.add(post(w.port, "/", {}).json()["pid"])

    # two slots (one per process): two requests at once take both
    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(pids) == 2

    cmd = ("- name: cmd\n  kind: RealtimeAPI\n  predictor:\n"
           "    type: command\n"
           "    command: [/usr/bin/python3, serve.py, \"$GLIA_PORT\"]\n"
           "    readiness_path: /health\n")
    cproj = write_project(tmp_path, cmd, {"serve.py": SERVER}, dirname="cmd")
    c = progs.worker(cproj, "cmd")
    wait_healthy(c)
    r = post(c.port, "/a/b?q=1", {"x": 1})
    assert r.status == 200, r
    assert r.json()["path"] == "/a/b?q=1"


def test_worker_usage_errors_are_clear(progs, tmp_path):
    proj = sleepy_project(tmp_path, sleepy_yaml() + sleepy_yaml("other") +
                          "- name: split\n  kind: TrafficSplitter\n"
                          "  apis:\n    - {name: sleepy, weight: 50}\n"
                          "    - {name: other, weight: 50}\n")
    run = lambda *a: subprocess.run([str(GLIA_BIN), "worker", *map(str, a)],
                                    capture_output=True, text=True,
                                    timeout=60)
    r = run("--listen", "127.0.0.1:1", proj)
    assert r.returncode == 2 and "--api NAME is required" in r.stderr
    r = run("--api", "nope", "--listen", "127.0.0.1:1", proj)
    assert r.returncode == 1
    assert "has no API named nope; it has: sleepy other split" in r.stderr
    r = run("--api", "split", "--listen", "127.0.0.1:1", proj)
    assert r.returncode == 1 and "is a TrafficSplitter" in r.stderr
    r = run("--api", "sleepy", "--listen", "nohost", proj)
    assert r.returncode == 2 and "--listen takes HOST:PORT" in r.stderr
    r = run("--api", "sleepy", tmp_path / "missing")
    assert r.returncode == 1 and "missing" in r.stderr


# --- glia gateway -------------------------------------------------------------


def test_gateway_spreads_requests_over_static_replicas(progs, tmp_path):
    proj = sleepy_project(tmp_path, sleepy_yaml(sleep_s=0.2))
    w1, w2 = progs.worker(proj, "sleepy"), progs.worker(proj, "sleepy")
    wait_healthy(w1, w2)
    gw = progs.gateway(proj, f"static:sleepy=127.0.0.1:{w1.port},"
                             f"sleepy=localhost:{w2.port}")
    wait_for(lambda: discovered(gw, "sleepy") == 2, DEADLINE,
             message="both replicas discovered")
    pids = set()
    barrier = threading.Barrier(4)

    def one():
        barrier.wait(30)
        r = post(gw.port, "/sleepy", {})
        assert r.status == 200, r
        assert r.headers["X-Request-ID"]
        pids.add(r.json()["pid"])

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(pids) == 2
    m = get(gw.port, "/metrics").text
    assert 'glia_requests_total{api="sleepy",code="200"} 4' in m
    assert 'glia_in_flight_requests{api="sleepy"} 0' in m
    # the predictor's time comes through the worker's front
    assert 'glia_predict_duration_seconds_count{api="sleepy"} 4' in m
    # the protocol routes reach the replicas too
    meta = get(gw.port, "/v2/models/sleepy/ready")
    assert meta.status == 200 and meta.json()["ready"] is True


def test_gateway_loses_no_request_when_a_replica_is_killed(progs, tmp_path):
    proj = sleepy_project(tmp_path, sleepy_yaml(threads=2, sleep_s=0.05))
    w1, w2 = progs.worker(proj, "sleepy"), progs.worker(proj, "sleepy")
    wait_healthy(w1, w2)
    gw = progs.gateway(proj, f"static:sleepy=127.0.0.1:{w1.port},"
                             f"sleepy=127.0.0.1:{w2.port}")
    wait_for(lambda: discovered(gw, "sleepy") == 2, DEADLINE)
    lg = LoadGen("127.0.0.1", gw.port, "/sleepy", clients=4).start()
    try:
        assert lg.wait_for_count(40, timeout=DEADLINE)
        # the replica and its worker processes, at once
        kill_pids([w1.pid] + processes_mentioning(str(w1.home)))
        n = lg.count()
        assert lg.wait_for_count(n + 80, timeout=DEADLINE)
    finally:
        lg.stop()
    s = lg.summary()
    assert lg.failures() == 0, s


def test_gateway_holds_requests_until_a_replica_appears(progs, tmp_path):
    proj = sleepy_project(tmp_path, sleepy_yaml(timeout="60s"))
    port = free_port()
    gw = progs.gateway(proj, f"static:sleepy=127.0.0.1:{port}")
    wait_for(lambda: get(gw.port, "/metrics").status == 200, DEADLINE)
    result = {}

    def call():
        result["r"] = post(gw.port, "/sleepy", {"sleep": 0}, timeout=90)

    t = threading.Thread(target=call)
    t.start()
    wait_for(lambda: 'glia_queued_requests{api="sleepy"} 1'
             in get(gw.port, "/metrics").text, DEADLINE,
             message="the request to wait in the queue")
    w = progs.worker(proj, "sleepy", port=port)
    t.join(90)
    assert result["r"].status == 200, result["r"]
    assert w.poll() is None


def test_gateways_share_a_worker_without_overfilling_it(progs, tmp_path):
    proj = sleepy_project(tmp_path, sleepy_yaml(threads=1, sleep_s=0.1))
    w = progs.worker(proj, "sleepy")
    wait_healthy(w)
    spec = f"static:sleepy=127.0.0.1:{w.port}"
    g1, g2 = progs.gateway(proj, spec, name="g1"), progs.gateway(proj, spec,
                                                                 name="g2")
    for g in (g1, g2):
        wait_for(lambda: discovered(g, "sleepy") == 1, DEADLINE)
    loads = [LoadGen("127.0.0.1", g.port, "/sleepy", clients=2).start()
             for g in (g1, g2)]
    try:
        for lg in loads:
            assert lg.wait_for_count(15, timeout=DEADLINE)
    finally:
        for lg in loads:
            lg.stop()
    for lg in loads:
        assert lg.failures() == 0, lg.summary()


def test_gateway_serves_a_traffic_splitter_over_remote_replicas(progs,
                                                                tmp_path):
    yaml_text = (sleepy_yaml("a", sleep_s=0) + sleepy_yaml("b", sleep_s=0) +
                 "- name: split\n  kind: TrafficSplitter\n"
                 "  apis:\n    - {name: a, weight: 80}\n"
                 "    - {name: b, weight: 20}\n")
    proj = sleepy_project(tmp_path, yaml_text)
    wa, wb = progs.worker(proj, "a"), progs.worker(proj, "b")
    wait_healthy(wa, wb)
    gw = progs.gateway(proj, f"static:a=127.0.0.1:{wa.port},"
                             f"b=127.0.0.1:{wb.port}")
    wait_for(lambda: discovered(gw, "a") == 1 and discovered(gw, "b") == 1,
             DEADLINE)
    versions = [post(gw.port, "/split", {}).json()["version"]
                for _ in range(20)]
    assert versions.count("a") == 16 and versions.count("b") == 4
    # GET <endpoint> describes them as glia up does
    assert get(gw.port, "/split").json() == {
        "name": "split", "kind": "TrafficSplitter", "endpoint": "/split",
        "apis": [{"name": "a", "weight": 80, "shadow": False},
                 {"name": "b", "weight": 20, "shadow": False}]}
    assert get(gw.port, "/a").json() == {
        "name": "a", "kind": "RealtimeAPI", "endpoint": "/a",
        "predictor_type": "python"}


def test_gateway_finds_replicas_by_dns(progs, tmp_path):
    """dns:NAME:PORT with the machine's resolver: `localhost` names
    127.0.0.1 here (containers: test_containers.py resolves aliases)."""
    proj = sleepy_project(tmp_path, sleepy_yaml(sleep_s=0))
    port = free_port()
    w = progs.worker(proj, "sleepy", port=port)
    wait_healthy(w)
    gw = progs.gateway(proj, f"dns:localhost:{port}")
    wait_for(lambda: discovered(gw, "sleepy") >= 1, DEADLINE)
    assert post(gw.port, "/sleepy", {}).status == 200


def test_gateway_usage_errors_are_clear(tmp_path):
    proj = sleepy_project(tmp_path, sleepy_yaml())
    r = subprocess.run([str(GLIA_BIN), "gateway", proj, "--discover",
                        "consul:x"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1
    assert "--discover takes dns:NAME:PORT" in r.stderr


def test_worker_runs_c_predictors_and_batching(progs, tmp_path):
    """A C predictor (examples/c-echo, built with make) and a Python API
    with server_side_batching, each as one replica on its own."""
    echo_dir = Path(__file__).resolve().parents[2] / "examples" / "c-echo"
    r = subprocess.run(["make", "-s", "-C", str(echo_dir)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    c = progs.worker(echo_dir, "c-echo")
    wait_healthy(c)
    r = post(c.port, "/", {"hello": "c"})
    assert r.status == 200 and r.json() == {"hello": "c"}, r

    batching = (
        "- name: batched\n  kind: RealtimeAPI\n  predictor:\n"
        "    type: python\n    path: predictor.py\n"
        "    server_side_batching: {max_batch_size: 4, "
        "batch_interval: 200ms}\n")
    src = ("class PythonPredictor:\n"
           "    def __init__(self, config):\n        pass\n"
           "    def predict(self, payload):\n"
           "        return [{'n': len(payload), 'x': p['x']} "
           "for p in payload]\n")
    proj = write_project(tmp_path, batching, {"predictor.py": src},
                         dirname="batched")
    w = progs.worker(proj, "batched")
    wait_healthy(w)
    gw = progs.gateway(proj, f"static:batched=127.0.0.1:{w.port}")
    wait_for(lambda: discovered(gw, "batched") == 1, DEADLINE)
    answers = [None] * 4
    barrier = threading.Barrier(4)

    def one(i):
        barrier.wait(30)
        answers[i] = post(gw.port, "/batched", {"x": i}).json()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [a["x"] for a in answers] == [0, 1, 2, 3]
    assert max(a["n"] for a in answers) > 1  # batched together
    # the batch sizes reach the gateway's metrics through the front
    m = get(gw.port, "/metrics").text
    assert 'glia_batch_size_count{api="batched"}' in m
