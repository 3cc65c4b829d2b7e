"""The Python client (python/glia/client.py) against a real daemon: the
deploy / wait / predict / get / list / logs / refresh / delete cycle over the
Unix socket, the same over TCP with the bearer token (401 without it), and
its errors (invalid spec with file:line:col, unknown API, daemon not
running). The package is imported from the tree, not installed."""
import json
import os
import re
import subprocess
import sys
import threading
import time

import pytest

from conftest import REPO, PREDICTORS, free_port, write_project

sys.path.insert(0, str(REPO / "python"))
import glia  # noqa: E402  (from the tree)

ECHO_PREDICTOR = '''\
import glia


class PythonPredictor:
    def __init__(self, config):
        self.tag = config.get("tag", "none")
        print(f"echo-client: ready with tag {self.tag}", flush=True)

    def predict(self, payload):
        print(f"echo-client: got {payload!r}", flush=True)
        if isinstance(payload, dict) and payload.get("fail"):
            raise ValueError("asked to fail")
        if isinstance(payload, bytes):
            return payload[::-1]
        if isinstance(payload, dict) and payload.get("text"):
            return glia.Response(payload["text"], media_type="text/plain")
        return {"tag": self.tag, "echo": payload, "rid": glia.request_id()}
'''


def echo_spec(name, tag="none", path="predictor.py"):
    return {"name": name, "kind": "RealtimeAPI",
            "predictor": {"type": "python", "path": path,
                          "config": {"tag": tag}}}


def echo_yaml(name, tag="none"):
    return (f"- name: {name}\n"
            f"  kind: RealtimeAPI\n"
            f"  predictor:\n"
            f"    type: python\n"
            f"    path: predictor.py\n"
            f"    config:\n"
            f"      tag: {tag}\n")


def read_until(stream, predicate, timeout=30.0):
    """Lines from a LogStream until predicate(line) holds; the stream is
    closed from a timer thread after timeout seconds, so this never hangs.
    Returns (lines read, whether a line matched)."""
    timer = threading.Timer(timeout, stream.close)
    timer.start()
    seen = []
    try:
        for line in stream:
            seen.append(line)
            if predicate(line):
                return seen, True
        return seen, False
    finally:
        timer.cancel()


def test_full_cycle_over_the_unix_socket(daemon, tmp_path):
    c = glia.client(home=daemon.home)
    assert c.info()["version"]
    assert c.list_apis() == []

    # -- deploy a YAML file (given as a path), waiting until it is live
    proj = write_project(tmp_path, echo_yaml("fromfile", "file"),
                         {"predictor.py": ECHO_PREDICTOR}, dirname="fromfile")
    res = c.deploy(str(proj / "glia.yaml"), wait=True, timeout=60)
    assert [(r["name"], r["result"], r["endpoint"]) for r in res] == [
        ("fromfile", "created", "/fromfile")]
    assert c.get_api("fromfile")["status"] == "live"
    # the same file again: unchanged; a directory stands for its glia.yaml
    assert c.deploy(proj)[0]["result"] == "unchanged"

    # -- deploy a dict, the predictor file in project_dir
    pdir = tmp_path / "fromdict"
    pdir.mkdir()
    (pdir / "predictor.py").write_text(ECHO_PREDICTOR)
    res = c.deploy(echo_spec("fromdict", "dict"), wait=True, timeout=60,
                   project_dir=pdir)
    assert [(r["name"], r["result"]) for r in res] == [("fromdict", "created")]
    detail = c.get_api("fromdict")
    assert detail["status"] == "live"
    assert detail["project_dir"] == str(pdir.resolve())
    assert detail["replicas"]["ready"] >= 1

    # -- predict: JSON, text and bytes both ways; headers pass through
    out = c.predict("fromdict", {"x": [1, 2, 3]},
                    headers={"X-Request-ID": "client-rid-1"})
    assert out == {"tag": "dict", "echo": {"x": [1, 2, 3]},
                   "rid": "client-rid-1"}
    assert c.predict("fromfile", "hi")["echo"] == "hi"
    assert c.predict("fromfile", b"\x00\x01\x02") == b"\x02\x01\x00"
    assert c.predict("fromfile", {"text": "plain answer"}) == "plain answer"
    with pytest.raises(glia.GliaError) as e:
        c.predict("fromfile", {"fail": True})
    assert e.value.status == 500
    assert "asked to fail" in str(e.value)
    assert e.value.request_id

    # -- get / list
    names = [a["name"] for a in c.list_apis()]
    assert names == ["fromdict", "fromfile"]
    detail = c.get_api("fromfile")
    assert detail["url"].endswith("/fromfile")
    assert detail["requests"]["total"] >= 4
    replica_id = detail["replica_list"][0]["id"]

    # -- logs as text: the predictor's prints, each line prefixed by the
    # replica id
    def logs_have(text):
        return text in c.logs("fromfile")
    daemon.wait_for(lambda: logs_have("echo-client: got 'hi'"), timeout=20,
                    message="the predictor's print in the logs")
    text = c.logs("fromfile", replica=replica_id)
    assert "echo-client: ready with tag file" in text
    assert all(line.startswith(replica_id) for line in text.splitlines())
    last = c.logs("fromfile", tail=1)
    assert len(last.splitlines()) == 1

    # -- logs followed: lines arrive while the stream stays open
    stream = c.logs("fromfile", follow=True, tail=0)
    try:
        c.predict("fromfile", {"marker": "follow-marker-1"})
        seen, found = read_until(stream, lambda l: "follow-marker-1" in l)
        assert found, f"marker never streamed; saw {seen!r}"
        assert isinstance(seen[-1], str) and not seen[-1].endswith("\n")
        # a second line on the same open stream
        c.predict("fromfile", {"marker": "follow-marker-2"})
        seen, found = read_until(stream, lambda l: "follow-marker-2" in l)
        assert found, f"second marker never streamed; saw {seen!r}"
    finally:
        stream.close()
    assert stream.closed
    assert list(stream) == []

    # close() from another thread ends a blocked iteration
    stream = c.logs("fromfile", follow=True, tail=0)
    threading.Timer(0.5, stream.close).start()
    t0 = time.monotonic()
    assert list(stream) == []
    assert time.monotonic() - t0 < 10

    # -- refresh: new replicas, then live again
    old_ids = {r["id"] for r in c.get_api("fromfile")["replica_list"]}
    assert c.refresh("fromfile")["result"] == "refreshing"

    def replaced():
        c.wait("fromfile", timeout=60)
        d = c.get_api("fromfile")
        ids = {r["id"] for r in d["replica_list"] if r["state"] == "ready"}
        return ids and not (ids & old_ids)
    daemon.wait_for(replaced, timeout=60, message="refreshed replicas")
    assert c.predict("fromfile", 7)["echo"] == 7

    # -- delete
    assert c.delete("fromfile")["result"] == "deleted"
    assert c.delete("fromdict", force=True)["result"] == "deleted"

    def gone():
        return c.list_apis() == []
    daemon.wait_for(gone, timeout=60, message="both APIs deleted")
    with pytest.raises(glia.GliaError) as e:
        c.get_api("fromfile")
    assert e.value.status == 404


def test_unknown_api_is_a_404(daemon):
    c = glia.client(home=daemon.home)
    for call in (lambda: c.get_api("nope"), lambda: c.delete("nope"),
                 lambda: c.refresh("nope"), lambda: c.logs("nope"),
                 lambda: c.logs("nope", follow=True),
                 lambda: c.predict("nope", {})):
        with pytest.raises(glia.GliaError) as e:
            call()
        assert e.value.status == 404
        assert "nope" in e.value.message


def test_invalid_specs_name_file_line_and_column(daemon, tmp_path):
    c = glia.client(home=daemon.home)
    # a field error in a YAML file
    proj = write_project(tmp_path, echo_yaml("bad", "x") +
                         "    threads_per_process: lots\n",
                         {"predictor.py": ECHO_PREDICTOR}, dirname="bad",
                         yaml_name="api.yaml")
    with pytest.raises(glia.GliaError) as e:
        c.deploy(proj / "api.yaml")
    assert e.value.status == 400
    assert re.match(r"api\.yaml:8:\d+: predictor\.threads_per_process",
                    e.value.message), e.value.message

    # a YAML syntax error
    (proj / "broken.yaml").write_text("- name: [unclosed\n  kind: x\n")
    with pytest.raises(glia.GliaError) as e:
        c.deploy(proj / "broken.yaml")
    assert e.value.status == 400
    assert re.match(r"broken\.yaml:\d+:\d+: ", e.value.message), \
        e.value.message

    # a dict spec: the place is in the JSON sent as glia.yaml
    spec = echo_spec("bad2")
    spec["predictor"]["processes_per_replica"] = "many"
    with pytest.raises(glia.GliaError) as e:
        c.deploy(spec, project_dir=proj)
    assert e.value.status == 400
    assert re.match(r"glia\.yaml:\d+:\d+: predictor\.processes_per_replica",
                    e.value.message), e.value.message

    # a predictor file that is not in project_dir
    with pytest.raises(glia.GliaError) as e:
        c.deploy(echo_spec("bad3", path="missing.py"), project_dir=proj)
    assert e.value.status == 400 and "missing.py" in e.value.message

    # a file that does not exist: no call made
    with pytest.raises(glia.GliaError) as e:
        c.deploy(tmp_path / "nothing-here.yaml")
    assert e.value.status is None and "nothing-here.yaml" in e.value.message
    assert c.list_apis() == []


def test_wait_reports_a_predictor_that_fails_to_start(daemon, tmp_path):
    c = glia.client(home=daemon.home)
    pdir = tmp_path / "fails"
    pdir.mkdir()
    (pdir / "predictor.py").write_text(
        (PREDICTORS / "init_fails" / "predictor.py").read_text())
    spec = {"name": "fails", "kind": "RealtimeAPI",
            "predictor": {"type": "python", "path": "predictor.py"}}
    with pytest.raises(glia.GliaError) as e:
        c.deploy(spec, project_dir=pdir, wait=True, timeout=60)
    assert "fails" in e.value.message
    assert "init-failure-marker" in e.value.message
    c.delete("fails")


def test_over_tcp_with_the_token(daemon_factory, tmp_path):
    port = free_port()
    d = daemon_factory("--admin-listen", f"127.0.0.1:{port}")
    token = (d.home / "token").read_text().strip()
    url = f"http://127.0.0.1:{port}"

    c = glia.client(url=url, token=token)
    assert c.info()["version"]
    pdir = tmp_path / "remote"
    pdir.mkdir()
    (pdir / "predictor.py").write_text(ECHO_PREDICTOR)
    res = c.deploy(echo_spec("remote", "tcp"), project_dir=str(pdir),
                   wait=True, timeout=60)
    assert res[0]["result"] == "created"
    assert [a["name"] for a in c.list_apis()] == ["remote"]
    assert c.predict("remote", {"a": 1})["tag"] == "tcp"
    d.wait_for(lambda: "echo-client: got" in c.logs("remote"), timeout=20,
               message="logs over TCP")
    stream = c.logs("remote", follow=True, tail=0)
    try:
        c.predict("remote", {"marker": "tcp-marker"})
        seen, found = read_until(stream, lambda l: "tcp-marker" in l)
        assert found, seen
    finally:
        stream.close()

    for bad in (glia.client(url=url), glia.client(url=url, token="wrong"),
                glia.client(url=url, token=token + "x")):
        for call in (bad.list_apis, lambda: bad.get_api("remote"),
                     lambda: bad.deploy(echo_spec("x"), project_dir=pdir),
                     lambda: bad.logs("remote", follow=True)):
            with pytest.raises(glia.GliaError) as e:
                call()
            assert e.value.status == 401, e.value
            assert "token" in e.value.message

    # the local socket needs no token
    assert glia.client(home=d.home).get_api("remote")["status"] == "live"
    assert c.delete("remote")["result"] == "deleted"


def test_daemon_not_running(daemon_factory, tmp_path, monkeypatch):
    # no daemon ever started in this home
    c = glia.client(home=tmp_path / "nohome")
    with pytest.raises(glia.GliaError) as e:
        c.list_apis()
    assert "not reachable" in e.value.message
    assert str(tmp_path / "nohome" / "glia.sock") in e.value.message
    assert e.value.status is None

    # GLIA_HOME from the environment, as for the CLI
    monkeypatch.setenv("GLIA_HOME", str(tmp_path / "envhome"))
    c = glia.client()
    assert c.socket_path == str(tmp_path / "envhome" / "glia.sock")
    with pytest.raises(glia.GliaError, match="not reachable"):
        c.info()

    # a daemon that was running and stopped
    d = daemon_factory()
    c = glia.client(home=d.home)
    assert c.list_apis() == []
    d.stop()
    with pytest.raises(glia.GliaError, match="not reachable"):
        c.list_apis()

    # TCP: nothing listening
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(glia.GliaError) as e:
        glia.client(url=url, token="t").get_api("x")
    assert "not reachable" in e.value.message and url in e.value.message


def test_jobs_are_not_supported_yet(tmp_path):
    c = glia.client(home=tmp_path)  # never contacted
    for call in (lambda: c.submit_job("b", {"item_list": {}}),
                 lambda: c.get_job("b", "id"), lambda: c.stop_job("b", "id")):
        with pytest.raises(glia.GliaError, match="jobs are not supported yet"):
            call()


def test_import_glia_stays_cheap():
    """`import glia` loads neither the client nor http.client; the client
    names load on first use, and `import glia.client` does not break
    `glia.client(...)`."""
    code = (
        "import sys, glia\n"
        "assert 'glia.client' not in sys.modules\n"
        "assert 'http.client' not in sys.modules\n"
        "r = glia.Response({'a': 1}, status=201)\n"
        "assert r.status == 201 and glia.request_id() is None\n"
        "import glia.client\n"
        "c = glia.client(home='/nonexistent')\n"
        "assert type(c).__name__ == 'Client'\n"
        "from glia import client, GliaError, Client\n"
        "assert isinstance(client(url='http://127.0.0.1:1'), Client)\n"
        "assert issubclass(GliaError, Exception)\n"
        "print('ok')\n")
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    res = subprocess.run([sys.executable, "-c", code], env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"


def test_deploy_arguments_are_checked(tmp_path):
    c = glia.client(home=tmp_path)
    with pytest.raises(TypeError):
        c.deploy(42)
    with pytest.raises(TypeError):
        c.deploy([{"name": "a"}, "not a dict"])
    with pytest.raises(ValueError):
        c.deploy(str(tmp_path / "glia.yaml"), project_dir=tmp_path)
    with pytest.raises(ValueError):
        c.logs("a", format="xml")
    # JSON of a dict spec: what is sent
    body = c._spec_body({"name": "a", "kind": "RealtimeAPI",
                         "predictor": {"type": "python",
                                       "path": tmp_path / "p.py"}},
                        tmp_path)
    assert body["path"] == str(tmp_path / "glia.yaml")
    assert json.loads(body["content"])[0]["predictor"]["path"] == \
        str(tmp_path / "p.py")
