"""Dense-box training targets: one classification / centerness / box label per score-map cell.

Score-map cell ``(row, col)`` looks at the search-crop pixel
``(score_offset + col * total_stride, score_offset + row * total_stride)`` (x, y) with
``score_offset = (x_size - 1 - (score_size - 1) * total_stride) // 2``, the same grid the head
decodes its boxes on. A cell is positive when that pixel lies strictly inside the target box.
Cells are flattened row-major, as the head flattens its ``[B, C, H, W]`` outputs. The targets are
built in torch for a batch (:func:`densebox_targets`, on the device in the fast data path); the
numpy :func:`make_densebox_targets` is the same function for one crop.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

#: ``cls_gt`` value of cells whose classification loss is ignored (background of negative pairs).
IGNORE_LABEL = -1.0

# added to the centerness denominator, as the original, so that border cells do not divide by 0
_CENTERNESS_EPS = 1e-5


def score_map_offset(*, x_size: int, score_size: int, total_stride: int) -> int:
    """Search-crop pixel coordinate of score-map cell 0 (x and y alike)."""
    return (x_size - 1 - (score_size - 1) * total_stride) // 2


def make_densebox_targets(
    gt_xyxy: np.ndarray,
    *,
    x_size: int,
    score_size: int,
    total_stride: int,
    negative: bool,
) -> dict[str, np.ndarray]:
    """Training targets of one search crop (numpy; :func:`densebox_targets` of a batch of one).

    Args:
        gt_xyxy: ``[4]`` target box ``x1, y1, x2, y2`` in search-crop pixels.
        x_size: search crop side in pixels.
        score_size: score map side in cells.
        total_stride: search-crop pixels between neighbouring cells.
        negative: the crop belongs to a negative pair (the template shows another object).

    Returns:
        ``cls_gt [N, 1]``, ``ctr_gt [N, 1]``, ``box_gt [N, 4]`` float32 arrays (see
        :func:`densebox_targets`).
    """
    box = np.asarray(gt_xyxy, dtype=np.float32).reshape(-1)
    if box.shape != (4,):
        raise ValueError(f"gt_xyxy must hold 4 numbers x1, y1, x2, y2, got shape {box.shape}")
    if not np.all(np.isfinite(box)):
        raise ValueError(f"gt_xyxy must be finite, got {box.tolist()}")
    targets = densebox_targets(
        torch.from_numpy(box)[None],
        torch.tensor([negative]),
        x_size=x_size,
        score_size=score_size,
        total_stride=total_stride,
    )
    return {key: value[0].numpy() for key, value in targets.items()}


def densebox_targets(
    gt_xyxy: Tensor,
    negative: Tensor,
    *,
    x_size: int,
    score_size: int,
    total_stride: int,
) -> dict[str, Tensor]:
    """Training targets of a batch of search crops, on the boxes' device.

    Args:
        gt_xyxy: ``[B, 4]`` target boxes ``x1, y1, x2, y2`` in search-crop pixels.
        negative: ``[B]`` bool, the crop belongs to a negative pair (the template shows another
            object).
        x_size: search crop side in pixels.
        score_size: score map side in cells.
        total_stride: search-crop pixels between neighbouring cells.

    No check of the box values (it would wait for the device): give finite boxes.

    Returns:
        ``cls_gt [B, N, 1]``: 1 inside the box, 0 outside; for a negative pair 0 inside the box
        and :data:`IGNORE_LABEL` outside. ``ctr_gt [B, N, 1]``: centerness
        ``sqrt(min(l, r) * min(t, b) / (max(l, r) * max(t, b) + 1e-5))`` of the cell's distances
        to the box sides inside the box (negative pairs too), 0 outside. ``box_gt [B, N, 4]``:
        the box ``x1, y1, x2, y2`` on cells inside it, 0 elsewhere. ``N = score_size ** 2``;
        all float32, computed in float32 like the original.
    """
    box = gt_xyxy.to(torch.float32)
    if box.ndim != 2 or box.shape[1] != 4:
        raise ValueError(f"gt_xyxy must be [B, 4] x1, y1, x2, y2, got shape {tuple(box.shape)}")
    offset = score_map_offset(x_size=x_size, score_size=score_size, total_stride=total_stride)
    if offset < 0:
        raise ValueError(
            f"score map of {score_size} cells at stride {total_stride} does not fit a "
            f"{x_size}-pixel search crop"
        )

    # pixel coordinates of the cells, flattened row-major: x varies fastest
    grid = offset + torch.arange(score_size, device=box.device, dtype=torch.float32) * total_stride
    ys, xs = torch.meshgrid(grid, grid, indexing="ij")
    xs, ys = xs.reshape(1, -1, 1), ys.reshape(1, -1, 1)  # [1, N, 1]
    x1, y1, x2, y2 = (box[:, None, k : k + 1] for k in range(4))  # [B, 1, 1] each
    left, top, right, bottom = xs - x1, ys - y1, x2 - xs, y2 - ys

    inside = (left > 0) & (top > 0) & (right > 0) & (bottom > 0)  # [B, N, 1]
    ratio = (torch.minimum(left, right) * torch.minimum(top, bottom)) / (
        torch.maximum(left, right) * torch.maximum(top, bottom) + _CENTERNESS_EPS
    )
    zero = torch.zeros((), dtype=torch.float32, device=box.device)
    ctr_gt = torch.where(inside, torch.sqrt(torch.abs(ratio)), zero)
    box_gt = torch.where(inside, box[:, None, :], zero)
    negative = negative.to(device=box.device, dtype=torch.bool).reshape(-1, 1, 1)
    cls_gt = torch.where(negative, torch.where(inside, zero, IGNORE_LABEL), inside.float())
    return {"cls_gt": cls_gt, "ctr_gt": ctr_gt, "box_gt": box_gt}
