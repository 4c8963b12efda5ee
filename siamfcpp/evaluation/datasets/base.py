"""Contracts shared by every benchmark: the sequence record and the benchmark interface."""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
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

    #: where a sequence's result file lies in a tracker folder, for messages
    result_layout: str = ""

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

    def todo(self, tracker_dir: Path, shard: tuple[int, int] = (0, 1)) -> list[SequenceData]:
        """The sequences of ``shard`` that have no results in ``tracker_dir`` yet, after checking
        the results of the others (what scoring will read): a stale or foreign result file is an
        error naming it, before any tracking."""
        k, n = shard
        todo = []
        for seq in self.sequences()[k::n]:
            if self._finished(Path(tracker_dir), seq.name):
                self._check_results(Path(tracker_dir), seq)
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
        total = len(self.sequences()[k::n])
        todo = self.todo(tracker_dir, shard)
        if len(todo) < total:
            log.info("%d of %d sequences have results: skipped", total - len(todo), total)
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
    def _check_results(self, tracker_dir: Path, sequence: SequenceData) -> None:
        """Raise naming the file and the fix unless the finished ``sequence``'s result files
        in ``tracker_dir`` are what scoring reads: complete, one entry per frame."""

    @abstractmethod
    def _write_results(self, tracker_dir: Path, job: Job) -> str:
        """Write a finished job's result files (the one :meth:`_finished` checks last) and
        return a one-line summary for the log."""

    @abstractmethod
    def result_names(self, tracker_dir: Path) -> set[str]:
        """Names of the sequences that have a result file in ``tracker_dir`` (official layout)."""

    def score(self, tracker_dir: Path, report_dir: Path) -> dict[str, Any]:
        """Score the result files in ``tracker_dir`` (the official layout of one tracker, named
        after the folder); files the scoring makes besides the report (toolkit reports,
        submission archives) go to ``report_dir``. Returns the result dict (``metrics`` and
        more), saying so when the sequences are an explicit subset."""
        result = self._score(Path(tracker_dir), Path(report_dir))
        if self.selection is not None:
            result["selection"] = list(self.selection)
            note = (
                f"Explicit subset (benchmark.sequences): {len(self.selection)} sequences of "
                f"{self._split()}, not comparable with results on the whole benchmark."
            )
            result["note"] = f"{note} {result['note']}" if result.get("note") else note
        return result

    @abstractmethod
    def _score(self, tracker_dir: Path, report_dir: Path) -> dict[str, Any]:
        """The result dict of :meth:`score` from the result files."""

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

        The result's ``timing`` says where the tracking time went (:func:`timing`) and how long
        scoring took (``scoring_seconds``).
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
        start = time.perf_counter()
        result = self.score(output_dir / tracker_name, output_dir)
        result["timing"] = timing(stats) | {
            "scoring_seconds": round(time.perf_counter() - start, 3)
        }
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
