"""``zoo compare``: runs or reproduction results side by side, as a table and a learning-curve plot.

Runs are read from their local logs (CSVLogger, TensorBoard, offline W&B) or from W&B by path
(:mod:`zoo.compare.readers`); reproduction result files from ``results/`` (:mod:`zoo.compare.results`).
"""

from zoo.compare.readers import read_run
from zoo.compare.runs import Run, direction

__all__ = ["Run", "direction", "read_run"]
