"""File helpers shared by the benchmarks: atomic writes and the GOT-10k on-disk layout.

Every result file is written to a temporary sibling and moved into place with ``os.replace``, so an
interrupted run never leaves a half-written file that a rerun would mistake for a finished one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

GOT10K_SPLITS = ("train", "val", "test")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:  # a file where a folder should be, no write permission, disk full
        raise OSError(
            err.errno,
            f"cannot write {path}: {path.parent} is not a writable folder ({err.strerror}); "
            "choose another output_dir / hydra.run.dir or fix its permissions",
        ) from err
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """UTF-8 text version of :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def format_boxes(boxes: np.ndarray, fmt: str = "%.3f", delimiter: str = ",") -> str:
    """Rows of ``boxes`` ``[T, 4]`` as text lines, the way ``numpy.savetxt`` writes them."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return "".join(delimiter.join(fmt % v for v in row) + "\n" for row in boxes)


def read_boxes(path: Path) -> np.ndarray:
    """Read an ``x,y,w,h`` text file (comma, tab or space separated) as float64 ``[T, 4]``.

    ``NaN`` entries (UAV123 marks absent targets so) stay NaN.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"box file {path} does not exist")
    rows = []
    for line_no, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        parts = line.replace(",", " ").replace("\t", " ").split()
        if len(parts) != 4:
            raise ValueError(f"{path}:{line_no}: expected 4 numbers x,y,w,h, got {line!r}")
        try:
            rows.append([float(p) for p in parts])
        except ValueError as err:
            raise ValueError(f"{path}:{line_no}: not a number in {line!r}") from err
    if not rows:
        raise ValueError(f"box file {path} is empty")
    return np.asarray(rows, dtype=np.float64)


def write_got10k_sequence(
    seq_dir: Path,
    frames: Sequence[np.ndarray | bytes],
    gt_xywh: np.ndarray,
    *,
    full_gt: bool,
    jpeg_quality: int = 95,
) -> None:
    """Write one sequence in the GOT-10k layout.

    Args:
        seq_dir: the sequence folder ``<root>/<split>/<name>`` (created).
        frames: BGR uint8 ``H x W x 3`` arrays (JPEG-encoded at ``jpeg_quality``) or ready JPEG
            data (``bytes`` or 1-D uint8 arrays), written byte for byte (fixtures whose decoded
            pixels must not change).
        gt_xywh: ``[T, 4]`` 0-based ``x, y, w, h``.
        full_gt: True for train/val (every gt line plus ``meta_info.ini`` and the ``cover``,
            ``absence``, ``cut_by_image`` labels the toolkit's val report reads); False for the
            test split, which only publishes the first line.
    """
    seq_dir = Path(seq_dir)
    seq_dir.mkdir(parents=True, exist_ok=True)
    gt_xywh = np.asarray(gt_xywh, dtype=np.float64).reshape(-1, 4)
    if len(gt_xywh) != len(frames):
        raise ValueError(f"{seq_dir}: {len(frames)} frames but {len(gt_xywh)} gt boxes")
    height = width = None
    for t, frame in enumerate(frames):
        if isinstance(frame, bytes | bytearray) or np.asarray(frame).ndim == 1:
            data = bytes(frame) if isinstance(frame, bytes | bytearray) else frame.tobytes()
            if height is None:
                decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
                if decoded is None:
                    raise ValueError(f"{seq_dir}: frame {t} is not a decodable image")
                height, width = decoded.shape[:2]
        else:
            ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
            if not ok:
                raise ValueError(f"{seq_dir}: could not JPEG-encode frame {t}")
            data = buf.tobytes()
            height, width = frame.shape[:2]
        (seq_dir / f"{t + 1:08d}.jpg").write_bytes(data)
    lines = gt_xywh if full_gt else gt_xywh[:1]
    (seq_dir / "groundtruth.txt").write_text(format_boxes(lines, fmt="%.4f"))
    if full_gt:
        n = len(gt_xywh)
        # Synthetic and fixture targets are always fully visible and inside the image.
        (seq_dir / "cover.label").write_text("8\n" * n)
        (seq_dir / "absence.label").write_text("0\n" * n)
        (seq_dir / "cut_by_image.label").write_text("0\n" * n)
        (seq_dir / "meta_info.ini").write_text(
            f"[METAINFO]\nresolution: ({width}, {height})\nlength: {n}\n"
        )


def write_got10k_list(split_dir: Path, names: Sequence[str]) -> None:
    """Write ``<split_dir>/list.txt``, the sequence index the GOT-10k toolkit reads."""
    atomic_write_text(Path(split_dir) / "list.txt", "".join(f"{n}\n" for n in names))
