"""__init__ raises: the replica must be reported failed, with the error."""


def load_weights(path):
    raise RuntimeError(f"init-failure-marker: cannot load weights from {path}")


class PythonPredictor:
    def __init__(self, config):
        print("init_fails: loading the model", flush=True)
        self.weights = load_weights(config.get("weights", "/nonexistent/weights.bin"))

    def predict(self, payload):
        return "unreachable"
