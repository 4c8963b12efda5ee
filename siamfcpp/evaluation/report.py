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
the entry's ``ylabel``, by default ``<Name> rate``); :mod:`siamfcpp.evaluation.compare` draws the
same figures with several runs on each.

Metric names are those of the benchmarks' papers, capitalised as their tables print them, for every
benchmark and in every file: ``AO``, ``SR.50``, ``SR.75`` (GOT-10k), ``Success``, ``Precision``,
``Norm. Precision`` (one-pass benchmarks), ``Accuracy``, ``Robustness``, ``EAO``, ``Failures``
(VOT) and ``FPS``. Files written before this convention (lower-case VOT names and ``fps``) are
read with :func:`read_result`, which renames them (:data:`METRIC_ALIASES`). Overlaps and rates are
fractions in 0..1. FPS counts tracker time only (``init`` + ``update``), not image decoding:
frames / seconds.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from siamfcpp.io.files import atomic_write_bytes, atomic_write_json, atomic_write_text

METRICS_FILE = "metrics.json"
# metric names of older metrics.json files -> the current names
METRIC_ALIASES = {
    "accuracy": "Accuracy",
    "robustness": "Robustness",
    "eao": "EAO",
    "failures": "Failures",
    "fps": "FPS",
}


def metric_name(name: str) -> str:
    """The current name of a metric (``eao`` -> ``EAO``; current names are returned as is)."""
    return METRIC_ALIASES.get(name, name)


def _renamed(values: Mapping[str, Any]) -> dict[str, Any]:
    return {metric_name(k): v for k, v in values.items()}


def read_result(path: str | Path) -> dict[str, Any]:
    """A run's result dict from its folder (or its ``metrics.json``), old metric names renamed."""
    path = Path(path).expanduser()
    file = path / METRICS_FILE if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"{file} does not exist: not an evaluate.py run folder")
    result = json.loads(file.read_text())
    result["metrics"] = _renamed(result.get("metrics", {}))
    result["sequences"] = [_renamed(row) for row in result.get("sequences", [])]
    return result


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


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]], title: str) -> None:
    """Print a table with rich (no colour codes when stdout is not a terminal)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for name in header:
        table.add_column(name, justify="left" if name in ("benchmark", "tracker") else "right")
    for row in rows:
        table.add_row(*row)
    Console(width=max(100, 14 * len(header))).print(table)


def print_summary(result: dict[str, Any]) -> None:
    """Print the summary table of one result, and its note."""
    header, rows = summary_table_rows([result])
    print_table(header, rows, f"{result['benchmark']} results")
    if result.get("note"):
        print(result["note"])


def curve_figure(name: str, results: Sequence[dict[str, Any]], labels: Sequence[str]):
    """A matplotlib figure of curve ``name`` of every result (one line each, legend
    ``label [score]`` best first; VOT's EAO interval shaded)."""
    import matplotlib.pyplot as plt

    curves = [(r["curves"][name], label) for r, label in zip(results, labels, strict=True)]
    curves.sort(key=lambda c: -np.nan_to_num(c[0]["score"], nan=-np.inf))
    first = curves[0][0]
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for curve, label in curves:
        ax.plot(curve["x"], curve["y"], label=f"{label} [{curve['score']:.3f}]")
    interval = results[0].get("eao_interval")
    if name == "eao" and interval:
        ax.axvspan(
            *interval, color="0.9", zorder=0, label=f"EAO interval {interval[0]}-{interval[1]}"
        )
    ax.set(
        xlabel=first["xlabel"],
        ylabel=first.get("ylabel", f"{name.capitalize()} rate"),
        ylim=(0, 1),
        title=f"{name.capitalize()} plot: {results[0]['benchmark']}",
    )
    ax.grid(True)
    ax.legend(loc="lower left" if name == "success" else "lower right", fontsize="small")
    return fig


def plot_curves(
    output_dir: Path, results: Sequence[dict[str, Any]], labels: Sequence[str] | None = None
) -> list[Path]:
    """Draw each curve that every result holds as ``<output_dir>/<name>_plot.png`` (all results
    on one plot; labels default to the tracker names). Returns the files written."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    labels = labels or [r["tracker"] for r in results]
    names = [
        n for n in results[0].get("curves", {}) if all(n in r.get("curves", {}) for r in results)
    ]
    paths = []
    for name in names:
        fig = curve_figure(name, results, labels)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
        plt.close(fig)
        paths.append(Path(output_dir) / f"{name}_plot.png")
        atomic_write_bytes(paths[-1], buf.getvalue())
    return paths


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
    plot_curves(output_dir, [result])
    atomic_write_json(output_dir / METRICS_FILE, result)
