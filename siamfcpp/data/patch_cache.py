"""A patch cache: per training frame, the part any random crop can read, stored small.

Made once by ``python -m siamfcpp.data.prepare`` (as pysot's crop preprocessing, but keeping the
frame geometry so the crops are still drawn by the recipe's own random crop), read by the fast
data path (``data.crop_on=device data.patch_cache=DIR``) instead of the full frames.

For frame ``t`` of a sequence with object box ``b``, the cached region is the square around
``b``'s centre that every template or search crop around ``b`` stays inside
(:meth:`RandomCropPair.reach`), cut to the frame, reduced by the largest power of two that keeps
at least one cached pixel per crop pixel for every crop (a box average, ``cv2.INTER_AREA``, as
reduced JPEG decoding) and stored as a JPEG. So a cached crop differs from the full-frame crop by
that averaging and the JPEG coding only (measured in ``tests/test_device_pairs.py``).

Layout::

    DIR/cache.json                      version, the crop parameters it was made for
    DIR/<sequence name>/meta.npy        float64 [T, 9] per frame: region left, top, scale x,
                                        scale y (cached pixels per frame pixel), frame height,
                                        width, mean colour B, G, R (NaN rows: invisible frames)
    DIR/<sequence name>/<t:06d>.jpg     the cached region of frame t

``meta.npy`` is written after the sequence's images, so a sequence with one is complete.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from functools import cached_property, lru_cache
from pathlib import Path

import cv2
import numpy as np

from siamfcpp.data.augment import CropWindow, RandomCropPair
from siamfcpp.data.patches import Patch, cut_patch
from siamfcpp.data.sources.base import TrackSequence, load_frame

CACHE_VERSION = 1
CACHE_FILE = "cache.json"
META_FILE = "meta.npy"
_LEFT, _TOP, _SCALE_X, _SCALE_Y, _HEIGHT, _WIDTH = range(6)
_MEAN = slice(6, 9)


def cached_region(
    box_xywh: np.ndarray, frame_hw: Sequence[int], crop: RandomCropPair
) -> tuple[int, int, int, int, float]:
    """``(left, top, right, bottom, scale)``: the frame pixels ``[left, right) x [top, bottom)``
    that crops around ``box_xywh`` can read, and the cached pixels per frame pixel (``<= 1``)."""
    reach, finest = crop.reach(box_xywh)
    x, y, w, h = (float(v) for v in box_xywh)
    cx, cy = x + (w - 1) / 2, y + (h - 1) / 2
    height, width = int(frame_hw[0]), int(frame_hw[1])
    left = int(np.clip(np.floor(cx - reach), 0, width))
    right = int(np.clip(np.ceil(cx + reach) + 1, left, width))
    top = int(np.clip(np.floor(cy - reach), 0, height))
    bottom = int(np.clip(np.ceil(cy + reach) + 1, top, height))
    # a power-of-two reduction (a box average, as reduced JPEG decoding) that keeps at least one
    # cached pixel per crop pixel
    factor = 2 ** int(np.floor(np.log2(finest))) if finest >= 2 else 1
    return left, top, right, bottom, 1.0 / factor


def write_sequence(
    sequence: TrackSequence, directory: Path, crop: RandomCropPair, quality: int
) -> int:
    """Cache the visible frames of ``sequence`` under ``directory``; returns the frames written.

    A sequence whose ``meta.npy`` exists is complete and skipped (returns 0).
    """
    if (directory / META_FILE).is_file():
        return 0
    directory.mkdir(parents=True, exist_ok=True)
    meta = np.full((len(sequence), 9), np.nan)
    last: tuple[str, np.ndarray] | None = None  # static image sets repeat one file
    for t in np.flatnonzero(sequence.visible):
        frame = sequence.frames[t]
        if isinstance(frame, np.ndarray):
            image = frame
        elif last is not None and last[0] == str(frame):
            image = last[1]
        else:
            image = load_frame(frame)
            last = (str(frame), image)
        left, top, right, bottom, scale = cached_region(sequence.boxes[t], image.shape, crop)
        region = image[top:bottom, left:right]
        size = (max(1, round(region.shape[1] * scale)), max(1, round(region.shape[0] * scale)))
        if scale < 1 and region.size:
            region = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
        if region.size:
            ok, data = cv2.imencode(".jpg", region, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if not ok:
                raise RuntimeError(f"JPEG encoding of {sequence.name} frame {t} failed")
            (directory / f"{t:06d}.jpg").write_bytes(data.tobytes())
        scale_x = region.shape[1] / max(right - left, 1)
        scale_y = region.shape[0] / max(bottom - top, 1)
        meta[t] = [left, top, scale_x, scale_y, *image.shape[:2], *np.mean(image, axis=(0, 1))]
    tmp = directory / f".{META_FILE}.tmp"
    with open(tmp, "wb") as f:
        np.save(f, meta)
    tmp.replace(directory / META_FILE)
    return int(sequence.visible.sum())


def write_manifest(directory: Path, crop: RandomCropPair, quality: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {"version": CACHE_VERSION, "crop": asdict(crop), "quality": quality}
    (directory / CACHE_FILE).write_text(json.dumps(manifest, indent=2))


def check_manifest(directory: Path, crop: RandomCropPair) -> None:
    """Raise unless ``directory`` is a patch cache made for ``crop``'s parameters."""
    path = Path(directory) / CACHE_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"data.patch_cache={directory}: no {CACHE_FILE} there; make the cache with "
            "python -m siamfcpp.data.prepare --out DIR <the same data overrides>"
        )
    manifest = json.loads(path.read_text())
    if manifest.get("version") != CACHE_VERSION or manifest.get("crop") != asdict(crop):
        raise ValueError(
            f"data.patch_cache={directory} was made for crop {manifest.get('crop')} (version "
            f"{manifest.get('version')}), this run crops with {asdict(crop)} (version "
            f"{CACHE_VERSION}): prepare a cache for this crop"
        )


@lru_cache(maxsize=256)
def _meta(directory: Path) -> np.ndarray:
    path = directory / META_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: sequence {directory.name} is not in the patch cache "
            f"{directory.parent} (prepare it with the data config of this run)"
        )
    return np.load(path)


class CachedFrame:
    """Frame ``index`` of a sequence, read from a patch cache (see the module doc)."""

    def __init__(self, directory: Path, index: int) -> None:
        self.directory = directory
        self.index = index

    @cached_property
    def _row(self) -> np.ndarray:
        row = _meta(self.directory)[self.index]
        if np.isnan(row[0]):
            raise ValueError(f"{self.directory}: frame {self.index} is not cached (invisible)")
        return row

    @property
    def shape(self) -> tuple[int, int]:
        return int(self._row[_HEIGHT]), int(self._row[_WIDTH])

    def patches(self, windows: Sequence[CropWindow]) -> tuple[list[Patch], np.ndarray]:
        """As :meth:`siamfcpp.data.patches.DecodedFrame.patches`, from the cached region."""
        row = self._row
        path = self.directory / f"{self.index:06d}.jpg"
        image = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
        if image is None:
            image = np.zeros((0, 0, 3), dtype=np.uint8)  # the region missed the frame
        scale_x, scale_y = row[_SCALE_X], row[_SCALE_Y]
        # cv2.resize: cached pixel d covers frame point (d + 0.5) / scale - 0.5 of the region
        to_image = np.array(
            [
                scale_x,
                scale_y,
                (0.5 - row[_LEFT]) * scale_x - 0.5,
                (0.5 - row[_TOP]) * scale_y - 0.5,
            ]
        )
        return [cut_patch(image, to_image, window) for window in windows], row[_MEAN].copy()


class CacheOpener:
    """Opens frames from the patch cache in ``directory`` (a :data:`FrameOpener`)."""

    def __init__(self, directory: str | Path, crop: RandomCropPair) -> None:
        self.directory = Path(directory).expanduser()
        check_manifest(self.directory, crop)

    def __call__(self, sequence: TrackSequence, index: int) -> CachedFrame:
        return CachedFrame(self.directory / sequence.name, index)
