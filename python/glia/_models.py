"""The models a Python predictor serves (Cortex-style multi-model endpoints).

A replica holds one ModelStore. The predictor's load_model(model_path) is
the store's loader; user code calls python_client.get_model(model_name,
model_version) and gets what load_model returned, loading it on a miss.

Sources (the spec's `predictor.models`, exactly one of):
  path   one model, named None;
  paths  [{name, path}], named models;
  dir    every non-hidden subdirectory of dir is a model of that name.
A local model is a file or a directory. A directory with subdirectories
named by digits is versioned (empty version directories are not present
yet; "latest" is the highest usable version); otherwise it is unversioned
and its only version is None. http(s):// paths are unversioned and are
downloaded on first load into cache_dir/<sha256(url)[:16]>/ (archives are
extracted), shared across processes with an flock and a .complete marker,
and bounded to disk_cache_size entries (least recently used go first).

s3://bucket/key locations (the C side, _glia_native, lists and signs): a
prefix that holds objects (key + "/...") is a directory, mirrored into
cache_dir/s3-<sha256(url)[:16]>/ (objects downloaded to a temporary name
and renamed in, mtimes from LastModified, an index of ETags so unchanged
objects are not downloaded again, objects no longer listed removed, an
flock shared by the processes of a replica) and then scanned like a local
directory; a single object is downloaded like an http(s) URL, into an
entry keyed by the URL and its ETag (Last-Modified without one). A
models.dir prefix mirrors all of its models. The mirrors are synced and
the objects' ETags read (HEAD) at start (an error fails it) and then
every GLIA_S3_POLL_INTERVAL seconds (default 10) by rescan(), and also
while a version is settling: a new ETag is a new fingerprint, so the
object is downloaded again and reloaded while the old copy serves. An
error while polling is logged and what was loaded keeps serving.

cache_size N > 0: an LRU of N (name, version) entries loaded on demand,
one load per key at a time (single flight), the loader run without the
store lock; a failed "latest" falls back to the next highest version.
cache_size 0: every version of every model is loaded at start().

rescan() (called by the watcher thread) re-reads the local sources: a new
or changed version is taken once its fingerprint (files, sizes, mtimes)
was stable for `settle` seconds; removed versions and models are dropped.
A version that fails to load is remembered as broken until its files
change, and the previous version keeps serving; a URL model whose download
failed (a full disk, a server down) is not: the next request tries again.

Metrics lines go through emit(): "load ok <s> <name> <version>" or
"load failed <s> <name> <version> <reason>"
after each load and "models <hits> <misses> <evictions> <resident>" from
flush_stats(). index() / load() / unload() back the Open Inference
Protocol model repository extension.
"""

import collections
import fcntl
import gc
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import traceback

NAME_RE = re.compile(r"[A-Za-z0-9_-]+\Z")
DIGITS_RE = re.compile(r"[0-9]+\Z")
WALK_LIMIT = 10000
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
MARKER = ".complete"
LOG_PREFIX = "glia: models: "
FETCH_CHUNK = 1 << 20
MAX_BYTES = 10 << 30      # download and extracted size caps: 10 GiB


# ---------------------------------------------------------------------------
# errors


class ModelError(Exception):
    """A get_model / repository error; `status` is the HTTP status."""

    status = 500

    def __init__(self, message, status=None):
        super().__init__(message)
        if status is not None:
            self.status = status


class ModelNotFound(ModelError):
    status = 404


class ModelLoadError(ModelError):
    status = 500


class ModelUnavailable(ModelError):
    status = 503


class StartupError(ModelError):
    status = 500


# ---------------------------------------------------------------------------
# defaults for the injectable callables


def _stderr_log(msg):
    lines = str(msg).splitlines() or [""]
    sys.stderr.write("".join(LOG_PREFIX + line + "\n" for line in lines))
    sys.stderr.flush()


def _default_trim():
    """Gives freed memory back to the OS; best effort, never raises."""
    try:
        gc.collect()
        import ctypes
        trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
        if trim is not None:
            trim(0)
    except Exception:  # noqa: BLE001 - best effort
        pass


def _urllib_fetch(url, dest, max_bytes=0):
    """Downloads url to the file dest, at most max_bytes (0: no cap);
    raises OSError on failure."""
    import urllib.request
    req = urllib.request.Request(url, headers={"User-Agent": "glia"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp, \
                open(dest, "wb") as out:
            got = 0
            while True:
                chunk = resp.read(FETCH_CHUNK)
                if not chunk:
                    break
                got += len(chunk)
                if max_bytes and got > max_bytes:
                    raise OSError(f"cannot download {url}: larger than "
                                  f"{max_bytes} bytes "
                                  f"(GLIA_MODEL_MAX_DOWNLOAD_BYTES)")
                out.write(chunk)
    except OSError:
        raise
    except Exception as e:  # http.client errors are not OSErrors
        raise OSError(f"{url}: {type(e).__name__}: {e}") from e


def _env_bytes(name, default):
    """A positive byte count from the environment (predictor.env)."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not DIGITS_RE.match(value) or int(value) <= 0:
        raise StartupError(f"{name}: expected a positive number of bytes, "
                           f"got {value!r}")
    return int(value)


# ---------------------------------------------------------------------------
# small helpers


def _vkey(version):
    """Sort key of a version: None (unversioned) first, then numbers."""
    return -1 if version is None else version


def _vstr(version):
    return "" if version is None else str(version)


def _model_desc(name):
    return "the model" if name is None else f"model {name!r}"


def _describe(key):
    name, version = key
    if version is None:
        return _model_desc(name)
    return f"{_model_desc(name)} version {version}"


def _parse_version(value):
    """None for "latest", else the version number."""
    if value is None or value == "latest":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and DIGITS_RE.match(value):
        return int(value)
    raise ModelError(f'invalid model_version {value!r}: use "latest" or a '
                     f'version number', 400)


def _is_url(location):
    return location.startswith(("http://", "https://"))


def _is_s3(location):
    return location.startswith("s3://")


def _env_seconds(name, default):
    """A positive number of seconds from the environment (predictor.env)."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 86400:
        raise StartupError(f"{name}: expected seconds from 0 to 86400 "
                           f"(like 10 or 0.5), got {value!r}")
    return seconds


def _existing_ancestor(path):
    parent = os.path.dirname(path)
    while parent and parent != path and not os.path.isdir(parent):
        path, parent = parent, os.path.dirname(parent)
    return parent or "/"


def _walk_files(root):
    """(relative path, size, mtime_ns) of the files under root, stopping
    after WALK_LIMIT entries (files and directories)."""
    seen = 0
    for top, dirs, files in os.walk(root):
        dirs.sort()
        seen += len(dirs)
        for name in sorted(files):
            seen += 1
            if seen > WALK_LIMIT:
                return
            full = os.path.join(top, name)
            try:
                st = os.stat(full)
            except OSError:
                continue
            yield os.path.relpath(full, root), st.st_size, st.st_mtime_ns
        if seen > WALK_LIMIT:
            return


def _fingerprint(path):
    """A tuple that changes when any file under path changes; () when
    there are no files."""
    if os.path.isfile(path):
        st = os.stat(path)
        return ((os.path.basename(path), st.st_size, st.st_mtime_ns),)
    return tuple(sorted(_walk_files(path)))


_Scan = collections.namedtuple("_Scan", "exists versioned versions watch")

WATCH_SUBDIRS_LIMIT = 1000  # directories watched inside one model version


def _subdirs(root, fp):
    """The directories under root that hold the files of fingerprint fp
    (deep layouts such as SavedModel's variables/), for the watcher."""
    out = set()
    for rel, _, _ in fp:
        parent = os.path.dirname(rel)
        while parent and len(out) < WATCH_SUBDIRS_LIMIT:
            out.add(os.path.join(root, parent))
            parent = os.path.dirname(parent)
    return out


def _scan_local(path):
    """What is on disk at a local model path: versions {v: (path, fp)}
    and the directories to watch for changes."""
    if os.path.isfile(path):
        fp = _fingerprint(path)
        return _Scan(True, False, {None: (path, fp)}, [os.path.dirname(path)])
    if not os.path.isdir(path):
        return _Scan(False, False, {}, [_existing_ancestor(path)])
    vdirs = [e for e in os.scandir(path)
             if DIGITS_RE.match(e.name) and e.is_dir()]
    if not vdirs:
        fp = _fingerprint(path)
        return _Scan(True, False, {None: (path, fp)} if fp else {},
                     [path] + sorted(_subdirs(path, fp)))
    versions = {}
    watch = {path}
    for entry in vdirs:
        fp = _fingerprint(entry.path)
        watch.add(entry.path)
        watch.update(_subdirs(entry.path, fp))
        if fp:
            versions[int(entry.name)] = (entry.path, fp)
    return _Scan(True, True, versions, sorted(watch))


# ---------------------------------------------------------------------------
# the URL download cache


class _FileLock:
    """An exclusive flock on path, held for the with block."""

    def __init__(self, path, blocking=True):
        self.path = path
        self.flags = fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB)
        self.fd = None

    def __enter__(self):
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW
                     | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, self.flags)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _url_basename(url):
    from urllib.parse import unquote, urlsplit
    name = os.path.basename(unquote(urlsplit(url).path))
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")
    return name or "model"


def _is_archive(basename):
    return basename.lower().endswith(ARCHIVE_SUFFIXES)


def _check_member(name):
    norm = name.replace("\\", "/")
    if (norm.startswith("/") or os.path.isabs(name)
            or re.match(r"[A-Za-z]:", norm) or ".." in norm.split("/")):
        raise OSError(f"refusing unsafe archive member {name!r}")


# Archives are extracted by hand, the same on every Python (3.11.2 has no
# tarfile.data_filter): modes 0644 / 0755 (no setuid, setgid or sticky
# bit), never chown, files opened with O_NOFOLLOW, links only to inside
# the archive, the total bytes written capped.


class _Budget:
    def __init__(self, limit):
        self.limit = limit
        self.left = limit

    def declare(self, total):
        """The members' sizes as the archive states them: refused early."""
        if total > self.limit:
            raise OSError(f"refusing archive: it expands past {self.limit} "
                          f"bytes (GLIA_MODEL_MAX_EXTRACT_BYTES)")

    def take(self, n):
        self.left -= n
        self.declare(self.limit - self.left)


def _inside(root, path):
    root = os.path.realpath(root)
    path = os.path.realpath(path)
    return path == root or path.startswith(root + os.sep)


def _member_path(dest, name):
    """Where member name goes: inside dest, its directory reached without
    a link out of dest."""
    _check_member(name)
    path = os.path.normpath(os.path.join(dest, name))
    if not _inside(dest, os.path.dirname(path)):
        raise OSError(f"refusing archive member {name!r}: its directory "
                      f"is a link out of the archive")
    return path


def _write_member(path, src, mode, budget):
    os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
                 | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as out:
        while True:
            chunk = src.read(FETCH_CHUNK)
            if not chunk:
                break
            budget.take(len(chunk))
            out.write(chunk)
        os.fchmod(out.fileno(), 0o755 if mode & 0o111 else 0o644)


def _extract_zip(archive, dest, budget):
    import zipfile
    with zipfile.ZipFile(archive) as z:
        infos = z.infolist()
        for i in infos:
            _check_member(i.filename)
        budget.declare(sum(i.file_size for i in infos))
        for i in infos:
            path = _member_path(dest, i.filename)
            if i.is_dir():
                os.makedirs(path, 0o755, exist_ok=True)
            else:
                with z.open(i) as src:
                    _write_member(path, src, i.external_attr >> 16, budget)


def _extract_link(m, dest, path, budget):
    if m.issym():
        target = os.path.join(os.path.dirname(path), m.linkname)
        if os.path.isabs(m.linkname) or not _inside(dest, target):
            raise OSError(f"refusing archive member {m.name!r}: a link "
                          f"to {m.linkname!r}, outside the archive")
        os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
        os.symlink(m.linkname, path)
        return
    src = _member_path(dest, m.linkname)      # a hard link: a copy
    fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        _write_member(path, f, m.mode, budget)


def _extract_tar(archive, dest, budget):
    import tarfile
    with tarfile.open(archive) as t:
        members = t.getmembers()
        for m in members:
            _check_member(m.name)
            if not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
                raise OSError(f"refusing archive member {m.name!r}: "
                              f"not a file, directory or link")
        budget.declare(sum(m.size for m in members if m.isfile()))
        for m in members:
            path = _member_path(dest, m.name)
            if m.isdir():
                os.makedirs(path, 0o755, exist_ok=True)
            elif m.isfile():
                _write_member(path, t.extractfile(m), m.mode, budget)
            else:
                _extract_link(m, dest, path, budget)


def _extract(archive, dest, basename, max_bytes=MAX_BYTES):
    budget = _Budget(max_bytes)
    if basename.lower().endswith(".zip"):
        _extract_zip(archive, dest, budget)
    else:
        _extract_tar(archive, dest, budget)
    for root, _, _ in os.walk(dest):
        os.chmod(root, 0o755)


def _single_top(entry):
    """The archive's only top-level directory, or "." for the entry."""
    names = [n for n in os.listdir(entry) if n != MARKER]
    if len(names) == 1 and os.path.isdir(os.path.join(entry, names[0])):
        return names[0]
    return "."


def _touch(path):
    now = time.time_ns()
    os.utime(path, ns=(now, now))


def _complete_target(entry):
    """The load path of a complete cache entry (touching its marker), or
    None when the entry is not complete."""
    marker = os.path.join(entry, MARKER)
    try:
        with open(marker, encoding="utf-8") as f:
            rel = f.read().strip() or "."
        _touch(marker)
    except OSError:
        return None
    target = os.path.normpath(os.path.join(entry, rel))
    return target if os.path.exists(target) else None


def _write_marker(entry, rel):
    marker = os.path.join(entry, MARKER)
    tmp = marker + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(rel + "\n")
    os.replace(tmp, marker)
    _touch(marker)


# ---------------------------------------------------------------------------
# s3:// directories, mirrored


def _s3_split(url):
    """(bucket, key) of s3://bucket/key."""
    bucket, _, key = url[len("s3://"):].partition("/")
    return bucket, key


def _s3_prefix(url):
    """url as a directory prefix: ending with "/" (a bucket: as is)."""
    key = _s3_split(url)[1]
    return url if not key or key.endswith("/") else url + "/"


def _safe_rel(rel):
    """A key below the prefix that maps to a path inside the mirror."""
    return (not rel.startswith("/") and "\0" not in rel and "\\" not in rel
            and all(p not in ("", ".", "..") for p in rel.split("/")))


def _s3_tag(head):
    """What identifies an object's content, from s3_head's (size, etag,
    mtime): the ETag, else the Last-Modified time."""
    size, etag, mtime = head
    return etag or f"last-modified {mtime} size {size}"


def _url_fp(src):
    """The fingerprint of a URL model: its URL, and an S3 object's tag."""
    return ("url", src.location) + (() if src.tag is None else (src.tag,))


def _ancestors(rel):
    parent = os.path.dirname(rel)
    while parent:
        yield parent
        parent = os.path.dirname(parent)


class _S3Mirror:
    """A local copy of the objects under an s3:// prefix; see the module
    docstring. sync() raises OSError with the S3 error."""

    def __init__(self, url, cache_dir, fetch, s3_list, max_object,
                 max_total, log):
        self.url = _s3_prefix(url)
        self.bucket, self.prefix = _s3_split(self.url)
        digest = hashlib.sha256(self.url.encode("utf-8")).hexdigest()[:16]
        self.root = os.path.join(cache_dir, "s3-" + digest)
        self._cache_dir = cache_dir
        self._fetch = fetch
        self._list = s3_list
        self._max_object = max_object
        self._max_total = max_total
        self._log = log
        self._warned = set()

    def _warn(self, msg):
        if msg not in self._warned:
            self._warned.add(msg)
            self._log(msg)

    def listing(self):
        """{relative path: (key, size, etag, mtime)} of what to mirror."""
        wanted = {}
        for key, size, etag, mtime in self._list(self.url):
            rel = key[len(self.prefix):]
            if not key.startswith(self.prefix) or not rel \
                    or rel.endswith("/"):
                continue                # a "folder" marker object
            if not _safe_rel(rel):
                self._warn(f"skipping s3://{self.bucket}/{key}: a key with "
                           f"an empty, '.' or '..' part is not mirrored")
                continue
            wanted[rel] = (key, size, etag, mtime)
        parents = {a for rel in wanted for a in _ancestors(rel)}
        for rel in sorted(r for r in wanted if r in parents):
            self._warn(f"skipping s3://{self.bucket}/{wanted[rel][0]}: "
                       f"objects exist under {rel}/ too")
            del wanted[rel]
        total = sum(v[1] for v in wanted.values())
        if total > self._max_total:
            raise OSError(f"{self.url}: {total} bytes, more than "
                          f"{self._max_total} (GLIA_MODEL_MAX_EXTRACT_BYTES)")
        return wanted

    def sync(self):
        """Makes the mirror equal to the listing; True when it changed."""
        wanted = self.listing()
        os.makedirs(self._cache_dir, 0o700, exist_ok=True)
        with _FileLock(self.root + ".lock"):
            os.makedirs(self.root, 0o755, exist_ok=True)
            index = self._read_index()
            changed = False
            try:
                for rel in sorted(wanted):
                    if self._fresh(rel, wanted[rel], index):
                        continue
                    key, size, etag, mtime = wanted[rel]
                    self._download(key, os.path.join(self.root, rel), mtime)
                    index[rel] = [etag, size, mtime]
                    changed = True
            finally:
                changed |= self._remove_stale(wanted)
                self._write_index({r: v for r, v in index.items()
                                   if r in wanted})
        return changed

    def _fresh(self, rel, obj, index):
        path = os.path.join(self.root, rel)
        return (index.get(rel) == [obj[2], obj[1], obj[3]]
                and os.path.isfile(path) and not os.path.islink(path))

    def _make_parents(self, path):
        """The directories above path inside the mirror, replacing a file
        that an earlier listing had there."""
        rel = os.path.relpath(os.path.dirname(path), self.root)
        at = self.root
        for part in ([] if rel == "." else rel.split(os.sep)):
            at = os.path.join(at, part)
            if os.path.islink(at) or (os.path.exists(at)
                                      and not os.path.isdir(at)):
                os.unlink(at)
            if not os.path.isdir(at):
                os.mkdir(at, 0o755)

    def _download(self, key, path, mtime):
        tmp = self.root + ".part"
        try:
            self._fetch(f"s3://{self.bucket}/{key}", tmp, self._max_object)
            if mtime:
                os.utime(tmp, (mtime, mtime))
            self._make_parents(path)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _remove_stale(self, wanted):
        """Deletes the files no longer listed and empty directories."""
        removed = False
        for top, dirs, files in os.walk(self.root, topdown=False):
            for name in files:
                full = os.path.join(top, name)
                if os.path.relpath(full, self.root) not in wanted:
                    os.unlink(full)
                    removed = True
            for name in dirs:
                full = os.path.join(top, name)
                if os.path.islink(full):
                    os.unlink(full)
                elif not os.listdir(full):
                    os.rmdir(full)
        return removed

    def _read_index(self):
        try:
            with open(self.root + ".index.json", encoding="utf-8") as f:
                index = json.load(f)
            return index if isinstance(index, dict) else {}
        except (OSError, ValueError):
            return {}

    def _write_index(self, index):
        path = self.root + ".index.json"
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(index, f)
        os.replace(path + ".tmp", path)


# ---------------------------------------------------------------------------
# the store's records


class _Source:
    """One configured model: path / paths[i] (a local path or a URL)."""

    __slots__ = ("name", "location", "field", "is_url", "mirror", "tag")

    def __init__(self, name, location, field):
        self.name = name
        self.field = field
        self.is_url = _is_url(location)
        self.mirror = None      # an s3:// directory: its _S3Mirror
        self.tag = None         # an s3:// object: its ETag, polled
        remote = self.is_url or _is_s3(location)
        self.location = location if remote else os.path.abspath(
            os.path.expanduser(location))


class _Version:
    """A known version: its load path, the fingerprint the store took, and
    the fingerprint that failed to load (with why), if any."""

    __slots__ = ("path", "fp", "broken_fp", "error", "cause", "preloading")

    def __init__(self, path, fp):
        self.path = path
        self.fp = fp
        self.preloading = False  # the watcher loads it while the old serves
        self.broken_fp = None
        self.error = ""
        self.cause = ""

    def broken(self):
        return self.broken_fp is not None and self.broken_fp == self.fp


class _Model:
    __slots__ = ("name", "is_url", "versioned", "versions")

    def __init__(self, name, is_url=False):
        self.name = name
        self.is_url = is_url
        self.versioned = False
        self.versions = {}


class _Entry:
    """A resident model: what load_model returned, for which fingerprint."""

    __slots__ = ("value", "fp")

    def __init__(self, value, fp):
        self.value = value
        self.fp = fp


class _Flight:
    """One load in progress; other callers for the key wait on done."""

    __slots__ = ("fp", "path", "is_url", "done", "value", "error")

    def __init__(self, version_info, is_url):
        self.fp = version_info.fp
        self.path = version_info.path
        self.is_url = is_url
        self.done = threading.Event()
        self.value = None
        self.error = None


class _Plan:
    """What a scan decided, to do outside the lock."""

    def __init__(self):
        self.loads = []     # keys to (re)load
        self.dropped = []   # resident entries released
        self.waits = []     # seconds until pending versions settle


def _parse_spec(spec):
    """([_Source], dir root or None) from the models spec; an s3:// dir
    is returned as given."""
    given = [k for k in ("path", "paths", "dir") if spec.get(k)]
    if len(given) != 1:
        raise StartupError("predictor.models: set exactly one of path, "
                           "paths, dir")
    if spec.get("path"):
        return [_Source(None, spec["path"], "predictor.models.path")], None
    if spec.get("dir"):
        if _is_s3(spec["dir"]):
            return [], spec["dir"]
        root = os.path.abspath(os.path.expanduser(spec["dir"]))
        return [], root
    sources = []
    for i, item in enumerate(spec["paths"]):
        field = f"predictor.models.paths[{i}].path"
        sources.append(_Source(item["name"], item["path"], field))
    return sources, None


# ---------------------------------------------------------------------------
# the store


class ModelStore:
    """The models of one replica; see the module docstring."""

    def __init__(self, models, loader, *, cache_dir=None, fetch=None,
                 emit=None, log=None, clock=time.monotonic, settle=0.5,
                 trim=None, s3_list=None, s3_head=None):
        self._loader = loader
        self._fetch = fetch or _urllib_fetch
        self._s3_list = s3_list
        self._s3_head = s3_head
        self._emit = emit
        self._log_fn = log or _stderr_log
        self._trim_fn = trim or _default_trim
        self._clock = clock
        self._settle = float(settle)
        self._capacity = int(models.get("cache_size") or 0)
        self._disk_capacity = int(models.get("disk_cache_size") or 0)
        self._max_download = _env_bytes("GLIA_MODEL_MAX_DOWNLOAD_BYTES",
                                        MAX_BYTES)
        self._max_extract = _env_bytes("GLIA_MODEL_MAX_EXTRACT_BYTES",
                                       MAX_BYTES)
        self._cache_dir = os.path.abspath(cache_dir or os.path.join(
            tempfile.gettempdir(), "glia-model-cache"))
        self._sources, self._dir = _parse_spec(models)
        self._dir_mirror = None                    # models.dir on S3
        self._s3_poll = _env_seconds("GLIA_S3_POLL_INTERVAL", 10.0)
        self._s3_due = 0.0
        self._s3_error = None
        self._lock = threading.Lock()
        self._models = {}                          # name -> _Model
        self._cache = collections.OrderedDict()    # key -> _Entry, LRU first
        self._flights = {}                         # key -> _Flight
        self._pending = {}                         # key -> (fp, first seen)
        self._unloaded = set()
        self._skipped = set()
        self._counts = dict(hits=0, misses=0, loads=0, load_failures=0,
                            evictions=0)
        self._flushed = (0, 0, 0, 0)
        self._watch = []

    @property
    def _caching(self):
        return self._capacity > 0

    # -- side channels ------------------------------------------------------

    def _log(self, msg):
        try:
            self._log_fn(msg)
        except Exception:  # noqa: BLE001 - logging must not break serving
            pass

    def _send(self, line):
        if self._emit is None:
            return
        try:
            self._emit(line)
        except Exception as e:  # noqa: BLE001
            self._log(f"emit failed: {type(e).__name__}: {e}")

    def _trim(self):
        try:
            self._trim_fn()
        except Exception as e:  # noqa: BLE001
            self._log(f"trim failed: {type(e).__name__}: {e}")

    def _release(self, entries):
        """Drops the references in entries, then gives memory back."""
        if entries:
            entries.clear()
            self._trim()

    # -- startup ------------------------------------------------------------

    def start(self):
        """Scans the sources (StartupError when one is missing) and, with
        caching disabled, loads everything. Returns the dirs to watch."""
        self._start_s3()
        found = self._scan_all(startup=True)
        plan = _Plan()
        with self._lock:
            for src in self._sources:
                self._models[src.name] = self._new_model(src)
            self._apply(found, self._clock(), True, plan)
            keys = [] if self._caching else self._all_keys()
        for key in keys:
            try:
                self._ensure(key)
            except ModelError as e:
                raise StartupError(str(e)) from None
        self._watch = self._watch_list(found)
        return list(self._watch)

    def _new_model(self, src):
        model = _Model(src.name, src.is_url)
        if src.is_url:
            model.versions[None] = _Version(src.location, _url_fp(src))
        return model

    # -- S3 ---------------------------------------------------------------

    def _mirror(self, url):
        return _S3Mirror(url, self._cache_dir, self._fetch, self._s3_list,
                         self._max_download, self._max_extract, self._log)

    def _mirrors(self):
        """[(field, _S3Mirror)] of the s3:// directories."""
        out = [(src.field, src.mirror) for src in self._sources
               if src.mirror is not None]
        if self._dir_mirror is not None:
            out.append(("predictor.models.dir", self._dir_mirror))
        return out

    def _classify(self, src):
        """An s3:// source: a directory (mirrored) when objects are under
        key + "/", else a single object (downloaded like a URL)."""
        url = src.location
        key = _s3_split(url)[1]
        if not key or key.endswith("/") or self._s3_list(url + "/", 1):
            src.mirror = self._mirror(url)
            if not self._s3_list(src.mirror.url, 1):
                raise OSError(f"{src.mirror.url}: no objects under this "
                              f"prefix")
        else:
            head = self._s3_head(url)
            if head is None:
                raise OSError(f"{url}: no such object, and no objects under "
                              f"{url}/")
            src.is_url = True
            src.tag = _s3_tag(head)

    def _start_s3(self):
        """Classifies the s3:// sources and mirrors the directories;
        StartupError naming the field and the URL on an S3 error."""
        s3 = [src for src in self._sources if _is_s3(src.location)]
        s3_dir = self._dir is not None and _is_s3(self._dir)
        if not s3 and not s3_dir:
            return
        if self._s3_list is None or self._s3_head is None:
            raise StartupError("s3:// models are read by the glia worker "
                               "(its _glia_native module)")
        field = "predictor.models.dir"
        try:
            for src in s3:
                field = src.field
                self._classify(src)
            if s3_dir:
                field = "predictor.models.dir"
                self._dir_mirror = self._mirror(self._dir)
                if not self._s3_list(self._dir_mirror.url, 1):
                    raise OSError(f"{self._dir_mirror.url}: no objects "
                                  f"under this prefix")
            for field, mirror in self._mirrors():
                mirror.sync()
        except OSError as e:
            raise StartupError(f"{field}: {e}") from None
        self._s3_due = self._clock() + self._s3_poll

    def _s3_objects(self):
        """The s3:// sources that are single objects (polled by HEAD)."""
        return [src for src in self._sources if src.tag is not None]

    def _head(self, src):
        """Reads an S3 object's tag again; OSError when it is gone."""
        head = self._s3_head(src.location)
        if head is None:
            raise OSError(f"{src.location}: no such object")
        src.tag = _s3_tag(head)

    def _poll_s3(self, now):
        """Syncs the mirrors and reads the objects' tags when the poll is
        due, or while a version settles (its fingerprint is only seen
        again through a poll)."""
        mirrors = self._mirrors()
        objects = self._s3_objects()
        if not (mirrors or objects) or (now < self._s3_due
                                        and not self._pending):
            return
        self._s3_due = now + self._s3_poll
        errors = []
        for field, mirror in mirrors:
            try:
                mirror.sync()
            except Exception as e:  # noqa: BLE001 - keep serving
                errors.append(f"{field}: {e}")
        for src in objects:
            try:
                self._head(src)
            except Exception as e:  # noqa: BLE001 - keep serving
                errors.append(f"{src.field}: {e}")
        error = "; ".join(errors) or None
        if error != self._s3_error:
            self._log(f"S3 poll failed (serving what was mirrored): {error}"
                      if error else "S3 poll works again")
            self._s3_error = error

    def _s3_wait(self):
        """Seconds until the next S3 poll, or None without S3 models."""
        if not self._mirrors() and not self._s3_objects():
            return None
        return max(self._s3_due - self._clock(), 0.05)

    def _all_keys(self):
        return [(name, v)
                for name in sorted(self._models, key=lambda n: n or "")
                for v in sorted(self._models[name].versions, key=_vkey)]

    # -- scanning -----------------------------------------------------------

    def _scan_all(self, startup=False):
        """{name: _Scan} of the local models and the S3 objects (http(s)
        models excluded)."""
        found = {}
        for src in self._sources:
            if src.tag is not None:         # its tag is its fingerprint
                found[src.name] = _Scan(True, False, {
                    None: (src.location, _url_fp(src))}, [])
                continue
            if src.is_url:
                continue
            if src.mirror is not None:      # never watched: polled
                found[src.name] = _scan_local(src.mirror.root)._replace(
                    watch=[])
                continue
            scan = _scan_local(src.location)
            if startup and not scan.exists:
                raise StartupError(f"{src.field}: {src.location} does not "
                                   f"exist")
            found[src.name] = scan
        if self._dir is not None:
            found.update(self._scan_dir(startup))
        return found

    def _scan_dir(self, startup):
        mirror = self._dir_mirror
        root = self._dir if mirror is None else mirror.root
        if not os.path.isdir(root):
            what = "is not a directory" if os.path.exists(root) else \
                "does not exist"
            if startup:
                raise StartupError(f"predictor.models.dir: {root} {what}")
            return {}
        found = {}
        for entry in sorted(os.scandir(root), key=lambda e: e.name):
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            if not NAME_RE.match(entry.name):
                self._skip(entry.name)
                continue
            scan = _scan_local(entry.path)
            found[entry.name] = scan if mirror is None else \
                scan._replace(watch=[])
        return found

    def _skip(self, name):
        if name not in self._skipped:
            self._skipped.add(name)
            self._log(f"skipping {os.path.join(self._dir, name)}: model "
                      f"names use letters, digits, '-' and '_'")

    def _watch_list(self, found):
        dirs = set()
        if self._dir is not None and self._dir_mirror is None:
            dirs.add(self._dir if os.path.isdir(self._dir)
                     else _existing_ancestor(self._dir))
        for scan in found.values():
            dirs.update(scan.watch)
        return sorted(dirs)

    # -- applying a scan (under the lock) -------------------------------------

    def _apply(self, found, now, startup, plan):
        if self._dir is not None:
            for name in [n for n in self._models if n not in found]:
                plan.dropped.extend(self._drop_model(name))
                self._log(f"model {name!r} removed")
        for name, scan in found.items():
            model = self._models.get(name)
            if model is None:
                model = self._models[name] = _Model(name)
                if not startup:
                    self._log(f"model {name!r} added")
            self._apply_model(model, scan, now, startup, plan)

    def _apply_model(self, model, scan, now, startup, plan):
        name = model.name
        was_resident = self._latest_is_resident(model)
        for v in [v for v in model.versions if v not in scan.versions]:
            plan.dropped.extend(self._drop_version(model, v))
        for key in [k for k in self._pending
                    if k[0] == name and k[1] not in scan.versions]:
            del self._pending[key]
        model.versioned = scan.versioned
        accepted = []
        for v, (path, fp) in scan.versions.items():
            if self._take(model, v, path, fp, now, startup, plan):
                accepted.append(v)
        if not startup:
            plan.loads.extend(self._loads_for(model, accepted, was_resident))

    def _take(self, model, v, path, fp, now, startup, plan):
        """Records a new or changed version once settled; True if taken."""
        key = (model.name, v)
        info = model.versions.get(v)
        if info is not None and info.fp == fp:
            self._pending.pop(key, None)
            return False
        left = 0.0 if startup else self._settle_left(key, fp, now)
        if left > 0:
            plan.waits.append(left)
            return False
        if info is None:
            model.versions[v] = _Version(path, fp)
        else:
            info.path, info.fp = path, fp
        if not startup:
            self._log(f"{_describe(key)} "
                      f"{'changed' if info else 'found'} at {path}")
        return True

    def _settle_left(self, key, fp, now):
        """Seconds until fp has been stable for `settle` (0: settled)."""
        if self._settle <= 0:
            return 0.0
        seen = self._pending.get(key)
        if seen is None or seen[0] != fp:
            self._pending[key] = (fp, now)
            return self._settle
        left = self._settle - (now - seen[1])
        if left <= 0:
            del self._pending[key]
            return 0.0
        return left

    def _loads_for(self, model, accepted, was_resident):
        """The keys a rescan loads for the versions it just took."""
        name = model.name
        if not accepted or name in self._unloaded:
            return []
        keys = [(name, v) for v in accepted]
        if not self._caching:
            return keys
        loads = [k for k in keys if k in self._cache]
        usable = self._usable(model)
        if was_resident and usable:
            latest = (name, max(usable, key=_vkey))
            if latest in keys and latest not in loads:
                # "latest" stays on the resident version until this load
                # is done: no request waits for it
                model.versions[latest[1]].preloading = True
                loads.append(latest)
        return loads

    def _latest_is_resident(self, model):
        usable = self._usable(model)
        return bool(usable) and (model.name,
                                 max(usable, key=_vkey)) in self._cache

    def _drop_version(self, model, v):
        key = (model.name, v)
        del model.versions[v]
        self._pending.pop(key, None)
        entry = self._cache.pop(key, None)
        self._log(f"{_describe(key)} removed")
        return [entry] if entry is not None else []

    def _drop_model(self, name):
        self._models.pop(name)
        self._unloaded.discard(name)
        for key in [k for k in self._pending if k[0] == name]:
            del self._pending[key]
        keys = [k for k in self._cache if k[0] == name]
        return [self._cache.pop(k) for k in keys]

    # -- live reloading -----------------------------------------------------

    def rescan(self):
        """Re-reads the local sources, takes settled changes and loads what
        the mode asks for. Returns (dirs to watch, seconds until the next
        rescan is needed or None). Never raises."""
        try:
            return self._rescan()
        except Exception:  # noqa: BLE001 - the watcher must keep running
            self._log("rescan failed:\n" + traceback.format_exc().rstrip())
            return list(self._watch), (self._settle or 1.0)

    def _rescan(self):
        now = self._clock()
        self._poll_s3(now)
        found = self._scan_all()
        plan = _Plan()
        with self._lock:
            self._apply(found, now, False, plan)
            plan.loads.extend(k for k in self._stale_objects()
                              if k not in plan.loads)
        self._release(plan.dropped)
        for key in plan.loads:
            self._reload(key)
        if plan.loads:
            self._trim()
        self._watch = self._watch_list(found)
        waits = plan.waits + [w for w in [self._s3_wait()] if w is not None]
        return list(self._watch), (min(waits) if waits else None)

    def _stale_objects(self):
        """Keys of the S3 objects still served from an older copy because
        the new one failed to download (not broken): the next rescan
        tries again. Under the lock."""
        keys = []
        for src in self._s3_objects():
            key = (src.name, None)
            model = self._models.get(src.name)
            info = model.versions.get(None) if model else None
            entry = self._cache.get(key)
            if entry is not None and info is not None \
                    and entry.fp != info.fp and not info.broken() \
                    and key not in self._flights:
                keys.append(key)
        return keys

    def _reload(self, key):
        try:
            self._ensure(key, reload=True)
        except ModelError:
            pass    # logged and emitted by the load itself
        finally:
            with self._lock:
                model = self._models.get(key[0])
                info = model.versions.get(key[1]) if model else None
                if info is not None:
                    info.preloading = False

    # -- loading ------------------------------------------------------------

    def _ensure(self, key, reload=False):
        """The model for key, loading it unless resident (or, with reload,
        unless resident at the current fingerprint)."""
        while True:
            with self._lock:
                info = self._version_info(key)
                entry = self._cache.get(key)
                if entry is not None and (not reload or entry.fp == info.fp):
                    return entry.value
                flight = self._flights.get(key)
                if flight is None or not reload or flight.fp == info.fp:
                    flight, owner = self._join(key)
                    break
            flight.done.wait()      # an older load of key: then look again
        return self._finish(key, flight, owner)

    def _version_info(self, key):
        model = self._models.get(key[0])
        info = model.versions.get(key[1]) if model is not None else None
        if info is None:
            raise ModelNotFound(f"{_describe(key)} not found")
        return info

    def _join(self, key):
        """(flight, owner): the load in progress for key, or a new one that
        the caller runs. Under the lock."""
        flight = self._flights.get(key)
        if flight is not None:
            return flight, False
        model = self._models[key[0]]
        flight = self._flights[key] = _Flight(model.versions[key[1]],
                                              model.is_url)
        return flight, True

    def _finish(self, key, flight, owner):
        if owner:
            self._run(key, flight)
        else:
            flight.done.wait()
        if flight.error is not None:
            raise ModelLoadError(str(flight.error))
        return flight.value

    def _run(self, key, flight):
        """Runs the load of flight (outside the lock) and publishes it."""
        t0 = time.perf_counter()
        error, trace, dropped = None, "", []
        fetched = not flight.is_url
        try:
            path = self._materialize(flight.path, flight.fp) \
                if flight.is_url else flight.path
            fetched = True
            flight.value = self._loader(path)
        except BaseException as e:  # noqa: BLE001 - waiters must wake
            error, trace = e, traceback.format_exc().rstrip()
        seconds = time.perf_counter() - t0
        try:
            with self._lock:
                dropped = self._publish(key, flight, error, fetched)
        finally:
            flight.done.set()
        self._report(key, seconds, flight, trace)
        self._release(dropped)
        if error is not None and not isinstance(error, Exception):
            raise error

    def _publish(self, key, flight, error, fetched=True):
        """Records the outcome of a load; returns evicted entries. A
        download that failed (not fetched) leaves the version retryable."""
        del self._flights[key]
        if error is None:
            self._counts["loads"] += 1
            return self._store(key, flight)
        self._counts["load_failures"] += 1
        cause = f"{type(error).__name__}: {error}"
        flight.error = f"{_describe(key)} failed to load: {cause}"
        flight.value = None
        info = self._models.get(key[0])
        info = info.versions.get(key[1]) if info is not None else None
        if info is not None and info.fp == flight.fp and fetched:
            info.broken_fp, info.error, info.cause = flight.fp, \
                flight.error, cause
        return []

    def _store(self, key, flight):
        """Makes a loaded model resident (unless it went away meanwhile)
        and evicts beyond the capacity; returns the released entries."""
        model = self._models.get(key[0])
        if model is None or key[1] not in model.versions \
                or key[0] in self._unloaded:
            return []
        old = self._cache.pop(key, None)
        self._cache[key] = _Entry(flight.value, flight.fp)
        dropped = [old] if old is not None else []
        while self._caching and len(self._cache) > self._capacity:
            gone, entry = self._cache.popitem(last=False)
            dropped.append(entry)
            self._counts["evictions"] += 1
        return dropped

    def _report(self, key, seconds, flight, trace):
        name = "-" if key[0] is None else key[0]
        version = "-" if key[1] is None else key[1]
        line = f"load ok {seconds:.6f} {name} {version}"
        if flight.error is not None:  # the reason rides along, one line
            cause = str(flight.error).split(" failed to load: ", 1)[-1]
            reason = " ".join(cause.split())[:300]
            line = f"load failed {seconds:.6f} {name} {version} {reason}"
        self._send(line)
        if flight.error is None:
            self._log(f"loaded {_describe(key)} in {seconds:.3f}s")
        else:
            self._log(f"{flight.error}\n{trace}")

    # -- URL models -----------------------------------------------------------

    def _materialize(self, url, fp):
        """The local path of a URL model, downloading it once per
        fingerprint (an S3 object's: its URL and tag)."""
        os.makedirs(self._cache_dir, 0o700, exist_ok=True)
        ident = "\n".join(fp[1:])          # an http(s) URL: the URL alone
        key = hashlib.sha256(ident.encode("utf-8")).hexdigest()[:16]
        entry = os.path.join(self._cache_dir, key)
        with _FileLock(entry + ".lock"):
            target = _complete_target(entry)
            if target is not None:
                return target
            target = self._download(url, entry)
        self._evict_disk(keep=key)
        return target

    def _download(self, url, entry):
        base = _url_basename(url)
        part = entry + ".part"
        shutil.rmtree(entry, ignore_errors=True)
        os.makedirs(entry)
        try:
            self._fetch(url, part, self._max_download)
            if os.path.getsize(part) > self._max_download:
                raise OSError(f"cannot download {url}: larger than "
                              f"{self._max_download} bytes "
                              f"(GLIA_MODEL_MAX_DOWNLOAD_BYTES)")
            if _is_archive(base):
                _extract(part, entry, base, self._max_extract)
                rel = _single_top(entry)
            else:
                os.replace(part, os.path.join(entry, base))
                rel = base
            _write_marker(entry, rel)
        except BaseException:
            shutil.rmtree(entry, ignore_errors=True)
            raise
        finally:
            if os.path.exists(part):
                os.unlink(part)
        self._log(f"downloaded {url} to {entry}")
        return os.path.normpath(os.path.join(entry, rel))

    def _evict_disk(self, keep):
        """Deletes the least recently used complete entries beyond
        disk_cache_size (never keep)."""
        if self._disk_capacity <= 0:
            return
        entries = []
        for name in os.listdir(self._cache_dir):
            marker = os.path.join(self._cache_dir, name, MARKER)
            try:
                entries.append((os.stat(marker).st_mtime_ns, name))
            except OSError:
                continue
        excess = len(entries) - self._disk_capacity
        old = sorted(e for e in entries if e[1] != keep)
        for _, name in old[:max(excess, 0)]:
            self._remove_entry(name)

    def _remove_entry(self, name):
        entry = os.path.join(self._cache_dir, name)
        try:
            with _FileLock(entry + ".lock", blocking=False):
                os.unlink(os.path.join(entry, MARKER))
                shutil.rmtree(entry, ignore_errors=True)
        except BlockingIOError:
            return      # in use by another process
        except OSError as e:
            self._log(f"disk cache: cannot remove {entry}: {e}")
            return
        self._log(f"disk cache: removed {entry} (least recently used)")

    # -- get_model ------------------------------------------------------------

    def get_model(self, model_name=None, model_version="latest"):
        """What load_model returned for the model and version, loading it
        on a miss. Raises a ModelError (404 / 500 / 503)."""
        return self._get(model_name, _parse_version(model_version), True)

    def _get(self, model_name, version, count):
        tried, missed, last = set(), False, None
        while True:
            with self._lock:
                key = self._pick_or_last(model_name, version, tried, last)
                entry = self._cache.get(key)
                if entry is not None:
                    self._cache.move_to_end(key)
                    if count and not missed:
                        self._counts["hits"] += 1
                    return entry.value
                if count and not missed:
                    self._counts["misses"] += 1
                missed = True
                flight, owner = self._join(key)
            try:
                return self._finish(key, flight, owner)
            except ModelLoadError as e:
                if version is not None:
                    raise
                tried.add(key[1])
                last = e

    def _pick_or_last(self, model_name, version, tried, last):
        try:
            return self._pick(self._resolve_name(model_name), version, tried)
        except ModelNotFound:
            if last is not None:
                raise last from None
            raise

    def _available(self):
        names = sorted(n for n in self._models if n is not None)
        return ", ".join(names) or "none"

    def _resolve_name(self, model_name):
        if model_name is None:
            if len(self._models) == 1:
                return next(iter(self._models))
            raise ModelNotFound(f"model_name is required; available: "
                                f"{self._available()}")
        if model_name in self._models:
            return model_name
        if list(self._models) == [None]:
            raise ModelNotFound(f"model {model_name!r} not found; this API "
                                f"serves one unnamed model: call get_model() "
                                f"without model_name")
        raise ModelNotFound(f"model {model_name!r} not found; available: "
                            f"{self._available()}")

    def _pick(self, name, version, tried):
        """The key to serve (under the lock); raises when there is none."""
        model = self._models[name]
        if name in self._unloaded:
            raise ModelUnavailable(f"{_model_desc(name)} is unloaded; load "
                                   f"it first")
        if version is None:
            return name, self._latest(model, tried)
        if not model.versioned:
            raise ModelNotFound(f'{_model_desc(name)} is not versioned; use '
                                f'"latest"')
        info = model.versions.get(version)
        if info is None:
            have = ", ".join(str(v) for v in sorted(model.versions)) or "none"
            raise ModelNotFound(f"{_model_desc(name)} has no version "
                                f"{version}; available: {have}")
        key = (name, version)
        if key in self._cache or key in self._flights:
            return key
        if info.broken():
            raise ModelLoadError(info.error)
        if not self._caching:
            raise ModelNotFound(f"{_describe(key)} is not loaded")
        return key

    def _usable(self, model):
        """Versions "latest" may pick: resident ones, and with caching the
        ones not known to be broken."""
        name = model.name
        return [v for v, info in model.versions.items()
                if (name, v) in self._cache
                or (self._caching and not info.broken()
                    and not info.preloading)]

    def _latest(self, model, tried):
        name = model.name
        usable = [v for v in self._usable(model) if v not in tried]
        if not usable and not self._caching:
            usable = [v for v in model.versions
                      if (name, v) in self._flights and v not in tried]
        if usable:
            return max(usable, key=_vkey)
        broken = [v for v, info in model.versions.items() if info.broken()]
        if broken:
            raise ModelLoadError(model.versions[max(broken,
                                                    key=_vkey)].error)
        raise ModelNotFound(f"{_model_desc(name)} has no version available")

    # -- model repository -----------------------------------------------------

    def index(self):
        """Every known (name, version) with its state, sorted."""
        with self._lock:
            rows = []
            for name in sorted(self._models, key=lambda n: n or ""):
                rows.extend(self._index_rows(self._models[name]))
        return rows

    def _index_rows(self, model):
        name = model.name or ""
        if not model.versions:
            return [dict(name=name, version="", state="UNAVAILABLE",
                         reason="no version available")]
        rows = []
        for v in sorted(model.versions, key=_vkey):
            state, reason = self._state((model.name, v),
                                        model.versions[v])
            rows.append(dict(name=name, version=_vstr(v), state=state,
                             reason=reason))
        return rows

    def _state(self, key, info):
        if key in self._cache:
            return "READY", ""
        if key in self._flights:
            return "LOADING", ""
        if key[0] in self._unloaded:
            return "UNAVAILABLE", "unloaded"
        if info.broken():
            return "UNAVAILABLE", f"failed to load: {info.cause}"
        return "UNAVAILABLE", "not loaded"

    def load(self, name):
        """Clears an unload of name and loads it now (the latest version,
        or every version with caching disabled)."""
        with self._lock:
            name = self._resolve_name(name)
            self._unloaded.discard(name)
            keys = [] if self._caching else [
                (name, v) for v in sorted(self._models[name].versions,
                                          key=_vkey)]
        if self._caching:
            self._get(name, None, False)
            return
        errors = []
        for key in keys:
            try:
                self._ensure(key)
            except ModelError as e:
                errors.append(e)
        if errors:
            raise errors[0]

    def unload(self, name):
        """Drops every resident version of name; get_model answers 503
        for it until load(name)."""
        with self._lock:
            name = self._resolve_name(name)
            self._unloaded.add(name)
            dropped = [self._cache.pop(k) for k in list(self._cache)
                       if k[0] == name]
        self._log(f"{_model_desc(name)} unloaded")
        self._release(dropped)

    # -- introspection and metrics --------------------------------------------

    def names(self):
        with self._lock:
            return sorted(self._models, key=lambda n: n or "")

    def resident(self):
        """(name, version) of the resident models, least recent first."""
        with self._lock:
            return list(self._cache)

    def stats(self):
        with self._lock:
            return dict(self._counts, resident=len(self._cache))

    def flush_stats(self):
        """Emits "models <hits> <misses> <evictions> <resident>" (deltas
        since the last flush but resident) when something changed."""
        with self._lock:
            c = self._counts
            now = (c["hits"], c["misses"], c["evictions"], len(self._cache))
            last, self._flushed = self._flushed, now
        if now == last:
            return
        self._send(f"models {now[0] - last[0]} {now[1] - last[1]} "
                   f"{now[2] - last[2]} {now[3]}")
