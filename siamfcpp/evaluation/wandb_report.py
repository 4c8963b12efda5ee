"""Weights & Biases logging of an evaluation run (``python evaluate.py logger=wandb``).

One wandb run per evaluation, under ``<output_dir>/wandb`` (offline unless the environment sets
``WANDB_MODE``; ``wandb sync`` uploads offline runs). It holds:

* the summary metrics (``wandb-summary.json``: ``AO``, ``SR.50``, ... as the benchmark names them)
  and the summary table (``metrics`` table);
* the per-sequence results as the ``sequences`` table;
* the benchmark's plots (``<name>_plot.png`` of the report and the toolkits) as images;
* a short GIF of the first sequence: ground truth (green) and tracker (red) boxes.

Runs are grouped by the tracker name (the experiment); runs of a Hydra multirun sweep are tagged
``sweep`` and ``trial-<k>``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from siamfcpp.evaluation.datasets.base import SequenceData
from siamfcpp.evaluation.report import summary_table_rows
from siamfcpp.io.frames import read_frame
from siamfcpp.io.run_dir import sweep_tags
from siamfcpp.io.video import draw_box

log = logging.getLogger(__name__)

GT_COLOR = (0, 255, 0)  # BGR
PRED_COLOR = (0, 0, 255)
#: frames of the tracking GIF (a short clip: the media files stay small)
VIDEO_FRAMES = 40


def result_boxes(result: dict[str, Any], sequence: str) -> np.ndarray | None:
    """The tracker's ``[T, 4]`` ``x, y, w, h`` boxes of ``sequence`` from the one-pass result
    layouts (GOT-10k ``<seq>/<seq>_001.txt``, OPE ``<seq>.txt``); None for other layouts (VOT)."""
    results_dir = Path(result["results_dir"])
    for path in (results_dir / sequence / f"{sequence}_001.txt", results_dir / f"{sequence}.txt"):
        if path.is_file():
            boxes = np.loadtxt(path, delimiter=",", ndmin=2)
            if boxes.shape[1] == 4:
                return boxes
    return None


def tracking_frames(
    sequence: SequenceData, boxes_xywh: np.ndarray, max_frames: int, max_side: int
) -> list[np.ndarray]:
    """The first ``max_frames`` frames (BGR, longer side at most ``max_side``) with the ground
    truth and tracker boxes drawn."""
    frames = []
    for t, path in enumerate(sequence.frames[: min(max_frames, len(boxes_xywh))]):
        frame = read_frame(path)
        scale = min(1.0, max_side / max(frame.shape[:2]))
        gt = sequence.gt[t]
        if np.isfinite(gt).all():
            frame = draw_box(frame, gt, color=GT_COLOR)
        frame = draw_box(frame, boxes_xywh[t], text=f"{sequence.name} #{t}", color=PRED_COLOR)
        if scale < 1.0:
            import cv2

            frame = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        frames.append(frame)
    return frames


def write_gif(path: Path, frames_bgr: list[np.ndarray], fps: float) -> Path:
    """Write BGR frames as an endlessly looping GIF (Pillow; no video codec needed)."""
    from PIL import Image

    images = [Image.fromarray(np.ascontiguousarray(f[..., ::-1])) for f in frames_bgr]
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(
        path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0
    )
    return path


def log_evaluation(cfg: DictConfig, result: dict[str, Any], sequences: list[SequenceData]) -> Path:
    """Log ``result`` (the dict ``Benchmark.run`` returns) to a new wandb run.

    Args:
        cfg: the evaluation config; ``cfg.logger`` is ``conf/logger/wandb.yaml`` (its
            ``project``, ``save_dir`` and ``mode`` are used).
        result: the benchmark's result dict (see :mod:`siamfcpp.evaluation.report`).
        sequences: the benchmark's sequences (the first one is drawn in the GIF).

    Returns:
        the run's local folder (``<save_dir>/wandb/offline-run-...`` when offline).
    """
    import wandb

    logger_cfg = cfg.logger
    if "Wandb" not in str(logger_cfg.get("_target_", "")):
        raise ValueError(
            f"evaluate.py logs to wandb only: use logger=wandb or logger=none, not "
            f"{logger_cfg.get('_target_')}"
        )
    output_dir = Path(cfg.output_dir)
    save_dir = Path(logger_cfg.save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    tags = [result["benchmark"], *sweep_tags()]
    run = wandb.init(
        project=logger_cfg.project,
        dir=str(save_dir),
        mode=os.environ.get("WANDB_MODE", logger_cfg.mode),
        name=cfg.get("run_name") or f"{result['tracker']}-{result['benchmark']}",
        group=result["tracker"],
        job_type="evaluate",
        tags=tags,
        config=OmegaConf.to_container(cfg, resolve=True),
        reinit="create_new",
    )
    try:
        run.summary.update({name: value for name, value in result["metrics"].items()})
        header, rows = summary_table_rows([result])
        payload: dict[str, Any] = {"metrics": wandb.Table(columns=header, data=rows)}
        if result.get("sequences"):
            columns = list(dict.fromkeys(k for row in result["sequences"] for k in row))
            data = [[row.get(k) for k in columns] for row in result["sequences"]]
            payload["sequences"] = wandb.Table(columns=columns, data=data)
        # the report's plots and the got10k toolkit's (reports/<tracker>/success_plot.png)
        plots = [*output_dir.glob("*_plot.png"), *output_dir.glob("reports/**/*_plot.png")]
        for plot in sorted(plots):
            payload[f"plots/{plot.stem}"] = wandb.Image(str(plot))
        if sequences:
            boxes = result_boxes(result, sequences[0].name)
            if boxes is None:
                log.info("wandb: no one-pass boxes for %s, no tracking video", sequences[0].name)
            else:
                frames = tracking_frames(sequences[0], boxes, VIDEO_FRAMES, max_side=320)
                gif = write_gif(output_dir / "tracking.gif", frames, fps=10)
                payload["tracking"] = wandb.Video(str(gif), format="gif")
        run.log(payload)
        return Path(run.dir).parent
    finally:
        run.finish()
