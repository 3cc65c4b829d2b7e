"""The rendered pods run (issue 12, point 3): `glia build` makes an image of
a project, `glia render k8s --image` renders its API, and the API's
Deployment runs with `podman kube play` on a podman network the test
creates; the pod comes up ready (GET /healthz answers 200) and answers
through a gateway container (`glia gateway --discover`) that finds it by
its DNS name on that network.

What podman is given: only the Deployment document of the rendered
NAME.yaml, split out of the multi-document file here. The Service,
PodDisruptionBudget and KEDA ScaledObject are cluster objects with nothing
to run (podman 4.3 happens to skip kinds it does not know, but the test
does not depend on that). One field of the Deployment is changed, and only
here: podman 4.3 publishes every `containerPort` on the host, on all
interfaces and on the same port number (Kubernetes publishes nothing for
it), which would open 0.0.0.0:8080 on this machine and collide with
anything else there; the test pins that port to 127.0.0.1 on a free port
(`hostIP`, `hostPort`) and probes /healthz through it.

What podman 4.3 does not do with the rendered pod (docs/kubernetes.md,
"Tried with podman kube play"): one pod whatever the replica count, named
NAME-pod-0 (its DNS name on the network: the gateway discovers
`dns:{api}-pod-0:8080` instead of the headless Service's name); no
readiness probe (the test polls /healthz itself); the liveness probe
becomes a `curl` healthcheck that needs curl in the image and systemd
timers to run (neither is here: it is not relied on); no CPU request
(cpu shares stay 0; the memory limit is applied); no
terminationGracePeriodSeconds (podman stops with its 10 s default).

Needs what tests/e2e/test_containers.py needs (podman with runc, netavark +
aardvark-dns, the base image) plus catatonit, which podman uses to build
the pause image of a pod's infra container, and python3-yaml
(scripts/install-deps.sh installs both). Skipped, with the reason, when
podman cannot run a container or a pod here or the binary under test is a
sanitizer build (its runtime is not in the image); under CI=true anything
but the sanitizer build fails instead.

Traffic stays on this machine: the test talks to 127.0.0.1 only; the
gateway talks to the pod inside the podman network the test creates. The
pod, every container, the network and the image are removed at the end,
by name, even on failure (podman's own pause image, shared by every pod on
the machine, is left).

Run: GLIA_BIN=build/glia /usr/bin/python3 -m pytest -q tests/e2e/test_kube_play.py
"""
import json
import subprocess
import uuid

import pytest

from conftest import (GLIA_BIN, free_port, http_get as get, http_post as post,
                      wait_for, write_project)
from test_containers import podman, require, why_not_runnable as container_problem

pytestmark = pytest.mark.containers

DEADLINE = 180.0
MEM = "512Mi"
PREDICTOR = '''\
import socket


class PythonPredictor:
    """The sum of "numbers", the configured greeting, and the host name
    (in a pod: the pod's name)."""

    def __init__(self, config):
        self.greeting = config["greeting"]

    def predict(self, payload):
        return {"greeting": self.greeting,
                "sum": sum(payload.get("numbers", [])),
                "host": socket.gethostname()}
'''


def spec(api):
    return f"""\
- name: {api}
  kind: RealtimeAPI
  predictor:
    type: python
    path: predictor.py
    config: {{greeting: hello from the pod}}
  compute:
    cpu: 250m
    mem: {MEM}
    mem_limit: {MEM}
  networking:
    timeout: 30s
"""


def why_not_runnable():
    why = container_problem()
    if why:
        return why
    try:
        import yaml  # noqa: F401 (the test reads the rendered file)
    except ImportError:
        return "no PyYAML for this python (python3-yaml: scripts/install-deps.sh)"
    # a pod needs an infra container, whose pause image podman builds with
    # catatonit
    name = f"glia-kp-check-{uuid.uuid4().hex[:8]}"
    r = podman("pod", "create", "--name", name, check=False, timeout=120)
    podman("pod", "rm", "-f", name, check=False)
    if r.returncode != 0:
        return (f"podman cannot create a pod here (catatonit: "
                f"scripts/install-deps.sh): {r.stderr.strip()}")
    return None


def glia(*args, timeout=300):
    return subprocess.run([str(GLIA_BIN), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def split_documents(text):
    import yaml
    return [d for d in yaml.safe_load_all(text) if d]


def bytes_of(quantity):
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return int(quantity[:-len(suffix)]) * factor
    return int(quantity)


class KubePlay:
    """An image, the rendered files, a podman network, the pod that
    `podman kube play` made of the Deployment and the gateway container;
    removes all of them by name."""

    def __init__(self, tmp_path):
        self.tag = uuid.uuid4().hex[:8]
        # the API's name makes the pod's (NAME-pod-0): unique per run
        self.api = f"kp{self.tag}"
        self.pod = f"{self.api}-pod-0"
        self.worker = f"{self.pod}-worker"  # POD-CONTAINER
        self.image = f"localhost/glia-kp-{self.tag}:1"
        self.net = f"glia-kp-{self.tag}"
        self.gateway = f"{self.net}-gateway"
        self.tmp = tmp_path
        self.project = write_project(tmp_path, spec(self.api),
                                     {"predictor.py": PREDICTOR},
                                     dirname="kubeplay")
        self.out = tmp_path / "k8s"
        self.play_file = tmp_path / "deployment.yaml"
        self.pod_port = free_port()
        self.gw_port = free_port()
        self.rendered = None  # the Deployment as render wrote it

    def build(self):
        r = glia("build", "-t", self.image, self.project, timeout=1200)
        assert r.returncode == 0, f"glia build:\n{r.stdout}\n{r.stderr}"

    def render(self):
        r = glia("render", "k8s", self.project, "--image", self.image,
                 "-o", self.out)
        assert r.returncode == 0, f"glia render k8s:\n{r.stdout}\n{r.stderr}"
        docs = split_documents((self.out / f"{self.api}.yaml").read_text())
        kinds = [d["kind"] for d in docs]
        assert kinds == ["Deployment", "Service", "PodDisruptionBudget",
                         "ScaledObject"], kinds
        self.rendered = docs[0]
        play = json.loads(json.dumps(self.rendered))  # a deep copy
        # podman 4.3 publishes a containerPort on 0.0.0.0 at the same port
        # number (Kubernetes does not publish it at all): pin it to
        # 127.0.0.1 on a free port, the one change made to what render
        # wrote (module docstring)
        container = play["spec"]["template"]["spec"]["containers"][0]
        assert container["ports"] == [{"name": "http", "containerPort": 8080,
                                       "protocol": "TCP"}]
        container["ports"][0].update(hostIP="127.0.0.1",
                                     hostPort=self.pod_port)
        # JSON is YAML: podman reads it as is
        self.play_file.write_text(json.dumps(play, indent=1) + "\n")

    def play(self):
        podman("network", "create", self.net)
        podman("kube", "play", "--network", self.net, self.play_file)

    def start_gateway(self):
        podman("run", "-d", "--name", self.gateway, "--network", self.net,
               "-p", f"127.0.0.1:{self.gw_port}:8888", self.image,
               "gateway", "/app/glia.yaml", "--listen", "0.0.0.0:8888",
               "--discover", "dns:{api}-pod-0:8080")

    def logs(self, name):
        r = podman("logs", name, check=False)
        return r.stdout + r.stderr

    def remove_all(self):
        if self.play_file.exists():
            podman("kube", "down", self.play_file, check=False)
        podman("pod", "rm", "-f", "-t", "0", self.pod, check=False)
        podman("rm", "-f", "-t", "0", self.gateway, check=False)
        podman("network", "rm", "-f", self.net, check=False)
        podman("rmi", "-f", self.image, check=False)


@pytest.fixture(scope="module")
def kube(tmp_path_factory):
    require(why_not_runnable(), "kube play tests")
    k = KubePlay(tmp_path_factory.mktemp("kubeplay"))
    try:
        k.build()
        k.render()
        k.play()
        k.start_gateway()
        yield k
    finally:
        k.remove_all()


def state(k):
    pod = podman("pod", "inspect", "--format", "{{.State}}", k.pod,
                 check=False).stdout.strip()
    ctr = podman("inspect", "--format", "{{.State.Status}}", k.worker,
                 check=False).stdout.strip()
    return pod, ctr


def discovered(k):
    for line in get(k.gw_port, "/metrics").text.splitlines():
        if line.startswith(f'glia_discovered_replicas{{api="{k.api}"}}'):
            return float(line.split()[-1])
    return None


def test_the_pod_runs_and_becomes_ready(kube):
    wait_for(lambda: state(kube) == ("Running", "running"), DEADLINE,
             message=f"pod {kube.pod} and its worker to run")
    # the readiness probe's request, GET /healthz on 8080 (podman 4.3 runs
    # no readiness probe): 200 once the predictor is loaded
    wait_for(lambda: get(kube.pod_port, "/healthz").status == 200, DEADLINE,
             message="GET /healthz on the pod to answer 200")
    assert get(kube.pod_port, "/livez").status == 200
    assert state(kube) == ("Running", "running"), kube.logs(kube.worker)
    # and by the pod's name on the network, as the gateway will reach it
    r = podman("run", "--rm", "--network", kube.net, "--entrypoint",
               "python3", kube.image, "-c",
               "import urllib.request; print(urllib.request.urlopen("
               f"'http://{kube.pod}:8080/healthz', timeout=30).status)",
               timeout=DEADLINE)
    assert r.stdout.strip() == "200", r


def test_predictions_through_the_gateway(kube):
    wait_for(lambda: get(kube.gw_port, "/healthz").status == 200, DEADLINE,
             message="the gateway to answer /healthz")
    wait_for(lambda: discovered(kube) == 1, DEADLINE,
             message=f"the gateway to find {kube.pod} by DNS")

    def answered():
        r = post(kube.gw_port, f"/{kube.api}", {"numbers": [1, 2, 3.5]})
        return r if r.status == 200 else None

    r = wait_for(answered, DEADLINE, message="a prediction through the gateway")
    assert r.json() == {"greeting": "hello from the pod", "sum": 6.5,
                        "host": kube.pod}, r
    for n in range(5):
        r = post(kube.gw_port, f"/{kube.api}", {"numbers": [n, n]})
        assert r.status == 200 and r.json()["sum"] == 2 * n, r
    # the gateway's access lines (written in batches)
    wait_for(lambda: f"POST /{kube.api}" in kube.logs(kube.gateway),
             DEADLINE, message="the gateway's access lines")


def test_the_pod_is_what_render_wrote(kube):
    want = kube.rendered["spec"]["template"]
    want_ctr = want["spec"]["containers"][0]
    info = json.loads(podman("inspect", kube.worker).stdout)[0]
    # the image, and the arguments after its ENTRYPOINT ["glia"]
    assert want_ctr["image"] == kube.image
    assert info["ImageName"] == kube.image
    assert info["Config"]["Entrypoint"] in ("glia", ["glia"])
    assert want_ctr["args"] == ["worker", "--api", kube.api, "--listen",
                                "0.0.0.0:8080", "/app/glia.yaml"]
    assert info["Config"]["Cmd"] == want_ctr["args"]
    # the environment: what render wrote (nothing, today) on top of the
    # image's; podman adds HOSTNAME only
    image_env = json.loads(podman("image", "inspect", kube.image).stdout)[0]
    image_env = {e.split("=", 1)[0] for e in image_env["Config"]["Env"]}
    env = dict(e.split("=", 1) for e in info["Config"]["Env"])
    for e in want_ctr.get("env", []):
        assert env.get(e["name"]) == e["value"], (e, env)
    extra = set(env) - image_env - {e["name"] for e in want_ctr.get("env", [])}
    assert extra <= {"HOSTNAME", "HOME", "container"}, env
    assert env["HOSTNAME"] == kube.pod
    # resources: the memory limit (compute.mem_limit; mem is the
    # request) is applied; podman 4.3 sets nothing for a CPU request
    # (module docstring)
    res = want_ctr["resources"]
    assert res == {"requests": {"cpu": "250m", "memory": MEM},
                   "limits": {"memory": MEM}}, res
    assert info["HostConfig"]["Memory"] == bytes_of(res["limits"]["memory"])
    # the labels render put on the pod template
    labels = json.loads(podman("pod", "inspect", "--format",
                               "{{json .Labels}}", kube.pod).stdout)
    assert labels == want["metadata"]["labels"], labels
    assert labels["glia.dev/api"] == kube.api
