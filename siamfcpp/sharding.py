"""Sharded evaluation: one tracking process per device, one report.

``python evaluate.py devices=N`` starts ``N`` worker processes (``torch.multiprocessing``, spawn):
worker ``k`` builds the network on ``cuda:k`` (or on the CPU when ``device=cpu``) and tracks every
``N``-th sequence from the ``k``-th through :meth:`Benchmark.track`, writing the usual per-sequence
result files. The parent then scores all result files once, so the report is the one a
single-process run writes from the same files. Finished sequences are skipped as always, so an
interrupted sharded run resumes with any number of devices.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from siamfcpp.evaluation import build_model

log = logging.getLogger(__name__)


def shard_devices(device: str, devices: int) -> list[str]:
    """The device of each worker: ``cuda:0 .. cuda:N-1`` for ``device=cuda``, else ``N`` x cpu."""
    if devices < 1:
        raise ValueError(f"devices must be >= 1, got {devices}")
    kind = torch.device(device).type
    if kind == "cpu":
        return ["cpu"] * devices
    visible = torch.cuda.device_count()
    if devices > visible:
        raise RuntimeError(
            f"devices={devices} asks for more GPUs than the {visible} visible; "
            f"use devices<={visible}"
        )
    return [f"cuda:{k}" for k in range(devices)]


def _track_shard(rank: int, cfg_container: dict[str, Any], workers: list[str], run: dict) -> None:
    """Worker ``rank``: network on ``workers[rank]``, track shard ``(rank, len(workers))``."""
    logging.basicConfig(
        level=logging.INFO, format=f"[%(asctime)s][shard {rank}][%(name)s] %(message)s"
    )
    device = torch.device(workers[rank])
    if device.type == "cpu":
        # the processes share the cores instead of each claiming all of them
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // len(workers)))
    else:
        torch.cuda.set_device(device)
    cfg = OmegaConf.create(cfg_container)
    model = build_model(cfg.model, cfg.checkpoint, cfg.seed)
    make_tracker = instantiate(cfg.tracker, model=model, device=device, _partial_=True)
    benchmark = instantiate(cfg.benchmark)
    with torch.inference_mode():
        benchmark.track(
            make_tracker,
            Path(run["output_dir"]),
            run["tracker_name"],
            cfg.batch_sequences,
            shard=(rank, len(workers)),
        )


def track_sharded(cfg: DictConfig, output_dir: Path, tracker_name: str) -> None:
    """Track the benchmark of ``cfg`` over ``cfg.devices`` worker processes (see module doc)."""
    workers = shard_devices(cfg.device, cfg.devices)
    log.info("tracking on %d processes: %s", len(workers), ", ".join(workers))
    # resolved here: the workers have no Hydra context for ${hydra:...} interpolations
    container = OmegaConf.to_container(cfg, resolve=True)
    run = {"output_dir": str(output_dir), "tracker_name": tracker_name}
    mp.spawn(_track_shard, args=(container, workers, run), nprocs=len(workers), join=True)
