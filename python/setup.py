"""Installs the glia Python package: `pip install ./python` from the
repository root.

The package is pure Python and uses only the standard library. It holds
`glia.Response` and `glia.request_id()` for predictors and `glia.client()`
for talking to a glia daemon (docs/python-client.md).

There is deliberately no pyproject.toml: with one, pip builds in an isolated
environment and must download setuptools, which fails offline; with a bare
setup.py it uses the setuptools already installed (python3-setuptools on
Debian).
"""
import re
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent
VERSION = re.search(r'^__version__ = "([^"]+)"',
                    (HERE / "glia" / "__init__.py").read_text(),
                    re.M).group(1)

setup(
    name="glia",
    version=VERSION,
    description="Python package of glia: predictor helpers and the client "
                "of the glia daemon's management API",
    long_description=__doc__,
    long_description_content_type="text/plain",
    # glia, and Cortex's module names (the cortex client, its lib.log
    # shim and cortex_internal) where the tree has them
    packages=[p for p in ("glia", "cortex", "cortex.lib", "cortex_internal",
                          "cortex_internal.lib")
              if (HERE / p.replace(".", "/") / "__init__.py").exists()],
    python_requires=">=3.8",
    install_requires=[],
    classifiers=[
        "Programming Language :: Python :: 3",
        "Operating System :: POSIX :: Linux",
    ],
)
