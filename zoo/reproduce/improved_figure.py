"""The semi-supervised table's figure: each seed's test errors against epochs, beside the paper's band.

On a log scale, since what tells the runs apart happens late and low: a run that loses a class
flattens at two or three times the others' errors long before its last epoch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def seed_curves(record: dict[str, Any], path: Path, current_d_key: str) -> None:
    """Draw :func:`seed_curves_figure` into ``path``."""
    import matplotlib.pyplot as plt

    fig = seed_curves_figure(record, current_d_key)
    fig.savefig(path)
    plt.close(fig)


def seed_curves_figure(record: dict[str, Any], current_d_key: str) -> Any:
    """One panel per label count: every seed's curve (solid: the errors the table reports; dashed,
    where logged, the current D's beside its average's) and the paper's mean ± std as a band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = record["rows"]
    fig, axes = plt.subplots(1, len(rows), figsize=(6.4 * len(rows), 4.2), dpi=110, squeeze=False)
    for axis, row in zip(axes[0], rows):
        for index, seed in enumerate(row["per_seed"]):
            colour = f"C{index % 10}"
            curve = seed.get("curve") or []
            axis.plot([point["epoch"] for point in curve], [point["mean"] for point in curve], color=colour, linewidth=1.2,
                      label=f"seed {seed['seed']}: {seed['errors']:.0f} at epoch {seed['epochs']}")
            current = [(point["epoch"], point.get("also", {}).get(current_d_key)) for point in curve]
            current = [(epoch, value) for epoch, value in current if value is not None]
            if current and seed.get("errors_current_d") is not None:  # the table's errors are the average's
                axis.plot(*zip(*current), color=colour, linewidth=0.7, linestyle="--", alpha=0.7)
        if row["paper_errors"] is not None:
            low, high = row["paper_errors"] - row["paper_errors_std"], row["paper_errors"] + row["paper_errors_std"]
            axis.axhspan(low, high, color="grey", alpha=0.25, label=f"paper: {row['paper_errors']} ± {row['paper_errors_std']}")
        axis.set_yscale("log")
        axis.set_xlabel("epoch")
        axis.set_ylabel("test errors of 10,000")
        axis.set_title(f"{record['table']}, {row['labels']} labels" + (" (quick)" if record["quick"] else ""), fontsize=9)
        axis.grid(alpha=0.3, which="both")
        axis.legend(fontsize=7)
    fig.tight_layout()
    return fig
