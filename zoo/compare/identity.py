"""What a run trained: the paper (model class), the dataset (data class) and its notable options.

LightningCLI saves the full config as ``config.yaml`` in the run folder; a zoo checkpoint records the
same classes and the model's hyper-parameters, which is all an offline W&B run leaves behind.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

import yaml

PAPERS = {
    "zoo.models.vanilla.VanillaGAN": "Goodfellow et al. 2014",
    "zoo.models.fgan.FGAN": "Nowozin et al. 2016",
    "zoo.models.dcgan.DCGAN": "Radford et al. 2016",
}
# Options that make a run a variant of its paper; each is shown when it differs from the class default.
VARIANT_KEYS = (
    "divergence", "generator_objective", "practical_generator_loss", "update", "d_steps_per_g_step",
    "unroll_steps", "real_label", "instance_noise", "ema_decay",
)
ALWAYS_SHOWN = ("divergence",)  # an f-GAN run is named by its divergence, the default included
DATA_KEYS = ("mixture",)
FALLBACK_CLASS = "zoo.core.minimax.MinimaxGAN"  # defaults for runs whose model class is unknown (W&B)


def describe(model_class: str | None, data_class: str | None, model_args: dict[str, Any], data_args: dict[str, Any]) -> dict[str, str]:
    """``{"paper", "dataset", "variant"}`` for a run of ``model_class`` on ``data_class``."""
    paper = PAPERS.get(model_class or "", (model_class or "?").rpartition(".")[2])
    dataset = (data_class or "?").rpartition(".")[2].removesuffix("DataModule")
    dataset += "".join(f" {data_args[key]}" for key in DATA_KEYS if key in data_args)
    defaults = _defaults(model_class) or _defaults(FALLBACK_CLASS)
    variant = [
        f"{key}={model_args[key]}" for key in VARIANT_KEYS
        if key in model_args and (key in ALWAYS_SHOWN or key not in defaults or model_args[key] != defaults[key])
    ]
    return {"paper": paper, "dataset": dataset, "variant": ", ".join(variant)}


def _defaults(class_path: str | None) -> dict[str, Any]:
    """Constructor defaults of a model class and of the classes its ``**kwargs`` reach."""
    module_name, _, name = (class_path or "").rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError):
        return {}
    defaults: dict[str, Any] = {}
    for base in reversed(cls.__mro__):
        for parameter in inspect.signature(base.__init__).parameters.values():
            if parameter.default is not inspect.Parameter.empty:
                defaults[parameter.name] = parameter.default
    return {key: list(value) if isinstance(value, tuple) else value for key, value in defaults.items()}


def from_config_yaml(path: Path) -> dict[str, str] | None:
    """Describe a run from the ``config.yaml`` LightningCLI saved; None if there is none."""
    if not path.is_file():
        return None
    config = yaml.safe_load(path.read_text()) or {}
    model, data = config.get("model") or {}, config.get("data") or {}
    return describe(model.get("class_path"), data.get("class_path"), model.get("init_args") or {}, data.get("init_args") or {})


def read_checkpoint_info(path: Path) -> dict[str, Any] | None:
    """Model and data classes, hyper-parameters and step counts from a zoo checkpoint; None if absent."""
    if not path.is_file():
        return None
    from zoo.checkpoints import read_checkpoint

    checkpoint = read_checkpoint(path)
    model_args = dict(checkpoint.get("hyper_parameters") or {})
    data_args = dict(checkpoint.get("datamodule_hyper_parameters") or {})
    zoo = checkpoint.get("zoo") or {}
    batches = checkpoint.get("loops", {}).get("fit_loop", {}).get("epoch_loop.state_dict", {}).get("_batches_that_stepped")
    return {
        "model_class": zoo.get("model_class") or model_args.pop("_class_path", None),
        "data_class": zoo.get("datamodule_class") or data_args.pop("_class_path", None),
        "model_args": model_args,
        "data_args": data_args,
        "generator_steps": zoo.get("generator_steps"),
        "batches": batches,
    }
