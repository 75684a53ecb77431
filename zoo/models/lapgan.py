"""Deep Generative Image Models using a Laplacian Pyramid of Adversarial Networks — Denton,
Chintala, Szlam & Fergus, NeurIPS 2015.

LAPGAN draws an image coarse to fine (§3, Figure 1 and Eq. 3):

    Ĩ_0 = G_0(z_0),        Ĩ_k = u(Ĩ_{k−1}) + G_k(z_k, u(Ĩ_{k−1})),   k = 1 … K

with u the pyramid's upsampling (:mod:`zoo.nets.laplacian`). Each (G_k, D_k) pair is trained on
its own, as one run of :class:`zoo.models.lapgan_level.LAPGANLevel`; :meth:`LAPGAN.assemble` joins
the trained levels into one zoo checkpoint that ``zoo eval``, the harness and sample grids read like
any other GAN's. Each refined image is clamped to the data's range, where every real low-pass image
lies, before the next level sees it.

CC-LAPGAN draws a class label first and gives it to every level. :func:`chain_figure` draws the
coarse image, each generated residual and each refined image, as the paper's coarse-to-fine chains.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.atomic import atomic_torch_save
from zoo.core.gan import TwoPlayerGAN
from zoo.core.prior import NoisePrior
from zoo.errors import ZooConfigError, require
from zoo.models.lapgan_level import LAPGANLevel
from zoo.nets.lapgan import coarse_input, refinement_input
from zoo.nets.laplacian import upsample


class ChainPrior:
    """The codes of a whole chain, one row per image: [class label], z_0, then one plane z_k per finer level."""

    def __init__(self, noises: Sequence[NoisePrior], num_classes: int) -> None:
        self.noises, self.num_classes = list(noises), num_classes
        self.dim = (1 if num_classes else 0) + sum(noise.dim for noise in self.noises)

    def sample(self, n: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None,
               labels: Tensor | None = None) -> Tensor:
        codes = [noise.sample(n, device, generator) for noise in self.noises]
        if self.num_classes:
            if labels is None:
                labels = torch.randint(self.num_classes, (n,), device=device, generator=generator)
            codes.insert(0, labels.to(device).float().view(n, 1))
        return torch.cat(codes, dim=1)


class LaplacianChain(nn.Module):
    """G_0, …, G_K applied coarse to fine: codes ↦ the full-size image (``forward``) or the whole chain."""

    def __init__(self, generators: Sequence[nn.Module], sizes: Sequence[int], noise_dims: Sequence[int],
                 num_classes: int, output_range: tuple[float, float]) -> None:
        super().__init__()
        self.generators = nn.ModuleList(generators)
        self.sizes, self.noise_dims, self.num_classes = tuple(sizes), list(noise_dims), num_classes
        self.output_range = output_range

    def chain(self, z: Tensor) -> list[tuple[Tensor | None, Tensor]]:
        """(h̃_k, Ĩ_k) for k = 0 … K (no residual at level 0)."""
        onehot = F.one_hot(z[:, 0].long(), self.num_classes).to(z.dtype) if self.num_classes else None
        codes = torch.split(z[:, 1 if self.num_classes else 0 :], self.noise_dims, dim=1)
        image = self.generators[0](coarse_input(codes[0], onehot)).clamp(*self.output_range)
        steps: list[tuple[Tensor | None, Tensor]] = [(None, image)]
        for generator, code, size in zip(self.generators[1:], codes[1:], self.sizes[1:]):
            coarse_up = upsample(image, size)
            residual = generator(refinement_input(coarse_up, code.view(-1, 1, size, size), onehot))
            image = (coarse_up + residual).clamp(*self.output_range)
            steps.append((residual, image))
        return steps

    def forward(self, z: Tensor) -> Tensor:
        return self.chain(z)[-1][1]


class LAPGAN(TwoPlayerGAN):
    """The sampler of a LAPGAN whose levels were trained as :class:`LAPGANLevel` runs.

    Args:
        levels: each level's constructor options, coarsest first (``LAPGANLevel.hparams``).
        level_steps: each level's (generator, discriminator) updates, for the record.
        **kwargs: the options of :class:`zoo.core.TwoPlayerGAN` (unused: a LAPGAN trains level by level).
    """

    def __init__(self, levels: Sequence[dict[str, Any]], level_steps: Sequence[Sequence[int]] = (), **kwargs: Any) -> None:
        require(len(levels) >= 1, "a LAPGAN needs at least one level")
        built = [LAPGANLevel(**dict(options)) for options in levels]
        first = built[0]
        require([level.level for level in built] == list(range(len(first.sizes))),
                f"a LAPGAN needs levels 0..{len(first.sizes) - 1} of one pyramid, once each and coarsest first; got levels {[b.level for b in built]}")
        for level in built:
            same = (level.sizes, level.channels, level.num_classes, level.output_range) == (first.sizes, first.channels, first.num_classes, first.output_range)
            require(same, f"level {level.level} was trained for another pyramid, channel count, class count or range than level 0")
        noises = [level.prior.noise for level in built]
        chain = LaplacianChain([level.generator for level in built], first.sizes, [noise.dim for noise in noises],
                               first.num_classes, first.output_range)
        super().__init__(chain, nn.ModuleList(level.discriminator for level in built), **kwargs)
        self.prior = ChainPrior(noises, first.num_classes)
        self.level_steps = [list(steps) for steps in level_steps]
        self.generator_steps = sum(steps[0] for steps in self.level_steps)
        self.discriminator_steps = sum(steps[1] for steps in self.level_steps)

    def sample(self, n: int, use_ema: bool = True, labels: Tensor | None = None) -> Tensor:
        """``n`` full-size images; CC-LAPGAN draws them of the given ``labels`` (else uniform classes)."""
        return self.generate(self.prior.sample(n, self.device, labels=labels), use_ema)

    @torch.no_grad()
    def chain(self, z: Tensor) -> list[tuple[Tensor | None, Tensor]]:
        """The coarse image, then each (generated residual, refined image), for codes ``z``."""
        was_training = self.generator.training
        self.generator.eval()
        steps = self.generator.chain(z.to(self.device))
        self.generator.train(was_training)
        return steps

    def training_step(self, batch: Any, batch_idx: int) -> None:
        raise ZooConfigError("a LAPGAN trains level by level: fit zoo.models.lapgan_level.LAPGANLevel with "
                             "--model.init_args.level k, then join the runs with LAPGAN.assemble")

    @classmethod
    def assemble(cls, level_checkpoints: Sequence[str | Path], out: str | Path) -> Path:
        """Join the ``last.ckpt`` of each level's run (any order) into one checkpoint at ``out``,
        taking each level's averaged generator where it kept one; the data record is the finest level's."""
        from zoo.checkpoints import gan_from_checkpoint, read_checkpoint

        loaded = []
        for path in level_checkpoints:
            checkpoint = read_checkpoint(path)
            level = gan_from_checkpoint(checkpoint, path)
            require(isinstance(level, LAPGANLevel), f"{path} holds a {type(level).__name__}, not a LAPGANLevel run")
            loaded.append((level.level, level, checkpoint["zoo"]))
        loaded.sort(key=lambda item: item[0])
        levels = [level for _, level, _ in loaded]
        model = cls([dict(level.hparams) for level in levels], [[level.generator_steps, level.discriminator_steps] for level in levels])
        for k, level in enumerate(levels):
            model.generator.generators[k].load_state_dict((level.ema.shadow if level.ema is not None else level.generator).state_dict())
            model.discriminator[k].load_state_dict(level.discriminator.state_dict())
        record = loaded[-1][2]
        require(all(zoo["datamodule_class"] == record["datamodule_class"] for _, _, zoo in loaded),
                "the levels were trained on different datasets")
        checkpoint = {
            "state_dict": model.state_dict(),
            "hyper_parameters": {"levels": [dict(level.hparams) for level in levels], "level_steps": model.level_steps},
            "zoo": {"model_class": f"{cls.__module__}.{cls.__qualname__}", "datamodule_class": record["datamodule_class"],
                    "datamodule_hparams": record["datamodule_hparams"], "generator_steps": model.generator_steps,
                    "discriminator_steps": model.discriminator_steps},
            "pytorch-lightning_version": pl.__version__,
        }
        return atomic_torch_save(checkpoint, out)


def _displayable(image: Tensor, low: float, high: float) -> Tensor:
    """``(c, h, w)`` → an ``(h, w[, 3])`` array in [0, 1] for imshow."""
    unit = ((image - low) / (high - low)).clamp(0, 1)
    return unit[0] if unit.shape[0] == 1 else unit.permute(1, 2, 0)


def chain_figure(model: LAPGAN, path: str | Path, n: int = 6, seed: int = 0, labels: Tensor | None = None) -> Path:
    """A PNG of ``n`` coarse-to-fine chains, one per row: Ĩ_0, then h̃_k and Ĩ_k for each finer level.
    Residuals are drawn on a grey background, scaled to the largest magnitude in their column."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    z = model.prior.sample(n, generator=torch.Generator().manual_seed(seed), labels=labels)
    steps = [(None if residual is None else residual.cpu(), image.cpu()) for residual, image in model.chain(z)]
    low, high = model.generator.output_range
    columns: list[tuple[str, Tensor, float, float]] = [(f"Ĩ0 ({steps[0][1].shape[-1]}²)", steps[0][1], low, high)]
    for k, (residual, image) in enumerate(steps[1:], start=1):
        scale = float(residual.abs().max()) or 1.0
        columns += [(f"h̃{k} ({residual.shape[-1]}²)", residual, -scale, scale), (f"Ĩ{k} ({image.shape[-1]}²)", image, low, high)]
    fig, axes = plt.subplots(n, len(columns), figsize=(1.4 * len(columns), 1.4 * n), squeeze=False)
    for j, (title, images, vmin, vmax) in enumerate(columns):
        axes[0, j].set_title(title, fontsize=8)
        for i in range(n):
            axes[i, j].imshow(_displayable(images[i], vmin, vmax).numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            axes[i, j].axis("off")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
