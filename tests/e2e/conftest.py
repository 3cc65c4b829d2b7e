"""End-to-end test harness: starts a real `glia up` in a temporary GLIA_HOME
on a free loopback port and drives it over the CLI, the gateway (HTTP/TCP)
and the management API (HTTP over the Unix socket).

Every daemon started here is torn down with `glia down`, then SIGKILL, then
every process whose command line names its GLIA_HOME (its workers) is
SIGKILLed by pid, so no test leaves a process behind.

GLIA_BIN selects the binary (default <repo>/build/glia). Without it every
test is skipped.
"""
import http.client
import json as jsonlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
E2E = Path(__file__).resolve().parent
PREDICTORS = E2E / "predictors"
EXAMPLES = REPO / "examples"
GLIA_BIN = Path(os.environ.get("GLIA_BIN", REPO / "build" / "glia")).resolve()

READY_TIMEOUT = 60.0
CLI_TIMEOUT = 120.0


def pytest_configure(config):
    # Tests that build images or run containers (podman): slow, selected
    # with -m containers, run by `make test` like every other test.
    config.addinivalue_line(
        "markers", "containers: builds images or runs containers with "
        "podman (slow; -m containers selects them, -m 'not containers' "
        "skips them)")


# ---------------------------------------------------------------------------
# small helpers


def free_port():
    """A loopback TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=30.0, interval=0.1, message=None):
    """Polls predicate() until it returns a truthy value, which is returned.
    Fails the test at the deadline, naming message (or the predicate)."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last_exc = None
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last_exc = e
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__name__", "condition")
            extra = f" (last error: {last_exc!r})" if last_exc else ""
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}{extra}")
        time.sleep(interval)


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # the state follows the parenthesised command name
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def proc_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def processes_mentioning(text):
    """Pids (other than ours) of live processes whose command line contains
    text."""
    me = os.getpid()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        args = proc_cmdline(int(entry))
        if args and text in " ".join(args) and pid_alive(int(entry)):
            pids.append(int(entry))
    return sorted(pids)


def worker_pids(home):
    """Live `glia worker` processes started for this GLIA_HOME."""
    home = str(home)
    return [p for p in processes_mentioning(home) if "worker" in proc_cmdline(p)]


def kill_pids(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def apis_of(obj):
    """The API list out of `glia get -o json` / GET /v1/apis, whichever
    shape: {"apis": [...]} or a bare list."""
    if isinstance(obj, dict) and "apis" in obj:
        return obj["apis"]
    assert isinstance(obj, list), f"expected a list of APIs, got {obj!r}"
    return obj


def predictor_source(name):
    """Text of tests/e2e/predictors/<name>/predictor.py."""
    return (PREDICTORS / name / "predictor.py").read_text()


def write_project(tmp_path, yaml_text, files=None, dirname="project",
                  yaml_name="glia.yaml"):
    """Creates tmp_path/dirname holding yaml_name and files.

    files maps a relative path to its content: str or bytes, or a Path to
    copy (a directory is copied whole). Returns the project directory."""
    proj = Path(tmp_path) / dirname
    proj.mkdir(parents=True, exist_ok=True)
    (proj / yaml_name).write_text(yaml_text)
    for rel, content in (files or {}).items():
        dst = proj / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            if content.is_dir():
                shutil.copytree(content, dst, dirs_exist_ok=True)
            else:
                shutil.copyfile(content, dst)
        elif isinstance(content, bytes):
            dst.write_bytes(content)
        else:
            dst.write_text(content)
    return proj


def predictor_project(tmp_path, name, yaml_text, dirname=None, extra=None):
    """A project whose predictor.py is tests/e2e/predictors/<name>/predictor.py."""
    files = {"predictor.py": PREDICTORS / name / "predictor.py"}
    files.update(extra or {})
    return write_project(tmp_path, yaml_text, files, dirname=dirname or name)


def simple_spec(name, config=None, **predictor_fields):
    """YAML text for one RealtimeAPI with a python predictor.py."""
    lines = [
        f"- name: {name}",
        "  kind: RealtimeAPI",
        "  predictor:",
        "    type: python",
        "    path: predictor.py",
    ]
    for key, value in predictor_fields.items():
        lines.append(f"    {key}: {jsonlib.dumps(value)}")
    if config is not None:
        lines.append(f"    config: {jsonlib.dumps(config)}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# HTTP clients


class Resp(tuple):
    """(status, headers, body) with conveniences. headers is the
    case-insensitive http.client.HTTPMessage; body is bytes."""

    def __new__(cls, status, headers, body):
        return super().__new__(cls, (status, headers, body))

    status = property(lambda self: self[0])
    headers = property(lambda self: self[1])
    body = property(lambda self: self[2])

    def json(self):
        return jsonlib.loads(self.body)

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    @property
    def content_type(self):
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def __repr__(self):
        return f"Resp({self.status}, {dict(self.headers)!r}, {self.body[:300]!r})"


def _encode(json, data, headers):
    headers = dict(headers or {})
    body = None
    if json is not None:
        body = jsonlib.dumps(json).encode()
        headers.setdefault("Content-Type", "application/json")
    elif data is not None:
        body = data.encode() if isinstance(data, str) else data
    return body, headers


class HttpSession:
    """One keep-alive HTTP/1.1 connection to the gateway, reopened when the
    server closes it."""

    def __init__(self, host, port, timeout=60.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn = None
        self.connects = 0

    def request(self, method, path, json=None, data=None, headers=None):
        body, headers = _encode(json, data, headers)
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port,
                                                   timeout=self.timeout)
            self.connects += 1
        try:
            self.conn.request(method, path, body=body, headers=headers)
            r = self.conn.getresponse()
            out = Resp(r.status, r.msg, r.read())
            if r.will_close:
                self.close()
            return out
        except Exception:
            self.close()
            raise

    def post(self, path, json=None, data=None, headers=None):
        return self.request("POST", path, json=json, data=data, headers=headers)

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def http_get(port, path, timeout=30.0):
    """One GET to 127.0.0.1:port on a connection of its own."""
    s = HttpSession("127.0.0.1", port, timeout=timeout)
    try:
        return s.get(path)
    finally:
        s.close()


def http_post(port, path, payload=None, timeout=60.0, headers=None):
    """One POST of payload (JSON, {} when None) to 127.0.0.1:port on a
    connection of its own."""
    s = HttpSession("127.0.0.1", port, timeout=timeout)
    try:
        return s.post(path, json=payload if payload is not None else {},
                      headers=headers)
    finally:
        s.close()


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, sock_path, timeout=30.0):
        super().__init__("localhost", timeout=timeout)
        self.sock_path = sock_path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.sock_path)
        self.sock = s


def mgmt_request(sock_path, method, path, body=None, timeout=30.0):
    """One management API call over the Unix socket. Returns (status,
    decoded body): parsed JSON when the answer is JSON, else text."""
    conn = _UnixHTTPConnection(str(sock_path), timeout=timeout)
    try:
        payload = None
        headers = {}
        if body is not None:
            payload = jsonlib.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=payload, headers=headers)
        r = conn.getresponse()
        raw = r.read()
        ctype = (r.getheader("Content-Type") or "").lower()
        if "json" in ctype:
            return r.status, jsonlib.loads(raw)
        return r.status, raw.decode("utf-8", errors="replace")
    finally:
        conn.close()


# ---------------------------------------------------------------------------
# the daemon


class Daemon:
    """A `glia up` in its own GLIA_HOME on a loopback port."""

    def __init__(self, home, port=None, extra_args=()):
        self.home = Path(home)
        self.port = port or free_port()
        self.extra_args = list(extra_args)
        self.proc = None
        self.log_path = self.home / "daemon.out"
        self.sock_path = self.home / "glia.sock"
        self.env = dict(os.environ)
        self.env["GLIA_HOME"] = str(self.home)
        self.env.pop("GLIA_ADMIN_TOKEN", None)

    # -- lifecycle

    def start(self, timeout=30.0):
        self.home.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [str(GLIA_BIN), "up", "--listen", f"127.0.0.1:{self.port}",
                 "--home", str(self.home), *self.extra_args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=self.env, start_new_session=True)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"glia up exited with status {self.proc.returncode}:\n"
                            f"{self.log_tail()}")
            if self.sock_path.exists() and self._healthz_ok():
                return self
            if time.monotonic() >= deadline:
                pytest.fail(f"glia up not serving /healthz and {self.sock_path} "
                            f"after {timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.1)

    def _healthz_ok(self):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                conn.request("GET", "/healthz")
                return conn.getresponse().status == 200
            finally:
                conn.close()
        except OSError:
            return False

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        """SIGKILL the daemon (its workers are left to die on their own)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=30)

    def restart(self, timeout=30.0):
        """SIGKILL, then `glia up` again in the same home and port."""
        self.kill9()
        return self.start(timeout=timeout)

    def stop(self, timeout=30.0):
        """`glia down`, then SIGKILL if still running. Returns glia down's
        CompletedProcess (or None when it could not run)."""
        res = None
        if self.alive():
            try:
                res = self.cli("down", check=False, timeout=timeout)
            except subprocess.TimeoutExpired:
                res = None
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        if self.alive():
            self.kill9()
        return res

    def cleanup(self):
        """Leaves no process behind: daemon, workers, anything naming HOME."""
        try:
            self.stop(timeout=20)
        finally:
            if self.alive():
                self.kill9()
            for _ in range(50):
                left = processes_mentioning(str(self.home))
                if not left:
                    break
                kill_pids(left)
                time.sleep(0.1)

    def dump_logs(self, n=120):
        print(f"\n--- daemon log {self.log_path} (tail) ---\n{self.log_tail(n)}")
        logs = self.home / "logs"
        if logs.is_dir():
            for f in sorted(logs.rglob("*.log")):
                lines = f.read_text(errors="replace").splitlines()
                print(f"--- {f} (tail) ---")
                print("\n".join(lines[-40:]))

    def log_tail(self, n=60):
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no daemon log)"
        return "\n".join(lines[-n:])

    # -- CLI

    def cli(self, *args, check=True, input=None, cwd=None, timeout=CLI_TIMEOUT,
            env=None):
        """Runs `glia ARGS` against this daemon (GLIA_HOME in the
        environment). check=True fails the test on a non-zero exit."""
        run_env = dict(self.env)
        run_env.update(env or {})
        res = subprocess.run([str(GLIA_BIN), *map(str, args)], input=input,
                             cwd=cwd, env=run_env, capture_output=True,
                             text=True, timeout=timeout)
        if check and res.returncode != 0:
            pytest.fail(f"glia {' '.join(map(str, args))} exited {res.returncode}\n"
                        f"stdout: {res.stdout}\nstderr: {res.stderr}\n"
                        f"daemon log:\n{self.log_tail()}")
        return res

    def cli_json(self, *args, **kw):
        res = self.cli(*args, "-o", "json", **kw)
        try:
            return jsonlib.loads(res.stdout)
        except ValueError:
            pytest.fail(f"glia {' '.join(args)} -o json printed no JSON: "
                        f"{res.stdout!r}")

    def deploy(self, path, *args, wait=True, cwd=None, check=True):
        extra = ["--wait"] if wait else []
        return self.cli("deploy", str(path), *extra, *args, cwd=cwd, check=check)

    def get(self, api):
        """`glia get API -o json`: the API's detail."""
        return self.cli_json("get", api)

    def list_apis(self):
        return apis_of(self.cli_json("get"))

    def wait_ready(self, api, timeout=READY_TIMEOUT):
        """Polls `glia get API -o json` until the API is live with every
        requested replica ready and up to date. Returns the detail."""
        last = {}

        def live():
            res = self.cli("get", api, "-o", "json", check=False)
            if res.returncode != 0:
                last["detail"] = res.stderr
                return None
            detail = jsonlib.loads(res.stdout)
            last["detail"] = detail
            reps = detail.get("replicas") or {}
            if (detail.get("status") == "live"
                    and reps.get("ready", 0) >= max(reps.get("requested", 1), 1)
                    and reps.get("up_to_date", reps.get("ready")) >= reps.get("requested", 1)):
                return detail
            return None

        deadline = time.monotonic() + timeout
        while True:
            d = live()
            if d:
                return d
            if time.monotonic() >= deadline:
                pytest.fail(f"API {api} not live after {timeout:.0f}s; last "
                            f"answer: {last.get('detail')!r}\n"
                            f"daemon log:\n{self.log_tail()}")
            time.sleep(0.2)

    def wait_for(self, predicate, timeout=30.0, interval=0.1, message=None):
        return wait_for(predicate, timeout=timeout, interval=interval,
                        message=message)

    def replicas(self, api):
        return self.get(api).get("replica_list") or []

    def replica_pids(self, api, state=None):
        """Every worker pid of the API's replicas (optionally only those in
        state), sorted."""
        pids = []
        for r in self.replicas(api):
            if state is not None and r.get("state") != state:
                continue
            rp = r.get("pids")
            if rp is None and r.get("pid") is not None:
                rp = [r["pid"]]
            pids.extend(p for p in (rp or []) if p)
        return sorted(pids)

    def worker_pids(self):
        return worker_pids(self.home)

    # -- gateway

    def url(self, path=""):
        if path and not path.startswith("/"):
            path = "/" + path
        return f"http://127.0.0.1:{self.port}{path}"

    def session(self, timeout=60.0):
        return HttpSession("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, json=None, data=None, headers=None,
                timeout=60.0):
        s = self.session(timeout=timeout)
        try:
            return s.request(method, path, json=json, data=data, headers=headers)
        finally:
            s.close()

    def post(self, endpoint, json=None, data=None, headers=None, timeout=60.0):
        """POST on a fresh connection. Returns Resp(status, headers, body)."""
        if not endpoint.startswith("/"):
            endpoint = "/" + endpoint
        return self.request("POST", endpoint, json=json, data=data,
                            headers=headers, timeout=timeout)

    def http_get(self, path, headers=None, timeout=60.0):
        return self.request("GET", path, headers=headers, timeout=timeout)

    # -- management API (HTTP over the Unix socket)

    def mgmt(self, method, path, body=None, timeout=30.0):
        return mgmt_request(self.sock_path, method, path, body=body,
                            timeout=timeout)


def _short_home():
    # Unix socket paths are limited to 108 bytes; pytest's tmp_path can be
    # longer than that once replica sockets are added under run/.
    return Path(tempfile.mkdtemp(prefix="glia-e2e-", dir="/tmp"))


class DaemonFactory:
    """Starts daemons (with extra `glia up` arguments) and cleans every one
    of them up."""

    def __init__(self):
        self.daemons = []
        self.homes = []

    def new_home(self):
        home = _short_home()
        self.homes.append(home)
        return home

    def __call__(self, *extra_args, home=None, port=None, start=True):
        d = Daemon(home or self.new_home(), port=port, extra_args=extra_args)
        self.daemons.append(d)
        if start:
            d.start()
        return d

    def cleanup(self):
        for d in self.daemons:
            d.cleanup()
        # pytest shows this output only when the test failed
        for d in self.daemons:
            d.dump_logs()
        for d in self.daemons:
            left = processes_mentioning(str(d.home))
            assert not left, f"processes left behind for {d.home}: {left}"
        for home in self.homes:
            shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def glia_bin():
    if not (GLIA_BIN.is_file() and os.access(GLIA_BIN, os.X_OK)):
        pytest.skip(f"glia binary not found at {GLIA_BIN} (set GLIA_BIN)")
    return GLIA_BIN


@pytest.fixture
def daemon_factory(glia_bin):
    f = DaemonFactory()
    yield f
    f.cleanup()


@pytest.fixture
def daemon(daemon_factory):
    """A running daemon in a fresh GLIA_HOME on a free port."""
    return daemon_factory()


@pytest.fixture(scope="module")
def module_daemon_factory(glia_bin):
    """For modules that share one daemon across their tests."""
    f = DaemonFactory()
    yield f
    f.cleanup()


@pytest.fixture(autouse=True)
def _require_binary(glia_bin):
    """Every e2e test needs the binary: skip them all when it is missing."""
    return glia_bin


# ---------------------------------------------------------------------------
# elastic serving (issue 3): specs with autoscaling / update_strategy /
# networking, a management-API watcher, load generators


def api_yaml(name, config=None, predictor=None, autoscaling=None,
             update_strategy=None, networking=None, path="predictor.py"):
    """YAML text for one python RealtimeAPI. predictor holds extra predictor
    fields (threads_per_process, ...); autoscaling, update_strategy and
    networking are mappings written as given (durations as strings)."""
    lines = [
        f"- name: {name}",
        "  kind: RealtimeAPI",
        "  predictor:",
        "    type: python",
        f"    path: {path}",
    ]
    for key, value in (predictor or {}).items():
        lines.append(f"    {key}: {jsonlib.dumps(value)}")
    if config is not None:
        lines.append(f"    config: {jsonlib.dumps(config)}")
    for section, fields in (("autoscaling", autoscaling),
                            ("update_strategy", update_strategy),
                            ("networking", networking)):
        if fields:
            lines.append(f"  {section}:")
            for key, value in fields.items():
                lines.append(f"    {key}: {jsonlib.dumps(value)}")
    return "\n".join(lines) + "\n"


INACTIVE_REPLICA_STATES = ("stopping", "draining")


def active_replicas(detail):
    """Replicas of an API detail that count against its size: every one not
    stopping or draining."""
    return [r for r in detail.get("replica_list") or []
            if r.get("state") not in INACTIVE_REPLICA_STATES]


def ready_replicas(detail):
    return [r for r in detail.get("replica_list") or []
            if r.get("state") == "ready"]


def mgmt_detail(d, api):
    """GET /v1/apis/API over the management socket: the detail, or None on
    404."""
    status, body = d.mgmt("GET", f"/v1/apis/{api}")
    if status == 404:
        return None
    assert status == 200, (status, body)
    return body


class ApiWatcher:
    """Polls an API's detail over the management socket every `interval`
    seconds in a thread and keeps (time.monotonic(), detail) snapshots (None
    when the API is gone). Errors are counted, not raised."""

    def __init__(self, d, api, interval=0.1):
        self.d, self.api, self.interval = d, api, interval
        self.snapshots = []
        self.errors = []
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"watch-{api}")

    def _run(self):
        while not self._stop.is_set():
            t = time.monotonic()
            try:
                detail = mgmt_detail(self.d, self.api)
            except Exception as e:  # noqa: BLE001 - kept for the report
                with self.lock:
                    self.errors.append(repr(e))
            else:
                with self.lock:
                    self.snapshots.append((t, detail))
            self._stop.wait(self.interval)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(30)
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def since(self, t0=0.0):
        with self.lock:
            return [(t, d) for t, d in self.snapshots if t >= t0 and d]

    def latest(self):
        with self.lock:
            return self.snapshots[-1][1] if self.snapshots else None


def start_load(d, path, clients=4, **kw):
    """A started loadgen.LoadGen against daemon d's gateway."""
    from loadgen import LoadGen
    if not path.startswith("/"):
        path = "/" + path
    return LoadGen("127.0.0.1", d.port, path, clients=clients, **kw).start()


def concurrent_posts(d, path, n, payload=None, timeout=120.0):
    """n POSTs at once, each on its own connection, released together.
    Returns (list of Resp or exception in thread order, seconds from the
    release to the last answer)."""
    results = [None] * n
    barrier = threading.Barrier(n + 1)

    def one(i):
        s = d.session(timeout=timeout)
        try:
            barrier.wait(30)
            results[i] = s.post(path, json=payload if payload is not None else {})
        except Exception as e:  # noqa: BLE001 - returned to the caller
            results[i] = e
        finally:
            s.close()

    threads = [threading.Thread(target=one, args=(i,), daemon=True)
               for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait(30)
    t0 = time.monotonic()
    for t in threads:
        t.join(timeout + 10)
    return results, time.monotonic() - t0
