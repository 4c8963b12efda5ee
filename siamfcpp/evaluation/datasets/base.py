"""Contracts shared by every benchmark: the sequence record and the benchmark interface."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.contrib.logging import logging_redirect_tqdm

from siamfcpp.evaluation.progress import FrameProgress
from siamfcpp.evaluation.protocols import Job, RunStats, run, timing
from siamfcpp.evaluation.report import write_report
from siamfcpp.io.frames import frame_conversions, record_conversions
from siamfcpp.tracking.engine import TrackingEngine

log = logging.getLogger(__name__)


@dataclass
class SequenceData:
    """One benchmark sequence as read from disk.

    Attributes:
        name: sequence name as the benchmark spells it.
        frames: image paths, one per frame, in order.
        gt: ground truth ``[T, 4]`` float64 ``x, y, w, h`` (NaN rows where the benchmark has none).
        polygons: VOT only, ``[T, 8]`` float64 corner polygons (rectangles written as 4 corners).
        attributes: per-frame flags (e.g. ``absence``, ``occlusion``) keyed by name.
    """

    name: str
    frames: list[Path]
    gt: np.ndarray
    polygons: np.ndarray | None = None
    attributes: dict[str, np.ndarray] = field(default_factory=dict)


class Benchmark(ABC):
    """A benchmark reads its data set, runs a tracker over it, writes results and scores them."""

    name: str
    #: where a sequence's result file lies in a tracker folder, for messages
    result_layout: str = ""

    @abstractmethod
    def sequences(self) -> list[SequenceData]:
        """All sequences of the configured split, in a stable order."""

    def track(
        self,
        engine: TrackingEngine,
        output_dir: Path,
        tracker_name: str,
        shard: tuple[int, int] = (0, 1),
        decode_workers: int = 0,
        stats: RunStats | None = None,
        gpu_decode: bool = False,
    ) -> None:
        """Track the sequences of ``shard`` that have no results under ``output_dir`` yet.

        Writes results in the benchmark's official layout under ``<output_dir>/<tracker_name>``,
        atomically, one sequence at a time, so a rerun resumes. ``shard = (k, n)`` takes every
        ``n``-th sequence from the ``k``-th (one process per device, see
        :mod:`siamfcpp.evaluation.sharding`). The engine tracks ``engine.num_slots`` sequences at
        a time (:func:`siamfcpp.evaluation.protocols.run`); ``decode_workers`` processes decode
        frames ahead (or the GPU, ``gpu_decode``); ``stats`` collects where the time went.
        One progress bar runs over all frames (:class:`FrameProgress`).
        """
        tracker_dir = Path(output_dir) / tracker_name
        k, n = shard
        sequences = self.sequences()[k::n]
        todo = [s for s in sequences if not self._finished(tracker_dir, s.name)]
        if len(todo) < len(sequences):
            skipped = len(sequences) - len(todo)
            log.info("%d of %d sequences have results: skipped", skipped, len(sequences))
        lengths = {seq.name: len(seq.frames) for seq in todo}
        progress = FrameProgress(sum(lengths.values()), len(todo), self.name, position=k)
        jobs = (self._job(seq) for seq in todo)
        try:
            with logging_redirect_tqdm():
                tracked = run(
                    engine,
                    jobs,
                    decode_workers=decode_workers,
                    gpu_decode=gpu_decode,
                    stats=stats,
                    on_step=progress.step,
                )
                for done, job in enumerate(tracked, start=1):
                    summary = self._write_results(tracker_dir, job)
                    progress.finished(job, lengths[job.name])
                    log.debug("[%d/%d] %s: %s", done, len(todo), job.name, summary)
        finally:
            progress.close()

    @abstractmethod
    def _job(self, sequence: SequenceData) -> Job:
        """The sequence under the benchmark's run protocol."""

    @abstractmethod
    def _finished(self, tracker_dir: Path, name: str) -> bool:
        """Whether sequence ``name`` has its results (the file written last exists)."""

    @abstractmethod
    def _write_results(self, tracker_dir: Path, job: Job) -> str:
        """Write a finished job's result files (the one :meth:`_finished` checks last) and
        return a one-line summary for the log."""

    @abstractmethod
    def result_names(self, tracker_dir: Path) -> set[str]:
        """Names of the sequences that have a result file in ``tracker_dir`` (official layout)."""

    @abstractmethod
    def score(self, tracker_dir: Path, report_dir: Path) -> dict[str, Any]:
        """Score the result files in ``tracker_dir`` (the official layout of one tracker, named
        after the folder); files the scoring makes besides the report (toolkit reports,
        submission archives) go to ``report_dir``. Returns the result dict (``metrics`` and
        more)."""

    def check_results(self, tracker_dir: Path) -> None:
        """Refuse a results folder that lacks a sequence's results or holds results of a
        sequence the benchmark does not have (so that no score averages another set)."""
        tracker_dir = Path(tracker_dir)
        if not tracker_dir.is_dir():
            raise FileNotFoundError(f"results={tracker_dir}: no such folder")
        names = [s.name for s in self.sequences()]
        found = self.result_names(tracker_dir)
        extra = sorted(found - set(names))
        if extra:
            raise ValueError(
                f"results={tracker_dir} holds results of {len(extra)} sequence(s) that "
                f"{self.name} does not have (e.g. {', '.join(extra[:3])}): another benchmark or "
                "split? remove them or choose the matching benchmark="
            )
        missing = [n for n in names if n not in found]
        if missing:
            raise ValueError(
                f"results={tracker_dir} lacks the results of {len(missing)} of the {len(names)} "
                f"{self.name} sequences (e.g. {', '.join(missing[:3])}; layout: "
                f"{self.result_layout}); score the others with benchmark.sequences=[...]"
            )

    def run(
        self,
        engine: TrackingEngine,
        output_dir: Path,
        tracker_name: str,
        decode_workers: int = 0,
        gpu_decode: bool = False,
    ) -> dict[str, Any]:
        """Track what is not finished, score everything, write ``metrics.json`` and the tables.

        The result's ``timing`` says where the tracking time went (:func:`timing`).
        """
        output_dir = Path(output_dir)
        before = frame_conversions.copy()
        stats = RunStats()
        self.track(
            engine,
            output_dir,
            tracker_name,
            decode_workers=decode_workers,
            stats=stats,
            gpu_decode=gpu_decode,
        )
        result = self.score(output_dir / tracker_name, output_dir)
        result["timing"] = timing(stats)
        record_conversions(result, before)
        write_report(output_dir, result)
        return result
