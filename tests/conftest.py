"""Shared test set-up: offline W&B, the MNIST folder, tiny models and a quiet Trainer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ["WANDB_MODE"] = "offline"
os.environ.setdefault("ZOO_DATA", str(REPO.parent / "shared" / "datasets"))
os.environ.setdefault("ZOO_CACHE", str(REPO / ".cache" / "tests"))


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """The folder holding MNIST/raw (genuine files; CI points ZOO_DATA at them)."""
    root = Path(os.environ["ZOO_DATA"])
    if not (root / "MNIST" / "raw").is_dir():
        pytest.skip(f"needs the MNIST files in {root}/MNIST/raw: set ZOO_DATA to the folder holding MNIST/raw (README, section Install)")
    return root


def quiet_trainer(**kwargs):
    """A CPU Trainer that prints nothing and writes only where told."""
    import pytorch_lightning as pl

    defaults = dict(
        accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
    )
    return pl.Trainer(**{**defaults, **kwargs})


def tiny_vanilla(data_shape=(1, 8, 8), **kwargs):
    """Goodfellow et al.'s nets, shrunk to a few units."""
    from zoo.models.vanilla import VanillaGAN

    options = dict(data_shape=data_shape, latent_dim=8, g_hidden=(16,), d_hidden=(16,), d_pieces=2)
    return VanillaGAN(**{**options, **kwargs})


DISTRIBUTED_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK", "NODE_RANK", "RANK", "WORLD_SIZE", "GROUP_RANK")


def subprocess_env() -> dict[str, str]:
    """The environment for a `zoo` subprocess: this repo importable, one thread, no stale rank variables."""
    env = {k: v for k, v in os.environ.items() if k not in DISTRIBUTED_VARIABLES}
    return {**env, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="session")
def random_inception_weights(tmp_path_factory):
    """The backends' Inception, randomly initialised (no download), saved like the real weights file."""
    import torch
    from torch_fidelity import feature_extractor_inceptionv3 as tf_inception

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tf_inception, "load_state_dict_from_url", lambda *args, **kwargs: {})
        patch.setattr(tf_inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        torch.manual_seed(0)
        network = tf_inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    path = tmp_path_factory.mktemp("weights") / "random-inception.pth"
    torch.save(network.state_dict(), path)
    return path
