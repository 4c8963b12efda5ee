"""ONNX Runtime stand-in for the SiamFC++ network, for the unchanged ``SiamFCppTracker``.

Runs ``template.onnx`` and ``search.onnx`` written by :mod:`siamfcpp.apps.export` and exposes the
network's inference interface on torch tensors (converted to / from numpy at the boundary).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)

TEMPLATE_FILE = "template.onnx"
RECORD_FILE = (
    "siamfcpp.json"  # backbone and geometry of the export (model.checkpoints.network_record)
)
SEARCH_FILE = "search.onnx"
TEMPLATE_INPUT = "z"
SEARCH_INPUT = "x"
SEARCH_OUTPUTS = ("score", "boxes_xyxy", "cls", "ctr")


def read_record(onnx_dir: str | os.PathLike) -> dict | None:
    """The ``siamfcpp.json`` an export wrote (None for folders exported before it existed)."""
    path = Path(onnx_dir).expanduser() / RECORD_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def kernel_names(count: int) -> list[str]:
    """Graph names of the template kernels (template outputs = search inputs after ``x``)."""
    return [f"kernel_{i}" for i in range(count)]


class OnnxSiamFCpp(nn.Module):
    """The two exported network halves behind :class:`~siamfcpp.model.network.SiamFCpp`'s
    inference interface (no parameters, no training ``forward``).

    Args:
        onnx_dir: folder holding ``template.onnx`` and ``search.onnx``.
        device: ``cuda`` runs them with ONNX Runtime's CUDA provider when the installed
            onnxruntime has it (``onnxruntime-gpu``), else on the CPU with a warning.
    """

    def __init__(self, onnx_dir: str | os.PathLike, device: str | torch.device = "cpu") -> None:
        super().__init__()
        import onnxruntime as ort

        onnx_dir = Path(onnx_dir).expanduser()
        providers = ["CPUExecutionProvider"]
        if torch.device(device).type == "cuda":
            if "CUDAExecutionProvider" in ort.get_available_providers():
                providers.insert(0, "CUDAExecutionProvider")
            else:
                log.warning("onnxruntime has no CUDA provider here: the ONNX model runs on the CPU")
        sessions = []
        for name in (TEMPLATE_FILE, SEARCH_FILE):
            path = onnx_dir / name
            if not path.is_file():
                raise FileNotFoundError(
                    f"{path} does not exist: write it with "
                    f"`python export.py checkpoint=... output_dir={onnx_dir}`"
                )
            sessions.append(ort.InferenceSession(str(path), providers=providers))
        self.template_session, self.search_session = sessions
        self.num_kernels = len(self.template_session.get_outputs())
        expected = [SEARCH_INPUT, *kernel_names(self.num_kernels)]
        found = [i.name for i in self.search_session.get_inputs()]
        if found != expected:
            raise ValueError(
                f"{onnx_dir}: search.onnx takes inputs {found}, template.onnx provides "
                f"{expected[1:]}: the two files come from different exports"
            )

    def template(self, z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Template crops ``z`` ``[B, 3, 127, 127]`` -> kernels, as ``SiamFCpp.template``."""
        outputs = self.template_session.run(None, {TEMPLATE_INPUT: _to_numpy(z)})
        return tuple(_to_torch(o, z.device) for o in outputs)

    def search(
        self, x: torch.Tensor, kernels: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Search crops ``x`` ``[B, 3, X, X]`` + kernels -> ``(score [B, N], boxes_xyxy
        [B, N, 4], cls [B, N], ctr [B, N])``, as ``SiamFCpp.search``."""
        if len(kernels) != self.num_kernels:
            raise ValueError(f"expected {self.num_kernels} kernels, got {len(kernels)}")
        feeds = {SEARCH_INPUT: _to_numpy(x)}
        feeds.update(zip(kernel_names(self.num_kernels), map(_to_numpy, kernels), strict=True))
        outputs = self.search_session.run(list(SEARCH_OUTPUTS), feeds)
        score, boxes, cls, ctr = (_to_torch(o, x.device) for o in outputs)
        return score, boxes, cls, ctr


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().to("cpu", torch.float32).numpy())


def _to_torch(a: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(a).to(device)
