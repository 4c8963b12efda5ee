"""Contracts shared by every benchmark: the sequence record and the benchmark interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from siamfcpp.benchmarks.report import write_report


class Tracker(Protocol):
    """What a benchmark drives: boxes are 0-based pixel ``x, y, w, h``; frames BGR uint8 HxWx3."""

    def init(self, frame: np.ndarray, box_xywh: np.ndarray) -> None: ...

    def update(self, frame: np.ndarray) -> np.ndarray: ...


TrackerFactory = Callable[[], Tracker]


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

    @abstractmethod
    def track(
        self,
        make_tracker: TrackerFactory,
        output_dir: Path,
        tracker_name: str,
        batch_sequences: int = 1,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        """Track the sequences of ``shard`` that have no results under ``output_dir`` yet.

        Writes results in the benchmark's official layout, atomically, one sequence at a time, so
        a rerun resumes. ``shard = (k, n)`` takes every ``n``-th sequence from the ``k``-th (one
        process per device, see :mod:`siamfcpp.sharding`). ``batch_sequences > 1`` tracks that many
        sequences together in lockstep (one batched network call per step; same boxes) where the
        protocol allows it.
        """

    @abstractmethod
    def score(self, output_dir: Path, tracker_name: str) -> dict[str, Any]:
        """Score the result files of every sequence; the result dict (``metrics`` and more)."""

    def run(
        self,
        make_tracker: TrackerFactory,
        output_dir: Path,
        tracker_name: str,
        batch_sequences: int = 1,
    ) -> dict[str, Any]:
        """Track what is not finished, score everything, write ``metrics.json`` and the tables."""
        from siamfcpp.benchmarks.runner import (  # runner imports this module
            frame_conversions,
            record_conversions,
        )

        output_dir = Path(output_dir)
        before = frame_conversions.copy()
        self.track(make_tracker, output_dir, tracker_name, batch_sequences)
        result = self.score(output_dir, tracker_name)
        record_conversions(result, before)
        write_report(output_dir, result)
        return result
