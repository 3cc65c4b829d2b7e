"""__init__ raises: the replica must be reported failed, with the error.
With config["starts_file"], each start first appends its time there (to
observe the restart backoff)."""
import time


def load_weights(path):
    raise RuntimeError(f"init-failure-marker: cannot load weights from {path}")


class PythonPredictor:
    def __init__(self, config):
        if config.get("starts_file"):
            with open(config["starts_file"], "a") as f:
                f.write(f"{time.time()}\n")
        print("init_fails: loading the model", flush=True)
        self.weights = load_weights(config.get("weights", "/nonexistent/weights.bin"))

    def predict(self, payload):
        return "unreachable"
