"""Tracker post-processing: window, size penalty, selection score, box update, clamping."""

import math

import numpy as np
import pytest

from siamfcpp.tracking.postprocess import (
    clamp_target,
    make_window,
    penalized_score,
    size_penalty,
    update_target,
)


def test_cosine_window_shape_peak_and_border():
    window = make_window(5, "cosine").reshape(5, 5)
    assert window.dtype == np.float64
    assert window[2, 2] == 1.0 and window.argmax() == 12
    assert np.all(window[0] == 0) and np.all(window[:, -1] == 0)
    np.testing.assert_allclose(window, window.T)
    assert window[1, 2] == pytest.approx(0.5)  # Hann(5) = 0, .5, 1, .5, 0


def test_uniform_and_unknown_window():
    np.testing.assert_array_equal(make_window(3, "uniform"), np.ones(9))
    with pytest.raises(ValueError, match="windowing"):
        make_window(3, "gaussian")


def _cxywh(*rows):
    return np.array(rows, dtype=np.float32)


def test_size_penalty_hand_checked():
    target = np.array([40.0, 20.0], np.float32)
    boxes = _cxywh([0, 0, 40, 20], [0, 0, 80, 40], [0, 0, 20, 10], [0, 0, 20, 40])
    penalty = size_penalty(boxes, target, 0.1)
    assert penalty.dtype == np.float32
    assert penalty[0] == 1.0  # unchanged box
    # uniform scaling by 2 (or 1/2): scale change 2, no ratio change -> exp(-(2 - 1) k)
    assert penalty[1] == pytest.approx(math.exp(-0.1), rel=1e-6)
    assert penalty[2] == pytest.approx(math.exp(-0.1), rel=1e-6)
    # 20x40: ratio 2 -> 0.5 (change 4); padded size sqrt(50*70) vs sqrt(70*50) (change 1)
    assert penalty[3] == pytest.approx(math.exp(-0.3), rel=1e-6)
    assert np.all(size_penalty(boxes, target, 0.0) == 1.0)


def test_penalized_score_blends_with_window():
    score = np.array([0.2, 0.9, 0.5], np.float32)
    penalty = np.array([1.0, 0.5, 1.0], np.float32)
    window = np.array([0.0, 0.0, 1.0])
    np.testing.assert_allclose(penalized_score(score, penalty, window, 0.0), [0.2, 0.45, 0.5])
    np.testing.assert_array_equal(penalized_score(score, penalty, window, 1.0), window)
    mixed = penalized_score(score, penalty, window, 0.25)
    assert mixed.dtype == np.float64
    np.testing.assert_allclose(mixed, [0.15, 0.3375, 0.625], rtol=1e-6)


def test_update_target_moves_centre_and_blends_size():
    boxes = _cxywh([151, 151, 40, 40], [171, 141, 60, 20])
    score = np.array([0.5, 0.8], np.float32)
    penalty = np.array([1.0, 0.5], np.float32)
    center = np.array([100.0, 50.0], np.float32)
    size = np.array([20.0, 20.0], np.float32)
    scale = np.float32(2.0)
    # the crop centre (151) maps to the previous centre: same centre, size lr = 0.5 * 1 * 0.5
    c0, s0 = update_target(0, score, penalty, boxes, center, size, scale, 303, 0.5)
    np.testing.assert_array_equal(c0, center)
    np.testing.assert_allclose(s0, 20 * 0.75 + 20 * 0.25)
    # offset (+20, -10) crop px = (+10, -5) frame px; lr = 0.5 * 0.8 * 0.5 = 0.2
    c1, s1 = update_target(1, score, penalty, boxes, center, size, scale, 303, 0.5)
    np.testing.assert_allclose(c1, [110.0, 45.0], rtol=1e-6)
    np.testing.assert_allclose(s1, [20 * 0.8 + 30 * 0.2, 20 * 0.8 + 10 * 0.2], rtol=1e-6)
    assert c1.dtype == s1.dtype == np.float32


def test_clamp_target_limits_centre_and_size():
    center, size = clamp_target(
        np.array([-5.0, 300.0], np.float32),
        np.array([2.0, 900.0], np.float32),
        (320, 240),
        (10, 10),
    )
    np.testing.assert_array_equal(center, [0.0, 240.0])
    np.testing.assert_array_equal(size, [10.0, 240.0])
    assert center.dtype == size.dtype == np.float32
