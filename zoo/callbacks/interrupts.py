"""Stopping a run without losing it: on SIGTERM/SIGINT (preemption, Ctrl-C) and at a deadline.

Lightning on its own finishes the epoch after a SIGTERM and then exits 0 with no checkpoint; on a
cluster the grace period is shorter than an epoch and the scheduler reads exit 0 as "done". Here
a signal only sets a flag; at the next batch end every rank saves one checkpoint together and the
run stops with :class:`zoo.errors.ZooInterrupted` (exit 130 for SIGINT, 143 for SIGTERM) and a
one-line resume command. A second Ctrl-C quits at once.
"""

from __future__ import annotations

import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from zoo.errors import ZooDeadlineReached, ZooInterrupted

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def resume_command(checkpoint: Path, argv: list[str] | None = None) -> str:
    """The command that started this process, with ``--ckpt_path`` pointing at ``checkpoint``."""
    args = list(sys.argv[1:] if argv is None else argv)
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == "--ckpt_path":
            skip = True
            continue
        if arg.startswith("--ckpt_path="):
            continue
        kept.append(arg)
    return shlex.join(["zoo", *kept, "--ckpt_path", str(checkpoint)])


class GracefulStop(pl.Callback):
    """Save and stop on SIGTERM/SIGINT; stop before ``deadline`` (a UNIX time).

    Args:
        deadline: stop at the end of the last epoch that fits before this time (``None``: no limit).
            The run then ends normally and a later ``--ckpt_path last.ckpt`` continues it exactly.
        resume_hint: what to print after an interruption (default: this command plus ``--ckpt_path``).
        at_batch_ends: stop at the last batch end that fits instead, for runs whose epochs are long
            against the time left (a run bounded in steps): it saves ``last.ckpt`` as a signal does
            and raises :class:`zoo.errors.ZooDeadlineReached`; a resumed run goes on with the next batch.
    """

    def __init__(self, deadline: float | None = None, resume_hint: str | None = None, at_batch_ends: bool = False) -> None:
        super().__init__()
        self.deadline, self.resume_hint, self.at_batch_ends = deadline, resume_hint, at_batch_ends
        self._last_batch_end: float | None = None
        self._batch_seconds = 0.0
        self.received: int | None = None
        self.stopped_for_deadline = False
        self._before_fit: dict[int, Any] = {}
        self._fitting = False
        self._epoch_started = time.time()

    # ------------------------------------------------------------------------------ signals
    def _handle(self, signum: int, frame: Any) -> None:
        if not self._fitting:
            # After a failed fit Lightning's teardown reinstates this handler (it was current when
            # Lightning registered its own); pass the signal to the one from before the fit.
            self._pass_on(signum, frame)
            return
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: the user wants out now
        self.received = signum

    def _pass_on(self, signum: int, frame: Any) -> None:
        previous = self._before_fit.get(signum, signal.SIG_DFL)
        signal.signal(signum, previous)
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            signal.raise_signal(signum)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._fitting = True
        for signum in _SIGNALS:
            self._before_fit[signum] = signal.getsignal(signum)
            signal.signal(signum, self._handle)

    def _take_over_sigterm(self) -> None:
        # Lightning registers its SIGTERM handler after on_fit_start. Its flag makes the loops raise
        # a bare SystemExit (exit 0, nothing saved) after validation batches and at epoch ends,
        # before our batch-end save, so ours must be the only handler once the loops run.
        if self._fitting:
            signal.signal(signal.SIGTERM, self._handle)

    def on_sanity_check_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._take_over_sigterm()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._take_over_sigterm()

    def _restore_handlers(self) -> None:
        self._fitting = False
        for signum, handler in self._before_fit.items():
            signal.signal(signum, handler)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore_handlers()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._restore_handlers()

    def _checkpoint_path(self, trainer: pl.Trainer) -> Path:
        callback = trainer.checkpoint_callback
        folder = getattr(callback, "dirpath", None) or Path(trainer.default_root_dir) / "checkpoints"
        return Path(folder) / "last.ckpt"

    def _out_of_time_before_next_batch(self) -> bool:
        now = time.time()
        if self._last_batch_end is not None:
            self._batch_seconds = now - self._last_batch_end
        self._last_batch_end = now
        # twice the last batch's time: the next one may take a sample trace or a checkpoint with it
        return self.at_batch_ends and self.deadline is not None and now + 2 * self._batch_seconds > self.deadline

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        flagged, out_of_time = self.received is not None, self._out_of_time_before_next_batch()
        if trainer.world_size > 1:  # every rank must agree to save together, or the save deadlocks
            flagged = trainer.strategy.reduce_boolean_decision(flagged, all=False)
            out_of_time = trainer.strategy.reduce_boolean_decision(out_of_time, all=False)
        if not (flagged or out_of_time):
            return
        path = self._checkpoint_path(trainer)
        trainer.save_checkpoint(path, weights_only=False)  # the full state: optimizers and loops too, to resume exactly
        where = f"at generator step {getattr(pl_module, 'generator_steps', trainer.global_step)} (epoch {trainer.current_epoch})"
        hint = self.resume_hint or resume_command(path)
        if not flagged:
            self.stopped_for_deadline = True
            raise ZooDeadlineReached(f"stopped by the deadline {where}; saved {path}; resume with: {hint}")
        signum = self.received if self.received is not None else signal.SIGTERM
        raise ZooInterrupted(f"stopped by {signal.Signals(signum).name} {where}; saved {path}; resume with: {hint}",
                             exit_code=128 + int(signum))

    # ----------------------------------------------------------------------------- deadline
    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_started = time.time()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.deadline is None or self.at_batch_ends:
            return
        epoch_seconds = time.time() - self._epoch_started
        out_of_time = time.time() + epoch_seconds > self.deadline
        if trainer.world_size > 1:  # ranks' clocks differ a little; they must stop at the same epoch
            out_of_time = trainer.strategy.reduce_boolean_decision(out_of_time, all=False)
        if out_of_time:
            self.stopped_for_deadline = True
            trainer.should_stop = True
