"""Resuming is exact: 2N steps straight, or N steps then a resume for N more, give the same weights."""

from __future__ import annotations

import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from tests.conftest import quiet_trainer, tiny_vanilla
from zoo.data.digits import DigitsDataModule


def _train(tmp_path, epochs, ckpt_path=None):
    torch.manual_seed(0)
    # Dropout in D and uniform noise both draw from the global RNG, which the checkpoint must restore.
    model = tiny_vanilla(ema_decay=0.9, optimizer="adam", d_steps_per_g_step=2)
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True, save_top_k=0)
    trainer = quiet_trainer(max_epochs=epochs, enable_checkpointing=True, callbacks=[checkpoint], limit_train_batches=5)
    trainer.fit(model, datamodule=DigitsDataModule(batch_size=32), ckpt_path=ckpt_path)
    return model, tmp_path / "last.ckpt"


def test_resume_from_checkpoint_is_exact(tmp_path):
    straight, _ = _train(tmp_path / "straight", epochs=4)
    _, halfway = _train(tmp_path / "halves", epochs=2)
    torch.manual_seed(999)  # a different RNG state before resuming must not matter
    resumed, _ = _train(tmp_path / "resumed", epochs=4, ckpt_path=halfway)

    assert resumed.generator_steps == straight.generator_steps == 10
    assert resumed.discriminator_steps == straight.discriminator_steps == 20
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=f"{name} differs after resume")
