"""Choosing a DDP setup that works for a two-player game.

Each backward pass of a GAN reaches only one player's parameters: the discriminator step leaves
G's gradients empty, and the generator step toggles D's parameters off. Plain DDP waits for every
parameter's gradient and hangs or raises. Two ways out exist: wrap G and D in DDP separately (a
custom strategy, and two reducers to keep in step), or keep Lightning's single wrapper and let the
reducer look for unused parameters on every backward. We take the second: it is Lightning's stock
``ddp_find_unused_parameters_true`` strategy, it works for any paper's nets (LAPGAN's pyramids,
Unrolled GAN's extra D steps) without code, and the graph walk it adds is small next to the
forward and backward passes themselves.
"""

from __future__ import annotations

from typing import Any

from zoo.errors import ZooConfigError

_GAN_SAFE = {
    "ddp": "ddp_find_unused_parameters_true",
    "ddp_spawn": "ddp_spawn_find_unused_parameters_true",
    "ddp_fork": "ddp_fork_find_unused_parameters_true",
    "ddp_notebook": "ddp_notebook_find_unused_parameters_true",
}


def _device_count(devices: Any, accelerator: Any = "auto") -> int:
    """How many devices Lightning will use for ``devices`` ("auto" and -1 mean all GPUs, else 1 CPU)."""
    if isinstance(devices, (list, tuple)):
        return len(devices)
    if isinstance(devices, str) and "," in devices:
        return len([d for d in devices.split(",") if d.strip()])
    if devices in ("auto", "-1", -1):
        import torch

        wants_gpu = accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
        return torch.cuda.device_count() if wants_gpu else 1
    return int(devices) if str(devices).strip().isdigit() else 1


def gan_strategy(strategy: Any, devices: Any = "auto", num_nodes: int = 1, accelerator: Any = "auto") -> Any:
    """Return a strategy under which a two-player LightningModule trains on any number of devices."""
    if isinstance(strategy, str):
        if strategy in _GAN_SAFE:
            return _GAN_SAFE[strategy]
        if strategy == "auto" and (num_nodes > 1 or _device_count(devices, accelerator) > 1):
            return "ddp_find_unused_parameters_true"
    return strategy


def check_ddp_strategy(trainer: Any) -> None:
    """Fail at setup, not on the first backward, when DDP would hang on a GAN."""
    from pytorch_lightning.strategies import DDPStrategy

    strategy = trainer.strategy
    if isinstance(strategy, DDPStrategy) and not strategy._ddp_kwargs.get("find_unused_parameters", False):
        raise ZooConfigError(
            "GANs under DDP need find_unused_parameters=True: use "
            "strategy='ddp_find_unused_parameters_true' (the zoo CLI picks it for you)"
        )
