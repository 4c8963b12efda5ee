"""Square bilinear crops as ``cv2.warpAffine`` makes them, for a batch, in torch (any device).

:func:`siamfcpp.geometry.get_subwindow` crops one frame on the CPU: output pixel ``(i, j)``
samples frame point ``(x1 + j * step, y1 + i * step)`` bilinearly, neighbours outside the frame
take a constant border colour, the result is rounded to whole grey levels. :func:`warp_crops`
does the same for ``B`` crops at once from *patches*: each patch holds the part of its frame that
the crop samples (a sub-region, possibly decoded at a reduced resolution), with the map from frame
coordinates to patch coordinates. The sample points are computed as OpenCV >= 5 computes them
(float32, the column coordinate with one rounding of ``step * j + x1``, the row coordinate rounded
once from float64) and interpolated in float32 in its order, so on a full-resolution patch the
crops equal OpenCV's but for a rare pixel rounding the other way (measured in
``tests/test_device_pairs.py``).
"""

from __future__ import annotations

import torch
from torch import Tensor


def warp_crops(
    patches: Tensor,
    extents: Tensor,
    affines: Tensor,
    to_patch: Tensor,
    border: Tensor,
    out_size: int,
) -> Tensor:
    """``B`` crops of ``out_size`` pixels from ``B`` patches.

    Args:
        patches: ``[B, H, W, C]`` uint8 (or float) images; patch ``b`` occupies its top-left
            ``extents[b]`` corner, the rest is filler that is never sampled.
        extents: ``[B, 2]`` int ``(height, width)`` of each patch; neighbours outside it are
            outside the frame and take the border colour.
        affines: ``[B, 3]`` float64 ``(step, x1, y1)``: crop pixel ``(i, j)`` samples frame point
            ``(x1 + j * step, y1 + i * step)`` (:func:`siamfcpp.geometry.subwindow_affine`'s
            ``[0, 0]``, ``[0, 2]``, ``[1, 2]``).
        to_patch: ``[B, 4]`` float64 ``(scale_x, scale_y, offset_x, offset_y)``: frame point
            ``(x, y)`` is patch point ``(x * scale_x + offset_x, y * scale_y + offset_y)``
            (``(1, 1, -left, -top)`` for a full-resolution region whose corner is frame pixel
            ``(left, top)``).
        border: ``[B, C]`` border colour (whole grey levels, as OpenCV truncates it).
        out_size: side of the crops.

    Returns:
        ``[B, C, out_size, out_size]`` float32 pixel values 0..255, in channels-last memory
        layout (a view of ``[B, out_size, out_size, C]``).
    """
    batch, _, width, channels = patches.shape
    device = patches.device
    grid = torch.arange(out_size, device=device, dtype=torch.float64)
    step, x1, y1 = affines.to(torch.float64).unbind(1)
    # OpenCV: columns fma(float(step), j, float(x1)) in float32; rows float(step * i + y1)
    xs = (step.float().double()[:, None] * grid + x1.float().double()[:, None]).float()
    ys = (step[:, None] * grid + y1[:, None]).float()
    scale_x, scale_y, offset_x, offset_y = to_patch.float().unbind(1)
    xs = xs * scale_x[:, None] + offset_x[:, None]  # [B, S] patch columns
    ys = ys * scale_y[:, None] + offset_y[:, None]  # [B, S] patch rows
    x0, y0 = torch.floor(xs), torch.floor(ys)
    fx = (xs - x0)[:, None, :, None]  # [B, 1, S, 1]
    fy = (ys - y0)[:, :, None, None]  # [B, S, 1, 1]
    x0, y0 = x0.long(), y0.long()
    rows = extents[:, 0].to(device=device, dtype=torch.long)[:, None]
    cols = extents[:, 1].to(device=device, dtype=torch.long)[:, None]
    flat = patches.reshape(batch, -1, channels)
    colour = border.to(device=device, dtype=torch.float32)[:, None, None, :]
    batch_index = torch.arange(batch, device=device)[:, None, None]

    def taps(dy: int, dx: int) -> Tensor:
        """``[B, S, S, C]`` float32 values of neighbour ``(y0 + dy, x0 + dx)``."""
        yy, xx = y0 + dy, x0 + dx
        inside = ((yy >= 0) & (yy < rows))[:, :, None] & ((xx >= 0) & (xx < cols))[:, None, :]
        index = yy.clamp(min=0)[:, :, None] * width + xx.clamp(min=0)[:, None, :]
        index = torch.where(inside, index, 0)
        values = flat[batch_index, index].float()
        return torch.where(inside[..., None], values, colour)

    p00, p01, p10, p11 = taps(0, 0), taps(0, 1), taps(1, 0), taps(1, 1)
    top = p00 + fx * (p01 - p00)
    bottom = p10 + fx * (p11 - p10)
    value = torch.round(top + fy * (bottom - top)).clamp_(0, 255)
    return value.permute(0, 3, 1, 2)
