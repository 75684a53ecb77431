"""``zoo game-probe --ckpt PATH…``: where each player's gradient stands at a checkpoint.

A game stops moving when both players' gradients vanish: D's output saturates where its loss is
flat (Arjovsky & Bottou 2017, §2: a D that separates the supports leaves G no gradient), or G's
output saturates at the ends of its range. At checkpoints of any two-player model of the zoo, on
real batches of each one's own data, in training mode (batch statistics as in training), this
measures:

- D's raw output on real and on generated samples (mean ± std over the batch);
- each player's loss and the norm of its gradient on its own weights (an unrolled G's against the
  current D, K = 0);
- G's samples: their spread (the std over z of each value, averaged over values) and the share of
  values within 0.1 % of the data's range ends, where a sigmoid or tanh output has no gradient.

    zoo game-probe --ckpt runs/…/last.ckpt … [--batches 4] [--out probe.json]

Only reads: no weight or optimizer state is written.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from zoo.errors import ZooConfigError

PROBE_SEED = 0
SATURATION_TOLERANCE = 1e-3  # share of the data's value range


def _gradient_norm(loss: Tensor, module: torch.nn.Module) -> float:
    weights = [p for p in module.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, weights, allow_unused=True)
    return torch.sqrt(sum((g.pow(2).sum() for g in grads if g is not None), torch.zeros(()))).item()


def saturated_share(samples: Tensor, value_range: tuple[float, float]) -> float:
    """The share of ``samples``' values within :data:`SATURATION_TOLERANCE` of the range's ends."""
    low, high = value_range
    margin = SATURATION_TOLERANCE * (high - low)
    return ((samples <= low + margin) | (samples >= high - margin)).float().mean().item()


def probe(checkpoint: Path, batches: int = 4, data_root: str | None = None) -> dict[str, Any]:
    """The measurements of the module docstring at ``checkpoint``: means over ``batches`` training
    batches, with the per-batch values."""
    from zoo.checkpoints import load_run

    model, data = load_run(checkpoint, data_root=data_root)
    model.train()
    data.setup("fit")
    generator = torch.Generator().manual_seed(PROBE_SEED)
    torch.manual_seed(PROBE_SEED)  # the loader's shuffling
    per_batch: dict[str, list[float]] = {}
    for index, batch in enumerate(data.train_dataloader()):
        if index == batches:
            break
        real = model.real_batch(batch)
        fake = model.generator(model.prior.sample(real.shape[0], generator=generator))
        with torch.no_grad():
            on_real, on_fake = model.discriminator(real).float(), model.discriminator(fake).float()
        d_loss = model.discriminator_loss(real, fake.detach())
        g_loss = model.generator_loss_at_current_d(fake, real)  # an unrolled G's look-ahead: `zoo unroll-probe`
        values = {
            "d_output_real_mean": on_real.mean().item(), "d_output_real_std": on_real.std().item(),
            "d_output_fake_mean": on_fake.mean().item(), "d_output_fake_std": on_fake.std().item(),
            "d_loss": d_loss.item(), "d_gradient_norm": _gradient_norm(d_loss, model.discriminator),
            "g_loss": g_loss.item(), "g_gradient_norm": _gradient_norm(g_loss, model.generator),
            "g_spread": fake.detach().flatten(1).std(0).mean().item(),
            "g_saturated_share": saturated_share(fake.detach(), tuple(data.value_range)),
        }
        for key, value in values.items():
            per_batch.setdefault(key, []).append(value)
    if not per_batch:
        raise ZooConfigError(f"{checkpoint}: its DataModule gave no training batch to probe")
    return {"model": type(model).__name__, "generator_steps": model.generator_steps,
            "batches": len(per_batch["d_loss"]), "batch_size": int(real.shape[0]),
            **{key: statistics.fmean(values) for key, values in per_batch.items()}, "per_batch": per_batch}


def run_labels(checkpoints: list[str]) -> list[str]:
    """Each checkpoint's run folder (the folder above ``checkpoints/``), less the folders all of them
    share: ``gan-seed0`` and ``kl-seed0``, or ``dhalf_k0/seed0`` and ``dhalf_k10/seed0``."""
    folders = [path.parent.parent if path.parent.name == "checkpoints" else path.with_suffix("")
               for path in (Path(c).resolve() for c in checkpoints)]
    if len(folders) == 1:
        return [folders[0].name]
    common = Path(os.path.commonpath(folders))
    return [folder.relative_to(common).as_posix() for folder in folders]


def markdown(records: list[dict[str, Any]]) -> str:
    lines = ["| run | G steps | D(real) | D(fake) | D loss | ‖∇ω‖ | G loss | ‖∇θ‖ | G spread | G saturated |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        lines.append(f"| {r['run']} | {r['generator_steps']} | {r['d_output_real_mean']:.3g} ± {r['d_output_real_std']:.2g} | "
                     f"{r['d_output_fake_mean']:.3g} ± {r['d_output_fake_std']:.2g} | {r['d_loss']:.4g} | {r['d_gradient_norm']:.3g} | "
                     f"{r['g_loss']:.4g} | {r['g_gradient_norm']:.3g} | {r['g_spread']:.3f} | {r['g_saturated_share']:.1%} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    from zoo.provenance import RunStart, relative_to_repo, write_result

    parser = argparse.ArgumentParser(prog="zoo game-probe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ckpt", required=True, nargs="+", help="checkpoints of any of the zoo's GANs")
    parser.add_argument("--batches", type=int, default=4, help="training batches to average over")
    parser.add_argument("--data-root", default=None, help="folder holding the datasets (else $ZOO_DATA)")
    parser.add_argument("--out", default=None, help="also write the records, with provenance, to this JSON file")
    args = parser.parse_args(argv)
    if args.batches < 1:
        raise ZooConfigError(f"--batches must be >= 1, got {args.batches}")
    run = RunStart()
    records = [{"checkpoint": relative_to_repo(path), "run": label, **probe(Path(path), args.batches, args.data_root)}
               for path, label in zip(args.ckpt, run_labels(args.ckpt))]
    print(markdown(records))
    if args.out:
        print(f"wrote {write_result({'probes': records, **run.provenance(seeds={'noise_and_batches': PROBE_SEED})}, args.out)}")
    return 0
