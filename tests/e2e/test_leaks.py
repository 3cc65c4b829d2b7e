"""LeakSanitizer on the daemon: a `glia up` that served a Python API and a
command API, stopped by `glia down` (and by SIGTERM), frees everything it
allocated. Runs only when GLIA_BIN is an AddressSanitizer build (`make
asan` or `make BUILD=dir SANITIZE=1`); skipped otherwise. `make asan` runs
the e2e suite with detect_leaks=0 (Python's allocator confuses LSan in the
workers); these tests turn it on for the daemon they start.

The workers inherit ASAN_OPTIONS too: what LSan says about their embedded
CPython goes to the APIs' logs, not to the daemon's output checked here."""
import os
import signal
import subprocess

import pytest

from conftest import (GLIA_BIN, PREDICTORS, pid_alive, simple_spec, wait_for,
                      write_project)


def _is_asan_build(path):
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not _is_asan_build(GLIA_BIN),
    reason=f"{GLIA_BIN} is not an AddressSanitizer build")

SERVER = PREDICTORS / "command_server" / "serve.py"


def _project(tmp_path):
    yaml = simple_spec("py") + (
        "- name: cmd\n"
        "  kind: RealtimeAPI\n"
        "  predictor:\n"
        "    type: command\n"
        "    command: [/usr/bin/python3, serve.py, \"$GLIA_PORT\"]\n"
        "    readiness_path: /health\n")
    return write_project(tmp_path, yaml, {
        "predictor.py": PREDICTORS / "classifier" / "predictor.py",
        "serve.py": SERVER})


def _leak_checked(daemon_factory):
    """A daemon (not started) whose processes run with detect_leaks=1, the
    other options as the caller set them (`make asan`: abort_on_error)."""
    d = daemon_factory(start=False)
    opts = os.environ.get("ASAN_OPTIONS", "")
    d.env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "detect_leaks=1"
    return d


def _serve(d, tmp_path):
    d.cli("deploy", "glia.yaml", "--wait", cwd=_project(tmp_path))
    for n in range(5):
        r = d.post("/py", json={"n": n})
        assert r.status == 200, r
        assert d.post("/cmd/x", data=b"hi").status == 200
    assert d.post("/py", json={"fail": True}).status == 500
    assert d.post("/nowhere", json={}).status == 404


def _no_report(text):
    assert "LeakSanitizer" not in text, text[-8000:]
    assert "AddressSanitizer" not in text, text[-8000:]


def _serve_and_stop(daemon_factory, tmp_path, stop):
    d = _leak_checked(daemon_factory)
    d.start()
    _serve(d, tmp_path)
    stop(d)
    d.proc.wait(timeout=60)
    out = d.log_path.read_text(errors="replace")
    _no_report(out)
    assert d.proc.returncode == 0, out[-4000:]


def test_glia_down_leaves_no_leak(daemon_factory, tmp_path):
    _serve_and_stop(daemon_factory, tmp_path,
                    lambda d: d.cli("down", timeout=60))


def test_sigterm_leaves_no_leak(daemon_factory, tmp_path):
    _serve_and_stop(daemon_factory, tmp_path,
                    lambda d: os.kill(d.pid, signal.SIGTERM))


def test_detached_up_and_down_leave_no_leak(daemon_factory, tmp_path):
    """`glia up -d`: the parent that waits for the daemon, then the daemon
    (its output in GLIA_HOME/daemon.log)."""
    d = _leak_checked(daemon_factory)
    d.home.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(
        [str(GLIA_BIN), "up", "-d", "--listen", f"127.0.0.1:{d.port}",
         "--home", str(d.home)], env=d.env, capture_output=True, text=True,
        timeout=60, stdin=subprocess.DEVNULL)
    _no_report(res.stderr)
    assert res.returncode == 0, (res.stdout, res.stderr)
    wait_for(lambda: d._healthz_ok() and d.sock_path.exists(), timeout=30,
             message="the detached daemon to serve")
    pid = d.mgmt("GET", "/v1/info")[1]["pid"]
    _serve(d, tmp_path)
    d.cli("down", timeout=60)
    wait_for(lambda: not pid_alive(pid), timeout=60,
             message="the detached daemon to exit")
    out = (d.home / "daemon.log").read_text(errors="replace")
    _no_report(out)
    assert "stopped" in out, out[-4000:]
