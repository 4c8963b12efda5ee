"""Sharded evaluation: one tracking process per device, one report.

``python evaluate.py devices=N`` starts ``N`` worker processes (``torch.multiprocessing``, spawn):
worker ``k`` builds the network on ``cuda:k`` (or on the CPU when ``device=cpu``) and tracks every
``N``-th sequence from the ``k``-th through :meth:`Benchmark.track` (an engine of
``batch_sequences`` slots within its share), writing the usual per-sequence result files. The parent
then scores all result files once, so the report is the one a single-process run writes from the
same files. Finished sequences are skipped as always, so an interrupted sharded run resumes with
any number of devices.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from siamfcpp.evaluation.datasets.base import Benchmark
from siamfcpp.evaluation.protocols import decode_workers_for
from siamfcpp.evaluation.report import write_report
from siamfcpp.io.frames import frame_conversions, record_conversions
from siamfcpp.model.build import build_model
from siamfcpp.tracking.engine import build_engine

log = logging.getLogger(__name__)


def shard_devices(device: str, devices: int) -> list[str]:
    """The device of each worker: ``cuda:0 .. cuda:N-1`` for ``device=cuda``, else ``N`` x cpu."""
    if devices < 1:
        raise ValueError(f"devices must be >= 1, got {devices}")
    kind = torch.device(device).type
    if kind == "cpu":
        return ["cpu"] * devices
    if devices > 1 and torch.device(device).index is not None:
        raise ValueError(
            f"device={device} with devices={devices}: give device=cuda, the workers use "
            f"cuda:0..{devices - 1} (choose the GPUs with CUDA_VISIBLE_DEVICES)"
        )
    visible = torch.cuda.device_count()
    if devices > visible:
        raise RuntimeError(
            f"devices={devices} asks for more GPUs than the {visible} visible; "
            f"use devices<={visible}"
        )
    return [f"cuda:{k}" for k in range(devices)]


def _track_shard(
    rank: int, cfg_container: dict[str, Any], workers: list[str], run: dict, done: Any
) -> None:
    """Worker ``rank``: network on ``workers[rank]``, track shard ``(rank, len(workers))``, then
    send the frames it converted (:data:`frame_conversions`) on ``done``."""
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
    engine = build_engine(cfg.tracker, model, device, cfg.batch_sequences)
    benchmark = instantiate(cfg.benchmark)
    with torch.inference_mode():
        benchmark.track(
            engine,
            Path(run["output_dir"]),
            run["tracker_name"],
            shard=(rank, len(workers)),
            decode_workers=run["decode_workers"],
            gpu_decode=cfg.gpu_decode,
        )
    done.put(dict(frame_conversions))


def run_sharded(
    cfg: DictConfig, benchmark: Benchmark, output_dir: Path, tracker_name: str
) -> dict[str, Any]:
    """Track ``benchmark`` over ``cfg.devices`` worker processes (see module doc), then score,
    write and return the report as :meth:`Benchmark.run` does."""
    workers = shard_devices(cfg.device, cfg.devices)
    # read and check (for the synthetic benchmark: generate) the data set and the results
    # already there once, before the workers
    todo = benchmark.todo(Path(output_dir) / tracker_name)
    names = ", ".join(workers)
    log.info("tracking %d sequences on %d processes: %s", len(todo), len(workers), names)
    # resolved here: the workers have no Hydra context for ${hydra:...} interpolations
    container = OmegaConf.to_container(cfg, resolve=True)
    run = {
        "output_dir": str(output_dir),
        "tracker_name": tracker_name,
        "decode_workers": decode_workers_for(
            cfg.batch_sequences, processes=len(workers), requested=cfg.decode_workers
        ),
    }
    done = mp.get_context("spawn").SimpleQueue()
    before = frame_conversions.copy()
    # a failing worker raises here (ProcessRaisedException naming it); finished sequences stay
    mp.spawn(_track_shard, args=(container, workers, run, done), nprocs=len(workers), join=True)
    for _ in workers:
        frame_conversions.update(Counter(done.get()))
    result = benchmark.score(Path(output_dir) / tracker_name, output_dir)
    record_conversions(result, before)
    write_report(output_dir, result)
    return result
