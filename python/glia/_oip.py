"""The standard inference protocols for Python predictors: Open Inference
Protocol V2 (REST, with the binary tensor extension) and TF Serving /
KServe V1 predict. docs/protocols.md describes them for users.

The gateway answers health, readiness and server metadata itself and
forwards the other protocol requests to a replica with these headers:

    X-Glia-Protocol: v2-infer      POST /v2/models/<m>[/versions/<v>]/infer
    X-Glia-Protocol: v2-metadata   GET  /v2/models/<m>[/versions/<v>]
    X-Glia-Protocol: v1-predict    POST /v1/models/<m>[/versions/<v>]:predict
    X-Glia-Model: <m> ("<api>" or "<api>.<model>")
    X-Glia-Model-Version: <v> (when the path names one)

glia._runtime.handle() hands such requests to handle() below instead of
its own decode / predict / encode, and gets the same 5-tuple back:
(status, content type, body bytes, extra header bytes or None,
post_predict state or None: a Handler's callback as on the HTTP path).

The predictor's predict(payload, query_params, headers) is the usual one;
only the payload differs: a dict {input name: numpy array} for V2, and for
V1 a numpy array (unnamed input) or a dict of them (named inputs).

This module imports numpy, so glia._runtime imports it only when the
first protocol request arrives.
"""

import base64
import json
import math
import traceback
from urllib.parse import parse_qsl

import numpy as np

from glia import Response
from glia import _runtime as rt

PLATFORM = "glia-python"
JSON_TYPE = "application/json"
BINARY_TYPE = "application/octet-stream"

# Open Inference Protocol datatype -> numpy dtype, little-endian as the
# binary extension sends tensors. BYTES tensors are object arrays.
DTYPES = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(object),
}
DATATYPE_LIST = ", ".join(DTYPES)

_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


class ProtocolError(Exception):
    """A request the protocol refuses (status 400) or a predictor answer
    glia cannot encode (status 500); message is sent as {"error": ...}."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _bad(message, *args):
    return ProtocolError(400, message % args if args else message)


def _short(value, limit=60):
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


# --- the entry point ----------------------------------------------------

def handle(protocol, query, raw_headers, body, request_id):
    """One protocol request -> glia._runtime's 5-tuple."""
    headers = rt._headers(raw_headers)
    try:
        if protocol == "v2-infer":
            return _v2_infer(query, headers, body, request_id)
        if protocol == "v2-metadata":
            return _json_answer(200, _v2_metadata(headers))
        if protocol == "v1-predict":
            return _v1_predict(query, headers, body, request_id)
        raise ProtocolError(400, "unknown X-Glia-Protocol %r" % protocol)
    except ProtocolError as exc:
        if exc.status >= 500:
            rt._raw_stderr.write("[%s] %s\n" % (request_id or "-", exc))
        return rt._error(exc.status, str(exc))
    except _PredictorFailed as exc:
        return rt._error(500, str(exc))
    except Exception as exc:  # noqa: BLE001 - a bug here answers 500
        rt._log_exception(request_id)
        return rt._error(500, "internal error in the glia worker: %s: %s"
                         % (type(exc).__name__, exc))


def _json_answer(status, value):
    return status, JSON_TYPE, json.dumps(value).encode(), None, None


class _PredictorFailed(Exception):
    """predict() raised; its traceback is in the logs already."""


def _predict(payload, query, headers, request_id):
    """Calls the predictor with the arguments it takes: (the answer, post
    state), a Handler's (result, callback) split as on the HTTP path. For
    a multi-model API (X-Glia-Model "<api>.<model>") query_params gets
    "model" and, with a version in the path, "version", as Cortex
    predictors read them."""
    _, want_q, want_h = rt._wants
    qp = None
    if want_q:
        qp = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
        _, dot, model = (headers.get("x-glia-model") or "").partition(".")
        if dot and model:
            qp.setdefault("model", model)
        version = headers.get("x-glia-model-version")
        if version:
            qp.setdefault("version", version)
    hd = headers if want_h else None
    try:
        result = rt._predict(payload, qp, hd)
    except rt._model_errors as exc:  # unknown model: 404, ...
        raise ProtocolError(exc.status, str(exc)) from None
    except BaseException as exc:
        rt._log_exception(request_id)
        raise _PredictorFailed("%s: %s" % (type(exc).__name__, exc)) from None
    return rt._after_predict(result, request_id, payload, qp, hd)


def _passthrough(result, post, request_id):
    """A glia.Response (or a starlette one) answers as on the normal path."""
    try:
        status, ctype, out, extra = rt._encode(result)
    except rt._Unencodable as exc:
        rt._raw_stderr.write("[%s] %s\n" % (request_id or "-", exc))
        return rt._error(500, str(exc))
    return status, ctype, out, extra, post


def _is_response(result):
    return isinstance(result, Response) or (
        getattr(result, "raw_headers", None) is not None
        and hasattr(result, "status_code") and hasattr(result, "body"))


# --- signatures ---------------------------------------------------------

class Signature:
    """The model's tensors: inputs and outputs as lists of
    {"name", "datatype", "shape"}, plus lookups by name."""

    __slots__ = ("inputs", "outputs", "by_input", "by_output")

    def __init__(self, inputs, outputs):
        self.inputs = inputs
        self.outputs = outputs
        self.by_input = {t["name"]: t for t in inputs}
        self.by_output = {t["name"]: t for t in outputs}


_EMPTY = Signature([], [])
_signature = None  # cached Signature once built


def _tensor_list(value, where):
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise ValueError("%s must be a list of {name, datatype, shape}"
                         % where)
    out, names = [], set()
    for i, t in enumerate(value):
        what = "%s[%d]" % (where, i)
        if not isinstance(t, dict):
            raise ValueError("%s must be a mapping" % what)
        name, dt, shape = t.get("name"), t.get("datatype"), t.get("shape")
        if not isinstance(name, str) or not name:
            raise ValueError("%s.name must be a non-empty string" % what)
        if name in names:
            raise ValueError("%s.name %r is not unique" % (what, name))
        names.add(name)
        if dt not in DTYPES:
            raise ValueError("%s.datatype must be one of %s, got %s"
                             % (what, DATATYPE_LIST, _short(dt)))
        if (not isinstance(shape, (list, tuple))
                or not all(type(d) is int and d >= -1 for d in shape)):
            raise ValueError("%s.shape must be a list of integers >= -1, "
                             "got %s" % (what, _short(shape)))
        out.append({"name": name, "datatype": dt, "shape": list(shape)})
    return out


def _make_signature(value, where):
    if not isinstance(value, dict):
        raise ValueError("%s must be a mapping with inputs and outputs"
                         % where)
    unknown = set(value) - {"inputs", "outputs"}
    if unknown:
        raise ValueError("%s has unknown keys: %s"
                         % (where, ", ".join(sorted(map(str, unknown)))))
    return Signature(_tensor_list(value.get("inputs"), where + ".inputs"),
                     _tensor_list(value.get("outputs"), where + ".outputs"))


def signature():
    """The model's Signature: predictor.signature from the API spec, else
    what the predictor's `signature` (a method or an attribute) gives,
    else an empty one. Built once."""
    global _signature
    if _signature is not None:
        return _signature
    instance, spec = rt._loaded
    declared = (spec.get("predictor") or {}).get("signature")
    if declared is not None:
        sig = _make_signature(declared, "predictor.signature")
    else:
        sig = _EMPTY
        attr = getattr(instance, "signature", None)
        if attr is not None:
            try:
                value = attr() if callable(attr) else attr
                if value is not None:
                    sig = _make_signature(value, "the predictor's signature")
            except Exception as exc:  # noqa: BLE001 - reported as 500
                traceback.print_exc(file=rt._raw_stderr)
                raise ProtocolError(500, "the predictor's signature failed: "
                                    "%s: %s" % (type(exc).__name__, exc))
    _signature = sig
    return sig


def _check_against(name, datatype, shape, declared):
    """400 unless (datatype, shape) fit the signature's tensor."""
    if datatype != declared["datatype"]:
        raise _bad("input '%s': datatype %s does not match the model's %s",
                   name, datatype, declared["datatype"])
    want = declared["shape"]
    if len(shape) != len(want) or any(
            w != -1 and w != d for d, w in zip(shape, want)):
        raise _bad("input '%s': shape %s does not match the model's %s",
                   name, list(shape), want)


# --- tensors ------------------------------------------------------------

def _shape(value, what):
    if not isinstance(value, list) or not all(
            type(d) is int and d >= 0 for d in value):
        raise _bad("%s: shape must be a list of integers >= 0, got %s",
                   what, _short(value))
    return tuple(value)


def _flatten(data):
    """The leaves of nested lists, row-major."""
    out = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out


def _flat_strings(data, what):
    out = _flatten(data)
    for item in out:
        if not isinstance(item, str):
            raise _bad("%s: BYTES data must be strings, got %s",
                       what, _short(item))
    return out


def _object_array(items, shape):
    arr = np.empty(len(items), dtype=object)
    arr[:] = items
    return arr.reshape(shape)


def _cast(raw, datatype, what, data=None):
    """raw (np.array of JSON values) as datatype, refusing values of the
    wrong kind (strings for numbers, fractions or out-of-range values for
    integers, numbers for BOOL). data: the JSON lists raw came from, read
    again for integers numpy could not hold in int64 (it makes them
    floats)."""
    dt = DTYPES[datatype]
    kind = raw.dtype.kind
    if raw.size == 0:
        return np.zeros(raw.shape, dtype=dt)
    if datatype == "BOOL":
        if kind != "b":
            raise _bad("%s: BOOL data must be true or false", what)
        return raw
    if dt.kind in "iu":
        if kind in "fO":  # integers beyond int64, or not integers
            values = _flatten(data) if isinstance(data, list) \
                and kind == "f" else raw.ravel().tolist()
            if not all(type(v) is int for v in values):
                raise _bad("%s: %s data must be integers", what, datatype)
            info = np.iinfo(dt)
            if min(values) < info.min or max(values) > info.max:
                raise _bad("%s: a value is out of range for %s", what,
                           datatype)
            return np.array(values, dtype=dt).reshape(raw.shape)
        if kind not in "iu":
            raise _bad("%s: %s data must be integers", what, datatype)
        info = np.iinfo(dt)
        if raw.min() < info.min or raw.max() > info.max:
            raise _bad("%s: a value is out of range for %s", what, datatype)
        return raw.astype(dt)
    if kind not in "iuf" and not (
            kind == "O" and all(type(v) in (int, float) for v in raw.flat)):
        raise _bad("%s: %s data must be numbers", what, datatype)
    with np.errstate(over="ignore"):  # FP16 overflow gives inf
        return raw.astype(dt)


def _from_json(what, datatype, shape, data):
    count = math.prod(shape)
    if not isinstance(data, list):
        raise _bad("%s: data must be a list, got %s", what, _short(data))
    if datatype == "BYTES":
        items = _flat_strings(data, what)
        if len(items) != count:
            raise _bad("%s: shape %s has %d elements but data has %d",
                       what, list(shape), count, len(items))
        return _object_array([s.encode() for s in items], shape)
    try:
        raw = np.array(data)
    except (ValueError, OverflowError):
        raise _bad("%s: data must be a list of numbers, flat or nested in "
                   "rows of equal length", what) from None
    if raw.size != count:
        raise _bad("%s: shape %s has %d elements but data has %d",
                   what, list(shape), count, raw.size)
    if raw.dtype.kind not in "biufO" and raw.size:
        raise _bad("%s: %s data must be %s", what, datatype,
                   "true or false" if datatype == "BOOL" else "numbers")
    return _cast(raw, datatype, what, data).reshape(shape)


def _bytes_elements(chunk, count, what):
    """BYTES elements of a binary chunk: 4-byte little-endian length, then
    the bytes, for each element."""
    items, pos, end = [], 0, len(chunk)
    while pos < end:
        if pos + 4 > end:
            raise _bad("%s: binary BYTES data ends inside a length prefix",
                       what)
        n = int.from_bytes(chunk[pos:pos + 4], "little")
        pos += 4
        if pos + n > end:
            raise _bad("%s: binary BYTES element of %d bytes goes past "
                       "binary_data_size", what, n)
        items.append(bytes(chunk[pos:pos + n]))
        pos += n
    if len(items) != count:
        raise _bad("%s: shape has %d elements but the binary data holds %d",
                   what, count, len(items))
    return items


def _from_binary(what, datatype, shape, chunk):
    count = math.prod(shape)
    if datatype == "BYTES":
        return _object_array(_bytes_elements(chunk, count, what), shape)
    dt = DTYPES[datatype]
    if len(chunk) != count * dt.itemsize:
        raise _bad("%s: binary_data_size is %d but shape %s of %s needs %d "
                   "bytes", what, len(chunk), list(shape), datatype,
                   count * dt.itemsize)
    if datatype == "BOOL":
        return (np.frombuffer(chunk, dtype=np.uint8) != 0).reshape(shape)
    # a copy: aligned, writable, in native byte order
    return np.frombuffer(chunk, dtype=dt).astype(dt.newbyteorder("="))\
        .reshape(shape)


def _datatype_of(arr, name):
    kind, size = arr.dtype.kind, arr.dtype.itemsize
    if kind == "b":
        return "BOOL"
    if kind == "u" and size in (1, 2, 4, 8):
        return "UINT%d" % (size * 8)
    if kind == "i" and size in (1, 2, 4, 8):
        return "INT%d" % (size * 8)
    if kind == "f" and size in (2, 4, 8):
        return "FP%d" % (size * 8)
    if kind in "OSU":
        return "BYTES"
    raise ProtocolError(500, "output '%s': numpy dtype %s has no Open "
                        "Inference Protocol datatype" % (name, arr.dtype))


def _as_datatype(arr, datatype, name):
    if datatype == "BYTES":
        return arr
    dt = DTYPES[datatype]
    if arr.dtype == dt:
        return arr
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            return arr.astype(dt)
    except (TypeError, ValueError) as exc:
        raise ProtocolError(500, "output '%s' cannot be converted to %s: %s"
                            % (name, datatype, exc)) from None


def _element_bytes(value, name):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytearray, memoryview, np.bytes_)):
        return bytes(value)
    raise ProtocolError(500, "output '%s': BYTES elements must be bytes or "
                        "str, got %s" % (name, type(value).__name__))


def _json_data(arr, datatype, name):
    """The tensor's "data" as JSON text: flat, row-major. FP16 and FP32
    values are written with the fewest digits that read back as the same
    value of their type (0.1, not 0.10000000149011612)."""
    flat = arr.ravel()
    if datatype in ("FP16", "FP32"):
        digits = flat.astype(str).tolist()
        if not np.isfinite(flat).all():  # as Python's json writes them
            digits = [_NON_FINITE.get(v, v) for v in digits]
        return "[" + ",".join(digits) + "]"
    if datatype != "BYTES":
        return json.dumps(flat.tolist())
    out = []
    for v in flat.tolist():
        if isinstance(v, str):
            out.append(v)
            continue
        try:
            out.append(_element_bytes(v, name).decode())
        except UnicodeDecodeError:
            raise ProtocolError(500, "output '%s' holds bytes that are not "
                                "UTF-8: ask for it with binary_data" % name)\
                from None
    return json.dumps(out)


def _object_text(obj, *raw):
    """json.dumps(obj) with more members whose values are JSON text:
    raw holds (key, text) pairs, added at the end."""
    head = json.dumps(obj)
    tail = "".join(", %s: %s" % (json.dumps(k), v) for k, v in raw)
    return head[:-1] + (tail if len(head) > 2 else tail[2:]) + "}"


def _binary_data(arr, datatype, name):
    if datatype != "BYTES":
        return np.ascontiguousarray(arr, dtype=DTYPES[datatype]).tobytes()
    parts = []
    for v in arr.ravel().tolist():
        b = _element_bytes(v, name)
        parts.append(len(b).to_bytes(4, "little"))
        parts.append(b)
    return b"".join(parts)


# --- V2 infer -----------------------------------------------------------

def _split_body(headers, body):
    """(JSON bytes, binary memoryview) per Inference-Header-Content-Length."""
    value = headers.get("inference-header-content-length")
    if value is None:
        return body, memoryview(b"")
    try:
        n = int(value.strip())
    except ValueError:
        raise _bad("Inference-Header-Content-Length must be an integer, "
                   "got %r", value) from None
    if n < 0 or n > len(body):
        raise _bad("Inference-Header-Content-Length is %d but the body has "
                   "%d bytes", n, len(body))
    return body[:n], memoryview(body)[n:]


def _load_json(data):
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise _bad("invalid JSON: %s", exc) from None


def _params(obj, what):
    params = obj.get("parameters")
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise _bad("%s: parameters must be an object", what)
    return params


def _binary_size(params, what):
    size = params.get("binary_data_size")
    if size is None:
        return None
    if type(size) is not int or size < 0:
        raise _bad("%s: binary_data_size must be an integer >= 0, got %s",
                   what, _short(size))
    return size


def _v2_inputs(req, binary, sig):
    """{name: array} from the request's inputs (and the binary part)."""
    inputs = req.get("inputs")
    if not isinstance(inputs, list):
        raise _bad("'inputs' must be a list of tensors")
    out, offset = {}, 0
    for i, t in enumerate(inputs):
        if not isinstance(t, dict):
            raise _bad("inputs[%d] must be an object", i)
        name = t.get("name")
        if not isinstance(name, str) or not name:
            raise _bad("inputs[%d]: name must be a non-empty string", i)
        what = "input '%s'" % name
        if name in out:
            raise _bad("%s is given twice", what)
        datatype = t.get("datatype")
        if datatype not in DTYPES:
            raise _bad("%s: unknown datatype %s (expected one of %s)",
                       what, _short(datatype), DATATYPE_LIST)
        shape = _shape(t.get("shape"), what)
        if sig.inputs:
            declared = sig.by_input.get(name)
            if declared is None:
                raise _bad("unknown input '%s' (the model's inputs: %s)",
                           name, ", ".join(sig.by_input))
            _check_against(name, datatype, shape, declared)
        params = _params(t, what)
        if "shared_memory_region" in params:
            raise _bad("%s: shared memory is not supported", what)
        size = _binary_size(params, what)
        if size is not None:
            if offset + size > len(binary):
                raise _bad("%s: binary_data_size %d goes past the end of the "
                           "body (%d bytes of binary data after the JSON)",
                           what, size, len(binary))
            out[name] = _from_binary(what, datatype, shape,
                                     binary[offset:offset + size])
            offset += size
        elif "data" in t:
            out[name] = _from_json(what, datatype, shape, t["data"])
        else:
            raise _bad("%s has neither data nor parameters.binary_data_size",
                       what)
    if offset != len(binary):
        raise _bad("the body has %d bytes after the JSON but the inputs' "
                   "binary_data_size add up to %d", len(binary), offset)
    for name in sig.by_input:
        if name not in out:
            raise _bad("missing input '%s'", name)
    return out


def _requested_outputs(req, sig):
    """[(name, binary?)] the request asks for, or None for all, and the
    default for outputs not named (binary_data_output)."""
    params = _params(req, "request")
    default = params.get("binary_data_output", False)
    if type(default) is not bool:
        raise _bad("parameters.binary_data_output must be true or false")
    wanted = req.get("outputs")
    if wanted is None:
        return None, default
    if not isinstance(wanted, list):
        raise _bad("'outputs' must be a list")
    out, seen = [], set()
    for i, o in enumerate(wanted):
        if not isinstance(o, dict) or not isinstance(o.get("name"), str):
            raise _bad("outputs[%d] must be an object with a name", i)
        name = o["name"]
        what = "output '%s'" % name
        if name in seen:
            raise _bad("%s is requested twice", what)
        seen.add(name)
        if sig.outputs and name not in sig.by_output:
            raise _bad("unknown output '%s' (the model's outputs: %s)",
                       name, ", ".join(sig.by_output))
        oparams = _params(o, what)
        for unsupported in ("classification", "shared_memory_region"):
            if unsupported in oparams:
                raise _bad("%s: parameter %s is not supported", what,
                           unsupported)
        binary = oparams.get("binary_data", default)
        if type(binary) is not bool:
            raise _bad("%s: binary_data must be true or false", what)
        out.append((name, binary))
    return out, default


def _named_outputs(result, sig):
    """The predictor's answer as [(name, np.ndarray)]."""
    names = [t["name"] for t in sig.outputs]
    if isinstance(result, dict):
        pairs = [(str(k), v) for k, v in result.items()]
    elif isinstance(result, tuple) or (
            isinstance(result, list) and result
            and (all(isinstance(v, np.ndarray) for v in result)
                 or (len(names) > 1 and len(result) == len(names)))):
        pairs = [(names[i] if i < len(names) else "output_%d" % i, v)
                 for i, v in enumerate(result)]
    else:
        pairs = [(names[0] if names else "output_0", result)]
    out = []
    for name, value in pairs:
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError) as exc:
            raise ProtocolError(500, "output '%s' is not an array: %s"
                                % (name, exc)) from None
        out.append((name, arr))
    return out


def _v2_infer(query, headers, body, request_id):
    sig = signature()
    head, binary = _split_body(headers, body)
    req = _load_json(head)
    if not isinstance(req, dict):
        raise _bad("the request must be a JSON object")
    rid = req.get("id")
    if rid is not None and not isinstance(rid, str):
        raise _bad("'id' must be a string")
    _params(req, "request")
    wanted, default_binary = _requested_outputs(req, sig)
    payload = _v2_inputs(req, binary, sig)

    result, post = _predict(payload, query, headers, request_id)
    if _is_response(result):
        return _passthrough(result, post, request_id)

    produced = _named_outputs(result, sig)
    if wanted is None:
        chosen = [(name, arr, default_binary) for name, arr in produced]
    else:
        by_name = dict(produced)
        chosen = []
        for name, binary_out in wanted:
            if name not in by_name:
                raise _bad("unknown output '%s' (the predictor returned: %s)",
                           name, ", ".join(by_name))
            chosen.append((name, by_name[name], binary_out))

    tensors, blobs = [], []
    for name, arr, binary_out in chosen:
        declared = sig.by_output.get(name)
        if declared is not None:
            datatype = declared["datatype"]
            arr = _as_datatype(arr, datatype, name)
        else:
            datatype = _datatype_of(arr, name)
        tensor = {"name": name, "datatype": datatype,
                  "shape": list(arr.shape)}
        if binary_out:
            blob = _binary_data(arr, datatype, name)
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
            tensors.append(json.dumps(tensor))
        else:
            tensors.append(_object_text(
                tensor, ("data", _json_data(arr, datatype, name))))

    answer = {"model_name": headers.get("x-glia-model") or ""}
    version = headers.get("x-glia-model-version")
    if version:
        answer["model_version"] = version
    if rid is not None:
        answer["id"] = rid
    text = _object_text(answer, ("outputs", "[" + ", ".join(tensors) + "]"))
    text = text.encode()
    if not blobs:
        return 200, JSON_TYPE, text, None, post
    extra = b"Inference-Header-Content-Length: %d\r\n" % len(text)
    return 200, BINARY_TYPE, b"".join([text] + blobs), extra, post


# --- V2 model metadata --------------------------------------------------

def _v2_metadata(headers):
    sig = signature()
    answer = {"name": headers.get("x-glia-model") or ""}
    version = headers.get("x-glia-model-version")
    if version:
        answer["versions"] = [version]
    answer["platform"] = PLATFORM
    answer["inputs"] = sig.inputs
    answer["outputs"] = sig.outputs
    return answer


# --- V1 (TF Serving / KServe V1) predict --------------------------------

def _is_b64(value):
    return (isinstance(value, dict) and len(value) == 1
            and isinstance(value.get("b64"), str))


def _decode_b64(value):
    """value with every {"b64": "..."} replaced by its bytes."""
    if _is_b64(value):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except ValueError:
            raise _bad("invalid base64 in a {\"b64\": ...} value") from None
    if isinstance(value, list):
        return [_decode_b64(v) for v in value]
    if isinstance(value, dict):
        return {k: _decode_b64(v) for k, v in value.items()}
    return value


def _v1_array(values, what, declared):
    try:
        raw = np.array(values)
        if raw.dtype.kind == "S":  # bytes from {"b64": ...}: keep them whole
            raw = np.array(values, dtype=object)
    except (ValueError, OverflowError):
        raise _bad("%s is not a regular array (values of different shapes?)",
                   what) from None
    if declared is None:
        return raw
    shape = raw.shape
    want = declared["shape"]
    if len(shape) != len(want) or any(
            w != -1 and w != d for d, w in zip(shape, want)):
        raise _bad("%s: shape %s does not match the model's %s", what,
                   list(shape), want)
    if declared["datatype"] == "BYTES":
        items = [v.encode() if isinstance(v, str) else v
                 for v in raw.ravel().tolist()]
        if not all(isinstance(v, bytes) for v in items):
            raise _bad("%s: BYTES data must be strings or {\"b64\": ...}",
                       what)
        return _object_array(items, raw.shape)
    return _cast(raw, declared["datatype"], what, values)


def _v1_inputs(req, sig, body):
    """(payload, row format?) from {"instances": ...} or {"inputs": ...}.
    Values written {"b64": "<base64>"} become bytes (object arrays)."""
    rows = "instances" in req
    if rows == ("inputs" in req):
        raise _bad("the request must have exactly one of 'instances' (row "
                   "format) or 'inputs' (columnar format)")
    value = req["instances" if rows else "inputs"]
    if rows and not isinstance(value, list):
        raise _bad("'instances' must be a list")
    if b'"b64"' in body:
        value = _decode_b64(value)

    named = None  # {name: values}
    if rows and value and all(isinstance(v, dict) for v in value):
        keys = list(value[0])
        for i, inst in enumerate(value):
            if set(inst) != set(keys):
                raise _bad("instances[%d] has inputs %s but instances[0] has "
                           "%s", i, ", ".join(sorted(inst)),
                           ", ".join(sorted(keys)))
        named = {k: [inst[k] for inst in value] for k in keys}
    elif rows and any(isinstance(v, dict) for v in value):
        raise _bad("instances must be all named (objects) or all unnamed")
    elif not rows and isinstance(value, dict):
        named = value

    if named is None:
        declared = None
        if len(sig.inputs) > 1:
            raise _bad("the model has %d inputs (%s): send them by name",
                       len(sig.inputs), ", ".join(sig.by_input))
        if sig.inputs:
            declared = sig.inputs[0]
        return _v1_array(value, "the input", declared), rows
    payload = {}
    for name, values in named.items():
        declared = sig.by_input.get(name)
        if sig.inputs and declared is None:
            raise _bad("unknown input '%s' (the model's inputs: %s)", name,
                       ", ".join(sig.by_input))
        payload[name] = _v1_array(values, "input '%s'" % name, declared)
    for name in sig.by_input:
        if name not in payload:
            raise _bad("missing input '%s'", name)
    return payload, rows


def _v1_plain(arr):
    """A numpy array or scalar as Python values; FP16 and FP32 values as the
    floats with the fewest digits that read back as the same value."""
    if arr.dtype.kind == "f" and arr.dtype.itemsize < 8:
        return arr.astype(str).astype(np.float64).tolist()
    return arr.tolist()


def _v1_default(obj):
    if isinstance(obj, (bytes, bytearray, np.bytes_)):
        return {"b64": base64.b64encode(bytes(obj)).decode("ascii")}
    if isinstance(obj, (np.ndarray, np.generic)):
        return _v1_plain(obj)
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        return tolist()
    raise TypeError("%s is not JSON serializable" % type(obj).__name__)


def _v1_rows(result):
    """A dict of named outputs as one object per instance."""
    arrays = {str(k): np.asarray(v) for k, v in result.items()}
    lengths = {len(a) if a.ndim else None for a in arrays.values()}
    if len(lengths) > 1 or None in lengths:
        raise ProtocolError(500, "named outputs must all have the same first "
                            "dimension (one row per instance) to answer "
                            "'predictions'")
    lists = {k: _v1_plain(a) for k, a in arrays.items()}
    n = lengths.pop() if lengths else 0
    return [{k: lists[k][i] for k in lists} for i in range(n)]


def _v1_predict(query, headers, body, request_id):
    sig = signature()
    req = _load_json(body)
    if not isinstance(req, dict):
        raise _bad("the request must be a JSON object with 'instances' or "
                   "'inputs'")
    payload, rows = _v1_inputs(req, sig, body)

    result, post = _predict(payload, query, headers, request_id)
    if _is_response(result):
        return _passthrough(result, post, request_id)
    if rows:
        answer = {"predictions": _v1_rows(result)
                  if isinstance(result, dict) else result}
    else:
        answer = {"outputs": result}
    try:
        text = json.dumps(answer, default=_v1_default).encode()
    except (TypeError, ValueError) as exc:
        raise ProtocolError(500, "predictor returned a value that cannot be "
                            "encoded as JSON: %s" % exc) from None
    return 200, JSON_TYPE, text, None, post

