"""Evaluation pipeline behind ``evaluate.py``: config -> network -> engine -> benchmark -> report.

Composed by Hydra from ``conf/evaluate.yaml``: ``cfg.model`` (group ``backbone``), ``cfg.tracker``,
``cfg.benchmark``, and the top-level keys ``checkpoint``, ``device``, ``seed``, ``output_dir``,
``batch_sequences``, ``devices``, ``tracker_name`` and ``optimized_metric``.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig

from siamfcpp.evaluation.protocols import decode_workers_for
from siamfcpp.evaluation.report import print_summary
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


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Run ``cfg.benchmark`` with the configured tracker; print and return its result dict.

    With ``cfg.devices > 1`` the sequences are tracked by one process per device
    (:mod:`siamfcpp.evaluation.sharding`) and scored here, into the report a single process writes.
    """
    device = resolve_device(cfg.device)
    output_dir = prepare_run_dir(cfg.output_dir, cfg)
    benchmark = instantiate(cfg.benchmark)
    tracker_name = cfg.tracker_name or default_tracker_name()
    log.info("evaluating %s on %s, results in %s", tracker_name, benchmark.name, output_dir)
    if cfg.devices > 1:
        result = run_sharded(cfg, benchmark, output_dir, tracker_name)
    else:
        model = build_model(cfg.model, cfg.checkpoint, cfg.seed)
        engine = build_engine(cfg.tracker, model, device, cfg.batch_sequences)
        with torch.inference_mode():
            workers = decode_workers_for(cfg.batch_sequences, requested=cfg.decode_workers)
            result = benchmark.run(engine, output_dir, tracker_name, workers, cfg.gpu_decode)
    print_summary(result)
    log.info("metrics: %s", output_dir / "metrics.json")
    return result
