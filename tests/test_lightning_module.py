"""LightningModule: lr schedule (against the original's numbers), parameter groups, staged
unfreezing and a few optimisation steps on a fixed batch.

``ORIGINAL_LR``: values of the original ``videoanalyst/optim/optimizer/optimizer_impl/utils/
lr_policy.py`` ``build([LinearLR 1e-6 -> 0.08 over 1 epoch, CosineLR 0.08 -> 1e-6 over 19],
max_iter=nr_image_per_epoch // minibatch).get_lr(epoch, iteration)``, run once, for the AlexNet
(400000 // 32 = 12500 iterations per epoch) and GoogLeNet (150000 // 128 = 1171) recipes.
"""

import math
import re
from itertools import pairwise
from pathlib import Path

import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from torch import nn

from siamfcpp.model.layers import avg_pool_3x3, avg_pool_3x3_conv
from siamfcpp.training.module import (
    OTHER_GROUP,
    FreezeStage,
    ParamGroup,
    WarmupCosineLR,
    apply_freeze_schedule,
    group_parameters,
)
from tests.conftest import compose_config

REPO = Path(__file__).resolve().parents[1]
ORIGINAL_LR = {
    12500: [
        (0, 0, 1e-06),
        (0, 6250, 0.0400005),
        (0, 12499, 0.07999360008),
        (1, 0, 0.08),
        (5, 3000, 0.07056618435915),
        (10, 0, 0.04330363252922056),
        (19, 12499, 1.0000034994378515e-06),
    ],
    1171: [
        (0, 0, 1e-06),
        (0, 585, 0.039966341588385995),
        (1, 0, 0.08),
        (12, 100, 0.029634683987574288),
        (19, 1170, 1.0003987524070945e-06),
    ],
}
RECIPE_LR = WarmupCosineLR(
    warmup_start_lr=1e-6, base_lr=0.08, final_lr=1e-6, warmup_epochs=1, epochs=20
)


@pytest.mark.parametrize("steps_per_epoch", sorted(ORIGINAL_LR))
def test_lr_schedule_matches_original(steps_per_epoch):
    for epoch, iteration, expected in ORIGINAL_LR[steps_per_epoch]:
        assert RECIPE_LR(epoch, iteration, steps_per_epoch) == pytest.approx(expected, rel=1e-12)


def test_lr_schedule_is_monotone_in_each_phase():
    rates = [RECIPE_LR(e, i, 10) for e in range(20) for i in range(10)]
    assert all(a < b for a, b in pairwise(rates[:11]))
    assert all(a >= b for a, b in pairwise(rates[10:]))
    # half-way through the cosine the rate is the mean of its ends
    mid = WarmupCosineLR(warmup_start_lr=0, base_lr=1.0, final_lr=0.0, warmup_epochs=0, epochs=2)
    assert mid(1, 0, 10) == pytest.approx(0.5)
    assert mid(0, 5, 10) == pytest.approx((1 + math.cos(math.pi / 4)) / 2)


def test_lr_schedule_rejects_epochs_past_its_end():
    with pytest.raises(ValueError, match="max_epochs"):
        RECIPE_LR(20, 0, 10)
    with pytest.raises(ValueError, match="warmup_epochs"):
        WarmupCosineLR(warmup_start_lr=0, base_lr=1, final_lr=0, warmup_epochs=3, epochs=3)


class _Named(nn.Module):
    """Parameter names as the network's: backbone.conv<k>.{conv,bn}.*, head.*."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.ModuleDict(
            {
                f"conv{k}": nn.ModuleDict({"conv": nn.Conv2d(2, 2, 1), "bn": nn.BatchNorm2d(2)})
                for k in range(1, 6)
            }
        )
        self.head = nn.Conv2d(2, 1, 1)


ALEXNET_SCHEDULE = [
    FreezeStage(epoch=0, pattern=r"^backbone\.conv.\.conv", frozen=True),
    FreezeStage(epoch=5, pattern=r"^backbone\.conv5\.conv", frozen=False),
    FreezeStage(epoch=10, pattern=r"^backbone\.conv4\.conv", frozen=False),
    FreezeStage(epoch=15, pattern=r"^backbone\.conv3\.conv", frozen=False),
]


@pytest.mark.parametrize(
    "epoch, trainable_convs",
    [(0, set()), (4, set()), (5, {5}), (9, {5}), (10, {4, 5}), (15, {3, 4, 5}), (19, {3, 4, 5})],
)
def test_freeze_schedule_releases_stages_at_their_epoch(epoch, trainable_convs):
    model = _Named()
    apply_freeze_schedule(model, ALEXNET_SCHEDULE, epoch)
    for name, param in model.named_parameters():
        if ".conv." in name:
            k = int(name.split(".")[1][-1])
            assert param.requires_grad == (k in trainable_convs), name
        else:  # batch norms and the head always train
            assert param.requires_grad, name


def test_param_groups_scale_backbone_and_reject_stale_patterns():
    model = _Named()
    groups = group_parameters(model, [ParamGroup("backbone", r"^backbone\.", 0.1)])
    assert [(g["name"], g["lr_scale"]) for g in groups] == [("backbone", 0.1), (OTHER_GROUP, 1.0)]
    assert len(groups[0]["params"]) == 5 * 4 and len(groups[1]["params"]) == 2
    with pytest.raises(ValueError, match="basemodel"):
        group_parameters(model, [ParamGroup("backbone", r"^basemodel\.", 0.1)])


def _compose_train(*overrides: str):
    return compose_config("train", *overrides)


# The original recipes' DynamicFreezer schedules (regex on the original parameter names, epoch,
# freezed), from experiments/siamfcpp/train/{got10k,fulldata}/siamfcpp_*-trn*.yaml.
ORIGINAL_FREEZE = {
    "siamfcpp_alexnet-trn": [
        (r"basemodel\.conv.\.conv.*", 0, True),
        (r"basemodel\.conv5\.conv.*", 5, False),
        (r"basemodel\.conv4\.conv.*", 10, False),
        (r"basemodel\.conv3\.conv.*", 15, False),
    ],
    "siamfcpp_googlenet-trn": [
        (r"basemodel.*\.conv\.", 0, True),
        (r"basemodel\.Mixed_6.*\.conv\.", 10, False),
        (r"basemodel\.Mixed_5.*\.conv\.", 10, False),
    ],
}
ORIGINAL_FREEZE["siamfcpp_googlenet-trn-fulldata"] = ORIGINAL_FREEZE["siamfcpp_googlenet-trn"]


def _original_name(name: str) -> str:
    """This project's parameter name -> the original's (backbone prefix, channel_reduce layers)."""
    name = re.sub(r"^backbone\.", "basemodel.", name)
    return name.replace("channel_reduce.conv.", "channel_reduce.0.").replace(
        "channel_reduce.bn.", "channel_reduce.1."
    )


@pytest.mark.parametrize("recipe", sorted(ORIGINAL_FREEZE))
def test_recipe_freezes_the_parameters_the_original_froze(recipe):
    # no ImageNet weights file here: the recipes' pretrained path is dropped
    cfg = _compose_train(f"recipe={recipe}", "model.backbone.pretrained=null")
    module = instantiate(cfg.module)
    assert cfg.trainer.max_epochs == 20 and module.lr_schedule.epochs == 20
    groups = module.configure_optimizers().param_groups
    assert [(g["name"], g["lr_scale"]) for g in groups] == [("backbone", 0.1), (OTHER_GROUP, 1.0)]
    backbone_ids = {id(p) for p in module.model.backbone.parameters()}
    assert {id(p) for p in groups[0]["params"]} == backbone_ids
    for epoch in (0, 4, 5, 9, 10, 14, 15, 19):
        apply_freeze_schedule(module.model, module.freeze_schedule, epoch)
        for name, param in module.model.named_parameters():
            expected = True
            for pattern, start, freezed in ORIGINAL_FREEZE[recipe]:
                if re.search(pattern, _original_name(name)):
                    expected = (epoch >= start) != freezed
            assert param.requires_grad == expected, (recipe, epoch, name)
    apply_freeze_schedule(module.model, module.freeze_schedule, 0)
    assert any(not p.requires_grad for p in module.model.parameters())


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
# the default (built-in) data: 255-pixel search crops, score map 11 (AlexNet) / 13 (GoogLeNet)
@pytest.mark.parametrize(("backbone", "score_size"), [("alexnet", 11), ("googlenet", 13)])
def test_training_steps_lower_the_loss_on_a_fixed_batch(backbone: str, score_size: int):
    cfg = _compose_train(
        f"backbone={backbone}",
        "data.num_workers=0",
        "data.batch_size=4",
        "data.samples_per_epoch=4",
    )
    torch.manual_seed(0)
    module = instantiate(cfg.module)
    datamodule = instantiate(cfg.data)
    batch = datamodule.on_after_batch_transfer(next(iter(datamodule.train_dataloader())), 0)
    n = score_size * score_size
    assert batch["cls_gt"].shape == (4, n, 1) and batch["im_x"].shape == (4, 3, 255, 255)
    optimizer = module.configure_optimizers()
    for group in optimizer.param_groups:
        group["lr"] = 0.02 * group["lr_scale"]
    module.train()
    losses = []
    for _ in range(6):
        optimizer.zero_grad()
        loss = module.training_step(batch, 0)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.9 * losses[0], losses


@pytest.mark.parametrize(
    ("option", "expected"),
    [("auto", avg_pool_3x3), ("pool", avg_pool_3x3), ("conv", avg_pool_3x3_conv)],
)
def test_avg_pool_option_picks_googlenets_pooling_form(option, expected):
    """module.avg_pool sets the Inception blocks' pooling form when training starts; auto keeps
    PyTorch's pooling off CUDA (on CUDA it picks the convolution, see the README)."""
    cfg = _compose_train("backbone=googlenet", f"module.avg_pool={option}")
    module = instantiate(cfg.module)
    module.on_fit_start()
    blocks = [m for m in module.model.backbone.modules() if hasattr(m, "avg_pool")]
    assert len(blocks) == 7 and all(block.avg_pool is expected for block in blocks)
    instantiate(_compose_train("module.avg_pool=conv").module).on_fit_start()  # AlexNet: no pools
    with pytest.raises(InstantiationException, match="module.avg_pool must be auto or one of"):
        instantiate(_compose_train("module.avg_pool=max").module)
