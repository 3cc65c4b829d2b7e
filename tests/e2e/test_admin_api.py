"""The management API over TCP (`glia up --admin-listen`): every call needs
the bearer token from GLIA_HOME/token; the Unix socket needs none."""
import http.client
import json
import os
import stat

from conftest import free_port, simple_spec, predictor_project


def admin_call(port, method, path, token=None, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=json.dumps(body) if body else None,
                 headers=headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data


def test_admin_listen_requires_the_token(daemon_factory, tmp_path):
    port = free_port()
    d = daemon_factory("--admin-listen", f"127.0.0.1:{port}")
    token_file = d.home / "token"
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    token = token_file.read_text().strip()
    assert len(token) >= 32

    status, headers, body = admin_call(port, "GET", "/v1/apis")
    assert status == 401
    assert "error" in json.loads(body)
    assert headers.get("www-authenticate", "").startswith("Bearer")
    assert admin_call(port, "GET", "/v1/apis", token="wrong")[0] == 401

    status, _, body = admin_call(port, "GET", "/v1/info", token=token)
    assert status == 200 and json.loads(body)["version"]

    # a deploy over TCP, then the API answers through the gateway
    proj = predictor_project(tmp_path, "by_name", simple_spec("remote"))
    content = (proj / "glia.yaml").read_text()
    status, _, body = admin_call(
        port, "POST", "/v1/deploy", token=token,
        body={"path": str(proj / "glia.yaml"), "content": content})
    assert status == 200, body
    assert json.loads(body)["apis"][0]["result"] == "created"
    d.wait_ready("remote")

    # the Unix socket still needs no token
    assert d.mgmt("GET", "/v1/apis")[0] == 200


def test_token_survives_restarts(daemon_factory):
    port = free_port()
    d = daemon_factory("--admin-listen", f"127.0.0.1:{port}")
    first = (d.home / "token").read_text()
    d.restart()
    assert (d.home / "token").read_text() == first
