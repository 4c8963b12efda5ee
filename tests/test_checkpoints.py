"""Loading original model-zoo ``.pkl`` files and Lightning ``.ckpt`` files, and their errors."""

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from siamfcpp.apps.recorded import with_recorded_model
from siamfcpp.model.backbones.alexnet import AlexNet
from siamfcpp.model.backbones.googlenet import load_inception_v3
from siamfcpp.model.checkpoints import (
    RECORD_KEY,
    CheckpointError,
    checkpoint_backbone,
    file_md5,
    load_checkpoint,
    map_original_key,
    network_record,
)
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
    state = {f"model.{k}": v for k, v in source.state_dict().items()}
    # other LightningModule state next to the network is not loaded into it
    torch.save({"state_dict": state | {"loss.some_buffer": torch.zeros(3)}, "epoch": 3}, path)
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


def test_md5sum_spelling_of_the_lasot_checkpoint_is_verified(tmp_path: Path) -> None:
    """The original's LaSOT file is named ``...-md5sum_<hex>.pkl``: its md5 is checked too."""
    good = write_original_pkl(build_original_state_dict("alexnet"), tmp_path, "m")
    bad = good.with_name("siamfcpp-googlenet-lasot-md5sum_434540569e163188d2bf47438e075529.pkl")
    good.rename(bad)
    assert "434540569e163188d2bf47438e075529" in one_line_error(build("alexnet"), bad)
    named = bad.with_name(f"siamfcpp-alexnet-md5sum_{file_md5(bad)}.pkl")
    bad.rename(named)
    load_checkpoint(build("alexnet"), named)


def test_checkpoints_give_their_backbone_to_the_command_line(tmp_path: Path) -> None:
    """``evaluate.py checkpoint=F`` needs no ``backbone=``: a ``.pkl`` tells it by its weight
    names, a ``.ckpt`` from train.py by its record; what the user chose is kept."""
    pkl = write_original_pkl(build_original_state_dict("googlenet"), tmp_path, "g")
    assert checkpoint_backbone(pkl) == "googlenet"
    assert with_recorded_model([f"checkpoint={pkl}"]) == [f"checkpoint={pkl}", "backbone=googlenet"]
    assert with_recorded_model([f"checkpoint={pkl}", "experiment=siamfcpp_googlenet"]) == [
        f"checkpoint={pkl}",
        "experiment=siamfcpp_googlenet",
    ]
    ckpt = tmp_path / "last.ckpt"
    module_state = {f"model.{k}": v for k, v in build("alexnet").state_dict().items()}
    record = network_record(build("alexnet"))
    assert record == {"backbone": "alexnet", "score_size": 17, "total_stride": 8}
    torch.save({"state_dict": module_state, RECORD_KEY: record}, ckpt)
    assert with_recorded_model([f"checkpoint={ckpt}"])[-1] == "backbone=alexnet"
    assert checkpoint_backbone(tmp_path / "missing.ckpt") is None


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


def test_non_finite_weights_are_refused_at_load(tmp_path: Path) -> None:
    """Broken (NaN) weights are named when the checkpoint loads, before anything is tracked."""
    state = build_original_state_dict("alexnet")
    state["head.cls_p5_conv2.conv.weight"][0, 0, 0, 0] = float("nan")
    message = one_line_error(build("alexnet"), write_original_pkl(state, tmp_path, "n"))
    assert "head.cls_tower.1.conv.weight holds NaN / inf values" in message


def test_shape_mismatch(tmp_path: Path) -> None:
    state = build_original_state_dict("alexnet")
    state["c_x.conv.weight"] = torch.zeros(256, 256, 1, 1)
    message = one_line_error(build("alexnet"), write_original_pkl(state, tmp_path, "s"))
    assert "cls_x_adjust.conv.weight" in message and "shape" in message


def torchvision_inception_v3_state() -> dict[str, torch.Tensor]:
    """A synthetic torchvision ``inception_v3`` state dict.

    Its key names come from the original's key list (whose Inception3 keeps torchvision's module
    names), not from this project's modules; like torchvision's ImageNet file it has no BN
    ``num_batches_tracked`` and has the parts the pruned backbone drops (Mixed_7*, AuxLogits, fc).
    """
    generator = torch.Generator().manual_seed(0)
    state = {
        key.removeprefix("basemodel."): torch.randn(shape, generator=generator)
        for key, shape in original_keys("googlenet")
        if key.startswith("basemodel.")
        and not key.startswith("basemodel.channel_reduce")
        and not key.endswith("num_batches_tracked")
    }
    return state | {
        "Mixed_7a.branch3x3_1.conv.weight": torch.zeros(192, 768, 1, 1),
        "AuxLogits.fc.weight": torch.zeros(1000, 768),
        "fc.weight": torch.zeros(1000, 2048),
        "fc.bias": torch.zeros(1000),
    }


def test_torchvision_inception_weights_load_through_config(tmp_path: Path) -> None:
    source = torchvision_inception_v3_state()
    path = tmp_path / "inception_v3_google.pth"
    torch.save(source, path)
    config = OmegaConf.load(CONF / "backbone" / "googlenet.yaml")
    config.model.backbone.pretrained = str(path)
    loaded = instantiate(config.model).backbone.state_dict()
    for key, value in source.items():
        if not key.startswith(("Mixed_7", "AuxLogits", "fc")):
            assert torch.equal(loaded[key], value), key


@pytest.mark.parametrize("broken", ["missing", "shape"])
def test_torchvision_inception_weights_errors(broken: str, tmp_path: Path) -> None:
    source = torchvision_inception_v3_state()
    key = "Mixed_6e.branch7x7dbl_3.conv.weight"
    if broken == "missing":
        del source[key]
    else:
        source[key] = source[key].transpose(2, 3)
    path = tmp_path / "inception_v3.pth"
    torch.save(source, path)
    with pytest.raises(CheckpointError) as info:
        load_inception_v3(build("googlenet").backbone, path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and key in message


def test_original_alexnet_imagenet_weights_load_through_config(tmp_path: Path) -> None:
    """The AlexNet recipe's start: the original's BN-AlexNet ``.pkl`` (backbone keys as the
    original's AlexNet module names them, wrapped in ``model_state_dict``), md5 in the name."""
    torch.manual_seed(1)
    source = build("alexnet").backbone.state_dict()
    scratch = tmp_path / "alexnet-nopad-bn.pkl"
    torch.save({"model_state_dict": source}, scratch)
    path = tmp_path / f"alexnet-nopad-bn-md5_{file_md5(scratch)}.pkl"
    scratch.rename(path)
    config = OmegaConf.load(CONF / "backbone" / "alexnet.yaml")
    config.model.backbone.pretrained = str(path)
    loaded = instantiate(config.model).backbone.state_dict()
    assert loaded.keys() == source.keys()
    for key, value in source.items():
        assert torch.equal(loaded[key], value), key

    # the md5 in the name is checked; a GoogLeNet file is refused naming the first missing key
    corrupt = tmp_path / f"alexnet-nopad-bn-md5_{'0' * 32}.pkl"
    corrupt.write_bytes(path.read_bytes())
    with pytest.raises(CheckpointError, match="md5"):
        AlexNet(pretrained=str(corrupt))
    other = tmp_path / "inception.pth"
    torch.save(torchvision_inception_v3_state(), other)
    with pytest.raises(CheckpointError) as info:
        AlexNet(pretrained=str(other))
    message = str(info.value)
    assert "\n" not in message and str(other) in message and "alexnet-nopad-bn" in message
