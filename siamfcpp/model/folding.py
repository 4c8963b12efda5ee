"""Exact weight algebra of the inference network, and the convolution that carries its result.

A convolution is an :data:`Affine` ``(weight [O, I, kh, kw], bias [O])`` in float64: batch norm
(running statistics) is folded into it, parallel convolutions reading the same input are
concatenated, fixed input transforms are folded into the first one. Everything is computed in
float64 and cast once, when :class:`FusedConv` is built, so the only float32 rounding left is the
one of the final weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from siamfcpp.model.layers import ConvBNReLU

#: ``(weight [O, I, kh, kw], bias [O])``, float64.
Affine = tuple[Tensor, Tensor]


def fold_batchnorm(block: ConvBNReLU) -> Affine:
    """The convolution of ``block`` with its batch norm (running statistics) folded in.

    ``bn(conv(x)) = conv(x) * s + (beta - mean * s)`` with ``s = gamma / sqrt(var + eps)``.
    """
    conv = block.conv
    if conv.dilation != (1, 1) or conv.padding_mode != "zeros":
        raise ValueError(f"cannot fold {conv}: only undilated zero-padded convolutions")
    weight = conv.weight.detach().double()
    bias = (
        conv.bias.detach().double() if conv.bias is not None else weight.new_zeros(weight.shape[0])
    )
    bn = getattr(block, "bn", None)
    if bn is None:
        return weight, bias
    if bn.running_var is None or not bn.affine:
        raise ValueError(f"cannot fold {bn}: needs running statistics and affine parameters")
    scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
    shift = bn.bias.detach().double() - bn.running_mean.double() * scale
    return weight * scale[:, None, None, None], bias * scale + shift


def concat_outputs(affines: Sequence[Affine]) -> Affine:
    """Convolutions of one input (same kernel size) as one, output channels in order."""
    return torch.cat([w for w, _ in affines]), torch.cat([b for _, b in affines])


def embed_inputs(affine: Affine, in_channels: int, start: int) -> Affine:
    """``affine`` reading channels ``start : start + I`` of an ``in_channels`` input (zero
    weights on the others; exact for finite inputs)."""
    weight, bias = affine
    out = weight.new_zeros(weight.shape[0], in_channels, *weight.shape[2:])
    out[:, start : start + weight.shape[1]] = weight
    return out, bias


def fold_input_transform(affine: Affine, *, scale: float, shift: float, flip: bool) -> Affine:
    """Fold ``x -> x.flip(1) * scale + shift`` (``flip``: reverse the channels) into the
    convolution that reads it. Exact only for an unpadded convolution (the caller's duty): a
    padded one would see ``shift``, not 0, beyond the border."""
    weight, bias = affine
    if flip:
        weight = weight.flip(1)
    return weight * scale, bias + shift * weight.sum(dim=(1, 2, 3))


def space_to_depth(affine: Affine, stride: int, in_channels: int) -> Affine:
    """A stride-``stride`` convolution as a stride-1 one on ``pixel_unshuffle(x, stride)``.

    The input is zero-padded to ``in_channels`` channels and to a multiple of ``stride`` on
    each side (see :class:`SpaceToDepthConv`); the kernel gets zeros there and is rearranged the
    same way: ``[O, I, kh, kw] -> [O, in_channels * stride**2, ceil(kh/s), ceil(kw/s)]``.
    """
    weight, bias = affine
    kh, kw = weight.shape[2:]
    weight = F.pad(weight, (0, -kw % stride, 0, -kh % stride, 0, in_channels - weight.shape[1]))
    return F.pixel_unshuffle(weight, stride), bias


class FusedConv(nn.Conv2d):
    """Convolution with bias (batch norm folded in) and optional ReLU; inference only.

    Args:
        affine: float64 weight and bias; cast to float32 here (``.to()`` the module for others).
        relu: apply ReLU (in place) after the convolution.
        fuse_relu: run convolution + bias + ReLU as one cuDNN call
            (``torch.cudnn_convolution_relu``; CUDA only, not traceable by ``torch.compile``).
    """

    def __init__(
        self,
        affine: Affine,
        *,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        groups: int = 1,
        relu: bool,
        fuse_relu: bool = False,
    ) -> None:
        weight, bias = affine
        out_channels, in_per_group, kh, kw = weight.shape
        super().__init__(
            in_per_group * groups, out_channels, (kh, kw), stride, padding, groups=groups
        )
        with torch.no_grad():
            self.weight.copy_(weight)
            self.bias.copy_(bias)
        self.requires_grad_(False)
        self.relu = relu
        self.fuse_relu = fuse_relu and relu

    def forward(self, x: Tensor) -> Tensor:
        if self.fuse_relu:
            return torch.cudnn_convolution_relu(
                x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
            )
        out = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, 1, self.groups)
        return F.relu_(out) if self.relu else out


class SpaceToDepthConv(nn.Module):
    """A strided convolution on few input channels (a network's stem) as a stride-1 convolution
    on ``stride**2`` times more channels, which suits tensor-core kernels better (exact algebra:
    :func:`space_to_depth`).

    Args:
        affine: the strided convolution (unpadded).
        stride: its stride.
        in_channels: channels the input is zero-padded to before ``pixel_unshuffle``.
    """

    def __init__(
        self, affine: Affine, *, stride: int, in_channels: int, relu: bool, fuse_relu: bool
    ) -> None:
        super().__init__()
        self.stride = stride
        self.kernel_size = tuple(affine[0].shape[2:])
        self.channel_pad = in_channels - affine[0].shape[1]
        self.conv = FusedConv(
            space_to_depth(affine, stride, in_channels), relu=relu, fuse_relu=fuse_relu
        )

    def forward(self, x: Tensor) -> Tensor:
        s, (kh, kw) = self.stride, self.kernel_size
        out_h, out_w = (x.shape[2] - kh) // s + 1, (x.shape[3] - kw) // s + 1
        x = F.pad(x, (0, -x.shape[3] % s, 0, -x.shape[2] % s, 0, self.channel_pad))
        # the padded kernel can reach one more output than the strided one at some sizes
        return self.conv(F.pixel_unshuffle(x, s))[:, :, :out_h, :out_w]
