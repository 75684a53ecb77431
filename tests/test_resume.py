"""Resuming is exact: 2N steps straight, or N steps then a resume for N more, give the same weights."""

from __future__ import annotations

import signal
import time

import pytest
import torch
from pytorch_lightning import Callback
from pytorch_lightning.callbacks import ModelCheckpoint

from tests.conftest import quiet_trainer, tiny_vanilla
from zoo.callbacks.interrupts import GracefulStop
from zoo.data.digits import DigitsDataModule
from zoo.errors import ZooDeadlineReached, ZooInterrupted


def _train(tmp_path, epochs, ckpt_path=None, optimizer="adam"):
    torch.manual_seed(0)
    # Dropout in D and uniform noise both draw from the global RNG, which the checkpoint must restore.
    model = tiny_vanilla(ema_decay=0.9, optimizer=optimizer, d_steps_per_g_step=2)
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True, save_top_k=0)
    trainer = quiet_trainer(max_epochs=epochs, enable_checkpointing=True, callbacks=[checkpoint], limit_train_batches=5)
    trainer.fit(model, datamodule=DigitsDataModule(batch_size=32), ckpt_path=ckpt_path)
    return model, tmp_path / "last.ckpt"


@pytest.mark.parametrize("optimizer", ["adam", "adam_sqrt_eps"])
def test_resume_from_checkpoint_is_exact(tmp_path, optimizer):
    straight, _ = _train(tmp_path / "straight", epochs=4, optimizer=optimizer)
    _, halfway = _train(tmp_path / "halves", epochs=2, optimizer=optimizer)
    torch.manual_seed(999)  # a different RNG state before resuming must not matter
    resumed, _ = _train(tmp_path / "resumed", epochs=4, ckpt_path=halfway, optimizer=optimizer)

    assert resumed.generator_steps == straight.generator_steps == 10
    assert resumed.discriminator_steps == straight.discriminator_steps == 20
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=f"{name} differs after resume")



class _StopAt(Callback):
    """At the end of the given batch, flags a SIGTERM for ``stop`` as a preemption would, or (with
    ``deadline``) moves its deadline to the past."""

    def __init__(self, stop, epoch: int, batch: int, deadline: bool = False) -> None:
        self.stop, self.epoch, self.batch, self.deadline = stop, epoch, batch, deadline

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if (trainer.current_epoch, batch_idx) == (self.epoch, self.batch):
            if self.deadline:
                self.stop.deadline = time.time() - 1
            else:
                self.stop.received = signal.SIGTERM


def _train_signalled(folder, epochs, signal_at=None, ckpt_path=None, deadline=False):
    torch.manual_seed(0)
    model = tiny_vanilla(optimizer="adam")
    stop = GracefulStop(resume_hint="test", at_batch_ends=deadline)
    callbacks = [_StopAt(stop, *signal_at, deadline=deadline), stop] if signal_at else [stop]
    trainer = quiet_trainer(max_epochs=epochs, limit_train_batches=5, callbacks=callbacks, default_root_dir=folder)
    try:
        trainer.fit(model, datamodule=DigitsDataModule(batch_size=32), ckpt_path=ckpt_path)
    except ZooInterrupted as stopped:
        assert signal_at is not None and isinstance(stopped, ZooDeadlineReached) == deadline == stop.stopped_for_deadline
    return model, folder / "checkpoints" / "last.ckpt"


@pytest.mark.parametrize("deadline", [False, True], ids=["signal", "deadline at a batch end"])
def test_a_run_stopped_mid_epoch_resumes_with_the_epochs_next_batch(tmp_path, deadline):
    straight, _ = _train_signalled(tmp_path / "straight", epochs=4)
    stopped, checkpoint = _train_signalled(tmp_path / "halves", epochs=4, signal_at=(1, 1), deadline=deadline)  # 2 batches into epoch 1
    assert stopped.generator_steps == 7
    torch.manual_seed(999)
    resumed, _ = _train_signalled(tmp_path / "resumed", epochs=4, ckpt_path=checkpoint)
    assert resumed.generator_steps == straight.generator_steps == 20
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=f"{name} differs after a mid-epoch resume")


def _loader(num_workers=0):
    from torch.utils.data import TensorDataset

    from zoo.data.base import EpochSeededSampler, ResumableDataLoader

    sampler = EpochSeededSampler(10, seed=3)
    return ResumableDataLoader(TensorDataset(torch.arange(10)), batch_size=2, sampler=sampler, num_workers=num_workers), sampler


def _epoch(epoch):
    loader, sampler = _loader()
    sampler.set_epoch(epoch)
    return [batch[0].tolist() for batch in loader]


def test_the_loader_resumes_mid_epoch_at_the_next_batch_and_after_an_epoch_end_at_the_next_epoch():
    stopped, sampler = _loader()
    sampler.set_epoch(1)
    batches = iter(stopped)
    next(batches), next(batches)
    resumed, sampler = _loader()
    resumed.load_state_dict(stopped.state_dict())
    sampler.set_epoch(1)
    assert [batch[0].tolist() for batch in resumed] == _epoch(1)[2:]
    finished = resumed.state_dict()
    assert finished == {"epoch": 1, "batches": 5}
    after, sampler = _loader()
    after.load_state_dict(finished)
    sampler.set_epoch(2)
    assert [batch[0].tolist() for batch in after] == _epoch(2)
    assert _epoch(1) != _epoch(2)


def test_the_order_follows_the_epoch_set_after_the_iterator_was_made_with_workers_too():
    loader, sampler = _loader(num_workers=1)  # Lightning makes the iterator, then sets the epoch
    batches = iter(loader)
    sampler.set_epoch(4)
    assert [batch[0].tolist() for batch in batches] == _epoch(4)
