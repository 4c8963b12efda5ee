"""TrackingNet training sequences, read from the official layout.

``<root>/TRAIN_<k>/anno/<name>.txt`` (one ``x,y,w,h`` line per frame) and
``<root>/TRAIN_<k>/frames/<name>/<i>.jpg`` (``i`` = 0, 1, ... in numeric order) for the training
chunks ``k`` = 0..11. TrackingNet has no visibility labels: every frame is visible (degenerate
boxes are rejected later by the pair filter, as in the original).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from siamfcpp.data.sources.base import (
    TrackSequence,
    TrackSource,
    load_table,
    require_dir,
    sorted_images,
)

NUM_TRAIN_CHUNKS = 12


class TrackingNetSource(TrackSource):
    """TrackingNet training chunks ``chunks`` (all twelve by default, as the original's "train")."""

    def __init__(self, root: str | Path, chunks: Sequence[int] = tuple(range(NUM_TRAIN_CHUNKS))):
        self.chunk_dirs = [
            require_dir(Path(root) / f"TRAIN_{k}", "TrackingNet chunk") for k in chunks
        ]

    @cached_property
    def entries(self) -> list[tuple[Path, str]]:
        """(chunk directory, sequence name), sorted by name as the original orders them."""
        found = [
            (chunk, anno.stem)
            for chunk in self.chunk_dirs
            for anno in require_dir(chunk / "anno", "TrackingNet anno directory").glob("*.txt")
        ]
        return sorted(found, key=lambda e: e[1])

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> TrackSequence:
        chunk, name = self.entries[index]
        frame_dir = require_dir(chunk / "frames" / name, "TrackingNet frame directory")
        frames = sorted_images(frame_dir, ".jpg", key=lambda name: int(name[: -len(".jpg")]))
        boxes = load_table(chunk / "anno" / f"{name}.txt", "TrackingNet annotation")
        if len(frames) != len(boxes):
            raise ValueError(
                f"TrackingNet sequence {frame_dir}: {len(frames)} frames but {len(boxes)} "
                "annotation lines"
            )
        return TrackSequence(
            name=name, frames=frames, boxes=boxes, visible=np.ones(len(frames), dtype=bool)
        )
