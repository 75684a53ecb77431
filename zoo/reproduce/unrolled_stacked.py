"""``zoo reproduce unrolled-stacked-mnist``: Metz et al. (2017), §3.3.1 and Table 2, on a CPU budget.

Every (D size, K) row trains ``configs/unrolled/stacked_mnist_d<quarter|half>_k<K>.yaml`` once per
seed, then reads the digit in each channel of generated samples with the zoo's MNIST classifier
(``zoo train-classifier mnist`` first) and reports modes covered out of 1000 and KL(model ‖ uniform)
(:mod:`zoo.eval.stacked_modes`). The paper's claim checked here is its trend: more unrolling steps
give more modes and a lower KL; its absolute numbers come from far longer training. Beside the
table, K = 1, 5 and 10 also train in the paper's first-order variant (``*_k<K>_first_order.yaml``),
to tell whether the second-order term is what collapses K = 1 here; the trend is checked on both
lines.

    zoo reproduce unrolled-stacked-mnist [--resume] [--quick]
    zoo reproduce unrolled-stacked-mnist-28 [--resume] [--quick]

The second table trains the same rows with the small 28×28 nets and recipe that PacGAN's authors
used to re-run Table 2 (``configs/unrolled/stacked_mnist28_*.yaml``), the setting nearest the
paper's that we know of; it has no first-order rows.

Run state lives in the run store (``$ZOO_RUNS``, else ``~/.cache/zoo/runs``) under
``unrolled-stacked-mnist/`` (``unrolled-stacked-mnist-28/``), as for ``unrolled-mixtures``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from zoo.provenance import REPO, RunStart
from zoo.reproduce.carry import CarriedRows, carried_seed_notes
from zoo.reproduce.report import write_result_files
from zoo.reproduce.step_runs import TRAIN_TIME_NOTE, StepBudget, seeds_by_row, summary, train_rows, training_time

TABLE = "unrolled-stacked-mnist"
D_SIZES = {"quarter": 0.25, "half": 0.5}
UNROLL_STEPS = (0, 1, 5, 10)
# The paper's first-order variant (§2.2) beside the table, as (D size, K): K = 1 at both sizes asks
# whether K = 1 collapses through the second-order term, G steering D's one Adam step; K = 5 and 10
# at ½ size ask the same of the ½-size K = 10 seeds that collapsed, and at ¼ size whether the
# first-order rows rise above K = 0 there too.
FIRST_ORDER_ROWS = (("quarter", 1), ("half", 1), ("half", 5), ("half", 10), ("quarter", 5), ("quarter", 10))
SCORE_SEED = 2017
FULL = StepBudget(generator_steps=2_000, trace_every=500, samples=25_600, seeds=(0, 1, 2))
QUICK = StepBudget(generator_steps=4, trace_every=2, samples=1_000, seeds=(0,))


Variant = tuple[str, int, bool]  # (D size, K, first order)


def variants(d_sizes: tuple[str, ...], unroll_steps: tuple[int, ...],
             first_order_rows: tuple[tuple[str, int], ...] = FIRST_ORDER_ROWS) -> list[Variant]:
    """The table's rows: every (D size, K), then the first-order rows."""
    return [(d, k, False) for d in d_sizes for k in unroll_steps] + \
        [(d, k, True) for d, k in first_order_rows if d in d_sizes and k in unroll_steps]


def row_name(d_size: str, steps: int, first_order: bool) -> str:
    """A row's name for --rows and its run folder's stem: ``half-k10``, ``half-k1-first-order``."""
    return f"{d_size}-k{steps}" + ("-first-order" if first_order else "")


@dataclass(frozen=True)
class StackedTable:
    """One Stacked MNIST table: the file stem of its configs, its full budget, its first-order rows."""

    name: str
    config_stem: str
    full: StepBudget
    first_order_rows: tuple[tuple[str, int], ...]
    nets: str  # which nets and budget, for the title and notes

    @property
    def row_names(self) -> tuple[str, ...]:
        """The rows' names, for --rows."""
        return tuple(row_name(*v) for v in variants(tuple(D_SIZES), UNROLL_STEPS, self.first_order_rows))


STACKED_TABLES = {
    TABLE: StackedTable(TABLE, "stacked_mnist", FULL, FIRST_ORDER_ROWS, "DCGAN nets at 32×32, G width 32, 2,000 generator steps"),
    # PacGAN's re-run trained 500,000 iterations; 10,000 generator steps is what a CPU affords.
    f"{TABLE}-28": StackedTable(f"{TABLE}-28", "stacked_mnist28",
                                StepBudget(generator_steps=10_000, trace_every=2_500, samples=25_600, seeds=(0, 1, 2)), (),
                                "PacGAN's 28×28 nets and recipe, 10,000 generator steps against its 500,000 iterations"),
}
ROW_NAMES = STACKED_TABLES[TABLE].row_names  # for --rows

# Table 2 of the paper as ../shared/papers/targets.md §5.3 transcribes it, every cell marked there as
# unverified: (modes mean, ±, KL mean, ±) per (D size, K). PacGAN's Table 3 reprints the same cells (5.91 for
# 5.911), a second source but not the paper. Leads to compare beside ours, not targets.
PAPER_UNVERIFIED = {
    ("quarter", 0): (30.6, 20.73, 5.99, 0.42), ("quarter", 1): (65.4, 34.75, 5.911, 0.14),
    ("quarter", 5): (236.4, 63.30, 4.67, 0.43), ("quarter", 10): (327.2, 74.67, 4.66, 0.46),
    ("half", 0): (628.0, 140.9, 2.58, 0.75), ("half", 1): (523.6, 55.77, 2.44, 0.26),
    ("half", 5): (732.0, 44.98, 1.66, 0.09), ("half", 10): (817.4, 37.91, 1.43, 0.12),
}


def d_size_name(value: float) -> str:
    """``quarter`` for 0.25: the name a result file stores D's width ratio under."""
    return {ratio: name for name, ratio in D_SIZES.items()}[value]


def config_path(d_size: str, steps: int, first_order: bool = False, stem: str = "stacked_mnist") -> Path:
    return REPO / "configs" / "unrolled" / f"{stem}_d{d_size}_k{steps}{'_first_order' if first_order else ''}.yaml"


def run_folder(runs: Path, d_size: str, steps: int, first_order: bool = False) -> Path:
    return runs / f"d{d_size}_k{steps}{'_first_order' if first_order else ''}"


@torch.no_grad()
def score(checkpoint: Path, n_samples: int) -> dict[str, Any]:
    """Modes covered and KL to uniform of ``n_samples`` samples from fixed codes."""
    from zoo.checkpoints import load_run
    from zoo.eval.classifier import load_mnist_classifier
    from zoo.eval.stacked_modes import count_stacked_modes

    classifier = load_mnist_classifier()
    model, data = load_run(checkpoint)
    codes = model.prior.sample(n_samples, generator=torch.Generator().manual_seed(SCORE_SEED))
    samples = torch.cat([model.generate(chunk, use_ema=False).cpu() for chunk in codes.split(1000)])
    counted = count_stacked_modes(samples, classifier, data.value_range)
    return {"generator_steps": model.generator_steps, **counted, "classifier_weights_sha256": classifier.metadata["weights_sha256"]}


def row(d_size: str, steps: int, first_order: bool, seeds: list[dict[str, Any]], stem: str = "stacked_mnist") -> dict[str, Any]:
    paper = None if first_order else dict(zip(("modes_covered", "modes_covered_pm", "kl_to_uniform", "kl_to_uniform_pm"),
                                              PAPER_UNVERIFIED[d_size, steps]))
    return {
        "d_size": D_SIZES[d_size], "unroll_steps": steps, "second_order": not first_order,
        "config": str(config_path(d_size, steps, first_order, stem).relative_to(REPO)),
        "generator_steps": seeds[0]["generator_steps"],
        **{key: summary([s[key] for s in seeds]) for key in ("modes_covered", "kl_to_uniform")},
        "paper_unverified": paper, "seeds": seeds,
    }


def _line_trend(line: list[dict[str, Any]]) -> dict[str, Any]:
    """Rows of one line, in order of K: their mean modes and KL, whether the modes rise and the KL
    falls with K, and whether every K = 10 seed covers more modes than every K = 0 seed (None
    without both rows)."""
    modes = [r["modes_covered"]["mean"] for r in line]
    kl = [r["kl_to_uniform"]["mean"] for r in line]
    by_k = {r["unroll_steps"]: r for r in line}
    separated = None
    if 0 in by_k and 10 in by_k:
        separated = (min(s["modes_covered"] for s in by_k[10]["seeds"])
                     > max(s["modes_covered"] for s in by_k[0]["seeds"]))
    return {"unroll_steps": list(by_k), "mean_modes": modes, "mean_kl": kl,
            "modes_rise_with_k": all(a <= b for a, b in zip(modes, modes[1:])),
            "kl_falls_with_k": all(a >= b for a, b in zip(kl, kl[1:])),
            "every_k10_seed_above_every_k0_seed": separated}


def trend(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per D size, the paper's claim (modes rise and KL falls as K grows) checked on the paper's line
    (``second_order``) and on the first-order rows (``first_order``, where trained); both lines
    start from the same K = 0 row."""
    checks = {}
    for size in sorted({r["d_size"] for r in rows}):
        ordered = sorted((r for r in rows if r["d_size"] == size), key=lambda r: r["unroll_steps"])
        lines = {"second_order": [r for r in ordered if r.get("second_order", True)],
                 "first_order": [r for r in ordered if r["unroll_steps"] == 0 or not r.get("second_order", True)]}
        checks[str(size)] = {name: _line_trend(line) for name, line in lines.items()
                             if any(r["unroll_steps"] > 0 for r in line) or name == "second_order"}
    return checks


def trend_lines(checks: dict[str, dict[str, Any]]) -> list[str]:
    """The trend as one markdown line per (D size, line)."""
    lines = []
    for size, by_line in checks.items():
        for name, line in by_line.items():
            ks = ", ".join(map(str, line["unroll_steps"]))
            modes = " → ".join(f"{m:.0f}" for m in line["mean_modes"])
            kl = " → ".join(f"{v:.2f}" for v in line["mean_kl"])
            lines.append(f"- D {size}, {name.replace('_', ' ')} (K = {ks}): modes {modes} (rise: {line['modes_rise_with_k']}); "
                         f"KL {kl} (falls: {line['kl_falls_with_k']}); every K = 10 seed above every K = 0 seed: "
                         f"{line['every_k10_seed_above_every_k0_seed']}")
    return lines


def reproduce(budget: StepBudget, runs: Path, resume: bool = False, retrain: bool = False,
              d_sizes: tuple[str, ...] = tuple(D_SIZES), unroll_steps: tuple[int, ...] = UNROLL_STEPS,
              require_clean: bool = False, deadline: float | None = None, rows: tuple[str, ...] | None = None,
              train: bool = True, carry: CarriedRows | None = None, table: StackedTable = STACKED_TABLES[TABLE]) -> dict[str, Any]:
    """Train and score every (D size, K) row of ``table`` (or those of ``rows``, named as in :data:`ROW_NAMES`),
    seed by seed, into ``runs`` until done or ``deadline`` (with ``train=False``, only read what
    finished, and take the seeds the store lacks from ``carry`` where it holds them); the
    JSON-able record of the finished rows."""
    run = RunStart(require_clean=require_clean)
    jobs = {variant: (config_path(*variant, table.config_stem), run_folder(runs, *variant))
            for variant in variants(d_sizes, unroll_steps, table.first_order_rows) if rows is None or row_name(*variant) in rows}
    carried = None if carry is None else (
        lambda config, seed: carry.step_seed(str(config.relative_to(REPO)), seed, asdict(budget)))
    finished, unfinished = train_rows(jobs, budget, score, resume, retrain, deadline, train, carried)
    rows = [row(*variant, seeds, table.config_stem) for variant, seeds in finished.items()]
    carried_lines = carried_seed_notes(rows, row_label) + classifier_note(rows)
    return {
        "table": table.name, "complete": not unfinished,
        "unfinished_rows": [f"D {d}, K = {k}{' (first order)' if first else ''}" for d, k, first in unfinished],
        "title": f"Metz et al. (2017), Unrolled GAN, §3.3.1 / Table 2: modes of Stacked MNIST (1000); {table.nets}",
        "citation": "Metz, Poole, Pfau & Sohl-Dickstein, Unrolled Generative Adversarial Networks, ICLR 2017",
        "paper": "Table 2: with D at 1/4 and at 1/2 of G's size, modes covered rise and KL falls as K goes 0, 1, 5, 10 "
                 "(the first-order rows are ours, outside the table and its trend)",
        "budget": asdict(budget), "rows": rows, "trend": trend(rows),
        "sample_counts": {"scored_per_seed": budget.samples},
        "notes": [*carried_lines, TRAIN_TIME_NOTE,
                  "a mode is covered with at least one sample; KL is Σ p log(1000 p) over the samples' mode histogram",
                  f"CPU budget ({table.nets}): compare the trend with the paper, not the numbers",
                  "paper_unverified: Table 2 as ../shared/papers/targets.md §5.3 transcribes it, every cell marked "
                  "unverified there (± as printed, likely a std over about 5 runs): leads, not targets"],
        **run.provenance(seeds={"training": list(budget.seeds), "scored_codes": SCORE_SEED}),
    }


def classifier_note(rows: list[dict[str, Any]]) -> list[str]:
    """A note when the seeds were scored by more than one MNIST classifier (mode counts shift with it)."""
    scored_by: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for r in rows:
        for s in r["seeds"]:
            name = (f"weights {s['classifier_weights_sha256']}" if "classifier_weights_sha256" in s
                    else f"file {s.get('classifier_sha256', 'unknown')} (a file hash, from before weights were hashed)")
            scored_by.setdefault(name, []).append((r, s))
    if len(scored_by) < 2:
        return []
    return ["scored by more than one MNIST classifier: "
            + "; ".join(f"{name}: {', '.join(seeds_by_row(pairs, row_label))}" for name, pairs in scored_by.items())]


def row_label(row: dict[str, Any]) -> str:
    return f"D {row['d_size']}, K = {row['unroll_steps']}{'' if row.get('second_order', True) else ' (first order)'}"


def markdown(record: dict[str, Any]) -> str:
    lines = [f"### {record['title']}", "", f"{record['budget']['generator_steps']} generator steps per run, seeds "
             f"{record['budget']['seeds']}, {record['sample_counts']['scored_per_seed']} samples scored per seed.", "",
             "| D size | K | modes covered (mean; per seed) | paper's modes (unverified) | KL to uniform (mean; per seed) "
             "| paper's KL (unverified) |", "|---|---|---|---|---|---|"]
    for r in record["rows"]:
        kl = ", ".join(f"{v:.2f}" for v in r["kl_to_uniform"]["per_seed"])
        paper = r["paper_unverified"]
        paper_modes, paper_kl = ("—", "—") if paper is None else (f"{paper['modes_covered']} ± {paper['modes_covered_pm']}",
                                                                  f"{paper['kl_to_uniform']} ± {paper['kl_to_uniform_pm']}")
        k = f"{r['unroll_steps']}{'' if r.get('second_order', True) else ', first order'}"
        lines.append(f"| {r['d_size']} | {k} | {r['modes_covered']['mean']:.1f}; {r['modes_covered']['per_seed']} | {paper_modes} | "
                     f"{r['kl_to_uniform']['mean']:.2f}; {kl} | {paper_kl} |")
    lines += ["", "Trend (means over seeds):", "", *trend_lines(record["trend"]), "", f"Commit `{record['commit']}`; {record['device']}; "
              f"{training_time(record['rows'], row_label)}; table assembled in {record['wall_time_s']:.0f} s.",
              *[f"- {note}" for note in record["notes"]]]
    if record["unfinished_rows"]:
        lines.append(f"- Not finished: {', '.join(record['unfinished_rows'])}; `--resume` trains them on.")
    return "\n".join(lines) + "\n"


FIGURE_SAMPLES = 36  # per panel, from the first seed's checkpoint


@torch.no_grad()
def figure(record: dict[str, Any], runs: Path, path: Path) -> None:
    """Modes and KL against K for each D size (ours per seed and mean, first-order rows as crosses;
    the paper's unverified cells dashed), and samples of K = 0 and of the largest K run, at the
    smallest D size run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from torchvision.utils import make_grid

    from zoo.checkpoints import load_run

    fig, axes = plt.subplots(1, 4, figsize=(16, 4.4))
    for size, colour in zip(sorted({r["d_size"] for r in record["rows"]}), ("tab:blue", "tab:orange")):
        line = sorted((r for r in record["rows"] if r["d_size"] == size and r.get("second_order", True)),
                      key=lambda r: r["unroll_steps"])
        first_order = [r for r in record["rows"] if r["d_size"] == size and not r.get("second_order", True)]
        ks = [r["unroll_steps"] for r in line]
        for axis, key in zip(axes[:2], ("modes_covered", "kl_to_uniform")):
            axis.plot(ks, [r[key]["mean"] for r in line], "o-", color=colour, label=f"ours, D {size}")
            if first_order:
                axis.scatter([r["unroll_steps"] for r in first_order], [r[key]["mean"] for r in first_order], marker="X",
                             s=70, color=colour, edgecolor="black", zorder=3, label=f"ours, first order, D {size}")
            for r in line:
                axis.scatter([r["unroll_steps"]] * len(r[key]["per_seed"]), r[key]["per_seed"], color=colour, s=10, alpha=0.5)
            axis.errorbar(ks, [r["paper_unverified"][key] for r in line], [r["paper_unverified"][f"{key}_pm"] for r in line],
                          fmt="s--", color=colour, alpha=0.5, capsize=3, label=f"paper (unverified), D {size}")
    for axis, label in zip(axes[:2], ("modes covered of 1000", "KL(model ‖ uniform)")):
        axis.set(xlabel="unrolling steps K", ylabel=label, xticks=list(UNROLL_STEPS))
    axes[0].legend(fontsize=7)
    def first_seed_checkpoint(r: dict[str, Any]) -> Path:
        folder = run_folder(runs, d_size_name(r["d_size"]), r["unroll_steps"], not r.get("second_order", True))
        return folder / f"seed{r['seeds'][0]['seed']}" / "checkpoints" / "last.ckpt"

    smallest = min(r["d_size"] for r in record["rows"])
    shown = sorted((r for r in record["rows"] if r["d_size"] == smallest and r.get("second_order", True)),
                   key=lambda r: r["unroll_steps"])
    shown = shown[:1] + shown[-1:] if len(shown) > 1 else shown
    if not all(first_seed_checkpoint(r).exists() for r in shown):  # carried-over seeds left their checkpoints elsewhere
        held = [r for r in record["rows"] if first_seed_checkpoint(r).exists()]
        shown = held[:1] + held[-1:] if len(held) > 1 else held
    for axis, r in zip(axes[2:], shown):
        model, data = load_run(first_seed_checkpoint(r))
        codes = model.prior.sample(FIGURE_SAMPLES, generator=torch.Generator().manual_seed(SCORE_SEED))
        low, high = data.value_range
        images = ((model.generate(codes, use_ema=False).cpu() - low) / (high - low)).clamp(0, 1)
        axis.imshow(make_grid(images, nrow=6, padding=1, pad_value=1.0).permute(1, 2, 0).numpy())
        axis.set_title(f"{row_label(r)}, seed {r['seeds'][0]['seed']}: {r['seeds'][0]['modes_covered']} modes", fontsize=9)
        axis.axis("off")
    for axis in axes[2 + min(2, len(shown)):]:
        axis.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(quick: bool, store: Path, resume: bool, retrain: bool, out: Path, require_clean: bool = False,
        deadline: float | None = None, rows: tuple[str, ...] | None = None, train: bool = True,
        seeds: tuple[int, ...] | None = None, carry: CarriedRows | None = None, table: str = TABLE) -> dict[str, Path]:
    """``zoo reproduce unrolled-stacked-mnist[-28]``: train what is missing, then write the JSON, markdown and figure."""
    setting = STACKED_TABLES[table]
    budget = (QUICK if quick else setting.full).for_seeds(seeds)
    runs = store / table / ("quick" if quick else "full")
    record = {**reproduce(budget, runs, resume, retrain, tuple(D_SIZES), UNROLL_STEPS, require_clean, deadline, rows, train, carry,
                          setting), "quick": quick}
    text = markdown(record)
    print(text)
    return write_result_files(record, out, table, text, (lambda png: figure(record, runs, png)) if record["rows"] else None)
