"""Accuracy, robustness and expected average overlap (EAO) of the VOT supervised experiment.

Computed as the official VOT toolkit (``vot-toolkit``, analyses ``supervised_average_ar`` and
``supervised_eao_score`` of the VOT2018 / VOT2019 stacks) computes them;
``tests/test_vot_metrics.py`` checks every number against the toolkit's own on hand-made result
sets. Definitions:

* overlap of a frame: pixel overlap of the reported region (box or polygon) with the annotated
  region inside the image, both as the toolkit's float32 numbers
  (:func:`siamfcpp.evaluation.metrics.vot_region.region_overlaps`);
* accuracy of a sequence: mean overlap over the tracked frames, leaving out the ``burnin`` frames
  starting at each (re-)initialisation (the init frame included), failures and skipped frames
  (0 when no frame is left); **accuracy** of the data set: the sequences' accuracies weighted by
  their number of frames;
* **robustness** (VOT's "failure rate", the R of the VOT2016-2019 result tables):
  ``100 * total failures / total frames``, the mean number of failures per 100 frames;
* EAO: each trajectory is cut into runs from an initialisation up to the frame before the next
  failure (a failed run) or to the sequence end (a finished run). The curve at length ``n``
  averages, over the runs that failed or are longer than ``n`` frames, the run's mean overlap over
  its frames ``1 .. n`` after the initialisation frame, a failed run counting 0 beyond its end;
  **EAO** is the mean of that curve over lengths ``low .. high`` inclusive (VOT2018
  ``[100, 356]``, VOT2019 ``[46, 291]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from siamfcpp.evaluation.metrics.vot_region import region_overlaps
from siamfcpp.evaluation.trajectory import FAILURE, INIT, TRACKED, Trajectory


def frame_overlaps(
    trajectory: Trajectory, regions: Sequence[np.ndarray], image_size: tuple[int, int]
) -> np.ndarray:
    """``[T]`` overlap of each tracked frame with the ground truth; 0 at status frames."""
    if len(trajectory) != len(regions):
        raise ValueError(
            f"trajectory has {len(trajectory)} frames but the sequence has {len(regions)}; "
            "the result file is incomplete: delete it to re-run the sequence"
        )
    overlaps = np.zeros(len(trajectory))
    tracked = np.flatnonzero(trajectory.status == TRACKED)
    overlaps[tracked] = region_overlaps(
        [trajectory.regions[t] for t in tracked], [regions[t] for t in tracked], image_size
    )
    return overlaps


def sequence_accuracy(overlaps: np.ndarray, status: np.ndarray, burnin: int) -> float:
    """Mean overlap of tracked frames outside the burn-in after each initialisation (0 if none)."""
    valid = status == TRACKED
    for start in np.flatnonzero(status == INIT):
        valid[start : start + burnin] = False
    return float(np.mean(overlaps[valid])) if valid.any() else 0.0


def count_failures(status: np.ndarray) -> int:
    return int(np.count_nonzero(status == FAILURE))


@dataclass
class SequenceScore:
    """Per-sequence numbers that the data-set scores combine."""

    name: str
    frames: int
    accuracy: float
    failures: int


def accuracy_robustness(scores: Sequence[SequenceScore]) -> tuple[float, float]:
    """``(accuracy, robustness)``: frame-weighted mean accuracy and failures per 100 frames."""
    frames = np.array([s.frames for s in scores], dtype=np.float64)
    accuracy = float(np.sum(frames * [s.accuracy for s in scores]) / frames.sum())
    robustness = float(100.0 * sum(s.failures for s in scores) / frames.sum())
    return accuracy, robustness


def eao_runs(overlaps: np.ndarray, status: np.ndarray) -> list[tuple[np.ndarray, bool]]:
    """Cut one trajectory into ``(overlaps from the init frame on, failed)`` runs."""
    inits = np.flatnonzero(status == INIT)
    failures = np.flatnonzero(status == FAILURE)
    if len(failures) == 0:
        return [(overlaps, False)]
    runs = [(overlaps[start:end], True) for start, end in zip(inits, failures, strict=False)]
    if len(inits) > len(failures):
        runs.append((overlaps[inits[-1] :], False))
    return runs


def eao_curve(runs: Sequence[tuple[np.ndarray, bool]]) -> np.ndarray:
    """``[L]`` expected average overlap for run lengths ``0 .. L - 1`` (L: the longest run)."""
    length = max(len(o) for o, _ in runs)
    padded = np.zeros((len(runs), length))
    counts = np.zeros((len(runs), length), dtype=bool)
    for k, (o, failed) in enumerate(runs):
        padded[k, : len(o)] = o
        counts[k, :] = True if failed else np.arange(length) < len(o)
    # Mean over the frames 1..n after the initialisation frame (index 0 keeps the init frame).
    means = padded.copy()
    means[:, 1:] = np.cumsum(padded[:, 1:], axis=1) / np.arange(1, length)
    return np.sum(means * counts, axis=0) / np.sum(counts, axis=0)


def eao_score(curve: np.ndarray, interval: tuple[int, int]) -> float:
    """Mean of the EAO curve over run lengths ``low .. high`` inclusive (NaN if all are longer
    than the longest run)."""
    low, high = interval
    values = curve[low : high + 1]
    return float(np.mean(values)) if len(values) else float("nan")
