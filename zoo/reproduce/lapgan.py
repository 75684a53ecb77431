"""``zoo reproduce lapgan-mnist``: LAPGAN and CC-LAPGAN (Denton et al. 2015) against the zoo's GAN
(Goodfellow et al. 2014, ``configs/vanilla/mnist.yaml``) on MNIST, all three scored under the
``gan2014`` Parzen protocol on full-size samples.

The paper's Table 1 compares LAPGAN and GAN by Parzen likelihood on CIFAR-10 and STL-10
(−1799 ± 826 against −3617 ± 353 nats on CIFAR-10); this table asks the same question on MNIST,
where the zoo's protocol and GAN baseline are established.

Budget: equal total generator updates. The GAN trains ``gan_epochs`` epochs; each of LAPGAN's three
levels (7 → 14 → 28) trains ``gan_epochs / 3`` epochs on the same batches of 100, so the three
levels together make as many generator updates as the GAN. Wall times are recorded too: a
convolutional level at 28×28 costs several times a step of the GAN's MLPs. Level 0 trains with the
paper's SGD recipe; the convolutional levels with Adam (``configs/lapgan/overlays/refine_adam.yaml``: the
paper's SGD diverges at 28×28 on MNIST).

    zoo reproduce lapgan-mnist                     # results/lapgan-mnist.{json,md} and the chain figures
    zoo reproduce lapgan-mnist --resume --max-time 02:00:00
    zoo reproduce lapgan-mnist --quick             # tiny budget: checks the pipeline, not the numbers

Every run (the GAN, and each level of each LAPGAN) is a :class:`zoo.reproduce.runs.RowRun` in the
run store under ``lapgan-mnist/``: finished runs are read back, partial ones continued with ``--resume``.
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from zoo.errors import require
from zoo.provenance import RunStart
from zoo.reproduce.report import write_result_files
from zoo.reproduce.runs import CurveSpec, RowRun, RowState, config_path, portable_path, seed_run_folder
from zoo.reproduce.tables import Budget, Row

TABLE = "lapgan-mnist"
PROTOCOL = "gan2014"
LEVELS = 3
CONFIGS = {"gan": "configs/vanilla/mnist.yaml", "lapgan": "configs/lapgan/mnist.yaml", "cc-lapgan": "configs/lapgan/mnist_cc.yaml"}
ROWS = tuple(CONFIGS)
REFINE_OVERLAY = "configs/lapgan/overlays/refine_adam.yaml"  # the convolutional levels train with Adam (see the file)
PAPER = "Denton et al. (2015), Table 1, CIFAR-10 at 32×32: LAPGAN −1799 ± 826, GAN −3617 ± 353 nats (no MNIST row)"


@dataclass(frozen=True)
class MatchedBudget:
    """Epochs of the GAN and of each LAPGAN level (at most ``train_batches`` batches each), and what is scored."""

    gan_epochs: int
    level_epochs: int
    train_batches: int | None = None
    samples: int | None = None  # None: the protocol's 10,000
    test_points: int | None = None  # None: all 10,000 MNIST test images
    gan_curve_every: int = 5

    def __post_init__(self) -> None:
        require(self.gan_epochs == LEVELS * self.level_epochs,
                f"a matched budget gives each of the {LEVELS} levels a third of the GAN's epochs, got {self.gan_epochs} and {self.level_epochs}")


FULL = MatchedBudget(gan_epochs=30, level_epochs=10)
QUICK = MatchedBudget(gan_epochs=3, level_epochs=1, train_batches=2, samples=512, test_points=1000, gan_curve_every=3)


def runs_of(row: str, budget: MatchedBudget, folder: Path, seed: int) -> list[tuple[RowRun, Budget]]:
    """The runs that make a row: the GAN's one, or one per LAPGAN level."""
    quiet = ["--trainer.enable_progress_bar", "false"]
    if row == "gan":
        gan_budget = Budget(budget.gan_epochs, budget.train_batches)
        return [(RowRun(seed_run_folder(folder, "gan", seed), Row(row, CONFIGS[row], None, None, gan_budget), seed, quiet), gan_budget)]
    level_budget = Budget(budget.level_epochs, budget.train_batches)
    refine = ["--config", str(config_path(REFINE_OVERLAY))]
    return [(RowRun(seed_run_folder(folder, f"{row}-level{k}", seed), Row(f"{row} level {k}", CONFIGS[row], None, None, level_budget), seed,
                    ["--model.init_args.level", str(k), *(refine if k else []), *quiet]), level_budget) for k in range(LEVELS)]


def curve_of(row: str, budget: MatchedBudget) -> CurveSpec:
    if row == "gan":
        return CurveSpec(budget.gan_curve_every, PROTOCOL, budget.samples, budget.test_points)
    # A level run's curve scores that level's refinements of one batch's real coarse images: a cheap
    # check that it learns, not a likelihood of the LAPGAN, so it is kept small and left out of the table.
    return CurveSpec(budget.level_epochs, PROTOCOL, min(budget.samples or 2000, 2000), min(budget.test_points or 1000, 1000))


def score(checkpoint: Path, budget: MatchedBudget, seed: int) -> dict[str, Any]:
    """The harness's Parzen record of a checkpoint under ``gan2014``."""
    from zoo.checkpoints import load_run
    from zoo.eval.harness import evaluate

    model, data = load_run(checkpoint)
    record = evaluate(model, data, ["parzen"], num_samples=budget.samples, seed=seed,
                      protocol=PROTOCOL, max_test_points=budget.test_points)["parzen"]
    return {**record, "generator_steps": model.generator_steps}


def row_record(row: str, budget: MatchedBudget, states: list[RowState | None], folder: Path, seed: int, store: Path) -> dict[str, Any]:
    """One row of the result: its budget, training record and (once every run has a checkpoint) its score."""
    epochs = budget.gan_epochs if row == "gan" else budget.level_epochs
    entry: dict[str, Any] = {
        "name": row, "config": CONFIGS[row],
        "budget": {"runs": len(states), "epochs_per_run": epochs, "train_batches": budget.train_batches,
                   "rule": "equal total generator updates (GAN epochs = 3 × epochs per LAPGAN level, batch 100)"},
        "status": "not started" if None in states else ("complete" if all(s.complete for s in states) else "partial"),
        "trained_in": [s.segments if s else [] for s in states],
        "train_wall_time_s": round(sum(seg.get("wall_time_s", 0.0) for s in states if s for seg in s.segments), 1),
    }
    if None in states:
        return {**entry, "mean": None}
    checkpoint = states[0].checkpoint
    if row != "gan":
        from zoo.models.lapgan import LAPGAN

        checkpoint = LAPGAN.assemble([s.checkpoint for s in states], folder / f"{row}-seed{seed}.ckpt")
    scored = score(checkpoint, budget, seed)
    entry.update({key: scored[key] for key in ("mean", "stderr", "sigma", "generator_steps")})
    entry.update(std=scored["stderr"] * math.sqrt(scored["n_points"]), samples=scored["n_samples"], test_points=scored["n_points"])
    entry["checkpoint"] = portable_path(checkpoint, store)
    if row == "gan":
        entry["curve"] = states[0].curve
    return entry


def finding(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """LAPGAN's (and CC-LAPGAN's) difference from the GAN, in combined standard errors."""
    gan = rows["gan"]
    result: dict[str, Any] = {}
    for name, other in rows.items():
        if name == "gan":
            continue
        if gan["mean"] is None or other["mean"] is None:
            result[name] = None
            continue
        difference, spread = other["mean"] - gan["mean"], math.hypot(other["stderr"], gan["stderr"])
        verdict = "higher than the GAN" if difference > 2 * spread else "lower than the GAN" if difference < -2 * spread else "not distinguishable from the GAN"
        result[name] = {"minus_gan": difference, "stderr": spread, "verdict": f"{name} is {verdict} (2 standard errors)"}
    return result


def reproduce(budget: MatchedBudget, store: Path, out: Path, seed: int = 0, resume: bool = False, retrain: bool = False,
              deadline: float | None = None, require_clean: bool = False, quick: bool = False,
              rows: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Train (or continue) every run of ``rows`` (default :data:`ROWS`, the GAN first) until the budget
    or ``deadline``, then score every finished row."""
    names = rows or ROWS
    require(names[0] == "gan" and set(names) <= set(CONFIGS), f"rows must start with 'gan' and come from {list(CONFIGS)}, got {list(names)}")
    run = RunStart(require_clean=require_clean)
    folder = store / TABLE / ("quick" if quick else "full")
    states: dict[str, list[RowState | None]] = {}
    stopped = False
    for row in names:
        states[row] = []
        for row_run, row_budget in runs_of(row, budget, folder, seed):
            if not stopped:  # a run the deadline cut short leaves the later ones for --resume
                stopped = not row_run.train(row_budget, curve_of(row, budget), deadline, resume, retrain).complete
            states[row].append(row_run.state(row_budget))
    scored = {row: row_record(row, budget, states[row], folder, seed, store) for row in names}
    figures = {}
    for row in names[1:]:
        if scored[row]["mean"] is not None:
            figures[row] = write_chain(folder / f"{row}-seed{seed}.ckpt", out / f"{TABLE}-{row}-chain.png", row == "cc-lapgan")
    return {
        "table": TABLE, "quick": quick, "complete": all(r["status"] == "complete" for r in scored.values()),
        "title": "LAPGAN vs GAN on MNIST: Parzen log-likelihood of full-size samples (gan2014 protocol)",
        "citation": "Denton, Chintala, Szlam & Fergus, Deep Generative Image Models using a Laplacian Pyramid of Adversarial Networks, NeurIPS 2015",
        "paper": PAPER, "protocol": PROTOCOL, "budget": asdict(budget), "rows": scored, "finding": finding(scored),
        "figures": {name: path.name for name, path in figures.items()},
        "notes": ["The paper scores LAPGAN with a pyramid-aware Parzen estimate (its Appendix A); here every row is "
                  "scored the same way, by the gan2014 protocol on 28×28 samples, as the zoo scores every MNIST GAN.",
                  "std is the standard deviation of the per-test-point log-likelihoods (stderr × √n_points); sigma is the "
                  "Parzen bandwidth chosen on the validation images."],
        **run.provenance(seeds={"training": seed, "latents": seed}),
    }


def write_chain(checkpoint: Path, path: Path, by_class: bool) -> Path:
    import torch

    from zoo.checkpoints import load_gan
    from zoo.models.lapgan import chain_figure

    labels = torch.arange(10) if by_class else None
    return chain_figure(load_gan(checkpoint), path, n=10 if by_class else 6, labels=labels)


def markdown(record: dict[str, Any]) -> str:
    lines = [f"### {record['title']}{' (quick check, not a result)' if record['quick'] else ''}", "",
             f"Budget: {record['budget']['gan_epochs']} GAN epochs; {record['budget']['level_epochs']} epochs for each of the "
             f"{LEVELS} LAPGAN levels (equal total generator updates). Paper: {record['paper']}.", "",
             "| row | Parzen LL (nats) | σ | samples | G updates | training wall time | status |", "|---|---|---|---|---|---|---|"]
    for name, row in record["rows"].items():
        score = "—" if row["mean"] is None else f"{row['mean']:.1f} ± {row['stderr']:.1f}"
        sigma = "—" if row["mean"] is None else f"{row['sigma']:.3g}"
        lines.append(f"| {name} | {score} | {sigma} | {row.get('samples', '—')} | {row.get('generator_steps', '—')} | "
                     f"{row['train_wall_time_s']:.0f} s | {row['status']} |")
    lines += ["", *[f"- {value['verdict']}: {value['minus_gan']:+.1f} ± {value['stderr']:.1f} nats" for value in record["finding"].values() if value],
              "", f"Commit `{record['commit']}`; {record['device']}; wall time {record['wall_time_s']:.0f} s.",
              *[f"- {note}" for note in record["notes"]]]
    return "\n".join(lines) + "\n"


def run(quick: bool, store: Path, out: Path, seed: int = 0, resume: bool = False, retrain: bool = False,
        deadline: float | None = None, require_clean: bool = False) -> dict[str, Path]:
    """``zoo reproduce lapgan-mnist``: train what is missing, score, write the JSON, markdown and chain figures."""
    out.mkdir(parents=True, exist_ok=True)
    record = reproduce(QUICK if quick else FULL, store, out, seed, resume, retrain, deadline, require_clean, quick)
    paths = write_result_files(record, out, TABLE, markdown(record))
    print(markdown(record))
    if not record["complete"]:
        print(f"zoo reproduce: {TABLE} is not finished (time limit); run the same command with --resume to continue", file=sys.stderr)
    return {**paths, **{name: out / file for name, file in record["figures"].items()}}
