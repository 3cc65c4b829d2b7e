"""The Open Inference Protocol's model-repository extension (issue 7,
docs/protocols.md "Model repository") over a multi-model API (issue 6):
POST /v2/repository/index lists every API and every <api>.<model> with its
latest version and state; /v2/repository/models/<api>.<model>/unload makes
every worker drop the model and answer 503 for it until .../load.

The models are scikit-learn linear regressions trained here, one per
version, so an answer shows which model and version served it.
"""
import pickle
import shutil
import subprocess
import textwrap

import pytest
from sklearn.linear_model import LinearRegression

from conftest import EXAMPLES, write_project

PREDICTOR = textwrap.dedent("""\
    import os
    import pickle

    import numpy as np


    class PythonPredictor:
        def __init__(self, config, python_client):
            self.client = python_client

        def load_model(self, model_path):
            with open(os.path.join(model_path, "model.pkl"), "rb") as f:
                return pickle.load(f)

        def predict(self, payload, query_params):
            model = self.client.get_model(query_params.get("model"),
                                          query_params.get("version",
                                                           "latest"))
            x = np.asarray(payload["x"], dtype=np.float64).reshape(-1, 1)
            return {"y": model.predict(x).astype(np.float32)}
    """)


def _model(slope):
    """y = slope * x, fitted on two points."""
    return pickle.dumps(LinearRegression().fit([[0.0], [1.0]], [0.0, slope]))


@pytest.fixture(scope="module")
def repo(module_daemon_factory, tmp_path_factory):
    d = module_daemon_factory()
    files = {
        "predictor.py": PREDICTOR,
        "models/a/1/model.pkl": _model(1.0),
        "models/a/2/model.pkl": _model(2.0),
        "models/b/model.pkl": _model(10.0),
    }
    yaml_text = textwrap.dedent("""\
        - name: repo
          kind: RealtimeAPI
          predictor:
            type: python
            path: predictor.py
            models: {dir: models, cache_size: 2, disk_cache_size: 2}
        """)
    proj = write_project(tmp_path_factory.mktemp("repo"), yaml_text, files)
    d.deploy("glia.yaml", cwd=proj)
    return d


def _infer(d, model, version=None):
    path = f"/v2/models/{model}"
    if version:
        path += f"/versions/{version}"
    body = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32",
                        "data": [3.0]}]}
    return d.request("POST", path + "/infer", json=body)


def _y(resp):
    assert resp.status == 200, resp
    return resp.json()["outputs"][0]["data"][0]


def _index(d, body=None):
    resp = d.request("POST", "/v2/repository/index", json=body)
    assert resp.status == 200, resp
    return {m["name"]: m for m in resp.json()}


def test_server_metadata_names_the_extension(repo):
    assert "model_repository" in repo.http_get("/v2").json()["extensions"]


def test_index_lists_apis_and_models_with_latest_versions(repo):
    index = _index(repo)
    assert index["repo"]["state"] == "READY"
    assert index["repo.a"] == {"name": "repo.a", "version": "2",
                               "state": "READY", "reason": ""}
    assert index["repo.b"]["version"] == ""  # not versioned
    assert index["repo.b"]["state"] == "READY"


def test_infer_reaches_model_and_version(repo):
    assert _y(_infer(repo, "repo.a")) == pytest.approx(6.0)
    assert _y(_infer(repo, "repo.a", "1")) == pytest.approx(3.0)
    assert _y(_infer(repo, "repo.b")) == pytest.approx(30.0)
    missing = _infer(repo, "repo.zz")
    assert missing.status == 404
    assert "available: a, b" in missing.json()["error"]


def test_unload_then_load(repo):
    assert _y(_infer(repo, "repo.a")) == pytest.approx(6.0)
    resp = repo.request("POST", "/v2/repository/models/repo.a/unload")
    assert resp.status == 200 and resp.json() == {}
    repo.wait_for(lambda: _infer(repo, "repo.a").status == 503,
                  message="repo.a still served after unload")
    err = _infer(repo, "repo.a").json()["error"]
    assert "unloaded" in err
    assert _y(_infer(repo, "repo.b")) == pytest.approx(30.0)  # untouched
    index = _index(repo)
    assert index["repo.a"]["state"] == "UNAVAILABLE"
    assert index["repo.a"]["reason"] == "unloaded"
    assert "repo.a" not in _index(repo, {"ready": True})
    assert "repo.b" in _index(repo, {"ready": True})

    resp = repo.request("POST", "/v2/repository/models/repo.a/load")
    assert resp.status == 200
    repo.wait_for(lambda: _infer(repo, "repo.a").status == 200,
                  message="repo.a not served again after load")
    assert _y(_infer(repo, "repo.a")) == pytest.approx(6.0)
    assert _index(repo)["repo.a"]["state"] == "READY"


@pytest.mark.parametrize("method,path,status,needle", [
    ("POST", "/v2/repository/models/repo.zz/load", 404, "not found"),
    ("POST", "/v2/repository/models/nope.a/unload", 404, "not found"),
    ("POST", "/v2/repository/models/repo/unload", 400, "is an API"),
    ("POST", "/v2/repository/models/repo.a/reload", 404, "no such"),
    ("GET", "/v2/repository/index", 404, "no such"),
])
def test_repository_errors(repo, method, path, status, needle):
    resp = repo.request(method, path)
    assert resp.status == status, resp
    assert needle in resp.json()["error"]


def test_index_body_must_be_an_object(repo):
    resp = repo.request("POST", "/v2/repository/index", data=b"[1, 2]",
                        headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert "JSON object" in resp.json()["error"]


def test_glia_get_shows_the_model_cache(repo):
    _y(_infer(repo, "repo.b"))
    repo.wait_for(lambda: (repo.get("repo").get("models") or {})
                  .get("hits", 0) + repo.get("repo")["models"]["misses"] > 0)
    out = repo.cli("get", "repo").stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("models:"))
    assert "in memory; hits" in line and "evictions" in line


def test_unloaded_models_stay_unloaded_across_a_daemon_restart(repo):
    resp = repo.request("POST", "/v2/repository/models/repo.b/unload")
    assert resp.status == 200
    repo.wait_for(lambda: _infer(repo, "repo.b").status == 503)
    repo.restart()  # SIGKILL, then glia up again in the same home
    repo.wait_ready("repo")
    assert _infer(repo, "repo.b").status == 503
    assert _index(repo)["repo.b"]["reason"] == "unloaded"
    assert _y(_infer(repo, "repo.a")) == pytest.approx(6.0)
    repo.request("POST", "/v2/repository/models/repo.b/load")
    repo.wait_for(lambda: _infer(repo, "repo.b").status == 200)


def test_iris_models_example(daemon_factory, tmp_path):
    """examples/iris-models as its README runs it: train, deploy, predict
    by model and version, publish a version live."""
    proj = tmp_path / "iris-models"
    shutil.copytree(EXAMPLES / "iris-models", proj,
                    ignore=shutil.ignore_patterns("models", "__pycache__"))
    subprocess.run(["/usr/bin/python3", "train.py"], cwd=proj, check=True)
    d = daemon_factory()
    d.deploy("glia.yaml", cwd=proj)
    sample = (proj / "sample.json").read_text()
    hdr = {"Content-Type": "application/json"}

    def ask(query=""):
        return d.request("POST", "/iris-models" + query, data=sample.encode(),
                         headers=hdr)

    assert ask().json() == {"species": "setosa", "model": "logreg",
                            "version": 2}
    assert ask("?model=tree").json()["model"] == "tree"
    assert ask("?model=logreg&version=1").json()["version"] == 1
    r = ask("?model=svm")
    assert r.status == 404
    assert r.json()["error"] == ("model 'svm' not found; available: "
                                 "logreg, tree")
    subprocess.run(["/usr/bin/python3", "train.py", "--model", "logreg",
                    "--version", "3"], cwd=proj, check=True)
    d.wait_for(lambda: ask().json().get("version") == 3,
               message="version 3 of logreg served")
