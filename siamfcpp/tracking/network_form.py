"""The network a tracker runs: the reference module or its inference form, chosen by config keys.

Every tracking path (the reference tracker and its slots, the multi-template trackers, the device
engine, hence the demo and sharded evaluation) builds its network here, from the keys of its
``tracker`` config node (``conf/tracker/siamfcpp.yaml``):

* ``network``: ``inference`` (:func:`~siamfcpp.model.inference.build_inference_network`: batch
  norm folded, merged convolutions, the chosen cross-correlation) or ``reference`` (the
  :class:`~siamfcpp.model.network.SiamFCpp` module as trained);
* ``xcorr``, ``compile``, ``stem``, ``fuse_relu``: options of the inference form.

Only a :class:`~siamfcpp.model.network.SiamFCpp` is converted. Any other network (an inference
form already built, the ONNX Runtime network, a test stand-in) is used as built, so building
twice returns the same object: an engine builds the network once and its trackers share it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import torch
from torch import nn

from siamfcpp.model.backbones.folded import STEMS
from siamfcpp.model.inference import DEFAULT_XCORR, build_inference_network
from siamfcpp.model.layers import XCORR_FORMS
from siamfcpp.model.network import SiamFCpp

NETWORKS = ("inference", "reference")
#: ``torch.compile`` modes; the two last capture CUDA graphs of their own
COMPILE_MODES = ("default", "max-autotune-no-cudagraphs", "reduce-overhead", "max-autotune")
GRAPH_COMPILE_MODES = ("reduce-overhead", "max-autotune")


def _choice(key: str, value: object, options: tuple, *, nullable: bool = False) -> None:
    if (value is None and nullable) or value in options:
        return
    listed = ", ".join(([] if not nullable else ["null"]) + list(options))
    raise ValueError(f"tracker.{key} must be one of {listed}; got {value!r}")


@dataclass(frozen=True)
class NetworkForm:
    """The ``network`` / ``xcorr`` / ``compile`` / ``stem`` / ``fuse_relu`` keys of a tracker
    config, validated (a bad value raises ``ValueError`` naming ``tracker.<key>``).

    Attributes:
        network: ``inference`` or ``reference``.
        xcorr: a key of :data:`~siamfcpp.model.layers.XCORR_FORMS`; None = the device's
            :data:`~siamfcpp.model.inference.DEFAULT_XCORR`.
        compile: a :data:`COMPILE_MODES` mode for ``torch.compile`` of the search half (static
            shapes: compiled once per batch size); None = eager.
        stem: the backbone's first conv, one of :data:`~siamfcpp.model.backbones.folded.STEMS`.
        fuse_relu: convolution + bias + ReLU as one cuDNN call (CUDA, no ``compile``).
    """

    network: str
    xcorr: str | None
    compile: str | None
    stem: str
    fuse_relu: bool

    def __post_init__(self) -> None:
        _choice("network", self.network, NETWORKS)
        _choice("xcorr", self.xcorr, tuple(XCORR_FORMS), nullable=True)
        _choice("compile", self.compile, COMPILE_MODES, nullable=True)
        _choice("stem", self.stem, STEMS)
        _choice("fuse_relu", self.fuse_relu, (False, True))
        if self.network == "reference":
            given = {
                "xcorr": self.xcorr,
                "compile": self.compile,
                "stem": None if self.stem == "conv" else self.stem,
                "fuse_relu": self.fuse_relu or None,
            }
            for key, value in given.items():
                if value is not None:
                    raise ValueError(
                        f"tracker.{key}={value} is an option of the inference form: set "
                        f"tracker.network=inference or leave tracker.{key} at its default"
                    )
        if self.fuse_relu and self.compile:
            raise ValueError(
                "tracker.fuse_relu=true cannot be compiled (torch.compile does not trace "
                "torch.cudnn_convolution_relu): set tracker.compile=null"
            )

    @classmethod
    def of(cls, tracker_cfg: Mapping) -> NetworkForm:
        """The form a ``tracker`` config node selects."""
        return cls(**{field.name: tracker_cfg[field.name] for field in fields(cls)})

    def build(
        self,
        model: nn.Module,
        device: torch.device,
        *,
        precision: str = "float32",
        channels_last: bool = False,
    ) -> nn.Module:
        """``model`` on ``device`` in this form, eval mode, in ``precision`` (``float32`` |
        ``float16``) and ``channels_last`` memory format.

        A :class:`~siamfcpp.model.network.SiamFCpp` is moved to ``device`` (in place) and, for
        ``network=reference``, converted in place; for ``network=inference`` its inference form
        is built from it (the module itself stays float32). Any other network is used as built;
        one that declares its ``dtype`` (an inference form) must have been built for
        ``precision``.
        """
        device = torch.device(device)
        dtype = getattr(torch, precision)
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        model = model.to(device).eval()
        if not isinstance(model, SiamFCpp):
            built_for = getattr(model, "dtype", None)
            if built_for is None:
                return model.to(dtype=dtype, memory_format=memory_format)
            if built_for != dtype:
                raise ValueError(
                    f"the network was built for {built_for} but tracker.precision asks for "
                    f"{dtype}: build it for the same precision"
                )
            return model
        if self.network == "reference":
            return model.to(dtype=dtype, memory_format=memory_format)
        if self.fuse_relu and device.type != "cuda":
            raise ValueError(f"tracker.fuse_relu=true needs a CUDA device, got device={device}")
        return build_inference_network(
            model,
            xcorr=self.xcorr or DEFAULT_XCORR.get(device.type, "grouped"),
            dtype=precision,
            channels_last=channels_last,
            stem=self.stem,
            fuse_relu=self.fuse_relu,
            compile_mode=self.compile,
        )
