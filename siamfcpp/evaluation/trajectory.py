"""VOT supervised trajectories: per-frame status codes and regions, and their result files.

Result files follow the VOT/pysot supervised layout ``<tracker>/baseline/<seq>/<seq>_001.txt``:
per frame ``1`` (initialised), ``2`` (failure), ``0`` (skipped before re-initialisation) or a
region: a box ``x,y,w,h`` or a polygon ``x1,y1,...,xn,yn`` (n >= 3; rotated boxes have 4 corners).
The reset protocol (:class:`~siamfcpp.evaluation.protocols.SupervisedJob`) writes boxes, other
trackers and the VOT toolkit write polygons too; :mod:`siamfcpp.evaluation.metrics.vot` scores
either.

Lines are read as the official VOT toolkit (``vot-toolkit`` 0.9.0) reads them: stripped of
surrounding white space, split on commas only, each number parsed by Python's ``float`` (spaces
around numbers and scientific notation are fine) and **stored as float32**, so a value such as
``10.50000001`` is 10.5 and later rounds to 10 as in the toolkit. Where the toolkit fails
(an empty line, tabs, a trailing comma, a byte-order mark) or silently changes the meaning of a
line (``nan`` becomes "unknown", ``2.9`` the code 2; 3 or 5 numbers, points and codes other than
0 / 1 / 2 are not regions) the line is refused here with its ``file:line``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from siamfcpp.io.files import atomic_write_text

# Per-frame status codes of a supervised trajectory, as written in the result files.
SKIPPED, INIT, FAILURE = 0, 1, 2
TRACKED = -1  # a region line
CODES = (SKIPPED, INIT, FAILURE)
FORMAT_HINT = "a line is a code 0 / 1 / 2, x,y,w,h or a polygon x1,y1,...,xn,yn (n >= 3)"


@dataclass
class Trajectory:
    """A supervised trajectory: ``status[T]`` codes and ``regions[T]`` (``[4]`` box or ``[2n]``
    polygon, float64 holding float32 values; empty where ``status`` is a code)."""

    status: np.ndarray
    regions: list[np.ndarray]

    @classmethod
    def skipped(cls, num_frames: int) -> Trajectory:
        """``num_frames`` skipped frames, to be filled in by the reset protocol."""
        return cls(np.full(num_frames, SKIPPED, dtype=np.int64), [_NO_REGION] * num_frames)

    def __len__(self) -> int:
        return len(self.status)


_NO_REGION = np.zeros(0)


def as_float32(values) -> np.ndarray:
    """``values`` rounded to float32, as the VOT toolkit stores regions, returned as float64."""
    return np.asarray(values, dtype=np.float32).astype(np.float64)


def parse_region(text: str, where: str, *, codes: bool = True) -> int | np.ndarray:
    """One result (or ground-truth) line: a status code (``int``) or a region (float64 ``[k]``
    holding float32 values). ``codes=False`` refuses codes (ground truth).

    Raises:
        ValueError: naming ``where`` (``file:line``) for lines the toolkit fails on or reads as
            something else than a code or a region (see the module docstring).
    """
    line = text.strip()
    if not line:
        raise ValueError(f"{where}: empty line (the VOT toolkit fails on it too); delete it")
    try:
        values = [float(v) for v in line.split(",")]
    except ValueError as err:
        raise ValueError(
            f"{where}: {text!r} is not comma-separated numbers; {FORMAT_HINT}"
        ) from err
    if len(values) == 1 and codes:
        if values[0] not in CODES:
            raise ValueError(f"{where}: {text!r} is no status code; {FORMAT_HINT}")
        return int(values[0])
    region = as_float32(values)
    bad_count = len(values) != 4 and (len(values) < 6 or len(values) % 2)
    if bad_count or (not codes and not np.isfinite(region).all()):
        raise ValueError(
            f"{where}: a VOT region is 4 (x,y,w,h) or 2n >= 6 (polygon) finite numbers, got "
            f"{text!r}"
        )
    if not np.isfinite(region).all():
        raise ValueError(
            f"{where}: {text!r} is not finite (the VOT toolkit would silently count the frame as "
            "unknown); write 0 for a frame without a prediction"
        )
    return region


def trajectory_path(tracker_dir: Path, sequence: str) -> Path:
    """``<tracker_dir>/baseline/<seq>/<seq>_001.txt``."""
    return Path(tracker_dir) / "baseline" / sequence / f"{sequence}_001.txt"


def format_trajectory(trajectory: Trajectory) -> str:
    """Result-file text: one line per frame, a status code or the region with 4 decimals."""
    lines = []
    for status, region in zip(trajectory.status, trajectory.regions, strict=True):
        if status == TRACKED:
            lines.append(",".join(f"{v:.4f}" for v in region))
        else:
            lines.append(str(int(status)))
    return "\n".join(lines) + "\n"


def write_trajectory(path: Path, trajectory: Trajectory) -> None:
    atomic_write_text(path, format_trajectory(trajectory))


def read_trajectory(path: Path) -> Trajectory:
    """Read a supervised result file (see the module docstring for what is accepted)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"result file {path} does not exist")
    status, regions = [], []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parsed = parse_region(line, f"{path}:{line_no}")
        if isinstance(parsed, int):
            status.append(parsed)
            regions.append(_NO_REGION)
        else:
            status.append(TRACKED)
            regions.append(parsed)
    return Trajectory(np.asarray(status, dtype=np.int64), regions)
