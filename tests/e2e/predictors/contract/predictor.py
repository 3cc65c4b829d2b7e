"""The SPEC section 4 contract in one predictor: the behaviour is picked by
the `mode` query parameter, so one API covers payload decoding, every return
type, glia.Response, config, env, exceptions, sleeping (concurrency) and
post_predict."""
import json
import os
import threading
import time

import numpy as np


def header(headers, name):
    """Case-insensitive lookup in whatever mapping glia hands over."""
    if headers is None:
        return None
    try:
        value = headers.get(name)
        if value is not None:
            return value
    except AttributeError:
        pass
    for k, v in dict(headers).items():
        if k.lower() == name.lower():
            return v
    return None


def describe(payload):
    if isinstance(payload, bytes):
        return {"type": "bytes", "hex": payload.hex()}
    if isinstance(payload, str):
        return {"type": "str", "value": payload}
    if isinstance(payload, dict):
        try:
            json.dumps(payload)
            return {"type": "dict", "value": payload}
        except TypeError:
            return {"type": "dict", "value": {k: repr(v) for k, v in payload.items()}}
    return {"type": type(payload).__name__, "value": payload}


class PythonPredictor:
    def __init__(self, config):
        self.config = config
        self.marker_dir = config.get("marker_dir")
        print(f"contract predictor ready in pid {os.getpid()}", flush=True)

    def predict(self, payload, query_params, headers):
        mode = (query_params or {}).get("mode", "echo")
        if isinstance(mode, list):
            mode = mode[0]
        rid = header(headers, "X-Request-ID")
        if mode == "echo":
            out = describe(payload)
            out["query"] = dict(query_params or {})
            out["request_id"] = rid
            out["content_type"] = header(headers, "Content-Type")
            out["custom_header"] = header(headers, "X-Custom-Test")
            return out
        if mode == "text":
            return "plain text answer"
        if mode == "bytes":
            return b"\x00\x01\x02raw\xff"
        if mode == "dict":
            return {"a": 1, "b": [1, 2, 3], "c": None, "d": "x"}
        if mode == "list":
            return [1, "two", 3.5]
        if mode == "numpy":
            return np.array([[1, 2], [3, 4]], dtype=np.int64)
        if mode == "np_float":
            return np.float32(1.5)
        if mode == "np_int":
            return np.int64(7)
        if mode == "np_nested":
            return {"probs": np.array([0.25, 0.75]), "label": np.int32(1),
                    "ok": np.bool_(True)}
        if mode == "response":
            import glia  # imported here so that the other modes work without it

            return glia.Response('{"teapot": true}', status=418,
                                 headers={"X-From-Predictor": "yes"},
                                 media_type="application/json")
        if mode == "response_text":
            import glia

            return glia.Response("created it", status=201, media_type="text/plain")
        if mode == "config":
            return self.config
        if mode == "env":
            return {"GLIA_TEST_VAR": os.environ.get("GLIA_TEST_VAR"),
                    "GLIA_TEST_OTHER": os.environ.get("GLIA_TEST_OTHER")}
        if mode == "raise":
            marker = (query_params or {}).get("marker", "no-marker")
            raise ValueError(f"predictor exploded: {marker}")
        if mode == "pid":
            return {"pid": os.getpid()}
        if mode == "sleep":
            seconds = float((query_params or {}).get("s", "0.5"))
            start = time.time()
            time.sleep(seconds)
            return {"pid": os.getpid(), "thread": threading.get_ident(),
                    "start": start, "end": time.time()}
        if mode == "post":
            return {"post": "scheduled", "request_id": rid}
        raise KeyError(f"unknown mode {mode}")

    def post_predict(self, response, payload, query_params, headers):
        mode = (query_params or {}).get("mode")
        if mode != "post" or not self.marker_dir:
            return
        rid = header(headers, "X-Request-ID") or "no-request-id"
        delay = float((query_params or {}).get("delay", "0"))
        time.sleep(delay)
        safe = "".join(c for c in rid if c.isalnum() or c in "-_")
        with open(os.path.join(self.marker_dir, safe + ".post"), "w") as f:
            json.dump({"response": repr(response)[:500], "time": time.time(),
                       "payload": describe(payload)}, f)
