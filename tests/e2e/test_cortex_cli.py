"""Cortex's CLI habits (issue 14, item 6) on glia's CLI: -e/--env NAME on
every command (local, or a remote daemon kept with `glia env add NAME --url
URL --token TOKEN`), -y/--yes, delete -f (no prompt: the replicas still
drain), predict API FILE, logs following on a terminal, patch, JOB_ID
arguments, env default. Projects are Cortex-style cortex.yaml + PythonPredictor,
written here."""
import json
import os
import pty
import signal
import stat
import subprocess
import threading
import time

from conftest import GLIA_BIN, free_port, write_project

PREDICTOR = '''\
import time


class PythonPredictor:
    def __init__(self, config):
        self.label = config["label"]
        print("cortex-cli predictor ready", flush=True)

    def predict(self, payload):
        print("cortex-cli got %s" % payload.get("tag", "-"), flush=True)
        time.sleep(float(payload.get("sleep", 0)))
        return {"label": self.label, "echo": payload}
'''


def cortex_yaml(name, label):
    """A Cortex v0.2x cortex.yaml for one RealtimeAPI."""
    return (f"- name: {name}\n"
            "  kind: RealtimeAPI\n"
            "  predictor:\n"
            "    type: python\n"
            "    path: predictor.py\n"
            "    config:\n"
            f"      label: {label}\n"
            "  compute:\n"
            "    cpu: 100m\n")


def project(tmp_path, name, label="one", dirname=None):
    return write_project(tmp_path, cortex_yaml(name, label),
                         {"predictor.py": PREDICTOR,
                          "sample.json": json.dumps({"tag": "sample"})},
                         dirname=dirname or name, yaml_name="cortex.yaml")


def test_env_local_yes_and_cortex_flags_on_every_command(daemon, tmp_path):
    proj = project(tmp_path, "flags")
    r = daemon.cli("deploy", "-e", "local", "-y", "-f", "--wait", cwd=proj)
    assert "flags: created" in r.stdout
    daemon.wait_ready("flags")
    j = json.loads(daemon.cli("get", "--env", "local", "-v", "-o",
                              "json").stdout)
    assert [a["name"] for a in j["apis"]] == ["flags"]
    j = json.loads(daemon.cli("get", "flags", "--env=local", "-o",
                              "mixed").stdout)
    assert j["name"] == "flags"
    assert "flags" in daemon.cli("get", "-e", "local", "-o",
                                 "pretty").stdout
    assert "replicas:" in daemon.cli("describe", "flags", "-e",
                                     "local").stdout
    assert "flags: refreshing" in daemon.cli("refresh", "flags", "-e",
                                             "local", "-y", "-f").stdout
    daemon.wait_ready("flags")
    r = daemon.cli("logs", "flags", "-e", "local", "-y", "--no-follow")
    assert "cortex-cli predictor ready" in r.stdout
    # --random-pod (late Cortex): one replica's lines, no gateway lines
    daemon.post("/flags", json={"tag": "seen"})
    daemon.wait_for(lambda: any(
        line.startswith("gateway ") for line in daemon.cli(
            "logs", "flags").stdout.splitlines()))
    r = daemon.cli("logs", "flags", "--random-pod", "--no-follow")
    ids = {line.split()[0] for line in r.stdout.splitlines()}
    assert len(ids) == 1 and "gateway" not in ids, r.stdout
    assert "cortex-cli got seen" in r.stdout
    r = daemon.cli("delete", "flags", "-e", "local", "-y", "-f", "-c")
    assert "flags: deleted" in r.stdout
    daemon.wait_for(lambda: daemon.list_apis() == [])


def test_job_ids_are_refused_until_batch_apis_exist(daemon):
    for args in (("get", "some-api", "job-1"), ("delete", "some-api",
                                                "job-1"),
                 ("logs", "some-api", "job-1", "--no-follow")):
        r = daemon.cli(*args, check=False)
        assert r.returncode == 1, (args, r)
        assert "BatchAPI support" in r.stderr, (args, r.stderr)


def test_predict_reads_an_existing_file(daemon, tmp_path):
    proj = project(tmp_path, "filepredict", label="fromfile")
    daemon.cli("deploy", "--wait", cwd=proj)
    # Cortex's form: the file's name, no @
    r = daemon.cli("predict", "filepredict", "sample.json", cwd=proj)
    assert json.loads(r.stdout) == {"label": "fromfile",
                                    "echo": {"tag": "sample"}}
    # JSON text is still JSON text, @FILE still a file
    r = daemon.cli("predict", "filepredict", '{"tag": "inline"}')
    assert json.loads(r.stdout)["echo"] == {"tag": "inline"}
    r = daemon.cli("predict", "filepredict", "@sample.json", cwd=proj)
    assert json.loads(r.stdout)["echo"] == {"tag": "sample"}


def test_delete_f_is_no_prompt_and_still_drains(daemon, tmp_path):
    proj = project(tmp_path, "drainme")
    daemon.cli("deploy", "--wait", cwd=proj)
    answers = []

    def slow_call():
        answers.append(daemon.post("/drainme",
                                   json={"tag": "slow", "sleep": 3}))

    t = threading.Thread(target=slow_call)
    t.start()
    # not on a terminal, `glia logs` prints once
    daemon.wait_for(lambda: "cortex-cli got slow" in daemon.cli(
        "logs", "drainme").stdout, timeout=60)
    r = daemon.cli("delete", "drainme", "-f")
    assert "drainme: deleted" in r.stdout
    t.join(timeout=120)
    assert not t.is_alive()
    # the request already inside the replica was finished, not cut
    assert answers and answers[0].status == 200, answers
    assert answers[0].json()["echo"]["tag"] == "slow"
    daemon.wait_for(lambda: daemon.list_apis() == [])


def test_delete_no_drain_stops_at_once(daemon, tmp_path):
    proj = project(tmp_path, "nodrain")
    daemon.cli("deploy", "--wait", cwd=proj)
    answers = []
    t = threading.Thread(target=lambda: answers.append(daemon.post(
        "/nodrain", json={"tag": "slow", "sleep": 100}, timeout=140)))
    t.start()
    daemon.wait_for(lambda: "cortex-cli got slow" in daemon.cli(
        "logs", "nodrain").stdout, timeout=60)
    assert "nodrain: deleted" in daemon.cli("delete", "nodrain",
                                            "--no-drain").stdout
    # cut (a 5xx now, or 504 at networking.timeout, 60 s), well before
    # the 100 s the request asked for
    t.join(timeout=150)
    assert not t.is_alive()
    assert answers and answers[0].status >= 500, answers


def test_patch_updates_deployed_apis_only(daemon, tmp_path):
    proj = project(tmp_path, "patchme", label="before")
    r = daemon.cli("patch", cwd=proj, check=False)
    assert r.returncode == 1
    assert "api 'patchme' is not deployed" in r.stderr
    assert daemon.list_apis() == []  # nothing was created

    daemon.cli("deploy", "--wait", cwd=proj)
    (proj / "cortex.yaml").write_text(cortex_yaml("patchme", "after"))
    r = daemon.cli("patch", "cortex.yaml", "-e", "local", "-y", "--wait",
                   cwd=proj)
    assert "patchme: updated" in r.stdout
    daemon.wait_ready("patchme")
    r = daemon.post("/patchme", json={"tag": "x"})
    assert r.json()["label"] == "after"


def read_until(fd, needle, deadline_s=60.0):
    """Reads the pty master until needle appears (or the deadline)."""
    seen = b""
    end = time.monotonic() + deadline_s
    os.set_blocking(fd, False)
    while needle not in seen and time.monotonic() < end:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            time.sleep(0.05)
            continue
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        seen += chunk
    return seen


def test_logs_follows_on_a_terminal_until_ctrl_c(daemon, tmp_path):
    proj = project(tmp_path, "follow")
    daemon.cli("deploy", "--wait", cwd=proj)
    master, slave = pty.openpty()
    p = subprocess.Popen([str(GLIA_BIN), "logs", "follow"], stdout=slave,
                         stderr=subprocess.PIPE, env=daemon.env)
    os.close(slave)
    try:
        assert b"cortex-cli predictor ready" in read_until(
            master, b"cortex-cli predictor ready")
        # a line written after the command started arrives: it follows
        assert daemon.post("/follow", json={"tag": "later"}).status == 200
        assert b"cortex-cli got later" in read_until(
            master, b"cortex-cli got later")
        assert p.poll() is None
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=60) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)

    # --no-follow on a terminal: one print, then exit
    master, slave = pty.openpty()
    p = subprocess.Popen([str(GLIA_BIN), "logs", "follow", "--no-follow"],
                         stdout=slave, stderr=subprocess.PIPE,
                         env=daemon.env)
    os.close(slave)
    try:
        assert p.wait(timeout=60) == 0
        assert b"cortex-cli got later" in read_until(master, b"later", 5)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)


def test_remote_env_reaches_a_second_daemon_with_its_token(daemon_factory,
                                                          tmp_path):
    port = free_port()
    remote = daemon_factory("--admin-listen", f"127.0.0.1:{port}")
    token = (remote.home / "token").read_text().strip()
    local = daemon_factory(start=False)  # only its GLIA_HOME: envs.json

    r = local.cli("env", "add", "far", "--url", f"http://127.0.0.1:{port}",
                  "--token", token)
    assert "far" in r.stdout and token not in r.stdout
    envs = local.home / "envs.json"
    assert stat.S_IMODE(os.stat(envs).st_mode) == 0o600
    assert json.loads(envs.read_text())["far"]["token"] == token
    for args in (("env", "list"), ("env", "list", "-o", "json")):
        r = local.cli(*args)
        assert "far" in r.stdout and f"127.0.0.1:{port}" in r.stdout
        assert token not in r.stdout and token not in r.stderr

    proj = project(tmp_path, "faraway", label="remote")
    r = local.cli("deploy", "--env", "far", "-y", "--wait", cwd=proj)
    assert "faraway: created" in r.stdout
    remote.wait_ready("faraway")  # on the remote daemon ...
    assert [a["name"] for a in remote.list_apis()] == ["faraway"]
    assert not (local.home / "glia.sock").exists()  # ... none here

    j = json.loads(local.cli("get", "-e", "far", "-o", "json").stdout)
    assert [a["name"] for a in j["apis"]] == ["faraway"]
    assert "replicas:" in local.cli("describe", "faraway", "-e",
                                    "far").stdout
    r = local.cli("predict", "faraway", "sample.json", "-e", "far",
                  cwd=proj)
    assert json.loads(r.stdout)["label"] == "remote"
    # --gateway: predict posts there, not to the URL the daemon reports
    wrong = free_port()
    local.cli("env", "add", "gw", "--url", f"http://127.0.0.1:{port}",
              "--token", token, "--gateway", f"http://127.0.0.1:{wrong}")
    r = local.cli("predict", "faraway", "sample.json", "-e", "gw", cwd=proj,
                  check=False)
    assert r.returncode == 1
    assert f"http://127.0.0.1:{wrong}/faraway" in r.stderr, r.stderr
    local.cli("env", "add", "gw", "--url", f"http://127.0.0.1:{port}",
              "--token", token, "--gateway", f"http://localhost:{remote.port}/")
    assert json.loads(envs.read_text())["gw"]["gateway"] == \
        f"http://localhost:{remote.port}"
    r = local.cli("predict", "faraway", "sample.json", "-e", "gw", cwd=proj)
    assert json.loads(r.stdout)["label"] == "remote"
    local.cli("env", "remove", "gw")
    assert "cortex-cli got sample" in local.cli(
        "logs", "faraway", "-e", "far", "--no-follow").stdout
    (proj / "cortex.yaml").write_text(cortex_yaml("faraway", "patched"))
    assert "faraway: updated" in local.cli("patch", "-e", "far", "--wait",
                                           cwd=proj).stdout
    assert "faraway: refreshing" in local.cli("refresh", "faraway", "-e",
                                              "far").stdout
    r = local.cli("version", "-e", "far", "-o", "json")
    assert json.loads(r.stdout)["daemon_version"]
    assert "daemon of env far: glia" in local.cli("version", "-e",
                                                  "far").stdout
    r = local.cli("down", "-e", "far", check=False)
    assert r.returncode == 1 and "local daemon" in r.stderr
    assert "faraway: deleted" in local.cli("delete", "faraway", "-e",
                                           "far", "-f").stdout
    remote.wait_for(lambda: remote.list_apis() == [])

    # a wrong token is refused by the remote daemon, an unknown env here
    local.cli("env", "add", "bad", "--url", f"http://127.0.0.1:{port}",
              "--token", "0" * 64)
    r = local.cli("get", "-e", "bad", check=False)
    assert r.returncode == 1 and "token" in r.stderr, r.stderr
    r = local.cli("get", "-e", "nowhere", check=False)
    assert r.returncode != 0 and "no env named nowhere" in r.stderr
    # bad env definitions are refused before anything is written
    for args in (("--url", "ftp://x:1", "--token", "t"),
                 ("--url", f"http://127.0.0.1:{port}"),
                 ("--url", f"http://127.0.0.1:{port}/v1", "--token", "t")):
        r = local.cli("env", "add", "worse", *args, check=False)
        assert r.returncode == 2, (args, r)
    assert "worse" not in json.loads(envs.read_text())

    # Cortex's env rename and env delete
    local.cli("env", "rename", "far", "near")
    assert "near" in json.loads(envs.read_text())
    assert json.loads(local.cli("get", "-e", "near", "-o",
                                "json").stdout)["apis"] == []
    local.cli("env", "delete", "near")
    assert set(json.loads(envs.read_text())) == {"bad"}


def test_env_default_is_the_env_of_commands_without_env(daemon_factory,
                                                        tmp_path):
    """Cortex's `env default [NAME]`: commands given no --env use it,
    with options before or after the command (up and down always the
    local daemon); removing it makes local the default again."""
    port = free_port()
    remote = daemon_factory("--admin-listen", f"127.0.0.1:{port}")
    token = (remote.home / "token").read_text().strip()
    local = daemon_factory()  # a local daemon too: which one answers?
    envs = local.home / "envs.json"

    assert local.cli("env", "default").stdout == "local\n"
    r = local.cli("env", "default", "far", check=False)
    assert r.returncode == 1 and "no env named far" in r.stderr
    local.cli("env", "add", "far", "--url", f"http://127.0.0.1:{port}",
              "--token", token)
    assert "default env: far" in local.cli("env", "default", "far").stdout
    assert local.cli("env", "default").stdout == "far\n"
    assert json.loads(envs.read_text())["_default"] == "far"
    assert stat.S_IMODE(os.stat(envs).st_mode) == 0o600
    assert "default env: far" in local.cli("env", "list").stdout
    listed = json.loads(local.cli("env", "list", "-o", "json").stdout)
    assert set(listed) == {"far"} and listed["far"]["default"] is True

    proj = project(tmp_path, "dflt", label="remote")
    assert "dflt: created" in local.cli("deploy", "--wait", cwd=proj).stdout
    remote.wait_ready("dflt")
    assert [a["name"] for a in remote.list_apis()] == ["dflt"]
    here = json.loads(local.cli("get", "-e", "local", "-o", "json").stdout)
    assert here["apis"] == []  # nothing on the local daemon
    j = json.loads(local.cli("get", "-o", "json").stdout)
    assert [a["name"] for a in j["apis"]] == ["dflt"]
    # options before the command: the default env still applies
    for args in (("-y", "get", "-o", "json"), ("--yes", "get", "-o", "json"),
                 ("-o", "json", "get")):
        j = json.loads(local.cli(*args).stdout)
        assert [a["name"] for a in j["apis"]] == ["dflt"], args
    assert "replicas:" in local.cli("-y", "describe", "dflt").stdout
    j = json.loads(local.cli("-e", "local", "get", "-o", "json").stdout)
    assert j["apis"] == []  # -e before the command still picks local
    r = local.cli("predict", "dflt", "sample.json", cwd=proj)
    assert json.loads(r.stdout)["label"] == "remote"
    assert "replicas:" in local.cli("describe", "dflt").stdout
    assert "cortex-cli got sample" in local.cli("logs", "dflt",
                                                "--no-follow").stdout
    assert "daemon of env far: glia" in local.cli("version").stdout
    # --env still picks another: local is the local daemon
    other = project(tmp_path, "here", label="local")
    local.cli("deploy", "--env=local", "--wait", cwd=other)
    local.wait_for(lambda: [a["name"] for a in json.loads(local.cli(
        "get", "-elocal", "-o", "json").stdout)["apis"]] == ["here"])
    assert [a["name"] for a in remote.list_apis()] == ["dflt"]

    # back to local: commands without --env reach the local daemon again
    assert "default env: local" in local.cli("env", "default",
                                             "local").stdout
    assert "_default" not in json.loads(envs.read_text())
    assert [a["name"] for a in local.list_apis()] == ["here"]
    # removing the default env makes local the default, and says so
    local.cli("env", "default", "far")
    local.cli("env", "rename", "far", "near")
    assert local.cli("env", "default").stdout == "near\n"
    r = local.cli("env", "remove", "near")
    assert "default is local again" in r.stdout
    assert local.cli("env", "default").stdout == "local\n"
    assert [a["name"] for a in local.list_apis()] == ["here"]

    # a Kubernetes default: the commands it takes go there, version stays
    # here, the others are refused (exit 2)
    local.cli("env", "add", "kube", "--kubernetes")
    local.cli("env", "default", "kube")
    r = local.cli("predict", "here", "{}", check=False)
    assert r.returncode == 2 and "Kubernetes env" in r.stderr, r.stderr
    assert "glia" in local.cli("version").stdout
    local.cli("env", "default", "local")
    # an unreadable envs.json is said, not taken for local
    envs.write_text("{not json")
    r = local.cli("get", check=False)
    assert r.returncode == 1 and "envs.json" in r.stderr, r.stderr
    envs.unlink()
    # down is always the local daemon's
    assert local.cli("down").returncode == 0
    assert [a["name"] for a in remote.list_apis()] == ["dflt"]


def test_cluster_commands_say_there_is_no_cluster(daemon):
    for args in (("cluster", "up"), ("cluster", "info"),
                 ("cluster-gcp", "down")):
        r = daemon.cli(*args, check=False)
        assert r.returncode == 1 and "no cluster" in r.stderr, (args, r)


def test_describe_watch_repeats_until_ctrl_c(daemon, tmp_path):
    proj = project(tmp_path, "watched")
    daemon.cli("deploy", "--wait", cwd=proj)
    p = subprocess.Popen([str(GLIA_BIN), "describe", "watched", "-w"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=daemon.env)
    try:
        seen = b""
        deadline = time.monotonic() + 60
        while seen.count(b"replicas:") < 2 and time.monotonic() < deadline:
            chunk = os.read(p.stdout.fileno(), 4096)
            if not chunk:  # it exited
                break
            seen += chunk
        assert seen.count(b"replicas:") >= 2, seen  # printed again
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=60) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()
