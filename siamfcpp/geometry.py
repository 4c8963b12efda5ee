"""Box formats, IoU and crop geometry: pure functions shared by data, tracking and benchmarks.

Pixel convention (the original SiamFC++ implementation's, needed for parity): a box of width
``w`` starting at column ``x`` covers the pixel columns ``x .. x + w - 1``. Hence

* ``xywh``  = ``(x, y, w, h)``, 0-based top-left corner and size (the public format);
* ``xyxy``  = ``(x1, y1, x2, y2)`` with *inclusive* corners: ``x2 = x + w - 1``;
* ``cxywh`` = ``(cx, cy, w, h)`` with the centre ``cx = x + (w - 1) / 2``.

Conversions act on the last axis (any leading batch shape), accept numpy arrays and torch
tensors, and keep a floating input's dtype (integer input becomes float64 / float32 for torch).
IoU is the usual continuous overlap of the ``x, y, w, h`` rectangles, which under this convention
equals the original's inclusive-pixel IoU.
"""

from __future__ import annotations

from typing import TypeVar

import cv2
import numpy as np
import torch

BoxArray = TypeVar("BoxArray", np.ndarray, torch.Tensor)


def _as_float(box) -> np.ndarray | torch.Tensor:
    if isinstance(box, torch.Tensor):
        return box if box.is_floating_point() else box.float()
    box = np.asarray(box)
    return box if np.issubdtype(box.dtype, np.floating) else box.astype(np.float64)


def _stack(parts, like) -> np.ndarray | torch.Tensor:
    if isinstance(like, torch.Tensor):
        return torch.stack(parts, dim=-1)
    return np.stack(parts, axis=-1)


def _checked(box) -> np.ndarray | torch.Tensor:
    box = _as_float(box)
    if box.shape[-1] != 4:
        raise ValueError(f"boxes need 4 values on the last axis, got shape {tuple(box.shape)}")
    return box


def xywh_to_cxywh(box: BoxArray) -> BoxArray:
    """``(x, y, w, h)`` -> ``(cx, cy, w, h)``, shape ``[..., 4]``."""
    b = _checked(box)
    x, y, w, h = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return _stack([x + (w - 1) / 2, y + (h - 1) / 2, w, h], b)


def cxywh_to_xywh(box: BoxArray) -> BoxArray:
    """``(cx, cy, w, h)`` -> ``(x, y, w, h)``, shape ``[..., 4]``."""
    b = _checked(box)
    cx, cy, w, h = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return _stack([cx - (w - 1) / 2, cy - (h - 1) / 2, w, h], b)


def xywh_to_xyxy(box: BoxArray) -> BoxArray:
    """``(x, y, w, h)`` -> inclusive ``(x1, y1, x2, y2)``, shape ``[..., 4]``."""
    b = _checked(box)
    x, y, w, h = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return _stack([x, y, x + w - 1, y + h - 1], b)


def xyxy_to_xywh(box: BoxArray) -> BoxArray:
    """Inclusive ``(x1, y1, x2, y2)`` -> ``(x, y, w, h)``, shape ``[..., 4]``."""
    b = _checked(box)
    x1, y1, x2, y2 = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return _stack([x1, y1, x2 - x1 + 1, y2 - y1 + 1], b)


def cxywh_to_xyxy(box: BoxArray) -> BoxArray:
    """``(cx, cy, w, h)`` -> inclusive ``(x1, y1, x2, y2)``, shape ``[..., 4]``."""
    b = _checked(box)
    cx, cy, w, h = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return _stack([cx - (w - 1) / 2, cy - (h - 1) / 2, cx + (w - 1) / 2, cy + (h - 1) / 2], b)


def xyxy_to_cxywh(box: BoxArray) -> BoxArray:
    """Inclusive ``(x1, y1, x2, y2)`` -> ``(cx, cy, w, h)``, shape ``[..., 4]``."""
    b = _checked(box)
    x1, y1, x2, y2 = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return _stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1 + 1, y2 - y1 + 1], b)


def iou_xywh(a: BoxArray, b: BoxArray) -> BoxArray:
    """Intersection over union of ``x, y, w, h`` boxes, broadcast over leading axes.

    Returns values in ``[0, 1]``; 0 where the union is empty (degenerate boxes); NaN where an
    input is NaN (benchmarks mark frames without ground truth that way).
    """
    a, b = _checked(a), _checked(b)
    lib = torch if isinstance(a, torch.Tensor) else np
    iw = lib.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2]) - lib.maximum(
        a[..., 0], b[..., 0]
    )
    ih = lib.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3]) - lib.maximum(
        a[..., 1], b[..., 1]
    )
    inter = lib.clip(iw, 0, None) * lib.clip(ih, 0, None)
    union = lib.clip(a[..., 2], 0, None) * lib.clip(a[..., 3], 0, None)
    union = union + lib.clip(b[..., 2], 0, None) * lib.clip(b[..., 3], 0, None) - inter
    positive = union > 0
    safe_union = lib.where(positive, union, lib.ones_like(union))
    # clip: rounding in the corner arithmetic can push inter above the smaller area
    iou = lib.clip(inter / safe_union, 0, 1)
    return lib.where(positive | lib.isnan(union), iou, lib.zeros_like(union))


def context_size(target_sz_wh: np.ndarray, context_amount: float) -> np.floating:
    """Side of the square template context around a target of size ``(w, h)``.

    ``sqrt((w + p) * (h + p))`` with the padding ``p = context_amount * (w + h)``, computed in the
    floating dtype of ``target_sz_wh`` (the tracker passes float32, as the original does).
    """
    size = _as_float(target_sz_wh)
    w, h = size[0], size[1]
    pad = size.dtype.type(context_amount) * (w + h)
    return np.sqrt((w + pad) * (h + pad))


def crop_scale(target_sz_wh: np.ndarray, z_size: int, context_amount: float) -> np.floating:
    """Crop pixels per frame pixel: the template context is resized to ``z_size`` pixels."""
    side = context_size(target_sz_wh, context_amount)
    return side.dtype.type(z_size) / side


def subwindow_affine(center_xy: np.ndarray, out_size: int, src_size: float) -> np.ndarray:
    """The inverse map of :func:`get_subwindow`: ``[2, 3]`` float64, crop pixel -> frame pixel.

    Output pixel ``i`` samples frame coordinate ``x1 + i * (x2 - x1) / (out_size - 1)`` where
    ``x1, x2`` are the inclusive float32 corners of the ``src_size`` box centred on ``center_xy``
    (rows alike with ``y1, y2``), as the original computes them.
    """
    region = np.array([center_xy[0], center_xy[1], src_size, src_size], dtype=np.float32)
    x1, y1, x2, y2 = cxywh_to_xyxy(region)
    return np.array(
        [[(x2 - x1) / (out_size - 1), 0, x1], [0, (y2 - y1) / (out_size - 1), y1]],
        dtype=np.float64,
    )


def get_subwindow(
    frame: np.ndarray,
    center_xy: np.ndarray,
    out_size: int,
    src_size: float,
    avg_chans: np.ndarray,
) -> np.ndarray:
    """Square patch of ``src_size`` frame pixels around ``center_xy``, resized to ``out_size``.

    Bilinear resampling by one affine warp (:func:`subwindow_affine`). Outside the frame the
    patch is the constant colour ``avg_chans`` truncated to integers (the original's padding).
    :func:`siamfcpp.warp.warp_crops` is the batched torch counterpart.

    Args:
        frame: ``[H, W, 3]`` uint8 BGR.
        center_xy: ``(cx, cy)`` in frame pixels.
        out_size: side of the returned patch.
        src_size: side of the sampled frame region in pixels (the tracker rounds it to whole
            pixels, as the original; training crops take it unrounded).
        avg_chans: per-channel padding colour ``(B, G, R)``.

    Returns:
        ``[out_size, out_size, 3]`` patch with the frame's dtype.
    """
    return cv2.warpAffine(
        frame,
        subwindow_affine(center_xy, out_size, src_size),
        (out_size, out_size),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=tuple(int(c) for c in avg_chans),
    )


def get_crop(
    frame: np.ndarray,
    center_xy: np.ndarray,
    target_sz_wh: np.ndarray,
    z_size: int,
    out_size: int,
    avg_chans: np.ndarray,
    context_amount: float,
) -> tuple[np.ndarray, np.floating]:
    """Crop around a target so that its template context maps to ``z_size`` pixels.

    ``out_size == z_size`` gives the template patch, ``out_size == x_size`` the search patch
    (the same scale with more context). The sampled region side is rounded half to even to whole
    pixels before cropping, as in the original.

    Returns:
        ``(patch [out_size, out_size, 3], scale)`` with ``scale`` = crop pixels per frame pixel.
    """
    scale = crop_scale(target_sz_wh, z_size, context_amount)
    src_size = round(scale.dtype.type(out_size) / scale)
    return get_subwindow(frame, center_xy, out_size, src_size, avg_chans), scale
