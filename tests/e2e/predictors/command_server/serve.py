"""A bring-your-own HTTP server for `type: command` tests.

Usage: serve.py PORT [--never-ready] [--crash-on-start]
Answers POST with JSON describing what it got; GET /health is 200 once
ready (503 forever with --never-ready)."""
import http.server
import json
import os
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    never_ready = False

    def _send(self, status, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            self._send(503 if self.never_ready else 200,
                       {"ready": not self.never_ready})
        else:
            self._send(200, {"method": "GET", "path": self.path})

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(n).decode()
        self._send(200, {
            "method": "POST",
            "path": self.path,
            "body": body,
            "pid": os.getpid(),
            "request_id": self.headers.get("X-Request-ID"),
            "env": {k: os.environ.get(k) for k in
                    ("GLIA_PORT", "PORT", "GREETING", "GLIA_API")},
        })

    def log_message(self, fmt, *args):
        print("access", fmt % args, flush=True)


def main():
    port = int(sys.argv[1])
    if "--crash-on-start" in sys.argv:
        print("crashing on purpose", flush=True)
        sys.exit(7)
    Handler.never_ready = "--never-ready" in sys.argv
    print(f"listening on {port}", flush=True)
    http.server.ThreadingHTTPServer(("127.0.0.1", port),
                                    Handler).serve_forever()


if __name__ == "__main__":
    main()
