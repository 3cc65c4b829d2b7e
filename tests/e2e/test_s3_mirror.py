"""glia._models' S3 mirror in process, against a fake bucket (the real
server and the signing are in test_s3_models.py): keys that would leave
the mirror are skipped, unchanged objects (same ETag) are not downloaded
again, deleted objects disappear, the poll follows GLIA_S3_POLL_INTERVAL
and a failing poll keeps what was mirrored serving. A single object is
polled by its ETag: a new one is downloaded into a new cache entry and
reloaded while the old copy serves. No daemon is started.
"""
import os
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "python"))
from glia import _models as gm  # noqa: E402  (from the tree)


@pytest.fixture(autouse=True)
def _require_binary():
    """Overrides conftest's: these tests run without the glia binary."""
    return None


class FakeS3:
    """Objects of one bucket: key -> (data, etag, mtime)."""

    def __init__(self, bucket="b"):
        self.bucket = bucket
        self.objects = {}
        self.fetches = []
        self.failing = None

    def put(self, key, data, etag=None):
        self.objects[key] = (data, etag or f'"{hash(data) & 0xffff:x}"',
                             1700000000 + len(self.objects))

    def _key(self, url):
        assert url.startswith(f"s3://{self.bucket}")
        return url[len(f"s3://{self.bucket}/"):]

    def list(self, url, max_keys=0, page_keys=0):
        if self.failing:
            raise OSError(self.failing)
        prefix = self._key(url)
        out = [(k, len(v[0]), v[1], v[2])
               for k, v in sorted(self.objects.items())
               if k.startswith(prefix)]
        return out[:max_keys] if max_keys else out

    def head(self, url):
        if self.failing:
            raise OSError(self.failing)
        obj = self.objects.get(self._key(url))
        return None if obj is None else (len(obj[0]), obj[1], obj[2])

    def fetch(self, url, dest, max_bytes=0):
        self.fetches.append(self._key(url))
        with open(dest, "wb") as f:
            f.write(self.objects[self._key(url)][0])


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def loader(path):
    target = os.path.join(path, "model.txt") if os.path.isdir(path) else path
    with open(target) as f:
        return f.read()


def make_store(tmp_path, s3, spec, logs, clock):
    spec = dict({"path": None, "paths": None, "dir": None, "cache_size": 0,
                 "disk_cache_size": 0}, **spec)
    return gm.ModelStore(spec, loader, cache_dir=str(tmp_path / "cache"),
                         fetch=s3.fetch, s3_list=s3.list, s3_head=s3.head,
                         log=logs.append, clock=clock, settle=0.5,
                         trim=lambda: None)


def poll(store, clock, seconds):
    """A rescan after seconds, then one a settle period later."""
    clock.t += seconds
    store.rescan()
    clock.t += 1.0
    return store.rescan()


def test_mirror_skips_unsafe_keys_and_fetches_only_changes(tmp_path,
                                                           monkeypatch):
    monkeypatch.setenv("GLIA_S3_POLL_INTERVAL", "5")
    s3, logs, clock = FakeS3(), [], Clock()
    s3.put("m/1/model.txt", b"one")
    s3.put("m/2/model.txt", b"two")
    s3.put("m/2/", b"")                          # a "folder" marker
    s3.put("m/../escape", b"x")
    s3.put("m/2//model.txt", b"x")
    s3.put("m/2/./y", b"x")
    s3.put("m/2/a", b"file")                     # also a prefix: skipped
    s3.put("m/2/a/b", b"under")
    store = make_store(tmp_path, s3, {"path": "s3://b/m"}, logs, clock)
    store.start()
    assert store.get_model(None, "latest") == "two"
    assert store.get_model(None, 1) == "one"
    assert sorted(s3.fetches) == ["m/1/model.txt", "m/2/a/b",
                                  "m/2/model.txt"]
    assert not (tmp_path / "escape").exists()
    assert not any("escape" in f for _, _, fs in os.walk(tmp_path)
                   for f in fs)
    skipped = [m for m in logs if m.startswith("skipping")]
    assert len(skipped) == 4, logs
    assert any("objects exist under 2/a/ too" in m for m in skipped)
    # a poll before the interval lists nothing; after it, nothing changed:
    # nothing downloaded again
    s3.fetches.clear()
    s3.put("m/3/model.txt", b"three")
    clock.t += 1
    store.rescan()
    assert s3.fetches == []
    s3.objects.pop("m/3/model.txt")
    poll(store, clock, 5)
    assert s3.fetches == []
    # a changed object (new ETag) is fetched, alone; a deleted one goes
    s3.put("m/2/model.txt", b"TWO", etag='"new"')
    s3.objects.pop("m/1/model.txt")
    poll(store, clock, 5)
    assert s3.fetches == ["m/2/model.txt"]
    assert store.get_model(None, "latest") == "TWO"
    with pytest.raises(gm.ModelNotFound):
        store.get_model(None, 1)
    mirror = tmp_path / "cache" / [n for n in os.listdir(tmp_path / "cache")
                                   if n.startswith("s3-") and "." not in n][0]
    assert sorted(os.listdir(mirror)) == ["2"]


def test_a_failing_poll_keeps_the_mirror_serving(tmp_path, monkeypatch):
    monkeypatch.setenv("GLIA_S3_POLL_INTERVAL", "2")
    s3, logs, clock = FakeS3(), [], Clock()
    s3.put("m/a/1/model.txt", b"a1")
    store = make_store(tmp_path, s3, {"dir": "s3://b/m/"}, logs, clock)
    watch = store.start()
    assert store.get_model("a", "latest") == "a1"
    assert watch == []                  # a mirror is polled, not watched
    s3.failing = "s3://b/m/: AccessDenied: Access Denied (HTTP 403)"
    _, wait = poll(store, clock, 2)
    assert 0 < wait <= 2
    assert store.get_model("a", "latest") == "a1"
    failed = [m for m in logs if m.startswith("S3 poll failed")]
    assert failed == ["S3 poll failed (serving what was mirrored): "
                      "predictor.models.dir: s3://b/m/: AccessDenied: "
                      "Access Denied (HTTP 403)"]
    poll(store, clock, 2)
    assert len([m for m in logs if m.startswith("S3 poll failed")]) == 1
    s3.failing = None
    s3.put("m/b/model.txt", b"b")
    poll(store, clock, 2)
    assert "S3 poll works again" in logs
    assert store.get_model("b", "latest") == "b"


def test_startup_errors_name_the_field_and_url(tmp_path):
    s3, logs, clock = FakeS3(), [], Clock()
    s3.put("m/1/model.txt", b"one")
    with pytest.raises(gm.StartupError) as e:
        make_store(tmp_path, s3, {"paths": [
            {"name": "x", "path": "s3://b/m"},
            {"name": "y", "path": "s3://b/nothing"}]}, logs, clock).start()
    assert str(e.value) == ("predictor.models.paths[1].path: s3://b/nothing: "
                            "no such object, and no objects under "
                            "s3://b/nothing/")
    with pytest.raises(gm.StartupError) as e:
        make_store(tmp_path, s3, {"dir": "s3://b/empty/"}, logs,
                   clock).start()
    assert str(e.value) == ("predictor.models.dir: s3://b/empty/: no "
                            "objects under this prefix")
    s3.failing = "s3://b/m/: NoSuchBucket: gone (HTTP 404)"
    with pytest.raises(gm.StartupError) as e:
        make_store(tmp_path, s3, {"path": "s3://b/m/"}, logs, clock).start()
    assert str(e.value) == ("predictor.models.path: s3://b/m/: NoSuchBucket: "
                            "gone (HTTP 404)")


def entries(tmp_path):
    """The complete download cache entries (not mirrors)."""
    cache = tmp_path / "cache"
    return sorted(n for n in os.listdir(cache)
                  if (cache / n / gm.MARKER).exists())


def test_a_single_object_is_reloaded_when_its_etag_changes(tmp_path,
                                                           monkeypatch):
    monkeypatch.setenv("GLIA_S3_POLL_INTERVAL", "5")
    s3, logs, clock = FakeS3(), [], Clock()
    s3.put("obj/model.txt", b"one", etag='"e1"')
    store = make_store(tmp_path, s3, {"path": "s3://b/obj/model.txt"},
                       logs, clock)
    assert store.start() == []          # polled, not watched
    assert store.get_model() == "one"
    assert s3.fetches == ["obj/model.txt"]
    # an unchanged ETag: polled, nothing downloaded again
    _, wait = poll(store, clock, 5)
    assert s3.fetches == ["obj/model.txt"] and 0 < wait <= 5
    assert entries(tmp_path) and len(entries(tmp_path)) == 1
    # a new ETag: downloaded into a new entry while the old copy serves
    seen = []
    fetch = s3.fetch

    def fetch_checking(url, dest, max_bytes=0):
        seen.append(store.get_model())
        fetch(url, dest, max_bytes)

    store._fetch = fetch_checking
    s3.put("obj/model.txt", b"two", etag='"e2"')
    clock.t += 5
    store.rescan()                      # seen once: settling
    assert store.get_model() == "one" and seen == []
    clock.t += 1.0
    store.rescan()
    assert seen == ["one"]
    assert store.get_model() == "two"
    assert s3.fetches == ["obj/model.txt"] * 2
    assert len(entries(tmp_path)) == 2  # no disk_cache_size: both kept
    assert any("the model changed at s3://b/obj/model.txt" in m
               for m in logs), logs


def test_an_object_without_etag_is_polled_by_last_modified(tmp_path,
                                                           monkeypatch):
    monkeypatch.setenv("GLIA_S3_POLL_INTERVAL", "5")
    s3, logs, clock = FakeS3(), [], Clock()
    s3.objects["m.txt"] = (b"one", "", 1700000000)
    store = make_store(tmp_path, s3, {"path": "s3://b/m.txt"}, logs, clock)
    store.start()
    assert store.get_model() == "one"
    s3.objects["m.txt"] = (b"two", "", 1700000060)
    poll(store, clock, 5)
    assert store.get_model() == "two"


def test_an_old_object_copy_ages_out_under_disk_cache_size(tmp_path,
                                                           monkeypatch):
    monkeypatch.setenv("GLIA_S3_POLL_INTERVAL", "5")
    s3, logs, clock = FakeS3(), [], Clock()
    s3.put("obj/model.txt", b"one", etag='"e1"')
    store = make_store(tmp_path, s3, {"path": "s3://b/obj/model.txt",
                                      "cache_size": 1,
                                      "disk_cache_size": 1}, logs, clock)
    store.start()
    assert store.get_model() == "one"
    first = entries(tmp_path)
    s3.put("obj/model.txt", b"two", etag='"e2"')
    poll(store, clock, 5)
    assert store.get_model() == "two"   # reloaded while resident
    assert len(entries(tmp_path)) == 1 and entries(tmp_path) != first
    assert any("disk cache: removed" in m for m in logs), logs


def test_a_failing_head_is_logged_once_and_the_old_copy_serves(
        tmp_path, monkeypatch):
    monkeypatch.setenv("GLIA_S3_POLL_INTERVAL", "2")
    s3, logs, clock = FakeS3(), [], Clock()
    s3.put("obj/model.txt", b"one", etag='"e1"')
    store = make_store(tmp_path, s3, {"paths": [
        {"name": "o", "path": "s3://b/obj/model.txt"}]}, logs, clock)
    store.start()
    s3.failing = "s3://b/obj/model.txt: SlowDown: Reduce (HTTP 503)"
    poll(store, clock, 2)
    poll(store, clock, 2)
    failed = [m for m in logs if m.startswith("S3 poll failed")]
    assert failed == ["S3 poll failed (serving what was mirrored): "
                      "predictor.models.paths[0].path: s3://b/obj/"
                      "model.txt: SlowDown: Reduce (HTTP 503)"]
    assert store.get_model("o") == "one"
    # a deleted object: logged, the copy loaded keeps serving
    s3.failing = None
    s3.objects.pop("obj/model.txt")
    poll(store, clock, 2)
    assert logs[-1].endswith("s3://b/obj/model.txt: no such object"), logs
    assert store.get_model("o") == "one"
    s3.put("obj/model.txt", b"back", etag='"e2"')
    poll(store, clock, 2)
    assert "S3 poll works again" in logs
    assert store.get_model("o") == "back"


def test_a_failed_download_of_a_new_copy_is_tried_again(tmp_path,
                                                        monkeypatch):
    monkeypatch.setenv("GLIA_S3_POLL_INTERVAL", "2")
    s3, logs, clock = FakeS3(), [], Clock()
    s3.put("obj/model.txt", b"one", etag='"e1"')
    store = make_store(tmp_path, s3, {"path": "s3://b/obj/model.txt"},
                       logs, clock)
    store.start()
    fetch, fails = s3.fetch, [1]

    def flaky(url, dest, max_bytes=0):
        if fails:
            fails.pop()
            raise OSError(f"{url}: InternalError (HTTP 500)")
        fetch(url, dest, max_bytes)

    store._fetch = flaky
    s3.put("obj/model.txt", b"two", etag='"e2"')
    poll(store, clock, 2)
    assert not fails and store.get_model() == "one"
    assert any("InternalError" in m for m in logs), logs
    poll(store, clock, 2)
    assert store.get_model() == "two"
