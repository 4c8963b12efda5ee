"""LaSOT sequences, read from the official layout.

``<root>/<class>/<class>-<k>/`` holds ``img/00000001.jpg ...``, ``groundtruth.txt`` (one
``x,y,w,h`` line per frame), ``full_occlusion.txt`` and ``out_of_view.txt`` (one line of
comma-separated 0/1 flags). Frames flagged in either file are marked invisible.

The official split is a list of sequence names (``training_set.txt`` / ``testing_set.txt`` of the
LaSOT toolkit); without ``split_file`` every sequence under the root is used (the original's
``train_test`` subset, as its full-data recipe uses).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from siamfcpp.data.sources.base import (
    TrackSequence,
    TrackSource,
    load_flags,
    load_table,
    require_dir,
    require_file,
    sorted_images,
)


class LaSOTSource(TrackSource):
    """LaSOT, all sequences or those named in ``split_file``."""

    def __init__(self, root: str | Path, split_file: str | Path | None = None) -> None:
        self.root = require_dir(Path(root), "LaSOT root")
        self.split_file = None if split_file is None else Path(split_file)

    @cached_property
    def names(self) -> list[str]:
        if self.split_file is not None:
            text = require_file(self.split_file, "LaSOT split file").read_text()
            return [line.strip() for line in text.splitlines() if line.strip()]
        return sorted(p.parent.name for p in self.root.glob("*/*/groundtruth.txt"))

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> TrackSequence:
        name = self.names[index]
        seq_dir = self.root / name.rsplit("-", 1)[0] / name
        frames = sorted_images(seq_dir / "img", ".jpg")
        boxes = load_table(seq_dir / "groundtruth.txt", "LaSOT groundtruth")
        occluded = load_flags(seq_dir / "full_occlusion.txt", "LaSOT full_occlusion")
        out_of_view = load_flags(seq_dir / "out_of_view.txt", "LaSOT out_of_view")
        if not len(frames) == len(boxes) == len(occluded) == len(out_of_view):
            raise ValueError(
                f"LaSOT sequence {seq_dir}: {len(frames)} frames, {len(boxes)} groundtruth lines, "
                f"{len(occluded)} / {len(out_of_view)} occlusion / out-of-view flags: must agree"
            )
        return TrackSequence(
            name=name, frames=frames, boxes=boxes, visible=~(occluded | out_of_view)
        )
