"""compute.mem and compute.mem_limit on the local backend (SPEC section 3).

compute.mem is a request, as in Cortex: a replica whose processes together
hold more resident memory than it is reported (event, log line,
memory_over_request, metrics) and keeps serving. compute.mem_limit is the
hard limit: a replica over it is killed, reported as out of memory (replica
error, API error, replica log, glia_replica_oom_kills_total) and restarted
like after a crash."""
import re
import textwrap
import time

from conftest import write_project

PREDICTOR = textwrap.dedent("""\
    HOARD = []


    class PythonPredictor:
        def __init__(self, config):
            pass

        def predict(self, payload):
            mb = int(payload.get("hold_mb", 0))
            if mb:
                HOARD.append(bytearray(mb << 20))  # zero-filled: resident
            return {"held_mb": sum(len(b) for b in HOARD) >> 20}
    """)

YAML = textwrap.dedent("""\
    - name: hog
      kind: RealtimeAPI
      predictor:
        type: python
        path: predictor.py
      compute:
        mem: 100Mi
        mem_limit: 300Mi
    """)

REQUEST_ONLY = textwrap.dedent("""\
    - name: big
      kind: RealtimeAPI
      predictor:
        type: python
        path: predictor.py
      compute:
        mem: 64Mi
    """)


def _within(predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _metric(d, name, api):
    for line in d.http_get("/metrics").text.splitlines():
        if line.startswith(f'{name}{{api="{api}"}} '):
            return float(line.split()[-1])
    return None


def test_a_replica_over_compute_mem_limit_is_killed_and_restarted(daemon,
                                                                  tmp_path):
    proj = write_project(tmp_path, YAML, {"predictor.py": PREDICTOR})
    daemon.deploy("glia.yaml", cwd=proj)
    (first_pid,) = daemon.replica_pids("hog")
    r = daemon.post("/hog", json={"hold_mb": 10})
    assert r.status == 200 and r.json()["held_mb"] == 10, r
    assert daemon.get("hog")["oom_kills"] == 0

    # 200 MB more per request until the replica is killed (an ASan build
    # scales compute.mem: the number of steps differs, the outcome not);
    # a request may be answered 5xx when the kill comes while it allocates
    def killed_within(seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if daemon.get("hog")["oom_kills"] >= 1:
                return True
            time.sleep(0.1)
        return False

    for _ in range(30):
        r = daemon.post("/hog", json={"hold_mb": 200})
        assert r.status == 200 or r.status >= 500, r
        if killed_within(3):  # the daemon checks every second
            break
    daemon.wait_for(lambda: daemon.get("hog")["oom_kills"] == 1,
                    message="replica over compute.mem_limit not killed")
    assert _metric(daemon, "glia_replica_oom_kills_total", "hog") == 1
    # the replica's error (shown until it is ready again) and its log
    logs = daemon.cli("logs", "hog").stdout
    assert re.search(r"out of memory: killed at \d+\.\d+ [MG]iB resident, "
                     r"over compute\.mem_limit 300\.0 MiB", logs), logs
    assert "predictor failed to start" not in logs

    # restarted with a fresh process, which serves again
    daemon.wait_ready("hog", timeout=60)
    daemon.wait_for(lambda: daemon.post("/hog", json={}).status == 200)
    assert daemon.post("/hog", json={}).json() == {"held_mb": 0}
    assert first_pid not in daemon.replica_pids("hog")
    assert daemon.get("hog")["restarts"] >= 1


def _environ(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        items = f.read().split(b"\0")
    return dict(i.decode().split("=", 1) for i in items if b"=" in i)


def _gpu_api(name, gpu, replicas):
    return textwrap.dedent(f"""\
        - name: {name}
          kind: RealtimeAPI
          predictor:
            type: python
            path: predictor.py
          compute:
            gpu: {gpu}
          autoscaling:
            min_replicas: {replicas}
            max_replicas: {replicas}
        """)


def test_each_replica_gets_its_own_gpus(daemon_factory, tmp_path):
    """compute.gpu on the local backend: `glia up --gpus 0,1` has two GPUs;
    two replicas asking for one each get one each (CUDA_VISIBLE_DEVICES),
    a replica asking for none sees none, and a third asking for one waits,
    reported, until one is free."""
    d = daemon_factory("--gpus", "0,1")
    proj = write_project(tmp_path, _gpu_api("gpu", 1, 2) +
                         _gpu_api("cpu", 0, 1),
                         {"predictor.py": PREDICTOR})
    d.deploy("glia.yaml", cwd=proj)
    seen = sorted(_environ(pid)["CUDA_VISIBLE_DEVICES"]
                  for pid in d.replica_pids("gpu"))
    assert seen == ["0", "1"]
    assert sorted(r["gpus"] for r in d.get("gpu")["replica_list"]) == \
        ["0", "1"]
    (cpu_pid,) = d.replica_pids("cpu")
    assert _environ(cpu_pid)["CUDA_VISIBLE_DEVICES"] == ""

    proj2 = write_project(tmp_path, _gpu_api("more", 1, 1),
                          {"predictor.py": PREDICTOR}, dirname="more")
    d.deploy("glia.yaml", cwd=proj2, wait=False)
    detail = d.wait_for(lambda: (lambda x: x if x["error"] else None)(
        d.get("more")), message="no GPU left reported")
    assert detail["error"] == "needs 1 GPU (compute.gpu): 0 of 2 free"
    assert detail["replicas"]["ready"] == 0

    d.cli("delete", "gpu")
    d.wait_ready("more", timeout=90)
    (pid,) = d.replica_pids("more")
    assert _environ(pid)["CUDA_VISIBLE_DEVICES"] in ("0", "1")


def test_a_replica_over_compute_mem_is_reported_and_keeps_serving(daemon,
                                                                  tmp_path):
    """compute.mem was a Kubernetes request in Cortex: going over it is
    reported (replica event and log line, memory_over_request, metrics,
    glia describe) and the replica is never killed: the same process keeps
    the memory it holds and answers."""
    proj = write_project(tmp_path, REQUEST_ONLY, {"predictor.py": PREDICTOR})
    daemon.deploy("glia.yaml", cwd=proj)
    (pid,) = daemon.replica_pids("big")

    def over():
        (rep,) = daemon.replicas("big")
        return rep.get("memory_over_request")

    daemon.wait_for(lambda: "memory_bytes" in daemon.replicas("big")[0],
                    message="memory of an API with compute.mem not shown")
    assert over() is False
    # 100 MB more per request until it is reported (an ASan build scales
    # compute.mem, so the number of steps differs)
    held = 0
    for _ in range(12):
        r = daemon.post("/big", json={"hold_mb": 100})
        assert r.status == 200, r
        held = r.json()["held_mb"]
        if _within(over, 3):  # the daemon checks every second
            break
    daemon.wait_for(over, message="replica over compute.mem not reported")

    # still the same process, holding what it held: never restarted
    r = daemon.post("/big", json={})
    assert r.status == 200 and r.json() == {"held_mb": held}, r
    assert daemon.replica_pids("big") == [pid]
    detail = daemon.get("big")
    assert detail["oom_kills"] == 0 and detail["restarts"] == 0, detail
    (rep,) = detail["replica_list"]
    assert rep["state"] == "ready" and rep["memory_bytes"] > 64 << 20, rep
    assert rep["error"] is None, rep

    logs = daemon.cli("logs", "big").stdout
    assert re.search(r"memory \d+\.\d+ [MG]iB resident, over compute\.mem "
                     r"64\.0 MiB \(a request: it keeps running\)", logs), logs
    assert "out of memory" not in logs
    assert _metric(daemon, "glia_replicas_over_memory_request", "big") == 1
    assert _metric(daemon, "glia_replica_oom_kills_total", "big") == 0
    lines = [ln for ln in daemon.http_get("/metrics").text.splitlines()
             if ln.startswith('glia_replica_memory_bytes{api="big",')]
    assert len(lines) == 1 and float(lines[0].split()[-1]) > 64 << 20, lines
    desc = daemon.cli("describe", "big").stdout
    assert "MEMORY" in desc and "(over request)" in desc, desc
