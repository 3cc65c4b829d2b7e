"""glia in real containers (issue 11, point 6): `glia build` makes an image
of a project; two replica containers (`glia worker --api`) share a network
alias on a podman network; a gateway container (`glia gateway --discover
dns:{api}-replicas:8080`) finds them through podman's DNS and is reached
on a port published on 127.0.0.1.

Needs podman with runc and no default ulimits, netavark + aardvark-dns (DNS
for network aliases) and the base image (scripts/install-deps.sh and
scripts/base-image.sh do all of it; .ci/run runs both). Skipped, with the
reason, when podman cannot run a container here or the binary under test
is a sanitizer build (its runtime is not in the image); under CI=true a
missing podman fails instead.

Traffic stays on this machine: the test talks to 127.0.0.1 only; the
gateway talks to the replicas inside the podman network the test creates.
Every container, network and image is removed at the end, by name.

Run: GLIA_BIN=build/glia /usr/bin/python3 -m pytest -q tests/e2e/test_containers.py
"""
import os
import shutil
import subprocess
import threading
import uuid

import pytest

from conftest import GLIA_BIN, HttpSession, free_port, wait_for, write_project
from loadgen import LoadGen

pytestmark = pytest.mark.containers

DEADLINE = 120.0
BASE = "docker.io/library/debian:bookworm-slim"
YAML = """\
- name: host
  kind: RealtimeAPI
  predictor:
    type: python
    path: predictor.py
    threads_per_process: 2
    config: {sleep_s: 0.05}
  networking:
    timeout: 120s
"""
PREDICTOR = '''\
import socket
import time


class PythonPredictor:
    """Answers with the container's host name, after sleep_s (or the
    request's "sleep")."""

    def __init__(self, config):
        self.sleep_s = float(config.get("sleep_s", 0))
        print(f"host predictor on {socket.gethostname()}", flush=True)

    def predict(self, payload):
        seconds = self.sleep_s
        if isinstance(payload, dict) and payload.get("sleep") is not None:
            seconds = float(payload["sleep"])
        time.sleep(seconds)
        return {"host": socket.gethostname()}
'''


def podman(*args, check=True, timeout=300):
    r = subprocess.run(["podman", *map(str, args)], capture_output=True,
                       text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"podman {' '.join(map(str, args))}: "
                             f"{r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def why_not_runnable():
    if not shutil.which("podman"):
        return "podman is not installed (scripts/install-deps.sh)"
    ldd = subprocess.run(["ldd", str(GLIA_BIN)], capture_output=True,
                         text=True).stdout
    if "libasan" in ldd or "libubsan" in ldd:
        return "a sanitizer build: its runtime is not in the image"
    if podman("image", "exists", BASE, check=False).returncode != 0:
        return f"no base image {BASE} (scripts/base-image.sh)"
    r = podman("run", "--rm", BASE, "true", check=False, timeout=120)
    if r.returncode != 0:
        return f"podman cannot run a container here: {r.stderr.strip()}"
    return None


def require(why, what="container tests"):
    """Skips the caller when why (a reason it cannot run) is set; under
    CI=true that fails instead, unless the binary is a sanitizer build."""
    if not why:
        return
    if os.environ.get("CI") == "true" and "sanitizer" not in why:
        pytest.fail(f"{what} cannot run in CI: {why}")
    pytest.skip(why)


class Cluster:
    """A podman network, an image, and the containers started on them;
    removes all of them by name."""

    def __init__(self, tmp_path):
        self.tag = uuid.uuid4().hex[:8]
        self.image = f"localhost/glia-test-{self.tag}:latest"
        self.net = f"glia-test-{self.tag}"
        self.names = []
        self.project = write_project(tmp_path, YAML,
                                     {"predictor.py": PREDICTOR},
                                     dirname="hostapp")
        self.gw_port = free_port()

    def build(self):
        r = subprocess.run([str(GLIA_BIN), "build", "-t", self.image,
                            str(self.project)], capture_output=True,
                           text=True, timeout=1200)
        assert r.returncode == 0, f"glia build:\n{r.stdout}\n{r.stderr}"
        podman("network", "create", self.net)

    def worker(self, name, api="host"):
        name = f"{self.net}-{name}"
        self.names.append(name)
        podman("run", "-d", "--name", name, "--network", self.net,
               "--network-alias", f"{api}-replicas", self.image,
               "worker", "--api", api, "--listen", "0.0.0.0:8080",
               "/app/glia.yaml")
        return name

    def gateway(self):
        name = f"{self.net}-gateway"
        self.names.append(name)
        podman("run", "-d", "--name", name, "--network", self.net,
               "-p", f"127.0.0.1:{self.gw_port}:8888", self.image,
               "gateway", "/app/glia.yaml", "--listen", "0.0.0.0:8888",
               "--discover", "dns:{api}-replicas:8080")
        return name

    def logs(self, name):
        r = podman("logs", name, check=False)
        return r.stdout + r.stderr

    def remove_all(self):
        for name in self.names:
            podman("rm", "-f", "-t", "0", name, check=False)
        podman("network", "rm", "-f", self.net, check=False)
        podman("rmi", "-f", self.image, check=False)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    require(why_not_runnable())
    c = Cluster(tmp_path_factory.mktemp("containers"))
    try:
        c.build()
        c.gateway()
        yield c
    finally:
        c.remove_all()


def post(c, payload=None, timeout=150.0):
    s = HttpSession("127.0.0.1", c.gw_port, timeout=timeout)
    try:
        return s.post("/host", json=payload if payload is not None else {})
    finally:
        s.close()


def metric(c, family, api="host"):
    s = HttpSession("127.0.0.1", c.gw_port, timeout=30)
    try:
        text = s.get("/metrics").text
    finally:
        s.close()
    for line in text.splitlines():
        if line.startswith(f'{family}{{api="{api}"}}'):
            return float(line.split()[-1])
    return None


def hosts_answering(c, n=12):
    return {post(c).json()["host"] for _ in range(n)}


def replicas_seen(c):
    return metric(c, "glia_discovered_replicas")


def container_id(name):
    return podman("inspect", "--format", "{{.Id}}", name).stdout.strip()[:12]


def test_two_replicas_behind_a_network_alias_serve_through_the_gateway(
        cluster):
    w1, w2 = cluster.worker("w1"), cluster.worker("w2")
    wait_for(lambda: replicas_seen(cluster) == 2, DEADLINE,
             message="the gateway to find both replicas by DNS")
    # both serve (the host name in a container is its short id)
    want = {container_id(w1), container_id(w2)}
    wait_for(lambda: hosts_answering(cluster) == want, DEADLINE,
             message=f"answers from both {want}")
    assert "host predictor on" in cluster.logs(w1)  # logs on stdout
    assert "POST /host" in cluster.logs(f"{cluster.net}-gateway")


def test_replica_killed_under_load_loses_no_request(cluster):
    wait_for(lambda: replicas_seen(cluster) == 2, DEADLINE)
    lg = LoadGen("127.0.0.1", cluster.gw_port, "/host", clients=4,
                 timeout=150).start()
    try:
        assert lg.wait_for_count(40, timeout=DEADLINE)
        podman("kill", "-s", "KILL", f"{cluster.net}-w1")
        n = lg.count()
        assert lg.wait_for_count(n + 100, timeout=DEADLINE)
    finally:
        lg.stop()
    assert lg.failures() == 0, lg.summary()
    podman("rm", "-f", f"{cluster.net}-w1")
    wait_for(lambda: replicas_seen(cluster) == 1, DEADLINE,
             message="the killed replica to drop out of DNS")


def test_replica_added_is_used(cluster):
    w3 = cluster.worker("w3")
    wait_for(lambda: replicas_seen(cluster) == 2, DEADLINE)
    wait_for(lambda: container_id(w3) in hosts_answering(cluster), DEADLINE,
             message="the new replica to answer")


def test_draining_replica_finishes_its_request_on_sigterm(cluster):
    """podman stop sends SIGTERM, as Kubernetes does: the request in
    flight on that replica is answered; the rest go to the other one."""
    w2, w3 = f"{cluster.net}-w2", f"{cluster.net}-w3"
    wait_for(lambda: replicas_seen(cluster) == 2, DEADLINE)
    results = []

    def slow():
        results.append(post(cluster, {"sleep": 4}))

    threads = [threading.Thread(target=slow) for _ in range(4)]
    for t in threads:
        t.start()
    # both replicas hold slow requests (2 slots each)
    wait_for(lambda: metric(cluster, "glia_in_flight_requests") == 4,
             DEADLINE)
    stop = subprocess.Popen(["podman", "stop", "-t", "60", w2],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for t in threads:
        t.join(150)
    assert stop.wait(120) == 0
    assert [r.status for r in results] == [200] * 4, results
    state = podman("inspect", "--format", "{{.State.ExitCode}}", w2)
    assert state.stdout.strip() == "0"
    assert "draining" in cluster.logs(w2)
    podman("rm", "-f", w2)
    wait_for(lambda: replicas_seen(cluster) == 1, DEADLINE)
    assert post(cluster).json()["host"] == container_id(w3)


def test_with_every_replica_gone_a_request_waits_for_a_new_one(cluster):
    podman("rm", "-f", "-t", "0", f"{cluster.net}-w3")
    wait_for(lambda: replicas_seen(cluster) == 0, DEADLINE,
             message="no replica left")
    result = []
    t = threading.Thread(target=lambda: result.append(post(cluster)))
    t.start()
    wait_for(lambda: metric(cluster, "glia_queued_requests") == 1, DEADLINE,
             message="the request to wait in the gateway's queue")
    w4 = cluster.worker("w4")
    t.join(150)
    assert result and result[0].status == 200, result
    assert result[0].json()["host"] == container_id(w4)


def test_request_right_after_a_replica_vanished_goes_to_the_next(cluster):
    """The replica is removed and another started at once: DNS still lists
    the old address for up to a second, and a connect to it is never
    answered (the container is gone). The request must not wait for its
    timeout there: undelivered, it goes to the new replica."""
    old = f"{cluster.net}-w4"
    wait_for(lambda: replicas_seen(cluster) == 1, DEADLINE)
    podman("rm", "-f", "-t", "0", old)
    w5 = cluster.worker("w5")
    r = post(cluster)
    assert r.status == 200, r
    assert r.json()["host"] == container_id(w5)
