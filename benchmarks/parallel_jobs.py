"""Training steps per second of a machine's cores used two ways: one process with every core, or one
one-thread process per core side by side (what ``zoo reproduce --jobs`` does with a table's rows).

Small nets spend much of a step in Python and autograd overhead, which a second thread does not
share, so side-by-side jobs can train more steps in all; large ones are bound by arithmetic, which
threads share well. The model is one of ``benchmarks/train_throughput.py``'s (default ``unrolled``:
the 2-D ring nets with K = 10, as in the ``unrolled-mixtures`` rows), stepped through its bare
Trainer (``run_lightning``). Rounds alternate the two layouts:

* ``together``: one process with ``--cores`` threads;
* ``apart``: ``--cores`` processes with one thread each, which start stepping together once all are ready.

Each process times ``--steps`` steps after ``--warmup``; a round's throughput is steps per second
summed over its processes. ``apart_over_together`` is the median over rounds of the ratio within a
round (above 1: parallel one-thread jobs train more steps per second). Run it on an otherwise idle
machine: another job on the cores slows the layouts unequally.

    python benchmarks/parallel_jobs.py --out results/parallel_jobs_cpu.json
    python benchmarks/parallel_jobs.py --quick --out runs/parallel_jobs.json     # smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS.parent))
QUICK = {"steps": 3, "warmup": 1, "rounds": 1}
FULL = {"steps": 300, "warmup": 10, "rounds": 3}


def child(args: argparse.Namespace) -> None:
    """One process's timed steps, after every process of its round is ready: prints ``{"seconds_per_step": …}``."""
    import torch

    sys.path.insert(0, str(BENCHMARKS))
    import train_throughput as throughput

    torch.set_num_threads(args.threads)
    options = argparse.Namespace(quick=args.quick, width=8, device="cpu", precision="32", warmup=args.warmup,
                                 steps=args.steps, data="random", data_root=None, image_size=32, channels=1,
                                 channels_last=False, compile=False,
                                 batch_size=throughput.QUICK_BATCH if args.quick else throughput.DEFAULT_BATCH[args.model])
    samples = throughput.make_data(args.model, options, options.batch_size * (args.warmup + args.steps + 2))
    data = throughput.InMemoryData(options.batch_size, throughput.value_range(args.model))
    data.samples = samples
    model = throughput.build_model(args.model, options)
    barrier = Path(args.barrier)
    (barrier / str(os.getpid())).touch()
    while len(list(barrier.iterdir())) < args.processes:
        time.sleep(0.01)
    timer = throughput.run_lightning(model, data, options)
    print(json.dumps({"seconds_per_step": timer.elapsed, "threads": torch.get_num_threads()}))


def launch(args: argparse.Namespace, threads: int, count: int) -> list[dict[str, Any]]:
    """``count`` child processes of ``threads`` threads each, started together; their reports."""
    with tempfile.TemporaryDirectory() as barrier:
        command = [sys.executable, __file__, "--child", "--model", args.model, "--threads", str(threads),
                   "--steps", str(args.steps), "--warmup", str(args.warmup), "--barrier", barrier,
                   "--processes", str(count), *(["--quick"] if args.quick else [])]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        processes = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for _ in range(count)]
        reports = []
        for process in processes:
            out, err = process.communicate()
            if process.returncode != 0:
                raise SystemExit(f"parallel_jobs.py: a child failed (exit {process.returncode}): {err.strip().splitlines()[-1:]}")
            reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="unrolled", choices=("vanilla", "fgan", "dcgan", "unrolled"))
    parser.add_argument("--cores", type=int, default=2, help="cores to share out (default 2)")
    parser.add_argument("--steps", type=int, default=None, help=f"timed steps per process (default {FULL['steps']})")
    parser.add_argument("--warmup", type=int, default=None, help=f"untimed steps first (default {FULL['warmup']})")
    parser.add_argument("--rounds", type=int, default=None, help=f"rounds of both layouts (default {FULL['rounds']})")
    parser.add_argument("--quick", action="store_true", help=f"tiny nets and runs for a smoke test: {QUICK}")
    parser.add_argument("--allow-dirty", action="store_true", help="write --out from uncommitted code")
    parser.add_argument("--out", default=None, help="JSON file for the result")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--barrier", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--processes", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.child:
        child(args)
        return 0
    if args.cores < 2:
        parser.error("--cores must be at least 2: with one core there is nothing to share out")

    import torch

    from zoo.provenance import RunStart, scrub_paths, write_result

    torch.set_num_threads(args.cores)  # the provenance's device line then describes the "together" layout
    run = RunStart(require_clean=bool(args.out) and not (args.quick or args.allow_dirty))
    rounds = []
    for index in range(args.rounds):
        layouts = ("together", "apart") if index % 2 == 0 else ("apart", "together")
        measured = {}
        for layout in layouts:
            reports = launch(args, args.cores, 1) if layout == "together" else launch(args, 1, args.cores)
            measured[layout] = {"steps_per_second": round(sum(1 / r["seconds_per_step"] for r in reports), 3),
                                "processes": reports}
        measured["apart_over_together"] = round(measured["apart"]["steps_per_second"] / measured["together"]["steps_per_second"], 4)
        rounds.append(measured)
        print(f"round {index + 1}/{args.rounds}: together {measured['together']['steps_per_second']:.2f} steps/s, "
              f"apart {measured['apart']['steps_per_second']:.2f} steps/s, ratio {measured['apart_over_together']:.3f}", flush=True)
    result = scrub_paths({
        **run.provenance({"torch": 0, "data": 0}, "cpu"),
        "command": "python benchmarks/parallel_jobs.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "model": args.model, "cores": args.cores,
        "settings": {"steps": args.steps, "warmup": args.warmup, "rounds": args.rounds, "quick": args.quick},
        "apart_over_together": statistics.median(r["apart_over_together"] for r in rounds),
        "rounds": rounds,
    })
    print(f"apart / together (median of {args.rounds} rounds): {result['apart_over_together']:.3f}")
    if args.out:
        print(f"wrote {write_result(result, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
