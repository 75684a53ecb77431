"""Rebuild a trained GAN from a checkpoint written by ``zoo fit``, without knowing its class.

A zoo checkpoint names the LightningModule that wrote it twice: ``checkpoint["zoo"]["model_class"]``
(written by :meth:`zoo.core.TwoPlayerGAN.on_save_checkpoint`) and
``checkpoint["hyper_parameters"]["_class_path"]`` (written by LightningCLI). Either is enough to
import the class; the remaining hyper-parameters are its constructor arguments.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import torch

from zoo.core.gan import TwoPlayerGAN
from zoo.errors import ZooConfigError

_PRIVATE_KEYS = ("_class_path", "_instantiator")


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The raw checkpoint dict; one-line errors for a missing or unreadable file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ZooConfigError(
            f"checkpoint not found: {path} (pass the .ckpt written by `zoo fit`, "
            f"e.g. runs/<name>/version_N/checkpoints/last.ckpt)"
        )
    try:
        # weights_only=False: Lightning checkpoints hold plain Python objects (loops, callbacks).
        checkpoint = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as error:  # a truncated download, a text file, another pickle format
        raise ZooConfigError(f"cannot read checkpoint {path}: {type(error).__name__}: {error}") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ZooConfigError(f"{path} is not a Lightning checkpoint (it has no 'state_dict')")
    return checkpoint


def model_class_path(checkpoint: dict[str, Any]) -> str:
    """``package.module.Class`` of the LightningModule that wrote ``checkpoint``."""
    class_path = (checkpoint.get("zoo") or {}).get("model_class")
    class_path = class_path or (checkpoint.get("hyper_parameters") or {}).get("_class_path")
    if not class_path:
        raise ZooConfigError(
            "the checkpoint does not name its model class (no zoo.model_class, no hyper_parameters._class_path): "
            "it was not written by `zoo fit`; load it with YourModel.load_from_checkpoint(path) instead"
        )
    return class_path


def _import_class(class_path: str) -> type:
    module_name, _, class_name = class_path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError):
        raise ZooConfigError(f"the checkpoint's model class {class_path!r} cannot be imported") from None


def load_gan(path: str | Path, map_location: str | torch.device = "cpu") -> TwoPlayerGAN:
    """The :class:`TwoPlayerGAN` saved at ``path``, weights and step counters restored, in eval mode.

    Works for every model of the zoo (DCGAN, f-GAN, vanilla GAN, …): the class is read from the
    checkpoint and rebuilt from its saved hyper-parameters. The EMA generator, when the run kept
    one, is restored too; :meth:`TwoPlayerGAN.generate` uses it by default.
    """
    checkpoint = read_checkpoint(path, map_location)
    class_path = model_class_path(checkpoint)
    model_class = _import_class(class_path)
    if not (isinstance(model_class, type) and issubclass(model_class, TwoPlayerGAN)):
        raise ZooConfigError(f"the checkpoint's model {class_path} is not a zoo GAN (TwoPlayerGAN)")
    hparams = {k: v for k, v in (checkpoint.get("hyper_parameters") or {}).items() if k not in _PRIVATE_KEYS}
    try:
        model = model_class(**hparams)
        model.load_state_dict(checkpoint["state_dict"])
    except (TypeError, RuntimeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ZooConfigError(f"cannot rebuild {class_path} from {path}: {first_line}") from None
    model.on_load_checkpoint(checkpoint)  # step counters; no trainer, so the RNG is left alone
    return model.to(map_location).eval()
