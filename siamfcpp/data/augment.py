"""Random crop of a training pair: the original SiamFC++ recipe's only augmentation.

The SiamFC++ training configs (GOT-10k, LaSOT, full data) enable a single transformer, the random
crop: the template is cropped as the tracker crops it (context ``context_amount``, resized to
``z_size``; optional jitter ``max_scale_temp`` / ``max_shift_temp``, 0 in the recipe) and the search
image at the *template's* scale of the search frame's object, resized to ``x_size``, after a
random scale change in ``[1 / (1 + max_scale), 1 + max_scale]`` and a random shift of up to
``max_shift`` half crop sides. Draws that would push the object box out of a crop are redrawn (up
to 50 times, then the crop is taken without jitter). Both crops are padded with the template
image's mean colour. No colour jitter, blur or flip: the recipe enables none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from siamfcpp.config import config_int, config_number
from siamfcpp.geometry import (
    context_size,
    cxywh_to_xyxy,
    get_subwindow,
    subwindow_affine,
    xywh_to_cxywh,
)

MAX_JITTER_DRAWS = 50  # as the original; the 51st attempt crops without jitter


@dataclass(frozen=True)
class CropWindow:
    """A square frame region resampled to an ``out_size`` crop (see :func:`get_subwindow`).

    Attributes:
        center: ``[2]`` float64 ``(cx, cy)`` in frame pixels.
        src_size: side of the region in frame pixels.
        out_size: side of the crop in pixels.
    """

    center: np.ndarray
    src_size: float
    out_size: int

    def affine_terms(self) -> np.ndarray:
        """``[3]`` float64 ``(step, x1, y1)``: crop pixel ``(i, j)`` samples frame point
        ``(x1 + j * step, y1 + i * step)`` (:func:`subwindow_affine`)."""
        affine = subwindow_affine(self.center, self.out_size, self.src_size)
        return np.array([affine[0, 0], affine[0, 2], affine[1, 2]])


@dataclass(frozen=True)
class PairGeometry:
    """Where the two crops of a pair come from and where the objects land in them.

    Attributes:
        window_z: template crop region in the template frame.
        window_x: search crop region in the search frame.
        box_z_xyxy: template object, inclusive corners in template-crop pixels.
        box_x_xyxy: search object, inclusive corners in search-crop pixels.
    """

    window_z: CropWindow
    window_x: CropWindow
    box_z_xyxy: np.ndarray
    box_x_xyxy: np.ndarray


@dataclass(frozen=True)
class CroppedPair:
    """Network inputs of one pair and where the objects lie in them.

    Attributes:
        image_z: ``[z_size, z_size, 3]`` uint8 BGR template crop.
        image_x: ``[x_size, x_size, 3]`` uint8 BGR search crop.
        box_z_xyxy: template object, inclusive corners in template-crop pixels.
        box_x_xyxy: search object, inclusive corners in search-crop pixels.
    """

    image_z: np.ndarray
    image_x: np.ndarray
    box_z_xyxy: np.ndarray
    box_x_xyxy: np.ndarray


def pad_colour(image_z: np.ndarray) -> np.ndarray:
    """The colour both crops are padded with: the template frame's mean ``(B, G, R)``."""
    return np.mean(image_z, axis=(0, 1))


@dataclass(frozen=True)
class RandomCropPair:
    """The original's ``RandomCropTransformer`` with its hyper-parameters.

    :meth:`draw` is the random part (pure geometry from the boxes); calling the object also
    resamples the frames on the CPU, the reference that the device path
    (:mod:`siamfcpp.data.device_pairs`) reproduces.
    """

    z_size: int
    x_size: int
    context_amount: float
    max_scale: float
    max_shift: float
    max_scale_temp: float
    max_shift_temp: float

    def __post_init__(self) -> None:
        config_int("z_size", self.z_size, 1)
        config_int("x_size", self.x_size, self.z_size, hint=" (the template size z_size)")
        config_number("context_amount", self.context_amount, 0)
        for key in ("max_scale", "max_shift", "max_scale_temp", "max_shift_temp"):
            config_number(key, getattr(self, key), 0)

    def draw(self, box_z: np.ndarray, box_x: np.ndarray, rng: np.random.Generator) -> PairGeometry:
        """The crop regions for template box ``box_z`` and search box ``box_x`` (``x, y, w, h``
        in their frames, w, h > 0); consumes ``rng`` as the original does."""
        cz = xywh_to_cxywh(np.asarray(box_z, dtype=np.float64))
        cx = xywh_to_cxywh(np.asarray(box_x, dtype=np.float64))
        context_z = context_size(cz[2:], self.context_amount)
        context_x = context_size(cx[2:], self.context_amount)
        if not (context_z > 0 and context_x > 0):
            raise ValueError(f"degenerate boxes: template {box_z}, search {box_x}")
        # frame pixel -> crop pixel scales without jitter: the template's context fills z_size
        base_scale_z = self.z_size / context_z
        base_scale_x = self.z_size / context_x

        for attempt in range(MAX_JITTER_DRAWS + 1):
            if attempt < MAX_JITTER_DRAWS:
                scale_x = base_scale_x / _scale_jitter(rng, self.max_scale)
                scale_z = base_scale_z / np.exp(
                    rng.uniform(-np.log1p(self.max_scale_temp), np.log1p(self.max_scale_temp))
                )
                src_x, src_z = self.x_size / scale_x, self.z_size / scale_z
                shift_x = rng.uniform(-self.max_shift, self.max_shift, size=2) * src_x / 2
                shift_z = rng.uniform(-self.max_shift_temp, self.max_shift_temp, size=2) * src_z / 2
            else:
                scale_x, scale_z = base_scale_x, base_scale_z
                src_x, src_z = self.x_size / scale_x, self.z_size / scale_z
                shift_x = shift_z = np.zeros(2)
            # cropping the region centred at (object centre - shift) puts the object at
            # (crop centre + shift * scale)
            box_z_xyxy = _box_in_crop(cz, shift_z, scale_z, self.z_size)
            box_x_xyxy = _box_in_crop(cx, shift_x, scale_x, self.x_size)
            if _inside(box_z_xyxy, self.z_size) and _inside(box_x_xyxy, self.x_size):
                break
        return PairGeometry(
            window_z=CropWindow(cz[:2] - shift_z, float(src_z), self.z_size),
            window_x=CropWindow(cx[:2] - shift_x, float(src_x), self.x_size),
            box_z_xyxy=box_z_xyxy,
            box_x_xyxy=box_x_xyxy,
        )

    def __call__(
        self,
        image_z: np.ndarray,
        box_z: np.ndarray,
        image_x: np.ndarray,
        box_x: np.ndarray,
        rng: np.random.Generator,
    ) -> CroppedPair:
        """Crop template frame ``image_z`` around ``box_z`` and search frame ``image_x``.

        Boxes are ``x, y, w, h`` in their frames (w, h > 0).
        """
        geometry = self.draw(box_z, box_x, rng)
        pad = pad_colour(image_z)
        crops = [
            get_subwindow(image, window.center, window.out_size, window.src_size, pad)
            for image, window in ((image_z, geometry.window_z), (image_x, geometry.window_x))
        ]
        return CroppedPair(crops[0], crops[1], geometry.box_z_xyxy, geometry.box_x_xyxy)

    def reach(self, box_xywh: np.ndarray) -> tuple[float, float]:
        """How far and how finely any crop around ``box_xywh`` (template or search) can read its
        frame: the largest distance from the box centre to a pixel the bilinear crop reads, and
        the smallest step between the frame points of neighbouring crop pixels (frame pixels).
        """
        box = np.asarray(box_xywh, dtype=np.float64)
        context = float(context_size(box[2:], self.context_amount))
        reach, finest = 0.0, np.inf
        for out_size, largest, smallest, max_shift in (
            (
                self.x_size,
                self.x_size * context * (1 + self.max_scale) / self.z_size,
                self.x_size * context / ((1 + self.max_scale) * self.z_size),
                self.max_shift,
            ),
            (
                self.z_size,
                context * (1 + self.max_scale_temp),
                context / (1 + self.max_scale_temp),
                self.max_shift_temp,
            ),
        ):
            # the window's centre moves by up to max_shift half sides; the bilinear neighbours
            # of its last points lie one pixel further
            reach = max(reach, max_shift * largest / 2 + (largest - 1) / 2 + 1)
            finest = min(finest, (smallest - 1) / (out_size - 1))
        return reach, finest


def _scale_jitter(rng: np.random.Generator, max_scale: float) -> float:
    """Uniform in ``[1 / (1 + max_scale), 1 + max_scale]`` (uniform, not log-uniform: original)."""
    return rng.uniform(1 / (1 + max_scale), 1 + max_scale)


def _box_in_crop(
    box_cxywh: np.ndarray, shift: np.ndarray, scale: float, crop_size: int
) -> np.ndarray:
    center = (crop_size - 1) / 2 + shift * scale
    return cxywh_to_xyxy(np.concatenate([center, box_cxywh[2:] * scale]))


def _inside(box_xyxy: np.ndarray, crop_size: int) -> bool:
    return bool(np.all((box_xyxy >= 0) & (box_xyxy <= crop_size - 1)))
