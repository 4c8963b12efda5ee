"""TrackingNet, read from the official layout (its reader is not in the toolkit's public API)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from siamfcpp.evaluation.datasets.base import SequenceData
from siamfcpp.evaluation.datasets.one_pass import (
    SuccessPrecisionBenchmark,
    check_first_box,
    numbered_frames,
    require_dir,
)
from siamfcpp.io.files import read_boxes

#: sequences of the TEST split (the evaluation server scores all of them)
TEST_SIZE = 511


class TrackingNetBenchmark(SuccessPrecisionBenchmark):
    """TrackingNet: ``<root>/<subset>/frames/<seq>/<i>.jpg`` (0-based) and ``anno/<seq>.txt``.

    Args:
        root: data set root holding ``TEST`` and / or ``TRAIN_<k>``.
        subset: ``TEST`` (511 sequences, first gt only: submission archive for the server; all
            must be present) or a ``TRAIN_<k>`` chunk (full gt, scored locally).
        sequences: an explicit subset of the sequence names (None: the whole split).
    """

    name = "trackingnet"
    normalized_precision = True

    def __init__(
        self, root: str | Path, subset: str, sequences: Sequence[str] | None = None
    ) -> None:
        if subset != "TEST" and not re.fullmatch(r"TRAIN_\d+", subset):
            raise ValueError(f"benchmark.subset must be TEST or TRAIN_<k>, got {subset!r}")
        self.root = Path(root).expanduser()
        self.subset = subset
        self.official_count = TEST_SIZE if subset == "TEST" else None
        self.select(sequences)

    @property
    def gt_withheld(self) -> bool:
        return self.subset == "TEST"

    def _where(self) -> str:
        return str(self.root / self.subset)

    def _read(self) -> list[SequenceData]:
        split_dir = self.root / self.subset
        anno_dir = require_dir(split_dir / "anno", f"TrackingNet {self.subset}")
        anno_files = sorted(anno_dir.glob("*.txt"))
        if not anno_files:
            raise FileNotFoundError(f"no annotation files in {anno_dir}")
        # frame folders without annotation: a partly extracted split
        unannotated = sorted(
            {p.name for p in (split_dir / "frames").glob("*") if p.is_dir()}
            - {f.stem for f in anno_files}
        )
        if unannotated:
            raise FileNotFoundError(
                f"{len(unannotated)} frame folders under {split_dir / 'frames'} have no "
                f"annotation in {anno_dir} (e.g. {unannotated[:3]}): re-extract the split"
            )
        sequences = []
        for anno_file in anno_files:
            if self.selection is not None and anno_file.stem not in self.selection:
                continue
            frames = numbered_frames(split_dir / "frames" / anno_file.stem, first=0, digits=0)
            anno = read_boxes(anno_file)
            if not self.gt_withheld and len(anno) != len(frames):
                raise ValueError(f"{anno_file}: {len(anno)} boxes for {len(frames)} frames")
            gt = np.full((len(frames), 4), np.nan)
            gt[: len(anno)] = anno[: len(frames)]
            check_first_box(gt, anno_file)
            sequences.append(SequenceData(name=anno_file.stem, frames=frames, gt=gt))
        return sequences
