"""Loading weights: original model-zoo ``.pkl`` files and this project's Lightning ``.ckpt``.

Original checkpoints (video_analyst) are ``torch.save``-d state dicts, sometimes wrapped as
``{"model_state_dict": ...}``, with the original module names; their file names carry the md5 of
the file (``...-md5_<32 hex>.pkl``; the LaSOT one spells it ``md5sum_``), which is verified here.
Lightning checkpoints hold the network under the LightningModule attribute ``model`` (keys
``model.<network key>``) and, written by ``train.py``, a record of its backbone and geometry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from siamfcpp.io.files import file_md5

# Original key prefix -> this project's key prefix, applied in order (first match wins).
ORIGINAL_KEY_MAP: tuple[tuple[str, str], ...] = (
    (r"^basemodel\.channel_reduce\.0\.", "backbone.channel_reduce.conv."),
    (r"^basemodel\.channel_reduce\.1\.", "backbone.channel_reduce.bn."),
    (r"^basemodel\.", "backbone."),
    (r"^c_z_k\.", "cls_z_adjust."),
    (r"^r_z_k\.", "reg_z_adjust."),
    (r"^c_x\.", "cls_x_adjust."),
    (r"^r_x\.", "reg_x_adjust."),
    (r"^head\.cls_p5_conv(\d+)\.", lambda m: f"head.cls_tower.{int(m.group(1)) - 1}."),
    (r"^head\.bbox_p5_conv(\d+)\.", lambda m: f"head.reg_tower.{int(m.group(1)) - 1}."),
    (r"^head\.cls_score_p5\.", "head.cls_logits."),
    (r"^head\.ctr_score_p5\.", "head.ctr_logits."),
    (r"^head\.bbox_offsets_p5\.", "head.box_offsets."),
    (r"^head\.si$", "head.offset_scale"),
    (r"^head\.bi$", "head.offset_bias"),
)
# the original names its files ...-md5_<hex>.pkl, its LaSOT checkpoint ...-md5sum_<hex>.pkl
_MD5_IN_NAME = re.compile(r"md5(?:sum)?_([0-9a-fA-F]{32})")
RECORD_KEY = "siamfcpp"  # a .ckpt's record of its network (network_record)


class CheckpointError(ValueError):
    """A checkpoint file that cannot be loaded into the configured network."""


def verify_md5(path: Path) -> None:
    """Compare the file's md5 with the one its name carries (if it carries one)."""
    match = _MD5_IN_NAME.search(path.name)
    if match is None:
        return
    expected, actual = match.group(1).lower(), file_md5(path)
    if expected != actual:
        raise CheckpointError(
            f"{path}: md5 is {actual} but the file name says {expected}: the file is corrupt or "
            "incomplete; download it again"
        )


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Tensors of a checkpoint file, unwrapped from ``model_state_dict`` / ``state_dict``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file; check checkpoint=PATH")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for truncated / foreign files
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint ({reason}); the file may be truncated, "
            "download or copy it again"
        ) from error
    for wrapper in ("model_state_dict", "state_dict"):
        if isinstance(content, Mapping) and wrapper in content:
            content = content[wrapper]
    if not isinstance(content, Mapping) or not all(isinstance(v, Tensor) for v in content.values()):
        raise CheckpointError(f"{path}: holds no state dict of tensors; pass a model checkpoint")
    return dict(content)


def map_original_key(key: str) -> str:
    """This project's name for an original (video_analyst) state-dict key."""
    for pattern, replacement in ORIGINAL_KEY_MAP:
        new, count = re.subn(pattern, replacement, key)
        if count:
            return new
    return key


def to_network_keys(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename original or Lightning (``model.``-prefixed) keys to ``SiamFCpp`` keys."""
    if any(k.startswith("basemodel.") for k in state):
        return {map_original_key(k): v for k, v in state.items()}
    if any(k.startswith("model.") for k in state):
        # a LightningModule's other state (e.g. loss buffers) is not part of the network
        return {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    return dict(state)


def _backbone_of(keys) -> str:
    if any(".Mixed_" in k for k in keys):
        return "googlenet"
    if any(k.startswith("backbone.conv1.") for k in keys):
        return "alexnet"
    return "unknown"


def network_record(network: nn.Module) -> dict[str, object]:
    """What a saved network records about itself (``.ckpt`` entry ``siamfcpp``, ONNX folders'
    ``siamfcpp.json``): the backbone (the ``backbone=`` option) and the head's geometry."""
    head = network.head
    return {
        "backbone": _backbone_of(network.state_dict()),
        "score_size": int(head.score_size),
        "total_stride": int(head.total_stride),
    }


def checkpoint_backbone(path: str | Path) -> str | None:
    """The ``backbone=`` option a checkpoint needs: recorded by ``train.py`` in a ``.ckpt``,
    else read off the names of its weights (original ``.pkl``); None if neither tells."""
    path = Path(path).expanduser()
    if not path.is_file():
        return None  # loading reports the missing file
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 (loading reports unreadable files with the fix)
        return None
    if isinstance(content, Mapping) and isinstance(content.get(RECORD_KEY), Mapping):
        return str(content[RECORD_KEY]["backbone"])
    try:
        backbone = _backbone_of(to_network_keys(read_state_dict(path)))
    except CheckpointError:
        return None
    return None if backbone == "unknown" else backbone


def load_checkpoint(model: nn.Module, path: str | Path) -> None:
    """Load an original ``.pkl`` or a project ``.ckpt`` into ``model`` (a ``SiamFCpp``), strictly.

    Raises:
        CheckpointError: one line naming the file for a missing or truncated file, an md5 that
            disagrees with the file name, missing / unexpected keys, shape mismatches or
            non-finite weights.
    """
    path = Path(path)
    if path.is_file():
        verify_md5(path)
    state = to_network_keys(read_state_dict(path))
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        have, want = _backbone_of(state), _backbone_of(expected)
        hint = (
            f"it holds a {have} network but the config builds {want}: pass backbone={have} "
            "(or the matching experiment=)"
            if have != want
            else "the head depth or layout differs from the config (model.head.conv_bn)"
        )
        first = (missing or unexpected)[0]
        raise CheckpointError(
            f"{path}: {len(missing)} missing and {len(unexpected)} unexpected keys "
            f"(first: {first}); {hint}"
        )
    for key, value in expected.items():
        if tuple(state[key].shape) != tuple(value.shape):
            raise CheckpointError(
                f"{path}: {key} has shape {tuple(state[key].shape)} in the file but "
                f"{tuple(value.shape)} in the network; the checkpoint is for another model config"
            )
        if state[key].is_floating_point() and not torch.isfinite(state[key]).all():
            raise CheckpointError(
                f"{path}: {key} holds NaN / inf values: the weights are broken (a diverged "
                "training run?); use an earlier checkpoint"
            )
    model.load_state_dict(state, strict=True)
