"""``from cortex_internal.lib.log import logger`` (Cortex 0.26-0.35) on glia.

``logger`` logs into the worker's log (``glia logs``) at the level given,
kept or dropped by predictor.log_level; ``extra={...}`` fields are
appended to the line as JSON. Cortex's configure_logger / retrieve_logger
read a logging config file of Cortex's image; here they return the same
logger and leave glia's logging as it is.
"""

from glia._cortex_log import get_logger

logger = get_logger()


def configure_logger(name=None, config_file=None):
    return logger


def retrieve_logger(name=None, config_file=None):
    return logger
