"""``zoo lapgan``: join the runs of a LAPGAN's levels into one model, and draw its chains.

Each level of a LAPGAN trains as its own run (``zoo fit --config configs/lapgan/<data>.yaml
--model.init_args.level k``); ``assemble`` joins their checkpoints into one whose ``sample(n)``
chains the levels coarse to fine, so ``zoo eval``, ``zoo latent`` and the sample grids take it
like any other GAN:

    zoo lapgan assemble runs/lapgan-cifar10-32/version_{0,1,2}/checkpoints/last.ckpt --out lapgan.ckpt
    zoo lapgan chain --ckpt lapgan.ckpt --out chain.png            # the paper's Figure 3
    zoo eval --ckpt lapgan.ckpt --metrics parzen --protocol none --num-samples 50000
"""

from __future__ import annotations

import argparse
from pathlib import Path

from zoo.errors import ZooConfigError


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="zoo lapgan", description="Assemble a LAPGAN from its level runs; draw its chains.")
    commands = parser.add_subparsers(dest="command", required=True)
    assemble = commands.add_parser("assemble", help="join the last.ckpt of every level's run into one checkpoint")
    assemble.add_argument("levels", nargs="+", metavar="LEVEL_CKPT", help="one checkpoint per level, in any order")
    assemble.add_argument("--out", required=True, help="the LAPGAN checkpoint to write")
    chain = commands.add_parser("chain", help="draw coarse-to-fine chains: Ĩ_0, then each residual and refinement")
    chain.add_argument("--ckpt", required=True, help="a checkpoint written by `zoo lapgan assemble`")
    chain.add_argument("--out", default="lapgan_chain.png", help="the PNG to write")
    chain.add_argument("--n", type=int, default=None, help="chains to draw (default 6; one per class for a class-conditional LAPGAN)")
    chain.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "chain" and args.n is not None and args.n < 1:
        parser.error(f"--n must be at least 1, got {args.n}")
    return args


def main(argv: list[str]) -> int:
    import torch

    from zoo.checkpoints import load_gan
    from zoo.models.lapgan import LAPGAN, chain_figure

    args = parse_args(argv)
    if args.command == "assemble":
        for path in args.levels:
            if not Path(path).is_file():
                raise ZooConfigError(f"level checkpoint not found: {path}")
        out = LAPGAN.assemble(args.levels, args.out)
        model = load_gan(out)
        steps = ", ".join(f"level {k}: {g} G / {d} D steps" for k, (g, d) in enumerate(model.level_steps))
        print(f"wrote {out} ({len(model.level_steps)} levels; {steps})")
        return 0
    model = load_gan(args.ckpt)
    if not isinstance(model, LAPGAN):
        raise ZooConfigError(f"{args.ckpt} holds a {type(model).__name__}, not a LAPGAN: join the level runs with `zoo lapgan assemble` first")
    classes = model.prior.num_classes
    n = args.n or (classes or 6)
    labels = torch.arange(n) % classes if classes else None
    path = chain_figure(model, args.out, n=n, seed=args.seed, labels=labels)
    print(f"wrote {path}")
    return 0
