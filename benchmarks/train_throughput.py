"""Training throughput of the zoo's models: the Trainer against a plain PyTorch loop and the GEMM roofline.

Each model's training step runs three ways, interleaved in alternating order over ``--repeats`` rounds
(to spread machine contention evenly), each timed over ``--steps`` steps after ``--warmup`` untimed ones,
on one CPU thread unless ``--threads`` says otherwise; the result gives medians:

* ``plain``: a hand-written loop of the same nets (built by the zoo's model class with the same seed)
  and the same updates: the data as one in-memory tensor indexed once per batch by a seeded
  permutation, the zoo's loss functions, the same optimizers and learning-rate decay, and the other
  player's weights frozen during each player's backward pass (what ``toggle_optimizer`` does: no
  gradient of D's weights is computed in G's step);
* ``lightning``: the zoo's LightningModule through ``pl.Trainer`` (no logger, checkpointing, progress
  bar or model summary), reading batches from the zoo's ``ZooDataModule`` loader;
* ``roofline``: only the step's GEMMs. A dispatch mode records every matrix product (``mm``,
  ``addmm``, ``bmm``, ``baddbmm``) and every convolution (forward, and ``convolution_backward`` for the
  input and weight gradients) that one plain step runs (one D step + one G step, forward and
  backward, with the unrolled steps of Unrolled GAN), with their shapes, strides and dtypes; the
  roofline replays them back to back on random tensors. For convolutional nets it therefore counts
  the convolution kernels themselves, not an im2col GEMM; it never counts elementwise work,
  dropout, batch norm, losses, optimizer updates or data loading.

``lightning_over_plain`` is lightning's step time over plain's (1.0: no overhead) and
``fraction_of_roofline`` the roofline's time over lightning's, each the median over rounds of the
ratio within a round. The GEMMs of one Lightning step are
recorded too and compared with plain's (``same_gemms_as_plain``), so the two do the same work.

Models (``--model``, one or several):

* ``vanilla``: Goodfellow et al.'s MNIST GAN (maxout D with dropout, SGD with momentum), batch 100;
* ``fgan``: f-GAN's MNIST nets (GAN divergence, simultaneous updates, Adam), batch 256 (the paper's
  4096 takes seconds a step on a CPU; ``--batch-size 4096`` runs it);
* ``dcgan``: DCGAN on MNIST-32 (``--image-size``, ``--channels``, ``--width``), Adam, batch 64;
* ``unrolled``: the Unrolled GAN's 2-D ring nets and data, K = 10 second-order steps, Adam, batch 512.

CPU run (about 3 minutes on a loaded CPU):
          python benchmarks/train_throughput.py --model vanilla fgan dcgan unrolled --data mnist --device cpu \\
              --out results/train_throughput_cpu.json
Smoke test: python benchmarks/train_throughput.py --quick --model vanilla fgan dcgan unrolled --out runs/throughput-quick.json
GPU goal (DCGAN through the Trainer with bf16 + channels-last + compile ≥ 1.5× the fp32 plain loop):
          python benchmarks/train_throughput.py --device cuda --image-size 64 --batch-size 128 --channels 3 \\
              --precision bf16-mixed --channels-last --compile --warmup 10 --steps 100 \\
              --out results/train_throughput_gpu.json
          (with any fast path a ``plain+fast`` variant runs too: the plain loop with the same fast paths)

A run that writes ``--out`` refuses to start from uncommitted code unless ``--quick`` or ``--allow-dirty``
(then the result lists the changed files); the file holds no path of the machine.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import TensorDataset

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.throughput.plain_loop import PlainGAN, run_plain  # noqa: E402
from benchmarks.throughput.roofline import GemmRecorder, Roofline  # noqa: E402
from benchmarks.throughput.timing import synchronize  # noqa: E402
from zoo.core import TwoPlayerGAN  # noqa: E402
from zoo.data.base import ZooDataModule  # noqa: E402
from zoo.provenance import RunStart, scrub_paths, write_result  # noqa: E402

MODELS = ("vanilla", "fgan", "dcgan", "unrolled")
DEFAULT_BATCH = {"vanilla": 100, "fgan": 256, "dcgan": 64, "unrolled": 512}
QUICK = {"width": 8, "steps": 2, "warmup": 1, "repeats": 1}
FULL = {"width": 64, "warmup": 2, "repeats": 7}
# Timed steps per run: a second or more of one loaded CPU thread (the unrolled step is short and
# its ratio the noisiest); a GPU step takes milliseconds.
CPU_STEPS = {"vanilla": 16, "fgan": 10, "dcgan": 4, "unrolled": 40}
GPU_STEPS = 30
QUICK_BATCH = 8


# ------------------------------------------------------------------------------------- workloads
def build_model(name: str, args: argparse.Namespace) -> TwoPlayerGAN:
    """The zoo's model, seeded, so that every variant starts from the same weights."""
    torch.manual_seed(0)
    if name == "vanilla":
        from zoo.models.vanilla import VanillaGAN

        return VanillaGAN(**({"g_hidden": (args.width,), "d_hidden": (args.width,)} if args.quick else {}))
    if name == "fgan":
        from zoo.models.fgan import FGAN

        return FGAN(**({"g_hidden": (args.width,), "v_hidden": (args.width,)} if args.quick else {}))
    if name == "dcgan":
        from zoo.models.dcgan import DCGAN

        return DCGAN(image_size=args.image_size, channels=args.channels, g_width=args.width, d_width=args.width,
                     channels_last=args.channels_last, compile=args.compile)
    from zoo.models.unrolled import UnrolledGAN

    return UnrolledGAN(**({"g_hidden": (args.width,), "d_hidden": (args.width,), "unroll_steps": 2} if args.quick else {}))


def make_data(name: str, args: argparse.Namespace, count: int) -> Tensor:
    """``count`` training samples of the model's data, on the CPU: MNIST (or random images of its
    shape and range) for the image models, the ring of 8 Gaussians for the unrolled GAN."""
    generator = torch.Generator().manual_seed(0)
    if name == "unrolled":
        from zoo.data.toy2d import ring_centres, sample_mixture

        return sample_mixture(ring_centres(), 0.02, count, generator)[0]
    size, channels = (args.image_size, args.channels) if name == "dcgan" else (28, 1)
    if args.data == "mnist":
        from zoo.data.mnist import load_mnist_tensors

        images = load_mnist_tensors(args.data_root, train=True)[0][:count]
    else:
        images = torch.rand(count, 1, 28, 28, generator=generator)
    if name != "dcgan":
        return images
    images = F.interpolate(F.pad(images, (2, 2, 2, 2)), size=size, mode="bilinear") * 2 - 1
    return images.repeat(1, channels, 1, 1)


class InMemoryData(ZooDataModule):
    """A zoo DataModule over one tensor of training samples: the zoo's own loader, on given data."""

    def __init__(self, batch_size: int, value_range: tuple[float, float]) -> None:
        super().__init__(batch_size=batch_size, value_range=value_range)
        self.samples = torch.empty(0)

    def setup(self, stage: str | None = None) -> None:
        self.sample_shape = tuple(self.samples.shape[1:])
        self.train_set = TensorDataset(self.samples, torch.zeros(len(self.samples), dtype=torch.long))


def value_range(name: str) -> tuple[float, float]:
    return {"dcgan": (-1.0, 1.0), "unrolled": (-float("inf"), float("inf"))}.get(name, (0.0, 1.0))


# ------------------------------------------------------------------------------------- Lightning
class StepTimer(pl.Callback):
    """Times training batches ``warmup`` .. ``warmup + steps − 1``; records the GEMMs of batch ``record_at``."""

    def __init__(self, warmup: int, steps: int, device: torch.device, record_at: int | None = None) -> None:
        self.warmup, self.last, self.device, self.record_at = warmup, warmup + steps - 1, device, record_at
        self.started = self.elapsed = 0.0
        self.recorder: GemmRecorder | None = None

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        if batch_idx == self.record_at:
            self.recorder = GemmRecorder().__enter__()
        if batch_idx == self.warmup:
            synchronize(self.device)
            self.started = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        if batch_idx == self.record_at and self.recorder is not None:
            self.recorder.__exit__(None, None, None)
        if batch_idx == self.last:
            synchronize(self.device)
            self.elapsed = time.perf_counter() - self.started


def run_lightning(model: TwoPlayerGAN, data: InMemoryData, args: argparse.Namespace, record: bool = False) -> StepTimer:
    """The zoo's model under a bare Trainer; the timer holds seconds per step (and the GEMMs when recorded)."""
    device = torch.device(args.device)
    timer = StepTimer(args.warmup, args.steps, device, record_at=0 if record else None)
    trainer = pl.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu", devices=1, precision=args.precision,
        # One batch past the timed ones: the epoch's last batch logs, which steady training does once an epoch.
        max_epochs=1, limit_train_batches=args.warmup + args.steps + 1, limit_val_batches=0, num_sanity_val_steps=0,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, callbacks=[timer],
    )
    trainer.fit(model, datamodule=data)
    timer.elapsed /= args.steps
    return timer


# ----------------------------------------------------------------------------------------- main
def benchmark(name: str, options: argparse.Namespace) -> dict[str, Any]:
    """Interleaved rounds of plain, lightning (and plain+fast) and the roofline for one model."""
    fast = options.precision != "32" or options.channels_last or options.compile
    args = argparse.Namespace(**{
        **vars(options),
        "batch_size": options.batch_size or (QUICK_BATCH if options.quick else DEFAULT_BATCH[name]),
        "steps": options.steps or (CPU_STEPS[name] if options.device == "cpu" else GPU_STEPS),
    })
    samples = make_data(name, args, max(4096, args.batch_size * (args.warmup + args.steps + 2)))

    def data() -> InMemoryData:
        module = InMemoryData(args.batch_size, value_range(name))
        module.samples = samples
        return module

    # One untimed step of each, recorded (eagerly: a dispatch mode and torch.compile do not mix): the
    # roofline's GEMMs, and the check that the Trainer's step does the same work as the plain one.
    eager = argparse.Namespace(**{**vars(args), "compile": False, "warmup": 0, "steps": 1})
    recorder = GemmRecorder()
    with recorder:
        PlainGAN(name, build_model(name, eager), eager, fast=fast).step(samples[:args.batch_size])
    lightning_recorder = run_lightning(build_model(name, eager), data(), eager, record=True).recorder
    roofline = Roofline(recorder)

    variants: dict[str, Callable[[], float]] = {
        "plain": lambda: run_plain(PlainGAN(name, build_model(name, args), args, fast=False), samples, args),
        "lightning": lambda: run_lightning(build_model(name, args), data(), args).elapsed,
        "roofline": lambda: roofline.seconds_per_step(args.steps),
    }
    if fast:
        variants["plain+fast"] = lambda: run_plain(PlainGAN(name, build_model(name, args), args, fast=True), samples, args)
    seconds: dict[str, list[float]] = {variant: [] for variant in variants}
    for round_index in range(args.repeats):
        order = list(variants) if round_index % 2 == 0 else list(reversed(variants))
        for variant in order:
            seconds[variant].append(variants[variant]())
        print(f"{name} round {round_index + 1}/{args.repeats}: "
              + ", ".join(f"{v} {seconds[v][-1] * 1e3:.2f} ms" for v in variants), flush=True)
    median = {variant: statistics.median(values) for variant, values in seconds.items()}
    same_settings = "plain+fast" if fast else "plain"

    def ratio(numerator: str, denominator: str) -> float:
        # Per round, of runs that ran back to back, then the median: a load that changes between
        # rounds moves both times of a round alike, but the medians of each variant apart.
        return round(statistics.median(a / b for a, b in zip(seconds[numerator], seconds[denominator])), 4)

    batch_size = args.batch_size
    return {
        "batch_size": batch_size,
        "steps_per_run": {"warmup": args.warmup, "timed": args.steps},
        "ms_per_step_median": {k: round(v * 1e3, 3) for k, v in median.items()},
        "ms_per_step_all": {k: [round(x * 1e3, 3) for x in v] for k, v in seconds.items()},
        "images_per_second_median": {k: round(batch_size / v, 1) for k, v in median.items() if k != "roofline"},
        "lightning_over_plain": ratio("lightning", same_settings),
        "lightning_over_plain_fp32_baseline": ratio("lightning", "plain"),
        "fraction_of_roofline": ratio("roofline", "lightning"),
        "roofline": {
            "gemm_calls": len(roofline.calls),
            "gflop_per_step": round(roofline.flop / 1e9, 4),
            "gflops_per_second": round(roofline.flop / median["roofline"] / 1e9, 2),
            "counts": "every mm/addmm/bmm/baddbmm and convolution (forward, and backward for input and weight "
                      "gradients) of one plain step, at its recorded shapes, strides and dtypes, replayed back to back",
        },
        "same_gemms_as_plain": lightning_recorder is not None and lightning_recorder.signature() == recorder.signature(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", choices=MODELS, default=["dcgan"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--image-size", type=int, default=32, help="DCGAN only")
    parser.add_argument("--channels", type=int, default=1, help="DCGAN only")
    parser.add_argument("--width", type=int, default=None, help="base width of DCGAN's G and D (default 64, the reference code's)")
    parser.add_argument("--batch-size", type=int, default=None, help=f"default per model: {DEFAULT_BATCH}")
    parser.add_argument("--steps", type=int, default=None, help=f"timed steps per run (default {GPU_STEPS} on a GPU, on a CPU {CPU_STEPS})")
    parser.add_argument("--warmup", type=int, default=None, help=f"untimed steps per run (default {FULL['warmup']}; more with --compile)")
    parser.add_argument("--repeats", type=int, default=None, help=f"default {FULL['repeats']}")
    parser.add_argument("--quick", action="store_true", help=f"tiny nets and batches for a smoke test: {QUICK}")
    parser.add_argument("--allow-dirty", action="store_true", help="write --out from uncommitted code")
    parser.add_argument("--precision", choices=("32", "bf16-mixed"), default="32")
    parser.add_argument("--channels-last", action="store_true", help="DCGAN only")
    parser.add_argument("--compile", action="store_true", help="DCGAN only")
    parser.add_argument("--data", choices=("random", "mnist"), default="random", help="images: MNIST, or random ones of its shape")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--out", default=None, help="JSON file for the results")
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if (args.channels_last or args.compile) and args.model != ["dcgan"]:
        parser.error("--channels-last and --compile are options of the DCGAN model only")
    run = RunStart(require_clean=bool(args.out) and not (args.quick or args.allow_dirty))
    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)

    models = {name: benchmark(name, args) for name in args.model}
    result = scrub_paths({
        **run.provenance({"torch": 0, "data": 0}, args.device),
        "threads": torch.get_num_threads(),
        "pytorch_lightning": pl.__version__,
        "command": "python benchmarks/train_throughput.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "allow_dirty", "model")},
        "models": models,
    })
    plain = "plain+fast" if args.precision != "32" or args.channels_last or args.compile else "plain"
    print(f"\n{'model':<10} {plain + ' ms':>14} {'lightning ms':>13} {'roofline ms':>12}  lightning/{plain}  roofline/lightning")
    for name, record in models.items():
        ms = record["ms_per_step_median"]
        print(f"{name:<10} {ms[plain]:>14.2f} {ms['lightning']:>13.2f} {ms['roofline']:>12.2f}  "
              f"{record['lightning_over_plain']:>15.3f}  {record['fraction_of_roofline']:>18.3f}"
              + ("" if record["same_gemms_as_plain"] else "  (the Lightning step ran other GEMMs than plain's!)"))
    if args.out:
        print(f"wrote {write_result(result, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
