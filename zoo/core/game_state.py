"""What a two-player checkpoint keeps beyond weights and optimizers, and how a resume reads it back.

Lightning saves the modules, optimizers and schedulers. An exact resume of a GAN also needs the
players' step counters (``global_step`` counts every optimizer step of both), every rank's random
stream, and enough of the model's and data's identity for ``zoo`` commands to rebuild them from
the file alone (:mod:`zoo.checkpoints`).
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_info

from zoo.core.randomness import collect_rng_states, restore_rng_states
from zoo.core.resume import apply_resume_overrides


def _qualified_name(obj: object) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def game_state(module: pl.LightningModule) -> dict[str, Any]:
    """The ``checkpoint["zoo"]`` entry for ``module``: step counters, identities, random streams."""
    trainer = module._trainer
    datamodule = getattr(trainer, "datamodule", None) if trainer is not None else None
    return {
        "model_class": _qualified_name(module),
        "datamodule_class": _qualified_name(datamodule) if datamodule else None,
        "datamodule_hparams": dict(datamodule.hparams) if datamodule is not None else None,
        "generator_steps": module.generator_steps,
        "discriminator_steps": module.discriminator_steps,
        "rng": collect_rng_states(trainer.strategy if trainer is not None else None, module.device),
    }


def restore_game_state(module: pl.LightningModule, checkpoint: dict[str, Any]) -> bool:
    """Read the step counters back; when resuming under a trainer, also apply changed options and
    restore this rank's random stream. Returns whether the stream was restored."""
    state = checkpoint.get("zoo", {})
    module.generator_steps = state.get("generator_steps", 0)
    module.discriminator_steps = state.get("discriminator_steps", 0)
    if module._trainer is None:  # loading weights for evaluation, not resuming
        return False
    for note in apply_resume_overrides(checkpoint, dict(module.hparams), module.state_dict()):
        rank_zero_info(f"resuming with a changed option: {note}")
    trainer = module.trainer
    if "rng" in state:
        restored = restore_rng_states(state["rng"], module.global_rank, trainer.world_size, module.device)
        if not restored:
            rank_zero_info("resuming on another number of processes: each rank starts a new random stream")
        return restored
    if "cpu_rng" in state and trainer.world_size == 1:  # checkpoints written before per-rank streams
        torch.set_rng_state(state["cpu_rng"])
        return True
    return False
