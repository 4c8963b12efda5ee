"""One-pass evaluation metrics (pure functions on ``x, y, w, h`` boxes).

Definitions, as the benchmarks' papers and toolkits use them:

* overlap: intersection over union of the two rectangles ``[x, x + w) x [y, y + h)``
  (:func:`siamfcpp.geometry.iou_xywh`);
* success curve: fraction of frames whose overlap is *greater* than each of 21 thresholds
  ``0, 0.05, ..., 1``; **success AUC** is the mean of that curve (OTB, UAV123, LaSOT, TrackingNet);
* center error: distance between box centres in pixels; **precision** is the fraction of frames
  with center error ``<= 20`` px;
* normalised center error: the centre offset divided by the gt width / height before taking the
  norm (TrackingNet paper); **normalised precision** is the fraction of frames with normalised
  error ``<= 0.2`` (the value LaSOT and TrackingNet report, read from the 0..0.5 curve);
* frames without a valid ground truth (NaN, or non-positive width/height, e.g. UAV123's absent
  target, LaSOT's zero boxes) are left out of every metric.
"""

from __future__ import annotations

import numpy as np

from siamfcpp.geometry import iou_xywh

SUCCESS_THRESHOLDS = np.linspace(0.0, 1.0, 21)
PRECISION_THRESHOLDS_PX = np.arange(0.0, 51.0)  # x axis of precision plots
PRECISION_THRESHOLD_PX = 20.0
NORM_PRECISION_THRESHOLD = 0.2


def valid_gt_mask(gt_xywh: np.ndarray) -> np.ndarray:
    """``[T]`` bool: frames whose gt box is finite with positive width and height."""
    gt = np.asarray(gt_xywh, dtype=np.float64)
    return np.isfinite(gt).all(axis=1) & (gt[:, 2] > 0) & (gt[:, 3] > 0)


def center_error(boxes_xywh: np.ndarray, gt_xywh: np.ndarray) -> np.ndarray:
    """``[T]`` Euclidean distance of box centres in pixels."""
    a = np.asarray(boxes_xywh, dtype=np.float64)
    b = np.asarray(gt_xywh, dtype=np.float64)
    return np.linalg.norm((a[:, :2] + a[:, 2:] / 2) - (b[:, :2] + b[:, 2:] / 2), axis=1)


def normalized_center_error(boxes_xywh: np.ndarray, gt_xywh: np.ndarray) -> np.ndarray:
    """``[T]`` centre offset divided per axis by the gt width and height, then its norm."""
    a = np.asarray(boxes_xywh, dtype=np.float64)
    b = np.asarray(gt_xywh, dtype=np.float64)
    offset = (a[:, :2] + a[:, 2:] / 2) - (b[:, :2] + b[:, 2:] / 2)
    return np.linalg.norm(offset / b[:, 2:], axis=1)


def success_curve(ious: np.ndarray) -> np.ndarray:
    """``[21]`` fraction of frames with overlap above each of :data:`SUCCESS_THRESHOLDS`."""
    ious = np.asarray(ious, dtype=np.float64)
    if ious.size == 0:
        return np.zeros_like(SUCCESS_THRESHOLDS)
    return (ious[:, None] > SUCCESS_THRESHOLDS[None, :]).mean(axis=0)


def precision_curve(errors: np.ndarray) -> np.ndarray:
    """``[51]`` fraction of frames with center error ``<=`` each of 0..50 px."""
    errors = np.asarray(errors, dtype=np.float64)
    if errors.size == 0:
        return np.zeros_like(PRECISION_THRESHOLDS_PX)
    return (errors[:, None] <= PRECISION_THRESHOLDS_PX[None, :]).mean(axis=0)


def one_pass_curves(boxes_xywh: np.ndarray, gt_xywh: np.ndarray) -> dict[str, np.ndarray]:
    """Success and precision curves of one result over its frames with a valid gt."""
    valid = valid_gt_mask(gt_xywh)
    boxes = np.asarray(boxes_xywh, dtype=np.float64)[valid]
    gt = np.asarray(gt_xywh, dtype=np.float64)[valid]
    return {
        "success": success_curve(iou_xywh(boxes, gt)),
        "precision": precision_curve(center_error(boxes, gt)),
    }


def one_pass_metrics(
    boxes_xywh: np.ndarray, gt_xywh: np.ndarray, *, normalized: bool
) -> dict[str, float]:
    """``Success`` (AUC), ``Precision`` (and ``Norm. Precision``) of one result, in 0..1.

    Args:
        boxes_xywh: tracker output ``[T, 4]``.
        gt_xywh: ground truth ``[T, 4]``; invalid rows are skipped (see module doc).
        normalized: also report the normalised precision (LaSOT, TrackingNet).
    """
    boxes = np.asarray(boxes_xywh, dtype=np.float64)
    gt = np.asarray(gt_xywh, dtype=np.float64)
    if boxes.shape != gt.shape:
        raise ValueError(f"result has shape {boxes.shape} but ground truth {gt.shape}")
    valid = valid_gt_mask(gt)
    boxes, gt = boxes[valid], gt[valid]
    metrics = {
        "Success": float(success_curve(iou_xywh(boxes, gt)).mean()),
        "Precision": float(np.mean(center_error(boxes, gt) <= PRECISION_THRESHOLD_PX))
        if len(gt)
        else 0.0,
    }
    if normalized:
        metrics["Norm. Precision"] = (
            float(np.mean(normalized_center_error(boxes, gt) <= NORM_PRECISION_THRESHOLD))
            if len(gt)
            else 0.0
        )
    return metrics
