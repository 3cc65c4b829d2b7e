"""Gateway policy (issue 13, items 10-12; docs/http.md "Policy"): API keys
(`networking.auth: api_key`, `glia keys`), rate limits
(`networking.rate_limit`, a key's --rate-limit) and CORS
(`networking.cors`), against a real daemon over real HTTP.

One daemon serves every test of this module; each test creates the keys
it needs. Rate limits use 0.001 requests/s, so that the count of answers
is exact whatever the machine's load: no token comes back during a test.
"""
import contextlib
import json
import re
import sqlite3
import subprocess

import pytest

from conftest import GLIA_BIN, free_port, wait_for, write_project
from test_render_k8s import validator  # noqa: F401 (a fixture)

ORIGIN = "https://app.example.com"

PREDICTOR = '''
class PythonPredictor:
    def __init__(self, config):
        pass

    def predict(self, payload, query_params, headers):
        return {"ok": True, "headers": sorted(str(k).lower() for k in headers)}
'''

SPEC = f"""
- name: secure
  kind: RealtimeAPI
  predictor: {{type: python, path: predictor.py}}
  networking: {{auth: api_key}}
- name: webapp
  kind: RealtimeAPI
  predictor: {{type: python, path: predictor.py}}
  networking:
    auth: api_key
    cors:
      allow_origins: ["{ORIGIN}"]
      expose_headers: [X-Request-ID]
      max_age: 10m
- name: limited
  kind: RealtimeAPI
  predictor: {{type: python, path: predictor.py}}
  networking:
    rate_limit: {{requests_per_second: 0.001, burst: 3}}
- name: open
  kind: RealtimeAPI
  predictor: {{type: python, path: predictor.py}}
"""

APIS = ("secure", "webapp", "limited", "open")


@pytest.fixture(scope="module")
def d(module_daemon_factory, tmp_path_factory):
    daemon = module_daemon_factory()
    proj = write_project(tmp_path_factory.mktemp("policy"), SPEC,
                         {"predictor.py": PREDICTOR})
    daemon.deploy(proj / "glia.yaml")
    for api in APIS:
        daemon.wait_ready(api)
    return daemon


def create_key(d, *args):
    """`glia keys create ARGS -o json`: the key's description with "key"."""
    return d.cli_json("keys", "create", *args)


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def rejected(d, api, reason):
    """glia_rejected_requests_total{api, reason} from /metrics."""
    text = d.http_get("/metrics").text
    m = re.search(r'^glia_rejected_requests_total\{api="%s"[^}]*'
                  r'reason="%s"\} (\d+)' % (re.escape(api), reason), text,
                  re.M)
    assert m, f"no rejected_requests_total for {api}/{reason} in /metrics"
    return int(m.group(1))


def test_no_key_or_a_wrong_key_gets_401_with_a_bearer_challenge(d):
    before = rejected(d, "secure", "unauthorized")
    for headers in ({}, bearer("glia_" + "a" * 52), {"X-API-Key": "nope"},
                    {"Authorization": "Basic dXNlcjpwdw=="}):
        r = d.post("/secure", json={"x": 1}, headers=headers)
        assert r.status == 401, r
        assert r.headers["WWW-Authenticate"] == "Bearer"
        assert r.content_type == "application/json"
        assert "API key" in r.json()["error"]
    assert rejected(d, "secure", "unauthorized") == before + 4
    assert d.post("/open", json={}).status == 200


def test_a_key_works_in_either_header_and_is_not_passed_to_the_predictor(d):
    key = create_key(d, "--name", "both-headers")["key"]
    for headers in (bearer(key), {"X-API-Key": key}):
        r = d.post("/secure", json={"x": 1}, headers=headers)
        assert r.status == 200, r
        seen = r.json()["headers"]
        assert "authorization" not in seen and "x-api-key" not in seen


def test_the_key_is_shown_once_and_only_its_hash_is_stored(d):
    res = d.cli("keys", "create", "--name", "ci")
    key = res.stdout.strip()
    assert re.fullmatch(r"glia_[a-z2-7]{52}", key), res.stdout
    assert "shown only this once" in res.stderr
    listing = d.cli("keys", "list", "-o", "json").stdout
    assert key not in listing
    assert any(k["name"] == "ci" for k in json.loads(listing))
    db = sqlite3.connect(f"file:{d.home}/state.db?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT * FROM api_keys").fetchall()
        dump = "\n".join(db.iterdump())
    finally:
        db.close()
    assert len(rows) >= 1
    assert key not in dump and key[5:] not in dump
    import hashlib
    assert hashlib.sha256(key.encode()).hexdigest() in dump
    assert d.post("/secure", json={}, headers=bearer(key)).status == 200


def test_a_revoked_key_is_refused_on_the_next_request(d):
    info = create_key(d, "--name", "to-revoke")
    s = d.session()
    try:
        assert s.post("/secure", json={}, headers=bearer(info["key"])).status == 200
        out = d.cli("keys", "revoke", info["id"])
        assert info["id"] in out.stdout
        r = s.post("/secure", json={}, headers=bearer(info["key"]))
        assert r.status == 401, r
    finally:
        s.close()
    assert info["id"] not in d.cli("keys", "list").stdout
    res = d.cli("keys", "revoke", info["id"], check=False)
    assert res.returncode == 1 and "no API key" in res.stderr


def test_a_key_scoped_to_an_api_is_refused_by_another(d):
    key = create_key(d, "--api", "secure", "--name", "scoped")["key"]
    assert d.post("/secure", json={}, headers=bearer(key)).status == 200
    r = d.post("/webapp", json={}, headers=bearer(key))
    assert r.status == 403, r
    assert "not valid for API webapp" in r.json()["error"]
    anywhere = create_key(d)["key"]
    assert d.post("/webapp", json={}, headers=bearer(anywhere)).status == 200


def test_the_protocol_paths_need_the_key_too(d):
    key = create_key(d)["key"]
    for path in ("/v2/models/secure/infer", "/v1/models/secure:predict"):
        assert d.post(path, json={"inputs": []}).status == 401
        r = d.post(path, json={"inputs": []}, headers=bearer(key))
        assert r.status not in (401, 403, 429), r


def test_list_shows_last_used_and_state_db_gets_it_within_seconds(d):
    info = create_key(d, "--name", "usage")
    assert info["last_used"] is None
    assert d.post("/secure", json={}, headers=bearer(info["key"])).status == 200
    listed = {k["id"]: k for k in d.cli_json("keys", "list")}
    assert listed[info["id"]]["last_used"] is not None
    assert "never" not in [ln for ln in d.cli("keys", "list").stdout.splitlines()
                           if ln.startswith(info["id"])][0]

    def stored():
        db = sqlite3.connect(f"file:{d.home}/state.db?mode=ro", uri=True)
        try:
            return db.execute("SELECT last_used FROM api_keys WHERE id = ?",
                              (info["id"],)).fetchone()[0] > 0
        finally:
            db.close()
    wait_for(stored, timeout=60, interval=0.5,
             message="last_used written to state.db")


def test_rate_limit_gives_burst_answers_then_429_with_retry_after(d):
    statuses, last = [], None
    s = d.session()
    try:
        for _ in range(5):
            last = s.post("/limited", json={})
            statuses.append(last.status)
    finally:
        s.close()
    assert statuses == [200, 200, 200, 429, 429]
    assert re.fullmatch(r"[1-9][0-9]*", last.headers["Retry-After"])
    assert int(last.headers["Retry-After"]) > 100  # 1 token per 1000 s
    assert "rate limit exceeded" in last.json()["error"]
    assert rejected(d, "limited", "rate_limited") == 2
    wait_for(lambda: '"POST /limited" 429' in d.cli("logs", "limited").stdout,
             timeout=30, message="an access line with 429")


def test_a_key_limit_applies_on_top_of_the_api(d):
    key = create_key(d, "--rate-limit", "0.001:2")["key"]
    statuses = [d.post("/secure", json={}, headers=bearer(key)).status
                for _ in range(3)]
    assert statuses == [200, 200, 429]
    r = d.post("/secure", json={}, headers=bearer(key))
    assert "key" in r.json()["error"] and r.headers["Retry-After"]
    other = create_key(d)["key"]
    assert d.post("/secure", json={}, headers=bearer(other)).status == 200


def test_cors_preflight_from_an_allowed_origin_needs_no_key(d):
    r = d.request("OPTIONS", "/webapp", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, authorization"})
    assert r.status == 204, r
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    allowed = r.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert r.headers["Access-Control-Max-Age"] == "600"
    assert r.headers["Vary"] == "Origin"
    assert r.body == b""


def test_cors_preflight_from_another_origin_is_refused(d):
    for headers in ({"Origin": "https://evil.example"},
                    {"Origin": ORIGIN,
                     "Access-Control-Request-Headers": "x-secret"}):
        headers.setdefault("Access-Control-Request-Method", "POST")
        r = d.request("OPTIONS", "/webapp", headers=headers)
        assert r.status == 403, r
        assert "Access-Control-Allow-Origin" not in r.headers
        assert "CORS preflight" in r.json()["error"]


def test_answers_carry_cors_headers_for_an_allowed_origin(d):
    key = create_key(d)["key"]
    r = d.post("/webapp", json={}, headers={"Origin": ORIGIN, **bearer(key)})
    assert r.status == 200
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert r.headers["Access-Control-Expose-Headers"] == "X-Request-ID"
    assert r.headers["Vary"] == "Origin"
    refused = d.post("/webapp", json={}, headers={"Origin": ORIGIN})
    assert refused.status == 401
    assert refused.headers["Access-Control-Allow-Origin"] == ORIGIN
    other = d.post("/webapp", json={}, headers={"Origin": "https://evil.example",
                                                 **bearer(key)})
    assert other.status == 200
    assert "Access-Control-Allow-Origin" not in other.headers
    assert d.post("/open", json={}, headers={"Origin": ORIGIN}).headers.get(
        "Access-Control-Allow-Origin") is None


def test_the_python_client_sends_its_api_key(d):
    import sys
    from conftest import REPO
    sys.path.insert(0, str(REPO / "python"))
    import glia
    key = create_key(d, "--api", "secure")["key"]
    assert glia.client(home=d.home, api_key=key).predict(
        "secure", {"x": 1})["ok"] is True
    assert glia.client(home=d.home).predict("secure", {"x": 1},
                                            api_key=key)["ok"] is True
    with pytest.raises(glia.GliaError) as e:
        glia.client(home=d.home).predict("secure", {"x": 1})
    assert e.value.status == 401


@contextlib.contextmanager
def key_gateway(d, tmp_path, keys_file):
    """A standalone `glia gateway --api-keys keys_file` for the API
    `secure` (networking.auth: api_key) whose one replica never answers,
    listening once yielded: (its HTTP helpers, its process); killed after."""
    proj = write_project(tmp_path, """
- name: secure
  kind: RealtimeAPI
  predictor: {type: python, path: predictor.py}
  networking: {auth: api_key, timeout: 1s}
""", {"predictor.py": PREDICTOR})
    port = free_port()
    log = open(tmp_path / "gateway.log", "wb")
    p = subprocess.Popen(
        [str(GLIA_BIN), "gateway", str(proj), "--listen",
         f"127.0.0.1:{port}", "--discover", "static:secure=127.0.0.1:1",
         "--api-keys", str(keys_file)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    gw = type(d)(d.home, port=port)  # its HTTP helpers, on the gateway
    try:
        wait_for(lambda: gw.http_get("/healthz").status == 200, timeout=30,
                 message="glia gateway listening")
        yield gw, p
    finally:
        p.kill()
        p.wait(10)


def test_glia_gateway_reads_exported_keys_and_rereads_them(d, tmp_path):
    """`glia gateway --api-keys FILE` (no state.db there): the hashed keys
    `glia keys export` wrote; a revoke reaches it with the next export."""
    info = create_key(d, "--api", "secure", "--name", "edge")
    keys = tmp_path / "keys.json"
    d.cli("keys", "export", "-o", keys)
    assert info["key"] not in keys.read_text()
    assert (keys.stat().st_mode & 0o777) == 0o600
    with key_gateway(d, tmp_path, keys) as (gw, _):
        assert gw.post("/secure", json={}).status == 401
        # no replica answers: the request passes the key check and waits
        r = gw.post("/secure", json={}, headers=bearer(info["key"]))
        assert r.status not in (401, 403, 429), r
        d.cli("keys", "revoke", info["id"])
        d.cli("keys", "export", "-o", keys)
        wait_for(lambda: gw.post("/secure", json={}, headers=bearer(
            info["key"])).status == 401, timeout=60, interval=0.5,
            message="the revoked key refused after the file changed")


def k8s_secret(d, tmp_path, *args):
    """`glia keys export --k8s-secret ARGS`: the Secret, parsed."""
    import yaml
    out = d.cli("keys", "export", "--k8s-secret", *args).stdout
    (tmp_path / "secret.yaml").write_text(out)
    docs = [doc for doc in yaml.safe_load_all(out) if doc]
    assert len(docs) == 1, out
    return docs[0]


def secret_keys(secret):
    """keys.json as the kubelet writes it: the Secret's data, decoded."""
    import base64
    return base64.b64decode(secret["data"]["keys.json"],
                            validate=True).decode()


def test_export_k8s_secret_holds_the_export_and_validates(d, tmp_path,
                                                           validator):
    """The Secret `glia render k8s` mounts (docs/kubernetes.md "API
    keys"): keys.json is what `glia keys export` writes, hashes only; it
    validates against the Kubernetes schema (test_render_k8s's harness)."""
    from test_render_k8s import K8S
    info = create_key(d, "--api", "secure", "--name", "cluster")
    secret = k8s_secret(d, tmp_path, "--namespace", "ml")
    assert (secret["apiVersion"], secret["kind"]) == ("v1", "Secret")
    assert secret["metadata"]["name"] == "glia-api-keys"
    assert secret["metadata"]["namespace"] == "ml"
    assert secret["metadata"]["labels"][
        "app.kubernetes.io/managed-by"] == "glia"
    assert secret["type"] == "Opaque"
    text = secret_keys(secret)
    assert info["key"] not in text
    assert json.loads(text) == json.loads(d.cli("keys", "export").stdout)
    assert info["id"] in {k["id"] for k in json.loads(text)["keys"]}
    v = subprocess.run([validator, str(K8S / "validate.js"),
                        str(tmp_path / "secret.yaml")],
                       capture_output=True, text=True, timeout=120)
    assert v.returncode == 0, v.stdout + v.stderr
    # without --namespace: none, kubectl's -n applies
    assert "namespace" not in k8s_secret(d, tmp_path)["metadata"]
    for args, what in ((["--namespace", "ml"], "goes with --k8s-secret"),
                       (["--k8s-secret", "--namespace", "Bad_NS"],
                        "bad --namespace"),):
        r = d.cli("keys", "export", *args, check=False)
        assert r.returncode == 2 and what in r.stderr, r.stderr
    r = d.cli("keys", "list", "--k8s-secret", check=False)
    assert r.returncode == 2 and "for keys export" in r.stderr


def kubelet_update(keys_dir, text, n):
    """Writes text as keys.json the way the kubelet updates a mounted
    Secret: a new timestamped dir, a `..data` link swapped to it by one
    rename, the old dir removed; keys.json -> ..data/keys.json stays."""
    import os
    new = keys_dir / f"..2026_12_06_00_00_0{n}.{os.getpid()}"
    new.mkdir()
    (new / "keys.json").write_text(text)
    tmp = keys_dir / "..data_tmp"
    os.symlink(new.name, tmp)
    old = os.readlink(keys_dir / "..data") if (keys_dir / "..data").is_symlink() \
        else None
    os.rename(tmp, keys_dir / "..data")
    if not (keys_dir / "keys.json").is_symlink():
        os.symlink("..data/keys.json", keys_dir / "keys.json")
    if old:
        import shutil
        shutil.rmtree(keys_dir / old)


def test_glia_gateway_rereads_a_kubelet_swapped_secret(d, tmp_path):
    """On Kubernetes the gateway's --api-keys file is a mounted Secret,
    updated by the kubelet with a symlink swap, never in place: a key
    revoked (and one created) then exported into the Secret reaches a
    running `glia gateway` without a restart."""
    old = create_key(d, "--api", "secure", "--name", "before")
    keys_dir = tmp_path / "api-keys"
    keys_dir.mkdir()
    kubelet_update(keys_dir, secret_keys(k8s_secret(d, tmp_path)), 1)
    with key_gateway(d, tmp_path, keys_dir / "keys.json") as (gw, p):
        def status(info):
            return gw.post("/secure", json={},
                           headers=bearer(info["key"])).status
        # no replica answers: a known key passes the check, then waits
        assert status(old) not in (401, 403, 429)
        new = create_key(d, "--api", "secure", "--name", "after")
        assert status(new) == 401
        d.cli("keys", "revoke", old["id"])
        kubelet_update(keys_dir, secret_keys(k8s_secret(d, tmp_path)), 2)
        wait_for(lambda: status(old) == 401, timeout=60, interval=0.5,
                 message="the revoked key refused after the swap")
        assert status(new) not in (401, 403, 429)
        assert p.poll() is None


def test_keys_and_their_last_use_survive_a_restart(d):
    """Runs last: restarts the module's daemon."""
    info = create_key(d, "--api", "secure", "--name", "durable")
    assert d.post("/secure", json={}, headers=bearer(info["key"])).status == 200
    d.stop()  # glia down: writes last_used (SIGKILL could lose 5 s of it)
    d.start()
    d.wait_ready("secure")
    listed = {k["id"]: k for k in d.cli_json("keys", "list")}
    assert listed[info["id"]]["name"] == "durable"
    assert listed[info["id"]]["last_used"] is not None  # written at down
    assert d.post("/secure", json={}, headers=bearer(info["key"])).status == 200
    assert d.post("/secure", json={}).status == 401
