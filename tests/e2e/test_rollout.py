"""Rolling updates and draining (issue 3, point 4): a redeploy and `glia
refresh` replace replicas under steady load within max_surge /
max_unavailable with no failed request; `glia delete` and `glia down` let
the requests in flight finish before the replicas stop."""
import threading
import time

import pytest

from conftest import (ApiWatcher, active_replicas, api_yaml, pid_alive,
                      predictor_project, ready_replicas, start_load, wait_for)

AUTOSCALE_ARGS = ("--autoscale-interval", "1s")


def fast_daemon(daemon_factory):
    return daemon_factory(*AUTOSCALE_ARGS)


def fixed(n, **extra):
    return {"min_replicas": n, "max_replicas": n, **extra}


def rollout_yaml(name, version, replicas, update_strategy=None, sleep_s=0.05,
                 threads=1, init_s=0):
    """sleepy with a fixed replica count; init_s > 0 makes every replica take
    that long to start, so a rollout lasts long enough to be watched."""
    config = {"sleep_s": sleep_s, "version": version}
    if init_s:
        config["init_s"] = init_s
    return api_yaml(name, config=config,
                    predictor={"threads_per_process": threads},
                    autoscaling=fixed(replicas),
                    update_strategy=update_strategy)


def check_bounds(snaps, surge, unavailable, label):
    """Every snapshot: active replicas <= requested + surge and ready >=
    requested - unavailable. Returns (max active, min ready)."""
    assert len(snaps) >= 10, f"{label}: only {len(snaps)} snapshots of the rollout"
    max_active, min_ready = 0, 10**9
    for t, s in snaps:
        requested = s["replicas"]["requested"]
        active = active_replicas(s)
        ready = ready_replicas(s)
        max_active = max(max_active, len(active))
        min_ready = min(min_ready, len(ready))
        states = [(r["id"], r["state"]) for r in s.get("replica_list") or []]
        assert len(active) <= requested + surge, \
            f"{label}: {len(active)} active replicas > {requested} + surge {surge}: {states}"
        assert len(ready) >= requested - unavailable, \
            f"{label}: {len(ready)} ready replicas < {requested} - unavailable " \
            f"{unavailable}: {states}"
    return max_active, min_ready


def all_new(d, api, old_ids, old_pids, n):
    detail = d.get(api)
    ids = {r["id"] for r in detail.get("replica_list") or []}
    ready = ready_replicas(detail)
    if detail["status"] == "live" and len(ready) == n and not ids & old_ids \
            and len(detail.get("replica_list") or []) == n \
            and not any(pid_alive(p) for p in old_pids):
        return detail
    return None


@pytest.mark.parametrize("surge,unavailable", [(1, 0), (0, 1)],
                         ids=["surge1-unavail0", "surge0-unavail1"])
def test_rolling_update_under_load(daemon_factory, tmp_path, surge, unavailable):
    d = fast_daemon(daemon_factory)
    strategy = {"max_surge": surge, "max_unavailable": unavailable}
    proj = predictor_project(tmp_path, "sleepy",
                             rollout_yaml("roll", 1, 3, strategy, init_s=0.7))
    d.cli("deploy", "glia.yaml", "--wait", cwd=proj, timeout=180)
    before = d.wait_ready("roll", timeout=120)
    old_ids = {r["id"] for r in before["replica_list"]}
    old_pids = set(d.replica_pids("roll"))
    assert len(old_ids) == 3

    load = start_load(d, "/roll", clients=4)
    watcher = ApiWatcher(d, "roll", interval=0.05)
    try:
        assert load.wait_for_count(30, timeout=60), load.summary()
        watcher.start()
        (proj / "glia.yaml").write_text(
            rollout_yaml("roll", 2, 3, strategy, init_s=0.7))
        t_deploy = time.monotonic()
        res = d.cli("deploy", "glia.yaml", cwd=proj)
        assert "updated" in res.stdout, res.stdout

        def only_v2():
            bodies = load.last_bodies(30)
            return len(bodies) == 30 and all(b and b.get("version") == 2 for b in bodies)

        wait_for(only_v2, timeout=120, interval=0.2,
                 message="every answer to come from version 2")
        wait_for(lambda: all_new(d, "roll", old_ids, old_pids, 3), timeout=120,
                 interval=0.2, message="3 new ready replicas and the old ones gone")
        t_done = time.monotonic()
        n = load.count()
        assert load.wait_for_count(n + 30, status=None, timeout=30), load.summary()
    finally:
        summary = load.stop()
        watcher.stop()

    snaps = watcher.since(t_deploy)
    max_active, min_ready = check_bounds(snaps, surge, unavailable,
                                         f"surge {surge} unavailable {unavailable}")
    print(f"\nrolling update (max_surge {surge}, max_unavailable {unavailable}) "
          f"took {t_done - t_deploy:.1f}s; max active {max_active}, min ready "
          f"{min_ready}, {len(snaps)} snapshots; load {summary}")
    assert load.exceptions == {}, summary
    assert set(load.statuses) == {200}, summary
    versions = [r.body.get("version") for r in load.snapshot_records() if r.body]
    assert versions[0] == 1 and versions[-1] == 2
    assert 1 in versions and 2 in versions
    final = d.get("roll")
    assert final["replicas"]["up_to_date"] == 3, final
    assert final["spec"]["predictor"]["config"]["version"] == 2


def test_refresh_replaces_every_replica_under_load(daemon_factory, tmp_path):
    d = fast_daemon(daemon_factory)
    # default update_strategy: 25% of 3 -> max_surge 1 (rounded up),
    # max_unavailable 0 (rounded down)
    proj = predictor_project(tmp_path, "sleepy", rollout_yaml("fresh", 1, 3, init_s=0.7))
    d.cli("deploy", "glia.yaml", "--wait", cwd=proj, timeout=180)
    before = d.wait_ready("fresh", timeout=120)
    old_ids = {r["id"] for r in before["replica_list"]}
    old_pids = set(d.replica_pids("fresh"))

    load = start_load(d, "/fresh", clients=4)
    watcher = ApiWatcher(d, "fresh", interval=0.05)
    try:
        assert load.wait_for_count(30, timeout=60), load.summary()
        watcher.start()
        t0 = time.monotonic()
        d.cli("refresh", "fresh")
        detail = wait_for(lambda: all_new(d, "fresh", old_ids, old_pids, 3),
                          timeout=120, interval=0.2,
                          message="every replica replaced after glia refresh")
        t_done = time.monotonic()
        n = load.count()
        assert load.wait_for_count(n + 30, status=None, timeout=30), load.summary()
    finally:
        summary = load.stop()
        watcher.stop()

    snaps = watcher.since(t0)
    max_active, min_ready = check_bounds(snaps, 1, 0, "refresh (25%/25% of 3)")
    print(f"\nrefresh of 3 replicas took {t_done - t0:.1f}s; max active "
          f"{max_active}, min ready {min_ready}; load {summary}")
    assert load.exceptions == {}, summary
    assert set(load.statuses) == {200}, summary
    new_pids = {r.body["pid"] for r in load.snapshot_records()
                if r.body and r.t_send > t_done}
    assert new_pids and not new_pids & old_pids, (new_pids, old_pids)
    assert detail["spec"]["predictor"]["config"]["version"] == 1
    assert detail["replicas"]["up_to_date"] == 3, detail


def slow_request(d, path, seconds, started_file):
    """POSTs a request that sleeps `seconds` inside the replica in a
    thread. Returns (thread, result list, time.monotonic() of the answer)."""
    result, done = [], []

    def run():
        try:
            result.append(d.post(path, json={"sleep": seconds,
                                             "started_file": str(started_file)},
                                 timeout=60))
        except Exception as e:  # noqa: BLE001 - checked by the caller
            result.append(e)
        done.append(time.monotonic())

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, result, done


def test_delete_under_load_finishes_requests_in_flight(daemon_factory, tmp_path):
    d = fast_daemon(daemon_factory)
    proj = predictor_project(tmp_path, "sleepy",
                             rollout_yaml("doomed", 1, 2, sleep_s=0.1, threads=4))
    d.cli("deploy", "glia.yaml", "--wait", cwd=proj, timeout=180)
    d.wait_ready("doomed", timeout=120)
    pids = d.replica_pids("doomed")

    load = start_load(d, "/doomed", clients=3)
    slow = []
    try:
        assert load.wait_for_count(20, timeout=60), load.summary()
        for i in range(2):
            marker = tmp_path / f"started-{i}"
            slow.append((marker, *slow_request(d, "/doomed", 2.0, marker)))
        wait_for(lambda: all(m.exists() for m, *_ in slow), timeout=30,
                 message="both slow requests to be inside replicas")
        t_delete = time.monotonic()
        d.cli("delete", "doomed")
        t_deleted = time.monotonic()

        def later_404s():
            return sum(1 for r in load.snapshot_records()
                       if r.t_send > t_deleted and r.status == 404) >= 20

        wait_for(later_404s, timeout=30, message="404s for requests after the delete")
        for _, t, _, _ in slow:
            t.join(60)
    finally:
        summary = load.stop()

    print(f"\ndelete under load: glia delete took {t_deleted - t_delete:.2f}s; "
          f"load {summary}")
    for marker, _, result, done in slow:
        assert result and not isinstance(result[0], Exception), result
        assert result[0].status == 200, result[0]
        assert result[0].json()["version"] == 1
    assert load.exceptions == {}, summary
    assert set(load.statuses) <= {200, 404}, summary
    late = [r for r in load.snapshot_records() if r.t_send > t_deleted]
    assert late and all(r.status == 404 for r in late), \
        f"requests sent after the delete: {sorted({r.status for r in late}, key=str)}"
    assert d.post("/doomed", json={}).status == 404
    wait_for(lambda: not any(pid_alive(p) for p in pids), timeout=60,
             message="the deleted API's replicas to stop")


def test_down_drains_a_request_in_flight(daemon_factory, tmp_path):
    d = fast_daemon(daemon_factory)
    proj = predictor_project(tmp_path, "sleepy",
                             rollout_yaml("lastcall", 1, 1, sleep_s=0.01))
    d.cli("deploy", "glia.yaml", "--wait", cwd=proj, timeout=180)
    d.wait_ready("lastcall", timeout=120)
    pids = d.replica_pids("lastcall")

    marker = tmp_path / "started"
    t, result, done = slow_request(d, "/lastcall", 1.0, marker)
    wait_for(marker.exists, timeout=30, message="the request to be inside the replica")
    t_down = time.monotonic()
    res = d.cli("down", check=False, timeout=90)
    t.join(60)
    rc = d.proc.wait(timeout=60)
    t_exit = time.monotonic()
    print(f"\nglia down: exit {res.returncode} after {t_exit - t_down:.2f}s; "
          f"in-flight request answered after {done[0] - t_down if done else -1:.2f}s: "
          f"{result}")
    assert res.returncode == 0, (res.stdout, res.stderr)
    assert result and not isinstance(result[0], Exception), result
    assert result[0].status == 200, result[0]
    assert result[0].json()["version"] == 1
    assert rc == 0, f"daemon exited {rc}:\n{d.log_tail()}"
    wait_for(lambda: not any(pid_alive(p) for p in pids), timeout=30,
             message="the replica to stop with the daemon")
    assert not d.worker_pids()
