"""One-pass evaluation: every sequence tracked once from its first ground-truth box.

:class:`OnePassBenchmark` is the base of the one-pass benchmarks: it tracks the sequences that have
no results yet (:class:`~siamfcpp.evaluation.protocols.OnePassJob` on the tracking engine) and
writes one box file and one time file per sequence, atomically (the box file last: it marks the
sequence as finished). GOT-10k (and the synthetic benchmark) score with the got10k toolkit; OTB100,
UAV123, LaSOT and TrackingNet with :class:`SuccessPrecisionBenchmark`: per-sequence success /
precision (:mod:`siamfcpp.evaluation.metrics.one_pass`), averaged over sequences as the
benchmarks' toolkits do. A split whose ground truth is withheld is packed into
``<output_dir>/<tracker>.zip`` for its evaluation server (:func:`write_submission`).
"""

from __future__ import annotations

import io
import json
import logging
import os
import zipfile
from abc import abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from siamfcpp.evaluation.datasets.base import Benchmark, SequenceData
from siamfcpp.evaluation.metrics.one_pass import (
    PRECISION_THRESHOLDS_PX,
    SUCCESS_THRESHOLDS,
    one_pass_curves,
    one_pass_metrics,
    valid_gt_mask,
)
from siamfcpp.evaluation.protocols import OnePassJob
from siamfcpp.evaluation.report import fps
from siamfcpp.io.files import atomic_write_bytes, atomic_write_text, format_boxes, read_boxes

log = logging.getLogger(__name__)

ResultFiles = Callable[[str], tuple[Path, Path]]


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(
            f"{what} not found: {path} is not a folder. Point benchmark.root at the data set "
            "in its official layout."
        )
    return path


def numbered_frames(folder: Path, *, first: int = 1, digits: int = 8) -> list[Path]:
    """The ``.jpg`` frames of ``folder``, numbered ``first, first + 1, ...`` (zero-padded to
    ``digits``; 0: not padded), in frame order; a gap in the numbering or a stray name is an
    error naming the frame."""
    # names as strings (os.scandir): a benchmark of thousands of sequences lists them at start-up
    with os.scandir(folder) as entries:
        found = {e.name for e in entries if e.name.endswith(".jpg") and e.name[0] != "."}
    if not found:
        raise FileNotFoundError(
            f"no .jpg frames in {folder}: the sequence is empty or not extracted"
        )
    names = [f"{k:0{digits}d}.jpg" for k in range(first, first + len(found))]
    missing = [name for name in names if name not in found]
    if missing:
        stray = sorted(found - set(names))
        raise FileNotFoundError(
            f"frame {folder / missing[0]} is missing ({len(found)} frames, numbered from "
            f"{first}; unexpected: {stray[:2]}): re-extract the sequence"
        )
    return [folder / name for name in names]


def read_times(path: Path, num_frames: int) -> np.ndarray:
    """Tracker seconds per frame of a time file, checked against the sequence's length."""
    if not path.is_file():
        raise FileNotFoundError(
            f"time file {path} is missing although its sequence has results: delete the "
            "sequence's result files to rerun it"
        )
    try:
        times = np.loadtxt(path, delimiter=",", ndmin=1, dtype=np.float64)
    except ValueError as err:
        raise ValueError(f"{path} is not one number per line ({err}): delete it to rerun") from err
    if times.shape != (num_frames,) or not np.isfinite(times).all():
        raise ValueError(
            f"{path} has {times.size} times for {num_frames} frames: a stale result; delete the "
            "sequence's result files to rerun it"
        )
    return times


def read_result_boxes(path: Path, num_frames: int) -> np.ndarray:
    """The ``[T, 4]`` boxes of a one-pass result file, checked against the sequence's length."""
    try:
        boxes = read_boxes(path)
    except ValueError as err:
        raise ValueError(f"{err}; delete the file to rerun the sequence") from err
    if len(boxes) != num_frames or not np.isfinite(boxes).all():
        raise ValueError(
            f"{path} has {len(boxes)} boxes for {num_frames} frames (or non-finite ones): a "
            "stale result; delete it to rerun the sequence"
        )
    return boxes


def check_first_box(gt: np.ndarray, gt_file: Path) -> np.ndarray:
    """``gt`` unless its first box (the tracker's initial box) is NaN or not positive.

    Later invalid rows are a documented recovery: those frames are not scored
    (:func:`~siamfcpp.evaluation.metrics.one_pass.valid_gt_mask`; UAV123 marks absent targets
    with NaN, LaSOT with zero boxes) and counted in the result's ``unscored_frames``.
    """
    if len(gt) == 0 or not valid_gt_mask(gt[:1]).all():
        first = gt[0].tolist() if len(gt) else None
        raise ValueError(
            f"{gt_file}:1: the initial box {first} is NaN or has a non-positive size, so the "
            "tracker cannot start: fix the annotation's first line"
        )
    return gt


def toolkit_data_file(name: str) -> dict[str, Any]:
    """A JSON data file shipped inside the got10k toolkit (official split lists, frame ranges)."""
    import got10k.datasets

    return json.loads((Path(got10k.datasets.__file__).parent / name).read_text())


def write_submission(archive: Path, results_dir: Path, names: Sequence[str]) -> None:
    """Zip the result files ``names`` (paths relative to ``results_dir``) into ``archive``,
    atomically: the upload an evaluation server takes for a withheld-ground-truth split."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in names:
            zf.write(results_dir / name, arcname=name)
    atomic_write_bytes(archive, buf.getvalue())


class OnePassBenchmark(Benchmark):
    """A benchmark whose sequences are each tracked once from the first frame, with one box file
    and one time file per sequence.

    Attributes:
        box_format: printf format of one box coordinate (the benchmark's official precision).
    """

    box_format: str

    @abstractmethod
    def _result_files(self, tracker_dir: Path) -> ResultFiles:
        """Sequence name -> ``(box file, time file)`` in the benchmark's official layout."""

    def _job(self, sequence: SequenceData) -> OnePassJob:
        return OnePassJob(sequence.name, sequence.frames, sequence.gt[0])

    def _finished(self, tracker_dir: Path, name: str) -> bool:
        return self._result_files(tracker_dir)(name)[0].exists()

    def _check_results(self, tracker_dir: Path, sequence: SequenceData) -> None:
        box_file, time_file = self._result_files(tracker_dir)(sequence.name)
        read_result_boxes(box_file, len(sequence.frames))
        read_times(time_file, len(sequence.frames))

    def _write_results(self, tracker_dir: Path, job: OnePassJob) -> str:
        box_file, time_file = self._result_files(tracker_dir)(job.name)
        # Times first, boxes last: the box file marks the sequence as finished.
        atomic_write_text(time_file, "".join(f"{t:.8f}\n" for t in job.times))
        atomic_write_text(box_file, format_boxes(job.boxes, fmt=self.box_format))
        return f"{len(job.times)} frames, {fps(len(job.times), float(job.times.sum())):.1f} FPS"


class SuccessPrecisionBenchmark(OnePassBenchmark):
    """One-pass result layout ``<seq>.txt``, success / precision scores and the submission
    archive; subclasses only read their sequences.

    Attributes:
        normalized_precision: whether the benchmark defines normalised precision.
        gt_withheld: True where only the first gt box is public (scored by a server).
    """

    box_format = "%.4f"
    normalized_precision: bool = False
    subset: str | None = None

    @property
    def gt_withheld(self) -> bool:
        return False

    result_layout = "<seq>.txt"

    def _result_files(self, tracker_dir: Path) -> ResultFiles:
        def result_files(name: str) -> tuple[Path, Path]:
            return tracker_dir / f"{name}.txt", tracker_dir / f"{name}_time.txt"

        return result_files

    def result_names(self, tracker_dir: Path) -> set[str]:
        return {p.stem for p in Path(tracker_dir).glob("*.txt") if not p.stem.endswith("_time")}

    def _times(self, tracker_dir: Path, name: str) -> np.ndarray | None:
        """Tracker seconds per frame: ``<seq>_time.txt`` as written here or
        ``times/<seq>_time.txt`` as the original's testers write it; None if neither exists."""
        for path in (tracker_dir / f"{name}_time.txt", tracker_dir / "times" / f"{name}_time.txt"):
            if path.is_file():
                return np.loadtxt(path, ndmin=1)
        return None

    def _score(self, tracker_dir: Path, report_dir: Path) -> dict[str, Any]:
        tracker_dir, report_dir = Path(tracker_dir), Path(report_dir)
        sequences = self.sequences()
        result_files = self._result_files(tracker_dir)
        rows = []
        curves: dict[str, list[np.ndarray]] = {"success": [], "precision": []}
        total_frames, total_seconds, unscored = 0, 0.0, 0
        for seq in sequences:
            record, _ = result_files(seq.name)
            boxes = read_result_boxes(record, len(seq.frames))
            row: dict[str, Any] = {"name": seq.name, "frames": len(seq.frames)}
            if not self.gt_withheld:
                unscored += int((~valid_gt_mask(seq.gt)).sum())
                row.update(one_pass_metrics(boxes, seq.gt, normalized=self.normalized_precision))
                for key, curve in one_pass_curves(boxes, seq.gt).items():
                    curves[key].append(curve)
            times = self._times(tracker_dir, seq.name)
            if times is not None:
                total_frames += len(times)
                total_seconds += float(times.sum())
                row["FPS"] = fps(len(times), float(times.sum()))
            rows.append(row)

        result: dict[str, Any] = {
            "benchmark": self.name,
            "subset": self.subset,
            "tracker": tracker_dir.name,
            "results_dir": str(tracker_dir),
            "num_sequences": len(sequences),
            "num_frames": total_frames,
        }
        if unscored:
            # frames whose gt is NaN or not positive (absent target): left out of every metric
            result["unscored_frames"] = unscored
            log.info("%d frames without a valid ground-truth box are not scored", unscored)
        metrics: dict[str, float] = {}
        if self.gt_withheld:
            archive = report_dir / f"{tracker_dir.name}.zip"
            write_submission(archive, tracker_dir, [f"{seq.name}.txt" for seq in sequences])
            result["submission"] = str(archive)
            result["note"] = (
                f"{self.name} {self.subset}: ground truth is withheld, metrics come from the "
                f"evaluation server. Upload {archive}."
            )
        else:
            for key in rows[0] if rows else []:
                if key not in ("name", "frames", "FPS"):
                    metrics[key] = float(np.mean([r[key] for r in rows]))
            # Plotted by the report: curves averaged over sequences, as the toolkits plot them.
            result["curves"] = {
                "success": {
                    "x": SUCCESS_THRESHOLDS.tolist(),
                    "y": np.mean(curves["success"], axis=0).tolist(),
                    "xlabel": "Overlap threshold",
                    "score": metrics["Success"],
                },
                "precision": {
                    "x": PRECISION_THRESHOLDS_PX.tolist(),
                    "y": np.mean(curves["precision"], axis=0).tolist(),
                    "xlabel": "Location error threshold (px)",
                    "score": metrics["Precision"],
                },
            }
        if total_seconds > 0:
            metrics["FPS"] = fps(total_frames, total_seconds)
        result["metrics"] = metrics
        result["sequences"] = rows
        return result
