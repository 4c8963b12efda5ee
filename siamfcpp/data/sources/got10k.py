"""GOT-10k training sequences, read from the official layout.

``<root>/<subset>/list.txt`` names the sequences; each ``<root>/<subset>/<name>/`` holds frames
``00000001.jpg ...``, ``groundtruth.txt`` (one ``x,y,w,h`` line per frame) and ``absence.label``
(one 0/1 line per frame, 1 where the object is out of view). Absent frames are marked invisible.
``cut_by_image.label`` only marks truncation by the image border (the object is still visible),
so it does not change visibility.
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

_TRAINING_SUBSETS = ("train", "val")


class GOT10kSource(TrackSource):
    """GOT-10k ``train`` or ``val`` (the test split has no per-frame annotation)."""

    def __init__(self, root: str | Path, subset: str) -> None:
        if subset not in _TRAINING_SUBSETS:
            raise ValueError(f"GOT-10k subset must be one of {_TRAINING_SUBSETS}, got {subset!r}")
        self.subset_dir = require_dir(Path(root) / subset, f"GOT-10k {subset} split")

    @cached_property
    def names(self) -> list[str]:
        list_file = require_file(self.subset_dir / "list.txt", "GOT-10k sequence list")
        return [line.strip() for line in list_file.read_text().splitlines() if line.strip()]

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> TrackSequence:
        name = self.names[index]
        seq_dir = self.subset_dir / name
        frames = sorted_images(seq_dir, ".jpg")
        boxes = load_table(seq_dir / "groundtruth.txt", "GOT-10k groundtruth")
        absent = load_flags(seq_dir / "absence.label", "GOT-10k absence label")
        if not len(frames) == len(boxes) == len(absent):
            raise ValueError(
                f"GOT-10k sequence {seq_dir}: {len(frames)} frames, {len(boxes)} groundtruth "
                f"lines, {len(absent)} absence labels; they must agree"
            )
        return TrackSequence(name=name, frames=frames, boxes=boxes, visible=~absent)
