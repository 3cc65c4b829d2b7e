"""__init__ takes a while, then leaves a marker file: readiness must not be
reported before __init__ returned."""
import time


class PythonPredictor:
    def __init__(self, config):
        time.sleep(float(config.get("init_seconds", 3)))
        with open(config["marker"], "w") as f:
            f.write(str(time.time()))

    def predict(self, payload):
        return "slow-init-ok"
