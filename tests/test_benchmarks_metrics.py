"""One-pass metrics against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from siamfcpp.evaluation.metrics.one_pass import (
    center_error,
    normalized_center_error,
    one_pass_metrics,
    success_curve,
    valid_gt_mask,
)
from siamfcpp.geometry import iou_xywh


def test_overlap_by_hand():
    """The one-pass overlap (:func:`iou_xywh`) on hand-computed rows."""
    gt = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [5, 5, 2, 2]], float)
    boxes = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [20, 20, 5, 5], [5, 5, 2, 2]], float)
    # identical; half shifted: inter 50, union 150; disjoint; identical small
    np.testing.assert_allclose(iou_xywh(boxes, gt), [1.0, 1 / 3, 0.0, 1.0])


def test_center_errors_by_hand():
    gt = np.array([[0, 0, 10, 20]], float)
    boxes = np.array([[3, 4, 10, 20]], float)  # centre moved by (3, 4)
    np.testing.assert_allclose(center_error(boxes, gt), [5.0])
    np.testing.assert_allclose(normalized_center_error(boxes, gt), [np.hypot(0.3, 0.2)])


def test_success_curve_is_strictly_greater():
    curve = success_curve(np.array([0.5, 1.0]))
    assert curve.shape == (21,)
    assert curve[0] == 1.0 and curve[10] == 0.5 and curve[20] == 0.0  # thresholds 0, .5, 1


def test_one_pass_metrics_by_hand():
    gt = np.array(
        [[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 100, 100], [0, 0, 10, 10], [np.nan] * 4], float
    )
    boxes = np.array(
        [[0, 0, 10, 10], [5, 0, 10, 10], [25, 0, 100, 100], [50, 50, 10, 10], [0, 0, 1, 1]], float
    )
    m = one_pass_metrics(boxes, gt, normalized=True)
    ious = np.array([1.0, 1 / 3, 75 * 100 / (2 * 10000 - 7500), 0.0])  # NaN frame left out
    thresholds = np.linspace(0, 1, 21)
    expected_auc = np.mean([(ious > t).mean() for t in thresholds])
    assert m["Success"] == pytest.approx(expected_auc)
    # centre errors 0, 5, 25, 70.7 px -> 2 of 4 within 20 px
    assert m["Precision"] == pytest.approx(0.5)
    # normalised 0, 0.5, 0.25, 7.07 -> only the first within 0.2
    assert m["Norm. Precision"] == pytest.approx(0.25)
    assert "Norm. Precision" not in one_pass_metrics(boxes, gt, normalized=False)


def test_invalid_gt_rows_and_shape_mismatch():
    gt = np.array([[0, 0, 1, 1], [0, 0, 0, 5], [np.nan, 0, 1, 1], [1, 1, -1, 2]], float)
    np.testing.assert_array_equal(valid_gt_mask(gt), [True, False, False, False])
    with pytest.raises(ValueError, match="shape"):
        one_pass_metrics(np.zeros((3, 4)), gt, normalized=False)


def test_precision_curve_is_inclusive():
    from siamfcpp.evaluation.metrics.one_pass import precision_curve

    curve = precision_curve(np.array([0.0, 20.0, 20.5, 60.0]))
    assert curve.shape == (51,)
    assert curve[0] == 0.25 and curve[20] == 0.5 and curve[21] == 0.75 and curve[50] == 0.75
