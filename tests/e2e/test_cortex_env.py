"""The environment variables Cortex set for predictors that mean something
in glia (docs/cortex.md#environment-variables): CORTEX_KIND,
CORTEX_PROJECT_DIR, CORTEX_LOG_LEVEL, CORTEX_PROCESSES_PER_REPLICA,
CORTEX_THREADS_PER_PROCESS and CORTEX_MAX_REPLICA_CONCURRENCY, in every
replica process (Python predictors and pods' command servers alike);
predictor.env replaces them."""
import os
import textwrap

from conftest import write_project

PREDICTOR = textwrap.dedent("""\
    import os


    class PythonPredictor:
        def __init__(self, config):
            pass

        def predict(self, payload):
            return {"pid": os.getpid(), "cwd": os.getcwd(),
                    "env": {k: v for k, v in os.environ.items()
                            if k.startswith("CORTEX_")}}
    """)

CORTEX_YAML = textwrap.dedent("""\
    - name: envy
      kind: RealtimeAPI
      predictor:
        type: python
        path: predictor.py
        processes_per_replica: 2
        threads_per_process: 3
        log_level: debug
        env:
          CORTEX_THREADS_PER_PROCESS: "mine"
      autoscaling:
        max_replica_concurrency: 12
      compute:
        cpu: 100m
    """)

SERVER = textwrap.dedent("""\
    import json
    import os
    import sys
    from http.server import BaseHTTPRequestHandler, HTTPServer


    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.do_POST()

        def do_POST(self):
            body = json.dumps({k: v for k, v in os.environ.items()
                               if k.startswith("CORTEX_")}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)


    HTTPServer(("127.0.0.1", int(os.environ["CORTEX_PORT"])),
               Handler).serve_forever()
    """)

POD_YAML = textwrap.dedent("""\
    - name: podenv
      kind: RealtimeAPI
      pod:
        port: 8080
        containers:
        - name: api
          image: quay.io/example/env:0.40.0
          command: ["/usr/bin/python3", "server.py"]
          readiness_probe:
            tcp_socket:
              port: 8080
    """)


def test_python_predictor_sees_cortex_variables(daemon, tmp_path):
    proj = write_project(tmp_path, CORTEX_YAML, {"predictor.py": PREDICTOR},
                         yaml_name="cortex.yaml")
    daemon.deploy("cortex.yaml", cwd=proj)
    seen = {}
    for _ in range(40):  # both processes of the replica
        r = daemon.post("/envy", json={})
        assert r.status == 200, r
        seen[r.json()["pid"]] = r.json()["env"]
        if len(seen) == 2:
            break
    for env in seen.values():
        assert env["CORTEX_KIND"] == "RealtimeAPI"
        assert os.path.realpath(env["CORTEX_PROJECT_DIR"]) == \
            os.path.realpath(proj)
        assert env["CORTEX_LOG_LEVEL"] == "DEBUG"
        assert env["CORTEX_PROCESSES_PER_REPLICA"] == "2"
        assert env["CORTEX_THREADS_PER_PROCESS"] == "mine"  # predictor.env
        assert env["CORTEX_MAX_REPLICA_CONCURRENCY"] == "12"
        assert "CORTEX_API_SPEC" not in env  # glia's spec is not Cortex's


def test_pod_command_server_sees_cortex_variables(daemon, tmp_path):
    proj = write_project(tmp_path, POD_YAML, {"server.py": SERVER},
                         yaml_name="cortex.yaml")
    daemon.deploy("cortex.yaml", cwd=proj)
    r = daemon.post("/podenv", json={})
    assert r.status == 200, r
    env = r.json()
    assert env["CORTEX_KIND"] == "RealtimeAPI"
    assert os.path.realpath(env["CORTEX_PROJECT_DIR"]) == \
        os.path.realpath(proj)
    assert env["CORTEX_LOG_LEVEL"] == "INFO"
    assert int(env["CORTEX_PORT"]) > 0
    assert env["CORTEX_PROCESSES_PER_REPLICA"] == "1"
