"""Inference form of :class:`~siamfcpp.model.network.SiamFCpp` for tracking.

:func:`build_inference_network` turns a loaded network (eval mode) into an
:class:`InferenceSiamFCpp` with the same ``template`` / ``search`` calls and the same search
outputs, computed with fewer and larger kernels:

* batch norm folded into the convolutions, GoogLeNet's parallel 1x1 convs merged and its input
  conversion folded into its first conv (:mod:`siamfcpp.model.backbones.folded`);
* the cls and reg branches side by side as one tensor of ``2C`` channels: one adjust conv per
  half (template, search), one cross-correlation, head towers as 2-group convs, the three 1x1
  outputs as one conv;
* the depthwise cross-correlation in the form chosen by ``xcorr``
  (:data:`~siamfcpp.model.layers.XCORR_FORMS`);
* optional float16 / bfloat16 weights and activations, channels-last memory format, and
  ``torch.compile`` of the search half. The box decode and sigmoids run in float32 whatever the
  network's dtype (the head's math, unchanged).

``search`` has no host synchronisation and no data-dependent shapes, so a caller can capture it
in a CUDA graph (after a warm-up call, which also compiles it when ``compile_mode`` is set).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from siamfcpp.model.backbones.folded import fold_backbone
from siamfcpp.model.folding import FusedConv, concat_outputs, embed_inputs, fold_batchnorm
from siamfcpp.model.head import decode_offsets
from siamfcpp.model.layers import xcorr_form
from siamfcpp.model.network import SiamFCpp

#: ``xcorr`` by device type when none is given: the fastest eager form for both backbones and
#: batch 1 / 64 by ``benchmarks/network_speed.py`` on a 2-core EPYC and on the H200 (``shift``
#: pays only compiled, where the compiler fuses its taps).
DEFAULT_XCORR = {"cuda": "grouped", "cpu": "grouped"}
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

# output channels of the merged 1x1 head convolution
_CLS, _CTR, _BOX = 0, 1, slice(2, 6)


class InferenceSiamFCpp(nn.Module):
    """A SiamFC++ network for inference only; build it with :func:`build_inference_network`.

    Kernels are opaque to callers: a tuple of tensors with the batch on dim 0 (here one,
    ``[B, 2C, k, k]``: the reference's cls and reg kernels concatenated along channels), so
    they slice, concatenate and stack like the reference's.
    """

    def __init__(
        self,
        model: SiamFCpp,
        *,
        xcorr: str,
        dtype: torch.dtype,
        channels_last: bool,
        stem: str,
        fuse_relu: bool,
        compile_mode: str | None,
    ) -> None:
        super().__init__()
        head = model.head
        width = model.backbone.out_channels
        self.dtype = dtype
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.xcorr = xcorr_form(xcorr)
        self.score_size = head.score_size
        self.total_stride = head.total_stride

        self.backbone = fold_backbone(model.backbone, stem=stem, fuse_relu=fuse_relu)
        self.adjust_z = FusedConv(
            concat_outputs(
                [fold_batchnorm(model.cls_z_adjust), fold_batchnorm(model.reg_z_adjust)]
            ),
            relu=False,
        )
        self.adjust_x = FusedConv(
            concat_outputs(
                [fold_batchnorm(model.cls_x_adjust), fold_batchnorm(model.reg_x_adjust)]
            ),
            relu=False,
        )
        # group 0 = cls tower on channels :C, group 1 = reg tower on channels C:
        self.towers = nn.Sequential(
            *(
                FusedConv(
                    concat_outputs([fold_batchnorm(cls_conv), fold_batchnorm(reg_conv)]),
                    padding=cls_conv.conv.padding,
                    groups=2,
                    relu=True,
                    fuse_relu=fuse_relu,
                )
                for cls_conv, reg_conv in zip(head.cls_tower, head.reg_tower, strict=True)
            )
        )
        self.outputs = FusedConv(
            concat_outputs(
                [
                    embed_inputs(fold_batchnorm(head.cls_logits), 2 * width, 0),
                    embed_inputs(fold_batchnorm(head.ctr_logits), 2 * width, 0),
                    embed_inputs(fold_batchnorm(head.box_offsets), 2 * width, width),
                ]
            ),
            relu=False,
        )
        for layers in (self.backbone, self.adjust_z, self.adjust_x, self.towers, self.outputs):
            layers.to(dtype=dtype, memory_format=self.memory_format)
        # the decode stays float32, as the reference head's
        self.register_buffer("centres", head.centres.detach().float().clone())
        self.register_buffer("offset_scale", head.offset_scale.detach().float().clone())
        self.register_buffer("offset_bias", head.offset_bias.detach().float().clone())
        self._search = (
            torch.compile(self._search_eager, mode=compile_mode, fullgraph=True, dynamic=False)
            if compile_mode
            else self._search_eager
        )

    def _input(self, image: Tensor) -> Tensor:
        return image.to(dtype=self.dtype, memory_format=self.memory_format)

    def template(self, z: Tensor) -> tuple[Tensor]:
        """Template kernels of crops ``z [B, 3, 127, 127]`` (float pixels, any dtype).

        Returns:
            ``(kernel,)``, ``kernel [B, 2C, k, k]`` in the network's dtype.
        """
        return (self.adjust_z(self.backbone(self._input(z))),)

    def search(self, x: Tensor, kernels: tuple[Tensor]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """As :meth:`SiamFCpp.search`: search crops ``x [B, 3, X, X]`` and this network's
        kernels -> score ``[B, N]``, boxes ``[B, N, 4]`` x1, y1, x2, y2 in crop pixels, cls
        ``[B, N]`` and ctr ``[B, N]``, all float32."""
        (kernel,) = kernels
        return self._search(x, kernel)

    def _search_eager(self, x: Tensor, kernel: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        features = self.adjust_x(self.backbone(self._input(x)))
        maps = self.outputs(self.towers(self.xcorr(features, kernel)))
        batch, channels, side = maps.shape[0], maps.shape[1], maps.shape[3]
        if side != self.score_size:
            raise ValueError(
                f"score map is {side}x{side} but the head was built for score_size "
                f"{self.score_size}: set model.head.score_size/x_size to match the search crop"
            )
        cells = maps.permute(0, 2, 3, 1).reshape(batch, -1, channels).float()
        cls = torch.sigmoid(cells[..., _CLS])
        ctr = torch.sigmoid(cells[..., _CTR])
        exponent = self.offset_scale * cells[..., _BOX] + self.offset_bias
        offsets = decode_offsets(exponent, self.total_stride, bounded=True)
        boxes = torch.cat([self.centres - offsets[..., :2], self.centres + offsets[..., 2:]], dim=2)
        return cls * ctr, boxes, cls, ctr


def build_inference_network(
    model: SiamFCpp,
    *,
    xcorr: str | None = None,
    dtype: str = "float32",
    channels_last: bool = False,
    stem: str = "conv",
    fuse_relu: bool = False,
    compile_mode: str | None = None,
) -> InferenceSiamFCpp:
    """The inference form of ``model`` (left untouched) on ``model``'s device.

    Args:
        model: a loaded network in eval mode (batch norm folds its running statistics).
        xcorr: a key of :data:`~siamfcpp.model.layers.XCORR_FORMS`; default
            :data:`DEFAULT_XCORR` of the device.
        dtype: ``float32``, ``float16`` or ``bfloat16`` for weights and activations.
        channels_last: run in channels-last memory format.
        stem: the backbone's first conv as ``conv`` or ``space_to_depth`` (a stride-1 conv on
            16 channels instead of a stride-2 one on 3: tensor-core friendly).
        fuse_relu: conv + bias + ReLU as one cuDNN call (CUDA, without ``compile_mode``).
        compile_mode: ``torch.compile`` mode of the search half, e.g.
            ``max-autotune-no-cudagraphs`` (capture the graph yourself) or ``default``; None =
            eager.
    """
    if not isinstance(model, SiamFCpp):
        raise TypeError(f"expected a SiamFCpp network, got {type(model).__name__}")
    if model.training:
        raise ValueError(
            "the network is in training mode: call model.eval() first (batch norm is folded "
            "with its running statistics)"
        )
    device = model.head.centres.device
    xcorr = DEFAULT_XCORR.get(device.type, "grouped") if xcorr is None else xcorr
    xcorr_form(xcorr)  # a bad name fails here, before any folding
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {list(DTYPES)}, got {dtype!r}")
    if fuse_relu and (device.type != "cuda" or compile_mode):
        raise ValueError(
            "fuse_relu=True needs a CUDA network and no compile_mode (torch.compile cannot trace "
            "torch.cudnn_convolution_relu)"
        )
    return (
        InferenceSiamFCpp(
            model,
            xcorr=xcorr,
            dtype=DTYPES[dtype],
            channels_last=channels_last,
            stem=stem,
            fuse_relu=fuse_relu,
            compile_mode=compile_mode,
        )
        .to(device)
        .eval()
    )  # folded weights are new tensors: put them where the network is
