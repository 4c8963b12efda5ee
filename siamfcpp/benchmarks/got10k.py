"""GOT-10k one-pass evaluation (val and test splits) through the official got10k toolkit.

Results go where the toolkit keeps them, ``<output_dir>/<tracker>/<seq>/<seq>_001.txt`` (boxes,
``%.3f``, row 0 the init box) and ``<seq>_time.txt`` (tracker seconds per frame). The tracker is
deterministic, so one repetition is run. Val metrics (AO, SR.50, SR.75 as in the GOT-10k paper)
come from ``ExperimentGOT10k.report``, whose files (``performance.json``, success plot) land in
``<output_dir>/reports/``; ``metrics.json`` and the per-sequence tables come from
:func:`siamfcpp.benchmarks.report.write_report`. The test split's ground truth is withheld: the
run writes the submission archive ``<output_dir>/<tracker>.zip`` for the evaluation server.
"""

from __future__ import annotations

import contextlib
import io
import logging
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from siamfcpp.benchmarks.base import Benchmark, SequenceData, TrackerFactory
from siamfcpp.benchmarks.io import atomic_write_bytes
from siamfcpp.benchmarks.one_pass import run_pending
from siamfcpp.benchmarks.report import fps, write_report
from siamfcpp.benchmarks.toolkit import ExperimentGOT10k, GOT10k, rect_iou

log = logging.getLogger(__name__)

SUBSETS = ("val", "test")
SERVER_URL = "http://got-10k.aitestunion.com/submit_instructions"


class GOT10kBenchmark(Benchmark):
    """GOT-10k ``val`` or ``test`` split read from ``<root>/<subset>/list.txt``.

    Args:
        root: data set root holding the ``val`` / ``test`` folders (the official layout).
        subset: ``val`` (scored locally) or ``test`` (submission archive for the server).
    """

    name = "got10k"

    def __init__(self, root: str | Path, subset: str) -> None:
        if subset not in SUBSETS:
            raise ValueError(f"benchmark.subset must be one of {SUBSETS}, got {subset!r}")
        self.root = Path(root).expanduser()
        self.subset = subset

    def _dataset(self) -> GOT10k:
        list_file = self.root / self.subset / "list.txt"
        if not list_file.is_file():
            raise FileNotFoundError(
                f"GOT-10k {self.subset} split not found: {list_file} is missing. Set "
                "benchmark.root to the folder that holds val/ and test/ (official layout)."
            )
        with contextlib.redirect_stdout(io.StringIO()):  # the toolkit prints per-folder warnings
            return GOT10k(str(self.root), subset=self.subset)

    def sequences(self) -> list[SequenceData]:
        dataset = self._dataset()
        sequences = []
        for name in dataset.seq_names:
            seq_dir = self.root / self.subset / name
            if not seq_dir.is_dir():
                raise FileNotFoundError(f"sequence folder {seq_dir} listed in list.txt is missing")
            img_files, anno = dataset[name]
            if len(img_files) == 0:
                raise FileNotFoundError(f"no .jpg frames in {seq_dir}")
            gt = np.full((len(img_files), 4), np.nan)
            gt[: len(anno)] = anno
            sequences.append(SequenceData(name=name, frames=[Path(f) for f in img_files], gt=gt))
        return sequences

    def run(
        self,
        make_tracker: TrackerFactory,
        output_dir: Path,
        tracker_name: str,
        batch_sequences: int = 1,
    ) -> dict:
        output_dir = Path(output_dir)
        results_dir = output_dir / tracker_name
        sequences = self.sequences()

        def result_files(name: str) -> tuple[Path, Path]:
            return results_dir / name / f"{name}_001.txt", results_dir / name / f"{name}_time.txt"

        run_pending(make_tracker, sequences, result_files, "%.3f", batch_sequences)
        if self.subset == "test":
            result = self._submission(sequences, output_dir, tracker_name)
        else:
            result = self._score_val(sequences, output_dir, tracker_name)
        write_report(output_dir, result)
        return result

    def _speed(self, results_dir: Path, name: str) -> tuple[int, float]:
        times = np.loadtxt(results_dir / name / f"{name}_time.txt", ndmin=1)
        return len(times), float(times.sum())

    def _score_val(
        self, sequences: list[SequenceData], output_dir: Path, tracker_name: str
    ) -> dict[str, Any]:
        experiment = ExperimentGOT10k(str(self.root), subset="val")
        # The toolkit appends "GOT-10k" to its folders; point it at ours directly.
        experiment.result_dir = str(output_dir)
        experiment.report_dir = str(output_dir / "reports")
        with contextlib.redirect_stdout(io.StringIO()):
            performance = experiment.report([tracker_name])[tracker_name]
        seq_wise = performance["seq_wise"]
        dataset = experiment.dataset
        rows = []
        total_frames, total_seconds = 0, 0.0
        for seq in sequences:
            boxes = np.loadtxt(
                output_dir / tracker_name / seq.name / f"{seq.name}_001.txt", delimiter=","
            )
            _, anno, meta = dataset[seq.name]
            # Same overlaps as the toolkit's report: frames after the first, image-clipped,
            # visible frames only.
            bound = tuple(int(v) for v in meta["resolution"].strip("()").split(","))
            ious = rect_iou(boxes[1:], anno[1:], bound=bound)[meta["cover"][1:] > 0]
            frames, seconds = self._speed(output_dir / tracker_name, seq.name)
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
            "results_dir": str(output_dir / tracker_name),
            "num_sequences": len(sequences),
            "num_frames": total_frames,
            "metrics": {
                "AO": float(overall["ao"]),
                "SR.50": float(overall["sr"]),
                "SR.75": float(overall["succ_curve"][int(np.argmin(np.abs(thresholds - 0.75)))]),
                "FPS": fps(total_frames, total_seconds),
            },
            "sequences": rows,
        }

    def _submission(
        self, sequences: list[SequenceData], output_dir: Path, tracker_name: str
    ) -> dict[str, Any]:
        results_dir = output_dir / tracker_name
        archive = output_dir / f"{tracker_name}.zip"
        buf = io.BytesIO()
        rows = []
        total_frames, total_seconds = 0, 0.0
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for seq in sequences:
                for suffix in ("001", "time"):
                    name = f"{seq.name}/{seq.name}_{suffix}.txt"
                    zf.write(results_dir / name, arcname=name)
                frames, seconds = self._speed(results_dir, seq.name)
                total_frames += frames
                total_seconds += seconds
                rows.append({"name": seq.name, "frames": frames, "FPS": fps(frames, seconds)})
        atomic_write_bytes(archive, buf.getvalue())
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
