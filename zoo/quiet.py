"""Lightning's advertisements and known-harmless warnings, silenced for zoo commands.

Only messages named here go; every other warning and log line still shows.
"""

from __future__ import annotations

import logging
import warnings

# rank_zero_info lines that advertise or state the obvious; both packages' loggers may carry them.
_DROPPED_INFO = ("💡 Tip", "GPU available:", "TPU available:", "HPU available:")
_LOGGERS = ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero")


class _DropInfo(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_DROPPED_INFO)


_FILTER = _DropInfo()


def quiet_lightning() -> None:
    """Install the filters (idempotent; cheap: imports nothing of torch or Lightning)."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    # Lightning 2.6 still builds torch's deprecated LeafSpec on every logged value; nothing to fix here.
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning)
    # `zoo reproduce` hands each row's `fit` to LightningCLI as `args` while its own argv is still set.
    warnings.filterwarnings("ignore", message=r"LightningCLI's args parameter is intended to run from within Python")
