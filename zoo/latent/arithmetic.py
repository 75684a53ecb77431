"""Vector arithmetic on latent codes (DCGAN, Radford et al. 2016, §6.3.2 and Figure 7).

The paper picks three samples that show a concept (e.g. "smiling woman"), averages their z codes,
and computes Y = mean(a) − mean(b) + mean(c) ("smiling woman" − "neutral woman" + "neutral man").
G(Y) shows the combined concept ("smiling man"); single exemplars were unstable, averages of three
were not. Figure 7 also decodes Y plus uniform noise of scale ±0.25 to show the neighbourhood.

Exemplars are chosen by eye from a numbered *sample sheet* (:func:`save_sample_sheet`): a PNG with an
index in each cell and a ``.pt`` file holding the codes, so ``--a 3,7,12`` refers to cells 3, 7, 12.
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import Tensor

from zoo.callbacks.samples import save_image_grid
from zoo.errors import ZooConfigError, require

ARITHMETIC_COLUMNS = 4  # a, b, c, result


def latent_arithmetic(a: Tensor, b: Tensor, c: Tensor) -> dict[str, Tensor]:
    """Average each concept's exemplars ``(k, d)`` and return the means and Y = ā − b̄ + c̄ (§6.3.2)."""
    means = {}
    for name, codes in (("a", a), ("b", b), ("c", c)):
        require(codes.dim() == 2 and len(codes) >= 1, f"concept {name} needs codes of shape (k, d) with k >= 1, got {tuple(codes.shape)}")
        means[name] = codes.mean(dim=0)
    require(
        means["a"].shape == means["b"].shape == means["c"].shape,
        f"concepts a, b, c have codes of different sizes: {means['a'].numel()}, {means['b'].numel()}, {means['c'].numel()}",
    )
    means["result"] = means["a"] - means["b"] + means["c"]
    return means


def result_variations(result: Tensor, count: int, noise_scale: float = 0.25, seed: int = 0) -> Tensor:
    """``count`` codes Y + u with u ~ U[−noise_scale, noise_scale]^d, as in Figure 7."""
    generator = torch.Generator().manual_seed(seed)
    noise = (torch.rand(count, result.numel(), generator=generator, dtype=result.dtype) * 2 - 1) * noise_scale
    return result[None, :] + noise


def arithmetic_images(
    model: pl.LightningModule, a: Tensor, b: Tensor, c: Tensor, variations: int = 8, noise_scale: float = 0.25, seed: int = 0
) -> Tensor:
    """The arithmetic as a grid of images ``(rows·4, C, H, W)``, four columns: a, b, c, result.

    Rows 1..k show the exemplars of a, b and c (blank where a concept has fewer, and blank in the
    result column); the next row shows G(ā), G(b̄), G(c̄) and G(Y); further rows show ``variations``
    decodings of Y plus noise (Figure 7's neighbourhood of Y), four per row.
    """
    require(variations >= 0, f"--variations must be >= 0, got {variations}")
    means = latent_arithmetic(a, b, c)
    latent_dim = model.prior.dim
    require(means["a"].numel() == latent_dim, f"the codes have {means['a'].numel()} dimensions but the model's z has {latent_dim}")
    exemplar_rows = max(len(a), len(b), len(c))
    blank = torch.zeros(latent_dim)  # placeholder code; its image is replaced by a blank cell
    codes, is_blank = [], []
    for row in range(exemplar_rows):
        for concept in (a, b, c):
            codes.append(concept[row] if row < len(concept) else blank)
            is_blank.append(row >= len(concept))
        codes.append(blank)
        is_blank.append(True)
    codes += [means["a"], means["b"], means["c"], means["result"]]
    is_blank += [False] * 4
    if variations:
        codes += list(result_variations(means["result"], variations, noise_scale, seed))
        padding = -variations % ARITHMETIC_COLUMNS
        codes += [blank] * padding
        is_blank += [False] * variations + [True] * padding
    images = model.generate(torch.stack(codes).float()).cpu()
    white = float(getattr(model.generator, "output_range", (-1.0, 1.0))[1])
    images[torch.tensor(is_blank)] = white
    return images


def save_arithmetic(
    model: pl.LightningModule, path: str | Path, a: Tensor, b: Tensor, c: Tensor,
    variations: int = 8, noise_scale: float = 0.25, seed: int = 0,
) -> Path:
    """Write :func:`arithmetic_images` as one PNG (four columns); returns the path."""
    images = arithmetic_images(model, a, b, c, variations, noise_scale, seed)
    value_range = tuple(getattr(model.generator, "output_range", (-1.0, 1.0)))
    return save_image_grid(images, Path(path), value_range, nrow=ARITHMETIC_COLUMNS)


# ------------------------------------------------------------------------------ sample sheets
def sheet_codes(model: pl.LightningModule, n: int, seed: int = 0) -> Tensor:
    """``n`` prior draws ``(n, d)`` from a seeded generator: the codes of a sample sheet."""
    require(n >= 1, f"a sample sheet needs --n >= 1, got {n}")
    return model.prior.sample(n, generator=torch.Generator().manual_seed(seed))


def numbered_grid_png(images: Tensor, path: Path, value_range: tuple[float, float], nrow: int, min_cell: int = 64) -> Path:
    """A PNG grid with each cell's index written in its top-left corner (cells upscaled to ``min_cell`` px)."""
    from PIL import Image, ImageDraw
    from torchvision.utils import make_grid

    images = images.detach().float().cpu()
    scale = max(1, -(-min_cell // images.shape[-1]))
    images = torch.nn.functional.interpolate(images, scale_factor=scale, mode="nearest")
    low, high = value_range
    images = ((images - low) / (high - low)).clamp(0, 1)
    padding = 2
    grid = make_grid(images, nrow=nrow, padding=padding, pad_value=1.0)
    picture = Image.fromarray((grid.permute(1, 2, 0).numpy() * 255).round().astype("uint8")).convert("RGB")
    draw = ImageDraw.Draw(picture)
    cell_h, cell_w = images.shape[-2] + padding, images.shape[-1] + padding
    for index in range(len(images)):
        x, y = (index % nrow) * cell_w + padding, (index // nrow) * cell_h + padding
        text = str(index)
        box = draw.textbbox((x + 1, y), text)
        draw.rectangle((box[0] - 1, box[1] - 1, box[2] + 1, box[3] + 1), fill=(255, 255, 0))
        draw.text((x + 1, y), text, fill=(0, 0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path)
    return path


def save_sample_sheet(model: pl.LightningModule, path: str | Path, n: int = 64, seed: int = 0) -> tuple[Path, Path]:
    """Write ``<path>.png`` (numbered samples) and ``<path>.pt`` (their codes and the seed)."""
    path = Path(path)
    png, codes_file = path.with_suffix(".png"), path.with_suffix(".pt")
    z = sheet_codes(model, n, seed)
    value_range = tuple(getattr(model.generator, "output_range", (-1.0, 1.0)))
    numbered_grid_png(model.generate(z), png, value_range, nrow=max(1, int(n**0.5)))
    torch.save({"z": z, "seed": seed, "n": n}, codes_file)
    return png, codes_file


def load_codes(path: str | Path) -> Tensor:
    """Latent codes ``(k, d)`` from a ``.pt`` file: a tensor ``(k, d)`` or ``(d,)``, or a dict with ``"z"``."""
    path = Path(path)
    if not path.is_file():
        raise ZooConfigError(f"latent code file not found: {path} (write one with `zoo latent sheet`)")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ZooConfigError(f"cannot read latent codes from {path}: {type(error).__name__}") from None
    codes = content.get("z") if isinstance(content, dict) else content
    if not isinstance(codes, Tensor) or codes.dim() not in (1, 2):
        raise ZooConfigError(f"{path} holds no latent codes: expected a tensor (k, d) or (d,), or a dict with 'z'")
    return codes.float().reshape(-1, codes.shape[-1])


def select_codes(spec: str, sheet: Tensor | None, name: str) -> Tensor:
    """The exemplars of one concept: ``"3,7,12"`` (indices into ``sheet``) or a ``.pt`` file of codes."""
    spec = spec.strip()
    if spec.endswith(".pt"):
        return load_codes(spec)
    try:
        indices = [int(part) for part in spec.split(",") if part.strip()]
    except ValueError:
        raise ZooConfigError(f"--{name} must be comma-separated sheet indices (e.g. 3,7,12) or a .pt file, got {spec!r}") from None
    require(bool(indices), f"--{name} names no exemplar; give indices like 3,7,12")
    if sheet is None:
        raise ZooConfigError(f"--{name} gives sheet indices but no --sheet; pass the sheet.pt written by `zoo latent sheet`")
    bad = [i for i in indices if not 0 <= i < len(sheet)]
    require(not bad, f"--{name} index {bad[0]} is outside the sheet, which has cells 0..{len(sheet) - 1}" if bad else "")
    return sheet[indices]
