"""LaSOT, read from the official layout (the got10k toolkit's LaSOT reader fails in 0.1.3)."""

from __future__ import annotations

from pathlib import Path

from siamfcpp.evaluation.datasets.base import SequenceData
from siamfcpp.evaluation.datasets.one_pass import (
    SuccessPrecisionBenchmark,
    check_first_box,
    require_dir,
    toolkit_data_file,
)
from siamfcpp.io.files import read_boxes


class LaSOTBenchmark(SuccessPrecisionBenchmark):
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
        require_dir(self.root, "LaSOT")
        found = {p.parent.name: p.parent for p in self.root.glob("*/*/groundtruth.txt")}
        if self.subset == "test":
            names = toolkit_data_file("lasot.json")["test"]
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
            gt = check_first_box(
                read_boxes(seq_dir / "groundtruth.txt"), seq_dir / "groundtruth.txt"
            )
            if len(gt) != len(frames):
                raise ValueError(f"{seq_dir}: {len(gt)} gt boxes for {len(frames)} frames in img/")
            sequences.append(SequenceData(name=name, frames=frames, gt=gt))
        return sequences
