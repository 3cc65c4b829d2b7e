#!/usr/bin/python3
"""Memory for big bodies through a proxy: glia's gateway beside nginx, in
the same run, in front of the same replica:

    GLIA_BIN=build/glia /usr/bin/python3 bench/bodies.py

The replica is tests/e2e/predictors/raw_server/serve.py (a plain-socket
HTTP server). BENCH_BODY_CLIENTS (default 4) clients at once each send a
body of BENCH_BODY_MIB (default 24) MiB to /hash, then ask /big for an
answer of that size.
Printed for each proxy: how much its resident set peaked above where it
started (VmHWM after clear_refs, summed over nginx's master and worker),
the most bytes it held in temporary files at once, and the wall time. glia holds
bodies in memory (once each: a body goes on from the buffer it was read
into); nginx, by default, spools request bodies and big answers to temp
files. Exit 1 when an answer was wrong.
"""
import hashlib
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GLIA = os.path.abspath(os.environ.get("GLIA_BIN", ROOT / "build" / "glia"))
SERVER = ROOT / "tests" / "e2e" / "predictors" / "raw_server" / "serve.py"
CLIENTS = int(os.environ.get("BENCH_BODY_CLIENTS", "4"))
MIB = int(os.environ.get("BENCH_BODY_MIB", "24"))
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def wait_http(port, path, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", path)
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"bodies: nothing answered on port {port}{path}")


def spooled(pids, spool_dir):
    """Bytes in the temp files under spool_dir that pids hold open (nginx
    unlinks them at once and keeps the descriptor)."""
    if not spool_dir:
        return 0
    n = 0
    for p in pids:
        try:
            fds = os.listdir(f"/proc/{p}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{p}/fd/{fd}").startswith(
                        str(spool_dir)):
                    n += os.stat(f"/proc/{p}/fd/{fd}").st_size
            except OSError:
                pass
    return n


def one_client(port, prefix, body, errors):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    c.request("POST", prefix + "/hash", body=body)
    r = c.getresponse()
    got = r.read()
    want = hashlib.sha256(body).hexdigest().encode()
    if r.status != 200 or want not in got:
        errors.append(f"{prefix}/hash: {r.status} {got[:120]!r}")
    c.request("POST", f"{prefix}/big?mib={MIB}", body=b"")
    r = c.getresponse()
    got = r.read()
    if r.status != 200 or len(got) != MIB << 20:
        errors.append(f"{prefix}/big: {r.status}, {len(got)} bytes")


def run_clients(port, prefix, pids, spool_dir):
    bodies = [os.urandom(MIB << 20) for _ in range(CLIENTS)]
    base = sum(status_kib(p, "VmRSS") for p in pids)
    for p in pids:
        with open(f"/proc/{p}/clear_refs", "w") as f:
            f.write("5")
    errors = []
    spool = [0]
    done = threading.Event()

    def watch_spool():  # the largest size of the proxy's temp files
        while not done.is_set():
            spool[0] = max(spool[0], spooled(pids, spool_dir))
            time.sleep(0.02)
    w = threading.Thread(target=watch_spool)
    w.start()
    start = time.monotonic()
    ts = [threading.Thread(target=one_client,
                           args=(port, prefix, bodies[i], errors))
          for i in range(CLIENTS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    took = time.monotonic() - start
    done.set()
    w.join()
    peak = sum(status_kib(p, "VmHWM") for p in pids)
    return (peak - base) / 1024, spool[0] / (1 << 20), took, errors


def glia_run(tmp, replica_port_log):
    home = tmp / "home"
    port = free_port()
    env = dict(os.environ, GLIA_HOME=str(home))
    proj = tmp / "raw"
    proj.mkdir()
    shutil.copy(SERVER, proj / "serve.py")
    (proj / "glia.yaml").write_text(
        "- name: raw\n  kind: RealtimeAPI\n  predictor:\n"
        "    type: command\n"
        f"    command: [/usr/bin/python3, serve.py, \"$GLIA_PORT\", "
        f"\"{replica_port_log}\"]\n"
        "    readiness_path: /health\n    threads_per_process: 16\n")
    d = subprocess.Popen([GLIA, "up", "--listen", f"127.0.0.1:{port}",
                          "--max-body-size", str((MIB + 1) << 20)],
                         env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(port, "/healthz")
        subprocess.run([GLIA, "deploy", str(proj / "glia.yaml"), "--wait"],
                       env=env, check=True, capture_output=True)
        return run_clients(port, "/raw", [d.pid], None)
    finally:
        subprocess.run([GLIA, "down"], env=env, capture_output=True)
        try:
            d.wait(timeout=30)
        except subprocess.TimeoutExpired:
            d.kill()


def nginx_run(tmp, log):
    up_port, port = free_port(), free_port()
    srv = subprocess.Popen(["/usr/bin/python3", str(SERVER), str(up_port),
                            str(log)], start_new_session=True)
    prefix = tmp / "nginx"
    (prefix / "tmp").mkdir(parents=True)
    user = "user root root;" if os.geteuid() == 0 else ""
    (prefix / "nginx.conf").write_text(f"""
{user}
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_max_body_size {MIB + 1}m;
  client_body_temp_path {prefix}/tmp/body;
  proxy_temp_path {prefix}/tmp/proxy;
  upstream up {{ server 127.0.0.1:{up_port}; keepalive 16; }}
  server {{
    listen 127.0.0.1:{port};
    location /raw/ {{
      proxy_pass http://up/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
""")
    ng = subprocess.Popen([NGINX, "-p", str(prefix), "-c",
                           str(prefix / "nginx.conf"), "-e",
                           str(prefix / "error.log")],
                          stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                          start_new_session=True)
    try:
        wait_http(port, "/raw/health")
        kids = subprocess.run(["pgrep", "-P", str(ng.pid)],
                              capture_output=True, text=True).stdout.split()
        return run_clients(port, "/raw", [ng.pid] + [int(k) for k in kids],
                           prefix / "tmp")
    finally:
        ng.terminate()
        srv.kill()
        ng.wait(timeout=30)
        srv.wait(timeout=30)


def print_table(head, rows):
    """As bench/lib.sh's print_table: two-space indent, the first column
    left-aligned, the others right-aligned, a dashed rule under the
    head."""
    w = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]

    def line(cells):
        return "  " + "  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i])
                                for i, c in enumerate(cells))
    print(line(head))
    print("  " + "  ".join("-" * n for n in w))
    for r in rows:
        print(line(r))


def main():
    if not os.path.exists(NGINX):
        raise SystemExit("bodies: nginx not installed (apt-get install "
                         "nginx-light)")
    rows, failed = [], []
    with tempfile.TemporaryDirectory(prefix="glia-bodies-") as t:
        tmp = Path(t)
        for name, fn in (("glia gateway", glia_run), ("nginx 1 worker",
                                                      nginx_run)):
            sub = tmp / name.split()[0]
            sub.mkdir()
            grew, spool, took, errors = fn(sub, sub / "replica.log")
            rows.append((name, grew, spool, took))
            failed += [f"{name}: {e}" for e in errors]
    print(f"== big bodies: {CLIENTS} clients at once, each a {MIB} MiB "
          f"request then a {MIB} MiB answer ({2 * CLIENTS * MIB} MiB "
          "through the proxy)")
    print_table(["proxy", "peak RSS growth MiB", "temp files MiB",
                 "wall s"],
                [[name, f"{grew:.0f}", f"{spool:.0f}", f"{took:.2f}"]
                 for name, grew, spool, took in rows])
    for f in failed:
        print("FAILED", f)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
