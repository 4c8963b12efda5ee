"""Inference forms of the backbones: batch norm folded, parallel 1x1 convolutions merged.

Same outputs as the reference backbones up to float rounding (exact algebra in float64,
:mod:`siamfcpp.model.folding`), fewer and larger kernels. Built from a reference backbone,
never trained.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from siamfcpp.model.backbones.alexnet import AlexNet
from siamfcpp.model.backbones.googlenet import GoogLeNet, InceptionA, InceptionB, InceptionC
from siamfcpp.model.folding import (
    Affine,
    FusedConv,
    SpaceToDepthConv,
    concat_outputs,
    fold_batchnorm,
    fold_input_transform,
)
from siamfcpp.model.layers import ConvBNReLU, avg_pool_3x3

#: ways to run a backbone's first (strided, 3-channel) convolution
STEMS = ("conv", "space_to_depth")


def fold_backbone(backbone: nn.Module, *, stem: str = "conv", fuse_relu: bool = False) -> nn.Module:
    """The inference form of a reference backbone (``AlexNet`` or ``GoogLeNet``).

    Args:
        stem: the first conv as ``conv`` (as the reference) or ``space_to_depth``
            (:class:`SpaceToDepthConv`: AlexNet's 11x11 stride-2 conv on 3 channels becomes a 6x6
            stride-1 conv on 16, GoogLeNet's 3x3 stride-2 one a 2x2 on 16).
        fuse_relu: convolution + ReLU as one cuDNN call (CUDA only; see :class:`FusedConv`).
    """
    if stem not in STEMS:
        raise ValueError(f"stem must be one of {STEMS}, got {stem!r}")
    if isinstance(backbone, AlexNet):
        return _fold_alexnet(backbone, stem=stem, fuse_relu=fuse_relu)
    if isinstance(backbone, GoogLeNet):
        return FoldedGoogLeNet(backbone, stem=stem, fuse_relu=fuse_relu)
    raise TypeError(f"no inference form for backbone {type(backbone).__name__}")


def _fused(block: ConvBNReLU, fuse_relu: bool) -> FusedConv:
    conv = block.conv
    return FusedConv(
        fold_batchnorm(block),
        stride=conv.stride,
        padding=conv.padding,
        relu=hasattr(block, "relu"),
        fuse_relu=fuse_relu,
    )


def _stem(affine: Affine, conv: nn.Conv2d, stem: str, fuse_relu: bool) -> nn.Module:
    """The first conv (unpadded, followed by ReLU) with its folded ``affine``."""
    if conv.padding != (0, 0) or conv.stride[0] != conv.stride[1]:
        raise ValueError(f"the stem conv must be unpadded with a square stride, got {conv}")
    if stem == "space_to_depth":
        return SpaceToDepthConv(
            affine, stride=conv.stride[0], in_channels=4, relu=True, fuse_relu=fuse_relu
        )
    return FusedConv(affine, stride=conv.stride, relu=True, fuse_relu=fuse_relu)


def _fold_alexnet(net: AlexNet, *, stem: str, fuse_relu: bool) -> nn.Sequential:
    return nn.Sequential(
        _stem(fold_batchnorm(net.conv1), net.conv1.conv, stem, fuse_relu),
        copy.deepcopy(net.pool1),
        _fused(net.conv2, fuse_relu),
        copy.deepcopy(net.pool2),
        *(_fused(block, fuse_relu) for block in (net.conv3, net.conv4, net.conv5)),
    )


class MergedInception(nn.Module):
    """An Inception block (A or C) whose 1x1 convolutions on the block input run as one.

    The pooling branch's 1x1 conv joins them too: a bias-free 1x1 conv commutes with the 3x3
    average pool (both linear, zero padding counted), so the pool runs on its few output channels
    and the bias and ReLU come after it.

    Args:
        entries: the 1x1 convs reading the block input, one per branch.
        chains: the convs after each entry (empty: the entry is the branch).
        pool: the pooling branch's 1x1 conv.
        fuse_relu: the chains' conv + ReLU as one cuDNN call (see ``FusedConv``).
    """

    def __init__(
        self,
        entries: Sequence[ConvBNReLU],
        chains: Sequence[Sequence[ConvBNReLU]],
        pool: ConvBNReLU,
        fuse_relu: bool,
    ) -> None:
        super().__init__()
        pool_weight, pool_bias = fold_batchnorm(pool)
        folded = [fold_batchnorm(block) for block in entries]
        # the pool's bias is added after pooling: zero in the merged conv
        self.merged = FusedConv(
            concat_outputs([*folded, (pool_weight, torch.zeros_like(pool_bias))]), relu=False
        )
        self.register_buffer("pool_bias", pool_bias.float()[None, :, None, None])
        self.splits = [w.shape[0] for w, _ in folded] + [pool_weight.shape[0]]
        self.chains = nn.ModuleList(
            nn.Sequential(*(_fused(block, fuse_relu) for block in chain)) for chain in chains
        )

    def forward(self, x: Tensor) -> Tensor:
        *entries, pool = self.merged(x).split(self.splits, dim=1)
        pool = F.relu_(avg_pool_3x3(pool) + self.pool_bias)
        branches = [chain(F.relu(entry)) for chain, entry in zip(self.chains, entries, strict=True)]
        return torch.cat([*branches, pool], 1)


def merge_inception_a(block: InceptionA, fuse_relu: bool) -> MergedInception:
    return MergedInception(
        [block.branch1x1, block.branch5x5_1, block.branch3x3dbl_1],
        [[], [block.branch5x5_2], [block.branch3x3dbl_2, block.branch3x3dbl_3]],
        block.branch_pool,
        fuse_relu,
    )


def merge_inception_c(block: InceptionC, fuse_relu: bool) -> MergedInception:
    return MergedInception(
        [block.branch1x1, block.branch7x7_1, block.branch7x7dbl_1],
        [
            [],
            [block.branch7x7_2, block.branch7x7_3],
            [
                block.branch7x7dbl_2,
                block.branch7x7dbl_3,
                block.branch7x7dbl_4,
                block.branch7x7dbl_5,
            ],
        ],
        block.branch_pool,
        fuse_relu,
    )


class FoldedInceptionB(nn.Module):
    """Inception B with batch norm folded (its two convs on the input differ in kernel and
    stride, so they stay apart)."""

    def __init__(self, block: InceptionB, fuse_relu: bool) -> None:
        super().__init__()
        self.branch3x3 = _fused(block.branch3x3, fuse_relu)
        self.branch3x3dbl = nn.Sequential(
            *(
                _fused(b, fuse_relu)
                for b in (block.branch3x3dbl_1, block.branch3x3dbl_2, block.branch3x3dbl_3)
            )
        )

    def forward(self, x: Tensor) -> Tensor:
        pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([self.branch3x3(x), self.branch3x3dbl(x), pool], 1)


class FoldedGoogLeNet(nn.Module):
    """:class:`~siamfcpp.model.backbones.googlenet.GoogLeNet` with batch norm folded, the input
    conversion (BGR 0..255 -> RGB -1..1) folded into the first (unpadded) conv, and the 1x1
    convs of each Inception A / C block merged."""

    def __init__(self, net: GoogLeNet, *, stem: str, fuse_relu: bool) -> None:
        super().__init__()
        half = 255 / 2
        # exact for the unpadded first conv (checked in _stem): no border sees the shift
        affine = fold_input_transform(
            fold_batchnorm(net.Conv2d_1a_3x3), scale=1 / half, shift=-1.0, flip=True
        )
        self.stem = nn.Sequential(
            _stem(affine, net.Conv2d_1a_3x3.conv, stem, fuse_relu),
            _fused(net.Conv2d_2a_3x3, fuse_relu),
            _fused(net.Conv2d_2b_3x3, fuse_relu),
            nn.MaxPool2d(kernel_size=3, stride=2),
            _fused(net.Conv2d_3b_1x1, fuse_relu),
            _fused(net.Conv2d_4a_3x3, fuse_relu),
        )
        self.blocks = nn.Sequential(
            *(merge_inception_a(b, fuse_relu) for b in (net.Mixed_5b, net.Mixed_5c, net.Mixed_5d)),
            FoldedInceptionB(net.Mixed_6a, fuse_relu),
            *(
                merge_inception_c(b, fuse_relu)
                for b in (net.Mixed_6b, net.Mixed_6c, net.Mixed_6d, net.Mixed_6e)
            ),
        )
        self.crop_pad = net.crop_pad
        self.channel_reduce = _fused(net.channel_reduce, fuse_relu)

    def forward(self, x: Tensor) -> Tensor:
        x = self.blocks(self.stem(x))
        pad = self.crop_pad
        return self.channel_reduce(x[:, :, pad : x.shape[2] - pad, pad : x.shape[3] - pad])
