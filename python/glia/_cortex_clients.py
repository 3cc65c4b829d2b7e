"""Cortex's tensorflow_client and onnx_client, in process (predictor types
tensorflow and onnx; docs/predictors.md "TensorFlow and ONNX").

Cortex ran TensorFlow models in a TensorFlow Serving container and ONNX
models in onnxruntime; glia runs both inside the predictor's own Python:
a model version is loaded with tf.saved_model.load(path) or
onnxruntime.InferenceSession(file), by the same ModelStore (glia._models)
that serves a python predictor's load_model, so versions, "latest",
cache_size/disk_cache_size, live reloading and S3 work the same way.

The runtime modules are imported when the first model loads (the daemon
checked at deploy that they can be found).
"""

import importlib
import os

DEFAULT_SIGNATURE = "serving_default"


def _numpy():
    try:
        import numpy
    except ImportError:
        return None
    return numpy


def _plain(value):
    """A tensor or array as lists and numbers (what JSON can carry)."""
    to_numpy = getattr(value, "numpy", None)
    if callable(to_numpy):
        value = to_numpy()
    tolist = getattr(value, "tolist", None)
    if callable(tolist) and not isinstance(value, (str, bytes)):
        return tolist()
    return value


def signature_keys(models):
    """{model name (None for models.path): signature_key or None}, from
    models.signature_key and models.paths[].signature_key (Cortex)."""
    default = models.get("signature_key")
    keys = {None: default}
    for item in models.get("paths") or ():
        keys[item.get("name")] = item.get("signature_key") or default
    return keys


# --- TensorFlow -----------------------------------------------------------

def tensorflow_loader(path):
    """A SavedModel directory -> the object tf.saved_model.load returns."""
    tf = importlib.import_module("tensorflow")
    return tf.saved_model.load(path)


class TensorFlowClient:
    """What a TensorFlowPredictor (or a tensorflow Handler) gets as
    tensorflow_client."""

    __slots__ = ("_store", "_keys")

    def __init__(self, store, keys):
        self._store = store
        self._keys = keys

    def _signature(self, model, model_name):
        signatures = getattr(model, "signatures", None) or {}
        key = self._keys.get(model_name, self._keys.get(None))
        if key is None:
            if len(signatures) == 1:
                return next(iter(signatures.values()))
            key = DEFAULT_SIGNATURE
        try:
            return signatures[key]
        except KeyError:
            raise ValueError(
                "model %s has no signature %r (it has %s); set "
                "models.signature_key" % (model_name or "(models.path)", key,
                                          ", ".join(sorted(signatures))
                                          or "none")) from None

    def predict(self, model_input, model_name=None, model_version="latest"):
        """Runs the model's signature (models.signature_key, or its only
        one, or serving_default) on model_input, a dict of input name ->
        value; returns {output name: value as lists}."""
        model = self._store.get_model(model_name, model_version)
        fn = self._signature(model, model_name)
        if not isinstance(model_input, dict):
            raise TypeError("tensorflow_client.predict: model_input must be "
                            "a dict of input name -> value")
        tf = importlib.import_module("tensorflow")
        inputs = {k: tf.constant(v) for k, v in model_input.items()}
        outputs = fn(**inputs)
        if isinstance(outputs, dict):
            return {k: _plain(v) for k, v in outputs.items()}
        return _plain(outputs)

    def get_model(self, model_name=None, model_version="latest"):
        """The loaded SavedModel object."""
        return self._store.get_model(model_name, model_version)


# --- ONNX -----------------------------------------------------------------

def _onnx_file(path):
    """path itself (a .onnx file, Cortex 0.20) or the only *.onnx file in
    the directory path (0.25+)."""
    if not os.path.isdir(path):
        return path
    found = sorted(n for n in os.listdir(path) if n.endswith(".onnx")
                   and not n.startswith("."))
    if len(found) != 1:
        raise ValueError("%s must hold exactly one .onnx file (found %d)"
                         % (path, len(found)))
    return os.path.join(path, found[0])


_ONNX_TYPES = {
    "tensor(float)": "float32", "tensor(double)": "float64",
    "tensor(float16)": "float16", "tensor(int64)": "int64",
    "tensor(int32)": "int32", "tensor(int16)": "int16",
    "tensor(int8)": "int8", "tensor(uint8)": "uint8",
    "tensor(bool)": "bool", "tensor(string)": "object",
}


def onnx_loader(path):
    """A model version -> {"session", "signatures", "input_signatures"}, as
    Cortex's onnx_client.get_model gave it."""
    ort = importlib.import_module("onnxruntime")
    session = ort.InferenceSession(_onnx_file(path))
    inputs = list(session.get_inputs())
    return {
        "session": session,
        "signatures": inputs,
        "input_signatures": {
            i.name: {"shape": list(i.shape or ()), "type": i.type}
            for i in inputs},
    }


def _onnx_feed(model, model_input):
    """{input name: array} for session.run: a dict by input name, or one
    value when the model has a single input; arrays of the input's type
    when numpy is there."""
    sigs = model["input_signatures"]
    if isinstance(model_input, dict) and set(model_input) <= set(sigs):
        feed = dict(model_input)
    elif len(sigs) == 1:
        feed = {next(iter(sigs)): model_input}
    else:
        raise ValueError("onnx_client.predict: the model takes inputs %s: "
                         "give a dict with those names"
                         % ", ".join(sorted(sigs)))
    np = _numpy()
    if np is None:
        return feed
    out = {}
    for name, value in feed.items():
        dtype = _ONNX_TYPES.get(sigs[name]["type"])
        out[name] = np.asarray(value, dtype=dtype)
    return out


class ONNXClient:
    """What an ONNXPredictor gets as onnx_client."""

    __slots__ = ("_store",)

    def __init__(self, store):
        self._store = store

    def predict(self, model_input, model_name=None, model_version="latest"):
        """session.run of every output for model_input (a dict of input
        name -> value, or one value for a single-input model): the list of
        outputs."""
        model = self._store.get_model(model_name, model_version)
        return model["session"].run(None, _onnx_feed(model, model_input))

    def get_model(self, model_name=None, model_version="latest"):
        """{"session": InferenceSession, "signatures", "input_signatures":
        {name: {"shape", "type"}}}."""
        return self._store.get_model(model_name, model_version)
