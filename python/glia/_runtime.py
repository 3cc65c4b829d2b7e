"""The Python half of `glia worker` (src/pyhost.c calls in here).

load() builds the user's predictor once; handle() turns one HTTP request
into a predict() call and its result into (status, content type, body
bytes, extra header lines, post-predict state); post() runs post_predict
after the C side has written the response. Requests the gateway marks with
X-Glia-Protocol (Open Inference Protocol V2, TF Serving / KServe V1) are
answered by glia._oip instead (docs/protocols.md).

While a request is handled on a thread, what the predictor prints to
sys.stdout or sys.stderr from that thread has each line prefixed with
"[<request id>] " (see _TaggedStream), so that `glia logs` can tell which
request a line belongs to.
"""

import importlib.util
import inspect
import json
import logging
import math
import operator
import os
import sys
import traceback
from urllib.parse import parse_qs, parse_qsl, quote

import glia
from glia import Response

ERROR_LINE_MAX = 500
PREDICTION_HEADER_MAX = 200  # characters of an X-Glia-Prediction value

JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"
BYTES_TYPE = "application/octet-stream"

# Payload kinds, by request Content-Type.
K_BYTES, K_JSON, K_TEXT, K_FORM, K_MULTIPART = range(5)

# Headers glia writes itself; a glia.Response cannot override them.
RESERVED_HEADERS = frozenset(
    ("content-length", "connection", "transfer-encoding", "x-request-id"))

_predict = None       # calls the user's predict with the arguments it takes
_post_predict = None  # likewise for post_predict, or None
_wants = (False, False, False)  # (payload, query_params, headers) needed
_ctype_cache = {}
_monitor = None       # (regression?, key or None) when spec.monitoring is set
_loaded = (None, {})  # (predictor instance, spec) for glia._oip
_oip = None           # glia._oip, imported by the first protocol request
_raw_stderr = sys.stderr  # where glia's own request-scoped lines go
_store = None         # glia._models.ModelStore with predictor.models
_batch_predict = None  # the user's predict, with server_side_batching
_model_errors = ()    # (glia._models.ModelError,) with predictor.models
_handlers = None      # handler: {"POST": caller, ...} of the Handler class

HANDLER_METHODS = ("POST", "GET", "PUT", "PATCH", "DELETE")
# The class a predictor's file must define, by predictor.type (Cortex).
CLASS_NAMES = {
    "python": ("PythonPredictor", "Predictor"),
    "tensorflow": ("TensorFlowPredictor",),
    "onnx": ("ONNXPredictor",),
}


class LoadError(Exception):
    """A predictor problem reported without an exception type name."""


class PayloadError(Exception):
    """The request body does not match its Content-Type (answers 400)."""


class Headers(dict):
    """Request headers, keyed by lower-case name, looked up in any case."""

    __slots__ = ()

    def __getitem__(self, key):
        return dict.__getitem__(self, key.lower())

    def __contains__(self, key):
        return isinstance(key, str) and dict.__contains__(self, key.lower())

    def get(self, key, default=None):
        return dict.get(self, key.lower(), default)

    def __setitem__(self, key, value):
        dict.__setitem__(self, key.lower(), value)

    def __delitem__(self, key):
        dict.__delitem__(self, key.lower())


# --- loading -------------------------------------------------------------

class _RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.request_id = glia._request_id.get() or "-"
        return True


class _TaggedStream:
    """sys.stdout / sys.stderr for the predictor: inside a request (the
    thread's glia request id is set) every line written starts with
    "[<request id>] "; outside requests text passes through unchanged.
    Everything else (flush, fileno, encoding, isatty, buffer, ...) is the
    wrapped stream's. Writing bytes through .buffer bypasses the prefix."""

    __slots__ = ("_stream", "_at_line_start")

    def __init__(self, stream):
        self._stream = stream
        self._at_line_start = True

    def write(self, s):
        rid = _current_request_id()
        if rid is None or type(s) is not str or not s:
            n = self._stream.write(s)
            if type(s) is str and s:
                self._at_line_start = s[-1] == "\n"
            return n
        prefix = "[" + rid + "] "
        text = s.replace("\n", "\n" + prefix)
        if s[-1] == "\n":
            text = text[:-len(prefix)]
        if self._at_line_start:
            text = prefix + text
        self._at_line_start = s[-1] == "\n"
        self._stream.write(text)
        return len(s)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def __iter__(self):
        return iter(self._stream)

    def __repr__(self):
        return "<glia request-tagged %r>" % (self._stream,)


_current_request_id = glia._request_id.get


def _tag_std_streams():
    global _raw_stderr
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, _TaggedStream):
            if name == "stderr":
                _raw_stderr = stream
            setattr(sys, name, _TaggedStream(stream))


def _setup_logging(level_name):
    root = logging.getLogger()
    # the lines carry [<request id>] already: the raw stream, not the
    # tagged one
    handler = logging.StreamHandler(_raw_stderr)
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(levelname)s [%(request_id)s] %(message)s"))
    root.addHandler(handler)
    root.setLevel(getattr(logging, str(level_name).upper(), logging.INFO))


def _fix_executable():
    # sys.executable is the glia binary; multiprocessing's spawn and
    # subprocess users expect a Python interpreter there.
    exe = os.path.join(sys.base_exec_prefix, "bin",
                       "python%d.%d" % sys.version_info[:2])
    if os.access(exe, os.X_OK):
        sys.executable = exe
        sys._base_executable = exe


def _import_file(path):
    stem = os.path.splitext(os.path.basename(path))[0]
    name = stem if stem.isidentifier() and stem not in sys.modules \
        else "glia_predictor"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None:
        raise LoadError("cannot import %s: not a Python file" % path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _find_class(module, path, pred):
    """The predictor class: Handler for a handler: section (Cortex
    0.34-0.35), else by type (CLASS_NAMES)."""
    names = ("Handler",) if pred.get("handler") else \
        CLASS_NAMES.get(pred.get("type") or "python", ("PythonPredictor",))
    for name in names:
        cls = getattr(module, name, None)
        if inspect.isclass(cls):
            return cls
    if len(names) == 2:
        raise LoadError("%s defines neither %s nor %s"
                        % ((os.path.basename(path),) + names))
    raise LoadError("%s defines no class %s" % (os.path.basename(path),
                                                names[0]))


def _match_args(fn, available, what):
    """Names of `available` that fn takes (all of them with **kwargs).
    Raises LoadError when fn requires a parameter glia cannot give."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return tuple(available)
    names = []
    for p in sig.parameters.values():
        if p.kind == p.VAR_KEYWORD:
            return tuple(available)
        if p.kind == p.VAR_POSITIONAL:
            continue
        if p.name in available:
            if p.kind == p.POSITIONAL_ONLY:
                raise LoadError("%s: parameter '%s' must not be positional-only"
                                % (what, p.name))
            names.append(p.name)
        elif p.default is p.empty:
            raise LoadError("%s takes an unknown parameter '%s' (glia passes %s)"
                            % (what, p.name, ", ".join(available)))
    return tuple(names)


def _caller(fn, names):
    """fn called with the named subset of (payload, query_params, headers)."""
    wp, wq, wh = ("payload" in names, "query_params" in names,
                  "headers" in names)
    if names == ("payload",):
        return lambda p, q, h: fn(payload=p)
    if not names:
        return lambda p, q, h: fn()

    def call(p, q, h):
        kw = {}
        if wp:
            kw["payload"] = p
        if wq:
            kw["query_params"] = q
        if wh:
            kw["headers"] = h
        return fn(**kw)
    return call


def _post_caller(fn, names):
    has_resp = "response" in names
    inner = _caller(fn, tuple(n for n in names if n != "response"))
    if not has_resp:
        return lambda r, p, q, h: inner(p, q, h)

    def call(r, p, q, h):
        kw = {"response": r}
        if "payload" in names:
            kw["payload"] = p
        if "query_params" in names:
            kw["query_params"] = q
        if "headers" in names:
            kw["headers"] = h
        return fn(**kw)
    return call


def _setup_monitoring(spec):
    global _monitor
    mon = spec.get("monitoring")
    if not mon:
        _monitor = None
        return
    _monitor = (mon.get("model_type") == "regression", mon.get("key"))


class PythonClient:
    """What a predictor's __init__ gets as `python_client` when the API
    has predictor.models: the way to its models (SPEC section 3)."""

    __slots__ = ("_store",)

    def __init__(self, store):
        self._store = store

    def get_model(self, model_name=None, model_version="latest"):
        """What load_model returned for the model (and version: "latest"
        or a number), loading it first when it is not in memory. Raises
        glia.ModelError (answered 404 for an unknown model or version)."""
        return self._store.get_model(model_name, model_version)

    def models(self):
        """The model names (None for the one model of models.path)."""
        return self._store.names()


def _model_store(pred, loader):
    """The ModelStore for predictor.models, loading with loader(path)."""
    from glia import _models
    import _glia_native

    def trim():
        import gc
        gc.collect()
        _glia_native.malloc_trim()

    global _model_errors
    _model_errors = (_models.ModelError,)
    # the daemon gives GLIA_HOME/cache/<api>; a worker started by hand
    # uses a private directory
    cache_dir = os.environ.get("GLIA_CACHE_DIR") or os.path.join(
        "/tmp", "glia-cache-%d" % os.getuid(),
        os.environ.get("GLIA_API") or "api")
    return _models.ModelStore(pred["models"], loader,
                              cache_dir=cache_dir,
                              fetch=_glia_native.fetch,
                              s3_list=_glia_native.s3_list,
                              s3_head=_glia_native.s3_head,
                              emit=_glia_native.emit, trim=trim)


class _MetricsClient:
    """Cortex's metrics_client (a DogStatsd client on Cortex): accepted so
    that predictors run unchanged; the values go nowhere on glia."""

    def _ignore(self, *args, **kwargs):
        return None

    increment = decrement = gauge = histogram = distribution = timing = \
        set = count = _ignore


def _client_name(pred):
    """The __init__ parameter of the type's model client (Cortex's names:
    python_client, model_client in a 0.34-0.35 Handler, tensorflow_client,
    onnx_client)."""
    kind = pred.get("type") or "python"
    if kind == "python":
        return "model_client" if pred.get("handler") else "python_client"
    return kind + "_client"


def _client(pred, instance):
    """The type's model client over a ModelStore (global _store), or None
    without predictor.models. python: load_model loads; tensorflow and
    onnx: their runtime (glia._cortex_clients)."""
    global _store
    kind = pred.get("type") or "python"
    if not pred.get("models"):
        return None
    if kind == "python":
        load = getattr(instance, "load_model", None)
        if not callable(load):
            raise LoadError("%s defines no load_model method (required "
                            "with predictor.models)" % type(instance).__name__)
        _store = _model_store(pred, load)
        return PythonClient(_store)
    from glia import _cortex_clients as cc
    if kind == "tensorflow":
        _store = _model_store(pred, cc.tensorflow_loader)
        return cc.TensorFlowClient(_store, cc.signature_keys(pred["models"]))
    _store = _model_store(pred, cc.onnx_loader)
    return cc.ONNXClient(_store)


def _construct(cls, pred):
    """The predictor instance, built with the __init__ arguments it takes
    (Cortex's names: config, job_spec, metrics_client and the type's
    model client, _client_name); with
    predictor.models also its ModelStore (started after __init__, so that
    load_model may use what __init__ set up)."""
    init_args = {"config": pred.get("config") or {}, "job_spec": None,
                 "metrics_client": _MetricsClient()}
    instance = cls.__new__(cls)
    init_args[_client_name(pred)] = _client(pred, instance)
    names = _match_args(cls, tuple(init_args), cls.__name__ + ".__init__")
    instance.__init__(**{n: init_args[n] for n in names})
    if _store is not None:
        _store.start()
        _apply_control()
    return instance


def _build(spec):
    global _predict, _post_predict, _wants, _loaded, _batch_predict
    pred = spec["predictor"]
    path = pred["path"]
    pp = pred.get("python_path") or "."
    sys.path.insert(1, os.path.abspath(pp))

    module = _import_file(path)
    cls = _find_class(module, path, pred)
    instance = _construct(cls, pred)
    if pred.get("handler"):
        _build_handler(instance, pred)
        _loaded = (instance, spec)
        return

    predict = getattr(instance, "predict", None)
    if not callable(predict):
        raise LoadError("%s defines no predict method" % cls.__name__)
    pnames = _match_args(predict, ("payload", "query_params", "headers"),
                         cls.__name__ + ".predict")
    _predict = _caller(predict, pnames)
    if pred.get("server_side_batching"):
        # the protocol paths (glia._oip) call _predict with one request:
        # a batch of one
        _batch_predict = _predict
        _predict = _one_of_batch
    wanted = set(pnames)

    post = getattr(instance, "post_predict", None)
    if callable(post):
        qnames = _match_args(post, ("response", "payload", "query_params",
                                    "headers"), cls.__name__ + ".post_predict")
        _post_predict = _post_caller(post, qnames)
        wanted.update(qnames)
    _wants = ("payload" in wanted, "query_params" in wanted,
              "headers" in wanted)
    _loaded = (instance, spec)


def _build_handler(instance, pred):
    """A Cortex 0.34-0.35 Handler: handle_<method> for each HTTP method it
    defines (_handlers); handle_post also serves the inference protocols
    and server-side batches."""
    global _predict, _wants, _handlers, _batch_predict
    name = type(instance).__name__
    handlers, wanted = {}, set()
    for method in HANDLER_METHODS:
        fn = getattr(instance, "handle_" + method.lower(), None)
        if not callable(fn):
            continue
        names = _match_args(fn, ("payload", "query_params", "headers"),
                            "%s.handle_%s" % (name, method.lower()))
        handlers[method] = _caller(fn, names)
        wanted.update(names)
    if not handlers:
        raise LoadError("%s defines none of %s" % (name, ", ".join(
            "handle_" + m.lower() for m in HANDLER_METHODS)))
    if pred.get("server_side_batching") and "POST" not in handlers:
        raise LoadError("%s defines no handle_post (server_side_batching "
                        "batches POST requests)" % name)
    _handlers = handlers
    _predict = handlers.get("POST") or _no_post
    if pred.get("server_side_batching"):
        _batch_predict = _predict
        _predict = _one_of_batch
    _wants = ("payload" in wanted, "query_params" in wanted,
              "headers" in wanted)


def _no_post(payload, qp, headers):
    raise LoadError("the Handler defines no handle_post")


def _one_line(exc):
    if isinstance(exc, LoadError):
        msg = str(exc)
    else:
        msg = "%s: %s" % (type(exc).__name__, exc)
    msg = " ".join(msg.split())
    if len(msg) > ERROR_LINE_MAX:
        msg = msg[:ERROR_LINE_MAX - 3] + "..."
    return msg


def load(spec_json, replica_id):
    """Builds the predictor. None on success, else a one-line message (the
    traceback is already on stderr)."""
    try:
        spec = json.loads(spec_json)
        _tag_std_streams()
        _setup_logging(spec["predictor"].get("log_level", "info"))
        _fix_executable()
        _setup_monitoring(spec)
        _build(spec)
    except BaseException as exc:
        if not isinstance(exc, LoadError):
            traceback.print_exc()
        else:
            print("glia: " + str(exc), file=sys.stderr)
        sys.stderr.flush()
        return _one_line(exc)
    return None


# --- requests ------------------------------------------------------------

def _ctype_kind(ctype):
    """(kind, charset) for a Content-Type value; cached."""
    hit = _ctype_cache.get(ctype)
    if hit is not None:
        return hit
    parts = ctype.split(";")
    main = parts[0].strip().lower()
    charset = None
    for param in parts[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    if main == JSON_TYPE or (main.startswith("application/")
                             and main.endswith("+json")):
        kind = K_JSON
    elif main.startswith("text/"):
        kind = K_TEXT
    elif main == "application/x-www-form-urlencoded":
        kind = K_FORM
    elif main == "multipart/form-data":
        kind = K_MULTIPART
    else:
        kind = K_BYTES
    hit = (kind, charset)
    if len(_ctype_cache) >= 256:
        _ctype_cache.clear()
    _ctype_cache[ctype] = hit
    return hit


def _add_field(out, name, value):
    old = out.get(name)
    if old is None:
        out[name] = value
    elif isinstance(old, list):
        old.append(value)
    else:
        out[name] = [old, value]


def _decode_json(body):
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise PayloadError("invalid JSON payload: %s" % exc) from None
    except RecursionError:  # deeper than the interpreter's recursion limit
        raise PayloadError("invalid JSON payload: nested too deep") from None


def _decode_form(body):
    # Leniency: `curl -d '{"a": 1}'` sends JSON as form data (as in the
    # Cortex tutorials); a form body that parses as a JSON object or array
    # is handed over as that value.
    head = body.lstrip()[:1]
    if head in (b"{", b"["):
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            pass
    out = {}
    text = body.decode("utf-8", "replace")
    for name, values in parse_qs(text, keep_blank_values=True).items():
        out[name] = values[0] if len(values) == 1 else values
    return out


def _decode_multipart(ctype, body):
    from email import policy
    from email.parser import BytesParser
    head = b"Content-Type: " + ctype.encode("latin-1", "replace") + b"\r\n\r\n"
    msg = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not msg.is_multipart() or msg.defects:
        raise PayloadError("invalid multipart payload")
    out = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name is None:
            continue
        data = part.get_payload(decode=True) or b""
        if part.get_filename() is None:
            charset = part.get_content_charset() or "utf-8"
            try:
                data = data.decode(charset, "replace")
            except LookupError:
                data = data.decode("utf-8", "replace")
        _add_field(out, str(name), data)
    return out


def _decode(ctype, body):
    if ctype is None:
        return body
    kind, charset = _ctype_kind(ctype)
    if kind == K_JSON:
        return _decode_json(body)
    if kind == K_TEXT:
        try:
            return body.decode(charset or "utf-8")
        except (LookupError, UnicodeDecodeError) as exc:
            raise PayloadError("invalid text payload: %s" % exc) from None
    if kind == K_FORM:
        return _decode_form(body)
    if kind == K_MULTIPART:
        return _decode_multipart(ctype, body)
    return body


def _headers(raw):
    h = Headers()
    for name, value in raw:
        key = name.lower()
        old = dict.get(h, key)
        dict.__setitem__(h, key, value if old is None else old + ", " + value)
    return h


class _Unencodable(Exception):
    pass


def _json_default(obj):
    tolist = getattr(obj, "tolist", None)  # numpy arrays and scalars
    if callable(tolist):
        return tolist()
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    raise _Unencodable(type(obj).__name__)


def _non_finite(value):
    """How JavaScript writes the first NaN or infinity in value: "NaN",
    "Infinity" or "-Infinity" (looked for in the first 100000 values)."""
    todo = [value]
    for _ in range(100000):
        if not todo:
            break
        v = todo.pop()
        if isinstance(v, float) and not math.isfinite(v):
            return "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")
        if isinstance(v, dict):
            todo.extend(reversed(list(v.values())))
        elif isinstance(v, (list, tuple)):
            todo.extend(reversed(v))
        elif callable(getattr(v, "tolist", None)) and not isinstance(v, float):
            todo.append(v.tolist())
    return "NaN or Infinity"


def _to_json(value):
    """JSON bytes for value. NaN and the infinities are refused: JSON has
    no way to write them, and clients' parsers reject "NaN"."""
    try:
        return json.dumps(value, default=_json_default,
                          allow_nan=False).encode()
    except _Unencodable as exc:
        name = str(exc)
    except ValueError as exc:
        if not str(exc).startswith("Out of range float"):
            name = type(value).__name__
        else:
            raise _Unencodable("predict returned a value JSON cannot "
                               "represent: " + _non_finite(value)) from None
    except (TypeError, RecursionError):
        name = type(value).__name__
    raise _Unencodable(
        "predictor returned a value that cannot be encoded as JSON: " + name)


def _header_lines(headers):
    """(content type or None, b"Name: value\\r\\n"... or None)."""
    items = headers.items() if hasattr(headers, "items") else headers
    ctype = None
    lines = []
    for name, value in items:
        name, value = str(name), str(value)
        if (not name or any(c in name for c in " \t\r\n:\0")
                or any(c in value for c in "\r\n\0")):
            raise _Unencodable("invalid response header %r" % name)
        low = name.lower()
        if low == "content-type":
            ctype = value
        elif low not in RESERVED_HEADERS:
            lines.append("%s: %s\r\n" % (name, value))
    try:
        extra = "".join(lines).encode("latin-1") if lines else None
    except UnicodeEncodeError:
        raise _Unencodable("response header is not latin-1 text") from None
    return ctype, extra


def _encode_body(body):
    """(default content type, bytes) for a value."""
    if body is None:
        return None, b""
    if isinstance(body, str):
        return TEXT_TYPE, body.encode()
    if isinstance(body, (bytes, bytearray, memoryview)):
        return BYTES_TYPE, bytes(body)
    return JSON_TYPE, _to_json(body)


def _status(status):
    try:
        code = operator.index(status) if type(status) is not bool else None
    except TypeError:
        code = None
    if code is None or not 100 <= code <= 599:
        raise _Unencodable("response status must be an integer "
                           "from 100 to 599, not %r" % (status,))
    return code


def _encode_response(resp):
    status = _status(resp.status)
    ctype, body = _encode_body(resp.body)
    extra = None
    if resp.headers:
        hdr_ctype, extra = _header_lines(resp.headers)
        ctype = hdr_ctype or ctype
    if resp.media_type:
        ctype = str(resp.media_type)
    return status, ctype, body, extra


def _encode_starlette(resp):
    # Cortex predictors may return a starlette.responses.Response: take its
    # status, body and headers as they are (duck-typed; starlette is not
    # needed by glia).
    headers = [(k.decode("latin-1"), v.decode("latin-1"))
               for k, v in resp.raw_headers]
    ctype, extra = _header_lines(headers)
    return _status(resp.status_code), ctype, bytes(resp.body), extra


def _encode(result):
    """(status, content type, body bytes, extra header bytes or None)."""
    t = type(result)
    if t is str:
        return 200, TEXT_TYPE, result.encode(), None
    if t is dict or t is list:
        return 200, JSON_TYPE, _to_json(result), None
    if result is None:
        return 200, JSON_TYPE, b"null", None
    if isinstance(result, Response):
        return _encode_response(result)
    if (getattr(result, "raw_headers", None) is not None
            and hasattr(result, "status_code") and hasattr(result, "body")):
        return _encode_starlette(result)
    ctype, body = _encode_body(result)
    return 200, ctype, body, None


def _error(status, message):
    return (status, JSON_TYPE, json.dumps({"error": message}).encode(),
            None, None)


def _log_exception(request_id):
    prefix = "[%s] " % (request_id or "-")
    text = "".join(traceback.format_exc())
    lines = [prefix + line for line in text.splitlines()]
    _raw_stderr.write("\n".join(lines) + "\n")


# --- prediction monitoring ----------------------------------------------

def _predicted_value(result):
    """The value monitoring counts: the answer itself when it is a scalar,
    or answer[key] for a mapping when monitoring.key is set; else None."""
    if isinstance(result, Response):
        result = result.body
    key = _monitor[1]
    if key is not None:
        if not isinstance(result, dict):
            return None
        result = result.get(key)
    tolist = getattr(result, "tolist", None)  # numpy scalars
    if callable(tolist) and not isinstance(result, (str, bytes)):
        result = tolist()
    if isinstance(result, (str, int, float)):  # bool is an int
        return result
    return None


def _capped_quote(text):
    """Percent-encoded text (UTF-8, only A-Z a-z 0-9 - . _ ~ kept), cut to
    PREDICTION_HEADER_MAX characters between whole characters."""
    out = quote(text[:PREDICTION_HEADER_MAX], safe="")
    if len(out) <= PREDICTION_HEADER_MAX:
        return out
    parts, n = [], 0
    for ch in text:
        q = quote(ch, safe="")
        if n + len(q) > PREDICTION_HEADER_MAX:
            break
        parts.append(q)
        n += len(q)
    return "".join(parts)


def _prediction_header(result):
    """b"X-Glia-Prediction: <value>\r\n" for the gateway, or None.
    classification: the class as text, percent-encoded; regression: the
    value as a float (Python's repr: "0.5", "1e-05", "-3.0")."""
    value = _predicted_value(result)
    if value is None:
        return None
    if _monitor[0]:
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            return None
        if number != number or number in (float("inf"), float("-inf")):
            return None
        text = repr(number)
    else:
        text = _capped_quote(value if type(value) is str else str(value))
        if not text:
            return None
    return b"X-Glia-Prediction: " + text.encode("ascii") + b"\r\n"


def handle(method, path, query, raw_headers, body, content_type, request_id):
    """One request -> (status, content type or None, body bytes,
    extra header bytes or None, post_predict state or None)."""
    token = glia._request_id.set(request_id)
    try:
        return _handle(method, query, raw_headers, body, content_type,
                       request_id)
    finally:
        glia._request_id.reset(token)


def _handle(method, query, raw_headers, body, content_type, request_id):
    for name, value in raw_headers:
        if name == "X-Glia-Protocol":  # the gateway's, exactly so written
            return _protocol(value, query, raw_headers, body, request_id)
    predict = _predict
    if _handlers is not None:
        predict = _handlers.get(method)
        if predict is None:
            return _method_not_allowed(method)
    try:
        payload, qp, headers = _arguments(query, raw_headers, body,
                                          content_type)
    except PayloadError as exc:
        return _error(400, str(exc))
    try:
        result = predict(payload, qp, headers)
    except _model_errors as exc:
        return _model_error(exc, request_id)
    except BaseException as exc:
        _log_exception(request_id)
        return _error(500, "%s: %s" % (type(exc).__name__, exc))
    result, post = _after_predict(result, request_id, payload, qp, headers)
    return _answer(result, request_id, post)


def _method_not_allowed(method):
    """405 for an HTTP method the Handler has no handle_<method> for."""
    allowed = ", ".join(m for m in HANDLER_METHODS if m in _handlers)
    status, ctype, body, _, _ = _error(
        405, "method %s not allowed: the Handler has no handle_%s (it "
        "handles %s)" % (method, method.lower(), allowed))
    return status, ctype, body, b"Allow: " + allowed.encode() + b"\r\n", \
        None


def _after_predict(result, request_id, payload, qp, headers):
    """(the answer, post state or None) for what predict returned for one
    request, on the HTTP path and the inference protocols' alike: a
    Handler's (result, callback) answers result and runs callback after
    the response; post_predict gets the request's arguments."""
    if _handlers is not None:
        return _split_callback(result, request_id)
    if _post_predict is not None:
        return result, (request_id, result, payload, qp, headers)
    return result, None


def _split_callback(result, request_id):
    """(result, post state): a Handler may return (result, callback), the
    callback (no arguments) run after the response is sent (Cortex
    0.34-0.35 callbacks)."""
    if (type(result) is tuple and len(result) == 2
            and callable(result[1])):
        return result[0], (request_id, result[1])
    return result, None


def _arguments(query, raw_headers, body, content_type):
    """(payload, query_params, headers) for predict, each decoded only
    when some method takes it (else None). Raises PayloadError."""
    want_p, want_q, want_h = _wants
    payload = _decode(content_type, body) if want_p else None
    qp = (dict(parse_qsl(query, keep_blank_values=True)) if query else {}) \
        if want_q else None
    headers = _headers(raw_headers) if want_h else None
    return payload, qp, headers


def _answer(result, request_id, post):
    """The 5-tuple for what predict returned for one request."""
    try:
        status, ctype, out, extra = _encode(result)
    except _Unencodable as exc:
        _raw_stderr.write("[%s] %s\n" % (request_id or "-", exc))
        return _error(500, str(exc))
    if _monitor is not None and 200 <= status < 300:
        try:
            line = _prediction_header(result)
        except Exception:  # noqa: BLE001 - monitoring never fails a request
            line = None
        if line is not None:
            extra = line if extra is None else extra + line
    return status, ctype, out, extra, post


def _model_error(exc, request_id):
    """get_model refused (unknown model or version: 404; a model that
    failed to load: 500; unloaded: 503): one log line, its own status."""
    _raw_stderr.write("[%s] %s\n" % (request_id or "-", exc))
    return _error(exc.status, str(exc))


# --- server-side batching ------------------------------------------------

def _one_of_batch(payload, qp, headers):
    """predict for a single request of a batching API (the inference
    protocol paths): a batch of one. A Handler's callback stays with the
    answer, as (answer, callback), for _after_predict."""
    result = _batch_predict([payload], [qp], [headers])
    callback = None
    if _handlers is not None:
        result, callback = _split_callback(result, None)
    answer = _batch_elements(result, 1)[0]
    return answer if callback is None else (answer, callback[1])


def _batch_elements(result, n):
    """The n answers of a batch predict, or _BatchError."""
    if hasattr(result, "tolist") and not isinstance(result, (list, tuple)):
        result = list(result)  # a numpy array: one element per row
    if not isinstance(result, (list, tuple)):
        raise _BatchError("with server_side_batching, predict must return "
                          "a list with one answer per request; it returned "
                          "%s for a batch of %d" % (type(result).__name__, n))
    if len(result) != n:
        raise _BatchError("with server_side_batching, predict must return "
                          "one answer per request: got %d answers for a "
                          "batch of %d" % (len(result), n))
    return result


class _BatchError(Exception):
    pass


def handle_batch(items):
    """Several requests (the 7-tuples of handle) -> their 5-tuples, with
    one predict call for every request whose payload decodes. Requests of
    the inference protocols are answered one by one (batches of one)."""
    answers = [None] * len(items)
    batch = []  # (index, request id, payload, query_params, headers)
    for i, (method, _, query, raw_headers, body, ctype, rid) in \
            enumerate(items):
        if any(name == "X-Glia-Protocol" for name, _ in raw_headers) or (
                _handlers is not None and method != "POST"):
            answers[i] = _with_batch_size(handle(*items[i]), 1)
            continue
        try:
            batch.append((i, rid) + _arguments(query, raw_headers, body,
                                               ctype))
        except PayloadError as exc:
            answers[i] = _error(400, str(exc))
    if batch:
        _run_batch(batch, answers)
        first = batch[0][0]  # the gateway counts each batch once
        answers[first] = _with_batch_size(answers[first], len(batch))
    return answers


def _with_batch_size(answer, n):
    status, ctype, out, extra, post = answer
    line = b"X-Glia-Batch-Size: %d\r\n" % n
    return status, ctype, out, line if extra is None else extra + line, post


def _run_batch(batch, answers):
    """predict once for the batch; each request gets its element. Lines
    the predictor prints carry the first request's id."""
    ids = [b[1] for b in batch]
    payloads = [b[2] for b in batch]
    qps = [b[3] for b in batch]
    hds = [b[4] for b in batch]
    token = glia._request_id.set(ids[0])
    callback = None
    try:
        results = _batch_predict(payloads, qps, hds)
        if _handlers is not None:
            results, callback = _split_callback(results, ids[0])
        results = _batch_elements(results, len(batch))
    except _model_errors as exc:
        for b in batch:
            answers[b[0]] = _model_error(exc, b[1])
        return
    except _BatchError as exc:
        _raw_stderr.write("[%s] %s\n" % (ids[0] or "-", exc))
        for b in batch:
            answers[b[0]] = _error(500, str(exc))
        return
    except BaseException as exc:
        _log_exception(ids[0])
        msg = "%s: %s" % (type(exc).__name__, exc)
        for b in batch:
            answers[b[0]] = _error(500, msg)
        return
    finally:
        glia._request_id.reset(token)
    post = callback
    if _post_predict is not None:
        post = (ids[0], list(results), payloads, qps, hds)
    for k, b in enumerate(batch):
        status, ctype, out, extra, _ = _answer(results[k], b[1], None)
        answers[b[0]] = (status, ctype, out, extra, post if k == 0 else None)


# --- predictor.models ----------------------------------------------------

def models_scan():
    """The watcher thread's rescan: (directories to watch, seconds until
    the next scan wanted or None). The daemon's control file (models
    unloaded through the OIP repository extension) is watched too."""
    if _store is None:
        return [], None
    control_dir = _apply_control()
    dirs, next_scan = _store.rescan()
    if control_dir:
        dirs = sorted(set(dirs) | {control_dir})
    return dirs, next_scan


_unloaded = set()  # model names the control file says are unloaded


def _apply_control():
    """Unloads and reloads models as GLIA_MODEL_CONTROL lists them; the
    directory to watch for changes, or None."""
    global _unloaded
    path = os.environ.get("GLIA_MODEL_CONTROL")
    if not path:
        return None
    try:
        with open(path) as f:
            names = set(json.load(f).get("unloaded") or ())
    except (OSError, ValueError, AttributeError):
        names = _unloaded  # absent or being replaced: keep what we have
    for name in sorted(names - _unloaded):
        try:
            _store.unload(name)
        except _model_errors:
            pass  # not a model of ours (any more)
    for name in sorted(_unloaded - names):
        try:
            _store.load(name)
        except _model_errors as exc:
            _raw_stderr.write("glia: models: %s\n" % exc)
    _unloaded = names
    return os.path.dirname(path)


def models_tick():
    """Once a second on the watcher thread: model metrics to the daemon."""
    if _store is not None:
        _store.flush_stats()


def _protocol(protocol, query, raw_headers, body, request_id):
    """A request of a standard inference protocol (Open Inference Protocol
    V2, TF Serving / KServe V1): glia._oip answers it."""
    global _oip
    if _oip is None:
        try:
            from glia import _oip as module
        except ImportError as exc:
            return _error(500, "the inference protocols need numpy in the "
                          "predictor's Python: %s" % exc)
        _oip = module
    return _oip.handle(protocol, query, raw_headers, body, request_id)


def post(state):
    """Runs post_predict for a request whose response was sent."""
    token = glia._request_id.set(state[0])
    try:
        if len(state) == 2:  # a Handler's callback
            state[1]()
        else:
            _, result, payload, qp, headers = state
            _post_predict(result, payload, qp, headers)
    except BaseException:
        _log_exception(state[0])
    finally:
        glia._request_id.reset(token)
