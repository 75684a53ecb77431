"""``zoo eval``: score a checkpoint with the harness, print a table and write JSON.

    zoo eval --ckpt runs/vanilla-mnist/version_0/checkpoints/last.ckpt --metrics parzen,fid
    zoo eval --ckpt … --metrics parzen --devices 2          # same numbers, two processes
    zoo eval --ckpt runs/…/last.ckpt --metrics is --protocol salimans2016   # 50k samples, 10 splits
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from zoo.errors import ZooConfigError
from zoo.provenance import RunStart, relative_to_repo


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="zoo eval", description="Score a GAN checkpoint with the zoo's harness.")
    parser.add_argument("--ckpt", required=True, help="checkpoint written by `zoo fit`")
    parser.add_argument("--metrics", default="parzen", help="comma-separated: parzen,fid,is,kid,modes,dfeat-svm")
    parser.add_argument("--num-samples", type=int, default=None, help="samples to draw (default: each metric's own)")
    parser.add_argument("--protocol", default="gan2014",
                        help="Parzen protocol for MNIST (gan2014, fgan), Inception-score protocol (salimans2016) or none")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latent codes")
    parser.add_argument("--feature-extractor", default="auto", help="auto, inception or mnist-classifier")
    parser.add_argument("--weights", default=None, help="Inception weights file (else $ZOO_INCEPTION_WEIGHTS)")
    parser.add_argument("--data-root", default=None, help="folder holding the datasets (else $ZOO_DATA)")
    parser.add_argument("--devices", default="1", help="devices (processes) to spread the work over")
    parser.add_argument("--accelerator", default="auto", help="cpu, gpu or auto")
    parser.add_argument("--out", default=None, help="JSON file to write (default: next to the checkpoint)")
    return parser.parse_args(argv)


class HarnessRun(pl.LightningModule):
    """Runs :func:`zoo.eval.harness.evaluate` once, at the end of ``Trainer.validate``.

    The Trainer supplies only the processes, devices and strategy that the harness spreads its
    work over (``--devices 2``); the GAN is a submodule, so it moves to the device with this module.
    """

    def __init__(self, gan: Any, **harness_options: Any) -> None:
        super().__init__()
        self.gan = gan
        self.harness_options = harness_options
        self.results: dict[str, dict[str, Any]] = {}

    def setup(self, stage: str) -> None:
        datamodule = self.trainer.datamodule
        if datamodule is not None and hasattr(datamodule, "value_range"):
            self.gan.check_data_compatibility(tuple(datamodule.sample_shape), tuple(datamodule.value_range))

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        """Nothing per batch: the harness draws its own samples and reads whole splits."""

    def on_validation_epoch_end(self) -> None:
        from zoo.eval.harness import evaluate
        from zoo.eval.inception_protocols import IS_PROTOCOLS, evaluate_protocol

        run = evaluate_protocol if self.harness_options.get("protocol") in IS_PROTOCOLS else evaluate
        self.results = run(self.gan, self.trainer.datamodule, strategy=self.trainer.strategy, **self.harness_options)


def check_args(args: argparse.Namespace) -> list[str]:
    """The metrics asked for; one-line errors for bad options, before any checkpoint is read."""
    from zoo.eval.harness import METRICS
    from zoo.eval.inception_protocols import IS_PROTOCOLS

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        named = f"unknown {unknown}" if unknown else "names no metric"
        raise ZooConfigError(f"--metrics {args.metrics!r}: {named}; choose from {','.join(METRICS)}")
    if args.num_samples is not None and args.num_samples <= 0:
        raise ZooConfigError(
            f"--num-samples must be a positive count, got {args.num_samples}; leave it out to use each metric's default"
        )
    if args.protocol in IS_PROTOCOLS:  # missing Inception weights fail here, not after 50k samples
        IS_PROTOCOLS[args.protocol].check(metrics, args.num_samples, args.feature_extractor, args.weights)
    return metrics


def evaluate_checkpoint(args: argparse.Namespace) -> dict[str, Any]:
    """Load the checkpoint and its data, run the harness through a Trainer, return the record."""
    from zoo.checkpoints import load_run
    from zoo.core.strategy import gan_strategy

    metrics = check_args(args)
    run = RunStart()
    model, datamodule = load_run(args.ckpt, data_root=args.data_root)
    protocol = None if args.protocol == "none" else args.protocol
    harness = HarnessRun(
        model, metrics=metrics, num_samples=args.num_samples, seed=args.seed, protocol=protocol,
        feature_extractor=args.feature_extractor, weights_path=args.weights,
    )
    devices = int(args.devices) if str(args.devices).isdigit() else args.devices
    trainer = pl.Trainer(
        accelerator=args.accelerator, devices=devices, strategy=gan_strategy("auto", devices, accelerator=args.accelerator), logger=False,
        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False, limit_val_batches=1,
    )
    trainer.validate(harness, datamodule=datamodule, verbose=False)
    return {
        "checkpoint": relative_to_repo(args.ckpt),  # never this machine's absolute path
        "model": type(model).__name__,
        "data": type(datamodule).__name__,
        "generator_steps": model.generator_steps,
        "results": harness.results,
        "settings": {"metrics": metrics, "num_samples": args.num_samples, "protocol": protocol, "seed": args.seed,
                     "devices": trainer.world_size},
        **run.provenance(seeds={"latents": args.seed}, device=str(trainer.strategy.root_device)),
        "is_global_zero": trainer.is_global_zero,
    }


def print_table(record: dict[str, Any]) -> None:
    from rich.table import Table

    from zoo.console import zoo_console

    table = Table(title=f"{record['model']} on {record['data']}, G step {record['generator_steps']}")
    for column in ("metric", "value", "details"):
        table.add_column(column)
    for name, result in record["results"].items():
        details = ", ".join(f"{k}={result[k]:.4g}" if isinstance(result[k], float) else f"{k}={result[k]}"
                            for k in ("stderr", "std", "sigma", "n_samples", "n_fake", "n_real", "splits", "protocol", "feature_extractor")
                            if result.get(k) is not None)
        table.add_row(name, f"{result['value']:.4f}", details)
    zoo_console().print(table)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    record = evaluate_checkpoint(args)
    if not record.pop("is_global_zero"):
        return 0
    print_table(record)
    out = Path(args.out) if args.out else Path(args.ckpt).with_suffix(".eval.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2, default=str))
    print(f"wrote {out}")
    return 0
