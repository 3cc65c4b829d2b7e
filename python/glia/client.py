"""The Python client of the glia daemon's management API.

Everything the ``glia`` command line does goes through the daemon's
management API (HTTP + JSON); this module speaks the same API from Python,
so that a notebook or a script can deploy, inspect, call and delete APIs::

    import glia

    c = glia.client()                      # the local daemon (Unix socket)
    c.deploy("path/to/glia.yaml", wait=True)
    c.predict("iris-classifier", {"sepal_length": 5.1, ...})
    print(c.logs("iris-classifier", tail=20))
    c.delete("iris-classifier")

    r = glia.client(url="http://10.0.0.5:9000", token="...")  # over TCP

The local daemon listens on the Unix socket ``GLIA_HOME/glia.sock`` and needs
no credentials (the socket's file mode guards it). A daemon started with
``glia up --admin-listen HOST:PORT`` also listens on TCP, where every call
carries ``Authorization: Bearer <token>`` (the token is in
``GLIA_HOME/token`` on the daemon's machine).

Standard library only. Every failure raises :class:`GliaError`, which carries
the server's one-line message and the HTTP status when there was one.
"""

import http.client
import json
import os
import socket
import ssl
import sys
import threading
import time
import types
import urllib.parse
from collections.abc import Mapping

__all__ = ["client", "Client", "GliaError", "LogStream"]

_VERSION = "0.1.0"
_USER_AGENT = "glia-python/" + _VERSION

# status values of an API (docs/management-api.md)
_FAILED_STATES = ("failed", "update failed")


class GliaError(Exception):
    """An error from glia: the daemon or the gateway answered with an error,
    or could not be reached.

    ``message`` is the server's ``{"error": ...}`` text (or a description of
    what went wrong on this side); ``status`` is the HTTP status code when
    the server answered (401 wrong token, 404 no such API, 400 invalid
    spec, ...), else None. ``request_id`` is the gateway's ``X-Request-ID``
    for a failed :meth:`Client.predict`, else None.
    """

    def __init__(self, message, status=None):
        """message: what went wrong; status: the HTTP status, if any."""
        super().__init__(message)
        self.message = message
        self.status = status
        self.request_id = None

    def __str__(self):
        """The message alone, as the server wrote it."""
        return self.message

    def __repr__(self):
        """GliaError('message', status=N)."""
        return "GliaError(%r, status=%r)" % (self.message, self.status)


class UnixHTTPConnection(http.client.HTTPConnection):
    """An ``http.client.HTTPConnection`` over a Unix stream socket.

    ``socket_path`` is the socket's file; the Host header says
    ``localhost``.
    """

    def __init__(self, socket_path, timeout=None):
        """socket_path: the socket file; timeout: seconds, None for none."""
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self):
        """Connects to the Unix socket (the timeout applies to every later
        socket operation too)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(self.timeout)
            s.connect(self.socket_path)
        except BaseException:
            s.close()
            raise
        self.sock = s


def _content_type(resp):
    """The media type of an http.client response, lower case, without
    parameters."""
    return (resp.getheader("Content-Type") or "").split(";")[0].strip().lower()


def _charset(resp, default="utf-8"):
    """The charset parameter of the response's Content-Type, or default."""
    for part in (resp.getheader("Content-Type") or "").split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return default


def _is_json(ctype):
    """True for application/json and the +json media types."""
    return ctype == "application/json" or ctype.endswith("+json")


def _decode_body(resp, raw):
    """A response body as Python: parsed JSON for a JSON media type (None
    when empty), str for text/*, bytes otherwise."""
    ctype = _content_type(resp)
    if _is_json(ctype):
        if not raw.strip():
            return None
        try:
            return json.loads(raw.decode(_charset(resp)))
        except (ValueError, LookupError):
            return raw.decode("utf-8", errors="replace")
    if ctype.startswith("text/") or ctype == "application/x-ndjson":
        try:
            return raw.decode(_charset(resp), errors="replace")
        except LookupError:
            return raw.decode("utf-8", errors="replace")
    return raw


def _error_message(resp, raw):
    """The server's error message: the "error" member of a JSON body, else
    the body's text, else the HTTP reason phrase."""
    text = raw.decode("utf-8", errors="replace").strip()
    if _is_json(_content_type(resp)) or text.startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and obj.get("error") is not None:
            return str(obj["error"])
    if text:
        return text if len(text) <= 2000 else text[:2000] + "..."
    return "HTTP %d %s" % (resp.status, resp.reason or "")


def _json_default(obj):
    """json.dumps hook for spec values: paths become strings."""
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError("%s is not JSON serialisable in a glia spec"
                    % type(obj).__name__)


def _home_dir(home=None):
    """GLIA_HOME as the CLI finds it: home, else $GLIA_HOME, else ~/.glia;
    '~' expanded, made absolute."""
    h = home if home else os.environ.get("GLIA_HOME")
    if not h:
        h = os.path.join(os.path.expanduser("~"), ".glia")
    return os.path.abspath(os.path.expanduser(os.fspath(h)))


def _api_path(name, action=""):
    """The management API path of an API (name quoted), plus an action."""
    path = "/v1/apis/" + urllib.parse.quote(str(name), safe="")
    return path + "/" + action if action else path


class LogStream:
    """The lines of a followed log, as they are written (see
    :meth:`Client.logs` with ``follow=True``).

    Iterate over it to get each line (a str without its newline, or a dict
    with ``format="json"``); iteration blocks until the next line comes and
    ends when the daemon ends the stream (the API is deleted or the daemon
    stops) or when :meth:`close` is called, from any thread. Use it as a
    context manager to close it on the way out::

        with c.logs("iris", follow=True) as lines:
            for line in lines:
                print(line)
                if "done" in line:
                    break
    """

    def __init__(self, conn, sock, resp, where, as_json=False):
        """Made by Client.logs(follow=True): the open connection, its socket
        and the response whose headers were read."""
        self._conn = conn
        self._sock = sock
        self._resp = resp
        self._where = where
        self._json = as_json
        self._lock = threading.Lock()
        self._closed = False    # close() was called or the stream ended
        self._reading = False   # a thread is blocked in readline()
        self._released = False  # the connection is closed

    @property
    def closed(self):
        """True once the stream was closed or ended."""
        return self._closed

    def __iter__(self):
        """The stream is its own iterator."""
        return self

    def __next__(self):
        """The next line, blocking until it comes; StopIteration at the
        end."""
        with self._lock:
            if self._closed:
                raise StopIteration
            self._reading = True
        error = None
        try:
            # http.client decodes the chunked transfer coding; readline()
            # returns as soon as one whole line has arrived.
            raw = self._resp.readline()
        except (OSError, ValueError, http.client.HTTPException) as e:
            raw, error = b"", e
        with self._lock:
            self._reading = False
            closed_by_us = self._closed
            if not raw:
                self._closed = True
        if closed_by_us or not raw:
            self._release()
            if error is not None and not closed_by_us:
                raise GliaError("the log stream from the glia daemon at %s "
                                "was cut: %s" % (self._where, error))
            raise StopIteration
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if self._json:
            try:
                return json.loads(line)
            except ValueError:
                return {"message": line}
        return line

    def close(self):
        """Stops following: closes the connection. Safe to call more than
        once and from another thread (an iteration blocked there then
        ends)."""
        with self._lock:
            self._closed = True
            reading = self._reading
        try:
            # wakes up a reader blocked in another thread
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if not reading:
            # else the reader releases the connection when it wakes up
            self._release()

    def _release(self):
        """Closes the response, the connection and the socket, once."""
        with self._lock:
            if self._released:
                return
            self._released = True
        try:
            self._resp.close()
        except Exception:  # noqa: BLE001 - closing, nothing to report
            pass
        self._conn.close()
        try:
            self._sock.close()
        except OSError:
            pass

    def __enter__(self):
        """Returns the stream itself."""
        return self

    def __exit__(self, *exc):
        """Closes the stream."""
        self.close()

    def __del__(self):
        """Closes the connection of a stream that was let go."""
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class Client:
    """A connection to one glia daemon's management API.

    Make one with :func:`glia.client`. A Client holds no open connection
    between calls (each call opens its own), so it may be shared between
    threads.
    """

    def __init__(self, home=None, url=None, token=None, timeout=60.0,
                 gateway_url=None, api_key=None):
        """See :func:`glia.client`."""
        self.timeout = timeout
        self.token = token
        self.api_key = api_key
        self.gateway_url = gateway_url.rstrip("/") if gateway_url else None
        if url is not None:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("url must look like http://HOST:PORT, not %r"
                                 % (url,))
            self.url = "%s://%s" % (parts.scheme, parts.netloc)
            self.home = None
            self.socket_path = None
            self._scheme = parts.scheme
            self._host = parts.hostname
            self._port = parts.port
            self._where = self.url
        else:
            self.url = None
            self.home = _home_dir(home)
            self.socket_path = os.path.join(self.home, "glia.sock")
            self._where = self.socket_path

    def __repr__(self):
        """Names the socket or the URL."""
        if self.url:
            return "<glia.Client url=%r>" % self.url
        return "<glia.Client socket=%r>" % self.socket_path

    # ------------------------------------------------------------------
    # transport

    def _connection(self, timeout):
        """A new, unconnected HTTP connection to the management API."""
        if self.url is None:
            return UnixHTTPConnection(self.socket_path, timeout=timeout)
        if self._scheme == "https":
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=timeout,
                context=ssl.create_default_context())
        return http.client.HTTPConnection(self._host, self._port,
                                          timeout=timeout)

    def _open(self, method, path, body=None, query=None, timeout=None):
        """Sends one request; returns (connection, socket, response) with
        the response's headers read and its body not."""
        if query:
            query = {k: v for k, v in query.items() if v is not None}
            if query:
                path += "?" + urllib.parse.urlencode(query)
        headers = {"User-Agent": _USER_AGENT, "Accept": "application/json"}
        if self.url is not None and self.token:
            headers["Authorization"] = "Bearer " + str(self.token).strip()
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        timeout = self.timeout if timeout is None else timeout
        conn = self._connection(timeout)
        try:
            conn.connect()
        except OSError as e:
            conn.close()
            hint = (" (is `glia up` running?)" if self.url is None else "")
            raise GliaError("the glia daemon is not reachable at %s%s: %s"
                            % (self._where, hint, e)) from None
        sock = conn.sock
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
        except socket.timeout:
            conn.close()
            raise GliaError("no answer from the glia daemon at %s within %gs "
                            "(%s %s)" % (self._where, timeout, method,
                                         path)) from None
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise GliaError("the connection to the glia daemon at %s failed "
                            "(%s %s): %s" % (self._where, method, path,
                                             e)) from None
        return conn, sock, resp

    def _call(self, method, path, body=None, query=None, timeout=None):
        """One management API call. Returns the decoded answer (parsed JSON,
        else text); a non-2xx answer raises GliaError with the server's
        message and status."""
        conn, _, resp = self._open(method, path, body=body, query=query,
                                   timeout=timeout)
        try:
            try:
                raw = resp.read()
            except (OSError, http.client.HTTPException) as e:
                raise GliaError("the answer of the glia daemon at %s was cut "
                                "(%s %s): %s" % (self._where, method, path,
                                                 e)) from None
            if not 200 <= resp.status < 300:
                raise GliaError(_error_message(resp, raw), resp.status)
            return _decode_body(resp, raw)
        finally:
            conn.close()

    # ------------------------------------------------------------------
    # the daemon

    def info(self):
        """The daemon's ``GET /v1/info``: a dict with ``version``, ``pid``,
        ``home`` and ``gateway`` (the gateway's base URL)."""
        return self._call("GET", "/v1/info")

    # ------------------------------------------------------------------
    # APIs

    def deploy(self, spec_or_path, wait=False, timeout=300, project_dir=None):
        """Deploys APIs, like ``glia deploy``; returns the daemon's result
        list: one ``{"name", "result", "endpoint"}`` dict per API, where
        result is ``"created"``, ``"updated"`` or ``"unchanged"``.

        spec_or_path is either

        - a path (str or path-like) to a YAML file, or to a directory holding
          ``glia.yaml`` (else ``cortex.yaml``). The file is read here and
          sent with its absolute path: relative paths in it (the predictor's
          ``path``) are resolved next to it, by the daemon;
        - a spec as a dict (one API) or a list of dicts, with the same
          fields as the YAML file. It is sent as JSON (which is YAML) as if
          it were a file ``glia.yaml`` in ``project_dir`` (default: the
          current directory), so ``predictor.path: predictor.py`` names
          ``<project_dir>/predictor.py``.

        The daemon reads the predictor files itself: on a remote daemon
        (``glia.client(url=...)``) they must exist at those paths on the
        daemon's machine, and ``project_dir`` must then be a path there.

        wait=True polls until every deployed API is live, with all its
        requested replicas ready and running the new spec (see
        :meth:`wait`); an API that fails to start raises GliaError with its
        error, and so does reaching ``timeout`` seconds.

        An invalid spec raises GliaError (status 400) whose message names
        the place: ``glia.yaml:12:5: predictor.threads_per_process: ...``;
        an endpoint already taken raises it with status 409.
        """
        if isinstance(spec_or_path, (str, bytes, os.PathLike)):
            if project_dir is not None:
                raise ValueError("project_dir applies to a spec given as a "
                                 "dict or list; a YAML file's directory is "
                                 "its project directory")
            body = self._file_body(spec_or_path)
        elif isinstance(spec_or_path, Mapping) or (
                isinstance(spec_or_path, (list, tuple))):
            body = self._spec_body(spec_or_path, project_dir)
        else:
            raise TypeError("deploy() takes a path to a YAML file or a spec "
                            "(a dict or a list of dicts), not %s"
                            % type(spec_or_path).__name__)
        answer = self._call("POST", "/v1/deploy", body=body)
        if isinstance(answer, dict):
            results = answer.get("apis", [])
        else:
            results = answer
        if wait:
            self.wait([r["name"] for r in results], timeout=timeout)
        return results

    def _file_body(self, path):
        """The deploy body of a YAML file (or of a directory's glia.yaml)."""
        path = os.fsdecode(path)
        path = os.path.expanduser(path)
        if os.path.isdir(path):
            for name in ("glia.yaml", "cortex.yaml"):
                candidate = os.path.join(path, name)
                if os.path.isfile(candidate):
                    path = candidate
                    break
            else:
                raise GliaError("no glia.yaml or cortex.yaml in %s"
                                % os.path.abspath(path))
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError as e:
            raise GliaError("cannot read %s: %s"
                            % (path, e.strerror or e)) from None
        try:
            content = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise GliaError("%s is not UTF-8 text (byte %d)"
                            % (path, e.start)) from None
        return {"path": os.path.realpath(path), "content": content}

    def _spec_body(self, spec, project_dir):
        """The deploy body of a spec given as a dict or a list of dicts:
        JSON text, as if it were <project_dir>/glia.yaml."""
        specs = [spec] if isinstance(spec, Mapping) else list(spec)
        for i, s in enumerate(specs):
            if not isinstance(s, Mapping):
                raise TypeError("spec %d is a %s, not a dict"
                                % (i, type(s).__name__))
        if project_dir is None:
            project_dir = os.getcwd()
        project_dir = os.fsdecode(project_dir)
        if self.url is None or not os.path.isabs(project_dir):
            project_dir = os.path.abspath(os.path.expanduser(project_dir))
        content = json.dumps([dict(s) for s in specs], indent=2,
                             allow_nan=False, default=_json_default) + "\n"
        return {"path": os.path.join(project_dir, "glia.yaml"),
                "content": content}

    def wait(self, names, timeout=300, interval=0.25):
        """Waits until every API named is live: status ``live`` with every
        requested replica ready and up to date. names is one name or a
        list. Returns the APIs' details (a list, in the order given).

        Raises GliaError when an API's status is ``failed`` or ``update
        failed`` (with the API's error), when an API does not exist (404),
        or after timeout seconds.
        """
        if isinstance(names, str):
            names = [names]
        names = list(names)
        deadline = time.monotonic() + timeout
        done = {}
        while True:
            for name in names:
                if name in done:
                    continue
                detail = self.get_api(name)
                status = detail.get("status")
                reps = detail.get("replicas") or {}
                requested = reps.get("requested", 1) or 0
                if status in _FAILED_STATES:
                    raise GliaError("API %s %s: %s" % (
                        name, "failed" if status == "failed"
                        else "failed to update",
                        detail.get("error") or "no replica could start"))
                if (status == "live"
                        and reps.get("ready", 0) >= requested
                        and reps.get("up_to_date", 0) >= requested):
                    done[name] = detail
            if len(done) == len(names):
                return [done[n] for n in names]
            if time.monotonic() >= deadline:
                late = [n for n in names if n not in done]
                raise GliaError("API %s not live after %gs (%s)" % (
                    ", ".join(late), timeout, self._describe_wait(late[0])))
            time.sleep(interval)

    def _describe_wait(self, name):
        """A short account of an API that is not live yet, for errors."""
        try:
            d = self.get_api(name)
        except GliaError as e:
            return str(e)
        reps = d.get("replicas") or {}
        text = "status %s, %s/%s replicas ready" % (
            d.get("status"), reps.get("ready", 0), reps.get("requested", 0))
        if d.get("error"):
            text += ", last error: %s" % d["error"]
        return text

    def get_api(self, name):
        """The API's detail (``GET /v1/apis/NAME``): its summary (status,
        replicas, url, requests, ...) plus ``spec``, ``project_dir``,
        ``config_path`` and ``replica_list``. GliaError 404 when there is no
        such API."""
        return self._call("GET", _api_path(name))

    def list_apis(self):
        """Every deployed API's summary, sorted by name (a list of dicts)."""
        answer = self._call("GET", "/v1/apis")
        if isinstance(answer, dict):
            return answer.get("apis", [])
        return answer

    def delete(self, name, force=False):
        """Deletes an API: the daemon answers at once (``{"name", "result":
        "deleted"}``) and drains its replicas in the background; with
        force=True they stop at once without finishing what they hold.
        GliaError 404 when there is no such API."""
        return self._call("DELETE", _api_path(name),
                          query={"force": "1"} if force else None)

    def refresh(self, name):
        """Restarts an API's replicas one by one, with the same spec (for a
        predictor that reads files at start). Returns ``{"name", "result":
        "refreshing"}``; :meth:`wait` waits for the new replicas."""
        return self._call("POST", _api_path(name, "refresh"))

    def predict(self, name, payload, headers=None, timeout=None,
                api_key=None):
        """Calls the API through the gateway and returns its answer.

        payload: bytes (sent as ``application/octet-stream``), str (sent as
        ``text/plain; charset=utf-8``), or any other JSON-serialisable value
        (sent as ``application/json``); headers (a dict) are added to the
        request and may set another Content-Type or an X-Request-ID.

        The answer is parsed JSON when the API answers JSON, str when it
        answers text, bytes otherwise. A non-2xx answer raises GliaError
        with the status and the gateway's message (400 bad payload, 500 the
        predictor raised, 503 overloaded: retry later, 504 timed out, ...).

        The API's URL comes from :meth:`get_api` (the gateway address the
        daemon listens on); when that address is not reachable from here,
        give ``gateway_url`` to :func:`glia.client`.

        api_key (default: the client's): sent as ``Authorization: Bearer
        KEY`` for APIs with ``networking.auth: api_key`` (a missing or
        wrong key raises GliaError with status 401, a key for another API
        403, a rate limit 429), unless headers set Authorization.
        """
        detail = self.get_api(name)
        if self.gateway_url:
            endpoint = detail.get("endpoint") or "/" + str(name)
            url = self.gateway_url + endpoint
        else:
            url = detail.get("url")
            if not url:
                raise GliaError("API %s has no URL to call (kind %s)"
                                % (name, detail.get("kind")))
        hdrs = {"User-Agent": _USER_AGENT}
        if isinstance(payload, (bytes, bytearray, memoryview)):
            data = bytes(payload)
            ctype = "application/octet-stream"
        elif isinstance(payload, str):
            data = payload.encode("utf-8")
            ctype = "text/plain; charset=utf-8"
        else:
            data = json.dumps(payload, default=_json_default).encode("utf-8")
            ctype = "application/json"
        given = {k.lower() for k in (headers or {})}
        if "content-type" not in given:
            hdrs["Content-Type"] = ctype
        key = api_key if api_key is not None else self.api_key
        if key and "authorization" not in given:
            hdrs["Authorization"] = "Bearer " + key
        hdrs.update(headers or {})
        return self._gateway_post(url, data, hdrs, timeout)

    def _gateway_post(self, url, data, headers, timeout):
        """POSTs to the gateway; the decoded answer, or GliaError."""
        parts = urllib.parse.urlsplit(url)
        timeout = self.timeout if timeout is None else timeout
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(
                parts.hostname, parts.port, timeout=timeout,
                context=ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(parts.hostname, parts.port,
                                              timeout=timeout)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        try:
            try:
                conn.connect()
            except OSError as e:
                raise GliaError("the glia gateway is not reachable at %s://%s:"
                                " %s" % (parts.scheme, parts.netloc,
                                         e)) from None
            try:
                conn.request("POST", target, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
            except socket.timeout:
                raise GliaError("no answer from %s within %gs"
                                % (url, timeout)) from None
            except (OSError, http.client.HTTPException) as e:
                raise GliaError("the request to %s failed: %s"
                                % (url, e)) from None
        finally:
            conn.close()
        if not 200 <= resp.status < 300:
            err = GliaError(_error_message(resp, raw), resp.status)
            err.request_id = resp.getheader("X-Request-ID")
            raise err
        return _decode_body(resp, raw)

    def logs(self, name, follow=False, tail=None, replica=None,
             format="text"):
        """The API's logs: every replica's output, oldest first, each line
        ``<replica-id> <text>``.

        tail: only the last N lines; replica: only that replica's lines (an
        id from ``get_api(name)["replica_list"]``); format="json": each line
        is a dict ``{"time", "replica", "request_id", "message"}`` instead
        (a daemon without JSON logs answers 400).

        follow=False returns the text (a str), or a list of dicts with
        format="json". follow=True returns a :class:`LogStream`: iterate
        over it to get each line as it is written (without its newline, or
        a dict); it never ends on its own while the API lives, so close it
        (or use it in a ``with`` block, or break out and let it go).
        """
        if format not in ("text", "json"):
            raise ValueError("format must be 'text' or 'json'")
        query = {"tail": int(tail) if tail is not None else None,
                 "follow": "1" if follow else None,
                 "replica": replica,
                 "format": "json" if format == "json" else None}
        path = _api_path(name, "logs")
        if not follow:
            text = self._call("GET", path, query=query)
            if isinstance(text, bytes):
                text = text.decode("utf-8", errors="replace")
            if format == "json":
                return [json.loads(line) for line in text.splitlines()
                        if line.strip()]
            return text
        conn, sock, resp = self._open("GET", path, query=query)
        if not 200 <= resp.status < 300:
            try:
                raw = resp.read()
            finally:
                conn.close()
            raise GliaError(_error_message(resp, raw), resp.status)
        # lines may be minutes apart: no read timeout while following
        try:
            sock.settimeout(None)
        except OSError:
            pass
        return LogStream(conn, sock, resp, self._where,
                         as_json=(format == "json"))

    # ------------------------------------------------------------------
    # jobs (BatchAPI / TaskAPI): not served by the daemon yet

    def submit_job(self, name, job):
        """Submits a job to a BatchAPI or TaskAPI. Not supported yet: the
        daemon does not run jobs, so this raises GliaError without calling
        it."""
        raise GliaError("jobs are not supported yet")

    def get_job(self, name, job_id):
        """A job's status. Not supported yet: raises GliaError."""
        raise GliaError("jobs are not supported yet")

    def stop_job(self, name, job_id):
        """Stops a job. Not supported yet: raises GliaError."""
        raise GliaError("jobs are not supported yet")


def client(home=None, url=None, token=None, timeout=60.0, gateway_url=None,
           api_key=None):
    """A :class:`Client` of a glia daemon.

    Without url, the local daemon: its Unix socket ``GLIA_HOME/glia.sock``,
    where GLIA_HOME is home, else the GLIA_HOME environment variable, else
    ``~/.glia`` (as for the ``glia`` command). No token is needed.

    With url (``"http://HOST:PORT"``, the daemon's ``--admin-listen``
    address), the management API over TCP; token is the daemon's bearer
    token (the content of ``GLIA_HOME/token`` on its machine). A missing or
    wrong token makes every call raise GliaError with status 401.

    timeout: seconds to wait for each answer (default 60). gateway_url:
    the gateway's base URL for :meth:`Client.predict` when the URL the
    daemon reports (``http://127.0.0.1:8888/...`` by default) is not the
    one to use from here. api_key: the key :meth:`Client.predict` sends
    to APIs with ``networking.auth: api_key`` (``glia keys create``).

    Nothing is contacted until the first call: a daemon that is not
    running makes that call raise GliaError ("... not reachable at ...").
    """
    return Client(home=home, url=url, token=token, timeout=timeout,
                  gateway_url=gateway_url, api_key=api_key)


class _CallableModule(types.ModuleType):
    """`import glia.client` binds the name glia.client to this module, where
    `glia.client` is also the function; calling the module calls it, so
    `glia.client(...)` works whichever the name holds."""

    def __call__(self, *args, **kwargs):
        """Same as glia.client(*args, **kwargs)."""
        return client(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
