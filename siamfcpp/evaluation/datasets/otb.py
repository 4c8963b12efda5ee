"""OTB100 (OTB-2015), read through the got10k toolkit (it knows OTB's irregular sequences)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from siamfcpp.evaluation.datasets.base import SequenceData
from siamfcpp.evaluation.datasets.one_pass import (
    SuccessPrecisionBenchmark,
    check_first_box,
    require_dir,
)
from siamfcpp.evaluation.toolkit import OTB

VERSION = "tb100"


class OTBBenchmark(SuccessPrecisionBenchmark):
    """OTB100 (OTB-2015): ``<root>/<Seq>/img/*.jpg`` and ``groundtruth_rect*.txt``.

    Read with the got10k toolkit, which applies OTB's frame ranges (David, Football1, ...) and
    splits the two-target sequences (``Jogging.1``, ``Jogging.2``, ``Skating2.1``, ...). The
    toolkit skips missing sequence folders; here all 98 folders of OTB100 must be present unless
    ``sequences`` selects a subset.

    Args:
        root: data set root (one folder per sequence).
        sequences: an explicit subset of the sequence names (None: all 100).
    """

    name = "otb"

    def __init__(self, root: str | Path, sequences: Sequence[str] | None = None) -> None:
        self.root = Path(root).expanduser()
        self.select(sequences)

    def _read(self) -> list[SequenceData]:
        require_dir(self.root, "OTB100")
        if self.selection is None:
            folders = getattr(OTB, f"_OTB__{VERSION}_seqs")  # the toolkit's OTB100 list
            missing = [f for f in folders if not list((self.root / f).glob("groundtruth*.txt"))]
            if missing:
                raise FileNotFoundError(
                    f"{len(missing)} of the {len(folders)} OTB100 sequence folders are missing or "
                    f"have no groundtruth_rect*.txt under {self.root} (e.g. {missing[:3]}): "
                    "re-download them, or evaluate a subset with benchmark.sequences=[...]"
                )
        with contextlib.redirect_stdout(io.StringIO()):  # toolkit warns per missing sequence
            dataset = OTB(str(self.root), version=VERSION, download=False)
        if len(dataset) == 0:
            raise FileNotFoundError(f"no OTB100 sequence found under {self.root}")
        sequences = []
        for k, name in enumerate(dataset.seq_names):
            img_files, anno = dataset[k]
            frames = [Path(f) for f in img_files]
            gt = check_first_box(np.asarray(anno, float), self.root / name.split(".")[0])
            sequences.append(SequenceData(name=name, frames=frames, gt=gt))
        return sequences
