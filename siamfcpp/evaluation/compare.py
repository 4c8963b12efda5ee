"""Compare trackers: several evaluation runs (or results folders) side by side.

    python compare.py runs=[outputs/evaluate/A,outputs/evaluate/B]
    python compare.py runs=[RUN,logs/VOT2018/siamfcpp_googlenet] benchmark=vot2018 \\
        benchmark.root=DIR           # a results folder without metrics.json is scored first

Each run is an ``evaluate.py`` run folder (its ``metrics.json``) or one tracker's results folder in
the benchmark's official layout, scored here as ``evaluate.py results=PATH`` does. All runs must be
scored on the same benchmark and the same sequences (a comparison of averages over different sets
would mislead). Writes, as pytracking's and pysot's analyses do:

* ``comparison.md`` / ``comparison.csv``: one row per run with the benchmark's metrics, best
  headline metric first (``EAO`` for VOT, ``AO`` for GOT-10k, ``Success`` otherwise);
* ``sequences.md``: the headline metric per sequence, one column per run;
* ``<curve>_plot.png``: every curve the runs hold (success and precision plots, the EAO curve),
  all runs on one plot, legend ``name [score]`` best first.

The results notebook (``notebooks/results_analysis.ipynb``) calls the same functions.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from siamfcpp.evaluation.datasets.base import Benchmark
from siamfcpp.evaluation.pipeline import score_results
from siamfcpp.evaluation.report import (
    METRICS_FILE,
    markdown_table,
    plot_curves,
    print_table,
    read_result,
    summary_table_rows,
)
from siamfcpp.io.files import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

HEADLINE_METRICS = ("EAO", "AO", "Success")


def load_run(path: str | Path, benchmark: Benchmark | None, scratch_dir: Path) -> dict[str, Any]:
    """The result dict of a run folder, or of a results folder scored with ``benchmark`` (its
    report written under ``scratch_dir``)."""
    path = Path(path).expanduser()
    if (path / METRICS_FILE).is_file():
        return read_result(path)
    if not path.is_dir():
        raise FileNotFoundError(f"runs: {path} is not a folder")
    if benchmark is None:
        raise ValueError(
            f"runs: {path} has no {METRICS_FILE} (not an evaluate.py run); to score it as a "
            "results folder pass benchmark=<name> benchmark.root=<data set>"
        )
    return score_results(benchmark, path, scratch_dir / path.name)


def headline_metric(result: dict[str, Any]) -> str | None:
    """The metric a benchmark ranks trackers by (None when it has none, e.g. a server split)."""
    return next((m for m in HEADLINE_METRICS if m in result["metrics"]), None)


def check_comparable(results: Sequence[dict[str, Any]], labels: Sequence[str]) -> None:
    """Refuse runs of different benchmarks, splits or sequence sets, naming the first mismatch."""
    first, first_label = results[0], labels[0]
    names = [row["name"] for row in first.get("sequences", [])]
    for result, label in zip(results[1:], labels[1:], strict=True):
        for key in ("benchmark", "subset"):
            if result.get(key) != first.get(key):
                raise ValueError(
                    f"{label} is a {key} {result.get(key)!r} run but {first_label} is "
                    f"{first.get(key)!r}: compare runs of one benchmark"
                )
        other = [row["name"] for row in result.get("sequences", [])]
        if sorted(other) != sorted(names):
            only = sorted(set(other) ^ set(names))
            raise ValueError(
                f"{label} was scored on {len(other)} sequences and {first_label} on {len(names)} "
                f"({len(only)} differ, e.g. {', '.join(only[:3])}): score both on the same "
                "sequences (benchmark.sequences=[...])"
            )


def unique_labels(results: Sequence[dict[str, Any]], names: Sequence[str] | None) -> list[str]:
    """Display names: ``names`` if given, else the tracker names (``#k`` added to repeats)."""
    if names is not None:
        if len(names) != len(results):
            raise ValueError(f"names: {len(names)} names for {len(results)} runs")
        return list(names)
    labels = [str(r.get("tracker", "run")) for r in results]
    return [
        f"{label}#{labels[:k].count(label) + 1}" if labels.count(label) > 1 else label
        for k, label in enumerate(labels)
    ]


def ranked(
    results: Sequence[dict[str, Any]], labels: Sequence[str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Results and labels ordered by the headline metric, best first."""
    metric = headline_metric(results[0])
    order = list(range(len(results)))
    if metric is not None:
        order.sort(key=lambda k: -(results[k]["metrics"].get(metric) or float("-inf")))
    return [results[k] for k in order], [labels[k] for k in order]


def comparison_rows(
    results: Sequence[dict[str, Any]], labels: Sequence[str]
) -> tuple[list[str], list[list[str]]]:
    """The side-by-side table: the summary table with the run labels as tracker names."""
    header, rows = summary_table_rows(results)
    column = header.index("tracker")
    for row, label in zip(rows, labels, strict=True):
        row[column] = label
    return header, rows


def sequence_rows(
    results: Sequence[dict[str, Any]], labels: Sequence[str]
) -> tuple[list[str], list[list[str]]]:
    """The headline metric (else the first metric) per sequence, one column per run."""
    sample = results[0].get("sequences", [{}])[0] if results[0].get("sequences") else {}
    metric = headline_metric(results[0])
    if metric not in sample:
        metric = next((k for k in sample if k in ("Accuracy", "Success", "AO")), None)
    if metric is None:
        return ["sequence"], []
    per_run = [{row["name"]: row.get(metric) for row in r["sequences"]} for r in results]
    header = ["sequence", *(f"{label} {metric}" for label in labels)]
    rows = [
        [name, *(f"{values[name]:.3f}" for values in per_run)]
        for name in (row["name"] for row in results[0]["sequences"])
    ]
    return header, rows


def compare(
    runs: Sequence[str | Path],
    output_dir: Path,
    benchmark: Benchmark | None = None,
    names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Load, check and compare ``runs``; write the tables and plots to ``output_dir`` (see the
    module docstring). Returns ``{"labels", "results", "header", "rows", "plots"}``, ranked."""
    if len(runs) < 1:
        raise ValueError("runs: give at least one run or results folder, runs=[A,B]")
    output_dir = Path(output_dir)
    results = [load_run(run, benchmark, output_dir / "scored") for run in runs]
    labels = unique_labels(results, names)
    check_comparable(results, labels)
    results, labels = ranked(results, labels)
    header, rows = comparison_rows(results, labels)
    atomic_write_text(output_dir / "comparison.md", markdown_table(header, rows))
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header, *rows])
    atomic_write_text(output_dir / "comparison.csv", buf.getvalue())
    atomic_write_text(output_dir / "sequences.md", markdown_table(*sequence_rows(results, labels)))
    plots = plot_curves(output_dir, results, labels)
    summary = {
        "runs": [str(r.get("results_dir", "")) for r in results],
        "labels": labels,
        "metrics": [r["metrics"] for r in results],
    }
    atomic_write_json(output_dir / "comparison.json", summary)
    print_table(header, rows, f"{results[0]['benchmark']}: {len(results)} runs")
    log.info("comparison of %d runs in %s", len(results), output_dir)
    return {"labels": labels, "results": results, "header": header, "rows": rows, "plots": plots}
