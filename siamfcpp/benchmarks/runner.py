"""The one-pass tracking loop shared by GOT-10k, the one-pass benchmarks and the synthetic one."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from siamfcpp.benchmarks.base import Tracker

log = logging.getLogger(__name__)

frame_conversions: Counter[str] = Counter()
"""Frames :func:`read_frame` converted, by kind (``grayscale``, ``16-bit``), in this process."""
_conversions_lock = threading.Lock()  # lockstep evaluation decodes in worker threads
_reported: set[tuple[str, str]] = set()


class CorruptFrameError(FileNotFoundError, ValueError):
    """A frame file that exists but does not decode; caught as either a missing file (no usable
    frame there) or a bad value (the content)."""


def _count_conversion(kind: str, path: Path, how: str) -> None:
    with _conversions_lock:
        frame_conversions[kind] += 1
        key = (kind, str(Path(path).parent))
        first = key not in _reported
        _reported.add(key)
    if first:
        log.warning("%s frames in %s (first %s): %s", kind, Path(path).parent, Path(path).name, how)


def record_conversions(result: dict, before: Counter[str]) -> None:
    """Add ``frame_conversions`` (kind -> frames converted since ``before``) to a result dict
    when there were any (frames of sequences tracked in this run; resumed ones are not read)."""
    converted = frame_conversions - before
    if converted:
        result["frame_conversions"] = dict(converted)


def read_frame(path: Path) -> np.ndarray:
    """Read a frame as BGR uint8 ``H x W x 3``, the pixels ``cv2.imread(path, IMREAD_COLOR)`` gives.

    Recovered (counted in :data:`frame_conversions`, logged once per folder): a grayscale image
    becomes 3 equal channels; a 16-bit image (PNG) keeps its high byte, i.e. it is scaled by
    1 / 256 to 8 bits.

    Raises:
        FileNotFoundError: the file is missing.
        CorruptFrameError: the file exists but does not decode (corrupt, zero bytes, not an
            image).
    """
    frame = cv2.imread(str(path), cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH)
    if frame is None:
        if not Path(path).is_file():
            raise FileNotFoundError(
                f"frame {path} is missing: check benchmark.root and that the data set is fully "
                "extracted (re-download the sequence)"
            )
        raise CorruptFrameError(
            f"frame {path} is corrupt or not an image ({Path(path).stat().st_size} bytes): "
            "re-extract or re-download the sequence"
        )
    if frame.dtype == np.uint16:
        _count_conversion("16-bit", path, "scaled to 8 bits (value / 256), as cv2.imread does")
        frame = (frame >> 8).astype(np.uint8)
    if frame.ndim == 2:
        _count_conversion("grayscale", path, "converted to 3 equal BGR channels")
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        # any other layout (e.g. float TIFF, CMYK): let OpenCV's colour conversion decide
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return frame


def initial_box(init_box_xywh: np.ndarray, frames: Sequence[Path]) -> np.ndarray:
    """The ground truth's first box as float64 ``[4]``; no frames, a NaN or a non-positive size
    is an error."""
    if len(frames) == 0:
        raise ValueError("empty sequence: no frames to track")
    box = np.asarray(init_box_xywh, dtype=np.float64).reshape(4)
    if not np.isfinite(box).all() or box[2] <= 0 or box[3] <= 0:
        raise ValueError(
            f"invalid initial box {box.tolist()} for {frames[0]}: need finite x, y and "
            "positive w, h; fix the first line of the sequence's ground truth"
        )
    return box


def track_frame(
    tracker: Tracker, t: int, frame: np.ndarray, path: Path, init_box: np.ndarray
) -> np.ndarray:
    """Frame ``t`` of a one-pass run: ``init`` with ``init_box`` at ``t == 0``, else ``update``.

    Returns the frame's box, float64 ``[4]``; errors name the frame file.
    """
    if t == 0:
        try:
            tracker.init(frame, init_box.copy())
        except ValueError as err:  # e.g. an initial box outside the frame: name the file
            raise ValueError(
                f"{path}: {err}; fix the first line of the sequence's ground truth"
            ) from err
        return init_box
    box = np.asarray(tracker.update(frame), dtype=np.float64).reshape(4)
    if not np.isfinite(box).all():
        raise FloatingPointError(f"tracker returned a non-finite box {box} at frame {path}")
    return box


def track_one_pass(
    tracker: Tracker, frames: Sequence[Path], init_box_xywh: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Initialise on frame 0 with ``init_box_xywh`` and update on every later frame.

    Returns:
        boxes ``[T, 4]`` float64 ``x, y, w, h`` (row 0 is the init box) and the seconds the
        tracker spent per frame ``[T]`` (``init`` for frame 0, ``update`` after): image decoding
        is not timed, as the original implementation measures speed.
    """
    init_box = initial_box(init_box_xywh, frames)
    boxes = np.empty((len(frames), 4), dtype=np.float64)
    times = np.empty(len(frames), dtype=np.float64)
    for t, path in enumerate(frames):
        frame = read_frame(path)
        start = time.perf_counter()
        boxes[t] = track_frame(tracker, t, frame, path, init_box)
        times[t] = time.perf_counter() - start
    return boxes, times
