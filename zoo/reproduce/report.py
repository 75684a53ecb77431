"""A reproduced table's files (:func:`write_result_files`), and the Parzen tables' markdown (paper and
ours side by side) and bar chart."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo.reproduce.carry import carried_row_notes


def write_result_files(record: dict[str, Any], out_dir: Path, stem: str, text: str,
                       draw: Callable[[Path], None] | None = None) -> dict[str, Path]:
    """``<stem>.json`` (strict JSON: a NaN fails here, not in a reader), ``<stem>.md`` holding ``text``,
    and ``<stem>.png`` when ``draw`` draws one; their paths by suffix."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {suffix: out_dir / f"{stem}.{suffix}" for suffix in ("json", "md", *(("png",) if draw else ()))}
    paths["json"].write_text(json.dumps(record, indent=2, allow_nan=False, default=str) + "\n")
    paths["md"].write_text(text)
    if draw is not None:
        draw(paths["png"])
    return paths


def curve_trend(curve: list[dict[str, Any]], key: str = "mean") -> dict[str, Any]:
    """Where a learning curve is heading, read from its later half: that half's second part against
    its first. ``direction`` is "rising" or "falling" when the shift of their means exceeds both the
    spread (population std) of the later half's points and twice their mean standard error (where
    points carry one), else "flat"; with fewer than 4 points in the later half it is "too short to
    tell". ``per_doubling`` is the later half's least-squares gain per doubling of generator steps (or
    of epochs, for curves without steps): a curve that rises as log(steps) gains that much again
    over as many steps as it has trained, the figure to size a raised budget by."""
    later_half = curve[len(curve) // 2:]
    late = [point[key] for point in later_half]
    if len(late) < 4:
        return {"direction": "too short to tell", "points": len(late)}
    first, second = late[: len(late) // 2], late[len(late) // 2:]
    shift, spread = statistics.fmean(second) - statistics.fmean(first), statistics.pstdev(late)
    noise = 2 * statistics.fmean(point.get("stderr") or 0.0 for point in later_half)
    direction = "flat" if abs(shift) <= max(spread, noise) else ("rising" if shift > 0 else "falling")
    return {"direction": direction, "shift": shift, "spread": spread, "points": len(late),
            "since_generator_step": later_half[0].get("generator_steps"), "per_doubling": _gain_per_doubling(later_half, key)}


def _gain_per_doubling(points: list[dict[str, Any]], key: str) -> float | None:
    """The slope of ``key`` against log2 of the points' generator steps (or epochs); None where a
    point has neither, or they do not vary."""
    for x_key in ("generator_steps", "epoch"):
        if all((point.get(x_key) or 0) > 0 for point in points):
            x = [math.log2(point[x_key]) for point in points]
            break
    else:
        return None
    if len(set(x)) < 2:
        return None
    return statistics.linear_regression(x, [point[key] for point in points]).slope


def segment_epochs(segment: dict[str, Any]) -> tuple[int, int]:
    """The epochs one training session took a run through. A session a signal stopped mid-epoch
    counts none in ``epochs`` (the run's finished epochs stay those of its last clean end); its
    checkpoint's finished epochs say how far it got."""
    start, end = segment["epochs"]
    return start, max(end, segment.get("epochs_finished", end)) if segment.get("interrupted") else end


def _ending(segment: dict[str, Any]) -> str:
    if segment.get("killed"):
        return " (killed; recorded when the run went on)"
    return " (interrupted)" if segment.get("interrupted") else ""


def describe_trend(trend: dict[str, Any]) -> str:
    """``trend`` in words, e.g. "rising (+36.8 against a spread of 21.0)"."""
    if "shift" not in trend:
        return trend["direction"]
    pace = f"; {trend['per_doubling']:+.1f} per doubling of training" if trend.get("per_doubling") is not None \
        and trend["direction"] != "flat" else ""
    return f"{trend['direction']} ({trend['shift']:+.1f} against a spread of {trend['spread']:.1f}{pace})"


def _cell(value: dict | None) -> str:
    return "—" if value is None else f"{value['mean']:.1f} ± {value['stderr']:.1f}"


def markdown(record: dict[str, Any]) -> str:
    """The table with the paper's numbers and ours side by side, and the real-data rows."""
    real = record["real_data"]
    lines = [
        f"### {record['title']}{' (quick check, not a result)' if record['quick'] else ''}",
        "",
        f"Protocol `{record['protocol']['name']}`: {record['sample_counts']['generated_per_row']} samples per row; σ chosen on "
        f"{record['protocol']['validation']}; test: {record['protocol']['test']}.",
        "",
        "| model | paper | ours | ours − real ceiling | G steps | budget | verdict | curve |",
        "|---|---|---|---|---|---|---|---|",
    ]
    table_seed = record["seeds"]["training"]
    for row in record["rows"]:
        if row.get("seed", table_seed) != table_seed:  # e.g. f-GAN's Jensen-Shannon row (zoo.reproduce.tables)
            row = {**row, "name": f"{row['name']} (seed {row['seed']})"}
        budget = f"{row['budget']['max_epochs']} epochs" + (f" × {row['budget']['train_batches']} batches" if row["budget"]["train_batches"] else "")
        if row["ours"] is None:
            lines.append(f"| {row['name']} | {_cell(row['paper'])} | — | — | — | {budget} | {row['verdict']} | — |")
            continue
        lines.append(
            f"| {row['name']} | {_cell(row['paper'])} | {_cell(row['ours'])} (σ={row['ours']['sigma']:.3g}) | "
            f"{row['minus_ceiling']:+.1f} | {row['ours']['generator_steps']} ({row['ours']['epochs']} epochs) | {budget} | {row['verdict']} | "
            f"{describe_trend(row['trend']) if 'trend' in row else '—'} |"
        )
    ceiling = real["ceiling"]
    lines.append(f"| real data, first {ceiling['n_kernel_centres']} train images (ceiling) | — | {_cell(ceiling)} "
                 f"(σ={ceiling['sigma']:.3g}) | 0 | — | — | — | — |")
    if real["paper"]:
        lines.append(f"| {real['label']} (paper's row; ours below) | {_cell(real['paper'])} | — | — | — | — | — | — |")
    lines += ["", f"Real-data KDE rows under this protocol ({real.get('source', 'computed in this run')}):", "",
              "| centres | σ | log-likelihood |", "|---|---|---|"]
    lines += [f"| {v['variant']} ({v['n_kernel_centres']}) | {v['sigma']:.3g} | {_cell(v)} |" for v in real["all_variants"]]
    curves = [row for row in record["rows"] if row.get("curve")]
    if curves:
        lines += ["", "Learning curves (Parzen log-likelihood at generator steps):", ""]
        for row in curves:
            points = ", ".join(f"{p['mean']:.1f} @ {p['generator_steps']}" for p in row["curve"])
            lines.append(f"- {row['name']}: {points}")
    lines += ["", f"Scored at commit `{record['commit']}`; {record['device']}; seeds {record['seeds']}; "
                  f"wall time {record['wall_time_s']:.0f} s."]
    for row in record["rows"]:
        for segment in row.get("trained_in", []):
            start, end = segment_epochs(segment)
            lines.append(f"- {row['name']}: epochs {start}–{end} trained at commit "
                         f"`{segment['commit']}`{' on ' + segment['device'] if 'device' in segment else ''} in {segment['wall_time_s']:.0f} s{_ending(segment)}")
    lines += [f"- {note}" for note in carried_row_notes(record["rows"])]
    lines += [f"- {note}" for note in record.get("notes", [])]
    return "\n".join(lines) + "\n"


def bar_chart(record: dict[str, Any], path: Path) -> None:
    """Left: ours with error bars beside the paper's values and the real-data ceiling.
    Right: each row's learning curve against generator steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = record["rows"]
    ceiling = record["real_data"]["ceiling"]
    fig, (bars, curves) = plt.subplots(1, 2, figsize=(max(4.0, 1.1 * len(rows) + 2) + 5, 4.2), dpi=110)
    positions = list(range(len(rows)))
    scored = [(i, r["ours"]) for i, r in enumerate(rows) if r["ours"]]
    bars.bar([i for i, _ in scored], [o["mean"] for _, o in scored], yerr=[o["stderr"] for _, o in scored], color="tab:blue", label="ours")
    paper = [(i, r["paper"]) for i, r in enumerate(rows) if r["paper"]]
    if paper:
        bars.errorbar([i for i, _ in paper], [p["mean"] for _, p in paper], yerr=[p["stderr"] for _, p in paper],
                      fmt="D", color="tab:orange", label="paper")
    bars.axhline(ceiling["mean"], color="black", linestyle="--", label=f"real data, {ceiling['n_kernel_centres']} centres")
    bars.set_xticks(positions, [r["name"] for r in rows], rotation=30, ha="right", fontsize=7)
    bars.set_ylabel("Parzen log-likelihood (nats)")
    bars.set_title(record["table"] + (" (quick)" if record["quick"] else ""))
    bars.legend(fontsize=7)
    for row in rows:
        if row.get("curve"):
            steps = [p["generator_steps"] for p in row["curve"]]
            curves.errorbar(steps, [p["mean"] for p in row["curve"]], yerr=[p.get("stderr", 0) for p in row["curve"]],
                            marker="o", markersize=3, label=row["name"])
    curves.axhline(ceiling["mean"], color="black", linestyle="--", linewidth=1)
    curves.set_xlabel("generator steps")
    curves.set_title("learning curves")
    if any(row.get("curve") for row in rows):
        curves.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_report(record: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    return write_result_files(record, out_dir, record["table"], markdown(record), lambda png: bar_chart(record, png))
