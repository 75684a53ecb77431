"""A reproduced Parzen table as JSON, markdown (paper and ours side by side) and a bar chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


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
        "| model | paper | ours | ours − real ceiling | G steps | budget | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in record["rows"]:
        budget = f"{row['budget']['max_epochs']} epochs" + (f" × {row['budget']['train_batches']} batches" if row["budget"]["train_batches"] else "")
        lines.append(
            f"| {row['name']} | {_cell(row['paper'])} | {_cell(row['ours'])} (σ={row['ours']['sigma']:.3g}) | "
            f"{row['minus_ceiling']:+.1f} | {row['ours']['generator_steps']} | {budget} | {row['verdict']} |"
        )
    ceiling = real["ceiling"]
    lines.append(f"| real data, first {ceiling['n_kernel_centres']} train images (ceiling) | — | {_cell(ceiling)} "
                 f"(σ={ceiling['sigma']:.3g}) | 0 | — | — | — |")
    if real["paper"]:
        lines.append(f"| {real['label']} (paper's row; ours below) | {_cell(real['paper'])} | — | — | — | — | — |")
    lines += ["", f"Real-data KDE rows under this protocol ({real.get('source', 'computed in this run')}):", "",
              "| centres | σ | log-likelihood |", "|---|---|---|"]
    lines += [f"| {v['variant']} ({v['n_kernel_centres']}) | {v['sigma']:.3g} | {_cell(v)} |" for v in real["all_variants"]]
    commit_note = f" ({record['commit_note']})" if record.get("commit_note") else ""
    lines += ["", f"Commit `{record['commit']}`{commit_note}; {record['device']}; seeds {record['seeds']}; "
                  f"wall time {record['wall_time_s']:.0f} s."]
    lines += [f"- {note}" for note in record.get("notes", [])]
    return "\n".join(lines) + "\n"


def bar_chart(record: dict[str, Any], path: Path) -> None:
    """Ours with error bars, the paper's values as markers, the real-data ceiling as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = record["rows"]
    names = [row["name"] for row in rows]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(rows) + 2), 4), dpi=110)
    positions = range(len(rows))
    ax.bar(positions, [r["ours"]["mean"] for r in rows], yerr=[r["ours"]["stderr"] for r in rows], color="tab:blue", label="ours")
    paper = [(i, r["paper"]) for i, r in enumerate(rows) if r["paper"]]
    if paper:
        ax.errorbar([i for i, _ in paper], [p["mean"] for _, p in paper], yerr=[p["stderr"] for _, p in paper],
                    fmt="D", color="tab:orange", label="paper")
    ceiling = record["real_data"]["ceiling"]
    ax.axhline(ceiling["mean"], color="black", linestyle="--", label=f"real data, {ceiling['n_kernel_centres']} centres")
    ax.set_xticks(list(positions), names, rotation=30, ha="right")
    ax.set_ylabel("Parzen log-likelihood (nats)")
    ax.set_title(record["table"] + (" (quick)" if record["quick"] else ""))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_report(record: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / record["table"]
    paths = {"json": stem.with_suffix(".json"), "markdown": stem.with_suffix(".md"), "chart": stem.with_suffix(".png")}
    paths["json"].write_text(json.dumps(record, indent=2, default=str))
    paths["markdown"].write_text(markdown(record))
    bar_chart(record, paths["chart"])
    return paths
