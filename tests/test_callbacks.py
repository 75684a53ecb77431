"""Sample grids, scatter plots and the loggers that receive them."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger, WandbLogger

from tests.conftest import quiet_trainer, tiny_vanilla
from zoo.callbacks import SampleGrid
from zoo.data.digits import DigitsDataModule
from zoo.data.toy2d import MixtureDataModule


def test_image_grid_goes_to_png_and_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    grid = SampleGrid(every_n_epochs=1, num_samples=16)
    logger = TensorBoardLogger(tmp_path, name="tb")
    quiet_trainer(max_epochs=2, limit_train_batches=2, limit_val_batches=0, logger=logger, callbacks=[grid]).fit(
        tiny_vanilla(), datamodule=DigitsDataModule())
    names = sorted(path.name for path in grid.saved)
    assert names == ["epoch=000.png", "epoch=001.png", "final.png"]
    assert all(Path(logger.log_dir) / "samples" / name in grid.saved for name in names)
    width, height = Image.open(grid.saved[-1]).size
    assert width == height and width >= 4 * 32  # 4×4 cells of 8×8 digits, upscaled to be visible
    events = EventAccumulator(logger.log_dir, size_guidance={"images": 0})
    events.Reload()
    assert len(events.Images("samples")) == 3


def test_two_dimensional_data_is_drawn_as_a_scatter_plot(tmp_path):
    grid = SampleGrid(every_n_epochs=5, scatter_samples=300)
    data = MixtureDataModule("grid", batch_size=128, train_size=512, val_size=256, test_size=256)
    model = tiny_vanilla(data_shape=(2,), g_output="linear", prior="normal")
    quiet_trainer(max_epochs=1, logger=CSVLogger(tmp_path), callbacks=[grid], limit_val_batches=1).fit(model, datamodule=data)
    (final,) = grid.saved
    assert final.name == "final.png"
    image = Image.open(final).convert("RGB")
    assert image.size == (450, 450)
    colours = set(image.getdata())
    assert len(colours) > 20  # points, centres and legend, not a blank canvas


def test_wandb_offline_receives_the_grid(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    logger = WandbLogger(project="zoo-tests", save_dir=str(tmp_path), offline=True)
    grid = SampleGrid(num_samples=4)
    quiet_trainer(max_epochs=1, limit_train_batches=1, limit_val_batches=0, logger=logger, callbacks=[grid]).fit(
        tiny_vanilla(), datamodule=DigitsDataModule())
    logger.experiment.finish()
    media = list(Path(tmp_path).rglob("media/images/samples_*.png"))
    assert len(media) == 2  # epoch 0 and final


def test_evaluation_callback_logs_metrics_and_keeps_the_best_checkpoint(tmp_path):
    from pytorch_lightning.callbacks import ModelCheckpoint

    from zoo.callbacks import Evaluation

    evaluation = Evaluation(metrics=["parzen"], every_n_epochs=1, num_samples=200, protocol=None)
    best = ModelCheckpoint(dirpath=tmp_path, monitor="eval/parzen", mode="max", save_top_k=1)
    trainer = quiet_trainer(max_epochs=3, limit_train_batches=2, limit_val_batches=1, enable_checkpointing=True,
                            callbacks=[evaluation, best])
    trainer.fit(tiny_vanilla(), datamodule=DigitsDataModule())
    assert evaluation.results["parzen"]["n_samples"] == 200
    assert trainer.callback_metrics["eval/parzen"].item() == pytest.approx(evaluation.results["parzen"]["value"], rel=1e-6)
    assert len(list(tmp_path.glob("*.ckpt"))) == 1 and best.best_model_path
    assert best.best_model_score.item() >= evaluation.results["parzen"]["value"] - 1e-4  # the best epoch, not the last
