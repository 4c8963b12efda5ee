"""Command-line overrides that a checkpoint or an ONNX export implies.

``evaluate.py checkpoint=F`` and ``demo.py checkpoint=F | onnx_dir=DIR`` compose the config for
the network the file holds: its backbone (recorded by ``train.py`` in a ``.ckpt``, read off the
weight names of an original ``.pkl``, recorded in an export's ``siamfcpp.json``) and, for ONNX
graphs, whose search input has a fixed size, the search crop ``model.head.x_size`` (the tracker's
score map follows). What the command line chooses itself (``backbone=``, ``experiment=``,
``model.head.x_size=``) is kept: a mismatch then stops with the loader's clear error.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from siamfcpp.model.checkpoints import checkpoint_backbone
from siamfcpp.model.onnx_runtime import read_record


def _value(argv: Sequence[str], key: str) -> str | None:
    for arg in argv:
        if arg.lstrip("+~").startswith(f"{key}="):
            value = arg.split("=", 1)[1].strip("'\"")
            return value if value not in ("", "null") else None
    return None


def _given(argv: Sequence[str], *keys: str) -> bool:
    return any(arg.lstrip("+~").split("=", 1)[0] in keys for arg in argv)


def with_recorded_model(argv: Sequence[str]) -> list[str]:
    """``argv`` (``key=value`` overrides) plus ``backbone=`` / ``model.head.x_size=`` as the
    ``onnx_dir=`` or ``checkpoint=`` file records them (see the module docstring)."""
    argv = list(argv)
    record: dict = {}
    onnx_dir, checkpoint = _value(argv, "onnx_dir"), _value(argv, "checkpoint")
    if onnx_dir is not None:
        record = read_record(onnx_dir) or {}
    elif checkpoint is not None:
        backbone = checkpoint_backbone(checkpoint)
        record = {"backbone": backbone} if backbone else {}
    added = []
    if record.get("backbone") and not _given(argv, "backbone", "experiment"):
        added.append(f"backbone={record['backbone']}")
    if record.get("x_size") and not _given(argv, "model.head.x_size"):
        added.append(f"model.head.x_size={record['x_size']}")
    if added:  # printed: Hydra has not set up logging yet
        print(f"{onnx_dir or checkpoint} records: {' '.join(added)}", file=sys.stderr)
    return argv + added
