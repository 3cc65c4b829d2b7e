"""Cortex 0.36-0.42 projects: `pod:` instead of a predictor (issue 14,
item 4). The container that serves pod.port runs as a command predictor
when its command exists on this machine: its env is passed, $(CORTEX_PORT)
(Kubernetes' form) in its args and CORTEX_PORT in its environment are the
port it must listen on, its readiness probe's http_get.path is how glia
knows it is ready; the pod's other containers start alongside it. A
container whose command is not here refuses the deploy, naming it."""
import json
import os
import subprocess
import textwrap

from conftest import (GLIA_BIN, free_port, http_post, kill_pids, pid_alive,
                      wait_for, write_project)
from test_render_k8s import render, validator  # noqa: F401 (a fixture)

# A web server as a Cortex 0.36 user wrote one: it reads its port from the
# command line ($(CORTEX_PORT) expanded by Kubernetes, here by glia).
SERVER = textwrap.dedent("""\
    import json
    import os
    import sys
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    PROBES = {"n": 0}
    LOCK = threading.Lock()


    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, code, obj):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/healthz" and "--no-healthz" not in sys.argv:
                with LOCK:
                    PROBES["n"] += 1
                self._send(200, {"ok": True})
            elif self.path == "/ready":
                self._send(200, {"ok": True})
            elif self.path == "/":
                self._send(200, {"get": "from the pod"})
            else:
                self._send(404, {"path": self.path})

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            payload = json.loads(self.rfile.read(n) or b"null")
            with LOCK:
                probes = PROBES["n"]
            self._send(200, {"greeting": os.environ.get("GREETING"),
                             "payload": payload, "path": self.path,
                             "argv_port": sys.argv[2],
                             "env_port": os.environ.get("CORTEX_PORT"),
                             "probes": probes, "pid": os.getpid()})


    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Handler).serve_forever()
    """)

# The pod's other container: writes what it sees, then waits.
SIDECAR = textwrap.dedent("""\
    import json
    import os
    import sys
    import time

    with open(sys.argv[1] + ".tmp", "w") as f:
        json.dump({"pid": os.getpid(), "role": os.environ.get("ROLE"),
                   "port": os.environ.get("CORTEX_PORT")}, f)
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    while True:
        time.sleep(1)
    """)

# Cortex 0.36's shape (pod.node_groups, shm_size) ...
V036 = textwrap.dedent("""\
    - name: hello
      kind: RealtimeAPI
      pod:
        port: 8080
        max_concurrency: 2
        max_queue_length: 10
        node_groups: [cpu]
        shm_size: 64Mi
        containers:
        - name: api
          image: quay.io/example/hello-world:0.36.0
          command: ["/usr/bin/python3", "server.py"]
          args: ["--port", "$(CORTEX_PORT)"]
          env:
            GREETING: "hello from the pod"
          readiness_probe:
            http_get:
              path: /healthz
              port: 8080
            initial_delay_seconds: 1
            period_seconds: 5
          liveness_probe:
            tcp_socket:
              port: 8080
          compute:
            cpu: 200m
            mem: 128Mi
    """)

# ... and 0.41's (top-level node_groups, compute.shm, pre_stop), with a
# second container.
V041 = textwrap.dedent("""\
    - name: duo
      kind: RealtimeAPI
      node_groups: [cpu]
      pod:
        port: 9000
        containers:
        - name: side
          image: quay.io/example/side:0.41.0
          command: [/usr/bin/python3, sidecar.py, "{out}"]
          env:
            ROLE: sidecar
        - name: web
          image: quay.io/example/web:0.41.0
          command: [python3, server.py, --port, "$(CORTEX_PORT)"]
          readiness_probe:
            http_get: {{path: /healthz, port: 9000}}
          pre_stop:
            exec: {{command: [sleep, "1"]}}
          compute: {{cpu: 1, mem: 200Mi, shm: 64Mi}}
    """)


def test_a_v036_pod_runs_as_a_command_predictor(daemon, tmp_path):
    proj = write_project(tmp_path, V036, {"server.py": SERVER},
                         yaml_name="cortex.yaml")
    daemon.deploy("cortex.yaml", cwd=proj)
    r = daemon.post("/hello", json={"x": 1})
    assert r.status == 200, r
    got = r.json()
    assert got["greeting"] == "hello from the pod"
    assert got["payload"] == {"x": 1} and got["path"] == "/"
    # $(CORTEX_PORT) and CORTEX_PORT: the port glia gave this replica
    assert got["argv_port"] == got["env_port"] and int(got["env_port"]) > 0
    # ready only once the readiness probe's path answered
    assert got["probes"] >= 1
    assert got["pid"] in daemon.replica_pids("hello")
    # Cortex routed <api>/sub to /sub of the container
    r = daemon.post("/hello/sub", json={})
    assert r.status == 200 and r.json()["path"] == "/sub", r
    # GET <endpoint> reached the container at / (no glia description)
    r = daemon.http_get("/hello")
    assert r.status == 200 and r.json() == {"get": "from the pod"}, r
    detail = daemon.get("hello")
    assert detail["replicas"]["ready"] == 1, detail
    # env values are often secrets: masked in glia get -o json, in the
    # pod's containers as in predictor.env
    spec = detail["spec"]
    assert spec["predictor"]["env"] == {"GREETING": "***"}, spec
    assert spec["pod"]["containers"][0]["env"] == {"GREETING": "***"}, spec
    assert "hello from the pod" not in json.dumps(detail)


def test_a_pods_other_container_runs_alongside(daemon, tmp_path):
    out = tmp_path / "sidecar.json"
    proj = write_project(tmp_path, V041.format(out=out),
                         {"server.py": SERVER, "sidecar.py": SIDECAR},
                         yaml_name="cortex.yaml")
    daemon.deploy("cortex.yaml", cwd=proj)
    # the API container is the one whose readiness probe checks pod.port
    r = daemon.post("/duo", json={"y": 2})
    assert r.status == 200 and r.json()["payload"] == {"y": 2}, r
    side = daemon.wait_for(lambda: out.exists() and json.loads(
        out.read_text()), message="the sidecar container started")
    assert side["role"] == "sidecar"
    assert side["port"] == r.json()["env_port"]
    assert pid_alive(side["pid"])
    daemon.cli("delete", "duo")
    daemon.wait_for(lambda: not pid_alive(side["pid"]),
                    message="the sidecar stopped with its replica")


def _deploy_error(daemon, proj):
    r = daemon.deploy("cortex.yaml", cwd=proj, check=False)
    assert r.returncode != 0, r.stdout
    return r.stderr


def test_a_container_whose_command_is_not_here_refuses_the_deploy(
        daemon, tmp_path):
    missing = V036.replace('["/usr/bin/python3", "server.py"]',
                           '["/opt/nucleus/bin/serve"]')
    proj = write_project(tmp_path, missing, {"server.py": SERVER},
                         yaml_name="cortex.yaml")
    err = _deploy_error(daemon, proj)
    assert "pod.containers[0] (api) runs /opt/nucleus/bin/serve, which is " \
           "not on this machine (no such executable file)" in err, err
    assert "glia render k8s" in err, err

    # not in PATH either
    proj = write_project(tmp_path, V036.replace(
        '["/usr/bin/python3", "server.py"]', '["no-such-server-xyz"]'),
        dirname="path", yaml_name="cortex.yaml")
    err = _deploy_error(daemon, proj)
    assert "runs no-such-server-xyz, which is not on this machine (not " \
           "found in PATH)" in err, err

    # no command at all: the image's entrypoint
    no_cmd = "\n".join(ln for ln in V036.splitlines()
                       if "command:" not in ln) + "\n"
    proj = write_project(tmp_path, no_cmd, dirname="entry",
                         yaml_name="cortex.yaml")
    err = _deploy_error(daemon, proj)
    assert "pod.containers[0] (api) has no command: its image " \
           "quay.io/example/hello-world:0.36.0's entrypoint runs only in " \
           "a cluster" in err, err

    # a sidecar that is not here is named too
    out = tmp_path / "never.json"
    proj = write_project(tmp_path, V041.format(out=out).replace(
        "[/usr/bin/python3, sidecar.py", "[/opt/side/run, sidecar.py"),
        {"server.py": SERVER}, dirname="side", yaml_name="cortex.yaml")
    err = _deploy_error(daemon, proj)
    assert "pod.containers[0] (side) runs /opt/side/run" in err, err
    assert daemon.list_apis() == [] or all(
        a.get("name") not in ("hello", "duo") for a in daemon.list_apis())
    assert not os.path.exists(out)


def test_render_k8s_writes_the_pods_containers(tmp_path, validator):
    """`glia render k8s`: the containers become the Deployment's, with
    their images, command, args, env (and CORTEX_PORT, which Kubernetes
    expands in $(CORTEX_PORT)), probes, pre_stop, resources and
    /dev/shm; the objects validate against the Kubernetes schemas."""
    text = V036 + V041.format(out=tmp_path / "unused.json")
    r = render(tmp_path, validator, text,
               files={"server.py": SERVER, "sidecar.py": SIDECAR})
    pod = r.get("Deployment", "hello")["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["name"] == "api"
    assert c["image"] == "quay.io/example/hello-world:0.36.0"
    assert c["command"] == ["/usr/bin/python3", "server.py"]
    assert c["args"] == ["--port", "$(CORTEX_PORT)"]
    assert c["env"] == [{"name": "GREETING", "value": "hello from the pod"},
                        {"name": "CORTEX_PORT", "value": "8080"}]
    assert c["ports"] == [{"name": "http", "containerPort": 8080,
                           "protocol": "TCP"}]
    assert c["readinessProbe"] == {"httpGet": {"path": "/healthz",
                                               "port": 8080},
                                   "initialDelaySeconds": 1,
                                   "periodSeconds": 5}
    assert c["livenessProbe"] == {"tcpSocket": {"port": 8080}}
    assert c["resources"] == {"requests": {"cpu": "200m",
                                           "memory": "128Mi"}}
    # pod.shm_size (0.36): a memory-backed /dev/shm
    assert c["volumeMounts"] == [{"name": "shm-api",
                                  "mountPath": "/dev/shm"}]
    assert pod["volumes"] == [{"name": "shm-api", "emptyDir": {
        "medium": "Memory", "sizeLimit": "64Mi"}}]

    duo = r.get("Deployment", "duo")["spec"]["template"]["spec"]
    side, web = duo["containers"]
    assert duo["volumes"][0]["emptyDir"]["sizeLimit"] == "64Mi"
    assert side["name"] == "side" and "ports" not in side
    assert side["env"][0] == {"name": "ROLE", "value": "sidecar"}
    assert side["resources"] == {"requests": {"cpu": "200m"}}
    assert web["command"] == ["python3", "server.py", "--port",
                              "$(CORTEX_PORT)"]
    assert web["ports"][0]["containerPort"] == 9000
    assert web["env"] == [{"name": "CORTEX_PORT", "value": "9000"}]
    assert web["lifecycle"] == {"preStop": {"exec": {"command":
                                                     ["sleep", "1"]}}}
    assert web["resources"] == {"requests": {"cpu": "1",
                                             "memory": "200Mi"}}
    # compute.shm (0.41), per container
    assert "volumeMounts" not in side
    assert web["volumeMounts"] == [{"name": "shm-web",
                                    "mountPath": "/dev/shm"}]
    # the gateway gets the spec, and finds a pod API's replicas on pod.port
    assert r.get("ConfigMap", "glia-specs")


def test_glia_gateway_reaches_a_pod_api_on_pod_port(tmp_path):
    """In a cluster the gateway finds a pod API's replicas by DNS and
    sends to pod.port (the API container's own port), not to the port of
    --discover (glia worker's 8080)."""
    port, gw_port = free_port(), free_port()
    proj = write_project(tmp_path, V036.replace("port: 8080",
                                                f"port: {port}"),
                         {"server.py": SERVER}, yaml_name="cortex.yaml")
    procs = []
    try:
        procs.append(subprocess.Popen(
            ["/usr/bin/python3", "server.py", "--port", str(port)],
            cwd=proj, stdin=subprocess.DEVNULL))
        log = open(tmp_path / "gateway.log", "wb")
        procs.append(subprocess.Popen(
            [str(GLIA_BIN), "gateway", proj / "cortex.yaml", "--listen",
             f"127.0.0.1:{gw_port}", "--discover", "dns:127.0.0.1:1"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))

        def answered():
            try:
                r = http_post(gw_port, "/hello", {"z": 3}, timeout=10)
            except OSError:
                return None
            return r if r.status == 200 else None
        r = wait_for(answered, 60, message="the gateway forwarded to "
                     f"pod.port (log: {(tmp_path / 'gateway.log')})")
        assert r.json()["payload"] == {"z": 3}
        assert r.json()["argv_port"] == str(port)
    finally:
        kill_pids([p.pid for p in procs if p.poll() is None])
        for p in procs:
            p.wait(10)


def test_glia_gateway_probes_a_pod_api_at_its_readiness_path(tmp_path):
    """A pod API's server need not answer glia's /healthz: a replica the
    gateway lost (its server went away) is probed at the readiness probe's
    path, and serves again once the server is back."""
    port, gw_port = free_port(), free_port()
    yaml_text = V036.replace("port: 8080", f"port: {port}").replace(
        "path: /healthz", "path: /ready")
    proj = write_project(tmp_path, yaml_text, {"server.py": SERVER},
                         yaml_name="cortex.yaml")
    server = ["/usr/bin/python3", "server.py", "--port", str(port),
              "--no-healthz"]
    procs = []

    def answered():
        try:
            r = http_post(gw_port, "/hello", {"n": 1}, timeout=10)
        except OSError:
            return None
        return r if r.status == 200 else None
    try:
        procs.append(subprocess.Popen(server, cwd=proj,
                                      stdin=subprocess.DEVNULL))
        log = open(tmp_path / "gateway.log", "wb")
        procs.append(subprocess.Popen(
            [str(GLIA_BIN), "gateway", proj / "cortex.yaml", "--listen",
             f"127.0.0.1:{gw_port}", "--discover", "dns:127.0.0.1:1"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        wait_for(answered, 60, message="the pod server answered")
        procs[0].kill()
        procs[0].wait(10)
        # its connections refused: the gateway marks it down
        wait_for(lambda: not answered(), 60,
                 message="requests fail while the server is gone")
        procs.append(subprocess.Popen(server, cwd=proj,
                                      stdin=subprocess.DEVNULL))
        wait_for(answered, 60, message="served again after a probe of "
                 "/ready (GET /healthz answers 404 here)")
    finally:
        kill_pids([p.pid for p in procs if p.poll() is None])
        for p in procs:
            p.wait(10)
