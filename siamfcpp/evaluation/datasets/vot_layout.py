"""VOT short-term data sets on disk and supervised-experiment result files.

Two layouts are read:

* the VOT toolkit workspace: ``<root>/sequences/list.txt`` (or ``<root>/list.txt``), one folder
  per sequence with ``groundtruth.txt`` (per line 8 numbers, a rotated box as polygon, or 4
  numbers, ``x, y, w, h``), frames in ``color/`` (the toolkit's ``sequence`` file may name another
  pattern) or, in the older layout, directly in the sequence folder; image size from the
  ``sequence`` file or the first frame;
* the pysot layout: ``<root>/<NAME>.json`` (``VOT2018.json``, ``VOT2019.json``) mapping each
  sequence to ``video_dir``, ``img_names`` (relative to ``root``; when empty, as in pysot's
  VOT2019 file, the frames are listed from the sequence folder), ``gt_rect``, ``width`` and
  ``height``.

The supervised experiment's result files are :mod:`siamfcpp.evaluation.trajectory`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from siamfcpp.evaluation.datasets.base import SequenceData
from siamfcpp.evaluation.trajectory import parse_region

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class VotSequence(SequenceData):
    """A VOT sequence: ``regions`` keeps the ground truth as annotated (4 or 8 numbers per frame),
    which the scores use; ``gt`` holds the axis-aligned box the tracker is initialised with."""

    regions: list[np.ndarray] | None = None
    image_size: tuple[int, int] = (0, 0)  # width, height


def init_box_xywh(region: np.ndarray) -> np.ndarray:
    """The axis-aligned box ``x, y, w, h`` the original implementation initialises the tracker with.

    Centred on the mean of the polygon's corners, sized as the corners' bounding box scaled by
    ``sqrt(polygon area / bbox area)`` (area from the first two sides, i.e. a parallelogram) plus
    one pixel. A rectangle ``x, y, w, h`` is first turned into the corners ``(x, y), (x, y + h - 1),
    (x + w - 1, y + h - 1), (x + w - 1, y)`` as the original's loader does. Computed in float32 like
    the original (which reads the ground truth as float32), so the tracker starts from the very same
    numbers.
    """
    r = np.asarray(region, dtype=np.float32).ravel()
    if r.size == 4:
        x, y, w, h = r
        r = np.array([x, y, x, y + h - 1, x + w - 1, y + h - 1, x + w - 1, y], dtype=np.float32)
    if r.size != 8:
        raise ValueError(f"a VOT region has 4 or 8 numbers, got {r.size}: {r}")
    xs, ys = r[0::2], r[1::2]
    cx, cy = np.mean(xs), np.mean(ys)
    x1, x2, y1, y2 = xs.min(), xs.max(), ys.min(), ys.max()
    area = np.linalg.norm(r[0:2] - r[2:4]) * np.linalg.norm(r[2:4] - r[4:6])
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.sqrt(area / ((x2 - x1) * (y2 - y1)))
    w, h = scale * (x2 - x1) + 1, scale * (y2 - y1) + 1
    box = np.array([cx - w / 2, cy - h / 2, w, h], dtype=np.float32).astype(np.float64)
    if not np.isfinite(box).all():
        raise ValueError(f"degenerate VOT region {np.asarray(region).tolist()}: no initial box")
    return box


def region_corners(region: np.ndarray) -> np.ndarray:
    """``[8]`` polygon corners of a region (a rectangle ``x, y, w, h`` as its 4 corners)."""
    r = np.asarray(region, dtype=np.float64).ravel()
    if r.size == 8:
        return r
    x, y, w, h = r
    return np.array([x, y, x + w, y, x + w, y + h, x, y + h])


def read_groundtruth(path: Path) -> list[np.ndarray]:
    """Ground-truth regions of a ``groundtruth.txt``: one array of 4 or 8 numbers per frame, as
    float32 values (the toolkit's)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ground truth {path} does not exist")
    regions = []
    for line_no, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        regions.append(_parse_region(line, path, line_no))
    if not regions:
        raise ValueError(f"ground truth {path} is empty")
    return regions


def _parse_region(text: str, path: Path, line_no: int) -> np.ndarray:
    """A ground-truth region as the toolkit reads it (float32 numbers; tabs also separate)."""
    return parse_region(text.replace("\t", ","), f"{path}:{line_no}", codes=False)


def _make_sequence(
    name: str, frames: list[Path], regions: list[np.ndarray], image_size: tuple[int, int]
) -> VotSequence:
    if len(frames) != len(regions):
        raise ValueError(
            f"sequence {name}: {len(frames)} frames but {len(regions)} ground-truth regions "
            f"(frames in {frames[0].parent if frames else '?'}); the data set is incomplete"
        )
    missing = [f for f in frames if not f.is_file()]
    if missing:
        raise FileNotFoundError(
            f"sequence {name}: {len(missing)} frame(s) missing, first {missing[0]}; "
            "re-download or re-extract the data set"
        )
    return VotSequence(
        name=name,
        frames=frames,
        gt=np.stack([init_box_xywh(r) for r in regions]),
        polygons=np.stack([region_corners(r) for r in regions]),
        regions=regions,
        image_size=image_size,
    )


def _list_frames(folder: Path) -> list[Path]:
    for candidate in (folder / "color", folder):
        frames = sorted(p for p in candidate.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if frames:
            return frames
    raise FileNotFoundError(f"no frames (*.jpg / *.png) in {folder / 'color'} nor in {folder}")


def _image_size(frame: Path) -> tuple[int, int]:
    image = cv2.imread(str(frame), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"cannot read image {frame} (corrupt or not an image)")
    return int(image.shape[1]), int(image.shape[0])


def _read_properties(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    props = {}
    for line in path.read_text().splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            props[key.strip()] = value.strip()
    return props


def _read_workspace(list_file: Path) -> list[VotSequence]:
    base = list_file.parent
    names = [n.strip() for n in list_file.read_text().splitlines() if n.strip()]
    if not names:
        raise ValueError(f"{list_file} lists no sequences")
    sequences = []
    for name in names:
        folder = base / name
        if not folder.is_dir():
            raise FileNotFoundError(f"{list_file} lists {name!r} but {folder} does not exist")
        regions = read_groundtruth(folder / "groundtruth.txt")
        props = _read_properties(folder / "sequence")
        pattern = props.get("channels.color")
        if pattern:
            frames = [folder / (pattern % (i + 1)) for i in range(len(regions))]
        else:
            frames = _list_frames(folder)
        if "width" in props and "height" in props:
            size = (int(props["width"]), int(props["height"]))
        else:
            size = _image_size(frames[0])
        sequences.append(_make_sequence(name, frames, regions, size))
    return sequences


def _read_pysot_json(json_file: Path) -> list[VotSequence]:
    root = json_file.parent
    try:
        meta = json.loads(json_file.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{json_file} is not valid JSON: {err}") from err
    sequences = []
    for name in sorted(meta):
        entry = meta[name]
        regions = [
            _parse_region(",".join(str(v) for v in r), json_file, i + 1)
            for i, r in enumerate(entry["gt_rect"])
        ]
        if entry.get("img_names"):
            frames = [root / p for p in entry["img_names"]]
        else:
            frames = _list_frames(root / entry.get("video_dir", name))
        sequences.append(
            _make_sequence(name, frames, regions, (int(entry["width"]), int(entry["height"])))
        )
    return sequences


def read_vot(root: Path, name: str) -> list[VotSequence]:
    """All sequences of a VOT data set in either layout (see the module docstring), sorted by name.

    Args:
        root: the workspace folder (holding ``sequences/``), the ``sequences`` folder itself, or the
            pysot folder holding ``<name>.json``.
        name: the data set's name, e.g. ``VOT2018`` (selects the pysot json file).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"VOT data set folder {root} does not exist; pass benchmark.root=<folder holding "
            f"sequences/list.txt or {name}.json>"
        )
    for list_file in (root / "sequences" / "list.txt", root / "list.txt"):
        if list_file.is_file():
            return sorted(_read_workspace(list_file), key=lambda s: s.name)
    json_file = root / f"{name}.json"
    if json_file.is_file():
        return _read_pysot_json(json_file)
    raise FileNotFoundError(
        f"{root} is not a VOT data set: expected {root / 'sequences' / 'list.txt'}, "
        f"{root / 'list.txt'} (VOT toolkit workspace) or {json_file} (pysot layout)"
    )
