"""Latent walks, sample sheets and vector arithmetic (DCGAN §6), and the checkpoint loader."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from tests.conftest import quiet_trainer
from zoo.checkpoints import load_gan
from zoo.cli import main as zoo_main
from zoo.errors import ZooConfigError
from zoo.latent import arithmetic_images, interpolate, latent_arithmetic, lerp, select_codes, slerp, walk_codes

LATENT_DIM = 8
CELL = 32 + 1  # image side plus the grid's one-pixel padding


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    """A tiny DCGAN trained for three steps on random 32×32 images, saved like `zoo fit` does."""
    from torch.utils.data import DataLoader, TensorDataset

    from zoo.models.dcgan import DCGAN

    torch.manual_seed(0)
    model = DCGAN(image_size=32, channels=1, latent_dim=LATENT_DIM, g_width=4, d_width=4, ema_decay=0.9)
    data = DataLoader(TensorDataset(torch.rand(24, 1, 32, 32) * 2 - 1), batch_size=8)
    trainer = quiet_trainer(max_epochs=1)
    trainer.fit(model, data)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.ckpt"
    trainer.save_checkpoint(path)
    return str(path)


# ------------------------------------------------------------------------------ interpolation
def test_slerp_returns_the_endpoints_exactly():
    z0, z1 = torch.randn(5, 100), torch.randn(5, 100)
    path = slerp(z0, z1, torch.linspace(0, 1, 7))
    assert path.shape == (5, 7, 100)
    assert torch.equal(path[:, 0], z0) and torch.equal(path[:, -1], z1)


def test_slerp_keeps_the_norm_of_equal_norm_codes_where_lerp_shrinks_it():
    z0, z1 = torch.randn(100), torch.randn(100)
    z1 = z1 / z1.norm() * z0.norm()
    t = torch.linspace(0, 1, 11)
    assert torch.allclose(slerp(z0, z1, t).norm(dim=-1), z0.norm().expand(11), rtol=1e-5)
    lerp_mid = lerp(z0, z1, torch.tensor([0.5]))[0]
    # Two nearly orthogonal codes: the chord's midpoint has about 1/√2 of their norm.
    assert lerp_mid.norm() < 0.85 * z0.norm()


def test_slerp_norms_follow_the_endpoint_norms_for_prior_draws():
    torch.manual_seed(0)
    z0, z1 = torch.randn(256, 100), torch.randn(256, 100)
    t = torch.linspace(0, 1, 9)
    expected = (1 - t) * z0.norm(dim=-1)[:, None] + t * z1.norm(dim=-1)[:, None]
    spherical = slerp(z0, z1, t).norm(dim=-1) / expected - 1
    linear = lerp(z0, z1, t).norm(dim=-1) / expected - 1
    # slerp stays within a few per cent of the endpoints' norms; the chord's midpoint loses ~29 %
    # (1 − 1/√2 for orthogonal codes), far from the prior's typical norm √d (White 2016).
    assert spherical.abs().max() < 0.06 and spherical[:, 4].mean().abs() < 0.01
    assert linear[:, 4].mean() < -0.25


def test_linear_and_spherical_paths_differ_inside_and_agree_at_the_ends():
    z0, z1 = torch.randn(3, 16), torch.randn(3, 16)
    linear, spherical = interpolate(z0, z1, 5, "linear"), interpolate(z0, z1, 5, "slerp")
    assert torch.allclose(linear[:, [0, -1]], spherical[:, [0, -1]])
    assert (linear[:, 2] - spherical[:, 2]).abs().max() > 1e-2
    assert torch.allclose(linear[:, 2], (z0 + z1) / 2)


def test_slerp_of_parallel_codes_falls_back_to_lerp():
    z0 = torch.randn(10)
    path = slerp(z0, 2 * z0, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.isfinite(path).all()
    assert torch.allclose(path[1], 1.5 * z0)


def test_interpolation_rejects_bad_arguments():
    with pytest.raises(ZooConfigError, match="steps"):
        interpolate(torch.zeros(4), torch.ones(4), 1)
    with pytest.raises(ZooConfigError, match="mode"):
        interpolate(torch.zeros(4), torch.ones(4), 3, "cubic")


# ------------------------------------------------------------------------------ arithmetic
def test_latent_arithmetic_averages_each_concept_then_adds():
    a = torch.tensor([[1.0, 0.0], [3.0, 0.0], [2.0, 3.0]])
    b = torch.tensor([[0.0, 1.0], [0.0, 3.0]])
    c = torch.tensor([[5.0, 5.0]])
    out = latent_arithmetic(a, b, c)
    assert torch.equal(out["a"], torch.tensor([2.0, 1.0]))
    assert torch.equal(out["b"], torch.tensor([0.0, 2.0]))
    assert torch.equal(out["result"], torch.tensor([7.0, 4.0]))


def test_select_codes_reads_sheet_indices_and_rejects_bad_ones():
    sheet = torch.arange(20.0).reshape(10, 2)
    assert torch.equal(select_codes("3, 7", sheet, "a"), sheet[[3, 7]])
    with pytest.raises(ZooConfigError, match="index 10 is outside the sheet"):
        select_codes("1,10", sheet, "a")
    with pytest.raises(ZooConfigError, match="comma-separated"):
        select_codes("one,two", sheet, "b")
    with pytest.raises(ZooConfigError, match="no --sheet"):
        select_codes("1,2", None, "c")


def test_arithmetic_grid_decodes_the_averaged_codes(checkpoint):
    model = load_gan(checkpoint)
    generator = torch.Generator().manual_seed(1)
    a, b, c = (torch.randn(k, LATENT_DIM, generator=generator) for k in (3, 3, 2))
    images = arithmetic_images(model, a, b, c, variations=2, noise_scale=0.25)
    # 3 exemplar rows + 1 row of means + 1 row of variations, 4 columns each.
    assert images.shape == (20, 1, 32, 32)
    expected = model.generate(torch.stack([a.mean(0), b.mean(0), c.mean(0), a.mean(0) - b.mean(0) + c.mean(0)]))
    assert torch.allclose(images[12:16], expected, atol=1e-6)
    assert torch.allclose(images[0], model.generate(a[:1])[0], atol=1e-6)
    blank_cells = [3, 7, 10, 11, 18, 19]  # result column of exemplar rows, c's missing third exemplar, padding
    assert all(bool((images[i] == 1.0).all()) for i in blank_cells)
    assert not (images[16] == 1.0).all()


# ------------------------------------------------------------------------------ loader and CLI
def test_load_gan_restores_class_weights_and_counters(checkpoint):
    model = load_gan(checkpoint)
    assert type(model).__name__ == "DCGAN" and model.generator_steps == 3
    saved = torch.load(checkpoint, weights_only=False)["state_dict"]
    assert torch.equal(model.state_dict()["generator.net.0.weight"], saved["generator.net.0.weight"])
    assert model.ema is not None and torch.equal(model.ema.shadow.net[0].weight, saved["ema.shadow.net.0.weight"])


def test_load_gan_errors_are_one_line(tmp_path):
    with pytest.raises(ZooConfigError, match="checkpoint not found"):
        load_gan(tmp_path / "missing.ckpt")
    (tmp_path / "bad.ckpt").write_text("not a checkpoint")
    with pytest.raises(ZooConfigError, match="cannot read checkpoint"):
        load_gan(tmp_path / "bad.ckpt")


def test_walk_codes_are_seeded_rows_of_paths(checkpoint):
    model = load_gan(checkpoint)
    codes = walk_codes(model, steps=4, rows=3, seed=5)
    assert codes.shape == (12, LATENT_DIM)
    assert torch.equal(codes, walk_codes(model, steps=4, rows=3, seed=5))
    assert not torch.equal(codes, walk_codes(model, steps=4, rows=3, seed=6))


@pytest.mark.parametrize("mode", ["linear", "slerp"])
def test_cli_walk_writes_a_png_of_rows_by_steps(checkpoint, tmp_path, mode):
    out = tmp_path / "walk.png"
    assert zoo_main(["latent", "walk", "--ckpt", checkpoint, "--steps", "6", "--rows", "3", "--mode", mode, "--out", str(out)]) == 0
    assert Image.open(out).size == (6 * CELL + 1, 3 * CELL + 1)


def test_cli_sheet_then_arithmetic(checkpoint, tmp_path, capsys):
    sheet = tmp_path / "sheet.png"
    assert zoo_main(["latent", "sheet", "--ckpt", checkpoint, "--n", "16", "--seed", "2", "--out", str(sheet)]) == 0
    codes = torch.load(tmp_path / "sheet.pt")["z"]
    assert codes.shape == (16, LATENT_DIM)
    width, height = Image.open(sheet).size  # 4×4 cells, upscaled to 64 px, 2 px padding
    assert width == height == 4 * (64 + 2) + 2

    torch.save(codes[:2], tmp_path / "c.pt")
    out = tmp_path / "arith.png"
    args = ["latent", "arithmetic", "--ckpt", checkpoint, "--sheet", str(tmp_path / "sheet.pt"),
            "--a", "0,1,2", "--b", "3,4,5", "--c", str(tmp_path / "c.pt"), "--variations", "4", "--out", str(out)]
    assert zoo_main(args) == 0
    assert Image.open(out).size == (4 * CELL + 1, 5 * CELL + 1)

    capsys.readouterr()
    assert zoo_main(args[:6] + ["--a", "0,1,99"] + args[8:]) == 2
    assert capsys.readouterr().err.strip() == "zoo: error: --a index 99 is outside the sheet, which has cells 0..15"


def test_cli_missing_checkpoint_is_one_line(tmp_path, capsys):
    assert zoo_main(["latent", "walk", "--ckpt", str(tmp_path / "nope.ckpt"), "--steps", "3", "--out", str(tmp_path / "w.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("zoo: error: checkpoint not found") and "\n" not in err
