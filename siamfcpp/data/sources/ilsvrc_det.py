"""ILSVRC2015 DET: static images with Pascal-VOC style XML boxes, as one-frame pair sources.

``<root>/Data/DET/<subset>/.../<name>.JPEG`` with ``<root>/Annotations/DET/<subset>/.../<name>.xml``
at the same relative path. As in the original recipe, ``train`` images are those two folder levels
deep (``ILSVRC2013_train/<wnid>/``; the one-level ``ILSVRC2014_train_*`` folders are not used)
and ``val`` is flat. Each image is one static :class:`TrackSequence` whose rows are its objects;
boxes use the data set's inclusive pixel corners, ``w = xmax - xmin + 1``. Images without objects
stay in the index (an empty sequence), so drawing one is a rejected draw, as the original's dummy
box was.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from functools import cached_property
from pathlib import Path

import numpy as np

from siamfcpp.data.sources.base import TrackSequence, TrackSource, require_dir, require_file

_IMAGE_GLOB = {"train": "*/*/*.JPEG", "val": "*.JPEG"}


def read_voc_boxes(xml_file: Path) -> list[tuple[str, np.ndarray]]:
    """``(trackid or "", [x, y, w, h])`` for every ``<object>`` of an ILSVRC XML annotation."""
    require_file(xml_file, "ILSVRC annotation")
    try:
        objects = ET.parse(xml_file).getroot().findall("object")
        result = []
        for obj in objects:
            x1, y1, x2, y2 = (
                float(obj.find(f"bndbox/{tag}").text) for tag in ("xmin", "ymin", "xmax", "ymax")
            )
            trackid = obj.find("trackid")
            result.append(
                (
                    "" if trackid is None else trackid.text.strip(),
                    np.array([x1, y1, x2 - x1 + 1, y2 - y1 + 1]),
                )
            )
    except (ET.ParseError, AttributeError, TypeError, ValueError) as err:
        raise ValueError(f"malformed ILSVRC annotation {xml_file}: {err}") from err
    return result


class ILSVRCDETSource(TrackSource):
    """ILSVRC DET ``train`` or ``val`` images."""

    def __init__(self, root: str | Path, subset: str) -> None:
        if subset not in _IMAGE_GLOB:
            raise ValueError(
                f"ILSVRC DET subset must be one of {tuple(_IMAGE_GLOB)}, got {subset!r}"
            )
        self.subset = subset
        self.data_dir = require_dir(Path(root) / "Data" / "DET" / subset, "ILSVRC DET images")
        self.anno_dir = require_dir(
            Path(root) / "Annotations" / "DET" / subset, "ILSVRC DET annotations"
        )

    @cached_property
    def images(self) -> list[Path]:
        return sorted(self.data_dir.glob(_IMAGE_GLOB[self.subset]))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> TrackSequence:
        image = self.images[index]
        xml_file = (self.anno_dir / image.relative_to(self.data_dir)).with_suffix(".xml")
        boxes = [box for _, box in read_voc_boxes(xml_file)]
        return TrackSequence(
            name=image.stem,
            frames=[image] * len(boxes),
            boxes=np.array(boxes, dtype=np.float64).reshape(-1, 4),
            visible=np.ones(len(boxes), dtype=bool),
            static=True,
        )
