"""A stand-in classifier for the monitoring tests: the class of a payload
{"n": N} is classes[N % len(classes)]. The answer is the class itself, or
{"label": class, "n": N} when config.answer is "object" (for
monitoring.key). {"fail": true} raises (500); {"say": TEXT} prints TEXT
during the request; {"spam": K} prints K long lines (log rotation)."""
import sys

import glia


class PythonPredictor:
    def __init__(self, config):
        self.classes = config.get("classes") or ["setosa", "versicolor",
                                                 "virginica"]
        self.as_object = config.get("answer") == "object"
        print("classifier ready with %d classes" % len(self.classes),
              flush=True)

    def predict(self, payload):
        payload = payload if isinstance(payload, dict) else {}
        if payload.get("fail"):
            raise ValueError("asked to fail (n=%s)" % payload.get("n"))
        if "say" in payload:
            print(payload["say"], flush=True)
        if "warn" in payload:
            sys.stderr.write(payload["warn"] + "\n")
        for i in range(int(payload.get("spam", 0))):
            print("spam %06d %s %s" % (i, glia.request_id(), "x" * 200))
        n = int(payload.get("n", 0))
        label = self.classes[n % len(self.classes)]
        if self.as_object:
            return {"label": label, "n": n}
        return label
