"""A short account of a run, printed when it ends: its metrics and where its files are.

When the run measured a Parzen log-likelihood, the summary puts it beside the score of real data
under the same protocol (same validation and test images, same σ grid), with real training images
as kernel centres: a number in nats means little alone.
"""

from __future__ import annotations

import json
from typing import Any

import pytorch_lightning as pl
from rich.table import Table

from zoo.callbacks.samples import run_dir
from zoo.console import zoo_console


def real_data_parzen(datamodule: Any, record: dict[str, Any]) -> dict[str, Any]:
    """The Parzen score of real training images under the protocol of ``record`` (an ``eval/parzen``
    result): as many centres as the model had samples, or all the training images when there are
    fewer. Computed once per dataset and protocol and cached under ``$ZOO_CACHE``."""
    from zoo.eval.cache import cache_dir, datamodule_cache_key
    from zoo.eval.harness import Distributed, _parzen_sets, parzen_metric, to_unit_range

    protocol, n = record.get("protocol"), int(record["n_samples"])
    key = protocol or datamodule_cache_key(datamodule, "train")
    path = cache_dir() / "parzen-real" / f"{key}-{n}-{record['n_points']}.json"
    if path.is_file():
        return json.loads(path.read_text())
    validation, test, spec = _parzen_sets(datamodule, protocol, None)  # as the Evaluation callback reads them
    if protocol:
        from zoo.data.mnist import load_mnist_tensors

        train = load_mnist_tensors(None, train=True)[0]
        sigmas = spec.sigmas
    else:
        train, sigmas = to_unit_range(datamodule.split_tensors("train"), datamodule.value_range), spec
    centres = train[:n].flatten(1)
    result = parzen_metric(centres, validation, test[: int(record["n_points"])], sigmas, Distributed(), protocol)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result))
    return result


def _parzen_record(trainer: pl.Trainer) -> dict[str, Any] | None:
    from zoo.callbacks.evaluation import Evaluation

    for callback in trainer.callbacks:
        if isinstance(callback, Evaluation) and "parzen" in callback.results:
            return callback.results["parzen"]
    return None


def _score(record: dict[str, Any]) -> str:
    return f"{record['mean']:.2f} ± {record['stderr']:.2f}"


class RunSummary(pl.Callback):
    """Print the last logged metrics, the step counters and the run's folder at the end of fit."""

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        table = Table(title=f"{type(pl_module).__name__}: end of training")
        table.add_column("metric")
        table.add_column("value", justify="right")
        table.add_row("generator steps", str(getattr(pl_module, "generator_steps", "-")))
        table.add_row("discriminator steps", str(getattr(pl_module, "discriminator_steps", "-")))
        for name, value in sorted(trainer.callback_metrics.items()):
            if name.endswith("_step") or name in ("generator_step", "discriminator_step"):
                continue
            table.add_row(name, f"{float(value):.4f}")
        parzen = _parzen_record(trainer)
        note = ""
        if parzen is not None and trainer.datamodule is not None:
            real = real_data_parzen(trainer.datamodule, parzen)
            table.add_section()
            table.add_row("Parzen, this model", _score(parzen))
            table.add_row("Parzen, real data", _score(real))
            protocol = f"protocol {parzen['protocol']}" if parzen.get("protocol") else "the data's own test split, σ chosen on its val split"
            note = (f"Parzen: mean log-likelihood of the test images in nats ({protocol}); model: {parzen['n_samples']} samples "
                    f"as kernel centres, σ {parzen['sigma']:.3f}; real data: {real['n_samples']} training images, σ {real['sigma']:.3f}")
        console = zoo_console()
        console.print(table)
        if note:
            console.print(note)
        console.print(f"run folder: {run_dir(trainer)}")
        checkpoint = trainer.checkpoint_callback
        if checkpoint is not None and getattr(checkpoint, "last_model_path", ""):
            console.print(f"last checkpoint: {checkpoint.last_model_path}")
