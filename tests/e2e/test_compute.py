"""compute.mem on the local backend (SPEC section 3): a replica whose
processes together hold more resident memory than compute.mem is killed,
reported as out of memory (replica error, API error, replica log,
glia_replica_oom_kills_total) and restarted like after a crash."""
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
        mem: 300Mi
    """)


def _metric(d, name, api):
    for line in d.http_get("/metrics").text.splitlines():
        if line.startswith(f'{name}{{api="{api}"}} '):
            return float(line.split()[-1])
    return None


def test_a_replica_over_compute_mem_is_killed_and_restarted(daemon,
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
                    message="replica over compute.mem not killed")
    assert _metric(daemon, "glia_replica_oom_kills_total", "hog") == 1
    # the replica's error (shown until it is ready again) and its log
    logs = daemon.cli("logs", "hog").stdout
    assert re.search(r"out of memory: killed at \d+\.\d+ [MG]iB resident, "
                     r"over compute\.mem 300\.0 MiB", logs), logs
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
