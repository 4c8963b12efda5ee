"""YouTube-BoundingBoxes detection tracks, from the official csv and decoded key frames.

The original implementation ships no YouTube-BB reader, so this follows the data set's own tools:
the official annotation csv ``<root>/yt_bb_detection_<split>.csv`` (columns ``youtube_id,
timestamp_ms, class_id, class_name, object_id, object_presence, xmin, xmax, ymin, ymax``, box
corners as fractions of the frame size) and the annotated frames as the YouTube-BB helper scripts
(``voc_convert.py`` of github.com/mbuckler/youtube-bb) decode them:
``<root>/youtubebbdevkit2017/youtubebb2017/JPEGImages/<youtube_id>+<class_id>+<object_id>+<timestamp_ms>.jpg``.

One sequence per ``(youtube_id, class_id, object_id)``, frames in time order (one per second).
Rows whose frame was not decoded (videos taken off YouTube, frames the helper skips) are left out;
``absent`` rows are invisible.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image

from siamfcpp.data.sources.base import TrackSequence, TrackSource, require_dir, require_file

FRAME_DIR = Path("youtubebbdevkit2017") / "youtubebb2017" / "JPEGImages"


@dataclass(frozen=True)
class _Track:
    name: str
    frames: list[Path]
    corners: np.ndarray  # [T, 4] xmin, xmax, ymin, ymax as fractions of the frame size
    visible: np.ndarray  # [T] bool


class YouTubeBBSource(TrackSource):
    """YouTube-BB detection ``train`` or ``validation`` tracks."""

    def __init__(self, root: str | Path, split: str) -> None:
        self.root = require_dir(Path(root), "YouTube-BB root")
        self.csv_file = require_file(
            self.root / f"yt_bb_detection_{split}.csv", "YouTube-BB annotation csv"
        )
        self.frame_dir = require_dir(self.root / FRAME_DIR, "YouTube-BB decoded frames")

    @cached_property
    def tracks(self) -> list[_Track]:
        on_disk = set(os.listdir(self.frame_dir))
        rows: dict[tuple[str, str, str], list[tuple[int, Path, list[float], bool]]] = {}
        with self.csv_file.open(newline="") as f:
            for line_no, row in enumerate(csv.reader(f), start=1):
                try:
                    yt_id, stamp, class_id, _, obj_id, presence, *corners = row
                    values = [float(v) for v in corners]
                    stamp_ms = int(stamp)
                except ValueError as err:
                    raise ValueError(f"malformed row {line_no} of {self.csv_file}: {row}") from err
                file_name = f"{yt_id}+{class_id}+{obj_id}+{stamp}.jpg"
                if file_name in on_disk:
                    frame = self.frame_dir / file_name
                    key = (yt_id, class_id, obj_id)
                    rows.setdefault(key, []).append(
                        (stamp_ms, frame, values, presence == "present")
                    )
        tracks = []
        for (yt_id, class_id, obj_id), track_rows in sorted(rows.items()):
            track_rows.sort(key=lambda r: r[0])
            tracks.append(
                _Track(
                    name=f"{yt_id}_{class_id}_{obj_id}",
                    frames=[r[1] for r in track_rows],
                    corners=np.array([r[2] for r in track_rows], dtype=np.float64),
                    visible=np.array([r[3] for r in track_rows], dtype=bool),
                )
            )
        return tracks

    def __len__(self) -> int:
        return len(self.tracks)

    def __getitem__(self, index: int) -> TrackSequence:
        track = self.tracks[index]
        # All frames of a clip share its resolution; the header of one gives the pixel scale.
        try:
            with Image.open(track.frames[0]) as image:
                width, height = image.size
        except OSError as err:
            raise ValueError(f"corrupt or unreadable image: {track.frames[0]}") from err
        x1, x2, y1, y2 = track.corners.T
        boxes = np.stack([x1 * width, y1 * height, (x2 - x1) * width, (y2 - y1) * height], axis=1)
        return TrackSequence(
            name=track.name, frames=track.frames, boxes=boxes, visible=track.visible
        )
