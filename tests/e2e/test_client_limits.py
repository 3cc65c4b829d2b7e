"""Client connections (issue 13, points 1 and 13): slowloris heads, stalled
bodies and idle keep-alive connections are closed after their timeouts
(--client-header-timeout, --client-body-timeout, --keepalive-timeout, short
here); past --max-connections a new connection is answered 503 and closed
while the management socket keeps answering; a request whose client goes
away while it waits in the queue never runs."""
import json
import re
import select
import socket
import time
import types

from conftest import api_yaml, predictor_project, wait_for

SHORT = ("--client-header-timeout", "2s", "--client-body-timeout", "2s",
         "--keepalive-timeout", "1s")


def connect(d):
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    s.setblocking(False)
    return s


def closed_by_peer(s):
    """True once the server closed s (EOF or reset); reads what is there."""
    while True:
        try:
            data = s.recv(65536)
        except BlockingIOError:
            return False
        except ConnectionResetError:
            return True
        if not data:
            return True


def read_all(s, timeout=15.0, resets_ok=True):
    """Everything the server sends until it closes s."""
    s.setblocking(True)
    s.settimeout(timeout)
    out = b""
    try:
        while True:
            data = s.recv(65536)
            if not data:
                return out
            out += data
    except ConnectionResetError:
        if not resets_ok:
            raise
        return out


def healthz_ok(d):
    r = d.http_get("/healthz", timeout=10)
    return r.status == 200


def close_all(socks):
    for s in socks:
        s.close()


def test_slowloris_heads_are_closed_after_the_header_timeout(daemon_factory):
    d = daemon_factory(*SHORT)
    socks = [connect(d) for _ in range(200)]
    try:
        start = time.monotonic()
        open_ = {s: 0 for s in socks}
        closed_at = {}
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
        deadline = start + 30
        while open_ and time.monotonic() < deadline:
            for s in list(open_):
                if closed_by_peer(s):
                    closed_at[s] = time.monotonic() - start
                    del open_[s]
                    continue
                try:  # one header byte per second per connection
                    s.send(head[open_[s]:open_[s] + 1])
                    open_[s] += 1
                except OSError:
                    closed_at[s] = time.monotonic() - start
                    del open_[s]
            # normal clients are still served meanwhile
            assert healthz_ok(d)
            select.select(list(open_), [], [], 1.0)
        assert not open_, f"{len(open_)} slowloris connections still open"
        # closed by the 2 s header deadline, not by a byte count or at once
        assert min(closed_at.values()) >= 1.5, sorted(closed_at.values())[:5]
        assert healthz_ok(d)
    finally:
        close_all(socks)


def test_stalled_body_gets_408_after_the_body_timeout(daemon_factory):
    d = daemon_factory(*SHORT)
    s = connect(d)
    try:
        start = time.monotonic()
        s.sendall(b"POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                  b"\r\n" + b"x" * 10)
        out = read_all(s)
        took = time.monotonic() - start
        assert out.startswith(b"HTTP/1.1 408 "), out
        assert b"Connection: close" in out
        assert out.endswith(b'{"error": "request timed out"}\n'), out
        assert 1.5 <= took < 15, took
    finally:
        s.close()


def test_idle_keepalive_connections_are_closed(daemon_factory):
    d = daemon_factory(*SHORT)
    socks = [connect(d) for _ in range(50)]
    try:
        for s in socks:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        start = time.monotonic()
        for s in socks:
            s.setblocking(True)
            s.settimeout(10)
            head = s.recv(65536)
            assert head.startswith(b"HTTP/1.1 200 "), head
            assert b"keep-alive" in head.lower()
            s.setblocking(False)
        wait_for(lambda: all(closed_by_peer(s) for s in socks), timeout=20,
                 message="idle keep-alive connections still open")
        assert time.monotonic() - start >= 0.8
        assert healthz_ok(d)
    finally:
        close_all(socks)


def test_connections_past_the_cap_get_503_and_mgmt_still_answers(daemon_factory):
    d = daemon_factory("--max-connections", "20")
    socks = []
    try:
        # /healthz probes of the start may still be closing: fill up to 20
        def full():
            s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
            out = b""
            s.settimeout(0.5)
            try:
                out = s.recv(65536)
            except socket.timeout:
                socks.append(s)  # held: one more of the 20
                return False
            s.close()
            return out.startswith(b"HTTP/1.1 503 ")
        wait_for(full, timeout=30, message="never refused past 20")
        assert len(socks) <= 20
        # clients that send their request at once read the 503 and a clean
        # close: no reset for the unread request (which, off loopback, can
        # destroy the answer still in flight)
        for _ in range(20):
            extra = socket.create_connection(("127.0.0.1", d.port),
                                             timeout=10)
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            out = read_all(extra, resets_ok=False)
            extra.close()
            head, _, body = out.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 503 "), out
            assert b"Connection: close" in head
            assert json.loads(body) == {"error": "too many connections"}
        # the management socket is not counted against the gateway's cap
        res = d.cli("get", "-o", "json")
        assert res.returncode == 0
        # a connection closed makes room again
        close_all(socks)
        socks.clear()
        wait_for(lambda: healthz_ok(d), timeout=20,
                 message="gateway still refusing after connections closed")
    finally:
        close_all(socks)


def queued(d, api):
    text = d.http_get("/metrics", timeout=10).body.decode()
    m = re.search(r'^glia_queued_requests\{api="%s"[^}]*\} (\S+)' % api, text,
                  re.M)
    return float(m.group(1)) if m else 0


def test_queued_request_whose_client_left_never_runs(daemon_factory, tmp_path):
    d = daemon_factory()
    proj = predictor_project(
        tmp_path, "sleepy",
        api_yaml("cancel", config={"sleep_s": 0},
                 predictor={"threads_per_process": 1},
                 autoscaling={"min_replicas": 1, "max_replicas": 1}))
    d.cli("deploy", "glia.yaml", "--wait", cwd=proj, timeout=180)
    d.wait_ready("cancel", timeout=90)
    slow_file = tmp_path / "slow.started"
    gone_file = tmp_path / "gone.started"
    slow = connect(d)
    gone = connect(d)
    try:
        body = json.dumps({"sleep": 3, "started_file": str(slow_file)})
        slow.sendall(b"POST /cancel HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     b"Content-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s"
                     % (len(body), body.encode()))
        wait_for(slow_file.exists, timeout=30, message="slow request not running")
        body = json.dumps({"sleep": 0, "started_file": str(gone_file)})
        gone.sendall(b"POST /cancel HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s"
                     % (len(body), body.encode()))
        wait_for(lambda: queued(d, "cancel") == 1, timeout=20,
                 message="second request not queued")
        gone.close()
        wait_for(lambda: queued(d, "cancel") == 0, timeout=20,
                 message="the departed client's request stayed queued")
        out = read_all(slow, timeout=30)
        assert out.startswith(b"HTTP/1.1 200 "), out
        # one more request runs after it: the queue is in order again
        r = d.post("/cancel", json={"sleep": 0}, timeout=30)
        assert r.status == 200
        assert not gone_file.exists(), "the cancelled request ran"
        log = d.home / "logs" / "cancel" / "gateway.log"
        wait_for(lambda: re.search(r'"POST /cancel" 499 ', log.read_text()),
                 timeout=30, message="no 499 access line")
    finally:
        slow.close()
        gone.close()


def test_default_cap_keeps_a_descriptor_reserve(daemon_factory, tmp_path,
                                                monkeypatch):
    """Under RLIMIT_NOFILE 512 (soft and hard), the gateway takes at most
    512 - 256 - 512/16 = 224 clients; the rest get 503, and the management
    API, replicas and logs keep their descriptors."""
    import conftest
    wrapper = tmp_path / "glia-512"
    wrapper.write_text("#!/bin/sh\nexec prlimit --nofile=512:512 "
                       f"{conftest.GLIA_BIN} \"$@\"\n")
    wrapper.chmod(0o755)
    monkeypatch.setattr(conftest, "GLIA_BIN", wrapper)
    d = daemon_factory()
    socks = [connect(d) for _ in range(240)]
    try:
        answered = {}

        def refusals():
            for s in socks:
                try:
                    if s not in answered:
                        data = s.recv(65536)
                        assert data.startswith(b"HTTP/1.1 503 "), data
                        answered[s] = data
                except BlockingIOError:
                    pass
            return len(answered) >= 240 - 224
        wait_for(refusals, timeout=30, message="no 503 under RLIMIT_NOFILE 512")
        held = [s for s in socks if s not in answered]
        assert 200 <= len(held) <= 224, len(held)
        assert "gateway: up to 224 client connections" in d.log_tail(200)
        assert d.cli("get", "-o", "json").returncode == 0
        close_all(socks)
        socks.clear()
        wait_for(lambda: healthz_ok(d), timeout=20,
                 message="gateway still refusing after connections closed")
    finally:
        close_all(socks)


def test_glia_gateway_takes_the_client_flags(tmp_path):
    """`glia gateway` (and `glia worker --api`, same parser) take the four
    flags: an idle connection is closed after --keepalive-timeout, and past
    --max-connections a connection gets 503."""
    import subprocess
    from conftest import GLIA_BIN, free_port
    proj = predictor_project(tmp_path, "sleepy", api_yaml("gw"))
    port = free_port()
    log = open(tmp_path / "gateway.log", "wb")
    p = subprocess.Popen(
        [str(GLIA_BIN), "gateway", str(proj), "--listen",
         f"127.0.0.1:{port}", "--discover", "static:gw=127.0.0.1:1",
         "--keepalive-timeout", "1s", "--max-connections", "3"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    socks = []
    d = types.SimpleNamespace(port=port)
    try:
        wait_for(lambda: socket.create_connection(("127.0.0.1", port),
                                                  timeout=2).close() is None,
                 timeout=30, message="glia gateway not listening")
        s = connect(d)
        socks.append(s)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_for(lambda: closed_by_peer(s), timeout=20,
                 message="idle connection still open")
        socks += [connect(d) for _ in range(4)]

        def refused():
            return sum(1 for s in socks[1:] if closed_by_peer(s)) >= 1
        wait_for(refused, timeout=20, message="no refusal past 3")
    finally:
        close_all(socks)
        p.kill()
        p.wait(10)


def server_side_state(port, peer_port):
    """The TCP state (hex, "01" established) of the daemon's end of the
    loopback connection from peer_port, from /proc/net/tcp."""
    local = "0100007F:%04X" % port
    remote = "0100007F:%04X" % peer_port
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == local and fields[2] == remote:
                return fields[3]
    return None


BIG_PREDICTOR = '''
class PythonPredictor:
    def __init__(self, config):
        pass

    def predict(self, payload):
        return "x" * (20 << 20)
'''


def test_client_that_reads_nothing_of_its_answer_is_closed(daemon_factory,
                                                           tmp_path):
    """A 20 MiB answer to a client that never reads: closed after
    --client-send-timeout, not held (with its buffers) for ever."""
    from conftest import write_project
    d = daemon_factory("--client-send-timeout", "1s")
    proj = write_project(tmp_path, api_yaml("big"),
                         {"predictor.py": BIG_PREDICTOR}, dirname="big")
    d.cli("deploy", "glia.yaml", "--wait", cwd=proj, timeout=180)
    d.wait_ready("big", timeout=90)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    try:
        s.connect(("127.0.0.1", d.port))
        s.sendall(b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                  b"Content-Type: application/json\r\n\r\n{}")
        # the answer is on its way once the access line is written
        log = d.home / "logs" / "big" / "gateway.log"
        wait_for(lambda: log.exists() and '"POST /big" 200' in log.read_text(),
                 timeout=60, message="no answer from the predictor")
        # reading nothing: the server's side leaves ESTABLISHED
        peer = s.getsockname()[1]
        wait_for(lambda: server_side_state(d.port, peer) not in (None, "01"),
                 timeout=30, message="the server still holds the connection")
        got = len(read_all(s, timeout=30))
        assert got < (20 << 20), "the whole answer was sent: never closed"
    finally:
        s.close()


def test_half_closed_client_still_gets_a_running_answer(daemon_factory, tmp_path):
    """Cancellation is for queued requests: a client that half-closes after
    sending a request that is running gets its answer."""
    d = daemon_factory()
    proj = predictor_project(
        tmp_path, "sleepy",
        api_yaml("half", config={"sleep_s": 0},
                 predictor={"threads_per_process": 1}))
    d.cli("deploy", "glia.yaml", "--wait", cwd=proj, timeout=180)
    d.wait_ready("half", timeout=90)
    started = tmp_path / "half.started"
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    try:
        body = json.dumps({"sleep": 1, "started_file": str(started)})
        s.sendall(b"POST /half HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s"
                  % (len(body), body.encode()))
        wait_for(started.exists, timeout=30, message="request not running")
        s.shutdown(socket.SHUT_WR)
        out = read_all(s, timeout=30)
        assert out.startswith(b"HTTP/1.1 200 "), out
    finally:
        s.close()
