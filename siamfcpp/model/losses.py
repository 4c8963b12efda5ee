"""SiamFC++ training losses over the score-map cells of a batch.

Shapes: ``B`` search crops, ``N = score_size ** 2`` cells. Labels as made by
:func:`siamfcpp.model.targets.make_densebox_targets`: ``cls_gt`` 1 positive, 0 negative,
``-1`` ignored. Every loss is computed in float32 (also under mixed precision) and normalised
over the whole batch, as the original: the classification loss by the number of positive cells,
the centerness loss by the cells with a non-zero centerness label, the IoU loss by the positive
cells (each at least 1, so batches without positives give finite losses).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from siamfcpp.model.targets import IGNORE_LABEL

# log() argument floor of the IoU loss: the smallest normal float32, as the original
_LOG_FLOOR = torch.finfo(torch.float32).tiny


def _count(mask: Tensor) -> Tensor:
    """Number of true cells, at least 1 (the normaliser of a mean over a possibly empty set)."""
    return mask.sum().clamp(min=1.0)


def sigmoid_focal_loss(cls_logits: Tensor, cls_gt: Tensor, *, alpha: float, gamma: float) -> Tensor:
    """Focal loss (Lin et al. 2017) of the classification logits.

    Args:
        cls_logits: ``[B, N, 1]`` logits before the sigmoid.
        cls_gt: ``[B, N, 1]`` labels 1 / 0 / ignored.
        alpha: weight of positive cells (negatives get ``1 - alpha``).
        gamma: focusing exponent.

    Returns:
        scalar: summed over non-ignored cells, divided by the number of positive cells.
    """
    logits = cls_logits.float()
    positive = (cls_gt == 1).to(logits.dtype)
    valid = (cls_gt != IGNORE_LABEL).to(logits.dtype)
    prob = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, positive, reduction="none")
    prob_true = prob * positive + (1 - prob) * (1 - positive)
    alpha_true = alpha * positive + (1 - alpha) * (1 - positive)
    loss = alpha_true * ce * (1 - prob_true) ** gamma
    return (loss * valid).sum() / _count(positive)


def centerness_loss(ctr_logits: Tensor, ctr_gt: Tensor) -> Tensor:
    """Sigmoid cross-entropy of the centerness logits on cells with a centerness label.

    The label's own entropy is subtracted, so a perfect prediction scores 0 (the loss is the
    KL divergence between label and prediction).

    Args:
        ctr_logits: ``[B, N, 1]`` logits before the sigmoid.
        ctr_gt: ``[B, N, 1]`` centerness labels in ``[0, 1]``; cells at 0 are left out.

    Returns:
        scalar: mean over the cells with a non-zero label.
    """
    logits = ctr_logits.float()
    mask = (ctr_gt != 0).to(logits.dtype)
    cross_entropy = F.binary_cross_entropy_with_logits(logits, ctr_gt, reduction="none")
    entropy = -(torch.xlogy(ctr_gt, ctr_gt) + torch.xlogy(1 - ctr_gt, 1 - ctr_gt))
    return ((cross_entropy - entropy) * mask).sum() / _count(mask)


def box_iou_plus_one(boxes1_xyxy: Tensor, boxes2_xyxy: Tensor) -> Tensor:
    """Element-wise IoU of ``[..., 4]`` boxes with the inclusive ``+1`` pixel convention."""
    area1 = (boxes1_xyxy[..., 2] - boxes1_xyxy[..., 0] + 1).abs() * (
        boxes1_xyxy[..., 3] - boxes1_xyxy[..., 1] + 1
    ).abs()
    area2 = (boxes2_xyxy[..., 2] - boxes2_xyxy[..., 0] + 1).abs() * (
        boxes2_xyxy[..., 3] - boxes2_xyxy[..., 1] + 1
    ).abs()
    top_left = torch.maximum(boxes1_xyxy[..., :2], boxes2_xyxy[..., :2])
    bottom_right = torch.minimum(boxes1_xyxy[..., 2:], boxes2_xyxy[..., 2:])
    inter = (bottom_right - top_left + 1).clamp(min=0).prod(dim=-1)
    return (inter / (area1 + area2 - inter)).clamp(min=0)


def iou_loss(boxes_xyxy: Tensor, box_gt: Tensor, cls_gt: Tensor) -> tuple[Tensor, Tensor]:
    """``-log IoU`` of the predicted boxes on positive cells.

    Args:
        boxes_xyxy: ``[B, N, 4]`` predicted boxes in search-crop pixels.
        box_gt: ``[B, N, 4]`` target boxes.
        cls_gt: ``[B, N, 1]`` labels; only positive cells count.

    Returns:
        ``(loss, mean_iou)`` scalars, both averaged over positive cells (``mean_iou`` detached).
    """
    positive = (cls_gt[..., 0] == 1).float()
    iou = box_iou_plus_one(boxes_xyxy.float(), box_gt.float())
    loss = -torch.log(iou.clamp(min=_LOG_FLOOR))
    count = _count(positive)
    return (loss * positive).sum() / count, (iou.detach() * positive).sum() / count


class DenseboxLoss(nn.Module):
    """Weighted sum of the focal, centerness and IoU losses of a training batch.

    Args:
        focal_alpha: focal loss weight of positive cells.
        focal_gamma: focal loss focusing exponent.
        cls_weight: weight of the classification (focal) loss.
        ctr_weight: weight of the centerness loss.
        reg_weight: weight of the IoU loss.
    """

    def __init__(
        self,
        focal_alpha: float,
        focal_gamma: float,
        cls_weight: float,
        ctr_weight: float,
        reg_weight: float,
    ) -> None:
        super().__init__()
        self.focal_alpha = focal_alpha
        self.focal_gamma = focal_gamma
        self.cls_weight = cls_weight
        self.ctr_weight = ctr_weight
        self.reg_weight = reg_weight

    def forward(self, outputs: dict[str, Tensor], batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Losses of network outputs against batch targets.

        Args:
            outputs: ``cls`` ``[B, N, 1]``, ``ctr`` ``[B, N, 1]`` logits and ``boxes``
                ``[B, N, 4]`` xyxy, as ``SiamFCpp.forward`` returns them.
            batch: ``cls_gt``, ``ctr_gt`` ``[B, N, 1]`` and ``box_gt`` ``[B, N, 4]``.

        Returns:
            weighted ``cls``, ``ctr``, ``reg`` losses, their sum ``total`` and the mean IoU of
            the positive cells ``iou`` (detached).
        """
        cls = self.cls_weight * sigmoid_focal_loss(
            outputs["cls"], batch["cls_gt"], alpha=self.focal_alpha, gamma=self.focal_gamma
        )
        ctr = self.ctr_weight * centerness_loss(outputs["ctr"], batch["ctr_gt"])
        reg, iou = iou_loss(outputs["boxes"], batch["box_gt"], batch["cls_gt"])
        reg = self.reg_weight * reg
        return {"cls": cls, "ctr": ctr, "reg": reg, "total": cls + ctr + reg, "iou": iou}
