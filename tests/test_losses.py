"""Training losses: parity with the original loss modules, normalisation and ignore handling.

Fixture ``tests/fixtures/losses_densebox_original.npz``: a batch of 5 search crops (AlexNet
geometry 303 / 17 / 8) whose targets come from the original ``make_densebox_target`` (a positive
pair, a negative pair relabelled as ``DenseboxTarget``, a box across the crop border, a one-cell
box, a large box), random logits (``cls_pred`` N(0, 3²), ``ctr_pred`` N(0, 2²)) and random boxes
around the cell centres (``box_pred``), passed once on CPU through the original video_analyst
modules ``FocalLoss`` (alpha 0.25 and 0.75, gamma 2), ``SigmoidCrossEntropyRetina`` (alpha 0.75,
gamma 2; the full-data recipe's classification loss), ``SigmoidCrossEntropyCenterness``
(weight 1) and ``IOULoss`` (weight 3). Stored: ``<loss>/loss``, ``iou/iou`` and the gradients
``<loss>/grad_<input>`` of each loss with respect to its prediction.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from siamfcpp.model.losses import (
    DenseboxLoss,
    centerness_loss,
    iou_loss,
    sigmoid_focal_loss,
)

FIXTURE = Path(__file__).parent / "fixtures" / "losses_densebox_original.npz"
TOL = 1e-5


@pytest.fixture(scope="module")
def original():
    with np.load(FIXTURE) as data:
        return {key: data[key] for key in data.files}


def _inputs(original):
    preds = {
        k: torch.tensor(original[k], requires_grad=True)
        for k in ("cls_pred", "ctr_pred", "box_pred")
    }
    targets = {k: torch.tensor(original[k]) for k in ("cls_gt", "ctr_gt", "box_gt")}
    return preds, targets


def _assert_close(actual: torch.Tensor, expected: np.ndarray) -> None:
    np.testing.assert_allclose(actual.detach().numpy(), expected, rtol=TOL, atol=TOL)


@pytest.mark.parametrize(
    "key, alpha", [("focal_alpha0.25", 0.25), ("focal_alpha0.75", 0.75), ("retina_alpha0.75", 0.75)]
)
def test_focal_loss_matches_original(original, key, alpha):
    preds, targets = _inputs(original)
    loss = sigmoid_focal_loss(preds["cls_pred"], targets["cls_gt"], alpha=alpha, gamma=2.0)
    loss.backward()
    _assert_close(loss, original[f"{key}/loss"])
    _assert_close(preds["cls_pred"].grad, original[f"{key}/grad_cls_pred"])


def test_centerness_loss_matches_original(original):
    preds, targets = _inputs(original)
    loss = centerness_loss(preds["ctr_pred"], targets["ctr_gt"])
    loss.backward()
    _assert_close(loss, original["centerness/loss"])
    _assert_close(preds["ctr_pred"].grad, original["centerness/grad_ctr_pred"])


def test_iou_loss_matches_original(original):
    preds, targets = _inputs(original)
    loss, iou = iou_loss(preds["box_pred"], targets["box_gt"], targets["cls_gt"])
    (3.0 * loss).backward()
    _assert_close(3.0 * loss, original["iou/loss"])
    _assert_close(iou, original["iou/iou"])
    _assert_close(preds["box_pred"].grad, original["iou/grad_box_pred"])


def test_densebox_loss_weights_and_sum(original):
    preds, targets = _inputs(original)
    criterion = DenseboxLoss(
        focal_alpha=0.25, focal_gamma=2.0, cls_weight=2.0, ctr_weight=1.0, reg_weight=3.0
    )
    outputs = {"cls": preds["cls_pred"], "ctr": preds["ctr_pred"], "boxes": preds["box_pred"]}
    losses = criterion(outputs, targets)
    _assert_close(losses["cls"], 2.0 * original["focal_alpha0.25/loss"])
    _assert_close(losses["ctr"], original["centerness/loss"])
    _assert_close(losses["reg"], original["iou/loss"])
    _assert_close(losses["iou"], original["iou/iou"])
    torch.testing.assert_close(losses["total"], losses["cls"] + losses["ctr"] + losses["reg"])
    assert not losses["iou"].requires_grad


def test_ignored_cells_do_not_contribute(original):
    _, targets = _inputs(original)
    logits = torch.tensor(original["cls_pred"])
    ignored = targets["cls_gt"] == -1
    assert ignored.any()
    changed = torch.where(ignored, logits + 50.0, logits)
    reference = sigmoid_focal_loss(logits, targets["cls_gt"], alpha=0.25, gamma=2.0)
    torch.testing.assert_close(
        sigmoid_focal_loss(changed, targets["cls_gt"], alpha=0.25, gamma=2.0), reference
    )


def test_batch_without_positives_is_finite():
    cls_gt = torch.zeros(2, 9, 1)
    cls_gt[1] = -1
    logits = torch.zeros(2, 9, 1)
    # no positive cell: sum over the 9 valid negatives, divided by 1; each is 0.75 * log 2 / 4
    loss = sigmoid_focal_loss(logits, cls_gt, alpha=0.25, gamma=2.0)
    assert loss.item() == pytest.approx(9 * 0.75 * np.log(2) * 0.25, rel=1e-6)
    reg, iou = iou_loss(torch.zeros(2, 9, 4), torch.zeros(2, 9, 4), cls_gt)
    assert reg.item() == 0.0 and iou.item() == 0.0
    assert centerness_loss(logits, torch.zeros(2, 9, 1)).item() == 0.0


def test_perfect_predictions_score_zero_centerness_and_iou():
    ctr_gt = torch.tensor([[[0.25], [0.5], [1.0], [0.0]]])
    logits = torch.logit(ctr_gt.clamp(1e-7, 1 - 1e-7))
    assert centerness_loss(logits, ctr_gt).item() == pytest.approx(0.0, abs=1e-5)
    boxes = torch.tensor([[[10.0, 20.0, 50.0, 60.0]]])
    reg, iou = iou_loss(boxes, boxes, torch.ones(1, 1, 1))
    assert reg.item() == pytest.approx(0.0, abs=1e-6)
    assert iou.item() == pytest.approx(1.0)


def test_losses_are_float32_under_half_inputs(original):
    preds, targets = _inputs(original)
    loss = sigmoid_focal_loss(
        preds["cls_pred"].detach().bfloat16(), targets["cls_gt"], alpha=0.25, gamma=2.0
    )
    assert loss.dtype == torch.float32
