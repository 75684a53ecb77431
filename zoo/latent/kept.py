"""Inversions kept on disk, keyed by what produced them, so a long batch of inversions continues where
it stopped and never reuses codes found for another checkpoint, budget or image set."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from zoo.atomic import atomic_torch_save


def checkpoint_sha256(path: Path) -> str:
    """The full sha256 of a checkpoint file: the part of a kept inversion's identity naming the model."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_kept_inversion(path: Path, identity: dict[str, Any]) -> dict[str, Any] | None:
    """The inversion kept at ``path`` if it was made with this ``identity``, else ``None``."""
    if not path.is_file():
        return None
    kept = torch.load(path, map_location="cpu", weights_only=True)
    if json.loads(kept["identity"]) != identity:
        print(f"{path.name}: kept inversion is of another checkpoint, budget or image set; inverting again")
        return None
    return kept


def keep_inversion(path: Path, identity: dict[str, Any], found: dict[str, Any]) -> None:
    """Write ``found`` (tensors and plain values) under ``identity``, atomically."""
    atomic_torch_save({"identity": json.dumps(identity), **found}, path)
