"""Original-format weights from the parity recipe (../shared/parity/README.md), for tests.

The parity fixtures were computed by the original implementation with random weights built by a
fixed recipe; rebuilding them here lets the tests load them as an original ``.pkl`` and compare.
"""

from __future__ import annotations

import hashlib
import io
import json
from functools import cache
from pathlib import Path

import numpy as np
import torch

FIXTURES = Path(__file__).parent / "fixtures"
TRACKER_FIXTURE = FIXTURES / "tracker_seed0.npz"
# fixture model name -> (backbone config, model-zoo preset whose tracker parameters it used)
FIXTURE_MODELS = {
    "alexnet": ("alexnet", "siamfcpp_alexnet-new"),
    "googlenet": ("googlenet", "siamfcpp_googlenet"),
    "alexnet_got": ("alexnet", "siamfcpp_alexnet_got"),
    "googlenet_got": ("googlenet", "siamfcpp_googlenet_got"),
}
# keys whose conv weights the recipe scales as n * 0.5 / sqrt(fan_in)
_SMALL_INIT = ("cls_score_p5", "ctr_score_p5", "bbox_offsets_p5", "c_z_k", "r_z_k", "c_x", "r_x")


@cache
def original_keys(model_name: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    table = json.loads((FIXTURES / "original_state_dict_keys.json").read_text())
    return tuple((key, tuple(shape)) for key, shape, _ in table[model_name])


@cache
def fixture_meta() -> dict:
    with np.load(TRACKER_FIXTURE) as data:
        return json.loads(bytes(data["meta_json"]).decode("utf-8"))


def _recipe_value(key: str, shape: tuple[int, ...], n: np.ndarray, keys: set[str]) -> np.ndarray:
    stem = key.rsplit(".", 1)[0]
    is_bn = stem + ".running_var" in keys
    leaf = key.rsplit(".", 1)[-1]
    if leaf == "running_var":
        return 1 + 0.1 * np.abs(n)
    if leaf == "running_mean":
        return 0.1 * n
    if is_bn and leaf == "weight":
        return 1 + 0.1 * n
    if is_bn and leaf == "bias":
        return 0.1 * n
    if key == "head.si":
        return np.full(shape, 0.05)
    if key == "head.bi":
        return np.full(shape, 1.5)
    if len(shape) == 4:
        fan_in = shape[1] * shape[2] * shape[3]
        if any(part in key for part in _SMALL_INIT):
            return n * 0.5 / np.sqrt(fan_in)
        scale = np.sqrt(2 / fan_in) / (128 if shape[1] == 3 else 1)
        return n * scale
    return 0.01 * n


def build_original_state_dict(
    model_name: str, seed: int = 0, overrides: dict | None = None
) -> dict[str, torch.Tensor]:
    """State dict with the original key names, filled by the recipe.

    Args:
        model_name: ``alexnet``, ``googlenet``, ``alexnet_got`` or ``googlenet_got``.
        overrides: key -> values replacing the recipe; default: the tracker fixture's.
    """
    keys = original_keys(model_name)
    names = {k for k, _ in keys}
    state: dict[str, torch.Tensor] = {}
    for i, (key, shape) in enumerate(sorted(keys)):
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(0, dtype=torch.int64)
            continue
        n = np.random.default_rng([seed, i]).standard_normal(shape)
        state[key] = torch.from_numpy(np.asarray(_recipe_value(key, shape, n, names), np.float32))
    if overrides is None:
        overrides = fixture_meta()[model_name]["overrides"]
    for key, value in overrides.items():
        state[key] = torch.tensor(value, dtype=torch.float32).reshape(state[key].shape)
    # keep the original module order, as the original's state_dict() had it
    return {key: state[key] for key, _ in keys}


def write_original_pkl(
    state_dict: dict[str, torch.Tensor], directory: Path, stem: str, wrap: bool = False
) -> Path:
    """``torch.save`` a state dict as ``<stem>-md5_<md5 of the file>.pkl`` in ``directory``."""
    buffer = io.BytesIO()
    torch.save({"model_state_dict": state_dict} if wrap else state_dict, buffer)
    data = buffer.getvalue()
    path = Path(directory) / f"{stem}-md5_{hashlib.md5(data).hexdigest()}.pkl"
    path.write_bytes(data)
    return path


def write_parity_checkpoint(model_name: str, directory: Path, seed: int = 0) -> Path:
    """The recipe weights of a fixture model written as an original ``.pkl`` in ``directory``."""
    return write_original_pkl(
        build_original_state_dict(model_name, seed), directory, f"parity-{model_name}"
    )
