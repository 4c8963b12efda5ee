"""Contracts shared by every benchmark: the sequence record and the benchmark interface."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from siamfcpp.evaluation.protocols import Job, run
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
    """A benchmark reads its data set, runs a tracker over it, writes results and scores them.

    :meth:`sequences` is the one way to the data: the subclass reads its split (:meth:`_read`,
    checking each sequence as it goes), and every benchmark then checks the same things before
    any work: no sequence name twice, every frame file present and one ground-truth row per frame,
    and a complete split (:meth:`_official_names` / :attr:`official_count`), unless the user asked
    for an explicit subset with ``benchmark.sequences=[...]`` (:attr:`selection`), which the
    result then reports (``selection`` in the result dict, the summary and the note).
    """

    name: str
    subset: str | None = None
    #: the names the user asked for (``benchmark.sequences``), None for the whole split
    selection: tuple[str, ...] | None = None
    #: how many sequences the complete split has where only the count is known (else None)
    official_count: int | None = None

    def select(self, sequences: Sequence[str] | None) -> None:
        """Keep the explicit subset ``sequences`` (``benchmark.sequences``; None: the split)."""
        if sequences is None:
            self.selection = None
            return
        names = [sequences] if isinstance(sequences, str) else [str(n) for n in sequences]
        if not names:
            raise ValueError("benchmark.sequences=[] selects nothing: give names or null")
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"benchmark.sequences names {repeated} more than once")
        self.selection = tuple(names)

    def sequences(self) -> list[SequenceData]:
        """The sequences to evaluate in a stable order, checked (see the class docstring)."""
        cached = getattr(self, "_sequences_cache", None)
        if cached is None:
            cached = self._sequences_cache = self._checked_sequences()
        return cached

    def _checked_sequences(self) -> list[SequenceData]:
        found = self._read()
        where = self._where()
        seen: dict[str, SequenceData] = {}
        for seq in found:
            if seq.name in seen:
                raise ValueError(
                    f"{self.name}: sequence {seq.name} appears twice in {where} "
                    f"({_folder(seen[seq.name])} and {_folder(seq)}): remove one"
                )
            seen[seq.name] = seq
        if self.selection is None:
            self._check_complete(list(seen), where)
            chosen = found
        else:
            unknown = [n for n in self.selection if n not in seen]
            if unknown:
                raise ValueError(
                    f"benchmark.sequences: {unknown[:3]} not in {self.name} ({where}; it has "
                    f"e.g. {sorted(seen)[:3]})"
                )
            chosen = [seen[n] for n in self.selection]
        for seq in chosen:
            check_sequence(seq)
        return chosen

    def _check_complete(self, names: list[str], where: str) -> None:
        """Raise unless ``names`` are the whole split (an explicit subset is not checked)."""
        hint = "re-download or re-extract the data set, or evaluate a subset explicitly with "
        hint += "benchmark.sequences=[...]"
        official = self._official_names()
        if official is not None:
            missing = [n for n in official if n not in set(names)]
            if missing:
                raise FileNotFoundError(
                    f"{len(missing)} of the {len(official)} {self._split()} sequences are missing "
                    f"from {where} (e.g. {missing[:3]}): {hint}"
                )
            extra = sorted(set(names) - set(official))
            if extra:
                raise ValueError(
                    f"{where} lists {len(extra)} sequences that are not in {self._split()} (e.g. "
                    f"{extra[:3]}): remove them, or select sequences with benchmark.sequences=[...]"
                )
        elif self.official_count is not None and len(names) != self.official_count:
            raise FileNotFoundError(
                f"{where} has {len(names)} sequences but {self._split()} has "
                f"{self.official_count}: {hint}"
            )

    def _split(self) -> str:
        return f"{self.name} {self.subset}" if self.subset else self.name

    def _where(self) -> str:
        """Where the split is read from, for messages (the data set root)."""
        return str(getattr(self, "root", self.name))

    @abstractmethod
    def _read(self) -> list[SequenceData]:
        """Every sequence of the configured split found on disk, in a stable order, each checked
        as it is read (numbering, ground-truth format, first box)."""

    def _official_names(self) -> list[str] | None:
        """The names of the complete split, where known."""
        return None

    def todo(
        self, output_dir: Path, tracker_name: str, shard: tuple[int, int] = (0, 1)
    ) -> list[SequenceData]:
        """The sequences of ``shard`` that have no results under ``output_dir`` yet, after
        checking the results of the others (what scoring will read): a stale or foreign result
        file is an error naming it, before any tracking."""
        k, n = shard
        todo = []
        for seq in self.sequences()[k::n]:
            if self._finished(output_dir, tracker_name, seq.name):
                self._check_results(Path(output_dir), tracker_name, seq)
            else:
                todo.append(seq)
        return todo

    def track(
        self,
        engine: TrackingEngine,
        output_dir: Path,
        tracker_name: str,
        shard: tuple[int, int] = (0, 1),
        decode_workers: int = 0,
    ) -> None:
        """Track the sequences of ``shard`` that have no results under ``output_dir`` yet.

        Writes results in the benchmark's official layout, atomically, one sequence at a time, so
        a rerun resumes. ``shard = (k, n)`` takes every ``n``-th sequence from the ``k``-th (one
        process per device, see :mod:`siamfcpp.evaluation.sharding`). The engine tracks
        ``engine.num_slots`` sequences at a time (:func:`siamfcpp.evaluation.protocols.run`);
        ``decode_workers`` threads decode frames ahead.
        """
        k, n = shard
        total = len(self.sequences()[k::n])
        todo = self.todo(output_dir, tracker_name, shard)
        if len(todo) < total:
            log.info("%d of %d sequences have results: skipped", total - len(todo), total)
        jobs = (self._job(seq) for seq in todo)
        for done, job in enumerate(run(engine, jobs, decode_workers=decode_workers), start=1):
            summary = self._write_results(output_dir, tracker_name, job)
            log.info("[%d/%d] %s: %s", done, len(todo), job.name, summary)

    @abstractmethod
    def _job(self, sequence: SequenceData) -> Job:
        """The sequence under the benchmark's run protocol."""

    @abstractmethod
    def _finished(self, output_dir: Path, tracker_name: str, name: str) -> bool:
        """Whether sequence ``name`` has its results (the file written last exists)."""

    @abstractmethod
    def _check_results(self, output_dir: Path, tracker_name: str, sequence: SequenceData) -> None:
        """Raise naming the file and the fix unless the finished ``sequence``'s result files
        are what scoring reads: complete, one entry per frame."""

    @abstractmethod
    def _write_results(self, output_dir: Path, tracker_name: str, job: Job) -> str:
        """Write a finished job's result files (the one :meth:`_finished` checks last) and
        return a one-line summary for the log."""

    def score(self, output_dir: Path, tracker_name: str) -> dict[str, Any]:
        """Score the result files of every sequence; the result dict (``metrics`` and more),
        saying so when the sequences are an explicit subset."""
        result = self._score(Path(output_dir), tracker_name)
        if self.selection is not None:
            result["selection"] = list(self.selection)
            note = (
                f"Explicit subset (benchmark.sequences): {len(self.selection)} sequences of "
                f"{self._split()}, not comparable with results on the whole benchmark."
            )
            result["note"] = f"{note} {result['note']}" if result.get("note") else note
        return result

    @abstractmethod
    def _score(self, output_dir: Path, tracker_name: str) -> dict[str, Any]:
        """The result dict of :meth:`score` from the result files."""

    def run(
        self,
        engine: TrackingEngine,
        output_dir: Path,
        tracker_name: str,
        decode_workers: int = 0,
    ) -> dict[str, Any]:
        """Track what is not finished, score everything, write ``metrics.json`` and the tables."""
        output_dir = Path(output_dir)
        before = frame_conversions.copy()
        self.track(engine, output_dir, tracker_name, decode_workers=decode_workers)
        result = self.score(output_dir, tracker_name)
        record_conversions(result, before)
        write_report(output_dir, result)
        return result


def _folder(seq: SequenceData) -> Path | str:
    return seq.frames[0].parent if seq.frames else seq.name


def check_sequence(seq: SequenceData) -> None:
    """Raise naming the sequence unless each frame file exists and has one ground-truth row."""
    if not seq.frames:
        raise FileNotFoundError(f"sequence {seq.name} has no frames: re-extract it")
    if len(seq.gt) != len(seq.frames):
        raise ValueError(
            f"sequence {seq.name}: {len(seq.frames)} frames in {_folder(seq)} but {len(seq.gt)} "
            "ground-truth rows: the data set is incomplete; re-extract it"
        )
    missing = [f for f in seq.frames if not f.is_file()]
    if missing:
        raise FileNotFoundError(
            f"frame {missing[0]} is missing ({len(missing)} of sequence {seq.name}): "
            "re-extract or re-download the sequence"
        )
