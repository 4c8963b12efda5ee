"""Region overlap as the official VOT toolkit measures it: on rasterised pixel masks.

VOT regions are axis-aligned rectangles ``x, y, w, h`` (4 numbers) or polygons
``x1, y1, ..., xn, yn`` (rotated boxes: 8 numbers). The toolkit (``vot-toolkit``, module
``vot.region.raster``) does not intersect the shapes analytically: it rounds the coordinates to
whole pixels, rasterises both regions inside the union of their bounding boxes clipped to the image,
and counts pixels. This module reproduces that definition (our own implementation, checked against
the toolkit's numbers in ``tests/test_vot_metrics.py``), because it decides both the reset
protocol's failures and the accuracy / EAO scores:

* coordinates are first stored as float32, as the toolkit stores every region it reads (so
  ``10.50000001`` is 10.5), then rounded half-to-even (``numpy.round``); a rectangle covers the
  pixel columns ``x .. x + w - 1`` and rows ``y .. y + h - 1``;
* a polygon covers, in each pixel row, the spans between pairs of sorted edge crossings; a crossing
  is the edge's x at that row truncated toward zero (edges whose y range contains the row count,
  horizontal edges on the row cross at their start vertex), and a repeated crossing (a vertex on the
  row) is skipped unless it is the last pair;
* both regions are rasterised inside the union of their pixel bounds clipped to the image
  ``[0, width - 1] x [0, height - 1]``; if that union is degenerate the overlap is 1 (two empty
  regions agree), if the clipped window is degenerate it is 0;
* overlap = intersecting pixels / pixels in either mask (0 when both are empty).
"""

from __future__ import annotations

import numpy as np

Bounds = tuple[int, int, int, int]  # left, top, right, bottom, inclusive pixel indices


def _rounded(region: np.ndarray) -> np.ndarray:
    region = np.round(np.asarray(region, dtype=np.float32).astype(np.float64))
    if region.size != 4 and (region.size < 6 or region.size % 2):
        raise ValueError(
            f"a VOT region has 4 numbers (x, y, w, h) or an even number >= 6 (polygon): {region}"
        )
    return region


def _pixel_bounds(region: np.ndarray) -> Bounds:
    """Inclusive pixel bounds of a rounded region (rectangles end at ``x + w - 1``)."""
    if region.size == 4:
        x, y, w, h = region
        return int(x), int(y), int(x + w - 1), int(y + h - 1)
    xs, ys = region[0::2], region[1::2]
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def _rasterize_rectangle(region: np.ndarray, window: Bounds) -> np.ndarray:
    left, top, right, bottom = window
    mask = np.zeros((bottom - top + 1, right - left + 1), dtype=bool)
    x, y, w, h = (int(v) for v in region)
    if x > right or x + w - 1 < left or y > bottom or y + h - 1 < top:
        return mask
    mask[max(0, y - top) : y + h - top, max(0, x - left) : x + w - left] = True
    return mask


def _rasterize_polygon(region: np.ndarray, window: Bounds) -> np.ndarray:
    """Scan-line fill of a rounded polygon inside ``window`` (all rows at once)."""
    left, top, right, bottom = window
    height, width = bottom - top + 1, right - left + 1
    xs = region[0::2] - left
    ys = region[1::2] - top
    # Edge e joins vertex e - 1 (cyclically) to vertex e.
    x_from, y_from = np.roll(xs, 1), np.roll(ys, 1)
    rows = np.arange(height, dtype=np.float64)[:, None]  # [H, 1]
    low, high = np.minimum(ys, y_from), np.maximum(ys, y_from)
    crosses = (low <= rows) & (rows <= high)  # [H, E]
    dy = y_from - ys
    # Same operation order as the toolkit ((y - y_i) / dy * dx): truncation is sensitive to it.
    with np.errstate(divide="ignore", invalid="ignore"):
        node_x = np.where(dy != 0, xs + (rows - ys) / dy * (x_from - xs), xs)
    node_x = np.trunc(np.where(crosses, node_x, 0.0)).astype(np.int64)  # [H, E]
    sentinel = np.iinfo(np.int64).max
    node_x = np.sort(np.where(crosses, node_x, sentinel), axis=1)
    n_nodes = crosses.sum(axis=1)

    # Walk the sorted crossings of every row in lockstep: each step consumes a pair (a span) or
    # skips one repeated crossing; a row stops after its last pair or at a crossing right of the
    # window.
    diff = np.zeros((height, width + 1), dtype=np.int64)
    row_idx = np.arange(height)
    pos = np.zeros(height, dtype=np.int64)
    n_edges = node_x.shape[1]
    for _ in range(n_edges):
        active = pos < n_nodes - 1
        if not active.any():
            break
        a = node_x[row_idx, np.minimum(pos, n_edges - 1)]
        b = node_x[row_idx, np.minimum(pos + 1, n_edges - 1)]
        beyond = active & (a >= width)
        repeated = active & ~beyond & (a == b) & (pos < n_nodes - 2)
        span = active & ~beyond & ~repeated
        fill = span & (b >= 0)
        starts = np.maximum(a[fill], 0)
        ends = np.minimum(b[fill], width - 1) + 1
        np.add.at(diff, (row_idx[fill], starts), 1)
        np.add.at(diff, (row_idx[fill], ends), -1)
        pos = np.where(repeated, pos + 1, np.where(span, pos + 2, n_nodes))
    return np.cumsum(diff[:, :width], axis=1) > 0


def _rasterize(region: np.ndarray, window: Bounds) -> np.ndarray:
    if region.size == 4:
        return _rasterize_rectangle(region, window)
    return _rasterize_polygon(region, window)


def region_overlap(
    region_a: np.ndarray, region_b: np.ndarray, image_size: tuple[int, int]
) -> float:
    """Pixel overlap (IoU) of two VOT regions as the VOT toolkit computes it.

    Args:
        region_a, region_b: 4 numbers ``x, y, w, h`` or a polygon ``x1, y1, ..., xn, yn``.
        image_size: ``(width, height)``; pixels outside the image do not count (VOT scores are
            always bounded by the image).

    Returns:
        overlap in ``[0, 1]``.
    """
    a, b = _rounded(region_a), _rounded(region_b)
    bounds_a, bounds_b = _pixel_bounds(a), _pixel_bounds(b)
    union = (
        min(bounds_a[0], bounds_b[0]),
        min(bounds_a[1], bounds_b[1]),
        max(bounds_a[2], bounds_b[2]),
        max(bounds_a[3], bounds_b[3]),
    )
    if union[0] >= union[2] or union[1] >= union[3]:
        return 1.0
    width, height = image_size
    window = (
        max(0, union[0]),
        max(0, union[1]),
        min(width - 1, union[2]),
        min(height - 1, union[3]),
    )
    if window[0] >= window[2] or window[1] >= window[3]:
        return 0.0
    mask_a, mask_b = _rasterize(a, window), _rasterize(b, window)
    union_px = np.count_nonzero(mask_a | mask_b)
    return float(np.count_nonzero(mask_a & mask_b)) / union_px if union_px else 0.0
