"""predictor.models end to end: real scikit-learn and PyTorch models,
trained or built here, served by `glia up` through a predictor's
load_model / python_client.get_model.

One daemon for the module; each test has an API (and a model tree) of its
own, so their counters and files do not mix:

  route   dir (2 sklearn models x 2 versions), everything loaded at start
  pair    paths: a torch MLP (state_dict) and a pickled sklearn model file
  single  path: one unversioned iris model
  lru     dir, cache_size 2: eviction order
  flight  dir, cache_size 2, 8 threads, slow load_model: single-flight loads
  live    dir, cache_size 2: a version added, then removed, under traffic;
          a model added, then removed
  broken  dir, cache_size 2: a version that fails to load, then is fixed
  mem     dir, cache_size 1, two random forests of ~3 MB: memory comes back
  url     paths with http:// URLs (a pickle and a .tar.gz) from a local server
  poll    dir with GLIA_MODEL_WATCH=poll: a new version is picked up
  met     dir, cache_size 1: the /metrics families
  plain   no models: no model series

The predictor prints "loading <path>" in load_model, so loads can be
counted in `glia logs`; each load gets a process-wide sequence number
(load_no) that predict answers with, so a cache hit shows the number of the
load it reused.
"""
import functools
import http.server
import io
import json
import os
import pickle
import re
import shutil
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from conftest import concurrent_posts, wait_for, write_project

PREDICTOR = '''\
import itertools
import json
import os
import pickle
import time

_load_no = itertools.count(1)


def _torch_mlp(path):
    import torch
    with open(os.path.join(path, "config.json")) as f:
        conf = json.load(f)
    sizes = conf["sizes"]
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    net.load_state_dict(torch.load(os.path.join(path, "model.pt")))
    net.eval()
    return {"kind": "torch", "id": conf["id"], "net": net}


class PythonPredictor:
    def __init__(self, config, python_client):
        self.client = python_client
        self.load_delay = float(config.get("load_delay", 0))

    def load_model(self, model_path):
        print(f"loading {model_path}")
        if self.load_delay:
            time.sleep(self.load_delay)
        if os.path.isfile(os.path.join(model_path, "model.pt")):
            model = _torch_mlp(model_path)
        else:
            path = model_path
            if os.path.isdir(path):
                path = os.path.join(path, "model.pkl")
            with open(path, "rb") as f:
                saved = pickle.load(f)
            model = {"kind": "sklearn", "id": saved["id"],
                     "model": saved["model"]}
        model["load_no"] = next(_load_no)
        model["path"] = model_path
        return model

    def predict(self, payload, query_params):
        m = self.client.get_model(query_params.get("model"),
                                  query_params.get("version", "latest"))
        out = {"id": m["id"], "load_no": m["load_no"], "path": m["path"]}
        x = payload.get("x") if isinstance(payload, dict) else None
        if x is not None:
            if m["kind"] == "torch":
                import torch
                with torch.no_grad():
                    y = m["net"](torch.tensor(x, dtype=torch.float32))
                out["y"] = y.tolist()
            else:
                out["y"] = m["model"].predict(x).tolist()
        return out
'''

# the API's line prefix in `glia logs` is "<replica> " or "<replica> [<rid>] "
LOADING = re.compile(r"\bloading (\S+)$")

IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3]]


# ---------------------------------------------------------------------------
# models


def save_pickle(path, obj):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def linear(slope, intercept):
    """A LinearRegression fitted on y = slope*x + intercept (exactly)."""
    from sklearn.linear_model import LinearRegression
    x = np.arange(10, dtype=float).reshape(-1, 1)
    return LinearRegression().fit(x, slope * x[:, 0] + intercept)


def linear_model(path, ident, slope, intercept):
    """<path>/model.pkl: {"id", "model"}; the model answers slope*x+intercept."""
    save_pickle(Path(path) / "model.pkl",
                {"id": ident, "model": linear(slope, intercept)})


def iris_model(path, ident):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    iris = load_iris()
    model = LogisticRegression(max_iter=1000).fit(iris.data, iris.target)
    save_pickle(path, {"id": ident, "model": model})
    return model


def torch_mlp(path, ident, sizes=(4, 16, 3)):
    """<path>/model.pt (a state_dict) and config.json; returns the net."""
    import torch
    torch.manual_seed(0)
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path / "model.pt")
    (path / "config.json").write_text(json.dumps({"sizes": list(sizes),
                                                  "id": ident}))
    net.eval()
    return net


def forest(seed, trees=30):
    """A RandomForestClassifier of about 3 MB pickled (noisy labels make
    deep trees)."""
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    X, y = make_classification(n_samples=6000, n_features=10, flip_y=0.3,
                               random_state=seed)
    return RandomForestClassifier(n_estimators=trees, random_state=seed,
                                  n_jobs=1).fit(X, y)


# ---------------------------------------------------------------------------
# the spec


def api(name, models, predictor=None, config=None, env=None):
    lines = [f"- name: {name}",
             "  kind: RealtimeAPI",
             "  predictor:",
             "    type: python",
             "    path: predictor.py"]
    for key, value in (predictor or {}).items():
        lines.append(f"    {key}: {json.dumps(value)}")
    if config:
        lines.append(f"    config: {json.dumps(config)}")
    if env:
        lines.append(f"    env: {json.dumps(env)}")
    if models:
        lines.append("    models:")
        for key, value in models.items():
            lines.append(f"      {key}: {json.dumps(value)}")
    return "\n".join(lines) + "\n"


CACHE2 = {"cache_size": 2, "disk_cache_size": 2}
CACHE1 = {"cache_size": 1, "disk_cache_size": 1}
APIS = ["route", "pair", "single", "lru", "flight", "live", "broken", "mem",
        "url", "poll", "met", "plain"]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, gets, **kw):
        self.gets_seen = gets
        super().__init__(*args, **kw)

    def do_GET(self):
        self.gets_seen.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A local HTTP server with lin.pkl and iris.tar.gz (iris/model.pkl);
    yields (base URL, list of GET paths, {name: model})."""
    root = tmp_path_factory.mktemp("served")
    lin = linear(3.0, 1.0)
    save_pickle(root / "lin.pkl", {"id": "url-lin", "model": lin})
    staging = tmp_path_factory.mktemp("iris-archive")
    iris = iris_model(staging / "iris" / "model.pkl", "url-iris")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        t.add(staging / "iris", arcname="iris")
    (root / "iris.tar.gz").write_bytes(buf.getvalue())
    gets = []
    handler = functools.partial(QuietHandler, gets=gets, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield (f"http://127.0.0.1:{server.server_address[1]}", gets,
               {"lin": lin, "iris": iris})
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


class Env:
    """The shared daemon, the project directory and the local models."""

    def __init__(self, d, proj, staging, local):
        self.d, self.proj, self.staging, self.local = d, proj, staging, local

    def models(self, api):
        return self.proj / "models" / api


@pytest.fixture(scope="module")
def env(module_daemon_factory, tmp_path_factory, served):
    base, _, _ = served
    root = tmp_path_factory.mktemp("models-e2e")
    proj = write_project(root, "", {"predictor.py": PREDICTOR})
    m = proj / "models"
    local = {}
    # route: a and b, versions 1 and 2; model a version v answers
    # 10*v + x, model b version v answers 100*v - x
    for v in (1, 2):
        linear_model(m / "route" / "a" / str(v), f"a@{v}", 1.0, 10.0 * v)
        linear_model(m / "route" / "b" / str(v), f"b@{v}", -1.0, 100.0 * v)
    local["mlp"] = torch_mlp(m / "pair" / "mlp", "mlp")
    save_pickle(m / "pair" / "lin.pkl",
                {"id": "lin", "model": linear(2.0, -1.0)})
    local["iris"] = iris_model(m / "single" / "iris" / "model.pkl", "iris")
    for name in ("a", "b", "c"):
        linear_model(m / "lru" / name, f"lru-{name}", 1.0, 0.0)
    for name in ("cold", "other"):
        linear_model(m / "flight" / name, f"flight-{name}", 1.0, 0.0)
    for api_name in ("live", "broken", "poll"):
        linear_model(m / api_name / "m" / "1", "m@1", 1.0, 1.0)
    for i, name in enumerate(("big1", "big2")):
        save_pickle(m / "mem" / name / "model.pkl",
                    {"id": name, "model": forest(i)})
    for name in ("x", "y"):
        linear_model(m / "met" / name, f"met-{name}", 1.0, 0.0)

    yaml = "".join([
        api("route", {"dir": "models/route"}),
        api("pair", {"paths": [{"name": "mlp", "path": "models/pair/mlp"},
                               {"name": "lin",
                                "path": "models/pair/lin.pkl"}]}),
        api("single", {"path": "models/single/iris"}),
        api("lru", {"dir": "models/lru", **CACHE2}),
        api("flight", {"dir": "models/flight", **CACHE2},
            predictor={"threads_per_process": 8},
            config={"load_delay": 1.0}),
        api("live", {"dir": "models/live", **CACHE2},
            predictor={"threads_per_process": 2}),
        api("broken", {"dir": "models/broken", **CACHE2}),
        api("mem", {"dir": "models/mem", **CACHE1}),
        api("url", {"paths": [{"name": "lin", "path": f"{base}/lin.pkl"},
                              {"name": "iris",
                               "path": f"{base}/iris.tar.gz"}]}),
        api("poll", {"dir": "models/poll", **CACHE2},
            env={"GLIA_MODEL_WATCH": "poll", "GLIA_MODEL_POLL_MS": "200"}),
        api("met", {"dir": "models/met", **CACHE1}),
        api("plain", None),
    ])
    (proj / "glia.yaml").write_text(yaml)
    d = module_daemon_factory()
    d.deploy(proj / "glia.yaml", "--timeout", "5m")
    for name in APIS:
        d.wait_ready(name, timeout=120)
    return Env(d, proj, root / "staging", local)


# ---------------------------------------------------------------------------
# helpers


def ask(d, api_name, model=None, version=None, x=None, session=None):
    """POST /<api>?model=..&version=..; returns the Resp."""
    query = []
    if model is not None:
        query.append(f"model={model}")
    if version is not None:
        query.append(f"version={version}")
    path = f"/{api_name}" + ("?" + "&".join(query) if query else "")
    body = {} if x is None else {"x": x}
    if session is not None:
        return session.post(path, json=body)
    return d.post(path, json=body)


def ok(d, api_name, model=None, version=None, x=None, session=None):
    r = ask(d, api_name, model, version, x, session)
    assert r.status == 200, r
    return r.json()


def loads_in_logs(d, api_name):
    """The paths of the "loading <path>" lines in `glia logs API`, in
    order."""
    out = d.cli("logs", api_name).stdout
    paths = []
    for line in out.splitlines():
        m = LOADING.search(line)
        if m:
            paths.append(m.group(1))
    return paths


def models_detail(d, api_name):
    return d.get(api_name)["models"]


def wait_models(d, api_name, timeout=30.0, **want):
    """Waits until `glia get API -o json`'s "models" has the values in
    want; returns it."""
    last = {}

    def match():
        m = last["m"] = models_detail(d, api_name)
        return m if all(m.get(k) == v for k, v in want.items()) else None

    return wait_for(match, timeout=timeout,
                    message=f"{api_name} models {want} (last: "
                            f"{last.get('m')})")


def add_version(env, model_dir, version, ident, slope=1.0, intercept=0.0,
                content=None):
    """Creates model_dir/<version> atomically: written in a staging
    directory outside the model tree, then renamed into place."""
    tmp = env.staging / f"{model_dir.parent.name}-{model_dir.name}-{version}"
    shutil.rmtree(tmp, ignore_errors=True)
    if content is None:
        linear_model(tmp, ident, slope, intercept)
    else:
        tmp.mkdir(parents=True)
        (tmp / "model.pkl").write_bytes(content)
    os.rename(tmp, model_dir / str(version))


def remove_version(env, model_dir, version):
    """Moves model_dir/<version> out of the tree in one rename."""
    env.staging.mkdir(parents=True, exist_ok=True)
    gone = env.staging / f"removed-{model_dir.parent.name}-{version}"
    shutil.rmtree(gone, ignore_errors=True)
    os.rename(model_dir / str(version), gone)


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metric(text, name, **labels):
    """The value of the sample name{labels} (exactly those labels), or
    None."""
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m or m.group(1) != name:
            continue
        if dict(LABEL.findall(m.group(2) or "")) == labels:
            return float(m.group(3))
    return None


def metrics_text(d):
    r = d.http_get("/metrics")
    assert r.status == 200, r
    return r.text


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def one_pid(d, api_name):
    pids = d.replica_pids(api_name)
    assert len(pids) == 1, pids
    return pids[0]


# ---------------------------------------------------------------------------
# 1. routing by name and version


def test_dir_routes_by_name_and_version(env):
    d = env.d
    for name, sign, base in (("a", 1, 10), ("b", -1, 100)):
        for v in (1, 2):
            r = ok(d, "route", name, v, x=[[3.0]])
            assert r["id"] == f"{name}@{v}"
            assert r["y"] == pytest.approx([base * v + sign * 3.0])
        latest = ok(d, "route", name, x=[[3.0]])
        assert latest["id"] == f"{name}@2"
        assert ok(d, "route", name, "latest")["id"] == f"{name}@2"
    # without cache_size every model and version was loaded at startup,
    # each once, outside any request
    paths = loads_in_logs(d, "route")
    assert sorted(Path(p).relative_to(env.models("route")).as_posix()
                  for p in paths) == ["a/1", "a/2", "b/1", "b/2"]
    # workers report the cache once a second
    detail = wait_models(d, "route", resident=4)
    assert detail["loads"] == 4 and detail["load_failures"] == 0

    r = ask(d, "route", "c")
    assert r.status == 404, r
    assert r.json() == {"error": "model 'c' not found; available: a, b"}
    r = ask(d, "route", "a", 9)
    assert r.status == 404, r
    assert r.json() == {"error": "model 'a' has no version 9; "
                                 "available: 1, 2"}
    r = ask(d, "route")
    assert r.status == 404, r
    assert "available: a, b" in r.json()["error"]
    r = ask(d, "route", "a", "newest")
    assert r.status == 400, r


def test_paths_torch_and_sklearn(env):
    import torch
    d = env.d
    r = ok(d, "pair", "mlp", x=IRIS_ROWS)
    assert r["id"] == "mlp"
    assert r["path"] == str(env.models("pair") / "mlp")
    with torch.no_grad():
        want = env.local["mlp"](torch.tensor(IRIS_ROWS)).numpy()
    assert np.allclose(np.array(r["y"]), want, atol=1e-5), (r["y"], want)

    r = ok(d, "pair", "lin", x=[[0.0], [5.0]])
    assert r["id"] == "lin"
    assert r["path"] == str(env.models("pair") / "lin.pkl")
    assert r["y"] == pytest.approx([-1.0, 9.0])

    r = ask(d, "pair", "mlp", 1)
    assert r.status == 404, r
    assert r.json() == {"error": "model 'mlp' is not versioned; "
                                 "use \"latest\""}
    r = ask(d, "pair", "iris")
    assert r.status == 404, r
    assert r.json() == {"error": "model 'iris' not found; "
                                 "available: lin, mlp"}


def test_single_path(env):
    d = env.d
    r = ok(d, "single", x=IRIS_ROWS)
    assert r["id"] == "iris"
    assert r["y"] == env.local["iris"].predict(IRIS_ROWS).tolist()
    assert r["y"] == [0, 1, 2]
    r = ask(d, "single", "iris")
    assert r.status == 404, r
    assert "one unnamed model" in r.json()["error"]


# ---------------------------------------------------------------------------
# 2. LRU eviction order


def test_cache_evicts_least_recently_used(env):
    d = env.d
    assert loads_in_logs(d, "lru") == []    # nothing loaded at startup
    s = d.session()
    try:
        seq = [(name, ok(d, "lru", name, session=s)) for name in
               ("a", "b", "c", "b", "a")]
    finally:
        s.close()
    assert [r["id"] for _, r in seq] == ["lru-a", "lru-b", "lru-c", "lru-b",
                                         "lru-a"]
    # a, b, c each loaded (c evicts a); b is a hit on load 2; a is loaded
    # again (evicting c, the least recently used)
    assert [r["load_no"] for _, r in seq] == [1, 2, 3, 2, 4]

    root = env.models("lru")
    paths = wait_for(lambda: (lambda p: p if len(p) >= 4 else None)(
        loads_in_logs(d, "lru")), message="4 loading lines in glia logs")
    assert paths == [str(root / n) for n in ("a", "b", "c", "a")]
    wait_models(d, "lru", hits=1, misses=4, loads=4, evictions=2, resident=2,
                load_failures=0)
    # b, a are resident: hits, no load
    assert ok(d, "lru", "b")["load_no"] == 2
    assert ok(d, "lru", "a")["load_no"] == 4
    wait_models(d, "lru", hits=3, misses=4, loads=4)


# ---------------------------------------------------------------------------
# 3. single flight


def test_concurrent_misses_share_one_load(env):
    d = env.d
    results, elapsed = concurrent_posts(d, "/flight?model=cold", 8)
    for r in results:
        assert not isinstance(r, Exception), r
        assert r.status == 200, r
    answers = [r.json() for r in results]
    assert {a["id"] for a in answers} == {"flight-cold"}
    assert {a["load_no"] for a in answers} == {1}
    # 8 loads of 1 s one after the other would take 8 s
    assert elapsed < 6.0, elapsed
    print(f"\n8 concurrent misses answered in {elapsed:.2f}s")
    wait_models(d, "flight", misses=8, loads=1, hits=0, resident=1)
    assert loads_in_logs(d, "flight") == [str(env.models("flight") / "cold")]


# ---------------------------------------------------------------------------
# 4. a version added, then removed, under traffic


class Loop:
    """Client threads POSTing /live?model=m on keep-alive connections until
    stopped; per thread the (status, id) answers, in order."""

    def __init__(self, d, clients=2):
        self.d = d
        self.stop_ev = threading.Event()
        self.answers = [[] for _ in range(clients)]
        self.errors = []
        self.threads = [threading.Thread(target=self._run, args=(i,),
                                         daemon=True)
                        for i in range(clients)]

    def _run(self, i):
        s = self.d.session(timeout=30)
        try:
            while not self.stop_ev.is_set():
                try:
                    r = s.post("/live?model=m", json={})
                except Exception as e:  # noqa: BLE001 - reported by the test
                    self.errors.append(repr(e))
                    continue
                ident = r.json().get("id") if r.status == 200 else r.text
                self.answers[i].append((r.status, ident))
        finally:
            s.close()

    def last(self):
        return [a[-1][1] if a else None for a in self.answers]

    def all_at(self, ident, more=3):
        """True once every thread answered ident at least `more` times in
        a row, last."""
        return all(len(a) >= more and all(x[1] == ident for x in a[-more:])
                   for a in self.answers)

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(30)


def runs(seq):
    """seq with consecutive repeats collapsed."""
    out = []
    for x in seq:
        if not out or out[-1] != x:
            out.append(x)
    return out


def test_version_added_then_removed_under_traffic(env):
    d = env.d
    model = env.models("live") / "m"
    loop = Loop(d).start()
    try:
        wait_for(lambda: loop.all_at("m@1"), message="answers from m@1")
        add_version(env, model, 2, "m@2", 1.0, 2.0)
        wait_for(lambda: loop.all_at("m@2"), timeout=30,
                 message=f"answers from m@2 (last: {loop.last()})")
        remove_version(env, model, 2)
        wait_for(lambda: loop.all_at("m@1"), timeout=30,
                 message=f"answers from m@1 again (last: {loop.last()})")
    finally:
        loop.stop()
    assert loop.errors == []
    total = sum(len(a) for a in loop.answers)
    bad = [a for t in loop.answers for a in t if a[0] != 200]
    assert bad == [], f"{len(bad)} of {total} failed: {bad[:5]}"
    for answers in loop.answers:
        assert runs([i for _, i in answers]) == ["m@1", "m@2", "m@1"]
    print(f"\nlive: {total} requests, all 200")
    r = ask(d, "live", "m", 2)
    assert r.status == 404, r
    assert r.json() == {"error": "model 'm' has no version 2; available: 1"}
    logs = d.cli("logs", "live").stdout
    assert "version 2 removed" in logs, logs[-2000:]


def test_model_added_and_removed_in_dir(env):
    d = env.d
    root = env.models("live")
    env.staging.mkdir(parents=True, exist_ok=True)
    linear_model(env.staging / "n", "n", 1.0, 5.0)
    r = ask(d, "live", "n")
    assert r.status == 404, r
    assert r.json() == {"error": "model 'n' not found; available: m"}
    os.rename(env.staging / "n", root / "n")
    r = wait_for(lambda: (lambda r: r if r.status == 200 else None)(
        ask(d, "live", "n", x=[[1.0]])), timeout=30,
        message="model n served")
    assert r.json()["id"] == "n" and r.json()["y"] == pytest.approx([6.0])
    os.rename(root / "n", env.staging / "removed-n")
    wait_for(lambda: ask(d, "live", "n").status == 404, timeout=30,
             message="model n gone")
    assert ask(d, "live", "n").json() == {
        "error": "model 'n' not found; available: m"}
    assert ok(d, "live", "m")["id"] == "m@1"


# ---------------------------------------------------------------------------
# 5. a broken version


def test_broken_version_keeps_the_previous_one(env):
    d = env.d
    model = env.models("broken") / "m"
    assert ok(d, "broken", "m")["id"] == "m@1"
    wait_models(d, "broken", loads=1, resident=1)
    add_version(env, model, 2, None, content=b"this is not a pickle\n")

    def failed_metric():
        v = metric(metrics_text(d), "glia_model_loads_total", api="broken",
                   result="failed")
        return v if v and v >= 1 else None

    assert wait_for(failed_metric, timeout=30,
                    message="a failed load of version 2") == 1
    detail = wait_models(d, "broken", load_failures=1)
    failure = detail["last_load_failure"]
    assert failure.startswith("model m version 2: "), failure
    assert "UnpicklingError" in failure, failure
    for _ in range(5):
        assert ok(d, "broken", "m")["id"] == "m@1"
    r = ask(d, "broken", "m", 2)
    assert r.status == 500, r
    assert "version 2" in r.json()["error"], r
    assert "UnpicklingError" in r.json()["error"], r
    logs = d.cli("logs", "broken").stdout
    assert "Traceback (most recent call last)" in logs, logs[-3000:]
    assert re.search(r"UnpicklingError.*not a pickle|UnpicklingError",
                     logs), logs[-3000:]
    assert "version 2 failed to load" in logs, logs[-3000:]
    # still exactly one failure: the broken files are not retried on every
    # request
    assert models_detail(d, "broken")["load_failures"] == 1

    # fixed in place (the file replaced atomically): version 2 is loaded
    tmp = model / "2" / "model.pkl.tmp"
    linear_model(env.staging / "fixed", "m@2", 1.0, 2.0)
    shutil.copyfile(env.staging / "fixed" / "model.pkl", tmp)
    os.replace(tmp, model / "2" / "model.pkl")
    wait_for(lambda: ok(d, "broken", "m")["id"] == "m@2", timeout=30,
             message="answers from the fixed version 2")
    assert ok(d, "broken", "m", 2)["id"] == "m@2"
    assert metric(metrics_text(d), "glia_model_loads_total", api="broken",
                  result="failed") == 1


# ---------------------------------------------------------------------------
# 6. memory comes back


@pytest.mark.skipif(
    "ASAN_OPTIONS" in os.environ,
    reason="under AddressSanitizer freed memory sits in ASan's quarantine "
           "and malloc_trim does not reach ASan's allocator; the normal "
           "build measures it")
def test_memory_comes_back_after_200_loads(env):
    d = env.d
    pid = one_pid(d, "mem")
    s = d.session()
    rss = {}
    try:
        for i in range(200):
            name = ("big1", "big2")[i % 2]
            r = ok(d, "mem", name, session=s)
            assert r["id"] == name and r["load_no"] == i + 1, r
            if i == 0:
                rss["first load"] = rss_kb(pid)
            elif i == 3:
                rss["after 2 cycles"] = rss_kb(pid)
            elif i == 49:
                rss["after 50"] = rss_kb(pid)
            elif i == 99:
                rss["after 100"] = rss_kb(pid)
    finally:
        s.close()
    rss["after 200"] = final = rss_kb(pid)
    assert one_pid(d, "mem") == pid     # the same process throughout
    size = sum((env.models("mem") / n / "model.pkl").stat().st_size
               for n in ("big1", "big2")) / 2
    print(f"\nmem: model pickles {size / 1e6:.1f} MB each; VmRSS (KiB) " +
          ", ".join(f"{k}: {v}" for k, v in rss.items()))
    # The baseline is the RSS after the first two cycles (4 loads), not
    # after the first load: the first loads import sklearn.ensemble and the
    # tree code, grow the allocator's arenas and, from the second request
    # on, hold two forests at once for a moment (the new one is loaded
    # before the old one is evicted). From then on every request loads one
    # forest and frees the other, so a leak would show as growth over the
    # remaining 196 loads.
    # Measured here: first load 120644 KiB, after 2 cycles 117556, after
    # 200 118108 (the first figure is the highest: nothing was freed and
    # trimmed before the first eviction).
    base = rss["after 2 cycles"]
    assert final <= base * 1.10, (rss, "VmRSS grew by more than 10%")
    first = rss["first load"]
    assert abs(final - first) <= first * 0.10, rss
    wait_models(d, "mem", loads=200, misses=200, evictions=199, resident=1)


# ---------------------------------------------------------------------------
# 7. URL models


def test_url_models_are_downloaded_into_the_cache(env, served):
    d = env.d
    _, gets, local = served
    cache = env.d.home / "cache" / "url"
    r = ok(d, "url", "lin", x=[[0.0], [2.0]])
    assert r["id"] == "url-lin"
    assert r["y"] == pytest.approx([1.0, 7.0])
    lin_path = Path(r["path"])
    assert lin_path.name == "lin.pkl" and lin_path.is_file(), r
    assert cache in lin_path.parents, (lin_path, cache)

    r = ok(d, "url", "iris", x=IRIS_ROWS)
    assert r["id"] == "url-iris"
    assert r["y"] == local["iris"].predict(IRIS_ROWS).tolist()
    iris_path = Path(r["path"])
    assert iris_path.is_dir() and (iris_path / "model.pkl").is_file(), r
    assert cache in iris_path.parents, (iris_path, cache)
    # one download each (at startup: no cache_size), none per request
    for _ in range(3):
        ok(d, "url", "lin")
    assert sorted(gets) == ["/iris.tar.gz", "/lin.pkl"], gets
    assert (env.d.home / "cache" / "url").is_dir()
    # deleting the API deletes what it downloaded
    d.cli("delete", "url")
    d.wait_for(lambda: not cache.exists(),
               message="GLIA_HOME/cache/url left after delete")


# ---------------------------------------------------------------------------
# 8. polling


def inotify_fds(pid):
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:inotify":
                n += 1
        except OSError:
            pass
    return n


def test_polling_picks_up_a_new_version(env):
    d = env.d
    assert ok(d, "poll", "m")["id"] == "m@1"
    add_version(env, env.models("poll") / "m", 2, "m@2", 1.0, 2.0)
    wait_for(lambda: ok(d, "poll", "m")["id"] == "m@2", timeout=30,
             message="answers from m@2")
    assert ok(d, "poll", "m", 1)["id"] == "m@1"
    # polling indeed: the worker holds no inotify instance, where one that
    # watches (live) does
    assert inotify_fds(one_pid(d, "poll")) == 0
    assert inotify_fds(one_pid(d, "live")) >= 1


# ---------------------------------------------------------------------------
# 9. metrics


def test_model_metrics(env):
    d = env.d
    for name in ("x", "x", "y", "x"):
        assert ok(d, "met", name)["id"] == f"met-{name}"
    # x: miss, hit; y: miss (evicts x); x: miss (evicts y)
    want = {"glia_model_cache_hits_total": 1,
            "glia_model_cache_misses_total": 3,
            "glia_model_evictions_total": 2,
            "glia_models_resident": 1}
    last = {}

    def settled():
        text = last["text"] = metrics_text(d)
        return text if all(metric(text, k, api="met") == v
                           for k, v in want.items()) else None

    text = wait_for(settled, timeout=30,
                    message=f"met's model metrics {want}")
    assert metric(text, "glia_model_loads_total", api="met",
                  result="ok") == 3
    assert metric(text, "glia_model_loads_total", api="met",
                  result="failed") == 0
    count = metric(text, "glia_model_load_duration_seconds_count", api="met")
    total = metric(text, "glia_model_load_duration_seconds_sum", api="met")
    inf = metric(text, "glia_model_load_duration_seconds_bucket", api="met",
                 le="+Inf")
    assert count == 3 and inf == 3, (count, inf)
    assert 0 < total < 10, total
    for family in ("glia_model_cache_hits_total", "glia_models_resident"):
        assert f"# TYPE {family} " in text
    # APIs without models have no model series
    assert metric(text, "glia_model_cache_hits_total", api="plain") is None
    assert 'glia_models_resident{api="plain"}' not in text
    # the other APIs report theirs: route holds its 4 versions
    assert metric(text, "glia_models_resident", api="route") == 4
    detail = models_detail(d, "met")
    assert detail["hits"] == 1 and detail["misses"] == 3
    assert detail["loads"] == 3 and detail["evictions"] == 2
    assert detail["load_seconds_total"] == pytest.approx(total, abs=1e-3)
    assert detail["last_load_failure"] is None
    assert "models" not in d.get("plain")
