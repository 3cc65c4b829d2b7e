"""Config validation through `glia deploy` (issue 2, point 3): every error
names FILE:LINE:COL and the key, the command exits 1 with one line on
stderr, and nothing is deployed. Unknown keys suggest the nearest valid key.
A single mapping or a list of APIs is accepted; duplicate names are an
error.

The exact wording belongs to the config module (its unit tests pin it);
these tests check the position, the key and the outcome."""
import json
import re
import textwrap
import threading

import pytest

from conftest import PREDICTORS, apis_of, simple_spec, wait_for, write_project

PREDICTOR = PREDICTORS / "versioned" / "predictor.py"


def base(extra_predictor="", extra_api="", name="bad-api"):
    """A valid RealtimeAPI with lines appended to predictor: (at 4 spaces)
    and to the API (at 2 spaces). The appended lines start at line 6."""
    text = textwrap.dedent(f"""\
        - name: {name}
          kind: RealtimeAPI
          predictor:
            type: python
            path: predictor.py
        """)
    for line in extra_predictor.splitlines():
        text += "    " + line + "\n"
    for line in extra_api.splitlines():
        text += "  " + line + "\n"
    return text


# (id, yaml text, line, accepted columns, key substring, other substrings)
CASES = [
    ("unknown-predictor-key", base("threads_per_proces: 2"), 6, (5,),
     "threads_per_proces", ["did you mean", "threads_per_process"]),
    ("unknown-top-level-key", base(extra_api="networkin:\n  endpoint: /x"), 6, (3,),
     "networkin", ["did you mean", "networking"]),
    ("unknown-autoscaling-key", base(extra_api="autoscaling:\n  max_replica: 3"), 7, (5,),
     "max_replica", ["did you mean", "max_replicas"]),
    ("unknown-compute-key", base(extra_api="compute:\n  cpus: 1"), 7, (5,),
     "cpus", ["did you mean", "cpu"]),
    ("threads-zero", base("threads_per_process: 0"), 6, (5, 26),
     "threads_per_process", []),
    ("threads-too-many", base("threads_per_process: 1025"), 6, (5, 26),
     "threads_per_process", []),
    ("processes-too-many", base("processes_per_replica: 101"), 6, (5, 28),
     "processes_per_replica", []),
    ("processes-not-int", base("processes_per_replica: many"), 6, (5, 28),
     "processes_per_replica", []),
    ("log-level", base("log_level: verbose"), 6, (5, 16), "log_level", []),
    ("bad-name", base(name="Bad_Name"), 1, (3, 9), "name", []),
    ("name-too-long", base(name="a" * 43), 1, (3, 9), "name", []),
    ("bad-kind", base().replace("kind: RealtimeAPI", "kind: RealtimeApi"), 2, (3, 9),
     "kind", []),
    ("bad-type", base().replace("type: python", "type: pythn"), 4, (5, 11),
     "type", []),
    ("bad-timeout", base(extra_api="networking:\n  timeout: ten seconds"), 7, (5, 14),
     "timeout", []),
    ("bad-mem", base(extra_api="compute:\n  mem: lots"), 7, (5, 10), "mem", []),
    ("bad-cpu", base(extra_api="compute:\n  cpu: -1"), 7, (5, 10), "cpu", []),
    ("config-not-mapping", base("config: [1, 2]"), 6, (5, 13), "config", []),
    ("env-not-strings", base("env: {A: {nested: 1}}"), 6, (5, 10, 11, 14), "env", []),
    ("batch-size-one", base("server_side_batching:\n  max_batch_size: 1\n  batch_interval: 10ms"),
     7, (7, 23), "max_batch_size", []),
    ("batch-interval-bad", base("server_side_batching:\n  max_batch_size: 4\n  batch_interval: soon"),
     8, (7, 23), "batch_interval", []),
    ("min-over-max", base(extra_api="autoscaling:\n  min_replicas: 5\n  max_replicas: 2"),
     None, (), "replicas", []),
    ("surge-and-unavailable-zero",
     base(extra_api="update_strategy:\n  max_surge: 0\n  max_unavailable: 0"),
     None, (), "max_", []),
    ("models-path-and-dir", base("models:\n  path: a\n  dir: b"), None, (), "models", []),
]


@pytest.fixture(scope="module")
def d(module_daemon_factory):
    return module_daemon_factory()


def deploy_text(d, tmp_path, text, dirname="project"):
    proj = write_project(tmp_path, text, {"predictor.py": PREDICTOR}, dirname=dirname)
    return d.cli("deploy", "glia.yaml", cwd=proj, check=False)


def assert_one_error_line(res):
    assert res.returncode == 1, (res.returncode, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got: {res.stderr!r}"
    assert lines[0].startswith("glia: "), lines[0]
    return lines[0]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_invalid_config_names_file_line_column_and_key(d, tmp_path, case):
    _, text, line, cols, key, others = case
    res = deploy_text(d, tmp_path, text)
    msg = assert_one_error_line(res)
    if line is not None:
        colpat = "|".join(str(c) for c in cols)
        assert re.search(rf"glia\.yaml:{line}:({colpat}):", msg), \
            f"expected glia.yaml:{line}:{cols} in {msg!r}\n---\n{text}"
    else:
        assert re.search(r"glia\.yaml:\d+:\d+:", msg), msg
    assert key in msg, msg
    for s in others:
        assert s in msg, f"{s!r} missing from {msg!r}"
    assert apis_of(d.cli_json("get")) == [], "an invalid file deployed something"


def test_yaml_syntax_error_names_file_and_position(d, tmp_path):
    text = ("- name: broken\n  kind: RealtimeAPI\n"
            "  predictor: {type: python, path: predictor.py\n")
    res = deploy_text(d, tmp_path, text)
    msg = assert_one_error_line(res)
    assert re.search(r"glia\.yaml:\d+:\d+:", msg), msg
    assert apis_of(d.cli_json("get")) == []


def test_missing_predictor_file_is_named(d, tmp_path):
    text = base().replace("path: predictor.py", "path: missing_predictor.py")
    res = deploy_text(d, tmp_path, text)
    msg = assert_one_error_line(res)
    assert re.search(r"glia\.yaml:5:(5|11):", msg), msg
    assert "missing_predictor.py" in msg


def test_missing_name_is_an_error(d, tmp_path):
    text = "- kind: RealtimeAPI\n  predictor:\n    type: python\n    path: predictor.py\n"
    res = deploy_text(d, tmp_path, text)
    msg = assert_one_error_line(res)
    assert "glia.yaml:" in msg and "name" in msg


def test_duplicate_api_names_are_an_error(d, tmp_path):
    text = simple_spec("twin") + simple_spec("twin")
    res = deploy_text(d, tmp_path, text)
    msg = assert_one_error_line(res)
    assert re.search(r"glia\.yaml:6:\d+:", msg), msg
    assert "twin" in msg
    assert apis_of(d.cli_json("get")) == []


def test_one_invalid_api_in_a_list_deploys_none_of_them(d, tmp_path):
    text = simple_spec("good-one") + simple_spec("bad-one", threads_per_process=0)
    res = deploy_text(d, tmp_path, text)
    msg = assert_one_error_line(res)
    assert re.search(r"glia\.yaml:\d+:\d+:", msg) and "threads_per_process" in msg
    assert apis_of(d.cli_json("get")) == []


def test_missing_file_is_an_error_naming_it(d, tmp_path):
    res = d.cli("deploy", str(tmp_path / "nope.yaml"), check=False)
    assert res.returncode == 1
    assert "nope.yaml" in res.stderr


def test_deploy_without_file_and_no_default_file_is_an_error(d, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    res = d.cli("deploy", cwd=empty, check=False)
    assert res.returncode == 1
    assert "glia.yaml" in res.stderr


def test_list_with_two_apis_deploys_both(daemon, tmp_path):
    text = simple_spec("first-api", config={"version": 1}) + \
        simple_spec("second-api", config={"version": 2})
    proj = write_project(tmp_path, text, {"predictor.py": PREDICTOR})
    res = daemon.cli("deploy", "--wait", cwd=proj)
    out = res.stdout
    assert re.search(r"first-api.*created", out) and re.search(r"second-api.*created", out), out
    assert sorted(a["name"] for a in daemon.list_apis()) == ["first-api", "second-api"]
    daemon.wait_ready("first-api")
    daemon.wait_ready("second-api")
    assert daemon.post("/first-api", json={}).json()["version"] == 1
    assert daemon.post("/second-api", json={}).json()["version"] == 2


def test_single_mapping_is_accepted(daemon, tmp_path):
    text = textwrap.dedent("""\
        name: single-api
        kind: RealtimeAPI
        predictor:
          type: python
          path: predictor.py
          config:
            version: 7
        networking:
          endpoint: /custom/path
        """)
    proj = write_project(tmp_path, text, {"predictor.py": PREDICTOR})
    daemon.cli("deploy", str(proj / "glia.yaml"), "--wait")
    daemon.wait_ready("single-api")
    r = daemon.post("/custom/path", json={})
    assert r.status == 200, r
    assert r.json()["version"] == 7
    assert daemon.post("/single-api", json={}).status == 404


def test_every_documented_field_is_accepted(daemon, tmp_path):
    """The full RealtimeAPI of SPEC section 3, fields whose behaviour comes
    later included, parses, validates and deploys."""
    text = textwrap.dedent("""\
        - name: full-spec
          kind: RealtimeAPI
          predictor:
            type: python
            path: predictor.py
            config: {version: full, nested: {list: [1, 2, 3]}}
            python_path: .
            env: {GLIA_TEST_VAR: "1"}
            processes_per_replica: 1
            threads_per_process: 2
            log_level: info
            server_side_batching:
              max_batch_size: 8
              batch_interval: 10ms
          compute:
            cpu: 500m
            mem: 1Gi
            gpu: 0
          autoscaling:
            min_replicas: 1
            max_replicas: 3
            init_replicas: 1
            target_replica_concurrency: 2
            max_replica_concurrency: 64
            window: 60s
            downscale_stabilization_period: 5m
            upscale_stabilization_period: 1m
            max_downscale_factor: 0.75
            max_upscale_factor: 1.5
            downscale_tolerance: 0.05
            upscale_tolerance: 0.05
          update_strategy:
            max_surge: 1
            max_unavailable: 0
          networking:
            endpoint: /full-spec
            timeout: 30s
        """)
    proj = write_project(tmp_path, text, {"predictor.py": PREDICTOR})
    res = daemon.cli("deploy", "glia.yaml", cwd=proj)
    assert "full-spec" in res.stdout and "created" in res.stdout
    spec = daemon.get("full-spec")["spec"]
    assert spec["predictor"]["threads_per_process"] == 2
    assert spec["predictor"]["server_side_batching"]["max_batch_size"] == 8
    assert spec["autoscaling"]["max_replicas"] == 3
    assert spec["networking"]["timeout"] == "30000ms"
    assert spec["compute"]["cpu"] == "500m"
    assert spec["compute"]["mem"] == 1024 ** 3


def test_deep_yaml_is_refused_without_stalling_other_apis(daemon, tmp_path):
    """Issue 13, point 7: a 200 KB file nested 100k levels deep was refused
    only after libyaml spent half a minute building it on the daemon's
    event loop, and every API's traffic waited. It is refused while it is
    read, and a request loop against another API is answered throughout.
    Each request has a deadline (10 s, generous for a predictor that
    answers at once) instead of a timing assertion on the deploy."""
    proj = write_project(tmp_path, simple_spec("steady", config={"version": 1}),
                         {"predictor.py": PREDICTOR}, dirname="steady")
    daemon.cli("deploy", "--wait", cwd=proj)
    daemon.wait_ready("steady")
    assert daemon.post("/steady", json={}).status == 200

    statuses, done = [], threading.Event()

    def loop():
        while not done.is_set():
            try:
                statuses.append(daemon.post("/steady", json={}, timeout=10.0).status)
            except OSError as e:  # a timeout included
                statuses.append(repr(e))

    deep = "[" * 100_000 + "]" * 100_000 + "\n"
    path = tmp_path / "deep" / "glia.yaml"
    t = threading.Thread(target=loop)
    t.start()
    try:
        status, body = daemon.mgmt("POST", "/v1/deploy",
                                   {"path": str(path), "content": deep},
                                   timeout=120.0)
        n = len(statuses)
        wait_for(lambda: len(statuses) >= n + 5, timeout=60.0,
                 message="requests after the deploy")
    finally:
        done.set()
        t.join(timeout=60.0)
    assert statuses and all(s == 200 for s in statuses), statuses
    assert status == 400, (status, body)
    text = json.dumps(body)
    assert "glia.yaml:1:74:" in text and "nested more than 72 levels deep" in text, text
    assert [a["name"] for a in apis_of(daemon.cli_json("get"))] == ["steady"]
