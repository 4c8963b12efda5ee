"""Demo pipeline behind ``demo.py``: track one target through a video and write the result.

Composed by Hydra from ``conf/demo.yaml``: ``cfg.model`` (group ``backbone``), ``cfg.tracker`` and
the top-level keys ``video``, ``box``, ``start_frame``, ``max_size``, ``checkpoint``, ``onnx_dir``,
``device``, ``seed``, ``show``, ``fps``, ``output_dir`` and ``overwrite``.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from omegaconf import DictConfig
from torch import nn
from tqdm import tqdm

from siamfcpp.config import config_int, config_number
from siamfcpp.evaluation.protocols import OnePassJob, run
from siamfcpp.io.files import atomic_write_text, format_boxes
from siamfcpp.io.run_dir import prepare_run_dir
from siamfcpp.io.video import AnnotatedVideoWriter, FrameReader, draw_box, has_display, select_box
from siamfcpp.model.build import build_model, resolve_device
from siamfcpp.model.onnx_runtime import OnnxSiamFCpp
from siamfcpp.tracking.engine import TrackingEngine, build_engine

log = logging.getLogger(__name__)

BOXES_FILE = "boxes.txt"
VIDEO_STEM = "annotated"


@dataclass(frozen=True)
class DemoResult:
    """What :func:`track_video` produced.

    Attributes:
        boxes: ``[T, 4]`` float64 ``x, y, w, h`` per frame (row 0 is the given box), in the
            pixels of the input (also when its frames were shrunk for tracking).
        video_path: the annotated video.
        boxes_path: ``boxes.txt``, one ``x,y,w,h`` line per frame.
        tracker_seconds: time spent in ``tracker.init`` / ``tracker.update``.
        codec: the annotated video's codec (e.g. ``H.264 (PyAV)``).
    """

    boxes: np.ndarray
    video_path: Path
    boxes_path: Path
    tracker_seconds: float
    codec: str

    @property
    def fps(self) -> float:
        """Frames per second of the tracker alone (no decoding, drawing or writing)."""
        return len(self.boxes) / self.tracker_seconds


def parse_box(box: str | Sequence[float]) -> np.ndarray:
    """``"x,y,w,h"`` or a sequence of 4 numbers -> float64 ``[4]`` with ``w, h > 0``."""
    values = box.split(",") if isinstance(box, str) else list(box)
    try:
        parsed = np.array([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"box={box}: expected 4 numbers x,y,w,h") from err
    if parsed.shape != (4,) or not np.all(np.isfinite(parsed)) or np.any(parsed[2:] <= 0):
        raise ValueError(f"box={box}: expected 4 finite numbers x,y,w,h with w, h > 0")
    return parsed


class _StopTracking(Exception):
    """The user closed the live view."""


def track_video(
    engine: TrackingEngine,
    frames: Iterable[np.ndarray],
    box_xywh: np.ndarray | None,
    output_dir: Path,
    *,
    fps: float,
    num_frames: int | None = None,
    source: str = "the video",
    show: bool = False,
    scale: float = 1.0,
) -> DemoResult:
    """Track from ``box_xywh`` on the first frame; write the annotated video and ``boxes.txt``.

    The one-pass protocol of the benchmarks (:class:`~siamfcpp.evaluation.protocols.OnePassJob`)
    on a one-slot engine, with every frame drawn and written as it is tracked.

    Args:
        engine: a tracking engine (one slot is used).
        frames: BGR uint8 frames (e.g. a :class:`~siamfcpp.io.video.FrameReader`).
        box_xywh: target on the first frame; ``None`` = draw it interactively (needs a display).
        output_dir: gets ``annotated.mp4`` (or ``.avi``) and ``boxes.txt``.
        fps: frame rate of the annotated video.
        num_frames: length for the progress bar, if known.
        source: name of the input for messages.
        show: also display the annotated frames live (``q`` or Esc stops).
        scale: how much the frames were shrunk (``box_xywh`` and the written boxes are in the
            input's pixels; the tracker and the annotated video see the shrunk frames).
    """
    output_dir = Path(output_dir)
    show = show and has_display()
    stream = iter(frames)
    first = next(stream, None)
    if first is None:
        raise ValueError(f"{source} has no frames")
    if box_xywh is None:
        box_xywh = select_box(first, source) / scale
    writer = AnnotatedVideoWriter(output_dir / VIDEO_STEM, fps, (first.shape[1], first.shape[0]))
    log.info(
        "annotated video: %s, %s",
        writer.codec,
        "plays in browsers and Jupyter"
        if writer.browser_playable
        else "not playable in browsers (install PyAV: pip install av)",
    )
    progress = tqdm(total=num_frames, desc="tracking", unit="frame")
    tracker_seconds = 0.0

    def draw(t: int, frame: np.ndarray, box: np.ndarray, seconds: float) -> None:
        nonlocal tracker_seconds
        tracker_seconds += seconds
        current_fps = (t + 1) / max(tracker_seconds, 1e-9)
        progress.update()
        progress.set_postfix(fps=f"{current_fps:.1f}")
        annotated = draw_box(frame, box, f"#{t}  {current_fps:.1f} fps")
        writer.write(annotated)
        if show:
            cv2.imshow("siamfcpp demo", annotated)
            if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                raise _StopTracking

    box = np.asarray(box_xywh, dtype=np.float64) * scale
    job = OnePassJob(source, itertools.chain([first], stream), box, on_frame=draw)
    try:
        for _ in run(engine, [job]):
            pass
    except _StopTracking:
        log.info("stopped by the user after %d frames", len(job.boxes))
    except BaseException:
        writer.abort()
        raise
    finally:
        progress.close()
        if show:
            cv2.destroyAllWindows()
    video_path = writer.close()
    boxes_path = output_dir / BOXES_FILE
    boxes = job.boxes / scale
    atomic_write_text(boxes_path, format_boxes(boxes))
    return DemoResult(boxes, video_path, boxes_path, float(job.times.sum()), writer.codec)


def build_network(cfg: DictConfig, device: torch.device) -> nn.Module:
    """The exported ONNX halves when ``cfg.onnx_dir`` is set, else the PyTorch network."""
    if cfg.get("onnx_dir"):
        if cfg.checkpoint:
            log.warning("onnx_dir is set: checkpoint=%s is ignored", cfg.checkpoint)
        return OnnxSiamFCpp(cfg.onnx_dir, device=device)
    return build_model(cfg.model, cfg.checkpoint, cfg.seed)


def demo(cfg: DictConfig) -> DemoResult:
    """Run the demo described by ``cfg`` (see ``conf/demo.yaml``); log where the results are."""
    if cfg.video is None:
        raise ValueError(
            "pass the input as video=PATH (a video file or a folder of images), video=0 (a "
            "webcam) or video=rtsp://... (a stream)"
        )
    config_int("start_frame", cfg.start_frame, 0)
    if cfg.max_size is not None:
        config_int("max_size", cfg.max_size, 1)
    config_number("fps", cfg.fps, 0, above=True)
    # fails early, naming the file, before the model is built
    reader = FrameReader(cfg.video, start=cfg.start_frame, max_size=cfg.max_size)
    box = None if cfg.box is None else parse_box(cfg.box)
    device = resolve_device(cfg.device)
    output_dir = prepare_run_dir(cfg.output_dir, cfg, task="demo", restart=cfg.overwrite)
    engine = build_engine(cfg.tracker, build_network(cfg, device), device, num_slots=1)
    with torch.inference_mode():
        result = track_video(
            engine,
            reader,
            box,
            output_dir,
            fps=reader.fps or cfg.fps,
            num_frames=len(reader) or None,
            source=str(reader.path),
            show=cfg.show,
            scale=reader.scale,
        )
    log.info(
        "%d frames, tracker %.1f fps; video %s (%s), boxes %s",
        len(result.boxes),
        result.fps,
        result.video_path,
        result.codec,
        result.boxes_path,
    )
    return result
