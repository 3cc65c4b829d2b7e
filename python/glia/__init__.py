"""glia: the package predictors (and, later, clients) import.

Pure standard library: importable with or without a running worker.
"""

import contextvars

__version__ = "0.1.0"

__all__ = ["Response", "request_id", "__version__"]

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
