"""`glia render k8s` (issue 12, points 1, 2 and 4; docs/kubernetes.md):
a table of specs (compute, autoscaling, update_strategy and networking
fields; a TrafficSplitter; GPUs; node groups; spot; the options) is
rendered into files, every object of every file is validated against the
Kubernetes, KEDA and Gateway API schemas (tests/k8s/validate.js: the npm
packages kubernetes-models, @kubernetes-models/keda and
@kubernetes-models/gateway-api, each model's validate(), run by Debian's
node) and compared field by field with what it must become. Specs that
cannot run in a cluster are refused with file:line:col.

No cluster runs here: the objects are checked against the schemas only.

The npm packages are installed once into tests/k8s/node_modules (`npm ci`,
from tests/k8s/package-lock.json; scripts/install-deps.sh does it too).
The tests skip, saying why, only when node is missing.

Run: GLIA_BIN=build/glia /usr/bin/python3 -m pytest -q tests/e2e/test_render_k8s.py
"""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import GLIA_BIN, REPO, write_project

K8S = REPO / "tests" / "k8s"
PACKAGES = ["kubernetes-models", "@kubernetes-models/keda",
            "@kubernetes-models/gateway-api", "js-yaml"]
NPM_TIMEOUT = 600
RUN_TIMEOUT = 120
MANAGED_BY = "app.kubernetes.io/managed-by"

PY = "predictor.py"
PREDICTOR = ("class PythonPredictor:\n"
             "    def __init__(self, config):\n        pass\n\n"
             "    def predict(self, payload):\n        return payload\n")


def api(name, extra="", endpoint=None):
    text = (f"- name: {name}\n  kind: RealtimeAPI\n"
            f"  predictor:\n    type: python\n    path: {PY}\n")
    if endpoint:
        text += f"  networking:\n    endpoint: {endpoint}\n"
    return text + extra


@pytest.fixture(scope="module")
def validator():
    node = shutil.which("node")
    if not node:
        pytest.skip("node is not installed (Debian: apt-get install nodejs "
                    "npm); the schemas are npm packages run by node")
    if not all((K8S / "node_modules" / p / "package.json").exists()
               for p in PACKAGES):
        npm = shutil.which("npm")
        assert npm, ("npm is missing: scripts/install-deps.sh installs it "
                     "and the packages of tests/k8s")
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=K8S,
                           capture_output=True, text=True,
                           timeout=NPM_TIMEOUT)
        assert r.returncode == 0, f"npm ci failed:\n{r.stdout}{r.stderr}"
    return node


def glia_render(*args, cwd=None):
    return subprocess.run([str(GLIA_BIN), "render", "k8s", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd,
                          timeout=RUN_TIMEOUT)


class Rendered:
    """The files of one render, validated: objects by (kind, name)."""

    def __init__(self, node, out):
        self.files = sorted(p.name for p in out.iterdir())
        r = subprocess.run([node, str(K8S / "validate.js"),
                            *sorted(map(str, out.iterdir()))],
                           capture_output=True, text=True,
                           timeout=RUN_TIMEOUT)
        assert r.returncode in (0, 1), r.stderr
        self.results = json.loads(r.stdout)["objects"]
        bad = [(o["file"], o["kind"], o["name"], o["error"])
               for o in self.results if o["error"]]
        assert not bad, f"objects that do not validate: {bad}"
        assert r.returncode == 0
        self.by_file = {}
        self.objects = {}
        for o in self.results:
            key = (o["kind"], o["name"])
            assert key not in self.objects, f"{key} twice"
            self.objects[key] = o["object"]
            self.by_file.setdefault(Path(o["file"]).name, []).append(key)

    def get(self, kind, name):
        assert (kind, name) in self.objects, (
            f"no {kind} {name}; have {sorted(self.objects)}")
        return self.objects[(kind, name)]


def render(tmp_path, node, yaml_text, *args, files=None):
    files = {PY: PREDICTOR, **(files or {})}
    proj = write_project(tmp_path, yaml_text, files)
    out = tmp_path / "out"
    r = glia_render(proj, "-o", out, *args)
    assert r.returncode == 0, r.stderr
    return Rendered(node, out)


def at(obj, path):
    """obj's value at a dotted path; list indexes are numbers; a key
    holding dots is written in [brackets]."""
    cur = obj
    for part in _split(path):
        if isinstance(cur, list):
            cur = cur[int(part)]
        else:
            assert isinstance(cur, dict) and part in cur, (
                f"no {part!r} in {path}: {json.dumps(obj)[:400]}")
            cur = cur[part]
    return cur


def _split(path):
    parts, i = [], 0
    while i < len(path):
        if path[i] == "[":
            j = path.index("]", i)
            parts.append(path[i + 1:j])
            i = j + 2
        else:
            j = path.find(".", i)
            j = len(path) if j < 0 else j
            parts.append(path[i:j])
            i = j + 1
    return parts


MISSING = object()


def get_or_missing(obj, path):
    try:
        return at(obj, path)
    except AssertionError:
        return MISSING


WORKER = "spec.template.spec.containers.0"
POD = "spec.template.spec"
BEHAVIOR = "spec.advanced.horizontalPodAutoscalerConfig.behavior"
TRIGGER = "spec.triggers.0"

# (id, spec, args, {(kind, name): {path: expected}}); MISSING: the field
# must be absent.
CASES = [
    ("defaults", api("iris"), [], {
        ("Deployment", "iris"): {
            "metadata.namespace": "default",
            "metadata.labels.[app.kubernetes.io/managed-by]": "glia",
            "spec.replicas": MISSING,
            "spec.selector.matchLabels.[glia.dev/api]": "iris",
            "spec.strategy.type": "RollingUpdate",
            "spec.strategy.rollingUpdate.maxSurge": "25%",
            "spec.strategy.rollingUpdate.maxUnavailable": "25%",
            f"{POD}.terminationGracePeriodSeconds": 70,
            f"{POD}.tolerations": MISSING,
            f"{POD}.affinity": MISSING,
            f"{WORKER}.image": "glia-project:latest",
            f"{WORKER}.args": ["worker", "--api", "iris", "--listen",
                               "0.0.0.0:8080", "/app/glia.yaml"],
            f"{WORKER}.ports.0.containerPort": 8080,
            f"{WORKER}.readinessProbe.httpGet": {"path": "/healthz",
                                                 "port": 8080},
            f"{WORKER}.livenessProbe.httpGet": {"path": "/livez",
                                                "port": 8080},
            f"{WORKER}.resources": {"requests": {"cpu": "1"}},
        },
        ("Service", "iris-replicas"): {
            "spec.clusterIP": "None",
            "spec.publishNotReadyAddresses": False,
            "spec.selector": {"glia.dev/api": "iris"},
            "spec.ports.0.port": 8080,
        },
        ("PodDisruptionBudget", "iris"): {
            "spec.maxUnavailable": "25%",
            "spec.selector.matchLabels": {"glia.dev/api": "iris"},
        },
        ("ScaledObject", "iris"): {
            "spec.scaleTargetRef.name": "iris",
            "spec.minReplicaCount": 1,
            "spec.maxReplicaCount": 100,
            "spec.cooldownPeriod": 300,
            f"{BEHAVIOR}.scaleUp.stabilizationWindowSeconds": 60,
            f"{BEHAVIOR}.scaleUp.policies": [
                {"type": "Percent", "value": 50, "periodSeconds": 15}],
            f"{BEHAVIOR}.scaleDown.stabilizationWindowSeconds": 300,
            f"{BEHAVIOR}.scaleDown.policies": [
                {"type": "Percent", "value": 25, "periodSeconds": 15}],
            f"{TRIGGER}.type": "metrics-api",
            f"{TRIGGER}.metadata": {
                "url": "http://glia-gateway.default.svc.cluster.local:8888"
                       "/metrics",
                "format": "prometheus",
                "valueLocation": 'glia_in_flight_requests{api="iris"}',
                "targetValue": "1",
                "activationTargetValue": "0"},
        },
        ("Deployment", "glia-gateway"): {
            "spec.replicas": 1,
            f"{POD}.containers.0.args": [
                "gateway", "/etc/glia/glia.yaml", "--listen", "0.0.0.0:8888",
                "--discover",
                "dns:{api}-replicas.default.svc.cluster.local:8080"],
            f"{POD}.volumes.0.configMap.name": "glia-specs",
            f"{POD}.containers.0.volumeMounts.0.mountPath": "/etc/glia",
            f"{POD}.terminationGracePeriodSeconds": 70,
        },
        ("Service", "glia-gateway"): {"spec.ports.0.port": 8888},
        ("HTTPRoute", "glia-gateway"): {
            "spec.parentRefs": [{"name": "glia"}],
            "spec.rules.0.matches": [
                {"path": {"type": "PathPrefix", "value": v}}
                for v in ("/iris", "/v1", "/v2")],
            "spec.rules.0.backendRefs": [{"name": "glia-gateway",
                                          "port": 8888}],
        },
    }),
    ("compute", api("c", "  compute:\n    cpu: 250m\n    mem: 1.5Gi\n"),
     [], {
        ("Deployment", "c"): {
            f"{WORKER}.resources": {
                "requests": {"cpu": "250m", "memory": "1536Mi"}},
        },
    }),
    # compute.mem is a request (as in Cortex), mem_limit the limit
    ("compute-mem-limit", api("c", "  compute:\n    mem: 512Mi\n"
                                   "    mem_limit: 2Gi\n"), [], {
        ("Deployment", "c"): {
            f"{WORKER}.resources": {
                "requests": {"cpu": "1", "memory": "512Mi"},
                "limits": {"memory": "2Gi"}},
        },
    }),
    ("compute-decimal-mem", api("c", "  compute:\n    cpu: 2\n"
                                     "    mem: 1G\n"), [], {
        ("Deployment", "c"): {
            f"{WORKER}.resources": {
                "requests": {"cpu": "2", "memory": "1000000000"}},
        },
    }),
    ("gpu", api("g", "  compute:\n    gpu: 2\n"), [], {
        ("Deployment", "g"): {
            f"{WORKER}.resources.limits": {"nvidia.com/gpu": 2},
            f"{POD}.tolerations": [{"key": "nvidia.com/gpu",
                                    "operator": "Exists",
                                    "effect": "NoSchedule"}],
        },
    }),
    ("autoscaling", api("a", "  autoscaling:\n    min_replicas: 0\n"
                             "    max_replicas: 10\n    init_replicas: 2\n"
                             "    target_replica_concurrency: 4.5\n"
                             "    window: 30s\n"
                             "    downscale_stabilization_period: 10m\n"
                             "    upscale_stabilization_period: 0s\n"
                             "    max_upscale_factor: 2\n"
                             "    max_downscale_factor: 0.5\n"
                             "    downscale_tolerance: 0.1\n"
                             "    upscale_tolerance: 0.1\n"
                             "    max_replica_concurrency: 50\n"), [], {
        ("ScaledObject", "a"): {
            "spec.minReplicaCount": 0,
            "spec.maxReplicaCount": 10,
            "spec.cooldownPeriod": 600,
            f"{BEHAVIOR}.scaleUp.stabilizationWindowSeconds": 0,
            f"{BEHAVIOR}.scaleUp.policies.0.value": 100,
            f"{BEHAVIOR}.scaleDown.stabilizationWindowSeconds": 600,
            f"{BEHAVIOR}.scaleDown.policies.0.value": 50,
            f"{TRIGGER}.metadata.targetValue": "4.5",
            f"{TRIGGER}.metadata.activationTargetValue": "0",
        },
        ("Deployment", "a"): {"spec.replicas": MISSING},
    }),
    ("prometheus", api("p", "  autoscaling:\n    window: 2m\n"
                            "    target_replica_concurrency: 3\n"),
     ["--prometheus", "http://prometheus.monitoring.svc:9090"], {
        ("ScaledObject", "p"): {
            f"{TRIGGER}.type": "prometheus",
            f"{TRIGGER}.metadata": {
                "serverAddress": "http://prometheus.monitoring.svc:9090",
                "query": 'avg_over_time(sum(glia_in_flight_requests'
                         '{api="p"})[120s:])',
                "threshold": "3",
                "activationThreshold": "0"},
        },
        ("Deployment", "glia-gateway"): {"spec.replicas": 2},
    }),
    ("update-strategy-ints", api("u", "  update_strategy:\n"
                                      "    max_surge: 3\n"
                                      "    max_unavailable: 1\n"), [], {
        ("Deployment", "u"): {
            "spec.strategy.rollingUpdate": {"maxSurge": 3,
                                            "maxUnavailable": 1}},
        ("PodDisruptionBudget", "u"): {"spec.maxUnavailable": 1},
    }),
    ("update-strategy-zero", api("u", "  update_strategy:\n"
                                      "    max_surge: 50%\n"
                                      "    max_unavailable: 0\n"), [], {
        ("Deployment", "u"): {
            "spec.strategy.rollingUpdate": {"maxSurge": "50%",
                                            "maxUnavailable": 0}},
        ("PodDisruptionBudget", "u"): {"spec.maxUnavailable": 1},
    }),
    ("networking", api("n", "  networking:\n    endpoint: /predict/n\n"
                            "    timeout: 90s\n"), [], {
        ("Deployment", "n"): {f"{POD}.terminationGracePeriodSeconds": 100},
        ("Deployment", "glia-gateway"): {
            f"{POD}.terminationGracePeriodSeconds": 100},
        ("HTTPRoute", "glia-gateway"): {
            "spec.rules.0.matches.0.path.value": "/predict/n"},
    }),
    ("traffic-splitter",
     api("a") + api("b") + "- name: split\n  kind: TrafficSplitter\n"
     "  apis:\n    - {name: a, weight: 80}\n    - {name: b, weight: 20}\n",
     [], {
        ("HTTPRoute", "glia-gateway"): {
            "spec.rules.0.matches": [
                {"path": {"type": "PathPrefix", "value": v}}
                for v in ("/a", "/b", "/split", "/v1", "/v2")]},
        ("ScaledObject", "a"): {"spec.minReplicaCount": 1},
        ("ScaledObject", "b"): {"spec.minReplicaCount": 1},
    }),
    ("options", api("o"),
     ["--namespace", "ml", "--image", "registry.example/team/o:1.2",
      "--ingress"], {
        ("Deployment", "o"): {
            "metadata.namespace": "ml",
            f"{WORKER}.image": "registry.example/team/o:1.2"},
        ("ScaledObject", "o"): {
            f"{TRIGGER}.metadata.url":
                "http://glia-gateway.ml.svc.cluster.local:8888/metrics"},
        ("Deployment", "glia-gateway"): {
            f"{POD}.containers.0.image": "registry.example/team/o:1.2",
            f"{POD}.containers.0.args.5":
                "dns:{api}-replicas.ml.svc.cluster.local:8080"},
        ("Ingress", "glia-gateway"): {
            "metadata.namespace": "ml",
            "spec.rules.0.http.paths.0": {
                "path": "/o", "pathType": "Prefix",
                "backend": {"service": {"name": "glia-gateway",
                                        "port": {"number": 8888}}}}},
        ("HTTPRoute", "glia-gateway"): MISSING,
    }),
    ("gateway-name", api("o"), ["--gateway", "public"], {
        ("HTTPRoute", "glia-gateway"): {
            "spec.parentRefs": [{"name": "public"}]},
    }),
    ("node-groups", api("ng", "  compute:\n    node_groups: [gpu-a, gpu-b]\n"),
     [], {
        ("Deployment", "ng"): {
            f"{POD}.affinity.nodeAffinity."
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{
                    "key": "glia.dev/node-group", "operator": "In",
                    "values": ["gpu-a", "gpu-b"]}]}]},
            f"{POD}.tolerations": MISSING,
        },
    }),
]

CLUSTER = """\
cluster_name: glia
region: us-west-2
node_groups:
  - name: cpu
    instance_type: m5.large
    min_instances: 1
    max_instances: 5
  - name: cpu-spot
    instance_type: m5.large
    spot: true
    max_instances: 20
"""

SPOT = {
    f"{POD}.tolerations": [{"key": "glia.dev/spot", "operator": "Equal",
                            "value": "true", "effect": "NoSchedule"}],
    f"{POD}.affinity.nodeAffinity."
    "preferredDuringSchedulingIgnoredDuringExecution": [{
        "weight": 100, "preference": {"matchExpressions": [{
            "key": "glia.dev/node-group", "operator": "In",
            "values": ["cpu"]}]}}],
    f"{POD}.topologySpreadConstraints.0.topologyKey":
        "kubernetes.io/hostname",
}

CASES += [
    # no node_groups: any group of the cluster, spot ones tolerated
    ("cluster-any-group", api("s"), ["--cluster", "CLUSTER"], {
        ("Deployment", "s"): {
            **SPOT,
            f"{POD}.affinity.nodeAffinity."
            "requiredDuringSchedulingIgnoredDuringExecution": MISSING}}),
    ("cluster-spot-groups",
     api("s", "  compute:\n    node_groups: [cpu-spot, cpu]\n"),
     ["--cluster", "CLUSTER"], {
        ("Deployment", "s"): {
            **SPOT,
            f"{POD}.affinity.nodeAffinity."
            "requiredDuringSchedulingIgnoredDuringExecution."
            "nodeSelectorTerms.0.matchExpressions.0.values":
                ["cpu-spot", "cpu"]}}),
    ("cluster-on-demand-only",
     api("s", "  compute:\n    node_groups: [cpu]\n    gpu: 1\n"),
     ["--cluster", "CLUSTER"], {
        ("Deployment", "s"): {
            f"{POD}.tolerations": [{"key": "nvidia.com/gpu",
                                    "operator": "Exists",
                                    "effect": "NoSchedule"}],
            f"{POD}.topologySpreadConstraints": MISSING}}),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_rendered_objects_validate_and_carry_the_spec(tmp_path, validator,
                                                      case):
    _, spec, args, expect = case
    if "CLUSTER" in args:
        (tmp_path / "cluster.yaml").write_text(CLUSTER)
        args = [str(tmp_path / "cluster.yaml") if a == "CLUSTER" else a
                for a in args]
    r = render(tmp_path, validator, spec, *args)
    for o in r.results:
        labels = o["object"]["metadata"].get("labels", {})
        assert labels.get(MANAGED_BY) == "glia", (o["kind"], o["name"])
    for key, fields in expect.items():
        if fields is MISSING:
            assert key not in r.objects, key
            continue
        obj = r.get(*key)
        for path, want in fields.items():
            got = get_or_missing(obj, path)
            assert got == want, f"{key} {path}: {got!r} != {want!r}"


def test_one_file_per_api_plus_the_gateway(tmp_path, validator):
    spec = (api("a") + api("b") + "- name: s\n  kind: TrafficSplitter\n"
            "  apis:\n    - {name: a, weight: 50}\n"
            "    - {name: b, weight: 50}\n")
    r = render(tmp_path, validator, spec)
    assert r.files == ["a.yaml", "b.yaml", "gateway.yaml"]
    assert r.by_file["a.yaml"] == [
        ("Deployment", "a"), ("Service", "a-replicas"),
        ("PodDisruptionBudget", "a"), ("ScaledObject", "a")]
    assert r.by_file["gateway.yaml"] == [
        ("ConfigMap", "glia-specs"), ("Deployment", "glia-gateway"),
        ("Service", "glia-gateway"), ("HTTPRoute", "glia-gateway")]
    # the ConfigMap holds the spec file as written
    proj = tmp_path / "project"
    assert r.get("ConfigMap", "glia-specs")["data"] == {
        "glia.yaml": (proj / "glia.yaml").read_text()}


def test_api_keys_mount_the_secret_in_the_gateway(tmp_path, validator):
    """An API with networking.auth: api_key: the gateway reads the keys
    from the Secret glia-api-keys (`glia keys export --k8s-secret`),
    mounted read-only, required (a pod without it does not start, and
    says why), beside /etc/glia rather than inside the ConfigMap's
    mount. The API's own Deployment is unchanged: keys are checked by
    the gateway only."""
    spec = api("open") + api("secure", "  networking: {auth: api_key}\n")
    r = render(tmp_path, validator, spec)
    pod = r.get("Deployment", "glia-gateway")["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["args"][-2:] == ["--api-keys", "/etc/glia-api-keys/keys.json"]
    assert {"name": "api-keys", "mountPath": "/etc/glia-api-keys",
            "readOnly": True} in c["volumeMounts"]
    assert {"name": "api-keys", "secret": {
        "secretName": "glia-api-keys", "optional": False}} in pod["volumes"]
    assert ("Secret", "glia-api-keys") not in r.objects  # keys stay local
    worker = r.get("Deployment", "secure")["spec"]["template"]["spec"]
    assert "volumes" not in worker


def test_no_api_keys_no_secret_volume(tmp_path, validator):
    spec = api("open") + api("other", "  networking: {auth: none}\n")
    r = render(tmp_path, validator, spec)
    pod = r.get("Deployment", "glia-gateway")["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert "--api-keys" not in c["args"]
    assert [v["name"] for v in pod["volumes"]] == ["specs"]
    assert [m["name"] for m in c["volumeMounts"]] == ["specs"]


def test_stdout_without_output_dir_and_cortex_yaml(tmp_path, validator):
    proj = write_project(tmp_path, api("c"), {PY: PREDICTOR},
                         yaml_name="cortex.yaml")
    r = glia_render(proj)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("---\napiVersion: apps/v1\nkind: Deployment\n")
    assert r.stdout.count("\n---\n") == 7  # 8 documents
    assert '"/app/cortex.yaml"' in r.stdout or "- /app/cortex.yaml" in \
        r.stdout
    # validate.js reads it as well as files
    f = tmp_path / "all.yaml"
    f.write_text(r.stdout)
    v = subprocess.run([validator, str(K8S / "validate.js"), str(f)],
                       capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert v.returncode == 0, v.stdout + v.stderr


def test_the_example_projects_validate(tmp_path, validator):
    for ex in ("iris-classifier", "cortex-iris", "echo", "iris-models"):
        out = tmp_path / ex
        r = glia_render(REPO / "examples" / ex, "-o", out)
        if r.returncode != 0 and "No such file" in r.stderr:
            continue  # a model directory the example downloads first
        assert r.returncode == 0, f"{ex}: {r.stderr}"
        Rendered(validator, out)


# (id, spec, files, args, message: the exact stderr line after "glia
# render: " with <FILE> for the spec's path)
ERRORS = [
    ("models-dir-outside", api("m").replace(
        "    path: predictor.py\n",
        "    path: predictor.py\n    models:\n      dir: ../models\n"),
     {}, [],
     "<FILE>:7:12: predictor.models.dir: ../models is outside the project "
     "directory: the image holds the project only"),
    ("command-not-in-image",
     "- name: cmd\n  kind: RealtimeAPI\n  predictor:\n    type: command\n"
     "    command: [/opt/server/bin/serve, --port, \"$GLIA_PORT\"]\n",
     {}, [],
     "<FILE>:5:15: predictor.command: /opt/server/bin/serve is not in the "
     "image (which holds the project in /app and Debian's packages under "
     "/usr); put the program in the project, or install it with "
     "predictor.dependencies"),
    ("command-outside-project",
     "- name: cmd\n  kind: RealtimeAPI\n  predictor:\n    type: command\n"
     "    command: [../bin/serve]\n",
     {}, [],
     "<FILE>:5:15: predictor.command: ../bin/serve is outside the project "
     "directory: the image holds the project only"),
    ("unknown-node-group",
     api("n", "  compute:\n    node_groups: [cpu, gpu]\n"), {},
     ["--cluster", "CLUSTER"],
     "<FILE>:7:24: compute.node_groups: gpu is not a node group of the "
     "cluster file"),
    ("gateway-name-taken", api("gateway"), {}, [],
     "<FILE>:1:9: name: gateway is the gateway's name on Kubernetes "
     "(objects glia-gateway, file gateway.yaml): rename the API"),
]


@pytest.mark.parametrize("case", ERRORS, ids=[c[0] for c in ERRORS])
def test_specs_that_cannot_run_in_a_cluster_are_refused(tmp_path, case):
    _, spec, files, args, message = case
    (tmp_path / "cluster.yaml").write_text(CLUSTER)
    args = [str(tmp_path / "cluster.yaml") if a == "CLUSTER" else a
            for a in args]
    proj = write_project(tmp_path, spec, {PY: PREDICTOR, **files})
    out = tmp_path / "out"
    r = glia_render(proj, "-o", out, *args)
    assert r.returncode == 1, r.stdout
    want = message.replace("<FILE>", str((proj / "glia.yaml").resolve()))
    assert r.stderr == f"glia render: {want}\n"
    assert not out.exists() or not any(out.iterdir())


def test_cluster_file_errors_and_bad_arguments(tmp_path):
    proj = write_project(tmp_path, api("a"), {PY: PREDICTOR})
    bad = tmp_path / "cluster.yaml"
    bad.write_text("node_groups:\n  - name: cpu\n    spot: maybe\n")
    r = glia_render(proj, "--cluster", bad)
    assert r.returncode == 1
    assert r.stderr == (f"glia render: {bad}:3:11: node_groups[0].spot: "
                        "must be true or false\n")
    r = glia_render(proj, "--namespace", "Bad_NS")
    assert r.returncode == 2 and "--namespace" in r.stderr
    r = glia_render(proj, "--prometheus", "prometheus:9090")
    assert r.returncode == 2 and "--prometheus" in r.stderr
    r = subprocess.run([str(GLIA_BIN), "render", "helm"],
                       capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert r.returncode == 2 and "k8s" in r.stderr
    r = subprocess.run([str(GLIA_BIN), "render", "--help"],
                       capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert r.returncode == 0 and r.stdout.startswith("usage: glia render k8s")
