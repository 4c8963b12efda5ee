"""UAV123: the toolkit's frame ranges of the sub-sequences, read from our own files (the
toolkit's reader refuses a root with fewer than four entries)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from siamfcpp.evaluation.datasets.base import SequenceData
from siamfcpp.evaluation.datasets.one_pass import (
    SuccessPrecisionBenchmark,
    check_first_box,
    require_dir,
    toolkit_data_file,
)
from siamfcpp.io.files import read_boxes


class UAV123Benchmark(SuccessPrecisionBenchmark):
    """UAV123: ``<root>/anno/UAV123/<seq>.txt`` and ``<root>/data_seq/UAV123/<folder>/%06d.jpg``.

    Sub-sequences (``bird1_1``, ...) share a folder; their frame ranges come from the toolkit's
    ``uav123.json``. Absent-target frames (NaN gt) are not scored. All 123 sequences must be
    present unless ``sequences`` selects a subset.

    Args:
        root: data set root.
        sequences: an explicit subset of the sequence names (None: all 123).
    """

    name = "uav123"

    def __init__(self, root: str | Path, sequences: Sequence[str] | None = None) -> None:
        self.root = Path(root).expanduser()
        self.select(sequences)

    def _where(self) -> str:
        return str(self.root / "anno" / "UAV123")

    def _official_names(self) -> list[str]:
        return sorted(toolkit_data_file("uav123.json")["UAV123"])

    def _read(self) -> list[SequenceData]:
        anno_dir = require_dir(self.root / "anno" / "UAV123", "UAV123 annotations")
        ranges = toolkit_data_file("uav123.json")["UAV123"]
        anno_files = sorted(anno_dir.glob("*.txt"))
        if not anno_files:
            raise FileNotFoundError(f"no annotation files in {anno_dir}")
        sequences = []
        for anno_file in anno_files:
            name = anno_file.stem
            if name not in ranges:
                raise ValueError(f"{anno_file}: {name!r} is not a UAV123 sequence")
            if self.selection is not None and name not in self.selection:
                continue
            meta = ranges[name]
            seq_dir = self.root / "data_seq" / "UAV123" / meta["folder_name"]
            frames = [
                seq_dir / f"{i:06d}.jpg" for i in range(meta["start_frame"], meta["end_frame"] + 1)
            ]
            gt = check_first_box(read_boxes(anno_file), anno_file)
            if len(gt) != len(frames):
                raise ValueError(f"{anno_file}: {len(gt)} boxes for {len(frames)} frames")
            sequences.append(SequenceData(name=name, frames=frames, gt=gt))
        return sequences
