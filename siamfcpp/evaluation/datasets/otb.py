"""OTB100 (OTB-2015), read through the got10k toolkit (it knows OTB's irregular sequences)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

from siamfcpp.evaluation.datasets.base import SequenceData
from siamfcpp.evaluation.datasets.one_pass import (
    SuccessPrecisionBenchmark,
    check_first_box,
    require_dir,
)
from siamfcpp.evaluation.toolkit import OTB


class OTBBenchmark(SuccessPrecisionBenchmark):
    """OTB100 (OTB-2015): ``<root>/<Seq>/img/*.jpg`` and ``groundtruth_rect*.txt``.

    Read with the got10k toolkit, which applies OTB's frame ranges (David, Football1, ...) and
    splits the two-target sequences (``Jogging.1``, ``Jogging.2``, ``Skating2.1``, ...).
    """

    name = "otb"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()

    def sequences(self) -> list[SequenceData]:
        require_dir(self.root, "OTB100")
        with contextlib.redirect_stdout(io.StringIO()):  # toolkit warns per missing sequence
            dataset = OTB(str(self.root), version="tb100", download=False)
        if len(dataset) == 0:
            raise FileNotFoundError(f"no OTB100 sequence found under {self.root}")
        sequences = []
        for k, name in enumerate(dataset.seq_names):
            img_files, anno = dataset[k]
            frames = [Path(f) for f in img_files]
            gt = check_first_box(np.asarray(anno, float), self.root / name.split(".")[0])
            sequences.append(SequenceData(name=name, frames=frames, gt=gt))
        return sequences
