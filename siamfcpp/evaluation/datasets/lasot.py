"""LaSOT, read from the official layout (the got10k toolkit's LaSOT reader fails in 0.1.3)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from siamfcpp.evaluation.datasets.base import SequenceData
from siamfcpp.evaluation.datasets.one_pass import (
    SuccessPrecisionBenchmark,
    check_first_box,
    numbered_frames,
    require_dir,
    toolkit_data_file,
)
from siamfcpp.io.files import read_boxes

SUBSETS = ("test", "all")


class LaSOTBenchmark(SuccessPrecisionBenchmark):
    """LaSOT: ``<root>/<class>/<class>-<k>/img/%08d.jpg`` and ``groundtruth.txt``.

    Args:
        root: data set root (class folders).
        subset: ``test`` (the official 280 test sequences) or ``all`` (all 1,400: train and
            test); the split must be complete unless ``sequences`` selects a subset.
        sequences: an explicit subset of the sequence names (None: the whole split).
    """

    name = "lasot"
    normalized_precision = True

    def __init__(
        self, root: str | Path, subset: str, sequences: Sequence[str] | None = None
    ) -> None:
        if subset not in SUBSETS:
            raise ValueError(f"benchmark.subset must be one of {SUBSETS}, got {subset!r}")
        self.root = Path(root).expanduser()
        self.subset = subset
        self.select(sequences)

    def _official_names(self) -> list[str]:
        split = toolkit_data_file("lasot.json")
        return split["test"] if self.subset == "test" else sorted(split["train"] + split["test"])

    def _read(self) -> list[SequenceData]:
        require_dir(self.root, "LaSOT")
        seq_dirs = sorted(p.parent for p in self.root.glob("*/*/groundtruth.txt"))
        if not seq_dirs:
            raise FileNotFoundError(f"no <class>/<seq>/groundtruth.txt under {self.root}")
        # sequences of the split, in its order; a name found twice (two class folders) stays
        # twice, and the base class refuses it
        wanted = set(self.selection or self._official_names())
        sequences = []
        for seq_dir in seq_dirs:
            if seq_dir.name not in wanted:
                continue
            gt_file = seq_dir / "groundtruth.txt"
            frames = numbered_frames(seq_dir / "img")
            gt = check_first_box(read_boxes(gt_file), gt_file)
            if len(gt) != len(frames):
                raise ValueError(f"{gt_file}: {len(gt)} boxes for {len(frames)} frames in img/")
            sequences.append(SequenceData(name=seq_dir.name, frames=frames, gt=gt))
        return sequences
