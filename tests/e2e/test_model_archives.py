"""Model archives downloaded by a real worker are untrusted (issue 13,
item 6): setuid bits and owners dropped, and an archive that expands past
predictor.env's GLIA_MODEL_MAX_EXTRACT_BYTES is a clear load error."""
import functools
import http.server
import io
import json
import os
import stat
import tarfile
import threading

import pytest

from conftest import write_project

PREDICTOR = """\
import os


class PythonPredictor:
    def __init__(self, config, python_client):
        self.client = python_client

    def load_model(self, model_path):
        with open(os.path.join(model_path, "model.txt")) as f:
            return {"path": model_path, "text": f.read()}

    def predict(self, payload, query_params):
        return self.client.get_model(query_params.get("model"))
"""


def add_member(t, name, data=b"", **fields):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in fields.items():
        setattr(info, key, value)
    t.addfile(info, io.BytesIO(data))


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    with tarfile.open(root / "suid.tgz", "w:gz") as t:
        add_member(t, "m/model.txt", b"suid", mode=0o4777, uid=0, gid=0,
                   uname="root", gname="root")
        add_member(t, "m/data.bin", b"d", mode=0o2666, uid=4242, gid=4242)
    with tarfile.open(root / "bomb.tgz", "w:gz") as t:
        add_member(t, "m/model.txt", bytes(1 << 20))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_archives_through_a_worker(daemon, tmp_path, served):
    yaml = f"""\
- name: arch
  kind: RealtimeAPI
  predictor:
    type: python
    path: predictor.py
    env: {{GLIA_MODEL_MAX_EXTRACT_BYTES: "100000"}}
    models:
      paths: {json.dumps([{"name": n, "path": f"{served}/{n}.tgz"}
                          for n in ("suid", "bomb")])}
      cache_size: 2
      disk_cache_size: 2
"""
    proj = write_project(tmp_path, yaml, {"predictor.py": PREDICTOR})
    daemon.deploy(proj / "glia.yaml")
    daemon.wait_ready("arch")

    r = daemon.post("/arch?model=suid", json={})
    assert r.status == 200, r
    model = r.json()
    assert model["text"] == "suid"
    for name, mode in (("model.txt", 0o755), ("data.bin", 0o644)):
        st = os.lstat(os.path.join(model["path"], name))
        assert oct(stat.S_IMODE(st.st_mode)) == oct(mode), name
        assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid()), name
    cache = daemon.home / "cache" / "arch"
    assert stat.S_IMODE(os.stat(cache).st_mode) & 0o077 == 0

    r = daemon.post("/arch?model=bomb", json={})
    assert r.status == 500, r
    text = r.body.decode()
    assert "expands past 100000 bytes (GLIA_MODEL_MAX_EXTRACT_BYTES)" in text
    assert "failed to load" in text


def test_a_download_past_the_cap_stops_early(daemon, tmp_path):
    """Without Content-Length (curl 7.88 checks its MAXFILESIZE against
    that only), the download stops at GLIA_MODEL_MAX_DOWNLOAD_BYTES."""
    sent = []

    class Endless(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            n = 0
            try:
                while n < 256 << 20:
                    self.wfile.write(bytes(64 << 10))
                    n += 64 << 10
            except OSError:
                pass
            sent.append(n)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/big.bin"
        yaml = f"""\
- name: big
  kind: RealtimeAPI
  predictor:
    type: python
    path: predictor.py
    env: {{GLIA_MODEL_MAX_DOWNLOAD_BYTES: "1048576"}}
    models:
      paths: [{{name: big, path: "{url}"}}]
      cache_size: 1
      disk_cache_size: 1
"""
        proj = write_project(tmp_path, yaml, {"predictor.py": PREDICTOR})
        daemon.deploy(proj / "glia.yaml")
        daemon.wait_ready("big")
        r = daemon.post("/big?model=big", json={})
        assert r.status == 500, r
        assert ("larger than 1048576 bytes (GLIA_MODEL_MAX_DOWNLOAD_BYTES)"
                in r.body.decode()), r
        daemon.wait_for(lambda: sent, message="the server's answer to end")
        assert sent[0] < 64 << 20, sent
        leftovers = [p for p in (daemon.home / "cache" / "big").iterdir()
                     if not p.name.endswith(".lock")]
        assert leftovers == []
    finally:
        server.shutdown()
        server.server_close()
