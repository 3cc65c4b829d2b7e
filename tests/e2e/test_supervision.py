"""Supervision (issue 2, point 6): readiness only after __init__ returned; a
failing __init__ is reported failed with its error and traceback; a replica
killed with SIGKILL is replaced and counted; a changed spec rolls out with no
failed request; an unchanged spec touches nothing."""
import os
import signal
import threading
import time

import pytest

from conftest import pid_alive, predictor_project, simple_spec, wait_for


def test_init_failure_shows_failed_with_error_and_traceback(daemon, tmp_path):
    proj = predictor_project(tmp_path, "init_fails", simple_spec("broken"))
    res = daemon.cli("deploy", "glia.yaml", "--wait", cwd=proj, check=False,
                     timeout=180)
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert "broken" in res.stderr

    detail = wait_for(lambda: (lambda d: d if d["status"] == "failed" else None)(
        daemon.get("broken")), timeout=60, message="status failed")
    assert "init-failure-marker" in (detail.get("error") or ""), detail
    assert detail["replicas"]["ready"] == 0

    table = daemon.cli("get").stdout
    line = next(l for l in table.splitlines() if "broken" in l)
    assert "failed" in line, table
    one = daemon.cli("get", "broken").stdout
    assert "failed" in one and "init-failure-marker" in one, one

    def traceback_logged():
        out = daemon.cli("logs", "broken").stdout
        return out if ("Traceback" in out and "init-failure-marker" in out) else None

    out = wait_for(traceback_logged, timeout=30, message="the __init__ traceback in glia logs")
    assert "RuntimeError" in out and "load_weights" in out
    assert "init_fails: loading the model" in out


def test_init_failure_is_retried_and_restarts_are_counted(daemon, tmp_path):
    proj = predictor_project(tmp_path, "init_fails", simple_spec("retried"))
    daemon.cli("deploy", "glia.yaml", cwd=proj)

    def restarts():
        d = daemon.get("retried")
        n = max([d.get("restarts") or 0] +
                [r.get("restarts") or 0 for r in d.get("replica_list") or []])
        return n if n >= 2 else None

    wait_for(restarts, timeout=90, interval=0.5, message="two restarts of the failing replica")
    assert daemon.get("retried")["status"] == "failed"


def test_failing_replica_is_restarted_with_growing_delays(daemon, tmp_path):
    starts_file = tmp_path / "starts"
    proj = predictor_project(tmp_path, "init_fails",
                             simple_spec("backoff", config={"starts_file": str(starts_file)}))
    daemon.cli("deploy", "glia.yaml", cwd=proj)

    def starts():
        if not starts_file.exists():
            return None
        times = [float(x) for x in starts_file.read_text().split()]
        return times if len(times) >= 4 else None

    times = wait_for(starts, timeout=90, interval=0.2, message="four starts")
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps[2] > 1.5 * gaps[0], f"restart delays do not grow: {gaps}"
    assert all(b > 0.8 * a for a, b in zip(gaps, gaps[1:])), gaps


def test_request_to_an_api_with_no_ready_replica_gets_a_json_error(daemon, tmp_path):
    yaml = simple_spec("no-replica") + "  networking:\n    timeout: 2s\n"
    proj = predictor_project(tmp_path, "init_fails", yaml)
    daemon.cli("deploy", "glia.yaml", cwd=proj)
    wait_for(lambda: daemon.get("no-replica")["status"] == "failed", timeout=60,
             message="status failed")
    t0 = time.monotonic()
    r = daemon.post("/no-replica", json={})
    elapsed = time.monotonic() - t0
    assert r.status in (503, 504), r
    assert r.content_type == "application/json" and r.json()["error"]
    if r.status == 503:
        assert r.headers.get("Retry-After"), r
    print(f"no-replica answer: {r.status} after {elapsed:.2f}s: {r.body!r}")
    assert elapsed < 10, elapsed


def test_replica_is_ready_only_after_init_returned(daemon, tmp_path):
    marker = tmp_path / "init-done"
    yaml = simple_spec("slow-init", config={"init_seconds": 4, "marker": str(marker)})
    proj = predictor_project(tmp_path, "slow_init", yaml)
    daemon.cli("deploy", "glia.yaml", cwd=proj)
    saw_starting = False
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        detail = daemon.get("slow-init")
        ready = [r for r in detail.get("replica_list") or [] if r["state"] == "ready"]
        if detail["status"] == "live" or ready or detail["replicas"]["ready"] > 0:
            assert marker.exists(), "reported ready before __init__ returned"
            break
        if detail["status"] == "starting":
            saw_starting = True
        time.sleep(0.1)
    else:
        pytest.fail("slow-init never became ready")
    assert saw_starting, "status was never 'starting' during a 4 s __init__"
    r = daemon.post("/slow-init", json={})
    assert r.status == 200 and r.body == b"slow-init-ok"


def test_killed_replica_is_replaced_and_serves(daemon, tmp_path):
    proj = predictor_project(tmp_path, "versioned", simple_spec("victim", config={"version": 1}))
    daemon.cli("deploy", "glia.yaml", "--wait", cwd=proj)
    daemon.wait_ready("victim")
    (old_pid,) = daemon.replica_pids("victim")
    assert daemon.post("/victim", json={}).json()["pid"] == old_pid

    os.kill(old_pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(old_pid), timeout=10, message="the replica to die")

    def replaced():
        detail = daemon.get("victim")
        reps = detail.get("replica_list") or []
        ready = [r for r in reps if r["state"] == "ready" and old_pid not in r["pids"]]
        return detail if detail["status"] == "live" and ready else None

    detail = wait_for(replaced, timeout=60, interval=0.2, message="a replacement replica")
    restarts = max([detail.get("restarts") or 0] +
                   [r.get("restarts") or 0 for r in detail["replica_list"]])
    assert restarts >= 1, detail
    (new_pid,) = daemon.replica_pids("victim")
    assert new_pid != old_pid
    r = daemon.post("/victim", json={})
    assert r.status == 200 and r.json()["pid"] == new_pid
    desc = daemon.cli("describe", "victim").stdout
    assert str(new_pid) in desc


class RequestLoop:
    """Threads sending requests back to back, each on its own keep-alive
    connection, recording every status (and every exception as a failure)."""

    def __init__(self, d, path, n_threads=2):
        self.d, self.path = d, path
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.statuses = {}
        self.failures = []
        self.versions = []  # (monotonic time, version) in arrival order
        self.count = 0
        self.threads = [threading.Thread(target=self.run, daemon=True)
                        for _ in range(n_threads)]

    def run(self):
        s = self.d.session(timeout=30)
        try:
            while not self.stop_event.is_set():
                try:
                    r = s.post(self.path, json={"loop": True})
                except Exception as e:  # noqa: BLE001 - a failed request
                    with self.lock:
                        self.failures.append(repr(e))
                    continue
                with self.lock:
                    self.count += 1
                    self.statuses[r.status] = self.statuses.get(r.status, 0) + 1
                    if r.status == 200:
                        self.versions.append((time.monotonic(), r.json()["version"]))
                    else:
                        self.failures.append(f"{r.status} {r.body[:200]!r}")
        finally:
            s.close()

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(60)

    def last_version(self):
        with self.lock:
            return self.versions[-1][1] if self.versions else None


def versions_count(loop, v):
    return sum(1 for _, x in loop.versions if x == v)


def test_redeploy_of_changed_spec_under_load_fails_no_request(daemon, tmp_path):
    proj = predictor_project(tmp_path, "versioned", simple_spec("rolling", config={"version": 1}))
    daemon.cli("deploy", "glia.yaml", "--wait", cwd=proj)
    daemon.wait_ready("rolling")
    old_pids = daemon.replica_pids("rolling")

    loop = RequestLoop(daemon, "/rolling").start()
    try:
        wait_for(lambda: loop.count >= 20, timeout=30, message="the request loop to run")
        (proj / "glia.yaml").write_text(simple_spec("rolling", config={"version": 2}))
        res = daemon.cli("deploy", "glia.yaml", cwd=proj)
        assert "rolling" in res.stdout and "updated" in res.stdout, res.stdout
        wait_for(lambda: loop.last_version() == 2, timeout=90, interval=0.1,
                 message="the new version to answer")
        daemon.wait_ready("rolling", timeout=90)
        wait_for(lambda: not any(pid_alive(p) for p in old_pids), timeout=60,
                 message="the old replica to stop")
        n = loop.count
        wait_for(lambda: loop.count >= n + 20, timeout=30, message="more requests after the update")
    finally:
        loop.stop()

    print(f"requests during the update: {loop.count}, statuses {loop.statuses}, "
          f"v1 answers {versions_count(loop, 1)}, "
          f"v2 answers {versions_count(loop, 2)}")
    assert not loop.failures, f"{len(loop.failures)} failed requests of {loop.count}: " \
        f"{loop.failures[:5]}"
    assert set(loop.statuses) == {200}, loop.statuses
    versions = [v for _, v in loop.versions]
    assert versions[0] == 1 and versions[-1] == 2
    # once every old replica is gone only the new version answers
    assert all(v == 2 for v in versions[-20:]), versions[-20:]
    new_pids = daemon.replica_pids("rolling")
    assert not set(new_pids) & set(old_pids)
    assert daemon.get("rolling")["spec"]["predictor"]["config"] == {"version": 2}


def test_redeploy_of_unchanged_file_reports_unchanged_and_keeps_replicas(daemon, tmp_path):
    proj = predictor_project(tmp_path, "versioned", simple_spec("steady", config={"version": 1}))
    daemon.cli("deploy", "glia.yaml", "--wait", cwd=proj)
    daemon.wait_ready("steady")
    before = daemon.get("steady")
    pids = daemon.replica_pids("steady")
    ids = [r["id"] for r in before["replica_list"]]

    res = daemon.cli("deploy", "glia.yaml", cwd=proj)
    assert "steady" in res.stdout and "unchanged" in res.stdout, res.stdout
    out = daemon.cli_json("deploy", "glia.yaml", cwd=proj)
    apis = out["apis"] if isinstance(out, dict) else out
    assert apis[0]["result"] == "unchanged"

    after = daemon.get("steady")
    assert daemon.replica_pids("steady") == pids
    assert [r["id"] for r in after["replica_list"]] == ids
    assert after["status"] == "live"
    assert after["last_update"] == before["last_update"]
    assert all(pid_alive(p) for p in pids)


def test_redeploy_with_only_comments_changed_is_unchanged(daemon, tmp_path):
    """The spec is what is compared: a whitespace/comment-only edit of the
    YAML is unchanged too."""
    proj = predictor_project(tmp_path, "versioned", simple_spec("comments", config={"version": 1}))
    daemon.cli("deploy", "glia.yaml", "--wait", cwd=proj)
    pids = daemon.replica_pids("comments")
    text = (proj / "glia.yaml").read_text()
    (proj / "glia.yaml").write_text("# a comment\n" + text + "\n\n")
    res = daemon.cli("deploy", "glia.yaml", cwd=proj)
    assert "unchanged" in res.stdout, res.stdout
    assert daemon.replica_pids("comments") == pids


def start_slow_request(d, path, seconds):
    """POSTs {"sleep": seconds} in a thread; returns (thread, result list)."""
    result = []

    def run():
        try:
            result.append(d.post(path, json={"sleep": seconds}, timeout=60))
        except Exception as e:  # noqa: BLE001 - checked by the caller
            result.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, result


def in_flight(d, api):
    return sum(r.get("in_flight") or 0 for r in d.replicas(api))


def test_request_in_flight_finishes_when_its_replica_is_replaced(daemon, tmp_path):
    proj = predictor_project(tmp_path, "versioned", simple_spec("drain", config={"version": 1}))
    daemon.cli("deploy", "glia.yaml", "--wait", cwd=proj)
    daemon.wait_ready("drain")
    t, result = start_slow_request(daemon, "/drain", 3)
    wait_for(lambda: in_flight(daemon, "drain") >= 1, timeout=10,
             message="the slow request to be in flight")
    (proj / "glia.yaml").write_text(simple_spec("drain", config={"version": 2}))
    daemon.cli("deploy", "glia.yaml", cwd=proj)
    t.join(60)
    assert result and not isinstance(result[0], Exception), result
    assert result[0].status == 200, result[0]
    assert result[0].json()["version"] == 1
    daemon.wait_ready("drain")
    assert daemon.post("/drain", json={}).json()["version"] == 2


def test_request_in_flight_finishes_when_its_api_is_deleted(daemon, tmp_path):
    proj = predictor_project(tmp_path, "versioned", simple_spec("leaving", config={"version": 1}))
    daemon.cli("deploy", "glia.yaml", "--wait", cwd=proj)
    daemon.wait_ready("leaving")
    pids = daemon.replica_pids("leaving")
    t, result = start_slow_request(daemon, "/leaving", 2)
    wait_for(lambda: in_flight(daemon, "leaving") >= 1, timeout=10,
             message="the slow request to be in flight")
    daemon.cli("delete", "leaving")
    assert daemon.post("/leaving", json={}).status == 404
    t.join(60)
    assert result and not isinstance(result[0], Exception), result
    assert result[0].status == 200 and result[0].json()["version"] == 1, result[0]
    wait_for(lambda: not any(pid_alive(p) for p in pids), timeout=30,
             message="the deleted API's replica to stop")
