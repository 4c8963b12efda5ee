"""VOT supervised trajectories: per-frame status codes and boxes, and their result files.

Result files follow the VOT/pysot supervised layout ``<tracker>/baseline/<seq>/<seq>_001.txt``:
per frame ``1`` (initialised), ``2`` (failure), ``0`` (skipped before re-initialisation) or a box
``x,y,w,h``. The reset protocol (:class:`~siamfcpp.evaluation.protocols.SupervisedJob`) writes
them, the VOT benchmark reads them back and :mod:`siamfcpp.evaluation.metrics.vot` scores them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from siamfcpp.io.files import atomic_write_text

# Per-frame status codes of a supervised trajectory, as written in the result files.
SKIPPED, INIT, FAILURE = 0, 1, 2
TRACKED = -1  # a box line


@dataclass
class Trajectory:
    """A supervised trajectory: ``status[T]`` codes, ``boxes[T, 4]`` (NaN unless tracked)."""

    status: np.ndarray
    boxes: np.ndarray

    def __len__(self) -> int:
        return len(self.status)


def trajectory_path(tracker_dir: Path, sequence: str) -> Path:
    """``<tracker_dir>/baseline/<seq>/<seq>_001.txt``."""
    return Path(tracker_dir) / "baseline" / sequence / f"{sequence}_001.txt"


def format_trajectory(trajectory: Trajectory) -> str:
    """Result-file text: one line per frame, a status code or ``x,y,w,h`` with 4 decimals."""
    lines = []
    for status, box in zip(trajectory.status, trajectory.boxes, strict=True):
        if status == TRACKED:
            lines.append(",".join(f"{v:.4f}" for v in box))
        else:
            lines.append(str(int(status)))
    return "\n".join(lines) + "\n"


def write_trajectory(path: Path, trajectory: Trajectory) -> None:
    atomic_write_text(path, format_trajectory(trajectory))


def read_trajectory(path: Path) -> Trajectory:
    """Read a supervised result file (see :func:`format_trajectory`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"result file {path} does not exist")
    status, boxes = [], []
    for line_no, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            values = [float(v) for v in line.split(",")]
        except ValueError as err:
            raise ValueError(f"{path}:{line_no}: not a status code nor a box: {line!r}") from err
        if len(values) == 1 and values[0] in (SKIPPED, INIT, FAILURE):
            status.append(int(values[0]))
            boxes.append([np.nan] * 4)
        elif len(values) == 4:
            status.append(TRACKED)
            boxes.append(values)
        else:
            raise ValueError(
                f"{path}:{line_no}: expected 0, 1, 2 or x,y,w,h, got {line!r}; "
                "delete the file to re-run the sequence"
            )
    return Trajectory(np.asarray(status, dtype=np.int64), np.asarray(boxes, dtype=np.float64))
