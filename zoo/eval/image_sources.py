"""Where FID/IS/KID images come from: tensors, iterables of batches, samplers, lazy real-data loaders.

Shared by both metric backends (:mod:`zoo.eval.fidelity`, :mod:`zoo.eval.torch_fidelity_backend`), with the
path of the cached real statistics.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Union

import torch
from torch import Tensor

from zoo.errors import require
from zoo.provenance import compute_device
from zoo.eval.cache import cache_dir
from zoo.eval.inception import Extractor

ImageSource = Union[Tensor, Iterable, Callable]


def iterate_batches(source: ImageSource, limit: int | None, batch_size: int) -> Iterator[Tensor]:
    """Batches of at most ``limit`` images from a tensor, an iterable of batches, or a sampler ``f(n)``."""
    remaining = float("inf") if limit is None else limit
    if isinstance(source, Tensor):
        batches: Iterable = source.split(batch_size)
    elif callable(source):
        require(limit is not None, "a sampler source needs n_fake (how many images to draw)")
        batches = (source(min(batch_size, int(limit - start))) for start in range(0, int(limit), batch_size))
    else:
        batches = source
    for batch in batches:
        if remaining <= 0:
            return
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        images = images[: int(min(remaining, len(images)))].detach()
        remaining -= len(images)
        yield images


def statistics_path(cache_key: str, extractor: Extractor, n_real: int | None, kind: str, folder: str = "fidelity") -> Path:
    """``<cache_dir()>/<folder>/<cache_key>-<extractor identity>-n<n_real>-<kind>.pt``, folder created."""
    require(bool(re.fullmatch(r"[\w.\-]+", cache_key)), f"cache_key may hold letters, digits, '.-_': {cache_key!r}")
    path = cache_dir() / folder / f"{cache_key}-{extractor.identity}-n{n_real or 'all'}-{kind}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def resolve_real(real: ImageSource | None) -> ImageSource:
    """The real images: ``real`` itself, or what the zero-argument loader ``real()`` returns (called now)."""
    require(real is not None, "no real images given and no cached statistics for this cache_key")
    return real() if callable(real) else real


def pick_device(device: str | torch.device | None) -> torch.device:
    """``device``, else CUDA when available, else the CPU."""
    return torch.device(device) if device is not None else compute_device()
