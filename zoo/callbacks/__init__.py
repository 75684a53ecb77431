"""Callbacks: sample grids and scatter plots, run summaries, in-training evaluation."""

from zoo.callbacks.evaluation import Evaluation
from zoo.callbacks.samples import SampleGrid
from zoo.callbacks.summary import RunSummary

__all__ = ["Evaluation", "RunSummary", "SampleGrid"]
