"""The config tree's shared groups: paths, hydra run folders, recipes apart from presets, and the
deprecated spellings that still work."""

from __future__ import annotations

from pathlib import Path

import pytest

from siamfcpp.config import rename_overrides
from siamfcpp.training.pipeline import DEPRECATED_OVERRIDES
from tests.cli import run_script
from tests.conftest import CONF_DIR, compose_config

PRESETS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
RECIPES = sorted(p.stem for p in (CONF_DIR / "recipe").glob("*.yaml"))


def test_one_data_dir_moves_every_data_set_root():
    evaluate = compose_config("evaluate", "benchmark=lasot", "paths.data_dir=/big/disk")
    assert evaluate.benchmark.root == "/big/disk/LaSOT"
    train = compose_config(
        "train", "recipe=siamfcpp_googlenet-trn-fulldata", "paths.data_dir=/big/disk"
    )
    roots = {name: entry.source.root for name, entry in train.data.sources.items()}
    assert roots and all(root.startswith("/big/disk/") for root in roots.values()), roots
    models = compose_config("train", "recipe=siamfcpp_alexnet-trn", "paths.models_dir=/w")
    assert models.model.backbone.pretrained.startswith("/w/alexnet/")


@pytest.mark.parametrize("entry_point", ["evaluate", "train", "demo"])
def test_run_folders_follow_log_dir_and_task(entry_point):
    cfg = compose_config(entry_point, "paths.log_dir=/runs", return_hydra_config=True)
    assert cfg.hydra.run.dir.startswith(f"/runs/{entry_point}/")
    assert cfg.hydra.sweep.dir.startswith(f"/runs/{entry_point}/multirun/")


@pytest.mark.parametrize("preset", PRESETS)
def test_every_evaluation_preset_composes_for_evaluate_demo_and_export(preset):
    for config in ("evaluate", "demo", "export"):
        cfg = compose_config(config, f"experiment={preset}", "output_dir=x")
        assert cfg.tracker.x_size == cfg.model.head.x_size


def test_training_recipes_are_apart_from_the_presets():
    assert RECIPES == sorted(
        ["siamfcpp_alexnet-trn", "siamfcpp_googlenet-trn", "siamfcpp_googlenet-trn-fulldata"]
    )
    assert not set(RECIPES) & set(PRESETS)
    for recipe in RECIPES:
        cfg = compose_config("train", f"recipe={recipe}")
        assert cfg.callbacks.model_checkpoint.every_n_epochs == 1  # the original's snapshots


def test_deprecated_spellings_are_renamed_with_a_note(capsys):
    argv = [
        "train.py",
        "experiment=siamfcpp_alexnet-trn",
        "checkpoint.every_n_epochs=2",
        "+checkpoint.save_top_k=1",
        "experiment=siamfcpp_alexnet",  # an evaluation preset: not renamed
        "trainer.max_epochs=3",
    ]
    assert rename_overrides(argv, DEPRECATED_OVERRIDES) == [
        "train.py",
        "recipe=siamfcpp_alexnet-trn",
        "callbacks.model_checkpoint.every_n_epochs=2",
        "+callbacks.model_checkpoint.save_top_k=1",
        "experiment=siamfcpp_alexnet",
        "trainer.max_epochs=3",
    ]
    assert capsys.readouterr().err.count("is deprecated") == 3


def test_train_cli_still_takes_the_old_recipe_key(tmp_path: Path):
    proc = run_script(
        "train.py",
        "experiment=siamfcpp_googlenet-trn",
        "checkpoint.every_n_epochs=4",
        "--cfg",
        "job",
        cwd=tmp_path,
        timeout=300,
    )
    assert "`experiment=siamfcpp_googlenet-trn` is deprecated" in proc.stderr
    assert "x_size: 289" in proc.stdout and "every_n_epochs: 4" in proc.stdout
