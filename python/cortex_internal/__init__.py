"""glia's stand-in for the parts of Cortex's internal package that
predictors import (Cortex 0.26-0.35): cortex_internal.lib.log."""
