"""`import cortex` (issue 14, item 7): Cortex's Python client over glia's,
against real daemons. create_api with a predictor class defined here (as
Cortex's create_api(api_spec, predictor=Class, requirements=...)), Cortex's
result shapes (get_api's spec/status/endpoint, a full URL that answers),
list_apis, patch, refresh, delete_api, every version's deploy form, named
envs (a second daemon with --admin-listen), and the job functions' error.
The package is imported from the tree (python/), as PYTHONPATH=python."""
import json
import os
import subprocess
import sys
import urllib.request
import warnings

import pytest

from conftest import REPO, free_port, write_project

sys.path.insert(0, str(REPO / "python"))
import cortex  # noqa: E402  (from the tree)


class Doubler:
    """A Cortex-style predictor defined in the test module: uses json (a
    module-level import) and its config."""

    def __init__(self, config):
        self.factor = config.get("factor", 2)

    def predict(self, payload):
        return {"doubled": payload["x"] * self.factor,
                "as_json": json.dumps(payload, sort_keys=True)}


def post(url, payload):
    req = urllib.request.Request(url, data=json.dumps(payload).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status, json.loads(r.read())


@pytest.fixture
def cx(daemon, monkeypatch):
    monkeypatch.setenv("GLIA_HOME", str(daemon.home))
    return cortex.client()


def test_create_api_with_a_class_and_cortex_shapes(cx, daemon):
    spec = {"name": "doubler", "kind": "RealtimeAPI",
            "predictor": {"type": "python", "config": {"factor": 3}}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        api = cx.create_api(spec, predictor=Doubler,
                            requirements=["numpy==1.0"], wait=True)
    assert any("requirements" in str(w.message) and "numpy==1.0" in
               str(w.message) for w in caught), [str(w.message)
                                                 for w in caught]
    # the project written for the class, as Cortex's deployments/<name>
    proj = daemon.home / "deployments" / "doubler"
    assert "class Doubler" in (proj / "predictor.py").read_text()
    assert (proj / "requirements.txt").read_text() == "numpy==1.0\n"

    # Cortex's APIResponse
    assert api["spec"]["name"] == "doubler"
    assert api["spec"]["kind"] == "RealtimeAPI"
    assert api["spec"]["predictor"]["config"] == {"factor": 3}
    assert api["spec"]["submitted_api_spec"]["name"] == "doubler"
    assert api["status"]["status_code"] == "status_live"
    counts = api["status"]["replica_counts"]
    assert counts["requested"] >= 1
    assert counts["updated"]["ready"] == counts["requested"]
    assert set(counts["stale"]) >= {"ready", "failed", "pending"}
    assert api["endpoint"].startswith("http://")
    assert api["endpoint"].endswith("/doubler")
    status, body = post(api["endpoint"], {"x": 5})
    assert status == 200
    assert body == {"doubled": 15, "as_json": '{"x": 5}'}
    daemon.wait_for(lambda: cx.get_api("doubler")["metrics"][
        "network_stats"]["code_2xx"] >= 1)

    # without wait: Cortex's DeployResult
    res = cx.create_api(spec, predictor=Doubler)
    assert set(res) == {"api", "message", "error"}
    assert res["error"] is None and "unchanged" in res["message"]
    assert res["api"]["spec"]["name"] == "doubler"


def test_list_patch_refresh_delete_and_errors(cx, daemon):
    spec = {"name": "patched", "kind": "RealtimeAPI",
            "predictor": {"type": "python", "config": {"factor": 2}}}
    with pytest.raises(cortex.CortexException) as e:
        cx.patch(spec)  # not deployed yet: Cortex's patch refuses
    assert "not deployed" in str(e.value)
    assert cx.list_apis() == []

    cx.create_api(spec, predictor=Doubler, wait=True)
    assert [a["spec"]["name"] for a in cx.list_apis()] == ["patched"]

    # patch keeps the deployed project (predictor.py) and changes config
    new = dict(spec, predictor={"type": "python", "path": "predictor.py",
                                "config": {"factor": 10}})
    res = cx.patch(new)
    assert "updated" in res["message"]
    daemon.wait_ready("patched")
    assert post(cx.get_api("patched")["endpoint"], {"x": 1})[1][
        "doubled"] == 10

    assert cx.refresh("patched") is None
    daemon.wait_ready("patched")
    assert cx.delete_api("patched", keep_cache=True) is None
    daemon.wait_for(lambda: cx.list_apis() == [])
    with pytest.raises(cortex.CortexException) as e:
        cx.get_api("patched")
    assert e.value.status == 404

    for call in (lambda: cx.submit_job("x", {}), lambda: cx.get_job("x", "1"),
                 lambda: cx.stop_job("x", "1"),
                 lambda: cx.create_api({"name": "b", "kind": "BatchAPI"})):
        with pytest.raises(cortex.CortexException) as e:
            call()
        assert "BatchAPI support" in str(e.value)


def test_deploy_forms_of_each_version(cx, daemon, tmp_path):
    pred = ("class PythonPredictor:\n"
            "    def __init__(self, config):\n"
            "        self.v = config['v']\n"
            "    def predict(self, payload):\n"
            "        return {'v': self.v}\n")
    yaml = ("- name: fromfile\n  kind: RealtimeAPI\n  predictor:\n"
            "    type: python\n    path: predictor.py\n    config: {v: 20}\n")
    proj = write_project(tmp_path, yaml, {"predictor.py": pred},
                         yaml_name="cortex.yaml")
    # 0.20-0.21: deploy(config_file, force, wait) -> a list
    res = cx.deploy(str(proj / "cortex.yaml"), False, True)
    assert isinstance(res, list) and res[0]["api"]["spec"]["name"] == \
        "fromfile"
    assert post(res[0]["api"]["endpoint"], {})[1] == {"v": 20}
    # 0.35: deploy(api_spec, project_dir, force, wait)
    spec = {"name": "fromdir", "kind": "RealtimeAPI",
            "predictor": {"type": "python", "path": "predictor.py",
                          "config": {"v": 35}}}
    api = cx.deploy(spec, str(proj), True, True)
    assert post(api["endpoint"], {})[1] == {"v": 35}
    # 0.23: deploy(api_spec, predictor=Class, pip_dependencies=[])
    res = cx.deploy({"name": "fromclass", "predictor": {"type": "python"}},
                    predictor=Doubler, pip_dependencies=[], wait=True)
    assert post(res["endpoint"], {"x": 2})[1]["doubled"] == 4
    # 0.36+: deploy_from_file
    assert cx.deploy_from_file(str(proj / "cortex.yaml"))["api"]["spec"][
        "name"] == "fromfile"
    for name in ("fromfile", "fromdir", "fromclass"):
        cx.delete(name)
    daemon.wait_for(lambda: cx.list_apis() == [])


def test_named_env_is_a_remote_daemon(daemon_factory, tmp_path, monkeypatch):
    port = free_port()
    remote = daemon_factory("--admin-listen", f"127.0.0.1:{port}")
    token = (remote.home / "token").read_text().strip()
    local = daemon_factory(start=False)
    local.cli("env", "add", "far", "--url", f"http://127.0.0.1:{port}",
              "--token", token)
    monkeypatch.setenv("GLIA_HOME", str(local.home))

    envs = cortex.env_list()
    assert envs["default_environment"] == "local"
    far = [e for e in envs["environments"] if e["name"] == "far"]
    assert far and "token" not in far[0]

    cx = cortex.client("far")
    with pytest.raises(cortex.CortexException):
        cortex.client("nowhere")
    spec = {"name": "remote-doubler", "kind": "RealtimeAPI",
            "predictor": {"type": "python", "config": {"factor": 4}}}
    api = cx.create_api(spec, predictor=Doubler, wait=True)
    assert post(api["endpoint"], {"x": 2})[1]["doubled"] == 8
    assert [a["name"] for a in remote.list_apis()] == ["remote-doubler"]
    # an env kept with --gateway: endpoints are that address's
    local.cli("env", "add", "gw", "--url", f"http://127.0.0.1:{port}",
              "--token", token, "--gateway", f"http://localhost:{remote.port}")
    endpoint = cortex.client("gw").get_api("remote-doubler")["endpoint"]
    assert endpoint == f"http://localhost:{remote.port}/remote-doubler"
    assert post(endpoint, {"x": 1})[1]["doubled"] == 4
    # `glia env default gw`: cortex.client() with no name is that env's
    local.cli("env", "default", "gw")
    assert cortex.env_list()["default_environment"] == "gw"
    assert cortex.client().env == "gw"
    assert cortex.client().get_api("remote-doubler")["endpoint"] == endpoint
    assert cortex.client("local").env == "local"
    assert cortex.local_client().env == "local"
    cortex.env_delete("gw")  # the default: local again
    assert cortex.env_list()["default_environment"] == "local"
    assert cortex.client().env == "local"
    assert "_default" not in json.loads((local.home / "envs.json")
                                        .read_text())
    cx.delete_api("remote-doubler")
    remote.wait_for(lambda: remote.list_apis() == [])


def test_import_cortex_from_a_plain_python(daemon):
    # what a user's script does: PYTHONPATH holds python/ (make install
    # puts a glia.pth there instead)
    env = dict(daemon.env, PYTHONPATH=str(REPO / "python"))
    out = subprocess.run(
        ["/usr/bin/python3", "-c",
         "import cortex; c = cortex.client(); print(repr(c), c.list_apis())"],
        env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "env='local'" in out.stdout and "[]" in out.stdout


def test_make_install_makes_cortex_importable(tmp_path):
    # make install writes glia.pth into PREFIX's site directory: a Python
    # reading that directory imports glia and cortex from share/glia/python
    from conftest import GLIA_BIN
    prefix = tmp_path / "prefix"
    build = GLIA_BIN.parent
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PYTHONPATH")}
    res = subprocess.run(["make", "--no-print-directory", "-C", str(REPO),
                          f"BUILD={build}", "-o", str(build / "glia"),
                          "install", f"PREFIX={prefix}"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    pth = list(prefix.glob("lib/python3.*/dist-packages/glia.pth"))
    assert len(pth) == 1
    assert pth[0].read_text().strip() == str(prefix / "share/glia/python")
    code = ("import site, sys; site.addsitedir(sys.argv[1]); "
            "import cortex, glia; print(cortex.__file__); "
            "print(cortex.client)")
    out = subprocess.run(["/usr/bin/python3", "-c", code, str(pth[0].parent)],
                         cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(str(prefix / "share/glia/python/cortex"))
