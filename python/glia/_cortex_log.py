"""The logger behind Cortex's predictor logging modules, for glia.

Cortex predictors log through ``cortex_internal.lib.log`` (Cortex 0.26-0.35:
``from cortex_internal.lib.log import logger``) or ``cortex.lib.log``
(Cortex 0.20-0.25: ``cx_logger()``, ``get_logger()``, ``logger``). Both
shims in glia's python directory hand out the logger built here: the
"cortex" logger, which has no handler of its own and passes every record to
the root logger the worker set up (glia._runtime._setup_logging), so the
lines reach ``glia logs`` with the time, the level and the request id, and
the predictor.log_level (Cortex's CORTEX_LOG_LEVEL) decides what is kept.

Cortex printed a record's ``extra={...}`` fields in its JSON lines; glia's
lines are text, so the fields are appended to the message as one JSON
object, sorted by key, instead of being dropped.
"""

import json
import logging

NAME = "cortex"

# The attributes every LogRecord has; anything else came from extra=.
_STANDARD = frozenset(
    logging.LogRecord("", logging.INFO, "", 0, "", (), None).__dict__
) | {"message", "asctime", "request_id"}


class _ExtraFields(logging.Filter):
    """Appends a record's extra= fields to its message as JSON."""

    def filter(self, record):
        extra = {k: v for k, v in record.__dict__.items()
                 if k not in _STANDARD}
        if extra:
            record.msg = "%s %s" % (record.getMessage(),
                                    json.dumps(extra, default=str,
                                               sort_keys=True))
            record.args = ()
        return True


class CallableLogger:
    """The "cortex" logger, usable both ways Cortex code used cx_logger:
    called (``cx_logger().info(...)``, Cortex 0.20-0.25) or as the logger
    itself (``cx_logger.info(...)``)."""

    def __init__(self, logger):
        self._logger = logger

    def __call__(self):
        return self._logger

    def __getattr__(self, name):
        return getattr(self._logger, name)

    def __repr__(self):
        return "<glia cortex logger %r>" % (self._logger,)


def get_logger():
    """The "cortex" logger, its extra= filter installed once."""
    logger = logging.getLogger(NAME)
    if not any(isinstance(f, _ExtraFields) for f in logger.filters):
        logger.addFilter(_ExtraFields())
    return logger
