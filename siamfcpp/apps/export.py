"""Export the two halves of the SiamFC++ network to ONNX.

    python export.py checkpoint=PATH.pkl output_dir=exported/alexnet
    python export.py experiment=siamfcpp_googlenet checkpoint=PATH.pkl output_dir=DIR

writes ``template.onnx`` (``z [B, 3, 127, 127] -> kernel_0, ...``) and ``search.onnx``
(``x [B, 3, X, X], kernel_0, ... -> score [B, N], boxes_xyxy [B, N, 4], cls [B, N], ctr [B, N]``),
both with a dynamic batch axis. :class:`~siamfcpp.model.onnx_runtime.OnnxSiamFCpp` runs them
behind the network's interface, so ``SiamFCppTracker`` (``demo.py onnx_dir=DIR``) tracks with them.

``network=inference`` (the default) exports the inference form
(:func:`~siamfcpp.model.inference.build_inference_network`, float32): batch norm folded, the cls
and reg branches merged (one kernel, ``kernel_0 [B, 2C, k, k]``), the cross-correlation as
im2col; ``network=reference`` exports the module as trained (``kernel_0``, ``kernel_1``).

The config is composed from ``conf/export.yaml`` with Hydra's compose API (same groups and keys as
``evaluate.py``). The TorchScript-based exporter (``dynamo=False``) is used: with torch 2.13 it
needs no package beyond ``onnx`` and exports this plain convolutional graph exactly; the
dynamo-based exporter needs ``onnxscript`` in addition and gains nothing here (the obstacle to a
dynamic batch, the batch-sized convolution groups of the xcorr, is the same for both: while
exporting, ``layers.xcorr_depthwise`` switches to its im2col form).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from siamfcpp.apps.cli import report
from siamfcpp.config import config_help
from siamfcpp.io.files import atomic_write_json, write_error
from siamfcpp.model.build import build_model
from siamfcpp.model.checkpoints import network_record
from siamfcpp.model.inference import build_inference_network
from siamfcpp.model.onnx_runtime import (
    RECORD_FILE,
    SEARCH_FILE,
    SEARCH_INPUT,
    SEARCH_OUTPUTS,
    TEMPLATE_FILE,
    TEMPLATE_INPUT,
    kernel_names,
)

log = logging.getLogger(__name__)

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
BATCH = "batch"
NETWORKS = ("inference", "reference")


class _TemplateHalf(nn.Module):
    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, z: Tensor) -> tuple[Tensor, ...]:
        return tuple(self.network.template(z))


class _SearchHalf(nn.Module):
    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: Tensor, *kernels: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return tuple(self.network.search(x, kernels))


def export_onnx(
    network: nn.Module, output_dir: str | os.PathLike, *, z_size: int, x_size: int, opset: int
) -> tuple[Path, Path]:
    """Write ``template.onnx`` and ``search.onnx`` of ``network`` (moved to the CPU) to a folder.

    Each file is written under a temporary name, checked with ``onnx.checker`` and then moved into
    place. Returns the two paths.
    """
    import onnx

    network = network.to("cpu").eval()
    output_dir = Path(output_dir).expanduser()
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise write_error(output_dir, err) from err
    # traced with batch 2, so that no size-1 broadcasting can hide a batch dependence
    generator = torch.Generator().manual_seed(0)
    z = 255 * torch.rand(2, 3, z_size, z_size, generator=generator)
    x = 255 * torch.rand(2, 3, x_size, x_size, generator=generator)
    with torch.no_grad():
        kernels = tuple(network.template(z))
    names = kernel_names(len(kernels))
    # eval wrappers: the exporter restores the wrapper's train/eval mode onto the whole network
    jobs = (
        (_TemplateHalf(network).eval(), (z,), [TEMPLATE_INPUT], names, TEMPLATE_FILE),
        (
            _SearchHalf(network).eval(),
            (x, *kernels),
            [SEARCH_INPUT, *names],
            list(SEARCH_OUTPUTS),
            SEARCH_FILE,
        ),
    )
    paths = []
    with torch.no_grad(), warnings.catch_warnings():
        # the traced shapes are static except the batch axis; the tracer warns about each one
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        for module, args, inputs, outputs, file_name in jobs:
            path = output_dir / file_name
            tmp = output_dir / f".{file_name}.tmp"
            try:
                torch.onnx.export(
                    module,
                    args,
                    str(tmp),
                    dynamo=False,
                    input_names=inputs,
                    output_names=outputs,
                    dynamic_axes={name: {0: BATCH} for name in (*inputs, *outputs)},
                    opset_version=opset,
                )
                onnx.checker.check_model(str(tmp))
                os.replace(tmp, path)
            except OSError as err:
                tmp.unlink(missing_ok=True)
                raise write_error(path, err) from err
            paths.append(path)
            log.info("wrote %s", path)
    return paths[0], paths[1]


def export_from_config(cfg: DictConfig) -> tuple[Path, Path]:
    """Build the network of ``cfg`` (``model``, ``checkpoint``, ``seed``) in the form ``network``
    selects and export it, with ``siamfcpp.json`` recording its backbone, form and geometry
    (read by ``demo.py onnx_dir=``)."""
    output_dir = cfg.output_dir  # a missing output_dir fails here, before the network is built
    if cfg.network not in NETWORKS:
        raise ValueError(f"network must be one of {', '.join(NETWORKS)}; got {cfg.network!r}")
    network = build_model(cfg.model, cfg.checkpoint, cfg.seed)
    exported = (
        build_inference_network(network, xcorr="unfold") if cfg.network == "inference" else network
    )
    paths = export_onnx(
        exported,
        output_dir,
        z_size=cfg.tracker.z_size,
        x_size=cfg.model.head.x_size,
        opset=cfg.opset,
    )
    record = {
        **network_record(network),
        "network": cfg.network,
        "z_size": int(cfg.tracker.z_size),
        "x_size": int(cfg.model.head.x_size),
    }
    atomic_write_json(Path(output_dir).expanduser() / RECORD_FILE, record)
    return paths


def compose_config(overrides: Sequence[str]) -> DictConfig:
    """``conf/export.yaml`` with command-line ``overrides`` (``key=value``, ``group=option``)."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("export", overrides=list(overrides))


def main(argv: Sequence[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--help" in argv or "-h" in argv:
        print(config_help("export", hidden=["benchmark"]), end="")
        return
    logging.basicConfig(level=logging.INFO, format="[%(levelname)s] %(message)s")
    output_dir = None
    try:
        cfg = compose_config(argv)
        if OmegaConf.is_missing(cfg, "output_dir"):
            raise ValueError(
                "output_dir is required: python export.py checkpoint=PATH output_dir=DIR"
            )
        output_dir = Path(cfg.output_dir).expanduser()
        template_path, search_path = export_from_config(cfg)
    except Exception as err:
        report(err, [] if output_dir is None else [output_dir])
    print(f"exported {template_path} and {search_path}")


if __name__ == "__main__":
    main()
