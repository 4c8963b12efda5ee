"""Dense-box training targets: one classification / centerness / box label per score-map cell.

Score-map cell ``(row, col)`` looks at the search-crop pixel
``(score_offset + col * total_stride, score_offset + row * total_stride)`` (x, y) with
``score_offset = (x_size - 1 - (score_size - 1) * total_stride) // 2``, the same grid the head
decodes its boxes on. A cell is positive when that pixel lies strictly inside the target box.
Cells are flattened row-major, as the head flattens its ``[B, C, H, W]`` outputs.
"""

from __future__ import annotations

import numpy as np

#: ``cls_gt`` value of cells whose classification loss is ignored (background of negative pairs).
IGNORE_LABEL = -1.0

# added to the centerness denominator, as the original, so that border cells do not divide by 0
_CENTERNESS_EPS = np.float32(1e-5)


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
    """Training targets of one search crop.

    Args:
        gt_xyxy: ``[4]`` target box ``x1, y1, x2, y2`` in search-crop pixels.
        x_size: search crop side in pixels.
        score_size: score map side in cells.
        total_stride: search-crop pixels between neighbouring cells.
        negative: the crop belongs to a negative pair (the template shows another object).

    Returns:
        ``cls_gt [N, 1]``: 1 inside the box, 0 outside; for a negative pair 0 inside the box and
        :data:`IGNORE_LABEL` outside. ``ctr_gt [N, 1]``: centerness
        ``sqrt(min(l, r) * min(t, b) / (max(l, r) * max(t, b) + 1e-5))`` of the cell's distances
        to the box sides inside the box (negative pairs too), 0 outside. ``box_gt [N, 4]``: the
        box ``x1, y1, x2, y2`` on cells inside it, 0 elsewhere. ``N = score_size ** 2``; all
        float32, computed in float32 like the original.
    """
    box = np.asarray(gt_xyxy, dtype=np.float32).reshape(-1)
    if box.shape != (4,):
        raise ValueError(f"gt_xyxy must hold 4 numbers x1, y1, x2, y2, got shape {box.shape}")
    if not np.all(np.isfinite(box)):
        raise ValueError(f"gt_xyxy must be finite, got {box.tolist()}")
    offset = score_map_offset(x_size=x_size, score_size=score_size, total_stride=total_stride)
    if offset < 0:
        raise ValueError(
            f"score map of {score_size} cells at stride {total_stride} does not fit a "
            f"{x_size}-pixel search crop"
        )

    # pixel coordinates of the cells, flattened row-major: x varies fastest
    grid = (offset + np.arange(score_size) * total_stride).astype(np.float32)
    ys, xs = np.meshgrid(grid, grid, indexing="ij")
    xs, ys = xs.reshape(-1, 1), ys.reshape(-1, 1)
    x1, y1, x2, y2 = box
    left, top, right, bottom = xs - x1, ys - y1, x2 - xs, y2 - ys

    inside = (left > 0) & (top > 0) & (right > 0) & (bottom > 0)
    ratio = (np.minimum(left, right) * np.minimum(top, bottom)) / (
        np.maximum(left, right) * np.maximum(top, bottom) + _CENTERNESS_EPS
    )
    ctr_gt = np.where(inside, np.sqrt(np.abs(ratio)), np.float32(0)).astype(np.float32)
    box_gt = np.where(inside, box, np.float32(0)).astype(np.float32)
    if negative:
        cls_gt = np.where(inside, np.float32(0), np.float32(IGNORE_LABEL))
    else:
        cls_gt = inside.astype(np.float32)
    return {"cls_gt": cls_gt.astype(np.float32), "ctr_gt": ctr_gt, "box_gt": box_gt}
