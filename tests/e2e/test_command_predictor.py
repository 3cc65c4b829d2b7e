"""`type: command` predictors (SPEC section 4, "Command"): any HTTP server
started with $GLIA_PORT, made ready by a probe, forwarded /<endpoint>/<rest>
as /<rest>, and supervised like any replica."""
import os
import signal

from conftest import PREDICTORS, pid_alive, wait_for, write_project

SERVER = PREDICTORS / "command_server" / "serve.py"


def command_yaml(name, args, readiness_path="/health", extra=""):
    arg_list = ", ".join(f'"{a}"' for a in args)
    lines = [
        f"- name: {name}",
        "  kind: RealtimeAPI",
        "  predictor:",
        "    type: command",
        f"    command: [/usr/bin/python3, serve.py, \"$GLIA_PORT\"{', ' if args else ''}{arg_list}]",
        "    env: {GREETING: hello}",
    ]
    if readiness_path:
        lines.append(f"    readiness_path: {readiness_path}")
    return "\n".join(lines) + "\n" + extra


def project(tmp_path, name, args=(), readiness_path="/health", extra=""):
    return write_project(tmp_path, command_yaml(name, args, readiness_path,
                                                extra),
                         {"serve.py": SERVER}, dirname=name)


def test_command_server_gets_the_rest_of_the_path_env_and_request_id(
        daemon, tmp_path):
    proj = project(tmp_path, "cmd")
    daemon.deploy(proj)
    r = daemon.post("/cmd/a/b?q=1", data=b"hi",
                    headers={"X-Request-ID": "rid-42"})
    assert r.status == 200
    got = r.json()
    assert got["path"] == "/a/b?q=1"
    assert got["body"] == "hi"
    assert got["request_id"] == "rid-42"
    assert r.headers["x-request-id"] == "rid-42"
    env = got["env"]
    assert env["GLIA_PORT"] == env["PORT"] and int(env["PORT"]) > 0
    assert env["GREETING"] == "hello"
    assert env["GLIA_API"] == "cmd"
    # the endpoint root goes to "/"
    assert daemon.post("/cmd", data=b"x").json()["path"] == "/"


def test_readiness_by_tcp_connect_when_no_readiness_path(daemon, tmp_path):
    proj = project(tmp_path, "tcpready", readiness_path=None)
    daemon.deploy(proj)
    assert daemon.post("/tcpready", data=b"x").status == 200


def test_killed_command_server_is_restarted_and_serves(daemon, tmp_path):
    proj = project(tmp_path, "crashy")
    daemon.deploy(proj)
    old = daemon.replica_pids("crashy")
    assert len(old) == 1
    os.kill(old[0], signal.SIGKILL)

    def back():
        pids = daemon.replica_pids("crashy", state="ready")
        return pids and pids != old
    daemon.wait_for(back, timeout=60, message="command server restarted")
    detail = daemon.get("crashy")
    assert detail["restarts"] >= 1
    assert daemon.post("/crashy", data=b"x").status == 200


def test_server_that_never_becomes_ready_fails_after_startup_timeout(
        daemon_factory, tmp_path):
    d = daemon_factory("--startup-timeout", "2s")
    proj = project(tmp_path, "never", args=["--never-ready"])
    res = d.cli("deploy", "--wait", "--timeout", "60s", cwd=proj,
                check=False)
    assert res.returncode == 1
    assert "not ready after 2s" in res.stderr
    detail = d.get("never")
    assert detail["status"] == "failed"
    assert "not ready after" in detail["error"]
    r = d.post("/never", data=b"x")
    assert r.status == 503 and "not ready" in r.json()["error"]


def test_server_that_exits_at_start_is_reported_with_its_output(
        daemon, tmp_path):
    proj = project(tmp_path, "exits", args=["--crash-on-start"])
    res = daemon.cli("deploy", "--wait", "--timeout", "60s", cwd=proj,
                     check=False)
    assert res.returncode == 1
    assert "exited with status 7" in res.stderr
    logs = daemon.cli("logs", "exits").stdout
    assert "crashing on purpose" in logs


def test_missing_program_is_reported(daemon, tmp_path):
    yaml = ("- name: nocmd\n  kind: RealtimeAPI\n  predictor:\n"
            "    type: command\n    command: [./does-not-exist]\n")
    proj = write_project(tmp_path, yaml, dirname="nocmd")
    res = daemon.cli("deploy", "--wait", "--timeout", "60s", cwd=proj,
                     check=False)
    assert res.returncode == 1
    logs = daemon.cli("logs", "nocmd").stdout
    assert "cannot run ./does-not-exist" in logs


def test_command_server_dies_with_a_killed_daemon(daemon, tmp_path):
    proj = project(tmp_path, "orphan")
    daemon.deploy(proj)
    pids = daemon.replica_pids("orphan")
    assert pids
    daemon.kill9()
    wait_for(lambda: not any(pid_alive(p) for p in pids), timeout=30,
             message="command server gone with the daemon")
