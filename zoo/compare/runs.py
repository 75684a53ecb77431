"""A run as the rows of scalars it logged, and what a comparison reads from them.

Every reader turns its logs into rows keyed by Lightning's logging ``step`` (the count of training
batches, minus one), so eval metrics logged at an epoch's end line up with the ``generator_step``
logged by the GAN core on the batch of the same step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# Which way is better, per eval metric; a metric not listed gets no "best".
DIRECTIONS = {"parzen": "max", "is": "max", "modes": "max", "dfeat-svm": "max", "fid": "min", "kid": "min"}


def direction(metric: str) -> str | None:
    """``"max"`` or ``"min"`` for a metric such as ``eval/parzen`` or ``fid``; None if unknown."""
    return DIRECTIONS.get(metric.removeprefix("eval/"))


@dataclass
class Run:
    """One training run: where it came from, what it trained, and every row of scalars it logged."""

    name: str
    source: str
    rows: list[dict[str, float]]
    paper: str = "?"
    dataset: str = "?"
    variant: str = ""
    # Generator steps per training batch, from the checkpoint, for runs that never logged generator_step.
    generator_steps_per_batch: float | None = field(default=None, repr=False)

    def eval_metrics(self) -> list[str]:
        return sorted({key for row in self.rows for key in row if key.startswith("eval/")})

    def series(self, key: str) -> list[tuple[int, float]]:
        """``(step, value)`` for each step that logged ``key``, the last value of a step winning."""
        values = {int(row["step"]): row[key] for row in self.rows if "step" in row and math.isfinite(row.get(key, math.nan))}
        return sorted(values.items())

    def generator_steps_at(self, steps: list[int]) -> list[int | None]:
        """The generator step at each logging step, from the logged ``generator_step``.

        Lightning logs per-batch values only every ``log_every_n_steps`` batches, so a step without its
        own ``generator_step`` is interpolated between logged ones; beyond them, generator steps grow in
        proportion to batches (a fixed number of D steps per G step).
        """
        known = self.series("generator_step")
        result: list[int | None] = []
        for step in steps:
            if known and known[0][0] <= step <= known[-1][0]:
                x, y = zip(*known)
                result.append(round(float(np.interp(step, x, y))))
            elif known:
                anchor_step, anchor_value = known[-1] if step > known[-1][0] else known[0]
                result.append(round((step + 1) * anchor_value / (anchor_step + 1)))
            elif self.generator_steps_per_batch is not None:
                result.append(round((step + 1) * self.generator_steps_per_batch))
            else:
                result.append(None)
        return result

    def curve(self, key: str) -> list[tuple[int, float]]:
        """``(generator step, value)`` of a logged metric, for the steps whose generator step is known."""
        series = self.series(key)
        at = self.generator_steps_at([step for step, _ in series])
        return [(g, value) for g, (_, value) in zip(at, series) if g is not None]

    def generator_steps(self) -> int | None:
        """Generator steps at the last logged step."""
        steps = [int(row["step"]) for row in self.rows if "step" in row]
        return self.generator_steps_at([max(steps)])[0] if steps else None

    def final(self, key: str) -> float | None:
        series = self.series(key)
        return series[-1][1] if series else None

    def best(self, key: str) -> float | None:
        """The best logged value, by the metric's direction; None when the direction is unknown."""
        values = [value for _, value in self.series(key)]
        way = direction(key)
        if not values or way is None:
            return None
        return max(values) if way == "max" else min(values)
