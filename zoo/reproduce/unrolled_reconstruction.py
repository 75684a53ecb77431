"""``zoo reproduce unrolled-reconstruction``: Metz et al. (2017), §3.3.2, Table 3 and Figure 5, on
Stacked MNIST instead of the paper's CIFAR-10.

For one D size and each seed, the K ∈ {0, 1, 5, 10} generators that ``zoo reproduce
unrolled-stacked-mnist`` trained are inverted (:func:`zoo.latent.invert.invert`) on one fixed random
set of training images, with the same start codes and optimiser settings. Per K: the mean per-image
MSE ± its standard error, and the paper's "percent best rank": the share of images that K
reconstructs with the lowest MSE among the four models of the same seed. A generator that dropped
modes cannot reconstruct their images, so the paper's claim is that unrolling lowers the MSE and wins
most images. The figure shows the images whose K = 0 and K = 10 errors differ most.

    zoo reproduce unrolled-stacked-mnist [--quick]       # trains the checkpoints, first
    zoo reproduce unrolled-reconstruction [--quick] [--d-size half] [--seed 0] [--max-time HH:MM:SS]

Each model's inversion is kept in the run store as it finishes (``unrolled-reconstruction/``), so an
interrupted or time-limited run continues with the next model when run again; a checkpoint that
changed, or another budget or image set, is inverted anew (``--retrain`` inverts everything anew).

CIFAR-10 (the paper's data): ``configs/unrolled/cifar10_k*.yaml`` and ``zoo latent invert`` (see
their header).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from zoo.errors import ZooConfigError
from zoo.latent.kept import checkpoint_sha256, keep_inversion, read_kept_inversion
from zoo.provenance import REPO, RunStart, compute_device
from zoo.reproduce import unrolled_stacked
from zoo.reproduce.report import write_result_files
from zoo.reproduce.runs import portable_path

TABLE = "unrolled-reconstruction"
UNROLL_STEPS = (0, 1, 5, 10)
FIGURE_STEPS = (0, 10)


@dataclass(frozen=True)
class InvertBudget:
    """Training images inverted per model, and the latent search's Adam steps and learning rate."""

    images: int
    steps: int
    lr: float
    batch_size: int = 256


FULL = InvertBudget(images=1280, steps=1000, lr=0.01)  # 1280: the paper's count (Figure 5's caption)
QUICK = InvertBudget(images=16, steps=20, lr=0.01)
FIGURE_IMAGES = 8  # the paper's Figure 5 shows eight
# Table 3, CIFAR-10 (targets.md §5.4, [M-low]): mean MSE and percent best rank for K = 0, 1, 5, 10.
PAPER = {0: (0.0231, 0.63), 1: (0.0195, 22.97), 5: (0.0200, 15.31), 10: (0.0181, 61.09)}
TIE_RULE = "an image on which t models tie for the lowest MSE counts 1/t towards each of them"
FIGURE_RULE = "largest |MSE(K=0) − MSE(K=10)| / mean of the two, on the first seed's models"


def run_dir(runs: Path, d_size: str, steps: int, seed: int) -> Path:
    """A trained run's folder, as :func:`zoo.reproduce.unrolled_stacked.reproduce` lays it out."""
    return unrolled_stacked.run_folder(runs, d_size, steps) / f"seed{seed}"


def find_checkpoints(runs: Path, d_size: str, seeds: tuple[int, ...], quick: bool) -> dict[tuple[int, int], Path]:
    """``(seed, K) → last.ckpt`` of every finished run, or one line saying what to train first."""
    found, missing = {}, []
    for seed in seeds:
        for steps in UNROLL_STEPS:
            folder = run_dir(runs, d_size, steps, seed)
            if (folder / "result.json").is_file() and (folder / "checkpoints" / "last.ckpt").is_file():
                found[(seed, steps)] = folder / "checkpoints" / "last.ckpt"
            else:
                missing.append(f"{folder.parent.name}/{folder.name}")
    if missing:
        shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        raise ZooConfigError(f"no finished Unrolled GAN run for {shown} in {runs}: run `zoo reproduce "
                             f"unrolled-stacked-mnist{' --quick' if quick else ''}` first (same --runs)")
    return found


def percent_best(errors: Tensor) -> Tensor:
    """Percent of images (rows of ``errors``, one column per model) each model reconstructs best; ties share."""
    best = errors == errors.min(dim=1, keepdim=True).values
    return 100 * (best.double() / best.sum(1, keepdim=True)).sum(0) / len(errors)


def fractional_difference(a: Tensor, b: Tensor) -> Tensor:
    """|a − b| relative to their mean (0 where both are 0): symmetric in the two models."""
    mean = (a + b) / 2
    return torch.where(mean > 0, (a - b).abs() / mean.clamp_min(torch.finfo(mean.dtype).tiny), torch.zeros_like(mean))


def mse_summary(errors: Tensor) -> dict[str, Any]:
    n = len(errors)
    return {"mean": float(errors.mean()), "stderr": float(errors.std() / n**0.5) if n > 1 else None, "n": n}


def _load(checkpoint: Path, d_size: str, steps: int, device: torch.device) -> Any:
    from zoo.checkpoints import load_gan

    model = load_gan(checkpoint, map_location=device)
    saved = (model.hparams.get("unroll_steps"), model.hparams.get("d_size"))
    if saved != (steps, unrolled_stacked.D_SIZES[d_size]):
        raise ZooConfigError(f"{checkpoint} holds K = {saved[0]}, D size {saved[1]}, not K = {steps}, D size "
                             f"{unrolled_stacked.D_SIZES[d_size]}: retrain it with `zoo reproduce unrolled-stacked-mnist --retrain`")
    return model


def _training_images(checkpoints: dict[tuple[int, int], Path], count: int, seed: int) -> tuple[Tensor, str, tuple[float, float]]:
    """``count`` training images drawn from ``seed``, from the data every checkpoint trained on."""
    from zoo.checkpoints import load_datamodule, read_checkpoint
    from zoo.latent.invert import select_images

    def data_options(checkpoint: dict[str, Any]) -> dict[str, Any]:
        saved = (checkpoint.get("zoo") or {}).get("datamodule_hparams") or {}
        return {k: v for k, v in saved.items() if not k.startswith("_") and k not in ("data_root", "batch_size", "num_workers")}

    first, *others = checkpoints.values()
    first_checkpoint = read_checkpoint(first)
    first_options = data_options(first_checkpoint)
    for other in others:
        if data_options(read_checkpoint(other)) != first_options:
            raise ZooConfigError(f"{other} trained on other data than {first}: the models cannot be compared on the same images")
    datamodule = load_datamodule(first_checkpoint)
    images, source = select_images(datamodule, f"train:{count}", seed)
    return images, source, tuple(datamodule.value_range)


def reproduce(budget: InvertBudget, runs: Path, store: Path, d_size: str, seeds: tuple[int, ...], seed: int = 0,
              quick: bool = False, require_clean: bool = False, deadline: float | None = None,
              retrain: bool = False) -> tuple[dict[str, Any] | None, Tensor | None]:
    """Invert every (seed, K) model on the same images, reusing the inversions kept in
    ``store``; the JSON-able record and the figure's image rows, or ``(None, None)`` when ``deadline``
    (a UNIX time) comes before the last model."""
    from zoo.latent.invert import invert

    run = RunStart(require_clean=require_clean)
    checkpoints = find_checkpoints(runs, d_size, seeds, quick)
    images, source, value_range = _training_images(checkpoints, budget.images, seed)
    device = compute_device()
    cache_dir = store / TABLE / ("quick" if quick else "full") / f"d{d_size}"
    errors = torch.zeros(len(seeds), len(images), len(UNROLL_STEPS), dtype=torch.float64)
    shown: dict[int, Tensor] = {}
    saved, ema, seconds = {}, set(), []
    for s, train_seed in enumerate(seeds):
        for k, steps in enumerate(UNROLL_STEPS):
            checkpoint = checkpoints[(train_seed, steps)]
            model = _load(checkpoint, d_size, steps, device)
            identity = {"checkpoint_sha256": checkpoint_sha256(checkpoint), "budget": asdict(budget), "images": source,
                        "start_codes_seed": seed}
            cache = cache_dir / f"seed{train_seed}_k{steps}.pt"
            found = None if retrain else read_kept_inversion(cache, identity)
            if found is None:
                if deadline is not None and seconds and time.time() + max(seconds) > deadline:
                    return None, None  # the next model would overrun --max-time; those done are kept
                started = time.time()
                codes, mse = invert(model, images, budget.steps, budget.lr, seed, batch_size=budget.batch_size)
                found = {"codes": codes, "errors": mse, "wall_time_s": round(time.time() - started, 1), "commit": run.commit}
                seconds.append(found["wall_time_s"])
                keep_inversion(cache, identity, found)
            errors[s, :, k] = found["errors"].double()
            ema.add(model.ema is not None)
            saved[(train_seed, steps)] = {"generator_steps": model.generator_steps, "invert_wall_time_s": found["wall_time_s"],
                                          "inverted_at_commit": found.get("commit")}  # None: kept before commits were
            if s == 0 and steps in FIGURE_STEPS:
                shown[steps] = torch.cat([model.generate(chunk).cpu() for chunk in found["codes"].split(budget.batch_size)])
            print(f"D {d_size}, K = {steps}, seed {train_seed}: mean MSE {found['errors'].mean():.5f} over {len(images)} images")
    ranks = torch.stack([percent_best(errors[s]) for s in range(len(seeds))])
    rows = []
    for k, steps in enumerate(UNROLL_STEPS):
        rows.append({
            "unroll_steps": steps,
            "config": str(unrolled_stacked.config_path(d_size, steps).relative_to(REPO)),
            "mse": {**mse_summary(errors[:, :, k].flatten()),
                    "per_seed": [{"seed": t, **mse_summary(errors[s, :, k])} for s, t in enumerate(seeds)]},
            "percent_best": {"mean": float(ranks[:, k].mean()), "per_seed": [float(v) for v in ranks[:, k]]},
            "paper_cifar10": {"mse": PAPER[steps][0], "percent_best": PAPER[steps][1]},
            "checkpoints": [{"seed": t, "path": portable_path(checkpoints[(t, steps)], store), **saved[(t, steps)]}
                            for t in seeds],
        })
    first = errors[0]
    k0, k10 = (UNROLL_STEPS.index(steps) for steps in FIGURE_STEPS)
    difference = fractional_difference(first[:, k0], first[:, k10])
    picked = difference.argsort(descending=True)[:FIGURE_IMAGES]
    panels = torch.cat([images[picked], shown[FIGURE_STEPS[0]][picked], shown[FIGURE_STEPS[1]][picked]])
    mean = {r["unroll_steps"]: r["mse"]["mean"] for r in rows}
    best = {r["unroll_steps"]: r["percent_best"]["mean"] for r in rows}
    record = {
        "table": TABLE,
        "title": "Metz et al. (2017), Unrolled GAN, §3.3.2 / Table 3 and Figure 5: reconstructing training images",
        "citation": "Metz, Poole, Pfau & Sohl-Dickstein, Unrolled Generative Adversarial Networks, ICLR 2017",
        "paper": "Table 3 (CIFAR-10): unrolled models reconstruct 1280 random training images with a lower mean MSE, "
                 "and K = 10 reconstructs 61% of them best",
        "quick": quick, "d_size": unrolled_stacked.D_SIZES[d_size],
        "data": {"images": source, "n_images": len(images), "value_range": list(value_range),
                 "dataset": "the Stacked MNIST training split the checkpoints trained on"},
        "invert": {**asdict(budget), "optimiser": "Adam on z from one prior draw per image, best code kept",
                   "start_codes_seed": seed, "ema": sorted(ema),
                   "wall_time_s": round(sum(v["invert_wall_time_s"] for v in saved.values()), 1)},
        "tie_rule": TIE_RULE,
        "rows": rows,
        "finding": {"k10_mse_below_k0": mean[10] < mean[0], "k10_wins_more_than_k0": best[10] > best[0],
                    "lowest_mse_k": min(mean, key=mean.get)},
        "figure": {"rows": ["target", "K = 0", "K = 10"], "rule": FIGURE_RULE, "seed": seeds[0],
                   "images": [{"position": int(i), "mse_k0": float(first[i, k0]), "mse_k10": float(first[i, k10]),
                               "fractional_difference": float(difference[i])} for i in picked]},
        "notes": ["MSE is per pixel in data.value_range (the paper's scale for CIFAR-10 is not stated, so compare the "
                  "ordering of K, not the numbers); its stderr pools every (seed, image) pair",
                  "percent best rank compares the four models of the same seed on each image; per-seed values are averaged",
                  "the latent search is ours (the paper gives no details): see zoo/latent/invert.py"],
        **run.provenance(seeds={"training": list(seeds), "images_and_start_codes": seed}, device=device),
    }
    return record, panels


def markdown(record: dict[str, Any]) -> str:
    lines = [f"### {record['title']}{' (quick check, not a result)' if record['quick'] else ''}", "",
             f"D at {record['d_size']} of G's size; {record['data']['n_images']} training images ({record['data']['images']}); "
             f"latent search: {record['invert']['steps']} Adam steps at lr {record['invert']['lr']}.", "",
             "| K | mean MSE ± stderr | per seed | percent best rank (per seed) | paper (CIFAR-10): MSE, % best |",
             "|---|---|---|---|---|"]
    for r in record["rows"]:
        stderr = r["mse"]["stderr"]
        per_seed = ", ".join(f"{s['mean']:.4f}" for s in r["mse"]["per_seed"])
        ranks = ", ".join(f"{v:.1f}" for v in r["percent_best"]["per_seed"])
        lines.append(f"| {r['unroll_steps']} | {r['mse']['mean']:.4f} ± {0.0 if stderr is None else stderr:.4f} | {per_seed} | "
                     f"{r['percent_best']['mean']:.1f}% ({ranks}) | {r['paper_cifar10']['mse']}, {r['paper_cifar10']['percent_best']}% |")
    shown = ", ".join(f"{i['mse_k0']:.4f} → {i['mse_k10']:.4f}" for i in record["figure"]["images"])
    lines += ["", f"Finding: {record['finding']}", "", f"Ties: {record['tie_rule']}.", "",
              f"Figure ({result_name(record['d_size'])}.png): rows {', '.join(record['figure']['rows'])}; images chosen by {record['figure']['rule']}. "
              f"MSE K = 0 → K = 10: {shown}.", "",
              f"Commit `{record['commit']}`; {record['device']}; inversion time {record['invert']['wall_time_s']:.0f} s "
              f"over every model (this invocation: {record['wall_time_s']:.0f} s).",
              *[f"- {note}" for note in record["notes"]]]
    return "\n".join(lines) + "\n"


def draw_figure(record: dict[str, Any], panels: Tensor, png: Path) -> None:
    """Figure 5's layout: a row of targets over each K's reconstructions, every one with its MSE."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = record["figure"]
    columns, low, high = len(figure["images"]), *record["data"]["value_range"]
    fig, axes = plt.subplots(len(figure["rows"]), columns, figsize=(1.1 * columns + 0.8, 1.25 * len(figure["rows"])),
                             dpi=120, squeeze=False)
    for index, axis in enumerate(axes.flat):
        row, column = divmod(index, columns)
        image = ((panels[index].float().cpu() - low) / (high - low)).clamp(0, 1)
        axis.imshow(image.permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray", vmin=0, vmax=1)
        axis.set_xticks([]), axis.set_yticks([])
        if row > 0:
            steps = FIGURE_STEPS[row - 1]
            axis.set_xlabel(f"{figure['images'][column][f'mse_k{steps}']:.3f}", fontsize=7)
        if column == 0:
            axis.set_ylabel(figure["rows"][row], fontsize=8)
    fig.suptitle(f"Reconstructions where K = {FIGURE_STEPS[0]} and K = {FIGURE_STEPS[1]} differ most "
                 f"(seed {figure['seed']}; per-pixel MSE below)", fontsize=8)
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)


def result_name(d_size: float) -> str:
    """The result files' stem: ``unrolled-reconstruction`` at ¼-size D (the first one run), with the
    size appended otherwise, so that the tables of both sizes stand side by side in results/."""
    name = unrolled_stacked.d_size_name(d_size)
    return TABLE if name == "quarter" else f"{TABLE}-d{name}"


def write_outputs(record: dict[str, Any], panels: Tensor, out: Path) -> dict[str, Path]:
    return write_result_files(record, out, result_name(record["d_size"]), markdown(record),
                              lambda png: draw_figure(record, panels, png))


def run(quick: bool, store: Path, out: Path, d_size: str = "quarter", seed: int = 0, require_clean: bool = False,
        deadline: float | None = None, retrain: bool = False) -> dict[str, Path]:
    """``zoo reproduce unrolled-reconstruction``: invert the trained checkpoints, then write the JSON,
    markdown and figure (nothing, when ``deadline`` stops it first: run it again to go on)."""
    if d_size not in unrolled_stacked.D_SIZES:
        raise ZooConfigError(f"--d-size must be one of {', '.join(unrolled_stacked.D_SIZES)}, got {d_size!r}")
    stacked_budget = unrolled_stacked.QUICK if quick else unrolled_stacked.FULL
    runs = store / unrolled_stacked.TABLE / ("quick" if quick else "full")
    record, panels = reproduce(QUICK if quick else FULL, runs, store, d_size, stacked_budget.seeds, seed, quick, require_clean,
                               deadline, retrain)
    if record is None:
        return {}
    print(markdown(record))
    return write_outputs(record, panels, out)
