"""DCGAN training throughput: the zoo's LightningModule under pl.Trainer against a plain PyTorch loop.

Both train the same nets (:mod:`zoo.nets.dcgan`) on the same data (random tensors shaped like
MNIST-32, or MNIST-32 itself with ``--data mnist``) on the same device, with the same per-step
work as :class:`zoo.core.TwoPlayerGAN`: a discriminator step on a real batch and a fake batch drawn
without gradients (BCE on logits), then a generator step on a fresh fake batch with the
non-saturating loss; Adam with lr 2e-4 and β1 0.5. (pytorch/examples' dcgan reuses the D step's fake
batch in the G step, saving one G forward; the plain loop here does not, so the ratio measures the
framework, not a different algorithm.)

Variants, interleaved in alternating order over ``--repeats`` rounds (to spread machine contention
evenly), each timed over ``--steps`` steps after ``--warmup`` untimed ones; the table gives medians:

* ``plain``: the plain loop in fp32, contiguous, eager (the baseline);
* ``plain+fast``: the plain loop with the requested fast paths (only when any is requested);
* ``lightning``: the zoo's DCGAN through a Trainer with no logger, checkpointing, progress bar or
  model summary, with the requested fast paths.

CPU run:  OMP_NUM_THREADS=1 python benchmarks/train_throughput.py --device cpu --image-size 32 --batch-size 64 \\
              --out results/train_throughput_cpu.json
Smoke test: python benchmarks/train_throughput.py --quick --out runs/train_throughput-quick.json  (seconds)
GPU goal (lightning with bf16 + channels-last + compile ≥ 1.5× the fp32 plain loop):
          python benchmarks/train_throughput.py --device cuda --image-size 64 --batch-size 128 --channels 3 \\
              --precision bf16-mixed --channels-last --compile --warmup 10 --steps 100 \\
              --out results/train_throughput_gpu.json

A run that writes ``--out`` refuses to start from uncommitted code unless ``--quick`` or ``--allow-dirty``
(then the result lists the changed files); the file holds no path of the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from zoo.models.dcgan import DCGAN  # noqa: E402
from zoo.nets.dcgan import DCGANDiscriminator, DCGANGenerator  # noqa: E402
from zoo.provenance import RunStart, check_result, scrub_paths  # noqa: E402

LATENT_DIM = 100
QUICK = {"batch_size": 8, "width": 8, "steps": 2, "warmup": 1, "repeats": 1}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_data(args: argparse.Namespace, count: int) -> torch.Tensor:
    """``count`` images in [−1, 1] of shape (channels, size, size), on the CPU."""
    if args.data == "mnist":
        from zoo.data.mnist import load_mnist_tensors

        images, _ = load_mnist_tensors(args.data_root, train=True)
        images = F.interpolate(F.pad(images[:count], (2, 2, 2, 2)), size=args.image_size, mode="bilinear") * 2 - 1
        return images.repeat(1, args.channels, 1, 1)
    generator = torch.Generator().manual_seed(0)
    return torch.rand(count, args.channels, args.image_size, args.image_size, generator=generator) * 2 - 1


def loader(images: torch.Tensor, batch_size: int) -> torch.utils.data.DataLoader:
    dataset = torch.utils.data.TensorDataset(images, torch.zeros(len(images)))
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True)


def run_plain(args: argparse.Namespace, images: torch.Tensor, fast: bool) -> float:
    """Images per second of a hand-written training loop."""
    device = torch.device(args.device)
    torch.manual_seed(0)
    G = DCGANGenerator(LATENT_DIM, args.image_size, args.channels, args.width).to(device)
    D = DCGANDiscriminator(args.image_size, args.channels, args.width).to(device)
    channels_last = fast and args.channels_last
    if channels_last:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    if fast and args.compile:
        G.compile()
        D.compile()
    g_opt = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    use_bf16 = fast and args.precision == "bf16-mixed"
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if use_bf16 else contextlib.nullcontext
    total = args.warmup + args.steps
    step, started = 0, 0.0
    while step < total:
        for real, _ in loader(images, args.batch_size):
            if step == args.warmup:
                synchronize(device)
                started = time.perf_counter()
            real = real.to(device, non_blocking=True)
            if channels_last:
                real = real.contiguous(memory_format=torch.channels_last)
            batch = real.shape[0]
            with torch.no_grad(), autocast():
                fake = G(torch.randn(batch, LATENT_DIM, device=device))
            with autocast():
                real_logits, fake_logits = D(real), D(fake)
                d_loss = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits)) + \
                    F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
            d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            d_opt.step()
            with autocast():
                fake_logits = D(G(torch.randn(batch, LATENT_DIM, device=device)))
                g_loss = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
            g_opt.zero_grad(set_to_none=True)
            g_loss.backward()
            g_opt.step()
            step += 1
            if step == total:
                break
    synchronize(device)
    return args.steps * args.batch_size / (time.perf_counter() - started)


class StepTimer(pl.Callback):
    """Times training batches ``warmup`` .. ``warmup + steps − 1`` of a Trainer run."""

    def __init__(self, warmup: int, steps: int, device: torch.device) -> None:
        self.warmup, self.last, self.device = warmup, warmup + steps - 1, device
        self.started = self.elapsed = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == self.warmup:
            synchronize(self.device)
            self.started = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx == self.last:
            synchronize(self.device)
            self.elapsed = time.perf_counter() - self.started


def run_lightning(args: argparse.Namespace, images: torch.Tensor) -> float:
    """Images per second of the zoo's DCGAN under a bare pl.Trainer."""
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = DCGAN(
        image_size=args.image_size, channels=args.channels, g_width=args.width, d_width=args.width,
        channels_last=args.channels_last, compile=args.compile,
    )
    timer = StepTimer(args.warmup, args.steps, device)
    total = args.warmup + args.steps
    trainer = pl.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu", devices=1, precision=args.precision,
        max_epochs=1, limit_train_batches=total,
        limit_val_batches=0, num_sanity_val_steps=0, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[timer],
    )
    repeats = -(-total * args.batch_size // len(images))  # one epoch long enough for every step
    trainer.fit(model, train_dataloaders=loader(images.repeat(repeats, 1, 1, 1), args.batch_size))
    return args.steps * args.batch_size / timer.elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--width", type=int, default=None, help="base width of G and D (default 64, the reference code's)")
    parser.add_argument("--batch-size", type=int, default=None, help="default 64")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per run (default 30)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps per run (default 5; more with --compile)")
    parser.add_argument("--repeats", type=int, default=None, help="default 5")
    parser.add_argument("--quick", action="store_true", help=f"tiny sizes for a smoke test: {QUICK}")
    parser.add_argument("--allow-dirty", action="store_true", help="write --out from uncommitted code")
    parser.add_argument("--precision", choices=("32", "bf16-mixed"), default="32")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--data", choices=("random", "mnist"), default="random")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--out", default=None, help="JSON file for the results")
    args = parser.parse_args(argv)
    full = {"batch_size": 64, "width": 64, "steps": 30, "warmup": 5, "repeats": 5}
    for name, value in (QUICK if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    run = RunStart(require_clean=bool(args.out) and not (args.quick or args.allow_dirty))

    import logging

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    fast = args.precision != "32" or args.channels_last or args.compile
    images = make_data(args, 4096)
    variants = {"plain": lambda: run_plain(args, images, fast=False), "lightning": lambda: run_lightning(args, images)}
    if fast:
        variants["plain+fast"] = lambda: run_plain(args, images, fast=True)
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for round_index in range(args.repeats):
        order = list(variants) if round_index % 2 == 0 else list(reversed(variants))
        for name in order:
            rates[name].append(variants[name]())
        print(f"round {round_index + 1}/{args.repeats}: " + ", ".join(f"{n} {rates[n][-1]:.0f} img/s" for n in variants), flush=True)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    same_settings = "plain+fast" if fast else "plain"
    result = {
        **run.provenance({"torch": 0, "data": 0}, args.device),
        "pytorch_lightning": pl.__version__,
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "allow_dirty")},
        "images_per_second_median": {k: round(v, 1) for k, v in medians.items()},
        "images_per_second_all": {k: [round(x, 1) for x in v] for k, v in rates.items()},
        "lightning_over_plain_same_settings": round(medians["lightning"] / medians[same_settings], 4),
        "lightning_over_plain_fp32_baseline": round(medians["lightning"] / medians["plain"], 4),
    }
    result = scrub_paths(result)
    check_result({k: v for k, v in result.items() if k != "uncommitted_changes"})
    print(f"\n{'variant':<12} {'median img/s':>13}  runs")
    for name, value in medians.items():
        print(f"{name:<12} {value:>13.1f}  {', '.join(f'{x:.0f}' for x in rates[name])}")
    print(f"lightning / {same_settings} (same settings): {result['lightning_over_plain_same_settings']:.3f}")
    if fast:
        print(f"lightning / plain (fp32 baseline): {result['lightning_over_plain_fp32_baseline']:.3f}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
