"""Open Inference Protocol test predictor (tests/e2e/test_oip.py).

Answers its inputs back; the query parameter `mode` picks another answer
shape: double, tuple, list, single, scalar, describe, response, fail.
"""
import numpy as np

import glia


def _describe(value):
    if isinstance(value, np.ndarray):
        return {"dtype": str(value.dtype), "shape": list(value.shape),
                "writable": bool(value.flags.writeable),
                "elements": sorted({type(v).__name__
                                    for v in value.ravel().tolist()})}
    return {"type": type(value).__name__}


class PythonPredictor:
    def __init__(self, config):
        self.config = config

    def predict(self, payload, query_params, headers):
        mode = query_params.get("mode", "echo")
        if mode == "fail":
            raise ValueError("asked to fail")
        if mode == "double":
            return {name: value * 2 for name, value in payload.items()}
        if mode == "tuple":
            return tuple(payload.values())
        if mode == "list":
            return list(payload.values())
        if mode == "single":
            return next(iter(payload.values()))
        if mode == "scalar":
            return 3.5
        if mode == "response":
            return glia.Response("made by hand", status=201,
                                 media_type="text/plain")
        if mode == "describe":
            if isinstance(payload, dict):
                inputs = {k: _describe(v) for k, v in payload.items()}
            else:
                inputs = _describe(payload)
            return glia.Response({
                "payload": type(payload).__name__,
                "inputs": inputs,
                "query": query_params,
                "model": headers.get("X-Glia-Model"),
                "version": headers.get("X-Glia-Model-Version"),
                "request_id": glia.request_id(),
            })
        return payload
