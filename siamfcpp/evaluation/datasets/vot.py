"""VOT2018 / VOT2019 short-term benchmark: the supervised (reset) experiment and its scores.

Protocol (VOT2018, as the VOT toolkit runs it and the original implementation reproduces it): the
tracker is initialised on frame 0 with the axis-aligned box of the annotated region
(:func:`~siamfcpp.evaluation.datasets.vot_layout.init_box_xywh`); on every later frame its box is
compared with the annotation (:func:`~siamfcpp.evaluation.metrics.vot_region.region_overlaps`,
pixels inside the image); an overlap of 0 is a failure, and the tracker is re-initialised
``reinit_delay`` (5) frames later, the frames in between being skipped
(:class:`~siamfcpp.evaluation.protocols.SupervisedJob`). One run per sequence (the tracker is
deterministic); with an engine of several slots, several sequences run at once.

Results: ``<output_dir>/<tracker>/baseline/<seq>/<seq>_001.txt`` (VOT / pysot layout, read by the
VOT toolkit and pysot: ``1`` init, ``2`` failure, ``0`` skipped, else ``x,y,w,h``) and
``<seq>_001_time.value`` (tracker seconds per frame, 0 where skipped). A rerun skips sequences
whose result file exists. Scores (:mod:`siamfcpp.evaluation.metrics.vot`, equal to the official
toolkit's): ``Accuracy``, ``Robustness`` (failures per 100 frames, the R of the VOT papers),
``EAO``, plus ``Failures`` (total) and ``FPS`` (tracker time only; absent for results that
came without time files). The report adds
``metrics.json``, the per-sequence tables and ``eao_plot.png``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from siamfcpp.evaluation.datasets.base import Benchmark
from siamfcpp.evaluation.datasets.one_pass import read_times
from siamfcpp.evaluation.datasets.vot_layout import VotSequence, read_vot
from siamfcpp.evaluation.metrics.vot import (
    SequenceScore,
    accuracy_robustness,
    count_failures,
    eao_curve,
    eao_runs,
    eao_score,
    frame_overlaps,
    sequence_accuracy,
)
from siamfcpp.evaluation.protocols import SupervisedJob
from siamfcpp.evaluation.report import fps
from siamfcpp.evaluation.trajectory import (
    SKIPPED,
    read_trajectory,
    trajectory_path,
    write_trajectory,
)
from siamfcpp.io.files import atomic_write_text

log = logging.getLogger(__name__)

#: sequences of the VOT short-term data sets whose size is known
SIZES = {"VOT2016": 60, "VOT2017": 60, "VOT2018": 60, "VOT2019": 60}


def time_path(tracker_dir: Path, sequence: str) -> Path:
    return Path(tracker_dir) / "baseline" / sequence / f"{sequence}_001_time.value"


class VOTBenchmark(Benchmark):
    """VOT short-term data set (VOT2018, VOT2019) under the supervised experiment.

    Args:
        root: toolkit workspace (``sequences/list.txt``) or pysot folder (``<name>.json``).
        name: ``VOT2018`` or ``VOT2019`` (names the pysot json and the report).
        eao_interval: ``[low, high]`` run lengths the EAO averages over (VOT2018 ``[100, 356]``,
            VOT2019 ``[46, 291]``, from the challenges' stacks).
        reinit_delay: frames from a failure to the re-initialisation (5).
        burnin: frames from each initialisation left out of accuracy (10).
        sequences: an explicit subset of the sequence names (None: the whole data set, which
            must be complete where its size is known: :data:`SIZES`).
    """

    def __init__(
        self,
        root: str | Path,
        name: str,
        eao_interval: tuple[int, int] | list[int],
        reinit_delay: int,
        burnin: int,
        sequences: Sequence[str] | None = None,
    ) -> None:
        self.root = Path(root).expanduser()
        self.name = name
        low, high = (int(v) for v in eao_interval)
        if not 0 < low <= high:
            raise ValueError(
                f"benchmark.eao_interval must be [low, high] with 0 < low <= high: {low, high}"
            )
        self.eao_interval = (low, high)
        self.reinit_delay = int(reinit_delay)
        self.burnin = int(burnin)
        self.official_count = SIZES.get(name)
        if self.official_count is None:
            log.warning("%s: unknown VOT data set, its completeness is not checked", name)
        self.select(sequences)

    def _read(self) -> list[VotSequence]:
        return read_vot(self.root, self.name)

    result_layout = "baseline/<seq>/<seq>_001.txt"

    def _finished(self, tracker_dir: Path, name: str) -> bool:
        return trajectory_path(tracker_dir, name).exists()

    def result_names(self, tracker_dir: Path) -> set[str]:
        return {
            p.parent.name
            for p in Path(tracker_dir).glob("baseline/*/*_001.txt")
            if p.name == f"{p.parent.name}_001.txt"
        }

    def _check_results(self, tracker_dir: Path, sequence: VotSequence) -> None:
        path = trajectory_path(tracker_dir, sequence.name)
        lines = len(read_trajectory(path))
        if lines != len(sequence.frames):
            raise ValueError(
                f"{path} has {lines} lines for {len(sequence.frames)} frames: a stale result; "
                "delete it to rerun the sequence"
            )
        self._tracker_seconds(tracker_dir, sequence)

    def _write_results(self, tracker_dir: Path, job: SupervisedJob) -> str:
        # Times first, trajectory last: the trajectory file marks the sequence as finished.
        times = "".join(f"{t:.8f}\n" for t in job.times)
        atomic_write_text(time_path(tracker_dir, job.name), times)
        write_trajectory(trajectory_path(tracker_dir, job.name), job.trajectory)
        tracked = int(np.count_nonzero(job.trajectory.status != SKIPPED))
        failures = count_failures(job.trajectory.status)
        return f"{failures} failures, {fps(tracked, float(job.times.sum())):.1f} FPS"

    def _job(self, seq: VotSequence) -> SupervisedJob:
        return SupervisedJob(
            seq.name, seq.frames, seq.gt, seq.regions, seq.image_size, self.reinit_delay
        )

    def _score(self, tracker_dir: Path, report_dir: Path) -> dict[str, Any]:
        """Score the result files in ``tracker_dir`` (the result dict, EAO curve included).
        Trajectories may hold boxes or polygons; time files are optional (no ``FPS`` without)."""
        tracker_dir = Path(tracker_dir)
        rows, scores, runs = [], [], []
        total_frames, total_seconds = 0, 0.0
        for seq in self.sequences():
            trajectory = read_trajectory(trajectory_path(tracker_dir, seq.name))
            overlaps = frame_overlaps(trajectory, seq.regions, seq.image_size)
            score = SequenceScore(
                seq.name,
                len(trajectory),
                sequence_accuracy(overlaps, trajectory.status, self.burnin),
                count_failures(trajectory.status),
            )
            scores.append(score)
            runs.extend(eao_runs(overlaps, trajectory.status))
            timed = int(np.count_nonzero(trajectory.status != SKIPPED))
            seconds = self._tracker_seconds(tracker_dir, seq)
            total_frames += timed
            total_seconds += seconds
            row = {
                "name": seq.name,
                "frames": score.frames,
                "Accuracy": score.accuracy,
                "Failures": score.failures,
            }
            if seconds > 0:
                row["FPS"] = fps(timed, seconds)
            rows.append(row)
        accuracy, robustness = accuracy_robustness(scores)
        curve = eao_curve(runs)
        eao = eao_score(curve, self.eao_interval)
        result: dict[str, Any] = {
            "benchmark": self.name,
            "subset": "baseline",
            "tracker": tracker_dir.name,
            "results_dir": str(tracker_dir),
            "num_sequences": len(scores),
            "num_frames": int(sum(s.frames for s in scores)),
            "metrics": {
                "Accuracy": accuracy,
                "Robustness": robustness,
                "EAO": None if np.isnan(eao) else eao,
                "Failures": int(sum(s.failures for s in scores)),
            },
            "sequences": rows,
            "eao_interval": list(self.eao_interval),
            # Drawn by the report as eao_plot.png; index n: expected overlap of n-frame runs.
            "curves": {
                "eao": {
                    "x": list(range(1, len(curve))),
                    "y": curve[1:].tolist(),
                    "xlabel": "sequence length (frames)",
                    "ylabel": "expected average overlap",
                    "score": eao,
                }
            },
            "note": (
                "Supervised experiment, one run. Accuracy: frame-weighted mean overlap (burn-in "
                f"{self.burnin}); Robustness: failures per 100 frames; EAO over run lengths "
                f"{self.eao_interval[0]}..{self.eao_interval[1]}; as the official VOT toolkit "
                "computes them."
            ),
        }
        if total_seconds > 0:
            result["metrics"]["FPS"] = fps(total_frames, total_seconds)
        if np.isnan(eao):
            # the runs are what is short, not necessarily the sequences: failures cut them
            reason = (
                f"no run (from an initialisation to the next failure or the sequence end) is "
                f"longer than {self.eao_interval[0]} frames, the start of the EAO interval; the "
                f"longest has {max(len(o) for o, _ in runs)}"
            )
            result["undefined"] = {"EAO": reason}
            result["note"] += f" EAO is undefined: {reason}."
        return result

    @staticmethod
    def _tracker_seconds(tracker_dir: Path, seq: VotSequence) -> float:
        """Tracker seconds on a sequence (0 when results came without a time file, e.g. from
        another tool; a time file of another length is a stale result)."""
        path = time_path(tracker_dir, seq.name)
        return float(read_times(path, len(seq.frames)).sum()) if path.is_file() else 0.0
