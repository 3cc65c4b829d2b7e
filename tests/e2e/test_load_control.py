"""Load control (issue 3, point 1): a replica runs at most processes x
threads requests at once and the rest wait in the gateway's queue; past
max_replica_concurrency per ready replica the gateway sheds load with 503 +
Retry-After; networking.timeout bounds a request's stay (504); a request
whose replica dies before answering is retried on another replica."""
import json
import os
import signal
import threading
import time

from conftest import (api_yaml, concurrent_posts, pid_alive, predictor_project,
                      ready_replicas, start_load, wait_for)

AUTOSCALE_ARGS = ("--autoscale-interval", "1s")


def fast_daemon(daemon_factory):
    return daemon_factory(*AUTOSCALE_ARGS)


def sleepy_project(tmp_path, name, **fields):
    return predictor_project(tmp_path, "sleepy", api_yaml(name, **fields))


def fixed(n, **extra):
    """autoscaling fields for exactly n replicas."""
    return {"min_replicas": n, "max_replicas": n, **extra}


def test_overload_sheds_with_503_and_retry_after_only(daemon_factory, tmp_path):
    d = fast_daemon(daemon_factory)
    proj = sleepy_project(tmp_path, "overload", config={"sleep_s": 0.5},
                          predictor={"threads_per_process": 1},
                          autoscaling=fixed(1, max_replica_concurrency=4))
    d.cli("deploy", "glia.yaml", "--wait", cwd=proj, timeout=180)
    d.wait_ready("overload", timeout=90)

    load = start_load(d, "/overload", clients=16, timeout=60)
    try:
        ok = (load.wait_for_count(10, status=200, timeout=90)
              and load.wait_for_count(30, status=503, timeout=60))
    finally:
        summary = load.stop()
    print(f"\noverload, 16 clients on 1 replica (max_replica_concurrency 4): {summary}")
    assert ok, summary
    assert load.exceptions == {}, summary
    assert set(load.statuses) == {200, 503}, summary
    assert load.no_retry_after_503 == 0, summary
    assert load.retry_after_503 == load.statuses[503]
    body = load.body_samples[503]
    err = json.loads(body)
    assert isinstance(err, dict) and err.get("error"), body
    # the replica never ran more than its one slot: 0.5 s each, one at a time
    lat = summary["latency_200_s"]
    assert lat["p50"] >= 0.45, summary


def test_requests_beyond_the_replica_slots_wait_in_the_queue(daemon_factory, tmp_path):
    d = fast_daemon(daemon_factory)
    proj = sleepy_project(tmp_path, "queued", config={"sleep_s": 0.3},
                          predictor={"threads_per_process": 2},
                          autoscaling=fixed(1))
    d.cli("deploy", "glia.yaml", "--wait", cwd=proj, timeout=180)
    d.wait_ready("queued", timeout=90)
    assert d.post("/queued", json={}).status == 200  # warm

    results, elapsed = concurrent_posts(d, "/queued", 6, timeout=60)
    print(f"\n6 requests of 0.3 s on 2 slots: {elapsed:.2f}s, "
          f"{[getattr(r, 'status', r) for r in results]}")
    bad = [r for r in results if isinstance(r, Exception) or r is None or r.status != 200]
    assert not bad, bad
    assert len({r.json()["pid"] for r in results}) == 1, "more than one replica answered"
    # 3 rounds of 2 at a time: 0.9 s; 3 at a time would take 0.6 s
    assert elapsed >= 0.8, f"6 x 0.3 s requests took {elapsed:.2f}s on 2 slots"
    assert elapsed < 15, elapsed


def test_networking_timeout_gives_504_json(daemon_factory, tmp_path):
    d = fast_daemon(daemon_factory)
    proj = sleepy_project(tmp_path, "slowpoke", config={"sleep_s": 3},
                          autoscaling=fixed(1), networking={"timeout": "1s"})
    d.cli("deploy", "glia.yaml", "--wait", cwd=proj, timeout=180)
    d.wait_ready("slowpoke", timeout=90)

    t0 = time.monotonic()
    r = d.post("/slowpoke", json={}, timeout=30)
    elapsed = time.monotonic() - t0
    print(f"\n3 s request with a 1 s timeout: {r.status} after {elapsed:.2f}s {r.body!r}")
    assert r.status == 504, r
    assert r.content_type == "application/json", r
    assert r.json().get("error"), r
    assert r.headers.get("X-Request-ID"), r
    assert 0.9 <= elapsed < 2.8, elapsed

    # a quick request still gets through once the slot frees up
    r = d.post("/slowpoke", json={"sleep": 0}, timeout=30)
    assert r.status in (200, 504), r


def test_request_on_a_killed_replica_is_retried(daemon_factory, tmp_path):
    d = fast_daemon(daemon_factory)
    proj = sleepy_project(tmp_path, "victims", config={"sleep_s": 0.2},
                          predictor={"threads_per_process": 1},
                          autoscaling=fixed(2))
    d.cli("deploy", "glia.yaml", "--wait", cwd=proj, timeout=180)
    d.wait_ready("victims", timeout=90)

    killed = []
    load = start_load(d, "/victims", clients=4, timeout=60)
    try:
        assert load.wait_for_count(20, timeout=60), load.summary()
        for round_ in range(3):
            def busy_replica():
                for r in ready_replicas(d.get("victims")):
                    if (r.get("in_flight") or 0) >= 1 and r.get("pids"):
                        return r
                return None

            victim = wait_for(busy_replica, timeout=30, interval=0.05,
                              message="a ready replica with a request in flight")
            for pid in victim["pids"]:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            wait_for(lambda: not any(pid_alive(p) for p in victim["pids"]),
                     timeout=15, message="the killed replica to die")

            def replaced():
                detail = d.get("victims")
                ready = ready_replicas(detail)
                pids = {p for r in ready for p in r.get("pids") or []}
                return len(ready) >= 2 and not pids & set(killed)

            wait_for(replaced, timeout=90, interval=0.2,
                     message=f"a replacement after kill {round_ + 1}")
            n = load.count()
            assert load.wait_for_count(n + 10, status=None, timeout=30), load.summary()
    finally:
        summary = load.stop()
    print(f"\n3 x kill -9 under 4 clients on 2 replicas: {summary}")
    assert load.exceptions == {}, summary
    assert set(load.statuses) == {200}, summary
    served_by = {r.body["pid"] for r in load.snapshot_records() if r.body}
    assert served_by & set(killed), "no answer came from a replica later killed"


def test_request_whose_replica_dies_mid_request_is_retried_elsewhere(daemon_factory, tmp_path):
    """Deterministic: the request is known to be inside the replica (its
    predict() wrote the marker file) when that replica is SIGKILLed."""
    d = fast_daemon(daemon_factory)
    proj = sleepy_project(tmp_path, "retried", config={"sleep_s": 0.05},
                          autoscaling=fixed(2))
    d.cli("deploy", "glia.yaml", "--wait", cwd=proj, timeout=180)
    d.wait_ready("retried", timeout=90)
    marker = tmp_path / "started"
    result = []

    def run():
        try:
            result.append(d.post("/retried", json={"sleep": 1.0,
                                                   "started_file": str(marker)},
                                 timeout=60))
        except Exception as e:  # noqa: BLE001 - checked below
            result.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    wait_for(lambda: marker.exists() and marker.read_text().strip(), timeout=30,
             message="the request to be inside a replica")
    victim = int(marker.read_text())
    assert victim in d.replica_pids("retried")
    os.kill(victim, signal.SIGKILL)
    t.join(60)
    assert result and not isinstance(result[0], Exception), result
    r = result[0]
    print(f"\nrequest whose replica (pid {victim}) was killed: {r}")
    assert r.status == 200, r
    assert r.json()["pid"] != victim, r
