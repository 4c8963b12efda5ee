"""The network an entry point runs: built from its config node, weights loaded, on a device."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import nn

from siamfcpp.model.checkpoints import load_checkpoint

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda`` or ``cuda:<k>``; asking for CUDA without a usable GPU is an error."""
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device={name} was requested but CUDA is not available (no GPU visible or a "
                "CPU-only torch build); run with device=cpu"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RuntimeError(
                f"device={name}: only {torch.cuda.device_count()} CUDA device(s) are visible"
            )
    return device


def build_model(model_cfg: DictConfig, checkpoint: str | None, seed: int) -> nn.Module:
    """Instantiate the network (seeded) and load ``checkpoint`` (original ``.pkl`` or ``.ckpt``)."""
    torch.manual_seed(seed)
    model = instantiate(model_cfg)
    if checkpoint:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint={checkpoint}: no such file")
        load_checkpoint(model, path)
        log.info("loaded checkpoint %s", path)
    else:
        log.warning(
            "No checkpoint given: the network is RANDOMLY INITIALISED (seed %d): its boxes and "
            "scores measure the pipeline, not a trained tracker. Pass checkpoint=PATH (an "
            "original model-zoo .pkl or a .ckpt from train.py).",
            seed,
        )
    return model.eval()
