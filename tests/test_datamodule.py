"""The training datamodule: Hydra data configs, batch layout, reproducible epochs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from siamfcpp.data.datamodule import EpochSampler, SiamPairDataModule
from siamfcpp.data.sources.synthetic import write_got10k_split
from tests.conftest import compose_config

CONF = Path(__file__).resolve().parents[1] / "conf"
SMALL = [
    "data.num_workers=0",
    "data.samples_per_epoch=8",
    "data.batch_size=4",
    "data.pin_memory=false",
]


def _data_cfg(option: str, *overrides: str):
    # composed through train.yaml: the data take their score-map geometry from the network's head
    return compose_config("train", f"data={option}", *overrides).data


def _first_batch(datamodule: SiamPairDataModule, epoch: int = 0) -> dict[str, torch.Tensor]:
    loader = datamodule.train_dataloader()
    loader.sampler.set_epoch(epoch)
    return next(iter(loader))


@pytest.mark.parametrize(("backbone", "score_size"), [("alexnet", 11), ("googlenet", 13)])
def test_synthetic_batch_has_the_network_layout(backbone: str, score_size: int):
    # the built-in data crop 255-pixel search regions (CPU speed); the score map is the head's
    datamodule = instantiate(_data_cfg("synthetic", *SMALL, f"backbone={backbone}"))
    assert isinstance(datamodule, SiamPairDataModule)
    batch = _first_batch(datamodule)
    n = score_size * score_size
    expected = {
        "im_z": ((4, 3, 127, 127), torch.uint8),
        "im_x": ((4, 3, 255, 255), torch.uint8),
        "cls_gt": ((4, n, 1), torch.float32),
        "ctr_gt": ((4, n, 1), torch.float32),
        "box_gt": ((4, n, 4), torch.float32),
        "is_negative": ((4,), torch.bool),
    }
    assert {k: (tuple(v.shape), v.dtype) for k, v in batch.items()} == expected
    # uint8 crops travel to the device, which makes them the network's float32 input
    on_device = datamodule.on_after_batch_transfer(batch, 0)
    for key in ("im_z", "im_x"):  # BGR pixel values, not normalised
        assert on_device[key].dtype == torch.float32
        assert torch.equal(on_device[key], batch[key].float()) and on_device[key].max() > 1
    for cls, negative in zip(batch["cls_gt"], batch["is_negative"], strict=True):
        assert (cls == 1).any() != bool(negative)  # positives mark the object, negatives do not


def test_epochs_are_reproducible_and_differ():
    cfg = _data_cfg("synthetic", *SMALL)
    first = _first_batch(instantiate(cfg), epoch=0)
    again = _first_batch(instantiate(cfg), epoch=0)
    later = _first_batch(instantiate(cfg), epoch=1)
    for key in first:
        torch.testing.assert_close(first[key], again[key])
    assert not torch.equal(first["im_x"], later["im_x"])
    reseeded = _first_batch(instantiate(_data_cfg("synthetic", *SMALL, "data.seed=5")))
    assert not torch.equal(first["im_x"], reseeded["im_x"])


def test_replicas_split_each_epoch_without_overlap():
    datamodule = instantiate(_data_cfg("synthetic", *SMALL, "data.samples_per_epoch=10"))
    datamodule.setup("fit")
    samplers = [EpochSampler(datamodule.train_set, num_replicas=3, rank=r) for r in range(3)]
    for sampler in samplers:
        sampler.set_epoch(2)
    parts = [list(s) for s in samplers]
    assert [len(p) for p in parts] == [3, 3, 3] == [len(s) for s in samplers]
    flat = sorted(i for p in parts for i in p)
    assert flat == list(range(20, 29))  # epoch 2 of 10 samples, the uneven tail dropped


def test_got10k_config_trains_from_the_official_layout(tmp_path):
    write_got10k_split(tmp_path, "train", num_sequences=2, num_frames=6, frame_size=(96, 72))
    cfg = _data_cfg("got10k", *SMALL, f"data.sources.got10k.source.root={tmp_path}")
    batch = _first_batch(instantiate(cfg))
    assert batch["im_x"].shape == (4, 3, 303, 303)


def test_recipe_configs_mix_the_original_ratios():
    def mix(option):
        cfg = _data_cfg(option)
        return {name: (e.ratio, e.get("max_diff")) for name, e in cfg.sources.items()}

    assert mix("got10k") == {"got10k": (1.0, 100)}
    assert mix("lasot") == {"lasot": (1.0, 100)}
    assert mix("fulldata") == {
        "trackingnet": (0.65, 100),
        "coco": (0.07, None),
        "got10k": (0.2, 100),
        "det": (0.08, None),
        "vid": (0.2, 100),
        "lasot": (0.3, 100),
    }
    full = _data_cfg("fulldata")
    assert (full.negative_pair_ratio, full.samples_per_epoch, full.batch_size) == (
        0.33,
        150000,
        128,
    )
    assert _data_cfg("lasot").sources.lasot.source.split_file == "data/LaSOT/training_set.txt"


def test_batch_size_must_split_over_replicas():
    datamodule = instantiate(_data_cfg("synthetic", *SMALL, "data.batch_size=3"))

    class TwoReplicas:
        world_size, global_rank = 2, 0

    datamodule.trainer = TwoReplicas()
    with pytest.raises(ValueError, match="does not split"):
        datamodule.train_dataloader()


def test_chw_conversion_keeps_bgr_order():
    from siamfcpp.data.datamodule import _chw

    image = np.zeros((2, 3, 3), dtype=np.uint8)
    image[..., 0] = 7  # blue
    out = _chw(image)
    assert out.shape == (3, 2, 3) and out.dtype == torch.uint8
    assert out[0].eq(7).all() and out[1:].eq(0).all()


def test_lightning_sets_the_epoch_of_the_sample_stream():
    import pytorch_lightning as pl

    class Recorder(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))
            self.seen: list[torch.Tensor] = []

        def training_step(self, batch, batch_idx):
            self.seen.append(batch["im_x"].clone())
            return (self.weight * batch["im_x"].mean()).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.0)

    cfg = _data_cfg("synthetic", *SMALL)
    model = Recorder()
    trainer = pl.Trainer(
        max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(model, datamodule=instantiate(cfg))
    assert len(model.seen) == 4  # 8 samples per epoch in batches of 4
    # the step sees the loader's uint8 crops as float32 (on_after_batch_transfer)
    for seen, epoch in ((model.seen[0], 0), (model.seen[2], 1)):
        loaded = _first_batch(instantiate(cfg), epoch=epoch)["im_x"]
        torch.testing.assert_close(seen, loaded.float())
