"""cortex: Cortex's Python client (``pip install cortex``, v0.20-0.42), over
glia's (glia/client.py), so that Cortex notebooks and scripts run unchanged::

    import cortex

    cx = cortex.client()                   # the local glia daemon
    cx = cortex.client("prod")             # env prod: glia env add prod --url ...
    cx.create_api(api_spec, predictor=PythonPredictor, wait=True)
    cx.get_api("text-generator")["endpoint"]   # a full URL, as Cortex gave

Cortex's client ran the ``cortex`` CLI; this one speaks to the glia daemon's
management API directly (the Unix socket, or a remote env's URL and token
from GLIA_HOME/envs.json, as ``glia --env NAME`` does). docs/python-client.md
lists every function and what differs from Cortex.

Standard library only. Another module may live in this package
(``cortex.lib.log``, the predictor logging shim); this file imports nothing
from it.
"""

import importlib

__version__ = "0.42.0"

# Loaded on first use (PEP 562): a predictor that imports cortex.lib.log
# does not load the client.
_CLIENT_NAMES = ("client", "Client", "CortexException", "new_client",
                 "local_client", "cluster_client", "env_list", "env_delete")

__all__ = list(_CLIENT_NAMES)


def __getattr__(name):
    """Loads cortex.client on first use of one of its names."""
    if name in _CLIENT_NAMES:
        mod = importlib.import_module(".client", __name__)
        value = getattr(mod, name)
        globals()[name] = value
        return value
    raise AttributeError("module 'cortex' has no attribute %r" % name)
