"""Read zoo checkpoints safely and rebuild the GAN (and its DataModule) they name.

A zoo checkpoint names the LightningModule that wrote it twice: ``checkpoint["zoo"]["model_class"]``
(written by :meth:`zoo.core.TwoPlayerGAN.on_save_checkpoint`) and
``checkpoint["hyper_parameters"]["_class_path"]`` (written by LightningCLI). Either is enough to
find the class; the remaining hyper-parameters are its constructor arguments.

A checkpoint is untrusted input, so two rules hold everywhere in the zoo:

* files are read with ``torch.load(weights_only=True)``: tensors and plain values only, never a
  pickled object whose unpickling could run code (zoo checkpoints need nothing more);
* a class named in a checkpoint goes through :func:`resolve_class`, which refuses anything that is
  not a subclass of the expected Lightning base before anything is called.
"""

from __future__ import annotations

import importlib
import inspect
import pathlib
import pickle
import re
import sys
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from zoo.core.gan import TwoPlayerGAN
from zoo.errors import ZooConfigError

_PRIVATE_KEYS = ("_class_path", "_instantiator")
_DOTTED_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
# Building a path from its parts runs no code; hyper-parameters such as data_root may hold one.
_SAFE_EXTRA_GLOBALS = [pathlib.PosixPath, pathlib.PurePosixPath, pathlib.WindowsPath, pathlib.PureWindowsPath]
_RESUME_KEYS = ("epoch", "global_step", "loops", "optimizer_states")


def _load_error(error: BaseException) -> str:
    """The informative line of a torch.load error (weights-only errors bury it after a preamble)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    detail = next((lines[i + 1] for i, line in enumerate(lines[:-1]) if line.endswith("WeightsUnpickler error:")), None)
    text = detail or (lines[0] if lines else "")
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The raw checkpoint dict, read as plain data; one-line errors for a missing, unreadable,
    unsafe or non-Lightning file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ZooConfigError(
            f"checkpoint not found: {path} (pass the .ckpt written by `zoo fit`, "
            f"e.g. runs/<name>/version_N/checkpoints/last.ckpt)"
        )
    try:
        with torch.serialization.safe_globals(_SAFE_EXTRA_GLOBALS):
            checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # a pickled object, a truncated download, a text file, an empty file
        name = re.search(r"GLOBAL ([\w.]+)", str(error)) if isinstance(error, pickle.UnpicklingError) else None
        if name:
            raise ZooConfigError(
                f"refused to load {path}: it holds a pickled Python object ({name.group(1)}) that could run code "
                f"when read; the zoo reads only plain-data checkpoints (tensors, numbers, strings) as `zoo fit` writes them"
            ) from None
        raise ZooConfigError(
            f"cannot read checkpoint {path}: it is truncated or not a PyTorch checkpoint ({_load_error(error)}); "
            f"pass an intact .ckpt written by `zoo fit`"
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ZooConfigError(
            f"{path} is not a Lightning checkpoint (it has no 'state_dict'); pass a .ckpt written by `zoo fit`"
        )
    return checkpoint


def saved_model_class(checkpoint: dict[str, Any]) -> str | None:
    """``package.module.Class`` of the LightningModule that wrote ``checkpoint``, if it says."""
    class_path = (checkpoint.get("zoo") or {}).get("model_class")
    return class_path or (checkpoint.get("hyper_parameters") or {}).get("_class_path")


def model_class_path(checkpoint: dict[str, Any]) -> str:
    """``package.module.Class`` of the LightningModule that wrote ``checkpoint`` (required)."""
    class_path = saved_model_class(checkpoint)
    if not class_path:
        raise ZooConfigError(
            "the checkpoint does not name its model class (no zoo.model_class, no hyper_parameters._class_path): "
            "it was not written by `zoo fit`; load it with YourModel.load_from_checkpoint(path) instead"
        )
    return class_path


def _may_import(module_name: str) -> bool:
    # Importing a module runs its top-level code, so a name read from a file may import only the
    # zoo's own modules; any other module must already be loaded by the program itself.
    return module_name == "zoo" or module_name.startswith("zoo.") or module_name in sys.modules


def resolve_class(class_path: str, base: type, what: str = "class") -> type:
    """The class ``class_path`` names, if it is a subclass of ``base``; else a one-line refusal.

    Nothing named is called. Modules are imported only from the ``zoo`` package; a class of
    another package resolves only when its module is already imported. ``what`` says in the error
    what the name was for (e.g. ``"model"``).
    """
    if not isinstance(class_path, str) or not _DOTTED_NAME.match(class_path):
        raise ZooConfigError(f"refused {what} class {class_path!r}: not a dotted name like package.module.Class")
    parts = class_path.split(".")
    for split in range(len(parts) - 1, 0, -1):  # the longest importable module prefix; the rest are attributes
        module_name = ".".join(parts[:split])
        if not _may_import(module_name):
            continue
        try:
            found: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        for attribute in parts[split:]:
            found = getattr(found, attribute, None)
        break
    else:
        raise ZooConfigError(
            f"refused {what} class {class_path!r}: the zoo imports classes only from its own package "
            f"(zoo.*) or from modules already imported; import {parts[0]} before loading"
        )
    if found is None:
        raise ZooConfigError(f"the {what} class {class_path!r} cannot be found; is the zoo up to date?")
    if not (isinstance(found, type) and issubclass(found, base)):
        raise ZooConfigError(f"refused {what} class {class_path!r}: it is not a {base.__name__} subclass")
    return found


def gan_from_checkpoint(checkpoint: dict[str, Any], source: str | Path = "the checkpoint",
                        map_location: str | torch.device = "cpu") -> TwoPlayerGAN:
    """The :class:`zoo.core.TwoPlayerGAN` saved in an already-read ``checkpoint`` (see
    :func:`load_gan`); ``source`` names the file in errors."""
    class_path = model_class_path(checkpoint)
    model_class = resolve_class(class_path, TwoPlayerGAN, "model")
    hparams = {k: v for k, v in (checkpoint.get("hyper_parameters") or {}).items() if k not in _PRIVATE_KEYS}
    try:
        model = model_class(**hparams)
        model.load_state_dict(checkpoint["state_dict"])
    except (TypeError, RuntimeError, ValueError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ZooConfigError(f"cannot rebuild {class_path} from {source}: {first_line}") from None
    model.on_load_checkpoint(checkpoint)  # step counters; no trainer, so the RNG is left alone
    return model.to(map_location).eval()


def load_gan(path: str | Path, map_location: str | torch.device = "cpu") -> TwoPlayerGAN:
    """The :class:`zoo.core.TwoPlayerGAN` saved at ``path``, weights and step counters restored, in eval mode.

    Works for every model of the zoo (DCGAN, f-GAN, vanilla GAN, …): the class is read from the
    checkpoint and rebuilt from its saved hyper-parameters. The EMA generator, when the run kept
    one, is restored too; :meth:`TwoPlayerGAN.generate` uses it by default.
    """
    return gan_from_checkpoint(read_checkpoint(path, map_location), path, map_location)


def load_datamodule(checkpoint: dict[str, Any], data_root: str | None = None) -> pl.LightningDataModule:
    """Rebuild the DataModule an already-read zoo ``checkpoint`` was trained on (recorded by the
    GAN core): only a LightningDataModule, with the saved arguments its constructor accepts;
    ``data_root`` replaces the saved one."""
    record = checkpoint.get("zoo") or {}
    class_path = record.get("datamodule_class")
    if not class_path:
        raise ZooConfigError("the checkpoint does not record its DataModule; it was saved without one")
    data_class = resolve_class(class_path, pl.LightningDataModule, "datamodule")
    accepted = inspect.signature(data_class).parameters
    options = {k: v for k, v in (record.get("datamodule_hparams") or {}).items() if k in accepted}
    if data_root is not None:
        options["data_root"] = data_root
    return data_class(**options)


def load_run(path: str | Path, map_location: str | torch.device = "cpu",
             data_root: str | None = None) -> tuple[TwoPlayerGAN, pl.LightningDataModule]:
    """The GAN saved at ``path`` (as :func:`load_gan`) and the DataModule it trained on, from one
    read of the file."""
    checkpoint = read_checkpoint(path, map_location)
    return gan_from_checkpoint(checkpoint, path, map_location), load_datamodule(checkpoint, data_root)


def _same_class(saved: str, configured: str) -> bool:
    if saved == configured:
        return True
    if "." not in configured:  # a short class name, as LightningCLI accepts
        return saved.rsplit(".", 1)[-1] == configured
    from pytorch_lightning import LightningModule

    try:  # the same class under two module paths (a re-export)
        return resolve_class(saved, LightningModule) is resolve_class(configured, LightningModule)
    except ZooConfigError:
        return False


def check_resume_checkpoint(path: str, model_class_path: str | None) -> None:
    """Fail in one line, before training, when ``path`` cannot resume a run of ``model_class_path``.

    Catches a missing, truncated, unsafe or non-checkpoint file, a Lightning checkpoint without
    the training state a resume needs (weights only, or a plain ``state_dict``), and a checkpoint
    written by another model class than the configured one (``None`` skips that check).
    """
    checkpoint = read_checkpoint(path)
    missing = [key for key in _RESUME_KEYS if key not in checkpoint]
    if missing:
        raise ZooConfigError(
            f"{path} holds weights but no training state ({', '.join(missing)} missing), so it cannot resume a run: "
            f"pass a full checkpoint such as checkpoints/last.ckpt, or start a new run without --ckpt_path"
        )
    if model_class_path is None:
        return
    saved = saved_model_class(checkpoint)
    if not saved:
        raise ZooConfigError(
            f"{path} does not say which model wrote it (no zoo.model_class): it was not written by `zoo fit`; "
            f"resume from a zoo run's checkpoints/last.ckpt"
        )
    if not _same_class(saved, model_class_path):
        raise ZooConfigError(
            f"{path} holds a {saved} checkpoint but the config asks for {model_class_path}: "
            f"resume with the config of the run that wrote it, or start a new run without --ckpt_path"
        )
