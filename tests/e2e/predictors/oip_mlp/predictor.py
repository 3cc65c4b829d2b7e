"""A small numpy MLP classifier: 4 features -> 16 hidden units (ReLU) ->
3 class probabilities, with weights drawn from config.seed. It states its
own Open Inference Protocol signature (used when the API spec has none)
and takes its one input under any name, so that a spec signature may
rename it.
"""
import numpy as np


def weights(seed):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((4, 16)).astype(np.float32),
            rng.standard_normal(16).astype(np.float32),
            rng.standard_normal((16, 3)).astype(np.float32),
            rng.standard_normal(3).astype(np.float32))


def forward(params, x):
    w1, b1, w2, b2 = params
    hidden = np.maximum(x @ w1 + b1, 0)
    logits = hidden @ w2 + b2
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    return probs.astype(np.float32), probs.argmax(axis=1).astype(np.int64)


class PythonPredictor:
    def __init__(self, config):
        self.params = weights(int(config.get("seed", 0)))

    def signature(self):
        return {
            "inputs": [{"name": "features", "datatype": "FP32",
                        "shape": [-1, 4]}],
            "outputs": [{"name": "probabilities", "datatype": "FP32",
                         "shape": [-1, 3]},
                        {"name": "label", "datatype": "INT64",
                         "shape": [-1]}],
        }

    def predict(self, payload):
        x = next(iter(payload.values())) if isinstance(payload, dict) \
            else payload
        probs, label = forward(self.params, np.asarray(x, dtype=np.float32))
        return {"probabilities": probs, "label": label}
