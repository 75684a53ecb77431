"""LAPGAN levels train one at a time on the two-player core, resume exactly, and join into a sampler
that the checkpoint loader and the evaluation harness take like any other GAN."""

from __future__ import annotations

import argparse

import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from tests.conftest import quiet_trainer
from zoo.data.digits import DigitsDataModule
from zoo.models.lapgan import LAPGAN
from zoo.models.lapgan_level import LAPGANLevel

TINY = dict(image_size=8, levels=[4, 8], latent_dim=8, coarse_g_hidden=(16,), coarse_d_hidden=(16,), g_planes=4, d_planes=4)


def train_level(folder, level, epochs, ckpt_path=None, **options):
    torch.manual_seed(0)
    model = LAPGANLevel(level=level, **{**TINY, **options})
    checkpoint = ModelCheckpoint(dirpath=folder, save_last=True, save_top_k=0)
    trainer = quiet_trainer(max_epochs=epochs, enable_checkpointing=True, callbacks=[checkpoint], limit_train_batches=4, limit_val_batches=1)
    trainer.fit(model, datamodule=DigitsDataModule(batch_size=32), ckpt_path=ckpt_path)
    return model, folder / "last.ckpt"


def weights(module):
    return {name: value.clone() for name, value in module.state_dict().items()}


def assert_same(a, b):
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0, msg=f"{name} differs")


def test_a_level_trains_only_its_own_pair(tmp_path):
    torch.manual_seed(0)
    untrained = weights(LAPGANLevel(level=1, **TINY))
    level, _ = train_level(tmp_path, level=1, epochs=1)
    assert level.generator_steps == level.discriminator_steps == 4
    assert {name.split(".")[0] for name in level.state_dict()} == {"generator", "discriminator"}
    trained = weights(level)
    for player in ("generator", "discriminator"):
        assert any(not torch.equal(untrained[n], trained[n]) for n in trained if n.startswith(player)), f"{player} did not move"
    target = level.condition_on(torch.rand(3, 1, 8, 8), torch.zeros(3, dtype=torch.long))
    assert not target.requires_grad and not level.prior.condition.coarse_up.requires_grad  # no gradient across levels


def test_training_one_level_leaves_the_others_untouched(tmp_path):
    _, coarse = train_level(tmp_path / "level0", level=0, epochs=1)
    _, fine = train_level(tmp_path / "level1", level=1, epochs=1)
    before = LAPGAN.assemble([fine, coarse], tmp_path / "before.ckpt")  # any order
    _, fine_more = train_level(tmp_path / "level1", level=1, epochs=3, ckpt_path=fine)
    after = LAPGAN.assemble([coarse, fine_more], tmp_path / "after.ckpt")

    from zoo.checkpoints import load_gan

    first, second = load_gan(before), load_gan(after)
    assert_same(weights(first.generator.generators[0]), weights(second.generator.generators[0]))
    assert_same(weights(first.discriminator[0]), weights(second.discriminator[0]))
    changed = weights(second.generator.generators[1])
    assert any(not torch.equal(value, weights(first.generator.generators[1])[name]) for name, value in changed.items())
    assert second.generator_steps == 4 + 12 and first.generator_steps == 4 + 4


def test_resuming_a_level_is_exact(tmp_path):
    options = dict(num_classes=10, ema_decay=0.9, optimizer="adam", d_steps_per_g_step=2)
    straight, _ = train_level(tmp_path / "straight", level=1, epochs=4, **options)
    _, halfway = train_level(tmp_path / "halves", level=1, epochs=2, **options)
    torch.manual_seed(999)  # another RNG state before resuming must not matter
    resumed, _ = train_level(tmp_path / "resumed", level=1, epochs=4, ckpt_path=halfway, **options)
    assert resumed.generator_steps == straight.generator_steps == 8
    assert resumed.discriminator_steps == straight.discriminator_steps == 16
    assert_same(weights(straight), weights(resumed))


def test_assembled_lapgan_goes_through_zoo_eval(tmp_path):
    from zoo.checkpoints import load_gan
    from zoo.eval.command import evaluate_checkpoint
    from zoo.eval.harness import generate_samples

    paths = [train_level(tmp_path / f"level{k}", level=k, epochs=1, num_classes=10, ema_decay=0.5)[1] for k in (0, 1)]
    chain = LAPGAN.assemble(paths, tmp_path / "lapgan.ckpt")
    model = load_gan(chain)
    assert isinstance(model, LAPGAN) and model.generator_steps == 8
    first, again = generate_samples(model, 50, seed=3), generate_samples(model, 50, seed=3)
    assert first.shape == (50, 1, 8, 8) and torch.equal(first, again)
    args = argparse.Namespace(ckpt=str(chain), metrics="parzen", num_samples=200, protocol="none", seed=0,
                              feature_extractor="auto", weights=None, data_root=None, devices="1", accelerator="cpu", out=None)
    record = evaluate_checkpoint(args)
    assert record["model"] == "LAPGAN" and record["data"] == "DigitsDataModule"
    assert torch.isfinite(torch.tensor(record["results"]["parzen"]["mean"]))


def test_zoo_lapgan_assembles_level_runs_and_draws_their_chains(tmp_path, capsys):
    from zoo.checkpoints import load_gan
    from zoo.cli import main

    paths = [train_level(tmp_path / f"level{k}", level=k, epochs=1, num_classes=10)[1] for k in (1, 0)]
    out = tmp_path / "joined" / "lapgan.ckpt"
    assert main(["lapgan", "assemble", *map(str, paths), "--out", str(out)]) == 0
    assert "2 levels; level 0: 4 G / 4 D steps, level 1: 4 G / 4 D steps" in capsys.readouterr().out
    joined, direct = load_gan(out), load_gan(LAPGAN.assemble(paths, tmp_path / "direct.ckpt"))
    assert_same(weights(joined), weights(direct))
    assert main(["lapgan", "chain", "--ckpt", str(out), "--out", str(tmp_path / "chain.png")]) == 0
    from PIL import Image

    with Image.open(tmp_path / "chain.png") as image:  # one row per class, three columns
        assert image.size[1] > 1.5 * image.size[0]

    assert main(["lapgan", "chain", "--ckpt", str(paths[0])]) == 2  # a level, not an assembled LAPGAN
    error = capsys.readouterr().err.strip()
    assert "not a LAPGAN" in error and "zoo lapgan assemble" in error and "\n" not in error
    assert main(["lapgan", "assemble", str(tmp_path / "missing.ckpt"), "--out", str(out)]) == 2
    assert "level checkpoint not found" in capsys.readouterr().err
