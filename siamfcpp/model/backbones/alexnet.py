"""AlexNet with batch norm, the SiamFC / SiamFC++ variant (no padding, stride 8)."""

from __future__ import annotations

from torch import Tensor, nn

from siamfcpp.model.backbones.pretrained import load_backbone_weights
from siamfcpp.model.layers import ConvBNReLU


class AlexNet(nn.Module):
    """Five conv layers, two max-pools: ``[B, 3, 127, 127] -> [B, 256, 6, 6]``,
    ``[B, 3, 303, 303] -> [B, 256, 28, 28]``. Input: float BGR pixels 0..255.

    Args:
        pretrained: optional path to the original's ImageNet BN-AlexNet weights
            (``alexnet-nopad-bn-md5_<hex>.pkl``, the start of its AlexNet training recipe).
    """

    out_channels = 256

    def __init__(self, pretrained: str | None = None) -> None:
        super().__init__()
        self.conv1 = ConvBNReLU(3, 96, 11, stride=2)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = ConvBNReLU(96, 256, 5)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = ConvBNReLU(256, 384, 3)
        self.conv4 = ConvBNReLU(384, 384, 3)
        self.conv5 = ConvBNReLU(384, 256, 3, relu=False)
        if pretrained:
            load_backbone_weights(
                self,
                pretrained,
                new_layer=lambda key: False,
                expected="the original's ImageNet weights alexnet-nopad-bn-md5_<hex>.pkl",
            )

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool1(self.conv1(x))
        x = self.pool2(self.conv2(x))
        return self.conv5(self.conv4(self.conv3(x)))
