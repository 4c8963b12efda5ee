"""One-pass evaluation (OPE) benchmarks: OTB100, UAV123, LaSOT, TrackingNet.

Each reads its data set in the official on-disk layout, runs the tracker once per sequence
(initialised with the first gt box), writes ``<output_dir>/<tracker>/<seq>.txt`` (one ``x,y,w,h``
line per frame, row 0 the init box) plus ``<seq>_time.txt`` (tracker seconds per frame), and scores
with :mod:`siamfcpp.benchmarks.metrics`: per-sequence metrics, averaged over sequences as the
benchmarks' toolkits do. A split whose ground truth is withheld (TrackingNet ``TEST``) is packed
into ``<output_dir>/<tracker>.zip`` for the evaluation server.

Readers: OTB through the got10k toolkit (it knows OTB's irregular sequences); UAV123 reads the
toolkit's frame ranges of the sub-sequences but its own files (the toolkit's reader refuses a root
with fewer than four entries); LaSOT and TrackingNet have their own readers (the toolkit's LaSOT
reader fails in 0.1.3; TrackingNet's is not in the toolkit's public API).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from siamfcpp.benchmarks.base import SequenceData
from siamfcpp.benchmarks.io import atomic_write_bytes, read_boxes
from siamfcpp.benchmarks.metrics import (
    PRECISION_THRESHOLDS_PX,
    SUCCESS_THRESHOLDS,
    one_pass_curves,
    one_pass_metrics,
    valid_gt_mask,
)
from siamfcpp.benchmarks.one_pass import OnePassTracking, ResultFiles
from siamfcpp.benchmarks.report import fps
from siamfcpp.benchmarks.toolkit import OTB

log = logging.getLogger(__name__)


def _require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(
            f"{what} not found: {path} is not a folder. Point benchmark.root at the data set "
            "in its official layout."
        )
    return path


def _check_first_box(gt: np.ndarray, gt_file: Path) -> np.ndarray:
    """``gt`` unless its first box (the tracker's initial box) is NaN or not positive.

    Later invalid rows are a documented recovery: those frames are not scored
    (:func:`siamfcpp.benchmarks.metrics.valid_gt_mask`; UAV123 marks absent targets with NaN,
    LaSOT with zero boxes) and counted in the result's ``unscored_frames``.
    """
    if len(gt) == 0 or not valid_gt_mask(gt[:1]).all():
        first = gt[0].tolist() if len(gt) else None
        raise ValueError(
            f"{gt_file}:1: the initial box {first} is NaN or has a non-positive size, so the "
            "tracker cannot start: fix the annotation's first line"
        )
    return gt


def _toolkit_data_file(name: str) -> dict[str, Any]:
    """A JSON data file shipped inside the got10k toolkit (official split lists, frame ranges)."""
    import got10k.datasets

    return json.loads((Path(got10k.datasets.__file__).parent / name).read_text())


class OnePassBenchmark(OnePassTracking):
    """Shared run / score / submission logic; subclasses only read their sequences.

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

    def _result_files(self, output_dir: Path, tracker_name: str) -> ResultFiles:
        results_dir = Path(output_dir) / tracker_name

        def result_files(name: str) -> tuple[Path, Path]:
            return results_dir / f"{name}.txt", results_dir / f"{name}_time.txt"

        return result_files

    def score(self, output_dir: Path, tracker_name: str) -> dict[str, Any]:
        output_dir = Path(output_dir)
        results_dir = output_dir / tracker_name
        sequences = self.sequences()
        result_files = self._result_files(output_dir, tracker_name)
        rows = []
        curves: dict[str, list[np.ndarray]] = {"success": [], "precision": []}
        total_frames, total_seconds, unscored = 0, 0.0, 0
        for seq in sequences:
            record, time_file = result_files(seq.name)
            boxes = read_boxes(record)
            if len(boxes) != len(seq.frames):
                raise ValueError(
                    f"{record} has {len(boxes)} boxes for {len(seq.frames)} frames; delete it to "
                    "rerun the sequence"
                )
            times = np.loadtxt(time_file, ndmin=1)
            total_frames += len(times)
            total_seconds += float(times.sum())
            row: dict[str, Any] = {"name": seq.name, "frames": len(seq.frames)}
            if not self.gt_withheld:
                unscored += int((~valid_gt_mask(seq.gt)).sum())
                row.update(one_pass_metrics(boxes, seq.gt, normalized=self.normalized_precision))
                for key, curve in one_pass_curves(boxes, seq.gt).items():
                    curves[key].append(curve)
            row["FPS"] = fps(len(times), float(times.sum()))
            rows.append(row)

        result: dict[str, Any] = {
            "benchmark": self.name,
            "subset": self.subset,
            "tracker": tracker_name,
            "results_dir": str(results_dir),
            "num_sequences": len(sequences),
            "num_frames": total_frames,
        }
        if unscored:
            # frames whose gt is NaN or not positive (absent target): left out of every metric
            result["unscored_frames"] = unscored
            log.info("%d frames without a valid ground-truth box are not scored", unscored)
        metrics: dict[str, float] = {}
        if self.gt_withheld:
            archive = output_dir / f"{tracker_name}.zip"
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                for seq in sequences:
                    zf.write(results_dir / f"{seq.name}.txt", arcname=f"{seq.name}.txt")
            atomic_write_bytes(archive, buf.getvalue())
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
        metrics["FPS"] = fps(total_frames, total_seconds)
        result["metrics"] = metrics
        result["sequences"] = rows
        return result


class OTBBenchmark(OnePassBenchmark):
    """OTB100 (OTB-2015): ``<root>/<Seq>/img/*.jpg`` and ``groundtruth_rect*.txt``.

    Read with the got10k toolkit, which applies OTB's frame ranges (David, Football1, ...) and
    splits the two-target sequences (``Jogging.1``, ``Jogging.2``, ``Skating2.1``, ...).
    """

    name = "otb"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()

    def sequences(self) -> list[SequenceData]:
        _require_dir(self.root, "OTB100")
        with contextlib.redirect_stdout(io.StringIO()):  # toolkit warns per missing sequence
            dataset = OTB(str(self.root), version="tb100", download=False)
        if len(dataset) == 0:
            raise FileNotFoundError(f"no OTB100 sequence found under {self.root}")
        sequences = []
        for k, name in enumerate(dataset.seq_names):
            img_files, anno = dataset[k]
            frames = [Path(f) for f in img_files]
            gt = _check_first_box(np.asarray(anno, float), self.root / name.split(".")[0])
            sequences.append(SequenceData(name=name, frames=frames, gt=gt))
        return sequences


class UAV123Benchmark(OnePassBenchmark):
    """UAV123: ``<root>/anno/UAV123/<seq>.txt`` and ``<root>/data_seq/UAV123/<folder>/%06d.jpg``.

    Sub-sequences (``bird1_1``, ...) share a folder; their frame ranges come from the toolkit's
    ``uav123.json``. Absent-target frames (NaN gt) are not scored.
    """

    name = "uav123"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()

    def sequences(self) -> list[SequenceData]:
        anno_dir = _require_dir(self.root / "anno" / "UAV123", "UAV123 annotations")
        ranges = _toolkit_data_file("uav123.json")["UAV123"]
        anno_files = sorted(anno_dir.glob("*.txt"))
        if not anno_files:
            raise FileNotFoundError(f"no annotation files in {anno_dir}")
        sequences = []
        for anno_file in anno_files:
            name = anno_file.stem
            if name not in ranges:
                raise ValueError(f"{anno_file}: {name!r} is not a UAV123 sequence")
            meta = ranges[name]
            seq_dir = self.root / "data_seq" / "UAV123" / meta["folder_name"]
            frames = [
                seq_dir / f"{i:06d}.jpg" for i in range(meta["start_frame"], meta["end_frame"] + 1)
            ]
            gt = _check_first_box(read_boxes(anno_file), anno_file)
            if len(gt) != len(frames):
                raise ValueError(f"{anno_file}: {len(gt)} boxes for {len(frames)} frames")
            sequences.append(SequenceData(name=name, frames=frames, gt=gt))
        return sequences


class LaSOTBenchmark(OnePassBenchmark):
    """LaSOT: ``<root>/<class>/<class>-<k>/img/%08d.jpg`` and ``groundtruth.txt``.

    Args:
        root: data set root (class folders).
        subset: ``test`` (the official 280 test sequences; all must be present) or ``all``
            (every sequence under ``root``).
    """

    name = "lasot"
    normalized_precision = True

    def __init__(self, root: str | Path, subset: str) -> None:
        if subset not in ("test", "all"):
            raise ValueError(f"benchmark.subset must be 'test' or 'all', got {subset!r}")
        self.root = Path(root).expanduser()
        self.subset = subset

    def sequences(self) -> list[SequenceData]:
        _require_dir(self.root, "LaSOT")
        found = {p.parent.name: p.parent for p in self.root.glob("*/*/groundtruth.txt")}
        if self.subset == "test":
            names = _toolkit_data_file("lasot.json")["test"]
            missing = [n for n in names if n not in found]
            if missing:
                raise FileNotFoundError(
                    f"{len(missing)} of the {len(names)} LaSOT test sequences are missing under "
                    f"{self.root} (e.g. {missing[:3]}); use benchmark.subset=all to evaluate "
                    "what is there"
                )
        else:
            names = sorted(found)
            if not names:
                raise FileNotFoundError(f"no <class>/<seq>/groundtruth.txt under {self.root}")
        sequences = []
        for name in names:
            seq_dir = found[name]
            frames = sorted((seq_dir / "img").glob("*.jpg"))
            gt = _check_first_box(
                read_boxes(seq_dir / "groundtruth.txt"), seq_dir / "groundtruth.txt"
            )
            if len(gt) != len(frames):
                raise ValueError(f"{seq_dir}: {len(gt)} gt boxes for {len(frames)} frames in img/")
            sequences.append(SequenceData(name=name, frames=frames, gt=gt))
        return sequences


class TrackingNetBenchmark(OnePassBenchmark):
    """TrackingNet: ``<root>/<subset>/frames/<seq>/<i>.jpg`` (0-based) and ``anno/<seq>.txt``.

    Args:
        root: data set root holding ``TEST`` and / or ``TRAIN_<k>``.
        subset: ``TEST`` (511 sequences, first gt only: submission archive for the server) or a
            ``TRAIN_<k>`` chunk (full gt, scored locally).
    """

    name = "trackingnet"
    normalized_precision = True

    def __init__(self, root: str | Path, subset: str) -> None:
        if subset != "TEST" and not re.fullmatch(r"TRAIN_\d+", subset):
            raise ValueError(f"benchmark.subset must be TEST or TRAIN_<k>, got {subset!r}")
        self.root = Path(root).expanduser()
        self.subset = subset

    @property
    def gt_withheld(self) -> bool:
        return self.subset == "TEST"

    def sequences(self) -> list[SequenceData]:
        anno_dir = _require_dir(self.root / self.subset / "anno", f"TrackingNet {self.subset}")
        anno_files = sorted(anno_dir.glob("*.txt"))
        if not anno_files:
            raise FileNotFoundError(f"no annotation files in {anno_dir}")
        sequences = []
        for anno_file in anno_files:
            frame_dir = self.root / self.subset / "frames" / anno_file.stem
            frames = sorted(frame_dir.glob("*.jpg"), key=lambda p: int(p.stem))
            if not frames:
                raise FileNotFoundError(f"no frames in {frame_dir}")
            anno = read_boxes(anno_file)
            if not self.gt_withheld and len(anno) != len(frames):
                raise ValueError(f"{anno_file}: {len(anno)} boxes for {len(frames)} frames")
            gt = np.full((len(frames), 4), np.nan)
            gt[: len(anno)] = anno[: len(frames)]
            _check_first_box(gt, anno_file)
            sequences.append(SequenceData(name=anno_file.stem, frames=frames, gt=gt))
        return sequences
