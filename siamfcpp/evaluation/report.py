"""Benchmark reports: the summary table, per-sequence tables and ``metrics.json``.

Every benchmark's ``run`` returns one result dict (also written as ``metrics.json``)::

    {"benchmark": "got10k", "subset": "val", "tracker": "siamfcpp_alexnet",
     "results_dir": "...", "num_sequences": 8, "num_frames": 480,
     "metrics": {"AO": 0.61, "SR.50": 0.72, "SR.75": 0.40, "FPS": 95.1},
     "sequences": [{"name": "...", "frames": 60, "AO": ..., "FPS": ...}, ...],
     "note": "...",            # optional, e.g. where test-split metrics come from
     "undefined": {"eao": "why"},  # optional: metrics that are None, and why
     "curves": {"success": {"x": [...], "y": [...], "xlabel": "...", "score": 0.6}}}  # optional

Each entry of ``curves`` is drawn as ``<name>_plot.png`` next to ``metrics.json`` (y axis:
the entry's ``ylabel``, by default ``<Name> rate``).

Metric names are those of the benchmarks' papers; overlaps and rates are fractions in 0..1.
FPS counts tracker time only (``init`` + ``update``), not image decoding: frames / seconds.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from siamfcpp.io.files import atomic_write_bytes, atomic_write_json, atomic_write_text


def fps(num_frames: int, seconds: float) -> float:
    """Frames per second of tracker time; 0 when nothing was timed."""
    return float(num_frames / seconds) if seconds > 0 else 0.0


def _fmt(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3f}"
    return str(value)


def sequence_table_rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and formatted rows of the per-sequence table."""
    rows = result.get("sequences", [])
    header: list[str] = []
    for row in rows:
        header += [k for k in row if k not in header]
    return header, [[_fmt(row.get(k, "")) for k in header] for row in rows]


def summary_table_rows(results: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the summary table, one row per result."""
    metric_names: list[str] = []
    for result in results:
        metric_names += [k for k in result["metrics"] if k not in metric_names]
    header = ["benchmark", "tracker", "sequences", "frames", *metric_names]
    rows = []
    for result in results:
        benchmark = result["benchmark"]
        if result.get("subset"):
            benchmark += f" ({result['subset']})"
        rows.append(
            [
                benchmark,
                str(result.get("tracker", "")),
                str(result.get("num_sequences", "")),
                str(result.get("num_frames", "")),
            ]
            + [_fmt(result["metrics"].get(k, "")) for k in metric_names]
        )
    return header, rows


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def print_summary(result: dict[str, Any]) -> None:
    """Print the summary table with rich (no colour codes when stdout is not a terminal)."""
    from rich.console import Console
    from rich.table import Table

    header, rows = summary_table_rows([result])
    table = Table(title=f"{result['benchmark']} results")
    for name in header:
        table.add_column(name, justify="left" if name in ("benchmark", "tracker") else "right")
    for row in rows:
        table.add_row(*row)
    console = Console(width=max(100, 14 * len(header)))
    console.print(table)
    if result.get("note"):
        console.print(result["note"])


def plot_curves(output_dir: Path, result: dict[str, Any]) -> None:
    """Draw each of ``result["curves"]`` as ``<output_dir>/<name>_plot.png``."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    for name, curve in result.get("curves", {}).items():
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot(curve["x"], curve["y"], label=f"{result['tracker']} [{curve['score']:.3f}]")
        ax.set(
            xlabel=curve["xlabel"],
            ylabel=curve.get("ylabel", f"{name.capitalize()} rate"),
            ylim=(0, 1),
            title=f"{name.capitalize()} plot: {result['benchmark']}",
        )
        ax.grid(True)
        ax.legend(loc="lower left" if name == "success" else "lower right")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
        plt.close(fig)
        atomic_write_bytes(Path(output_dir) / f"{name}_plot.png", buf.getvalue())


def write_report(output_dir: Path, result: dict[str, Any]) -> None:
    """Write ``metrics.json``, ``sequences.csv``, ``sequences.md`` and plots to ``output_dir``."""
    output_dir = Path(output_dir)
    header, _ = sequence_table_rows(result)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(result.get("sequences", []))
    atomic_write_text(output_dir / "sequences.csv", buf.getvalue())
    atomic_write_text(output_dir / "sequences.md", markdown_table(*sequence_table_rows(result)))
    plot_curves(output_dir, result)
    atomic_write_json(output_dir / "metrics.json", result)
