"""Resuming with changed options: apply what can change mid-run, refuse what cannot, say which.

Lightning restores the optimizers' learning rates from the checkpoint, so ``--ckpt_path … --model
.init_args.g_lr 0.01`` would silently keep the old rate. Options that shape the weights (widths,
latent size, data shape, an EMA copy) cannot change: the saved weights would not fit.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from zoo.errors import ZooConfigError

_PRIVATE = ("_class_path", "_instantiator")
LEARNING_RATES = {"g_lr": 0, "d_lr": 1}  # option → index of the optimizer it sets (G first, D second)


def changed_options(saved: dict[str, Any], current: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{option: (checkpoint value, configured value)}`` for every option that differs."""
    def normal(value: Any) -> Any:
        return list(value) if isinstance(value, tuple) else value

    keys = (set(saved) | set(current)) - set(_PRIVATE)
    return {k: (saved.get(k), current.get(k)) for k in sorted(keys) if normal(saved.get(k)) != normal(current.get(k))}


def mismatched_weights(saved_state: dict[str, torch.Tensor], model_state: dict[str, torch.Tensor]) -> list[str]:
    """Names whose presence or shape differs between a checkpoint's weights and the model's."""
    names = set(saved_state) ^ set(model_state)
    shared = set(saved_state) & set(model_state)
    names |= {k for k in shared if isinstance(saved_state[k], torch.Tensor) and isinstance(model_state[k], torch.Tensor)
              and tuple(saved_state[k].shape) != tuple(model_state[k].shape)}
    return sorted(names)


def _scale_optimizer_lr(checkpoint: dict[str, Any], index: int, old: float, new: float) -> None:
    """Rescale one optimizer's saved rates (and its LambdaLR's base rate) by new/old, keeping the decay made so far."""
    ratio = new / old
    for group in checkpoint["optimizer_states"][index]["param_groups"]:
        group["lr"] *= ratio
        if "initial_lr" in group:
            group["initial_lr"] = new
    schedulers = checkpoint.get("lr_schedulers") or []
    if index < len(schedulers) and "base_lrs" in schedulers[index]:
        schedulers[index]["base_lrs"] = [new for _ in schedulers[index]["base_lrs"]]
        if "_last_lr" in schedulers[index]:
            schedulers[index]["_last_lr"] = [lr * ratio for lr in schedulers[index]["_last_lr"]]


def _set_optimizer_option(checkpoint: dict[str, Any], key: str, value: Any) -> None:
    for state in checkpoint.get("optimizer_states", []):
        for group in state["param_groups"]:
            if key in group:
                group[key] = tuple(value) if isinstance(value, list) else value


def apply_resume_overrides(checkpoint: dict[str, Any], current: dict[str, Any], model_state: dict[str, torch.Tensor]) -> list[str]:
    """Edit ``checkpoint`` in place so the configured optimizer options win; return what changed.

    Raises :class:`ZooConfigError` when the configured model cannot hold the saved weights.
    """
    changes = changed_options(checkpoint.get("hyper_parameters") or {}, current)
    mismatch = mismatched_weights(checkpoint.get("state_dict", {}), model_state)
    if mismatch:
        options = ", ".join(f"{k} {old} → {new}" for k, (old, new) in changes.items()) or "none of the options"
        raise ZooConfigError(
            f"cannot resume: the checkpoint's weights do not fit the configured model ({mismatch[0]} differs; "
            f"changed: {options}); resume with the checkpoint's architecture options"
        )
    notes = []
    for key, (old, new) in changes.items():
        if key in LEARNING_RATES and old and new and "optimizer_states" in checkpoint and not math.isclose(old, new):
            _scale_optimizer_lr(checkpoint, LEARNING_RATES[key], float(old), float(new))
            notes.append(f"{key} {old} → {new} (applied to the optimizer)")
        elif key in ("betas", "momentum") and "optimizer_states" in checkpoint:
            _set_optimizer_option(checkpoint, key, new)
            notes.append(f"{key} {old} → {new} (applied to the optimizer)")
        else:
            notes.append(f"{key} {old} → {new} (takes effect from the next step)")
    return notes
