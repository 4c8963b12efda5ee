"""Contracts shared by every benchmark: the sequence record and the benchmark interface."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

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

        Writes results in the benchmark's official layout, atomically, one sequence at a time, so
        a rerun resumes. ``shard = (k, n)`` takes every ``n``-th sequence from the ``k``-th (one
        process per device, see :mod:`siamfcpp.evaluation.sharding`). The engine tracks
        ``engine.num_slots`` sequences at a time (:func:`siamfcpp.evaluation.protocols.run`);
        ``decode_workers`` processes decode frames ahead (or the GPU, ``gpu_decode``: see
        :func:`~siamfcpp.evaluation.protocols.run`); ``stats`` collects where the time went.
        """
        k, n = shard
        sequences = self.sequences()[k::n]
        todo = [s for s in sequences if not self._finished(output_dir, tracker_name, s.name)]
        if len(todo) < len(sequences):
            skipped = len(sequences) - len(todo)
            log.info("%d of %d sequences have results: skipped", skipped, len(sequences))
        jobs = (self._job(seq) for seq in todo)
        finished = run(
            engine, jobs, decode_workers=decode_workers, gpu_decode=gpu_decode, stats=stats
        )
        for done, job in enumerate(finished, start=1):
            summary = self._write_results(output_dir, tracker_name, job)
            log.info("[%d/%d] %s: %s", done, len(todo), job.name, summary)

    @abstractmethod
    def _job(self, sequence: SequenceData) -> Job:
        """The sequence under the benchmark's run protocol."""

    @abstractmethod
    def _finished(self, output_dir: Path, tracker_name: str, name: str) -> bool:
        """Whether sequence ``name`` has its results (the file written last exists)."""

    @abstractmethod
    def _write_results(self, output_dir: Path, tracker_name: str, job: Job) -> str:
        """Write a finished job's result files (the one :meth:`_finished` checks last) and
        return a one-line summary for the log."""

    @abstractmethod
    def score(self, output_dir: Path, tracker_name: str) -> dict[str, Any]:
        """Score the result files of every sequence; the result dict (``metrics`` and more)."""

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
        result = self.score(output_dir, tracker_name)
        result["timing"] = timing(stats)
        record_conversions(result, before)
        write_report(output_dir, result)
        return result
