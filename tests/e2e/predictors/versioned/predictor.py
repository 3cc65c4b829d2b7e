"""Answers with config["version"] and its pid; prints one line per request
(for `glia logs`)."""
import os


class PythonPredictor:
    def __init__(self, config):
        self.version = config.get("version")
        print(f"versioned predictor v{self.version} started in pid {os.getpid()}",
              flush=True)

    def predict(self, payload):
        mark = payload.get("mark") if isinstance(payload, dict) else None
        if mark:
            print(f"served request mark={mark}", flush=True)
        return {"version": self.version, "pid": os.getpid()}
