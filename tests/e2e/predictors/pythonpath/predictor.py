"""Imports a module that is only reachable through predictor.python_path."""
from helperlib import VALUE


class PythonPredictor:
    def __init__(self, config):
        pass

    def predict(self, payload):
        return {"helper": VALUE}
