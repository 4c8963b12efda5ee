"""Building blocks shared by the backbones, the adjust convolutions and the head."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FormT = TypeVar("FormT")


class ConvBNReLU(nn.Sequential):
    """``Conv2d`` followed by optional ``BatchNorm2d`` and optional ReLU.

    Children are named ``conv`` / ``bn`` / ``relu`` so state-dict keys read ``<name>.conv.weight``,
    ``<name>.bn.running_mean`` — the same inner names the original checkpoints use.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        padding: int | tuple[int, int] = 0,
        *,
        bias: bool = True,
        bn: bool = True,
        relu: bool = True,
        bn_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.add_module(
            "conv", nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias)
        )
        if bn:
            self.add_module("bn", nn.BatchNorm2d(out_channels, eps=bn_eps))
        if relu:
            self.add_module("relu", nn.ReLU(inplace=True))


def xcorr_depthwise(x: Tensor, kernel: Tensor) -> Tensor:
    """Per-channel cross-correlation of each search feature map with its own template kernel.

    Args:
        x: search features ``[B, C, Hx, Wx]``.
        kernel: template features ``[B, C, Hk, Wk]``.

    Returns:
        ``[B, C, Hx - Hk + 1, Wx - Wk + 1]``.
    """
    if torch.onnx.is_in_onnx_export():
        return xcorr_depthwise_unfold(x, kernel)
    batch, channels = kernel.shape[:2]
    # one grouped convolution over the whole batch: every (sample, channel) pair is its own group
    out = F.conv2d(
        x.reshape(1, batch * channels, x.shape[2], x.shape[3]),
        kernel.reshape(batch * channels, 1, kernel.shape[2], kernel.shape[3]),
        groups=batch * channels,
    )
    return out.reshape(batch, channels, out.shape[2], out.shape[3])


def xcorr_depthwise_unfold(x: Tensor, kernel: Tensor) -> Tensor:
    """:func:`xcorr_depthwise` as im2col + weighted sum, without batch-sized conv groups.

    ONNX ``Conv`` needs a static group count, so a graph with a dynamic batch axis cannot fold the
    batch into the groups; this form exports with any batch (equal up to float rounding).
    """
    batch, channels = kernel.shape[:2]
    # static while tracing: only the batch axis of an exported graph is dynamic
    kh, kw = int(kernel.shape[2]), int(kernel.shape[3])
    out_h, out_w = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    patches = F.unfold(x, (kh, kw)).reshape(batch, channels, kh * kw, out_h * out_w)
    out = (patches * kernel.reshape(batch, channels, kh * kw, 1)).sum(dim=2)
    return out.reshape(batch, channels, out_h, out_w)


def xcorr_depthwise_shift(x: Tensor, kernel: Tensor) -> Tensor:
    """:func:`xcorr_depthwise` as one multiply-add per kernel tap over shifted views of ``x``.

    Elementwise only, so it keeps the memory format of ``x`` (channels-last stays channels-last)
    and ``torch.compile`` fuses the taps into one kernel; eager, it is ``Hk * Wk`` passes.
    """
    kh, kw = kernel.shape[2], kernel.shape[3]
    out_h, out_w = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    out = x[:, :, :out_h, :out_w] * kernel[:, :, :1, :1]
    for i in range(kh):
        for j in range(kw):
            if i or j:
                tap = kernel[:, :, i : i + 1, j : j + 1]
                out.addcmul_(x[:, :, i : i + out_h, j : j + out_w], tap)
    return out


#: exact forms of the depthwise cross-correlation (same outputs up to float rounding), for the
#: network as trained (``model.xcorr``) and its inference form (``tracker.xcorr``)
XCORR_FORMS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "grouped": xcorr_depthwise,  # one conv, batch x channels groups
    "unfold": xcorr_depthwise_unfold,  # im2col + weighted sum
    "shift": xcorr_depthwise_shift,  # one multiply-add per kernel tap (fused when compiled)
}


def _form(forms: Mapping[str, FormT], name: str, option: str) -> FormT:
    """``forms[name]``, or a ValueError naming ``option`` and its choices."""
    if name not in forms:
        raise ValueError(f"{option} must be one of {list(forms)}, got {name!r}")
    return forms[name]


def xcorr_form(name: str) -> Callable[[Tensor, Tensor], Tensor]:
    """The cross-correlation called ``name`` (a key of :data:`XCORR_FORMS`)."""
    return _form(XCORR_FORMS, name, "xcorr")


def avg_pool_3x3(x: Tensor) -> Tensor:
    """Inception's 3x3 average pool: stride 1, zero padding 1, padding counted (``/ 9``).

    Args:
        x: ``[B, C, H, W]``; returns the same shape.
    """
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)


def avg_pool_3x3_conv(x: Tensor) -> Tensor:
    """:func:`avg_pool_3x3` as a depthwise convolution with a kernel of ones, then ``/ 9``.

    The kernel is ones rather than ``1 / 9`` because ones are exact in bfloat16 (``1 / 9`` there
    is 0.2% off); the weights need no gradient, so backward is one convolution too.
    """
    ones = x.new_ones(x.shape[1], 1, 3, 3)
    return F.conv2d(x, ones, padding=1, groups=x.shape[1]) * (1 / 9)


#: exact forms of Inception's 3x3 average pool (same outputs up to float rounding); in training
#: (``module.avg_pool``) they differ in speed: on an H200, bfloat16 channels-last, the depthwise
#: convolution's forward + backward is ~7x PyTorch's pooling kernel
AVG_POOL_FORMS: dict[str, Callable[[Tensor], Tensor]] = {
    "pool": avg_pool_3x3,  # PyTorch's pooling kernel, the original's
    "conv": avg_pool_3x3_conv,  # depthwise convolution with a kernel of ones
}


def avg_pool_form(name: str) -> Callable[[Tensor], Tensor]:
    """The average pool called ``name`` (a key of :data:`AVG_POOL_FORMS`)."""
    return _form(AVG_POOL_FORMS, name, "avg_pool")


def score_map_centres(score_size: int, x_size: int, total_stride: int) -> Tensor:
    """Pixel position in the search crop of every score-map cell, row-major.

    The map is centred in the crop: ``offset = (x_size - 1 - (score_size - 1) * stride) // 2``.

    Returns:
        ``[score_size * score_size, 2]`` float32 ``(x, y)``.
    """
    offset = (x_size - 1 - (score_size - 1) * total_stride) // 2
    steps = torch.arange(score_size, dtype=torch.float64) * total_stride + offset
    ys, xs = torch.meshgrid(steps, steps, indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1).float()
