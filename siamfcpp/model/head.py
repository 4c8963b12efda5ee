"""DenseboxHead: per-cell classification, centerness and box regression of SiamFC++."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from siamfcpp.model.layers import ConvBNReLU, score_map_centres

#: largest box offset (crop pixels) decoded in eval mode, 30x a 303-pixel search crop
MAX_OFFSET = 1e4


class DenseboxHead(nn.Module):
    """Two conv towers on the correlation maps and three 1x1 outputs.

    The classification tower feeds the cls and centerness outputs, the regression tower the four
    box offsets (left, top, right, bottom), decoded as ``exp(offset_scale * o + offset_bias) *
    total_stride`` around each cell's centre in the search crop. In eval mode (tracking) an offset
    is at most :data:`MAX_OFFSET` crop pixels: a barely trained network's exponent can pass 88,
    where ``exp`` overflows float32 to inf and the tracker's box maths turns that into NaN; no
    trained network comes near the bound, and NaN (broken weights) stays NaN. Training keeps
    the original's unbounded decoding (and its gradients).

    Args:
        in_channels: channels of the correlation maps (= tower width).
        conv_bn: one flag per 3x3 tower conv: whether it has batch norm (its length is the depth).
        x_size: search crop side the score-map grid refers to.
        score_size: side of the score map the correlation maps produce at ``x_size``.
        total_stride: backbone stride, the grid step in crop pixels.
    """

    def __init__(
        self,
        in_channels: int,
        conv_bn: Sequence[bool],
        x_size: int,
        score_size: int,
        total_stride: int,
    ) -> None:
        super().__init__()
        self.score_size = score_size
        self.total_stride = total_stride
        self.cls_tower = nn.Sequential(
            *(ConvBNReLU(in_channels, in_channels, 3, bn=bool(b)) for b in conv_bn)
        )
        self.reg_tower = nn.Sequential(
            *(ConvBNReLU(in_channels, in_channels, 3, bn=bool(b)) for b in conv_bn)
        )
        self.cls_logits = ConvBNReLU(in_channels, 1, 1, relu=False)
        self.ctr_logits = ConvBNReLU(in_channels, 1, 1, relu=False)
        self.box_offsets = ConvBNReLU(in_channels, 4, 1, relu=False)
        self.offset_scale = nn.Parameter(torch.tensor(1.0))
        self.offset_bias = nn.Parameter(torch.tensor(0.0))
        self.register_buffer(
            "centres", score_map_centres(score_size, x_size, total_stride), persistent=False
        )
        self._init_weights()

    def _init_weights(self) -> None:
        # as the original: small normal weights; the cls bias starts at prior probability 0.01;
        # the other biases keep PyTorch's uniform(+-1/sqrt(fan_in)), which the original also sets
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, std=1e-4)
        nn.init.constant_(self.cls_logits.conv.bias, -torch.log(torch.tensor(99.0)).item())

    def forward(self, cls_corr: Tensor, reg_corr: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Score-map outputs for correlation maps ``[B, C, S + 2d, S + 2d]`` (d = tower depth).

        Returns:
            cls logits ``[B, N, 1]``, centerness logits ``[B, N, 1]`` and boxes ``[B, N, 4]``
            ``x1, y1, x2, y2`` in search-crop pixels, N = S * S cells in row-major order.
        """
        cls_features = self.cls_tower(cls_corr)
        reg_features = self.reg_tower(reg_corr)
        side = cls_features.shape[-1]
        if side != self.score_size:
            raise ValueError(
                f"score map is {side}x{side} but the head was built for score_size "
                f"{self.score_size}: set model.head.score_size/x_size to match the search crop"
            )
        cls = _cells_last(self.cls_logits(cls_features))
        ctr = _cells_last(self.ctr_logits(cls_features))
        exponent = self.offset_scale * self.box_offsets(reg_features) + self.offset_bias
        offsets = _cells_last(
            decode_offsets(exponent, self.total_stride, bounded=not self.training)
        )
        boxes = torch.cat([self.centres - offsets[..., :2], self.centres + offsets[..., 2:]], dim=2)
        return cls, ctr, boxes


def decode_offsets(exponent: Tensor, total_stride: int, *, bounded: bool) -> Tensor:
    """Box offsets in crop pixels, ``exp(exponent) * total_stride`` (any shape), at most
    :data:`MAX_OFFSET` when ``bounded`` (tracking; see :class:`DenseboxHead`)."""
    if bounded:
        exponent = exponent.clamp(max=math.log(MAX_OFFSET / total_stride))
    return torch.exp(exponent) * total_stride


def _cells_last(x: Tensor) -> Tensor:
    """``[B, C, H, W] -> [B, H * W, C]`` (row-major cells)."""
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, x.shape[1])
