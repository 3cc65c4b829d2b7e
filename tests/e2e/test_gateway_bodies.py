"""How the gateway carries big bodies (docs/http.md, "Memory for request
bodies"): a request's body goes to the replica from the client's buffer and
a big answer's body to the client from the replica's buffer, never copied;
answers held at once are capped like requests (503 past the cap). A write
to a replica never outlives the bytes it sends: a replica that answers
before reading the whole request gets a fresh connection next time, and a
request whose client leaves before it was wholly written to the replica
never runs.

The replica is tests/e2e/predictors/raw_server/serve.py, a plain-socket
server that logs what it read. Memory bounds (VmHWM, the peak) leave wide
margins: a copy of each body would pass them by a body's size."""
import hashlib
import os
import socket
import struct
import threading

from conftest import PREDICTORS, wait_for, write_project
from test_http_hardening import peak_mib, rss_mib

SERVER = PREDICTORS / "raw_server" / "serve.py"
MiB = 1 << 20


def deploy_raw(d, tmp_path, name="raw"):
    log = tmp_path / f"{name}.log"
    log.write_text("")
    yaml = "\n".join([
        f"- name: {name}",
        "  kind: RealtimeAPI",
        "  predictor:",
        "    type: command",
        "    command: [/usr/bin/python3, serve.py, \"$GLIA_PORT\", "
        f"\"{log}\"]",
        "    readiness_path: /health",
        "    threads_per_process: 16",
        "  compute: {cpu: 1}",
    ]) + "\n"
    proj = write_project(tmp_path, yaml, {"serve.py": SERVER}, dirname=name)
    d.deploy(proj)
    return log


def log_lines(log):
    return log.read_text().split()


def reset_peak(pid):
    """Makes VmHWM start again from the current RSS (Linux: write 5 to
    clear_refs)."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def post(port, path, body, timeout=120):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                  b"Connection: close\r\n\r\n" % (path.encode(), len(body))
                  + body)
        out = b""
        while True:
            data = s.recv(1 << 20)
            if not data:
                break
            out += data
    finally:
        s.close()
    head, _, rest = out.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return status, head.decode("latin-1"), rest


def in_threads(n, fn):
    results = [None] * n

    def run(i):
        try:
            results[i] = fn(i)
        except Exception as e:  # reported by the assertion below
            results[i] = e
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return results


def test_big_request_bodies_arrive_whole_without_a_copy(daemon_factory,
                                                        tmp_path):
    """Four 24 MiB bodies at once reach the replica byte for byte (its
    sha256), and the gateway's peak grows by about one copy of them (the
    client's buffer), not two."""
    d = daemon_factory()
    deploy_raw(d, tmp_path)
    bodies = [os.urandom(24 * MiB) for _ in range(4)]
    assert post(d.port, "/raw/hash", b"warm")[0] == 200
    base = rss_mib(d.pid)
    reset_peak(d.pid)
    got = in_threads(4, lambda i: post(d.port, "/raw/hash", bodies[i]))
    for i, g in enumerate(got):
        assert not isinstance(g, Exception), g
        status, _, body = g
        assert status == 200, body
        assert (body.decode() ==
                '{"len": %d, "sha256": "%s"}'
                % (len(bodies[i]), hashlib.sha256(bodies[i]).hexdigest()))
    grew = peak_mib(d.pid) - base
    assert grew < 4 * 24 * 1.5, f"peak grew {grew:.0f} MiB for 96 MiB sent"


def test_big_answers_arrive_whole(daemon_factory, tmp_path):
    """Four 24 MiB answers at once arrive whole (sent from the replica's
    buffer); the peak grows by about one copy of them."""
    d = daemon_factory()
    deploy_raw(d, tmp_path)
    assert post(d.port, "/raw/big?mib=1", b"")[0] == 200
    base = rss_mib(d.pid)
    reset_peak(d.pid)
    got = in_threads(4, lambda i: post(d.port, "/raw/big?mib=24", b""))
    for g in got:
        assert not isinstance(g, Exception), g
        status, head, body = g
        assert status == 200, head
        assert "Content-Length: %d" % (24 * MiB) in head
        assert body == b"b" * (24 * MiB)
    grew = peak_mib(d.pid) - base
    assert grew < 4 * 24 * 1.5, f"peak grew {grew:.0f} MiB for 96 MiB"


def test_answer_bytes_are_capped_across_connections(daemon_factory,
                                                    tmp_path):
    """--max-buffered-bytes caps the answers held at once too: with two
    120 MiB answers held (the replica sends their heads and waits), a third
    is refused 503 + Retry-After; the two then arrive whole."""
    d = daemon_factory("--max-buffered-bytes", str(300 * MiB))
    log = deploy_raw(d, tmp_path)
    go = tmp_path / "raw.log.go"
    results = {}

    def fetch(key):
        results[key] = post(d.port, "/raw/big?mib=120&hold=1", b"")
    threads = [threading.Thread(target=fetch, args=(k,)) for k in "ab"]
    for t in threads:
        t.start()
    wait_for(lambda: log_lines(log).count("held") == 2, timeout=60,
             message="two answers held by the replica")
    status, head, body = post(d.port, "/raw/big?mib=120", b"")
    assert status == 503, head
    assert "Retry-After:" in head
    assert b"too many answer bytes" in body
    go.write_text("")
    for t in threads:
        t.join(timeout=120)
    for k in "ab":
        status, head, body = results[k]
        assert status == 200, head
        assert len(body) == 120 * MiB
    assert post(d.port, "/raw/hash", b"after")[0] == 200


def test_an_early_answer_does_not_reuse_a_half_written_connection(
        daemon_factory, tmp_path):
    """The replica answers 413 to a 24 MiB request without reading it and
    keeps the connection open: the gateway stops writing and does not send
    the next request on that connection, whose rest of body the replica
    would read as a request line."""
    d = daemon_factory()
    log = deploy_raw(d, tmp_path)
    status, _, body = post(d.port, "/raw/early", b"e" * (24 * MiB))
    assert status == 413, body
    for _ in range(5):
        status, _, body = post(d.port, "/raw/hash", b"next")
        assert status == 200, body
        assert b'"len": 4' in body
    assert "garbage" not in log_lines(log)


def test_a_request_whose_client_leaves_mid_write_never_runs(daemon_factory,
                                                           tmp_path):
    """The replica reads the head of a 24 MiB request and then nothing (so
    the gateway's write to it waits); the client resets its connection: the
    write stops, the replica sees the request cut short and never runs it,
    and the daemon serves on."""
    d = daemon_factory()
    log = deploy_raw(d, tmp_path)
    s = socket.create_connection(("127.0.0.1", d.port), timeout=60)
    body = b"s" * (24 * MiB)
    s.sendall(b"POST /raw/slow HTTP/1.1\r\nHost: x\r\nContent-Length: %d"
              b"\r\n\r\n" % len(body) + body)
    wait_for(lambda: "head" in log_lines(log), timeout=60,
             message="the replica got the head")
    # a reset, not a FIN: the gateway sees the client gone
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    # the gateway notices the reset on its next read; then the replica may
    # read: it gets the bytes written so far, then EOF
    wait_for(lambda: "499" in (d.home / "logs" / "raw" /
                               "gateway.log").read_text(),
             timeout=60, message="the gateway logged the client gone (499)")
    (tmp_path / "raw.log.go").write_text("")
    wait_for(lambda: "truncated" in log_lines(log), timeout=60,
             message=f"the replica saw the request cut: {log_lines(log)}")
    assert "ran" not in log_lines(log)
    status, _, body = post(d.port, "/raw/hash", b"after")
    assert status == 200, body
