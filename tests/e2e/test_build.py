"""Installing glia and building images of projects (issue 11, points 1, 4
and 6; docs/containers.md):

- `make install` (PREFIX, DESTDIR) and `make uninstall`: the staged tree,
  its pkg-config file, and the installed binary run from a copy moved
  elsewhere, serving a Python predictor with the installed Python package;
- `make deb`: the package's contents and Depends (dpkg-deb);
- `glia build`: --dry-run, the errors (a missing dependency file with its
  position, no container engine, an engine that does not work, a failing
  build step), the build context handed to the engine (a fake engine);
- with podman (marked `containers`, skipped with the reason when podman
  cannot run containers here): a real image of a small project with
  `apt: [python3-numpy]` that runs `glia version`, imports numpy and glia
  and serves a prediction; a failing build step's output; the .deb
  installed with apt in a Debian container.

Images get unique names and are removed at the end, with the intermediate
images their builds left.

Run: GLIA_BIN=build/glia /usr/bin/python3 -m pytest -q tests/e2e/test_build.py
(`make e2e PYTEST_ARGS='-k build'`; `-m containers` for the podman ones).
"""
import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

import conftest
from conftest import GLIA_BIN, REPO, write_project

MAKE_TIMEOUT = 300
BUILD_TIMEOUT = 900  # a real image build: apt downloads on a shared machine
RUN_TIMEOUT = 300
BASE = "docker.io/library/debian:bookworm-slim"
VERSION = re.search(r'#define GLIA_VERSION "([^"]+)"',
                    (REPO / "src" / "util.h").read_text()).group(1)
# What glia links (and python3): in the .deb's Depends and in every image.
RUNTIME = ["libuv1", "libyaml-0-2", "libjansson4", "libsqlite3-0", "libcurl4", "libssl3",
           "libhttp-parser2.9", "libpython3.11", "python3"]

SUM_PREDICTOR = """\
import numpy


class PythonPredictor:
    def __init__(self, config):
        pass

    def predict(self, payload):
        return {"sum": float(numpy.sum(payload["x"]))}
"""

WHERE_PREDICTOR = """\
import glia


class PythonPredictor:
    def __init__(self, config):
        pass

    def predict(self, payload):
        return {"glia": glia.__file__}
"""


def api(name, deps=None, path="predictor.py"):
    text = (f"- name: {name}\n"
            "  kind: RealtimeAPI\n"
            "  predictor:\n"
            "    type: python\n"
            f"    path: {path}\n")
    if deps is not None:
        text += f"    dependencies: {deps}\n"
    return text


def glia(*args, cwd=None, env=None, timeout=120):
    """Runs GLIA_BIN ARGS; returns the CompletedProcess (text)."""
    run_env = dict(os.environ)
    run_env.update(env or {})
    return subprocess.run([str(GLIA_BIN), *map(str, args)], cwd=cwd,
                          env=run_env, capture_output=True, text=True,
                          timeout=timeout)


def make(*args, timeout=MAKE_TIMEOUT):
    """`make ARGS` in the repository with GLIA_BIN's directory as BUILD,
    never rebuilding GLIA_BIN itself (-o): what is installed is what the
    suite tests."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    build = GLIA_BIN.parent
    res = subprocess.run(["make", "--no-print-directory", "-C", str(REPO),
                          f"BUILD={build}", "-o", str(build / "glia"), *args],
                         env=env, capture_output=True, text=True,
                         timeout=timeout)
    assert res.returncode == 0, \
        f"make {' '.join(args)} failed:\n{res.stdout}\n{res.stderr}"
    return res


def is_asan_build():
    res = subprocess.run(["ldd", str(GLIA_BIN)], capture_output=True,
                         text=True)
    return "libasan" in res.stdout


# ---------------------------------------------------------------------------
# make install, make uninstall


def test_make_install_stages_a_tree_whose_binary_runs_from_anywhere(
        tmp_path, daemon_factory, monkeypatch):
    stage = tmp_path / "stage"
    make("install", f"DESTDIR={stage}", "PREFIX=/usr")
    usr = stage / "usr"
    py = sorted(p.name for p in (REPO / "python" / "glia").glob("*.py"))
    assert os.access(usr / "bin" / "glia", os.X_OK)
    assert sorted(p.name for p in
                  (usr / "share" / "glia" / "python" / "glia").iterdir()) == py
    assert (usr / "include" / "glia" / "predictor.h").read_bytes() == \
        (REPO / "include" / "glia" / "predictor.h").read_bytes()
    pc = usr / "lib" / "pkgconfig" / "glia.pc"
    assert "prefix=/usr\n" in pc.read_text()

    # pkg-config finds it; --define-prefix relocates it to the staging dir,
    # where the header compiles
    env = dict(os.environ, PKG_CONFIG_PATH=str(pc.parent))
    out = subprocess.run(["pkg-config", "--modversion", "glia"], env=env,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == VERSION
    out = subprocess.run(["pkg-config", "--define-prefix", "--cflags", "glia"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [f"-I{usr}/include"]
    src = tmp_path / "abi.c"
    src.write_text("#include <glia/predictor.h>\n"
                   "int glia_predictor_abi_version(void)\n"
                   "{ return GLIA_PREDICTOR_ABI_VERSION; }\n")
    subprocess.run(["cc", "-fsyntax-only", *out.stdout.split(), str(src)],
                   check=True, timeout=60)

    # the tree moved elsewhere (no checkout beside it) serves a Python
    # predictor with its own copy of the Python package
    moved = tmp_path / "elsewhere" / "prefix"
    moved.parent.mkdir()
    shutil.move(str(usr), str(moved))
    monkeypatch.delenv("GLIA_PYTHON_DIR", raising=False)
    monkeypatch.setattr(conftest, "GLIA_BIN", moved / "bin" / "glia")
    d = daemon_factory()
    proj = write_project(tmp_path, api("where"),
                         {"predictor.py": WHERE_PREDICTOR})
    d.deploy(proj)
    r = d.post("/where", json={})
    assert r.status == 200, r.text
    want = os.path.realpath(moved / "share" / "glia" / "python" / "glia")
    assert os.path.dirname(r.json()["glia"]) == want

    # make uninstall removes exactly what make install put there
    stage2 = tmp_path / "stage2"
    make("install", f"DESTDIR={stage2}", "PREFIX=/opt/glia")
    (stage2 / "opt" / "glia" / "bin" / "other").write_text("kept\n")
    make("uninstall", f"DESTDIR={stage2}", "PREFIX=/opt/glia")
    left = sorted(str(p.relative_to(stage2)) for p in stage2.rglob("*")
                  if p.is_file())
    assert left == ["opt/glia/bin/other"]


# ---------------------------------------------------------------------------
# make deb


def dry_run_packages(tmp_path):
    """The packages of the first apt-get install of a dry-run
    Containerfile (what every image gets)."""
    proj = write_project(tmp_path, api("p"), {"predictor.py": "x = 1\n"},
                         dirname="pkgs")
    res = glia("build", "--dry-run", proj)
    assert res.returncode == 0, res.stderr
    block = res.stdout.split("apt-get install -y --no-install-recommends")[1]
    block = block.split("&& rm -rf")[0]
    return block.replace("\\", " ").split()


def test_make_deb_builds_a_debian_package(tmp_path):
    res = make("deb")
    arch = subprocess.run(["dpkg", "--print-architecture"],
                          capture_output=True, text=True,
                          check=True).stdout.strip()
    deb = GLIA_BIN.parent / f"glia_{VERSION}_{arch}.deb"
    assert res.stdout.splitlines()[-1] == str(deb)
    assert deb.is_file()

    info = subprocess.run(["dpkg-deb", "-I", str(deb)], capture_output=True,
                          text=True, check=True).stdout
    fields = dict(re.findall(r"^ (\w[\w-]*): (.*)$", info, re.M))
    assert fields["Package"] == "glia"
    assert fields["Version"] == VERSION
    assert fields["Architecture"] == arch
    depends = [d.strip().split(" ")[0] for d in fields["Depends"].split(",")]
    for pkg in RUNTIME:
        assert pkg in depends, (pkg, fields["Depends"])
    # every image gets what the package depends on (libc6 is in the base)
    image_pkgs = dry_run_packages(tmp_path)
    for pkg in depends:
        if pkg.startswith(("libc6", "libasan", "libubsan", "libgcc")):
            continue
        assert pkg in image_pkgs, (pkg, image_pkgs)

    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True,
                             text=True, check=True).stdout
    files = {line.split()[-1].lstrip(".") for line in listing.splitlines()}
    owners = {line.split()[1] for line in listing.splitlines()}
    assert owners == {"root/root"}
    assert "/usr/bin/glia" in files
    assert "/usr/include/glia/predictor.h" in files
    assert "/usr/share/pkgconfig/glia.pc" in files
    for p in (REPO / "python" / "glia").glob("*.py"):
        assert f"/usr/share/glia/python/glia/{p.name}" in files
    assert not any("__pycache__" in f for f in files)


# ---------------------------------------------------------------------------
# glia build: what it writes and how it fails (no container engine needed)


def test_build_dry_run_prints_the_containerfile_and_needs_no_engine(tmp_path):
    proj = write_project(tmp_path, api("a", "{apt: [python3-numpy, curl]}") +
                         api("b", "{apt: [python3-sklearn, python3-numpy], "
                                  "shell: setup.sh}"),
                         {"predictor.py": SUM_PREDICTOR,
                          "setup.sh": "true\n",
                          "requirements.txt": "six\n"},
                         dirname="My Project")
    empty = tmp_path / "empty-path"
    empty.mkdir()
    res = glia("build", "--dry-run", "--base", "localhost/debian:12", cwd=proj,
               env={"PATH": str(empty)})
    assert res.returncode == 0, res.stderr
    text = res.stdout
    assert text.startswith(f"# Written by glia build {VERSION} from glia.yaml")
    assert "\nFROM localhost/debian:12\n" in text
    assert ("      python3-numpy curl python3-sklearn python3-pip \\\n"
            " && rm -rf /var/lib/apt/lists/*\n") in text
    assert "COPY glia/ /usr/local/\nCOPY app/ /app/\nWORKDIR /app\n" in text
    assert 'RUN ["bash", "-e", "setup.sh"]\n' in text
    assert ('RUN ["sh", "/usr/local/share/glia/build/pip-install.sh", '
            '"requirements.txt"]\n') in text
    assert 'io.glia.file="/app/glia.yaml" io.glia.apis="a b"' in text
    assert text.endswith('ENTRYPOINT ["glia"]\nCMD ["--help"]\n')
    # the step order: apt, glia, project, shell, pip
    order = [text.index(s) for s in ("python3-numpy", "COPY glia/",
                                     "COPY app/", "setup.sh\"]",
                                     "pip-install.sh")]
    assert order == sorted(order)


def test_build_finds_the_spec_file_as_deploy_does(tmp_path):
    proj = write_project(tmp_path, api("c"), {"predictor.py": "x = 1\n"},
                         yaml_name="cortex.yaml")
    for args, cwd in ((["--dry-run"], proj), (["--dry-run", proj], tmp_path),
                      (["--dry-run", proj / "cortex.yaml"], tmp_path)):
        res = glia("build", *args, cwd=cwd)
        assert res.returncode == 0, res.stderr
        assert " from cortex.yaml " in res.stdout
        assert 'io.glia.file="/app/cortex.yaml"' in res.stdout
    res = glia("build", "--dry-run", cwd=tmp_path)
    assert res.returncode == 1
    assert res.stderr == \
        f"glia build: no glia.yaml or cortex.yaml in {tmp_path}\n"


@pytest.mark.parametrize("deps,files,message", [
    ("{pip: requirements.txt}", {},
     'glia.yaml:6:25: predictor.dependencies.pip: file "requirements.txt" '
     "not found in {dir}"),
    ("{shell: scripts/setup.sh}", {},
     'glia.yaml:6:27: predictor.dependencies.shell: file "scripts/setup.sh" '
     "not found in {dir}"),
    ("{shell: scripts}", {"scripts/x": ""},
     'glia.yaml:6:27: predictor.dependencies.shell: "scripts" is not a '
     "regular file"),
    ("{apt: [python3-NumPy]}", {},
     "glia.yaml:6:26: predictor.dependencies.apt[0]: must be a Debian "
     "package name"),
    ("{pip: ../requirements.txt}", {},
     "glia.yaml:6:25: predictor.dependencies.pip: must be a path inside "
     "the project directory"),
])
def test_build_refuses_missing_or_bad_dependencies_with_their_position(
        tmp_path, deps, files, message):
    proj = write_project(tmp_path, api("a", deps),
                         {"predictor.py": "x = 1\n", **files})
    res = glia("build", "--dry-run", cwd=proj)
    assert res.returncode == 1
    assert res.stdout == ""
    want = "glia build: " + message.format(dir=os.path.realpath(proj))
    assert res.stderr.startswith(want), res.stderr


def test_deploy_does_not_require_the_dependency_files(tmp_path, daemon):
    proj = write_project(tmp_path, api("nodeps", "{pip: missing.txt}"),
                         {"predictor.py": WHERE_PREDICTOR})
    daemon.deploy(proj)
    assert daemon.post("/nodeps", json={}).status == 200


def test_build_usage_errors(tmp_path):
    for args in (["a.yaml", "b.yaml"], ["--engine", "rkt"], ["--bogus"],
                 ["-t", ""]):
        res = glia("build", *args, cwd=tmp_path)
        assert res.returncode == 2, (args, res.stderr)
        assert res.stderr.startswith("glia build: ")
    res = glia("build", "--help")
    assert res.returncode == 0
    assert res.stdout.startswith("usage: glia build")
    assert "build [FILE]" in glia("--help").stdout


def test_build_without_a_container_engine_says_what_to_install(tmp_path):
    proj = write_project(tmp_path, api("a"), {"predictor.py": "x = 1\n"})
    empty = tmp_path / "empty-path"
    empty.mkdir()
    res = glia("build", cwd=proj, env={"PATH": str(empty)})
    assert res.returncode == 1
    assert res.stdout == ""
    assert res.stderr.startswith(
        "glia build: no container engine: install podman "
        "(apt-get install podman runc; docs/containers.md)"), res.stderr


def fake_engine(tmp_path, name, script):
    """A directory holding an executable `name` running sh script."""
    bindir = tmp_path / "fake-bin"
    bindir.mkdir(exist_ok=True)
    exe = bindir / name
    exe.write_text("#!/bin/sh\n" + script)
    exe.chmod(0o755)
    return bindir


def test_build_explains_an_engine_that_does_not_work(tmp_path):
    proj = write_project(tmp_path, api("a"), {"predictor.py": "x = 1\n"})
    bindir = fake_engine(tmp_path, "docker", (
        'echo "Client: Docker Engine"\n'
        'echo "Cannot connect to the Docker daemon at '
        'unix:///var/run/docker.sock." >&2\n'
        "exit 1\n"))
    res = glia("build", cwd=proj, env={"PATH": str(bindir)})
    assert res.returncode == 1
    assert "glia build: no container engine: install podman" in res.stderr
    assert ("docker is installed but `docker info` failed (status 1): "
            "Cannot connect to the Docker daemon at "
            "unix:///var/run/docker.sock.") in res.stderr


# A fake podman: `info` works, `image exists` says no, `build` keeps its
# arguments and a copy of the context in $FAKE_LOG, prints some output, and
# fails with status 3 when $FAKE_FAIL is set.
FAKE_PODMAN = """\
case "$1" in
info) echo "host: fake"; exit 0 ;;
image) exit 1 ;;
build)
  shift
  printf '%s\\n' "$@" > "$FAKE_LOG/argv"
  for last in "$@"; do :; done
  cp -r "$last" "$FAKE_LOG/ctx"
  echo "STEP 1/2: FROM base"
  if [ -n "${FAKE_FAIL:-}" ]; then
    echo "boom: the script failed"
    echo "Error: building at STEP \\"RUN\\": exit status 3" >&2
    exit 3
  fi
  echo "glia build: warning: something to repeat"
  echo "COMMIT"
  exit 0 ;;
esac
exit 2
"""


def test_build_hands_the_engine_glia_and_the_project(tmp_path):
    proj = write_project(tmp_path, api("a", "{pip: requirements.txt}"),
                         {"predictor.py": "x = 1\n",
                          "requirements.txt": "six\n",
                          "data/model.bin": b"\0\1\2",
                          ".git/HEAD": "ref: refs/heads/main\n"},
                         dirname="Iris Project")
    (proj / "link").symlink_to("data/model.bin")
    log = tmp_path / "log"
    log.mkdir()
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    bindir = fake_engine(tmp_path, "podman", FAKE_PODMAN)
    res = glia("build", cwd=proj,
               env={"PATH": f"{bindir}:{os.environ['PATH']}",
                    "FAKE_LOG": str(log), "TMPDIR": str(tmpdir),
                    "PIP_INDEX_URL": "http://127.0.0.1:9/simple/"})
    assert res.returncode == 0, res.stderr
    assert res.stdout == "glia-iris-project:latest\n"
    assert "STEP 1/2: FROM base" in res.stderr
    assert res.stderr.count("glia build: warning: something to repeat") == 2
    assert "glia build: built glia-iris-project:latest in " in res.stderr

    argv = (log / "argv").read_text().splitlines()
    ctx = argv[-1]
    assert argv[:-1] == ["-t", "glia-iris-project:latest",
                         "-f", f"{ctx}/Containerfile", "--network=host",
                         "--build-arg",
                         "PIP_INDEX_URL=http://127.0.0.1:9/simple/"]
    assert ctx.startswith(f"{tmpdir}/glia-build-")
    assert not os.path.exists(ctx), "the build context was left behind"
    assert os.listdir(tmpdir) == []

    got = log / "ctx"
    assert (got / "glia" / "bin" / "glia").read_bytes() == \
        GLIA_BIN.read_bytes()
    assert os.access(got / "glia" / "bin" / "glia", os.X_OK)
    assert sorted(p.name for p in
                  (got / "glia/share/glia/python/glia").iterdir()) == \
        sorted(p.name for p in (REPO / "python" / "glia").glob("*.py"))
    # the modules Cortex predictors import for logging come along
    for shim in ("cortex_internal/lib/log.py", "cortex/lib/log.py"):
        assert (got / "glia/share/glia/python" / shim).read_bytes() == \
            (REPO / "python" / shim).read_bytes()
    assert (got / "glia/include/glia/predictor.h").is_file()
    assert "prefix=/usr/local\n" in \
        (got / "glia/lib/pkgconfig/glia.pc").read_text()
    assert (got / "glia/share/glia/build/pip-install.sh").is_file()
    assert (got / "app" / "data" / "model.bin").read_bytes() == b"\0\1\2"
    assert os.readlink(got / "app" / "link") == "data/model.bin"
    assert not (got / "app" / ".git").exists()
    dry = glia("build", "--dry-run", cwd=proj)
    assert (got / "Containerfile").read_text() == dry.stdout


def test_build_shows_a_failing_step_and_fails(tmp_path):
    proj = write_project(tmp_path, api("a"), {"predictor.py": "x = 1\n"})
    log = tmp_path / "log"
    log.mkdir()
    bindir = fake_engine(tmp_path, "podman", FAKE_PODMAN)
    res = glia("build", "-t", "x:y", "--network", "default", cwd=proj,
               env={"PATH": f"{bindir}:{os.environ['PATH']}",
                    "FAKE_LOG": str(log), "FAKE_FAIL": "1"})
    assert res.returncode == 1
    assert res.stdout == ""
    argv = (log / "argv").read_text().splitlines()  # no --network
    assert argv == ["-t", "x:y", "-f", f"{argv[-1]}/Containerfile", argv[-1]]
    err = res.stderr
    assert "boom: the script failed" in err
    assert 'Error: building at STEP "RUN": exit status 3' in err
    assert ("glia build: the build failed: podman build exited with status 3 "
            "(its output is above)") in err
    assert (f"glia build: the base image {BASE} is not in podman's store"
            in err)


# ---------------------------------------------------------------------------
# real images (podman)


def podman(*args, timeout=RUN_TIMEOUT, check=True):
    res = subprocess.run(["podman", *map(str, args)], capture_output=True,
                         text=True, timeout=timeout)
    if check:
        assert res.returncode == 0, \
            f"podman {' '.join(map(str, args))}:\n{res.stdout}\n{res.stderr}"
    return res


def podman_problem():
    """Why real containers cannot be used here, or None."""
    if is_asan_build():
        return "an ASan build of glia does not run in a Debian image"
    if not shutil.which("podman"):
        return "podman is not installed (scripts/install-deps.sh)"
    res = subprocess.run(["podman", "info"], capture_output=True, text=True,
                         timeout=120)
    if res.returncode != 0:
        return f"podman info failed: {res.stderr.strip()[-300:]}"
    if podman("image", "exists", BASE, check=False).returncode != 0:
        if not shutil.which("mmdebstrap") or os.geteuid() != 0:
            return (f"{BASE} is missing and cannot be made here "
                    "(scripts/base-image.sh needs root and mmdebstrap)")
        res = subprocess.run([str(REPO / "scripts" / "base-image.sh")],
                             capture_output=True, text=True, timeout=900)
        assert res.returncode == 0, \
            f"scripts/base-image.sh failed:\n{res.stdout}\n{res.stderr}"
    res = podman("run", "--rm", BASE, "true", check=False)
    if res.returncode != 0:
        return ("podman cannot run containers here "
                f"(docs/containers.md): {res.stderr.strip()[-300:]}")
    return None


@pytest.fixture(scope="module")
def podman_ready():
    why = podman_problem()
    if why:
        pytest.skip(why)


class Images:
    """Unique image names for a test, and the images its builds made (the
    named ones and the intermediate images of each step, which a failed
    build leaves), removed at the end. Only what these builds committed
    is removed, without -f: a layer another build shares (a cache hit, or
    the parent of another image) stays."""

    def __init__(self):
        self.tags = []
        self.ids = []

    def name(self, what):
        tag = f"localhost/glia-e2e-{what}-{uuid.uuid4().hex[:10]}:test"
        self.tags.append(tag)
        return tag

    def built(self, output):
        """Notes the images a build's output says it committed."""
        self.ids += re.findall(r"^--> ([0-9a-f]{11,64})$", output, re.M)

    def remove(self):
        for tag in self.tags:
            podman("rmi", tag, check=False)
        for image in reversed(self.ids):  # children before their parents
            if podman("image", "exists", image, check=False).returncode == 0:
                podman("rmi", image, check=False)
        for tag in self.tags:
            assert podman("image", "exists", tag,
                          check=False).returncode != 0, f"{tag} left behind"


@pytest.fixture
def images(podman_ready):
    imgs = Images()
    yield imgs
    imgs.remove()


@pytest.mark.containers
def test_build_makes_an_image_that_serves_the_project(tmp_path, images):
    proj = write_project(
        tmp_path, api("tiny", "{apt: [python3-numpy]}"),
        {"predictor.py": SUM_PREDICTOR,
         "dependencies.sh": "echo ran > /app/dependencies-ran\n",
         "requirements.txt": "six\n",
         ".git/HEAD": "ref: refs/heads/main\n"},
        dirname="tiny")
    tag = images.name("tiny")
    # nothing answers on port 9 in the build: the pip step warns, the build
    # goes on
    res = glia("build", "-t", tag, cwd=proj, timeout=BUILD_TIMEOUT,
               env={"PIP_INDEX_URL": "http://127.0.0.1:9/simple/"})
    images.built(res.stderr)
    assert res.returncode == 0, res.stderr[-5000:]
    assert res.stdout == f"{tag}\n"
    assert "STEP 1/" in res.stderr  # the engine's output came through
    warning = ("glia build: warning: requirements.txt NOT installed: the "
               "package index http://127.0.0.1:9/simple/ did not answer")
    assert warning in res.stderr.split("COMMIT")[-1], res.stderr[-3000:]

    assert podman("run", "--rm", tag, "version").stdout == f"glia {VERSION}\n"
    check = ("import sys; sys.path.insert(0, '/usr/local/share/glia/python');"
             " import glia, numpy, json;"
             " print(json.dumps([glia.__file__, numpy.__name__]))")
    out = podman("run", "--rm", "--entrypoint", "python3", tag, "-c",
                 check).stdout
    assert json.loads(out) == [
        "/usr/local/share/glia/python/glia/__init__.py", "numpy"]
    listing = podman("run", "--rm", "--entrypoint", "ls", tag, "-A", "/app",
                     "/usr/local/include/glia",
                     "/usr/local/lib/pkgconfig").stdout
    assert "dependencies-ran" in listing
    assert ".git" not in listing
    assert "predictor.h" in listing and "glia.pc" in listing
    labels = json.loads(podman("image", "inspect", "--format",
                               "{{json .Labels}}", tag).stdout)
    assert labels["io.glia.apis"] == "tiny"
    assert labels["io.glia.file"] == "/app/glia.yaml"

    # the whole of glia in the image: a daemon serving the project
    script = ("glia up -d >/dev/null 2>&1 && glia deploy --wait /app "
              ">/dev/null && glia predict tiny '{\"x\": [1, 2.5]}'; rc=$?; "
              "glia down >/dev/null; exit $rc")
    out = podman("run", "--rm", "--entrypoint", "sh", tag, "-c",
                 script).stdout
    assert json.loads(out) == {"sum": 3.5}

    # a failing step: its output is shown and glia build fails
    (proj / "dependencies.sh").write_text(
        "echo marker-from-the-script\nexit 7\n")
    res = glia("build", "-t", images.name("broken"), cwd=proj,
               timeout=BUILD_TIMEOUT)
    images.built(res.stderr)
    assert res.returncode == 1
    assert res.stdout == ""
    assert "marker-from-the-script" in res.stderr
    assert ("glia build: the build failed: podman build exited with status"
            in res.stderr)


@pytest.mark.containers
def test_deb_installs_with_apt_in_a_debian_container(tmp_path, podman_ready):
    make("deb")
    arch = subprocess.run(["dpkg", "--print-architecture"],
                          capture_output=True, text=True,
                          check=True).stdout.strip()
    deb = GLIA_BIN.parent / f"glia_{VERSION}_{arch}.deb"
    script = ("apt-get update -qq && apt-get install -y -qq "
              "--no-install-recommends /tmp/glia.deb >/dev/null && "
              "glia version && "
              "python3 -c \"import sys; "
              "sys.path.insert(0, '/usr/share/glia/python'); import glia; "
              "print(glia.__file__)\"")
    # the host's network: on some machines (this one) containers on
    # podman's bridge cannot reach Debian's mirrors; builds use the host's
    res = podman("run", "--rm", "--network", "host",
                 "-v", f"{deb}:/tmp/glia.deb:ro", BASE,
                 "sh", "-c", script, timeout=BUILD_TIMEOUT)
    assert res.stdout.splitlines()[-2:] == [
        f"glia {VERSION}", "/usr/share/glia/python/glia/__init__.py"]
