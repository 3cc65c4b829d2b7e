"""Drives `glia worker` directly, as the daemon does: a spec file, a Unix
socket, and the status pipe on fd 3 (docs/internals.md, "Worker contract").
Shared by the worker, C predictor and monitoring tests."""

import http.client
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GLIA_BIN = os.environ.get("GLIA_BIN", str(REPO / "build" / "glia"))
DEADLINE = 60.0  # generous: loading numpy/sklearn on a busy machine


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=DEADLINE):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Reply:
    def __init__(self, resp):
        self.status = resp.status
        self.headers = {k.lower(): v for k, v in resp.getheaders()}
        self.body = resp.read()

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"Reply({self.status}, {self.headers!r}, {self.body[:300]!r})"


class Worker:
    """A running `glia worker`. out_path is its stdout (the same file as
    err_path when the two were merged)."""

    def __init__(self, proc, status_r, sock_path, out_path, err_path):
        self.proc = proc
        self.status_r = status_r
        self.sock_path = sock_path
        self.out_path = out_path
        self.err_path = err_path
        self._status = b""

    def status_line(self, timeout=DEADLINE):
        """The first line the worker wrote on fd 3 ('' on EOF)."""
        end = time.monotonic() + timeout
        while b"\n" not in self._status:
            left = end - time.monotonic()
            assert left > 0, "no status line on fd 3; stderr:\n" + self.stderr()
            ready, _, _ = select.select([self.status_r], [], [], left)
            if ready:
                chunk = os.read(self.status_r, 4096)
                if not chunk:
                    break
                self._status += chunk
        return self._status.decode().split("\n")[0]

    def stderr(self):
        return Path(self.err_path).read_text(errors="replace")

    def wait_stderr(self, text, timeout=DEADLINE):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if text in self.stderr():
                return self.stderr()
            time.sleep(0.05)
        raise AssertionError("%r not in stderr:\n%s" % (text, self.stderr()))

    def wait_exit(self, timeout=DEADLINE):
        return self.proc.wait(timeout=timeout)

    def connect(self):
        return UnixHTTPConnection(self.sock_path)

    def request(self, body=b"", method="POST", path="/", headers=None,
                conn=None):
        own = conn is None
        conn = conn or self.connect()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            return Reply(conn.getresponse())
        finally:
            if own:
                conn.close()

    def post_json(self, value, **kw):
        headers = {"Content-Type": "application/json"}
        headers.update(kw.pop("headers", {}))
        return self.request(json.dumps(value).encode(), headers=headers, **kw)


def worker_spec(predictor, **top):
    """The canonical spec JSON of a test API "t": predictor fields over the
    defaults, and top-level keys (e.g. monitoring)."""
    spec = {
        "name": "t", "kind": "RealtimeAPI",
        "predictor": {
            "type": "python", "path": "predictor.py", "command": None,
            "readiness_path": None, "config": {}, "python_path": None,
            "env": {}, "processes_per_replica": 1, "threads_per_process": 1,
            "log_level": "info", "models": None,
            "server_side_batching": None,
        },
    }
    spec["predictor"].update(predictor)
    spec.update(top)
    return spec


def launch(workdir, sock_path, proj, spec, n=0, proc_env=None,
           merge_output=False, cls=Worker, wait_ready=True):
    """Starts `glia worker` for spec (a dict) on project dir proj, with its
    status pipe on fd 3; stdout and stderr go to files in workdir (one file
    when merge_output). Returns a cls instance; with wait_ready, after
    checking its status line is "ready"."""
    workdir = Path(workdir)
    spec_path = workdir / f"spec{n}.json"
    spec_path.write_text(json.dumps(spec))
    err_path = workdir / f"err{n}.txt"
    out_path = err_path if merge_output else workdir / f"out{n}.txt"
    r, w = os.pipe()
    # fd 3 is the status pipe; bash, because dash cannot redirect
    # descriptors above 9.
    cmd = ["/bin/bash", "-c", 'exec "$0" "$@" 3>&%d %d>&-' % (w, w),
           str(GLIA_BIN), "worker", "--spec", str(spec_path),
           "--project-dir", str(proj), "--socket", str(sock_path),
           "--replica", "r-0"]
    env = dict(os.environ)
    env.update(proc_env or {})
    with open(out_path, "ab") as out, open(err_path, "ab") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, pass_fds=(w,),
                                env=env, cwd=str(workdir))
    os.close(w)
    worker = cls(proc, r, str(sock_path), out_path, err_path)
    if wait_ready:
        line = worker.status_line()
        assert line == "ready", f"status {line!r}; stderr:\n{worker.stderr()}"
    return worker


def stop(workers):
    """SIGKILLs what still runs, by pid, and closes the status pipes."""
    for worker in workers:
        if worker.proc.poll() is None:
            os.kill(worker.proc.pid, signal.SIGKILL)
            worker.proc.wait()
        os.close(worker.status_r)


@pytest.fixture
def sockdir():
    # Unix socket paths are limited to 108 bytes; pytest's tmp_path is long.
    d = tempfile.mkdtemp(prefix="gw", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)
