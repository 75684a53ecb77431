"""Every kind of ``zoo reproduce`` result file as comparison rows of one shape:

    {"name", "metric", "paper": {"mean", "stderr" | "std"} | None,
     "ours": {"mean", "stderr" | "std", "generator_steps"} | None, "verdict", "trend"?, "curve"?}

where ``metric`` names what the numbers are and what their ± is, and a ``curve`` is a list of
``{generator_steps, epoch?, mean, stderr?}``. The Parzen tables (GAN-2014, f-GAN) are written in this
shape already; the others are read here from their own fields, so that ``zoo compare --results``
sets any of them side by side.
"""

from __future__ import annotations

import math
import statistics
from typing import Any, Callable

Rows = list[dict[str, Any]]
PARZEN = "Parzen log-likelihood, nats (± stderr)"


def _mean_curve(curves: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per-seed curves averaged at the epochs every seed reached: mean and stderr over seeds."""
    common = set.intersection(*(set(p["epoch"] for p in curve) for curve in curves)) if curves else set()
    points = []
    for epoch in sorted(common):
        at = [next(p for p in curve if p["epoch"] == epoch) for curve in curves]
        values = [p["mean"] for p in at]
        point = {"epoch": epoch, "generator_steps": at[0].get("generator_steps"), "mean": statistics.fmean(values)}
        if len(values) > 1:
            point["stderr"] = statistics.stdev(values) / math.sqrt(len(values))
        points.append(point)
    return points


def improved_rows(record: dict[str, Any]) -> Rows:
    """Salimans et al.'s Table 1: test errors per label count, paper and ours as mean ± std over seeds."""
    rows = []
    for row in record["rows"]:
        curve = _mean_curve([seed["curve"] for seed in row["per_seed"] if seed.get("curve")])
        steps = curve[-1]["generator_steps"] if curve else None
        progress = f"{row['status']} ({row['epochs']} epochs)"  # files written before verdicts have none
        rows.append({
            "name": f"{row['labels']} labels", "metric": "test errors of 10,000 (± std over seeds)",
            "paper": None if row["paper_errors"] is None else {"mean": row["paper_errors"], "std": row["paper_errors_std"]},
            "ours": None if row["ours_errors"] is None else {"mean": row["ours_errors"], "std": row["ours_errors_std"],
                                                               "generator_steps": steps},
            "verdict": f"{row['verdict']}, {progress}" if row.get("verdict") else progress, "curve": curve,
        })
    return rows


def _mean_trace(seeds: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """A per-seed trace ({step: value}) averaged over seeds at the steps every seed traced."""
    traces = [seed[key] for seed in seeds]
    steps = sorted(set.intersection(*(set(map(int, trace)) for trace in traces))) if traces else []
    return [{"generator_steps": step, "mean": statistics.fmean(trace[str(step)] for trace in traces)} for step in steps]


def unrolled_mixture_rows(record: dict[str, Any]) -> Rows:
    """Metz et al.'s 2-D mixtures: modes covered per (mixture, K), and the high-quality fraction
    where the seeds traced it; each curve follows the traced samples."""
    rows = []
    for row in record["rows"]:
        name, quality = f"{row['mixture']}, K = {row['unroll_steps']}", row["high_quality_fraction"]["mean"]
        rows.append({
            "name": name, "metric": f"modes covered of {row['num_modes']} (mean over seeds)", "paper": None,
            "ours": {"mean": row["modes_covered"]["mean"], "generator_steps": row["generator_steps"]},
            "verdict": f"high-quality {quality:.2f}" if quality is not None else "",
            "curve": _mean_trace(row["seeds"], "trace_modes_covered"),
        })
        if quality is not None and all("trace_high_quality_fraction" in seed for seed in row["seeds"]):
            rows.append({
                "name": name, "metric": "high-quality fraction, within 3σ of a centre (mean over seeds)", "paper": None,
                "ours": {"mean": quality, "generator_steps": row["generator_steps"]}, "verdict": "",
                "curve": _mean_trace(row["seeds"], "trace_high_quality_fraction"),
            })
    return rows


def unrolled_stacked_rows(record: dict[str, Any]) -> Rows:
    """Metz et al.'s Table 2: Stacked MNIST modes per (D size, K), the paper's cells unverified."""
    rows = []
    for row in record["rows"]:
        paper = row.get("paper_unverified")
        rows.append({
            "name": f"D {row['d_size']}, K = {row['unroll_steps']}" + ("" if row.get("second_order", True) else " (first order)"),
            "metric": "modes of 1000 (paper: unverified, ± as printed)",
            "paper": None if paper is None else {"mean": paper["modes_covered"], "std": paper["modes_covered_pm"]},
            "ours": {"mean": row["modes_covered"]["mean"], "generator_steps": row["generator_steps"]},
            "verdict": f"KL {row['kl_to_uniform']['mean']:.2f}" if row["kl_to_uniform"]["mean"] is not None else "",
        })
    return rows


def improved_ablation_rows(record: dict[str, Any]) -> Rows:
    """The Table 3-style ablation: classifier FID per row (lower is better) and its curve."""
    return [{
        "name": row["name"], "metric": "classifier FID (lower is better)", "paper": None,
        "ours": None if not row.get("ours") else {"mean": row["ours"]["fid"], "generator_steps": row["ours"]["generator_steps"]},
        "verdict": row["status"], "curve": row.get("curve") or [],
    } for row in record["rows"]]


def lapgan_rows(record: dict[str, Any]) -> Rows:
    """Denton et al. on MNIST: the Parzen log-likelihood of each model at equal generator updates."""
    return [{
        "name": row["name"], "metric": PARZEN, "paper": None,
        "ours": None if row.get("mean") is None else {"mean": row["mean"], "stderr": row["stderr"],
                                                      "generator_steps": row["generator_steps"]},
        "verdict": row["status"], "curve": row.get("curve") or [],
    } for row in record["rows"].values()]


def fgan_table3_rows(record: dict[str, Any]) -> Rows:
    """Nowozin et al.'s Table 3 (1-D): the fitted Gaussian's μ̂ and σ̂ per divergence, beside the
    optimum θ* that the table computes (by quadrature, for its own mixture: not the paper's numbers)."""
    return [{
        "name": row["label"], "metric": f"fitted {symbol} of the Gaussian (verdict: the optimum {symbol}*)", "paper": None,
        "ours": {"mean": row[f"{key}_hat"], "generator_steps": record.get("steps")},
        "verdict": f"{symbol}* = {row[f'{key}_star']:.3f}",
    } for row in record["rows"] for key, symbol in (("mu", "μ"), ("sigma", "σ"))]


def unrolled_reconstruction_rows(record: dict[str, Any]) -> Rows:
    """Metz et al.'s Table 3: mean reconstruction MSE per K (lower is better) and the share of images
    each K reconstructs best; the paper's values are on CIFAR-10, so they stand in the verdict only."""
    return [{
        "name": f"K = {row['unroll_steps']}", "metric": "reconstruction MSE per pixel (± stderr; lower is better)",
        "paper": None,
        "ours": {"mean": row["mse"]["mean"], "stderr": row["mse"]["stderr"],
                 "generator_steps": row["checkpoints"][0]["generator_steps"]},
        "verdict": f"best on {row['percent_best']['mean']:.1f}% of images "
                   f"(paper, CIFAR-10: MSE {row['paper_cifar10']['mse']}, {row['paper_cifar10']['percent_best']}%)",
    } for row in record["rows"]]


ADAPTERS: dict[str, Callable[[dict[str, Any]], Rows]] = {
    "fgan-table3": fgan_table3_rows,
    "lapgan-mnist": lapgan_rows,
    "unrolled-reconstruction": unrolled_reconstruction_rows,
    "improved-gan-mnist": improved_rows,  # also improved-gan-mnist-softplus
    "improved-ablation": improved_ablation_rows,
    "unrolled-mixtures": unrolled_mixture_rows,
    "unrolled-stacked-mnist": unrolled_stacked_rows,
    "unrolled-stacked-mnist-28": unrolled_stacked_rows,
}


def adapter_for(table: str) -> Callable[[dict[str, Any]], Rows] | None:
    """The reader of a table's own result format, by the table's name (or a variant's: ``…-softplus``)."""
    return next((read for name, read in ADAPTERS.items() if table == name or table.startswith(f"{name}-")), None)
