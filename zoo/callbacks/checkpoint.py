"""Checkpoints that cannot lose a run: atomic writes, no non-finite weights, no shared folders.

* :class:`AtomicCheckpointIO` writes each file to a temporary name in the destination folder,
  fsyncs it and renames it into place. Lightning's own save stages the file in the system temp
  folder and moves it, which is a copy (and can be cut short) when that folder is on another
  filesystem. A kill at any moment leaves the old checkpoint or the new one, never half of one.
* :class:`ZooCheckpoint` is ModelCheckpoint that refuses to save weights holding NaN or Inf (so
  ``save_top_k`` can never prune a good checkpoint for a broken one), and refuses to start a new
  run in a folder that already holds another run's checkpoints.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning.callbacks import ModelCheckpoint

from zoo.atomic import atomic_torch_save
from zoo.errors import ZooConfigError, ZooNonFiniteError


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint I/O, with :func:`atomic_torch_save` for local files, and loads that
    never unpickle code (Lightning would use ``weights_only=False`` for a URL)."""

    def load_checkpoint(self, path: Any, map_location: Any = lambda storage, loc: storage, weights_only: bool | None = None) -> dict[str, Any]:
        return super().load_checkpoint(path, map_location, weights_only=True)

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if "://" in str(path):  # remote filesystems keep Lightning's own transaction
            return super().save_checkpoint(checkpoint, path, storage_options)
        atomic_torch_save(checkpoint, path)


def non_finite_parameters(module: torch.nn.Module) -> list[str]:
    """Names of the parameters and buffers of ``module`` that hold NaN or Inf."""
    tensors = list(module.named_parameters()) + list(module.named_buffers())
    return [name for name, tensor in tensors if tensor.is_floating_point() and not torch.isfinite(tensor).all()]


class ZooCheckpoint(ModelCheckpoint):
    """ModelCheckpoint that never writes non-finite weights and never mixes two runs in one folder.

    A resumed run overwrites its own ``last.ckpt`` (atomically) instead of writing ``last-v1.ckpt``
    beside it, which Lightning does whenever the restored callback state does not name the file;
    a stale ``last.ckpt`` would otherwise be the one every tool reads.
    """

    def __init__(self, *args: Any, enable_version_counter: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, enable_version_counter=enable_version_counter, **kwargs)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Not in setup(): Lightning sets trainer.ckpt_path only after setup, when it restores.
        super().on_fit_start(trainer, pl_module)
        if trainer.ckpt_path is not None or self.dirpath is None:
            return
        folder = Path(self.dirpath)
        existing = sorted(folder.glob("*.ckpt"), key=os.path.getmtime) if folder.is_dir() else []
        if existing:
            newest = folder / "last.ckpt" if (folder / "last.ckpt").exists() else existing[-1]
            raise ZooConfigError(
                f"{folder} already holds checkpoints of another run: resume it with --ckpt_path {newest} "
                f"or pass another --checkpoint.dirpath"
            )

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        broken = non_finite_parameters(trainer.lightning_module)
        if broken:
            raise ZooNonFiniteError(
                f"not saving {filepath}: {len(broken)} tensors hold NaN/Inf (first: {broken[0]}); the last finite "
                f"checkpoint in {self.dirpath} is kept: lower the learning rates or set model.init_args.grad_clip_norm"
            )
        super()._save_checkpoint(trainer, filepath)
