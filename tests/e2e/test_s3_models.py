"""Models on S3 (issue 14 item 1): s3:// in predictor.models.path, paths
and dir, against a real S3-compatible server (npm's s3rver, tests/s3).

s3rver checks the access key id of a signed request but not the signature,
so every request goes through SigV4Proxy, which recomputes the AWS
Signature V4 of each signed request with botocore (independently of
libcurl) and answers 403 SignatureDoesNotMatch when it differs, then
forwards to s3rver. One daemon for the module, its environment pointing
the AWS endpoint at the proxy (the daemon passes it to the workers) and
polling S3 every second; credentials come per API through predictor.env.
"""
import http.client
import http.server
import io
import json
import os
import pickle
import re
import shutil
import subprocess
import tarfile
import threading

import pytest

from conftest import REPO, free_port, wait_for, write_project

S3RVER = REPO / "tests" / "s3" / "node_modules" / "s3rver" / "bin" / \
    "s3rver.js"
KEY, SECRET = "S3RVER", "S3RVER"          # s3rver's own credentials
CREDS = {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET}

PREDICTOR = '''\
import os
import pickle


class PythonPredictor:
    def __init__(self, config, python_client):
        self.client = python_client

    def load_model(self, model_path):
        path = model_path
        if os.path.isdir(path):
            path = os.path.join(path, "model.pkl")
        with open(path, "rb") as f:
            return pickle.load(f)

    def predict(self, payload, query_params):
        if "list" in payload:           # the C lister, page by page
            import _glia_native
            return [list(o) for o in _glia_native.s3_list(
                payload["list"], 0, payload.get("page", 0))]
        m = self.client.get_model(query_params.get("model"),
                                  query_params.get("version", "latest"))
        return {"id": m["id"]}
'''


# ---------------------------------------------------------------------------
# the S3 server and the verifying proxy


def _sigv4_ok(headers, method, path, secret):
    """Recomputes the request's SigV4 signature with botocore."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    auth = headers["Authorization"]
    m = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/s3/"
                 r"aws4_request, ?SignedHeaders=([^,]+), ?Signature=(\w+)$",
                 auth)
    assert m, auth
    akid, _, region, signed, signature = m.groups()
    req = AWSRequest(method=method, url=f"http://{headers['Host']}{path}",
                     headers={h: headers[h] for h in signed.split(";")})
    req.context["timestamp"] = headers["X-Amz-Date"]
    signer = S3SigV4Auth(Credentials(akid, secret,
                                     headers.get("x-amz-security-token")),
                         "s3", region)
    want = signer.signature(
        signer.string_to_sign(req, signer.canonical_request(req)), req)
    return want == signature, signed


class SigV4Proxy:
    """Verifies signatures, records requests, forwards to s3rver; answers
    503 SlowDown while `failing` is set."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.records = []
        self.failing = False
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                proxy.handle(self)

            do_HEAD = do_GET

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def reply(self, h, status, body=b"", headers=()):
        h.send_response(status)
        for k, v in headers:
            if k.lower() not in ("connection", "transfer-encoding",
                                 "content-length", "keep-alive"):
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)

    def handle(self, h):
        rec = {"method": h.command, "path": h.path, "akid": None,
               "signed": None, "verified": None,
               "token": h.headers.get("x-amz-security-token")}
        self.records.append(rec)
        if self.failing:
            return self.reply(h, 503, b"<Error><Code>SlowDown</Code>"
                              b"<Message>Reduce your request rate."
                              b"</Message></Error>")
        if "Authorization" in h.headers:
            rec["akid"] = h.headers["Authorization"].split("Credential=")[
                1].split("/")[0]
            if rec["akid"] == KEY:
                ok, rec["signed"] = _sigv4_ok(h.headers, h.command, h.path,
                                              SECRET)
                rec["verified"] = ok
                if not ok:
                    return self.reply(
                        h, 403, b"<Error><Code>SignatureDoesNotMatch</Code>"
                        b"<Message>The request signature we calculated does "
                        b"not match the signature you provided.</Message>"
                        b"</Error>")
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream,
                                          timeout=60)
        try:
            conn.request(h.command, h.path, headers=dict(h.headers))
            r = conn.getresponse()
            self.reply(h, r.status, r.read(), r.getheaders())
        finally:
            conn.close()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


class S3:
    """s3rver on a free loopback port, written to directly (unsigned PUTs,
    which it accepts)."""

    def __init__(self, tmp):
        self.port = free_port()
        self.dir = tmp / "s3rver"
        self.dir.mkdir()
        # Node 20's OpenSSL keeps DES (s3rver's continuation tokens) in
        # the legacy provider
        self.proc = subprocess.Popen(
            ["node", "--openssl-legacy-provider", str(S3RVER), "-d",
             str(self.dir), "-p", str(self.port), "-a", "127.0.0.1",
             "--silent"], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        wait_for(self._up, timeout=60, message="s3rver to listen")

    def _up(self):
        assert self.proc.poll() is None, "s3rver exited"
        return self.request("GET", "/")[0] == 200

    def request(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def put(self, path, data):
        status, body = self.request("PUT", path, data)
        assert status == 200, (path, status, body)

    def delete(self, path):
        status, body = self.request("DELETE", path)
        assert status == 204, (path, status, body)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(15)


def pickled(ident):
    return pickle.dumps({"id": ident})


def targz(top, files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# ---------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    if shutil.which("node") is None or not S3RVER.is_file():
        pytest.fail("tests/s3 needs node and `npm ci` in tests/s3 "
                    "(scripts/install-deps.sh)")
    pytest.importorskip("botocore")
    server = S3(tmp_path_factory.mktemp("s3"))
    proxy = SigV4Proxy(server.port)
    try:
        server.put("/models", None)
        server.put("/public", None)
        for v in (1, 2):
            server.put(f"/models/lin/{v}/model.pkl", pickled(f"lin-{v}"))
            server.put(f"/models/lin/{v}/notes/readme.txt", b"v%d" % v)
        server.put("/models/archives/iris.tar.gz",
                   targz("iris", {"model.pkl": pickled("iris-tgz")}))
        server.put("/models/plain/sum.pkl", pickled("sum-file"))
        server.put("/models/many/a/1/model.pkl", pickled("a-1"))
        server.put("/models/many/b/model.pkl", pickled("b"))
        server.put("/public/anon/model.pkl", pickled("anon"))
        for i in range(5):
            server.put(f"/models/page/k{i}+&x", b"%d" % i)
        yield server, proxy
    finally:
        proxy.close()
        server.close()


def api(name, models, env=None):
    spec = {"name": name, "kind": "RealtimeAPI",
            "predictor": {"type": "python", "path": "predictor.py",
                          "models": models}}
    if env:
        spec["predictor"]["env"] = env
    return json.dumps([spec])


@pytest.fixture(scope="module")
def d(module_daemon_factory, s3, tmp_path_factory):
    _, proxy = s3
    daemon = module_daemon_factory(start=False)
    home = tmp_path_factory.mktemp("home")          # no ~/.aws
    daemon.env = {k: v for k, v in daemon.env.items()
                  if not k.startswith("AWS_")}
    daemon.env.update(HOME=str(home), GLIA_S3_POLL_INTERVAL="1",
                      AWS_ENDPOINT_URL=f"http://127.0.0.1:{proxy.port}")
    daemon.start()
    return daemon


def deploy(d, tmp_path, name, models, env=None, check=True):
    proj = write_project(tmp_path, api(name, models, env),
                         {"predictor.py": PREDICTOR}, dirname=name)
    return d.deploy(proj / "glia.yaml", check=check)


def ask(d, name, query=""):
    r = d.post(f"/{name}{query}", json={})
    assert r.status == 200, r
    return r.json()["id"]


# ---------------------------------------------------------------------------
# tests


def test_versioned_directory_serves_latest_and_loads_an_uploaded_version(
        d, s3, tmp_path):
    server, proxy = s3
    deploy(d, tmp_path, "lin", {"path": "s3://models/lin"}, CREDS)
    assert ask(d, "lin") == "lin-2"
    assert ask(d, "lin", "?version=1") == "lin-1"
    signed = [r for r in proxy.records if r["akid"] == KEY]
    assert signed and all(r["verified"] for r in signed), signed
    assert all("x-amz-content-sha256" in r["signed"].split(";")
               for r in signed)
    # version 3 appears while requests run: every one answered
    answers, stop = [], threading.Event()

    def loop():
        while not stop.is_set():
            r = d.post("/lin", json={})
            answers.append((r.status, r.json().get("id")))

    t = threading.Thread(target=loop)
    t.start()
    try:
        server.put("/models/lin/3/model.pkl", pickled("lin-3"))
        wait_for(lambda: ask(d, "lin") == "lin-3", timeout=60,
                 message="version 3 from S3")
        server.delete("/models/lin/3/model.pkl")
        wait_for(lambda: ask(d, "lin") == "lin-2", timeout=60,
                 message="version 3 removed from S3")
    finally:
        stop.set()
        t.join(60)
    assert answers and all(s == 200 for s, _ in answers), answers[-5:]
    assert {i for _, i in answers} <= {"lin-2", "lin-3"}


def test_a_failing_poll_is_logged_and_serving_goes_on(d, s3, tmp_path):
    server, proxy = s3
    deploy(d, tmp_path, "poll", {"path": "s3://models/lin/"}, CREDS)
    assert ask(d, "poll") == "lin-2"
    proxy.failing = True
    try:
        wait_for(lambda: "S3 poll failed" in d.cli("logs", "poll").stdout,
                 timeout=60, message="the failed poll in the logs")
        assert ask(d, "poll") == "lin-2"
    finally:
        proxy.failing = False
    logs = d.cli("logs", "poll").stdout
    assert "SlowDown" in logs and "s3://models/lin/" in logs, logs
    wait_for(lambda: "S3 poll works again" in d.cli("logs", "poll").stdout,
             timeout=60, message="the poll to recover")


def test_single_objects_archive_and_file(d, s3, tmp_path):
    deploy(d, tmp_path, "objs", {"paths": [
        {"name": "iris", "path": "s3://models/archives/iris.tar.gz"},
        {"name": "sum", "path": "s3://models/plain/sum.pkl"}]}, CREDS)
    assert ask(d, "objs", "?model=iris") == "iris-tgz"
    assert ask(d, "objs", "?model=sum") == "sum-file"


def test_single_objects_reload_when_overwritten(d, s3, tmp_path):
    server, _ = s3
    server.put("/models/live/iris.tar.gz",
               targz("iris", {"model.pkl": pickled("tgz-1")}))
    server.put("/models/live/sum.pkl", pickled("file-1"))
    deploy(d, tmp_path, "live", {"paths": [
        {"name": "iris", "path": "s3://models/live/iris.tar.gz"},
        {"name": "sum", "path": "s3://models/live/sum.pkl"}]}, CREDS)
    assert ask(d, "live", "?model=iris") == "tgz-1"
    assert ask(d, "live", "?model=sum") == "file-1"
    answers, stop = [], threading.Event()

    def loop():
        while not stop.is_set():
            for m in ("iris", "sum"):
                r = d.post(f"/live?model={m}", json={})
                answers.append((r.status, r.json().get("id")))

    t = threading.Thread(target=loop)
    t.start()
    try:
        server.put("/models/live/iris.tar.gz",
                   targz("iris", {"model.pkl": pickled("tgz-2")}))
        server.put("/models/live/sum.pkl", pickled("file-2"))
        wait_for(lambda: ask(d, "live", "?model=iris") == "tgz-2",
                 timeout=60, message="the overwritten archive")
        wait_for(lambda: ask(d, "live", "?model=sum") == "file-2",
                 timeout=60, message="the overwritten file")
    finally:
        stop.set()
        t.join(60)
    assert answers and all(s == 200 for s, _ in answers), answers[-5:]
    assert {i for _, i in answers} <= {"tgz-1", "tgz-2", "file-1", "file-2"}
    assert "model 'sum' changed at s3://models/live/sum.pkl" in \
        d.cli("logs", "live").stdout


def test_a_failing_object_poll_is_logged_and_serving_goes_on(d, s3,
                                                             tmp_path):
    server, proxy = s3
    server.put("/models/live/one.pkl", pickled("one-1"))
    deploy(d, tmp_path, "objpoll", {"path": "s3://models/live/one.pkl"},
           CREDS)
    assert ask(d, "objpoll") == "one-1"
    proxy.failing = True
    try:
        wait_for(lambda: "S3 poll failed" in d.cli("logs", "objpoll").stdout,
                 timeout=60, message="the failed HEAD in the logs")
        assert ask(d, "objpoll") == "one-1"
    finally:
        proxy.failing = False
    logs = d.cli("logs", "objpoll").stdout
    # a HEAD answer has no body: the status names the failure
    assert "predictor.models.path: s3://models/live/one.pkl: the S3 " \
        "service failed (HTTP 503)" in logs, logs
    assert logs.count("S3 poll failed") == 1, logs
    wait_for(lambda: "S3 poll works again" in d.cli("logs", "objpoll").stdout,
             timeout=60, message="the poll to recover")
    server.put("/models/live/one.pkl", pickled("one-2"))
    wait_for(lambda: ask(d, "objpoll") == "one-2", timeout=60,
             message="the object overwritten after the failures")


def test_models_dir_on_s3_serves_every_model(d, s3, tmp_path):
    deploy(d, tmp_path, "many", {"dir": "s3://models/many/"}, CREDS)
    assert ask(d, "many", "?model=a") == "a-1"
    assert ask(d, "many", "?model=b") == "b"
    r = d.post("/many?model=c", json={})
    assert r.status == 404 and "available: a, b" in r.json()["error"], r


@pytest.mark.parametrize("name,location,env,want", [
    ("nobucket", "s3://no-such-bucket/m", CREDS,
     "s3://no-such-bucket/m/: NoSuchBucket"),
    ("nokey", "s3://models/nothing-here", CREDS,
     "s3://models/nothing-here: no such object, and no objects under "
     "s3://models/nothing-here/"),
    ("badsecret", "s3://models/lin", {"AWS_ACCESS_KEY_ID": KEY,
                                      "AWS_SECRET_ACCESS_KEY": "wrong"},
     "s3://models/lin/: SignatureDoesNotMatch: The request signature we "
     "calculated does not match the signature you provided. (HTTP 403)"),
    ("badkey", "s3://models/lin", {"AWS_ACCESS_KEY_ID": "NOBODY",
                                   "AWS_SECRET_ACCESS_KEY": SECRET},
     "s3://models/lin/: InvalidAccessKeyId"),
])
def test_s3_errors_fail_the_deploy_naming_the_url(d, s3, tmp_path, name,
                                                  location, env, want):
    try:
        res = deploy(d, tmp_path, name, {"path": location}, env,
                     check=False)
        assert res.returncode != 0, res
        assert f"predictor.models.path: {want}" in res.stderr, res.stderr
        assert str(tmp_path) not in res.stderr, res.stderr   # no local path
    finally:
        d.cli("delete", name, "-f", check=False)


def test_credentials_file_with_a_profile_and_a_session_token(d, s3,
                                                             tmp_path):
    _, proxy = s3
    creds = tmp_path / "credentials"
    creds.write_text("[default]\naws_access_key_id = NOBODY\n"
                     "aws_secret_access_key = wrong\n\n"
                     "# the one to use\n[team]\n"
                     f"aws_access_key_id = {KEY}\n"
                     f"aws_secret_access_key = {SECRET}\n"
                     "aws_session_token = tok+en/1\n")
    start = len(proxy.records)
    deploy(d, tmp_path, "prof", {"path": "s3://models/lin"},
           {"AWS_SHARED_CREDENTIALS_FILE": str(creds), "AWS_PROFILE": "team"})
    assert ask(d, "prof") == "lin-2"
    mine = [r for r in proxy.records[start:] if r["token"] == "tok+en/1"]
    assert mine and all(r["verified"] and r["akid"] == KEY for r in mine)
    assert all("x-amz-security-token" in r["signed"].split(";")
               for r in mine)


def test_unknown_profile_is_a_clear_error(d, s3, tmp_path):
    try:
        res = deploy(d, tmp_path, "noprof", {"path": "s3://models/lin"},
                     {"AWS_PROFILE": "ghost"}, check=False)
        assert res.returncode != 0
        assert "S3 configuration: AWS_PROFILE=ghost: no [ghost] in " \
            in res.stderr, res.stderr
    finally:
        d.cli("delete", "noprof", "-f", check=False)


def test_anonymous_access_sends_unsigned_requests(d, s3, tmp_path):
    _, proxy = s3
    start = len(proxy.records)
    deploy(d, tmp_path, "anon", {"path": "s3://public/anon"})
    assert ask(d, "anon") == "anon"
    mine = [r for r in proxy.records[start:] if "anon" in r["path"]]
    assert mine and all(r["akid"] is None for r in mine), mine


def test_listing_follows_continuation_tokens(d, s3, tmp_path):
    _, proxy = s3
    deploy(d, tmp_path, "lister", {"path": "s3://models/plain/sum.pkl"},
           CREDS)
    start = len(proxy.records)
    r = d.post("/lister", json={"list": "s3://models/page/", "page": 2})
    assert r.status == 200, r
    assert [o[0] for o in r.json()] == [f"page/k{i}+&x" for i in range(5)]
    assert all(o[1] == 1 and o[2].startswith('"') and o[3] > 0
               for o in r.json())
    # Other APIs of this daemon (e.g. "lin") may poll their own prefixes
    # meanwhile: count only this listing's pages.
    pages = [x for x in proxy.records[start:]
             if "list-type=2" in x["path"] and "prefix=page%2F" in x["path"]]
    assert len(pages) == 3 and all(x["verified"] for x in pages), pages
    assert "continuation-token=" in pages[1]["path"]
