"""Box conversions, IoU and crop geometry (hand-checked cases and property tests)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from siamfcpp.geometry import (
    context_size,
    crop_scale,
    cxywh_to_xywh,
    cxywh_to_xyxy,
    get_crop,
    get_subwindow,
    iou_xywh,
    xywh_to_cxywh,
    xywh_to_xyxy,
    xyxy_to_cxywh,
    xyxy_to_xywh,
)

# (xywh, inclusive xyxy, cxywh) of the same box, worked out by hand.
SAME_BOX = [
    ((10.0, 20.0, 41.0, 21.0), (10.0, 20.0, 50.0, 40.0), (30.0, 30.0, 41.0, 21.0)),
    ((40.0, 60.0, 6.0, 16.0), (40.0, 60.0, 45.0, 75.0), (42.5, 67.5, 6.0, 16.0)),
    ((40.0, 60.0, 1.0, 1.0), (40.0, 60.0, 40.0, 60.0), (40.0, 60.0, 1.0, 1.0)),
]
CONVERSIONS = {
    ("xywh", "xyxy"): xywh_to_xyxy,
    ("xyxy", "xywh"): xyxy_to_xywh,
    ("xywh", "cxywh"): xywh_to_cxywh,
    ("cxywh", "xywh"): cxywh_to_xywh,
    ("xyxy", "cxywh"): xyxy_to_cxywh,
    ("cxywh", "xyxy"): cxywh_to_xyxy,
}
FORMATS = ("xywh", "xyxy", "cxywh")


@pytest.mark.parametrize(("src", "dst"), list(CONVERSIONS))
def test_conversions_hand_checked_single_and_batched(src, dst):
    convert = CONVERSIONS[(src, dst)]
    boxes = {fmt: np.array([case[i] for case in SAME_BOX]) for i, fmt in enumerate(FORMATS)}
    np.testing.assert_array_equal(convert(boxes[src]), boxes[dst])
    np.testing.assert_array_equal(convert(boxes[src][1]), boxes[dst][1])
    out = convert(torch.tensor(boxes[src][None]))
    assert isinstance(out, torch.Tensor) and out.shape == (1, 3, 4)
    np.testing.assert_array_equal(out[0].numpy(), boxes[dst])


def test_conversions_keep_float_dtype_and_promote_integers():
    assert xywh_to_cxywh(np.zeros(4, np.float32)).dtype == np.float32
    assert xywh_to_cxywh(np.zeros(4, np.int64)).dtype == np.float64
    assert xywh_to_cxywh(torch.zeros(2, 4, dtype=torch.int64)).dtype == torch.float32
    with pytest.raises(ValueError, match="4 values"):
        xywh_to_xyxy(np.zeros(3))


finite = st.floats(-1e4, 1e4, allow_nan=False, width=64)
sizes = st.floats(0.5, 1e4, allow_nan=False, width=64)
boxes_xywh = st.tuples(finite, finite, sizes, sizes).map(np.array)


@given(boxes_xywh)
def test_conversion_round_trips(box):
    for a, b in [("xywh", "xyxy"), ("xywh", "cxywh")]:
        there = CONVERSIONS[(a, b)](box)
        np.testing.assert_allclose(CONVERSIONS[(b, a)](there), box, rtol=0, atol=1e-9)
    via_xyxy = xyxy_to_cxywh(xywh_to_xyxy(box))
    np.testing.assert_allclose(cxywh_to_xyxy(via_xyxy), xywh_to_xyxy(box), rtol=0, atol=1e-9)


def test_iou_hand_checked():
    a = np.array([0.0, 0.0, 10.0, 10.0])
    assert iou_xywh(a, a) == 1.0
    assert iou_xywh(a, [5.0, 0.0, 10.0, 10.0]) == pytest.approx(50 / 150)
    assert iou_xywh(a, [5.0, 5.0, 10.0, 10.0]) == pytest.approx(25 / 175)
    assert iou_xywh(a, [10.0, 0.0, 10.0, 10.0]) == 0.0  # touching edges share no pixel
    assert iou_xywh(a, [2.0, 2.0, 2.0, 3.0]) == pytest.approx(6 / 100)  # contained
    assert iou_xywh([0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]) == 0.0  # empty union
    assert np.isnan(iou_xywh(a, [np.nan, 0.0, 10.0, 10.0]))
    batch = iou_xywh(np.stack([a, a + [5, 0, 0, 0]]), a)
    np.testing.assert_allclose(batch, [1.0, 50 / 150])
    t = iou_xywh(torch.tensor(a[None]), torch.tensor([[5.0, 0.0, 10.0, 10.0]]))
    assert isinstance(t, torch.Tensor) and t.item() == pytest.approx(50 / 150)


@given(boxes_xywh, boxes_xywh)
def test_iou_bounds_and_symmetry(a, b):
    iou = iou_xywh(a, b)
    assert 0.0 <= iou <= 1.0
    assert iou == pytest.approx(iou_xywh(b, a), abs=1e-12)
    assert iou_xywh(a, a) == pytest.approx(1.0)


def test_context_size_and_scale_hand_checked():
    # w=48, h=44: pad = 0.5 * 92 = 46 -> sqrt(94 * 90)
    size = np.array([48.0, 44.0], np.float32)
    assert context_size(size, 0.5).dtype == np.float32
    assert context_size(size, 0.5) == pytest.approx(math.sqrt(94 * 90), rel=1e-6)
    assert crop_scale(size, 127, 0.5) == pytest.approx(127 / math.sqrt(94 * 90), rel=1e-6)
    assert context_size(np.array([10.0, 20.0]), 0.0) == pytest.approx(math.sqrt(200))


def _ramp(h=40, w=60):
    """Frame whose pixel (y, x) holds (x, y, 200) so crops can be checked by value."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x, y, np.full_like(x, 200)], axis=-1).astype(np.uint8)


def test_subwindow_unit_scale_is_a_slice():
    frame = _ramp()
    # odd side 11 centred on (30, 20): inclusive corners 25..35, 15..25, one pixel per pixel
    patch = get_subwindow(frame, np.array([30.0, 20.0]), 11, 11, np.zeros(3))
    np.testing.assert_array_equal(patch, frame[15:26, 25:36])


def test_subwindow_pads_outside_with_truncated_mean_colour():
    frame = _ramp()
    patch = get_subwindow(frame, np.array([0.0, 0.0]), 11, 11, np.array([7.9, 8.2, 9.99]))
    np.testing.assert_array_equal(patch[0, 0], [7, 8, 9])  # int() truncates like the original
    np.testing.assert_array_equal(patch[5:, 5:], frame[0:6, 0:6])


def test_subwindow_bilinear_half_scale():
    frame = _ramp()
    # side 21 -> 11 samples: step (x2 - x1) / 10 = 2 frame pixels per crop pixel
    patch = get_subwindow(frame, np.array([30.0, 20.0]), 11, 21, np.zeros(3))
    np.testing.assert_array_equal(patch[..., 0], np.tile(np.arange(20, 41, 2), (11, 1)))
    np.testing.assert_array_equal(patch[..., 1], np.tile(np.arange(10, 31, 2)[:, None], (1, 11)))


def test_get_crop_template_and_search_share_scale():
    frame = _ramp(200, 300)
    size = np.array([48.0, 44.0], np.float32)
    center = np.array([150.0, 100.0], np.float32)
    z, scale_z = get_crop(frame, center, size, 127, 127, np.zeros(3), 0.5)
    x, scale_x = get_crop(frame, center, size, 127, 303, np.zeros(3), 0.5)
    assert z.shape == (127, 127, 3) and x.shape == (303, 303, 3)
    assert scale_z == scale_x == crop_scale(size, 127, 0.5)
    # the search crop covers round(303 / scale) = 219 frame pixels: its first column samples
    # frame x = 150 - (219 - 1) / 2 = 41
    assert round(303 / float(scale_x)) == 219
    assert x[150, 0, 0] == 41
