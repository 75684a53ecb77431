"""Latent-space tools (DCGAN, Radford et al. 2016, §6): walks, sample sheets, vector arithmetic.

Every function takes a trained :class:`zoo.core.TwoPlayerGAN` (e.g. from
:func:`zoo.checkpoints.load_gan`) and works inside training too (see :class:`LatentWalk`).
"""

from zoo.checkpoints import load_gan
from zoo.latent.arithmetic import (
    arithmetic_images,
    latent_arithmetic,
    load_codes,
    result_variations,
    save_arithmetic,
    save_sample_sheet,
    select_codes,
    sheet_codes,
)
from zoo.latent.loggers import log_png
from zoo.latent.walk import LatentWalk, interpolate, latent_walk_grid, lerp, save_latent_walk, slerp, walk_codes

__all__ = [
    "LatentWalk", "arithmetic_images", "interpolate", "latent_arithmetic", "latent_walk_grid", "lerp", "load_codes",
    "load_gan", "log_png", "result_variations", "save_arithmetic", "save_latent_walk", "save_sample_sheet",
    "select_codes", "sheet_codes", "slerp", "walk_codes",
]
