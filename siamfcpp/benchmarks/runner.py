"""The one-pass tracking loop shared by GOT-10k, the one-pass benchmarks and the synthetic one."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from siamfcpp.benchmarks.base import Tracker


def read_frame(path: Path) -> np.ndarray:
    """Read a frame as BGR uint8 ``H x W x 3``; a missing or corrupt file raises naming it."""
    frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if frame is None:
        raise FileNotFoundError(
            f"cannot read frame {path}: the file is missing or not an image; "
            "check benchmark.root and that the data set is fully extracted"
        )
    return frame


def track_one_pass(
    tracker: Tracker, frames: Sequence[Path], init_box_xywh: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Initialise on frame 0 with ``init_box_xywh`` and update on every later frame.

    Returns:
        boxes ``[T, 4]`` float64 ``x, y, w, h`` (row 0 is the init box) and the seconds the
        tracker spent per frame ``[T]`` (``init`` for frame 0, ``update`` after): image decoding
        is not timed, as the original implementation measures speed.
    """
    init_box = np.asarray(init_box_xywh, dtype=np.float64).reshape(4)
    if not np.isfinite(init_box).all() or init_box[2] <= 0 or init_box[3] <= 0:
        raise ValueError(
            f"invalid initial box {init_box.tolist()} for {frames[0]}: need finite x, y and "
            "positive w, h"
        )
    boxes = np.empty((len(frames), 4), dtype=np.float64)
    times = np.empty(len(frames), dtype=np.float64)
    for t, path in enumerate(frames):
        frame = read_frame(path)
        start = time.perf_counter()
        if t == 0:
            tracker.init(frame, init_box.copy())
            box = init_box
        else:
            box = np.asarray(tracker.update(frame), dtype=np.float64).reshape(4)
        times[t] = time.perf_counter() - start
        if not np.isfinite(box).all():
            raise FloatingPointError(f"tracker returned a non-finite box {box} at frame {path}")
        boxes[t] = box
    return boxes, times
