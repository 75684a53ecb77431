"""Where a semi-supervised discriminator's test errors go: its most frequent (true, predicted)
class pairs. One pair can carry a run's whole excess over its neighbours (a GAN that lost the
sevens calls them twos), which the error count alone hides."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import torch
from torch import Tensor


def top_confusions(predicted: Tensor, labels: Tensor, top: int = 3) -> list[dict[str, int]]:
    """The ``top`` most frequent mistakes, as (true class, predicted class, count), most frequent first."""
    wrong = predicted != labels
    pairs = Counter(zip(labels[wrong].tolist(), predicted[wrong].tolist()))
    return [{"true": true, "predicted": guess, "count": count} for (true, guess), count in pairs.most_common(top)]


@torch.no_grad()
def checkpoint_mistakes(checkpoint: Path, top: int = 3) -> dict[str, Any]:
    """The averaged D's test errors at ``checkpoint`` (which may stand mid-epoch, ahead of the
    curve's last point: hence its generator step) and its ``top`` most frequent confusions."""
    from zoo.checkpoints import load_run

    model, data = load_run(checkpoint)
    data.setup("test")
    predicted, labels = zip(*((model.classify(x), y) for x, y in data.test_dataloader()))
    predicted, labels = torch.cat(predicted), torch.cat(labels)
    return {"generator_steps": model.generator_steps, "errors": int((predicted != labels).sum()),
            "top_confusions": top_confusions(predicted, labels, top)}
