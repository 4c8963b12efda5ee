"""``train.py`` end to end in a subprocess: a short run writes checkpoints that resume and that
the network loads; the slow test trains with the defaults and checks that the tracker got better.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from tests.cli import run_script
from tests.conftest import compose_config

# a tiny run: 2 epochs of 2 steps of 4 pairs, no worker processes, CSV metrics
SHORT = (
    "data.samples_per_epoch=8",
    "data.batch_size=4",
    "data.num_workers=0",
    "logger=csv",
    "callbacks.model_checkpoint.every_n_epochs=1",
    "trainer.log_every_n_steps=1",
)


def compose_train(*overrides: str):
    return compose_config("train", *overrides)


def read_metrics(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "csv" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def step_losses(run_dir: Path) -> list[float]:
    return [
        float(row["train/total_step"]) for row in read_metrics(run_dir) if row["train/total_step"]
    ]


def test_short_run_writes_checkpoints_that_resume_and_load(tmp_path):
    run = tmp_path / "run"
    proc = run_script(
        "train.py",
        *SHORT,
        "trainer.max_epochs=2",
        "callbacks.training_speed.warmup_steps=1",
        f"hydra.run.dir={run}",
        cwd=tmp_path,
    )
    # no third-party advertising or deprecation noise
    for noise in ("litlogger", "litmodels", "LeafSpec", "Deprecat"):
        assert noise not in proc.stdout + proc.stderr, noise
    checkpoints = run / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == [
        "epoch=0.ckpt",
        "epoch=1.ckpt",
        "last.ckpt",
    ]
    assert (run / "config.yaml").is_file()
    # pairs/s over the 3 steps after the 1 warm-up step (no GPU: no peak memory)
    speed = json.loads((run / "training_speed.json").read_text())
    assert speed["timed_steps"] == 3 and speed["warmup_steps"] == 1
    assert speed["pairs_per_s"] > 0 and speed["peak_gpu_memory_gib"] is None
    assert "training speed:" in proc.stdout + proc.stderr
    ckpt = torch.load(checkpoints / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["epoch"] == 1 and ckpt["global_step"] == 4
    assert ckpt["state_dict"] and all(k.startswith("model.") for k in ckpt["state_dict"])
    # the record evaluate.py / demo.py read the backbone from (no backbone= needed)
    assert ckpt["siamfcpp"]["backbone"] == "alexnet"
    # per-step learning rates: the configured schedule over max_epochs, backbone at x0.1
    schedule = instantiate(compose_train(*SHORT, "trainer.max_epochs=2").module.lr_schedule)
    rates = {int(r["step"]): r for r in read_metrics(run) if r.get("train/lr_other")}
    assert sorted(rates) == [0, 1, 2, 3]
    for step, row in rates.items():
        expected = schedule(step // 2, step % 2, 2)
        assert float(row["train/lr_other"]) == pytest.approx(expected, rel=1e-6)
        assert float(row["train/lr_backbone"]) == pytest.approx(0.1 * expected, rel=1e-6)

    # the network of the config loads the .ckpt (as evaluate.py checkpoint=... does)
    from siamfcpp.model.checkpoints import load_checkpoint

    model = instantiate(compose_train().model)
    load_checkpoint(model, checkpoints / "last.ckpt")
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, ckpt["state_dict"][f"model.{name}"], msg=name)

    # resume: epoch 2 continues from the stored state (global step 4 -> 6)
    resumed = tmp_path / "resumed"
    run_script(
        "train.py",
        *SHORT,
        "trainer.max_epochs=3",
        f"ckpt_path={checkpoints / 'last.ckpt'}",
        f"hydra.run.dir={resumed}",
        cwd=tmp_path,
    )
    after = torch.load(
        resumed / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False
    )
    assert after["epoch"] == 2 and after["global_step"] == 6
    assert not (resumed / "checkpoints" / "epoch=0.ckpt").exists()


@pytest.mark.slow
def test_googlenet_trains_on_the_built_in_data_and_its_checkpoint_tracks(tmp_path):
    """``python train.py backbone=googlenet``: the targets follow the GoogLeNet head's score map
    (13 cells on the built-in 255-pixel crops), and the .ckpt evaluates at the tracker's 303."""
    run = tmp_path / "run"
    run_script(
        "train.py",
        "backbone=googlenet",
        *SHORT,
        "trainer.max_epochs=2",
        f"hydra.run.dir={run}",
        cwd=tmp_path,
    )
    assert step_losses(run) and all(math.isfinite(v) for v in step_losses(run))
    out = tmp_path / "evaluate"
    run_script(
        "evaluate.py",
        "backbone=googlenet",
        f"checkpoint={run / 'checkpoints' / 'last.ckpt'}",
        "benchmark.num_sequences=1",
        "benchmark.num_frames=5",
        f"hydra.run.dir={out}",
        cwd=tmp_path,
    )
    assert 0.0 <= json.loads((out / "metrics.json").read_text())["metrics"]["AO"] <= 1.0


def test_the_progress_bar_can_be_turned_off(tmp_path):
    """Lightning's own switch works (batch jobs): the run completes, where it used to stop with
    Lightning's complaint about the progress bar train.py added."""
    run = tmp_path / "run"
    run_script(
        "train.py",
        *SHORT,
        "trainer.max_epochs=2",
        "+trainer.enable_progress_bar=false",
        f"hydra.run.dir={run}",
        cwd=tmp_path,
    )
    assert (run / "checkpoints" / "last.ckpt").is_file()


def test_progress_bar_reads_the_losses_every_n_steps(monkeypatch):
    """Reading the logged losses synchronises with the GPU: the bar does it every n steps, at the
    end of an epoch and outside training, and shows the last values read in between."""
    from types import SimpleNamespace

    from pytorch_lightning.callbacks import RichProgressBar

    from siamfcpp.training.callbacks import LossProgressBar

    reads = []

    def read(self, trainer, pl_module):
        reads.append(trainer.global_step)
        return {"train/total_step": float(trainer.global_step)}

    monkeypatch.setattr(RichProgressBar, "get_metrics", read)
    bar = LossProgressBar(metrics_every_n_steps=5)
    shown = []
    for step in range(1, 13):
        trainer = SimpleNamespace(global_step=step, training=True, is_last_batch=step == 12)
        shown.append(bar.get_metrics(trainer, None)["train/total_step"])
    assert reads == [1, 5, 10, 12]
    assert shown == [1, 1, 1, 1, 5, 5, 5, 5, 5, 10, 10, 12]
    bar.get_metrics(SimpleNamespace(global_step=13, training=False, is_last_batch=False), None)
    assert reads[-1] == 13
    with pytest.raises(ValueError, match="metrics_every_n_steps must be >= 1"):
        LossProgressBar(metrics_every_n_steps=0)


def test_missing_resume_checkpoint_is_a_clear_error(tmp_path):
    ckpt = f"ckpt_path={tmp_path / 'nope.ckpt'}"
    proc = run_script("train.py", *SHORT, ckpt, cwd=tmp_path, timeout=300, fails=True)
    assert "nope.ckpt: no such file" in proc.stderr


def test_model_zoo_pkl_as_ckpt_path_names_the_commands_that_take_it(tmp_path):
    """A ``.pkl`` holds network weights, not the optimizer state and epoch that ckpt_path
    resumes (Lightning failed with ``KeyError``); refused before any training."""
    from siamfcpp.training.pipeline import train
    from tests.parity_weights import write_parity_checkpoint

    pkl = write_parity_checkpoint("alexnet", tmp_path)
    cfg = compose_train(*SHORT, f"ckpt_path={pkl}", f"output_dir={tmp_path / 'run'}", "run_name=t")
    with pytest.raises(ValueError, match=r"holds network weights only .* evaluate.py checkpoint="):
        train(cfg)


@pytest.mark.slow
def test_default_training_lowers_the_loss_and_tracks_better_than_untrained(tmp_path):
    """``python train.py`` as shipped (CPU, synthetic data, 320 steps), then ``evaluate.py`` on
    the default synthetic benchmark with its .ckpt and without (the untrained, seeded network)."""
    run = tmp_path / "run"
    run_script("train.py", "logger=csv", f"hydra.run.dir={run}", cwd=tmp_path, timeout=1800)
    losses = step_losses(run)
    assert len(losses) >= 10
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < 0.8 * first, f"loss did not fall: {first:.3f} -> {last:.3f}"

    ao = {}
    for name, extra in (
        ("untrained", []),
        ("trained", [f"checkpoint={run}/checkpoints/last.ckpt"]),
    ):
        out = tmp_path / name
        run_script("evaluate.py", *extra, f"hydra.run.dir={out}", cwd=tmp_path)
        ao[name] = json.loads((out / "metrics.json").read_text())["metrics"]["AO"]
    assert ao["trained"] > ao["untrained"], ao
