"""glia: the package predictors and clients import.

Predictors use `glia.Response` and `glia.request_id()`. Notebooks and
scripts use `glia.client()`, which talks to the glia daemon (see
glia/client.py and docs/python-client.md); it and `glia.GliaError` are
loaded on first use, so `import glia` stays cheap.

Pure standard library: importable with or without a running worker.
"""

import contextvars

__version__ = "0.1.0"

__all__ = ["Response", "request_id", "__version__", "client", "Client",
           "GliaError"]

# The X-Request-ID of the request being served by this thread; the worker
# sets it around predict() and post_predict().
_request_id = contextvars.ContextVar("glia_request_id", default=None)


def request_id():
    """The id of the request being handled (its X-Request-ID), or None
    outside a request."""
    return _request_id.get()


class Response:
    """A predictor's answer with explicit status, headers or media type.

    body: str (sent as UTF-8, text/plain by default), bytes (sent as is,
    application/octet-stream by default), None (empty body), or any other
    JSON-serialisable value (application/json by default).
    headers: a mapping or a list of (name, value) pairs. A Content-Type
    header counts as media_type; Content-Length, Connection,
    Transfer-Encoding and X-Request-ID are set by glia and ignored here.
    """

    __slots__ = ("body", "status", "headers", "media_type")

    def __init__(self, body=None, status=200, headers=None, media_type=None):
        self.body = body
        self.status = status
        self.headers = headers
        self.media_type = media_type

    def __repr__(self):
        return "Response(status=%r, media_type=%r, body=%r)" % (
            self.status, self.media_type, self.body)


# Names defined in glia.client, imported when first used (PEP 562).
_CLIENT_NAMES = ("client", "Client", "GliaError")


def __getattr__(name):
    """Loads glia.client on first use of client, Client or GliaError."""
    if name in _CLIENT_NAMES:
        import importlib
        mod = importlib.import_module(".client", __name__)
        # Importing the submodule bound glia.client to the module: bind the
        # three names to the objects themselves.
        for attr in _CLIENT_NAMES:
            globals()[attr] = getattr(mod, attr)
        return globals()[name]
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def __dir__():
    """The module's names, the lazily loaded ones included."""
    return sorted(set(globals()) | set(_CLIENT_NAMES))
