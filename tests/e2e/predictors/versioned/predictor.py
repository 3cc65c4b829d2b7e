"""Answers with config["version"] and its pid; prints one line per request
carrying a "mark" (for `glia logs`); sleeps payload["sleep"] seconds first
when asked (for drain tests)."""
import os
import time


class PythonPredictor:
    def __init__(self, config):
        self.version = config.get("version")
        print(f"versioned predictor v{self.version} started in pid {os.getpid()}",
              flush=True)

    def predict(self, payload):
        if isinstance(payload, dict) and payload.get("sleep"):
            time.sleep(float(payload["sleep"]))
        mark = payload.get("mark") if isinstance(payload, dict) else None
        if mark:
            print(f"served request mark={mark}", flush=True)
        return {"version": self.version, "pid": os.getpid()}
