"""The part of a frame that a crop samples, decoded no finer than the crop needs.

The fast data path (:mod:`siamfcpp.data.device_pairs`) does not resample in the data-loader
workers: a worker ships, per crop, a :class:`Patch` (the frame region the bilinear crop reads,
uint8) and the crop's affine map, and the device resamples the whole batch at once
(:func:`siamfcpp.warp.warp_crops`). Decoding is what the workers spend their time on, so:

* only the frame's header is read to check the pair filter (:func:`frame_size`);
* a JPEG is decoded at 1/2, 1/4 or 1/8 resolution (libjpeg's scaled DCT,
  ``cv2.IMREAD_REDUCED_COLOR_*``) when every crop taken from it samples at least that many frame
  pixels per crop pixel, up to ``max_reduction`` (1 = always full resolution: then the crops equal
  the CPU reference's up to OpenCV's float rounding);
* a prepared cache (:mod:`siamfcpp.data.prepare`) replaces the frame by its small context crop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from siamfcpp.data.augment import CropWindow
from siamfcpp.data.sources.base import Frame, load_frame

#: reduced JPEG decoding factors OpenCV offers, by factor
REDUCED_FLAGS = {
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}
_JPEG_SUFFIXES = (".jpg", ".jpeg")
_EXIF_ORIENTATION = 0x0112
_TRANSPOSED_ORIENTATIONS = (5, 6, 7, 8)  # EXIF rotations by 90 degrees, which OpenCV applies


@dataclass(frozen=True)
class Patch:
    """A frame region as a crop reads it.

    Attributes:
        image: ``[h, w, 3]`` uint8 BGR pixels (``h`` or ``w`` may be 0: the crop lies outside
            the frame).
        to_patch: ``[4]`` float64 ``(scale_x, scale_y, offset_x, offset_y)``: frame point
            ``(x, y)`` is image point ``(x * scale_x + offset_x, y * scale_y + offset_y)``.
    """

    image: np.ndarray
    to_patch: np.ndarray


def frame_size(frame: Frame) -> tuple[int, int]:
    """``(height, width)`` of a frame as :func:`load_frame` would decode it, from the file's
    header only (EXIF rotations by 90 degrees swap the sides, as OpenCV applies them).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a readable image.
    """
    if isinstance(frame, np.ndarray):
        return frame.shape[0], frame.shape[1]
    try:
        with Image.open(frame) as image:
            width, height = image.size
            orientation = image.getexif().get(_EXIF_ORIENTATION)
    except OSError:  # missing, corrupt, or a format only OpenCV reads: decode it
        return load_frame(frame).shape[:2]
    if orientation in _TRANSPOSED_ORIENTATIONS:
        width, height = height, width
    return height, width


def reduction_for(frame: Frame, windows: Sequence[CropWindow], max_reduction: int) -> int:
    """The coarsest decoding factor ``f`` (1, 2, 4, 8; at most ``max_reduction``) such that every
    window samples at least ``f`` frame pixels per crop pixel; 1 for anything but a JPEG file."""
    if isinstance(frame, np.ndarray) or Path(frame).suffix.lower() not in _JPEG_SUFFIXES:
        return 1
    step = min(window.affine_terms()[0] for window in windows)
    factor = 1
    for candidate in REDUCED_FLAGS:
        if candidate <= max_reduction and candidate <= step:
            factor = candidate
    return factor


def decode(frame: Frame, factor: int) -> np.ndarray:
    """The frame as BGR uint8 ``[ceil(H / factor), ceil(W / factor), 3]`` (``factor`` 1: exactly
    :func:`load_frame`)."""
    if factor == 1:
        return load_frame(frame)
    image = cv2.imread(str(frame), REDUCED_FLAGS[factor])
    if image is None:
        load_frame(frame)  # raises the reader's own error for missing and corrupt files
        raise ValueError(f"frame {frame}: the reduced JPEG decoding failed")
    return image


def cut_patch(image: np.ndarray, to_image: np.ndarray, window: CropWindow) -> Patch:
    """The part of ``image`` that the bilinear crop ``window`` reads.

    Args:
        image: ``[H, W, 3]`` the frame (or a resampled part of it).
        to_image: ``[4]`` map frame point -> ``image`` point (as :attr:`Patch.to_patch`).
        window: the crop, in frame pixels.
    """
    step, x1, y1 = window.affine_terms()
    last = x1 + (window.out_size - 1) * step, y1 + (window.out_size - 1) * step
    bounds = []
    for axis, (first, final, size) in enumerate(
        ((x1, last[0], image.shape[1]), (y1, last[1], image.shape[0]))
    ):
        lo = first * to_image[axis] + to_image[2 + axis]
        hi = final * to_image[axis] + to_image[2 + axis]
        # the neighbours floor(u) and floor(u) + 1 of every sample, one pixel of float slack
        start = int(np.clip(np.floor(min(lo, hi)) - 1, 0, size))
        stop = int(np.clip(np.floor(max(lo, hi)) + 3, start, size))
        bounds.append((start, stop))
    (left, right), (top, bottom) = bounds
    offset = np.array([0.0, 0.0, left, top])
    return Patch(np.ascontiguousarray(image[top:bottom, left:right]), to_image - offset)


class DecodedFrame:
    """A frame of a source, decoded when its patches are asked for.

    ``shape`` (what the pair filter looks at) reads only the header.
    """

    def __init__(self, frame: Frame, max_reduction: int) -> None:
        if max_reduction not in (1, *REDUCED_FLAGS):
            raise ValueError(f"max_reduction must be 1, 2, 4 or 8, got {max_reduction}")
        self.frame = frame
        self.max_reduction = max_reduction

    @cached_property
    def shape(self) -> tuple[int, int]:
        return frame_size(self.frame)

    def patches(self, windows: Sequence[CropWindow]) -> tuple[list[Patch], np.ndarray]:
        """One patch per window (all decoded at the coarsest factor they allow) and the frame's
        mean colour ``[3]`` float64 (the template's pads both crops)."""
        factor = reduction_for(self.frame, windows, self.max_reduction)
        image = decode(self.frame, factor)
        # reduced pixel j averages frame pixels j * f .. j * f + f - 1 (centre j * f + (f - 1) / 2)
        shift = -(factor - 1) / (2 * factor)
        to_image = np.array([1 / factor, 1 / factor, shift, shift])
        patches = [cut_patch(image, to_image, window) for window in windows]
        return patches, np.array(cv2.mean(image)[:3])
