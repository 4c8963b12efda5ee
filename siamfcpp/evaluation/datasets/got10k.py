"""GOT-10k one-pass evaluation (val and test splits) through the official got10k toolkit.

Results go where the toolkit keeps them, ``<output_dir>/<tracker>/<seq>/<seq>_001.txt`` (boxes,
``%.3f``, row 0 the init box) and ``<seq>_time.txt`` (tracker seconds per frame). The tracker is
deterministic, so one repetition is run. Val metrics (AO, SR.50, SR.75 as in the GOT-10k paper)
come from ``ExperimentGOT10k.report``, whose files (``performance.json``, success plot) land in
``<output_dir>/reports/``; ``metrics.json`` and the per-sequence tables come from
:func:`siamfcpp.evaluation.report.write_report`. The test split's ground truth is withheld: the
run writes the submission archive ``<output_dir>/<tracker>.zip`` for the evaluation server.
"""

from __future__ import annotations

import ast
import contextlib
import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from siamfcpp.evaluation.datasets.base import SequenceData
from siamfcpp.evaluation.datasets.one_pass import (
    OnePassBenchmark,
    ResultFiles,
    numbered_frames,
    read_result_boxes,
    read_times,
    write_submission,
)
from siamfcpp.evaluation.metrics.one_pass import valid_gt_mask
from siamfcpp.evaluation.report import fps
from siamfcpp.evaluation.toolkit import ExperimentGOT10k, GOT10k, rect_iou

log = logging.getLogger(__name__)

SUBSETS = ("val", "test")
SERVER_URL = "http://got-10k.aitestunion.com/submit_instructions"


class GOT10kBenchmark(OnePassBenchmark):
    """GOT-10k ``val`` or ``test`` split read from ``<root>/<subset>/list.txt``.

    Args:
        root: data set root holding the ``val`` / ``test`` folders (the official layout).
        subset: ``val`` (scored locally) or ``test`` (submission archive for the server).
        sequences: an explicit subset of the split's sequence names (None: the whole split,
            which must then be complete).
    """

    name = "got10k"
    box_format = "%.3f"  # as the got10k toolkit writes its results
    #: sequences of each official split
    SPLIT_SIZE = 180

    def __init__(
        self, root: str | Path, subset: str, sequences: Sequence[str] | None = None
    ) -> None:
        if subset not in SUBSETS:
            raise ValueError(f"benchmark.subset must be one of {SUBSETS}, got {subset!r}")
        self.root = Path(root).expanduser()
        self.subset = subset
        self.select(sequences)

    def _where(self) -> str:
        return str(self.root / self.subset / "list.txt")

    def _official_names(self) -> list[str] | None:
        split = self.subset.capitalize()
        return [f"GOT-10k_{split}_{k:06d}" for k in range(1, self.SPLIT_SIZE + 1)]

    def _dataset(self) -> GOT10k:
        list_file = self.root / self.subset / "list.txt"
        if not list_file.is_file():
            raise FileNotFoundError(
                f"GOT-10k {self.subset} split not found: {list_file} is missing. Set "
                "benchmark.root to the folder that holds val/ and test/ (official layout)."
            )
        with contextlib.redirect_stdout(io.StringIO()):  # the toolkit prints per-folder warnings
            dataset = GOT10k(str(self.root), subset=self.subset, return_meta=True)
        # the toolkit reads exactly the sequences checked here (its own list.txt parsing keeps
        # blank lines and trailing spaces as names)
        names = [s.name for s in self.sequences()]
        dataset.seq_names = names
        dataset.seq_dirs = [str(self.root / self.subset / n) for n in names]
        dataset.anno_files = [str(self.root / self.subset / n / "groundtruth.txt") for n in names]
        return dataset

    def _read(self) -> list[SequenceData]:
        """The split's sequences, checked so that no bad label silently changes a score and the
        toolkit's scoring finds everything it reads.

        Errors (naming the file): an empty ``list.txt``, a listed folder that is missing or has
        no frames, a gap in the frame numbering (``00000001.jpg ...``), a ground truth that does
        not parse, a val ground truth whose line count differs from the frame count, a NaN or
        non-positive box on the first line or (val) on any frame the ``cover.label`` marks
        visible (frames with cover 0 are not scored by the toolkit), and (val) a missing or short
        ``cover`` / ``absence`` / ``cut_by_image`` label file or a ``meta_info.ini`` without a
        ``resolution: (W, H)`` line.
        """
        list_file = self.root / self.subset / "list.txt"
        if not list_file.is_file():
            raise FileNotFoundError(
                f"GOT-10k {self.subset} split not found: {list_file} is missing. Set "
                "benchmark.root to the folder that holds val/ and test/ (official layout)."
            )
        names = [line.strip() for line in list_file.read_text().splitlines() if line.strip()]
        if not names:
            raise ValueError(f"{list_file} lists no sequences: the split is empty")
        sequences = []
        for name in names:
            seq_dir = self.root / self.subset / name
            if not seq_dir.is_dir():
                raise FileNotFoundError(
                    f"sequence folder {seq_dir} listed in {list_file} is missing: re-extract the "
                    "data set or remove the name from list.txt"
                )
            img_files = numbered_frames(seq_dir)
            gt = self._read_gt(seq_dir, len(img_files))
            sequences.append(SequenceData(name=name, frames=img_files, gt=gt))
        return sequences

    def _read_gt(self, seq_dir: Path, num_frames: int) -> np.ndarray:
        """``[T, 4]`` ground truth (test split: first row, the rest NaN), validated."""
        gt_file = seq_dir / "groundtruth.txt"
        try:
            anno = np.loadtxt(gt_file, delimiter=",", ndmin=2, dtype=np.float64)
        except (OSError, ValueError) as err:
            raise ValueError(
                f"cannot read {gt_file} ({err}): one 'x,y,w,h' line per frame expected"
            ) from err
        if anno.shape[1:] != (4,) or len(anno) == 0:
            raise ValueError(f"{gt_file}: expected 'x,y,w,h' lines, got shape {anno.shape}")
        if self.subset == "val" and len(anno) != num_frames:
            raise ValueError(
                f"{gt_file} has {len(anno)} lines for {num_frames} frames in {seq_dir}: the "
                "sequence is incomplete; re-extract it"
            )
        if len(anno) not in (1, num_frames):  # what the toolkit accepts for the test split
            raise ValueError(
                f"{gt_file} has {len(anno)} lines for {num_frames} frames: expected the first "
                "box only or one per frame"
            )
        scored = np.zeros(len(anno), dtype=bool)
        scored[0] = True  # the initial box
        if self.subset == "val":
            _read_meta(seq_dir, num_frames)
            cover = _read_label(seq_dir / "cover.label", num_frames)
            scored[:] = True
            scored[1:] = cover[1:] > 0
        bad = scored & ~valid_gt_mask(anno)
        if bad.any():
            line = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{gt_file}:{line + 1}: box {anno[line].tolist()} is NaN or has a non-positive "
                "size on a scored frame; fix or re-download the annotation"
            )
        gt = np.full((num_frames, 4), np.nan)
        gt[: len(anno)] = anno
        return gt

    result_layout = "<seq>/<seq>_001.txt and <seq>/<seq>_time.txt"

    def _check_results(self, tracker_dir: Path, sequence: SequenceData) -> None:
        super()._check_results(tracker_dir, sequence)
        box_file, _ = self._result_files(tracker_dir)(sequence.name)
        # the toolkit averages every <seq>_<digits>.txt as a repetition of the run
        others = sorted(
            p for p in box_file.parent.glob(f"{sequence.name}_[0-9]*.txt") if p != box_file
        )
        if others:
            raise ValueError(
                f"{others[0]} is a result of another run (the got10k toolkit would average it "
                f"with {box_file.name}): delete it"
            )

    def _result_files(self, tracker_dir: Path) -> ResultFiles:
        def result_files(name: str) -> tuple[Path, Path]:
            return tracker_dir / name / f"{name}_001.txt", tracker_dir / name / f"{name}_time.txt"

        return result_files

    def result_names(self, tracker_dir: Path) -> set[str]:
        return {
            p.parent.name
            for p in Path(tracker_dir).glob("*/*_001.txt")
            if p.name == f"{p.parent.name}_001.txt"
        }

    def check_results(self, tracker_dir: Path) -> None:
        """As :meth:`Benchmark.check_results`; the toolkit also reads every ``<seq>_time.txt``
        and every repetition ``<seq>_<k>.txt``, so those are checked as a rerun checks them."""
        super().check_results(tracker_dir)
        for seq in self.sequences():
            self._check_results(Path(tracker_dir), seq)

    def _score(self, tracker_dir: Path, report_dir: Path) -> dict[str, Any]:
        tracker_dir, report_dir = Path(tracker_dir), Path(report_dir)
        sequences = self.sequences()
        if self.subset == "test":
            return self._submission(sequences, tracker_dir, report_dir)
        return self._score_val(sequences, tracker_dir, report_dir)

    def _speed(self, results_dir: Path, seq: SequenceData) -> tuple[int, float]:
        times = read_times(results_dir / seq.name / f"{seq.name}_time.txt", len(seq.frames))
        return len(times), float(times.sum())

    def _score_val(
        self, sequences: list[SequenceData], tracker_dir: Path, report_dir: Path
    ) -> dict[str, Any]:
        tracker_name = tracker_dir.name
        experiment = ExperimentGOT10k(str(self.root), subset="val")
        experiment.dataset = self._dataset()
        # The toolkit appends "GOT-10k" to its folders; point it at ours directly.
        experiment.result_dir = str(tracker_dir.parent)
        experiment.report_dir = str(report_dir / "reports")
        with contextlib.redirect_stdout(io.StringIO()):
            performance = experiment.report([tracker_name])[tracker_name]
        seq_wise = performance["seq_wise"]
        dataset = experiment.dataset
        rows = []
        total_frames, total_seconds = 0, 0.0
        for seq in sequences:
            boxes = read_result_boxes(
                tracker_dir / seq.name / f"{seq.name}_001.txt", len(seq.frames)
            )
            _, anno, meta = dataset[seq.name]
            # Same overlaps as the toolkit's report: frames after the first, image-clipped,
            # visible frames only.
            bound = tuple(int(v) for v in meta["resolution"].strip("()").split(","))
            ious = rect_iou(boxes[1:], anno[1:], bound=bound)[meta["cover"][1:] > 0]
            frames, seconds = self._speed(tracker_dir, seq)
            total_frames += frames
            total_seconds += seconds
            rows.append(
                {
                    "name": seq.name,
                    "frames": frames,
                    "AO": float(seq_wise[seq.name]["ao"]),
                    "SR.50": float(seq_wise[seq.name]["sr"]),
                    "SR.75": float(np.mean(ious > 0.75)) if len(ious) else 0.0,
                    "FPS": fps(frames, seconds),
                }
            )
        overall = performance["overall"]
        thresholds = np.linspace(0, 1, len(overall["succ_curve"]))
        return {
            "benchmark": self.name,
            "subset": self.subset,
            "tracker": tracker_name,
            "results_dir": str(tracker_dir),
            "num_sequences": len(sequences),
            "num_frames": total_frames,
            "metrics": {
                "AO": float(overall["ao"]),
                "SR.50": float(overall["sr"]),
                "SR.75": float(overall["succ_curve"][int(np.argmin(np.abs(thresholds - 0.75)))]),
                "FPS": fps(total_frames, total_seconds),
            },
            "sequences": rows,
            # Drawn by the report as success_plot.png: the toolkit's curve (its AO is the area)
            "curves": {
                "success": {
                    "x": thresholds.tolist(),
                    "y": [float(v) for v in overall["succ_curve"]],
                    "xlabel": "Overlap threshold",
                    "score": float(overall["ao"]),
                }
            },
        }

    def _submission(
        self, sequences: list[SequenceData], results_dir: Path, report_dir: Path
    ) -> dict[str, Any]:
        tracker_name = results_dir.name
        archive = report_dir / f"{tracker_name}.zip"
        rows = []
        total_frames, total_seconds = 0, 0.0
        for seq in sequences:
            frames, seconds = self._speed(results_dir, seq)
            total_frames += frames
            total_seconds += seconds
            rows.append({"name": seq.name, "frames": frames, "FPS": fps(frames, seconds)})
        files = [f"{s.name}/{s.name}_{suffix}.txt" for s in sequences for suffix in ("001", "time")]
        write_submission(archive, results_dir, files)
        return {
            "benchmark": self.name,
            "subset": self.subset,
            "tracker": tracker_name,
            "results_dir": str(results_dir),
            "submission": str(archive),
            "num_sequences": len(sequences),
            "num_frames": total_frames,
            "metrics": {"FPS": fps(total_frames, total_seconds)},
            "sequences": rows,
            "note": (
                f"GOT-10k test ground truth is withheld: AO / SR.50 / SR.75 come from the "
                f"evaluation server. Upload {archive} as described at {SERVER_URL}."
            ),
        }


def _read_label(path: Path, num_frames: int) -> np.ndarray:
    """A per-frame ``.label`` file of GOT-10k val (one number per frame), checked."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: the got10k toolkit reads it to score the sequence; re-extract "
            "the sequence"
        )
    try:
        values = np.loadtxt(path, ndmin=1, dtype=np.float64)
    except ValueError as err:
        raise ValueError(f"{path} is not one number per frame ({err}): re-extract it") from err
    if values.shape != (num_frames,):
        raise ValueError(
            f"{path} has {values.size} values for {num_frames} frames: re-extract the sequence"
        )
    return values


def _read_meta(seq_dir: Path, num_frames: int) -> None:
    """Check what the got10k toolkit reads of GOT-10k val's meta data: ``meta_info.ini`` with a
    ``resolution: (W, H)`` line after the section header, and the three label files."""
    meta_file = seq_dir / "meta_info.ini"
    fix = "re-extract the sequence (official GOT-10k val layout)"
    if not meta_file.is_file():
        raise FileNotFoundError(f"{meta_file} is missing: the got10k toolkit reads it; {fix}")
    lines = meta_file.read_text().strip().split("\n")[1:]  # as the toolkit splits it
    meta = {}
    for line_no, line in enumerate(lines, start=2):
        parts = line.split(": ")
        if len(parts) < 2:
            raise ValueError(
                f"{meta_file}:{line_no}: {line!r} is not 'key: value' (the got10k toolkit would "
                f"fail on it); {fix}"
            )
        meta[parts[0]] = parts[1]
    try:
        width, height = ast.literal_eval(meta["resolution"])
        if not (int(width) > 0 and int(height) > 0):
            raise ValueError("not positive")
    except (KeyError, ValueError, SyntaxError, TypeError) as err:
        raise ValueError(
            f"{meta_file}: no valid 'resolution: (W, H)' line ({err!r}); {fix}"
        ) from err
    for label in ("absence", "cut_by_image"):
        _read_label(seq_dir / f"{label}.label", num_frames)
