"""Run the not-yet-finished sequences of a one-pass benchmark and write their result files.

Shared by GOT-10k (and the synthetic benchmark) and the one-pass benchmarks (LaSOT, OTB, UAV123,
TrackingNet) through :class:`OnePassTracking`; only the result file names and number format
differ between them.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path

from siamfcpp.benchmarks.base import Benchmark, SequenceData, TrackerFactory
from siamfcpp.benchmarks.io import atomic_write_text, format_boxes
from siamfcpp.benchmarks.report import fps
from siamfcpp.tracking.lockstep import track_sequences

log = logging.getLogger(__name__)

ResultFiles = Callable[[str], tuple[Path, Path]]


def run_pending(
    make_tracker: TrackerFactory,
    sequences: Sequence[SequenceData],
    result_files: ResultFiles,
    box_format: str,
    batch_sequences: int = 1,
) -> None:
    """Track every sequence whose box file is missing; skip (resume) the others.

    Args:
        make_tracker: builds a fresh tracker per sequence.
        sequences: the benchmark's sequences.
        result_files: sequence name -> ``(box file, time file)``.
        box_format: printf format of one box coordinate (the benchmark's official precision).
        batch_sequences: sequences tracked together in lockstep (1 = one at a time); the boxes
            are the same either way (:mod:`siamfcpp.tracking.lockstep`).
    """
    todo = [seq for seq in sequences if not result_files(seq.name)[0].exists()]
    if len(todo) < len(sequences):
        log.info(
            "%d of %d sequences have results: skipped", len(sequences) - len(todo), len(sequences)
        )
    for k, (seq, boxes, times) in enumerate(track_sequences(make_tracker, todo, batch_sequences)):
        box_file, time_file = result_files(seq.name)
        # Times first, boxes last: the box file marks the sequence as finished.
        atomic_write_text(time_file, "".join(f"{t:.8f}\n" for t in times))
        atomic_write_text(box_file, format_boxes(boxes, fmt=box_format))
        log.info(
            "[%d/%d] %s: %d frames, %.1f FPS",
            k + 1,
            len(todo),
            seq.name,
            len(times),
            fps(len(times), float(times.sum())),
        )


class OnePassTracking(Benchmark):
    """A benchmark whose sequences are each tracked once from the first frame, with one box file
    and one time file per sequence (:func:`run_pending`).

    Attributes:
        box_format: printf format of one box coordinate (the benchmark's official precision).
    """

    box_format: str

    @abstractmethod
    def _result_files(self, output_dir: Path, tracker_name: str) -> ResultFiles:
        """Sequence name -> ``(box file, time file)`` in the benchmark's official layout."""

    def track(
        self,
        make_tracker: TrackerFactory,
        output_dir: Path,
        tracker_name: str,
        batch_sequences: int = 1,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        k, n = shard
        result_files = self._result_files(output_dir, tracker_name)
        run_pending(
            make_tracker, self.sequences()[k::n], result_files, self.box_format, batch_sequences
        )
