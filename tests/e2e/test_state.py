"""State (issue 2, point 7): the daemon's SIGKILL takes its workers with it
and `glia up` restores every API; replica output lands in
GLIA_HOME/logs/<api>/ and `glia logs` reads it (--tail, -f); `glia down`
stops everything; `glia up -d` detaches."""
import queue
import subprocess
import threading
import time
import uuid

from conftest import (GLIA_BIN, pid_alive, predictor_project, simple_spec,
                      wait_for, write_project, PREDICTORS)


def two_api_project(tmp_path):
    yaml = (simple_spec("alpha", config={"version": "a1"}, processes_per_replica=2) +
            simple_spec("beta", config={"version": "b1"}))
    return write_project(tmp_path, yaml,
                         {"predictor.py": PREDICTORS / "versioned" / "predictor.py"})


def test_daemon_sigkill_takes_workers_down_and_up_restores_apis(daemon, tmp_path):
    proj = two_api_project(tmp_path)
    daemon.cli("deploy", "glia.yaml", "--wait", cwd=proj)
    daemon.wait_ready("alpha")
    daemon.wait_ready("beta")
    old = daemon.replica_pids("alpha") + daemon.replica_pids("beta")
    assert len(old) == 3
    assert sorted(daemon.worker_pids()) == sorted(old)

    daemon.kill9()
    wait_for(lambda: not any(pid_alive(p) for p in old), timeout=15,
             message=f"the killed daemon's workers {old} to exit")
    assert daemon.worker_pids() == []

    daemon.start()
    for name, version in (("alpha", "a1"), ("beta", "b1")):
        daemon.wait_ready(name)
        r = daemon.post("/" + name, json={})
        assert r.status == 200, r
        assert r.json()["version"] == version
    new = daemon.replica_pids("alpha") + daemon.replica_pids("beta")
    assert len(new) == 3 and not set(new) & set(old)
    # exactly the requested workers run: nothing duplicated, nothing leaked
    wait_for(lambda: sorted(daemon.worker_pids()) == sorted(new), timeout=15,
             message="the worker processes to match the replica list")


def test_daemon_sigkill_takes_down_a_worker_busy_with_a_request(daemon, tmp_path):
    proj = predictor_project(tmp_path, "versioned", simple_spec("busy"))
    daemon.cli("deploy", "glia.yaml", "--wait", cwd=proj)
    daemon.wait_ready("busy")
    pids = daemon.replica_pids("busy")
    result = []

    def slow():
        try:
            result.append(daemon.post("/busy", json={"sleep": 60}, timeout=90))
        except Exception as e:  # noqa: BLE001 - the gateway died: expected
            result.append(e)

    t = threading.Thread(target=slow, daemon=True)
    t.start()
    wait_for(lambda: sum(r["in_flight"] for r in daemon.replicas("busy")) >= 1,
             timeout=10, message="the request to be in flight")
    daemon.kill9()
    wait_for(lambda: not any(pid_alive(p) for p in pids), timeout=15,
             message=f"the busy worker {pids} to exit with its daemon")
    t.join(30)
    assert result and (isinstance(result[0], Exception) or result[0].status != 200)


def test_deleted_api_stays_deleted_after_daemon_restart(daemon, tmp_path):
    proj = two_api_project(tmp_path)
    daemon.cli("deploy", "glia.yaml", "--wait", cwd=proj)
    daemon.cli("delete", "beta")
    daemon.restart()
    daemon.wait_ready("alpha")
    assert [a["name"] for a in daemon.list_apis()] == ["alpha"]
    assert daemon.post("/beta", json={}).status == 404


def test_updated_spec_survives_daemon_restart(daemon, tmp_path):
    proj = predictor_project(tmp_path, "versioned", simple_spec("upd", config={"version": 1}))
    daemon.cli("deploy", "glia.yaml", "--wait", cwd=proj)
    (proj / "glia.yaml").write_text(simple_spec("upd", config={"version": 2}))
    daemon.cli("deploy", "glia.yaml", "--wait", cwd=proj)
    daemon.wait_ready("upd")
    daemon.restart()
    daemon.wait_ready("upd")
    assert daemon.post("/upd", json={}).json()["version"] == 2
    res = daemon.cli("deploy", "glia.yaml", cwd=proj)
    assert "unchanged" in res.stdout, res.stdout


def test_state_db_is_sqlite_under_home(daemon, tmp_path):
    proj = predictor_project(tmp_path, "versioned", simple_spec("stored"))
    daemon.cli("deploy", "glia.yaml", cwd=proj)
    db = daemon.home / "state.db"
    assert db.is_file()
    with open(db, "rb") as f:
        assert f.read(16) == b"SQLite format 3\x00"


def test_replica_output_goes_to_home_logs_api(daemon, tmp_path):
    proj = predictor_project(tmp_path, "versioned", simple_spec("logged", config={"version": 1}))
    daemon.cli("deploy", "glia.yaml", "--wait", cwd=proj)
    daemon.wait_ready("logged")
    rid = daemon.replicas("logged")[0]["id"]
    mark = uuid.uuid4().hex[:10]
    assert daemon.post("/logged", json={"mark": mark}).status == 200
    logdir = daemon.home / "logs" / "logged"

    def logged():
        for f in logdir.glob("*.log"):
            if f"served request mark={mark}" in f.read_text(errors="replace"):
                return f
        return None

    f = wait_for(logged, timeout=15, message=f"mark {mark} in {logdir}/*.log")
    assert f.name == f"{rid}.log"
    out = daemon.cli("logs", "logged").stdout
    lines = [l for l in out.splitlines() if mark in l]
    assert lines and lines[0].startswith(rid), out


def test_logs_tail_gives_the_last_lines(daemon_factory, tmp_path):
    # no gateway access lines: only the predictor's own lines are counted
    daemon = daemon_factory("--no-access-log")
    proj = predictor_project(tmp_path, "versioned", simple_spec("tailed"))
    daemon.cli("deploy", "glia.yaml", "--wait", cwd=proj)
    daemon.wait_ready("tailed")
    marks = [f"t{i}-{uuid.uuid4().hex[:6]}" for i in range(5)]
    for m in marks:
        assert daemon.post("/tailed", json={"mark": m}).status == 200
    wait_for(lambda: marks[-1] in daemon.cli("logs", "tailed").stdout, timeout=15,
             message="the last mark in glia logs")
    lines = daemon.cli("logs", "tailed", "--tail", "2").stdout.splitlines()
    assert len(lines) == 2, lines
    assert marks[-2] in lines[0] and marks[-1] in lines[1], lines


def test_logs_follow_streams_new_lines(daemon, tmp_path):
    proj = predictor_project(tmp_path, "versioned", simple_spec("followed"))
    daemon.cli("deploy", "glia.yaml", "--wait", cwd=proj)
    daemon.wait_ready("followed")
    p = subprocess.Popen([str(GLIA_BIN), "logs", "followed", "-f"], env=daemon.env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = queue.Queue()
    seen = []

    def reader():
        for line in p.stdout:
            lines.put(line)

    def wait_line(text, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            seen.append(line)
            if text in line:
                return True
        return False

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        # until the follower is known to be attached, keep sending marks
        attached = False
        for _ in range(30):
            mark = "sync-" + uuid.uuid4().hex[:8]
            assert daemon.post("/followed", json={"mark": mark}).status == 200
            if wait_line(f"mark={mark}", 1.0):
                attached = True
                break
            assert p.poll() is None, f"glia logs -f exited: {p.stderr.read()}"
        assert attached, f"glia logs -f showed no new line; saw {seen}"
        # a line written now, after the follower attached, must stream out
        mark = "new-" + uuid.uuid4().hex[:8]
        assert daemon.post("/followed", json={"mark": mark}).status == 200
        assert wait_line(f"mark={mark}", 20), f"followed lines: {seen}"
        rid = daemon.replicas("followed")[0]["id"]
        assert seen[-1].startswith(rid), seen[-1]
        assert p.poll() is None, "glia logs -f exited instead of following"
    finally:
        p.kill()
        p.wait(10)
        t.join(5)


def test_down_stops_the_daemon_and_its_replicas(daemon, tmp_path):
    proj = predictor_project(tmp_path, "versioned", simple_spec("downed"))
    daemon.cli("deploy", "glia.yaml", "--wait", cwd=proj)
    daemon.wait_ready("downed")
    pids = daemon.replica_pids("downed")
    res = daemon.cli("down", timeout=60)
    assert res.returncode == 0
    assert daemon.proc.wait(timeout=60) == 0
    wait_for(lambda: not any(pid_alive(p) for p in pids), timeout=30,
             message="replicas to stop after glia down")
    assert daemon.worker_pids() == []


def test_up_detached_returns_and_serves_until_down(daemon_factory):
    d = daemon_factory(start=False)
    res = subprocess.run([str(GLIA_BIN), "up", "-d", "--listen", f"127.0.0.1:{d.port}",
                          "--home", str(d.home)], env=d.env, capture_output=True,
                         text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, (res.stdout, res.stderr)
    wait_for(lambda: d._healthz_ok() and d.sock_path.exists(), timeout=30,
             message="the detached daemon to serve")
    status, info = d.mgmt("GET", "/v1/info")
    assert status == 200
    pid = info["pid"]
    assert pid_alive(pid)
    assert d.cli("get").returncode == 0
    d.cli("down")
    wait_for(lambda: not pid_alive(pid), timeout=30, message="the detached daemon to exit")
