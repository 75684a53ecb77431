"""The zoo's cache folder, file hashes, and the keys under which real-data statistics are cached.

A leaf module (it imports nothing else of :mod:`zoo.eval`), so that extractors, classifiers and metrics
can all share it without importing one another.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

CACHE_ENV = "ZOO_CACHE"
HASH_HEX_DIGITS = 16
# Loader mechanics that cannot change which images a split holds; every other hparam keys the cache.
NON_DATA_HPARAMS = frozenset({"batch_size", "num_workers", "download"})

_hash_memo: dict[tuple[str, int, int], str] = {}


def cache_dir() -> Path:
    """The zoo's cache folder: ``$ZOO_CACHE``, else ``~/.cache/gan-zoo`` (created on demand)."""
    folder = Path(os.environ.get(CACHE_ENV, "~/.cache/gan-zoo")).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def file_hash(path: str | os.PathLike) -> str:
    """The first :data:`HASH_HEX_DIGITS` hex digits of the file's sha256 (memoised per size and mtime)."""
    path = Path(path)
    stat = path.stat()
    memo_key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo_key not in _hash_memo:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _hash_memo[memo_key] = digest.hexdigest()[:HASH_HEX_DIGITS]
    return _hash_memo[memo_key]


def _canonical(value: Any) -> Any:
    """JSON-able and order-independent; paths made absolute so ``./data`` and ``data/`` agree."""
    if isinstance(value, Path):
        return str(value.expanduser().resolve())
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda item: str(item[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def datamodule_description(datamodule: Any, split: str) -> dict:
    """Everything that defines the images of ``datamodule``'s ``split``, read without touching the data.

    Class, split, sample shape, value range and every hparam but :data:`NON_DATA_HPARAMS`; an hparam
    the DataModule also holds as a path (``data_root``, ``folder``) is taken resolved from the attribute.
    """
    hparams = dict(getattr(datamodule, "hparams", {}) or {})
    description: dict[str, Any] = {
        name: value for name, value in hparams.items() if name not in NON_DATA_HPARAMS
    }
    for name in set(hparams) | {"data_root"}:
        attribute = getattr(datamodule, name, None)
        if isinstance(attribute, Path):
            description[name] = attribute
    description.update(
        {
            "class": f"{type(datamodule).__module__}.{type(datamodule).__qualname__}",
            "split": split,
            "sample_shape": list(getattr(datamodule, "sample_shape", ())),
            "value_range": [float(v) for v in getattr(datamodule, "value_range", (0.0, 1.0))],
        }
    )
    return _canonical(description)


def datamodule_cache_key(datamodule: Any, split: str = "train") -> str:
    """``<Class>-<split>-<hash of datamodule_description>``: equal only for the same data."""
    text = json.dumps(datamodule_description(datamodule, split), sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:HASH_HEX_DIGITS]
    return f"{type(datamodule).__name__}-{split}-{digest}"


def state_dict_hash(state_dict: dict[str, torch.Tensor]) -> str:
    """The first :data:`HASH_HEX_DIGITS` hex digits of a sha256 over a module's weights (names, dtypes,
    shapes and values, in name order): equal for equal weights, whatever else their file holds."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:HASH_HEX_DIGITS]
