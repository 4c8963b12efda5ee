"""COCO instances: static images with ``x, y, w, h`` boxes, as one-frame pair sources.

Layout: ``<root>/annotations/instances_<subset>.json`` and ``<root>/<subset>/<file_name>``.
Annotations are kept as the original recipe keeps them: crowd regions (RLE masks) count as objects,
an instance whose polygon segmentation has no valid polygon (an even number of >= 6 coordinates) is
dropped, and images left without objects are skipped. If the original implementation's cache
``<root>/cache/coco_bbox_<subset>.pkl`` exists, it is read instead of the json.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from siamfcpp.data.sources.base import TrackSequence, TrackSource, require_dir, require_file


def _has_valid_segmentation(annotation: dict) -> bool:
    segmentation = annotation.get("segmentation")
    if not segmentation or isinstance(segmentation, dict):  # none (box only) or RLE (crowd)
        return True
    return any(len(poly) % 2 == 0 and len(poly) >= 6 for poly in segmentation)


class COCOSource(TrackSource):
    """COCO images of ``subsets`` (e.g. ``["train2017"]``) with their instance boxes."""

    def __init__(self, root: str | Path, subsets: Sequence[str]) -> None:
        self.root = require_dir(Path(root), "COCO root")
        self.subsets = list(subsets)

    @cached_property
    def images(self) -> list[tuple[Path, np.ndarray]]:
        """(image path, ``[K, 4]`` xywh boxes) per image with at least one object."""
        return [item for subset in self.subsets for item in self._read_subset(subset)]

    def _read_subset(self, subset: str) -> list[tuple[Path, np.ndarray]]:
        image_dir = self.root / subset
        cache = self.root / "cache" / f"coco_bbox_{subset}.pkl"
        if cache.is_file():
            with cache.open("rb") as f:
                records = pickle.load(f)
            # file_name there is absolute on the machine that built the cache: keep its name only.
            return [
                (image_dir / Path(r["file_name"]).name, self._boxes(r["annotations"]))
                for r in records
            ]
        json_file = require_file(
            self.root / "annotations" / f"instances_{subset}.json", "COCO instances json"
        )
        try:
            data = json.loads(json_file.read_text())
            per_image: dict[int, list[dict]] = {img["id"]: [] for img in data["images"]}
            for ann in data["annotations"]:
                if _has_valid_segmentation(ann):
                    per_image[ann["image_id"]].append(ann)
            files = {img["id"]: img["file_name"] for img in data["images"]}
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"malformed COCO instances json {json_file}: {err!r}") from err
        return [
            (image_dir / files[image_id], self._boxes(per_image[image_id]))
            for image_id in sorted(per_image)
            if per_image[image_id]
        ]

    @staticmethod
    def _boxes(annotations: list[dict]) -> np.ndarray:
        return np.array([a["bbox"] for a in annotations], dtype=np.float64).reshape(-1, 4)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> TrackSequence:
        image, boxes = self.images[index]
        return TrackSequence(
            name=image.stem,
            frames=[image] * len(boxes),
            boxes=boxes,
            visible=np.ones(len(boxes), dtype=bool),
            static=True,
        )
