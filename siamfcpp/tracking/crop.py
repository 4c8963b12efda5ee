"""Crops of many targets at once, each from its own frame, on the tracker's device.

The tensor counterpart of :func:`siamfcpp.geometry.get_crop` / :func:`~siamfcpp.geometry.
get_subwindow` for the batched engine (:mod:`siamfcpp.tracking.device_engine`). Frames of any
sizes share one buffer ``[B, capacity]`` uint8: row ``b`` holds frame ``b`` as its first
``h * w * 3`` bytes (row-major ``H x W x 3`` BGR), so a frame of another size needs no re-layout
and every row uploads as one contiguous copy.

Every operation has static shapes and no host synchronisation, so the crops can be captured in a
CUDA graph with the rest of a tracking step.
"""

from __future__ import annotations

import torch
from torch import Tensor


def crop_scale(target_sz: Tensor, z_size: int, context_amount: Tensor) -> Tensor:
    """Crop pixels per frame pixel, ``[...]`` float32, for target sizes ``[..., 2]`` float32.

    As :func:`siamfcpp.geometry.crop_scale`: the template context
    ``sqrt((w + p)(h + p))``, ``p = context_amount * (w + h)``, is resized to ``z_size`` pixels
    (``context_amount`` a float32 tensor, so that every operation stays float32).
    """
    w, h = target_sz[..., 0], target_sz[..., 1]
    pad = context_amount * (w + h)
    return z_size / torch.sqrt((w + pad) * (h + pad))


def crop_bilinear(
    frames: Tensor,
    frame_wh: Tensor,
    center_xy: Tensor,
    src_size: Tensor,
    out_size: int,
    border: Tensor,
) -> Tensor:
    """Square patches of ``src_size`` frame pixels around ``center_xy`` resampled to ``out_size``.

    Reproduces ``get_subwindow`` (``cv2.warpAffine(INTER_LINEAR | WARP_INVERSE_MAP,
    BORDER_CONSTANT)``, float interpolation as in OpenCV >= 5): output pixel ``i`` samples frame
    coordinate ``x1 + i * (x2 - x1) / (out_size - 1)`` (inclusive float32 corners, the affine
    step in float64 as OpenCV builds its matrix, sampled in float32), bilinear, neighbours outside
    the frame take the ``border`` colour, the result rounded half to even. Measured against
    OpenCV on random frames: at most 1 grey level on ~1e-4 of the pixels.

    Args:
        frames: ``[B, capacity]`` uint8, frame ``b`` in the first ``h * w * 3`` bytes of row ``b``.
        frame_wh: ``[B, 2]`` int64 width and height of each frame.
        center_xy: ``[B, 2]`` float32 centres in frame pixels.
        src_size: ``[B]`` float32 whole-pixel sides of the sampled regions.
        out_size: side of the patches.
        border: ``[B, 3]`` float32 padding colours (whole grey levels).

    Returns:
        ``[B, 3, out_size, out_size]`` float32 pixel values 0..255, channels-last in memory (a
        permuted view of ``[B, S, S, 3]``).
    """
    batch, s = center_xy.shape[0], out_size
    half = ((src_size - 1) / 2)[:, None]
    lo, hi = center_xy - half, center_xy + half
    step = (hi - lo) / (s - 1)
    grid = torch.arange(s, device=frames.device, dtype=torch.float64)
    coords = (step.double()[..., None] * grid + lo.double()[..., None]).float()  # [B, 2, S]
    base = torch.floor(coords)
    frac = coords - base
    base = base.long()
    neighbours = torch.stack([base, base + 1], dim=2)  # [B, 2 axes, 2, S]
    limits = frame_wh[:, :, None, None]
    inside = (neighbours >= 0) & (neighbours < limits)
    index = torch.minimum(neighbours.clamp(min=0), limits - 1)
    xi, yi = index[:, 0].reshape(batch, 2 * s), index[:, 1].reshape(batch, 2 * s)
    pixel = yi[:, :, None] * frame_wh[:, 0, None, None] + xi[:, None, :]  # [B, 2S, 2S]
    rows = torch.arange(batch, device=frames.device)[:, None, None]
    patch = frames.view(batch, -1, 3)[rows, pixel].float()  # [B, 2S, 2S, 3]
    valid = inside[:, 1].reshape(batch, 2 * s, 1) & inside[:, 0].reshape(batch, 1, 2 * s)
    patch = torch.where(valid[..., None], patch, border[:, None, None, :])
    p00, p01 = patch[:, :s, :s], patch[:, :s, s:]
    p10, p11 = patch[:, s:, :s], patch[:, s:, s:]
    fx = frac[:, 0, None, :, None]
    fy = frac[:, 1, :, None, None]
    top = p00 + (p01 - p00) * fx
    bottom = p10 + (p11 - p10) * fx
    value = torch.round(top + (bottom - top) * fy).clamp_(0, 255)
    return value.permute(0, 3, 1, 2)
