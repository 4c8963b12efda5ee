"""Pruned Inception-v3 ("GoogLeNet") backbone of SiamFC++.

Inception-v3 up to ``Mixed_6e`` with the second stem max-pool removed (keeps stride 8), a border
crop of ``crop_pad`` feature cells and a 1x1 ``channel_reduce`` to 256 channels. Module names follow
torchvision's ``inception_v3`` so its ImageNet weights load by name (:func:`load_inception_v3`).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from siamfcpp.model.backbones.pretrained import load_backbone_weights
from siamfcpp.model.layers import ConvBNReLU, avg_pool_3x3, avg_pool_form


def _basic(in_channels: int, out_channels: int, kernel_size, stride=1, padding=0) -> ConvBNReLU:
    """Inception's conv unit: bias-free conv, BN with eps 1e-3, ReLU."""
    return ConvBNReLU(
        in_channels, out_channels, kernel_size, stride, padding, bias=False, bn_eps=1e-3
    )


class InceptionA(nn.Module):
    # the 3x3 average pool's form (GoogLeNet.set_avg_pool); not part of the weights
    avg_pool = staticmethod(avg_pool_3x3)

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = _basic(in_channels, 64, 1)
        self.branch5x5_1 = _basic(in_channels, 48, 1)
        self.branch5x5_2 = _basic(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = _basic(in_channels, 64, 1)
        self.branch3x3dbl_2 = _basic(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _basic(96, 96, 3, padding=1)
        self.branch_pool = _basic(in_channels, pool_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = self.branch_pool(self.avg_pool(x))
        return torch.cat([self.branch1x1(x), branch5x5, branch3x3dbl, branch_pool], 1)


class InceptionB(nn.Module):
    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = _basic(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = _basic(in_channels, 64, 1)
        self.branch3x3dbl_2 = _basic(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _basic(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([self.branch3x3(x), branch3x3dbl, branch_pool], 1)


class InceptionC(nn.Module):
    avg_pool = staticmethod(avg_pool_3x3)

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = _basic(in_channels, 192, 1)
        self.branch7x7_1 = _basic(in_channels, c7, 1)
        self.branch7x7_2 = _basic(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = _basic(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = _basic(in_channels, c7, 1)
        self.branch7x7dbl_2 = _basic(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = _basic(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = _basic(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = _basic(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = _basic(in_channels, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        branch7x7dbl = x
        for layer in (
            self.branch7x7dbl_1,
            self.branch7x7dbl_2,
            self.branch7x7dbl_3,
            self.branch7x7dbl_4,
            self.branch7x7dbl_5,
        ):
            branch7x7dbl = layer(branch7x7dbl)
        branch_pool = self.branch_pool(self.avg_pool(x))
        return torch.cat([self.branch1x1(x), branch7x7, branch7x7dbl, branch_pool], 1)


class GoogLeNet(nn.Module):
    """``[B, 3, 127, 127] -> [B, 256, 7, 7]``, ``[B, 3, 303, 303] -> [B, 256, 29, 29]``.

    Input: float BGR pixels 0..255; converted to RGB in [-1, 1] as Inception-v3 expects.

    Args:
        crop_pad: feature cells cut from each border before ``channel_reduce`` (4 in the model zoo).
        pretrained: optional path to a torchvision-format ``inception_v3`` ImageNet state dict.
        avg_pool: form of the Inception blocks' 3x3 average pool, a key of
            :data:`~siamfcpp.model.layers.AVG_POOL_FORMS` (same outputs up to float rounding):
            ``pool`` (the original's) or ``conv``, which differ in speed; training picks it
            (``module.avg_pool``). Not part of the weights.
    """

    out_channels = 256

    def __init__(
        self, crop_pad: int, pretrained: str | None = None, avg_pool: str = "pool"
    ) -> None:
        super().__init__()
        self.crop_pad = crop_pad
        self.Conv2d_1a_3x3 = _basic(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = _basic(32, 32, 3)
        self.Conv2d_2b_3x3 = _basic(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = _basic(64, 80, 1)
        self.Conv2d_4a_3x3 = _basic(80, 192, 3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.channel_reduce = ConvBNReLU(768, 256, 1, relu=False, bn_eps=1e-3)
        self.set_avg_pool(avg_pool)
        if pretrained:
            load_inception_v3(self, pretrained)

    def set_avg_pool(self, name: str) -> None:
        """Run every Inception block's 3x3 average pool in form ``name`` (see ``avg_pool``)."""
        form = avg_pool_form(name)
        for block in self.modules():
            if isinstance(block, InceptionA | InceptionC):
                block.avg_pool = form

    def forward(self, x: Tensor) -> Tensor:
        half = 255 / 2
        x = (x.flip(1) - half) / half  # BGR 0..255 -> RGB -1..1
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))  # no second max-pool: stride stays 8
        for block in (
            self.Mixed_5b,
            self.Mixed_5c,
            self.Mixed_5d,
            self.Mixed_6a,
            self.Mixed_6b,
            self.Mixed_6c,
            self.Mixed_6d,
            self.Mixed_6e,
        ):
            x = block(x)
        pad = self.crop_pad
        x = x[:, :, pad : x.shape[2] - pad, pad : x.shape[3] - pad]
        return self.channel_reduce(x)


def load_inception_v3(backbone: GoogLeNet, path: str | Path) -> None:
    """Load torchvision ``inception_v3`` ImageNet weights into the pruned backbone.

    Every backbone tensor except ``channel_reduce`` (new in SiamFC++) must be in the file; the
    classifier, ``AuxLogits`` and the ``Mixed_7*`` blocks that the pruned network drops are ignored.
    """
    load_backbone_weights(
        backbone,
        path,
        new_layer=lambda key: key.startswith("channel_reduce"),
        expected="the torchvision inception_v3 ImageNet weights file",
    )
