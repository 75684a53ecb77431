"""``zoo reproduce unrolled-mixtures``: Metz et al. (2017), §3.1 and Figure 2, on the ring of 8
Gaussians and the 5×5 grid.

Every (mixture, K) row trains ``configs/unrolled/<mixture>_k<K>.yaml`` once per seed for its
mixture's budget of generator steps, then scores samples from fixed codes with
:func:`zoo.eval.modes.count_modes`: modes covered, the fraction of high-quality samples (within 3σ
of a centre) and KL(mode histogram ‖ uniform). The config's :class:`zoo.callbacks.trace.SampleTrace` keeps samples at fixed steps, for
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
from typing import Any, Iterable

import torch

from zoo.provenance import REPO, RunStart
from zoo.reproduce.carry import CarriedRows, carried_seed_notes
from zoo.reproduce.report import write_result_files
from zoo.reproduce.step_runs import TRAIN_TIME_NOTE, StepBudget, saved_trace, summary, train_rows, training_time

TABLE = "unrolled-mixtures"
MIXTURES = ("ring", "grid")
UNROLL_STEPS = (0, 5, 10)
FIGURE_STEPS = (0, 10)
SCORE_SEED = 2017  # the codes scored, the same for every row


# The ring's goal is a quality fraction, and quality was still rising at 50k generator steps: the
# 50k table's K = 10 seed 2 read 0.857 there, and 0.93 to 0.95 from 60k to 100k when trained on
# (results/unrolled-ring-k10-seed2-100k.eval.json). The grid has no quality goal and keeps 50k.
FULL = {"ring": StepBudget(generator_steps=100_000, trace_every=10_000, samples=10_000, seeds=(0, 1, 2)),
        "grid": StepBudget(generator_steps=50_000, trace_every=10_000, samples=10_000, seeds=(0, 1, 2))}
QUICK = StepBudget(generator_steps=6, trace_every=3, samples=1_000, seeds=(0,))  # for every mixture


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


def _with_trace_scores(seed: dict[str, Any], mixture: str, trace_file: Path) -> dict[str, Any]:
    """A seed's record with its trace scored (seeds scored before the quality trace existed lack it;
    a carried-over seed has it from its result file)."""
    if "trace_high_quality_fraction" in seed:
        return seed
    from zoo.data.toy2d import MixtureDataModule

    data = MixtureDataModule(mixture)
    return {**seed, **trace_scores(torch.load(trace_file, weights_only=True), data.centres, data.std)}


def all_seeds(budgets: Iterable[StepBudget]) -> tuple[int, ...]:
    """Every seed that some mixture's budget trains, in order."""
    return tuple(sorted({seed for budget in budgets for seed in budget.seeds}))


def row(mixture: str, steps: int, budget: StepBudget, seeds: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "mixture": mixture, "unroll_steps": steps, "config": str(config_path(mixture, steps).relative_to(REPO)),
        "budget": {k: v for k, v in asdict(budget).items() if k != "seeds"},
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


def reproduce(budgets: dict[str, StepBudget], runs: Path, resume: bool = False, retrain: bool = False,
              mixtures: tuple[str, ...] = MIXTURES, unroll_steps: tuple[int, ...] = UNROLL_STEPS,
              require_clean: bool = False, deadline: float | None = None, rows: tuple[str, ...] | None = None,
              train: bool = True, carry: CarriedRows | None = None) -> dict[str, Any]:
    """Train and score every (mixture, K) row (or those of ``rows``, named as in :data:`ROW_NAMES`),
    seed by seed under its mixture's budget, into ``runs`` until done or ``deadline`` (with
    ``train=False``, only read what finished, and take the seeds the store lacks from ``carry``
    where it holds them); the JSON-able record of the finished rows."""
    run = RunStart(require_clean=require_clean)
    finished: dict[tuple[str, int], list[dict[str, Any]]] = {}
    unfinished: list[tuple[str, int]] = []
    for mixture in mixtures:
        jobs = {(mixture, k): (config_path(mixture, k), runs / f"{mixture}_k{k}") for k in unroll_steps
                if rows is None or f"{mixture}-k{k}" in rows}
        budget = asdict(budgets[mixture])
        carried = None if carry is None else (
            lambda config, seed, budget=budget: carry.step_seed(str(config.relative_to(REPO)), seed, budget))
        done, stopped = train_rows(jobs, budgets[mixture], score, resume, retrain, deadline, train, carried)
        finished.update(done)
        unfinished += stopped
        if stopped and train:  # the deadline came: start no run of the next mixture
            deadline = 0.0
    rows = [row(mixture, steps, budgets[mixture],
                [_with_trace_scores(s, mixture, _trace_file(runs, mixture, steps, s["seed"])) for s in seeds])
            for (mixture, steps), seeds in finished.items()]
    used = {mixture: budgets[mixture] for mixture in mixtures}
    samples = {budget.samples for budget in used.values()}
    return {
        "table": TABLE, "complete": not unfinished, "unfinished_rows": [f"{m}, K = {k}" for m, k in unfinished],
        "title": "Metz et al. (2017), Unrolled GAN, §3.1 / Figure 2: mode coverage on 2-D mixtures",
        "citation": "Metz, Poole, Pfau & Sohl-Dickstein, Unrolled Generative Adversarial Networks, ICLR 2017",
        "paper": "Figure 2 (qualitative): with 10 unrolling steps G covers all 8 ring modes; with 0 it cycles between modes",
        "budget": {mixture: asdict(budget) for mixture, budget in used.items()}, "rows": rows, "goals": goals(rows),
        "sample_counts": {"scored_per_seed": samples.pop() if len(samples) == 1 else None,
                          "per_trace_snapshot": _trace_size(runs, rows)},
        "notes": [*carried_seed_notes(rows, row_label), TRAIN_TIME_NOTE,
                  "high-quality: within 3σ of the nearest centre; a mode is covered with ≥ max(1, ⌈1 % · N/K⌉) "
                  "high-quality samples (zoo.eval.modes)",
                  "trace_modes_covered and trace_high_quality_fraction score the traced samples (fixed codes, "
                  "seed 1234) at each generator step: the learning curves",
                  "kl_to_uniform is null for a seed with no high-quality sample (the histogram is empty)"],
        **run.provenance(seeds={"training": list(all_seeds(used.values())), "scored_codes": SCORE_SEED}),
    }


def _trace_file(runs: Path, mixture: str, steps: int, seed: int) -> Path:
    return runs / f"{mixture}_k{steps}" / f"seed{seed}" / "trace.pt"


def _held_traces(runs: Path, row: dict[str, Any]) -> list[Path]:
    """The trace files of ``row``'s seeds that the run store holds (carried-over seeds left theirs behind)."""
    files = [_trace_file(runs, row["mixture"], row["unroll_steps"], s["seed"]) for s in row["seeds"]]
    return [file for file in files if file.exists()]


def _trace_size(runs: Path, rows: list[dict[str, Any]]) -> int | None:
    held = [file for r in rows for file in _held_traces(runs, r)]
    return len(next(iter(torch.load(held[0], weights_only=True).values()))) if held else None


def row_label(row: dict[str, Any]) -> str:
    return f"{row['mixture']}, K = {row['unroll_steps']}"


def markdown(record: dict[str, Any]) -> str:
    shown = {r["mixture"] for r in record["rows"]}  # a table of some rows (--rows) states only their budgets
    budgets = "; ".join(f"{mixture}: {b['generator_steps']} generator steps per run, seeds {b['seeds']}, "
                        f"{b['samples']} samples scored per seed"
                        for mixture, b in record["budget"].items() if mixture in shown)
    lines = [f"### {record['title']}", "", f"{budgets}.", "",
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
    """Samples over training for K = 0 and K = 10 (first seed held): one row per (mixture, K)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from zoo.data.toy2d import MixtureDataModule

    panels = figure_panels(record, runs)
    traces = [torch.load(file, weights_only=True) for _, _, file in panels]
    columns = max(len(t) for t in traces)
    fig, axes = plt.subplots(len(panels), columns, figsize=(2 * columns, 2 * len(panels)), squeeze=False)
    for (mixture, k, file), trace, line in zip(panels, traces, axes):
        centres = MixtureDataModule(mixture).centres
        limit = float(centres.abs().max()) * 1.5
        for axis, (step, samples) in zip(line, sorted(trace.items())):
            axis.scatter(samples[:, 0], samples[:, 1], s=1, c="tab:green", alpha=0.5)
            axis.scatter(centres[:, 0], centres[:, 1], s=8, c="black", marker="x")
            axis.set(xlim=(-limit, limit), ylim=(-limit, limit), xticks=[], yticks=[], aspect="equal")
            axis.set_title(f"step {step}", fontsize=8)
        line[0].set_ylabel(f"{mixture}, K = {k}, seed {file.parent.name.removeprefix('seed')}", fontsize=9)
        for axis in line[len(trace):]:
            axis.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def figure_panels(record: dict[str, Any], runs: Path) -> list[tuple[str, int, Path]]:
    """Mixture, K and trace file of the figure's lines: each K = 0 and K = 10 row's first seed whose
    trace the run store holds (``…/seed<N>/trace.pt``)."""
    return [(r["mixture"], r["unroll_steps"], held[0]) for r in record["rows"]
            if r["unroll_steps"] in FIGURE_STEPS and (held := _held_traces(runs, r))]


def write_outputs(record: dict[str, Any], runs: Path, out: Path) -> dict[str, Path]:
    drawable = bool(figure_panels(record, runs))
    return write_result_files(record, out, TABLE, markdown(record), (lambda png: figure(record, runs, png)) if drawable else None)


def run(quick: bool, store: Path, resume: bool, retrain: bool, out: Path, require_clean: bool = False,
        deadline: float | None = None, rows: tuple[str, ...] | None = None, train: bool = True,
        seeds: tuple[int, ...] | None = None, carry: CarriedRows | None = None) -> dict[str, Path]:
    """``zoo reproduce unrolled-mixtures``: train what is missing, then write the JSON, markdown and figure."""
    budgets = {mixture: (QUICK if quick else FULL[mixture]).for_seeds(seeds) for mixture in MIXTURES}
    runs = store / TABLE / ("quick" if quick else "full")
    record = {**reproduce(budgets, runs, resume, retrain, MIXTURES, UNROLL_STEPS, require_clean, deadline, rows, train,
                          carry), "quick": quick}
    print(markdown(record))
    return write_outputs(record, runs, out)
