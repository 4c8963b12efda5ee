"""Evaluation pipeline behind ``evaluate.py``: config -> network -> tracker -> benchmark -> report.

Composed by Hydra from ``conf/evaluate.yaml``: ``cfg.model`` (group ``backbone``), ``cfg.tracker``,
``cfg.benchmark``, and the top-level keys ``checkpoint``, ``device``, ``seed``, ``output_dir``,
``batch_sequences``, ``devices``, ``tracker_name`` and ``optimized_metric``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from siamfcpp.benchmarks.io import atomic_write_text
from siamfcpp.benchmarks.report import print_summary

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda`` or ``cuda:<k>``; asking for CUDA without a usable GPU is an error."""
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device={name} was requested but CUDA is not available (no GPU visible or a "
                "CPU-only torch build); run with device=cpu"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RuntimeError(
                f"device={name}: only {torch.cuda.device_count()} CUDA device(s) are visible"
            )
    return device


def build_model(model_cfg: DictConfig, checkpoint: str | None, seed: int) -> nn.Module:
    """Instantiate the network (seeded) and load ``checkpoint`` (original ``.pkl`` or ``.ckpt``)."""
    torch.manual_seed(seed)
    model = instantiate(model_cfg)
    if checkpoint:
        from siamfcpp.model.checkpoints import load_checkpoint

        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint={checkpoint}: no such file")
        load_checkpoint(model, path)
        log.info("loaded checkpoint %s", path)
    else:
        log.warning(
            "No checkpoint given: the network is RANDOMLY INITIALISED (seed %d), so the scores "
            "below measure the pipeline, not a trained tracker. Pass checkpoint=PATH (an original "
            "model-zoo .pkl or a .ckpt from train.py).",
            seed,
        )
    return model.eval()


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
    (:mod:`siamfcpp.sharding`) and scored here, into the report a single process writes.
    """
    device = resolve_device(cfg.device)
    output_dir = Path(cfg.output_dir).expanduser()
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        raise NotADirectoryError(
            f"output_dir={output_dir} cannot be a results folder ({error}); choose another "
            "output_dir or hydra.run.dir"
        ) from error
    atomic_write_text(output_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))

    benchmark = instantiate(cfg.benchmark)
    tracker_name = cfg.tracker_name or default_tracker_name()
    log.info("evaluating %s on %s, results in %s", tracker_name, benchmark.name, output_dir)
    if cfg.devices > 1:
        from siamfcpp.sharding import run_sharded  # imports this module

        result = run_sharded(cfg, benchmark, output_dir, tracker_name)
    else:
        model = build_model(cfg.model, cfg.checkpoint, cfg.seed)
        make_tracker = instantiate(cfg.tracker, model=model, device=device, _partial_=True)
        with torch.inference_mode():
            result = benchmark.run(make_tracker, output_dir, tracker_name, cfg.batch_sequences)
    print_summary(result)
    log.info("metrics: %s", output_dir / "metrics.json")
    return result


def objective(cfg: DictConfig, result: dict[str, Any]) -> float | None:
    """The value of ``cfg.optimized_metric`` for hyper-parameter sweeps (None when unset)."""
    if not cfg.get("optimized_metric"):
        return None
    metrics = result["metrics"]
    if cfg.optimized_metric not in metrics:
        raise KeyError(f"optimized_metric={cfg.optimized_metric} is not one of {list(metrics)}")
    return float(metrics[cfg.optimized_metric])
