"""ILSVRC2015 VID: one sequence per object track (video + ``trackid``).

Layout: ``<root>/Data/VID/train/<chunk>/<video>/000000.JPEG ...`` with
``<root>/Annotations/VID/train/<chunk>/<video>/000000.xml ...`` (``val``: one folder level less).
The i-th annotation file (in name order) describes frame ``%06d.JPEG % i``. A track's sequence is
the frames whose XML lists its ``trackid``, in order, so the pair sampler's frame gap counts
annotated frames, as in the original. Tracks annotated in fewer than 2 frames are skipped.

The XML parse of the full set takes minutes; if the original implementation's cache
``<root>/cache/vid/seq_dict.pkl`` exists it is read instead (its paths are re-rooted at ``root``).
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from siamfcpp.data.sources.base import TrackSequence, TrackSource, require_dir
from siamfcpp.data.sources.ilsvrc_det import read_voc_boxes

_VIDEO_GLOB = {"train": "*/*", "val": "*"}
ORIGINAL_CACHE = Path("cache") / "vid" / "seq_dict.pkl"


@dataclass(frozen=True)
class _Track:
    name: str
    video_dir: Path
    frame_ids: np.ndarray  # [T] int, index of the frame in the video
    boxes: np.ndarray  # [T, 4] xywh


class ILSVRCVIDSource(TrackSource):
    """ILSVRC VID tracks of the subsets ``subsets`` (``train`` and/or ``val``)."""

    def __init__(self, root: str | Path, subsets: Sequence[str]) -> None:
        unknown = set(subsets) - set(_VIDEO_GLOB)
        if unknown or not subsets:
            raise ValueError(
                f"ILSVRC VID subsets must be among {tuple(_VIDEO_GLOB)}, got {subsets}"
            )
        self.root = require_dir(Path(root), "ILSVRC2015 root")
        self.subsets = list(subsets)

    @cached_property
    def tracks(self) -> list[_Track]:
        cache = self.root / ORIGINAL_CACHE
        if cache.is_file():
            return self._tracks_from_original_cache(cache)
        return [track for subset in self.subsets for track in self._parse_subset(subset)]

    def _parse_subset(self, subset: str) -> list[_Track]:
        data_dir = require_dir(self.root / "Data" / "VID" / subset, "ILSVRC VID images")
        anno_dir = require_dir(self.root / "Annotations" / "VID" / subset, "ILSVRC VID annotations")
        tracks = []
        for video_dir in sorted(p for p in data_dir.glob(_VIDEO_GLOB[subset]) if p.is_dir()):
            xml_dir = require_dir(anno_dir / video_dir.relative_to(data_dir), "VID annotation dir")
            per_track: dict[str, tuple[list[int], list[np.ndarray]]] = {}
            for frame_id, xml_file in enumerate(sorted(xml_dir.glob("*.xml"))):
                for trackid, box in read_voc_boxes(xml_file):
                    ids, boxes = per_track.setdefault(trackid, ([], []))
                    ids.append(frame_id)
                    boxes.append(box)
            for trackid in sorted(per_track):
                ids, boxes = per_track[trackid]
                if len(ids) >= 2:
                    tracks.append(
                        _Track(
                            name=f"{video_dir.name}.{int(trackid)}",
                            video_dir=video_dir,
                            frame_ids=np.array(ids),
                            boxes=np.array(boxes, dtype=np.float64),
                        )
                    )
        return tracks

    def _tracks_from_original_cache(self, cache: Path) -> list[_Track]:
        # {name: [video_dir, frame_ids, int xywh boxes]}; video_dir is absolute on the machine
        # that built it, so keep only its part below the data set root.
        with cache.open("rb") as f:
            seq_dict = pickle.load(f)
        tracks = []
        for name, (video_dir, frame_ids, boxes) in seq_dict.items():
            relative = Path(video_dir).as_posix().split("/Data/VID/", 1)[-1]
            if relative.split("/", 1)[0] not in self.subsets:
                continue
            tracks.append(
                _Track(
                    name=name,
                    video_dir=self.root / "Data" / "VID" / relative,
                    frame_ids=np.asarray(frame_ids),
                    boxes=np.asarray(boxes, dtype=np.float64),
                )
            )
        return tracks

    def __len__(self) -> int:
        return len(self.tracks)

    def __getitem__(self, index: int) -> TrackSequence:
        track = self.tracks[index]
        return TrackSequence(
            name=track.name,
            frames=[track.video_dir / f"{i:06d}.JPEG" for i in track.frame_ids],
            boxes=track.boxes,
            visible=np.ones(len(track.frame_ids), dtype=bool),
        )
