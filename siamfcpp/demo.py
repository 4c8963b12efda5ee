"""Demo pipeline behind ``demo.py``: track one target through a video and write the result.

Composed by Hydra from ``conf/demo.yaml``: ``cfg.model`` (group ``backbone``), ``cfg.tracker`` and
the top-level keys ``video``, ``box``, ``checkpoint``, ``onnx_dir``, ``device``, ``seed``, ``show``,
``fps`` and ``output_dir``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn
from tqdm import tqdm

from siamfcpp.benchmarks.base import Tracker
from siamfcpp.benchmarks.io import atomic_write_text, format_boxes
from siamfcpp.evaluation import build_model, resolve_device
from siamfcpp.video import AnnotatedVideoWriter, FrameReader, draw_box, has_display, select_box

log = logging.getLogger(__name__)

BOXES_FILE = "boxes.txt"
VIDEO_STEM = "annotated"


@dataclass(frozen=True)
class DemoResult:
    """What :func:`track_video` produced.

    Attributes:
        boxes: ``[T, 4]`` float64 ``x, y, w, h`` per frame (row 0 is the given box).
        video_path: the annotated video.
        boxes_path: ``boxes.txt``, one ``x,y,w,h`` line per frame.
        tracker_seconds: time spent in ``tracker.init`` / ``tracker.update``.
    """

    boxes: np.ndarray
    video_path: Path
    boxes_path: Path
    tracker_seconds: float

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


def track_video(
    tracker: Tracker,
    frames: Iterable[np.ndarray],
    box_xywh: np.ndarray | None,
    output_dir: Path,
    *,
    fps: float,
    num_frames: int | None = None,
    source: str = "the video",
    show: bool = False,
) -> DemoResult:
    """Track from ``box_xywh`` on the first frame; write the annotated video and ``boxes.txt``.

    Args:
        tracker: anything with ``init(frame, box)`` / ``update(frame) -> box``.
        frames: BGR uint8 frames (e.g. a :class:`~siamfcpp.video.FrameReader`).
        box_xywh: target on the first frame; ``None`` = draw it interactively (needs a display).
        output_dir: gets ``annotated.mp4`` (or ``.avi``) and ``boxes.txt``.
        fps: frame rate of the annotated video.
        num_frames: length for the progress bar, if known.
        source: name of the input for messages.
        show: also display the annotated frames live (``q`` or Esc stops).
    """
    output_dir = Path(output_dir)
    show = show and has_display()
    boxes: list[np.ndarray] = []
    writer: AnnotatedVideoWriter | None = None
    tracker_seconds = 0.0
    progress = tqdm(frames, total=num_frames, desc="tracking", unit="frame")
    try:
        for frame in progress:
            if writer is None:
                if box_xywh is None:
                    box_xywh = select_box(frame, source)
                writer = AnnotatedVideoWriter(
                    output_dir / VIDEO_STEM, fps, (frame.shape[1], frame.shape[0])
                )
                start = time.perf_counter()
                tracker.init(frame, box_xywh)
                tracker_seconds += time.perf_counter() - start
                box = np.asarray(box_xywh, dtype=np.float64)
            else:
                start = time.perf_counter()
                box = np.asarray(tracker.update(frame), dtype=np.float64)
                tracker_seconds += time.perf_counter() - start
            boxes.append(box)
            current_fps = len(boxes) / max(tracker_seconds, 1e-9)
            progress.set_postfix(fps=f"{current_fps:.1f}")
            annotated = draw_box(frame, box, f"#{len(boxes) - 1}  {current_fps:.1f} fps")
            writer.write(annotated)
            if show:
                cv2.imshow("siamfcpp demo", annotated)
                if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                    log.info("stopped by the user after %d frames", len(boxes))
                    break
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        progress.close()
        if show:
            cv2.destroyAllWindows()
    if writer is None:
        raise ValueError(f"{source} has no frames")
    video_path = writer.close()
    boxes_array = np.stack(boxes)
    boxes_path = output_dir / BOXES_FILE
    atomic_write_text(boxes_path, format_boxes(boxes_array))
    return DemoResult(boxes_array, video_path, boxes_path, tracker_seconds)


def build_network(cfg: DictConfig, device: torch.device) -> nn.Module:
    """The exported ONNX halves when ``cfg.onnx_dir`` is set, else the PyTorch network."""
    if cfg.get("onnx_dir"):
        from siamfcpp.onnx_model import OnnxSiamFCpp

        if cfg.checkpoint:
            log.warning("onnx_dir is set: checkpoint=%s is ignored", cfg.checkpoint)
        return OnnxSiamFCpp(cfg.onnx_dir, device=device)
    return build_model(cfg.model, cfg.checkpoint, cfg.seed)


def demo(cfg: DictConfig) -> DemoResult:
    """Run the demo described by ``cfg`` (see ``conf/demo.yaml``); log where the results are."""
    if cfg.video is None:
        raise ValueError("pass the input as video=PATH (a video file or a folder of images)")
    reader = FrameReader(cfg.video)  # fails early, naming the file, before the model is built
    box = None if cfg.box is None else parse_box(cfg.box)
    device = resolve_device(cfg.device)
    output_dir = Path(cfg.output_dir).expanduser()
    output_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(output_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    tracker = instantiate(cfg.tracker, model=build_network(cfg, device), device=device)
    with torch.inference_mode():
        result = track_video(
            tracker,
            reader,
            box,
            output_dir,
            fps=reader.fps or cfg.fps,
            num_frames=len(reader) or None,
            source=str(reader.path),
            show=cfg.show,
        )
    log.info(
        "%d frames, tracker %.1f fps; video %s, boxes %s",
        len(result.boxes),
        result.fps,
        result.video_path,
        result.boxes_path,
    )
    return result
