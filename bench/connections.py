#!/usr/bin/python3
"""Issue 13's descriptor attack at its own scale, against a real `glia up`:

    GLIA_BIN=build/glia /usr/bin/python3 bench/connections.py

The daemon runs with `ulimit -n NOFILE` (default 1024, soft and hard, so
it cannot raise it) and a header timeout of HEADER_TIMEOUT (default 10s).
Then SLOW (default 1000) slowloris connections send a header byte a
second and IDLE (default 5000) connections open and send nothing more
after one keep-alive request; meanwhile, every second, a prediction
through the gateway and `glia get` through the management socket must
answer. Printed: what the daemon accepted and refused (503 + close), how
long the slow and idle connections lived, the daemon's descriptors and
RSS, and whether serving and management answered throughout. A prediction
that competes with the attack for the connection cap may be refused with
a 503 (the cap working); exit 1 when one failed otherwise, when a `glia
get` failed, when a prediction after the attack failed, or the daemon died.
"""
import http.client
import json
import os
import resource
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GLIA = os.path.abspath(os.environ.get("GLIA_BIN", ROOT / "build" / "glia"))
NOFILE = int(os.environ.get("NOFILE", "1024"))
SLOW = int(os.environ.get("SLOW", "1000"))
IDLE = int(os.environ.get("IDLE", "5000"))
HEADER_TIMEOUT = os.environ.get("HEADER_TIMEOUT", "10s")
KEEPALIVE_TIMEOUT = os.environ.get("KEEPALIVE_TIMEOUT", "15s")
SECONDS = float(os.environ.get("SECONDS", "30"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid):
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out["rss_mib"] = int(line.split()[1]) // 1024
        out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        pass
    return out


def predict(port):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("POST", "/echo", body=b"{}",
                  headers={"Content-Type": "application/json"})
        status = c.getresponse().status
        c.close()
        return status
    except OSError as e:
        return type(e).__name__


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = SLOW + IDLE + 200
    if hard < need:
        raise SystemExit(f"connections: this client needs {need} descriptors, "
                         f"the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    home = Path(tempfile.mkdtemp(prefix="glia-conn-"))
    os.chmod(home, 0o700)
    env = dict(os.environ, GLIA_HOME=str(home))
    port = free_port()
    proj = home / "p"
    proj.mkdir()
    (proj / "predictor.py").write_text(
        "class PythonPredictor:\n"
        "    def __init__(self, config):\n        pass\n"
        "    def predict(self, payload):\n        return {'ok': True}\n")
    (proj / "glia.yaml").write_text(
        "- name: echo\n  kind: RealtimeAPI\n"
        "  predictor: {type: python, path: predictor.py}\n")
    log = open(home / "daemon.out", "wb")
    daemon = subprocess.Popen(
        ["prlimit", f"--nofile={NOFILE}:{NOFILE}", GLIA, "up", "--listen",
         f"127.0.0.1:{port}", "--home", str(home),
         "--client-header-timeout", HEADER_TIMEOUT,
         "--keepalive-timeout", KEEPALIVE_TIMEOUT],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    socks = []
    try:
        deadline = time.monotonic() + 60
        while not (home / "glia.sock").exists():
            if time.monotonic() > deadline or daemon.poll() is not None:
                raise SystemExit("connections: glia up did not start:\n" +
                                 (home / "daemon.out").read_text())
            time.sleep(0.1)
        r = subprocess.run([GLIA, "deploy", str(proj / "glia.yaml"), "--wait"],
                           env=env, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise SystemExit(f"connections: deploy failed: {r.stderr}")
        base = proc_status(daemon.pid)
        print(f"connections: glia up with ulimit -n {NOFILE}, header timeout "
              f"{HEADER_TIMEOUT}, keep-alive {KEEPALIVE_TIMEOUT}; {SLOW} "
              f"slowloris + {IDLE} idle keep-alive connections; daemon at "
              f"start: {base}", flush=True)

        sel = selectors.DefaultSelector()
        opened = {"slow": 0, "idle": 0, "refused_connect": 0}
        t0 = time.monotonic()

        def open_conn(kind):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:
                opened["refused_connect"] += 1
                return
            s.setblocking(False)
            if kind == "slow":
                s.send(b"POST /echo HTTP/1.1\r\nHost: x\r\n")
            else:
                s.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            opened[kind] += 1
            rec = {"kind": kind, "t": time.monotonic(), "answer": b"",
                   "closed": None}
            socks.append((s, rec))
            sel.register(s, selectors.EVENT_READ, rec)

        for i in range(max(SLOW, IDLE)):
            if i < SLOW:
                open_conn("slow")
            if i < IDLE:
                open_conn("idle")
        t_open = time.monotonic() - t0

        probes = {"predict_ok": 0, "predict_bad": [], "get_ok": 0,
                  "get_bad": [], "peak": dict(base)}
        stop = threading.Event()

        def prober():
            while not stop.wait(1.0):
                st = predict(port)
                if st == 200:
                    probes["predict_ok"] += 1
                else:
                    probes["predict_bad"].append(st)
                g = subprocess.run([GLIA, "get"], env=env,
                                   capture_output=True, timeout=30)
                if g.returncode == 0:
                    probes["get_ok"] += 1
                else:
                    probes["get_bad"].append(g.stderr[-200:])
                cur = proc_status(daemon.pid)
                for k, v in cur.items():
                    probes["peak"][k] = max(probes["peak"].get(k, 0), v)

        th = threading.Thread(target=prober, daemon=True)
        th.start()
        last_drip = time.monotonic()
        end = time.monotonic() + SECONDS
        while time.monotonic() < end:
            for key, _ in sel.select(timeout=0.2):
                rec = key.data
                try:
                    data = key.fileobj.recv(65536)
                except OSError:
                    data = b""
                if data:
                    rec["answer"] += data[:200] if len(rec["answer"]) < 200 else b""
                    continue
                rec["closed"] = time.monotonic() - rec["t"]
                sel.unregister(key.fileobj)
            if time.monotonic() - last_drip >= 1.0:
                last_drip = time.monotonic()
                for s, rec in socks:
                    if rec["kind"] == "slow" and rec["closed"] is None:
                        try:
                            s.send(b"X")
                        except OSError:
                            pass
        stop.set()
        th.join(40)

        def summary(kind):
            recs = [r for _, r in socks if r["kind"] == kind]
            refused = [r for r in recs if r["answer"].startswith(b"HTTP/1.1 503")]
            closed = [r["closed"] for r in recs if r["closed"] is not None]
            timed = [r for r in recs if r["answer"].startswith(b"HTTP/1.1 408")]
            served = [r for r in recs if r["answer"].startswith(b"HTTP/1.1 200")]
            life = sorted(closed)
            med = life[len(life) // 2] if life else None
            return (f"{len(recs)} open, {len(refused)} refused with 503, "
                    f"{len(served)} answered 200, {len(timed)} got 408, "
                    f"{len(closed)} closed by the daemon within {SECONDS:.0f}s "
                    f"(median life {med:.1f}s)" if med is not None else
                    f"{len(recs)} open, {len(refused)} refused with 503, "
                    f"{len(served)} answered 200, {len(timed)} got 408, "
                    f"none closed within {SECONDS:.0f}s")

        alive = daemon.poll() is None
        after = predict(port)  # every attack connection is gone by now
        print(f"  opened in {t_open:.1f}s; connect() failures: "
              f"{opened['refused_connect']}")
        print(f"  slowloris:  {summary('slow')}")
        print(f"  idle:       {summary('idle')}")
        print(f"  predictions through the gateway: {probes['predict_ok']} ok, "
              f"{len(probes['predict_bad'])} refused or failed "
              f"({sorted(set(map(str, probes['predict_bad'])))}) while the "
              f"attack held the connection cap; after it: {after}")
        print(f"  glia get over glia.sock:        {probes['get_ok']} ok, "
              f"failed: {len(probes['get_bad'])} {probes['get_bad'][:2]}")
        print(f"  daemon peak: {probes['peak']}, now: {proc_status(daemon.pid)}, "
              f"alive: {alive}")
        # a prediction competing with the attack for the connection cap is
        # refused cleanly (503 + close): that is the cap working; anything
        # else (a reset, a timeout) or a failure afterwards is not
        ok = (alive and not probes["get_bad"] and after == 200 and
              all(b == 503 for b in probes["predict_bad"]))
        print("connections:", "PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        for s, _ in socks:
            s.close()
        subprocess.run([GLIA, "down"], env=env, capture_output=True, timeout=60)
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, 9)
        log.close()


if __name__ == "__main__":
    sys.exit(main())
