"""Evaluation pipeline behind ``evaluate.py``: config -> network -> engine -> benchmark -> report.

Composed by Hydra from ``conf/evaluate.yaml``: ``cfg.model`` (group ``backbone``), ``cfg.tracker``,
``cfg.benchmark``, and the top-level keys ``checkpoint``, ``device``, ``seed``, ``output_dir``,
``batch_sequences``, ``devices``, ``tracker_name``, ``results``, ``overwrite`` and
``optimized_metric``.

With ``results=PATH`` nothing is tracked: the result files in ``PATH`` (one tracker's folder in the
benchmark's official layout, e.g. the original's raw results) are checked against the benchmark's
sequences and scored into the same report.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig

from siamfcpp.config import config_int
from siamfcpp.evaluation.datasets.base import Benchmark
from siamfcpp.evaluation.protocols import decode_workers_for
from siamfcpp.evaluation.report import print_summary, write_report
from siamfcpp.evaluation.sharding import run_sharded
from siamfcpp.io.run_dir import prepare_run_dir
from siamfcpp.model.build import build_model, resolve_device
from siamfcpp.tracking.engine import build_engine

log = logging.getLogger(__name__)


def default_tracker_name() -> str:
    """The experiment's name, else ``siamfcpp_<backbone>`` (+ ``-<tracker>`` if not the default)."""
    choices = HydraConfig.get().runtime.choices
    experiment = choices.get("experiment")
    if experiment and experiment != "null":
        return experiment
    name = f"siamfcpp_{choices.get('backbone')}"
    tracker = choices.get("tracker")
    return name if tracker == "siamfcpp" else f"{name}-{tracker}"


def score_results(benchmark: Benchmark, results: str | Path, output_dir: Path) -> dict[str, Any]:
    """Score a folder of result files that this run did not produce (see the module docstring);
    the report goes to ``output_dir``."""
    tracker_dir = Path(results).expanduser().resolve()
    log.info("scoring the results in %s on %s (nothing is tracked)", tracker_dir, benchmark.name)
    benchmark.check_results(tracker_dir)
    result = benchmark.score(tracker_dir, output_dir)
    write_report(output_dir, result)
    return result


def check_options(cfg: DictConfig) -> None:
    """Raise :class:`~siamfcpp.config.ConfigValueError` naming the first top-level option of
    ``evaluate.py`` outside its allowed range (the groups' values are checked where they are
    built)."""
    config_int("devices", cfg.devices, 1)
    config_int("batch_sequences", cfg.batch_sequences, 1)
    if cfg.decode_workers is not None:
        config_int("decode_workers", cfg.decode_workers, 0)


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Run ``cfg.benchmark`` with the configured tracker (or score ``cfg.results``); print and
    return its result dict."""
    check_options(cfg)
    output_dir = prepare_run_dir(cfg.output_dir, cfg, task="evaluate", restart=cfg.overwrite)
    benchmark = instantiate(cfg.benchmark)
    if cfg.get("results"):
        result = score_results(benchmark, cfg.results, output_dir)
    else:
        result = track_and_score(cfg, benchmark, output_dir)
    print_summary(result)
    log.info("metrics: %s", output_dir / "metrics.json")
    return result


def track_and_score(cfg: DictConfig, benchmark: Benchmark, output_dir: Path) -> dict[str, Any]:
    """Track ``benchmark`` with the configured network and tracker, then score it.

    With ``cfg.devices > 1`` the sequences are tracked by one process per device
    (:mod:`siamfcpp.evaluation.sharding`) and scored here, into the report a single process writes.
    """
    device = resolve_device(cfg.device)
    tracker_name = cfg.tracker_name or default_tracker_name()
    log.info("evaluating %s on %s, results in %s", tracker_name, benchmark.name, output_dir)
    if cfg.devices > 1:
        return run_sharded(cfg, benchmark, output_dir, tracker_name)
    model = build_model(cfg.model, cfg.checkpoint, cfg.seed)
    engine = build_engine(cfg.tracker, model, device, cfg.batch_sequences)
    workers = decode_workers_for(cfg.batch_sequences, requested=cfg.decode_workers)
    with torch.inference_mode():
        return benchmark.run(engine, output_dir, tracker_name, workers, cfg.gpu_decode)
