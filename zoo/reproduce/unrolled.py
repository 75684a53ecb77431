"""``zoo reproduce unrolled-mixtures``: Metz et al. (2017), §3.1 and Figure 2, on the ring of 8
Gaussians and the 5×5 grid.

Every (mixture, K) row trains ``configs/unrolled/<mixture>_k<K>.yaml`` once per seed for a budget of
generator steps, then scores samples from fixed codes with :func:`zoo.eval.modes.count_modes`:
modes covered, the fraction of high-quality samples (within 3σ of a centre) and KL(mode histogram ‖
uniform). The config's :class:`zoo.callbacks.trace.SampleTrace` keeps samples at fixed steps, for
the figure (K = 0 and K = 10 over training) and for coverage over time.

    zoo reproduce unrolled-mixtures                 # full budget, results/unrolled-mixtures.{json,md,png}
    zoo reproduce unrolled-mixtures --resume        # also continue seeds an interrupted run left partial
    zoo reproduce unrolled-mixtures --quick         # tiny budget: checks the pipeline, not the numbers

Run state lives in the run store (``$ZOO_RUNS``, else ``~/.cache/zoo/runs``) under
``unrolled-mixtures/``; a seed that finished with the same config and budget is read back, never
retrained (unless ``--retrain``).
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from zoo.provenance import REPO, RunStart
from zoo.reproduce.report import write_result_files
from zoo.reproduce.step_runs import TRAIN_TIME_NOTE, StepBudget, saved_trace, summary, train_rows, training_time

TABLE = "unrolled-mixtures"
MIXTURES = ("ring", "grid")
UNROLL_STEPS = (0, 5, 10)
FIGURE_STEPS = (0, 10)
SCORE_SEED = 2017  # the codes scored, the same for every row


# Ring, K = 10, seed 0 (2,500 samples): 8/8 modes from 8.5k generator steps on; high-quality 0.83 at
# 25k, 0.90 at 32.5k, 0.93 at 40k, so 50k leaves a margin for the other seeds.
FULL = StepBudget(generator_steps=50_000, trace_every=10_000, samples=10_000, seeds=(0, 1, 2))
QUICK = StepBudget(generator_steps=6, trace_every=3, samples=1_000, seeds=(0,))


ROW_NAMES = tuple(f"{mixture}-k{steps}" for mixture in MIXTURES for steps in UNROLL_STEPS)  # for --rows


def config_path(mixture: str, steps: int) -> Path:
    return REPO / "configs" / "unrolled" / f"{mixture}_k{steps}.yaml"


def score(checkpoint: Path, n_samples: int) -> dict[str, Any]:
    """Mode counts of ``n_samples`` samples from fixed codes, and of every traced snapshot."""
    from zoo.checkpoints import gan_from_checkpoint, load_datamodule, read_checkpoint
    from zoo.eval.modes import count_modes

    raw = read_checkpoint(checkpoint)
    model, data = gan_from_checkpoint(raw, checkpoint), load_datamodule(raw)
    codes = model.prior.sample(n_samples, generator=torch.Generator().manual_seed(SCORE_SEED))
    counted = count_modes(model.generate(codes, use_ema=False), data.centres, data.std)
    trace = saved_trace(raw)
    torch.save(trace, checkpoint.parent.parent / "trace.pt")
    return {
        "generator_steps": model.generator_steps,
        "modes_covered": counted["modes_covered"], "num_modes": counted["num_modes"],
        "high_quality_fraction": counted["high_quality_share"],
        "kl_to_uniform": None if math.isnan(counted["kl_to_uniform"]) else counted["kl_to_uniform"],
        "counts": counted["counts"], "min_count": counted["min_count"],
        **trace_scores(trace, data.centres, data.std),
    }


def trace_scores(trace: dict[int, torch.Tensor], centres: torch.Tensor, std: float) -> dict[str, dict[str, Any]]:
    """Modes covered and high-quality fraction of each traced snapshot, keyed by generator step."""
    from zoo.eval.modes import count_modes

    counted = {str(step): count_modes(samples, centres, std) for step, samples in sorted(trace.items())}
    return {"trace_modes_covered": {step: c["modes_covered"] for step, c in counted.items()},
            "trace_high_quality_fraction": {step: c["high_quality_share"] for step, c in counted.items()}}


def _with_trace_scores(seed: dict[str, Any], mixture: str, run_dir: Path) -> dict[str, Any]:
    """A seed's record with its trace scored (seeds scored before the quality trace existed lack it)."""
    if "trace_high_quality_fraction" in seed:
        return seed
    from zoo.data.toy2d import MixtureDataModule

    data = MixtureDataModule(mixture)
    return {**seed, **trace_scores(torch.load(run_dir / "trace.pt", weights_only=True), data.centres, data.std)}


def row(mixture: str, steps: int, seeds: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "mixture": mixture, "unroll_steps": steps, "config": str(config_path(mixture, steps).relative_to(REPO)),
        "num_modes": seeds[0]["num_modes"], "generator_steps": seeds[0]["generator_steps"],
        **{key: summary([s[key] for s in seeds]) for key in ("modes_covered", "high_quality_fraction", "kl_to_uniform")},
        "seeds": seeds,
    }


def goals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets on the ring, checked seed by seed (None where the row was not run)."""
    ring = {r["unroll_steps"]: r for r in rows if r["mixture"] == "ring"}
    checks: dict[str, Any] = {"ring_k10_all_modes_every_seed": None, "ring_k10_high_quality_ge_0.9_every_seed": None,
                              "ring_k0_never_all_modes": None}
    if 10 in ring:
        seeds = ring[10]["seeds"]
        checks["ring_k10_all_modes_every_seed"] = all(s["modes_covered"] == s["num_modes"] for s in seeds)
        checks["ring_k10_high_quality_ge_0.9_every_seed"] = all(s["high_quality_fraction"] >= 0.9 for s in seeds)
    if 0 in ring:  # collapse or cycling: no snapshot, and not the end, covers every mode
        checks["ring_k0_never_all_modes"] = all(
            max([s["modes_covered"], *s["trace_modes_covered"].values()]) < s["num_modes"] for s in ring[0]["seeds"])
    return checks


def reproduce(budget: StepBudget, runs: Path, resume: bool = False, retrain: bool = False,
              mixtures: tuple[str, ...] = MIXTURES, unroll_steps: tuple[int, ...] = UNROLL_STEPS,
              require_clean: bool = False, deadline: float | None = None, rows: tuple[str, ...] | None = None,
              train: bool = True) -> dict[str, Any]:
    """Train and score every (mixture, K) row (or those of ``rows``, named as in :data:`ROW_NAMES`),
    seed by seed, into ``runs`` until done or ``deadline`` (with ``train=False``, only read what
    finished); the JSON-able record of the finished rows."""
    run = RunStart(require_clean=require_clean)
    jobs = {(m, k): (config_path(m, k), runs / f"{m}_k{k}") for m in mixtures for k in unroll_steps
            if rows is None or f"{m}-k{k}" in rows}
    finished, unfinished = train_rows(jobs, budget, score, resume, retrain, deadline, train)
    rows = [row(mixture, steps, [_with_trace_scores(s, mixture, jobs[mixture, steps][1] / f"seed{s['seed']}") for s in seeds])
            for (mixture, steps), seeds in finished.items()]
    return {
        "table": TABLE, "complete": not unfinished, "unfinished_rows": [f"{m}, K = {k}" for m, k in unfinished],
        "title": "Metz et al. (2017), Unrolled GAN, §3.1 / Figure 2: mode coverage on 2-D mixtures",
        "citation": "Metz, Poole, Pfau & Sohl-Dickstein, Unrolled Generative Adversarial Networks, ICLR 2017",
        "paper": "Figure 2 (qualitative): with 10 unrolling steps G covers all 8 ring modes; with 0 it cycles between modes",
        "budget": asdict(budget), "rows": rows, "goals": goals(rows),
        "sample_counts": {"scored_per_seed": budget.samples, "per_trace_snapshot": _trace_size(runs, rows)},
        "notes": [TRAIN_TIME_NOTE,
                  "high-quality: within 3σ of the nearest centre; a mode is covered with ≥ max(1, ⌈1 % · N/K⌉) "
                  "high-quality samples (zoo.eval.modes)",
                  "trace_modes_covered and trace_high_quality_fraction score the traced samples (fixed codes, "
                  "seed 1234) at each generator step: the learning curves",
                  "kl_to_uniform is null for a seed with no high-quality sample (the histogram is empty)"],
        **run.provenance(seeds={"training": list(budget.seeds), "scored_codes": SCORE_SEED}),
    }


def _trace_size(runs: Path, rows: list[dict[str, Any]]) -> int | None:
    if not rows:
        return None
    first = rows[0]
    folder = runs / f"{first['mixture']}_k{first['unroll_steps']}" / f"seed{first['seeds'][0]['seed']}"
    trace = torch.load(folder / "trace.pt", weights_only=True)
    return len(next(iter(trace.values())))


def row_label(row: dict[str, Any]) -> str:
    return f"{row['mixture']}, K = {row['unroll_steps']}"


def markdown(record: dict[str, Any]) -> str:
    lines = [f"### {record['title']}", "", f"{record['budget']['generator_steps']} generator steps per run, seeds "
             f"{record['budget']['seeds']}, {record['sample_counts']['scored_per_seed']} samples scored per seed.", "",
             "| mixture | K | modes covered (mean; per seed) | high-quality fraction | KL to uniform |", "|---|---|---|---|---|"]
    for r in record["rows"]:
        modes = f"{r['modes_covered']['mean']:.2f} / {r['num_modes']}; {r['modes_covered']['per_seed']}"
        quality = ", ".join(f"{v:.3f}" for v in r["high_quality_fraction"]["per_seed"])
        kl = ", ".join("—" if v is None else f"{v:.3f}" for v in r["kl_to_uniform"]["per_seed"])
        lines.append(f"| {r['mixture']} | {r['unroll_steps']} | {modes} | {quality} | {kl} |")
    steps = _trace_steps(record)
    lines += ["", "High-quality fraction of the traced samples over training (per seed):", "",
              "| mixture | K | " + " | ".join(f"step {step}" for step in steps) + " |", "|---|---|" + "---|" * len(steps)]
    for r in record["rows"]:
        cells = [", ".join(f"{s['trace_high_quality_fraction'].get(str(step), float('nan')):.2f}" for s in r["seeds"])
                 for step in steps]
        lines.append(f"| {r['mixture']} | {r['unroll_steps']} | " + " | ".join(cells) + " |")
    lines += ["", f"Goals: {record['goals']}", "", f"Commit `{record['commit']}`; {record['device']}; "
              f"{training_time(record['rows'], row_label)}; table assembled in {record['wall_time_s']:.0f} s.",
              *[f"- {note}" for note in record["notes"]]]
    if record["unfinished_rows"]:
        lines.append(f"- Not finished: {', '.join(record['unfinished_rows'])}; `--resume` trains them on.")
    return "\n".join(lines) + "\n"


def _trace_steps(record: dict[str, Any]) -> list[int]:
    return sorted({int(step) for r in record["rows"] for s in r["seeds"] for step in s["trace_high_quality_fraction"]})


def figure(record: dict[str, Any], runs: Path, path: Path) -> None:
    """Samples over training for K = 0 and K = 10 (first seed): one row per (mixture, K)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from zoo.data.toy2d import MixtureDataModule

    panels = [(r["mixture"], r["unroll_steps"], r["seeds"][0]["seed"]) for r in record["rows"] if r["unroll_steps"] in FIGURE_STEPS]
    traces = [torch.load(runs / f"{m}_k{k}" / f"seed{s}" / "trace.pt", weights_only=True) for m, k, s in panels]
    columns = max(len(t) for t in traces)
    fig, axes = plt.subplots(len(panels), columns, figsize=(2 * columns, 2 * len(panels)), squeeze=False)
    for (mixture, k, _), trace, line in zip(panels, traces, axes):
        centres = MixtureDataModule(mixture).centres
        limit = float(centres.abs().max()) * 1.5
        for axis, (step, samples) in zip(line, sorted(trace.items())):
            axis.scatter(samples[:, 0], samples[:, 1], s=1, c="tab:green", alpha=0.5)
            axis.scatter(centres[:, 0], centres[:, 1], s=8, c="black", marker="x")
            axis.set(xlim=(-limit, limit), ylim=(-limit, limit), xticks=[], yticks=[], aspect="equal")
            axis.set_title(f"step {step}", fontsize=8)
        line[0].set_ylabel(f"{mixture}, K = {k}", fontsize=9)
        for axis in line[len(trace):]:
            axis.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_outputs(record: dict[str, Any], runs: Path, out: Path) -> dict[str, Path]:
    drawable = any(r["unroll_steps"] in FIGURE_STEPS for r in record["rows"])
    return write_result_files(record, out, TABLE, markdown(record), (lambda png: figure(record, runs, png)) if drawable else None)


def run(quick: bool, store: Path, resume: bool, retrain: bool, out: Path, require_clean: bool = False,
        deadline: float | None = None, rows: tuple[str, ...] | None = None, train: bool = True,
        seeds: tuple[int, ...] | None = None) -> dict[str, Path]:
    """``zoo reproduce unrolled-mixtures``: train what is missing, then write the JSON, markdown and figure."""
    budget = (QUICK if quick else FULL).for_seeds(seeds)
    runs = store / TABLE / ("quick" if quick else "full")
    record = {**reproduce(budget, runs, resume, retrain, MIXTURES, UNROLL_STEPS, require_clean, deadline, rows, train),
              "quick": quick}
    print(markdown(record))
    return write_outputs(record, runs, out)
