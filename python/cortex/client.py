"""Cortex's client object over glia's management API (see __init__.py).

Every version's method names and signatures are accepted (0.20-0.42, as in
docs/python-client.md#the-cortex-module); results have Cortex's shapes:
``get_api`` gives ``{"spec", "status": {"status_code", "replica_counts"},
"endpoint": full URL, "metrics", ...}``, ``create_api`` gives
``{"api", "message", "error"}``.
"""

import ast
import copy
import inspect
import json
import os
import sys
import tempfile
import textwrap
import types
import warnings

from glia.client import Client as _GliaClient
from glia.client import GliaError, _home_dir

_ENVS_FILE = "envs.json"
_PREDICTOR_FILE = "predictor.py"
_NO_JOBS = ("%s: jobs (BatchAPI, TaskAPI) come with BatchAPI support, which "
            "glia does not have yet")

# glia status -> Cortex status_code (Cortex's pkg/types/status/code.go)
_STATUS_CODES = {
    "live": "status_live",
    "starting": "status_updating",
    "updating": "status_updating",
    "degraded": "status_updating",
    "failed": "status_error",
    "update failed": "status_error",
    "stopping": "status_unknown",
}

_SUB_COUNTS = ("pending", "initializing", "ready", "err_image_pull",
               "terminating", "failed", "killed", "killed_oom", "stalled",
               "unknown")

# Cortex inferred predictor.type from the class name
_TYPES_BY_CLASS = {"TensorFlowPredictor": "tensorflow",
                   "ONNXPredictor": "onnx"}


class CortexException(Exception):
    """An error of the cortex module: the daemon refused or could not be
    reached (the message is glia's), or a call glia does not serve."""

    def __init__(self, message, status=None):
        """message: what went wrong; status: the HTTP status, if any."""
        super().__init__(message)
        self.message = message
        self.status = status


def _raise_from(e):
    """A CortexException carrying a GliaError's message and status."""
    raise CortexException(e.message, e.status) from None


# ----------------------------------------------------------------------
# environments (GLIA_HOME/envs.json, as `glia env` keeps them)

def _envs_path():
    """GLIA_HOME/envs.json."""
    return os.path.join(_home_dir(), _ENVS_FILE)


def _load_envs():
    """The envs file's object ({} when there is none)."""
    try:
        with open(_envs_path(), encoding="utf-8") as f:
            root = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise CortexException("%s: %s" % (_envs_path(), e)) from None
    if not isinstance(root, dict):
        raise CortexException("%s: not a JSON object" % _envs_path())
    return root


def _save_envs(root):
    """Writes the envs file atomically, mode 0600 (it holds tokens)."""
    path = _envs_path()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".envs.", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(root, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


# envs.json's reserved key: the default env's name (`glia env default
# NAME`); absent means local. Env names have no "_", so it is never one.
_DEFAULT_KEY = "_default"


def _default_env(root=None):
    """The default env's name (`glia env default`): "local" when none."""
    d = (_load_envs() if root is None else root).get(_DEFAULT_KEY)
    return d if isinstance(d, str) and d else "local"


def _glia_client(env):
    """glia's client of env: "local" is the local daemon; another name a
    remote daemon kept by `glia env add NAME --url URL --token T`."""
    if env == "local":
        return _GliaClient()
    e = _load_envs().get(env)
    if not isinstance(e, dict):
        raise CortexException(
            "no env named %s (glia env add %s --url http://HOST:PORT "
            "--token TOKEN)" % (env, env))
    if e.get("provider") != "glia":
        raise CortexException(
            "env %s is a %s environment: the cortex module talks to glia "
            "daemons (use `glia deploy --env %s`)"
            % (env, e.get("provider"), env))
    return _GliaClient(url=e["url"], token=e.get("token"),
                       gateway_url=e.get("gateway"))


def client(env=None, env_name=None):
    """A Client of env (Cortex 0.20-0.42: ``cortex.client("aws")``; None
    is the default env, as `glia env default` sets it, "local" the local
    glia daemon)."""
    return Client(env if env is not None else env_name)


def new_client(name, operator_endpoint, token=None):
    """Keeps env name (a glia daemon at operator_endpoint, its
    ``--admin-listen`` address, with its GLIA_HOME/token) and returns its
    Client (Cortex 0.28+)."""
    if not token:
        raise CortexException("new_client: glia needs the daemon's token "
                              "(token=..., its GLIA_HOME/token)")
    _GliaClient(url=operator_endpoint, token=token)  # checks the URL
    root = _load_envs()
    root[name] = {"provider": "glia", "url": operator_endpoint.rstrip("/"),
                  "token": token}
    _save_envs(root)
    return Client(name)


def local_client(*args, **kwargs):
    """Cortex 0.20-0.24's local environment: the local glia daemon (AWS
    credentials are ignored)."""
    return Client("local")


def cluster_client(name, *args, **kwargs):
    """Cortex 0.20-0.24's cluster_client: glia has no clusters; the env
    name, kept with `glia env add`, is used."""
    return Client(name)


def env_list():
    """``{"environments": [{"name", "provider", "url"?}], "default_environment":
    "local"}`` (no tokens), as ``cortex env list -o json``."""
    envs = [{"name": "local", "provider": "local"}]
    root = _load_envs()
    for name, e in sorted(root.items()):
        if isinstance(e, dict):
            shown = {k: v for k, v in e.items() if k != "token"}
            envs.append(dict(shown, name=name))
    return {"environments": envs, "default_environment": _default_env(root)}


def env_delete(name):
    """Forgets env name (nothing on its daemon changes)."""
    root = _load_envs()
    if not isinstance(root.pop(name, None), dict):
        raise CortexException("no env named %s" % name)
    if _default_env(root) == name:  # the default is local again
        del root[_DEFAULT_KEY]
    _save_envs(root)


# ----------------------------------------------------------------------
# an in-process predictor class, written as a project

def _import_lines(module):
    """The top-level import statements of module's source, each guarded:
    the class may use them, and one the replica cannot import is skipped."""
    try:
        source = inspect.getsource(module)
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return []
    lines = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            stmt = " ".join(ast.get_source_segment(source, node)
                            .replace("\\", " ").split())
            stmt = stmt.replace("( ", "(").replace(" )", ")")
            lines.append("try:\n    %s\nexcept ImportError:\n    pass" % stmt)
    return lines


def _class_source(cls):
    """predictor.py's text for an in-process class: its module's imports,
    the class's own source, and PythonPredictor bound to it."""
    try:
        src = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        raise CortexException(
            "cannot read the source of %s (defined in an interactive "
            "session?): define it in a .py file, or pass project_dir"
            % getattr(cls, "__name__", cls)) from None
    parts = ["# Written by the cortex module (glia) from %s.%s\n"
             % (cls.__module__, cls.__qualname__)]
    parts.extend(_import_lines(inspect.getmodule(cls)))
    parts.append(src)
    if cls.__name__ not in ("PythonPredictor", "Predictor", "Handler"):
        parts.append("PythonPredictor = %s" % cls.__name__)
    return "\n\n".join(parts) + "\n"


def _write_text(path, text):
    """Writes path atomically (a replica may read it at any time)."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _write_project(spec, predictor, requirements, conda_packages):
    """GLIA_HOME/deployments/NAME (as Cortex's ~/.cortex/deployments/NAME):
    predictor.py, requirements.txt, conda-packages.txt and cortex.yaml.
    Returns cortex.yaml's path. It is kept: replicas read it at every
    start."""
    name = spec.get("name")
    if not isinstance(name, str) or not name or "/" in name or \
            name.startswith("."):
        raise CortexException("api_spec needs a name")
    proj = os.path.join(_home_dir(), "deployments", name)
    os.makedirs(proj, mode=0o700, exist_ok=True)
    _write_text(os.path.join(proj, _PREDICTOR_FILE), _class_source(predictor))
    key = "handler" if "handler" in spec else "predictor"
    section = dict(spec.get(key) or {})
    section["path"] = _PREDICTOR_FILE
    section.setdefault("type", _TYPES_BY_CLASS.get(predictor.__name__,
                                                   "python"))
    spec[key] = section
    if requirements:
        _write_text(os.path.join(proj, "requirements.txt"),
                    "\n".join(requirements) + "\n")
        warnings.warn("glia does not install requirements: %s are written "
                      "to %s/requirements.txt (glia build installs them); "
                      "the local replicas use what is installed here"
                      % (", ".join(requirements), proj), stacklevel=3)
    if conda_packages:
        _write_text(os.path.join(proj, "conda-packages.txt"),
                    "\n".join(conda_packages) + "\n")
        warnings.warn("glia does not install conda packages (%s)"
                      % ", ".join(conda_packages), stacklevel=3)
    path = os.path.join(proj, "cortex.yaml")
    _write_text(path, json.dumps([spec], indent=2) + "\n")
    return path


# ----------------------------------------------------------------------
# result shapes

def _counts(**given):
    """Cortex's SubReplicaCounts with the given fields set."""
    out = dict.fromkeys(_SUB_COUNTS, 0)
    out.update(given)
    return out


def _status(d):
    """Cortex's status object from glia's API detail or summary."""
    reps = d.get("replicas") or {}
    ready = int(reps.get("ready") or 0)
    utd = int(reps.get("up_to_date") or 0)
    failed = int(reps.get("failed") or 0)
    requested = int(reps.get("requested") or 0)
    fresh_ready = min(ready, utd)
    return {
        "api_name": d.get("name"),
        "status_code": _STATUS_CODES.get(d.get("status"), "status_unknown"),
        "message": d.get("status"),
        "replica_counts": {
            "requested": requested,
            "updated": _counts(
                ready=fresh_ready, failed=failed,
                initializing=max(utd - fresh_ready, 0),
                pending=max(requested - utd - failed, 0)),
            "stale": _counts(ready=ready - fresh_ready),
        },
    }


def _metrics(d):
    """Cortex's network_stats from glia's request counters."""
    req = d.get("requests") or {}
    return {"network_stats": {
        "latency": d.get("avg_latency_ms"),
        "code_2xx": req.get("2xx", 0),
        "code_4xx": req.get("4xx", 0),
        "code_5xx": req.get("5xx", 0),
    }}


def _api_response(d, gateway_url=None):
    """Cortex's APIResponse for glia's detail (GET /v1/apis/NAME): spec,
    status, metrics, endpoint (a full URL); glia's detail under "glia"."""
    spec = copy.deepcopy(d.get("spec") or {})
    spec.setdefault("name", d.get("name"))
    spec.setdefault("kind", d.get("kind"))
    spec["submitted_api_spec"] = copy.deepcopy(d.get("spec") or {})
    endpoint = d.get("url")
    if gateway_url and d.get("endpoint"):
        endpoint = gateway_url.rstrip("/") + d["endpoint"]
    return {"spec": spec, "status": _status(d), "metrics": _metrics(d),
            "endpoint": endpoint, "glia": d}


# ----------------------------------------------------------------------

class Client:
    """Cortex's client of one environment (make it with cortex.client)."""

    def __init__(self, env=None):
        """env: "local" (the local daemon), a kept env's name, or None:
        the default env (`glia env default`)."""
        self.env = env if env is not None else _default_env()
        self.env_name = self.env
        self._glia = _glia_client(self.env)

    def __repr__(self):
        """Names the env."""
        return "<cortex.Client env=%r (glia)>" % self.env

    def _call(self, method, *args, **kwargs):
        """A glia client call, its GliaError as a CortexException."""
        try:
            return getattr(self._glia, method)(*args, **kwargs)
        except GliaError as e:
            _raise_from(e)

    # -- deploying

    def create_api(self, api_spec, predictor=None, task=None,
                   requirements=[], conda_packages=[], project_dir=None,
                   force=True, wait=False):
        """Deploys api_spec (Cortex 0.24-0.33). predictor: a class defined
        in this process, written with its module's imports to
        GLIA_HOME/deployments/NAME/predictor.py; project_dir: a directory
        holding the files api_spec names. force: accepted (glia never
        blocks on an update in progress). Returns {"api", "message",
        "error"}, or get_api(NAME) with wait=True."""
        if task is not None:
            raise CortexException(_NO_JOBS % "create_api(task=...)")
        spec = copy.deepcopy(dict(api_spec))
        if spec.get("kind") in ("BatchAPI", "TaskAPI"):
            raise CortexException(_NO_JOBS % spec["kind"])
        spec.setdefault("kind", "RealtimeAPI")
        if predictor is not None and project_dir is not None:
            raise CortexException("pass predictor or project_dir, not both")
        if predictor is not None:
            path = _write_project(spec, predictor, list(requirements or []),
                                  list(conda_packages or []))
            results = self._call("deploy", path)
        else:
            results = self._call("deploy", spec, project_dir=project_dir)
        return self._deployed(results, spec.get("name"), wait)

    def _deployed(self, results, name, wait):
        """Cortex's deploy result for name from glia's result list."""
        result = next((r for r in results if r.get("name") == name),
                      results[0] if results else {})
        name = result.get("name", name)
        if wait:
            self._call("wait", name)
            return self.get_api(name)
        return {"api": self.get_api(name),
                "message": "%s %s" % (name, result.get("result", "deployed")),
                "error": None}

    def deploy(self, api_spec_or_file, *args, **kwargs):
        """Every version's deploy: ``deploy(config_file, force, wait)``
        (0.20-0.21) returns a list of results; ``deploy(api_spec,
        predictor=..., pip_dependencies=..., conda_dependencies=...,
        project_dir=..., force, wait)`` (0.23), ``deploy(api_spec,
        project_dir, force, wait)`` (0.35) and ``deploy(api_spec, force,
        wait)`` (0.36+) return one result."""
        if isinstance(api_spec_or_file, (str, os.PathLike)):
            wait = kwargs.get("wait", args[1] if len(args) > 1 else False)
            return self._deploy_file(api_spec_or_file, wait)
        if args and isinstance(args[0], (str, os.PathLike)):
            kwargs["project_dir"] = args[0]  # 0.35: deploy(spec, project_dir)
            args = args[1:]
        force = kwargs.pop("force", args[0] if args else True)
        wait = kwargs.pop("wait", args[1] if len(args) > 1 else False)
        return self.create_api(
            api_spec_or_file,
            predictor=kwargs.pop("predictor", kwargs.pop("handler", None)),
            requirements=kwargs.pop("pip_dependencies",
                                    kwargs.pop("requirements", [])),
            conda_packages=kwargs.pop("conda_dependencies",
                                      kwargs.pop("conda_packages", [])),
            project_dir=kwargs.pop("project_dir", None), force=force,
            wait=wait)

    def _deploy_file(self, config_file, wait):
        """A cortex.yaml's APIs: one Cortex result per API."""
        results = self._call("deploy", os.fspath(config_file))
        if wait:
            self._call("wait", [r["name"] for r in results])
        return [{"api": self.get_api(r["name"]),
                 "message": "%s %s" % (r["name"], r.get("result")),
                 "error": None} for r in results]

    def deploy_from_file(self, config_file, force=False, wait=False):
        """Deploys a cortex.yaml (0.36+); the first API's result."""
        return self._deploy_file(config_file, wait)[0]

    def deploy_realtime_api(self, api_spec, handler, requirements=None,
                            conda_packages=None, force=True, wait=False):
        """0.35: a RealtimeAPI with an in-process Handler class."""
        if api_spec.get("kind", "RealtimeAPI") != "RealtimeAPI":
            raise CortexException("deploy_realtime_api: kind must be "
                                  "RealtimeAPI")
        return self.create_api(api_spec, predictor=handler,
                               requirements=requirements or [],
                               conda_packages=conda_packages or [],
                               force=force, wait=wait)

    def deploy_traffic_splitter(self, api_spec):
        """0.35: a TrafficSplitter."""
        return self.create_api(api_spec)

    def deploy_batch_api(self, api_spec, *args, **kwargs):
        """0.35: BatchAPI: not served yet."""
        raise CortexException(_NO_JOBS % "deploy_batch_api")

    def deploy_task_api(self, api_spec, *args, **kwargs):
        """0.35: TaskAPI: not served yet."""
        raise CortexException(_NO_JOBS % "deploy_task_api")

    def patch(self, api_spec, force=False):
        """Updates an API that is deployed (0.24-0.35), with the files of
        its deployed project directory; an API that is not deployed is an
        error. Returns {"api", "message", "error"}."""
        name = api_spec.get("name")
        try:
            current = self._glia.get_api(name)
        except GliaError as e:
            if e.status == 404:
                raise CortexException(
                    "api %s is not deployed: patch updates deployed APIs "
                    "only" % name, 404) from None
            _raise_from(e)
        spec = copy.deepcopy(dict(api_spec))
        spec.setdefault("kind", current.get("kind") or "RealtimeAPI")
        results = self._call("deploy", spec,
                             project_dir=current.get("project_dir"))
        return self._deployed(results, name, False)

    # -- reading

    def get_api(self, api_name):
        """Cortex's APIResponse: spec, status (status_code,
        replica_counts), metrics, endpoint (a full URL)."""
        return _api_response(self._call("get_api", api_name),
                             self._glia.gateway_url)

    def list_apis(self):
        """Every API's get_api, sorted by name."""
        out = []
        for summary in self._call("list_apis"):
            try:
                out.append(self.get_api(summary["name"]))
            except CortexException as e:
                if e.status != 404:  # deleted meanwhile
                    raise
        return out

    def stream_api_logs(self, api_name):
        """Prints the API's logs as they come, until Ctrl-C (Cortex
        <=0.35)."""
        stream = self._call("logs", api_name, follow=True)
        try:
            for line in stream:
                print(line, flush=True)
        except KeyboardInterrupt:
            pass
        finally:
            stream.close()

    # -- changing

    def refresh(self, api_name, force=False):
        """Restarts the API's replicas one by one (force: accepted)."""
        self._call("refresh", api_name)

    def delete_api(self, api_name, keep_cache=False):
        """Deletes the API (its replicas drain first). keep_cache:
        accepted (glia keeps no cache per API)."""
        self._call("delete", api_name)

    def delete(self, api_name, keep_cache=False):
        """0.35+: delete_api's new name."""
        self.delete_api(api_name, keep_cache=keep_cache)

    # -- jobs

    def submit_job(self, *args, **kwargs):
        """Not served yet: raises CortexException."""
        raise CortexException(_NO_JOBS % "submit_job")

    def get_job(self, *args, **kwargs):
        """Not served yet: raises CortexException."""
        raise CortexException(_NO_JOBS % "get_job")

    def stop_job(self, *args, **kwargs):
        """Not served yet: raises CortexException."""
        raise CortexException(_NO_JOBS % "stop_job")

    def stream_job_logs(self, *args, **kwargs):
        """Not served yet: raises CortexException."""
        raise CortexException(_NO_JOBS % "stream_job_logs")



class _CallableModule(types.ModuleType):
    """`import cortex.client` binds cortex.client to this module, where
    cortex.client is also the function: calling the module calls it."""

    def __call__(self, *args, **kwargs):
        """Same as cortex.client(*args, **kwargs)."""
        return client(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
