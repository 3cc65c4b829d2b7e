"""Cortex compatibility (issue 2, point 8): examples/cortex-iris, a Cortex
v0.2x project (cortex.yaml + PythonPredictor), deploys unchanged and answers
as Cortex did: the class name as a text/plain string."""
import json
import shutil

from conftest import EXAMPLES

CORTEX_IRIS = EXAMPLES / "cortex-iris"


def test_cortex_project_deploys_with_default_lookup_and_predicts(daemon):
    # no FILE argument: glia.yaml is absent, so cortex.yaml is found
    assert not (CORTEX_IRIS / "glia.yaml").exists()
    res = daemon.cli("deploy", "--wait", cwd=CORTEX_IRIS)
    assert "iris-classifier" in res.stdout and "created" in res.stdout, res.stdout
    daemon.wait_ready("iris-classifier")

    sample = json.loads((CORTEX_IRIS / "sample.json").read_text())
    r = daemon.post("/iris-classifier", json=sample)
    assert r.status == 200, r
    assert r.body == b"setosa"
    assert r.content_type == "text/plain"

    res = daemon.cli("predict", "iris-classifier", "@sample.json", cwd=CORTEX_IRIS)
    assert res.stdout.strip() == "setosa"

    # naming the file explicitly is the same spec: unchanged
    res = daemon.cli("deploy", "cortex.yaml", cwd=CORTEX_IRIS)
    assert "unchanged" in res.stdout, res.stdout


def test_cortex_yaml_named_explicitly_deploys(daemon, tmp_path):
    proj = tmp_path / "cortex-iris"
    shutil.copytree(CORTEX_IRIS, proj, ignore=shutil.ignore_patterns("__pycache__", "*.pkl"))
    res = daemon.cli("deploy", "cortex.yaml", "--wait", cwd=proj)
    assert "created" in res.stdout
    detail = daemon.wait_ready("iris-classifier")
    # Cortex's compute fields keep their meaning
    assert detail["spec"]["compute"]["cpu"] == "200m"
    assert detail["spec"]["compute"]["mem"] == 200 * 1000 * 1000
    assert detail["spec"]["predictor"]["config"] == {
        "bucket": "cortex-examples", "key": "sklearn/iris-classifier/model.pkl"}
    for payload, label in (
            ({"sepal_length": 6.4, "sepal_width": 3.2, "petal_length": 4.5,
              "petal_width": 1.5}, b"versicolor"),
            ({"sepal_length": 6.3, "sepal_width": 3.3, "petal_length": 6.0,
              "petal_width": 2.5}, b"virginica")):
        r = daemon.post("/iris-classifier", json=payload)
        assert r.status == 200 and r.body == label, r


def test_cortex_predictor_loads_a_locally_pickled_model(daemon, tmp_path):
    import subprocess
    proj = tmp_path / "cortex-iris"
    shutil.copytree(CORTEX_IRIS, proj, ignore=shutil.ignore_patterns("__pycache__", "*.pkl"))
    subprocess.run(["/usr/bin/python3", "trainer.py"], cwd=proj, check=True,
                   capture_output=True, timeout=120)
    assert (proj / "model.pkl").exists()
    daemon.cli("deploy", "cortex.yaml", "--wait", cwd=proj)
    daemon.wait_ready("iris-classifier")
    sample = json.loads((proj / "sample.json").read_text())
    r = daemon.post("/iris-classifier", json=sample)
    assert r.status == 200 and r.body == b"setosa", r
