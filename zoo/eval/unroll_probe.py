"""``zoo unroll-probe --ckpt PATH``: what looking K steps ahead does to G's gradient at a checkpoint.

Unrolling (Metz et al. 2017) replaces G's gradient of f(θ, ω) by that of f(θ, ω^K(θ, ω)), where
ω^K is D after K steps of its own optimizer from its saved state. At a trained checkpoint of any
minimax-family model, on real batches of its own data, this prints for each K (and for the
first-order variant, which treats ω^K as a constant):

- G's loss against ω^K: how far K steps of D's optimizer move D, seen from G;
- the norm of G's gradient, and its cosine with the plain (K = 0) gradient: near 1, unrolling
  only refines G's step; near −1, the second-order term (G steering D's update) reverses it.

    zoo unroll-probe --ckpt runs/…/last.ckpt [--steps 1 5 10] [--batches 8] [--d-eps 1e-4] [--out probe.json]

D's optimizer is rebuilt with the checkpoint's state and only read; no weight is written. With Adam,
each probe also reports how small √v̂ (the step's normaliser) gets in D's state, and ``--d-eps``
repeats the probe with D's ε replaced, to see whether the second-order term depends on it: the
derivative of Adam's normalised step grows as √v̂ + ε shrinks.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

import torch

from zoo.errors import ZooConfigError

PROBE_SEED = 0


def _flat(grads: tuple[torch.Tensor, ...]) -> torch.Tensor:
    return torch.cat([g.flatten() for g in grads])


def adam_normaliser(optimizer: torch.optim.Optimizer) -> dict[str, float] | None:
    """The smallest, 1st-percentile and median √v̂ over the entries of an Adam-family ``optimizer``'s
    state (None for an optimizer without second moments, or before its first step)."""
    roots = []
    for group in optimizer.param_groups:
        beta2 = group.get("betas", (0.0, 0.0))[1]
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            if "exp_avg_sq" in state:
                roots.append((state["exp_avg_sq"] / (1 - beta2 ** float(state["step"]))).sqrt().flatten())
    if not roots:
        return None
    roots = torch.cat(roots).double()
    return {"min": roots.min().item(), "p01": roots.quantile(0.01).item() if roots.numel() <= 2**24 else None,
            "median": roots.median().item()}


def probe(checkpoint: Path, steps: tuple[int, ...] = (1, 5, 10), batches: int = 8,
          data_root: str | None = None, d_eps: float | None = None) -> dict[str, Any]:
    """Per variant (``K``, second or first order): G's loss at ω^K and its gradient's norm and cosine
    with the K = 0 gradient, each the mean over ``batches`` training batches (and per batch); with
    ``d_eps``, D's optimizer looks ahead with that ε instead of its own."""
    from zoo.checkpoints import gan_from_checkpoint, load_datamodule, read_checkpoint
    from zoo.core import MinimaxGAN
    from zoo.core.unroll import unroll

    raw = read_checkpoint(checkpoint)
    model = gan_from_checkpoint(raw, checkpoint)
    if not isinstance(model, MinimaxGAN):
        raise ZooConfigError(f"unroll-probe needs a model of the minimax family (D's loss and G's loss on D's logits); "
                             f"{type(model).__name__} is not one")
    model.train()  # D's batch statistics, as in training
    _, d_optimizer = model.configure_optimizers()[0]
    d_optimizer.load_state_dict(raw["optimizer_states"][1])
    saved_eps = [group.get("eps") for group in d_optimizer.param_groups]
    if d_eps is not None:
        if any(eps is None for eps in saved_eps):
            raise ZooConfigError(f"--d-eps needs a D optimizer with an ε; {type(d_optimizer).__name__} has none")
        for group in d_optimizer.param_groups:
            group["eps"] = d_eps
    data = load_datamodule(raw, data_root)
    data.setup("fit")
    variants = [(0, True), *[(k, True) for k in steps], *[(k, False) for k in steps]]
    per_batch: dict[tuple[int, bool], list[tuple[float, float, float]]] = {v: [] for v in variants}
    generator = torch.Generator().manual_seed(PROBE_SEED)
    torch.manual_seed(PROBE_SEED)  # the loader's shuffling
    weights = list(model.generator.parameters())
    for index, batch in enumerate(data.train_dataloader()):
        if index == batches:
            break
        real = model.real_batch(batch)
        z = model.prior.sample(real.shape[0], generator=generator)
        plain = None
        for k, second_order in variants:
            fake = model.generator(z)
            lookahead = unroll(model.discriminator, lambda: model.discriminator_loss(real, fake), d_optimizer, k,
                               second_order, model.hparams.grad_clip_norm)
            loss = lookahead(lambda f, r: MinimaxGAN.generator_loss(model, f, r), fake, real)
            grad = _flat(torch.autograd.grad(loss, weights))
            plain = grad if k == 0 else plain
            cosine = torch.nn.functional.cosine_similarity(grad, plain, dim=0).item()
            per_batch[k, second_order].append((loss.item(), grad.norm().item(), cosine))
    if not per_batch[0, True]:
        raise ZooConfigError(f"{checkpoint}: its DataModule gave no training batch to probe")
    rows = []
    for (k, second_order), values in per_batch.items():
        losses, norms, cosines = zip(*values)
        rows.append({"unroll_steps": k, "second_order": second_order, "generator_loss": statistics.fmean(losses),
                     "gradient_norm": statistics.fmean(norms), "cosine_with_k0": statistics.fmean(cosines),
                     "per_batch": {"generator_loss": list(losses), "gradient_norm": list(norms), "cosine_with_k0": list(cosines)}})
    return {"checkpoint_generator_steps": model.generator_steps, "model": type(model).__name__,
            "d_optimizer": type(d_optimizer).__name__, "d_eps": d_optimizer.param_groups[0].get("eps"),
            "d_eps_saved": saved_eps[0], "d_sqrt_v_hat": adam_normaliser(d_optimizer),
            "batches": len(per_batch[0, True]), "rows": rows}


def markdown(record: dict[str, Any]) -> str:
    eps = "" if record.get("d_eps") is None else f" (ε {record['d_eps']:g}" + (
        "" if record["d_eps"] == record["d_eps_saved"] else f", replacing its {record['d_eps_saved']:g}") + ")"
    roots = record.get("d_sqrt_v_hat")
    normaliser = "" if roots is None else f"; √v̂ in its state: min {roots['min']:.3g}, median {roots['median']:.3g}"
    lines = [f"{record['model']} at generator step {record['checkpoint_generator_steps']}, D's optimizer "
             f"{record['d_optimizer']}{eps}{normaliser}, mean over {record['batches']} batches:", "",
             "| K | G's loss at ω^K | ‖∇θ‖ | cos with K = 0 |", "|---|---|---|---|"]
    for row in record["rows"]:
        k = f"{row['unroll_steps']}{'' if row['second_order'] else ', first order'}"
        lines.append(f"| {k} | {row['generator_loss']:.3f} | {row['gradient_norm']:.3f} | {row['cosine_with_k0']:+.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    from zoo.provenance import RunStart, relative_to_repo, write_result

    parser = argparse.ArgumentParser(prog="zoo unroll-probe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ckpt", required=True, nargs="+", help="checkpoints of minimax-family models (e.g. UnrolledDCGAN)")
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 5, 10], help="unrolling steps K to compare with K = 0")
    parser.add_argument("--batches", type=int, default=8, help="training batches to average over")
    parser.add_argument("--data-root", default=None, help="folder holding the datasets (else $ZOO_DATA)")
    parser.add_argument("--d-eps", type=float, nargs="+", default=None,
                        help="also probe with D's optimizer ε replaced by each of these (Adam family)")
    parser.add_argument("--out", default=None, help="also write the records, with provenance, to this JSON file")
    args = parser.parse_args(argv)
    if any(k < 1 for k in args.steps) or args.batches < 1:
        raise ZooConfigError(f"--steps must be >= 1 and --batches >= 1, got {args.steps} and {args.batches}")
    run = RunStart()
    records = []
    for path in args.ckpt:
        for d_eps in [None, *(args.d_eps or [])]:
            record = {"checkpoint": relative_to_repo(path),
                      **probe(Path(path), tuple(args.steps), args.batches, args.data_root, d_eps)}
            print(f"{record['checkpoint']}\n{markdown(record)}")
            records.append(record)
    if args.out:
        print(f"wrote {write_result({'probes': records, **run.provenance(seeds={'noise_and_batches': PROBE_SEED})}, args.out)}")
    return 0
