"""LightningModule of SiamFC++ training: losses, SGD, per-iteration lr, staged unfreezing.

The training recipe of the original implementation:

* learning rate set before every iteration from ``(epoch, iteration)``: linear warm-up, then
  cosine decay (:class:`WarmupCosineLR`), multiplied per parameter group (backbone × 0.1);
* SGD with momentum and weight decay on all parameters;
* at the start of every epoch, parameters are frozen / unfrozen by name pattern
  (:class:`FreezeStage`): the backbone convolutions start frozen and later stages are released
  epoch by epoch.

Speed options of the step (they do not change what is computed, up to float rounding):
``channels_last`` (``auto``: on CUDA devices) runs the network in channels-last memory layout,
``avg_pool`` (``auto``: ``conv`` on CUDA devices) picks the form of GoogLeNet's 3x3 average pools,
``compile`` (null, or a ``torch.compile`` mode such as ``default`` / ``reduce-overhead`` /
``max-autotune``) compiles forward + losses (and so their backward), ``cuda_graph`` (``auto``: on
CUDA devices in one process, when not compiled) replays the network's forward and backward as
CUDA graphs (:mod:`siamfcpp.training.graphed`). Mixed precision is the trainer's ``precision``
(``bf16-mixed`` on ``trainer=gpu``); the losses stay float32.

Under DDP (``trainer=ddp``) every replica computes these losses on its share of the global batch
(batch-norm statistics and the losses' positive-cell normalisers are per replica) and DDP
averages the gradients, as the original's distributed trainer; ``tests/test_ddp.py`` checks a
2-process run against that computation done serially.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from siamfcpp.config import ConfigValueError, config_int, config_number
from siamfcpp.model.checkpoints import RECORD_KEY, network_record
from siamfcpp.model.layers import AVG_POOL_FORMS
from siamfcpp.model.losses import DenseboxLoss
from siamfcpp.training.graphed import GraphedForward


@dataclass(frozen=True)
class WarmupCosineLR:
    """Learning rate of an iteration: linear warm-up, then cosine decay, both per iteration.

    Over the first ``warmup_epochs`` epochs the rate rises linearly from ``warmup_start_lr`` to
    ``base_lr``; over the remaining ``epochs - warmup_epochs`` epochs it falls from ``base_lr``
    to ``final_lr`` along half a cosine. In each phase the progress is
    ``(epoch * steps_per_epoch + iteration) / (phase_epochs * steps_per_epoch)`` with the epoch
    counted from the phase start, as the original ``LinearLR`` / ``CosineLR`` policies.
    """

    warmup_start_lr: float
    base_lr: float
    final_lr: float
    warmup_epochs: int
    epochs: int

    def __post_init__(self) -> None:
        for key in ("warmup_start_lr", "base_lr", "final_lr"):
            config_number(key, getattr(self, key), 0)
        config_int("epochs", self.epochs, 1, hint=" (the length of training, trainer.max_epochs)")
        config_int("warmup_epochs", self.warmup_epochs, 0)
        if self.warmup_epochs >= self.epochs:
            raise ConfigValueError(
                "warmup_epochs",
                self.warmup_epochs,
                f"fewer than the {self.epochs} epochs of training (trainer.max_epochs): train "
                "longer, or set module.lr_schedule.warmup_epochs=0 for no warm-up",
            )

    def __call__(self, epoch: int, iteration: int, steps_per_epoch: int) -> float:
        if not 0 <= epoch < self.epochs:
            raise ValueError(
                f"epoch {epoch} is outside the lr schedule of {self.epochs} epochs; set the "
                "schedule's epochs to the trainer's max_epochs"
            )
        if not 0 <= iteration < steps_per_epoch:
            raise ValueError(f"iteration {iteration} outside an epoch of {steps_per_epoch} steps")
        if epoch < self.warmup_epochs:
            progress = (epoch * steps_per_epoch + iteration) / (
                self.warmup_epochs * steps_per_epoch
            )
            return self.warmup_start_lr + (self.base_lr - self.warmup_start_lr) * progress
        epoch -= self.warmup_epochs
        cosine_epochs = self.epochs - self.warmup_epochs
        progress = (epoch * steps_per_epoch + iteration) / (cosine_epochs * steps_per_epoch)
        weight = (1 - math.cos(progress * math.pi)) / 2
        return self.base_lr + (self.final_lr - self.base_lr) * weight


@dataclass(frozen=True)
class FreezeStage:
    """From ``epoch`` on, parameters whose name matches ``pattern`` are frozen (``frozen``) or
    trainable (not ``frozen``); before ``epoch`` the opposite holds.

    ``pattern`` is a regular expression searched in the parameter names of the network
    (``named_parameters()`` of ``SiamFCpp``, e.g. ``backbone.conv5.conv.weight``). Stages apply
    in order, so a later stage overrides an earlier one on the parameters both match.
    """

    epoch: int
    pattern: str
    frozen: bool


def apply_freeze_schedule(model: nn.Module, stages: Sequence[FreezeStage], epoch: int) -> None:
    """Set ``requires_grad`` of ``model``'s parameters for ``epoch`` (see :class:`FreezeStage`)."""
    named = list(model.named_parameters())
    for stage in stages:
        regex = re.compile(stage.pattern)
        trainable = (epoch >= stage.epoch) != stage.frozen
        for name, param in named:
            if regex.search(name):
                param.requires_grad_(trainable)


@dataclass(frozen=True)
class ParamGroup:
    """Parameters whose name matches ``pattern`` (regular expression, searched) train at
    ``lr_scale`` times the scheduled learning rate."""

    name: str
    pattern: str
    lr_scale: float


#: name of the optimizer group of the parameters no :class:`ParamGroup` claims (scale 1)
OTHER_GROUP = "other"


def group_parameters(model: nn.Module, groups: Sequence[ParamGroup]) -> list[dict[str, object]]:
    """Split ``model``'s parameters into optimizer groups with a learning-rate scale each.

    A parameter goes to the first group whose pattern matches its name, else to a last group
    :data:`OTHER_GROUP` of scale 1. Optimizer groups carry ``name`` and ``lr_scale``. A group
    that matches no parameter is an error (a stale name in the config).
    """
    members: dict[str, list[nn.Parameter]] = {group.name: [] for group in groups}
    other: list[nn.Parameter] = []
    for name, param in model.named_parameters():
        owner = next((group.name for group in groups if re.search(group.pattern, name)), None)
        (members[owner] if owner is not None else other).append(param)
    for group in groups:
        if not members[group.name]:
            raise ValueError(
                f"parameter group {group.name!r}: pattern {group.pattern!r} matches no parameter "
                f"of the network (names look like {_example_names(model)})"
            )
    optimizer_groups: list[dict[str, object]] = [
        {"params": members[group.name], "name": group.name, "lr_scale": float(group.lr_scale)}
        for group in groups
    ]
    if other:
        optimizer_groups.append({"params": other, "name": OTHER_GROUP, "lr_scale": 1.0})
    return optimizer_groups


def _example_names(model: nn.Module) -> list[str]:
    return [name for name, _ in list(model.named_parameters())[:3]]


def _as(kind: type, entry: object) -> object:
    """``entry`` as a ``kind`` dataclass: kept if it is one, else built from its fields."""
    return entry if isinstance(entry, kind) else kind(**entry)


class SiamFCppModule(pl.LightningModule):
    """Trains a SiamFC++ network on batches of template / search pairs with dense-box targets.

    Args:
        model: the network (``siamfcpp.model.network.SiamFCpp``); ``forward(z, x)`` returns the
            raw training outputs ``cls`` / ``ctr`` logits ``[B, N, 1]`` and ``boxes``
            ``[B, N, 4]``. Stored as attribute ``model``, so checkpoint keys are ``model.*``.
        loss: weighted focal / centerness / IoU losses.
        optimizer: ``torch.optim`` constructor taking ``(param_groups, lr=...)`` (a Hydra
            ``_partial_``), e.g. SGD with momentum and weight decay.
        lr_schedule: learning rate of each ``(epoch, iteration)``.
        param_groups: learning-rate multipliers by parameter name (others: 1), as
            :class:`ParamGroup` or mappings of its fields.
        freeze_schedule: staged (un)freezing of parameters by epoch: :class:`FreezeStage` or
            mappings of its fields (as the config writes them).
        channels_last: network and inputs in channels-last memory layout: true, false or
            ``auto`` (true on CUDA devices).
        avg_pool: form of the backbone's 3x3 average pools (GoogLeNet's Inception blocks; a
            key of :data:`~siamfcpp.model.layers.AVG_POOL_FORMS`) or ``auto``: ``conv`` on CUDA
            devices, where PyTorch's channels-last pooling kernels are slow, else as built.
        compile: ``torch.compile`` mode of forward + losses, or None (eager).
        cuda_graph: replay the network's forward and backward as CUDA graphs: true (CUDA
            only, one process, not with ``compile``), false, or ``auto`` (on where it can run:
            CUDA, one process, ``compile`` null).
    """

    def __init__(
        self,
        model: nn.Module,
        loss: DenseboxLoss,
        optimizer: Callable[..., torch.optim.Optimizer],
        lr_schedule: WarmupCosineLR,
        param_groups: Iterable[ParamGroup | Mapping[str, object]],
        freeze_schedule: Iterable[FreezeStage | Mapping[str, object]],
        channels_last: bool | str,
        compile: str | None,
        avg_pool: str = "auto",
        cuda_graph: bool | str = "auto",
    ) -> None:
        super().__init__()
        if channels_last not in (True, False, "auto"):
            raise ValueError(
                f"module.channels_last must be true, false or auto, got {channels_last!r}"
            )
        if avg_pool not in ("auto", *AVG_POOL_FORMS):
            raise ValueError(
                f"module.avg_pool must be auto or one of {list(AVG_POOL_FORMS)}, got {avg_pool!r}"
            )
        self.model = model
        self.loss = loss
        self.optimizer_factory = optimizer
        self.lr_schedule = lr_schedule
        self.param_groups = [_as(ParamGroup, group) for group in param_groups]
        self.freeze_schedule = [_as(FreezeStage, stage) for stage in freeze_schedule]
        for stage in self.freeze_schedule:
            if not any(re.search(stage.pattern, name) for name, _ in model.named_parameters()):
                raise ValueError(
                    f"freeze_schedule pattern {stage.pattern!r} matches no parameter of the "
                    f"network (names look like {_example_names(model)})"
                )
        if cuda_graph not in (True, False, "auto"):
            raise ValueError(f"module.cuda_graph must be true, false or auto, got {cuda_graph!r}")
        if cuda_graph is True and compile is not None:
            raise ValueError(
                "module.cuda_graph=true and module.compile are alternatives: set one of them "
                "(module.compile=null or module.cuda_graph=false)"
            )
        self.channels_last = channels_last
        self.avg_pool = avg_pool
        self.compile_mode = compile
        self.cuda_graph = cuda_graph
        self.graphed: GraphedForward | None = None
        self.memory_format = torch.contiguous_format
        self.step_losses: Callable[[Mapping[str, Tensor]], dict[str, Tensor]] = self.forward_losses

    def forward(self, im_z: Tensor, im_x: Tensor) -> dict[str, Tensor]:
        return self.model(im_z, im_x)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # evaluate.py / demo.py read the backbone from it (no backbone= needed)
        checkpoint[RECORD_KEY] = network_record(self.model)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # the rate is set before every step (on_train_batch_start); 0 until then
        return self.optimizer_factory(group_parameters(self.model, self.param_groups), lr=0.0)

    def set_learning_rate(
        self, epoch: int, iteration: int, steps_per_epoch: int
    ) -> dict[str, float]:
        """Set every group's rate to ``lr_schedule(epoch, iteration) * lr_scale``.

        Returns:
            the rate of each optimizer group by group name.
        """
        lr = self.lr_schedule(epoch, iteration, steps_per_epoch)
        optimizer = self.optimizers(use_pl_optimizer=False)
        for group in optimizer.param_groups:
            group["lr"] = lr * group["lr_scale"]
        return {group["name"]: group["lr"] for group in optimizer.param_groups}

    def on_fit_start(self) -> None:
        on_cuda = self.device.type == "cuda"
        if self.channels_last is True or (self.channels_last == "auto" and on_cuda):
            self.memory_format = torch.channels_last
            self.model.to(memory_format=self.memory_format)
        avg_pool = "conv" if self.avg_pool == "auto" and on_cuda else self.avg_pool
        if avg_pool != "auto" and hasattr(self.model.backbone, "set_avg_pool"):
            self.model.backbone.set_avg_pool(avg_pool)
        if self.compile_mode is not None:
            self.step_losses = torch.compile(self.forward_losses, mode=self.compile_mode)
        one_process = self._trainer is None or self.trainer.world_size == 1
        if self.cuda_graph is True and not on_cuda:
            raise ValueError(
                f"module.cuda_graph=true needs a CUDA device, the model is on {self.device}: "
                "train with trainer=gpu, or set module.cuda_graph=false"
            )
        if self.cuda_graph is True and not one_process:
            raise ValueError(
                "module.cuda_graph=true runs in one process: set module.cuda_graph=false "
                "(or auto) with several devices (DDP)"
            )
        auto = on_cuda and one_process and self.compile_mode is None
        if self.cuda_graph is True or (self.cuda_graph == "auto" and auto):
            self.graphed = GraphedForward(self.model)

    def forward_losses(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The weighted losses of a batch (the part of the step that ``compile`` compiles)."""
        im_z = batch["im_z"].contiguous(memory_format=self.memory_format)
        im_x = batch["im_x"].contiguous(memory_format=self.memory_format)
        network = self.graphed if self.graphed is not None else self.model
        return self.loss(network(im_z, im_x), batch)

    def on_train_epoch_start(self) -> None:
        apply_freeze_schedule(self.model, self.freeze_schedule, self.current_epoch)

    def on_train_batch_start(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        steps_per_epoch = self.trainer.num_training_batches
        rates = self.set_learning_rate(self.current_epoch, batch_idx, steps_per_epoch)
        for name, lr in rates.items():
            self.log(f"train/lr_{name}", lr, on_step=True, on_epoch=False, batch_size=1)

    def training_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> Tensor:
        losses = self.step_losses(batch)
        batch_size = batch["im_x"].shape[0]
        for name, value in losses.items():
            self.log(
                f"train/{name}",
                value,
                on_step=True,
                on_epoch=True,
                prog_bar=name in ("total", "iou"),
                batch_size=batch_size,
                sync_dist=True,
            )
        return losses["total"]
