"""Loads the predictor the bench serves outside glia: the file named by
$BENCH_PREDICTOR, its class PythonPredictor, built with the JSON object in
$BENCH_CONFIG (default {}), as glia would build it."""
import importlib.util
import json
import os
import sys


def load():
    path = os.environ["BENCH_PREDICTOR"]
    config = json.loads(os.environ.get("BENCH_CONFIG") or "{}")
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    spec = importlib.util.spec_from_file_location("bench_predictor", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PythonPredictor(config)
