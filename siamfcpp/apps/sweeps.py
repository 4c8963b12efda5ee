"""Hyper-parameter sweeps (``conf/hparams_search/``): the objective the entry points return, the
study's storage folder and the summary of a finished sweep.

The Optuna sweeper launches one run per trial in ``<sweep dir>/<k>/`` and writes the best trial to
``<sweep dir>/optimization_results.yaml``. :class:`SweepSummary` is a Hydra callback
(``hydra.callbacks``) that creates the folder of a sqlite storage before the study opens it,
records each trial's objective (or why it failed) and overrides in ``<run dir>/sweep_trial.json``
(in the job's process, so any launcher works), and after the sweep prints every trial ranked by
the optimised metric and writes the same table to ``<sweep dir>/sweep_summary.md``.

Study names end with the fingerprint of the sweep's fixed settings
(``${siamfcpp.study_fingerprint:}``, :mod:`siamfcpp.io.fingerprint`): a sweep of another network,
checkpoint, benchmark or data set starts its own study instead of continuing one whose trials
measured something else. A trial whose metric is undefined (e.g. VOT's EAO when no run reaches the
EAO interval) fails with the reason (:class:`UndefinedObjective`); the sweeper records it as a
failed trial and goes on (``max_failure_rate: 1.0`` in ``conf/hparams_search/``).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from siamfcpp.evaluation.report import markdown_table, metric_name
from siamfcpp.io.files import atomic_write_json, atomic_write_text
from siamfcpp.io.run_dir import sweep_trial

log = logging.getLogger(__name__)

SUMMARY_FILE = "sweep_summary.md"
OPTUNA_RESULTS_FILE = "optimization_results.yaml"
TRIAL_FILE = "sweep_trial.json"


def sqlite_path(storage: str | None) -> Path | None:
    """The database file of a ``sqlite:///<path>`` storage URL; None for other storages."""
    if not storage:
        return None
    # imported here: only sweeps with a storage need SQLAlchemy, and every run imports this module
    from sqlalchemy.engine import make_url

    url = make_url(storage)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def collect_trials(sweep_dir: Path, metric: str, maximize: bool) -> list[dict[str, Any]]:
    """One row per run folder of ``sweep_dir`` (its ``sweep_trial.json``): ``trial``, the
    objective as ``metric`` (None for a failed run), ``error`` (why it failed), ``overrides``,
    ``run_dir``.

    Rows are sorted best first (highest if ``maximize`` else lowest), failed runs last.
    """
    rows = []
    for trial_file in Path(sweep_dir).glob(f"*/{TRIAL_FILE}"):
        if not trial_file.parent.name.isdigit():
            continue
        record = json.loads(trial_file.read_text())
        rows.append(
            {
                "trial": int(trial_file.parent.name),
                metric: record["value"],
                "error": record.get("error"),
                "overrides": [
                    o for o in record["overrides"] if not o.startswith("hparams_search=")
                ],
                "run_dir": str(trial_file.parent),
            }
        )
    sign = -1.0 if maximize else 1.0
    return sorted(
        rows, key=lambda row: (row[metric] is None, sign * (row[metric] or 0.0), row["trial"])
    )


def summary_markdown(rows: list[dict[str, Any]], metric: str, best: dict[str, Any] | None) -> str:
    """The trials table, with the sweeper's best parameters (the whole study's) above it."""
    lines = []
    if best is not None:
        params = ", ".join(f"{k}={v}" for k, v in best["best_params"].items())
        lines.append(f"Best {metric} of the study: {best['best_value']:.4f} with {params}\n")
    header = ["trial", metric, "overrides", "run_dir"]
    table_rows = [
        [
            str(row["trial"]),
            f"failed: {row.get('error') or 'no value'}"
            if row[metric] is None
            else f"{row[metric]:.4f}",
            " ".join(row["overrides"]),
            row["run_dir"],
        ]
        for row in rows
    ]
    lines.append(markdown_table(header, table_rows))
    return "\n".join(lines)


class UndefinedObjective(ValueError):
    """The optimised metric of a run is undefined (None or not finite); the message says why."""


def objective(cfg: DictConfig, result: dict[str, Any]) -> float | None:
    """The value of ``cfg.optimized_metric`` in ``result["metrics"]``, returned by the entry
    points to Hydra sweepers (None when unset). Older metric names (``eao``) are accepted.

    Raises:
        UndefinedObjective: in a sweep, when the metric is undefined (the reason from the
            result's ``undefined`` entry, else its value); outside a sweep that is only logged.
    """
    metric = cfg.get("optimized_metric")
    if not metric:
        return None
    metrics = result["metrics"]
    name = metric_name(metric)
    if name not in metrics:
        raise KeyError(f"optimized_metric={metric} is not one of {list(metrics)}")
    value = metrics[name]
    if value is not None and math.isfinite(value):
        return float(value)
    reason = result.get("undefined", {}).get(name) or f"its value is {value}"
    message = f"optimized_metric={metric} is undefined for this run: {reason}"
    if sweep_trial() is None:
        log.warning(message)
        return None
    raise UndefinedObjective(message)


class SweepSummary(Callback):
    """Hydra callback of the ``hparams_search`` configs (see the module docstring)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        database = sqlite_path(config.hydra.sweeper.get("storage"))
        if database is not None:
            database.parent.mkdir(parents=True, exist_ok=True)
            log.info("Optuna study %s in %s", config.hydra.sweeper.study_name, database)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        hydra_cfg = HydraConfig.get()
        if hydra_cfg.mode != RunMode.MULTIRUN:
            return
        value, error = None, None
        if job_return.status == JobStatus.COMPLETED and job_return.return_value is not None:
            value = float(job_return.return_value)
        elif job_return.status == JobStatus.FAILED:
            error = str(job_return._return_value)  # the exception (the property re-raises it)
        record = {"value": value, "error": error, "overrides": list(job_return.overrides or [])}
        atomic_write_json(Path(hydra_cfg.runtime.output_dir) / TRIAL_FILE, record)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        metric = config.get("optimized_metric")
        if not metric or not sweep_dir.is_dir():
            return
        results_file = sweep_dir / OPTUNA_RESULTS_FILE
        best = yaml.safe_load(results_file.read_text()) if results_file.is_file() else None
        maximize = config.hydra.sweeper.get("direction", "maximize") == "maximize"
        text = summary_markdown(collect_trials(sweep_dir, metric, maximize), metric, best)
        atomic_write_text(sweep_dir / SUMMARY_FILE, text)
        print(text)
        log.info("sweep summary: %s", sweep_dir / SUMMARY_FILE)
