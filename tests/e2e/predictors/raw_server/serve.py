"""A plain-socket HTTP/1.1 server for tests of how the gateway writes
requests and reads answers (tests/e2e/test_gateway_bodies.py).

    serve.py PORT LOGFILE

Each connection is served in a thread, one request after another:
  GET /health          200
  POST /hash           answers {"len": N, "sha256": ...} of the body read
  POST /slow           logs "head", waits until the file LOGFILE.go exists
                       (or 30 s), then reads the body: logs "ran N" when it
                       came whole, "truncated N" when the connection ended
  POST /early          answers 413 at once, without reading the body, and
                       goes on reading requests on the same connection
  POST /big?mib=N      answers N MiB of b"b" (after reading the body);
                       with &hold=1 it sends the head and 1 MiB, logs
                       "held" and waits for LOGFILE.go before the rest
Anything that does not parse as a request line is answered 400 and logged
"garbage"."""
import hashlib
import json
import os
import socket
import sys
import threading
import time

PORT = int(sys.argv[1])
LOG = sys.argv[2]
lock = threading.Lock()


def log(line):
    with lock, open(LOG, "a") as f:
        f.write(line + "\n")


def wait_go():
    """Until the test makes LOGFILE.go (30 s at most)."""
    end = time.time() + 30
    while not os.path.exists(LOG + ".go") and time.time() < end:
        time.sleep(0.05)


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise EOFError
        self.buf += data

    def head(self):
        while b"\r\n\r\n" not in self.buf:
            self.fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            headers[k.strip().lower()] = v.strip()
        return parts, headers

    def body(self, n):
        while len(self.buf) < n:
            self.fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def send(self, status, body, ctype=b"application/json"):
        self.sock.sendall(b"HTTP/1.1 %d X\r\nContent-Type: %s\r\n"
                          b"Content-Length: %d\r\n\r\n"
                          % (status, ctype, len(body)) + body)


def serve(sock):
    c = Conn(sock)
    try:
        while True:
            parts, headers = c.head()
            if (len(parts) != 3 or not parts[2].startswith(b"HTTP/") or
                    parts[0] not in (b"GET", b"POST", b"PUT", b"DELETE")):
                log("garbage")
                c.send(400, b'{"error": "garbage"}')
                return
            method, target = parts[0], parts[1].decode()
            n = int(headers.get(b"content-length", b"0"))
            path, _, query = target.partition("?")
            if path == "/health":
                c.send(200, b"{}")
            elif path == "/early":
                log("early")
                c.send(413, b'{"error": "too big for me"}')
            elif path == "/slow":
                log("head")
                wait_go()
                try:
                    c.body(n)
                except EOFError:
                    log(f"truncated {len(c.buf)}")
                    return
                log(f"ran {n}")
                c.send(200, b'{"ran": true}')
            elif path == "/hash":
                data = c.body(n)
                c.send(200, json.dumps({
                    "len": len(data),
                    "sha256": hashlib.sha256(data).hexdigest()}).encode())
            elif path == "/big":
                c.body(n)
                args = dict(a.partition("=")[::2] for a in query.split("&"))
                size = int(args.get("mib", "1")) << 20
                c.sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: "
                               b"application/octet-stream\r\n"
                               b"Content-Length: %d\r\n\r\n" % size)
                if "hold" in args:
                    c.sock.sendall(b"b" * (1 << 20))
                    size -= 1 << 20
                    log("held")
                    wait_go()
                c.sock.sendall(b"b" * size)
            else:
                c.body(n)
                c.send(404, b'{"error": "no such path"}')
            if headers.get(b"connection", b"").lower() == b"close":
                return
    except (EOFError, ConnectionError):
        pass
    finally:
        sock.close()


def main():
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", PORT))
    ls.listen(64)
    while True:
        s, _ = ls.accept()
        threading.Thread(target=serve, args=(s,), daemon=True).start()


main()
