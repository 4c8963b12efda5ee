"""Loading original model-zoo ``.pkl`` files and Lightning ``.ckpt`` files, and their errors."""

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from siamfcpp.model.backbones.googlenet import load_inception_v3
from siamfcpp.model.checkpoints import CheckpointError, load_checkpoint, map_original_key
from tests.parity_weights import (
    FIXTURE_MODELS,
    build_original_state_dict,
    original_keys,
    write_original_pkl,
)

CONF = Path(__file__).resolve().parents[1] / "conf"


def build(backbone: str) -> torch.nn.Module:
    return instantiate(OmegaConf.load(CONF / "backbone" / f"{backbone}.yaml").model)


@pytest.mark.parametrize("fixture_model", sorted(FIXTURE_MODELS))
def test_every_original_key_maps_one_to_one(fixture_model: str) -> None:
    model = build(FIXTURE_MODELS[fixture_model][0])
    mapped = [map_original_key(k) for k, _ in original_keys(fixture_model)]
    assert sorted(mapped) == sorted(model.state_dict())


@pytest.mark.parametrize("backbone", ["alexnet", "googlenet"])
@pytest.mark.parametrize("wrap", [False, True])
def test_original_pkl_loads_exactly(backbone: str, wrap: bool, tmp_path: Path) -> None:
    state = build_original_state_dict(backbone)
    path = write_original_pkl(state, tmp_path, f"siamfcpp-{backbone}-vot", wrap=wrap)
    model = build(backbone)
    load_checkpoint(model, path)
    loaded = model.state_dict()
    for key, value in state.items():
        assert torch.equal(loaded[map_original_key(key)], value), key


def test_lightning_ckpt_round_trip(tmp_path: Path) -> None:
    source = build("alexnet")
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in source.state_dict().items()}}, path)
    target = build("alexnet")
    load_checkpoint(target, path)
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value)


def one_line_error(model: torch.nn.Module, path: Path) -> str:
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(model, path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_md5_mismatch(tmp_path: Path) -> None:
    good = write_original_pkl(build_original_state_dict("alexnet"), tmp_path, "m")
    bad = good.with_name("siamfcpp-alexnet-vot-md5_18fd31a2f94b0296c08fff9b0f9ad240.pkl")
    good.rename(bad)
    message = one_line_error(build("alexnet"), bad)
    assert "md5" in message and "18fd31a2f94b0296c08fff9b0f9ad240" in message


def test_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.pkl"
    data = (write_original_pkl(build_original_state_dict("alexnet"), tmp_path, "m")).read_bytes()
    path.write_bytes(data[: len(data) // 3])
    assert "truncated" in one_line_error(build("alexnet"), path)


def test_missing_file(tmp_path: Path) -> None:
    assert "no such checkpoint" in one_line_error(build("alexnet"), tmp_path / "nope.pkl")


def test_wrong_backbone_names_the_fix(tmp_path: Path) -> None:
    path = write_original_pkl(build_original_state_dict("googlenet"), tmp_path, "g")
    assert "backbone=googlenet" in one_line_error(build("alexnet"), path)


def test_shape_mismatch(tmp_path: Path) -> None:
    state = build_original_state_dict("alexnet")
    state["c_x.conv.weight"] = torch.zeros(256, 256, 1, 1)
    message = one_line_error(build("alexnet"), write_original_pkl(state, tmp_path, "s"))
    assert "cls_x_adjust.conv.weight" in message and "shape" in message


def test_torchvision_inception_weights_load(tmp_path: Path) -> None:
    """A torchvision inception_v3 dict (extra classifier / Mixed_7 keys) fills the backbone."""
    backbone = build("googlenet").backbone
    source = {k: torch.randn_like(v.float()) for k, v in backbone.state_dict().items()}
    source = {k: v for k, v in source.items() if not k.startswith("channel_reduce")}
    source |= {
        "fc.weight": torch.zeros(1000, 2048),
        "Mixed_7a.branch3x3_1.conv.weight": torch.zeros(1),
    }
    path = tmp_path / "inception_v3.pth"
    torch.save(source, path)
    load_inception_v3(backbone, path)
    key = "Mixed_6e.branch_pool.conv.weight"
    assert torch.equal(backbone.state_dict()[key], source[key])
    del source["Conv2d_1a_3x3.conv.weight"]
    torch.save(source, path)
    with pytest.raises(CheckpointError, match="inception_v3"):
        load_inception_v3(backbone, path)
