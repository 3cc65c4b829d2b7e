"""TrafficSplitter (SPEC section 3): one endpoint whose requests go to
RealtimeAPIs by weight, plus an optional shadow API that gets a copy of
a percentage of the requests, its weight (as in Cortex; 100 here: every
request), its answer ignored. Weights are applied by smooth weighted
round robin, so 100 requests at 80/20 go exactly 80 and 20."""
import textwrap

import pytest

from conftest import write_project

PREDICTOR = textwrap.dedent("""\
    class PythonPredictor:
        def __init__(self, config):
            self.name = config["name"]

        def predict(self, payload):
            print("seen", payload.get("i"))
            return {"api": self.name, "i": payload.get("i")}
    """)


def target(name):
    return textwrap.dedent(f"""\
        - name: {name}
          kind: RealtimeAPI
          predictor:
            type: python
            path: predictor.py
            config: {{name: {name}}}
        """)


def splitter(weights, shadow="iris-c"):
    lines = ["- name: iris", "  kind: TrafficSplitter", "  apis:"]
    for name, w in weights:
        lines.append(f"    - {{name: {name}, weight: {w}}}")
    if shadow:
        lines.append(f"    - {{name: {shadow}, weight: 100, shadow: true}}")
    return "\n".join(lines) + "\n"


ALL = target("iris-a") + target("iris-b") + target("iris-c")


def metric(d, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in d.http_get("/metrics").text.splitlines():
        if line.startswith(f"{name}{{{want}}} "):
            return float(line.split()[-1])
    return None


@pytest.fixture
def split(daemon, tmp_path):
    proj = write_project(tmp_path, ALL + splitter([("iris-a", 80),
                                                  ("iris-b", 20)]),
                         {"predictor.py": PREDICTOR})
    res = daemon.deploy("glia.yaml", cwd=proj)
    assert "iris: created" in res.stdout, res.stdout
    daemon.proj = proj
    return daemon


def send(d, n):
    got = {}
    s = d.session()
    try:
        for i in range(n):
            r = s.post("/iris", json={"i": i})
            assert r.status == 200, r
            assert r.json()["i"] == i, r
            api = r.json()["api"]
            got[api] = got.get(api, 0) + 1
    finally:
        s.close()
    return got


def test_weights_are_exact_and_the_shadow_gets_copies(split):
    d = split
    assert send(d, 100) == {"iris-a": 80, "iris-b": 20}  # never the shadow
    assert metric(d, "glia_split_requests_total", api="iris",
                  target="iris-a") == 80
    assert metric(d, "glia_split_requests_total", api="iris",
                  target="iris-b") == 20
    # every request was copied to the shadow, which answered it
    d.wait_for(lambda: metric(d, "glia_requests_total", api="iris-c",
                              code="200") == 100,
               message="100 shadow copies answered by iris-c")
    logs = d.cli("logs", "iris-c").stdout
    assert logs.count("seen ") == 100
    detail = d.get("iris")
    assert detail["kind"] == "TrafficSplitter" and detail["status"] == "live"
    assert detail["apis"] == [
        {"name": "iris-a", "weight": 80, "shadow": False, "requests": 80},
        {"name": "iris-b", "weight": 20, "shadow": False, "requests": 20},
        {"name": "iris-c", "weight": 100, "shadow": True, "requests": 100}]
    out = d.cli("get", "iris").stdout
    assert "API" in out and "WEIGHT" in out and "iris-c" in out, out
    # GET <endpoint> describes the splitter and its targets
    assert d.http_get("/iris").json() == {
        "name": "iris", "kind": "TrafficSplitter", "endpoint": "/iris",
        "apis": [{"name": "iris-a", "weight": 80, "shadow": False},
                 {"name": "iris-b", "weight": 20, "shadow": False},
                 {"name": "iris-c", "weight": 100, "shadow": True}]}
    assert d.http_get("/iris-a").json() == {
        "name": "iris-a", "kind": "RealtimeAPI", "endpoint": "/iris-a",
        "predictor_type": "python"}


def test_new_weights_apply_on_redeploy(split):
    d = split
    write_project(d.proj.parent, ALL + splitter([("iris-a", 50),
                                                ("iris-b", 50)], shadow=None),
                  dirname=d.proj.name)
    res = d.deploy("glia.yaml", cwd=d.proj)
    assert "iris: updated" in res.stdout, res.stdout
    assert send(d, 10) == {"iris-a": 5, "iris-b": 5}


def test_targets_must_exist_and_cannot_be_deleted_while_used(daemon,
                                                            tmp_path):
    proj = write_project(tmp_path, target("iris-a") + splitter(
        [("iris-a", 50), ("iris-b", 50)], shadow=None),
        {"predictor.py": PREDICTOR})
    res = daemon.cli("deploy", "glia.yaml", cwd=proj, check=False)
    assert res.returncode == 1
    assert "TrafficSplitter iris: API iris-b is not deployed" in res.stderr
    assert daemon.list_apis() == [] or all(
        a["name"] != "iris" for a in daemon.list_apis())

    proj = write_project(tmp_path, target("iris-a") + target("iris-b") +
                         splitter([("iris-a", 50), ("iris-b", 50)],
                                  shadow=None),
                         {"predictor.py": PREDICTOR}, dirname="p2")
    daemon.deploy("glia.yaml", cwd=proj)
    res = daemon.cli("delete", "iris-b", check=False)
    assert res.returncode == 1
    assert "iris-b is used by TrafficSplitter iris" in res.stderr
    assert send(daemon, 4) == {"iris-a": 2, "iris-b": 2}
    daemon.cli("delete", "iris")
    daemon.cli("delete", "iris-b")
    daemon.wait_for(lambda: daemon.http_get("/iris").status == 404)


def test_weights_that_do_not_sum_to_100_are_refused(daemon, tmp_path):
    proj = write_project(tmp_path, ALL + splitter([("iris-a", 70),
                                                  ("iris-b", 20)]),
                         {"predictor.py": PREDICTOR})
    res = daemon.cli("deploy", "glia.yaml", cwd=proj, check=False)
    assert res.returncode == 1
    assert ("apis: the weights of the non-shadow APIs must sum to 100, "
            "got 90") in res.stderr


def test_the_splitter_survives_a_daemon_restart(split):
    d = split
    d.restart()
    for name in ("iris-a", "iris-b", "iris-c"):
        d.wait_ready(name)
    assert d.get("iris")["kind"] == "TrafficSplitter"
    assert send(d, 10) == {"iris-a": 8, "iris-b": 2}
