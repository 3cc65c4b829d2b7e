"""`glia env` and `--env NAME` (issue 12, point 5; docs/cli.md#environments,
docs/kubernetes.md#glia-deploy---env): an environment is stored in
GLIA_HOME/envs.json; `glia deploy --env NAME` renders, applies with
`kubectl apply --server-side`, waits for the rollouts and prints the
endpoint; get, describe, logs and delete with --env ask kubectl.

No cluster runs here: a recording `kubectl` (a Python script this module
writes into a temporary directory put first on PATH) appends its argv, and
the files of `apply -f DIR`, to a log and answers canned JSON. The tests
check the exact invocations, that every object kubectl receives validates
against the Kubernetes, KEDA and Gateway API schemas (tests/k8s/validate.js,
as in test_render_k8s.py), and the output of get/describe/logs/delete.

The last test builds the image and pushes it to a real registry (Debian's
docker-registry on a free port of 127.0.0.1) with `podman push
--tls-verify=false`: it is marked `containers` and skipped or failed by the
rules of test_containers.py (why_not_runnable, CI=true), and skipped when
docker-registry is not installed (scripts/install-deps.sh installs it).

Run: GLIA_BIN=build/glia /usr/bin/python3 -m pytest -q tests/e2e/test_env_kubernetes.py
"""
import base64
import json
import os
import shutil
import stat
import subprocess
import sys
import urllib.request

import pytest

from conftest import GLIA_BIN, REPO, free_port, wait_for, write_project
from test_render_k8s import validator  # noqa: F401 (a fixture)

K8S = REPO / "tests" / "k8s"
TIMEOUT = 120
NS = "ml"
CTX = "kind-glia"
IMAGE = "registry.example:5000/glia-project:v1"
MANAGED = "app.kubernetes.io/managed-by=glia"
GATEWAY_ADDR = "203.0.113.7"

YAML = """\
- name: iris
  kind: RealtimeAPI
  predictor:
    type: python
    path: predictor.py
  autoscaling: {min_replicas: 1, max_replicas: 4}
- name: echo
  kind: RealtimeAPI
  predictor:
    type: python
    path: predictor.py
  networking: {endpoint: /v9/echo}
"""
PREDICTOR = ("class PythonPredictor:\n"
             "    def __init__(self, config):\n        pass\n\n"
             "    def predict(self, payload):\n        return payload\n")

FAKE_KUBECTL = r'''#!/usr/bin/env python3
"""A recording kubectl: appends {argv, files} to $FAKE_KUBECTL_LOG (one
JSON object a line) and answers from $FAKE_KUBECTL_CANNED."""
import json, os, sys
argv = sys.argv[1:]
files = {}
if "apply" in argv and "-f" in argv:
    d = argv[argv.index("-f") + 1]
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name)) as f:
            files[name] = f.read()
with open(os.environ["FAKE_KUBECTL_LOG"], "a") as log:
    log.write(json.dumps({"argv": argv, "files": files}) + "\n")
with open(os.environ["FAKE_KUBECTL_CANNED"]) as f:
    canned = json.load(f)
rest = argv[2:] if argv[:1] == ["--context"] else argv
verb = rest[0]
if verb == "get" and rest[1] == "--raw":
    key = "raw"
elif verb == "get":
    key = "get " + rest[1]
else:
    key = verb
answer = canned.get(key)
if answer is None:
    sys.stderr.write("fake kubectl: no answer for %s\n" % key)
    sys.exit(1)
sys.stdout.write(answer if isinstance(answer, str) else json.dumps(answer))
sys.exit(0)
'''


def deployment(api, replicas, ready, updated=None):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": api, "namespace": NS,
                         "labels": {"glia.dev/api": api,
                                    "app.kubernetes.io/managed-by": "glia"}},
            "spec": {"replicas": replicas, "template": {"spec": {
                "containers": [{"name": "worker", "image": IMAGE}]}}},
            "status": {"readyReplicas": ready,
                       "updatedReplicas": replicas if updated is None
                       else updated}}


def scaled_object(api, lo, hi):
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
            "metadata": {"name": api, "namespace": NS,
                         "labels": {"glia.dev/api": api}},
            "spec": {"minReplicaCount": lo, "maxReplicaCount": hi}}


def pod(name, api, ready, restarts, node):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"glia.dev/api": api}},
            "spec": {"nodeName": node},
            "status": {"phase": "Running", "containerStatuses": [
                {"ready": ready, "restartCount": restarts}]}}


GATEWAY_DEP = deployment("glia-gateway", 1, 1)
del GATEWAY_DEP["metadata"]["labels"]["glia.dev/api"]

METRICS = """\
# TYPE glia_requests_total counter
glia_requests_total{api="iris",code="200"} 1200
glia_requests_total{api="iris",code="503"} 3
glia_requests_total{api="iris2",code="200"} 99
glia_requests_total{api="echo",code="200"} 7
# TYPE glia_in_flight_requests gauge
glia_in_flight_requests{api="iris"} 2
glia_in_flight_requests{api="echo"} 0
# TYPE glia_queued_requests gauge
glia_queued_requests{api="iris"} 1
glia_queued_requests{api="echo"} 0
"""

CANNED = {
    "apply": "deployment.apps/iris serverside-applied\n",
    "rollout": 'deployment "iris" successfully rolled out\n',
    "get gateways.gateway.networking.k8s.io/glia": {
        "kind": "Gateway", "status": {"addresses": [
            {"type": "IPAddress", "value": GATEWAY_ADDR}]}},
    "get deployment,scaledobject": {"kind": "List", "items": [
        deployment("iris", 2, 2), scaled_object("iris", 1, 4),
        deployment("echo", 0, 0), scaled_object("echo", 0, 3),
        GATEWAY_DEP]},
    "get deployment,scaledobject,pod": {"kind": "List", "items": [
        deployment("iris", 2, 1), scaled_object("iris", 1, 4),
        pod("iris-7d9f-abcde", "iris", True, 0, "node-a"),
        pod("iris-7d9f-fghij", "iris", False, 2, "node-b")]},
    "raw": METRICS,
    "logs": "[pod/iris-7d9f-abcde/worker] predictor ready\n",
    "delete": 'deployment.apps "iris" deleted\n',
}


class Env:
    """A GLIA_HOME, a project and the recording kubectl first on PATH."""

    def __init__(self, tmp_path, canned=None):
        self.home = tmp_path / "home"
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        self.log = tmp_path / "kubectl.log"
        self.canned = tmp_path / "canned.json"
        self.canned.write_text(json.dumps(canned or CANNED))
        kubectl = self.bin / "kubectl"
        kubectl.write_text(FAKE_KUBECTL.replace(
            "#!/usr/bin/env python3", "#!" + sys.executable, 1))
        kubectl.chmod(0o755)
        self.project = write_project(tmp_path, YAML,
                                     {"predictor.py": PREDICTOR})
        self.env = {**os.environ, "GLIA_HOME": str(self.home),
                    "PATH": f"{self.bin}:{os.environ['PATH']}",
                    "FAKE_KUBECTL_LOG": str(self.log),
                    "FAKE_KUBECTL_CANNED": str(self.canned)}

    def glia(self, *args, timeout=TIMEOUT):
        return subprocess.run([str(GLIA_BIN), *map(str, args)],
                              capture_output=True, text=True, env=self.env,
                              stdin=subprocess.DEVNULL, timeout=timeout)

    def calls(self):
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().split(
            "\n") if line]


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path)
    r = e.glia("env", "add", "prod", "--kubernetes", "--context", CTX,
               "--namespace", NS, "--registry", "registry.example:5000")
    assert r.returncode == 0, r.stderr
    return e


def kc(*args):
    return ["--context", CTX, *args]


# ---- glia env ----

def test_env_add_list_remove(tmp_path):
    e = Env(tmp_path)
    r = e.glia("env", "add", "prod", "--kubernetes", "--context", CTX,
               "--namespace", NS, "--registry", "localhost:5000/team")
    assert r.returncode == 0, r.stderr
    assert "prod" in r.stdout and NS in r.stdout
    r = e.glia("env", "add", "dev", "--kubernetes")
    assert r.returncode == 0, r.stderr
    path = e.home / "envs.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {
        "prod": {"provider": "kubernetes", "context": CTX,
                 "namespace": NS, "registry": "localhost:5000/team"},
        "dev": {"provider": "kubernetes", "namespace": "default"}}

    r = e.glia("env", "list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "PROVIDER", "CONTEXT", "NAMESPACE",
                                "REGISTRY"]
    assert lines[1].split() == ["dev", "kubernetes", "-", "default", "-"]
    assert lines[2].split() == ["prod", "kubernetes", CTX, NS,
                                "localhost:5000/team"]
    r = e.glia("env", "list", "-o", "json")
    assert json.loads(r.stdout)["prod"]["context"] == CTX

    r = e.glia("env", "remove", "dev")
    assert r.returncode == 0, r.stderr
    assert set(json.loads(path.read_text())) == {"prod"}
    r = e.glia("env", "remove", "dev")
    assert r.returncode == 1 and "no env named dev" in r.stderr
    assert e.calls() == []  # nothing ran kubectl


@pytest.mark.parametrize("args,what", [
    (["env", "add", "x"], "--kubernetes"),
    (["env", "add", "Bad_Name", "--kubernetes"], "NAME"),
    (["env", "add", "x", "--kubernetes", "--namespace", "No"], "--namespace"),
    (["env", "add", "x", "--kubernetes", "--bogus"], "--bogus"),
    (["env", "frobnicate"], "unknown command"),
    (["refresh", "iris", "--env", "prod"], "--env works with"),
    (["logs", "--env", "prod"], "one API name"),
])
def test_usage_errors(tmp_path, args, what):
    e = Env(tmp_path)
    r = e.glia(*args)
    assert r.returncode == 2, r.stderr
    assert what in r.stderr


def test_unknown_env(tmp_path):
    e = Env(tmp_path)
    r = e.glia("get", "--env", "nowhere")
    assert r.returncode == 1
    assert "no env named nowhere" in r.stderr
    assert e.calls() == []


# ---- deploy --env ----

def validate_applied(node, files, tmp_path):
    out = tmp_path / "applied"
    out.mkdir()
    for name, text in files.items():
        (out / name).write_text(text)
    r = subprocess.run([node, str(K8S / "validate.js"),
                        *sorted(map(str, out.iterdir()))],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode in (0, 1), r.stderr
    objects = json.loads(r.stdout)["objects"]
    bad = [(o["file"], o["kind"], o["name"], o["error"]) for o in objects
           if o["error"]]
    assert not bad, f"objects that do not validate: {bad}"
    assert r.returncode == 0
    return objects


def test_deploy_env_prebuilt_image(env, tmp_path, validator):  # noqa: F811
    r = env.glia("deploy", "--env", "prod", env.project, "--image", IMAGE,
                 "--timeout", "90s")
    assert r.returncode == 0, r.stderr
    calls = env.calls()
    argvs = [c["argv"] for c in calls]
    apply_argv = argvs[0]
    assert apply_argv[:6] == kc("apply", "--server-side",
                                "--field-manager=glia", "-f")
    assert len(apply_argv) == 7
    assert argvs[1:] == [
        kc("rollout", "status", "deployment/iris", "-n", NS,
           "--timeout=90s"),
        kc("rollout", "status", "deployment/echo", "-n", NS,
           "--timeout=90s"),
        kc("rollout", "status", "deployment/glia-gateway", "-n", NS,
           "--timeout=90s"),
        kc("get", "gateways.gateway.networking.k8s.io/glia", "-n", NS,
           "-o", "json"),
    ]
    files = calls[0]["files"]
    assert sorted(files) == ["00-namespace.yaml", "echo.yaml",
                             "gateway.yaml", "iris.yaml"]
    objects = validate_applied(validator, files, tmp_path)
    kinds = sorted((o["kind"], o["name"]) for o in objects)
    assert kinds == sorted([
        ("Deployment", "iris"), ("Service", "iris-replicas"),
        ("PodDisruptionBudget", "iris"), ("ScaledObject", "iris"),
        ("Deployment", "echo"), ("Service", "echo-replicas"),
        ("PodDisruptionBudget", "echo"), ("ScaledObject", "echo"),
        ("ConfigMap", "glia-specs"), ("Deployment", "glia-gateway"),
        ("Service", "glia-gateway"), ("HTTPRoute", "glia-gateway"),
        ("Namespace", NS)])
    for o in objects:
        obj = o["object"]
        assert obj["metadata"].get("namespace", NS) == NS
        assert obj["metadata"]["labels"][
            "app.kubernetes.io/managed-by"] == "glia"
        if o["kind"] == "Deployment":
            images = {c["image"] for c in
                      obj["spec"]["template"]["spec"]["containers"]}
            assert images == {IMAGE}
    # the temporary directory is gone once applied
    assert not os.path.exists(apply_argv[6])
    assert r.stdout.splitlines() == [
        f"deployed to env prod (namespace {NS})",
        f"iris: http://{GATEWAY_ADDR}/iris",
        f"echo: http://{GATEWAY_ADDR}/v9/echo",
    ]
    assert f"+ kubectl --context {CTX} apply --server-side" in r.stderr


def test_deploy_env_no_gateway_address(tmp_path, validator):  # noqa: F811
    canned = dict(CANNED)
    del canned["get gateways.gateway.networking.k8s.io/glia"]
    e = Env(tmp_path, canned)
    assert e.glia("env", "add", "dev", "--kubernetes").returncode == 0
    r = e.glia("deploy", "--env", "dev", e.project, "--image", IMAGE)
    assert r.returncode == 0, r.stderr
    calls = e.calls()
    argvs = [c["argv"] for c in calls]
    assert sorted(calls[0]["files"]) == ["echo.yaml", "gateway.yaml",
                                         "iris.yaml"]  # no Namespace
    assert argvs[0][:4] == ["apply", "--server-side",
                            "--field-manager=glia", "-f"]
    assert argvs[1] == ["rollout", "status", "deployment/iris", "-n",
                        "default", "--timeout=300s"]
    out = r.stdout.splitlines()
    assert out[1] == ("iris: http://glia-gateway.default.svc.cluster.local"
                      ":8888/iris")
    assert "kubectl port-forward -n default service/glia-gateway" in out[-1]


def test_deploy_env_rollout_fails(tmp_path):
    canned = dict(CANNED)
    del canned["rollout"]
    e = Env(tmp_path, canned)
    assert e.glia("env", "add", "dev", "--kubernetes").returncode == 0
    r = e.glia("deploy", "--env", "dev", e.project, "--image", IMAGE)
    assert r.returncode == 1
    assert "deployment/iris did not roll out in 300s" in r.stderr
    assert [c["argv"][0] for c in e.calls()] == ["apply", "rollout"]


def test_deploy_env_render_error_runs_nothing(tmp_path):
    e = Env(tmp_path)
    assert e.glia("env", "add", "dev", "--kubernetes").returncode == 0
    (e.project / "glia.yaml").write_text(YAML.replace(
        "path: predictor.py", "path: ../outside.py", 1))
    (tmp_path / "outside.py").write_text(PREDICTOR)
    r = e.glia("deploy", "--env", "dev", e.project, "--image", IMAGE)
    assert r.returncode == 1
    assert e.calls() == []


KEYS_YAML = YAML.replace("  networking: {endpoint: /v9/echo}\n",
                         "  networking: {endpoint: /v9/echo, auth: api_key}\n")


def test_deploy_env_applies_the_api_keys_secret(tmp_path, daemon,
                                                 validator):  # noqa: F811
    """An API with auth: api_key: deploy --env applies the Secret the
    gateway mounts, holding the local daemon's keys (hashes only), in the
    env's namespace. Checked in what kubectl receives: no cluster here."""
    e = Env(tmp_path)
    e.env["GLIA_HOME"] = str(daemon.home)
    (e.project / "glia.yaml").write_text(KEYS_YAML)
    assert e.glia("env", "add", "prod", "--kubernetes", "--context", CTX,
                  "--namespace", NS).returncode == 0
    key = json.loads(daemon.cli("keys", "create", "--name", "k8s", "-o",
                                "json").stdout)
    r = e.glia("deploy", "--env", "prod", e.project, "--image", IMAGE)
    assert r.returncode == 0, r.stderr
    files = e.calls()[0]["files"]
    assert sorted(files) == ["00-namespace.yaml", "01-api-keys.yaml",
                             "echo.yaml", "gateway.yaml", "iris.yaml"]
    assert key["key"] not in files["01-api-keys.yaml"]
    objects = validate_applied(validator, files, tmp_path)
    secret = next(o["object"] for o in objects if o["kind"] == "Secret")
    assert secret["metadata"]["name"] == "glia-api-keys"
    assert secret["metadata"]["namespace"] == NS
    keys = json.loads(base64.b64decode(secret["data"]["keys.json"]))
    assert [k["id"] for k in keys["keys"]] == [key["id"]]
    assert keys == json.loads(daemon.cli("keys", "export").stdout)
    gw = next(o["object"] for o in objects if o["kind"] == "Deployment"
              and o["name"] == "glia-gateway")
    assert "--api-keys" in gw["spec"]["template"]["spec"]["containers"][0][
        "args"]


def test_deploy_env_without_the_local_daemon_warns_and_keeps_the_secret(
        tmp_path):
    """The keys live in the local daemon: when it is not running, deploy
    --env says so and applies everything else, leaving the cluster's
    Secret (one applied by hand, say) as it is."""
    e = Env(tmp_path)
    (e.project / "glia.yaml").write_text(KEYS_YAML)
    assert e.glia("env", "add", "dev", "--kubernetes").returncode == 0
    r = e.glia("deploy", "--env", "dev", e.project, "--image", IMAGE)
    assert r.returncode == 0, r.stderr
    assert "cannot reach the daemon" in r.stderr
    assert "the Secret glia-api-keys is not applied" in r.stderr
    assert sorted(e.calls()[0]["files"]) == ["echo.yaml", "gateway.yaml",
                                             "iris.yaml"]


# ---- get, describe, logs, delete ----

def test_get_env(env):
    r = env.glia("get", "--env", "prod")
    assert r.returncode == 0, r.stderr
    assert [c["argv"] for c in env.calls()] == [
        kc("get", "deployment,scaledobject", "-n", NS, "-l", MANAGED,
           "-o", "json"),
        kc("get", "--raw",
           f"/api/v1/namespaces/{NS}/services/glia-gateway:8888/proxy/"
           "metrics"),
    ]
    rows = [line.split() for line in r.stdout.splitlines()]
    assert rows == [
        ["API", "STATUS", "REPLICAS", "MIN", "MAX", "REQUESTS", "5XX",
         "IN-FLIGHT", "QUEUED"],
        ["iris", "live", "2/2", "1", "4", "1203", "3", "2", "1"],
        ["echo", "scaled", "to", "zero", "0/0", "0", "3", "7", "0", "0",
         "0"],
    ]
    assert env.glia("get", "--env", "prod", "-o", "table").stdout == \
        r.stdout
    r = env.glia("get", "--env", "prod", "-o", "json")
    doc = json.loads(r.stdout)
    assert doc["env"] == "prod" and doc["namespace"] == NS
    assert doc["apis"][0] == {
        "name": "iris", "status": "live", "replicas": 2, "ready": 2,
        "min_replicas": 1, "max_replicas": 4, "requests": 1203.0,
        "errors_5xx": 3.0, "in_flight": 2.0, "queued": 1.0}


def test_get_env_without_metrics(tmp_path):
    canned = dict(CANNED)
    del canned["raw"]
    e = Env(tmp_path, canned)
    assert e.glia("env", "add", "dev", "--kubernetes").returncode == 0
    r = e.glia("get", "--env", "dev")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1].split() == [
        "iris", "live", "2/2", "1", "4", "-", "-", "-", "-"]
    assert "no traffic figures" in r.stderr


def test_describe_env(env):
    r = env.glia("describe", "iris", "--env", "prod")
    assert r.returncode == 0, r.stderr
    assert [c["argv"] for c in env.calls()] == [
        kc("get", "deployment,scaledobject,pod", "-n", NS, "-l",
           "glia.dev/api=iris", "-o", "json"),
        kc("get", "--raw",
           f"/api/v1/namespaces/{NS}/services/glia-gateway:8888/proxy/"
           "metrics"),
    ]
    assert r.stdout.splitlines() == [
        "API:        iris",
        f"env:        prod (kubernetes, context {CTX}, namespace {NS})",
        "status:     starting",
        f"image:      {IMAGE}",
        "replicas:   1 ready of 2 (min 1, max 4)",
        "traffic:    1203 requests, 3 5xx, 2 in flight, 1 queued",
        "POD              PHASE    READY  RESTARTS  NODE",
        "iris-7d9f-abcde  Running  yes    0         node-a",
        "iris-7d9f-fghij  Running  no     2         node-b",
    ]
    # `get API --env` is the same screen
    assert env.glia("get", "iris", "--env", "prod").stdout == r.stdout


def test_describe_env_unknown_api(env):
    r = env.glia("describe", "nope", "--env", "prod")
    assert r.returncode == 1
    assert "no API named nope in env prod" in r.stderr


def test_logs_env(env):
    r = env.glia("logs", "iris", "--env", "prod", "--tail", "50", "-f")
    assert r.returncode == 0, r.stderr
    assert r.stdout == CANNED["logs"]
    assert [c["argv"] for c in env.calls()] == [
        kc("logs", "-n", NS, "-l", "glia.dev/api=iris", "--prefix",
           "--tail=50", "-f")]
    env.log.unlink()
    r = env.glia("logs", "iris", "--env", "prod")
    assert [c["argv"] for c in env.calls()] == [
        kc("logs", "-n", NS, "-l", "glia.dev/api=iris", "--prefix",
           "--tail=-1")]


def test_delete_env(env):
    r = env.glia("delete", "iris", "--env", "prod")
    assert r.returncode == 0, r.stderr
    assert [c["argv"] for c in env.calls()] == [
        kc("delete", "deployment,service,poddisruptionbudget,scaledobject",
           "-n", NS, "-l", "glia.dev/api=iris")]
    assert r.stdout == "deleted iris from env prod\n"
    assert 'deployment.apps "iris" deleted' in r.stderr


# ---- the image: built, pushed to a real registry ----

def registry_config(tmp_path, port):
    cfg = tmp_path / "registry.yml"
    cfg.write_text(
        "version: 0.1\n"
        "storage:\n"
        f"  filesystem: {{rootdirectory: {tmp_path / 'registry'}}}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n")
    return cfg


@pytest.fixture
def registry(tmp_path):
    from test_containers import require, why_not_runnable
    require(why_not_runnable())
    exe = shutil.which("docker-registry")
    if not exe:
        pytest.skip("docker-registry is not installed "
                    "(scripts/install-deps.sh)")
    port = free_port()
    proc = subprocess.Popen([exe, "serve", str(registry_config(tmp_path,
                                                                port))],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            return urllib.request.urlopen(url + "/v2/", timeout=5).status \
                == 200
        except OSError:
            return False
    try:
        wait_for(up, timeout=60, message="docker-registry did not start")
        yield f"127.0.0.1:{port}", url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.containers
def test_deploy_env_builds_and_pushes(tmp_path, registry,
                                      validator):  # noqa: F811
    reg, url = registry
    e = Env(tmp_path)
    r = e.glia("env", "add", "reg", "--kubernetes", "--namespace", NS,
               "--registry", reg)
    assert r.returncode == 0, r.stderr
    r = e.glia("deploy", "--env", "reg", e.project, timeout=1500)
    assert r.returncode == 0, r.stderr
    tags = json.load(urllib.request.urlopen(
        url + "/v2/glia-project/tags/list", timeout=30))["tags"]
    assert len(tags) == 1
    image = f"{reg}/glia-project:{tags[0]}"
    try:
        assert f"+ podman push --tls-verify=false {image}" in r.stderr
        calls = e.calls()
        assert calls[0]["argv"][:4] == ["apply", "--server-side",
                                        "--field-manager=glia", "-f"]
        objects = validate_applied(validator, calls[0]["files"], tmp_path)
        images = {c["image"] for o in objects if o["kind"] == "Deployment"
                  for c in o["object"]["spec"]["template"]["spec"][
                      "containers"]}
        assert images == {image}
    finally:
        subprocess.run(["podman", "rmi", "-f", image], capture_output=True,
                       timeout=120)
