"""Request-based autoscaling (issue 3, points 2, 3 and 5): a load step
scales an API up to max_replicas and back to min_replicas with every request
answered 200; an idle API with min_replicas 0 goes to zero and comes back for
the next request with no failure; `glia get` shows the autoscaler's latest
recommendation and its reason.

Every daemon here runs with `--autoscale-interval 1s`. Deadlines are
generous: the machine running these tests may have two shared cores."""
import json
import time

import pytest

from conftest import (ApiWatcher, active_replicas, api_yaml, concurrent_posts,
                      pid_alive, predictor_project, ready_replicas, start_load,
                      wait_for)

AUTOSCALE_ARGS = ("--autoscale-interval", "1s")
TIMING_FILE = "/tmp/glia-e2e-autoscale-timing.json"


def fast_daemon(daemon_factory):
    return daemon_factory(*AUTOSCALE_ARGS)


def sleepy_project(tmp_path, name, **fields):
    return predictor_project(tmp_path, "sleepy", api_yaml(name, **fields))


def record_timing(key, value):
    """Keeps measured times in TIMING_FILE (one JSON object) for the
    closing note."""
    try:
        with open(TIMING_FILE) as f:
            data = json.load(f)
    except (OSError, ValueError):
        data = {}
    data[key] = value
    with open(TIMING_FILE, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)


def check_autoscaler_field(detail):
    a = detail.get("autoscaler")
    assert isinstance(a, dict), f"no autoscaler object in the API detail: {detail!r}"
    for key, types in (("recommended", int), ("replicas", int), ("reason", str),
                       ("avg_in_flight", (int, float)), ("at", (int, float))):
        assert key in a, f"autoscaler.{key} missing: {a!r}"
        assert isinstance(a[key], types) and not isinstance(a[key], bool), \
            f"autoscaler.{key} has the wrong type: {a!r}"
    assert a["reason"].strip(), a
    return a


# ---------------------------------------------------------------------------


def test_load_step_scales_to_max_replicas_and_back(daemon_factory, tmp_path):
    d = fast_daemon(daemon_factory)
    proj = sleepy_project(
        tmp_path, "step", config={"sleep_s": 0.1},
        predictor={"threads_per_process": 1, "processes_per_replica": 1},
        autoscaling={"min_replicas": 1, "max_replicas": 4,
                     "target_replica_concurrency": 1, "window": "4s",
                     "upscale_stabilization_period": "0s",
                     "downscale_stabilization_period": "5s"})
    d.cli("deploy", "glia.yaml", "--wait", cwd=proj, timeout=180)
    d.wait_ready("step", timeout=90)
    assert d.get("step")["replicas"]["requested"] == 1

    watcher = ApiWatcher(d, "step", interval=0.1).start()
    load = None
    try:
        load = start_load(d, "/step", clients=8)
        t_load = load.t_start

        # the watcher's snapshots (every 0.1 s) time the scale-up
        def scaled_up():
            for t, snap in watcher.since(t_load):
                if snap["replicas"]["requested"] == 4 \
                        and len(ready_replicas(snap)) >= 4:
                    return t
            return None

        t_ready4 = wait_for(scaled_up, timeout=90, interval=0.2,
                            message="4 requested and 4 ready replicas under load")
        t_req4 = next(t for t, snap in watcher.since(t_load)
                      if snap["replicas"]["requested"] >= 4)
        step_to_ready = t_ready4 - t_load
        print(f"\nload step 0 -> 8 clients: 4 replicas requested after "
              f"{t_req4 - t_load:.1f}s, 4th replica ready after {step_to_ready:.1f}s")
        record_timing("load_step_to_4th_replica_ready_s", round(step_to_ready, 2))
        record_timing("load_step_to_4_requested_s", round(t_req4 - t_load, 2))
        detail = d.get("step")
        assert detail["replicas"]["requested"] == 4, detail["replicas"]
        assert detail["replicas"]["ready"] >= 4, detail["replicas"]

        # the latest recommendation while saturated: capped at max_replicas
        def saturated_recommendation():
            a = check_autoscaler_field(d.get("step"))
            return a if a["replicas"] == 4 and a["recommended"] == 4 else None

        a = wait_for(saturated_recommendation, timeout=30, interval=0.5,
                     message="the autoscaler to recommend 4 under load")
        assert a["avg_in_flight"] > 3, a
        assert abs(a["at"] - time.time()) < 30, f"autoscaler.at is not recent: {a!r}"
        print(f"autoscaler under load: {a}")

        n = load.count(200)
        assert load.wait_for_count(n + 40, timeout=30), load.summary()
        summary_loaded = load.stop()
        t_unload = time.monotonic()
        print(f"load: {summary_loaded}")

        def back_to_min():
            detail = d.get("step")
            reps = detail["replicas"]
            if reps["requested"] == 1 and reps["ready"] == 1 \
                    and len(active_replicas(detail)) == 1:
                return detail
            return None

        wait_for(back_to_min, timeout=90, interval=0.5,
                 message="the API to scale back to 1 replica")
        t_down = time.monotonic() - t_unload
        print(f"load stopped -> back to 1 replica after {t_down:.1f}s")
        record_timing("load_stop_to_1_replica_s", round(t_down, 2))
    finally:
        if load is not None and load.t_stop is None:
            load.stop()
        watcher.stop()

    snaps = watcher.since(0)
    max_requested = max(s["replicas"]["requested"] for _, s in snaps)
    max_active = max(len(active_replicas(s)) for _, s in snaps)
    assert max_requested <= 4, f"requested {max_requested} > max_replicas 4"
    assert max_active <= 4, f"{max_active} active replicas > max_replicas 4"
    # once the load stopped the scale-down waited for the stabilization
    # period, and said so
    reasons = [(s.get("autoscaler") or {}).get("reason") or ""
               for t, s in snaps if t >= t_unload]
    assert any("stabiliz" in r.lower() for r in reasons), \
        f"no reason mentioned downscale stabilization after the load stopped: " \
        f"{sorted(set(reasons))}"

    assert load.exceptions == {}, load.summary()
    assert set(load.statuses) == {200}, load.summary()
    assert load.count(200) > 100, load.summary()


def test_get_shows_the_autoscaler_recommendation_and_reason(daemon_factory, tmp_path):
    d = fast_daemon(daemon_factory)
    proj = sleepy_project(
        tmp_path, "visible", config={"sleep_s": 0.05},
        autoscaling={"min_replicas": 1, "max_replicas": 3, "window": "2s",
                     "downscale_stabilization_period": "2s",
                     "upscale_stabilization_period": "0s"})
    d.cli("deploy", "glia.yaml", "--wait", cwd=proj, timeout=180)
    d.wait_ready("visible", timeout=90)

    def ticked():
        detail = d.get("visible")
        return check_autoscaler_field(detail) if detail.get("autoscaler") else None

    t_wall = time.time()
    a = wait_for(ticked, timeout=30, interval=0.5,
                 message="the autoscaler's first recommendation in glia get")
    assert a["replicas"] == 1 and a["recommended"] == 1, a
    assert a["avg_in_flight"] == pytest.approx(0, abs=0.5), a
    assert a["at"] >= t_wall - 5 and a["at"] <= time.time() + 5, (a, t_wall)

    # ticks every second: "at" moves on
    wait_for(lambda: check_autoscaler_field(d.get("visible"))["at"] > a["at"],
             timeout=15, interval=0.3, message="a later autoscaler tick")

    # the list's summary carries it too
    listed = [x for x in d.list_apis() if x["name"] == "visible"]
    assert listed and check_autoscaler_field(listed[0]), listed

    # the table for one API shows the reason text (it changes each tick,
    # so compare one JSON answer with the table printed right after)
    def reason_in_table():
        reason = check_autoscaler_field(d.get("visible"))["reason"]
        out = d.cli("get", "visible").stdout
        return out if " ".join(reason.split()) in " ".join(out.split()) else None

    out = wait_for(reason_in_table, timeout=20, interval=0.3,
                   message="the autoscaler's reason in `glia get visible`")
    print(out)


def test_scale_to_zero_and_back_with_no_failed_request(daemon_factory, tmp_path):
    d = fast_daemon(daemon_factory)
    proj = sleepy_project(
        tmp_path, "zero", config={"sleep_s": 0.1, "init_s": 1.0},
        autoscaling={"min_replicas": 0, "max_replicas": 3, "init_replicas": 1,
                     "target_replica_concurrency": 1, "window": "2s",
                     "upscale_stabilization_period": "0s",
                     "downscale_stabilization_period": "3s"},
        networking={"timeout": "60s"})
    d.cli("deploy", "glia.yaml", "--wait", cwd=proj, timeout=180)
    first = d.wait_ready("zero", timeout=90)
    assert first["replicas"]["requested"] == 1
    assert d.post("/zero", json={}).status == 200
    initial_pids = d.replica_pids("zero")

    def at_zero():
        detail = d.get("zero")
        reps = detail["replicas"]
        if reps["requested"] == 0 and reps["ready"] == 0 \
                and not active_replicas(detail):
            return detail
        return None

    t0 = time.monotonic()
    wait_for(at_zero, timeout=90, interval=0.5, message="the idle API to reach 0 replicas")
    print(f"\nidle -> 0 replicas after {time.monotonic() - t0:.1f}s")
    wait_for(lambda: not any(pid_alive(p) for p in initial_pids),
             timeout=60, message="the scaled-down replica's processes to exit")
    assert d.get("zero")["status"] != "failed"

    # one request at zero: waits while a replica starts (its __init__ takes
    # 1 s), then succeeds
    t0 = time.monotonic()
    r = d.post("/zero", json={}, timeout=90)
    cold = time.monotonic() - t0
    assert r.status == 200, r
    assert r.json()["pid"] not in initial_pids
    print(f"request at 0 replicas answered 200 after {cold:.2f}s (cold start)")
    record_timing("scale_from_zero_first_request_s", round(cold, 2))
    detail = d.get("zero")
    assert detail["replicas"]["requested"] >= 1, detail

    # back to zero, then a burst of 20 at once
    wait_for(at_zero, timeout=90, interval=0.5,
             message="the API to go back to 0 replicas")
    results, elapsed = concurrent_posts(d, "/zero", 20, timeout=90)
    ok = [r for r in results if not isinstance(r, Exception) and r is not None
          and r.status == 200]
    errors = [r for r in results if isinstance(r, Exception) or r is None
              or r.status != 200]
    print(f"burst of 20 at 0 replicas: answered after {elapsed:.2f}s, "
          f"{len(ok)} 200s from pids {sorted({r.json()['pid'] for r in ok})}")
    assert not errors, errors[:5]
    record_timing("scale_from_zero_burst_of_20_s", round(elapsed, 2))
