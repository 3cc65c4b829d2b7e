"""A load generator for the end-to-end tests.

N client threads, each with its own keep-alive http.client connection
(reopened after any error or when the server closes it), send POST requests
to one path, either

- closed-loop: each client sends its next request as soon as the previous
  one is answered (optionally after `think_s`), or
- open-loop: requests are scheduled at `rate` per second in total, whether
  or not earlier ones were answered; a free client takes the next scheduled
  request (so at most N are outstanding; `lag` records how late each one
  was sent).

Every response is counted by status, every exception by its type; each
request is recorded as a Record (send time, latency, status, parsed JSON
answer of a 200 when it is a small JSON object). 503s are split by whether
they carried a Retry-After header.

    lg = LoadGen("127.0.0.1", port, "/api", clients=4).start()
    lg.wait_for_count(50)
    lg.set_clients(8)
    ...
    lg.stop()
    print(lg.summary())
"""
import collections
import http.client
import json
import queue
import threading
import time

Record = collections.namedtuple(
    "Record", "client t_send latency status body retry_after lag")
"""One request: client index, time.monotonic() when sent, seconds until the
whole answer was read (or the exception), HTTP status (None after an
exception), the parsed JSON body of a 200 (None otherwise), whether a
Retry-After header came with it, and (open loop) how late it was sent."""


class LoadGen:
    def __init__(self, host, port, path, clients=1, payload=None,
                 headers=None, mode="closed", rate=None, timeout=60.0,
                 think_s=0.0, pause_after_error_s=0.02, keep_records=True):
        if mode not in ("closed", "open"):
            raise ValueError(f"mode must be closed or open, not {mode!r}")
        if mode == "open" and not rate:
            raise ValueError("open-loop load needs a rate")
        self.host, self.port, self.path = host, port, path
        self.body = json.dumps(payload if payload is not None else {}).encode()
        self.headers = {"Content-Type": "application/json"}
        self.headers.update(headers or {})
        self.mode, self.rate, self.timeout = mode, rate, timeout
        self.think_s = think_s
        self.pause_after_error_s = pause_after_error_s
        self.keep_records = keep_records

        self.lock = threading.Lock()
        self.statuses = collections.Counter()
        self.exceptions = collections.Counter()
        self.error_samples = []          # first few non-200 / exception texts
        self.body_samples = {}           # status -> first body seen
        self.retry_after_503 = 0
        self.no_retry_after_503 = 0
        self.records = []
        self.connects = 0
        self.sent = 0
        self.t_start = None
        self.t_stop = None

        self._target = clients
        self._clients = []               # (thread, stop event)
        self._stop_all = threading.Event()
        self._tokens = queue.Queue()
        self._scheduler = None
        self._started = False

    # -- control

    def start(self):
        if self._started:
            raise RuntimeError("already started")
        self._started = True
        self.t_start = time.monotonic()
        if self.mode == "open":
            self._scheduler = threading.Thread(target=self._schedule,
                                               name="loadgen-sched",
                                               daemon=True)
            self._scheduler.start()
        self.set_clients(self._target)
        return self

    def set_clients(self, n):
        """Changes the number of client threads while running."""
        if n < 0:
            raise ValueError("clients must be >= 0")
        with self.lock:
            self._target = n
            if not self._started:
                return
            # drop stopped threads from the list
            self._clients = [(t, ev) for t, ev in self._clients
                             if not ev.is_set()]
            while len(self._clients) > n:
                _, ev = self._clients.pop()
                ev.set()
            while len(self._clients) < n:
                ev = threading.Event()
                idx = self._next_index()
                t = threading.Thread(target=self._client, args=(idx, ev),
                                     name=f"loadgen-{idx}", daemon=True)
                self._clients.append((t, ev))
                t.start()

    def _next_index(self):
        self._index = getattr(self, "_index", -1) + 1
        return self._index

    @property
    def clients(self):
        with self.lock:
            return len(self._clients)

    def stop(self, timeout=None):
        """Stops every client and waits for their requests in flight to end
        (at most the request timeout plus a margin). Returns summary()."""
        self._stop_all.set()
        with self.lock:
            threads = [t for t, ev in self._clients]
            for _, ev in self._clients:
                ev.set()
        deadline = time.monotonic() + (timeout if timeout is not None
                                       else self.timeout + 10)
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if self._scheduler is not None:
            self._scheduler.join(5)
        if self.t_stop is None:
            self.t_stop = time.monotonic()
        stuck = [t.name for t in threads if t.is_alive()]
        if stuck:
            raise RuntimeError(f"load generator clients did not stop: {stuck}")
        return self.summary()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.t_stop is None:
            try:
                self.stop()
            except RuntimeError:
                if exc[0] is None:
                    raise

    # -- the clients

    def _schedule(self):
        period = 1.0 / float(self.rate)
        next_t = time.monotonic()
        while not self._stop_all.is_set():
            now = time.monotonic()
            if now < next_t:
                self._stop_all.wait(next_t - now)
                continue
            self._tokens.put(next_t)
            next_t += period

    def _connect(self):
        conn = http.client.HTTPConnection(self.host, self.port,
                                          timeout=self.timeout)
        with self.lock:
            self.connects += 1
        return conn

    def _client(self, idx, stop_ev):
        conn = None
        try:
            while not stop_ev.is_set() and not self._stop_all.is_set():
                lag = None
                if self.mode == "open":
                    try:
                        scheduled = self._tokens.get(timeout=0.1)
                    except queue.Empty:
                        continue
                    lag = max(0.0, time.monotonic() - scheduled)
                if conn is None:
                    conn = self._connect()
                t0 = time.monotonic()
                try:
                    conn.request("POST", self.path, body=self.body,
                                 headers=self.headers)
                    r = conn.getresponse()
                    raw = r.read()
                    status = r.status
                    retry_after = r.getheader("Retry-After") is not None
                    if r.will_close:
                        conn.close()
                        conn = None
                except Exception as e:  # noqa: BLE001 - counted by type
                    latency = time.monotonic() - t0
                    if conn is not None:
                        conn.close()
                        conn = None
                    self._count_exception(idx, t0, latency, e, lag)
                    if self.pause_after_error_s:
                        stop_ev.wait(self.pause_after_error_s)
                    continue
                latency = time.monotonic() - t0
                self._count_response(idx, t0, latency, status, raw,
                                     retry_after, lag)
                if status != 200 and self.pause_after_error_s:
                    stop_ev.wait(self.pause_after_error_s)
                elif self.think_s:
                    stop_ev.wait(self.think_s)
        finally:
            if conn is not None:
                conn.close()

    def _count_response(self, idx, t0, latency, status, raw, retry_after, lag):
        body = None
        if status == 200 and raw[:1] == b"{" and len(raw) < 4096:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        with self.lock:
            self.sent += 1
            self.statuses[status] += 1
            if status not in self.body_samples:
                self.body_samples[status] = raw[:500]
            if status == 503:
                if retry_after:
                    self.retry_after_503 += 1
                else:
                    self.no_retry_after_503 += 1
            if status != 200 and len(self.error_samples) < 20:
                self.error_samples.append(
                    f"{status} {raw[:200]!r} at +{t0 - self.t_start:.2f}s")
            if self.keep_records:
                self.records.append(Record(idx, t0, latency, status, body,
                                           retry_after, lag))

    def _count_exception(self, idx, t0, latency, exc, lag):
        with self.lock:
            self.sent += 1
            self.exceptions[type(exc).__name__] += 1
            if len(self.error_samples) < 20:
                self.error_samples.append(
                    f"{type(exc).__name__}: {exc} at +{t0 - self.t_start:.2f}s")
            if self.keep_records:
                self.records.append(Record(idx, t0, latency, None, None,
                                           False, lag))

    # -- results

    def count(self, status=None):
        """Requests answered (with that status), exceptions included when
        status is None."""
        with self.lock:
            if status is None:
                return self.sent
            return self.statuses.get(status, 0)

    def wait_for_count(self, n, status=200, timeout=60.0):
        """Blocks until at least n responses with status (any outcome when
        status is None) were counted in all. Returns True, or False at the
        timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count(status) >= n:
                return True
            time.sleep(0.05)
        return self.count(status) >= n

    def snapshot_records(self):
        with self.lock:
            return list(self.records)

    def last_bodies(self, n):
        """The JSON bodies of the last n 200 answers, in completion order."""
        with self.lock:
            out = []
            for rec in reversed(self.records):
                if rec.status == 200:
                    out.append(rec.body)
                    if len(out) == n:
                        break
            return out[::-1]

    def failures(self):
        """Number of non-200 answers plus exceptions."""
        with self.lock:
            return (sum(n for s, n in self.statuses.items() if s != 200)
                    + sum(self.exceptions.values()))

    def summary(self):
        with self.lock:
            lats = sorted(r.latency for r in self.records if r.status == 200)
            lags = [r.lag for r in self.records if r.lag is not None]
            end = self.t_stop or time.monotonic()
            duration = end - self.t_start if self.t_start else 0.0

            def pct(p):
                if not lats:
                    return None
                return round(lats[min(len(lats) - 1, int(p * len(lats)))], 4)

            return {
                "mode": self.mode,
                "clients": len(self._clients),
                "duration_s": round(duration, 2),
                "sent": self.sent,
                "statuses": dict(sorted(self.statuses.items())),
                "exceptions": dict(self.exceptions),
                "retry_after_503": self.retry_after_503,
                "no_retry_after_503": self.no_retry_after_503,
                "connects": self.connects,
                "rps": round(self.sent / duration, 1) if duration else None,
                "latency_200_s": {
                    "p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99),
                    "max": round(lats[-1], 4) if lats else None,
                    "mean": round(sum(lats) / len(lats), 4) if lats else None,
                },
                "max_lag_s": round(max(lags), 4) if lags else None,
                "error_samples": list(self.error_samples[:5]),
            }
