"""Frame decoding as every reader of the project does it: BGR uint8, conversions counted.

Benchmarks, training sources and the apps read image files through :func:`read_frame`, so a
grayscale or 16-bit frame is converted the same way everywhere and counted
(:data:`frame_conversions`, reported in ``metrics.json``).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

frame_conversions: Counter[str] = Counter()
"""Frames :func:`read_frame` converted, by kind (``grayscale``, ``16-bit``), in this process."""
_conversions_lock = threading.Lock()
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


def merge_conversions(counts: Mapping[str, int]) -> None:
    """Add conversions counted in another process (a decoding worker) to this process's."""
    if counts:
        with _conversions_lock:
            frame_conversions.update(counts)


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
