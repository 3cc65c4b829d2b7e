"""Durability of the daemon's state (issue 13, items 4 and 9).

- A state change is acknowledged only once state.db holds it: on a full
  disk `glia deploy` / `glia delete` fail with an error naming the disk and
  change nothing (running replicas, routes); after space comes back and the
  daemon restarts, the APIs are exactly those acknowledged.
- A damaged state.db (a zeroed page) makes `glia up` refuse to start, with
  the file named and left as it was.
- A deleted glia.sock: `glia up` and `glia down` still agree, through
  GLIA_HOME/daemon.lock (held by the daemon, holding its pid).

The full disk is a real one: a small tmpfs mounted for the test. That
needs root (as in CI); otherwise the full-disk tests run again inside
`unshare --user --map-root-user --mount`, where mounting one is allowed."""
import errno
import functools
import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from conftest import (GLIA_BIN, PREDICTORS, pid_alive, predictor_project,
                      simple_spec, wait_for, write_project)

DISK_SIZE = "16m"


@pytest.fixture
def small_disk():
    """A 16 MiB tmpfs mounted on a fresh directory under /tmp (mode 0700,
    fit for GLIA_HOME); unmounted and removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs as a full disk: run "
                    "by test_full_disk_tests_in_a_user_namespace_if_not_root")
    path = Path(tempfile.mkdtemp(prefix="glia-full-", dir="/tmp"))
    res = subprocess.run(["mount", "-t", "tmpfs", "-o",
                          f"size={DISK_SIZE},mode=0700", "tmpfs", str(path)],
                         capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        path.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True,
                       timeout=30)
        path.rmdir()


def test_full_disk_tests_in_a_user_namespace_if_not_root():
    """Not root: every full-disk test of this file runs again inside a user
    and mount namespace, as its root, and must pass there."""
    if os.geteuid() == 0:
        pytest.skip("root: the full-disk tests mount their tmpfs themselves")
    userns = ["unshare", "--user", "--map-root-user", "--mount"]
    probe = subprocess.run(userns + ["true"], capture_output=True, text=True,
                           timeout=30) if shutil.which("unshare") else None
    if probe is None or probe.returncode != 0:
        pytest.skip("not root, and no user namespace for a tmpfs: "
                    f"{probe.stderr.strip() if probe else 'no unshare'}")
    res = subprocess.run(
        userns + [sys.executable, "-m", "pytest", "-q", "-p",
                  "no:cacheprovider", __file__,
                  "-k", "full_disk and not user_namespace"],
        capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
    assert " passed" in res.stdout and "skipped" not in res.stdout, res.stdout


def fill_disk(path):
    """Writes path/filler until the filesystem has no block left."""
    filler = path / "filler"
    with open(filler, "ab", buffering=0) as f:
        for chunk in (1 << 20, 4096, 1):
            block = b"\0" * chunk
            while True:
                try:
                    f.write(block)
                except OSError as e:
                    assert e.errno == errno.ENOSPC, e
                    break
    assert os.statvfs(path).f_bavail == 0
    return filler


def versioned_project(tmp_path, name, version, dirname):
    return predictor_project(tmp_path, "versioned",
                             simple_spec(name, config={"version": version}),
                             dirname=dirname)


def version_of(d, api):
    r = d.post("/" + api, json={})
    assert r.status == 200, r
    return r.json()["version"]


def names(d):
    return sorted(a["name"] for a in d.list_apis())


def assert_disk_error(res):
    assert res.returncode != 0, (res.stdout, res.stderr)
    assert "disk is full" in res.stderr and "state.db" in res.stderr, res.stderr
    assert "nothing was changed" in res.stderr, res.stderr


def test_a_full_disk_fails_deploy_and_delete_and_changes_nothing(
        small_disk, daemon_factory, tmp_path):
    d = daemon_factory(home=small_disk)
    kept = versioned_project(tmp_path, "kept", 1, "kept")
    upd = versioned_project(tmp_path, "upd", 1, "upd")
    fresh = versioned_project(tmp_path, "fresh", 1, "fresh")
    d.deploy("glia.yaml", cwd=kept)
    d.deploy("glia.yaml", cwd=upd)
    kept_pids = d.replica_pids("kept")
    filler = fill_disk(small_disk)

    # delete: refused, the API keeps its replicas and keeps serving
    assert_disk_error(d.cli("delete", "kept", check=False))
    status, body = d.mgmt("DELETE", "/v1/apis/kept")
    assert status == 507, (status, body)
    assert "disk is full" in body["error"], body
    assert version_of(d, "kept") == 1
    assert d.replica_pids("kept") == kept_pids

    # a new API: refused, no route, no replica
    assert_disk_error(d.cli("deploy", "glia.yaml", cwd=fresh, check=False))
    assert d.post("/fresh", json={}).status == 404
    assert names(d) == ["kept", "upd"]

    # an update: refused, the old version keeps serving
    (upd / "glia.yaml").write_text(simple_spec("upd", config={"version": 2}))
    assert_disk_error(d.cli("deploy", "glia.yaml", cwd=upd, check=False))
    assert version_of(d, "upd") == 1
    assert d.get("upd")["replicas"]["up_to_date"] >= 1

    # refresh saves nothing: it restarts the replicas, the API keeps serving
    d.cli("refresh", "kept")
    d.wait_ready("kept")
    assert version_of(d, "kept") == 1

    # the daemon lives through the failed writes (logs, access lines too)
    for _ in range(20):
        assert d.post("/kept", json={"mark": "while-full"}).status == 200
    d.cli("logs", "kept")
    assert d.alive()

    # space again: a delete now is acknowledged, and every acknowledged
    # change (and only those) is there after a restart
    filler.unlink()
    res = d.cli("delete", "upd")
    assert "upd: deleted" in res.stdout
    d.restart()
    assert names(d) == ["kept"]
    d.wait_ready("kept")
    assert version_of(d, "kept") == 1
    assert d.post("/upd", json={}).status == 404
    assert d.post("/fresh", json={}).status == 404


def test_a_daemon_restarted_on_a_full_disk_serves_what_was_saved(
        small_disk, daemon_factory, tmp_path):
    d = daemon_factory(home=small_disk)
    proj = versioned_project(tmp_path, "saved", 7, "saved")
    d.deploy("glia.yaml", cwd=proj)
    fill_disk(small_disk)
    d.restart()
    d.wait_ready("saved")
    assert version_of(d, "saved") == 7


# ---------------------------------------------------------------------------
# a damaged state.db (issue 13, item 9)


def two_apis(d, tmp_path):
    yaml = (simple_spec("alpha", config={"version": "a1"}) +
            simple_spec("beta", config={"version": "b1"}))
    proj = write_project(tmp_path, yaml,
                         {"predictor.py": PREDICTORS / "versioned" / "predictor.py"})
    d.deploy("glia.yaml", cwd=proj)


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def zero_page(db, number):
    """Overwrites page `number` (1-based) of the SQLite file db with zeros,
    in place (as dd conv=notrunc would)."""
    with open(db, "r+b") as f:
        header = f.read(100)
        size = int.from_bytes(header[16:18], "big")
        size = 65536 if size == 1 else size
        assert os.path.getsize(db) >= number * size, "the file is too short"
        f.seek((number - 1) * size)
        f.write(b"\0" * size)


def up_in_foreground(d, timeout=60):
    """`glia up` for d's home and port, expected to exit by itself."""
    d.proc = subprocess.Popen(
        [str(GLIA_BIN), "up", "--listen", f"127.0.0.1:{d.port}", "--home",
         str(d.home)], env=d.env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    out, err = d.proc.communicate(timeout=timeout)
    return d.proc.returncode, out, err


def test_a_zeroed_page_in_state_db_refuses_the_start_and_keeps_the_file(
        daemon_factory, tmp_path):
    d = daemon_factory()
    two_apis(d, tmp_path)
    assert d.stop().returncode == 0
    db = d.home / "state.db"
    assert not Path(f"{db}-wal").exists() or os.path.getsize(f"{db}-wal") == 0
    zero_page(db, 2)
    before = sha256(db)

    rc, out, err = up_in_foreground(d)
    assert rc != 0, (out, err)
    assert f"{db} is damaged (Page 2: " in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert "restore it from a backup" in err and "move it aside" in err, err
    assert sha256(db) == before, "glia up wrote into the damaged state.db"

    # as the message says: moved aside, glia starts with no API
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{db}{suffix}").exists():
            os.rename(f"{db}{suffix}", f"{db}{suffix}.damaged")
    d.start()
    assert d.list_apis() == []
    assert sha256(f"{db}.damaged") == before


# ---------------------------------------------------------------------------
# a deleted glia.sock (issue 13, item 9): `glia up` and `glia down` agree


def second_up(d):
    """Another `glia up` for d's home (on another port): must refuse."""
    from conftest import free_port
    return subprocess.run(
        [str(GLIA_BIN), "up", "--listen", f"127.0.0.1:{free_port()}",
         "--home", str(d.home)], env=d.env, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=60)


def test_a_deleted_socket_is_made_again_and_a_second_up_refused(
        daemon, tmp_path):
    proj = predictor_project(tmp_path, "versioned", simple_spec("sock"))
    daemon.deploy("glia.yaml", cwd=proj)
    daemon.sock_path.unlink()

    res = second_up(daemon)
    assert res.returncode != 0, (res.stdout, res.stderr)
    assert "already running" in res.stderr, res.stderr
    assert f"pid {daemon.pid}" in res.stderr, res.stderr

    wait_for(lambda: daemon.cli("get", "sock", check=False).returncode == 0,
             timeout=30, message="glia get to reach the daemon again")
    assert daemon.post("/sock", json={}).status == 200
    assert "listening on it again" in daemon.log_tail()


def test_down_stops_a_daemon_whose_socket_is_gone(daemon, tmp_path):
    proj = predictor_project(tmp_path, "versioned", simple_spec("nosock"))
    daemon.deploy("glia.yaml", cwd=proj)
    pids = daemon.replica_pids("nosock")
    # a plain file where the socket was: nothing answers there, and the
    # daemon leaves it alone (it only makes a missing socket again)
    daemon.sock_path.unlink()
    daemon.sock_path.write_text("not a socket\n")

    res = second_up(daemon)
    assert res.returncode != 0 and "already running" in res.stderr, res.stderr
    res = daemon.cli("get", check=False)
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert f"the daemon (pid {daemon.pid}) runs but does not answer" in res.stderr

    res = daemon.cli("down", check=False)
    assert res.returncode == 0, (res.stdout, res.stderr)
    assert f"pid {daemon.pid}" in res.stderr and "SIGTERM" in res.stderr, res.stderr
    assert "stopped" in res.stdout
    assert daemon.proc.wait(timeout=60) == 0
    wait_for(lambda: not any(pid_alive(p) for p in pids), timeout=30,
             message="the replicas to stop")
    assert daemon.sock_path.read_text() == "not a socket\n"

    res = daemon.cli("down", check=False)
    assert res.returncode == 1 and "no daemon running" in res.stderr, res.stderr


MODELS_PREDICTOR = """\
import os


class PythonPredictor:
    def __init__(self, config, python_client):
        self.client = python_client

    def load_model(self, model_path):
        with open(os.path.join(model_path, "name.txt")) as f:
            return f.read().strip()

    def predict(self, payload, query_params):
        return {"model": self.client.get_model(query_params.get("model"))}
"""


def repository_states(d):
    r = d.request("POST", "/v2/repository/index", json={})
    assert r.status == 200, r
    return {m["name"]: m["state"] for m in r.json()}


def test_a_full_disk_fails_a_model_unload_and_keeps_the_model(
        small_disk, daemon_factory, tmp_path):
    d = daemon_factory(home=small_disk)
    yaml = ("- name: repo\n  kind: RealtimeAPI\n  predictor:\n"
            "    type: python\n    path: predictor.py\n"
            "    models: {dir: models}\n")
    proj = write_project(tmp_path, yaml, {
        "predictor.py": MODELS_PREDICTOR,
        "models/a/1/name.txt": "model a\n",
        "models/b/1/name.txt": "model b\n"})
    d.deploy("glia.yaml", cwd=proj)
    assert repository_states(d)["repo.a"] == "READY"
    filler = fill_disk(small_disk)

    r = d.request("POST", "/v2/repository/models/repo.a/unload")
    assert r.status == 507, r
    assert "disk is full" in r.json()["error"], r
    assert repository_states(d)["repo.a"] == "READY"
    assert d.post("/repo?model=a", json={}).json() == {"model": "model a"}

    # with space, an unload is saved and survives a restart
    filler.unlink()
    r = d.request("POST", "/v2/repository/models/repo.b/unload")
    assert r.status == 200, r
    d.restart()
    d.wait_ready("repo")
    states = repository_states(d)
    assert states["repo.a"] == "READY" and states["repo.b"] == "UNAVAILABLE", states


URL_PREDICTOR = """\
class PythonPredictor:
    def __init__(self, config, python_client):
        self.client = python_client

    def load_model(self, model_path):
        with open(model_path, "rb") as f:
            return len(f.read())

    def predict(self, payload, query_params):
        return {"size": self.client.get_model(query_params.get("model"))}
"""


@pytest.fixture
def model_server(tmp_path):
    """A local HTTP server of tmp_path/www; yields (www, port)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(www))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield www, srv.server_address[1]
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(10)


def test_a_model_download_on_a_full_disk_fails_clearly_then_works(
        small_disk, daemon_factory, tmp_path, model_server):
    www, port = model_server
    (www / "big.bin").write_bytes(b"x" * (4 << 20))
    d = daemon_factory(home=small_disk)
    other = versioned_project(tmp_path, "other", 1, "other")
    d.deploy("glia.yaml", cwd=other)
    yaml = ("- name: dl\n  kind: RealtimeAPI\n  predictor:\n"
            "    type: python\n    path: predictor.py\n    models:\n"
            f"      paths: [{{name: big, path: 'http://127.0.0.1:{port}/big.bin'}}]\n"
            "      cache_size: 1\n      disk_cache_size: 1\n")
    d.deploy("glia.yaml", cwd=write_project(tmp_path, yaml,
                                            {"predictor.py": URL_PREDICTOR}))
    filler = fill_disk(small_disk)

    # the model is downloaded at its first request, into GLIA_HOME/cache
    r = d.post("/dl?model=big", json={})
    assert r.status == 500, r
    assert "No space left on device" in r.json()["error"], r
    assert d.alive()
    assert d.cli("get", "dl").returncode == 0
    assert version_of(d, "other") == 1

    # a failed download is not a broken model: with space, the next request
    # downloads it
    filler.unlink()
    r = d.post("/dl?model=big", json={})
    assert r.status == 200, r
    assert r.json() == {"size": 4 << 20}


def test_a_first_start_on_a_full_disk_fails_cleanly_then_works(
        small_disk, daemon_factory):
    d = daemon_factory(home=small_disk, start=False)
    filler = fill_disk(small_disk)
    rc, out, err = up_in_foreground(d)
    assert rc == 1, (out, err)
    assert f"cannot open {small_disk}/state.db: database or disk is full" in err, err
    filler.unlink()
    d.start()
    assert d.list_apis() == []
