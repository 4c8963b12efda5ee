"""Lightning callbacks of ``train.py`` beyond checkpointing.

:class:`WandbPairImages` shows what the network is learning: every ``every_n_steps`` optimisation
steps it logs a few training pairs of the current batch to wandb, each as one image::

    [ search crop: target box (green), predicted box (red) | target cls map | predicted score map ]

It does nothing unless the trainer's logger is a ``WandbLogger`` (``logger=wandb``).

:class:`StartupTimer` says where the time before the first optimisation step goes;
:class:`TrainingSpeed` measures pairs/s and the peak GPU memory of a run;
:class:`LossProgressBar` is the progress bar, reading the logged losses every few steps only.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import RichProgressBar
from pytorch_lightning.loggers import WandbLogger
from torch import Tensor

from siamfcpp.geometry import xyxy_to_xywh
from siamfcpp.io.files import atomic_write_json
from siamfcpp.io.video import draw_box

log = logging.getLogger(__name__)
TARGET_COLOR = (0, 255, 0)  # BGR
PRED_COLOR = (0, 0, 255)


def heatmap(values: np.ndarray, side: int) -> np.ndarray:
    """``[S, S]`` values in 0..1 -> BGR uint8 ``[side, side, 3]`` (nearest-neighbour cells)."""
    cells = np.clip(values, 0.0, 1.0) * 255
    big = cv2.resize(cells.astype(np.uint8), (side, side), interpolation=cv2.INTER_NEAREST)
    return cv2.applyColorMap(big, cv2.COLORMAP_JET)


def pair_panel(
    im_x: Tensor, cls_gt: Tensor, box_gt: Tensor, score: Tensor, boxes: Tensor
) -> np.ndarray:
    """One training pair as a BGR uint8 ``[X, 3X, 3]`` panel (see the module docstring).

    Args:
        im_x: search crop ``[3, X, X]`` float BGR 0..255.
        cls_gt: classification target ``[N, 1]`` (1 on positive cells); ``box_gt`` ``[N, 4]``
            the target box ``x1, y1, x2, y2`` on positive cells.
        score: predicted ``sigmoid(cls) * sigmoid(ctr)`` ``[N]``; ``boxes`` ``[N, 4]`` the
            predicted ``x1, y1, x2, y2`` per cell.
    """
    side = im_x.shape[-1]
    score_size = round(cls_gt.shape[0] ** 0.5)
    crop = np.ascontiguousarray(im_x.permute(1, 2, 0).clamp(0, 255).byte().cpu().numpy())
    positive = torch.nonzero(cls_gt[:, 0] > 0.5)
    if len(positive):
        target = box_gt[positive[0, 0]].cpu().numpy()
        crop = draw_box(crop, xyxy_to_xywh(target), color=TARGET_COLOR)
    best = int(torch.argmax(score))
    predicted = boxes[best].cpu().numpy()
    if np.isfinite(predicted).all():  # an untrained head can overflow; draw what is drawable
        predicted = np.clip(predicted, -side, 2 * side)
        crop = draw_box(crop, xyxy_to_xywh(predicted), color=PRED_COLOR)
    target_map = cls_gt[:, 0].reshape(score_size, score_size).cpu().numpy()
    score_map = score.reshape(score_size, score_size).cpu().numpy()
    return np.concatenate([crop, heatmap(target_map, side), heatmap(score_map, side)], axis=1)


class WandbPairImages(pl.Callback):
    """Log ``num_pairs`` pairs of the batch every ``every_n_steps`` steps (first step included).

    The predicted maps come from one extra forward pass of those pairs in eval mode (batch-norm
    running statistics, as the tracker sees them), without gradients.
    """

    def __init__(self, every_n_steps: int, num_pairs: int) -> None:
        if every_n_steps < 1 or num_pairs < 1:
            raise ValueError(
                f"WandbPairImages: every_n_steps ({every_n_steps}) and num_pairs ({num_pairs}) "
                "must be >= 1"
            )
        self.every_n_steps = every_n_steps
        self.num_pairs = num_pairs

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: object,
        batch: Mapping[str, Tensor],
        batch_idx: int,
    ) -> None:
        logger = trainer.logger
        if not isinstance(logger, WandbLogger) or not trainer.is_global_zero:
            return
        if (trainer.global_step - 1) % self.every_n_steps != 0:
            return
        k = min(self.num_pairs, batch["im_x"].shape[0])
        model = pl_module.model
        was_training = model.training
        model.eval()
        with torch.no_grad():
            out = model(batch["im_z"][:k], batch["im_x"][:k])
        model.train(was_training)
        score = (torch.sigmoid(out["cls"]) * torch.sigmoid(out["ctr"]))[..., 0]
        panels, captions = [], []
        for i in range(k):
            panel = pair_panel(
                batch["im_x"][i], batch["cls_gt"][i], batch["box_gt"][i], score[i], out["boxes"][i]
            )
            panels.append(panel[..., ::-1].copy())  # wandb expects RGB
            negative = bool(batch["is_negative"][i]) if "is_negative" in batch else False
            kind = " (negative)" if negative else ""
            captions.append(f"step {trainer.global_step} pair {i}{kind}")
        logger.log_image(
            key="train/pairs", images=panels, caption=captions, step=trainer.global_step
        )


def process_start_time() -> float:
    """Wall-clock time (``time.time()``) at which this process started (Linux; else the time
    this module was imported)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime")
        )
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, StopIteration, IndexError, ValueError):
        return _IMPORTED


_IMPORTED = time.time()


class StartupTimer(pl.Callback):
    """Where the time before the first optimisation step goes: logs (and with ``path`` writes
    as JSON) the seconds from the process start to ``created`` (the callback is built: imports,
    config, data and module instantiated), ``fit_start`` (trainer set up: devices, model moved),
    ``first_batch`` (the first batch reached the step: data-loader workers started, first
    samples made) and ``first_step`` (the first step done, device synchronised: cudnn autotuning,
    compilation).

    ``python train.py +callbacks.startup._target_=siamfcpp.training.callbacks.StartupTimer``
    (the process start is read from ``/proc``, 1/100 s resolution).
    """

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.start = process_start_time()
        self.seconds: dict[str, float] = {"created": time.time() - self.start}

    def _mark(self, name: str, pl_module: pl.LightningModule) -> None:
        if name in self.seconds:
            return
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        self.seconds[name] = time.time() - self.start

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._mark("fit_start", pl_module)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        self._mark("first_batch", pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if "first_step" in self.seconds:
            return
        self._mark("first_step", pl_module)
        log.info(
            "time to the first step: %s",
            ", ".join(f"{name} {value:.1f} s" for name, value in self.seconds.items()),
        )
        if self.path and trainer.is_global_zero:
            Path(self.path).write_text(json.dumps(self.seconds))


class TrainingSpeed(pl.Callback):
    """Training pairs per second after ``warmup_steps`` steps (start-up, cudnn autotuning and
    compilation excluded) and the peak GPU memory, logged at the end of training and written as
    JSON to ``path`` (``<output_dir>/training_speed.json`` in conf/callbacks/default.yaml).

    Pairs are the data module's global ``batch_size`` per step, so with DDP the figure is the
    whole run's (rank 0 writes it).
    """

    def __init__(self, path: str | None = None, warmup_steps: int = 20) -> None:
        if warmup_steps < 0:
            raise ValueError(
                f"callbacks.training_speed.warmup_steps must be >= 0, got {warmup_steps}"
            )
        self.path = path
        self.warmup_steps = warmup_steps
        self.steps = 0  # steps done in this fit
        self.start: float | None = None  # when the warm-up ended

    def _now(self, pl_module: pl.LightningModule) -> float:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        return time.perf_counter()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.warmup_steps == 0:
            self.start = self._now(pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.steps += 1
        if self.steps == self.warmup_steps:
            self.start = self._now(pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        timed = self.steps - self.warmup_steps
        if self.start is None or timed < 1:
            log.info(
                "training speed: not measured (%d steps, %d warm-up)", self.steps, self.warmup_steps
            )
            return
        seconds = self._now(pl_module) - self.start
        on_gpu = pl_module.device.type == "cuda"
        memory = torch.cuda.max_memory_allocated(pl_module.device) / 2**30 if on_gpu else None
        record = {
            "pairs_per_s": timed * trainer.datamodule.batch_size / seconds,
            "timed_steps": timed,
            "warmup_steps": self.warmup_steps,
            "peak_gpu_memory_gib": memory,
        }
        log.info(
            "training speed: %.1f pairs/s over %d steps after %d warm-up steps%s",
            record["pairs_per_s"],
            timed,
            self.warmup_steps,
            f", peak GPU memory {memory:.2f} GiB" if memory is not None else "",
        )
        if self.path and trainer.is_global_zero:
            atomic_write_json(Path(self.path), record)


class LossProgressBar(RichProgressBar):
    """Lightning's Rich progress bar, with the logged losses read every ``metrics_every_n_steps``
    optimisation steps (and at the last batch of an epoch) instead of every step.

    Reading a loss for display copies it from the GPU, a synchronisation: every step, it keeps
    the host from queueing the next step's work while the GPU runs this one. The bar itself
    still moves every step.
    """

    def __init__(self, metrics_every_n_steps: int) -> None:
        if metrics_every_n_steps < 1:
            raise ValueError(f"metrics_every_n_steps must be >= 1, got {metrics_every_n_steps}")
        super().__init__()
        self.metrics_every_n_steps = metrics_every_n_steps
        self._shown: dict[str, int | str | float | dict[str, float]] | None = None

    def get_metrics(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule
    ) -> dict[str, int | str | float | dict[str, float]]:
        due = (
            self._shown is None
            or not trainer.training
            or trainer.global_step % self.metrics_every_n_steps == 0
            or trainer.is_last_batch
        )
        if due:
            self._shown = super().get_metrics(trainer, pl_module)
        return self._shown
