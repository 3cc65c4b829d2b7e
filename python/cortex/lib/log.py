"""``cortex.lib.log`` (Cortex 0.20-0.25's internal logging module) on glia.

``cx_logger()`` (also usable as ``cx_logger.info(...)``), ``get_logger()``
and ``logger`` are the "cortex" logger of glia._cortex_log: its lines go to
the worker's log (``glia logs``) at the level given, kept or dropped by
predictor.log_level. register_logger and refresh_logger exist so that code
calling them runs; they hand out the same logger.
"""

from glia._cortex_log import CallableLogger, get_logger as _get_logger

logger = _get_logger()
cx_logger = CallableLogger(logger)


def get_logger():
    return logger


def register_logger(name=None, show_pid=True):
    return logger


def refresh_logger(show_pid=True):
    return None


def debug_obj(name, payload, debug):
    if debug:
        logger.info("%s: %s", name, payload)
