"""Sample grids (images) and scatter plots (2-D data), saved as PNG and sent to image loggers."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger

from zoo.errors import require


def run_dir(trainer: pl.Trainer) -> Path:
    """The folder of this run: the first logger's version folder, else ``default_root_dir``.

    Unlike ``trainer.log_dir``, this makes no collective call, so rank 0 alone may use it.
    """
    for logger in trainer.loggers[:1]:
        folder = getattr(logger, "log_dir", None) or logger.save_dir
        if folder:
            return Path(folder)
    return Path(trainer.default_root_dir)


def save_image_grid(images: torch.Tensor, path: Path, value_range: tuple[float, float], nrow: int | None = None) -> Path:
    """Write a batch of images ``(n, c, h, w)`` in ``value_range`` as one PNG grid."""
    from torchvision.utils import save_image

    path.parent.mkdir(parents=True, exist_ok=True)
    nrow = nrow or max(1, int(len(images) ** 0.5))
    images = images.detach().float().cpu()
    if images.shape[-1] < 32:  # make tiny images (8×8 digits) visible
        images = torch.nn.functional.interpolate(images, scale_factor=32 // images.shape[-1], mode="nearest")
    save_image(images, path, nrow=nrow, normalize=True, value_range=value_range, padding=1, pad_value=1.0)
    return path


def save_scatter(samples: torch.Tensor, path: Path, real: torch.Tensor | None = None, centres: torch.Tensor | None = None, title: str = "") -> Path:
    """Plot 2-D samples over real data and mode centres, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    if real is not None:
        ax.scatter(real[:, 0].cpu(), real[:, 1].cpu(), s=2, c="tab:blue", alpha=0.3, label="data")
    ax.scatter(samples[:, 0].cpu(), samples[:, 1].cpu(), s=2, c="tab:orange", alpha=0.5, label="generator")
    if centres is not None:
        ax.scatter(centres[:, 0], centres[:, 1], marker="x", c="black", s=30, label="modes")
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7, markerscale=3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


class SampleGrid(pl.Callback):
    """Every ``every_n_epochs`` epochs (and at the end of fit), draw ``num_samples`` samples from
    fixed noise and save them under ``<run dir>/samples/`` as PNG; log them to loggers that take
    images (TensorBoard, W&B). 2-D data is drawn as a scatter plot instead of a grid."""

    def __init__(self, every_n_epochs: int = 1, num_samples: int = 64, scatter_samples: int = 2000, seed: int = 1234) -> None:
        super().__init__()
        require(every_n_epochs >= 1, f"samples.every_n_epochs must be >= 1, got {every_n_epochs}")
        require(num_samples >= 1, f"samples.num_samples must be >= 1, got {num_samples}")
        self.every_n_epochs, self.num_samples, self.scatter_samples, self.seed = every_n_epochs, num_samples, scatter_samples, seed
        self.saved: list[Path] = []

    def _fixed_noise(self, pl_module: pl.LightningModule, n: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed)
        return pl_module.prior.sample(n, generator=generator)

    def render(self, trainer: pl.Trainer, pl_module: pl.LightningModule, tag: str) -> Path:
        datamodule = trainer.datamodule
        is_2d = tuple(getattr(datamodule, "sample_shape", ())) == (2,)
        n = self.scatter_samples if is_2d else self.num_samples
        samples = pl_module.generate(self._fixed_noise(pl_module, n)).cpu()
        path = run_dir(trainer) / "samples" / f"{tag}.png"
        title = f"{type(pl_module).__name__}, G step {pl_module.generator_steps}"
        if is_2d:
            real = datamodule.val_set.tensors[0][:n] if datamodule.val_set is not None else None
            save_scatter(samples, path, real, getattr(datamodule, "centres", None), title)
        else:
            save_image_grid(samples, path, getattr(datamodule, "value_range", (0.0, 1.0)))
        self.saved.append(path)
        self._log_image(trainer, path, f"{tag}: {title}", pl_module.generator_steps)
        return path

    def _log_image(self, trainer: pl.Trainer, path: Path, caption: str, generator_step: int) -> None:
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                import wandb

                # No trainer/global_step here: it would count optimizer steps, not the batches every
                # other row counts; generator_step is this run's x-axis (zoo.callbacks.wandb_run).
                logger.log_metrics({"samples": wandb.Image(str(path), caption=caption), "generator_step": float(generator_step)})
            elif isinstance(logger, TensorBoardLogger):
                from PIL import Image
                import numpy as np

                image = torch.from_numpy(np.asarray(Image.open(path).convert("RGB"))).permute(2, 0, 1)
                logger.experiment.add_image("samples", image, global_step=trainer.global_step)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero and (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self.render(trainer, pl_module, f"epoch={trainer.current_epoch:03d}")

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            self.render(trainer, pl_module, "final")
