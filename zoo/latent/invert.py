"""Reconstruction by latent optimisation (Metz et al. 2017, §3.3.2, Table 3 and Figure 5): for each
target image x, search the code z* = argmin_z ‖G(z) − x‖² by gradient descent and report the mean
squared error at z*. A generator that dropped part of the data cannot reconstruct it: unrolled GANs
reconstruct training images better.

The search (ours; the paper gives no details): Adam on z from a draw of the prior, ``steps``
updates, keeping each image's best code; a uniform prior's codes are kept inside its box. G runs in
eval mode and its weights never change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from zoo.errors import ZooConfigError, require


def invert(model: Any, images: Tensor, steps: int = 1000, lr: float = 0.01, seed: int = 0, use_ema: bool = True,
           batch_size: int = 256) -> tuple[Tensor, Tensor]:
    """The best codes found for ``images`` and each image's mean squared error there (per pixel)."""
    require(steps >= 1 and lr > 0, f"steps must be >= 1 and lr > 0, got {steps}, {lr}")
    net = model.ema.shadow if (use_ema and model.ema is not None) else model.generator
    was_training = net.training
    net.eval()
    prior, noise = model.prior, torch.Generator().manual_seed(seed)
    codes, errors = [], []
    for targets in images.split(batch_size):
        targets = targets.to(model.device)
        z = prior.sample(len(targets), generator=noise).to(model.device).requires_grad_()
        optimizer = torch.optim.Adam([z], lr=lr)
        best_error = torch.full((len(targets),), float("inf"), device=model.device)
        best_z = z.detach().clone()
        for _ in range(steps + 1):  # the last pass only scores the final step
            error = (net(z) - targets).pow(2).flatten(1).mean(1)
            better = error.detach() < best_error
            best_error = torch.where(better, error.detach(), best_error)
            best_z[better] = z.detach()[better]
            optimizer.zero_grad()
            (z.grad,) = torch.autograd.grad(error.sum(), z)
            optimizer.step()
            if prior.distribution == "uniform":
                with torch.no_grad():
                    z.clamp_(prior.low, prior.high)
        codes.append(best_z.cpu())
        errors.append(best_error.cpu())
    net.train(was_training)
    return torch.cat(codes), torch.cat(errors)


def select_images(datamodule: Any, spec: str, seed: int = 0) -> tuple[Tensor, str]:
    """Target images from ``spec``: ``<split>:<n>`` (n random images of the checkpoint's data split,
    drawn from ``seed``) or a ``.pt`` file holding an N×… tensor in the data's value range."""
    if spec.endswith(".pt"):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise ZooConfigError(f"--images file not found: {path}")
        images = torch.load(path, weights_only=True)
        require(torch.is_tensor(images) and images.dim() >= 2, f"{path} must hold one N×… tensor of images")
        return images.float(), path.name
    split, _, count = spec.partition(":")
    if split not in ("train", "val", "test") or not count.isdigit() or int(count) < 1:
        raise ZooConfigError(f"--images must be <split>:<n> (train, val or test, e.g. train:1280) or a .pt file, got {spec!r}")
    datamodule.setup()
    dataset = {"train": datamodule.train_set, "val": datamodule.val_set, "test": datamodule.test_set}[split]
    require(dataset is not None, f"the checkpoint's data has no {split} split")
    n = min(int(count), len(dataset))
    indices = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:n]
    return torch.stack([dataset[int(i)][0] for i in indices]), f"{split}:{n} (seed {seed})"


def save_reconstructions(model: Any, images: Tensor, codes: Tensor, errors: Tensor, out: Path,
                         value_range: tuple[float, float], use_ema: bool = True, shown: int = 8) -> Path:
    """Targets (top) over their reconstructions (bottom) for the ``shown`` images with the largest error."""
    from zoo.callbacks.samples import save_image_grid

    worst = errors.argsort(descending=True)[:shown]
    with torch.no_grad():
        reconstructions = model.generate(codes[worst], use_ema=use_ema).cpu()
    return save_image_grid(torch.cat([images[worst], reconstructions]), out, value_range, nrow=len(worst))


def write_record(path: Path, errors: Tensor, source: str, settings: dict[str, Any], provenance: dict[str, Any]) -> Path:
    """Per-image and mean squared errors as JSON."""
    n = len(errors)
    record = {
        "images": source, "n_images": n, "settings": settings,
        "mse": {"mean": float(errors.mean()), "stderr": float(errors.std() / n**0.5) if n > 1 else None,
                "per_image": [round(float(e), 6) for e in errors]},
        **provenance,
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path
