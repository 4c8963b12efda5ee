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
from collections.abc import Callable, Sequence
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


def init_boxes_xywh(regions: np.ndarray) -> np.ndarray:
    """``[T, 4]`` axis-aligned boxes ``x, y, w, h`` the original implementation initialises the
    tracker with, from ``[T, 4]`` rectangles or ``[T, 8]`` polygons.

    Centred on the mean of the polygon's corners, sized as the corners' bounding box scaled by
    ``sqrt(polygon area / bbox area)`` (area from the first two sides, i.e. a parallelogram) plus
    one pixel. A rectangle ``x, y, w, h`` is first turned into the corners ``(x, y), (x, y + h - 1),
    (x + w - 1, y + h - 1), (x + w - 1, y)`` as the original's loader does. Computed in float32 like
    the original (which reads the ground truth as float32), so the tracker starts from the very same
    numbers (row by row or all rows at once: the same float32 operations).

    Raises:
        ValueError: a row's box is not finite (its index in the message).
    """
    r = np.asarray(regions, dtype=np.float32)
    if r.ndim != 2 or r.shape[1] not in (4, 8):
        raise ValueError(f"VOT regions have 4 or 8 numbers, got shape {r.shape}")
    if r.shape[1] == 4:
        x, y, w, h = r.T
        r = np.stack([x, y, x, y + h - 1, x + w - 1, y + h - 1, x + w - 1, y], axis=1)
    xs, ys = r[:, 0::2], r[:, 1::2]
    cx, cy = np.mean(xs, axis=1), np.mean(ys, axis=1)
    x1, x2, y1, y2 = xs.min(axis=1), xs.max(axis=1), ys.min(axis=1), ys.max(axis=1)
    side = np.linalg.norm(r[:, 0:2] - r[:, 2:4], axis=1)
    area = side * np.linalg.norm(r[:, 2:4] - r[:, 4:6], axis=1)
    bbox_area = (x2 - x1) * (y2 - y1)
    # a one-pixel-wide rectangle has no extent between its pixel corners: no correction then
    # (the limit of the formula for thin rectangles)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(bbox_area > 0, np.sqrt(area / bbox_area), np.float32(1))
    w, h = scale * (x2 - x1) + 1, scale * (y2 - y1) + 1
    boxes = np.stack([cx - w / 2, cy - h / 2, w, h], axis=1).astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(boxes).all(axis=1))
    if len(bad):
        raise ValueError(
            f"degenerate VOT region {np.asarray(regions)[bad[0]].tolist()} (row {bad[0]}): no "
            "initial box"
        )
    return boxes.astype(np.float64)


def init_box_xywh(region: np.ndarray) -> np.ndarray:
    """:func:`init_boxes_xywh` of one region (4 or 8 numbers)."""
    r = np.asarray(region, dtype=np.float32).ravel()
    if r.size not in (4, 8):
        raise ValueError(f"a VOT region has 4 or 8 numbers, got {r.size}: {r}")
    return init_boxes_xywh(r[None])[0]


def _per_size(
    regions: Sequence[np.ndarray], compute: Callable[[np.ndarray], np.ndarray], columns: int
) -> np.ndarray:
    """``[T, columns]`` (``[T]`` for 0): ``compute(stacked)`` on each group of regions with the same
    number of values (a file may mix rectangles and polygons), the rows back in order."""
    sizes = np.array([np.size(r) for r in regions])
    out = np.empty((len(regions), columns) if columns else len(regions))
    for size in np.unique(sizes):
        rows = np.flatnonzero(sizes == size)
        out[rows] = compute(np.stack([np.asarray(regions[k], np.float64).ravel() for k in rows]))
    return out


def _corners(r: np.ndarray) -> np.ndarray:
    if r.shape[1] == 4:
        x, y, w, h = r.T
        return np.stack([x, y, x + w, y, x + w, y + h, x, y + h], axis=1)
    if r.shape[1] != 8:
        raise ValueError(f"a VOT region has 4 or 8 numbers, got {r.shape[1]}: {r[0].tolist()}")
    return r


def regions_corners(regions: Sequence[np.ndarray]) -> np.ndarray:
    """``[T, 8]`` polygon corners of regions of 4 or 8 numbers (a rectangle ``x, y, w, h`` as its
    4 corners)."""
    return _per_size(regions, _corners, 8)


def region_corners(region: np.ndarray) -> np.ndarray:
    """``[8]`` polygon corners of a region (a rectangle ``x, y, w, h`` as its 4 corners)."""
    return regions_corners([region])[0]


def read_groundtruth(path: Path) -> list[np.ndarray]:
    """Ground-truth regions of a ``groundtruth.txt``: one array of 4 or 2n numbers per frame, as
    float32 values (the toolkit's); line ``t + 1`` is frame ``t``, only trailing blank lines are
    allowed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ground truth {path} does not exist")
    lines = path.read_text().rstrip().splitlines()
    regions = []
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            raise ValueError(
                f"{path}:{line_no}: blank line (every frame needs its region): fix the file"
            )
        regions.append(parse_region(line.replace("\t", ","), f"{path}:{line_no}", codes=False))
    if not regions:
        raise ValueError(f"ground truth {path} is empty")
    _check_areas(regions, lines, path)
    return regions


def _areas(r: np.ndarray) -> np.ndarray:
    if r.shape[1] == 4:
        return np.where((r[:, 2] > 0) & (r[:, 3] > 0), r[:, 2] * r[:, 3], 0.0)
    xs, ys = r[:, 0::2], r[:, 1::2]
    twice = np.sum(xs * np.roll(ys, -1, axis=1), 1) - np.sum(ys * np.roll(xs, -1, axis=1), 1)
    return np.abs(twice) / 2


def polygon_areas(regions: Sequence[np.ndarray]) -> np.ndarray:
    """``[T]`` areas of regions (rectangles ``x, y, w, h``, 0 unless both sides are positive, or
    polygons, shoelace)."""
    return _per_size(regions, _areas, 0)


def _check_areas(regions: Sequence[np.ndarray], lines: Sequence[str], source: Path | str) -> None:
    """A region without area has no pixel to track or to score against: refuse the first (line
    ``t + 1`` of ``source`` is region ``t``)."""
    flat = np.flatnonzero(polygon_areas(regions) <= 0)
    if len(flat):
        t = int(flat[0])
        raise ValueError(
            f"{source}:{t + 1}: region {lines[t].strip()!r} has no area (no pixel to track or to "
            "score against): fix the annotation"
        )


def _make_sequence(
    name: str,
    frames: list[Path],
    regions: list[np.ndarray],
    image_size: tuple[int, int],
    source: str,
) -> VotSequence:
    """A checked sequence; ``source`` names where the regions come from (region ``t`` is its
    entry ``t + 1``)."""
    if len(frames) != len(regions):
        raise ValueError(
            f"sequence {name}: {len(frames)} frames but {len(regions)} ground-truth regions "
            f"(frames in {frames[0].parent if frames else '?'}); the data set is incomplete"
        )
    width, height = image_size
    corners = regions_corners(regions)
    xs, ys = corners[:, 0::2], corners[:, 1::2]
    outside = (xs.max(1) <= 0) | (ys.max(1) <= 0) | (xs.min(1) >= width) | (ys.min(1) >= height)
    if outside.any():
        t = int(np.flatnonzero(outside)[0])
        raise ValueError(
            f"{source}:{t + 1}: region {regions[t].tolist()} lies outside the {width}x{height} "
            "image (0-based pixels): fix the annotation or the image size"
        )
    return VotSequence(
        name=name,
        frames=frames,
        gt=_init_boxes(regions, source),
        polygons=corners,
        regions=regions,
        image_size=image_size,
    )


def _init_boxes(regions: Sequence[np.ndarray], source: str) -> np.ndarray:
    """:func:`init_boxes_xywh` of regions of 4 or 8 numbers (mixed), the error naming the entry."""
    try:
        return _per_size(regions, init_boxes_xywh, 4)
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from err


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


def _frames_of(folder: Path, props: dict[str, str], count: int, source: Path) -> list[Path]:
    """Frame files of a workspace sequence: the ``sequence`` file's ``channels.color`` pattern
    (``color/%08d.jpg``) for frames ``1 .. count``, else the images in the folder."""
    pattern = props.get("channels.color")
    if not pattern:
        return _list_frames(folder)
    try:
        names = [pattern % (i + 1) for i in range(count)]
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{source}: channels.color={pattern!r} is not a frame-number pattern such as "
            f"color/%08d.jpg ({err}): fix the file"
        ) from err
    return [folder / n for n in names]


def _size_of(props: dict[str, str], first_frame: Path, source: Path) -> tuple[int, int]:
    """Image size from the ``sequence`` file (``width`` / ``height``), else from the first frame."""
    if "width" not in props and "height" not in props:
        return _image_size(first_frame)
    try:
        width, height = int(props["width"]), int(props["height"])
        if width <= 0 or height <= 0:
            raise ValueError("not positive")
    except (KeyError, ValueError) as err:
        raise ValueError(
            f"{source}: width={props.get('width')!r} height={props.get('height')!r} is not a "
            f"positive image size ({err}): fix or delete these lines"
        ) from err
    return width, height


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
        gt_file = folder / "groundtruth.txt"
        regions = read_groundtruth(gt_file)
        props_file = folder / "sequence"
        props = _read_properties(props_file)
        frames = _frames_of(folder, props, len(regions), props_file)
        size = _size_of(props, frames[0], props_file)
        sequences.append(_make_sequence(name, frames, regions, size, str(gt_file)))
    return sequences


def _read_pysot_json(json_file: Path) -> list[VotSequence]:
    root = json_file.parent
    try:
        meta = json.loads(json_file.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{json_file} is not valid JSON: {err}") from err
    if not isinstance(meta, dict) or not meta:
        raise ValueError(f"{json_file}: expected an object of sequences, got {type(meta).__name__}")
    sequences = []
    for name in sorted(meta):
        entry = meta[name]
        where = f"{json_file}: sequence {name}"
        missing = [k for k in ("gt_rect", "width", "height") if k not in (entry or {})]
        if missing:
            raise ValueError(f"{where} has no {missing} (pysot layout): fix or re-download it")
        try:
            size = (int(entry["width"]), int(entry["height"]))
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: width / height are not integers ({err})") from err
        lines = [",".join(str(v) for v in r) for r in entry["gt_rect"]]
        regions = [
            parse_region(line, f"{json_file}:{i + 1}", codes=False) for i, line in enumerate(lines)
        ]
        _check_areas(regions, lines, json_file)
        if entry.get("img_names"):
            frames = [root / p for p in entry["img_names"]]
        else:
            frames = _list_frames(root / entry.get("video_dir", name))
        sequences.append(_make_sequence(name, frames, regions, size, f"{where}, gt_rect entry"))
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
