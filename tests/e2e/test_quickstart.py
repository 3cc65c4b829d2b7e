"""The quick start (issue 2, points 1 and 2): deploy examples/iris-classifier,
predict through the CLI and the gateway, inspect it with get/describe/logs,
delete it; `glia version`; the CLI's exit codes; `-o json` shapes."""
import json
import os
import re
import stat

import pytest

from conftest import EXAMPLES, apis_of, wait_for

IRIS = EXAMPLES / "iris-classifier"
SETOSA = {"sepal_length": 5.2, "sepal_width": 3.6, "petal_length": 1.4, "petal_width": 0.3}
VERSICOLOR = {"sepal_length": 6.4, "sepal_width": 3.2, "petal_length": 4.5, "petal_width": 1.5}
VIRGINICA = {"sepal_length": 6.3, "sepal_width": 3.3, "petal_length": 6.0, "petal_width": 2.5}


@pytest.fixture(scope="module")
def iris(module_daemon_factory):
    """One daemon with the iris example deployed (`glia deploy --wait` from
    the example directory, no FILE argument), shared by the read-only tests
    of this module."""
    d = module_daemon_factory()
    res = d.cli("deploy", "--wait", cwd=IRIS)
    d.deploy_result = res
    d.wait_ready("iris-classifier")
    return d


@pytest.fixture(autouse=True)
def _print_logs_on_failure(request):
    yield
    if "iris" in request.fixturenames:
        d = request.getfixturevalue("iris")
        print(f"--- daemon log (tail) ---\n{d.log_tail(80)}")


def test_deploy_iris_example_reports_created_and_becomes_live(iris):
    out = iris.deploy_result.stdout
    assert "iris-classifier" in out and "created" in out, out
    detail = iris.get("iris-classifier")
    assert detail["status"] == "live"
    assert detail["replicas"]["ready"] == detail["replicas"]["requested"] == 1


def test_glia_predict_with_file_payload_prints_the_class_name(iris):
    res = iris.cli("predict", "iris-classifier", "@" + str(IRIS / "sample.json"))
    assert res.stdout.strip() == "setosa"


def test_glia_predict_with_inline_json_and_stdin(iris):
    res = iris.cli("predict", "iris-classifier", json.dumps(VIRGINICA))
    assert res.stdout.strip() == "virginica"
    res = iris.cli("predict", "iris-classifier", "-", input=json.dumps(VERSICOLOR))
    assert res.stdout.strip() == "versicolor"


def test_http_predict_through_gateway_returns_text_class_name(iris):
    for payload, label in ((SETOSA, "setosa"), (VERSICOLOR, "versicolor"),
                           (VIRGINICA, "virginica")):
        r = iris.post("/iris-classifier", json=payload)
        assert r.status == 200, r
        assert r.body.decode() == label
        assert r.content_type == "text/plain"
        assert r.headers.get("X-Request-ID")


def test_http_keep_alive_connection_serves_many_requests(iris):
    s = iris.session()
    try:
        for _ in range(20):
            r = s.post("/iris-classifier", json=SETOSA)
            assert r.status == 200 and r.body == b"setosa", r
        assert s.connects == 1, "the gateway closed a keep-alive connection"
    finally:
        s.close()


def test_get_table_lists_the_api_as_live(iris):
    res = iris.cli("get")
    lines = [l for l in res.stdout.splitlines() if "iris-classifier" in l]
    assert lines, res.stdout
    assert "live" in lines[0]
    assert "RealtimeAPI" in lines[0] or "realtime" in lines[0].lower()


def test_get_one_api_shows_its_endpoint_url(iris):
    res = iris.cli("get", "iris-classifier")
    assert iris.url("/iris-classifier") in res.stdout, res.stdout
    assert "live" in res.stdout


def test_get_json_lists_summaries_with_documented_fields(iris):
    iris.post("/iris-classifier", json=SETOSA)
    apis = apis_of(iris.cli_json("get"))
    assert [a["name"] for a in apis] == ["iris-classifier"]
    a = apis[0]
    assert a["kind"] == "RealtimeAPI"
    assert a["status"] == "live"
    assert a["endpoint"] == "/iris-classifier"
    assert a["url"] == iris.url("/iris-classifier")
    for key in ("requested", "ready", "up_to_date"):
        assert isinstance(a["replicas"][key], int), a
    for key in ("total", "2xx", "4xx", "5xx"):
        assert isinstance(a["requests"][key], int), a
    assert a["requests"]["total"] >= 1 and a["requests"]["2xx"] >= 1
    assert "avg_latency_ms" in a and "last_update" in a


def test_get_json_one_api_has_spec_and_replica_list(iris):
    detail = iris.get("iris-classifier")
    assert detail["name"] == "iris-classifier"
    assert detail["spec"]["predictor"]["type"] == "python"
    assert detail["spec"]["predictor"]["config"] == {"model": "logistic_regression"}
    assert detail["spec"]["networking"]["endpoint"] == "/iris-classifier"
    assert os.path.realpath(detail["project_dir"]) == os.path.realpath(IRIS)
    reps = detail["replica_list"]
    assert len(reps) == 1
    r = reps[0]
    assert r["state"] == "ready"
    assert r["restarts"] == 0
    assert len(r["pids"]) == 1
    assert r["up_to_date"] is True
    assert r["id"].startswith("iris-classifier")


def test_replica_is_a_glia_worker_process(iris):
    (pid,) = iris.replica_pids("iris-classifier")
    assert pid in iris.worker_pids()


def test_request_counters_count_2xx_and_4xx(iris):
    before = iris.get("iris-classifier")["requests"]
    assert iris.post("/iris-classifier", json=SETOSA).status == 200
    assert iris.post("/iris-classifier", data=b"{not json",
                     headers={"Content-Type": "application/json"}).status == 400

    def counted():
        now = iris.get("iris-classifier")["requests"]
        return (now["2xx"] >= before["2xx"] + 1 and now["4xx"] >= before["4xx"] + 1
                and now["total"] >= before["total"] + 2)

    wait_for(counted, timeout=10, message="request counters to move")


def test_describe_shows_replica_id_pid_and_state(iris):
    (pid,) = iris.replica_pids("iris-classifier")
    rid = iris.replicas("iris-classifier")[0]["id"]
    res = iris.cli("describe", "iris-classifier")
    assert rid in res.stdout and str(pid) in res.stdout and "ready" in res.stdout


def test_describe_json_lists_replicas(iris):
    out = iris.cli_json("describe", "iris-classifier")
    reps = out if isinstance(out, list) else (out.get("replica_list") or out.get("replicas"))
    assert isinstance(reps, list) and len(reps) == 1, out
    assert reps[0]["state"] == "ready"
    assert "restarts" in reps[0] and "in_flight" in reps[0]


def test_logs_show_predictor_output_prefixed_by_replica_id(iris):
    rid = iris.replicas("iris-classifier")[0]["id"]

    def trained_line():
        res = iris.cli("logs", "iris-classifier")
        lines = [l for l in res.stdout.splitlines() if "training accuracy" in l]
        return lines

    lines = wait_for(trained_line, timeout=15, message="the predictor's output in glia logs")
    assert lines[0].startswith(rid), lines


def test_logs_tail_limits_the_number_of_lines(iris):
    res = iris.cli("logs", "iris-classifier", "--tail", "1")
    assert len(res.stdout.splitlines()) <= 1


def test_management_api_over_unix_socket(iris):
    mode = stat.S_IMODE(os.stat(iris.sock_path).st_mode)
    assert mode & 0o077 == 0, oct(mode)
    status, info = iris.mgmt("GET", "/v1/info")
    assert status == 200
    assert os.path.realpath(info["home"]) == os.path.realpath(iris.home)
    assert info["pid"] == iris.pid
    assert info["gateway"] == iris.url()
    status, body = iris.mgmt("GET", "/v1/apis")
    assert status == 200
    assert [a["name"] for a in apis_of(body)] == ["iris-classifier"]
    status, body = iris.mgmt("GET", "/v1/apis/no-such-api")
    assert status == 404 and "error" in body


def test_deploy_json_output(daemon):
    out = daemon.cli_json("deploy", str(IRIS / "glia.yaml"))
    apis = apis_of(out)
    assert apis[0]["name"] == "iris-classifier"
    assert apis[0]["result"] == "created"
    assert apis[0]["endpoint"] == "/iris-classifier"


def test_delete_removes_the_api_and_the_gateway_answers_404_json(daemon):
    daemon.cli("deploy", str(IRIS / "glia.yaml"), "--wait")
    daemon.wait_ready("iris-classifier")
    pids = daemon.replica_pids("iris-classifier")
    assert daemon.post("/iris-classifier", json=SETOSA).status == 200

    res = daemon.cli("delete", "iris-classifier")
    assert "iris-classifier" in res.stdout

    r = daemon.post("/iris-classifier", json=SETOSA)
    assert r.status == 404, r
    assert r.content_type == "application/json"
    assert "error" in r.json()
    assert r.headers.get("X-Request-ID")

    assert daemon.cli("get", "iris-classifier", check=False).returncode == 1
    assert daemon.list_apis() == []
    wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in pids),
             timeout=30, message="the deleted API's workers to exit")


def test_version_prints_a_version_number(daemon):
    res = daemon.cli("version")
    assert re.search(r"\d+\.\d+\.\d+", res.stdout), res.stdout


def test_version_works_without_a_daemon(tmp_path, glia_bin):
    import subprocess
    env = dict(os.environ, GLIA_HOME=str(tmp_path / "nohome"))
    res = subprocess.run([str(glia_bin), "version"], capture_output=True, text=True,
                         env=env, timeout=30)
    assert res.returncode == 0 and re.search(r"\d+\.\d+\.\d+", res.stdout)


@pytest.mark.parametrize("args", [
    [],
    ["no-such-command"],
    ["get", "--no-such-flag"],
    ["describe"],
    ["logs"],
    ["delete"],
    ["predict"],
    ["deploy", "a.yaml", "b.yaml"],
    ["logs", "x", "--tail", "not-a-number"],
])
def test_usage_errors_exit_2(daemon, args):
    res = daemon.cli(*args, check=False)
    assert res.returncode == 2, (args, res.returncode, res.stdout, res.stderr)
    assert res.stderr.strip(), "a usage error says what is wrong on stderr"


@pytest.mark.parametrize("args", [
    ["get", "no-such-api"],
    ["describe", "no-such-api"],
    ["logs", "no-such-api"],
    ["delete", "no-such-api"],
    ["predict", "no-such-api", "{}"],
])
def test_unknown_api_exits_1_naming_it(daemon, args):
    res = daemon.cli(*args, check=False)
    assert res.returncode == 1, (args, res.returncode, res.stdout, res.stderr)
    assert "no-such-api" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr


@pytest.mark.parametrize("args", [["get"], ["deploy", str(IRIS / "glia.yaml")],
                                  ["predict", "iris-classifier", "{}"]])
def test_daemon_not_running_exits_1(daemon_factory, args):
    d = daemon_factory(start=False)  # a home with no daemon in it
    res = d.cli(*args, check=False, timeout=30)
    assert res.returncode == 1, (args, res.returncode, res.stdout, res.stderr)
    assert res.stderr.strip()
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
