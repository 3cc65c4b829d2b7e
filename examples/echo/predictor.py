"""echo: returns its payload unchanged (JSON in, JSON out)."""


class PythonPredictor:
    def __init__(self, config):
        pass

    def predict(self, payload):
        return payload
