"""TrackingNet, read from the official layout (its reader is not in the toolkit's public API)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from siamfcpp.evaluation.datasets.base import SequenceData
from siamfcpp.evaluation.datasets.one_pass import (
    SuccessPrecisionBenchmark,
    check_first_box,
    require_dir,
)
from siamfcpp.io.files import read_boxes


class TrackingNetBenchmark(SuccessPrecisionBenchmark):
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
        anno_dir = require_dir(self.root / self.subset / "anno", f"TrackingNet {self.subset}")
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
            check_first_box(gt, anno_file)
            sequences.append(SequenceData(name=anno_file.stem, frames=frames, gt=gt))
        return sequences
