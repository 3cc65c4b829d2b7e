"""GLIA_HOME is trusted with secrets (issue 13, item 5): every file glia
makes there is private (0600, directories 0700) and never opened through a
link; `glia up` refuses a home that another user can write; predictor.env
values never leave the daemon through `glia get -o json` or the management
API's detail."""
import os
import stat
import subprocess

from conftest import GLIA_BIN, api_yaml, mgmt_detail, write_project

PREDICTOR = """\
import os


class PythonPredictor:
    def __init__(self, config):
        pass

    def predict(self, payload):
        return {"secret": os.environ.get("API_SECRET")}
"""

SECRET = "hunter2-do-not-print"


def glia_up(home, *args):
    """`glia up` in home that is expected to refuse to start."""
    return subprocess.run(
        [str(GLIA_BIN), "up", "--listen", "127.0.0.1:0", "--home", str(home),
         *args], env=dict(os.environ, GLIA_HOME=str(home)),
        capture_output=True, text=True, timeout=30)


def test_files_are_private_and_env_values_masked(daemon, tmp_path):
    yaml = api_yaml("secretive", predictor={
        "env": {"API_SECRET": SECRET, "LOG_FORMAT": "json"}})
    proj = write_project(tmp_path, yaml, {"predictor.py": PREDICTOR})
    daemon.deploy(proj / "glia.yaml")
    daemon.wait_ready("secretive")
    # the predictor still gets its value
    assert daemon.post("/secretive", json={}).json() == {"secret": SECRET}

    res = daemon.cli("get", "secretive", "-o", "json")
    assert SECRET not in res.stdout
    detail = mgmt_detail(daemon, "secretive")
    assert detail["spec"]["predictor"]["env"] == {"API_SECRET": "***",
                                                  "LOG_FORMAT": "***"}
    assert SECRET not in str(detail)

    daemon.cli("logs", "secretive", check=False)
    seen = set()
    for root, dirs, files in os.walk(daemon.home):
        for name in dirs + files:
            path = os.path.join(root, name)
            if path == str(daemon.log_path):      # the test's own file
                continue
            st = os.lstat(path)
            assert not stat.S_ISLNK(st.st_mode), path
            assert stat.S_IMODE(st.st_mode) & 0o077 == 0, \
                f"{path} is {oct(stat.S_IMODE(st.st_mode))}"
            seen.add(os.path.relpath(path, daemon.home))
    for name in ("state.db", "state.db-wal", "state.db-shm", "token",
                 "daemon.lock", "logs", "run"):
        assert name in seen, sorted(seen)
    assert any(s.startswith("logs/secretive/") for s in seen), sorted(seen)


def test_a_planted_token_link_is_not_followed(daemon_factory, tmp_path):
    home = daemon_factory.new_home()
    victim = tmp_path / "victim"
    victim.write_text("root's precious file\n")
    os.symlink(victim, home / "token")
    res = glia_up(home)
    assert res.returncode != 0
    assert "token: it is a symbolic link" in res.stderr, res.stderr
    assert victim.read_text() == "root's precious file\n"

    # the same for state.db and its WAL
    for name in ("state.db", "state.db-wal"):
        home = daemon_factory.new_home()
        os.symlink(victim, home / name)
        res = glia_up(home)
        assert res.returncode != 0
        assert f"{name}: it is a symbolic link" in res.stderr, res.stderr
        assert victim.read_text() == "root's precious file\n"


def test_a_home_others_can_write_is_refused(daemon_factory):
    home = daemon_factory.new_home()
    os.chmod(home, 0o770)
    res = glia_up(home)
    assert res.returncode == 1
    assert "refusing GLIA_HOME" in res.stderr
    assert "writable by group or others (mode 0770)" in res.stderr
    assert f"chmod 700 {home}" in res.stderr
    assert not (home / "state.db").exists()

    os.chmod(home, 0o700)
    d = daemon_factory(home=home)           # fixed: it starts
    assert d.alive()


def test_an_old_world_readable_state_db_is_made_private(daemon_factory):
    d = daemon_factory()
    d.stop()
    for name in ("state.db", "token"):
        os.chmod(d.home / name, 0o644)
    d.start()
    for name in ("state.db", "token"):
        assert stat.S_IMODE(os.stat(d.home / name).st_mode) == 0o600


def test_envs_json_is_never_written_through_a_link(tmp_path):
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    os.symlink(victim, home / "envs.json.tmp")
    res = subprocess.run([str(GLIA_BIN), "env", "add", "dev", "--kubernetes"],
                         env=dict(os.environ, GLIA_HOME=str(home)),
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    assert victim.read_text() == "keep\n"
    st = os.lstat(home / "envs.json")
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
