"""glia._models.ModelStore, the models a Python predictor serves, in
process: multi-model by name and version, the LRU cache with single-flight
loads, live reloading through rescan() with a fake clock, dir sources, URL
models downloaded from a local HTTP server into the shared disk cache,
the metrics lines and the model repository (index / load / unload).

A fake loader reads model.txt (or the model file), returns a fresh object
for each load, records its calls and raises when the content says
"broken". No daemon is started.
"""
import functools
import http.server
import io
import os
import shutil
import sys
import tarfile
import threading
import time

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "python"))
from glia import _models as gm  # noqa: E402  (from the tree)


@pytest.fixture(autouse=True)
def _require_binary():
    """Overrides conftest's: these tests run without the glia binary."""
    return None


# ---------------------------------------------------------------------------
# fakes


class Loaded:
    def __init__(self, text, path):
        self.text = text
        self.path = path


class FakeLoader:
    def __init__(self, delay=0.0):
        self.delay = delay
        self.calls = []
        self.lock = threading.Lock()

    def __call__(self, path):
        with self.lock:
            self.calls.append(path)
        if self.delay:
            time.sleep(self.delay)
        target = os.path.join(path, "model.txt") if os.path.isdir(path) \
            else path
        with open(target) as f:
            text = f.read()
        if "broken" in text:
            raise ValueError(f"cannot parse {text!r}")
        return Loaded(text, path)

    def count(self, fragment):
        with self.lock:
            return sum(1 for c in self.calls if fragment in c)


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


class Recorder:
    """emit / log / trim sinks."""

    def __init__(self):
        self.lines = []
        self.logs = []
        self.trims = 0

    def emit(self, line):
        self.lines.append(line)

    def log(self, msg):
        self.logs.append(msg)

    def trim(self):
        self.trims += 1


def write_model(root, *parts, text):
    d = root.joinpath(*[str(p) for p in parts])
    d.mkdir(parents=True, exist_ok=True)
    (d / "model.txt").write_text(text)
    return d


def make_store(spec, loader=None, rec=None, clock=None, **kw):
    rec = rec or Recorder()
    spec = dict({"path": None, "paths": None, "dir": None, "cache_size": 0,
                 "disk_cache_size": 0}, **spec)
    store = gm.ModelStore(spec, loader or FakeLoader(), emit=rec.emit,
                          log=rec.log, trim=rec.trim,
                          clock=clock or Clock(), **kw)
    return store, rec


def settle(store, clock):
    """Two rescans a settle period apart, as the watcher does."""
    first = store.rescan()
    clock.t += 1.0
    return first, store.rescan()


# ---------------------------------------------------------------------------
# names and versions


def test_multi_model_by_name_and_version(tmp_path):
    write_model(tmp_path, "a", 1, text="a1")
    write_model(tmp_path, "a", 2, text="a2")
    write_model(tmp_path, "b", text="b")
    (tmp_path / "c.bin").write_text("c")
    loader = FakeLoader()
    store, _ = make_store({"paths": [
        {"name": "a", "path": str(tmp_path / "a")},
        {"name": "b", "path": str(tmp_path / "b")},
        {"name": "c", "path": str(tmp_path / "c.bin")}],
        "cache_size": 4}, loader)
    store.start()
    assert loader.calls == []       # caching: nothing loaded at start
    assert store.names() == ["a", "b", "c"]
    assert store.get_model("a").text == "a2"
    assert store.get_model("a", 1).text == "a1"
    assert store.get_model("a", "2").text == "a2"
    assert store.get_model("a", 1).path == str(tmp_path / "a" / "1")
    assert store.get_model("b").path == str(tmp_path / "b")
    assert store.get_model("c").path == str(tmp_path / "c.bin")
    assert store.get_model("c").text == "c"
    assert store.stats()["loads"] == 4


def test_not_found_messages(tmp_path):
    write_model(tmp_path, "a", 1, text="a1")
    write_model(tmp_path, "a", 2, text="a2")
    write_model(tmp_path, "b", text="b")
    (tmp_path / "a" / "9").mkdir()    # empty: not present yet
    store, _ = make_store({"paths": [
        {"name": "a", "path": str(tmp_path / "a")},
        {"name": "b", "path": str(tmp_path / "b")}], "cache_size": 2})
    store.start()
    cases = [
        (dict(model_name="x"), "model 'x' not found; available: a, b"),
        (dict(), "model_name is required; available: a, b"),
        (dict(model_name="a", model_version=7),
         "model 'a' has no version 7; available: 1, 2"),
        (dict(model_name="a", model_version="9"),
         "model 'a' has no version 9; available: 1, 2"),
        (dict(model_name="b", model_version=1),
         "model 'b' is not versioned; use \"latest\""),
    ]
    for kwargs, message in cases:
        with pytest.raises(gm.ModelNotFound) as e:
            store.get_model(**kwargs)
        assert str(e.value) == message
        assert e.value.status == 404
    with pytest.raises(gm.ModelError) as e:
        store.get_model("a", "newest")
    assert e.value.status == 400


def test_single_path_model(tmp_path, monkeypatch):
    write_model(tmp_path, "m", 3, text="m3")
    monkeypatch.chdir(tmp_path)
    store, _ = make_store({"path": "m"})      # relative to the cwd
    monkeypatch.chdir("/")
    store.start()
    assert store.names() == [None]
    assert store.get_model().text == "m3"
    assert store.get_model(None, 3).path == str(tmp_path / "m" / "3")
    with pytest.raises(gm.ModelNotFound, match="one unnamed model"):
        store.get_model("m")
    assert store.resident() == [(None, 3)]


# ---------------------------------------------------------------------------
# the LRU cache


def test_lru_eviction_order(tmp_path):
    paths = []
    for name in "abc":
        write_model(tmp_path, name, text=name)
        paths.append({"name": name, "path": str(tmp_path / name)})
    loader = FakeLoader()
    store, rec = make_store({"paths": paths, "cache_size": 2}, loader)
    store.start()
    a = store.get_model("a")
    store.get_model("b")
    assert store.resident() == [("a", None), ("b", None)]
    assert store.get_model("a") is a
    assert store.resident() == [("b", None), ("a", None)]
    store.get_model("c")
    assert store.resident() == [("a", None), ("c", None)]
    assert rec.trims == 1
    store.get_model("b")
    assert store.resident() == [("c", None), ("b", None)]
    assert loader.count("/b") == 2 and loader.count("/a") == 1
    s = store.stats()
    assert (s["hits"], s["misses"], s["evictions"], s["resident"]) == \
        (1, 4, 2, 2)


def test_single_load_under_concurrent_misses(tmp_path):
    write_model(tmp_path, "a", 1, text="a1")
    loader = FakeLoader(delay=0.2)
    store, _ = make_store({"paths": [{"name": "a",
                                      "path": str(tmp_path / "a")}],
                           "cache_size": 1}, loader)
    store.start()
    barrier = threading.Barrier(8)
    got = [None] * 8

    def worker(i):
        barrier.wait()
        got[i] = store.get_model("a")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(loader.calls) == 1
    assert all(g is got[0] for g in got) and got[0].text == "a1"
    s = store.stats()
    assert s["hits"] + s["misses"] == 8 and s["misses"] >= 1
    assert s["loads"] == 1


def test_failed_load_reaches_every_waiter(tmp_path):
    write_model(tmp_path, "a", 1, text="broken")
    loader = FakeLoader(delay=0.1)
    store, rec = make_store({"paths": [{"name": "a",
                                        "path": str(tmp_path / "a")}],
                             "cache_size": 1}, loader)
    store.start()
    errors = []

    def worker():
        try:
            store.get_model("a", 1)
        except gm.ModelLoadError as e:
            errors.append(str(e))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(loader.calls) == 1 and len(errors) == 4
    assert errors[0].startswith("model 'a' version 1 failed to load: "
                                "ValueError: cannot parse")
    assert any("Traceback" in m for m in rec.logs)
    assert rec.lines[0].startswith("load failed ") and \
        " a 1 ValueError: cannot parse" in rec.lines[0]


# ---------------------------------------------------------------------------
# live reloading


def versioned_store(tmp_path, cache_size, versions=(1, 2), loader=None):
    for v in versions:
        write_model(tmp_path, "a", v, text=f"a{v}")
    clock = Clock()
    store, rec = make_store({"paths": [{"name": "a",
                                        "path": str(tmp_path / "a")}],
                             "cache_size": cache_size},
                            loader or FakeLoader(), clock=clock)
    store.start()
    return store, rec, clock


def test_rescan_new_version_after_settle(tmp_path):
    store, rec, clock = versioned_store(tmp_path, 0)
    assert store.resident() == [("a", 1), ("a", 2)]    # eager
    dirs, wait = store.rescan()
    assert wait is None
    assert dirs == sorted(str(tmp_path / "a" / p) for p in ("", "1", "2"))
    write_model(tmp_path, "a", 3, text="a3")
    dirs, wait = store.rescan()
    assert wait == pytest.approx(0.5)
    assert str(tmp_path / "a" / "3") in dirs
    assert store.get_model("a").text == "a2"           # not settled yet
    clock.t += 0.2
    assert store.rescan()[1] == pytest.approx(0.3)
    clock.t += 0.4
    assert store.rescan()[1] is None
    assert store.get_model("a").text == "a3"
    assert store.get_model("a", 2).text == "a2"
    assert any(line.startswith("load ok ") and line.endswith(" a 3")
               for line in rec.lines)


def test_rescan_changed_file_restarts_settle(tmp_path):
    store, rec, clock = versioned_store(tmp_path, 0)
    write_model(tmp_path, "a", 3, text="a3-partial")
    store.rescan()
    clock.t += 0.4
    (tmp_path / "a" / "3" / "model.txt").write_text("a3-complete")
    assert store.rescan()[1] == pytest.approx(0.5)     # changed: wait again
    clock.t += 0.4
    store.rescan()
    assert store.get_model("a").text == "a2"
    clock.t += 0.2
    store.rescan()
    assert store.get_model("a").text == "a3-complete"


def test_rescan_removed_version_is_404(tmp_path):
    store, rec, clock = versioned_store(tmp_path, 0, versions=(1, 2, 3))
    shutil.rmtree(tmp_path / "a" / "3")
    store.rescan()
    with pytest.raises(gm.ModelNotFound, match="has no version 3"):
        store.get_model("a", 3)
    assert store.get_model("a").text == "a2"
    assert store.resident() == [("a", 1), ("a", 2)]
    assert rec.trims >= 1


def test_broken_new_version_keeps_old_serving(tmp_path):
    loader = FakeLoader()
    store, rec, clock = versioned_store(tmp_path, 0, loader=loader)
    write_model(tmp_path, "a", 3, text="broken")
    settle(store, clock)
    assert loader.count("/a/3") == 1
    assert any(line.startswith("load failed ") and " a 3 " in line
               for line in rec.lines)
    assert store.get_model("a").text == "a2"
    with pytest.raises(gm.ModelLoadError, match="version 3 failed to load"):
        store.get_model("a", 3)
    settle(store, clock)                               # unchanged: no retry
    assert loader.count("/a/3") == 1
    (tmp_path / "a" / "3" / "model.txt").write_text("a3-fixed")
    settle(store, clock)
    assert loader.count("/a/3") == 2
    assert store.get_model("a").text == "a3-fixed"


def test_changed_version_is_swapped_in(tmp_path):
    store, rec, clock = versioned_store(tmp_path, 0)
    old = store.get_model("a")
    (tmp_path / "a" / "2" / "model.txt").write_text("a2-retrained")
    store.rescan()
    assert store.get_model("a") is old                 # until the swap
    clock.t += 1
    store.rescan()
    assert store.get_model("a").text == "a2-retrained"


def test_cache_mode_broken_latest_falls_back(tmp_path):
    write_model(tmp_path, "a", 1, text="a1")
    write_model(tmp_path, "a", 2, text="broken")
    loader = FakeLoader()
    store, rec = make_store({"paths": [{"name": "a",
                                        "path": str(tmp_path / "a")}],
                             "cache_size": 2}, loader)
    store.start()
    assert store.get_model("a").text == "a1"
    assert [os.path.basename(c) for c in loader.calls] == ["2", "1"]
    assert store.get_model("a").text == "a1"
    with pytest.raises(gm.ModelLoadError) as e:
        store.get_model("a", 2)
    assert e.value.status == 500
    assert len(loader.calls) == 2                      # not retried
    rows = {r["version"]: r for r in store.index()}
    assert rows["1"]["state"] == "READY"
    assert rows["2"]["state"] == "UNAVAILABLE"
    assert rows["2"]["reason"].startswith("failed to load: ValueError")


def test_cache_mode_preloads_new_latest_when_resident(tmp_path):
    loader = FakeLoader()
    store, rec, clock = versioned_store(tmp_path, 2, versions=(1,),
                                        loader=loader)
    assert store.resident() == []
    store.get_model("a")
    write_model(tmp_path, "a", 2, text="a2")
    settle(store, clock)
    assert store.resident() == [("a", 1), ("a", 2)]    # preloaded
    assert store.get_model("a").text == "a2"
    calls = len(loader.calls)
    store.unload("a")
    store.load("a")
    assert len(loader.calls) == calls + 1
    write_model(tmp_path, "a", 3, text="a3")
    store.unload("a")
    settle(store, clock)
    assert len(loader.calls) == calls + 1              # not resident


def test_dir_mode_picks_up_new_model(tmp_path):
    write_model(tmp_path, "m1", 1, text="m1")
    (tmp_path / ".hidden").mkdir()
    clock = Clock()
    store, rec = make_store({"dir": str(tmp_path), "cache_size": 0},
                            clock=clock)
    store.start()
    assert store.names() == ["m1"]
    write_model(tmp_path, "m2", text="m2")
    write_model(tmp_path, "bad name", text="x")
    store.rescan()
    assert store.get_model("m1").text == "m1"
    clock.t += 1
    dirs, wait = store.rescan()
    assert store.names() == ["m1", "m2"]
    assert store.get_model("m2").text == "m2"
    assert str(tmp_path) in dirs and str(tmp_path / "m2") in dirs
    assert sum("bad name" in m for m in rec.logs) == 1
    shutil.rmtree(tmp_path / "m1")
    store.rescan()
    with pytest.raises(gm.ModelNotFound, match="'m1' not found"):
        store.get_model("m1")
    assert store.resident() == [("m2", None)]


def test_startup_errors(tmp_path):
    write_model(tmp_path, "a", 1, text="a1")
    store, _ = make_store({"paths": [
        {"name": "a", "path": str(tmp_path / "a")},
        {"name": "b", "path": str(tmp_path / "nope")}]})
    with pytest.raises(gm.StartupError) as e:
        store.start()
    assert str(e.value) == (f"predictor.models.paths[1].path: "
                            f"{tmp_path / 'nope'} does not exist")
    store, _ = make_store({"dir": str(tmp_path / "missing")})
    with pytest.raises(gm.StartupError, match="predictor.models.dir"):
        store.start()
    write_model(tmp_path, "a", 2, text="broken")
    store, _ = make_store({"paths": [{"name": "a",
                                      "path": str(tmp_path / "a")}]})
    with pytest.raises(gm.StartupError) as e:
        store.start()
    assert "model 'a' version 2 failed to load: ValueError" in str(e.value)


def test_rescan_never_raises(tmp_path):
    store, rec, clock = versioned_store(tmp_path, 0)

    def bad_scan(*a, **k):
        raise RuntimeError("disk on fire")

    store._scan_all = bad_scan
    dirs, wait = store.rescan()
    assert dirs and wait
    assert any("disk on fire" in m for m in rec.logs)


# ---------------------------------------------------------------------------
# URL models


@pytest.fixture
def http_root(tmp_path):
    """(root dir served, base URL, hit counter) of a local HTTP server."""
    root = tmp_path / "www"
    root.mkdir()
    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def make_tgz(path, members):
    with tarfile.open(path, "w:gz") as t:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


def test_url_models_download_once(tmp_path, http_root):
    root, base, hits = http_root
    (root / "weights.bin").write_text("file-model")
    make_tgz(root / "bundle.tar.gz", {"bundle/model.txt": "tgz-model",
                                      "bundle/extra.txt": "x"})
    cache = tmp_path / "cache"
    spec = {"paths": [{"name": "f", "path": f"{base}/weights.bin"},
                      {"name": "t", "path": f"{base}/bundle.tar.gz"}],
            "cache_size": 2, "disk_cache_size": 5}
    store, _ = make_store(spec, cache_dir=str(cache))
    store.start()
    f = store.get_model("f")
    assert f.text == "file-model"
    assert os.path.basename(f.path) == "weights.bin"
    assert f.path.startswith(str(cache) + os.sep)
    t = store.get_model("t")
    assert t.text == "tgz-model"
    assert os.path.basename(t.path) == "bundle"        # single top dir
    assert len(hits) == 2
    with pytest.raises(gm.ModelNotFound, match="not versioned"):
        store.get_model("t", 1)
    other, _ = make_store(spec, cache_dir=str(cache))
    other.start()
    assert other.get_model("f").text == "file-model"
    assert other.get_model("t").text == "tgz-model"
    assert len(hits) == 2                              # reused the cache
    assert store.rescan()[0] == []                     # nothing to watch


def test_url_disk_cache_evicts_lru(tmp_path, http_root):
    root, base, hits = http_root
    for name in "xyz":
        (root / f"{name}.bin").write_text(name)
    cache = tmp_path / "cache"
    spec = {"paths": [{"name": n, "path": f"{base}/{n}.bin"} for n in "xyz"],
            "cache_size": 1, "disk_cache_size": 2}
    store, _ = make_store(spec, cache_dir=str(cache))
    store.start()
    for name in ("x", "y", "x", "z"):       # x reused after y: y is LRU
        assert store.get_model(name).text == name
    assert hits == ["/x.bin", "/y.bin", "/z.bin"]
    entries = [e for e in os.listdir(cache)
               if os.path.isdir(cache / e)]
    assert len(entries) == 2
    assert store.get_model("y").text == "y"
    assert hits[-1] == "/y.bin"


def test_url_errors_are_load_failures(tmp_path, http_root):
    root, base, hits = http_root
    make_tgz(root / "evil.tgz", {"../evil.txt": "x"})
    spec = {"paths": [{"name": "missing", "path": f"{base}/missing.bin"},
                      {"name": "evil", "path": f"{base}/evil.tgz"}],
            "cache_size": 2}
    store, rec = make_store(spec, cache_dir=str(tmp_path / "cache"))
    store.start()
    with pytest.raises(gm.ModelLoadError, match="HTTPError"):
        store.get_model("missing")
    with pytest.raises(gm.ModelLoadError, match="unsafe archive member"):
        store.get_model("evil")
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "cache" / "evil.txt").exists()


def add_member(t, name, data=b"", **fields):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in fields.items():
        setattr(info, key, value)
    t.addfile(info, io.BytesIO(data) if data else None)


def url_store(tmp_path, base, *names):
    spec = {"paths": [{"name": n.split(".")[0], "path": f"{base}/{n}"}
                      for n in names], "cache_size": len(names)}
    store, rec = make_store(spec, cache_dir=str(tmp_path / "cache"))
    store.start()
    return store


def test_archive_modes_are_safe_and_never_chowned(tmp_path, http_root):
    """Issue 13, item 6: a setuid root file came out -rwsrwxrwx root."""
    root, base, _ = http_root
    with tarfile.open(root / "suid.tgz", "w:gz") as t:
        add_member(t, "m", type=tarfile.DIRTYPE, mode=0o3777, uid=0)
        add_member(t, "m/model.txt", b"suid", mode=0o4777, uid=0,
                   gid=0, uname="root", gname="root")
        add_member(t, "m/data.bin", b"d", mode=0o2666, uid=4242, gid=4242)
        add_member(t, "m/alias.txt", type=tarfile.SYMTYPE,
                   linkname="model.txt")
        add_member(t, "m/copy.txt", type=tarfile.LNKTYPE,
                   linkname="m/model.txt", mode=0o6755, uid=4242)
    model = url_store(tmp_path, base, "suid.tgz").get_model("suid")
    assert model.text == "suid"
    m = model.path
    modes = {n: os.lstat(os.path.join(m, n)) for n in
             (".", "model.txt", "data.bin", "copy.txt")}
    assert oct(modes["."].st_mode & 0o7777) == oct(0o755)
    assert oct(modes["model.txt"].st_mode & 0o7777) == oct(0o755)
    assert oct(modes["data.bin"].st_mode & 0o7777) == oct(0o644)
    assert oct(modes["copy.txt"].st_mode & 0o7777) == oct(0o755)
    assert {s.st_uid for s in modes.values()} == {os.getuid()}
    assert {s.st_gid for s in modes.values()} == {os.getgid()}
    assert os.readlink(os.path.join(m, "alias.txt")) == "model.txt"


def test_archive_links_out_are_refused(tmp_path, http_root):
    root, base, _ = http_root
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    archives = {
        "rel.tgz": [("m/x", dict(type=tarfile.SYMTYPE,
                                 linkname="../../../victim.txt"))],
        "abs.tgz": [("m/x", dict(type=tarfile.SYMTYPE,
                                 linkname=str(victim)))],
        "hard.tgz": [("m/x", dict(type=tarfile.LNKTYPE,
                                  linkname="../victim.txt"))],
        # a file planted where a link to outside is: not followed
        "via.tgz": [("m/d", dict(type=tarfile.SYMTYPE, linkname="..")),
                    ("m/d/d", dict(type=tarfile.SYMTYPE,
                                   linkname="../victim.txt"))],
    }
    for name, members in archives.items():
        with tarfile.open(root / name, "w:gz") as t:
            for member, fields in members:
                add_member(t, member, b"" if fields else b"evil",
                           **fields)
    store = url_store(tmp_path, base, *archives)
    for name in archives:
        with pytest.raises(gm.ModelLoadError, match="refusing"):
            store.get_model(name.split(".")[0])
    assert victim.read_text() == "keep"


def test_archive_bombs_are_refused(tmp_path, http_root, monkeypatch):
    """A small archive that expands past GLIA_MODEL_MAX_EXTRACT_BYTES
    (a 4.6 MB archive became 1 GiB) is a load error, its entry removed."""
    import zipfile
    root, base, _ = http_root
    zeros = bytes(1 << 20)
    with tarfile.open(root / "bomb.tgz", "w:gz") as t:
        add_member(t, "m/model.txt", zeros)
    with zipfile.ZipFile(root / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("m/model.txt", zeros)
    assert os.path.getsize(root / "bomb.tgz") < 10000
    (root / "big.bin").write_bytes(bytes(5000))
    monkeypatch.setenv("GLIA_MODEL_MAX_EXTRACT_BYTES", "100000")
    monkeypatch.setenv("GLIA_MODEL_MAX_DOWNLOAD_BYTES", "4096")
    store = url_store(tmp_path, base, "bomb.tgz", "bomb.zip", "big.bin")
    for name in ("bomb.tgz", "bomb.zip"):
        with pytest.raises(gm.ModelLoadError,
                           match="expands past 100000 bytes "
                                 r"\(GLIA_MODEL_MAX_EXTRACT_BYTES\)"):
            store.get_model("bomb")
        store = url_store(tmp_path, base, "bomb.zip")
    with pytest.raises(gm.ModelLoadError,
                       match="larger than 4096 bytes "
                             r"\(GLIA_MODEL_MAX_DOWNLOAD_BYTES\)"):
        url_store(tmp_path, base, "big.bin").get_model("big")
    assert [e for e in os.listdir(tmp_path / "cache")
            if not e.endswith(".lock")] == []
    # a written size past what the archive declares is counted too
    budget = gm._Budget(10)
    with pytest.raises(OSError, match="expands past 10 bytes"):
        gm._write_member(str(tmp_path / "out"), io.BytesIO(bytes(11)),
                         0o644, budget)


def test_size_caps_must_be_byte_counts(tmp_path, monkeypatch):
    monkeypatch.setenv("GLIA_MODEL_MAX_EXTRACT_BYTES", "10G")
    with pytest.raises(gm.StartupError, match="GLIA_MODEL_MAX_EXTRACT"):
        make_store({"path": str(tmp_path)})


# ---------------------------------------------------------------------------
# metrics and the model repository


def test_flush_stats_deltas(tmp_path):
    store, rec, clock = versioned_store(tmp_path, 1)
    store.flush_stats()
    assert rec.lines == []                              # nothing yet
    store.get_model("a")
    store.get_model("a")
    store.get_model("a", 1)
    rec.lines.clear()
    store.flush_stats()
    assert rec.lines == ["models 1 2 1 1"]
    store.flush_stats()
    assert rec.lines == ["models 1 2 1 1"]              # unchanged
    store.get_model("a", 1)
    store.flush_stats()
    assert rec.lines[-1] == "models 1 0 0 1"
    s = store.stats()
    assert (s["hits"], s["misses"], s["loads"], s["evictions"]) == \
        (2, 2, 2, 1)


def test_index_load_unload(tmp_path):
    write_model(tmp_path, "a", 1, text="a1")
    write_model(tmp_path, "a", 2, text="a2")
    write_model(tmp_path, "b", text="b")
    store, _ = make_store({"paths": [
        {"name": "b", "path": str(tmp_path / "b")},
        {"name": "a", "path": str(tmp_path / "a")}], "cache_size": 3})
    store.start()
    assert store.index() == [
        {"name": "a", "version": "1", "state": "UNAVAILABLE",
         "reason": "not loaded"},
        {"name": "a", "version": "2", "state": "UNAVAILABLE",
         "reason": "not loaded"},
        {"name": "b", "version": "", "state": "UNAVAILABLE",
         "reason": "not loaded"}]
    store.load("a")
    assert [r["state"] for r in store.index()] == \
        ["UNAVAILABLE", "READY", "UNAVAILABLE"]
    store.get_model("a", 1)
    store.unload("a")
    assert store.resident() == []
    with pytest.raises(gm.ModelUnavailable) as e:
        store.get_model("a")
    assert e.value.status == 503
    assert str(e.value) == "model 'a' is unloaded; load it first"
    assert {r["reason"] for r in store.index() if r["name"] == "a"} == \
        {"unloaded"}
    store.load("a")
    assert store.get_model("a").text == "a2"
    with pytest.raises(gm.ModelNotFound):
        store.unload("zzz")
    with pytest.raises(gm.ModelNotFound):
        store.load("zzz")


def test_index_shows_loading(tmp_path):
    write_model(tmp_path, "a", text="a")
    loader = FakeLoader(delay=0.3)
    store, _ = make_store({"paths": [{"name": "a",
                                      "path": str(tmp_path / "a")}],
                           "cache_size": 1}, loader)
    store.start()
    t = threading.Thread(target=store.get_model, args=("a",))
    t.start()
    deadline = time.monotonic() + 5
    while not loader.calls and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.index()[0]["state"] == "LOADING"
    t.join(5)
    assert store.index()[0]["state"] == "READY"


def test_latest_stays_on_the_resident_version_while_the_new_one_preloads(
        tmp_path):
    """With caching, a request for "latest" during the watcher's preload of
    a new version is answered by the version in memory (were it to wait
    for the preload, it would get a2 once the load is released)."""
    started, release = threading.Event(), threading.Event()
    base = FakeLoader()

    def loader(path):
        if path.endswith(os.sep + "2"):
            started.set()
            release.wait(30)
        return base(path)

    store, rec, clock = versioned_store(tmp_path, 2, versions=(1,),
                                        loader=loader)
    assert store.get_model("a").text == "a1"
    write_model(tmp_path, "a", 2, text="a2")
    store.rescan()
    clock.t += 1.0
    scan = threading.Thread(target=store.rescan)  # preloads version 2
    scan.start()
    assert started.wait(30)
    try:
        assert store.get_model("a").text == "a1"
    finally:
        release.set()
        scan.join(30)
    assert store.get_model("a").text == "a2"


def test_nested_directories_of_a_version_are_watched(tmp_path):
    write_model(tmp_path, "a", 1, text="a1")
    deep = tmp_path / "a" / "1" / "variables" / "shard"
    deep.mkdir(parents=True)
    (deep / "w.bin").write_bytes(b"x")
    store, _ = make_store({"path": str(tmp_path / "a")})
    store.start()
    dirs, _ = store.rescan()
    assert str(deep) in dirs and str(deep.parent) in dirs
    assert str(tmp_path / "a" / "1") in dirs and str(tmp_path / "a") in dirs
