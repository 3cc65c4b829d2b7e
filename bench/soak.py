#!/usr/bin/python3
"""`make soak`: minutes of mixed load against a real `glia up`, with the
faults a public endpoint meets, printing what went wrong and what it cost.

    GLIA_BIN=build/glia SOAK_SECONDS=300 /usr/bin/python3 bench/soak.py

What runs at once, for SOAK_SECONDS (default 300):
- CLIENTS (default 6) closed-loop keep-alive clients POSTing to an API of
  REPLICAS (default 6) replicas x 1 thread whose predict() sleeps 20 ms
  (tests/e2e/predictors/sleepy), each request a small JSON body;
- a killer: every KILL_EVERY seconds (default 2) the ready replica killed
  longest ago is SIGKILLed (its pids from `glia get -o json`) while another
  is ready (else that tick is skipped and counted). With 6 replicas each is
  killed about every 12 s: a replica killed within 10 s of becoming ready
  counts as crash-looping and restarts with doubling backoff, by design;
- SLOW_CLIENTS (default 50) slowloris connections sending a header byte a
  second, reopened whenever the daemon closes them (the daemon runs with a
  5 s header timeout so they churn);
- an oversized-body sender: every 0.5 s a POST whose declared body exceeds
  the daemon's --max-body-size (1 MiB here), sending 2 MiB; it must get 413;
- a sampler: the daemon's RSS and open descriptors every 0.5 s.

Printed at the end: requests, failed requests (any non-200 or exception of
the normal clients), kills, slow connections opened/closed by the daemon,
413s seen, the daemon's peak RSS and descriptors (start, peak, end). Exit
status 1 when a normal request failed or an oversized body got anything but
413 (read whole, then a clean close), so the soak can gate a release.
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from loadgen import LoadGen  # noqa: E402

GLIA = os.path.abspath(os.environ.get("GLIA_BIN", ROOT / "build" / "glia"))
SECONDS = float(os.environ.get("SOAK_SECONDS", "300"))
CLIENTS = int(os.environ.get("CLIENTS", "6"))
REPLICAS = int(os.environ.get("REPLICAS", "6"))
SLOW_CLIENTS = int(os.environ.get("SLOW_CLIENTS", "50"))
KILL_EVERY = float(os.environ.get("KILL_EVERY", "2"))
MAX_BODY = 1 << 20
API = "soak"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise SystemExit(f"soak: gave up waiting for {what} after {timeout:.0f}s")


class Glia:
    """The daemon under test, in its own GLIA_HOME."""

    def __init__(self):
        self.home = Path(tempfile.mkdtemp(prefix="glia-soak-"))
        os.chmod(self.home, 0o700)
        self.port = free_port()
        self.env = dict(os.environ, GLIA_HOME=str(self.home))
        self.proc = None

    def start(self):
        log = open(self.home / "daemon.out", "ab")
        self.proc = subprocess.Popen(
            [GLIA, "up", "--listen", f"127.0.0.1:{self.port}",
             "--home", str(self.home), "--client-header-timeout", "5s",
             "--max-body-size", str(MAX_BODY)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=self.env, start_new_session=True)
        log.close()
        wait_for(lambda: self.proc.poll() is None and self.healthz(), 60,
                 "glia up to serve /healthz")

    def healthz(self):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            c.request("GET", "/healthz")
            ok = c.getresponse().status == 200
            c.close()
            return ok
        except OSError:
            return False

    def cli(self, *args, timeout=300):
        return subprocess.run([GLIA, *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def detail(self):
        r = self.cli("get", API, "-o", "json", timeout=30)
        return json.loads(r.stdout) if r.returncode == 0 else {}

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.cli("down", timeout=60)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        # anything still naming the home (workers of a failed stop)
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if str(self.home).encode() in cmd:
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except OSError:
                        pass


def deploy(g):
    proj = g.home / "project"
    proj.mkdir()
    src = ROOT / "tests" / "e2e" / "predictors" / "sleepy" / "predictor.py"
    (proj / "predictor.py").write_text(src.read_text())
    (proj / "glia.yaml").write_text(
        f"- name: {API}\n"
        "  kind: RealtimeAPI\n"
        "  predictor: {type: python, path: predictor.py,\n"
        "              threads_per_process: 1, config: {sleep_s: 0.02}}\n"
        f"  autoscaling: {{min_replicas: {REPLICAS}, max_replicas: {REPLICAS}}}\n")
    r = g.cli("deploy", str(proj / "glia.yaml"), "--wait")
    if r.returncode != 0:
        raise SystemExit(f"soak: deploy failed: {r.stdout}{r.stderr}")


def ready_replicas(detail):
    return [r for r in detail.get("replica_list") or []
            if r.get("state") == "ready" and r.get("pids")]


class Sampler(threading.Thread):
    def __init__(self, pid, stop):
        super().__init__(daemon=True)
        self.pid, self.stop = pid, stop
        self.rss = []      # kB
        self.fds = []

    def sample(self):
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    self.rss.append(int(line.split()[1]))
            self.fds.append(len(os.listdir(f"/proc/{self.pid}/fd")))
        except OSError:
            pass

    def run(self):
        while not self.stop.wait(0.5):
            self.sample()


class Killer(threading.Thread):
    def __init__(self, g, stop):
        super().__init__(daemon=True)
        self.g, self.stop = g, stop
        self.kills = 0
        self.skipped = 0

    def run(self):
        last_killed = {}        # replica id -> when
        while not self.stop.wait(KILL_EVERY):
            ready = ready_replicas(self.g.detail())
            # the ready replica killed longest ago (never first): a replica
            # killed again within 10 s of its restart is in a crash loop
            # and restarts with growing backoff, by design
            ready.sort(key=lambda r: last_killed.get(r["id"], 0.0))
            # only while another replica is ready: a request whose replica
            # dies is retried once elsewhere, and a soak that also kills
            # the replica holding the retry measures double faults, which
            # glia answers 5xx by design (docs/http.md "Retries")
            if len(ready) < 2:
                self.skipped += 1
                continue
            victim = ready[0]
            for pid in victim["pids"]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            last_killed[victim["id"]] = time.monotonic()
            self.kills += 1


class SlowClients(threading.Thread):
    """Connections that dribble a request header one byte a second."""

    def __init__(self, port, n, stop):
        super().__init__(daemon=True)
        self.port, self.n, self.stop = port, n, stop
        self.opened = self.closed_by_server = self.refused = 0

    def open_one(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            s.setblocking(False)
            self.opened += 1
            return s
        except OSError:
            self.refused += 1
            return None

    def run(self):
        header = f"POST /{API} HTTP/1.1\r\nHost: x\r\nX-Slow: ".encode()
        socks = [None] * self.n
        while not self.stop.wait(1.0):
            for i in range(self.n):
                if socks[i] is None:
                    socks[i] = self.open_one()
                    if socks[i] is None:
                        continue
                    chunk = header
                else:
                    chunk = b"a"
                try:
                    socks[i].send(chunk)
                    if socks[i].recv(4096) == b"":
                        raise ConnectionResetError
                except BlockingIOError:
                    pass
                except OSError:
                    self.closed_by_server += 1
                    socks[i].close()
                    socks[i] = None
        for s in socks:
            if s is not None:
                s.close()


class BigBodies(threading.Thread):
    def __init__(self, port, stop):
        super().__init__(daemon=True)
        self.port, self.stop = port, stop
        self.statuses = {}
        self.bad = []

    def one(self):
        body = b"x" * (2 * MAX_BODY)
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            c.request("POST", f"/{API}", body=body,
                      headers={"Content-Type": "application/json"})
            status = c.getresponse().status
        except (ConnectionResetError, BrokenPipeError):
            status = "closed"
        except OSError as e:
            status = type(e).__name__
        finally:
            c.close()
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status != 413:
            self.bad.append(status)

    def run(self):
        while not self.stop.wait(0.5):
            self.one()


def main():
    if not os.access(GLIA, os.X_OK):
        raise SystemExit(f"soak: no glia binary at {GLIA} (make first)")
    g = Glia()
    stop = threading.Event()
    try:
        g.start()
        deploy(g)
        sampler = Sampler(g.proc.pid, stop)
        sampler.sample()
        rss0, fds0 = sampler.rss[-1], sampler.fds[-1]
        load = LoadGen("127.0.0.1", g.port, f"/{API}", clients=CLIENTS,
                       payload={"x": 1}, timeout=60)
        threads = [sampler, Killer(g, stop), SlowClients(g.port, SLOW_CLIENTS, stop),
                   BigBodies(g.port, stop)]
        print(f"soak: {SECONDS:.0f}s, {CLIENTS} clients on {REPLICAS} replicas, "
              f"{SLOW_CLIENTS} slow "
              f"clients, a replica SIGKILL every {KILL_EVERY:g}s, 2 MiB bodies "
              f"over a 1 MiB limit; daemon pid {g.proc.pid}", flush=True)
        load.start()
        for t in threads:
            t.start()
        t_end = time.monotonic() + SECONDS
        while time.monotonic() < t_end:
            time.sleep(min(30, max(0.1, t_end - time.monotonic())))
            left = t_end - time.monotonic()
            print(f"  {SECONDS - left:5.0f}s: {load.count()} requests, "
                  f"{load.failures()} failed, {threads[1].kills} kills, "
                  f"rss {sampler.rss[-1] // 1024 if sampler.rss else '?'} MiB, "
                  f"fds {sampler.fds[-1] if sampler.fds else '?'}", flush=True)
        stop.set()
        summary = load.stop()
        for t in threads:
            t.join(40)
        sampler.sample()
        killer, slow, big = threads[1], threads[2], threads[3]
        failed = load.failures()
        print("soak results:")
        print(f"  requests            {summary['sent']} "
              f"({summary['rps']} req/s), statuses {summary['statuses']}, "
              f"exceptions {summary['exceptions']}")
        print(f"  failed requests     {failed}")
        for sample in load.error_samples[:5]:
            print(f"    e.g. {sample}")
        print(f"  replica kills       {killer.kills} "
              f"(skipped {killer.skipped}: fewer than 2 replicas ready)")
        print(f"  slow connections    {slow.opened} opened, "
              f"{slow.closed_by_server} closed by the daemon, "
              f"{slow.refused} refused")
        print(f"  oversized bodies    {big.statuses}")
        print(f"  daemon RSS          start {rss0 // 1024} MiB, peak "
              f"{max(sampler.rss) // 1024} MiB, end {sampler.rss[-1] // 1024} MiB")
        print(f"  daemon descriptors  start {fds0}, peak {max(sampler.fds)}, "
              f"end {sampler.fds[-1]}")
        print(f"  latency of 200s (s) {summary.get('latency_200_s')}")
        ok = failed == 0 and not big.bad and g.proc.poll() is None
        if g.proc.poll() is not None:
            print(f"  the daemon exited with status {g.proc.returncode}")
        print("soak:", "PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        stop.set()
        g.stop()


if __name__ == "__main__":
    sys.exit(main())
