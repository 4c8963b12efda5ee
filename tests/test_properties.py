"""Property-based tests (hypothesis) of the geometry every score depends on: box conversions,
IoU (``siamfcpp.geometry``, which the benchmarks score with, and the got10k toolkit's
``rect_iou``), VOT's pixel region overlap (rectangles and polygons) and crops (``get_subwindow``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from siamfcpp.evaluation.datasets.vot_layout import region_corners
from siamfcpp.evaluation.metrics.vot_region import region_overlap, region_overlaps
from siamfcpp.evaluation.toolkit import rect_iou
from siamfcpp.geometry import (
    cxywh_to_xywh,
    cxywh_to_xyxy,
    get_subwindow,
    iou_xywh,
    xywh_to_cxywh,
    xywh_to_xyxy,
    xyxy_to_cxywh,
    xyxy_to_xywh,
)

SETTINGS = settings(max_examples=80, deadline=None)

coord = st.floats(-500, 500, allow_nan=False, width=64)
size = st.floats(0.5, 300, allow_nan=False, width=64)
box = st.tuples(coord, coord, size, size).map(lambda b: np.array(b, dtype=np.float64))
# at least 2 px per side: the VOT toolkit scores two regions whose joint pixel bounds are one
# pixel wide or high as overlap 1 (vot_region's documented degenerate case)
int_box = st.tuples(
    st.integers(0, 80), st.integers(0, 80), st.integers(2, 60), st.integers(2, 60)
).map(lambda b: np.array(b, dtype=np.float64))


# ------------------------------------------------------------------ box conversions


@SETTINGS
@given(box)
def test_conversions_round_trip(b):
    np.testing.assert_allclose(cxywh_to_xywh(xywh_to_cxywh(b)), b, atol=1e-9)
    np.testing.assert_allclose(xyxy_to_xywh(xywh_to_xyxy(b)), b, atol=1e-9)
    c = xywh_to_cxywh(b)
    np.testing.assert_allclose(xyxy_to_cxywh(cxywh_to_xyxy(c)), c, atol=1e-9)
    # the three routes between formats agree
    np.testing.assert_allclose(cxywh_to_xyxy(c), xywh_to_xyxy(b), atol=1e-9)


@SETTINGS
@given(st.lists(box, min_size=1, max_size=5))
def test_conversions_batch_and_torch_match_rows(rows):
    batch = np.stack(rows)
    out = xywh_to_cxywh(batch)
    assert out.shape == batch.shape
    for row, converted in zip(rows, out, strict=True):
        np.testing.assert_array_equal(xywh_to_cxywh(row), converted)
    tensor_out = xywh_to_xyxy(torch.from_numpy(batch))
    assert tensor_out.dtype == torch.float64
    np.testing.assert_array_equal(tensor_out.numpy(), xywh_to_xyxy(batch))


@SETTINGS
@given(box)
def test_inclusive_corners_span_the_size(b):
    x1, y1, x2, y2 = xywh_to_xyxy(b)
    assert np.isclose(x2 - x1 + 1, b[2]) and np.isclose(y2 - y1 + 1, b[3])
    cx, cy, _, _ = xywh_to_cxywh(b)
    assert np.isclose(cx, (x1 + x2) / 2) and np.isclose(cy, (y1 + y2) / 2)


# ------------------------------------------------------------------ IoU


@SETTINGS
@given(box, box)
def test_iou_symmetric_bounded_and_shared_by_every_implementation(a, b):
    iou = float(iou_xywh(a, b))
    assert 0.0 <= iou <= 1.0
    assert iou == float(iou_xywh(b, a))
    # the one-pass benchmarks score with iou_xywh; the got10k toolkit's rect_iou agrees
    assert np.isclose(rect_iou(a[None], b[None])[0], iou, atol=1e-9)


@SETTINGS
@given(box)
def test_iou_with_itself_is_one(a):
    assert np.isclose(iou_xywh(a, a), 1.0)


@SETTINGS
@given(box, box, coord, coord, st.floats(0.25, 4))
def test_iou_invariant_to_translation_and_scale(a, b, dx, dy, s):
    shift = np.array([dx, dy, 0, 0])
    scale = np.array([s, s, s, s])
    iou = iou_xywh(a, b)
    assert np.isclose(iou_xywh(a + shift, b + shift), iou, atol=1e-9)
    assert np.isclose(iou_xywh(a * scale, b * scale), iou, atol=1e-9)


@SETTINGS
@given(box, st.floats(1.01, 3))
def test_iou_of_nested_boxes_is_the_area_ratio(a, s):
    # a box grown about its centre by s per side contains it: IoU = area ratio 1 / s^2
    big = a.copy()
    big[2:] *= s
    big[:2] -= (big[2:] - a[2:]) / 2
    assert np.isclose(iou_xywh(a, big), 1 / s**2, rtol=1e-9)


@SETTINGS
@given(box, box)
def test_disjoint_boxes_have_zero_iou(a, b):
    b = b.copy()
    b[0] = a[0] + a[2] + abs(b[0]) % 10  # entirely right of a
    assert iou_xywh(a, b) == 0.0


# ------------------------------------------------------------------ VOT region overlap

IMAGE = (160, 160)  # every int_box lies inside


@SETTINGS
@given(int_box, int_box)
def test_vot_rectangle_overlap_is_rect_iou_inside_the_image(a, b):
    # whole-pixel rectangles inside the image: counting pixels is the continuous IoU
    got = region_overlap(a, b, IMAGE)
    assert 0.0 <= got <= 1.0
    assert got == region_overlap(b, a, IMAGE)
    assert np.isclose(got, iou_xywh(a, b), atol=1e-12)


@SETTINGS
@given(int_box, int_box)
def test_vot_polygon_overlap_of_axis_aligned_rectangles(a, b):
    # the corner polygon of x, y, w, h runs from x to x + w, so it covers w + 1 pixel columns
    # (and h + 1 rows): its overlap is the rectangle overlap of the one-pixel-larger boxes
    grow = np.array([0, 0, 1, 1])
    poly_a, poly_b = region_corners(a), region_corners(b)
    got = region_overlap(poly_a, poly_b, IMAGE)
    assert np.isclose(got, region_overlap(a + grow, b + grow, IMAGE), atol=1e-12)
    assert np.isclose(got, iou_xywh(a + grow, b + grow), atol=1e-12)
    assert got == region_overlap(poly_b, poly_a, IMAGE)
    assert region_overlap(poly_a, poly_a, IMAGE) == 1.0


@SETTINGS
@given(
    st.floats(20, 140),
    st.floats(20, 140),
    st.floats(5, 40),
    st.floats(5, 40),
    st.floats(0, np.pi),
)
def test_vot_rotated_polygon_overlap_symmetric_bounded(cx, cy, w, h, angle):
    c, s = np.cos(angle), np.sin(angle)
    corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2 @ np.array([[c, s], [-s, c]])
    poly = (corners + [cx, cy]).ravel()
    rect = np.array([cx - w / 2, cy - h / 2, w, h])
    got = region_overlap(poly, rect, IMAGE)
    assert 0.0 <= got <= 1.0
    assert got == region_overlap(rect, poly, IMAGE)
    assert region_overlap(poly, poly, IMAGE) == 1.0


def _random_region(rng: np.random.Generator, polygon: bool) -> np.ndarray:
    """A box or a polygon (3-6 vertices, convex or not) around or beyond a 160 x 160 image, with
    vertices often on whole or half pixels (crossings on vertices, ties after rounding)."""
    if not polygon:
        return np.concatenate([rng.uniform(-30, 150, 2), rng.uniform(-3, 70, 2)])
    n = int(rng.integers(3, 7))
    if rng.random() < 0.5:  # convex, like a rotated annotation
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        centre, radius = rng.uniform(-20, 180, 2), rng.uniform(1, 60)
        points = centre + radius * np.stack(
            [np.cos(angles), rng.uniform(0.3, 1) * np.sin(angles)], 1
        )
    else:
        points = rng.uniform(-20, 180, (n, 2))
    return (np.round(points * 2) / 2 if rng.random() < 0.5 else points).ravel()


@pytest.mark.parametrize("seed", range(4))
def test_vot_overlaps_all_at_once_equal_rasterising_each_pair(seed):
    """Counting pixels row by row (many pairs at once) is the rasteriser's number, exactly:
    boxes against polygons near their boxes, and any two regions."""
    rng = np.random.default_rng(seed)
    a, b, sizes = [], [], []
    for _ in range(1500):
        polygon = _random_region(rng, polygon=True)
        if rng.random() < 0.5:  # a box near the polygon: partial overlaps
            lo, hi = polygon.reshape(-1, 2).min(0), polygon.reshape(-1, 2).max(0)
            box = np.concatenate([lo + rng.normal(0, 4, 2), hi - lo + rng.normal(0, 4, 2)])
        else:
            box = _random_region(rng, polygon=rng.random() < 0.3)
        a.append(box)
        b.append(polygon if rng.random() < 0.8 else _random_region(rng, polygon=False))
        sizes.append((int(rng.integers(20, 161)), int(rng.integers(20, 161))))
    one_by_one = [region_overlap(x, y, size) for x, y, size in zip(a, b, sizes, strict=True)]
    assert sum(0 < v < 1 for v in one_by_one) > 300  # real partial overlaps
    np.testing.assert_array_equal(region_overlaps(a, b, sizes), one_by_one)
    np.testing.assert_array_equal(region_overlaps(b, a, sizes), one_by_one)


# ------------------------------------------------------------------ crops

AVG = np.array([50, 100, 150])


def random_frame(seed: int, height: int, width: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@SETTINGS
@given(st.integers(0, 2**16), st.integers(0, 40), st.integers(0, 40), st.integers(3, 30))
def test_unscaled_crop_inside_the_frame_is_the_frame_slice(seed, x1, y1, side):
    frame = random_frame(seed, 80, 80)
    center = np.array([x1 + (side - 1) / 2, y1 + (side - 1) / 2])
    patch = get_subwindow(frame, center, side, side, AVG)
    np.testing.assert_array_equal(patch, frame[y1 : y1 + side, x1 : x1 + side])


@SETTINGS
@given(
    st.integers(0, 2**16),
    st.integers(-8, 8).map(lambda v: v / 4),
    st.integers(-8, 8).map(lambda v: v / 4),
    st.integers(0, 30),
    st.integers(0, 30),
    st.integers(8, 60),
    st.sampled_from([15, 31, 32]),
)
def test_crop_of_translated_frame_is_the_translated_crop(seed, fx, fy, dx, dy, src, out):
    # the frame pasted at (dx, dy) on a canvas of the padding colour: cropping it around the
    # shifted centre samples the same frame coordinates (and the same padding outside)
    frame = random_frame(seed, 40, 50)
    canvas = np.empty((40 + dy + 30, 50 + dx + 30, 3), dtype=np.uint8)
    canvas[:] = AVG
    canvas[dy : dy + 40, dx : dx + 50] = frame
    center = np.array([25 + fx, 20 + fy])
    patch = get_subwindow(frame, center, out, src, AVG)
    shifted = get_subwindow(canvas, center + [dx, dy], out, src, AVG)
    # OpenCV interpolates in fixed point (1/32 px): rounding may differ by one grey level
    assert np.abs(patch.astype(int) - shifted.astype(int)).max() <= 1


@SETTINGS
@given(st.integers(0, 2**16), coord, coord, st.integers(2, 80), st.sampled_from([15, 127]))
def test_crop_has_requested_size_and_stays_in_the_value_range(seed, cx, cy, src, out):
    frame = random_frame(seed, 30, 40)
    patch = get_subwindow(frame, np.array([cx, cy]), out, src, AVG)
    assert patch.shape == (out, out, 3) and patch.dtype == np.uint8
    # bilinear mixes of frame pixels and the padding colour stay within their range per channel
    low = np.minimum(frame.min(axis=(0, 1)), AVG)
    high = np.maximum(frame.max(axis=(0, 1)), AVG)
    assert (patch >= low).all() and (patch <= high).all()


@SETTINGS
@given(st.integers(0, 2**16), st.integers(2, 50), st.sampled_from([15, 127]))
def test_crop_far_outside_the_frame_is_the_padding_colour(seed, src, out):
    frame = random_frame(seed, 30, 40)
    patch = get_subwindow(frame, np.array([-500.0, 900.0]), out, src, AVG)
    assert (patch == AVG.astype(np.uint8)).all()
