"""The comparison's outputs: a rich table on the terminal, the same table in markdown, a line plot."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from zoo.console import zoo_console


def print_table(title: str, columns: list[str], rows: list[list[str]], console: Console | None = None) -> None:
    table = Table(title=title)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i < 4 else "right")
    for row in rows:
        table.add_row(*row)
    (console or zoo_console()).print(table)


def markdown(title: str, columns: list[str], rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    return "\n".join([f"### {title}", "", line(columns), "|" + "---|" * len(columns), *map(line, rows)]) + "\n"


def plot_curves(curves: dict[str, list[tuple[float, ...]]], ylabel: str, title: str, path: Path,
                xlabel: str = "generator steps") -> None:
    """One line per curve of ``(x, y)`` or ``(x, y, stderr)`` points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for label, points in curves.items():
        x, y = [p[0] for p in points], [p[1] for p in points]
        (line,) = ax.plot(x, y, marker="o", markersize=3, label=label)
        if all(len(p) > 2 for p in points):
            ax.fill_between(x, [p[1] - p[2] for p in points], [p[1] + p[2] for p in points], color=line.get_color(), alpha=0.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
