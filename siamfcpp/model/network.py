"""SiamFCpp: backbone, adjust convolutions, depthwise cross-correlation and DenseboxHead."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from siamfcpp.model.head import DenseboxHead
from siamfcpp.model.layers import ConvBNReLU, xcorr_form

Kernels = tuple[Tensor, Tensor]


class SiamFCpp(nn.Module):
    """The SiamFC++ network.

    Shared backbone features of template ``z`` and search region ``x`` pass through four 3x3
    adjust convs (cls / reg x template / search), are correlated channel by channel, and the
    head turns the two correlation maps into per-cell scores and boxes.

    Images are float32 ``[B, 3, H, W]`` BGR pixel values 0..255 (no normalisation).

    Args:
        backbone: feature extractor with an ``out_channels`` attribute.
        head: the DenseboxHead.
        xcorr: form of the depthwise cross-correlation, a key of
            :data:`~siamfcpp.model.layers.XCORR_FORMS` (same outputs up to float rounding;
            ``model.xcorr``): ``grouped`` (the original's), ``unfold`` or ``shift``, which differ
            in speed, mostly in training's backward pass. Not part of the weights.
    """

    def __init__(self, backbone: nn.Module, head: DenseboxHead, xcorr: str = "grouped") -> None:
        super().__init__()
        self.xcorr = xcorr_form(xcorr)
        self.backbone = backbone
        width = backbone.out_channels

        def adjust() -> ConvBNReLU:
            return ConvBNReLU(width, width, 3, relu=False)

        self.cls_z_adjust = adjust()
        self.reg_z_adjust = adjust()
        self.cls_x_adjust = adjust()
        self.reg_x_adjust = adjust()
        for m in (self.cls_z_adjust, self.reg_z_adjust, self.cls_x_adjust, self.reg_x_adjust):
            nn.init.normal_(m.conv.weight, std=0.01)
        self.head = head

    def template(self, z: Tensor) -> Kernels:
        """Template kernels, computed once per target.

        Args:
            z: template crops ``[B, 3, 127, 127]``.

        Returns:
            ``(cls_kernel, reg_kernel)``, each ``[B, C, k, k]`` (k = 4 for AlexNet, 5 GoogLeNet).
        """
        features = self.backbone(z)
        return self.cls_z_adjust(features), self.reg_z_adjust(features)

    def _head(self, x: Tensor, kernels: Kernels) -> tuple[Tensor, Tensor, Tensor]:
        features = self.backbone(x)
        cls_corr = self.xcorr(self.cls_x_adjust(features), kernels[0])
        reg_corr = self.xcorr(self.reg_x_adjust(features), kernels[1])
        return self.head(cls_corr, reg_corr)

    def search(self, x: Tensor, kernels: Kernels) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Scores and boxes of every score-map cell of search crops ``x [B, 3, X, X]``.

        Returns:
            score ``[B, N]`` (= cls * ctr), boxes ``[B, N, 4]`` x1, y1, x2, y2 in crop pixels,
            cls ``[B, N]`` and ctr ``[B, N]`` probabilities; N = score_size ** 2, row-major.
        """
        cls_logits, ctr_logits, boxes = self._head(x, kernels)
        cls = torch.sigmoid(cls_logits[..., 0])
        ctr = torch.sigmoid(ctr_logits[..., 0])
        return cls * ctr, boxes, cls, ctr

    def forward(self, z: Tensor, x: Tensor) -> dict[str, Tensor]:
        """Training outputs for pairs ``z [B, 3, 127, 127]``, ``x [B, 3, X, X]``.

        Returns:
            ``cls`` and ``ctr`` logits ``[B, N, 1]``, ``boxes`` ``[B, N, 4]`` x1, y1, x2, y2 in
            search-crop pixels: the original ``SiamTrack`` train phase's ``cls_pred``,
            ``ctr_pred`` and ``box_pred`` (no sigmoid applied; the losses take logits).
        """
        cls, ctr, boxes = self._head(x, self.template(z))
        return {"cls": cls, "ctr": ctr, "boxes": boxes}
