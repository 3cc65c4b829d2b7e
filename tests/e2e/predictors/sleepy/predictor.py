"""Sleeps config["sleep_s"] seconds (default 0.1) per request, or
payload["sleep"] seconds when the request asks, and answers with its pid and
config["version"] (for load, autoscaling and rollout tests). With
config["init_s"], __init__ takes that long (a slow model load).

A payload {"started_file": PATH} makes predict() create PATH as it starts,
so a test can tell for sure that a request is inside a replica."""
import os
import time


class PythonPredictor:
    def __init__(self, config):
        self.sleep_s = float(config.get("sleep_s", 0.1))
        self.version = config.get("version")
        if config.get("init_s"):
            time.sleep(float(config["init_s"]))
        print(f"sleepy predictor v{self.version} (sleep {self.sleep_s}s) "
              f"started in pid {os.getpid()}", flush=True)

    def predict(self, payload):
        seconds = self.sleep_s
        if isinstance(payload, dict):
            if payload.get("started_file"):
                with open(payload["started_file"], "w") as f:
                    f.write(str(os.getpid()))
            if payload.get("sleep") is not None:
                seconds = float(payload["sleep"])
        if seconds > 0:
            time.sleep(seconds)
        return {"version": self.version, "pid": os.getpid()}
